//! A team's own cache protocol, as tests/tests/user_crate.rs builds it in a crate of its own
//! outside tiersim's workspace. `OurCache` keeps a per-process count of its L1 hits in a plain
//! struct field (one instance per app process), and has the classic stale-set bug: a fill read
//! before a write's invalidation lands after it, with no version gate.

use std::cell::Cell;
use tiersim::prelude::*;

#[derive(Default)]
pub struct OurCache {
    /// Per-process state in a plain field: each app process has its own instance.
    hits: Cell<u64>,
}

impl Protocol for OurCache {
    fn name(&self) -> String {
        "our-cache".into()
    }

    fn claims(&self, _cfg: &SystemConfig) -> Claims {
        Claims::new([Invariant::InvalidationBarrier, Invariant::Converged])
    }

    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        if let (Some((hit, _pttl_ms)), _run_id) = cx.redis().get(key).await? {
            self.hits.set(self.hits.get() + 1);
            return Ok(Row { value: hit.value, version: hit.version });
        }
        let data = cx.db().read(key).await?; // the race window opens here
        let opts = SetOpts { expiry: Some(Expiry::Px(500)), ..Default::default() };
        let _ = cx.redis().set(key, cx.entry_of(key, &data), opts).await; // and is never closed
        Ok(data.row())
    }

    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        let row = cx.db().write(key, Some(value)).await?;
        cx.redis().invalidate(key, row.version).await?;
        Ok(row)
    }

    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        let row = cx.db().write(key, None).await?;
        cx.redis().invalidate(key, row.version).await?;
        Ok(row)
    }
}
