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

use crate::history::{Event, History};
use serde::Serialize;
use std::fmt::Debug;

/// Digest one event and fold its bytes into the running trace hash.
pub fn digest_event<E: Serialize>(event: &Event<E>, running: &mut xxhash_rust::xxh3::Xxh3) -> u64 {
    let bytes = bincode::serde::encode_to_vec(event, bincode::config::standard())
        .expect("tiersim bug: history event does not encode");
    running.update(&(bytes.len() as u64).to_le_bytes());
    running.update(&bytes);
    xxhash_rust::xxh3::xxh3_64(&bytes)
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

/// The first event where `a` and `b` differ, or `None` when they are identical.
pub fn first_divergence<E: Debug>(a: &History<E>, b: &History<E>) -> Option<Divergence> {
    if a.trace_hash == b.trace_hash && a.digests == b.digests {
        return None;
    }
    let n = a.digests.len().max(b.digests.len());
    let index = (0..n).find(|&i| a.digests.get(i) != b.digests.get(i))?;
    let show = |h: &History<E>| h.events.get(index).map(|e: &Event<E>| format!("{e:?}"));
    Some(Divergence { index, left: show(a), right: show(b) })
}
