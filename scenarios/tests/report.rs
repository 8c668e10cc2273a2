//! The timeline report (`tiersim_scenarios::report`) checked the way a person reads it: rendered
//! by a real headless browser (Debian's chromium), whose serialised DOM must hold every client
//! operation as a bar, a known operation label, the run's own figures in its figures panel, and
//! the violation marker with its invariant exactly when the run failed.
//!
//! Without chromium the test fails, so a machine or CI image that lost it cannot pass silently.
//! Setting `TIERSIM_NO_BROWSER=1` is the explicit opt-out: the browser half is then skipped
//! (with a note on stderr) and the assertions on the HTML text itself still run.

// The browser helper shared with the `check --html` test (std only, hence by path).
#[path = "../../tests/src/browser.rs"]
mod browser;

use browser::{body_attr, browser, dump_dom, temp_dir};
use tiersim_model::check::Violation;
use tiersim_model::event::ModelEvent;
use tiersim_model::node::config::SystemConfig;
use tiersim_model::outcome::{Outcome, Verdict};
use tiersim_model::protocol::Invariant;
use tiersim_scenarios::report::{escape, render, render_claiming};
use tiersim_sim::history::{Event, EventType, OpFn};

fn run(protocol: &str, seed: u64) -> (Outcome, SystemConfig) {
    let scenario = tiersim_scenarios::by_name("fill-race").expect("fill-race exists");
    let p = tiersim_model::protocols::by_name(protocol).expect("protocol exists");
    let o = tiersim_scenarios::run_seed(&*scenario, p, seed, &[]);
    (o, scenario.config())
}

/// A fill-race run that cache-aside fails with `invalidation-barrier` (seed 0 or 1 does).
fn failing_run() -> (Outcome, SystemConfig, u64) {
    for seed in 0..4 {
        let (o, c) = run("cache-aside", seed);
        if o.verdict == Verdict::Fail && o.invariant().as_deref() == Some("invalidation-barrier") {
            return (o, c, seed);
        }
    }
    panic!("cache-aside no longer fails fill-race with invalidation-barrier in seeds 0..4");
}

fn passing_run() -> (Outcome, SystemConfig) {
    let (o, c) = run("versioned", 1);
    assert_eq!(o.verdict, Verdict::Pass, "versioned should pass fill-race seed 1");
    (o, c)
}

/// The label the report puts on the first write that completed ok: `write KEY VALUE vN`.
fn first_ok_write_label(o: &Outcome) -> String {
    let mut value = std::collections::BTreeMap::new();
    for e in &o.history.events {
        if let Event::Client { op, event, version } = e {
            if event.f != OpFn::Write {
                continue;
            }
            match event.kind {
                EventType::Invoke => {
                    value.insert(*op, event.value.single());
                }
                EventType::Ok => {
                    let v = value[op].expect("writes write a value");
                    let version = version.expect("an ok write reports its version");
                    return format!("write {} {v} v{version}", event.key);
                }
                _ => {}
            }
        }
    }
    panic!("the run has no write that completed ok");
}

fn count(haystack: &str, needle: &str) -> usize {
    haystack.matches(needle).count()
}

/// The markup of the element that carries `id="violation"`, up to the end of its group.
fn violation_element(dom: &str) -> Option<&str> {
    let id = dom.find("id=\"violation\"")?;
    let at = dom[..id].rfind('<')?;
    let end = dom[at..].find("</g>").map_or(dom.len(), |e| at + e);
    Some(&dom[at..end])
}

/// Assertions that hold for the generated HTML and for the DOM a browser makes of it.
fn assert_page(what: &str, page: &str, o: &Outcome, failing: bool) {
    assert_eq!(count(page, "\" data-op=\""), o.ops, "{what}: one operation bar per client operation");
    let label = first_ok_write_label(o);
    assert!(page.contains(&label), "{what}: op label {label:?} missing");
    assert!(page.contains(&tiersim_sim::replay::hash_hex(o.trace_hash)), "{what}: trace hash missing");
    assert_figures(what, page, o);
    if failing {
        let v = violation_element(page).unwrap_or_else(|| panic!("{what}: no element with id=\"violation\""));
        assert!(
            v.contains("invalidation-barrier"),
            "{what}: the violation marker does not name its invariant: {v}"
        );
        assert!(v.contains("class=\"violation\""), "{what}: {v}");
    } else {
        assert!(violation_element(page).is_none(), "{what}: violation marker on a pass");
        assert!(!page.contains("class=\"violation\""), "{what}");
        assert!(!page.contains("invalidation-barrier"), "{what}");
    }
}

/// The text of the figures panel's entry for `field` (a `run --json` field name).
fn figure<'a>(page: &'a str, field: &str) -> Option<&'a str> {
    let needle = format!("data-figure=\"{field}\">");
    let at = page.find(&needle)? + needle.len();
    Some(&page[at..at + page[at..].find("</dd>")?])
}

/// The figures panel shows the run's own figures: the nines of its reads and entries, its
/// database reads per read, its read latencies, and no warming for a run that warmed nothing.
fn assert_figures(what: &str, page: &str, o: &Outcome) {
    let f = &o.figures;
    let get = |field: &str| figure(page, field).unwrap_or_else(|| panic!("{what}: no figure {field}"));
    let reads = format!(
        "{} ({} stale of {})",
        f.consistency.reads.nines().text(),
        f.consistency.reads.stale,
        f.consistency.reads.total
    );
    assert_eq!(get("consistency.nines"), reads, "{what}");
    assert!(f.consistency.reads.total > 0, "{what}: a run with no read tests nothing here");
    let entries = f.consistency.entries.nines().text();
    assert!(get("consistency.entries.nines").starts_with(&format!("{entries} (")), "{what}");
    let by = f.consistency.reads.nines_by_threshold();
    assert!(
        get("consistency.nines_by_threshold_ms").contains(&format!("&gt;1 s {}", by[2].text())),
        "{what}"
    );
    let db = f.cost.db_reads_per_read().map(|x| format!("{x:.2}")).unwrap();
    assert_eq!(get("cost.db_reads_per_read"), db, "{what}");
    let read = f.cost.read_latency.as_ref().expect("reads completed");
    assert!(get("cost.read_latency_ns").ends_with(&format!("({} samples)", read.samples)), "{what}");
    assert!(figure(page, "warming.success_ratio").is_none(), "{what}: fill-race warms nothing");
    assert!(figure(page, "slo").is_none(), "{what}: no slo claimed");
}

#[test]
fn figures_panel_shows_warming_and_a_claimed_slo_only_when_there_are_some() {
    let (pass, config) = passing_run();
    let held = render_claiming("t", &pass, &config, &[Invariant::Slo]);
    assert_eq!(figure(&held, "slo"), Some("held"));
    let mut slow = pass.clone();
    slow.verdict = Verdict::Fail;
    slow.violations.push(Violation {
        invariant: "slo".into(),
        key: "k0".into(),
        time_ns: 1_000_000,
        message: "invalidation latency p99 was 98 ms over 40 samples, bound 50 ms".into(),
    });
    let page = render_claiming("t", &slow, &config, &[Invariant::Slo]);
    assert_eq!(figure(&page, "slo"), Some("violated (1)"));
    // Not claimed: no slo entry, whatever the violations say.
    assert_eq!(figure(&render("t", &slow, &config), "slo"), None);

    let mut warmed = pass.clone();
    warmed.figures.warming =
        tiersim_model::check::figures::Warming { batches: 2, keys: 10, warmed: 9, warmed_in_time: 8 };
    let page = render("t", &warmed, &config);
    assert_eq!(figure(&page, "warming.success_ratio"), Some("0.90 (9 of 10 in 2 batches; 8 in time)"));
    assert!(figure(&page, "latency_ns.warming").is_some());
}

#[test]
fn report_shows_operations_and_the_violation_in_a_browser() {
    let (fail, fail_config, seed) = failing_run();
    let (pass, pass_config) = passing_run();
    let fail_html = render(&format!("fill-race · cache-aside · seed {seed}"), &fail, &fail_config);
    let pass_html = render("fill-race · versioned · seed 1", &pass, &pass_config);

    // The HTML text itself.
    assert_page("failing run (html)", &fail_html, &fail, true);
    assert_page("passing run (html)", &pass_html, &pass, false);
    for html in [&fail_html, &pass_html] {
        assert!(!html.contains("http://") && !html.contains("https://"));
        assert!(!html.contains(" src=") && !html.contains("<link"));
    }

    // The same in a real browser.
    let Some(chromium) = browser() else { return };
    let dir = temp_dir("report-browser");
    let fail_path = dir.join("fail.html");
    let pass_path = dir.join("pass.html");
    std::fs::write(&fail_path, &fail_html).unwrap();
    std::fs::write(&pass_path, &pass_html).unwrap();

    let dom = dump_dom(&chromium, &fail_path, &dir);
    assert_page("failing run (chromium DOM)", &dom, &fail, true);
    // The page's script ran and found every bar laid out with a size, and the marker.
    assert_eq!(body_attr(&dom, "data-drawn-ops"), fail.ops.to_string());
    assert!(body_attr(&dom, "data-drawn-violation").contains("invalidation-barrier"));

    let dom = dump_dom(&chromium, &pass_path, &dir);
    assert_page("passing run (chromium DOM)", &dom, &pass, false);
    assert_eq!(body_attr(&dom, "data-drawn-ops"), pass.ops.to_string());
    assert_eq!(body_attr(&dom, "data-drawn-violation"), "");

    let _ = std::fs::remove_dir_all(&dir);
}

/// Every key name in the history, in violations and in the title is text: a key or title full
/// of markup must come out escaped, and a browser must see it as text, not elements.
#[test]
fn report_escapes_run_text() {
    let (mut o, config, _) = failing_run();
    let evil = "<img src=x onerror=alert(1)>&\"'";
    let rename = |k: &mut String| *k = format!("{evil}{k}");
    for e in &mut o.history.events {
        match e {
            Event::Client { event, .. } => rename(&mut event.key),
            Event::Internal { event, .. } => match event {
                ModelEvent::Commit { key, .. }
                | ModelEvent::Replicate { key, .. }
                | ModelEvent::Fill { key, .. }
                | ModelEvent::Refuse { key, .. }
                | ModelEvent::Remove { key, .. }
                | ModelEvent::Floor { key, .. }
                | ModelEvent::Serve { key, .. } => rename(key),
                ModelEvent::Promote { restored, .. } => restored.iter_mut().for_each(|(k, _)| rename(k)),
                ModelEvent::TagInvalidate { .. }
                | ModelEvent::Start { .. }
                | ModelEvent::Disconnect { .. } => {}
            },
            Event::Fault { .. } => {}
        }
    }
    for v in &mut o.violations {
        rename(&mut v.key);
        v.message = format!("{evil} {}", v.message);
    }
    let title = "<script>alert('title')</script> & co";
    let html = render(title, &o, &config);
    assert!(!html.contains("<img"), "an unescaped key reached the page");
    assert!(!html.contains("<script>alert"), "an unescaped title reached the page");
    assert!(html.contains(&escape(evil)));
    assert!(html.contains("&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt; &amp; co"));
    // Still a whole report.
    assert_eq!(count(&html, "\" data-op=\""), o.ops);
    assert!(violation_element(&html).is_some());

    let Some(chromium) = browser() else { return };
    let dir = temp_dir("report-escape");
    let path = dir.join("escaped.html");
    std::fs::write(&path, &html).unwrap();
    let dom = dump_dom(&chromium, &path, &dir);
    assert!(!dom.contains("<img"), "the browser made an element of a key");
    assert_eq!(body_attr(&dom, "data-drawn-ops"), o.ops.to_string());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Same outcome, same bytes; and the same seed run twice (different wall-clock times) renders
/// the same page.
#[test]
fn report_is_deterministic() {
    let (a, config, seed) = failing_run();
    let title = format!("fill-race · cache-aside · seed {seed}");
    let once = render(&title, &a, &config);
    assert_eq!(once, render(&title, &a, &config));
    let (mut b, _) = run("cache-aside", seed);
    b.wall_ms = a.wall_ms + 12_345;
    assert_eq!(once, render(&title, &b, &config));
}
