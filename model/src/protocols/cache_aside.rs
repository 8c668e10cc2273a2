//! `cache-aside` and `double-delete`: what most teams ship, against Redis alone.
//!
//! `cache-aside`: read Redis; on a miss read the database and SET the row with a TTL. Write the
//! database, then DEL the key. `double-delete`: DEL, write, sleep, DEL again, hoping the second
//! delete catches any stale fill that raced the first. Both claim what their authors believe —
//! `invalidation-barrier` and `converged` — and the simulator shows where that belief fails
//! (Nishtala et al., "Scaling Memcache at Facebook", NSDI 2013, section 3.2.1: the stale set
//! that motivated leases):
//! 1. a reader misses in Redis and reads v1 from the database;
//! 2. a writer commits v2 and deletes the key from Redis; its write is acknowledged;
//! 3. the reader's SET of v1 lands after the delete;
//! 4. Redis serves v1, superseded, until its TTL ends.

use crate::node::config::SystemConfig;
use crate::protocol::app::App;
use crate::protocol::{Claims, Invariant, OpError, Protocol};
use crate::state::database::Row;
use crate::state::redis::{Expiry, SetOpts};
use std::time::Duration;

pub struct CacheAside;

/// Read Redis, fall back to the database and SET what it returned.
pub(crate) async fn read_aside(cx: &App, key: &str) -> Result<Row, OpError> {
    if let (Some((hit, _)), _) = cx.redis().get(key).await? {
        return Ok(Row { value: hit.value, version: hit.version });
    }
    let data = cx.db().read(key).await?; // the race window opens here
    if data.value.is_some() {
        let opts = SetOpts { expiry: Some(Expiry::Px(cx.config().redis_ttl_ms)), ..Default::default() };
        // A failed cache fill is not the reader's problem: it still has the row.
        let _ = cx.redis().set(key, cx.entry_of(key, &data), opts).await;
    }
    Ok(data.row())
}

impl Protocol for CacheAside {
    fn name(&self) -> String {
        "cache-aside".into()
    }

    fn claims(&self, _cfg: &SystemConfig) -> Claims {
        Claims::new([Invariant::InvalidationBarrier, Invariant::Converged])
    }

    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        read_aside(cx, key).await
    }

    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        let row = cx.db().write(key, Some(value)).await?;
        cx.redis().del(key).await?;
        Ok(row)
    }

    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        let row = cx.db().write(key, None).await?;
        cx.redis().del(key).await?;
        Ok(row)
    }
}

/// Delete, write, sleep, delete again.
pub struct DoubleDelete {
    pub name: &'static str,
    pub sleep: Duration,
    pub claims: fn(&SystemConfig) -> Claims,
}

impl DoubleDelete {
    /// What teams ship: a second delete half a second later.
    pub fn common() -> Self {
        DoubleDelete {
            name: "double-delete",
            sleep: Duration::from_millis(500),
            claims: |_| Claims::new([Invariant::InvalidationBarrier, Invariant::Converged]),
        }
    }

    async fn commit(&self, cx: &App, key: &str, value: Option<i64>) -> Result<Row, OpError> {
        cx.redis().del(key).await?;
        let row = cx.db().write(key, value).await?;
        cx.sleep(self.sleep).await;
        cx.redis().del(key).await?;
        Ok(row)
    }
}

impl Protocol for DoubleDelete {
    fn name(&self) -> String {
        self.name.into()
    }

    fn claims(&self, cfg: &SystemConfig) -> Claims {
        (self.claims)(cfg)
    }

    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        read_aside(cx, key).await
    }

    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        self.commit(cx, key, Some(value)).await
    }

    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        self.commit(cx, key, None).await
    }
}
