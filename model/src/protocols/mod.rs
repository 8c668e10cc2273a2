//! The built-in protocols: the correct ones, what teams commonly ship, and the bug zoo.

mod cache_aside;
pub mod leased;
pub mod pass_through;
pub mod versioned;
pub mod zoo;

pub use cache_aside::{CacheAside, DoubleDelete};
pub use leased::Leased;
pub use pass_through::PassThrough;
pub use versioned::{Flaw, Layered, LayeredProtocol};

use crate::protocol::ProtocolFactory;

/// Every built-in protocol, in the order `tiersim list` shows them: the correct one, the
/// common ones, then the zoo.
pub fn builtin() -> Vec<ProtocolFactory> {
    let mut all = vec![
        ProtocolFactory::new(LayeredProtocol::versioned),
        ProtocolFactory::new(|| Leased),
        ProtocolFactory::new(|| CacheAside),
        ProtocolFactory::new(DoubleDelete::common),
        ProtocolFactory::new(|| PassThrough),
    ];
    all.extend(zoo::ZOO.iter().map(zoo::protocol));
    all
}

/// Protocol names that changed, old to new: `cache_aside` and `double_delete` became
/// `cache-aside` and `double-delete` when every name took hyphens. Replay files written before
/// keep loading through [`current_name`]; output shows only the new names.
pub const RENAMED: [(&str, &str); 2] = [("cache_aside", "cache-aside"), ("double_delete", "double-delete")];

/// `name` as it is called today (an old name from [`RENAMED`], or `name` itself).
pub fn current_name(name: &str) -> &str {
    RENAMED.iter().find(|(old, _)| *old == name).map_or(name, |(_, new)| new)
}

/// The built-in protocol called `name`.
pub fn by_name(name: &str) -> Option<ProtocolFactory> {
    builtin().into_iter().find(|p| p.name() == name)
}
