//! Messages a Redis node pushes to a client over the client's connection, as Redis delivers
//! pub/sub messages (and client-side-caching invalidations): in publish order, exactly once, for
//! as long as the connection lives (`tiersim_sim::conn` decides that), and never after.
//!
//! On the wire this is what TCP does under Redis: each connection numbers its messages; the
//! Redis side sends one at a time and sends it again until the client acknowledges it (a lost
//! frame or a lost acknowledgement costs a retransmission, never a duplicate, because the
//! client drops a number it has seen); the client acknowledges a frame as soon as it has it,
//! and answers `Reset` for a connection it does not hold (it restarted, or closed it), which
//! drops the connection on the Redis side too. A frame still in flight when the connection drops
//! is refused. The generic shaping faults (delay, duplication) are for one-way datagrams and do
//! not apply here; loss, partitions and frozen nodes only hold messages back.

use crate::state::invalidation::Invalidation;
use futures_channel::mpsc::{unbounded, UnboundedSender};
use futures_util::StreamExt;
use std::collections::BTreeMap;
use std::time::Duration;
use tiersim_sim::net::Net;

/// How long the Redis side waits for an acknowledgement before it sends a frame again (Linux's
/// minimum TCP retransmission timeout).
pub const RETRANSMIT: Duration = Duration::from_millis(200);

/// A message pub/sub delivers to a subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    pub channel: String,
    pub inv: Invalidation,
}

/// One message on connection `conn`, the `seq`-th on it (from 0).
#[derive(Clone, Debug)]
pub struct Frame {
    pub conn: u64,
    pub seq: u64,
    pub msg: Published,
}

/// The client's answer to a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameReply {
    /// Received (now or before).
    Ack,
    /// No such connection here: the Redis side drops it.
    Reset,
}

/// The Redis side: an ordered queue per client connection, each drained by one delivery task.
#[derive(Default)]
pub struct Outbox {
    queues: BTreeMap<u64, UnboundedSender<Published>>,
}

impl Outbox {
    /// Queue `msg` on connection `conn` to node `client` (starting its delivery task on the
    /// first message).
    pub fn push(&mut self, net: &Net, conn: u64, client: &str, msg: Published) {
        let queue = self.queues.entry(conn).or_insert_with(|| {
            let (tx, mut rx) = unbounded::<Published>();
            let (net, client) = (net.clone(), client.to_string());
            madsim::task::spawn_local(async move {
                let conns = net.ctx().conns.clone();
                let mut seq = 0;
                while let Some(msg) = rx.next().await {
                    loop {
                        if !conns.is_open(conn) {
                            return;
                        }
                        let frame = Frame { conn, seq, msg: msg.clone() };
                        match net.call::<Frame, FrameReply>(&client, frame, RETRANSMIT).await {
                            Ok(FrameReply::Ack) => break,
                            Ok(FrameReply::Reset) => {
                                conns.close(conn);
                                return;
                            }
                            Err(_) => continue,
                        }
                    }
                    seq += 1;
                }
            });
            tx
        });
        // The task ends only when the connection dropped; a message for it is then lost anyway.
        let _ = queue.unbounded_send(msg);
    }

    /// Forget connection `conn` (it dropped).
    pub fn forget(&mut self, conn: u64) {
        self.queues.remove(&conn);
    }
}

/// What a client node's connection delivered, in order: a message, or the end of it.
#[derive(Clone, Debug)]
pub enum Delivery {
    Message {
        conn: u64,
        msg: Published,
    },
    /// The connection dropped; everything it delivered came before this.
    Dropped {
        conn: u64,
        server: String,
        cause: &'static str,
    },
}

/// The client side of one node's connections: the next frame number each expects.
#[derive(Debug, Default)]
pub struct Inbox {
    next_seq: BTreeMap<u64, u64>,
}

impl Inbox {
    /// Start receiving on connection `conn`.
    pub fn open(&mut self, conn: u64) {
        self.next_seq.insert(conn, 0);
    }

    /// Stop receiving on `conn`; whether it was held.
    pub fn forget(&mut self, conn: u64) -> bool {
        self.next_seq.remove(&conn).is_some()
    }

    /// Take `frame` if it is the next one of an open connection this node holds: the reply,
    /// and the message when it is new.
    pub fn receive(&mut self, frame: Frame, open: bool) -> (FrameReply, Option<Published>) {
        let Some(next) = self.next_seq.get_mut(&frame.conn).filter(|_| open) else {
            return (FrameReply::Reset, None);
        };
        if frame.seq < *next {
            return (FrameReply::Ack, None); // a retransmission of what we have
        }
        assert_eq!(
            frame.seq, *next,
            "tiersim bug: connection {} skipped from frame {} to {}",
            frame.conn, next, frame.seq
        );
        *next += 1;
        (FrameReply::Ack, Some(frame.msg))
    }
}

#[cfg(test)]
mod tests {
    use crate::node::pubsub::{Frame, FrameReply, Inbox, Published};
    use crate::state::invalidation::Invalidation;

    fn frame(conn: u64, seq: u64) -> Frame {
        let inv = Invalidation::Remove { key: format!("k{seq}") };
        Frame { conn, seq, msg: Published { channel: "c".into(), inv } }
    }

    #[test]
    fn frames_are_taken_once_in_order_and_refused_on_a_connection_not_held() {
        let mut inbox = Inbox::default();
        assert_eq!(inbox.receive(frame(7, 0), true).0, FrameReply::Reset, "never opened");
        inbox.open(7);
        let (reply, msg) = inbox.receive(frame(7, 0), true);
        assert_eq!((reply, msg.is_some()), (FrameReply::Ack, true));
        let (reply, msg) = inbox.receive(frame(7, 0), true);
        assert_eq!(
            (reply, msg),
            (FrameReply::Ack, None),
            "a retransmission is acknowledged, not redelivered"
        );
        assert!(inbox.receive(frame(7, 1), true).1.is_some());
        assert_eq!(inbox.receive(frame(7, 2), false).0, FrameReply::Reset, "dropped connection");
        assert!(inbox.forget(7));
        assert_eq!(inbox.receive(frame(7, 2), true).0, FrameReply::Reset, "forgotten connection");
    }
}
