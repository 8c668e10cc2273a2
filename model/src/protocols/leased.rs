//! `leased`: the tier hierarchy made linearizable with leases, at the cost of availability.
//!
//! Reads follow Gray and Cheriton's leases (C. Gray, D. Cheriton, "Leases: An Efficient
//! Fault-Tolerant Mechanism for Distributed File Cache Consistency", SOSP 1989): a tier serves
//! an entry only while it holds a read lease on it, granted by the tier the value came from and
//! expiring on the tier's own clock. Redis is the root of the lease tree: its entries are valid
//! until their TTL or a write lease, and it grants a full read lease with every value it serves
//! or accepts. L3, L2 and L1 grant what is left of their own lease, so a lease never outlives the
//! one it was derived from. The lease is measured from the instant the read *began* at the
//! filled tier (the tier's token), not from when the fill arrived, so message delay cannot
//! stretch it. An entry's expiry is its lease's end (capped by the TTL as in `versioned`); a
//! lapsed lease is renewed on use: the next read misses, asks the tier below, and fills the same
//! version again with a fresh lease.
//!
//! Writes follow the IQ framework's write leases (S. Ghandeharizadeh, J. Yap, H. Nguyen,
//! "Strong Consistency in Cache Augmented SQL Systems", Middleware 2014): before committing, a
//! write puts a write lease ("Q lease") on the key in Redis, every L3, every L2 and every L1,
//! bottom-up. A write-leased tier drops its entry, serves nothing, refuses fills and voids the
//! tokens of reads that began before (the key's lease generation rises), so a read that fetched
//! the old value can no longer install it anywhere (IQ's "I lease" check). Redis must be leased
//! or nothing is committed (`fail`). A tier that cannot be reached cannot be told, so the write
//! waits until every read lease it could still hold has run out: one read lease plus the skew
//! allowance. Then it commits and releases each write lease, raising each tier's version floor to
//! the committed version. A read that finds a tier write-leased reads the database of record
//! directly and fills nothing; a read on a process cut off from every tier and the database
//! fails once its L1 lease lapses (availability is the price).
//!
//! Lengths, all derived from `SystemConfig`:
//! - read lease = half the smallest tier TTL (100 ms by default), so leases lapse and renew
//!   well within every TTL, and a write that meets an unreachable tier waits little;
//! - skew allowance = 2 x `max_clock_skew_ms` per lease hop (Redis -> L3 -> L2 -> L1): a skew
//!   fault may move a clock anywhere within +-max, so one lease on one clock may stretch by twice
//!   the bound, and a derived lease may inherit its parent's stretch;
//! - write lease = `op_timeout_ms` + 2 x `max_clock_skew_ms`: a write spends at most half the
//!   operation budget (on the process's monotonic timer) before it sends its commit, or gives up
//!   uncommitted; the other half covers the commit's flight. The lease outlives that even on a
//!   clock jumping forward. A Redis shard that restarted within this long may have forgotten a
//!   write lease, so it serves nothing and hands out no tokens meanwhile (restart quarantine);
//!   other tiers need none, since they fill only under a lease granted from below.
//!
//! Claims: everything `versioned` claims plus `linearizable`, provided clocks stay within the
//! configured skew bound. A read returns a tier's value only while that tier holds an unexpired
//! lease, and no lease on the old version survives past the commit; otherwise it returns the
//! database's row as read, which is linearizable at that read.

use crate::node::config::SystemConfig;
use crate::node::tier::{FillTtl, Gate, LeaseToken};
use crate::protocol::app::{App, TierHandle};
use crate::protocol::{Claims, Invalidation, Invariant, OpError, Protocol};
use crate::state::database::{Data, Row};
use crate::state::redis::{Expiry, SetOpts};
use std::future::Future;
use std::time::Duration;

/// How many times a lease request is sent before the tier counts as unreachable.
const ATTEMPTS: usize = 3;
/// Lease hops below an L1: L3 from Redis, L2 from L3, L1 from L2.
const LEASE_HOPS: u64 = 3;

/// The lease lengths of one system (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTiming {
    pub read_lease_ns: u64,
    pub skew_allowance_ns: u64,
    pub write_lease_ns: u64,
    /// How long a write may take to make every tier safe before it must send its commit.
    pub pre_commit_budget_ns: u64,
}

impl LeaseTiming {
    pub fn of(cfg: &SystemConfig) -> LeaseTiming {
        let smallest_ttl_ms = cfg.l1_ttl_ms.min(cfg.l2_ttl_ms).min(cfg.l3_ttl_ms).min(cfg.redis_ttl_ms);
        let ms = 1_000_000;
        LeaseTiming {
            read_lease_ns: (smallest_ttl_ms / 2).max(1) * ms,
            skew_allowance_ns: 2 * cfg.max_clock_skew_ms * LEASE_HOPS * ms,
            write_lease_ns: (cfg.op_timeout_ms + 2 * cfg.max_clock_skew_ms) * ms,
            pre_commit_budget_ns: cfg.op_timeout_ms / 2 * ms,
        }
    }

    /// How long a write waits for a tier it could not lease: every read lease there has run out.
    pub fn unreachable_wait(&self) -> Duration {
        Duration::from_nanos(self.read_lease_ns + self.skew_allowance_ns)
    }
}

/// The write leases one write holds, to release after its commit.
struct WriteLeases<'a> {
    redis_gen: u64,
    tiers: Vec<(TierHandle<'a>, u64)>,
    l1_gen: u64,
    peers: Vec<&'a str>,
}

/// The `leased` protocol.
#[derive(Clone, Copy, Debug, Default)]
pub struct Leased;

/// `f` until it succeeds, at most `ATTEMPTS` times.
async fn retry<T, F, Fut>(mut f: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, OpError>>,
{
    for _ in 0..ATTEMPTS {
        if let Ok(t) = f().await {
            return Some(t);
        }
    }
    None
}

impl Leased {
    /// Read through the tiers under leases, filling the ones that missed with the lease the
    /// source granted.
    async fn read_through(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        let t = LeaseTiming::of(cx.config());
        let path = cx.path();
        // Tiers that missed and may be filled, nearest first.
        let mut missed: Vec<(&TierHandle<'_>, LeaseToken)> = Vec::new();
        // (data, its source's remaining TTL, the read lease the source grants).
        let mut source: Option<(Data, Option<u64>, Option<u64>)> = None;
        for tier in &path {
            // An unreachable tier is skipped (and left unfilled).
            let Ok(l) = tier.lease_get(key).await else {
                continue;
            };
            match (l.entry, l.token) {
                (Some(e), _) => {
                    let grant = l.remaining_ns.unwrap_or(t.read_lease_ns);
                    source = Some((Data::of(&e), l.remaining_ns, Some(grant.min(t.read_lease_ns))));
                    break;
                }
                (None, Some(token)) => missed.push((tier, token)),
                // Write-leased or quarantined: it takes no fill.
                (None, None) => {}
            }
        }
        let (data, remaining_ns, grant_ns) = match source {
            Some(s) => s,
            None => match cx.redis().lease_get(key, t.write_lease_ns).await {
                Ok((Some((e, pttl_ms)), _)) => {
                    (Data::of(&e), (pttl_ms >= 0).then(|| pttl_ms as u64 * 1_000_000), Some(t.read_lease_ns))
                }
                Ok((None, Some(token))) => {
                    let data = cx.db().read(key).await?;
                    let opts =
                        SetOpts { expiry: Some(Expiry::Px(cx.config().redis_ttl_ms)), ..Default::default() };
                    let entry = cx.entry_of(key, &data);
                    // Redis accepting (or already holding) this version is the lease's root.
                    let granted = cx.redis().lease_fill(key, entry, opts, token).await.unwrap_or(false);
                    (data, None, granted.then_some(t.read_lease_ns))
                }
                // Redis is write-leased, quarantined or unreachable: the database answers,
                // and nothing is filled.
                Ok((None, None)) | Err(_) => (cx.db().read(key).await?, None, None),
            },
        };
        if let Some(grant_ns) = grant_ns {
            // Deepest first, each no longer-lived than its source.
            for (tier, token) in missed.iter().rev() {
                let ttl = remaining_ns.map_or(FillTtl::Tier, |r| FillTtl::AtMost { remaining_ns: r });
                let fill = cx.fill_of(key, &data, ttl, Gate::IfNewer, None);
                // A refused fill is not the reader's problem: it has the row.
                let _ = tier.lease_fill(fill, *token, grant_ns).await;
            }
        }
        Ok(data.row())
    }

    /// Write-lease every tier, make the unreachable ones safe by waiting, commit, release.
    async fn commit(&self, cx: &App, key: &str, value: Option<i64>) -> Result<Row, OpError> {
        let t = LeaseTiming::of(cx.config());
        // The write leases must still stand when the commit lands: past the budget the write
        // gives up, uncommitted.
        let budget = Duration::from_nanos(t.pre_commit_budget_ns);
        let leases = match madsim::time::timeout(budget, self.lease_everywhere(cx, key, &t)).await {
            Ok(leases) => leases?,
            Err(_) => {
                return Err(OpError::Failed(format!(
                    "{key}: the tiers could not be made safe in time; nothing was committed"
                )))
            }
        };
        let row = cx.db().write(key, value).await?;
        // Releasing is an optimisation: an unreleased write lease expires on its own, and the
        // tokens it voided stay void.
        let v = row.version;
        let redis_gen = leases.redis_gen;
        let _ = retry(|| async move { cx.redis().release_write_lease(key, v, Some(redis_gen)).await }).await;
        for (tier, gen) in &leases.tiers {
            let _ = retry(|| tier.release_write_lease(key, v, Some(*gen))).await;
        }
        let _ = cx.l1().release_write_lease(key, v, Some(leases.l1_gen)).await;
        for peer in leases.peers {
            let inv = Invalidation::Key { key: key.to_string(), version: v };
            let _ =
                retry(|| async { cx.invalidate_peer(peer, inv.clone()).await.map_err(OpError::from) }).await;
        }
        Ok(row)
    }

    /// Put a write lease on `key` in Redis, every L3 and L2, this L1 and every peer's L1, and
    /// wait out the read leases of those that could not be reached.
    async fn lease_everywhere<'a>(
        &self,
        cx: &'a App,
        key: &str,
        t: &LeaseTiming,
    ) -> Result<WriteLeases<'a>, OpError> {
        let wl = t.write_lease_ns;
        // Redis is the root of every read lease: without its write lease nothing is safe.
        let Some(redis_gen) = retry(|| async move { cx.redis().write_lease(key, wl).await }).await else {
            return Err(OpError::Failed(format!(
                "redis could not be write-leased for {key}; nothing was committed"
            )));
        };
        let mut unreachable = false;
        let mut tiers = Vec::new();
        for tier in cx.shared_tiers() {
            match retry(|| tier.write_lease(key, wl)).await {
                Some(gen) => tiers.push((tier, gen)),
                None => unreachable = true,
            }
        }
        let l1_gen = cx.l1().write_lease(key, wl).await?;
        let mut peers = Vec::new();
        for peer in cx.peers() {
            let inv = Invalidation::Remove { key: key.to_string() };
            let acked =
                retry(|| async { cx.invalidate_peer(peer, inv.clone()).await.map_err(OpError::from) }).await;
            match acked {
                Some(()) => peers.push(peer.as_str()),
                None => unreachable = true,
            }
        }
        if unreachable {
            // They were not told; every read lease they could hold (or grant) runs out by now.
            cx.sleep(t.unreachable_wait()).await;
        }
        Ok(WriteLeases { redis_gen, tiers, l1_gen, peers })
    }

    /// Invalidate a tag everywhere; tiers that cannot be told are waited out.
    async fn invalidate_tag(&self, cx: &App, tag: &str) -> Result<(), OpError> {
        let t = LeaseTiming::of(cx.config());
        // Redis entries do not lapse on a lease: Redis must be told.
        retry(|| async move { cx.redis().del_tag(tag).await }).await.ok_or_else(|| {
            OpError::Indeterminate(format!("redis did not acknowledge invalidating tag {tag}"))
        })?;
        let mut unreachable = false;
        for tier in cx.shared_tiers() {
            unreachable |= retry(|| tier.invalidate_tag(tag, true)).await.is_none();
        }
        cx.l1().invalidate_tag(tag, true).await?;
        for peer in cx.peers() {
            let inv = Invalidation::Tag { tag: tag.to_string(), generation: None };
            let acked =
                retry(|| async { cx.invalidate_peer(peer, inv.clone()).await.map_err(OpError::from) }).await;
            unreachable |= acked.is_none();
        }
        if unreachable {
            cx.sleep(t.unreachable_wait()).await;
        }
        Ok(())
    }
}

impl Protocol for Leased {
    fn name(&self) -> String {
        "leased".into()
    }

    fn claims(&self, cfg: &SystemConfig) -> Claims {
        let mut claims = super::versioned::versioned_own_claims(cfg);
        claims.invariants.insert(Invariant::Linearizable);
        claims
    }

    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        self.read_through(cx, key).await
    }

    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        self.commit(cx, key, Some(value)).await
    }

    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        self.commit(cx, key, None).await
    }

    async fn invalidate_tag(&self, cx: &App, tag: &str) -> Result<(), OpError> {
        Leased::invalidate_tag(self, cx, tag).await
    }

    // `warm` is the trait's default: each key is read through the leases like any read.

    /// A peer's write lease on this L1 (`Remove`), its release after the commit (`Key`: every
    /// write lease of the key ends and the floor rises), or a tag invalidation.
    async fn on_invalidation(&self, cx: &App, inv: Invalidation) {
        let t = LeaseTiming::of(cx.config());
        let _ = match inv {
            Invalidation::Remove { key } => cx.l1().write_lease(&key, t.write_lease_ns).await,
            Invalidation::Key { key, version } => {
                cx.l1().release_write_lease(&key, version, None).await.map(|_| 0)
            }
            Invalidation::Tag { tag, .. } => cx.l1().invalidate_tag(&tag, true).await.map(|_| 0),
        };
    }
}
