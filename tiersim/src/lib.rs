//! tiersim: find cache-invalidation races before production does.
//!
//! This is the one crate a team depends on to test its own cache protocol. Implement
//! [`Protocol`](prelude::Protocol) against the handles a service has ([`App`](prelude::App): its
//! L1, L2, L3, Redis, the database), sweep it from `cargo test` with [`Sweep`], and give it every
//! command of the `tiersim` CLI with a five-line binary:
//!
//! ```ignore
//! // src/bin/tiersim.rs
//! fn main() -> std::process::ExitCode {
//!     tiersim::cli::main_with(tiersim::Registry::new().protocol(our_crate::OurCache::default))
//! }
//! ```
//!
//! The crate needs `--cfg madsim` (a `.cargo/config.toml` with
//! `[build] rustflags = ["--cfg", "madsim"]`); without it the build stops with one line that
//! says so. `docs/writing-a-protocol.md` walks the whole journey.
//!
//! The parts stay reachable under their own names: [`sim`] (the engine), [`model`] (the cache
//! model, the protocol API, the built-in protocols), [`scenarios`] (scenarios, sweeps, the CLI).

pub use tiersim_model as model;
pub use tiersim_scenarios as scenarios;
pub use tiersim_sim as sim;
/// `tracing`, for protocol code to log with: its events show in `run --trace` and in a failing
/// test's message, stamped with sim time and the node's name.
pub use tracing;

pub use tiersim_scenarios::harness::{target_dir, Failure};
pub use tiersim_scenarios::{catalog, cli, Registry, Sweep};

/// What a protocol and its tests need, in one import: `use tiersim::prelude::*;`.
pub mod prelude {
    pub use tiersim_model::node::config::{SystemConfig, Topology};
    pub use tiersim_model::node::redis::{ExpireArg, RedisReq, RedisResp, RedisScript};
    pub use tiersim_model::node::script::ScriptCall;
    pub use tiersim_model::node::tier::{Fill, FillTtl, Gate, LeaseToken};
    pub use tiersim_model::protocol::app::{
        App, DbClient, LeaseLookup, Lookup, RedisClient, RedisFence, RedisLookup, TierHandle, Watch,
    };
    pub use tiersim_model::protocol::{Claims, Invalidation, Invariant, OpError, Protocol, ProtocolFactory};
    pub use tiersim_model::state::database::{Change, Data, Row};
    pub use tiersim_model::state::redis::{EvictionPolicy, Expiry, MaxMemory, SetOpts};
    pub use tiersim_model::state::store::Entry;
    pub use tiersim_model::state::tracking::TrackingOpts;
    pub use tiersim_scenarios::explore::strategy::Strategy;
    pub use tiersim_scenarios::harness::Failure;
    pub use tiersim_scenarios::{catalog, Registry, Scenario, Sweep};
}
