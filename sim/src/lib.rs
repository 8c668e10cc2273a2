//! tiersim's engine: a deterministic simulation core on madsim that knows nothing of caches.
//!
//! A run is a pure function of (binary, seed, config, schedule): `runtime::run` starts a fresh
//! madsim runtime on a fresh thread, the model adds its nodes and drives a `schedule::Schedule`,
//! `history::Recorder` captures what happened and folds it into the trace hash (`trace`), and the
//! generic checkers in `check` judge the history. `replay` stores a run so it can be re-run
//! exactly.

pub mod check;
pub mod clock;
pub mod fault;
pub mod files;
pub mod history;
pub mod net;
pub mod replay;
pub mod rng;
pub mod runtime;
pub mod schedule;
pub mod shrink;
pub mod trace;
