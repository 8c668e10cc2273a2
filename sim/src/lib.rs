//! tiersim's engine: a deterministic simulation core on madsim that knows nothing of caches.
//!
//! A run is a pure function of (binary, seed, config, schedule): `runtime::run` starts a fresh
//! madsim runtime on a fresh thread, the model adds its nodes and drives a `schedule::Schedule`,
//! `history::Recorder` captures what happened and folds it into the trace hash (`trace`), and the
//! generic checkers in `check` judge the history. `replay` stores a run so it can be re-run
//! exactly.

// tiersim runs only inside madsim's simulated runtime, which `--cfg madsim` selects. Without it
// madsim is a thin tokio wrapper and nothing here could be deterministic, so the build stops with
// one line that says what to add, instead of dozens of errors from inside the engine.
#[cfg(not(madsim))]
compile_error!(
    "tiersim needs `--cfg madsim`: add to .cargo/config.toml: [build] rustflags = [\"--cfg\", \"madsim\"] (an exported RUSTFLAGS replaces it: include --cfg madsim there too)"
);

#[cfg(madsim)]
pub mod check;
#[cfg(madsim)]
pub mod clock;
#[cfg(madsim)]
pub mod conn;
#[cfg(madsim)]
pub mod fault;
#[cfg(madsim)]
pub mod files;
#[cfg(madsim)]
pub mod history;
#[cfg(madsim)]
pub mod log;
#[cfg(madsim)]
pub mod net;
#[cfg(madsim)]
pub mod replay;
#[cfg(madsim)]
pub mod rng;
#[cfg(madsim)]
pub mod runtime;
#[cfg(madsim)]
pub mod schedule;
#[cfg(madsim)]
pub mod shrink;
#[cfg(madsim)]
pub mod trace;
