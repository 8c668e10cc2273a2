//! `cache_aside`: what most teams ship. Read Redis; on a miss read the database and SET the row
//! with a TTL. Write the database, then DEL the key.
//!
//! It claims what its authors believe — `invalidation-barrier` and `converged` — and the
//! `stale-set` scenario shows where that belief fails (Nishtala et al., "Scaling Memcache at
//! Facebook", NSDI 2013, section 3.2.1, the motivation for leases):
//! 1. a reader misses in Redis and reads v1 from the database;
//! 2. a writer commits v2 and deletes the key from Redis; its write is acknowledged;
//! 3. the reader's SET of v1 lands after the delete;
//! 4. Redis serves v1, superseded, until its TTL ends.

use crate::app::App;
use crate::db::Row;
use crate::protocol::{Claims, Invariant, OpError, Protocol};
use crate::redis::{Expiry, SetOpts};
use crate::system::SystemConfig;

pub struct CacheAside;

impl Protocol for CacheAside {
    fn name(&self) -> String {
        "cache_aside".into()
    }

    fn claims(&self, _cfg: &SystemConfig) -> Claims {
        Claims::new([Invariant::InvalidationBarrier, Invariant::Converged])
    }

    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        if let Some((hit, _)) = cx.redis().get(key).await? {
            return Ok(Row {
                value: hit.value,
                version: hit.version,
            });
        }
        let row = cx.db().read(key).await?; // the race window opens here
        if row.value.is_some() {
            let opts = SetOpts {
                expiry: Some(Expiry::Px(cx.config().redis_ttl_ms)),
                ..Default::default()
            };
            // A failed cache fill is not the reader's problem: it still has the row.
            let _ = cx.redis().set(key, cx.entry(row, None), opts).await;
        }
        Ok(row)
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
