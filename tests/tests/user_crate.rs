//! The journey of a team testing its own protocol, from a crate outside the workspace: the crate
//! in `tests/user-crate/` (a protocol with the stale-set bug and per-process state in a struct
//! field, a sweep test, a five-line tiersim binary) is copied into a temporary directory with
//! a path dependency on `tiersim` and built offline into this workspace's target directory (so
//! nothing of tiersim is rebuilt). Its sweep test fails, saves a replay file and prints the
//! commands; those commands, run with the team's own binary, replay the run exactly, shrink it
//! and draw it; the kept regression is re-run first and replays as a corpus; and without
//! `--cfg madsim` the same crate stops with one line that says what to add.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The crate, laid out as a team would have it, in a fresh directory.
fn user_crate(with_cfg: bool) -> PathBuf {
    let root = workspace();
    let dir = std::env::temp_dir().join(format!("tiersim-user-crate-{}-{with_cfg}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let template = root.join("tests/user-crate");
    for file in ["src/lib.rs", "src/bin/cache-sim.rs", "tests/sweep.rs"] {
        let to = dir.join(file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(template.join(file), &to).unwrap_or_else(|e| panic!("{file}: {e}"));
    }
    let manifest = format!(
        "[package]\nname = \"our-cache\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\ntiersim = {{ path = {:?} }}\n\n[workspace]\n",
        root.join("tiersim").display().to_string()
    );
    std::fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    // The same versions as the workspace, so the build is offline and reuses its artifacts.
    std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    if with_cfg {
        std::fs::create_dir_all(dir.join(".cargo")).unwrap();
        std::fs::write(dir.join(".cargo/config.toml"), "[build]\nrustflags = [\"--cfg\", \"madsim\"]\n")
            .unwrap();
    }
    dir
}

/// The team's binary is called `cache-sim`, not `tiersim`: it shares this workspace's target
/// directory, and a second `tiersim` would overwrite the workspace's own. The printed commands
/// name it through `TIERSIM_CLI`, as a team whose binary has another name would.
const CLI: &str = "cargo run --release --bin cache-sim --";

fn cargo(dir: &Path, target: &Path, args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("TIERSIM_SAVE")
        .env_remove("TIERSIM_SEED")
        .env_remove("TIERSIM_SEEDS")
        .env("TIERSIM_CLI", CLI)
        .output()
        .unwrap_or_else(|e| panic!("cargo {args:?}: {e}"));
    out
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn a_team_crate_gets_the_test_api_and_every_command_on_its_own_protocol() {
    let dir = user_crate(true);
    let target = workspace().join("target");
    // 1. The team's sweep test fails, saves the replay file and prints the commands.
    let out = cargo(&dir, &target, &["test", "--offline", "--test", "sweep", "--", "our_cache_survives"]);
    let all = text(&out);
    assert!(!out.status.success(), "the stale-set bug went unnoticed:\n{all}");
    assert!(all.contains("invariant `invalidation-barrier` violated"), "{all}");
    // The protocol's own `tracing` events, in sim time and by node.
    assert!(
        all.lines().any(|l| l.contains(" app-") && l.contains("filling redis from the database")),
        "no log line from the protocol:\n{all}"
    );
    let saved = all.lines().find_map(|l| l.strip_prefix("replay file: ")).unwrap_or_else(|| panic!("{all}"));
    let saved = saved.trim().to_string();
    assert!(Path::new(&saved).starts_with(&target), "{saved} is not under the target dir");
    let kept = dir.join("tiersim-regressions").join(Path::new(&saved).file_name().unwrap());
    assert!(kept.exists(), "no regression kept at {}:\n{all}", kept.display());

    // 2. The printed commands, with the team's own binary, as printed.
    let printed = |name: &str| -> Vec<String> {
        let prefix = format!("  {name}: ");
        let line = all
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no {name} line:\n{all}"));
        line.split_whitespace().map(String::from).collect()
    };
    let run_printed = |name: &str, extra: &[&str]| -> Output {
        let words = printed(name);
        assert_eq!(&words[..5], ["cargo", "run", "--release", "--bin", "cache-sim"], "{words:?}");
        let mut args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
        args.insert(1, "--offline");
        args.insert(2, "-q");
        args.extend_from_slice(extra);
        cargo(&dir, &target, &args)
    };
    let replay = run_printed("replay", &[]);
    assert!(text(&replay).contains("reproduced: exact"), "{}", text(&replay));
    let shrink = run_printed("shrink", &["--json"]);
    let j: serde_json::Value =
        serde_json::from_slice(&shrink.stdout).unwrap_or_else(|_| panic!("{}", text(&shrink)));
    assert!(j["ops_after"].as_u64().unwrap() <= 4, "shrunk to {}", j["ops_after"]);
    let report = run_printed("report", &[]);
    assert!(report.status.success(), "{}", text(&report));
    let html_path = printed("report").last().unwrap().clone();
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("<svg") && html.contains("our-cache"), "{html_path} is no timeline");
    // The failing run's history, recorded by the team's binary, checked and drawn by it.
    let stem = Path::new(&saved).file_stem().unwrap().to_string_lossy().to_string();
    let parts: Vec<&str> = stem.split("--").collect();
    let (scenario, seed) = (parts[0], parts[parts.len() - 1]);
    let history = target.join(format!("{stem}.history.jsonl"));
    let page = target.join(format!("{stem}.check.html"));
    let bin = ["run", "--offline", "-q", "--release", "--bin", "cache-sim", "--"];
    let run =
        [&bin[..], &["run", "--scenario", scenario, "--protocol", "our-cache", "--seed", seed]].concat();
    let out = cargo(&dir, &target, &[&run[..], &["--history", history.to_str().unwrap()]].concat());
    assert!(history.is_file(), "no history written: {}", text(&out));
    let check = [&bin[..], &["check", history.to_str().unwrap(), "--html", page.to_str().unwrap(), "--json"]]
        .concat();
    let out = cargo(&dir, &target, &check);
    let j: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", text(&out)));
    let page =
        std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("no check page: {e}: {}", text(&out)));
    let verdict = j["verdict"].as_str().unwrap();
    assert!(page.contains(&format!("data-verdict=\"{verdict}\"")), "the page's verdict is not {verdict}");
    let ops = j["ops"].as_u64().unwrap() as usize;
    let bars = page.matches("\" data-line=\"").count() - page.matches("<g class=\"lp\" data-line=\"").count();
    assert!(ops > 0 && bars == ops, "{bars} bars for {ops} ops");
    // `list` and `run` know the team's protocol too.
    let list =
        cargo(&dir, &target, &["run", "--offline", "-q", "--release", "--bin", "cache-sim", "--", "list"]);
    assert!(text(&list).contains("our-cache"), "{}", text(&list));
    // And `compare`: the team's protocol in a row of its own, its stale set caught and counted.
    let compare = cargo(
        &dir,
        &target,
        &["run", "--offline", "-q", "--release", "--bin", "cache-sim", "--"]
            .into_iter()
            .chain([
                "compare",
                "--scenario",
                "fill-race",
                "--protocol",
                "our-cache",
                "--seeds",
                "0..8",
                "--json",
            ])
            .collect::<Vec<_>>(),
    );
    let j: serde_json::Value =
        serde_json::from_slice(&compare.stdout).unwrap_or_else(|_| panic!("{}", text(&compare)));
    let row = &j["rows"][0];
    assert_eq!(row["protocol"], "our-cache", "{j}");
    assert_eq!(row["seeds_run"], 8, "{j}");
    assert!(
        row["invariants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["invariant"] == "invalidation-barrier"
                && i["reproduce"].as_str().unwrap().starts_with(CLI)),
        "{row}"
    );

    // 3. The kept regression is re-run first (no seeds at all: it still fails), and the
    //    regression directory replays as a corpus.
    let again = Command::new(env!("CARGO"))
        .args(["test", "--offline", "--test", "sweep", "--", "our_cache_survives"])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", &target)
        .env("TIERSIM_SEEDS", "0")
        .env("TIERSIM_CLI", CLI)
        .output()
        .unwrap();
    assert!(text(&again).contains("fails again"), "{}", text(&again));
    let corpus =
        cargo(&dir, &target, &["test", "--offline", "--test", "sweep", "--", "regressions_reproduce"]);
    assert!(corpus.status.success(), "{}", text(&corpus));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn without_cfg_madsim_the_crate_stops_with_one_line_saying_what_to_add() {
    let dir = user_crate(false);
    // Its own target dir: other flags must not disturb the workspace's artifacts.
    let target = workspace().join("target").join("user-crate-without-madsim");
    // (Online: without madsim's cfg, madsim pulls tokio and friends, which the workspace never needs.)
    let out = cargo(&dir, &target, &["check", "--lib"]);
    let all = text(&out);
    assert!(!out.status.success(), "built without --cfg madsim:\n{all}");
    assert!(all.contains("tiersim needs `--cfg madsim`: add to .cargo/config.toml"), "{all}");
    let errors: Vec<&str> = all.lines().filter(|l| l.starts_with("error")).collect();
    assert!(
        errors.iter().all(|l| l.contains("--cfg madsim") || l.starts_with("error: could not compile")),
        "more errors than the one line: {errors:#?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
