//! `pass-through`: no cache at all. Every read goes to the database of record, every write and
//! delete commits there, and no tier is ever filled.
//!
//! It is the baseline the other protocols are measured against: what consistency costs nothing
//! to get (the database is linearizable, so a protocol that only talks to it is too) and what
//! latency and database load it costs instead. It claims every invariant it meets: the register
//! ones (`linearizable`, `monotonic-reads`, `read-your-writes`), the cache ones (which hold
//! because no tier ever holds anything), `converged`, and `live` where the network answers
//! within the rpc timeout (not on `slow-fills`, whose 1–40 ms links outlast it).

use crate::node::config::SystemConfig;
use crate::protocol::app::App;
use crate::protocol::{Claims, Invariant, OpError, Protocol};
use crate::protocols::versioned::network_answers_in_time;
use crate::state::database::Row;

pub struct PassThrough;

impl Protocol for PassThrough {
    fn name(&self) -> String {
        "pass-through".into()
    }

    fn claims(&self, cfg: &SystemConfig) -> Claims {
        use Invariant::*;
        let mut claims = Claims::new([
            Linearizable,
            InvalidationBarrier,
            NoResurrection,
            MonotonicReads,
            ReadYourWrites,
            TierOrder,
            TtlBound,
            TagComplete,
            Converged,
        ]);
        if network_answers_in_time(cfg) {
            claims.invariants.insert(Live);
        }
        claims
    }

    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        Ok(cx.db().read(key).await?.row())
    }

    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        cx.db().write(key, Some(value)).await
    }

    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        cx.db().write(key, None).await
    }

    /// Nothing is cached, so a tag has nothing to drop: done at once.
    async fn invalidate_tag(&self, _cx: &App, _tag: &str) -> Result<(), OpError> {
        Ok(())
    }

    /// Nothing is cached, so warming has nothing to fill.
    async fn warm(&self, _cx: &App, _keys: &[String]) -> Result<(), OpError> {
        Ok(())
    }
}
