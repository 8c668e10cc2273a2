//! The built-in protocols: the correct ones, what teams commonly ship, and (later) the bug zoo.

mod cache_aside;
mod versioned;

pub use cache_aside::CacheAside;
pub use versioned::Versioned;

use crate::protocol::DynProtocol;
use std::sync::Arc;

/// Every built-in protocol, in the order `tiersim list` shows them.
pub fn builtin() -> Vec<Arc<dyn DynProtocol>> {
    vec![Arc::new(Versioned), Arc::new(CacheAside)]
}

/// The built-in protocol called `name`.
pub fn by_name(name: &str) -> Option<Arc<dyn DynProtocol>> {
    builtin().into_iter().find(|p| p.name() == name)
}
