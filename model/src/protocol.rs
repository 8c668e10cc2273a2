//! The protocol API: what a user implements to put their own cache logic under test.
//!
//! A protocol is written the way service code is written: async methods against handles to the
//! tiers and the database (`App`), with the race windows where real code has them. It declares
//! the invariants it claims; a run checks exactly those (plus any the user requires), and a claim
//! is a promise under every fault the scenario injects.

use crate::app::App;
use crate::db::{Change, Row};
use crate::system::SystemConfig;
use std::collections::BTreeSet;
use std::future::Future;
use std::pin::Pin;
use tiersim_sim::net::NetError;

/// The named invariants of DESIGN.md. The names are stable: they appear in output and files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    Linearizable,
    BoundedStaleness,
    InvalidationBarrier,
    NoResurrection,
    MonotonicReads,
    ReadYourWrites,
    TierOrder,
    TtlBound,
    TagComplete,
    Converged,
    Slo,
    Live,
}

impl Invariant {
    pub const ALL: [Invariant; 12] = [
        Invariant::Linearizable,
        Invariant::BoundedStaleness,
        Invariant::InvalidationBarrier,
        Invariant::NoResurrection,
        Invariant::MonotonicReads,
        Invariant::ReadYourWrites,
        Invariant::TierOrder,
        Invariant::TtlBound,
        Invariant::TagComplete,
        Invariant::Converged,
        Invariant::Slo,
        Invariant::Live,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Invariant::Linearizable => "linearizable",
            Invariant::BoundedStaleness => "bounded-staleness",
            Invariant::InvalidationBarrier => "invalidation-barrier",
            Invariant::NoResurrection => "no-resurrection",
            Invariant::MonotonicReads => "monotonic-reads",
            Invariant::ReadYourWrites => "read-your-writes",
            Invariant::TierOrder => "tier-order",
            Invariant::TtlBound => "ttl-bound",
            Invariant::TagComplete => "tag-complete",
            Invariant::Converged => "converged",
            Invariant::Slo => "slo",
            Invariant::Live => "live",
        }
    }

    pub fn from_name(name: &str) -> Option<Invariant> {
        Invariant::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Whether this build of tiersim has a checker for it. Claiming an invariant that is not yet
    /// checked is refused at run time rather than passing silently.
    pub fn is_checked(self) -> bool {
        match self {
            Invariant::Linearizable
            | Invariant::BoundedStaleness
            | Invariant::InvalidationBarrier
            | Invariant::NoResurrection
            | Invariant::MonotonicReads
            | Invariant::ReadYourWrites
            | Invariant::TierOrder
            | Invariant::TtlBound
            | Invariant::TagComplete
            | Invariant::Converged
            | Invariant::Slo
            | Invariant::Live => true,
        }
    }
}

impl std::fmt::Display for Invariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a protocol promises.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    pub invariants: BTreeSet<Invariant>,
    /// Δ of `bounded-staleness`, when claimed.
    pub staleness_bound_ns: Option<u64>,
}

impl Claims {
    pub fn new(invariants: impl IntoIterator<Item = Invariant>) -> Self {
        Claims { invariants: invariants.into_iter().collect(), staleness_bound_ns: None }
    }

    pub fn with_staleness_bound_ns(mut self, bound_ns: u64) -> Self {
        self.invariants.insert(Invariant::BoundedStaleness);
        self.staleness_bound_ns = Some(bound_ns);
        self
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.invariants.iter().map(|i| i.name()).collect()
    }
}

/// Why an operation did not complete normally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpError {
    /// It definitely had no effect (history: `fail`).
    Failed(String),
    /// It may or may not have taken effect (history: `info`): a timeout after a request left.
    Indeterminate(String),
}

impl From<NetError> for OpError {
    fn from(e: NetError) -> Self {
        OpError::Indeterminate(e.to_string())
    }
}

/// An invalidation message, sent peer to peer or over pub/sub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// Drop what you hold of `key` below `version`.
    Key { key: String, version: u64 },
    /// Drop `key` whatever its version, keeping no floor (what floorless protocols send).
    Remove { key: String },
    /// Drop every entry of `tag`; with a generation, refuse older fills of the tag from now on.
    Tag { tag: String, generation: Option<u64> },
}

/// A cache protocol. Implement this for your own cache logic; see `examples/` and the doc page
/// on writing a protocol. Methods run on the app node of the calling process, in simulation.
#[allow(async_fn_in_trait)]
pub trait Protocol: Send + Sync + 'static {
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
}

type LocalFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The object-safe face of `Protocol`, so the runner and the CLI can hold any protocol by name.
/// Implemented for every `Protocol`; users never implement it.
pub trait DynProtocol: Send + Sync + 'static {
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
}
