//! A bug-zoo entry's card, shared by the basic tier (`zoo`) and the deep tier (`zoo_deep`).

use crate::protocol::Invariant;

/// A zoo entry's card.
#[derive(Clone, Copy, Debug)]
pub struct ZooEntry {
    pub name: &'static str,
    /// The race, in a few steps.
    pub story: &'static str,
    /// Where it comes from.
    pub source: &'static str,
    /// The scenario and the invariant that expose it.
    pub scenario: &'static str,
    pub invariant: Invariant,
    /// `basic` (uniform random search finds it within a few hundred seeds) or `deep` (a race of
    /// depth three or more that random search needs thousands of seeds for; see `zoo_deep`).
    pub tier: ZooTier,
}

/// How hard a zoo entry is to find.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ZooTier {
    Basic,
    Deep,
}

impl ZooTier {
    pub fn name(self) -> &'static str {
        match self {
            ZooTier::Basic => "basic",
            ZooTier::Deep => "deep",
        }
    }
}

/// A card from its fields in the order the zoo lists them, after the tier it belongs to.
macro_rules! card {
    ($tier:ident, $name:literal, $scenario:literal, $inv:ident, $story:literal, $source:literal) => {
        $crate::protocols::zoo_card::ZooEntry {
            name: $name,
            story: $story,
            source: $source,
            scenario: $scenario,
            invariant: $crate::protocol::Invariant::$inv,
            tier: $crate::protocols::zoo_card::ZooTier::$tier,
        }
    };
}
pub(crate) use card;
