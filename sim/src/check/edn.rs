//! Reading Jepsen's EDN histories (`history.edn`, Knossos and Porcupine test data).
//!
//! A Jepsen history is a sequence of EDN maps, one operation event each, usually one a line
//! (`{:type :invoke, :f :read, :process 0, :value nil, :time 1234}`), sometimes wrapped in one
//! outer vector. This reader accepts exactly that: top-level maps, optionally inside one vector
//! or list, and turns each map into a JSON object so the rest of the parser handles both
//! formats alike. Keywords and symbols become strings without their colon (`:invoke` ->
//! `"invoke"`), `nil` becomes `null`, vectors, lists and sets become arrays, and a tagged
//! literal (`#inst "..."`, `#jepsen.history.Op{...}`) becomes its inner value. Fields a checker
//! does not use (`:index`, `:error`, `:node`) may hold any of these and are carried along
//! unread. Anything that is not EDN is an error naming its line.

use super::parse_error::ParseError;
use serde_json::{Map, Number, Value};

/// One EDN map as a JSON object, with the (1-based) line it begins on.
pub type LineMap = (usize, Map<String, Value>);

/// The maps of an EDN history with the (1-based) line each begins on.
pub fn read_maps(text: &str) -> Result<Vec<LineMap>, ParseError> {
    let mut r = Reader { bytes: text.as_bytes(), at: 0, line: 1 };
    let mut out = Vec::new();
    r.skip_blank();
    // One optional outer collection.
    let close = match r.peek() {
        Some(b'[') => Some(b']'),
        Some(b'(') => Some(b')'),
        _ => None,
    };
    if close.is_some() {
        r.at += 1;
    }
    loop {
        r.skip_blank();
        match r.peek() {
            None if close.is_none() => break,
            None => return Err(r.err("the outer collection is never closed")),
            Some(c) if Some(c) == close => {
                r.at += 1;
                r.skip_blank();
                if r.peek().is_some() {
                    return Err(r.err("text after the history's closing bracket"));
                }
                break;
            }
            Some(b'{') => {
                let line = r.line;
                let Value::Object(map) = r.value()? else { unreachable!("a map reads as an object") };
                out.push((line, map));
            }
            Some(_) => {
                return Err(r.err("expected an operation map `{:type ..., :f ..., :process ...}`"));
            }
        }
    }
    Ok(out)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
}

impl Reader<'_> {
    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError { line: self.line, message: format!("not valid EDN: {}", message.into()) }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Skips whitespace, commas (whitespace in EDN), `;` comments and `#_` discards.
    fn skip_blank(&mut self) {
        while let Some(c) = self.peek() {
            match c {
                b'\n' => {
                    self.line += 1;
                    self.at += 1;
                }
                b' ' | b'\t' | b'\r' | b',' => self.at += 1,
                b';' => {
                    while self.peek().is_some_and(|c| c != b'\n') {
                        self.at += 1;
                    }
                }
                _ => return,
            }
        }
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        self.skip_blank();
        let Some(c) = self.peek() else {
            return Err(self.err("the text ends inside a value"));
        };
        match c {
            b'{' => {
                self.at += 1;
                let mut map = Map::new();
                loop {
                    self.skip_blank();
                    if self.peek() == Some(b'}') {
                        self.at += 1;
                        return Ok(Value::Object(map));
                    }
                    let key = match self.value()? {
                        Value::String(s) => s,
                        other => other.to_string(),
                    };
                    self.skip_blank();
                    if self.peek() == Some(b'}') {
                        return Err(self.err(format!("map key :{key} has no value")));
                    }
                    let value = self.value()?;
                    map.insert(key, value);
                }
            }
            b'[' => self.sequence(b']'),
            b'(' => self.sequence(b')'),
            b'#' => {
                self.at += 1;
                match self.peek() {
                    Some(b'{') => self.sequence(b'}'),
                    Some(b'_') => {
                        self.at += 1;
                        self.value()?;
                        self.value()
                    }
                    _ => {
                        // A tagged literal: the tag, then the value it tags.
                        self.token();
                        self.value()
                    }
                }
            }
            b'"' => self.string(),
            b'\\' => {
                self.at += 1;
                let t = self.token();
                Ok(Value::String(if t.is_empty() { " ".to_string() } else { t.to_string() }))
            }
            b']' | b')' | b'}' => Err(self.err(format!("unexpected `{}`", c as char))),
            _ => {
                let t = self.token();
                if t.is_empty() {
                    return Err(self.err(format!("unexpected `{}`", c as char)));
                }
                Ok(atom(t))
            }
        }
    }

    fn sequence(&mut self, close: u8) -> Result<Value, ParseError> {
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.skip_blank();
            if self.peek() == Some(close) {
                self.at += 1;
                return Ok(Value::Array(items));
            }
            items.push(self.value()?);
        }
    }

    fn string(&mut self) -> Result<Value, ParseError> {
        self.at += 1;
        let mut out = String::new();
        let start_line = self.line;
        loop {
            let Some(c) = self.peek() else {
                self.line = start_line;
                return Err(self.err("a string is never closed"));
            };
            self.at += 1;
            match c {
                b'"' => return Ok(Value::String(out)),
                b'\\' => {
                    let Some(e) = self.peek() else { continue };
                    self.at += 1;
                    out.push(match e {
                        b'n' => '\n',
                        b't' => '\t',
                        b'r' => '\r',
                        other => other as char,
                    });
                }
                b'\n' => {
                    self.line += 1;
                    out.push('\n');
                }
                _ => {
                    // Copy a whole UTF-8 sequence at once.
                    let start = self.at - 1;
                    let mut end = self.at;
                    while end < self.bytes.len() && (self.bytes[end] & 0xC0) == 0x80 {
                        end += 1;
                    }
                    out.push_str(&String::from_utf8_lossy(&self.bytes[start..end]));
                    self.at = end;
                }
            }
        }
    }

    /// A run of characters up to the next delimiter.
    fn token(&mut self) -> &str {
        let start = self.at;
        while let Some(c) = self.peek() {
            if matches!(
                c,
                b' ' | b'\t' | b'\r' | b'\n' | b',' | b'{' | b'}' | b'[' | b']' | b'(' | b')' | b'"' | b';'
            ) {
                break;
            }
            self.at += 1;
        }
        std::str::from_utf8(&self.bytes[start..self.at]).unwrap_or("")
    }
}

/// A keyword, symbol, number, boolean or nil.
fn atom(t: &str) -> Value {
    match t {
        "nil" => return Value::Null,
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        _ => {}
    }
    if let Some(keyword) = t.strip_prefix(':') {
        return Value::String(keyword.to_string());
    }
    // Integers (with Clojure's optional N suffix for big ones), then floats (optional M).
    let digits = t.strip_suffix('N').unwrap_or(t);
    if let Ok(i) = digits.parse::<i64>() {
        return Value::Number(i.into());
    }
    if let Ok(u) = digits.parse::<u64>() {
        return Value::Number(u.into());
    }
    if let Some(n) = t.strip_suffix('M').unwrap_or(t).parse::<f64>().ok().and_then(Number::from_f64) {
        return Value::Number(n);
    }
    Value::String(t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jepsen_lines() {
        let text = "{:type :invoke, :f :read, :process 0, :value nil, :time 12}\n\
                    {:type :ok, :f :cas, :process 1, :value [1 2], :error #{:a}, :node \"n1\"}\n\
                    ; a comment\n\
                    {:process :nemesis, :type :info, :f :start, :value #inst \"2024-01-01\"}";
        let maps = read_maps(text).unwrap();
        assert_eq!(maps.len(), 3);
        assert_eq!(maps[0].0, 1);
        assert_eq!(maps[0].1["type"], "invoke");
        assert_eq!(maps[0].1["value"], Value::Null);
        assert_eq!(maps[0].1["time"], 12);
        assert_eq!(maps[1].1["value"], serde_json::json!([1, 2]));
        assert_eq!(maps[2].0, 4);
        assert_eq!(maps[2].1["process"], "nemesis");
    }

    #[test]
    fn reads_an_outer_vector_and_strings() {
        let text = "[{:f :append, :value \"x 0 1 y\"}\n {:f :get, :value \"a\\\"b\"}]\n";
        let maps = read_maps(text).unwrap();
        assert_eq!(maps[0].1["value"], "x 0 1 y");
        assert_eq!(maps[1].1["value"], "a\"b");
        assert_eq!(maps[1].0, 2);
    }

    #[test]
    fn errors_name_the_line() {
        let e = read_maps("{:type :invoke}\n{:type :ok, :f").unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = read_maps("{:type :invoke}\n:stray").unwrap_err();
        assert_eq!((e.line, e.message.contains("operation map")), (2, true), "{e}");
        let e = read_maps("[{:type :invoke}").unwrap_err();
        assert!(e.message.contains("never closed"), "{e}");
    }
}
