//! Verdicts a user can trust (issue 13): protocols written here against the public API, the way
//! a user writes them, that lie about values or versions, panic, or are simply correct.

use tiersim_model::node::config::SystemConfig;
use tiersim_model::protocol::app::App;
use tiersim_model::protocol::{Claims, Invariant, OpError, Protocol};
use tiersim_model::state::database::Row;
use tiersim_scenarios::{catalog, Sweep};

/// No cache at all: one database request per operation.
struct PassThrough;

impl Protocol for PassThrough {
    fn name(&self) -> String {
        "pass-through".into()
    }
    fn claims(&self, _cfg: &SystemConfig) -> Claims {
        Claims::new([Invariant::Linearizable, Invariant::Live, Invariant::Converged])
    }
    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        Ok(cx.db().read(key).await?.row())
    }
    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        Ok(cx.db().write(key, Some(value)).await?)
    }
    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        Ok(cx.db().write(key, None).await?)
    }
}

/// The pass-through with its reads' values changed: the version is right, the value is not.
struct ValueLiar;

impl Protocol for ValueLiar {
    fn name(&self) -> String {
        "value-liar".into()
    }
    fn claims(&self, cfg: &SystemConfig) -> Claims {
        Claims::new([Invariant::Converged]).with_staleness_bound_ns(cfg.op_timeout_ms * 1_000_000)
    }
    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        let row = cx.db().read(key).await?.row();
        Ok(Row { value: row.value.map(|v| v + 1), version: row.version })
    }
    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        PassThrough.write(cx, key, value).await
    }
    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        PassThrough.delete(cx, key).await
    }
}

/// Reports a version the database has not committed (one ahead of what it read), claiming
/// `linearizable`.
struct VersionLiar;

impl Protocol for VersionLiar {
    fn name(&self) -> String {
        "version-liar".into()
    }
    fn claims(&self, _cfg: &SystemConfig) -> Claims {
        Claims::new([Invariant::Linearizable])
    }
    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        let row = cx.db().read(key).await?.row();
        Ok(Row { value: row.value, version: row.version + 1_000 })
    }
    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        PassThrough.write(cx, key, value).await
    }
    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        PassThrough.delete(cx, key).await
    }
}

/// Panics on the first read that finds a value.
struct Panicky;

impl Protocol for Panicky {
    fn name(&self) -> String {
        "panicky".into()
    }
    fn claims(&self, _cfg: &SystemConfig) -> Claims {
        Claims::new([Invariant::Live])
    }
    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        let row = cx.db().read(key).await?.row();
        if let Some(v) = row.value {
            panic!("found {v} in {key}, which this protocol cannot handle");
        }
        Ok(row)
    }
    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        PassThrough.write(cx, key, value).await
    }
    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        PassThrough.delete(cx, key).await
    }
}

/// The panic message `assert_clean` raised.
fn assert_clean_message(sweep: Sweep) -> String {
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| sweep.assert_clean()));
    *caught.expect_err("the sweep finds the flaw").downcast::<String>().unwrap()
}

fn saving_to_temp(name: &str) {
    let dir = std::env::temp_dir().join(format!("tiersim-verdicts-{name}-{}", std::process::id()));
    std::env::set_var("TIERSIM_SAVE", dir);
}

#[test]
fn a_value_lie_is_caught_by_value_integrity() {
    saving_to_temp("value");
    let m = assert_clean_message(Sweep::of(catalog::race(), || ValueLiar).no_regressions().seeds(0..3));
    assert!(m.contains("invariant `value-integrity` violated"), "{m}");
    assert!(m.contains("the database committed"), "{m}");
}

#[test]
fn a_version_lie_is_a_value_integrity_violation_not_a_panic_of_tiersim() {
    saving_to_temp("version");
    let m = assert_clean_message(Sweep::of(catalog::race(), || VersionLiar).no_regressions().seeds(0..3));
    assert!(m.contains("invariant `value-integrity` violated"), "{m}");
    assert!(m.contains("the database never committed"), "{m}");
    assert!(!m.contains("tiersim bug"), "{m}");
}

#[test]
fn a_panic_in_a_protocol_is_a_crash_that_says_where_and_in_which_operation() {
    saving_to_temp("panic");
    let m = assert_clean_message(Sweep::of(catalog::race(), || Panicky).no_regressions().seeds(0..1));
    let first = m.lines().next().unwrap();
    assert!(first.contains("verdict crash: protocol `panicky` panicked in read of hot:"), "{m}");
    assert!(first.contains("tests/tests/verdicts.rs:"), "the location comes with it: {m}");
    assert!(first.contains("which this protocol cannot handle"), "{m}");
}

#[test]
fn a_database_pass_through_is_live_and_linearizable_on_race() {
    // It once failed `live` on 92 of 100 seeds: every node took one request per ms off the wire.
    Sweep::of(catalog::race(), || PassThrough).seeds(0..100).no_regressions().assert_clean();
}
