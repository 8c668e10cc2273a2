//! A real headless browser for the tests of tiersim's HTML pages (`report`, `check --html`):
//! Debian's chromium (`.ci/run` installs it) loads a page and hands back the DOM its scripts
//! left, which the tests read the way a person reads the page.
//!
//! Without chromium a test fails, so a machine or CI image that lost it cannot pass silently.
//! Setting `TIERSIM_NO_BROWSER=1` is the explicit opt-out: `browser()` is then `None` (with a
//! note on stderr) and the tests check only the HTML text.
//!
//! This file is std only, so the scenarios crate's report test includes it by path
//! (`#[path]`) instead of depending on this crate.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh directory for a test's files, named by `tag`.
pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tiersim-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn chromium() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("chromium")).find(|p| p.is_file()));
    on_path.or_else(|| {
        let p = PathBuf::from("/usr/bin/chromium");
        p.is_file().then_some(p)
    })
}

/// The browser; `None` only when `TIERSIM_NO_BROWSER=1` opts out of the browser half.
pub fn browser() -> Option<PathBuf> {
    if std::env::var("TIERSIM_NO_BROWSER").as_deref() == Ok("1") {
        eprintln!("TIERSIM_NO_BROWSER=1: the page is NOT checked in a browser");
        return None;
    }
    Some(chromium().unwrap_or_else(|| {
        panic!(
            "chromium is missing, so the page cannot be checked in a browser: install it \
             (apt-get install -y chromium), or set TIERSIM_NO_BROWSER=1 to skip this half"
        )
    }))
}

/// Load `html` in headless chromium and return the serialised DOM after its scripts ran.
pub fn dump_dom(chromium: &Path, html: &Path, dir: &Path) -> String {
    let profile = dir.join(format!("profile-{}", html.file_stem().unwrap().to_string_lossy()));
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1400,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", html.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        stdout.read_to_string(&mut s).map(|_| s)
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for chromium") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish {} within 180 s", html.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let dom = reader.join().unwrap().expect("chromium's output is text");
    assert!(status.success(), "chromium failed ({status}) on {}", html.display());
    assert!(dom.contains("<svg"), "chromium returned no page for {}", html.display());
    dom
}

/// The value of attribute `name` on the page's `<body>` (what its script recorded).
pub fn body_attr<'a>(dom: &'a str, name: &str) -> &'a str {
    let body = &dom[dom.find("<body").expect("a body")..];
    let body = &body[..body.find('>').unwrap()];
    let needle = format!("{name}=\"");
    let at = body.find(&needle).unwrap_or_else(|| panic!("the page's script did not set {name}: {body}"))
        + needle.len();
    &body[at..at + body[at..].find('"').unwrap()]
}
