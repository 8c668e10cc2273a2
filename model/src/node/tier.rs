//! One cache tier's behaviour — the L1 inside every app process and the L2 / L3 nodes alike —
//! as a command set over a `TierStore`.
//!
//! Tiers are stores with scripts, as real ones are: they answer commands and record what they
//! did; the protocol on the app node decides which commands to send. The command set includes
//! the gates correct protocols use (version floors, incarnation checks) and the weaker variants
//! real code ships with (a gate on the cached entry only, a sliding TTL, an absolute expiry
//! computed on another host's clock, a strict timestamp comparison), so a bug-zoo protocol
//! differs from a correct one in the commands it chooses, never in a special case here.
//!
//! The L1 applies commands in-process; L2 and L3 nodes receive the same `TierCmd` over the
//! network (`tier_node`). One implementation serves all three.

use crate::event::{ModelEvent, RemoveCause, Tier};
use crate::state::store::{Entry, TierStore};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tiersim_sim::clock::{sim_now_ns, NodeClock};
use tiersim_sim::history::Recorder;

/// Which fills a tier accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Accept anything (plain SET).
    Plain,
    /// Refuse a fill below the key's version floor, or not newer than the cached entry. The
    /// floor outlives eviction and deletion.
    IfNewer,
    /// Refuse a fill only when the cached entry is at least as new: forgets the version when
    /// the entry is evicted (the `version-lost-on-evict` flaw).
    IfNewerThanCached,
}

/// How long a filled entry lives, on which clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FillTtl {
    /// The tier's own TTL, on its own clock.
    Tier,
    /// The tier's TTL but no longer than `remaining_ns` (the source's remaining TTL): a fill
    /// never outlives its source.
    AtMost { remaining_ns: u64 },
    /// An absolute expiry instant computed on another node's clock (the `ttl-skew` flaw).
    AbsoluteLocal { expires_at_ns: u64 },
    /// Never expires.
    Never,
}

/// A fill request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fill {
    pub key: String,
    pub value: Option<i64>,
    pub version: u64,
    /// When the value was read from the database of record (global sim time).
    pub origin_ns: u64,
    pub tags: Vec<String>,
    pub ttl: FillTtl,
    pub gate: Gate,
    /// The incarnation the reader saw when its read began at this tier: a restarted tier refuses
    /// fills whose read began before it restarted. `None` skips the check.
    pub incarnation: Option<u64>,
    /// The generation of the key's tag the reader saw before it read its data: a tier that has
    /// since seen a later tag invalidation refuses the fill. `None` skips the check.
    pub tag_generation: Option<u64>,
    /// The client operation the fill serves (for reports).
    pub op: Option<u64>,
}

/// What a lookup under leases hands the reader when it misses: proof of when and in which
/// generation of the key's write leases the read began at this tier. A `LeaseFill` must bring
/// it back; a write lease placed in between (or a restart) voids it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseToken {
    /// The key's write-lease generation when the read began.
    pub gen: u64,
    /// When the read began, on the tier's clock: the read lease a fill brings is measured from
    /// here, so it never outlasts the lease of the tier that granted it.
    pub asked_at_local_ns: u64,
    /// The tier's incarnation (or Redis's run id) when the read began.
    pub incarnation: u64,
    /// At Redis, the generation of the key's tag when the read began: a tag invalidation in
    /// between voids the token (0 at the other tiers, which compare tag epochs instead).
    pub tag_generation: u64,
}

/// Commands a tier answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TierCmd {
    /// Look `key` up. `touch`: a hit restarts its TTL (a sliding TTL).
    Get {
        key: String,
        op: Option<u64>,
        touch: bool,
    },
    Fill(Fill),
    /// Raise the floor of `key` to `version` and drop any entry below it.
    Invalidate {
        key: String,
        version: u64,
    },
    /// Drop `key` whatever its version (no floor).
    Remove {
        key: String,
    },
    /// Invalidate every entry of `tag` filled up to now. The tier keeps a per-tag epoch in
    /// milliseconds of its clock; entries filled at or before it are invalid (`inclusive`), or
    /// strictly before it (`!inclusive`: the `same-tick-invalidate-all` flaw).
    InvalidateTag {
        tag: String,
        inclusive: bool,
        /// The tag's new generation (from Redis): fills carrying an older one are refused.
        generation: Option<u64>,
    },
    /// The keys currently cached with `tag`.
    KeysWithTag {
        tag: String,
    },
    /// Look `key` up under leases (the `leased` protocol). While the key is under a write lease
    /// the tier serves nothing and hands out no token. Otherwise a hit is served (a leased
    /// entry's expiry is the end of its read lease) and a miss answers a `LeaseToken`. (A
    /// restarted tier needs no quarantine: it can only be filled under a lease granted by a
    /// deeper tier, and the root, Redis, has one.)
    LeaseGet {
        key: String,
        op: Option<u64>,
    },
    /// Fill under a read lease granted by a deeper tier for `lease_ns`, measured from the
    /// token's instant. Refused while write-leased, when the token's generation or incarnation
    /// is stale, when the lease already ran out, below the floor, below the cached version, or
    /// when a tag of the key was invalidated after the read began. A fill of the cached version
    /// renews the entry's lease.
    LeaseFill {
        fill: Fill,
        token: LeaseToken,
        lease_ns: u64,
    },
    /// Put a write lease on `key` for `lease_ns` of the tier's clock: drop the entry, void every
    /// outstanding token, and neither serve nor accept fills for it until released or expired.
    /// Answers the lease's generation.
    WriteLease {
        key: String,
        lease_ns: u64,
    },
    /// Release the write lease of generation `gen` (None: every write lease of the key) after
    /// `version` committed: raise the floor to `version` and drop anything older.
    ReleaseWriteLease {
        key: String,
        version: u64,
        gen: Option<u64>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TierReply {
    /// A lookup's answer: the entry, its remaining TTL in ns, the tier's incarnation, and the
    /// generation the tier knows for the entry's tag (0 on a miss or an untagged entry).
    Got {
        entry: Option<Entry>,
        remaining_ns: Option<u64>,
        incarnation: u64,
        tag_generation: u64,
    },
    Filled(bool),
    Keys(Vec<String>),
    Done,
    /// A lookup under leases: the entry and its remaining lease in ns (a hit), or the token to
    /// fill with (a miss that may be filled; None while write-leased).
    LeaseGot {
        entry: Option<Entry>,
        remaining_ns: Option<u64>,
        token: Option<LeaseToken>,
    },
    /// A write lease's generation.
    WriteLeased {
        gen: u64,
    },
}

/// One tier's state and behaviour.
pub struct TierState {
    node: String,
    tier: Tier,
    clock: NodeClock,
    ttl_ns: Option<u64>,
    /// Rises on every restart; fills carrying an older one are refused.
    incarnation: u64,
    /// tag -> epoch in ms of this tier's clock.
    tag_epochs: BTreeMap<String, (u64, bool)>,
    /// tag -> the latest generation an invalidation brought.
    tag_generations: BTreeMap<String, u64>,
    /// Lease state (used only by lease commands): each key's write-lease generation, and each
    /// key's outstanding write leases (gen -> end on this tier's clock).
    lease_gens: BTreeMap<String, u64>,
    write_leases: BTreeMap<String, BTreeMap<u64, u64>>,
    recorder: Recorder<ModelEvent>,
    /// The tier's memory. It lives in the cell the quiet-phase snapshot reads (and that
    /// outlives a crash until the next start), not in a copy published after every command:
    /// a copy kept beside a persistent map makes every later change copy the path it touches.
    shared: Arc<Mutex<TierStore>>,
}

fn ms(ns: u64) -> u64 {
    ns / 1_000_000
}

impl TierState {
    /// A tier that (re)starts now with empty memory: its incarnation is the global instant of
    /// the start, so every restart has a larger one.
    pub fn start(
        node: &str,
        tier: Tier,
        capacity: usize,
        ttl_ns: Option<u64>,
        clock: NodeClock,
        recorder: Recorder<ModelEvent>,
        shared: Arc<Mutex<TierStore>>,
    ) -> TierState {
        recorder.internal(ModelEvent::Start { node: node.to_string() });
        *shared.lock().unwrap() = TierStore::new(capacity);
        TierState {
            node: node.to_string(),
            tier,
            clock,
            ttl_ns,
            incarnation: sim_now_ns() + 1,
            tag_epochs: BTreeMap::new(),
            tag_generations: BTreeMap::new(),
            lease_gens: BTreeMap::new(),
            write_leases: BTreeMap::new(),
            recorder,
            shared,
        }
    }

    pub fn tier(&self) -> Tier {
        self.tier
    }

    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// The tier's memory, for one statement: no caller holds it across a call that takes it again.
    fn store(&self) -> MutexGuard<'_, TierStore> {
        self.shared.lock().expect("tiersim bug: a tier's store was poisoned")
    }

    pub fn floor(&self, key: &str) -> u64 {
        self.store().floor(key)
    }

    fn removed(&self, key: &str, version: u64, cause: RemoveCause) {
        self.recorder.internal(ModelEvent::Remove {
            node: self.node.clone(),
            tier: self.tier,
            key: key.to_string(),
            version,
            cause,
        });
    }

    /// Whether a tag epoch invalidates `entry`.
    fn tag_invalid(&self, entry: &Entry) -> bool {
        entry.tags.iter().any(|t| match self.tag_epochs.get(t) {
            Some(&(epoch_ms, true)) => ms(entry.filled_at_ns) <= epoch_ms,
            Some(&(epoch_ms, false)) => ms(entry.filled_at_ns) < epoch_ms,
            None => false,
        })
    }

    /// Apply one command.
    pub fn apply(&mut self, cmd: TierCmd) -> TierReply {
        let reply = match cmd {
            TierCmd::Get { key, op, touch } => self.get(&key, op, touch),
            TierCmd::Fill(fill) => TierReply::Filled(self.fill(fill)),
            TierCmd::Invalidate { key, version } => {
                self.store().raise_floor(&key, version);
                let node = self.node.clone();
                self.recorder.internal(ModelEvent::Floor {
                    node,
                    tier: self.tier,
                    key: key.clone(),
                    version,
                });
                if self.store().peek_any(&key).is_some_and(|e| e.version < version) {
                    let e = self.store().remove(&key).unwrap();
                    self.removed(&key, e.version, RemoveCause::Invalidate);
                }
                TierReply::Done
            }
            TierCmd::Remove { key } => {
                if let Some(e) = self.store().remove(&key) {
                    self.removed(&key, e.version, RemoveCause::Delete);
                }
                TierReply::Done
            }
            TierCmd::InvalidateTag { tag, inclusive, generation } => {
                if let Some(g) = generation {
                    let current = self.tag_generations.entry(tag.clone()).or_insert(0);
                    *current = (*current).max(g);
                }
                let now_ms = ms(self.clock.now_ns());
                self.tag_epochs.insert(tag.clone(), (now_ms, inclusive));
                let node = self.node.clone();
                self.recorder.internal(ModelEvent::TagInvalidate { node, tier: self.tier, tag: tag.clone() });
                // Entries the epoch covers go now; the rest (a strict epoch spares the same
                // millisecond) stay until a later epoch or their TTL.
                let tagged = self.store().keys_with_tag(&tag);
                for key in tagged {
                    let invalid = self.store().peek_any(&key).is_some_and(|e| self.tag_invalid(e));
                    if invalid {
                        let e = self.store().remove(&key).unwrap();
                        self.removed(&key, e.version, RemoveCause::Tag);
                    }
                }
                TierReply::Done
            }
            TierCmd::KeysWithTag { tag } => TierReply::Keys(self.store().keys_with_tag(&tag)),
            TierCmd::LeaseGet { key, op } => self.lease_get(&key, op),
            TierCmd::LeaseFill { fill, token, lease_ns } => {
                TierReply::Filled(self.lease_fill(fill, token, lease_ns))
            }
            TierCmd::WriteLease { key, lease_ns } => {
                let now = self.clock.now_ns();
                let gen = self.lease_gens.get(&key).copied().unwrap_or(0) + 1;
                self.lease_gens.insert(key.clone(), gen);
                self.write_leases.entry(key.clone()).or_default().insert(gen, now + lease_ns);
                if let Some(e) = self.store().remove(&key) {
                    self.removed(&key, e.version, RemoveCause::Invalidate);
                }
                TierReply::WriteLeased { gen }
            }
            TierCmd::ReleaseWriteLease { key, version, gen } => {
                self.apply(TierCmd::Invalidate { key: key.clone(), version });
                match (gen, self.write_leases.get_mut(&key)) {
                    (Some(g), Some(leases)) => {
                        leases.remove(&g);
                    }
                    (None, Some(leases)) => leases.clear(),
                    (_, None) => {}
                }
                TierReply::Done
            }
        };
        reply
    }

    fn get(&mut self, key: &str, op: Option<u64>, touch: bool) -> TierReply {
        let now = self.clock.now_ns();
        let stored = self.store().peek_any(key).cloned();
        let mut hit = self.store().get(key, now);
        if let (None, Some(old)) = (&hit, &stored) {
            self.removed(key, old.version, RemoveCause::Expire);
        }
        if hit.as_ref().is_some_and(|e| self.tag_invalid(e)) {
            let e = self.store().remove(key).unwrap();
            self.removed(key, e.version, RemoveCause::Tag);
            hit = None;
        }
        if let (Some(e), true, Some(ttl)) = (&mut hit, touch, self.ttl_ns) {
            // A sliding TTL: every hit buys the entry another full TTL.
            e.expires_at_ns = Some(now + ttl);
            self.store().insert(key, e.clone());
        }
        if let Some(e) = &hit {
            self.recorder.internal(ModelEvent::Serve {
                node: self.node.clone(),
                tier: self.tier,
                key: key.to_string(),
                version: e.version,
                op,
                now_local_ns: now,
                filled_at_local_ns: e.filled_at_ns,
                tier_ttl_ns: self.ttl_ns,
                origin_ns: e.origin_ns,
                tags: e.tags.iter().cloned().collect(),
            });
        }
        let remaining_ns = hit.as_ref().and_then(|e| e.expires_at_ns).map(|t| t.saturating_sub(now));
        let tag_generation = hit.as_ref().map_or(0, |e| {
            e.tags.iter().filter_map(|t| self.tag_generations.get(t)).copied().max().unwrap_or(0)
        });
        TierReply::Got { entry: hit, remaining_ns, incarnation: self.incarnation, tag_generation }
    }

    /// Whether `key` is under a write lease now (expired leases are forgotten on the way).
    fn write_leased(&mut self, key: &str, now: u64) -> bool {
        match self.write_leases.get_mut(key) {
            Some(leases) => {
                leases.retain(|_, until| *until > now);
                !leases.is_empty()
            }
            None => false,
        }
    }

    fn lease_get(&mut self, key: &str, op: Option<u64>) -> TierReply {
        let now = self.clock.now_ns();
        if self.write_leased(key, now) {
            return TierReply::LeaseGot { entry: None, remaining_ns: None, token: None };
        }
        match self.get(key, op, false) {
            TierReply::Got { entry: Some(e), remaining_ns, .. } => {
                TierReply::LeaseGot { entry: Some(e), remaining_ns, token: None }
            }
            _ => TierReply::LeaseGot {
                entry: None,
                remaining_ns: None,
                token: Some(LeaseToken {
                    gen: self.lease_gens.get(key).copied().unwrap_or(0),
                    asked_at_local_ns: now,
                    incarnation: self.incarnation,
                    tag_generation: 0,
                }),
            },
        }
    }

    fn lease_fill(&mut self, f: Fill, token: LeaseToken, lease_ns: u64) -> bool {
        let now = self.clock.now_ns();
        let lease_end = token.asked_at_local_ns.saturating_add(lease_ns);
        let floor = self.store().floor(&f.key);
        let cached = self.store().peek(&f.key, now).map(|e| e.version);
        let asked_ms = ms(token.asked_at_local_ns);
        let tag_invalidated =
            f.tags.iter().any(|t| self.tag_epochs.get(t).is_some_and(|&(epoch_ms, _)| asked_ms <= epoch_ms));
        let refused = self.write_leased(&f.key, now)
            || token.gen != self.lease_gens.get(&f.key).copied().unwrap_or(0)
            || token.incarnation != self.incarnation
            || lease_end <= now
            || f.version < floor
            || cached.is_some_and(|c| c > f.version)
            || tag_invalidated;
        if refused {
            self.refuse(&f, floor.max(cached.unwrap_or(0)));
            return false;
        }
        // A fill of the cached version renews its lease: the entry is stored again, no
        // longer-lived than its source (the fill's TTL) and than the granted lease.
        let f = Fill { gate: Gate::Plain, incarnation: None, ..f };
        self.fill_capped(f, Some(lease_end))
    }

    /// Record a refused fill, naming the floor (or cached version) that refused it.
    fn refuse(&self, f: &Fill, floor_version: u64) {
        let (node, tier, key, version) = (self.node.clone(), self.tier, f.key.clone(), f.version);
        self.recorder.internal(ModelEvent::Refuse { node, tier, key, version, floor_version });
    }

    fn fill(&mut self, f: Fill) -> bool {
        self.fill_capped(f, None)
    }

    /// Fill; `cap_local_ns` bounds the entry's expiry (the end of a read lease).
    fn fill_capped(&mut self, f: Fill, cap_local_ns: Option<u64>) -> bool {
        let now = self.clock.now_ns();
        let floor = self.store().floor(&f.key);
        let cached = self.store().peek(&f.key, now).map(|e| e.version);
        let stale_incarnation = f.incarnation.is_some_and(|i| i != self.incarnation);
        let stale_tag = f.tag_generation.is_some_and(|g| {
            f.tags.iter().any(|t| self.tag_generations.get(t).is_some_and(|&current| g < current))
        });
        let refused = stale_incarnation
            || stale_tag
            || match f.gate {
                Gate::Plain => false,
                Gate::IfNewer => f.version < floor || cached.is_some_and(|c| c >= f.version),
                Gate::IfNewerThanCached => cached.is_some_and(|c| c >= f.version),
            };
        if refused {
            self.refuse(&f, floor.max(cached.unwrap_or(0)));
            return false;
        }
        let expires_at_ns = match f.ttl {
            FillTtl::Tier => self.ttl_ns.map(|t| now + t),
            FillTtl::AtMost { remaining_ns } => {
                Some(now + self.ttl_ns.map_or(remaining_ns, |t| t.min(remaining_ns)))
            }
            FillTtl::AbsoluteLocal { expires_at_ns } => Some(expires_at_ns),
            FillTtl::Never => None,
        };
        let expires_at_ns = match (expires_at_ns, cap_local_ns) {
            (Some(e), Some(c)) => Some(e.min(c)),
            (e, c) => e.or(c),
        };
        let entry = Entry {
            value: f.value,
            version: f.version,
            filled_at_ns: now,
            origin_ns: f.origin_ns,
            expires_at_ns,
            tags: f.tags.iter().cloned().collect(),
            run_id: None,
        };
        if let Some(old) = self.store().peek_any(&f.key) {
            let v = old.version;
            self.removed(&f.key, v, RemoveCause::Invalidate);
        }
        let evicted = self.store().insert(&f.key, entry);
        self.recorder.internal(ModelEvent::Fill {
            node: self.node.clone(),
            tier: self.tier,
            key: f.key.clone(),
            version: f.version,
            origin_ns: f.origin_ns,
            filled_at_local_ns: now,
            tier_ttl_ns: self.ttl_ns,
            expires_at_ns: expires_at_ns.map(|t| self.clock.to_global_ns(t)),
            tags: f.tags.clone(),
            op: f.op,
        });
        for (k, e) in evicted {
            self.removed(&k, e.version, RemoveCause::Evict);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::event::Tier;
    use crate::node::tier::{Fill, FillTtl, Gate, TierCmd, TierState};
    use crate::state::store::TierStore;
    use std::sync::{Arc, Mutex};
    use tiersim_sim::clock::Clocks;
    use tiersim_sim::history::Recorder;
    use tiersim_sim::runtime::{run, RunConfig};

    fn fill(version: u64) -> TierCmd {
        TierCmd::Fill(Fill {
            key: "k".into(),
            value: Some(version as i64),
            version,
            origin_ns: 0,
            tags: Vec::new(),
            ttl: FillTtl::Never,
            gate: Gate::IfNewer,
            incarnation: None,
            tag_generation: None,
            op: None,
        })
    }

    /// The version the quiet-phase snapshot cell holds for "k", if any.
    fn seen(cell: &Arc<Mutex<TierStore>>) -> Option<u64> {
        cell.lock().unwrap().peek_any("k").map(|e| e.version)
    }

    /// The snapshot cell is the tier's memory: it shows every command's effect at once, keeps a
    /// crashed tier's last memory until the next start, and a start empties it.
    #[test]
    fn the_snapshot_cell_follows_every_command_and_each_start() {
        let finished = run(7, &RunConfig::default(), |_world| async move {
            let cell = Arc::new(Mutex::new(TierStore::new(4)));
            let start = || {
                let (clock, recorder) = (Clocks::default().node("l2-0"), Recorder::new());
                TierState::start("l2-0", Tier::L2, 4, None, clock, recorder, cell.clone())
            };
            let mut tier = start();
            tier.apply(fill(1));
            assert_eq!(seen(&cell), Some(1));
            tier.apply(TierCmd::Invalidate { key: "k".into(), version: 2 });
            assert_eq!((seen(&cell), cell.lock().unwrap().floor("k")), (None, 2));
            tier.apply(fill(1)); // below the floor: refused, nothing changes
            assert_eq!(seen(&cell), None);
            tier.apply(fill(3));
            assert_eq!(seen(&cell), Some(3));
            drop(tier); // a crash: the cell keeps what the tier held
            assert_eq!(seen(&cell), Some(3));
            let _restarted = start();
            assert_eq!((seen(&cell), cell.lock().unwrap().floor("k")), (None, 0));
        });
        finished.result.expect("the run finishes");
    }
}
