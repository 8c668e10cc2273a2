//! Replay files: one failing (or interesting) run stored as JSON so that it can be re-run exactly,
//! shrunk, kept in `seeds/` as a regression, and read by a person.
//!
//! Loading never panics: a file that is unreadable, truncated, malformed, of another format or of
//! a newer format version gets a one-line `InputError` naming the file and what is wrong: a
//! serde error names the field by its path (serde_path_to_error), a key given twice is refused
//! (serde_json would silently keep the last), a leading UTF-8 byte-order mark is skipped, and at
//! most `MAX_REPLAY_BYTES` are read. The values themselves (is a capacity at least 1, does a
//! fault name a node that exists) are the model's to check: see `SystemConfig::validate`.
//! Saving goes through `files::write_atomically`, so a crash never leaves half a replay file
//! behind.

use crate::schedule::Schedule;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The replay format this tiersim writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// The largest replay file tiersim reads: 64 MiB (the largest schedule, `MAX_OPS` operations,
/// takes about 10 MiB).
pub const MAX_REPLAY_BYTES: u64 = 64 << 20;

pub use crate::files::InputError;

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
        let text = crate::files::read_capped(path, MAX_REPLAY_BYTES, "replay file")?;
        Self::parse(&text).map_err(|e| InputError(format!("{}: {e}", path.display())))
    }

    /// Validate replay-file text; the error does not name a file.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Err("empty: expected a tiersim replay file (a JSON object)".into());
        }
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            if e.is_eof() {
                format!("truncated: the JSON ends early ({e})")
            } else {
                format!("not valid JSON: {e}")
            }
        })?;
        reject_duplicate_keys(text)?;
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
        let file: Self = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." {
                format!("malformed replay file: {inner}")
            } else {
                format!("malformed replay file: {path}: {inner}")
            }
        })?;
        if file.trace_hash.len() != 16 || !file.trace_hash.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!("trace_hash {:?} is not 16 hex digits", file.trace_hash));
        }
        Ok(file)
    }

    /// Write the file atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<(), InputError> {
        let text = serde_json::to_string_pretty(self).expect("replay files serialise");
        crate::files::write_atomically(path, &(text + "\n"))
    }
}

/// Refuse a JSON text in which an object names a key twice (serde_json keeps the last one, so an
/// edited file would silently run something other than what its reader sees). The error names
/// the key by its path, e.g. `duplicate key config.system.l1_capacity`.
pub fn reject_duplicate_keys(text: &str) -> Result<(), String> {
    use serde::de::DeserializeSeed;
    let mut de = serde_json::Deserializer::from_str(text);
    KeyCheck { path: String::new() }.deserialize(&mut de).map_err(|e| e.to_string())
}

/// A pass over a JSON value that fails on the first object naming a key twice.
struct KeyCheck {
    /// Where the value sits, as `a.b[3].c`.
    path: String,
}

impl<'de> serde::de::DeserializeSeed<'de> for KeyCheck {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for KeyCheck {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<S: serde::de::SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        for i in 0.. {
            if seq.next_element_seed(KeyCheck { path: format!("{}[{i}]", self.path) })?.is_none() {
                break;
            }
        }
        Ok(())
    }
    fn visit_map<M: serde::de::MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let mut seen = std::collections::BTreeSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() { key.clone() } else { format!("{}.{key}", self.path) };
            if !seen.insert(key) {
                return Err(serde::de::Error::custom(format!(
                    "duplicate key {path}: each key may appear once in an object"
                )));
            }
            map.next_value_seed(KeyCheck { path })?;
        }
        Ok(())
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
        let twice = text.replace("\"seed\": 3,", "\"seed\": 3, \"seed\": 4,");
        assert!(ReplayFile::<u32>::parse(&twice).unwrap_err().contains("duplicate key seed"));
        let nested = text.replace("\"end_ns\": 5", "\"end_ns\": 5, \"end_ns\": 6");
        assert!(ReplayFile::<u32>::parse(&nested).unwrap_err().contains("duplicate key schedule.end_ns"));
        let wrong_type = text.replace("\"end_ns\": 5", "\"end_ns\": \"soon\"");
        let e = ReplayFile::<u32>::parse(&wrong_type).unwrap_err();
        assert!(e.contains("schedule.end_ns"), "serde errors name the field: {e}");
        let bom = format!("\u{feff}{text}");
        assert_eq!(ReplayFile::<u32>::parse(&bom).unwrap(), sample(), "a byte-order mark is skipped");
        assert!(ReplayFile::<u32>::parse(" \n").unwrap_err().starts_with("empty"));
        for e in [truncated, &future, &no_seed, "[1]", &twice, &wrong_type] {
            assert!(!ReplayFile::<u32>::parse(e).unwrap_err().contains('\n'), "errors are one line");
        }
    }
}
