//! The regression corpus: every replay file in `seeds/` must still reproduce its verdict and
//! invariant. A file is named after the bug it keeps.

#[test]
fn every_file_in_seeds_reproduces_its_verdict() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../seeds");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no replay files", dir.display());
    for path in files {
        let file = tiersim_scenarios::run::load_replay(&path).unwrap_or_else(|e| panic!("{e}"));
        let protocol = tiersim_model::protocols::by_name(&file.protocol)
            .unwrap_or_else(|| panic!("{}: unknown protocol {}", path.display(), file.protocol));
        let config = tiersim_scenarios::config_from_json(&file.config).unwrap();
        let o = tiersim_scenarios::run_in(&config, protocol, file.seed, &file.schedule, &[]);
        assert_eq!(
            (o.verdict.name(), o.invariant()),
            (file.expected.verdict.as_str(), file.expected.invariant.clone()),
            "{} no longer reproduces: {}",
            path.display(),
            file.summary
        );
    }
}
