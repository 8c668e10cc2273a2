//! `tracking`: an in-process L1 kept coherent by Redis client-side caching (`CLIENT TRACKING`,
//! default mode, RESP2 redirect), built as Redis's client-side-caching documentation prescribes,
//! and, with one `TrackingFlaw`, the two zoo entries that skip a step of it.
//!
//! - Reads: the L1, else a GET at Redis (which remembers that this process read the key), else
//!   the database, filling Redis with a version-gated fill (floors, run ids, as `versioned`
//!   does). The L1 is filled only from a GET hit, because only a GET makes Redis track the key
//!   for us: a value we put into Redis ourselves is not tracked for us.
//! - The placeholder: before the GET the reader leaves a placeholder for the key; an
//!   invalidation of the key removes it; the reply fills the L1 only if its own placeholder is
//!   still there. The GET reply and the invalidation travel on different connections, so the
//!   invalidation of a write that came right after the GET can arrive first.
//! - Writes commit, then invalidate Redis (raise the floor, drop the entry: a modification, so
//!   Redis tells every process that read the key) and the writer's own L1, retried; a write that
//!   cannot reach Redis is indeterminate.
//! - When a redirect connection drops, invalidations were lost without a word: the process stops
//!   caching, flushes its whole L1 and every placeholder, opens a new redirect connection, turns
//!   tracking on again, and only then caches again.
//!
//! It claims what it can keep under every fault: `converged`, `ttl-bound`, and staleness within
//! the largest TTL, the clock skew and the operation timeout. Not the invalidation barrier: a
//! write does not wait for the L1s, which hear of it over the redirect connections. Not a tighter
//! staleness bound: packet loss, short partitions and frozen nodes hold an invalidation back (it
//! is retransmitted, never lost while its connection lives), and the L1 TTL is what bounds that.

use crate::node::config::SystemConfig;
use crate::node::tier::{FillTtl, Gate};
use crate::protocol::app::App;
use crate::protocol::{Claims, Invalidation, Invariant, OpError, Protocol};
use crate::state::database::{Data, Row};
use crate::state::redis::{Expiry, SetOpts};
use crate::state::tracking::TrackingOpts;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

/// One step of the prescribed client skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrackingFlaw {
    /// The GET reply fills the L1 whatever arrived meanwhile (no placeholder).
    NoPlaceholder,
    /// A dropped redirect connection is replaced, but the L1 is not flushed.
    NoFlushOnDisconnect,
}

/// How many times Redis's invalidation is sent before the write reports `info`.
const ATTEMPTS: usize = 3;

#[derive(Default)]
struct State {
    /// Whether tracking is on at every shard over live redirect connections.
    active: bool,
    /// The redirect connections in use.
    redirects: BTreeSet<u64>,
    /// The placeholder of each key being read: the reader's token.
    pending: BTreeMap<String, u64>,
    next_token: u64,
    /// Keys this process may hold in its L1 (what a flush removes).
    cached: BTreeSet<String>,
}

/// The tracking client, correct when `flaw` is `None`.
pub struct TrackingProtocol {
    pub name: &'static str,
    pub flaw: Option<TrackingFlaw>,
    pub claims: fn(&SystemConfig) -> Claims,
    state: RefCell<State>,
}

impl TrackingProtocol {
    /// `tracking`: the prescribed client.
    pub fn correct() -> Self {
        Self::with_flaw("tracking", None, tracking_claims)
    }

    pub fn with_flaw(
        name: &'static str,
        flaw: Option<TrackingFlaw>,
        claims: fn(&SystemConfig) -> Claims,
    ) -> Self {
        TrackingProtocol { name, flaw, claims, state: RefCell::default() }
    }

    fn has(&self, f: TrackingFlaw) -> bool {
        self.flaw == Some(f)
    }

    /// Open a redirect connection to every shard and turn tracking on there, until it works.
    async fn start_tracking(&self, cx: &App) {
        for shard in 0..cx.config().topology.redis_shards {
            loop {
                let Ok(conn) = cx.redis().tracking_redirect(shard).await else { continue };
                let opts = TrackingOpts { redirect: Some(conn), ..TrackingOpts::default() };
                // A drop before the connection is ours is not announced to us: look.
                if cx.redis().client_tracking(shard, opts).await.is_ok() && cx.is_connected(conn) {
                    self.state.borrow_mut().redirects.insert(conn);
                    break;
                }
                cx.disconnect(conn);
            }
        }
        self.state.borrow_mut().active = true;
    }

    async fn forget(&self, cx: &App, key: &str) {
        {
            let mut st = self.state.borrow_mut();
            st.pending.remove(key);
            st.cached.remove(key);
        }
        let _ = cx.l1().remove(key).await;
    }

    async fn commit(&self, cx: &App, key: &str, value: Option<i64>) -> Result<Row, OpError> {
        let row = match cx.db().write(key, value).await {
            Ok(row) => row,
            Err(e) => {
                // The commit's reply was lost, or it never happened: Redis must still come to
                // hold nothing older than the database, so invalidate at the version it answers.
                keep_invalidating(cx, key, None);
                return Err(e);
            }
        };
        let done = invalidate_redis(cx, key, row.version).await;
        cx.l1().invalidate(key, row.version).await?;
        if !done {
            // Indeterminate, but not given up: Redis would hold the old value for its TTL and
            // never tell the L1s tracking it.
            keep_invalidating(cx, key, Some(row.version));
            return Err(OpError::Indeterminate("redis did not acknowledge the invalidation".into()));
        }
        Ok(row)
    }
}

/// Redis's invalidation of `version`, sent up to `ATTEMPTS` times: whether it was acknowledged.
async fn invalidate_redis(cx: &App, key: &str, version: u64) -> bool {
    for _ in 0..ATTEMPTS {
        if cx.redis().invalidate(key, version).await.is_ok() {
            return true;
        }
    }
    false
}

/// Repeat Redis's invalidation until it acknowledged (`App::keep_invalidating`); Redis then
/// tells the L1s that track the key.
fn keep_invalidating(cx: &App, key: &str, version: Option<u64>) {
    cx.keep_invalidating(key, version, |cx, key, version| async move {
        invalidate_redis(&cx, &key, version).await
    });
}

/// What `tracking` claims (see the module docs).
pub fn tracking_claims(cfg: &SystemConfig) -> Claims {
    let bound_ms = cfg.largest_ttl_ms() + cfg.max_clock_skew_ms + cfg.op_timeout_ms;
    Claims::new([Invariant::Converged, Invariant::TtlBound]).with_staleness_bound_ns(bound_ms * 1_000_000)
}

impl Protocol for TrackingProtocol {
    fn name(&self) -> String {
        self.name.into()
    }

    fn claims(&self, cfg: &SystemConfig) -> Claims {
        (self.claims)(cfg)
    }

    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        let l1 = cx.l1().get(key).await?;
        let active = self.state.borrow().active;
        if let (true, Some(e)) = (active, &l1.entry) {
            return Ok(Data::of(e).row());
        }
        let token = active.then(|| {
            let mut st = self.state.borrow_mut();
            st.next_token += 1;
            let t = st.next_token;
            st.pending.insert(key.to_string(), t);
            t
        });
        // The reply races the invalidations. Stamped: after a failover the promoted replica's
        // copy (which may predate an acknowledged delete) is a miss, not a value to track.
        let got = cx.redis().lookup_stamped(key, None).await?;
        let Some((entry, pttl_ms)) = got.entry else {
            if let Some(t) = token {
                let mut st = self.state.borrow_mut();
                if st.pending.get(key) == Some(&t) {
                    st.pending.remove(key);
                }
            }
            let data = cx.db().read(key).await?;
            let opts = SetOpts { expiry: Some(Expiry::Px(cx.config().redis_ttl_ms)), ..Default::default() };
            let _ =
                cx.redis().fill(key, cx.entry_of(key, &data), opts, Gate::IfNewer, Some(got.run_id)).await;
            return Ok(data.row());
        };
        let data = Data::of(&entry);
        let fill = {
            let mut st = self.state.borrow_mut();
            let ours = token.is_some_and(|t| st.pending.get(key) == Some(&t));
            if ours {
                st.pending.remove(key);
            }
            let fill = if self.has(TrackingFlaw::NoPlaceholder) { st.active } else { ours && st.active };
            if fill {
                st.cached.insert(key.to_string());
            }
            fill
        };
        if fill {
            let ttl = if pttl_ms >= 0 {
                FillTtl::AtMost { remaining_ns: pttl_ms as u64 * 1_000_000 }
            } else {
                FillTtl::Tier
            };
            let _ = cx.l1().fill(cx.fill_of(key, &data, ttl, Gate::IfNewer, Some(l1.incarnation))).await;
        }
        Ok(data.row())
    }

    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        self.commit(cx, key, Some(value)).await
    }

    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        self.commit(cx, key, None).await
    }

    async fn on_invalidation(&self, cx: &App, inv: Invalidation) {
        match inv {
            Invalidation::Remove { key } | Invalidation::Key { key, .. } => self.forget(cx, &key).await,
            Invalidation::Tag { .. } => {}
        }
    }

    async fn on_start(&self, cx: &App) {
        self.start_tracking(cx).await
    }

    async fn on_disconnect(&self, cx: &App, conn: u64) {
        let flushed: Vec<String> = {
            let mut st = self.state.borrow_mut();
            if !st.redirects.remove(&conn) {
                return;
            }
            st.active = false;
            if self.has(TrackingFlaw::NoFlushOnDisconnect) {
                Vec::new()
            } else {
                st.pending.clear();
                std::mem::take(&mut st.cached).into_iter().collect()
            }
        };
        for key in flushed {
            let _ = cx.l1().remove(&key).await;
        }
        // Every shard again: simpler than tracking which shard the connection was to, and a
        // second CLIENT TRACKING on a live shard only moves its redirect.
        let stale: Vec<u64> = std::mem::take(&mut self.state.borrow_mut().redirects).into_iter().collect();
        for c in stale {
            cx.disconnect(c);
        }
        self.start_tracking(cx).await
    }
}
