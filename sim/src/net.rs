//! Typed messaging between named nodes over madsim's simulated network.
//!
//! Two shapes of message, as a cache hierarchy uses them: request/response with a timeout (a
//! read from Redis, a commit at the database) and one-way messages (invalidations, change-stream
//! events). Payloads travel as `Box<dyn Any>` through madsim's raw endpoint API: nothing is
//! serialised in simulation, and a type mismatch is a tiersim bug that panics at once.
//!
//! Every send counts against the run's step budget, and one-way messages pass through the fault
//! plan's shaping (extra delay, duplication, hence reordering) on their way out.

use crate::clock::Clocks;
use crate::fault::Shaping;
use madsim::net::Endpoint;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::any::Any;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The port every node listens on.
pub(crate) const PORT: u16 = 1;
/// Requests of one type a node takes off the wire at once (see `Net::serve`): each receive costs
/// madsim's 1 ms, so a node accepts up to this many requests of a type per ms of sim time, far
/// above what any scenario sends.
pub const RECEIVERS: usize = 16;
/// Responses come back on a tag of their own, counted up from here (per run).
const FIRST_REPLY_TAG: u64 = 1 << 32;

/// The tag requests or one-way messages of type `T` travel on, so one node can serve several
/// request types and receive several message types. It is a stable hash of the type's name
/// (FNV-1a) with the top bit set, clear of reply tags.
fn type_tag<T: ?Sized>(one_way: bool) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in std::any::type_name::<T>().bytes().chain([one_way as u8]) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h | (1 << 63)
}

/// Why a call produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetError {
    /// No response within the timeout: lost, partitioned, or the peer is down or slow.
    Timeout { to: String },
    /// The peer's name is not in the directory (a bug in the scenario).
    UnknownNode(String),
}

impl std::fmt::Display for NetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetError::Timeout { to } => write!(f, "no response from {to} in time"),
            NetError::UnknownNode(n) => write!(f, "no node named {n}"),
        }
    }
}

impl std::error::Error for NetError {}

/// Counts steps (message sends and recorded events) and stops a run that exceeds its budget:
/// a retry storm or a livelock ends as a `liveness` verdict instead of a hung sweep.
#[derive(Clone, Debug)]
pub struct StepBudget {
    used: Arc<AtomicU64>,
    max: u64,
}

/// The panic message of an exhausted step budget (the runner maps it to `liveness`).
pub const STEP_BUDGET_EXCEEDED: &str = "tiersim: step budget exceeded";

impl StepBudget {
    pub fn new(max: u64) -> Self {
        StepBudget { used: Arc::new(AtomicU64::new(0)), max }
    }

    pub fn step(&self) {
        let used = self.used.fetch_add(1, Ordering::Relaxed) + 1;
        if used > self.max {
            panic!("{STEP_BUDGET_EXCEEDED} ({} steps)", self.max);
        }
    }

    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// What every node of a run shares: where the others are, the clocks, the message shaping in
/// force, the step budget and the message counter.
#[derive(Clone)]
pub struct SimCtx {
    pub(crate) addrs: Arc<Mutex<BTreeMap<String, SocketAddr>>>,
    pub clocks: Clocks,
    pub(crate) shaping: Arc<Mutex<(Shaping, ChaCha8Rng)>>,
    pub budget: StepBudget,
    /// The run's connections and when they drop (see `conn`).
    pub conns: crate::conn::Connections,
    pub(crate) messages: Arc<AtomicU64>,
    /// Links (from, to) whose messages leave late, and by how much (`Fault::SlowLinkStart`).
    pub(crate) slow_links: Arc<Mutex<BTreeMap<(String, String), u64>>>,
    /// Reply tags are unique in the whole run, so a late reply to a node that has since
    /// restarted can never be taken for the answer to a new request.
    next_reply_tag: Arc<AtomicU64>,
}

impl SimCtx {
    pub(crate) fn new(seed: u64, step_budget: u64) -> Self {
        SimCtx {
            addrs: Default::default(),
            clocks: Clocks::default(),
            shaping: Arc::new(Mutex::new((Shaping::default(), crate::rng::stream(seed, "net-shaping")))),
            budget: StepBudget::new(step_budget),
            conns: Default::default(),
            messages: Default::default(),
            slow_links: Default::default(),
            next_reply_tag: Arc::new(AtomicU64::new(FIRST_REPLY_TAG)),
        }
    }

    fn addr(&self, name: &str) -> Result<SocketAddr, NetError> {
        self.addrs.lock().unwrap().get(name).copied().ok_or_else(|| NetError::UnknownNode(name.into()))
    }

    /// Messages sent so far in this run.
    pub fn messages_sent(&self) -> u64 {
        self.messages.load(Ordering::Relaxed)
    }

    /// How late a message from `from` to the node at `to` leaves under the slow links in force.
    fn slow_link_ns(&self, from: &str, to: SocketAddr) -> u64 {
        let slow = self.slow_links.lock().unwrap();
        if slow.is_empty() {
            return 0;
        }
        let addrs = self.addrs.lock().unwrap();
        let Some(to) = addrs.iter().find(|(_, a)| **a == to).map(|(n, _)| n) else { return 0 };
        slow.get(&(from.to_string(), to.clone())).copied().unwrap_or(0)
    }

    /// The extra delays for one one-way message under the shaping in force: one entry per copy
    /// to deliver (two when duplicated).
    fn shape(&self) -> Vec<u64> {
        let mut guard = self.shaping.lock().unwrap();
        let (shaping, rng) = &mut *guard;
        if shaping.max_delay_ns == 0 && shaping.dup_per_mille == 0 {
            return vec![0];
        }
        let mut delays = vec![rng.gen_range(0..=shaping.max_delay_ns)];
        if crate::rng::chance(rng, shaping.dup_per_mille, 1000) {
            delays.push(rng.gen_range(0..=shaping.max_delay_ns));
        }
        delays
    }
}

struct RequestEnvelope {
    reply_tag: u64,
    from: String,
    body: Box<dyn Any + Send + Sync>,
}

struct OneWayEnvelope {
    from: String,
    body: Box<dyn Any + Send + Sync>,
}

/// One node's network handle. Cheap to clone.
#[derive(Clone)]
pub struct Net {
    ep: Arc<Endpoint>,
    me: Arc<str>,
    ctx: SimCtx,
}

impl Net {
    /// Bind node `me` (which must be running on the node it names).
    pub async fn bind(ctx: &SimCtx, me: &str) -> Net {
        let addr = ctx.addr(me).unwrap_or_else(|e| panic!("tiersim bug: {e}"));
        let ep = Endpoint::bind(addr).await.unwrap_or_else(|e| panic!("tiersim bug: bind {me}: {e}"));
        Net { ep: Arc::new(ep), me: me.into(), ctx: ctx.clone() }
    }

    pub fn name(&self) -> &str {
        &self.me
    }

    pub fn ctx(&self) -> &SimCtx {
        &self.ctx
    }

    async fn send_raw(&self, to: SocketAddr, tag: u64, payload: Box<dyn Any + Send + Sync>) {
        self.ctx.budget.step();
        self.ctx.messages.fetch_add(1, Ordering::Relaxed);
        let late_ns = self.ctx.slow_link_ns(&self.me, to);
        if late_ns > 0 {
            // Held back on a slow link: it leaves later, from a task of its own (which dies
            // with the node, as a message in a crashed sender's buffer does).
            let ep = self.ep.clone();
            madsim::task::spawn_local(async move {
                madsim::time::sleep(Duration::from_nanos(late_ns)).await;
                let _ = ep.send_to_raw(to, tag, payload).await;
            });
            return;
        }
        // A send to a clogged or dead peer is silently lost, as a datagram is.
        let _ = self.ep.send_to_raw(to, tag, payload).await;
    }

    /// Send `req` to node `to` and wait up to `timeout` for its response.
    pub async fn call<Q, R>(&self, to: &str, req: Q, timeout: Duration) -> Result<R, NetError>
    where
        Q: Any + Send + Sync,
        R: Any + Send + Sync,
    {
        let addr = self.ctx.addr(to)?;
        let reply_tag = self.ctx.next_reply_tag.fetch_add(1, Ordering::Relaxed);
        let envelope = RequestEnvelope { reply_tag, from: self.me.to_string(), body: Box::new(req) };
        self.send_raw(addr, type_tag::<Q>(false), Box::new(envelope)).await;
        match madsim::time::timeout(timeout, self.ep.recv_from_raw(reply_tag)).await {
            Ok(Ok((payload, _))) => Ok(*payload
                .downcast::<R>()
                .unwrap_or_else(|_| panic!("tiersim bug: response from {to} is not the expected type"))),
            _ => Err(NetError::Timeout { to: to.to_string() }),
        }
    }

    /// Answer requests of type `Q` with `handler`, one task per request, until the node dies.
    /// A node may serve several request types, one `serve` each.
    /// A handler returning `None` sends no response (the caller times out).
    ///
    /// madsim charges every receive 1 ms of sim time after it takes the message off the wire
    /// (its `rand_delay` sleeps a few µs, and a madsim sleep lasts at least 1 ms), so one
    /// receiving loop takes at most one request per ms: a hidden single-server queue in front of
    /// every node, which made a database under 20 clients fall ever further behind. `RECEIVERS`
    /// loops take requests off the wire side by side instead; the receive charge is then what it
    /// should be, 1 ms of latency per message, and a node's service model is its own handler's.
    pub fn serve<Q, R, H, Fut>(&self, handler: H)
    where
        Q: Any + Send + Sync,
        R: Any + Send + Sync,
        H: Fn(Q, String) -> Fut + 'static,
        Fut: Future<Output = Option<R>> + 'static,
    {
        let handler = std::rc::Rc::new(handler);
        for _ in 0..RECEIVERS {
            let (net, handler) = (self.clone(), handler.clone());
            madsim::task::spawn_local(async move {
                loop {
                    let Ok((payload, from_addr)) = net.ep.recv_from_raw(type_tag::<Q>(false)).await else {
                        return;
                    };
                    let envelope = *payload
                        .downcast::<RequestEnvelope>()
                        .unwrap_or_else(|_| panic!("tiersim bug: {} got a malformed request", net.me));
                    let req = *envelope.body.downcast::<Q>().unwrap_or_else(|_| {
                        panic!(
                            "tiersim bug: {} got a request of the wrong type from {}",
                            net.me, envelope.from
                        )
                    });
                    let reply = handler(req, envelope.from);
                    let net = net.clone();
                    madsim::task::spawn_local(async move {
                        if let Some(resp) = reply.await {
                            net.send_raw(from_addr, envelope.reply_tag, Box::new(resp)).await;
                        }
                    });
                }
            });
        }
    }

    /// Send a one-way message. Under the fault plan's shaping it may arrive late, twice, or
    /// after messages sent after it.
    pub async fn send<M>(&self, to: &str, msg: M) -> Result<(), NetError>
    where
        M: Any + Send + Sync + Clone,
    {
        let addr = self.ctx.addr(to)?;
        for delay_ns in self.ctx.shape() {
            let envelope = OneWayEnvelope { from: self.me.to_string(), body: Box::new(msg.clone()) };
            if delay_ns == 0 {
                self.send_raw(addr, type_tag::<M>(true), Box::new(envelope)).await;
            } else {
                let net = self.clone();
                madsim::task::spawn_local(async move {
                    madsim::time::sleep(Duration::from_nanos(delay_ns)).await;
                    net.send_raw(addr, type_tag::<M>(true), Box::new(envelope)).await;
                });
            }
        }
        Ok(())
    }

    /// Receive the next one-way message and the name of its sender.
    pub async fn recv<M: Any>(&self) -> (M, String) {
        // The endpoint fails only when the node is being torn down; wait to be dropped.
        let Ok((payload, _)) = self.ep.recv_from_raw(type_tag::<M>(true)).await else {
            std::future::pending::<()>().await;
            unreachable!()
        };
        let envelope = *payload
            .downcast::<OneWayEnvelope>()
            .unwrap_or_else(|_| panic!("tiersim bug: {} got a malformed one-way message", self.me));
        let msg = *envelope.body.downcast::<M>().unwrap_or_else(|_| {
            panic!("tiersim bug: {} got a one-way message of the wrong type from {}", self.me, envelope.from)
        });
        (msg, envelope.from)
    }
}
