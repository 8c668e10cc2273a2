//! General linearizability checking of register histories (Wing-Gong-Lowe search).
//!
//! The checker decides whether a history of reads, writes, deletes, compare-and-sets and
//! appends on registers (one per key, initially absent) is linearizable, without knowing the
//! order in which the system committed the writes. It is the checker for histories recorded
//! outside the simulator (`tiersim check`, the peer histories); runs inside the simulator know
//! the commit order and use the polynomial fast path instead.
//!
//! Linearizability is compositional, so the history is split by key and each key is checked on
//! its own (in parallel when asked). Each key's history is then cut at its quiescent points:
//! instants before which every operation has completed and after which every operation is yet
//! to be invoked. Every linearization linearizes all of one side before any of the other, so
//! the only thing that crosses a cut is the register's value: each stretch between cuts is
//! searched from the set of values the previous stretch can end with, and the memory a search
//! holds is that of one stretch (the frontier), not of the whole history. A sequential history
//! of a million operations is a million one-operation stretches.
//!
//! A key whose written values are all distinct (no deletes, no cas, no append) is decided by
//! the zone check of [`super::zones`] in O(n log n), whatever its length. Any other key gets Lowe's
//! just-in-time refinement of the Wing-Gong algorithm: the invocation and completion events are
//! kept in time order in a doubly linked list; the search walks the list, tries to linearize
//! each operation whose invocation it meets (lifting its events out of the list when the
//! register model allows it) and backtracks when it meets the completion of an operation it has
//! not yet linearized. Every (set of linearized operations, register value) pair reached is
//! remembered, so no configuration is explored twice; the set is a bitset whose hash is kept
//! incrementally (Zobrist hashing), and the remembered bitsets live in one flat arena, so a
//! visited state costs a few words. The search is an explicit loop with its own stack, so long
//! histories cannot overflow the thread's stack. A stretch followed by a cut is searched to
//! exhaustion for the values it can end with; the last one stops at its first linearization.
//!
//! Indeterminate operations (`info`, or never completed) have no completion event: nothing has
//! to follow them, and the search succeeds once every operation that did complete has been
//! linearized, so each of them is free to take effect at any point after its invoke, or never.
//! A failed cas must be linearized inside its interval at a moment when the register differs
//! from its expected value (as Porcupine's etcd model does).
//!
//! The problem is NP-complete in general, so every search runs under a [`Budget`] and answers
//! `Unknown` rather than hang or exhaust memory. The default budget counts states, so the
//! verdict does not depend on the machine's speed; a wall-clock limit can be added for
//! interactive use (this code runs outside the simulation, so reading the real clock is fine).
//!
//! Every linearizable key comes with a witness, a linearization order. When a key is not
//! linearizable, the report names a small window of operations that forms the contradiction:
//! the shortest prefix of the key's history (cut at an event time, operations completing after
//! the cut treated as still pending) that is not linearizable ends at the completion of one
//! operation, the culprit; the window is the culprit, the operations concurrent with it, the
//! ones immediately preceding it, and the latest writer of the value it observed. The longest
//! linearizable prefix's order is the partial linearization, and the operations completing at
//! the failing cut are the ones that cannot be placed after it.
//!
//! Δ-atomicity (the smallest Δ for which moving every read's invoke back by Δ makes a key
//! linearizable) is monotone in Δ, and the answer is one of the finitely many gaps between a
//! read's invoke and an earlier completion. Only keys that are not linearizable are searched,
//! by galloping up the sorted gaps from the smallest (small shifts keep the search as cheap as
//! the original check) and then bisecting the last bracket.

use super::parallel::parallel_map;
use super::parse::{Op, Outcome};
use super::value::ValueTable;
use super::zones::{self, ZoneOp, Zones};
use crate::history::{OpFn, OpValue};
use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::time::{Duration, Instant};

/// How much work one check may do before it answers `Unknown`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Budget {
    /// The most distinct search states (linearized set, register value) the search of one
    /// stretch of one key (between quiescent points) may visit. Memory grows with it: about
    /// `8 * ceil(ops / 64) + 24` bytes a state, ops counted in the stretch.
    pub max_states: u64,
    /// An optional wall-clock limit for a whole call (all keys together). `None` keeps the
    /// verdict independent of the machine's speed.
    pub max_wall: Option<Duration>,
}

impl Default for Budget {
    /// Two million states per stretch and no wall-clock limit: far beyond what any realistic
    /// history needs (the etcd peer histories need a few thousand), and a few hundred megabytes
    /// at most.
    fn default() -> Self {
        Budget { max_states: 2_000_000, max_wall: None }
    }
}

/// The remembered states of one search may use at most this much memory, whatever the
/// budget says, so a huge key fails with `Unknown` instead of taking the machine down.
const MAX_MEMO_BYTES: usize = 1 << 30;

/// The verdict for one key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyVerdict {
    Linearizable,
    NotLinearizable {
        /// The operations that form the contradiction, in invoke order.
        window: Vec<Op>,
        /// The invoke time of the operation that cannot be placed.
        time_ns: u64,
        /// One readable sentence saying what cannot be placed.
        message: String,
    },
    /// The search ran out of budget (or the operations were malformed) before deciding.
    Unknown {
        /// Why, and how far the search got.
        reason: String,
    },
}

/// One key's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyResult {
    pub key: String,
    pub verdict: KeyVerdict,
    /// Indices into the checked operations. For a linearizable key, a linearization of every
    /// operation that took effect, in order (indeterminate operations that need not take effect
    /// are left out); for a violated key, a linearization of its longest linearizable prefix;
    /// empty when unknown.
    pub witness: Vec<usize>,
    /// For a violated key, the operations that cannot be placed after the partial
    /// linearization (indices into the checked operations).
    pub unplaced: Vec<usize>,
}

/// The verdicts for every key of a history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// Distinct keys checked.
    pub keys: usize,
    /// Operations given to the checker.
    pub ops: usize,
    /// One result per key, sorted by key.
    pub results: Vec<KeyResult>,
}

impl CheckReport {
    /// `Some(true)` when every key is linearizable, `Some(false)` when any key is not, and
    /// `None` when some key is undecided and none is known to be violated.
    pub fn ok(&self) -> Option<bool> {
        let mut unknown = false;
        for r in &self.results {
            match r.verdict {
                KeyVerdict::NotLinearizable { .. } => return Some(false),
                KeyVerdict::Unknown { .. } => unknown = true,
                KeyVerdict::Linearizable => {}
            }
        }
        if unknown {
            None
        } else {
            Some(true)
        }
    }

    /// The violated keys' results.
    pub fn violations(&self) -> impl Iterator<Item = &KeyResult> {
        self.results.iter().filter(|r| matches!(r.verdict, KeyVerdict::NotLinearizable { .. }))
    }
}

/// Checks a history of integer registers for linearizability, key by key.
pub fn check_ops(ops: &[Op], budget: &Budget) -> CheckReport {
    check_history(ops, &ValueTable::integers(), budget, 1)
}

/// Checks a history whose values refer to `values`, key by key, `jobs` keys at a time.
pub fn check_history(ops: &[Op], values: &ValueTable, budget: &Budget, jobs: usize) -> CheckReport {
    let limits = Limits::new(budget);
    let by_key: Vec<(&str, Vec<usize>)> = partition(ops).into_iter().collect();
    let results = parallel_map(&by_key, jobs, |(key, indices)| {
        let key_ops: Vec<&Op> = indices.iter().map(|&i| &ops[i]).collect();
        let mut values = values.clone();
        let (verdict, witness, unplaced) = check_key(&key_ops, &limits, &mut values);
        let global = |local: Vec<usize>| local.into_iter().map(|k| indices[k]).collect();
        KeyResult { key: (*key).to_string(), verdict, witness: global(witness), unplaced: global(unplaced) }
    });
    CheckReport { keys: by_key.len(), ops: ops.len(), results }
}

/// The smallest Δ (ns) for which the history is Δ-atomic: moving every read's invoke back by
/// Δ makes every key linearizable. `Some(0)` for a linearizable history; `None` when the budget
/// ran out or no Δ helps (a read returned a value that was never written, or one written only
/// after the read completed).
pub fn min_delta_ns(ops: &[Op], budget: &Budget) -> Option<u64> {
    let report = check_ops(ops, budget);
    delta_for_report(ops, &ValueTable::integers(), &report, budget, 1)
}

/// [`min_delta_ns`] reusing a report of the same operations: linearizable keys need Δ = 0 and
/// are not searched again; the others are searched `jobs` at a time.
pub fn delta_for_report(
    ops: &[Op],
    values: &ValueTable,
    report: &CheckReport,
    budget: &Budget,
    jobs: usize,
) -> Option<u64> {
    if report.results.iter().any(|r| matches!(r.verdict, KeyVerdict::Unknown { .. })) {
        return None; // an undecided key has no Δ either
    }
    let limits = Limits::new(budget);
    let by_key = partition(ops);
    let todo: Vec<&Vec<usize>> = report
        .results
        .iter()
        .filter(|r| matches!(r.verdict, KeyVerdict::NotLinearizable { .. }))
        .filter_map(|r| by_key.get(r.key.as_str()))
        .collect();
    let deltas = parallel_map(&todo, jobs, |indices| {
        let key_ops: Vec<&Op> = indices.iter().map(|&i| &ops[i]).collect();
        key_min_delta_ns(&key_ops, &limits, &mut values.clone())
    });
    deltas.into_iter().try_fold(0, |worst, d| Some(worst.max(d?)))
}

/// Groups operation indices by key, each group in invoke order (the order the checker, and the
/// page of `check --html`, read a key in).
pub fn partition(ops: &[Op]) -> BTreeMap<&str, Vec<usize>> {
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, op) in ops.iter().enumerate() {
        by_key.entry(op.key.as_str()).or_default().push(i);
    }
    for indices in by_key.values_mut() {
        indices.sort_by_key(|&i| (ops[i].invoke_ns, ops[i].line));
    }
    by_key
}

/// A budget turned into limits for the searches of one call.
struct Limits {
    max_states: u64,
    deadline: Option<Instant>,
    max_wall: Option<Duration>,
}

impl Limits {
    /// The wall clock is read here on purpose: this checker runs outside any simulation (on
    /// histories recorded elsewhere, by `tiersim check`), and only when a caller asks for a
    /// wall-clock budget; the default budget counts states, so verdicts never depend on speed.
    fn new(budget: &Budget) -> Self {
        Limits {
            max_states: budget.max_states,
            deadline: budget.max_wall.map(|d| Instant::now() + d),
            max_wall: budget.max_wall,
        }
    }

    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }
}

/// What an operation does to the register when it is linearized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    /// Requires the register to hold this value.
    Read(Option<i64>),
    /// Sets the register (a delete sets it absent).
    Write(Option<i64>),
    /// Requires the register to hold `expected`, then sets `new`.
    Cas(Option<i64>, Option<i64>),
    /// Requires the register to differ from `expected`; changes nothing.
    CasFails(Option<i64>),
    /// Concatenates onto the (string) register.
    Append(Option<i64>),
}

impl Effect {
    /// Whether the operation only observes the register (it never changes it).
    fn observes_only(self) -> bool {
        matches!(self, Effect::Read(_) | Effect::CasFails(_))
    }

    /// The register after this operation, or `None` if it cannot take effect on `state`.
    fn apply(self, state: Option<i64>, values: &mut ValueTable) -> Option<Option<i64>> {
        match self {
            Effect::Read(v) => (state == v).then_some(state),
            Effect::Write(v) => Some(v),
            Effect::Cas(expected, new) => (state == expected).then_some(new),
            Effect::CasFails(expected) => (state != expected).then_some(state),
            Effect::Append(suffix) => values.append(state, suffix),
        }
    }
}

/// One operation as the search sees it.
#[derive(Clone, Copy, Debug)]
struct SearchOp {
    invoke_ns: u64,
    /// `None`: may take effect at any time after invoke, or never.
    complete_ns: Option<u64>,
    effect: Effect,
    /// Index into the key's operations.
    source: usize,
}

/// Turns a key's operations into search operations.
///
/// `cut_ns`: keep only operations invoked at or before it and treat completions after it as
/// not yet seen (the operation is pending: a read or failed cas that has not returned promises
/// nothing, anything else may or may not have taken effect). `read_shift_ns`: move every
/// read's invoke back by this much (for Δ-atomicity). Errors name an operation that cannot be
/// interpreted.
fn search_ops(ops: &[&Op], cut_ns: Option<u64>, read_shift_ns: u64) -> Result<Vec<SearchOp>, String> {
    let mut out = Vec::with_capacity(ops.len());
    for (source, op) in ops.iter().enumerate() {
        if cut_ns.is_some_and(|cut| op.invoke_ns > cut) {
            continue;
        }
        let mut complete_ns = match op.outcome {
            Outcome::Info => None,
            Outcome::Ok | Outcome::Fail => op.complete_ns,
        };
        if let (Some(cut), Some(c)) = (cut_ns, complete_ns) {
            if c > cut {
                complete_ns = None;
                if op.f == OpFn::Read || op.outcome == Outcome::Fail {
                    continue;
                }
            }
        }
        let effect = match (op.f, op.outcome, op.value) {
            // Cache administration has no register effect (build_ops drops it already).
            (OpFn::InvalidateTag | OpFn::Warm, _, _) => continue,
            (OpFn::Cas, Outcome::Fail, OpValue::Cas(expected, _)) => {
                if complete_ns.is_none() {
                    // A failed cas with no completion time had no effect and fixes no instant.
                    continue;
                }
                Effect::CasFails(expected)
            }
            (_, Outcome::Fail, _) if op.f != OpFn::Cas => continue,
            (OpFn::Cas, _, OpValue::Cas(expected, new)) => Effect::Cas(expected, new),
            (OpFn::Cas, _, OpValue::Single(_)) => {
                return Err(format!(
                    "cas by p{} on line {} has no [expected, new] value",
                    op.process, op.line
                ))
            }
            (OpFn::Read, _, _) if complete_ns.is_none() => continue,
            (OpFn::Read, _, OpValue::Single(v)) => Effect::Read(v),
            (OpFn::Write, _, OpValue::Single(v)) => Effect::Write(v),
            (OpFn::Append, _, OpValue::Single(v)) => Effect::Append(v),
            (OpFn::Delete, _, _) => Effect::Write(None),
            (OpFn::Read | OpFn::Write | OpFn::Append, _, OpValue::Cas(..)) => {
                return Err(format!("{:?} by p{} on line {} has a cas value", op.f, op.process, op.line))
            }
        };
        let invoke_ns =
            if op.f == OpFn::Read { op.invoke_ns.saturating_sub(read_shift_ns) } else { op.invoke_ns };
        out.push(SearchOp { invoke_ns, complete_ns, effect, source });
    }
    Ok(out)
}

/// The outcome of one search.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Search {
    /// With a linearization: indices into the search operations, in order.
    Linearizable(Vec<usize>),
    /// With, when the search knows it, the earliest event time at which a prefix of the
    /// operations fails: the latest completion any reachable configuration got stuck at.
    NotLinearizable(Option<u64>),
    GaveUp(String),
}
/// A hasher for keys that are already well-mixed 64-bit fingerprints.
#[derive(Default)]
struct FingerprintHasher(u64);

impl Hasher for FingerprintHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn state_fingerprint(state: Option<i64>) -> u64 {
    match state {
        None => 0x5555_5555_5555_5555,
        Some(v) => splitmix64((v as u64) ^ 0xA5A5_A5A5_0000_0001),
    }
}

/// The set of visited (linearized set, register value, last operation indeterminate) states. Bitsets are stored back to
/// back in one arena; the table maps a fingerprint to the newest state with it, and states
/// with equal fingerprints are chained.
struct Memo {
    words: usize,
    arena: Vec<u64>,
    values: Vec<(Option<i64>, bool)>,
    chain: Vec<u32>,
    table: HashMap<u64, u32, BuildHasherDefault<FingerprintHasher>>,
}

const NO_STATE: u32 = u32::MAX;

impl Memo {
    fn new(words: usize) -> Self {
        Memo { words, arena: Vec::new(), values: Vec::new(), chain: Vec::new(), table: HashMap::default() }
    }

    fn len(&self) -> usize {
        self.values.len()
    }

    fn bytes(&self) -> usize {
        self.arena.len() * 8 + self.values.len() * 24
    }

    /// Records the state; false if it was already there.
    fn insert(&mut self, fingerprint: u64, bits: &[u64], value: (Option<i64>, bool)) -> bool {
        let first = self.table.get(&fingerprint).copied().unwrap_or(NO_STATE);
        let mut at = first;
        while at != NO_STATE {
            let i = at as usize;
            if self.values[i] == value && self.arena[i * self.words..(i + 1) * self.words] == *bits {
                return false;
            }
            at = self.chain[i];
        }
        let index = self.values.len() as u32;
        self.arena.extend_from_slice(bits);
        self.values.push(value);
        self.chain.push(first);
        self.table.insert(fingerprint, index);
        true
    }
}

const NIL: usize = usize::MAX;

/// A value one stretch of the history can end with: the value it started from, and where in
/// the order arena the linearization that got there lies (stretch-local indices).
#[derive(Clone, Copy, Debug)]
struct Reached {
    end: Option<i64>,
    start: Option<i64>,
    order_at: usize,
    order_len: usize,
}

/// Decides a set of search operations: by zones when every written value is distinct, by the
/// stretch-by-stretch search otherwise.
fn search(ops: &[SearchOp], limits: &Limits, values: &mut ValueTable) -> Search {
    if let Some(found) = try_zones(ops) {
        return found;
    }
    stretches(ops, limits, values)
}

fn try_zones(ops: &[SearchOp]) -> Option<Search> {
    let mut z = Vec::with_capacity(ops.len());
    for o in ops {
        let (write, value) = match o.effect {
            Effect::Read(v) => (false, v),
            Effect::Write(v) => (true, v),
            _ => return None,
        };
        z.push(ZoneOp { invoke_ns: o.invoke_ns, complete_ns: o.complete_ns, write, value });
    }
    if !zones::applicable(&z) {
        return None;
    }
    match zones::check(&z)? {
        Zones::Linearizable(order) => Some(Search::Linearizable(order)),
        Zones::NotLinearizable => Some(Search::NotLinearizable(None)),
    }
}

/// Cuts the operations at quiescent points and searches stretch by stretch, carrying the set of
/// values each stretch can end with into the next.
fn stretches(ops: &[SearchOp], limits: &Limits, values: &mut ValueTable) -> Search {
    let n = ops.len();
    if n == 0 {
        return Search::Linearizable(Vec::new());
    }
    let mut by_invoke: Vec<usize> = (0..n).collect();
    by_invoke.sort_by_key(|&i| (ops[i].invoke_ns, i));
    // A cut before the k-th invocation when everything invoked before it completed strictly
    // before it (an indeterminate operation never completes, so nothing after it is cut).
    let mut bounds = vec![0];
    let mut latest_done_ns = 0u64;
    for k in 1..n {
        let before = &ops[by_invoke[k - 1]];
        latest_done_ns = latest_done_ns.max(before.complete_ns.map_or(u64::MAX, |c| c.max(before.invoke_ns)));
        if latest_done_ns < ops[by_invoke[k]].invoke_ns {
            bounds.push(k);
        }
    }
    bounds.push(n);
    let count = bounds.len() - 1;

    // Each stretch is first searched for one end value; only when a later stretch cannot go on
    // from the values it was given is the latest such stretch searched again for all of them
    // (`all`), so a linearizable history costs one first-success search per stretch. A
    // one-operation stretch always yields all its end values.
    let single: Vec<bool> = (0..count).map(|s| bounds[s + 1] - bounds[s] == 1).collect();
    let mut all = single.clone();
    let mut starts_of: Vec<Vec<Option<i64>>> = vec![Vec::new(); count];
    starts_of[0].push(None);
    let mut reached: Vec<Reached> = Vec::new();
    let mut reached_at: Vec<usize> = vec![0; count + 1];
    let mut orders_at: Vec<usize> = vec![0; count + 1];
    let mut orders: Vec<u32> = Vec::new();
    let mut stretch_ops: Vec<SearchOp> = Vec::new();
    let mut later_ops: Vec<SearchOp> = Vec::new();
    let mut stuck_ns = 0u64;
    let mut s = 0;
    let mut rounds = 0u64;
    while s < count {
        rounds += 1;
        if rounds & 0xFFF == 0xFFF && limits.out_of_time() {
            return Search::GaveUp(format!(
                "wall-clock limit of {} reached; the first {} of {n} operations are linearizable",
                show_duration(limits.max_wall),
                bounds[s]
            ));
        }
        let first = reached_at[s];
        reached.truncate(first);
        orders.truncate(orders_at[s]);
        if single[s] {
            // One operation alone: apply it to every value the register may hold.
            let op = ops[by_invoke[bounds[s]]];
            stuck_ns = op.complete_ns.unwrap_or(op.invoke_ns).max(op.invoke_ns);
            for &start in &starts_of[s] {
                if op.complete_ns.is_none() {
                    // Indeterminate, so in the last stretch: it may simply never take effect.
                    reached.push(Reached { end: start, start, order_at: orders.len(), order_len: 0 });
                    break;
                }
                if let Some(end) = op.effect.apply(start, values) {
                    if !reached[first..].iter().any(|r| r.end == end) {
                        orders.push(0);
                        reached.push(Reached { end, start, order_at: orders.len() - 1, order_len: 1 });
                    }
                }
            }
        } else {
            stretch_ops.clear();
            stretch_ops.extend(by_invoke[bounds[s]..bounds[s + 1]].iter().map(|&i| ops[i]));
            later_ops.clear();
            if values.is_strings() {
                later_ops.extend(by_invoke[bounds[s + 1]..].iter().take(4 * LATER_READS).map(|&i| ops[i]));
            }
            if let Err(why) = dfs(
                &stretch_ops,
                &starts_of[s],
                all[s],
                limits,
                values,
                &later_ops,
                &mut reached,
                &mut orders,
                &mut stuck_ns,
            ) {
                return Search::GaveUp(format!(
                    "{why}; the first {} of {n} operations are linearizable (the search was in \
                     a stretch of {} concurrent operations)",
                    bounds[s],
                    bounds[s + 1] - bounds[s]
                ));
            }
        }
        if reached.len() == first {
            // Stuck: widen the latest stretch that gave only one of its end values.
            match (0..s).rev().find(|&k| !all[k]) {
                None => return Search::NotLinearizable(Some(stuck_ns)),
                Some(k) => {
                    all[k] = true;
                    s = k;
                    continue;
                }
            }
        }
        reached_at[s + 1] = reached.len();
        orders_at[s + 1] = orders.len();
        if s + 1 < count {
            let ends: Vec<Option<i64>> = reached[first..].iter().map(|r| r.end).collect();
            starts_of[s + 1] = ends;
        }
        s += 1;
    }

    // The witness, from the last stretch back: each stretch's linearization must end with the
    // value the next one started from.
    let mut pieces: Vec<(usize, Reached)> = Vec::with_capacity(count);
    let mut want = reached[reached_at[count - 1]];
    debug_assert_eq!(reached_at[count], reached.len());
    pieces.push((count - 1, want));
    for s in (0..count - 1).rev() {
        let found = reached[reached_at[s]..reached_at[s + 1]]
            .iter()
            .find(|r| r.end == want.start)
            .copied()
            .expect("a stretch started from a value its predecessor reached");
        pieces.push((s, found));
        want = found;
    }
    let mut order = Vec::with_capacity(n);
    for (s, r) in pieces.into_iter().rev() {
        order.extend(
            orders[r.order_at..r.order_at + r.order_len].iter().map(|&k| by_invoke[bounds[s] + k as usize]),
        );
    }
    Search::Linearizable(order)
}

fn show_duration(d: Option<Duration>) -> String {
    d.map_or_else(|| "none".to_string(), |d| format!("{:.3}s", d.as_secs_f64()))
}

/// Lowe's just-in-time linearization search over one stretch, from each value in `starts`.
/// Records each distinct end value reached (with its start and order) in `reached`: all of
/// them when `enumerate`, else the first. `stuck_ns` is set to the latest completion time at
/// which a configuration could not go on (the first completion in the list of an operation
/// not yet linearized): when nothing is reached, the prefix of the stretch up to that time is
/// the shortest that fails, because every configuration of a shorter one got past it. Errors
/// say why the search gave up.
#[allow(clippy::too_many_arguments)]
fn dfs(
    ops: &[SearchOp],
    starts: &[Option<i64>],
    enumerate: bool,
    limits: &Limits,
    values: &mut ValueTable,
    later: &[SearchOp],
    reached: &mut Vec<Reached>,
    orders: &mut Vec<u32>,
    stuck_ns: &mut u64,
) -> Result<(), String> {
    *stuck_ns = 0;
    let first = reached.len();
    let n = ops.len();
    // The events, in time order; at equal times invocations come first, because an operation
    // precedes another only when it completed strictly before the other was invoked.
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.invoke_ns, false, i));
        if let Some(c) = op.complete_ns {
            events.push((c.max(op.invoke_ns), true, i));
        }
    }
    events.sort_unstable();
    let m = events.len();
    let head = m;
    let mut next = vec![NIL; m + 1];
    let mut prev = vec![NIL; m + 1];
    let mut call_node = vec![NIL; n];
    let mut ret_node = vec![NIL; n];
    let mut is_return = vec![false; m];
    let mut op_of = vec![0usize; m];
    let mut last = head;
    for (node, &(_, ret, op)) in events.iter().enumerate() {
        is_return[node] = ret;
        op_of[node] = op;
        if ret {
            ret_node[op] = node;
        } else {
            call_node[op] = node;
        }
        next[last] = node;
        prev[node] = last;
        last = node;
    }

    // Indeterminate operations with the same effect are interchangeable once the search has
    // passed their invocations: none of them has a completion to respect, so which of them took
    // effect does not matter, only how many. The remembered set marks, for each such class, the
    // earliest-invoked ones as many times as the class has been used (its members are invoked
    // in list order, and the used ones are always among those already passed), so states that
    // differ only in which member was used are one state. Without this, a history with many
    // timed-out writes explores every subset of them.
    let mut class_of: Vec<usize> = vec![NIL; n];
    let mut members: Vec<Vec<usize>> = Vec::new();
    {
        let mut indeterminate: Vec<usize> = (0..n).filter(|&i| ops[i].complete_ns.is_none()).collect();
        indeterminate.sort_by_key(|&i| (ops[i].invoke_ns, i));
        let mut effects: Vec<Effect> = Vec::new();
        for i in indeterminate {
            let c = match effects.iter().position(|&e| e == ops[i].effect) {
                Some(c) => c,
                None => {
                    effects.push(ops[i].effect);
                    members.push(Vec::new());
                    effects.len() - 1
                }
            };
            class_of[i] = c;
            members[c].push(i);
        }
    }
    let mut used: Vec<usize> = vec![0; members.len()];
    // The bit that stands for operation `i` when it is linearized next (or was last).
    let canonical = |i: usize, used: &[usize]| match class_of[i] {
        NIL => i,
        c => members[c][used[c]],
    };
    let reachable = Reachable::new(ops, later, values);
    let zobrist: Vec<u64> = (0..n as u64).map(|i| splitmix64(i ^ 0x1234_5678)).collect();
    let words = n.div_ceil(64).max(1);
    let mut bits = vec![0u64; words];
    let mut memo = Memo::new(words);
    let max_states = limits.max_states.min(u64::from(NO_STATE - 1));
    let must_total = ops.iter().filter(|o| o.complete_ns.is_some()).count();
    // (operation, register before it, whether it was forced): see `fresh` below.
    let mut stack: Vec<(usize, Option<i64>, bool)> = Vec::new();
    let mut steps: u64 = 0;

    for &start in starts {
        // Every run ends with its stack empty and every event back in the list.
        bits.fill(0);
        let mut bits_fp = 0u64;
        let mut state = start;
        let mut must_remaining = must_total;
        let mut cur = next[head];
        // Whether the search has just reached a new configuration. An observer (a read, or a
        // failed cas) that may take effect in it is then linearized at once, and nothing else
        // is tried there: it leaves the register as it is, every operation that completed
        // before its invoke is already linearized (the walk has passed its invocation), so any
        // linearization from here that places it later stays one with it moved here. Only
        // when none may is each candidate tried in turn; backtracking over a forced observer
        // goes straight on to the choice before it.
        let mut fresh = true;
        'search: loop {
            if must_remaining == 0 {
                if !reached[first..].iter().any(|r| r.end == state) {
                    let order_at = orders.len();
                    orders.extend(stack.iter().map(|&(i, _, _)| i as u32));
                    reached.push(Reached { end: state, start, order_at, order_len: stack.len() });
                }
                if !enumerate {
                    return Ok(());
                }
                // Everything is linearized (a stretch followed by a cut has no indeterminate
                // operations), so the list is empty and the search backtracks below.
            }
            steps += 1;
            if steps & 0xFFF == 0 && limits.out_of_time() {
                return Err(format!(
                    "wall-clock limit of {} reached after {} states",
                    show_duration(limits.max_wall),
                    memo.len()
                ));
            }
            let mut candidate = None;
            let mut forced = false;
            if std::mem::take(&mut fresh) {
                let mut node = next[head];
                while node != NIL && !is_return[node] {
                    let i = op_of[node];
                    if ops[i].effect.observes_only() && ops[i].effect.apply(state, values).is_some() {
                        candidate = Some(i);
                        forced = true;
                        break;
                    }
                    node = next[node];
                }
            }
            if candidate.is_none() && cur != NIL && !is_return[cur] {
                candidate = Some(op_of[cur]);
            }
            if let Some(i) = candidate {
                let applied = ops[i].effect.apply(state, values).filter(|&new_state| {
                    // Two prunings for indeterminate operations, which may also never take
                    // effect: one that leaves the register as it is changes nothing, and a
                    // write or delete right after another indeterminate operation hides that
                    // operation's effect from everyone; both states are reached more cheaply
                    // by leaving the earlier one out.
                    let indeterminate = ops[i].complete_ns.is_none();
                    let after_indeterminate =
                        stack.last().is_some_and(|&(j, _, _)| ops[j].complete_ns.is_none());
                    !(indeterminate
                        && (new_state == state
                            || (after_indeterminate && matches!(ops[i].effect, Effect::Write(_)))))
                });
                // A string register that a read still to come can no longer reach is a dead
                // end; no configuration below it gets past that read's completion.
                let applied = applied.filter(|&new_state| {
                    let blocked = reachable
                        .as_ref()
                        .filter(|_| new_state != state)
                        .and_then(|r| r.blocked_by(new_state, ops, &bits, values));
                    // (A read of a later stretch completes after everything here.)
                    if let Some(read) = blocked {
                        let done_ns = ops.get(read).map_or(u64::MAX, |o| o.complete_ns.unwrap_or(0));
                        *stuck_ns = (*stuck_ns).max(done_ns);
                    }
                    blocked.is_none()
                });
                if let Some(new_state) = applied {
                    let b = canonical(i, &used);
                    bits[b / 64] |= 1 << (b % 64);
                    // The state includes whether the last operation was indeterminate, because
                    // the pruning above depends on it.
                    let last_indeterminate = ops[i].complete_ns.is_none();
                    let fp = bits_fp
                        ^ zobrist[b]
                        ^ state_fingerprint(new_state)
                        ^ if last_indeterminate { 0x0F0F_0F0F_0F0F_0F0F } else { 0 };
                    if memo.insert(fp, &bits, (new_state, last_indeterminate)) {
                        if memo.len() as u64 > max_states {
                            return Err(format!("search budget of {} states exhausted", limits.max_states));
                        }
                        if memo.bytes() > MAX_MEMO_BYTES {
                            return Err(format!(
                                "search memory limit of {} MiB reached after {} states",
                                MAX_MEMO_BYTES >> 20,
                                memo.len()
                            ));
                        }
                        bits_fp ^= zobrist[b];
                        if class_of[i] != NIL {
                            used[class_of[i]] += 1;
                        }
                        stack.push((i, state, forced));
                        state = new_state;
                        // Lift the operation's events out of the list.
                        for node in [call_node[i], ret_node[i]] {
                            if node != NIL {
                                next[prev[node]] = next[node];
                                if next[node] != NIL {
                                    prev[next[node]] = prev[node];
                                }
                            }
                        }
                        if ops[i].complete_ns.is_some() {
                            must_remaining -= 1;
                        }
                        cur = next[head];
                        fresh = true;
                        continue;
                    }
                    bits[b / 64] &= !(1 << (b % 64));
                }
                if !forced {
                    cur = next[cur];
                    continue;
                }
                // A forced observer leads to a configuration already explored, so this one
                // has nothing new either: backtrack.
            } else if cur != NIL {
                *stuck_ns = (*stuck_ns).max(events[cur].0);
            }
            // A completed operation that is not yet linearized (or the end of the list): undo
            // the latest choice (and the observers forced after it) and try the next candidate
            // after it.
            loop {
                let Some((i, old_state, was_forced)) = stack.pop() else {
                    break 'search;
                };
                if class_of[i] != NIL {
                    used[class_of[i]] -= 1;
                }
                let b = canonical(i, &used);
                bits[b / 64] &= !(1 << (b % 64));
                bits_fp ^= zobrist[b];
                state = old_state;
                // Put its events back, in the reverse order of lifting.
                for node in [ret_node[i], call_node[i]] {
                    if node != NIL {
                        next[prev[node]] = node;
                        if next[node] != NIL {
                            prev[next[node]] = node;
                        }
                    }
                }
                if ops[i].complete_ns.is_some() {
                    must_remaining += 1;
                }
                cur = next[call_node[i]];
                if !was_forced {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// The reads a string register must still be able to reach. Porcupine's key-value histories
/// append to strings, so a register's value only grows until the next put: a read of `g` can
/// follow a state `s` only if `s` is a prefix of `g`, or a put not yet linearized has a value
/// that is. Each get names the appends before it, so a search that orders concurrent appends
/// wrongly learns it at the first get that disagrees instead of exploring every order of them
/// to the end.
struct Reachable {
    /// The completed reads, in invoke order: (operation, value, the puts whose value is a
    /// prefix of it); reads of later stretches have no operation here (`NIL`) and are never
    /// linearized by this search.
    reads: Vec<(usize, Option<i64>, Vec<usize>)>,
}

/// Most reads of later stretches a stretch's search keeps in view.
const LATER_READS: usize = 256;

impl Reachable {
    /// `None` unless the operations are reads, puts and appends on strings, with an append.
    /// `later`: the operations of the stretches after this one, in invoke order; their reads
    /// that complete before a later put is invoked must be reachable too, so a stretch is not
    /// searched for end values that no later read can grow out of.
    fn new(ops: &[SearchOp], later: &[SearchOp], values: &ValueTable) -> Option<Self> {
        if !values.is_strings()
            || !ops.iter().all(|o| matches!(o.effect, Effect::Read(_) | Effect::Write(_) | Effect::Append(_)))
            || !ops.iter().any(|o| matches!(o.effect, Effect::Append(_)))
        {
            return None;
        }
        let puts: Vec<(usize, Option<i64>)> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, o)| if let Effect::Write(v) = o.effect { Some((i, v)) } else { None })
            .collect();
        let resets = |g: Option<i64>| -> Vec<usize> {
            puts.iter().filter(|&&(_, p)| values.is_prefix(p, g)).map(|&(j, _)| j).collect()
        };
        let mut reads: Vec<(usize, Option<i64>, Vec<usize>)> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, o)| match o.effect {
                Effect::Read(g) if o.complete_ns.is_some() => Some((i, g, resets(g))),
                _ => None,
            })
            .collect();
        reads.sort_by_key(|&(i, _, _)| (ops[i].invoke_ns, i));
        // A later read that completes before any later put is invoked must grow out of what
        // this stretch leaves (or out of one of its puts).
        let first_put_ns = later
            .iter()
            .find(|o| !matches!(o.effect, Effect::Read(_) | Effect::Append(_)))
            .map_or(u64::MAX, |o| o.invoke_ns);
        let later_reads = later
            .iter()
            .take_while(|o| o.invoke_ns < first_put_ns)
            .filter_map(|o| match (o.effect, o.complete_ns) {
                (Effect::Read(g), Some(done_ns)) if done_ns < first_put_ns => Some((NIL, g, resets(g))),
                _ => None,
            })
            .take(LATER_READS);
        reads.extend(later_reads);
        Some(Reachable { reads })
    }

    /// A read not yet linearized that `state` cannot grow into and no put still to come can
    /// reset towards. An indeterminate put is always counted as still to come.
    fn blocked_by(
        &self,
        state: Option<i64>,
        ops: &[SearchOp],
        bits: &[u64],
        values: &ValueTable,
    ) -> Option<usize> {
        let open = |i: usize| i == NIL || bits[i / 64] & (1 << (i % 64)) == 0;
        self.reads
            .iter()
            .find(|(i, g, resets)| {
                open(*i)
                    && !values.is_prefix(state, *g)
                    && !resets.iter().any(|&p| ops[p].complete_ns.is_none() || open(p))
            })
            .map(|&(i, _, _)| i)
    }
}

/// Decides one key: its verdict, its witness (or partial linearization) and the operations
/// that cannot be placed, as indices into the key's operations.
fn check_key(ops: &[&Op], limits: &Limits, values: &mut ValueTable) -> (KeyVerdict, Vec<usize>, Vec<usize>) {
    let full = match search_ops(ops, None, 0) {
        Ok(s) => s,
        Err(reason) => return (KeyVerdict::Unknown { reason }, Vec::new(), Vec::new()),
    };
    match search(&full, limits, values) {
        Search::Linearizable(order) => {
            (KeyVerdict::Linearizable, order.into_iter().map(|i| full[i].source).collect(), Vec::new())
        }
        Search::GaveUp(reason) => (KeyVerdict::Unknown { reason }, Vec::new(), Vec::new()),
        Search::NotLinearizable(stuck_ns) => explain(ops, limits, values, stuck_ns),
    }
}

/// Finds the shortest non-linearizable prefix and builds the window and message, the
/// partial linearization (of the longest linearizable prefix) and the unplaceable operations.
fn explain(
    ops: &[&Op],
    limits: &Limits,
    values: &mut ValueTable,
    stuck_ns: Option<u64>,
) -> (KeyVerdict, Vec<usize>, Vec<usize>) {
    // Cut points: every event time. Cutting at the last one is the whole history, which is
    // known to fail; a longer prefix only adds constraints, so failure is monotone in the cut.
    let mut times: Vec<u64> = Vec::new();
    for op in ops {
        times.push(op.invoke_ns);
        if let Some(c) = op.complete_ns {
            times.push(c);
        }
    }
    times.sort_unstable();
    times.dedup();
    let fails_at = |cut_ns: u64, values: &mut ValueTable| {
        search_ops(ops, Some(cut_ns), 0)
            .map(|s| matches!(search(&s, limits, values), Search::NotLinearizable(_)))
            .unwrap_or(false)
    };
    let (mut lo, mut hi) = (0, times.len().saturating_sub(1));
    // The full search says where it got stuck, and the prefix up to there fails: when the one
    // just shorter passes, that is the answer without bisecting (and bisecting below it
    // otherwise).
    if let Some(at) = stuck_ns.and_then(|t| times.binary_search(&t).ok()).filter(|&at| at <= hi) {
        hi = at;
        if at > 0 {
            if fails_at(times[at - 1], values) {
                hi = at - 1;
            } else {
                lo = at;
            }
        }
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if fails_at(times[mid], values) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let cut_ns = times.get(hi).copied().unwrap_or(0);
    // The longest linearizable prefix and its order.
    let partial: Vec<usize> = match hi.checked_sub(1).map(|k| times[k]) {
        Some(before_ns) => match search_ops(ops, Some(before_ns), 0) {
            Ok(s) => match search(&s, limits, values) {
                Search::Linearizable(order) => order.into_iter().map(|i| s[i].source).collect(),
                _ => Vec::new(),
            },
            Err(_) => Vec::new(),
        },
        None => Vec::new(),
    };
    let prefix = search_ops(ops, Some(cut_ns), 0).unwrap_or_default();
    // The culprit is an operation whose completion was the last straw. When several complete
    // at the cut, prefer one without which the prefix would be linearizable.
    let last_straws: Vec<usize> =
        (0..prefix.len()).filter(|&k| prefix[k].complete_ns == Some(cut_ns)).collect();
    let mut necessary = |k: usize| {
        let mut without = prefix.clone();
        without.remove(k);
        matches!(search(&without, limits, values), Search::Linearizable(_))
    };
    let culprit_at = match last_straws.as_slice() {
        [] => prefix.len().checked_sub(1),
        [only] => Some(*only),
        several => several.iter().copied().find(|&k| necessary(k)).or(Some(several[0])),
    };
    let Some(culprit_at) = culprit_at else {
        let verdict = KeyVerdict::NotLinearizable {
            window: Vec::new(),
            time_ns: 0,
            message: "no linearization exists".to_string(),
        };
        return (verdict, partial, Vec::new());
    };
    let mut unplaced: Vec<usize> = vec![prefix[culprit_at].source];
    unplaced.extend(last_straws.iter().filter(|&&k| k != culprit_at).map(|&k| prefix[k].source));
    let culprit = prefix[culprit_at];
    let c_op = ops[culprit.source];
    let c_complete_ns = culprit.complete_ns.unwrap_or(cut_ns);

    // Immediately preceding: completed before the culprit's invoke, with nothing completed
    // before the culprit's invoke starting after them.
    let done_before: Vec<&SearchOp> =
        prefix.iter().filter(|s| s.complete_ns.is_some_and(|c| c < culprit.invoke_ns)).collect();
    let latest_invoke_ns = done_before.iter().map(|s| s.invoke_ns).max();
    let mut in_window = vec![false; prefix.len()];
    in_window[culprit_at] = true;
    for (k, s) in prefix.iter().enumerate() {
        let concurrent = s.invoke_ns <= c_complete_ns && s.complete_ns.is_none_or(|c| c >= culprit.invoke_ns);
        let frontier = match (s.complete_ns, latest_invoke_ns) {
            (Some(c), Some(latest)) => c < culprit.invoke_ns && c >= latest,
            _ => false,
        };
        in_window[k] |= concurrent || frontier;
    }
    // The latest writer of the value the culprit observed, so the reader sees where it came from.
    let observed = match culprit.effect {
        Effect::Read(v) | Effect::Cas(v, _) => Some(v),
        Effect::Write(_) | Effect::CasFails(_) | Effect::Append(_) => None,
    };
    if let Some(v) = observed {
        let writer = prefix.iter().enumerate().rev().find(|(_, s)| {
            matches!(s.effect, Effect::Write(w) | Effect::Cas(_, w) if w == v) && s.invoke_ns <= c_complete_ns
        });
        if let Some((k, _)) = writer {
            in_window[k] = true;
        }
    }
    let window: Vec<Op> =
        prefix.iter().zip(&in_window).filter(|(_, &keep)| keep).map(|(s, _)| ops[s.source].clone()).collect();
    let others = prefix.len() - 1;
    let message = format!(
        "{}, but no linearization of the {} operation{} before it allows that",
        describe(c_op, values),
        others,
        if others == 1 { "" } else { "s" }
    );
    (KeyVerdict::NotLinearizable { window, time_ns: c_op.invoke_ns, message }, partial, unplaced)
}

/// A short description of an operation, e.g. `read by p3 at 12000ns returned 3`.
pub fn describe(op: &Op, values: &ValueTable) -> String {
    let show = |v: Option<i64>| values.show(v);
    let head = |what: &str| format!("{what} by p{} at {}ns", op.process, op.invoke_ns);
    match (op.f, op.outcome, op.value) {
        (OpFn::Read, _, v) => format!("{} returned {}", head("read"), show(v.single())),
        (OpFn::Write, _, v) => format!("{} of {}", head("write"), show(v.single())),
        (OpFn::Append, _, v) => format!("{} of {}", head("append"), show(v.single())),
        (OpFn::Delete, _, _) => head("delete"),
        (OpFn::Cas, Outcome::Fail, OpValue::Cas(e, _)) => {
            format!("{} failed, so the register was not {}", head("cas"), show(e))
        }
        (OpFn::Cas, _, OpValue::Cas(e, n)) => {
            format!("{} swapped {} for {}", head("cas"), show(e), show(n))
        }
        (OpFn::Cas, _, _) => head("cas"),
        (OpFn::InvalidateTag, _, _) => head("tag invalidation"),
        (OpFn::Warm, _, _) => head("warm"),
    }
}

/// The smallest Δ making one key's history linearizable, or `None` if the budget ran out or
/// no Δ helps.
fn key_min_delta_ns(ops: &[&Op], limits: &Limits, values: &mut ValueTable) -> Option<u64> {
    // A prefix of the history (operations completing after the cut left pending) that is not
    // linearizable with a shift makes the whole history fail with it, and a failure usually
    // sits early, so each probe tries growing prefixes (an eighth, a quarter, a half of the
    // event times) before the whole history: a failing probe then costs a short search.
    let mut times: Vec<u64> = ops.iter().flat_map(|o| [Some(o.invoke_ns), o.complete_ns]).flatten().collect();
    times.sort_unstable();
    times.dedup();
    let cuts: Vec<Option<u64>> = [8, 4, 2]
        .iter()
        .filter(|_| times.len() >= 64)
        .map(|&d| Some(times[times.len() / d]))
        .chain([None])
        .collect();
    let works = |shift_ns: u64, values: &mut ValueTable| -> Option<bool> {
        for &cut in &cuts {
            let s = search_ops(ops, cut, shift_ns).ok()?;
            match search(&s, limits, values) {
                Search::Linearizable(_) => {}
                Search::NotLinearizable(_) => return Some(false),
                Search::GaveUp(_) => return None,
            }
        }
        Some(true)
    };
    let base = search_ops(ops, None, 0).ok()?;
    // A read of a value that no operation invoked before the read completed could have written
    // is beyond any Δ; say so before searching with reads that float freely (the costly case).
    // (Appends build values no single operation wrote, so this is for registers only.)
    if !base.iter().any(|s| matches!(s.effect, Effect::Append(_))) {
        let unexplained = base.iter().any(|r| {
            let (Effect::Read(Some(v)), Some(done_ns)) = (r.effect, r.complete_ns) else {
                return false;
            };
            !base.iter().any(|w| {
                matches!(w.effect, Effect::Write(x) | Effect::Cas(_, x) if x == Some(v))
                    && w.invoke_ns <= done_ns
            })
        });
        if unexplained {
            return None;
        }
    }
    // Moving a read's invoke back by Δ only matters when it passes another operation's
    // completion, so the answer is one of those gaps. `gap_at_least(x)` is the smallest gap
    // ≥ x, found per read by bisecting the sorted completions, so the gaps are never listed.
    let reads: Vec<u64> =
        base.iter().filter(|s| matches!(s.effect, Effect::Read(_))).map(|s| s.invoke_ns).collect();
    let mut completions: Vec<u64> = base.iter().filter_map(|s| s.complete_ns).collect();
    completions.sort_unstable();
    let gap_at_least = |x: u64| -> Option<u64> {
        reads
            .iter()
            .filter(|&&r| r >= x)
            .filter_map(|&r| {
                let below = completions.partition_point(|&c| c <= r - x);
                below.checked_sub(1).map(|k| r - completions[k])
            })
            .min()
    };
    let (&last_read, &first_done) = (reads.iter().max()?, completions.first()?);
    if first_done >= last_read {
        return None; // no read passes any completion: no Δ changes anything
    }
    let largest = last_read - first_done;
    // Gallop up from the smallest gap: small shifts keep each search as cheap as the original.
    let mut lo = 1u64;
    let mut x = 1u64;
    let mut best = loop {
        let g = gap_at_least(x).unwrap_or(largest);
        if works(g, values)? {
            break g;
        }
        if g >= largest {
            return None;
        }
        lo = g + 1;
        x = g.saturating_mul(2).max(g + 1);
    };
    // The answer is often the gallop's last step itself, and the failing probes just below a
    // working Δ are the costliest (the wider the reads, the more states a failure must
    // exhaust), so try the largest gap below it first: if that fails, no bisection is needed.
    let gap_below = |x: u64| -> Option<u64> {
        reads
            .iter()
            .filter_map(|&r| {
                let k = completions.partition_point(|&c| c.saturating_add(x) <= r);
                completions.get(k).filter(|&&c| c < r).map(|&c| r - c)
            })
            .max()
    };
    if let Some(g) = gap_below(best).filter(|&g| g >= lo) {
        if !works(g, values)? {
            return Some(best);
        }
        best = g;
    }
    // Bisect [lo, best): the answer is the smallest gap there that works, or best.
    let mut up = best;
    while lo < up {
        let mid = lo + (up - lo) / 2;
        match gap_at_least(mid) {
            Some(g) if g < up => {
                if works(g, values)? {
                    best = g;
                    up = g;
                } else {
                    lo = g + 1;
                }
            }
            // No gap in [mid, up): the answer, if below up, is below mid.
            _ => up = mid,
        }
    }
    Some(best)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Builds operations tersely: `(process, f, value, outcome, invoke, complete)`.
    fn op(
        process: u64,
        f: OpFn,
        value: OpValue,
        outcome: Outcome,
        invoke_ns: u64,
        complete_ns: Option<u64>,
    ) -> Op {
        Op { process, f, key: "k".to_string(), value, outcome, invoke_ns, complete_ns, line: 0 }
    }
    fn w(p: u64, v: i64, inv: u64, comp: u64) -> Op {
        op(p, OpFn::Write, OpValue::Single(Some(v)), Outcome::Ok, inv, Some(comp))
    }
    fn w_info(p: u64, v: i64, inv: u64) -> Op {
        op(p, OpFn::Write, OpValue::Single(Some(v)), Outcome::Info, inv, None)
    }
    fn r(p: u64, v: Option<i64>, inv: u64, comp: u64) -> Op {
        op(p, OpFn::Read, OpValue::Single(v), Outcome::Ok, inv, Some(comp))
    }
    fn cas(p: u64, e: i64, n: i64, outcome: Outcome, inv: u64, comp: u64) -> Op {
        op(p, OpFn::Cas, OpValue::Cas(Some(e), Some(n)), outcome, inv, Some(comp))
    }
    fn verdict(ops: &[Op]) -> Option<bool> {
        check_ops(ops, &Budget::default()).ok()
    }

    #[test]
    fn sequential_history_passes() {
        let h = [r(1, None, 0, 1), w(1, 1, 2, 3), r(2, Some(1), 4, 5)];
        assert_eq!(verdict(&h), Some(true));
    }

    #[test]
    fn stale_read_is_caught_and_explained() {
        let h = [w(1, 1, 0, 10), w(1, 2, 20, 30), r(2, Some(1), 40, 50), r(3, Some(2), 60, 70)];
        let report = check_ops(&h, &Budget::default());
        assert_eq!(report.ok(), Some(false));
        let KeyVerdict::NotLinearizable { window, time_ns, message } = &report.results[0].verdict else {
            panic!("expected a violation, got {report:?}");
        };
        assert_eq!(*time_ns, 40);
        assert_eq!(
            message,
            "read by p2 at 40ns returned 1, but no linearization of the 2 operations before it allows that"
        );
        // The window: the write that made 1 stale, the write of 1, and the read; not the read after.
        let invokes: Vec<u64> = window.iter().map(|o| o.invoke_ns).collect();
        assert_eq!(invokes, vec![0, 20, 40]);
    }

    #[test]
    fn concurrent_writes_may_take_effect_in_either_order() {
        for last in [1, 2] {
            let h = [w(1, 1, 0, 10), w(2, 2, 5, 15), r(3, Some(last), 20, 30)];
            assert_eq!(verdict(&h), Some(true), "reading {last}");
        }
        let h = [w(1, 1, 0, 10), w(2, 2, 5, 15), r(3, Some(1), 20, 30), r(3, Some(2), 40, 50)];
        assert_eq!(verdict(&h), Some(false), "values cannot flip back");
    }

    #[test]
    fn failed_cas_needs_a_different_value_inside_its_interval() {
        // The register holds 1 throughout the cas's interval, so a cas expecting 1 cannot fail.
        let h = [w(1, 1, 0, 10), cas(2, 1, 5, Outcome::Fail, 20, 30)];
        assert_eq!(verdict(&h), Some(false));
        // With a concurrent write of 2 it can fail, before or after it.
        let h = [w(1, 1, 0, 10), w(3, 2, 15, 25), cas(2, 1, 5, Outcome::Fail, 20, 30)];
        assert_eq!(verdict(&h), Some(true));
        // A failed cas changes nothing.
        let h = [w(1, 1, 0, 10), cas(2, 2, 5, Outcome::Fail, 20, 30), r(3, Some(1), 40, 50)];
        assert_eq!(verdict(&h), Some(true));
        // A successful cas requires the expected value.
        let h = [w(1, 1, 0, 10), cas(2, 2, 5, Outcome::Ok, 20, 30)];
        assert_eq!(verdict(&h), Some(false));
    }

    #[test]
    fn info_write_may_take_effect_late() {
        // p1's write timed out; it shows up long afterwards, after a later write.
        let h = [w_info(1, 1, 0), w(2, 2, 100, 110), r(3, Some(2), 120, 130), r(3, Some(1), 500, 510)];
        assert_eq!(verdict(&h), Some(true));
        // But never before its invoke.
        let h = [r(3, Some(1), 0, 10), w_info(1, 1, 20)];
        assert_eq!(verdict(&h), Some(false));
    }

    #[test]
    fn info_write_may_never_take_effect() {
        let h = [w_info(1, 1, 0), r(2, None, 10, 20), r(2, None, 1000, 2000)];
        assert_eq!(verdict(&h), Some(true));
        // Taking effect once only: 1, then 2, then 1 again is impossible.
        let h = [w_info(1, 1, 0), r(2, Some(1), 10, 20), w(3, 2, 30, 40), r(2, Some(1), 50, 60)];
        assert_eq!(verdict(&h), Some(false));
    }

    #[test]
    fn delete_makes_the_register_absent() {
        let del = op(2, OpFn::Delete, OpValue::Single(None), Outcome::Ok, 20, Some(30));
        let h = [w(1, 1, 0, 10), del.clone(), r(3, None, 40, 50)];
        assert_eq!(verdict(&h), Some(true));
        let h = [w(1, 1, 0, 10), del, r(3, Some(1), 40, 50)];
        assert_eq!(verdict(&h), Some(false));
    }

    #[test]
    fn keys_are_independent_and_sorted() {
        let mut a = w(1, 1, 0, 10);
        a.key = "b".into();
        let mut b = r(2, Some(1), 20, 30);
        b.key = "a".into();
        let report = check_ops(&[a, b], &Budget::default());
        assert_eq!(report.keys, 2);
        let keys: Vec<&str> = report.results.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, vec!["a", "b"]);
        assert!(matches!(report.results[0].verdict, KeyVerdict::NotLinearizable { .. }));
        assert_eq!(report.results[1].verdict, KeyVerdict::Linearizable);
    }

    /// Timed-out writes of the same value are interchangeable: the search counts how many of
    /// each were used instead of remembering which. Here 15 timed-out writes of 2 and 15 of 3
    /// feed 20 alternating reads; remembering which writes were used would need millions of
    /// states (C(15, 10)² to exhaust the failing case), counting needs a few thousand.
    #[test]
    fn interchangeable_timed_out_writes_are_counted_not_enumerated() {
        let history = |last: Option<i64>| {
            let mut h = vec![w(0, 1, 0, 1)];
            h.extend((0..30).map(|i| w_info(10 + i, 2 + (i % 2) as i64, 2 + i)));
            h.extend((0..20).map(|j| r(1, Some(2 + (j % 2) as i64), 100 + 2 * j, 101 + 2 * j)));
            h.push(r(1, last, 200, 201));
            h
        };
        let budget = Budget { max_states: 100_000, max_wall: None };
        assert_eq!(check_ops(&history(Some(3)), &budget).ok(), Some(true));
        // 4 was never written: every way of placing the 30 writes must be ruled out.
        assert_eq!(check_ops(&history(Some(4)), &budget).ok(), Some(false));
    }

    #[test]
    fn budget_exhaustion_is_unknown_not_a_verdict() {
        // Repeated values, so the zone check does not apply and the search must explore.
        let mut h = Vec::new();
        for p in 0..12 {
            h.push(w(p, (p % 2) as i64, 0, 1000));
        }
        h.push(r(99, Some(1000), 2000, 3000));
        let tiny = Budget { max_states: 10, max_wall: None };
        let report = check_ops(&h, &tiny);
        assert_eq!(report.ok(), None, "{report:?}");
        let KeyVerdict::Unknown { reason } = &report.results[0].verdict else { unreachable!() };
        assert!(reason.contains("budget of 10 states") && reason.contains("of 13 operations"), "{reason}");
        assert_eq!(check_ops(&h, &Budget::default()).ok(), Some(false));
        // With unique values the zone check decides at once, whatever the budget.
        let unique: Vec<Op> =
            (0..12).map(|p| w(p, p as i64, 0, 1000)).chain([r(99, Some(5), 2000, 3000)]).collect();
        assert_eq!(check_ops(&unique, &tiny).ok(), Some(true));
    }

    #[test]
    fn min_delta_is_the_staleness_gap() {
        // The read at 100 returns 1, superseded by the write of 2 that completed at 30.
        let h = [w(1, 1, 0, 10), w(1, 2, 20, 30), r(2, Some(1), 100, 110)];
        assert_eq!(min_delta_ns(&h, &Budget::default()), Some(70));
        assert_eq!(min_delta_ns(&h[..2], &Budget::default()), Some(0));
        // A value never written cannot be explained by any Δ.
        let h = [w(1, 1, 0, 10), r(2, Some(7), 100, 110)];
        assert_eq!(min_delta_ns(&h, &Budget::default()), None);
    }

    /// A reference checker: tries every order (no memo, no event list). Exponential; for tiny
    /// histories only.
    fn brute_force(ops: &[Op]) -> bool {
        let s = search_ops(&ops.iter().collect::<Vec<_>>(), None, 0).unwrap();
        fn go(s: &[SearchOp], placed: &mut Vec<bool>, state: Option<i64>) -> bool {
            let must_left = s.iter().zip(placed.iter()).any(|(o, p)| !p && o.complete_ns.is_some());
            if !must_left {
                return true;
            }
            for c in 0..s.len() {
                if placed[c] {
                    continue;
                }
                let blocked = s
                    .iter()
                    .zip(placed.iter())
                    .any(|(o, p)| !p && o.complete_ns.is_some_and(|done| done < s[c].invoke_ns));
                if blocked {
                    continue;
                }
                // The register model, written out again so the reference shares no code with
                // the search.
                let next = match s[c].effect {
                    Effect::Read(v) if v == state => Some(state),
                    Effect::Write(v) => Some(v),
                    Effect::Cas(e, n) if e == state => Some(n),
                    Effect::CasFails(e) if e != state => Some(state),
                    _ => None,
                };
                if let Some(next) = next {
                    placed[c] = true;
                    if go(s, placed, next) {
                        placed[c] = false;
                        return true;
                    }
                    placed[c] = false;
                }
            }
            false
        }
        go(&s, &mut vec![false; s.len()], None)
    }

    fn arb_op() -> impl Strategy<Value = Op> {
        (0u64..4, 0u8..4, 0i64..3, 0i64..3, 0u8..6, 0u64..20, 0u64..12).prop_map(
            |(p, f, a, b, outcome, inv, len)| {
                let f = [OpFn::Read, OpFn::Write, OpFn::Delete, OpFn::Cas][f as usize];
                let value = if f == OpFn::Cas {
                    OpValue::Cas(Some(a), Some(b))
                } else if f == OpFn::Read && a == 0 {
                    OpValue::Single(None)
                } else {
                    OpValue::Single(Some(a))
                };
                let outcome = match outcome {
                    0 => Outcome::Info,
                    1 => Outcome::Fail,
                    _ => Outcome::Ok,
                };
                let complete = (outcome != Outcome::Info).then_some(inv + len);
                op(p, f, value, outcome, inv, complete)
            },
        )
    }

    /// Whether `order` (indices into `ops`) is a linearization: every completed operation that
    /// took effect is in it once, real-time order holds, and replaying it against a register
    /// gives every read its value. Written independently of the search.
    fn valid_witness(ops: &[Op], order: &[usize]) -> bool {
        valid_order(ops, order)
            && ops.iter().enumerate().all(|(i, o)| match o.outcome {
                Outcome::Info => true,
                Outcome::Fail => o.f != OpFn::Cas || order.contains(&i),
                Outcome::Ok => order.contains(&i),
            })
    }

    /// Whether `order` respects real time and the register semantics (placing everything is
    /// not required: a partial linearization).
    fn valid_order(ops: &[Op], order: &[usize]) -> bool {
        let mut seen = vec![false; ops.len()];
        let mut state: Option<i64> = None;
        let mut latest_invoke = 0;
        for &i in order {
            if std::mem::replace(&mut seen[i], true) {
                return false;
            }
            let o = &ops[i];
            if o.outcome != Outcome::Info && o.complete_ns.is_some_and(|c| c < latest_invoke) {
                return false;
            }
            latest_invoke = latest_invoke.max(o.invoke_ns);
            let ok = match (o.f, o.outcome, o.value) {
                (OpFn::Read, _, v) => v.single() == state,
                (OpFn::Write, _, v) => {
                    state = v.single();
                    true
                }
                (OpFn::Delete, _, _) => {
                    state = None;
                    true
                }
                (OpFn::Cas, Outcome::Fail, OpValue::Cas(e, _)) => state != e,
                (OpFn::Cas, _, OpValue::Cas(e, n)) => {
                    let ok = state == e;
                    state = n;
                    ok
                }
                _ => false,
            };
            if !ok {
                return false;
            }
        }
        true
    }

    fn unique_writes() -> impl Strategy<Value = Vec<Op>> {
        proptest::collection::vec((0u64..4, any::<bool>(), 0u64..6, 0u64..30, 0u64..12, 0u8..8), 0..10)
            .prop_map(|specs| {
                let mut written = 0i64;
                specs
                    .into_iter()
                    .map(|(p, is_write, read_of, inv, len, kind)| {
                        if is_write {
                            written += 1;
                            if kind == 0 {
                                w_info(p, written, inv)
                            } else {
                                w(p, written, inv, inv + len)
                            }
                        } else {
                            let v = (read_of > 0).then_some(read_of as i64);
                            r(p, v, inv, inv + len)
                        }
                    })
                    .collect()
            })
    }

    #[test]
    fn a_million_sequential_ops_with_repeated_values_are_checked() {
        // Values repeat, so the zone check does not apply; the stretches do.
        let mut h = Vec::new();
        for i in 0..500_000u64 {
            h.push(w(1, (i % 3) as i64, 4 * i, 4 * i + 1));
            h.push(r(2, Some((i % 3) as i64), 4 * i + 2, 4 * i + 3));
        }
        let report = check_ops(&h, &Budget { max_states: 100, max_wall: None });
        assert_eq!(report.ok(), Some(true), "{:?}", report.results[0].verdict);
        assert_eq!(report.results[0].witness, (0..h.len()).collect::<Vec<_>>());
        // And one stale read at the end is caught.
        h.push(r(3, Some(0), 4_000_000, 4_000_001));
        assert_eq!(check_ops(&h, &Budget::default()).ok(), Some(false));
    }

    #[test]
    fn violated_key_reports_partial_linearization_and_unplaced() {
        let h = [w(1, 1, 0, 10), w(1, 2, 20, 30), r(2, Some(1), 40, 50), r(3, Some(2), 60, 70)];
        let report = check_ops(&h, &Budget::default());
        let key = &report.results[0];
        assert_eq!(key.witness, vec![0, 1], "the two writes linearize; the stale read cannot follow");
        assert_eq!(key.unplaced, vec![2]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]
        /// The search agrees with exhaustive enumeration on every small history.
        #[test]
        fn agrees_with_brute_force(ops in proptest::collection::vec(arb_op(), 0..9)) {
            let expected = brute_force(&ops);
            let report = check_ops(&ops, &Budget::default());
            prop_assert_eq!(report.ok(), Some(expected));
            if expected {
                prop_assert!(valid_witness(&ops, &report.results.iter().flat_map(|r| r.witness.clone()).collect::<Vec<_>>()));
            } else {
                // The partial linearization is itself a valid order of what it places.
                let key = report.violations().next().unwrap();
                prop_assert!(valid_order(&ops, &key.witness), "{:?}", key);
                prop_assert!(!key.unplaced.is_empty());
            }
        }

        /// Where the full search got stuck is where bisecting the prefixes finds the
        /// shortest failing one: the explanation with the hint is the one without it.
        #[test]
        fn stuck_point_is_the_shortest_failing_prefix(ops in proptest::collection::vec(arb_op(), 0..9)) {
            let refs: Vec<&Op> = ops.iter().collect();
            let limits = Limits::new(&Budget::default());
            let mut values = ValueTable::integers();
            let full = search_ops(&refs, None, 0).unwrap();
            if let Search::NotLinearizable(stuck_ns) = search(&full, &limits, &mut values) {
                let hinted = explain(&refs, &limits, &mut values, stuck_ns);
                prop_assert_eq!(hinted, explain(&refs, &limits, &mut values, None));
            }
        }

        /// Histories with unique written values (the zone check's domain) agree with
        /// exhaustive enumeration, and their witnesses are linearizations.
        #[test]
        fn zones_agree_with_brute_force(ops in unique_writes()) {
            let expected = brute_force(&ops);
            let report = check_ops(&ops, &Budget::default());
            prop_assert_eq!(report.ok(), Some(expected));
            if expected {
                prop_assert!(valid_witness(&ops, &report.results.first().map(|r| r.witness.clone()).unwrap_or_default()));
            }
        }
    }
}
