//! The built-in protocols: the correct ones, what teams commonly ship, and the bug zoo.

mod cache_aside;
pub mod layered;
pub mod leased;
pub mod zoo;

pub use cache_aside::{CacheAside, DoubleDelete};
pub use layered::{Flaw, Layered};
pub use leased::Leased;

use crate::app::App;
use crate::db::Row;
use crate::protocol::{Claims, DynProtocol, Invalidation, OpError, Protocol};
use crate::system::SystemConfig;
use std::sync::Arc;

/// A protocol on the layered path (`versioned`, and the zoo entries that imitate it).
pub struct LayeredProtocol {
    pub name: &'static str,
    pub layered: Layered,
    pub claims: fn(&SystemConfig) -> Claims,
}

impl LayeredProtocol {
    /// `versioned`: the layered protocol without a flaw.
    pub fn versioned() -> Self {
        LayeredProtocol { name: "versioned", layered: Layered { flaw: None }, claims: zoo::versioned_claims }
    }
}

impl Protocol for LayeredProtocol {
    fn name(&self) -> String {
        self.name.into()
    }
    fn claims(&self, cfg: &SystemConfig) -> Claims {
        (self.claims)(cfg)
    }
    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        self.layered.read_through(cx, key).await
    }
    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError> {
        self.layered.commit(cx, key, Some(value)).await
    }
    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError> {
        self.layered.commit(cx, key, None).await
    }
    async fn invalidate_tag(&self, cx: &App, tag: &str) -> Result<(), OpError> {
        self.layered.invalidate_tag(cx, tag).await
    }
    async fn warm(&self, cx: &App, keys: &[String]) -> Result<(), OpError> {
        self.layered.warm(cx, keys).await
    }
    async fn on_invalidation(&self, cx: &App, inv: Invalidation) {
        self.layered.on_invalidation(cx, inv).await
    }
    async fn on_start(&self, cx: &App) {
        self.layered.on_start(cx).await
    }
}

/// Every built-in protocol, in the order `tiersim list` shows them: the correct one, the
/// common ones, then the zoo.
pub fn builtin() -> Vec<Arc<dyn DynProtocol>> {
    let mut all: Vec<Arc<dyn DynProtocol>> = vec![
        Arc::new(LayeredProtocol::versioned()),
        Arc::new(Leased),
        Arc::new(CacheAside),
        Arc::new(DoubleDelete::common()),
    ];
    all.extend(zoo::ZOO.iter().map(zoo::protocol));
    all
}

/// The built-in protocol called `name`.
pub fn by_name(name: &str) -> Option<Arc<dyn DynProtocol>> {
    builtin().into_iter().find(|p| p.name() == name)
}
