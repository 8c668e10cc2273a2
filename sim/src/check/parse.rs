//! Reading history files (JSON lines) and pairing their events into operations.
//!
//! A history file holds one event a line in the format of DESIGN.md ("History file format"). The
//! simulator writes its internal events (fills, deliveries, faults) into the same stream with
//! `"type": "internal"` or `"type": "fault"`; the checkers ignore those lines, so one file serves
//! both the timeline report and the checker. Every other line must be a well-formed client
//! event: a history that a person hands to the checker is evidence, and silently dropping a line
//! could turn a violation into a pass, so anything malformed is an error naming its line.
//!
//! [`build_ops`] turns the events into operations. Events are taken in time order (a stable
//! sort, so events with the same time keep their line order), because a file may interleave the
//! lines of independent keys in any order. The outcome rules are those of DESIGN.md: a `fail`
//! read, write or delete did not happen and is dropped; a `fail` cas observed a value other than
//! its expected one and stays as a constraint; an `info` completion or a missing one means the
//! operation may take effect once at any time after its invoke, or never, so indeterminate reads
//! (which change nothing) are dropped too.

use super::edn;
use super::value::ValueTable;
use crate::history::{ClientEvent, EventType, OpFn, OpValue};
use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

pub use super::parse_error::ParseError;

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError { line, message: message.into() }
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Outcome {
    /// It completed and took effect.
    Ok,
    /// Indeterminate (an `info` completion or none at all): it may take effect once at any time
    /// after its invoke, or never.
    Info,
    /// A cas whose comparison failed: it took place within its interval, at a moment when the
    /// register differed from the expected value, and changed nothing.
    Fail,
}

/// One operation: an invoke paired with its completion.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Op {
    pub process: u64,
    pub f: OpFn,
    pub key: String,
    /// For write, append and cas the invoke's value; for an ok read the value it returned; for
    /// a delete `Single(None)`. In a string history the numbers are ids of a [`ValueTable`].
    pub value: OpValue,
    pub outcome: Outcome,
    pub invoke_ns: u64,
    /// `None` when the operation never completed or completed with `info`: it may then take
    /// effect at any time after its invoke, or never.
    pub complete_ns: Option<u64>,
    /// The 1-based line of the invoke event.
    pub line: usize,
}

/// The two history formats `check` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// tiersim's JSON lines (DESIGN.md, "History file format").
    JsonLines,
    /// Jepsen's EDN: `{:type :invoke, :f :read, :process 0, :value nil}` maps.
    Edn,
}

impl Format {
    /// `.edn` files are EDN and `.jsonl`/`.json` files JSON lines; any other name is EDN when
    /// its first map starts with a keyword (`{:`) or the text opens a vector.
    pub fn detect(path: &Path, text: &str) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some("edn") => return Format::Edn,
            Some("jsonl" | "json" | "ndjson") => return Format::JsonLines,
            _ => {}
        }
        let start = text.trim_start();
        let after_brace = start.strip_prefix('{').map(str::trim_start);
        if start.starts_with('[') || start.starts_with('(') || after_brace.is_some_and(|r| r.starts_with(':'))
        {
            Format::Edn
        } else {
            Format::JsonLines
        }
    }
}

/// A parsed history: its operations, the table their values refer to, and how many client
/// events it held (zero means there was nothing to check).
#[derive(Clone, Debug)]
pub struct History {
    pub ops: Vec<Op>,
    pub values: ValueTable,
    pub client_events: usize,
}

/// Parses a history in either format, with integer or string values and `append`, and pairs
/// its events into operations. Errors name the line.
pub fn parse_text(text: &str, format: Format) -> Result<History, ParseError> {
    let raw = match format {
        Format::JsonLines => raw_json_events(text)?,
        Format::Edn => raw_edn_events(text)?,
    };
    let strings = raw.iter().any(|r| r.f == OpFn::Append || has_string(&r.value));
    let mut values = if strings { ValueTable::strings() } else { ValueTable::integers() };
    let mut events = Vec::with_capacity(raw.len());
    for r in raw {
        events.push((r.line, r.into_event(&mut values)?));
    }
    let client_events = events.len();
    let numbered: Vec<(usize, &ClientEvent)> = events.iter().map(|(l, e)| (*l, e)).collect();
    let ops = build_ops_numbered(&numbered, &values)?;
    Ok(History { ops, values, client_events })
}

fn has_string(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Array(items) => items.iter().any(|i| matches!(i, Value::String(_))),
        _ => false,
    }
}

/// A client event before its values are interned.
struct RawEvent {
    line: usize,
    process: u64,
    kind: EventType,
    f: OpFn,
    key: String,
    value: Value,
    time_ns: u64,
}

impl RawEvent {
    fn into_event(self, values: &mut ValueTable) -> Result<ClientEvent, ParseError> {
        let value = parse_value(&self.value, self.f, self.kind, self.line, values)?;
        Ok(ClientEvent {
            process: self.process,
            kind: self.kind,
            f: self.f,
            key: self.key,
            value,
            time_ns: self.time_ns,
        })
    }
}

/// Parses a JSON-lines history into its client events, in line order, values as integers.
///
/// Blank lines and lines whose `"type"` is `"internal"` or `"fault"` are skipped. A missing
/// `"value"` is read as `null`. Every other problem is an error naming its line.
pub fn parse_history(text: &str) -> Result<Vec<ClientEvent>, ParseError> {
    Ok(parse_history_with_lines(text)?.into_iter().map(|(_, e)| e).collect())
}

/// Like [`parse_history`], but keeps each event's 1-based line number.
pub fn parse_history_with_lines(text: &str) -> Result<Vec<(usize, ClientEvent)>, ParseError> {
    let mut values = ValueTable::integers();
    raw_json_events(text)?.into_iter().map(|r| Ok((r.line, r.into_event(&mut values)?))).collect()
}

fn raw_json_events(text: &str) -> Result<Vec<RawEvent>, ParseError> {
    let mut events = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(event) = parse_line(trimmed, line)? {
            events.push(event);
        }
    }
    Ok(events)
}

/// The shape of a well-formed client line, read without building a JSON tree (most lines are
/// like this; anything else goes the slow way, which also words the error).
#[derive(Deserialize)]
struct FastLine<'a> {
    process: u64,
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    f: Cow<'a, str>,
    #[serde(borrow)]
    key: Cow<'a, str>,
    #[serde(default)]
    value: Value,
    time: u64,
}

/// Parses one non-blank line; `Ok(None)` for the simulator's internal and fault lines.
fn parse_line(text: &str, line: usize) -> Result<Option<RawEvent>, ParseError> {
    if let Ok(fast) = serde_json::from_str::<FastLine>(text) {
        let Some(kind) = event_type(&fast.kind, line)? else { return Ok(None) };
        let f = op_fn(&fast.f, line)?;
        return Ok(Some(RawEvent {
            line,
            process: fast.process,
            kind,
            f,
            key: fast.key.into_owned(),
            value: fast.value,
            time_ns: fast.time,
        }));
    }
    let parsed: Value = serde_json::from_str(text).map_err(|e| {
        // serde_json appends "at line 1 column N"; inside one line only the column matters.
        let full = e.to_string();
        let what = full.split(" at line ").next().unwrap_or(&full).to_string();
        err(line, format!("not valid JSON: {what} (column {})", e.column()))
    })?;
    let Value::Object(obj) = parsed else {
        return Err(err(line, "expected a JSON object"));
    };
    let field = |name: &str| -> Result<&Value, ParseError> {
        obj.get(name).ok_or_else(|| err(line, format!("missing field \"{name}\"")))
    };
    let string_field = |name: &str| -> Result<&str, ParseError> {
        field(name)?.as_str().ok_or_else(|| err(line, format!("field \"{name}\" must be a string")))
    };
    let u64_field = |name: &str| -> Result<u64, ParseError> {
        field(name)?
            .as_u64()
            .ok_or_else(|| err(line, format!("field \"{name}\" must be a non-negative integer")))
    };
    let Some(kind) = event_type(string_field("type")?, line)? else { return Ok(None) };
    let f = op_fn(string_field("f")?, line)?;
    let process = u64_field("process")?;
    let key = string_field("key")?.to_string();
    let time_ns = u64_field("time")?;
    let value = obj.get("value").cloned().unwrap_or(Value::Null);
    Ok(Some(RawEvent { line, process, kind, f, key, value, time_ns }))
}

/// The event type; `None` for the simulator's internal and fault lines.
fn event_type(name: &str, line: usize) -> Result<Option<EventType>, ParseError> {
    Ok(Some(match name {
        "internal" | "fault" => return Ok(None),
        "invoke" => EventType::Invoke,
        "ok" => EventType::Ok,
        "fail" => EventType::Fail,
        "info" => EventType::Info,
        other => {
            return Err(err(line, format!("unknown type \"{other}\" (expected invoke, ok, fail or info)")))
        }
    }))
}

/// The operation; Porcupine's key-value names `get` and `put` are read and write.
fn op_fn(name: &str, line: usize) -> Result<OpFn, ParseError> {
    Ok(match name {
        "read" | "get" => OpFn::Read,
        "write" | "put" => OpFn::Write,
        "delete" => OpFn::Delete,
        "cas" => OpFn::Cas,
        "append" => OpFn::Append,
        other => {
            return Err(err(
                line,
                format!("unknown f \"{other}\" (expected read, write, delete, cas or append; get and put are read and write)"),
            ))
        }
    })
}

/// The client events of an EDN history. Events of the `:nemesis` process (fault injection)
/// are skipped like the simulator's fault lines. Times come from `:time` when every event has
/// one, and are the events' order otherwise (Jepsen writes events in real-time order).
fn raw_edn_events(text: &str) -> Result<Vec<RawEvent>, ParseError> {
    let maps = edn::read_maps(text)?;
    let mut events = Vec::with_capacity(maps.len());
    let mut all_timed = true;
    for (line, map) in maps {
        let field = |name: &str| -> Result<&Value, ParseError> {
            map.get(name).ok_or_else(|| err(line, format!("missing :{name}")))
        };
        let process = match field("process")? {
            Value::String(s) if s == "nemesis" => continue,
            v => v.as_u64().ok_or_else(|| {
                err(
                    line,
                    format!(":process {v} must be a non-negative integer (or :nemesis, which is skipped)"),
                )
            })?,
        };
        let name = |name: &str| -> Result<&str, ParseError> {
            field(name)?.as_str().ok_or_else(|| err(line, format!(":{name} must be a keyword")))
        };
        let Some(kind) = event_type(name("type")?, line)? else { continue };
        let f = op_fn(name("f")?, line)?;
        let key = match map.get("key") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(other) => return Err(err(line, format!(":key {other} must be a string or an integer"))),
        };
        let time = match map.get("time") {
            Some(t) => Some(
                t.as_u64().ok_or_else(|| err(line, format!(":time {t} must be a non-negative integer")))?,
            ),
            None => None,
        };
        all_timed &= time.is_some();
        let value = map.get("value").cloned().unwrap_or(Value::Null);
        events.push(RawEvent { line, process, kind, f, key, value, time_ns: time.unwrap_or(0) });
    }
    if !all_timed {
        for (i, e) in events.iter_mut().enumerate() {
            e.time_ns = i as u64;
        }
    }
    Ok(events)
}

fn register_value(v: &Value, line: usize, values: &mut ValueTable) -> Result<Option<i64>, ParseError> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) if values.is_strings() => Ok(values.intern(&n.to_string())),
        Value::Number(n) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| err(line, format!("value {n} is not an integer that fits in 64 bits"))),
        Value::String(s) if values.is_strings() => Ok(values.intern(s)),
        other if values.is_strings() => {
            Err(err(line, format!("value {other} must be a string, an integer or null")))
        }
        other => Err(err(line, format!("value {other} must be an integer or null"))),
    }
}

/// Reads the `value` field. A cas invoke needs `[expected, new]`; a completion of a write,
/// append or cas may leave its value out (`null`; Jepsen often does), and [`build_ops`] checks
/// any value it does give against the invoke's; a read's value must be a single value.
fn parse_value(
    v: &Value,
    f: OpFn,
    kind: EventType,
    line: usize,
    values: &mut ValueTable,
) -> Result<OpValue, ParseError> {
    let mut pair = |items: &Vec<Value>| -> Result<OpValue, ParseError> {
        if items.len() != 2 {
            return Err(err(
                line,
                format!("cas value must be [expected, new], found {} elements", items.len()),
            ));
        }
        Ok(OpValue::Cas(register_value(&items[0], line, values)?, register_value(&items[1], line, values)?))
    };
    match (f, kind, v) {
        (OpFn::Cas, EventType::Invoke, Value::Array(items)) => pair(items),
        (OpFn::Cas, EventType::Invoke, _) => Err(err(line, "cas invoke needs a value [expected, new]")),
        (OpFn::Cas, _, Value::Array(items)) => pair(items),
        (OpFn::Cas | OpFn::Write | OpFn::Append, _, _) if kind != EventType::Invoke => {
            // A completion's value only has to agree with its invoke's; keep it when well formed.
            Ok(OpValue::Single(register_value(v, line, values).unwrap_or(None)))
        }
        (_, _, Value::Array(_)) => {
            Err(err(line, format!("a {} value must be a single value, not a list", f.name())))
        }
        _ => Ok(OpValue::Single(register_value(v, line, values)?)),
    }
}

fn type_name(kind: EventType) -> &'static str {
    match kind {
        EventType::Invoke => "invoke",
        EventType::Ok => "ok",
        EventType::Fail => "fail",
        EventType::Info => "info",
    }
}

/// Pairs invokes with completions per process, numbering events by their position in
/// `events` (1-based, as if each event were a line of its own).
pub fn build_ops(events: &[ClientEvent]) -> Result<Vec<Op>, ParseError> {
    let numbered: Vec<(usize, &ClientEvent)> = events.iter().enumerate().map(|(i, e)| (i + 1, e)).collect();
    build_ops_numbered(&numbered, &ValueTable::integers())
}

/// Pairs events that carry their own line numbers (from [`parse_history_with_lines`]), so
/// errors name the line in the original file.
pub fn build_ops_from_lines(events: &[(usize, ClientEvent)]) -> Result<Vec<Op>, ParseError> {
    let numbered: Vec<(usize, &ClientEvent)> = events.iter().map(|(l, e)| (*l, e)).collect();
    build_ops_numbered(&numbered, &ValueTable::integers())
}

/// Parses a history text and pairs its events: [`parse_history`] then [`build_ops`], with
/// errors naming lines of `text`.
pub fn parse_ops(text: &str) -> Result<Vec<Op>, ParseError> {
    build_ops_from_lines(&parse_history_with_lines(text)?)
}

fn build_ops_numbered(events: &[(usize, &ClientEvent)], values: &ValueTable) -> Result<Vec<Op>, ParseError> {
    let mut order: Vec<&(usize, &ClientEvent)> = events.iter().collect();
    // Stable: events at the same instant keep their line order.
    order.sort_by_key(|(_, e)| e.time_ns);

    let mut pending: BTreeMap<u64, (usize, &ClientEvent)> = BTreeMap::new();
    let mut ops = Vec::new();
    for &&(line, event) in &order {
        if event.kind == EventType::Invoke {
            if let Some((open_line, _)) = pending.get(&event.process) {
                return Err(err(
                    line,
                    format!(
                        "invoke for process {} while its operation from line {open_line} is still pending",
                        event.process
                    ),
                ));
            }
            pending.insert(event.process, (line, event));
            continue;
        }
        let Some((invoke_line, invoke)) = pending.remove(&event.process) else {
            return Err(err(
                line,
                format!(
                    "{} for process {} before any invoke of its: every completion must follow its process's invoke (a completion listed before its invoke, or an invoke missing)",
                    type_name(event.kind),
                    event.process
                ),
            ));
        };
        if invoke.f != event.f {
            return Err(err(
                line,
                format!(
                    "{} {} for process {} does not match its invoke ({} on line {invoke_line})",
                    type_name(event.kind),
                    event.f.name(),
                    event.process,
                    invoke.f.name()
                ),
            ));
        }
        if invoke.key != event.key {
            return Err(err(
                line,
                format!(
                    "{} for process {} is on key {:?} but its invoke (line {invoke_line}) is on key {:?}",
                    type_name(event.kind),
                    event.process,
                    event.key,
                    invoke.key
                ),
            ));
        }
        if event.kind == EventType::Ok
            && matches!(invoke.f, OpFn::Write | OpFn::Append | OpFn::Cas)
            && contradicts(invoke.value, event.value)
        {
            let show = |v: OpValue| match v {
                OpValue::Single(v) => values.show(v),
                OpValue::Cas(e, n) => format!("[{}, {}]", values.show(e), values.show(n)),
            };
            return Err(err(
                line,
                format!(
                    "ok {} for process {} has value {} but its invoke on line {invoke_line} has {} \
                     (an ok repeats its invoke's value or leaves it null)",
                    event.f.name(),
                    event.process,
                    show(event.value),
                    show(invoke.value)
                ),
            ));
        }
        if let Some(op) = pair(invoke_line, invoke, Some(event)) {
            ops.push(op);
        }
    }
    // Invokes that never completed are indeterminate.
    for (line, invoke) in pending.into_values() {
        if let Some(op) = pair(line, invoke, None) {
            ops.push(op);
        }
    }
    ops.sort_by_key(|op| (op.invoke_ns, op.line));
    Ok(ops)
}

/// Whether an `ok` completion's value contradicts its invoke: for a write, append or cas it
/// must repeat the invoke's value, or leave it out (`null`).
fn contradicts(invoke: OpValue, ok: OpValue) -> bool {
    match (invoke, ok) {
        (_, OpValue::Single(None)) => false,
        (OpValue::Single(_), OpValue::Cas(..)) => true,
        (a, b) => a != b,
    }
}

/// Makes the operation for an invoke and its completion (`None`: never completed), or `None`
/// when the operation imposes no constraint at all.
fn pair(line: usize, invoke: &ClientEvent, completion: Option<&ClientEvent>) -> Option<Op> {
    // Cache administration (tag invalidation, warming) has no register effect.
    if !invoke.f.is_register_op() {
        return None;
    }
    let kind = completion.map_or(EventType::Info, |c| c.kind);
    let (outcome, value, complete_ns) = match (kind, invoke.f) {
        (EventType::Ok, OpFn::Read) => {
            let c = completion?;
            (Outcome::Ok, OpValue::Single(c.value.single()), Some(c.time_ns))
        }
        (EventType::Ok, OpFn::Delete) => (Outcome::Ok, OpValue::Single(None), completion.map(|c| c.time_ns)),
        (EventType::Ok, _) => (Outcome::Ok, invoke.value, completion.map(|c| c.time_ns)),
        // A failed cas still constrains: the register differed from `expected` at some instant.
        (EventType::Fail, OpFn::Cas) => (Outcome::Fail, invoke.value, completion.map(|c| c.time_ns)),
        // Failed reads, writes and deletes did not happen.
        (EventType::Fail, _) => return None,
        // Indeterminate reads change nothing and promise nothing.
        (_, OpFn::Read) => return None,
        (_, OpFn::Delete) => (Outcome::Info, OpValue::Single(None), None),
        _ => (Outcome::Info, invoke.value, None),
    };
    Some(Op {
        process: invoke.process,
        f: invoke.f,
        key: invoke.key.clone(),
        value,
        outcome,
        invoke_ns: invoke.time_ns,
        complete_ns,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(p: u64, t: &str, f: &str, key: &str, v: &str, time: u64) -> String {
        format!(
            r#"{{"process": {p}, "type": "{t}", "f": "{f}", "key": "{key}", "value": {v}, "time": {time}}}"#
        )
    }

    #[test]
    fn pairs_and_classifies_outcomes() {
        let text = [
            line(1, "invoke", "write", "k", "1", 0),
            line(2, "invoke", "cas", "k", "[1, 2]", 5),
            String::new(),
            r#"{"type": "internal", "what": "fill"}"#.to_string(),
            line(1, "ok", "write", "k", "1", 10),
            line(2, "fail", "cas", "k", "[1, 2]", 20),
            line(3, "invoke", "read", "k", "null", 30),
            line(3, "fail", "read", "k", "null", 40),
            line(4, "invoke", "write", "k", "9", 50),
            line(4, "info", "write", "k", "null", 60),
            line(5, "invoke", "read", "k", "null", 70),
            line(5, "ok", "read", "k", "9", 80),
            line(6, "invoke", "delete", "k", "null", 90),
        ]
        .join("\n");
        let ops = parse_ops(&text).expect("valid history");
        let summary: Vec<(u64, Outcome, Option<u64>, usize)> =
            ops.iter().map(|o| (o.process, o.outcome, o.complete_ns, o.line)).collect();
        assert_eq!(
            summary,
            vec![
                (1, Outcome::Ok, Some(10), 1),
                (2, Outcome::Fail, Some(20), 2),
                (4, Outcome::Info, None, 9),
                (5, Outcome::Ok, Some(80), 11),
                (6, Outcome::Info, None, 13),
            ]
        );
        assert_eq!(ops[1].value, OpValue::Cas(Some(1), Some(2)));
        assert_eq!(ops[2].value, OpValue::Single(Some(9)));
        assert_eq!(ops[3].value, OpValue::Single(Some(9)));
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("{not json", 1, "not valid JSON"),
            (
                r#"{"process": 1, "type": "invoke", "f": "read", "value": null, "time": 0}"#,
                1,
                "missing field \"key\"",
            ),
            (
                r#"{"process": 1, "type": "begin", "f": "read", "key": "k", "time": 0}"#,
                1,
                "unknown type \"begin\"",
            ),
            (
                r#"{"process": 1, "type": "invoke", "f": "cas", "key": "k", "value": 3, "time": 0}"#,
                1,
                "cas invoke needs",
            ),
            (
                r#"{"process": -1, "type": "invoke", "f": "read", "key": "k", "time": 0}"#,
                1,
                "\"process\" must be a non-negative integer",
            ),
        ];
        for (text, want_line, want) in cases {
            let e = parse_history(text).expect_err(text);
            assert_eq!(e.line, want_line, "{e}");
            assert!(e.to_string().contains(want), "{e} lacks {want}");
        }
    }

    #[test]
    fn pairing_errors_name_the_line() {
        let orphan = [
            line(1, "invoke", "read", "k", "null", 0),
            line(1, "ok", "read", "k", "null", 10),
            line(3, "ok", "write", "k", "1", 20),
        ]
        .join("\n");
        let e = parse_ops(&orphan).unwrap_err();
        assert!(e.to_string().starts_with("line 3: ok for process 3 before any invoke of its"), "{e}");

        let double = [line(1, "invoke", "read", "k", "null", 0), line(1, "invoke", "read", "k", "null", 10)]
            .join("\n");
        assert_eq!(parse_ops(&double).unwrap_err().line, 2);

        let wrong_key =
            [line(1, "invoke", "read", "k", "null", 0), line(1, "ok", "read", "j", "null", 10)].join("\n");
        assert_eq!(parse_ops(&wrong_key).unwrap_err().line, 2);

        let wrong_f =
            [line(1, "invoke", "read", "k", "null", 0), line(1, "ok", "write", "k", "null", 10)].join("\n");
        assert_eq!(parse_ops(&wrong_f).unwrap_err().line, 2);
    }

    #[test]
    fn shuffled_lines_pair_in_time_order() {
        let text = [
            line(1, "ok", "write", "a", "1", 10),
            line(2, "invoke", "write", "b", "2", 3),
            line(1, "invoke", "write", "a", "1", 0),
            line(2, "ok", "write", "b", "2", 7),
        ]
        .join("\n");
        let ops = parse_ops(&text).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!((ops[0].key.as_str(), ops[0].line), ("a", 3));
        assert_eq!((ops[1].key.as_str(), ops[1].complete_ns), ("b", Some(7)));
    }

    #[test]
    fn an_ok_contradicting_its_invoke_names_both_lines() {
        let text = [line(1, "invoke", "write", "k", "1", 0), line(1, "ok", "write", "k", "2", 10)].join("\n");
        let e = parse_text(&text, Format::JsonLines).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("invoke on line 1") && e.message.contains("value 2"), "{e}");
        // Leaving the value out (null), or repeating it, is fine.
        for v in ["null", "1"] {
            let text =
                [line(1, "invoke", "write", "k", "1", 0), line(1, "ok", "write", "k", v, 10)].join("\n");
            assert_eq!(parse_text(&text, Format::JsonLines).unwrap().ops.len(), 1, "{v}");
        }
        let text =
            [line(1, "invoke", "cas", "k", "[1, 2]", 0), line(1, "ok", "cas", "k", "[1, 3]", 10)].join("\n");
        assert_eq!(parse_text(&text, Format::JsonLines).unwrap_err().line, 2);
    }

    #[test]
    fn string_values_and_append_in_edn() {
        let text = "{:process 0, :type :invoke, :f :append, :key \"4\", :value \"x 0 1 y\"}\n\
                    {:process 0, :type :ok, :f :append, :key \"4\", :value \"x 0 1 y\"}\n\
                    {:process :nemesis, :type :info, :f :start, :value nil}\n\
                    {:process 1, :type :invoke, :f :get, :key \"4\", :value nil}\n\
                    {:process 1, :type :ok, :f :get, :key \"4\", :value \"x 0 1 y\"}\n";
        let h = parse_text(text, Format::Edn).unwrap();
        assert!(h.values.is_strings());
        assert_eq!(h.client_events, 4);
        assert_eq!((h.ops[0].f, h.ops[1].f), (OpFn::Append, OpFn::Read));
        assert_eq!(h.ops[0].value, h.ops[1].value, "the same string is the same value");
        assert_eq!(h.values.show(h.ops[1].value.single()), "\"x 0 1 y\"");
        assert_eq!((h.ops[1].line, h.ops[1].invoke_ns), (4, 2), "no :time, so times are event order");
        assert_eq!(Format::detect(std::path::Path::new("h.txt"), text), Format::Edn);
        assert_eq!(
            Format::detect(std::path::Path::new("h.txt"), &line(1, "invoke", "read", "k", "null", 0)),
            Format::JsonLines
        );
    }

    #[test]
    fn json_strings_switch_the_whole_history_to_strings() {
        let text = [
            line(1, "invoke", "write", "k", "\"a\"", 0),
            line(1, "ok", "write", "k", "\"a\"", 1),
            line(2, "invoke", "write", "k", "7", 2),
            line(2, "ok", "write", "k", "7", 3),
        ]
        .join("\n");
        let h = parse_text(&text, Format::JsonLines).unwrap();
        assert_eq!(h.values.show(h.ops[1].value.single()), "\"7\"");
        // The integer-only entry point still refuses strings, naming the line.
        assert_eq!(parse_ops(&text).unwrap_err().line, 1);
    }
}
