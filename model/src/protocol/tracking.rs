//! Client-side caching (`CLIENT TRACKING`) as a protocol uses it, RESP2 style: a redirect
//! connection per Redis shard, subscribed to `__redis__:invalidate`, takes the invalidations of
//! what this process read (or, in BCAST mode, of every key under its prefixes); each arrives at
//! `on_invalidation` as `Invalidation::Remove { key }`.
//!
//! The hazards Redis's client-side-caching documentation names are all here: the GET reply
//! travels on the data connection and the invalidation on the redirect connection, so an
//! invalidation can arrive before the reply it invalidates (put a placeholder in the local cache
//! before the GET, and drop the reply if an invalidation removed the placeholder meanwhile); and
//! when the redirect connection drops, invalidations are lost without a word (RESP2 cannot say
//! so), so on `on_disconnect` flush the whole local cache before caching again. A tracking client
//! is this app node; a restarted process's first `client_tracking` starts afresh.

use crate::node::redis::{RedisReq, RedisResp};
use crate::protocol::app::RedisClient;
use crate::protocol::error::OpError;
use crate::state::tracking::{TrackingOpts, INVALIDATE_CHANNEL};

impl RedisClient<'_> {
    /// Open a redirect connection to `shard` and SUBSCRIBE it to `__redis__:invalidate` (pub/sub
    /// mode, which RESP2 redirection needs); its id, for `TrackingOpts::redirect`.
    pub async fn tracking_redirect(&self, shard: usize) -> Result<u64, OpError> {
        let conn = self.app.connect(shard).await?;
        let req = RedisReq::Subscribe { channel: INVALIDATE_CHANNEL.into(), conn };
        match self.call_shard(shard, req).await {
            Ok(_) => Ok(conn),
            Err(e) => {
                self.app.disconnect(conn);
                Err(e)
            }
        }
    }

    /// `CLIENT TRACKING on …` at `shard` (Redis's refusals come back as `OpError::Failed`).
    pub async fn client_tracking(&self, shard: usize, opts: TrackingOpts) -> Result<(), OpError> {
        let fresh = !self.app.node.tracking_on.borrow().contains(&shard);
        self.call_shard(shard, RedisReq::Tracking { opts, fresh }).await?;
        self.app.node.tracking_on.borrow_mut().insert(shard);
        Ok(())
    }

    /// `CLIENT TRACKING off` at `shard`.
    pub async fn client_tracking_off(&self, shard: usize) -> Result<(), OpError> {
        self.call_shard(shard, RedisReq::TrackingOff).await.map(|_| ())
    }

    /// `CLIENT CACHING yes|no` at `shard`, for this process's next command there. Commands of
    /// concurrent operations share the process's connection, as they would in a real client.
    pub async fn client_caching(&self, shard: usize, yes: bool) -> Result<(), OpError> {
        match self.call_shard(shard, RedisReq::Caching { yes }).await? {
            RedisResp::Bool(_) => Ok(()),
            other => panic!("tiersim bug: CLIENT CACHING answered {other:?}"),
        }
    }

    /// The shard `key` lives on.
    pub fn shard(&self, key: &str) -> usize {
        crate::state::redis::shard_for(key, self.app.node.config.topology.redis_shards)
    }
}
