//! A protocol written outside tiersim's crates, the way a user writes one (this is the file to
//! copy; docs/writing-a-protocol.md walks through it). `OurCache` keeps an L1 in each process and
//! Redis behind it, gates every fill on the database version, and invalidates bottom-up with
//! acknowledgements before a write completes.

use std::time::Duration;
use tiersim_model::node::config::CacheOp;
use tiersim_model::node::config::SystemConfig;
use tiersim_model::node::tier::{FillTtl, Gate};
use tiersim_model::protocol::app::App;
use tiersim_model::protocol::{Claims, Invalidation, Invariant, OpError, Protocol};
use tiersim_model::state::database::{Data, Row};
use tiersim_model::state::redis::{Expiry, SetOpts};
use tiersim_scenarios::{catalog, Sweep};
use tiersim_sim::replay::ReplayFile;

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

#[test]
fn our_cache_survives_the_stale_set_race() {
    // What a user writes: honours TIERSIM_SEEDS / TIERSIM_SEED, and on failure panics with the
    // invariant, the facts and the reproduce command, and saves the replay file.
    Sweep::of(catalog::stale_set(), OurCache { redis_ttl: Duration::from_millis(500) })
        .seeds(0..30)
        .assert_clean();
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
    std::env::set_var("TIERSIM_SAVE", &dir);
    let ungated = Ungated(OurCache { redis_ttl: Duration::from_millis(500) });
    let caught =
        std::panic::catch_unwind(|| Sweep::of(catalog::stale_set(), ungated).seeds(0..200).assert_clean());
    let message =
        *caught.expect_err("the ungated fill loses the race below seed 200").downcast::<String>().unwrap();
    assert!(message.contains("invariant `invalidation-barrier` violated"), "{message}");
    assert!(message.contains("reproduce: TIERSIM_SEED="), "{message}");
    let saved =
        message.lines().find_map(|l| l.strip_prefix("replay file: ")).expect("the replay file is named");
    let file: ReplayFile<CacheOp> = ReplayFile::load(std::path::Path::new(saved)).unwrap();
    assert_eq!(file.expected.invariant.as_deref(), Some("invalidation-barrier"));
    let _ = std::fs::remove_dir_all(&dir);
}
