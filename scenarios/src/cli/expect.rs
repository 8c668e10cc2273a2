//! What a sweep of everything expects of each protocol, and whether it happened.
//!
//! A sweep of every scenario against every built-in protocol is expected to fail: the bug zoo
//! and the baselines are there to be caught. Its exit code therefore says whether the sweep
//! showed what tiersim documents, not whether it found failures: a zoo entry must be caught by
//! its named invariant in its exposing scenario, a baseline likewise by the race its module
//! documents, and a correct protocol (or a team's own, which tiersim knows nothing about) must
//! stay clean. A crash is never expected. A sweep narrowed by `--scenario` or `--protocol` asks
//! a sharper question, and any failure in it exits 1.

use crate::explore::sweep::SeedResult;
use serde_json::json;
use tiersim_model::outcome::Verdict;
use tiersim_model::protocol::Invariant;
use tiersim_model::protocols::{zoo, BASELINES, CORRECT, KNOWN_GAPS};

/// What tiersim says about a protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Its claims hold: clean everywhere.
    Correct,
    /// Its claims break in a documented race, which this scenario and invariant expose.
    Baseline { scenario: &'static str, invariant: Invariant },
    /// Its claims break only in conditions no built-in scenario provokes: any verdict but a
    /// crash is as documented.
    Unexposed { note: &'static str },
    /// A protocol whose claims hold but for one, measured to fail in some seeds (documented).
    Gap { invariant: Invariant, note: &'static str },
    /// A bug-zoo entry, exposed by this scenario and invariant.
    Zoo { scenario: &'static str, invariant: Invariant },
    /// A protocol tiersim does not ship: expected to keep its claims.
    Own,
}

impl Role {
    pub(crate) fn of(protocol: &str) -> Role {
        if let Some(e) = zoo::entry(protocol) {
            if e.tier == zoo::ZooTier::Deep {
                // A sweep of everything runs too few seeds to expect a deep race.
                return Role::Unexposed {
                    note: "a deep zoo entry: uniform random search needs thousands of seeds (see tiersim bench --deep)",
                };
            }
            return Role::Zoo { scenario: e.scenario, invariant: e.invariant };
        }
        if let Some(b) = BASELINES.iter().find(|b| b.name == protocol) {
            return match b.exposed_by {
                Some((scenario, invariant)) => Role::Baseline { scenario, invariant },
                None => Role::Unexposed { note: b.note },
            };
        }
        if let Some(g) = KNOWN_GAPS.iter().find(|g| g.name == protocol) {
            return Role::Gap { invariant: g.invariant, note: g.note };
        }
        if CORRECT.contains(&protocol) {
            Role::Correct
        } else {
            Role::Own
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Role::Correct => "correct",
            Role::Gap { .. } => "known gap",
            Role::Baseline { .. } | Role::Unexposed { .. } => "baseline",
            Role::Zoo { .. } => "zoo",
            Role::Own => "own",
        }
    }
}

/// One protocol's line of the summary.
pub(crate) struct Judgement {
    pub protocol: String,
    pub role: Role,
    pub expected: String,
    pub happened: String,
    pub as_expected: bool,
}

impl Judgement {
    pub(crate) fn role_name(&self) -> &'static str {
        self.role.name()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        json!({"protocol": self.protocol, "role": self.role.name(), "expected": self.expected,
               "happened": self.happened, "as_expected": self.as_expected})
    }
}

/// A sweep row: its scenario, protocol, seeds run and failing seeds.
pub(crate) type Row<'a> = (&'a str, String, usize, Vec<&'a SeedResult>);

/// Judge every protocol of `rows`, in the order they were swept.
pub(crate) fn judge(rows: &[Row<'_>]) -> Vec<Judgement> {
    let mut protocols: Vec<&str> = Vec::new();
    for (_, p, _, _) in rows {
        if !protocols.contains(&p.as_str()) {
            protocols.push(p);
        }
    }
    protocols.into_iter().map(|p| judge_one(p, rows.iter().filter(|r| r.1 == p).collect())).collect()
}

fn judge_one(protocol: &str, rows: Vec<&Row<'_>>) -> Judgement {
    let role = Role::of(protocol);
    let failing: Vec<&Row<'_>> = rows.iter().copied().filter(|r| !r.3.is_empty()).collect();
    let crashes: Vec<&SeedResult> =
        rows.iter().flat_map(|r| r.3.iter().copied()).filter(|f| f.verdict == Verdict::Crash).collect();
    // "fails in 2 of 19 scenarios: fill-race (3 seeds), slow-fills (1 seed)"
    let failing_text = || {
        let names: Vec<String> = failing
            .iter()
            .map(|r| format!("{} ({} seed{})", r.0, r.3.len(), if r.3.len() == 1 { "" } else { "s" }))
            .collect();
        format!("fails in {} of {} scenarios: {}", failing.len(), rows.len(), names.join(", "))
    };
    let (expected, mut happened, mut as_expected) = match role {
        Role::Correct | Role::Own => {
            let expected = "clean in every scenario".to_string();
            if failing.is_empty() {
                (expected, format!("clean in {} scenarios", rows.len()), true)
            } else {
                (expected, failing_text(), false)
            }
        }
        Role::Gap { invariant, note } => {
            let others: Vec<String> = {
                let mut invs: Vec<String> = failing
                    .iter()
                    .flat_map(|r| r.3.iter().flat_map(|f| failed_invariants(f)))
                    .filter(|i| i != invariant.name())
                    .collect();
                invs.sort();
                invs.dedup();
                invs
            };
            let happened = if failing.is_empty() {
                format!("clean in {} scenarios", rows.len())
            } else if others.is_empty() {
                failing_text()
            } else {
                format!("{}; failed {} besides {invariant}", failing_text(), others.join(", "))
            };
            (note.to_string(), happened, others.is_empty())
        }
        Role::Unexposed { note } => {
            let happened = if failing.is_empty() {
                format!("clean in {} scenarios", rows.len())
            } else {
                failing_text()
            };
            (note.to_string(), happened, true)
        }
        Role::Baseline { scenario, invariant } | Role::Zoo { scenario, invariant } => {
            let expected = format!("caught by {invariant} in {scenario}");
            match rows.iter().find(|r| r.0 == scenario) {
                None => (expected, format!("{scenario} was not swept"), true),
                Some(row) => match row.3.iter().find(|f| caught_by(f, invariant)) {
                    Some(f) => (expected, format!("caught at seed {} of {}", f.seed, row.2), true),
                    None => {
                        let others = if row.3.is_empty() {
                            String::new()
                        } else {
                            let mut invs: Vec<String> =
                                row.3.iter().flat_map(|f| failed_invariants(f)).collect();
                            invs.sort();
                            invs.dedup();
                            format!(" (it failed {} instead)", invs.join(", "))
                        };
                        (expected, format!("NOT caught in {} seeds{others}", row.2), false)
                    }
                },
            }
        }
    };
    if !crashes.is_empty() {
        happened.push_str(&format!(
            "; crashed at {} seed{} (first: {} seed {})",
            crashes.len(),
            if crashes.len() == 1 { "" } else { "s" },
            crashes[0].scenario,
            crashes[0].seed
        ));
        as_expected = false;
    }
    Judgement { protocol: protocol.to_string(), role, expected, happened, as_expected }
}

/// The (scenario, protocol) rows that should catch their protocol but have not yet: the rows a
/// default sweep of everything runs further.
pub(crate) fn uncaught<'r>(rows: &'r [Row<'_>]) -> Vec<(&'r str, &'r str)> {
    rows.iter()
        .filter(|(s, p, _, fails)| match Role::of(p) {
            Role::Baseline { scenario, invariant } | Role::Zoo { scenario, invariant } => {
                scenario == *s && !fails.iter().any(|f| caught_by(f, invariant))
            }
            _ => false,
        })
        .map(|(s, p, _, _)| (*s, p.as_str()))
        .collect()
}

/// Whether failure `f` is `invariant`'s.
fn caught_by(f: &SeedResult, invariant: Invariant) -> bool {
    failed_invariants(f).iter().any(|i| i == invariant.name())
}

/// Every invariant a failing seed violated (its first one, if the run named only that).
pub(crate) fn failed_invariants(f: &SeedResult) -> Vec<String> {
    if f.invariants.is_empty() {
        f.invariant.iter().cloned().collect()
    } else {
        f.invariants.clone()
    }
}

#[cfg(test)]
mod tests {
    use crate::cli::expect::{judge, Role};
    use crate::explore::sweep::SeedResult;
    use tiersim_model::outcome::Verdict;

    fn failing(scenario: &'static str, seed: u64, invariants: &[&str]) -> SeedResult {
        SeedResult {
            scenario,
            protocol: "fanout".into(),
            seed,
            verdict: Verdict::Fail,
            invariant: invariants.first().map(|i| i.to_string()),
            invariants: invariants.iter().map(|i| i.to_string()).collect(),
            ops: 1,
            messages: 1,
            sim_ns: 1,
            figures: Default::default(),
            warming_p99_ns: None,
        }
    }

    #[test]
    fn a_known_gap_may_fail_its_own_invariant_and_nothing_else() {
        assert!(matches!(Role::of("fanout"), Role::Gap { .. }));
        let slo = failing("warming-500", 28, &["slo"]);
        let barrier = failing("race", 3, &["invalidation-barrier", "slo"]);
        let clean = vec![("race", "fanout".to_string(), 10, vec![])];
        assert!(judge(&clean)[0].as_expected);
        let gap = vec![
            ("race", "fanout".to_string(), 10, vec![]),
            ("warming-500", "fanout".into(), 10, vec![&slo]),
        ];
        let j = &judge(&gap)[0];
        assert!(j.as_expected, "{}", j.happened);
        assert_eq!(j.role_name(), "known gap");
        let regression = vec![("race", "fanout".to_string(), 10, vec![&barrier])];
        let j = &judge(&regression)[0];
        assert!(!j.as_expected, "{}", j.happened);
        assert!(j.happened.ends_with("failed invalidation-barrier besides slo"), "{}", j.happened);
    }
}
