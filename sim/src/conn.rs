//! Connections: the lifetime of a TCP-like session between a client node and a server node.
//!
//! A one-way message over `Net::send` is a datagram: the fault plan may lose, delay, duplicate or
//! reorder it. A server that pushes messages to a client over a connection it holds (Redis
//! pub/sub, client-side-caching invalidations) gives a stronger promise: in order, exactly once,
//! for as long as the connection lives, and nothing once it dropped. This module decides when a
//! connection is alive; the model carries the messages (with sequence numbers and retransmission,
//! as TCP does) and asks [`Connections::is_open`] before it hands one over.
//!
//! The rule a connection dies by, stated once:
//! - either end is killed or restarted (its process and sockets are gone; the peer is reset);
//! - a [`Fault::DropConnection`] between the two ends (CLIENT KILL, a proxy or load balancer
//!   resetting it);
//! - a partition between the ends — their link clogged, or either node clogged — that lasts
//!   [`CONN_TIMEOUT_NS`] without a break: the client library's health check gives up on it. A
//!   shorter partition only holds messages back (they are retransmitted), as do packet loss,
//!   a frozen node (`Pause`) and message shaping;
//! - either end closes it (a client whose request on it timed out).
//!
//! A connection cannot be opened while a partition between its ends is in force (the connect
//! would not get through), nor to or from a node that is down. Both ends learn of a drop at the
//! instant it happens ([`Connections::closed`]), as a reset socket tells its owner on its next
//! read; a partition's drop is learnt when the health check gives up, by both ends alike.
//!
//! Timers for partitions run only while a connection has ends the partition separates, so a run
//! that never opens a connection schedules nothing here and its trace is unchanged.

use crate::fault::Fault;
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// How long a partition between a connection's ends lasts before the connection drops: a client
/// library's health check (a PING every 250 ms that must be answered within 250 ms).
pub const CONN_TIMEOUT_NS: u64 = 500_000_000;

/// Why a connection dropped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum DropCause {
    /// An end was killed or restarted.
    Crash,
    /// A partition between the ends outlasted the health check.
    Partition,
    /// A `DropConnection` fault reset it.
    Reset,
    /// An end closed it.
    Closed,
}

impl DropCause {
    pub fn name(self) -> &'static str {
        match self {
            DropCause::Crash => "crash",
            DropCause::Partition => "partition",
            DropCause::Reset => "reset",
            DropCause::Closed => "closed",
        }
    }
}

#[derive(Debug)]
struct Conn {
    client: String,
    server: String,
    dropped: Option<DropCause>,
    wakers: Vec<Waker>,
}

/// What separates two nodes: a clogged link (both names, sorted) or a clogged node.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Cut {
    Link(String, String),
    Node(String),
}

impl Cut {
    fn separates(&self, a: &str, b: &str) -> bool {
        match self {
            Cut::Link(x, y) => (x == a && y == b) || (x == b && y == a),
            Cut::Node(n) => n == a || n == b,
        }
    }
}

#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    conns: BTreeMap<u64, Conn>,
    /// Partitions in force, each with the epoch it began in (a new clog after a heal is a new
    /// epoch, so a timer of the old one does not fire on it).
    cuts: BTreeMap<Cut, u64>,
    next_epoch: u64,
    /// Nodes killed and not yet restarted.
    down: BTreeSet<String>,
}

impl Table {
    fn drop_where(&mut self, cause: DropCause, pred: impl Fn(&Conn) -> bool) {
        for conn in self.conns.values_mut().filter(|c| c.dropped.is_none() && pred(c)) {
            conn.dropped = Some(cause);
            conn.wakers.drain(..).for_each(Waker::wake);
        }
        // A dropped connection is remembered (its ends may still ask), its wakers are not.
    }

    fn live_across(&self, cut: &Cut) -> bool {
        self.conns.values().any(|c| c.dropped.is_none() && cut.separates(&c.client, &c.server))
    }
}

/// Every connection of a run, shared by its nodes (in `SimCtx`) and driven by the fault plan.
#[derive(Clone, Debug, Default)]
pub struct Connections {
    table: Arc<Mutex<Table>>,
}

impl Connections {
    /// Open a connection from `client` to `server`; its id, or why it cannot be opened now.
    pub fn open(&self, client: &str, server: &str) -> Result<u64, String> {
        let mut t = self.table.lock().unwrap();
        if let Some(n) = [client, server].into_iter().find(|n| t.down.contains(*n)) {
            return Err(format!("{n} is down"));
        }
        if t.cuts.keys().any(|c| c.separates(client, server)) {
            return Err(format!("{client} cannot reach {server}"));
        }
        let id = t.next_id;
        t.next_id += 1;
        let conn = Conn { client: client.into(), server: server.into(), dropped: None, wakers: Vec::new() };
        t.conns.insert(id, conn);
        Ok(id)
    }

    /// Whether connection `id` is still alive.
    pub fn is_open(&self, id: u64) -> bool {
        self.table.lock().unwrap().conns.get(&id).is_some_and(|c| c.dropped.is_none())
    }

    /// The ends of connection `id`: (client, server).
    pub fn ends(&self, id: u64) -> Option<(String, String)> {
        self.table.lock().unwrap().conns.get(&id).map(|c| (c.client.clone(), c.server.clone()))
    }

    /// Why connection `id` dropped (None while it lives, or for an id never opened).
    pub fn drop_cause(&self, id: u64) -> Option<DropCause> {
        self.table.lock().unwrap().conns.get(&id).and_then(|c| c.dropped)
    }

    /// Close connection `id` from either end.
    pub fn close(&self, id: u64) {
        let mut t = self.table.lock().unwrap();
        if let Some(conn) = t.conns.get_mut(&id) {
            if conn.dropped.is_none() {
                conn.dropped = Some(DropCause::Closed);
                conn.wakers.drain(..).for_each(Waker::wake);
            }
        }
    }

    /// Resolves when connection `id` drops (at once if it has, or was never opened), with why.
    pub fn closed(&self, id: u64) -> impl Future<Output = DropCause> {
        Closed { conns: self.clone(), id }
    }

    /// Apply `fault`'s effect on connections (the runtime calls this for every fault it applies).
    pub(crate) fn on_fault(&self, fault: &Fault) {
        let mut t = self.table.lock().unwrap();
        match fault {
            Fault::Kill { node } | Fault::Failover { node } | Fault::Restart { node } => {
                t.drop_where(DropCause::Crash, |c| c.client == *node || c.server == *node);
                if !matches!(fault, Fault::Restart { .. }) {
                    t.down.insert(node.clone());
                } else {
                    t.down.remove(node);
                }
            }
            Fault::DropConnection { client, server } => {
                t.drop_where(DropCause::Reset, |c| c.client == *client && c.server == *server)
            }
            Fault::ClogLink { a, b } => self.cut(t, Cut::Link(a.min(b).clone(), a.max(b).clone())),
            Fault::ClogNode { node } => self.cut(t, Cut::Node(node.clone())),
            Fault::UnclogLink { a, b } => {
                t.cuts.remove(&Cut::Link(a.min(b).clone(), a.max(b).clone()));
            }
            Fault::UnclogNode { node } => {
                t.cuts.remove(&Cut::Node(node.clone()));
            }
            _ => {}
        }
    }

    /// A partition begins: if it separates a live connection, drop what it still separates
    /// once it has lasted `CONN_TIMEOUT_NS` unbroken.
    fn cut(&self, mut t: std::sync::MutexGuard<'_, Table>, cut: Cut) {
        if t.cuts.contains_key(&cut) {
            return; // already in force: its first timer stands
        }
        let epoch = t.next_epoch;
        t.next_epoch += 1;
        t.cuts.insert(cut.clone(), epoch);
        if !t.live_across(&cut) {
            return;
        }
        drop(t);
        let conns = self.clone();
        madsim::task::spawn(async move {
            madsim::time::sleep(Duration::from_nanos(CONN_TIMEOUT_NS)).await;
            let mut t = conns.table.lock().unwrap();
            if t.cuts.get(&cut) == Some(&epoch) {
                t.drop_where(DropCause::Partition, |c| cut.separates(&c.client, &c.server));
            }
        });
    }
}

struct Closed {
    conns: Connections,
    id: u64,
}

impl Future for Closed {
    type Output = DropCause;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DropCause> {
        let mut t = self.conns.table.lock().unwrap();
        match t.conns.get_mut(&self.id) {
            None => Poll::Ready(DropCause::Closed),
            Some(Conn { dropped: Some(cause), .. }) => Poll::Ready(*cause),
            Some(conn) => {
                if !conn.wakers.iter().any(|w| w.will_wake(cx.waker())) {
                    conn.wakers.push(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}
