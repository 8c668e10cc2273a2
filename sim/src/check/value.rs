//! The values a checked history's registers hold, as the searches see them.
//!
//! Every checker compares register values for equality and nothing else (an `append` also
//! concatenates), so a value is a small integer: the integer itself in a history of 64-bit
//! integers, or an index into a table of distinct strings in a history with string values. The
//! search states, the memo and the fingerprints then stay a few words whatever the values are,
//! and the table turns ids back into text for reports.
//!
//! A history is one or the other: if any value is a string (or any operation is an `append`),
//! every value is read as a string, integers by their decimal text. In a string history the
//! empty string and `null` are the same value, the register's initial one: that is Porcupine's
//! key-value model (a `get` of a key never written returns "", an `append` onto it yields its
//! argument), and a JSON history may write either.

use std::collections::HashMap;

/// How a history's values are represented.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValueTable {
    /// `None`: values are the integers themselves.
    strings: Option<Strings>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Strings {
    texts: Vec<String>,
    ids: HashMap<String, i64>,
    /// Remembered concatenations: (register, suffix) -> result.
    concat: HashMap<(i64, i64), i64>,
}

impl ValueTable {
    /// A table for a history of integers.
    pub fn integers() -> Self {
        ValueTable { strings: None }
    }

    /// A table for a history of strings.
    pub fn strings() -> Self {
        ValueTable { strings: Some(Strings::default()) }
    }

    /// Whether values are strings.
    pub fn is_strings(&self) -> bool {
        self.strings.is_some()
    }

    /// The id of a string (`None` for the empty string). Panics in an integer table (a bug).
    pub fn intern(&mut self, text: &str) -> Option<i64> {
        let strings = self.strings.as_mut().expect("intern needs a string table");
        strings.intern(text)
    }

    /// The register after appending `suffix` to `register`, or `None` when the table holds
    /// integers (an append has no meaning there).
    pub fn append(&mut self, register: Option<i64>, suffix: Option<i64>) -> Option<Option<i64>> {
        let strings = self.strings.as_mut()?;
        Some(match (register, suffix) {
            (r, None) => r,
            (None, s) => s,
            (Some(r), Some(s)) => {
                if let Some(&done) = strings.concat.get(&(r, s)) {
                    return Some(Some(done));
                }
                let joined = format!("{}{}", strings.texts[r as usize], strings.texts[s as usize]);
                let id = strings.intern(&joined).expect("a concatenation of non-empty strings");
                strings.concat.insert((r, s), id);
                Some(id)
            }
        })
    }

    /// Whether `prefix` is a prefix of `value` (the empty string of every string). Integers
    /// are prefixes only of themselves.
    pub fn is_prefix(&self, prefix: Option<i64>, value: Option<i64>) -> bool {
        match (&self.strings, prefix, value) {
            (None, p, v) => p == v,
            (Some(_), None, _) => true,
            (Some(_), Some(_), None) => false,
            (Some(s), Some(p), Some(v)) => p == v || s.texts[v as usize].starts_with(&s.texts[p as usize]),
        }
    }

    /// The value as a JSON value: the integer, the string, or `null` (absent, or "" in a string
    /// history).
    pub fn json(&self, value: Option<i64>) -> serde_json::Value {
        match (&self.strings, value) {
            (_, None) => serde_json::Value::Null,
            (None, Some(v)) => serde_json::Value::from(v),
            (Some(s), Some(id)) => serde_json::Value::from(s.texts[id as usize].clone()),
        }
    }

    /// The value for a message: `3`, `"x 0 1 y"`, `nothing (absent)` or `""`.
    pub fn show(&self, value: Option<i64>) -> String {
        match (&self.strings, value) {
            (None, None) => "nothing (absent)".to_string(),
            (Some(_), None) => "\"\"".to_string(),
            (None, Some(v)) => v.to_string(),
            (Some(s), Some(id)) => format!("{:?}", s.texts[id as usize]),
        }
    }
}

impl Strings {
    fn intern(&mut self, text: &str) -> Option<i64> {
        if text.is_empty() {
            return None;
        }
        if let Some(&id) = self.ids.get(text) {
            return Some(id);
        }
        let id = self.texts.len() as i64;
        self.texts.push(text.to_string());
        self.ids.insert(text.to_string(), id);
        Some(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_intern_and_concatenate() {
        let mut t = ValueTable::strings();
        let x = t.intern("x 0 1 y");
        assert_eq!(t.intern("x 0 1 y"), x);
        assert_eq!(t.intern(""), None);
        let z = t.intern("z");
        let joined = t.append(x, z).unwrap();
        assert_ne!(joined, x);
        assert_eq!(t.show(joined), "\"x 0 1 yz\"");
        // Appending onto the initial "" gives the suffix itself, and appending "" changes nothing.
        assert_eq!(t.append(None, x), Some(x));
        assert_eq!(t.append(x, None), Some(x));
        // The same concatenation reached twice is the same value.
        assert_eq!(t.append(x, z), Some(joined));
        assert_eq!(t.intern("x 0 1 yz"), joined);
        assert!(t.is_prefix(x, joined) && t.is_prefix(None, joined) && t.is_prefix(joined, joined));
        assert!(!t.is_prefix(joined, x) && !t.is_prefix(z, joined) && !t.is_prefix(x, None));
    }

    #[test]
    fn integers_have_no_append() {
        let mut t = ValueTable::integers();
        assert_eq!(t.append(Some(1), Some(2)), None);
        assert_eq!(t.show(Some(7)), "7");
        assert_eq!(t.json(None), serde_json::Value::Null);
    }
}
