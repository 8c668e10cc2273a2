//! The payload of every invalidation message: what a receiver is asked to drop. Protocols send
//! it peer to peer, over Redis pub/sub and from the change-stream daemon; tiers and protocol
//! handlers apply it. It is plain data so that every layer can carry it.

/// An invalidation message, sent peer to peer or over pub/sub.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// Drop what you hold of `key` below `version`.
    Key { key: String, version: u64 },
    /// Drop `key` whatever its version, keeping no floor (what floorless protocols send).
    Remove { key: String },
    /// Drop every entry of `tag`; with a generation, refuse older fills of the tag from now on.
    Tag { tag: String, generation: Option<u64> },
}
