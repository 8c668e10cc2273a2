//! `tiersim check HISTORY...`: linearizability, a witness and the smallest Δ of histories
//! recorded elsewhere. The work is `tiersim_sim::check::command::check_paths`; this file only
//! turns flags into its options, prints its answer, and with `--html OUT` writes the page of
//! timelines that `report::render_checked` draws.
//!
//! `OUT` is one page for the whole call, whatever the number of files: a section per file.
//! Like every output path it is checked before anything is read (a directory, FIFO or device is
//! refused, a symlink written through, a missing directory refused, all with exit 2), and it is
//! written atomically once every file is checked; bad input anywhere writes nothing.

use super::output::*;
use crate::registry::Registry;
use crate::report::{render_checked, HistoryPageOptions, MAX_OPS_PER_KEY};
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;
use tiersim_sim::check::command::{check_paths, CheckOptions, CheckedFile};

#[derive(clap::Args)]
pub struct CheckArgs {
    /// History files (JSON lines or Jepsen EDN) or directories of them (*.jsonl, *.edn).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Search states per stretch of a key before the answer is `unknown`.
    #[arg(long, default_value_t = 2_000_000)]
    pub max_states: u64,
    /// Wall-clock limit for the whole call (e.g. 500ms, 10s, 2m); undecided keys are `unknown`,
    /// with how far their search got.
    #[arg(long)]
    pub timeout: Option<String>,
    /// Files checked at a time (for one file: keys at a time).
    #[arg(long, default_value_t = 1)]
    pub jobs: usize,
    /// Print one JSON object on stdout instead of text (logs go to stderr).
    #[arg(long)]
    pub json: bool,
    /// Also write the checked histories as one HTML page of timelines (a section per file and
    /// key, the witness numbered, the contradiction marked).
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
    /// Most operations drawn per key on the --html page (a stretch around the contradiction).
    #[arg(long, value_name = "N", default_value_t = MAX_OPS_PER_KEY)]
    pub html_max_ops: usize,
    /// Draw only this key on the --html page (give it again for more keys).
    #[arg(long = "html-key", value_name = "KEY")]
    pub html_keys: Vec<String>,
}

impl CheckArgs {
    pub fn execute(self, _: &Registry) -> Result<u8, BadInput> {
        let timeout = self.timeout.as_deref().map(parse_timeout).transpose()?;
        if self.jobs == 0 {
            return Err(BadInput("--jobs must be at least 1".into()));
        }
        if self.html_max_ops == 0 {
            return Err(BadInput("--html-max-ops must be at least 1".into()));
        }
        if self.html.is_none() && (!self.html_keys.is_empty() || self.html_max_ops != MAX_OPS_PER_KEY) {
            return Err(BadInput(
                "--html-key and --html-max-ops shape the page of --html OUT, which is not asked for".into(),
            ));
        }
        if let Some(out) = &self.html {
            super::validate::output_file(out)?;
        }
        let opts = CheckOptions {
            max_states: self.max_states,
            timeout,
            jobs: self.jobs,
            keep: self.html.is_some(),
            ..CheckOptions::default()
        };
        let mut out = check_paths(&self.files, &opts).map_err(BadInput)?;
        if let Some(path) = &self.html {
            // A key asked for that no history has would leave a page without what was wanted.
            let keys: BTreeSet<&str> =
                out.checked.iter().flat_map(|f| f.report.results.iter().map(|r| r.key.as_str())).collect();
            if let Some(missing) = self.html_keys.iter().find(|k| !keys.contains(k.as_str())) {
                let some: Vec<String> = keys.iter().take(5).map(|k| format!("{k:?}")).collect();
                return Err(BadInput(format!(
                    "--html-key {missing:?}: no checked history has this key (its keys include {})",
                    some.join(", ")
                )));
            }
            let page =
                HistoryPageOptions { max_ops_per_key: self.html_max_ops, keys: self.html_keys.clone() };
            let html = render_checked(&page_title(&out.checked), &out.checked, &page);
            write_atomically(path, &html)?;
            let shown = path.display().to_string();
            out.json["html"] = shown.clone().into();
            let files = match out.checked.len() {
                1 => "1 file".to_string(),
                n => format!("{n} files"),
            };
            out.text.push_str(&format!("wrote {shown} ({files})\n"));
        }
        if self.json {
            println!("{}", out.json);
        } else {
            print!("{}", out.text);
        }
        Ok(out.exit_code)
    }
}

/// The page's title: the file's name, or the number of files.
fn page_title(files: &[CheckedFile]) -> String {
    match files {
        [one] => one.path.display().to_string(),
        many => format!("{} files", many.len()),
    }
}

/// `--timeout`: a duration in humantime's grammar, as `--budget` reads it (500ms, 10s, 2m,
/// 1m 30s), more than zero.
fn parse_timeout(text: &str) -> Result<Duration, BadInput> {
    let bad = || BadInput(format!("--timeout {text:?}: expected a duration such as 500ms, 10s or 2m"));
    match humantime::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => Err(bad()),
    }
}
