//! `versioned`: every entry carries its database version; each tier keeps a per-key version
//! floor that outlives eviction and deletion and refuses fills below it; invalidation runs
//! bottom-up (Redis, then every L1) after the commit, acknowledged and retried; a fill never
//! outlives its source's expiry. A write completes when every tier acknowledged and becomes
//! indeterminate when one cannot be reached in time.
//!
//! It stays available under partitions, so it does not claim `linearizable`: a partitioned L1
//! keeps serving the old version until its TTL ends. It claims `invalidation-barrier`,
//! `converged` and `bounded-staleness` with Δ = the largest TTL + the largest clock skew + the
//! operation timeout.

use crate::app::App;
use crate::db::Row;
use crate::protocol::{Claims, Invalidation, Invariant, OpError, Protocol};
use crate::redis::{Expiry, SetOpts};
use crate::system::SystemConfig;

pub struct Versioned;

/// How often an invalidation is sent before the write gives up and reports `info`.
const ATTEMPTS: usize = 3;

impl Versioned {
    /// Invalidate every tier bottom-up; Err when one could not be reached.
    async fn invalidate(&self, cx: &App, key: &str, version: u64) -> Result<(), OpError> {
        let mut last = None;
        let mut done = false;
        for _ in 0..ATTEMPTS {
            match cx.redis().invalidate(key, version).await {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(e) => last = Some(e),
            }
        }
        if !done {
            return Err(last.unwrap());
        }
        cx.l1().invalidate(key, version);
        for peer in cx.peers() {
            let inv = Invalidation {
                key: key.to_string(),
                version,
            };
            let mut acked = false;
            for _ in 0..ATTEMPTS {
                if cx.invalidate_peer(peer, inv.clone()).await.is_ok() {
                    acked = true;
                    break;
                }
            }
            if !acked {
                return Err(OpError::Indeterminate(format!(
                    "{peer} did not acknowledge the invalidation"
                )));
            }
        }
        Ok(())
    }

    async fn commit(&self, cx: &App, key: &str, value: Option<i64>) -> Result<Row, OpError> {
        let row = cx.db().write(key, value).await?;
        self.invalidate(cx, key, row.version).await?;
        Ok(row)
    }
}

impl Protocol for Versioned {
    fn name(&self) -> String {
        "versioned".into()
    }

    fn claims(&self, cfg: &SystemConfig) -> Claims {
        let largest_ttl_ms = cfg.redis_ttl_ms.max(cfg.l1_ttl_ms);
        let bound_ms = largest_ttl_ms + cfg.max_clock_skew_ms + cfg.op_timeout_ms;
        Claims::new([Invariant::InvalidationBarrier, Invariant::Converged])
            .with_staleness_bound_ns(bound_ms * 1_000_000)
    }

    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        if let Some(hit) = cx.l1().get(key) {
            if hit.version >= cx.l1().floor(key) {
                return Ok(Row {
                    value: hit.value,
                    version: hit.version,
                });
            }
        }
        let l1_ttl_ns = cx.config().l1_ttl_ms * 1_000_000;
        if let Some((hit, pttl_ms)) = cx.redis().get(key).await? {
            let row = Row {
                value: hit.value,
                version: hit.version,
            };
            // No TTL stacking: the L1 copy dies no later than the Redis entry it came from.
            let ttl_ns = if pttl_ms >= 0 {
                l1_ttl_ns.min(pttl_ms as u64 * 1_000_000)
            } else {
                l1_ttl_ns
            };
            cx.l1().fill_if_newer(key, cx.entry(row, Some(ttl_ns)));
            return Ok(row);
        }
        let row = cx.db().read(key).await?;
        let opts = SetOpts {
            expiry: Some(Expiry::Px(cx.config().redis_ttl_ms)),
            ..Default::default()
        };
        // Version-gated: a fill that lost the race with an invalidation is refused.
        let _ = cx
            .redis()
            .fill_if_newer(key, cx.entry(row, None), opts)
            .await;
        cx.l1().fill_if_newer(key, cx.entry(row, Some(l1_ttl_ns)));
        Ok(row)
    }

    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        self.commit(cx, key, Some(value)).await
    }

    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        self.commit(cx, key, None).await
    }
}
