//! A protocol written against tiersim's public face (`tiersim::prelude`), the way a user writes
//! one; docs/writing-a-protocol.md walks through it, and tests/tests/user_crate.rs does the same
//! from a crate outside the workspace. `OurCache` keeps an L1 in each process and Redis behind
//! it, gates every fill on the database version, and invalidates bottom-up with
//! acknowledgements before a write completes.

use std::cell::{Cell, RefCell};
use std::time::Duration;
use tiersim::prelude::*;

struct OurCache {
    redis_ttl: Duration,
}

impl OurCache {
    async fn invalidate(&self, cx: &App, key: &str, version: u64) -> Result<(), OpError> {
        cx.redis().invalidate(key, version).await?;
        cx.l1().invalidate(key, version).await?;
        for peer in cx.peers() {
            let inv = Invalidation::Key { key: key.to_string(), version };
            // Unacknowledged means we cannot promise anything: report the write as indeterminate.
            cx.invalidate_peer(peer, inv).await?;
        }
        Ok(())
    }
}

impl Protocol for OurCache {
    fn name(&self) -> String {
        "our-cache".into()
    }

    fn claims(&self, cfg: &SystemConfig) -> Claims {
        // Staleness: a value lives at most one Redis TTL, plus an operation timeout.
        let bound_ns = (self.redis_ttl.as_millis() as u64 + cfg.op_timeout_ms) * 1_000_000;
        Claims::new([Invariant::InvalidationBarrier, Invariant::Converged]).with_staleness_bound_ns(bound_ns)
    }

    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        if let Some(hit) = cx.l1().get(key).await?.entry {
            return Ok(Row { value: hit.value, version: hit.version });
        }
        let (hit, run_id) = cx.redis().get(key).await?;
        if let Some((entry, pttl_ms)) = hit {
            let data = Data::of(&entry);
            // Never outlive the copy we came from.
            let ttl = FillTtl::AtMost { remaining_ns: pttl_ms.max(0) as u64 * 1_000_000 };
            cx.l1().fill(cx.fill_of(key, &data, ttl, Gate::IfNewer, None)).await?;
            return Ok(data.row());
        }
        let data = cx.db().read(key).await?; // the race window opens here...
        let opts =
            SetOpts { expiry: Some(Expiry::Px(self.redis_ttl.as_millis() as u64)), ..Default::default() };
        // ...and the version gate closes it: a fill older than an invalidation is refused.
        let _ = cx.redis().fill(key, cx.entry_of(key, &data), opts, Gate::IfNewer, Some(run_id)).await;
        cx.l1().fill(cx.fill_of(key, &data, FillTtl::Tier, Gate::IfNewer, None)).await?;
        Ok(data.row())
    }

    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        let row = cx.db().write(key, Some(value)).await?;
        self.invalidate(cx, key, row.version).await?;
        Ok(row)
    }

    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        let row = cx.db().write(key, None).await?;
        self.invalidate(cx, key, row.version).await?;
        Ok(row)
    }
}

fn our_cache() -> OurCache {
    OurCache { redis_ttl: Duration::from_millis(500) }
}

#[test]
fn our_cache_survives_the_fill_race() {
    // What a user writes: honours TIERSIM_SEEDS / TIERSIM_SEED, and on failure panics with the
    // invariant, the facts and the commands, and saves the replay file.
    Sweep::of(catalog::fill_race(), our_cache).seeds(0..30).no_regressions().assert_clean();
}

/// Every app process gets an instance of its own, and a restarted process a fresh one: state in
/// plain struct fields is per process. A shared instance would see `on_start` once per app node
/// (and again per restart) and the name check would see other nodes' names.
#[test]
fn each_process_has_its_own_instance_and_a_restart_builds_a_new_one() {
    #[derive(Default)]
    struct PerProcess {
        starts: Cell<u32>,
        node: RefCell<String>,
    }
    impl Protocol for PerProcess {
        fn name(&self) -> String {
            "per-process".into()
        }
        fn claims(&self, _: &SystemConfig) -> Claims {
            Claims::new([])
        }
        async fn on_start(&self, cx: &App) {
            self.starts.set(self.starts.get() + 1);
            assert_eq!(self.starts.get(), 1, "{}: one instance started twice", cx.name());
            *self.node.borrow_mut() = cx.name().to_string();
        }
        async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
            assert_eq!(*self.node.borrow(), cx.name(), "an instance is shared between processes");
            Ok(cx.db().read(key).await?.row())
        }
        async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
            assert_eq!(*self.node.borrow(), cx.name(), "an instance is shared between processes");
            cx.db().write(key, Some(value)).await
        }
        async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
            cx.db().write(key, None).await
        }
    }
    // `restarts` kills and restarts app nodes; a panic in protocol code is a crash verdict.
    Sweep::of(catalog::restarts(), PerProcess::default).seeds(0..20).no_regressions().assert_clean();
}

/// The same protocol without its version gate is the classic stale set: the test proves the
/// sweep above could fail.
#[test]
fn without_the_gate_the_race_is_found() {
    struct Ungated(OurCache);
    impl Protocol for Ungated {
        fn name(&self) -> String {
            "our-cache-ungated".into()
        }
        fn claims(&self, cfg: &SystemConfig) -> Claims {
            self.0.claims(cfg)
        }
        async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
            if let (Some((hit, _)), _) = cx.redis().get(key).await? {
                return Ok(Row { value: hit.value, version: hit.version });
            }
            let data = cx.db().read(key).await?;
            let opts = SetOpts { expiry: Some(Expiry::Px(500)), ..Default::default() };
            let _ = cx.redis().set(key, cx.entry_of(key, &data), opts).await;
            Ok(data.row())
        }
        async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
            self.0.write(cx, key, value).await
        }
        async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
            self.0.delete(cx, key).await
        }
    }
    let dir = std::env::temp_dir().join(format!("tiersim-user-failures-{}", std::process::id()));
    let regressions = dir.join("regressions");
    let ungated = || Ungated(our_cache());
    // Pinned as a known bug: some seed must fail the barrier.
    let known =
        Sweep::of(catalog::fill_race(), ungated).seeds(0..200).expect_failure(Invariant::InvalidationBarrier);
    assert!(known.outcome.violations.iter().any(|v| v.invariant == "invalidation-barrier"));
    // As a test that should pass, it fails, saves the replay file, keeps it as a regression and
    // prints the commands for the team's own binary.
    let sweep =
        || Sweep::of(catalog::fill_race(), ungated).seeds(0..200).save_to(&dir).regressions(&regressions);
    let caught = std::panic::catch_unwind(|| sweep().assert_clean());
    let message =
        *caught.expect_err("the ungated fill loses the race below seed 200").downcast::<String>().unwrap();
    assert!(message.contains("invariant `invalidation-barrier` violated"), "{message}");
    assert!(message.contains("reproduce: TIERSIM_SEED="), "{message}");
    let saved =
        message.lines().find_map(|l| l.strip_prefix("replay file: ")).expect("the replay file is named");
    for command in ["replay", "shrink", "report"] {
        let line = format!("  {command}: cargo run --release --bin tiersim -- {command} {saved}");
        assert!(message.contains(&line), "{line:?} missing from:\n{message}");
    }
    let file = tiersim::scenarios::load_replay(std::path::Path::new(saved)).unwrap();
    assert_eq!(file.expected.invariant.as_deref(), Some("invalidation-barrier"));
    // The regression is re-run first next time: with no seeds at all, it still fails.
    let kept = regressions.join(std::path::Path::new(saved).file_name().unwrap());
    assert!(kept.exists(), "{} was not kept", kept.display());
    let again = std::panic::catch_unwind(|| sweep().seeds(0..0).assert_clean());
    let again = *again.expect_err("the kept regression fails again").downcast::<String>().unwrap();
    assert!(again.contains("fails again"), "{again}");
    // A directory of replay files replays as a test against a registry that knows the protocol.
    Registry::new().protocol(ungated).assert_replays(&regressions);
    let _ = std::fs::remove_dir_all(&dir);
}
