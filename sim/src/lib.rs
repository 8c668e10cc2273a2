//! tiersim's engine: a deterministic simulation core on madsim that knows nothing of caches.

pub mod check;
pub mod history;
