//! The built-in protocols: the correct ones, what teams commonly ship, and the bug zoo.

mod cache_aside;
pub mod fanout;
pub mod leased;
pub mod pass_through;
pub mod tracking;
pub mod versioned;
pub mod zoo;
mod zoo_card;
pub mod zoo_deep;

pub use cache_aside::{CacheAside, DoubleDelete};
pub use fanout::Fanout;
pub use leased::Leased;
pub use pass_through::PassThrough;
pub use tracking::TrackingProtocol;
pub use versioned::{Flaw, Layered, LayeredProtocol};

use crate::protocol::{Invariant, ProtocolFactory};

/// Every built-in protocol, in the order `tiersim list` shows them: the correct one, the
/// common ones, then the zoo.
pub fn builtin() -> Vec<ProtocolFactory> {
    let mut all = vec![
        ProtocolFactory::new(LayeredProtocol::versioned),
        ProtocolFactory::new(Leased::default),
        ProtocolFactory::new(|| CacheAside),
        ProtocolFactory::new(DoubleDelete::common),
        ProtocolFactory::new(|| PassThrough),
        ProtocolFactory::new(TrackingProtocol::correct),
        ProtocolFactory::new(Fanout::default),
    ];
    all.extend(zoo::all().map(zoo::protocol));
    all
}

/// The built-in protocols whose claims hold: a sweep of every scenario expects them clean, and a
/// failing seed of one of them is a bug in the protocol or in tiersim.
pub const CORRECT: [&str; 4] = ["versioned", "leased", "pass-through", "tracking"];

/// A built-in protocol one of whose claims is measured to fail in some seeds, the claim kept
/// and the gap documented (a verdict is a promise: the claim is not weakened to look clean).
#[derive(Clone, Copy, Debug)]
pub struct KnownGap {
    pub name: &'static str,
    /// The one claim it is known to break; any other failure is a regression.
    pub invariant: Invariant,
    /// Where and why, in a few words.
    pub note: &'static str,
}

/// The protocols with a known gap: a sweep of everything expects them to fail only their gap's
/// invariant.
pub const KNOWN_GAPS: [KnownGap; 1] = [KnownGap {
    name: "fanout",
    invariant: Invariant::Slo,
    note: "clean but for slo's warming target, missed in some seeds of the warming scenarios (fanout.rs, Known gaps)",
}];

/// A common protocol that breaks its claims in a documented way, and where a sweep shows it.
#[derive(Clone, Copy, Debug)]
pub struct Baseline {
    pub name: &'static str,
    /// The scenario and the invariant that expose it, if a built-in scenario does.
    pub exposed_by: Option<(&'static str, Invariant)>,
    /// Why, in a few words.
    pub note: &'static str,
}

/// The baselines: what most teams ship (see `cache_aside`'s module docs).
pub const BASELINES: [Baseline; 2] = [
    Baseline {
        name: "cache-aside",
        exposed_by: Some(("fill-race", Invariant::InvalidationBarrier)),
        note: "the stale set: a reader's SET lands after the writer's DEL",
    },
    // Its write is acknowledged only after the second delete, so the stale set needs a fill
    // slower than its 500 ms sleep; no built-in scenario is that slow (0 failing seeds of
    // 0..200 in every scenario), and `short-double-delete` is the zoo entry that shows it.
    Baseline {
        name: "double-delete",
        exposed_by: None,
        note: "fails only when a fill outlasts its 500 ms sleep (see short-double-delete)",
    },
];

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
