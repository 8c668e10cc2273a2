//! Redis connections as a protocol holds them: the connection its pub/sub subscriptions live on,
//! and what it learns when that connection drops.
//!
//! Redis delivers a subscriber's messages over the subscriber's own connection
//! (`node::pubsub`): in publish order, exactly once, and not at all once the connection dropped
//! (a kill or restart of either end, a partition that outlasts the health check, a reset; see
//! `tiersim_sim::conn`). A client library notices the drop and tells its owner; here the
//! protocol's `on_disconnect` runs, after every message the connection delivered, with the
//! connection's id. Subscriptions are gone with the connection: a protocol that wants them back
//! subscribes again (on a new connection), and anything it kept fresh by those messages may have
//! missed some and must be flushed.

use crate::node::config::redis_node;
use crate::node::pubsub::Delivery;
use crate::node::pubsub::Frame;
use crate::node::redis::{RedisReq, RedisResp};
use crate::protocol::app::{App, AppNode};
use crate::protocol::error::OpError;
use crate::state::invalidation::Invalidation;
use std::rc::Rc;

impl App {
    /// Open a connection from this node to Redis shard `shard` for messages Redis pushes (a
    /// pub/sub or tracking-redirect connection); its id. A connect that cannot get through (the
    /// shard is down or cut off from this node) fails after the request timeout.
    pub async fn connect(&self, shard: usize) -> Result<u64, OpError> {
        let server = redis_node(shard);
        let conns = self.node.net.ctx().conns.clone();
        let id = match conns.open(self.name(), &server) {
            Ok(id) => id,
            Err(why) => {
                self.sleep(std::time::Duration::from_millis(self.config().rpc_timeout_ms)).await;
                return Err(OpError::Failed(format!("cannot connect to {server}: {why}")));
            }
        };
        if !self.node.frames_served.replace(true) {
            serve_frames(&self.node);
        }
        self.node.inbox.borrow_mut().open(id);
        let node = self.node.clone();
        madsim::task::spawn_local(async move {
            let cause = conns.closed(id).await;
            // A connection this node closed itself (`disconnect`) is not announced.
            if node.inbox.borrow_mut().forget(id) {
                let _ = node.deliveries.unbounded_send(Delivery::Dropped {
                    conn: id,
                    server,
                    cause: cause.name(),
                });
            }
        });
        Ok(id)
    }

    /// Whether connection `conn` of this node is alive.
    pub fn is_connected(&self, conn: u64) -> bool {
        self.node.net.ctx().conns.is_open(conn)
    }

    /// Close connection `conn` (its subscriptions go with it; `on_disconnect` does not run).
    pub fn disconnect(&self, conn: u64) {
        self.node.inbox.borrow_mut().forget(conn);
        self.node.net.ctx().conns.close(conn);
    }

    /// SUBSCRIBE to a pub/sub channel (on Redis shard 0), on this node's pub/sub connection
    /// (opened first if it has none, or its last one dropped); the connection's id. Messages
    /// published on `channel` arrive at `on_invalidation` in publish order, once each, until
    /// the connection drops (then `on_disconnect` runs). On an error the subscription may or
    /// may not exist; SUBSCRIBE is idempotent, so try again.
    pub async fn subscribe(&self, channel: &str) -> Result<u64, OpError> {
        let current = self.node.pubsub_conn.get().filter(|c| self.is_connected(*c));
        let (conn, fresh) = match current {
            Some(c) => (c, false),
            None => (self.connect(0).await?, true),
        };
        let req = RedisReq::Subscribe { channel: channel.into(), conn };
        match self.redis().call_shard(0, req).await {
            Ok(_) => {
                self.node.pubsub_conn.set(Some(conn));
                Ok(conn)
            }
            Err(e) => {
                if fresh {
                    self.disconnect(conn);
                }
                Err(e)
            }
        }
    }

    /// PUBLISH an invalidation on `channel` (Redis shard 0); how many subscriptions took it.
    /// Each is delivered on its subscriber's connection unless that drops first.
    pub async fn publish(&self, channel: &str, inv: Invalidation) -> Result<i64, OpError> {
        match self.redis().call_shard(0, RedisReq::Publish { channel: channel.into(), inv }).await? {
            RedisResp::Int(n) => Ok(n),
            other => panic!("tiersim bug: PUBLISH answered {other:?}"),
        }
    }
}

/// Take the frames Redis pushes on this node's connections: acknowledged on arrival and handed,
/// in order, to the node's delivery handler. Started with the node's first connection, so that a
/// protocol that never connects runs exactly the tasks it ran before connections existed.
fn serve_frames(node: &Rc<AppNode>) {
    let n = node.clone();
    node.net.serve(move |frame: Frame, _from| {
        let (conn, open) = (frame.conn, n.net.ctx().conns.is_open(frame.conn));
        let (reply, msg) = n.inbox.borrow_mut().receive(frame, open);
        if let Some(msg) = msg {
            let _ = n.deliveries.unbounded_send(Delivery::Message { conn, msg });
        }
        async move { Some(reply) }
    });
}
