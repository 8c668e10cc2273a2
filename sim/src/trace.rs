//! The canonical trace hash and the determinism check.
//!
//! Each event is encoded with bincode (a fixed, canonical binary layout) and fed to xxh3, a
//! specified, platform-independent hash: the same run gives the same hash on every machine and in
//! every process, unlike std's `DefaultHasher`, whose output Rust does not promise to keep. Events
//! carry only sim time, node names and values — nothing process-global such as madsim task ids or
//! addresses — so a hash is a pure function of (binary, seed, config, schedule).
//!
//! When two runs of one seed differ, a bare "mismatch" helps nobody; `first_divergence` names the
//! first event where they part and shows both versions of it.

use serde::Serialize;
use std::fmt::Debug;

/// Digest one history event and fold its bytes into the running trace hash. `buf` is scratch
/// space the recorder keeps for the whole run, so encoding an event allocates nothing once it
/// has grown to the largest event's size; the bytes are bincode's either way.
pub fn digest_event<T: Serialize>(
    event: &T,
    buf: &mut Vec<u8>,
    running: &mut xxhash_rust::xxh3::Xxh3,
) -> u64 {
    buf.clear();
    bincode::serde::encode_into_std_write(event, buf, bincode::config::standard())
        .expect("tiersim bug: history event does not encode");
    running.update(&(buf.len() as u64).to_le_bytes());
    running.update(buf);
    xxhash_rust::xxh3::xxh3_64(buf)
}

/// Where two histories of the same run part ways.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// Index of the first event that differs.
    pub index: usize,
    /// The event in each run (`None` where that run had ended).
    pub left: Option<String>,
    pub right: Option<String>,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |e: &Option<String>| e.clone().unwrap_or_else(|| "<history ended>".into());
        write!(
            f,
            "runs diverge at event #{}:\n  first run:  {}\n  second run: {}",
            self.index,
            show(&self.left),
            show(&self.right)
        )
    }
}

/// The first event where two runs' event digests differ (`digests` and `events` of each, in
/// order), or `None` when the runs are identical.
pub fn first_divergence<T: Debug>(a: (u64, &[u64], &[T]), b: (u64, &[u64], &[T])) -> Option<Divergence> {
    if a.0 == b.0 && a.1 == b.1 {
        return None;
    }
    let n = a.1.len().max(b.1.len());
    let index = (0..n).find(|&i| a.1.get(i) != b.1.get(i))?;
    let show = |events: &[T]| events.get(index).map(|e| format!("{e:?}"));
    Some(Divergence { index, left: show(a.2), right: show(b.2) })
}
