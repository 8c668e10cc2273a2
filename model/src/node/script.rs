//! Scripts (`EVAL`/`FCALL`) as a protocol hands them to Redis: a named Rust closure run on the
//! Redis node as one atomic step, as Redis runs a Lua script or a function.
//!
//! A closure gets a [`ScriptCall`]: its declared `KEYS`, its `ARGV` (integers), the node's clock
//! frozen for the whole script (as Redis 7 freezes it), and `call`, which is `redis.call`: any
//! keyspace command of the node's request type on a declared key, answered as the node answers
//! it. Nothing else runs on the node while the script does, so what it reads and writes is
//! atomic. The types are generic over the request and reply so that this file needs nothing of
//! the Redis node (`node::redis` names `RedisScript` and checks the keys).
//!
//! What a closure may do, so that a run stays a pure function of its seed and the trace stays
//! readable: compute from what `ScriptCall` gives it and nothing else — no clock, no randomness,
//! no I/O, no state kept between calls (it is `Fn`, and must not hide state behind a lock). Its
//! effects are the commands it calls, recorded in the history as the same events those commands
//! record; the request is named by the script's name. As in Redis:
//! - a command on a key the script did not declare is refused (Redis Cluster's rule: declared
//!   keys are what routes a script to its shard), and so are commands that make no sense in a
//!   script (WATCH, EXEC, another script, SUBSCRIBE);
//! - an error reply does not undo the writes the script already made (Redis does not roll back);
//! - maxmemory evicts before the script starts, never in the middle of it.
//!
//! A panic in a closure is the protocol's bug: it crashes the run, naming the script and where.

use std::fmt;
use std::sync::Arc;
use tiersim_sim::runtime::{last_panic_location, panic_text};

/// The body of a script.
pub type ScriptFn<Req, Resp> = dyn Fn(&mut ScriptCall<'_, Req, Resp>) -> Resp + Send + Sync;

/// A named script (the name stands for its SHA in the trace).
pub struct Script<Req, Resp> {
    name: String,
    body: Arc<ScriptFn<Req, Resp>>,
}

impl<Req, Resp> Clone for Script<Req, Resp> {
    fn clone(&self) -> Self {
        Script { name: self.name.clone(), body: self.body.clone() }
    }
}

impl<Req, Resp> Script<Req, Resp> {
    pub fn new(
        name: impl Into<String>,
        body: impl Fn(&mut ScriptCall<'_, Req, Resp>) -> Resp + Send + Sync + 'static,
    ) -> Self {
        Script { name: name.into(), body: Arc::new(body) }
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<Req, Resp> fmt::Debug for Script<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Script({})", self.name)
    }
}

/// What a running script sees.
pub struct ScriptCall<'a, Req, Resp> {
    keys: &'a [String],
    args: &'a [i64],
    now_ms: u64,
    call: &'a mut dyn FnMut(Req) -> Resp,
}

impl<Req, Resp> ScriptCall<'_, Req, Resp> {
    /// `KEYS`.
    pub fn keys(&self) -> &[String] {
        self.keys
    }

    /// `ARGV`.
    pub fn args(&self) -> &[i64] {
        self.args
    }

    /// The node's clock in ms, the same for the whole script.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// `redis.call`: run `req` on the node (which refuses, with an error reply, a key the
    /// script did not declare and a command a script may not run).
    pub fn call(&mut self, req: Req) -> Resp {
        (self.call)(req)
    }
}

/// Run `script` with its keys and args: the body's reply, or a crash naming the script.
pub fn run<Req, Resp>(
    script: &Script<Req, Resp>,
    keys: &[String],
    args: &[i64],
    now_ms: u64,
    node: &str,
    call: &mut dyn FnMut(Req) -> Resp,
) -> Resp {
    let mut cx = ScriptCall { keys, args, now_ms, call };
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (script.body)(&mut cx))) {
        Ok(reply) => reply,
        Err(payload) => {
            let at = last_panic_location().map_or(String::new(), |l| format!(" at {l}"));
            let text = panic_text(&*payload);
            std::panic::resume_unwind(Box::new(format!(
                "script `{}` panicked on {node}{at}: {text}",
                script.name
            )))
        }
    }
}
