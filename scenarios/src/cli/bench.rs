//! `tiersim bench`: DESIGN.md's performance figures, measured in this process.

use super::output::*;
use crate::registry::Registry;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Smaller counts: a smoke test of every section in seconds.
    #[arg(long)]
    pub quick: bool,
    /// Print the whole report as one JSON object on stdout instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// How long the explore whose peak RSS is measured runs (memory.explore_rss_mb), e.g. 30s
    /// or 10m [default: 10m, 10s with --quick]
    #[arg(long, value_name = "DURATION")]
    pub explore_budget: Option<String>,
    /// Only the deep-zoo section: runs to failure per deep entry and strategy (tens of minutes;
    /// always prints JSON).
    #[arg(long)]
    pub deep: bool,
}

impl BenchArgs {
    pub fn execute(self, _: &Registry) -> Result<u8, BadInput> {
        let BenchArgs { quick, json, explore_budget, deep } = self;
        // The budget grammar's messages name `--budget`; this flag is another.
        let explore_budget = explore_budget
            .as_deref()
            .map(|text| {
                super::args::parse_duration(text)
                    .map_err(|BadInput(m)| BadInput(m.replacen("--budget", "--explore-budget", 1)))
            })
            .transpose()?;
        use crate::bench::{run, BenchOptions};
        let progress = |line: &str| eprintln!("{line}");
        let shared_dir = BenchOptions::default_shared_dir();
        if deep {
            let opts = BenchOptions {
                shared_dir,
                quick,
                progress: Some(&progress),
                workers: None,
                explore_budget: None,
            };
            println!("{}", crate::bench::deep::figures(&opts));
            return Ok(0);
        }
        // Seeds per second are measured the way sweeps run: in worker processes of this binary.
        let workers = crate::explore::worker::WorkerCmd::current_exe().ok();
        let report =
            run(&BenchOptions { shared_dir, quick, progress: Some(&progress), workers, explore_budget });
        if json {
            println!("{report}");
        } else {
            for line in summary(&report) {
                println!("{line}");
            }
        }
        Ok(0)
    }
}

/// The report for a person: each target met or missed, then the figures of each section two
/// levels deep, numbers rounded; per-scenario and per-entry tables are left to `--json`.
fn summary(report: &serde_json::Value) -> Vec<String> {
    use serde_json::Value;
    let show = |v: &Value| match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() != 0.0 => format!("{:.3}", f),
            _ => n.to_string(),
        },
        Value::Bool(b) => {
            if *b {
                "yes".into()
            } else {
                "NO".into()
            }
        }
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        _ => String::new(),
    };
    let mut out = vec!["targets:".to_string()];
    if let Some(targets) = report["targets"].as_object() {
        for (name, met) in targets {
            out.push(format!("  {name:<44} {}", show(met)));
        }
    }
    for section in ["engine", "memory", "time_acceleration", "checker", "shrink", "zoo_summary"] {
        let Some(fields) = report[section].as_object() else { continue };
        out.push(format!("{section}:"));
        let mut nested = 0;
        for (name, v) in fields {
            if v.is_object() || v.is_array() {
                nested += 1;
            } else {
                out.push(format!("  {name:<44} {}", show(v)));
            }
        }
        if nested > 0 {
            out.push(format!("  ({nested} more tables: --json)"));
        }
    }
    out.push(format!(
        "peak RSS {} MB · {} ms in all · seeds per second per scenario and the zoo's table: --json",
        show(&report["peak_rss_mb"]),
        show(&report["total_wall_ms"])
    ));
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_summary_says_which_targets_are_missed_and_rounds_rates() {
        let report = serde_json::json!({
            "targets": {"engine_ratio_ge_0_7": false, "rss_growth_le_1kb_per_run": true},
            "engine": {"ratio_to_raw_madsim": 0.145_678_9, "messages": 1200, "detail": {"a": 1}},
            "peak_rss_mb": 144.5, "total_wall_ms": 90_000,
        });
        let lines = crate::cli::bench::summary(&report);
        let text = lines.join("\n");
        assert!(lines.iter().any(|l| l.contains("engine_ratio_ge_0_7") && l.ends_with("NO")), "{text}");
        assert!(
            lines.iter().any(|l| l.contains("rss_growth_le_1kb_per_run") && l.ends_with("yes")),
            "{text}"
        );
        assert!(text.contains("0.146") && !text.contains("0.1456"), "rates rounded: {text}");
        assert!(text.contains("(1 more tables: --json)"), "{text}");
        assert!(lines.len() < 20, "a summary, not the report: {text}");
    }
}
