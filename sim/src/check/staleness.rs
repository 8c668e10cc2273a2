//! `bounded-staleness(Δ)` against a commit log: a read that began at inv and returned version v is
//! stale by inv - c(v+1) when v+1 was committed at c(v+1) before the read began, and the history is
//! Δ-bounded when no read is staler than Δ. The run reports the observed maximum even when it
//! passes.

/// A read: its op id, invoke instant and the version it returned (0: absent, never written).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VersionRead {
    pub op: u64,
    pub invoke_ns: u64,
    pub version: u64,
}

/// The stalest read: how stale, and which.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stalest {
    pub staleness_ns: u64,
    pub read: VersionRead,
    /// The instant the version after the one it read was committed.
    pub superseded_at_ns: u64,
}

/// The stalest read of one key. `commits[i]` is the commit instant of version i + 1, ascending.
pub fn stalest(reads: &[VersionRead], commits_ns: &[u64]) -> Option<Stalest> {
    let mut best: Option<Stalest> = None;
    for r in reads {
        let Some(&superseded_at_ns) = commits_ns.get(r.version as usize) else {
            continue; // it read the latest version
        };
        if superseded_at_ns >= r.invoke_ns {
            continue;
        }
        let staleness_ns = r.invoke_ns - superseded_at_ns;
        if best.is_none_or(|b| staleness_ns > b.staleness_ns) {
            best = Some(Stalest { staleness_ns, read: *r, superseded_at_ns });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staleness_is_measured_from_the_superseding_commit() {
        let commits = [100, 200];
        let reads = [
            VersionRead { op: 1, invoke_ns: 150, version: 1 }, // current
            VersionRead { op: 2, invoke_ns: 250, version: 1 }, // stale by 50
            VersionRead { op: 3, invoke_ns: 260, version: 0 }, // stale by 160
            VersionRead { op: 4, invoke_ns: 300, version: 2 }, // latest
        ];
        let s = stalest(&reads, &commits).unwrap();
        assert_eq!((s.staleness_ns, s.read.op, s.superseded_at_ns), (160, 3, 100));
        assert_eq!(stalest(&reads[..1], &commits), None);
    }
}
