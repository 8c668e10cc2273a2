//! The app node's process: an empty L1 on every (re)start, the protocol's start hook, its
//! invalidation and change-stream handlers, and the clients of the processes that live here,
//! each running its schedule's operations through the protocol and recording them.

use crate::event::{ModelEvent, Tier};
use crate::node::config::{CacheOp, SystemConfig};
use crate::node::pubsub::{Delivery, Inbox};
use crate::node::tier::TierState;
use crate::protocol::app::{AppNode, AppReq};
use crate::protocol::{App, DynProtocol, Invalidation, OpError, ProtocolFactory};
use crate::state::database::Change;
use crate::state::store::TierStore;
use futures_util::StreamExt;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tiersim_sim::clock::sim_now_ns;
use tiersim_sim::history::{EventType, OpFn, OpValue, Recorder};
use tiersim_sim::net::Net;
use tiersim_sim::schedule::Schedule;

/// Where an app node sits and what it runs.
pub struct AppSetup {
    pub config: SystemConfig,
    pub peers: Vec<String>,
    pub l2: String,
    pub l3: String,
    pub replica: String,
    pub l1: Arc<Mutex<TierStore>>,
    /// Builds this process's protocol instance, afresh at every (re)start.
    pub protocol: ProtocolFactory,
    pub schedule: Arc<Schedule<CacheOp>>,
    pub processes: Vec<u64>,
    /// Processes whose client has run its last operation (the quiet phase waits for all).
    pub finished: Arc<Mutex<std::collections::BTreeSet<u64>>>,
}

/// The app node's main task: an empty L1 (memory is lost on restart), the protocol's start hook,
/// the invalidation and change-stream handlers, and the clients of the processes that live here.
pub async fn serve(net: Net, recorder: Recorder<ModelEvent>, setup: Arc<AppSetup>) {
    let name = net.name().to_string();
    let clock = net.ctx().clocks.node(&name);
    let l1_ttl_ns = setup.config.l1_ttl_ms * 1_000_000;
    let l1 = TierState::start(
        &name,
        Tier::L1,
        setup.config.l1_capacity,
        Some(l1_ttl_ns),
        clock.clone(),
        recorder.clone(),
        setup.l1.clone(),
    );
    let (deliveries, delivered) = futures_channel::mpsc::unbounded::<Delivery>();
    let node = Rc::new(AppNode {
        clock,
        net: net.clone(),
        l1: RefCell::new(l1),
        peers: setup.peers.clone(),
        l2: setup.l2.clone(),
        l3: setup.l3.clone(),
        replica: setup.replica.clone(),
        recorder,
        config: setup.config.clone(),
        inbox: RefCell::new(Inbox::default()),
        deliveries,
        pubsub_conn: std::cell::Cell::new(None),
        frames_served: std::cell::Cell::new(false),
        tracking_on: Default::default(),
    });
    let app = App { node: node.clone(), op: None };
    // A (re)started process gets a fresh instance: nothing of the last one survives.
    let protocol: Rc<dyn DynProtocol> = Rc::from(setup.protocol.build());

    let (a, p) = (app.clone(), protocol.clone());
    net.serve(move |req: AppReq, _from| {
        let (a, p) = (a.clone(), p.clone());
        async move {
            match req {
                AppReq::Invalidate(inv) => p.on_invalidation(&a, inv).await,
            }
            Some(())
        }
    });
    let (a, p) = (app.clone(), protocol.clone());
    net.serve(move |change: Change, _from| {
        let (a, p) = (a.clone(), p.clone());
        async move {
            p.on_change(&a, change).await;
            Some(())
        }
    });
    // Three handler tasks, as ever (an extra task would reshuffle every run's schedule): peer
    // invalidations, what this node's Redis connections deliver (see `protocol::pubsub`), and
    // the change stream.
    let mut delivered = Some(delivered);
    for handler in 0..3 {
        let (a, p, n) = (app.clone(), protocol.clone(), net.clone());
        let mut delivered = if handler == 1 { delivered.take() } else { None };
        madsim::task::spawn_local(async move {
            loop {
                match handler {
                    0 => {
                        let (inv, _) = n.recv::<Invalidation>().await;
                        p.on_invalidation(&a, inv).await;
                    }
                    1 => match delivered.as_mut().expect("handler 1 has the deliveries").next().await {
                        Some(Delivery::Message { msg, .. }) => p.on_invalidation(&a, msg.inv).await,
                        Some(Delivery::Dropped { conn, server, cause }) => {
                            let node = a.name().to_string();
                            let cause = cause.to_string();
                            a.node.recorder.internal(ModelEvent::Disconnect { node, server, conn, cause });
                            p.on_disconnect(&a, conn).await;
                        }
                        None => std::future::pending().await,
                    },
                    _ => {
                        let (change, _) = n.recv::<Change>().await;
                        p.on_change(&a, change).await;
                    }
                }
            }
        });
    }
    protocol.on_start(&app).await;

    let started_ns = sim_now_ns();
    let mut clients = Vec::new();
    for &process in &setup.processes {
        let ops: Vec<_> = setup
            .schedule
            .ops_of(process)
            .into_iter()
            // A restarted node does not replay what it missed while down.
            .filter(|o| started_ns == 0 || o.at_ns >= started_ns)
            .map(|o| (o.at_ns, o.op.clone()))
            .collect();
        let (node, protocol, finished) = (node.clone(), protocol.clone(), setup.finished.clone());
        clients.push(madsim::task::spawn_local(async move {
            for (at_ns, op) in ops {
                let now = sim_now_ns();
                if at_ns > now {
                    madsim::time::sleep(Duration::from_nanos(at_ns - now)).await;
                }
                run_op(&node, &*protocol, process, op).await;
            }
            finished.lock().unwrap().insert(process);
        }));
    }
    for c in clients {
        let _ = c.await;
    }
    std::future::pending::<()>().await
}

/// Run one client operation and record its invoke and completion.
async fn run_op(node: &Rc<AppNode>, protocol: &dyn DynProtocol, process: u64, op: CacheOp) {
    let (f, key, value) = match &op {
        CacheOp::Read { key } => (OpFn::Read, key.clone(), OpValue::Single(None)),
        CacheOp::Write { key, value } => (OpFn::Write, key.clone(), OpValue::Single(Some(*value))),
        CacheOp::Delete { key } => (OpFn::Delete, key.clone(), OpValue::Single(None)),
        CacheOp::InvalidateTag { tag } => (OpFn::InvalidateTag, tag.clone(), OpValue::Single(None)),
        CacheOp::Warm { batch, .. } => (OpFn::Warm, batch.clone(), OpValue::Single(None)),
    };
    let id = node.recorder.invoke(process, f, &key, value);
    let app = App { node: node.clone(), op: Some(id) };
    let fut = async {
        match &op {
            CacheOp::Read { key } => protocol.read(&app, key).await.map(Some),
            CacheOp::Write { key, value } => protocol.write(&app, key, *value).await.map(Some),
            CacheOp::Delete { key } => protocol.delete(&app, key).await.map(Some),
            CacheOp::InvalidateTag { tag } => protocol.invalidate_tag(&app, tag).await.map(|_| None),
            CacheOp::Warm { keys, .. } => protocol.warm(&app, keys).await.map(|_| None),
        }
    };
    let context = || {
        format!("protocol `{}` panicked in {} of {key} (op {id} by p{process})", protocol.name(), f.name())
    };
    let fut = super::panics::naming_panics(context, fut);
    let timeout = Duration::from_millis(node.config.op_timeout_ms);
    let result = match madsim::time::timeout(timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(OpError::Indeterminate("operation timed out".into())),
    };
    match result {
        Ok(row) => {
            let v = if f == OpFn::Read { OpValue::Single(row.and_then(|r| r.value)) } else { value };
            node.recorder.complete(id, EventType::Ok, v, row.map(|r| r.version));
        }
        Err(OpError::Failed(_)) => node.recorder.complete(id, EventType::Fail, value, None),
        Err(OpError::Indeterminate(_)) => node.recorder.complete(id, EventType::Info, value, None),
    }
}
