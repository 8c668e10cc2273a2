//! Replay files: one failing (or interesting) run stored as JSON so that it can be re-run exactly,
//! shrunk, kept in `seeds/` as a regression, and read by a person.
//!
//! Loading never panics: a file that is unreadable, truncated, malformed, of another format or of
//! a newer format version gets a one-line `InputError` naming the file and what is wrong. Saving
//! writes a temporary file and renames it, so a crash never leaves half a replay file behind.

use crate::schedule::Schedule;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The replay format this tiersim writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// Bad input from a user: a file, an argument, a history. Displayed as one line; the CLI exits 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// What the run that produced a replay file concluded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    /// "pass" | "fail" | "crash" | "liveness".
    pub verdict: String,
    /// The first violated invariant, if the verdict is "fail".
    pub invariant: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReplayFile<A> {
    pub format_version: u32,
    pub tiersim_version: String,
    pub scenario: String,
    pub protocol: String,
    /// The scenario configuration the run used, as the scenario serialised it.
    pub config: serde_json::Value,
    pub seed: u64,
    pub schedule: Schedule<A>,
    pub expected: Expected,
    /// The canonical trace hash, 16 hex digits.
    pub trace_hash: String,
    /// One line a person reads first.
    pub summary: String,
}

/// The trace hash as it is written in files and JSON output.
pub fn hash_hex(hash: u64) -> String {
    format!("{hash:016x}")
}

impl<A: Serialize + DeserializeOwned> ReplayFile<A> {
    /// Read and validate a replay file.
    pub fn load(path: &Path) -> Result<Self, InputError> {
        let name = path.display();
        let text =
            std::fs::read_to_string(path).map_err(|e| InputError(format!("{name}: cannot read: {e}")))?;
        Self::parse(&text).map_err(|e| InputError(format!("{name}: {e}")))
    }

    /// Validate replay-file text; the error does not name a file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            if e.is_eof() {
                format!("truncated: the JSON ends early ({e})")
            } else {
                format!("not valid JSON: {e}")
            }
        })?;
        let Some(obj) = value.as_object() else {
            return Err("not a tiersim replay file: expected a JSON object".into());
        };
        let version = match obj.get("format_version") {
            None => return Err("not a tiersim replay file: no format_version".into()),
            Some(v) => v.as_u64().ok_or("format_version is not a whole number")?,
        };
        if version > u64::from(FORMAT_VERSION) {
            return Err(format!(
                "format version {version} is newer than this tiersim reads (up to {FORMAT_VERSION}); upgrade tiersim"
            ));
        }
        if version == 0 {
            return Err("format_version 0 does not exist".into());
        }
        let file: Self = serde_json::from_value(value).map_err(|e| format!("malformed replay file: {e}"))?;
        if file.trace_hash.len() != 16 || !file.trace_hash.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("trace_hash {:?} is not 16 hex digits", file.trace_hash));
        }
        Ok(file)
    }

    /// Write the file atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), InputError> {
        let name = path.display();
        let text = serde_json::to_string_pretty(self).expect("replay files serialise");
        let tmp = path.with_extension(format!("json.tmp-{}", std::process::id()));
        std::fs::write(&tmp, text + "\n").and_then(|_| std::fs::rename(&tmp, path)).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            InputError(format!("{name}: cannot write: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ReplayFile<u32> {
        ReplayFile {
            format_version: FORMAT_VERSION,
            tiersim_version: "0.1.0".into(),
            scenario: "s".into(),
            protocol: "p".into(),
            config: serde_json::json!({}),
            seed: 3,
            schedule: Schedule { ops: vec![], faults: vec![], end_ns: 5 },
            expected: Expected { verdict: "fail".into(), invariant: Some("x".into()) },
            trace_hash: hash_hex(0xdead_beef),
            summary: "x".into(),
        }
    }

    #[test]
    fn round_trip_and_every_kind_of_bad_file() {
        let text = serde_json::to_string_pretty(&sample()).unwrap();
        assert_eq!(ReplayFile::<u32>::parse(&text).unwrap(), sample());
        let truncated = &text[..text.len() / 2];
        assert!(ReplayFile::<u32>::parse(truncated).unwrap_err().starts_with("truncated"));
        let future = text.replace("\"format_version\": 1", "\"format_version\": 99");
        assert!(ReplayFile::<u32>::parse(&future).unwrap_err().contains("newer"));
        let no_seed = text.replace("\"seed\": 3,", "");
        assert!(ReplayFile::<u32>::parse(&no_seed).unwrap_err().contains("seed"));
        assert!(ReplayFile::<u32>::parse("[1]").unwrap_err().contains("not a tiersim replay file"));
        for e in [truncated, &future, &no_seed, "[1]"] {
            assert!(!ReplayFile::<u32>::parse(e).unwrap_err().contains('\n'), "errors are one line");
        }
    }
}
