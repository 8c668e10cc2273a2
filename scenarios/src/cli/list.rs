//! `tiersim list`: the scenarios and protocols, what each protocol claims, and which scenario
//! exposes each zoo entry.

use super::output::*;
use crate::registry::Registry;
use serde_json::json;
use tiersim_model::protocol::{Invariant, ProtocolFactory};

#[derive(clap::Args)]
pub struct ListArgs {
    /// Print one JSON object on stdout instead of text (logs go to stderr).
    #[arg(long)]
    pub json: bool,
}

impl ListArgs {
    pub fn execute(self, reg: &Registry) -> Result<u8, BadInput> {
        Ok(list(reg, self.json))
    }
}

pub(crate) fn list(reg: &Registry, json: bool) -> u8 {
    use tiersim_model::protocols::zoo;
    // A claim can depend on the system (a staleness bound on its TTLs): show it for the scenario
    // that exposes a zoo entry, and for the default system otherwise.
    let claims_of = |p: &ProtocolFactory| {
        let cfg = zoo::entry(&p.name())
            .and_then(|e| reg.find_scenario(e.scenario))
            .map_or_else(tiersim_model::node::config::SystemConfig::default, |s| s.config());
        p.claims(&cfg)
    };
    let scenarios: Vec<_> =
        reg.scenarios().iter().map(|s| json!({"name": s.name(), "description": s.description()})).collect();
    let protocols: Vec<_> = reg
        .protocols()
        .iter()
        .map(|p| {
            let entry = zoo::entry(&p.name());
            let claims = claims_of(p);
            json!({
                "name": p.name(),
                "guarantees": claims.names(),
                "staleness_bound_ns": claims.staleness_bound_ns,
                "zoo": entry.is_some(),
                "zoo_tier": entry.map(|e| e.tier.name()),
                "exposed_by": entry.map(|e| json!({"scenario": e.scenario, "invariant": e.invariant.name()})),
                "story": entry.map(|e| e.story),
                "source": entry.map(|e| e.source),
            })
        })
        .collect();
    // Checked on every run, claimed or not.
    let always: Vec<_> = Invariant::ALWAYS.iter().map(|i| i.name()).collect();
    // The zoo, basic tier then deep tier, with the scenario and invariant that expose each.
    let zoo_json: Vec<_> = zoo::all()
        .map(|e| json!({"name": e.name, "tier": e.tier.name(), "scenario": e.scenario, "invariant": e.invariant.name()}))
        .collect();
    if json {
        println!(
            "{}",
            json!({"scenarios": scenarios, "protocols": protocols, "zoo": zoo_json, "always_checked": always})
        );
    } else {
        println!("scenarios:");
        for s in reg.scenarios() {
            println!("  {:<22} {}", s.name(), s.description());
        }
        println!("protocols:");
        for p in reg.protocols() {
            let exposed = zoo::entry(&p.name()).map_or(String::new(), |e| {
                format!(" · zoo ({}): exposed by {} ({})", e.tier.name(), e.scenario, e.invariant)
            });
            println!("  {:<26} claims {}{exposed}", p.name(), claims_of(&*p).names().join(", "));
        }
        println!("checked on every run, whatever a protocol claims: {}", always.join(", "));
    }
    0
}
