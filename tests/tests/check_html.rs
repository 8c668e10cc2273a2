//! The page of `tiersim check --html` checked the way a person reads it: histories recorded by
//! other systems (`shared/peer-histories`, read where they are: `$TIERSIM_SHARED` or beside the
//! workspace) are checked, drawn, and loaded in a real headless browser, whose DOM must show
//! exactly what the checker answered: a lane per process, a bar per operation with its
//! outcome, the linearization numbered operation by operation (the witness of a linearizable
//! key, the longest partial linearization of a violated one), and for a violated key the window
//! outlined, the operations that cannot be placed hatched and the stuck point where the
//! shortest non-linearizable prefix ends.
//!
//! The comparison is a function of a page and the checker's answer; it is shown to fail on
//! pages drawn from a doctored answer (a window moved by one operation, a witness with two
//! entries swapped, a stuck point moved), so a page that drew the wrong thing cannot pass.
//! Without chromium the test fails; `TIERSIM_NO_BROWSER=1` skips only the browser half.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use tiersim_scenarios::report::{render_checked, HistoryPageOptions};
use tiersim_sim::check::command::{check_paths, CheckOptions, CheckedFile};
use tiersim_sim::check::parse::Outcome;
use tiersim_sim::check::wgl::KeyVerdict;
use tiersim_tests::browser::{body_attr, browser, dump_dom, temp_dir};
use tiersim_tests::shared_dir;

fn peer(path: &str) -> PathBuf {
    let file = shared_dir().join("peer-histories").join(path);
    assert!(
        file.is_file(),
        "\n\nPEER HISTORIES NOT FOUND: looked for {}.\nSet TIERSIM_SHARED to the directory that \
         contains peer-histories/ (e.g. TIERSIM_SHARED=/work/shared cargo test -p tiersim-tests).\n",
        file.display()
    );
    file
}

/// The published verdict of a peer history (`verdicts.json` beside it).
fn published(path: &Path) -> bool {
    let verdicts: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path.with_file_name("verdicts.json")).unwrap())
            .unwrap();
    verdicts[path.file_name().unwrap().to_str().unwrap()].as_bool().expect("a published verdict")
}

/// The files checked as `tiersim check --html` checks them.
fn check(paths: &[PathBuf]) -> Vec<CheckedFile> {
    let out = check_paths(paths, &CheckOptions { jobs: 2, keep: true, ..CheckOptions::default() })
        .expect("peer histories are good input");
    assert_eq!(out.checked.len(), paths.len());
    for f in &out.checked {
        assert_eq!(f.report.ok(), Some(published(&f.path)), "{}: verdict as published", f.path.display());
    }
    out.checked
}

/// What one key's section of a page shows, read from its markup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct KeySeen {
    verdict: String,
    /// Lane names (`p3`).
    lanes: BTreeSet<String>,
    /// Bars: invoke line → classes besides `op`.
    bars: BTreeMap<usize, BTreeSet<String>>,
    /// Linearization numbers: invoke line → position.
    order: BTreeMap<usize, usize>,
    /// Linearization points by position: (position, invoke line, point).
    points: Vec<(usize, usize, u64)>,
    /// The stuck markers' times.
    stuck_ns: Vec<u64>,
}

/// The value of attribute `name` in the tag text `tag`.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!(" {name}=\"");
    let at = tag.find(&needle)? + needle.len();
    Some(&tag[at..at + tag[at..].find('"')?])
}

/// Every tag that starts with `open` in `html`, as the text up to its `>`.
fn tags<'a>(html: &'a str, open: &'a str) -> impl Iterator<Item = &'a str> {
    html.match_indices(open).map(move |(at, _)| &html[at..at + html[at..].find('>').unwrap()])
}

/// The key sections of each file section of a page: file name → key → what it shows, and the
/// files in the order the page has them.
fn read_page(page: &str) -> (Vec<String>, BTreeMap<String, BTreeMap<String, KeySeen>>) {
    let mut order = Vec::new();
    let mut files = BTreeMap::new();
    for file_part in page.split("<section class=\"file\"").skip(1) {
        let file = attr(file_part, "data-file").expect("a file section names its file").to_string();
        order.push(file.clone());
        let mut keys = BTreeMap::new();
        for key_part in file_part.split("<section class=\"key\"").skip(1) {
            let key_part = &key_part[..key_part.find("</section>").expect("a closed key section")];
            let key = attr(key_part, "data-key").unwrap().to_string();
            let mut seen = KeySeen {
                verdict: attr(key_part, "data-verdict").unwrap().to_string(),
                ..KeySeen::default()
            };
            for t in tags(key_part, "<text class=\"lanelabel\"") {
                let name = &key_part[key_part.find(t).unwrap() + t.len() + 1..];
                seen.lanes.insert(name[..name.find('<').unwrap()].to_string());
            }
            for t in tags(key_part, "<rect class=\"op ") {
                let line: usize = attr(t, "data-line").expect("a bar names its line").parse().unwrap();
                let classes = attr(t, "class").unwrap().split(' ').skip(1).map(str::to_string).collect();
                assert!(seen.bars.insert(line, classes).is_none(), "line {line} drawn twice");
            }
            for t in tags(key_part, "<g class=\"lp\"") {
                let line: usize = attr(t, "data-line").unwrap().parse().unwrap();
                let k: usize = attr(t, "data-order").unwrap().parse().unwrap();
                assert!(seen.order.insert(line, k).is_none(), "line {line} numbered twice");
                seen.points.push((k, line, attr(t, "data-time-ns").unwrap().parse().unwrap()));
            }
            for t in tags(key_part, "<g class=\"violation stuck\"") {
                seen.stuck_ns.push(attr(t, "data-time-ns").unwrap().parse().unwrap());
            }
            keys.insert(key, seen);
        }
        files.insert(file, keys);
    }
    (order, files)
}

/// What the page must show for `f`, from the checker's answer alone (every key drawn whole).
fn expected(f: &CheckedFile) -> BTreeMap<String, KeySeen> {
    let ops = &f.history.ops;
    let mut keys = BTreeMap::new();
    for r in &f.report.results {
        let mine: Vec<usize> = (0..ops.len()).filter(|&i| ops[i].key == r.key).collect();
        let (verdict, window, stuck) = match &r.verdict {
            KeyVerdict::Linearizable => ("linearizable", BTreeSet::new(), vec![]),
            KeyVerdict::NotLinearizable { window, .. } => {
                // Stuck where the shortest prefix that is not linearizable ends: the completion
                // of the operation that cannot be placed.
                let stuck =
                    r.unplaced.iter().filter_map(|&i| ops[i].complete_ns).max().expect("it completed");
                ("not linearizable", window.iter().map(|o| o.line).collect(), vec![stuck])
            }
            KeyVerdict::Unknown { .. } => ("unknown", BTreeSet::new(), vec![]),
        };
        let unplaced: BTreeSet<usize> = r.unplaced.iter().map(|&i| ops[i].line).collect();
        let bars = mine
            .iter()
            .map(|&i| {
                let o = &ops[i];
                let mut classes = BTreeSet::from([match o.outcome {
                    Outcome::Ok => "ok".to_string(),
                    Outcome::Fail => "fail".to_string(),
                    Outcome::Info => "info".to_string(),
                }]);
                if window.contains(&o.line) {
                    classes.insert("window".into());
                }
                if unplaced.contains(&o.line) {
                    classes.insert("unplaced".into());
                }
                (o.line, classes)
            })
            .collect();
        keys.insert(
            r.key.clone(),
            KeySeen {
                verdict: verdict.to_string(),
                lanes: mine.iter().map(|&i| format!("p{}", ops[i].process)).collect(),
                bars,
                order: r.witness.iter().enumerate().map(|(k, &i)| (ops[i].line, k + 1)).collect(),
                stuck_ns: stuck,
                points: Vec::new(),
            },
        );
    }
    keys
}

/// The page (HTML or a browser's DOM of it) shows exactly what the checker answered for
/// `files`, violated files first; `Err` says the first difference.
fn page_matches(page: &str, files: &[CheckedFile]) -> Result<(), String> {
    let (order, seen) = read_page(page);
    let mut want_order: Vec<&CheckedFile> = files.iter().collect();
    want_order.sort_by_key(|f| f.report.ok() != Some(false));
    let want_order: Vec<String> = want_order.iter().map(|f| f.path.display().to_string()).collect();
    if order != want_order {
        return Err(format!("file sections in the order {order:?}, want {want_order:?}"));
    }
    for f in files {
        let name = f.path.display().to_string();
        let want = expected(f);
        let got = &seen[&name];
        if got.keys().collect::<Vec<_>>() != want.keys().collect::<Vec<_>>() {
            return Err(format!("{name}: keys {:?}, want {:?}", got.keys(), want.keys()));
        }
        for (key, w) in &want {
            let g = &got[key];
            points_fit(f, key, &g.points).map_err(|e| format!("{name} key {key}: {e}"))?;
            let g = &KeySeen { points: Vec::new(), ..g.clone() };
            if g != w {
                let what = if g.verdict != w.verdict {
                    format!("verdict {} want {}", g.verdict, w.verdict)
                } else if g.lanes != w.lanes {
                    format!("lanes {:?} want {:?}", g.lanes, w.lanes)
                } else if g.bars != w.bars {
                    let diff: Vec<_> =
                        w.bars.iter().filter(|(l, c)| g.bars.get(l) != Some(c)).take(3).collect();
                    format!("bars differ, e.g. want {diff:?}")
                } else if g.order != w.order {
                    let diff: Vec<_> =
                        w.order.iter().filter(|(l, k)| g.order.get(l) != Some(k)).take(3).collect();
                    format!("linearization numbers differ, e.g. want {diff:?}")
                } else {
                    format!("stuck at {:?}, want {:?}", g.stuck_ns, w.stuck_ns)
                };
                return Err(format!("{name} key {key}: {what}"));
            }
        }
    }
    Ok(())
}

/// The numbered points of a key, in order, never go back in time and each lies inside its
/// operation's interval (an indeterminate one has no end): the numbers are a linearization as
/// drawn, not only as listed.
fn points_fit(f: &CheckedFile, key: &str, points: &[(usize, usize, u64)]) -> Result<(), String> {
    let by_line: BTreeMap<usize, _> =
        f.history.ops.iter().filter(|o| o.key == key).map(|o| (o.line, o)).collect();
    let mut points = points.to_vec();
    points.sort_unstable();
    for w in points.windows(2) {
        if w[1].2 < w[0].2 {
            return Err(format!("#{} at {} ns is drawn before #{} at {} ns", w[1].0, w[1].2, w[0].0, w[0].2));
        }
    }
    for &(k, line, t) in &points {
        let o = by_line[&line];
        if t < o.invoke_ns || o.complete_ns.is_some_and(|c| t > c) {
            return Err(format!(
                "#{k} (line {line}) at {t} ns, outside [{}, {:?}]",
                o.invoke_ns, o.complete_ns
            ));
        }
    }
    Ok(())
}

/// Counts of what the page's script found laid out with a size, as it should for `files`.
fn assert_drawn(dom: &str, files: &[CheckedFile]) {
    let keys: Vec<KeySeen> = files.iter().flat_map(|f| expected(f).into_values()).collect();
    let count = |f: &dyn Fn(&KeySeen) -> usize| keys.iter().map(f).sum::<usize>().to_string();
    let with = |class: &'static str| move |k: &KeySeen| k.bars.values().filter(|c| c.contains(class)).count();
    assert_eq!(body_attr(dom, "data-drawn-ops"), count(&|k| k.bars.len()));
    assert_eq!(body_attr(dom, "data-drawn-order"), count(&|k| k.order.len()));
    assert_eq!(body_attr(dom, "data-drawn-window"), count(&with("window")));
    assert_eq!(body_attr(dom, "data-drawn-unplaced"), count(&with("unplaced")));
    assert_eq!(body_attr(dom, "data-drawn-stuck"), count(&|k| k.stuck_ns.len()));
}

fn page(files: &[CheckedFile]) -> String {
    render_checked("peer histories", files, &HistoryPageOptions::default())
}

/// A non-linearizable etcd history and a linearizable one on one page (given linearizable
/// first: the page puts the violation first), and a Porcupine key-value history with string
/// values and many keys, in the browser.
#[test]
fn check_page_shows_the_checkers_answer_in_a_browser() {
    let (bad, good) = (peer("etcd/etcd_000.jsonl"), peer("etcd/etcd_002.jsonl"));
    assert!(!published(&bad) && published(&good), "etcd_000 is published as violated, etcd_002 as clean");
    let etcd = check(&[good, bad]);
    let kv = check(&[peer("porcupine-kv/c10-bad.edn")]);
    assert!(kv[0].report.results.len() > 1, "several keys");
    let (etcd_html, kv_html) = (page(&etcd), page(&kv));
    page_matches(&etcd_html, &etcd).unwrap();
    page_matches(&kv_html, &kv).unwrap();
    for html in [&etcd_html, &kv_html] {
        assert!(!html.contains("http://") && !html.contains("https://"), "self-contained");
        assert!(!html.contains(" src=") && !html.contains("<link"));
    }

    let Some(chromium) = browser() else { return };
    let dir = temp_dir("check-html");
    for (name, html, files) in [("etcd", &etcd_html, &etcd), ("kv", &kv_html, &kv)] {
        let path = dir.join(format!("{name}.html"));
        std::fs::write(&path, html).unwrap();
        let dom = dump_dom(&chromium, &path, &dir);
        page_matches(&dom, files).unwrap_or_else(|e| panic!("{name} (chromium DOM): {e}"));
        assert_drawn(&dom, files);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The comparison catches a page drawn from a doctored answer: each change to the checker's
/// answer below must make `page_matches` fail against the real one.
#[test]
fn a_page_of_a_wrong_answer_fails_the_comparison() {
    let real = check(&[peer("etcd/etcd_000.jsonl"), peer("etcd/etcd_002.jsonl")]);
    page_matches(&page(&real), &real).unwrap();
    let doctor = |what: &str, change: &dyn Fn(&mut Vec<CheckedFile>)| {
        let mut wrong = real.clone();
        change(&mut wrong);
        let err = page_matches(&page(&wrong), &real).expect_err(what);
        eprintln!("{what}: {err}");
    };
    let violated = real.iter().position(|f| f.report.ok() == Some(false)).unwrap();
    let clean = 1 - violated;
    doctor("a window moved by one operation", &|files| {
        let f = &mut files[violated];
        let ops = f.history.ops.clone();
        let KeyVerdict::NotLinearizable { window, .. } = &mut f.report.results[0].verdict else {
            unreachable!()
        };
        let first = window[0].line;
        let before =
            ops.iter().filter(|o| o.line < first).max_by_key(|o| o.line).expect("an op before").clone();
        window.remove(window.len() - 1);
        window.insert(0, before);
    });
    doctor("two witness entries swapped", &|files| files[clean].report.results[0].witness.swap(0, 1));
    doctor("a partial linearization cut short", &|files| {
        files[violated].report.results[0].witness.pop();
    });
    doctor("the unplaceable operation stuck elsewhere", &|files| {
        let r = &mut files[violated].report.results[0];
        let other = r.witness[0];
        r.unplaced = vec![other];
    });
    doctor("the stuck point moved", &|files| {
        let f = &mut files[violated];
        let u = f.report.results[0].unplaced[0];
        *f.history.ops[u].complete_ns.as_mut().unwrap() += 1;
    });
    doctor("a clean key said to be violated", &|files| {
        files[clean].report.results[0].verdict =
            KeyVerdict::NotLinearizable { window: Vec::new(), time_ns: 0, message: "doctored".into() };
    });
}

/// A key longer than `--html-max-ops` is drawn as a stretch around the operation that cannot be
/// placed, and the page says which operations it shows and how to see the rest; `--html-key`
/// draws the chosen keys and lists the others with their verdicts.
#[test]
fn a_capped_key_is_said_and_drawn_around_the_contradiction() {
    let files = check(&[peer("etcd/etcd_000.jsonl")]);
    let f = &files[0];
    let r = &f.report.results[0];
    let n = f.history.ops.len();
    let cap = 12;
    let html =
        render_checked("capped", &files, &HistoryPageOptions { max_ops_per_key: cap, keys: Vec::new() });
    let (_, seen) = read_page(&html);
    let key = &seen[&f.path.display().to_string()][&r.key];
    assert_eq!(key.bars.len(), cap);
    let stuck_line = f.history.ops[r.unplaced[0]].line;
    assert!(key.bars[&stuck_line].contains("unplaced"), "the op that cannot be placed is drawn");
    assert!(html.contains(&format!("of the {n} of this key (in invoke order) are drawn")), "the cap is said");
    assert!(html.contains(&format!("<code>--html-max-ops {n}</code> draws them all")));
    // The full page draws every operation.
    let (_, seen) = read_page(&page(&files));
    assert_eq!(seen[&f.path.display().to_string()][&r.key].bars.len(), n);

    let kv = check(&[peer("porcupine-kv/c10-bad.edn")]);
    let keys: Vec<&str> = kv[0].report.results.iter().map(|r| r.key.as_str()).collect();
    let pick = keys[keys.len() - 1].to_string();
    let html = render_checked(
        "one key",
        &kv,
        &HistoryPageOptions { keys: vec![pick.clone()], ..Default::default() },
    );
    let (_, seen) = read_page(&html);
    let drawn: Vec<&String> = seen[&kv[0].path.display().to_string()].keys().collect();
    assert_eq!(drawn, vec![&pick]);
    assert!(html.contains(&format!("{} keys of this file not drawn", keys.len() - 1)), "the rest is said");
}

/// One page draws at most `PAGE_OPS_MAX` bars: a key that would pass it is drawn in part and a
/// key after it not at all, and the page says both, with the flags that show the rest.
#[test]
fn a_page_past_its_limit_says_what_it_left_out() {
    use tiersim_scenarios::report::PAGE_OPS_MAX;
    use tiersim_sim::check::parse::{History, Op};
    use tiersim_sim::check::value::ValueTable;
    use tiersim_sim::check::wgl::{check_history, Budget};
    use tiersim_sim::history::{OpFn, OpValue};
    // Four keys of sequential unique writes, each read back: 4 × 34,000 operations.
    let per_key = 34_000;
    let mut ops = Vec::new();
    for (k, key) in ["a", "b", "c", "d"].iter().enumerate() {
        for n in 0..per_key {
            let t = ((k * per_key + n) * 20) as u64;
            let value = (n / 2) as i64;
            let f = if n % 2 == 0 { OpFn::Write } else { OpFn::Read };
            ops.push(Op {
                process: k as u64,
                f,
                key: key.to_string(),
                value: OpValue::Single(Some(value)),
                outcome: Outcome::Ok,
                invoke_ns: t,
                complete_ns: Some(t + 10),
                line: ops.len() + 1,
            });
        }
    }
    let values = ValueTable::integers();
    let report = check_history(&ops, &values, &Budget::default(), 2);
    assert_eq!(report.ok(), Some(true));
    let history = History { client_events: 2 * ops.len(), ops, values };
    let file = CheckedFile {
        path: "big.jsonl".into(),
        format: tiersim_sim::check::parse::Format::JsonLines,
        history,
        report,
        delta_ns: Some(0),
    };
    let html = render_checked(
        "big",
        std::slice::from_ref(&file),
        &HistoryPageOptions { max_ops_per_key: per_key, keys: Vec::new() },
    );
    let (_, seen) = read_page(&html);
    let keys = &seen["big.jsonl"];
    let drawn: Vec<(&str, usize)> = keys.iter().map(|(k, s)| (k.as_str(), s.bars.len())).collect();
    let cut = PAGE_OPS_MAX - 2 * per_key;
    assert_eq!(drawn, vec![("a", per_key), ("b", per_key), ("c", cut)]);
    assert!(
        html.contains(&format!("Operations 1–{cut} of the {per_key} of this key")),
        "the cut key is said"
    );
    assert!(html.contains("1 key of this file not drawn"), "the left-out key is said");
    assert!(html.contains(
        "key <code>d</code>: linearizable (the page already draws as many operations as one page draws)"
    ));
}
