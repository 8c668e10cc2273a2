//! The protocol API: what a user implements to put their own cache logic under test.
//!
//! A protocol is written the way service code is written: async methods against handles to the
//! tiers and the database (`App`), with the race windows where real code has them. It declares
//! the invariants it claims; a run checks exactly those (plus any the user requires), and a claim
//! is a promise under every fault the scenario injects.

pub mod app;
pub mod claims;
pub mod error;
pub mod pubsub;
pub mod tracking;

pub use crate::state::invalidation::Invalidation;
pub use app::App;
pub use claims::{Claims, Invariant};
pub use error::OpError;

use crate::node::config::SystemConfig;
use crate::state::database::{Change, Row};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

/// A cache protocol. Implement this for your own cache logic; see `examples/` and the doc page
/// on writing a protocol. Methods run on the app node of the calling process, in simulation.
#[allow(async_fn_in_trait)]
pub trait Protocol: 'static {
    /// The protocol's stable name (used in output, file names and reproduce commands).
    fn name(&self) -> String;
    /// The invariants it promises in a system configured as `cfg` (a staleness bound usually
    /// depends on its TTLs and timeouts).
    fn claims(&self, cfg: &SystemConfig) -> Claims;
    /// Read `key`: the value and the database version it came from.
    async fn read(&self, cx: &App, key: &str) -> Result<Row, OpError>;
    /// Write `value` to `key` through the database; returns the committed row.
    async fn write(&self, cx: &App, key: &str, value: i64) -> Result<Row, OpError>;
    /// Delete `key` through the database; returns the committed (absent) row.
    async fn delete(&self, cx: &App, key: &str) -> Result<Row, OpError>;
    /// Invalidate every cached entry of `tag`. The default refuses: not every protocol has tags.
    async fn invalidate_tag(&self, _cx: &App, tag: &str) -> Result<(), OpError> {
        Err(OpError::Failed(format!("{} does not support tag invalidation ({tag})", self.name())))
    }
    /// Warm `keys` into the cache. The default reads each one through the protocol.
    async fn warm(&self, cx: &App, keys: &[String]) -> Result<(), OpError> {
        for key in keys {
            self.read(cx, key).await?;
        }
        Ok(())
    }
    /// Handle an invalidation delivered to this app node. The default drops it from the L1.
    async fn on_invalidation(&self, cx: &App, inv: Invalidation) {
        let _ = match inv {
            Invalidation::Key { key, version } => cx.l1().invalidate(&key, version).await,
            Invalidation::Remove { key } => cx.l1().remove(&key).await,
            Invalidation::Tag { tag, generation: None } => cx.l1().invalidate_tag(&tag, true).await,
            Invalidation::Tag { tag, generation: Some(g) } => {
                cx.l1().invalidate_tag_generation(&tag, g, true).await
            }
        };
    }
    /// Handle one change of the database's change stream (on the invalidation daemon node,
    /// `cdc`). The default ignores it.
    async fn on_change(&self, _cx: &App, _change: Change) {}
    /// Runs when an app node (re)starts, before its clients: subscribe to channels here.
    async fn on_start(&self, _cx: &App) {}
    /// Runs when one of this node's Redis connections drops (`conn`, as `subscribe` or
    /// `connect` returned it), after every message it delivered: its subscriptions and the
    /// messages not yet delivered are gone. Subscribe again and flush what those messages kept
    /// fresh. The default does nothing.
    async fn on_disconnect(&self, _cx: &App, _conn: u64) {}
}

type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The object-safe face of `Protocol`, so the runner and the CLI can hold any protocol by name.
/// Implemented for every `Protocol`; users never implement it.
pub trait DynProtocol: 'static {
    fn name(&self) -> String;
    fn claims(&self, cfg: &SystemConfig) -> Claims;
    fn read<'a>(&'a self, cx: &'a App, key: &'a str) -> LocalFuture<'a, Result<Row, OpError>>;
    fn write<'a>(&'a self, cx: &'a App, key: &'a str, value: i64) -> LocalFuture<'a, Result<Row, OpError>>;
    fn delete<'a>(&'a self, cx: &'a App, key: &'a str) -> LocalFuture<'a, Result<Row, OpError>>;
    fn invalidate_tag<'a>(&'a self, cx: &'a App, tag: &'a str) -> LocalFuture<'a, Result<(), OpError>>;
    fn warm<'a>(&'a self, cx: &'a App, keys: &'a [String]) -> LocalFuture<'a, Result<(), OpError>>;
    fn on_invalidation<'a>(&'a self, cx: &'a App, inv: Invalidation) -> LocalFuture<'a, ()>;
    fn on_change<'a>(&'a self, cx: &'a App, change: Change) -> LocalFuture<'a, ()>;
    fn on_start<'a>(&'a self, cx: &'a App) -> LocalFuture<'a, ()>;
    fn on_disconnect<'a>(&'a self, cx: &'a App, conn: u64) -> LocalFuture<'a, ()>;
}

impl<P: Protocol> DynProtocol for P {
    fn name(&self) -> String {
        Protocol::name(self)
    }
    fn claims(&self, cfg: &SystemConfig) -> Claims {
        Protocol::claims(self, cfg)
    }
    fn read<'a>(&'a self, cx: &'a App, key: &'a str) -> LocalFuture<'a, Result<Row, OpError>> {
        Box::pin(Protocol::read(self, cx, key))
    }
    fn write<'a>(&'a self, cx: &'a App, key: &'a str, value: i64) -> LocalFuture<'a, Result<Row, OpError>> {
        Box::pin(Protocol::write(self, cx, key, value))
    }
    fn delete<'a>(&'a self, cx: &'a App, key: &'a str) -> LocalFuture<'a, Result<Row, OpError>> {
        Box::pin(Protocol::delete(self, cx, key))
    }
    fn invalidate_tag<'a>(&'a self, cx: &'a App, tag: &'a str) -> LocalFuture<'a, Result<(), OpError>> {
        Box::pin(Protocol::invalidate_tag(self, cx, tag))
    }
    fn warm<'a>(&'a self, cx: &'a App, keys: &'a [String]) -> LocalFuture<'a, Result<(), OpError>> {
        Box::pin(Protocol::warm(self, cx, keys))
    }
    fn on_invalidation<'a>(&'a self, cx: &'a App, inv: Invalidation) -> LocalFuture<'a, ()> {
        Box::pin(Protocol::on_invalidation(self, cx, inv))
    }
    fn on_change<'a>(&'a self, cx: &'a App, change: Change) -> LocalFuture<'a, ()> {
        Box::pin(Protocol::on_change(self, cx, change))
    }
    fn on_start<'a>(&'a self, cx: &'a App) -> LocalFuture<'a, ()> {
        Box::pin(Protocol::on_start(self, cx))
    }
    fn on_disconnect<'a>(&'a self, cx: &'a App, conn: u64) -> LocalFuture<'a, ()> {
        Box::pin(Protocol::on_disconnect(self, cx, conn))
    }
}

/// How a run gets its protocol: one instance per app process, built by `make` when the process
/// starts and built again when it restarts (a restart loses process memory), never shared
/// between processes or between seeds. So per-process state — a local map, a connection, a
/// background task's handle — lives in plain struct fields (with `Cell`/`RefCell` where a
/// method changes it: methods take `&self`, and every instance lives on one simulated node).
///
/// `make` also runs outside the simulation, to read the protocol's name and claims: construct
/// the value there, and do anything that talks to the system in `on_start`.
#[derive(Clone)]
pub struct ProtocolFactory {
    name: String,
    make: Arc<dyn Fn() -> Box<dyn DynProtocol> + Send + Sync>,
}

impl ProtocolFactory {
    /// A factory from a constructor: `ProtocolFactory::new(OurCache::default)` or
    /// `ProtocolFactory::new(|| OurCache::new(ttl))`.
    pub fn new<P: Protocol, F: Fn() -> P + Send + Sync + 'static>(make: F) -> ProtocolFactory {
        let name = Protocol::name(&make());
        ProtocolFactory { name, make: Arc::new(move || Box::new(make()) as Box<dyn DynProtocol>) }
    }

    /// The protocol's stable name.
    pub fn name(&self) -> String {
        self.name.clone()
    }

    /// What the protocol claims in a system configured as `cfg`.
    pub fn claims(&self, cfg: &SystemConfig) -> Claims {
        self.build().claims(cfg)
    }

    /// A fresh instance, for one app process.
    pub fn build(&self) -> Box<dyn DynProtocol> {
        (self.make)()
    }
}

impl std::fmt::Debug for ProtocolFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProtocolFactory").field("name", &self.name).finish_non_exhaustive()
    }
}
