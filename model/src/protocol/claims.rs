//! What a protocol promises: the named invariants of DESIGN.md and a protocol's claims (a set of
//! them, with its staleness bound). A run checks exactly the claimed invariants, plus any a user
//! requires.

use std::collections::BTreeSet;

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
    /// Always checked, whatever a protocol claims: see `Invariant::ALWAYS`.
    ValueIntegrity,
}

impl Invariant {
    pub const ALL: [Invariant; 13] = [
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
        Invariant::ValueIntegrity,
    ];

    /// Checked on every run, claimed or not: no protocol can disclaim them.
    pub const ALWAYS: [Invariant; 1] = [Invariant::ValueIntegrity];

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
            Invariant::ValueIntegrity => "value-integrity",
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
            | Invariant::Live
            | Invariant::ValueIntegrity => true,
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
