//! An L2 (per host) or L3 (per region) node: a `TierState` behind the network. Its memory is lost
//! on a restart, and its incarnation rises, so fills whose read began earlier are refused by
//! protocols that check it.

use crate::event::{ModelEvent, Tier};
use crate::node::tier::{TierCmd, TierReply, TierState};
use crate::state::store::TierStore;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use tiersim_sim::history::Recorder;
use tiersim_sim::net::Net;

/// The node's main task.
pub async fn serve(
    net: Net,
    tier: Tier,
    capacity: usize,
    ttl_ns: u64,
    recorder: Recorder<ModelEvent>,
    shared: Arc<Mutex<TierStore>>,
) {
    let name = net.name().to_string();
    let clock = net.ctx().clocks.node(&name);
    let state =
        Rc::new(RefCell::new(TierState::start(&name, tier, capacity, Some(ttl_ns), clock, recorder, shared)));
    net.serve(move |cmd: TierCmd, _from| {
        let reply: TierReply = state.borrow_mut().apply(cmd);
        async move { Some(reply) }
    });
    std::future::pending::<()>().await
}
