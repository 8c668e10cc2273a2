//! The words every part of the report writes with: HTML escaping and sim time as text.
//!
//! These are the only helpers all the other report modules share, so they live in a leaf of
//! their own that imports nothing from the report; that keeps imports among the report's files
//! running one way.

/// Escape `text` for HTML text and attribute values (quoted with `"` or `'`).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Sim time as milliseconds with microsecond precision: `687.429 ms`.
pub(super) fn ms(ns: u64) -> String {
    format!("{}.{:03} ms", ns / 1_000_000, (ns / 1_000) % 1000)
}

/// A duration in the unit that reads best.
pub(super) fn duration(ns: u64) -> String {
    if ns >= 1_000_000_000 {
        format!("{:.2} s", ns as f64 / 1e9)
    } else if ns >= 1_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{} µs", ns / 1000)
    }
}

#[cfg(test)]
mod tests {
    // Named from the crate root rather than `super`: the layout test reads `super` in this file
    // as the report's mod.rs, which imports this file.
    use crate::report::text::{duration, escape, ms};

    #[test]
    fn escape_replaces_every_special_character() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&amp;</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;amp;&lt;/a&gt;"
        );
        assert_eq!(escape("plain k1 · v28"), "plain k1 · v28");
    }

    #[test]
    fn times_read_as_milliseconds() {
        assert_eq!(ms(687_429_222), "687.429 ms");
        assert_eq!(ms(3_000), "0.003 ms");
        assert_eq!(duration(4_950_000_000), "4.95 s");
    }
}
