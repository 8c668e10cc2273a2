//! Redis client-side caching (`CLIENT TRACKING`), as Redis 7.0's `tracking.c` and the `CLIENT`
//! command in `networking.c` implement it: who is told that which key changed.
//!
//! - Default mode: the server remembers every key a tracking client read with a read-only
//!   command (a missing key too), and when the key is modified (a write, a delete that removed
//!   it, an expiry) tells every client that read it, once: the key is then forgotten until it is
//!   read again.
//! - `BCAST` with `PREFIX`es (none: every key): nothing is remembered; every modification of a
//!   key under one of the client's prefixes is announced to it, one message per command with the
//!   keys that command changed under that prefix (Redis batches per event-loop turn; one command
//!   is one turn here). BCAST without PREFIX adds the empty prefix to those the client has.
//! - `OPTIN`: a read is remembered only right after `CLIENT CACHING yes`; `OPTOUT`: always, but
//!   not right after `CLIENT CACHING no`. The flag lasts for the next command only.
//! - `NOLOOP`: a client is not told about keys it modified itself.
//! - `REDIRECT id`: the messages go to another connection instead, which in RESP2 must be in
//!   pub/sub mode, as a message on the `__redis__:invalidate` channel. If that connection is gone
//!   the messages are dropped (RESP2 has no way to say so), so a client whose redirect
//!   connection drops must flush its whole cache.
//!
//! Everything here is pure: the caller (the Redis node, or a test against a real redis-server)
//! says who ran which command and delivers what comes out. Clients are any ordered id; the
//! redirect target is a connection id the caller resolves. `FLUSHALL`'s null message is not
//! modelled (no protocol flushes Redis).

use std::collections::{BTreeMap, BTreeSet};

/// The channel RESP2 redirect connections receive invalidations on.
pub const INVALIDATE_CHANNEL: &str = "__redis__:invalidate";

/// The options of `CLIENT TRACKING on`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrackingOpts {
    pub redirect: Option<u64>,
    pub bcast: bool,
    pub prefixes: Vec<String>,
    pub optin: bool,
    pub optout: bool,
    pub noloop: bool,
}

/// An invalidation for `client`'s cache: send it to its redirect connection (RESP2: a pub/sub
/// message on [`INVALIDATE_CHANNEL`] whose payload is `keys`), if it has one that still lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notify<C> {
    pub client: C,
    pub redirect: Option<u64>,
    pub keys: Vec<String>,
}

/// Every client's tracking state on one Redis node.
#[derive(Clone, Debug)]
pub struct Tracking<C: Ord + Clone> {
    clients: BTreeMap<C, TrackingOpts>,
    /// `CLIENT CACHING yes|no` given for the next command.
    caching: BTreeSet<C>,
    /// Default mode: the clients that may hold each key.
    readers: BTreeMap<String, BTreeSet<C>>,
}

impl<C: Ord + Clone> Default for Tracking<C> {
    fn default() -> Self {
        Tracking { clients: BTreeMap::new(), caching: BTreeSet::new(), readers: BTreeMap::new() }
    }
}

fn err(msg: &str) -> String {
    format!("ERR {msg}")
}

impl<C: Ord + Clone> Tracking<C> {
    /// `CLIENT TRACKING on …`, with Redis's checks in Redis's order; `redirect_exists` says
    /// whether the redirect target is a live connection. The error is Redis's reply text.
    pub fn enable(&mut self, client: &C, opts: TrackingOpts, redirect_exists: bool) -> Result<(), String> {
        if opts.redirect.is_some() && !redirect_exists {
            return Err(err("The client ID you want redirect to does not exist"));
        }
        if !opts.bcast && !opts.prefixes.is_empty() {
            return Err(err("PREFIX option requires BCAST mode to be enabled"));
        }
        let old = self.clients.get(client);
        if old.is_some_and(|o| o.bcast != opts.bcast) {
            return Err(err("You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
        if opts.bcast && (opts.optin || opts.optout) {
            return Err(err("OPTIN and OPTOUT are not compatible with BCAST"));
        }
        if opts.optin && opts.optout {
            return Err(err("You can't specify both OPTIN mode and OPTOUT mode"));
        }
        if old.is_some_and(|o| (opts.optin && o.optout) || (opts.optout && o.optin)) {
            return Err(err("You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode."));
        }
        let mut prefixes = old.map(|o| o.prefixes.clone()).unwrap_or_default();
        if opts.bcast {
            for (i, p) in opts.prefixes.iter().enumerate() {
                let overlaps = |q: &String| p.starts_with(q.as_str()) || q.starts_with(p.as_str());
                if let Some(q) = prefixes.iter().find(|q| overlaps(q)) {
                    return Err(err(&format!("Prefix '{p}' overlaps with an existing prefix '{q}'. Prefixes for a single client must not overlap.")));
                }
                if let Some(q) = opts.prefixes[i + 1..].iter().find(|q| overlaps(q)) {
                    return Err(err(&format!("Prefix '{p}' overlaps with another provided prefix '{q}'. Prefixes for a single client must not overlap.")));
                }
            }
            for p in &opts.prefixes {
                if !prefixes.contains(p) {
                    prefixes.push(p.clone());
                }
            }
            // BCAST without PREFIX adds the empty prefix, unchecked, whatever the client had.
            if opts.prefixes.is_empty() && !prefixes.contains(&String::new()) {
                prefixes.push(String::new());
            }
        }
        self.clients.insert(client.clone(), TrackingOpts { prefixes, ..opts });
        Ok(())
    }

    /// `CLIENT TRACKING off`. Keys it read stay remembered (Redis drops them lazily).
    pub fn disable(&mut self, client: &C) {
        self.clients.remove(client);
        self.caching.remove(client);
    }

    /// Whether `client` has tracking on, and how.
    pub fn opts(&self, client: &C) -> Option<&TrackingOpts> {
        self.clients.get(client)
    }

    /// `CLIENT CACHING yes|no` for the client's next command.
    pub fn caching(&mut self, client: &C, yes: bool) -> Result<(), String> {
        let Some(o) = self.clients.get(client) else {
            return Err(err("CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled"));
        };
        match (yes, o.optin, o.optout) {
            (true, false, _) => {
                Err(err("CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."))
            }
            (false, _, false) => {
                Err(err("CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."))
            }
            _ => {
                self.caching.insert(client.clone());
                Ok(())
            }
        }
    }

    /// `client` ran a command other than `CLIENT CACHING`: `read` holds the keys of a read-only
    /// command (empty for a write), remembered as its mode says. The caching flag ends here.
    pub fn command(&mut self, client: &C, read: &[String]) {
        let given = self.caching.remove(client);
        let Some(o) = self.clients.get(client) else {
            return;
        };
        if o.bcast || (o.optin && !given) || (o.optout && given) {
            return;
        }
        for key in read {
            self.readers.entry(key.clone()).or_default().insert(client.clone());
        }
    }

    /// `keys` were modified by a command of `writer` (None: by the server, an expiry or an
    /// eviction): the messages to send, default-mode ones per key first, then one BCAST message
    /// per client, in client order.
    pub fn modified(&mut self, writer: Option<&C>, keys: &[String]) -> Vec<Notify<C>> {
        let mut out = Vec::new();
        let skip = |c: &C, o: &TrackingOpts| o.noloop && writer == Some(c);
        for key in keys {
            let Some(readers) = self.readers.remove(key) else {
                continue;
            };
            for c in readers {
                match self.clients.get(&c) {
                    Some(o) if !o.bcast && !skip(&c, o) => {
                        out.push(Notify { client: c.clone(), redirect: o.redirect, keys: vec![key.clone()] })
                    }
                    _ => {}
                }
            }
        }
        for (c, o) in self.clients.iter().filter(|(c, o)| o.bcast && !skip(c, o)) {
            // One message per prefix, in prefix order (Redis keeps a key set per prefix).
            let mut prefixes = o.prefixes.clone();
            prefixes.sort();
            for p in prefixes {
                let mine: Vec<String> = keys.iter().filter(|k| k.starts_with(p.as_str())).cloned().collect();
                if !mine.is_empty() {
                    out.push(Notify { client: c.clone(), redirect: o.redirect, keys: mine });
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::state::tracking::{Notify, Tracking, TrackingOpts};

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    fn to(client: u8, keys_: &[&str]) -> Notify<u8> {
        Notify { client, redirect: Some(9), keys: keys(keys_) }
    }

    #[test]
    fn default_mode_tells_each_reader_once_and_noloop_spares_the_writer() {
        let mut t = Tracking::<u8>::default();
        t.enable(&1, TrackingOpts { redirect: Some(9), ..Default::default() }, true).unwrap();
        t.enable(&2, TrackingOpts { redirect: Some(9), noloop: true, ..Default::default() }, true).unwrap();
        t.command(&1, &keys(&["a"]));
        t.command(&2, &keys(&["a"]));
        assert_eq!(t.modified(Some(&2), &keys(&["a", "b"])), vec![to(1, &["a"])], "2 wrote it itself");
        assert_eq!(t.modified(Some(&3), &keys(&["a"])), vec![], "once: until it is read again");
        t.command(&1, &keys(&["a"]));
        assert_eq!(t.modified(None, &keys(&["a"])), vec![to(1, &["a"])], "an expiry tells too");
    }

    #[test]
    fn optin_remembers_only_after_caching_yes_and_optout_not_after_caching_no() {
        let mut t = Tracking::<u8>::default();
        let r = Some(9);
        t.enable(&1, TrackingOpts { redirect: r, optin: true, ..Default::default() }, true).unwrap();
        t.enable(&2, TrackingOpts { redirect: r, optout: true, ..Default::default() }, true).unwrap();
        assert!(t.caching(&1, false).is_err() && t.caching(&2, true).is_err());
        t.command(&1, &keys(&["a"]));
        t.caching(&2, false).unwrap();
        t.command(&2, &keys(&["a"]));
        assert_eq!(t.modified(None, &keys(&["a"])), vec![]);
        t.caching(&1, true).unwrap();
        t.command(&1, &keys(&["a"]));
        t.command(&1, &keys(&["b"]));
        t.command(&2, &keys(&["b"]));
        assert_eq!(t.modified(None, &keys(&["a", "b"])), vec![to(1, &["a"]), to(2, &["b"])]);
    }

    #[test]
    fn bcast_announces_every_change_under_a_prefix_and_refuses_overlaps() {
        let mut t = Tracking::<u8>::default();
        let bcast = |p: &[&str]| TrackingOpts {
            redirect: Some(9),
            bcast: true,
            prefixes: keys(p),
            ..Default::default()
        };
        t.enable(&1, bcast(&["user:", "cfg"]), true).unwrap();
        assert!(t
            .enable(&1, bcast(&["user:1"]), true)
            .unwrap_err()
            .contains("overlaps with an existing prefix"));
        assert!(t.enable(&2, bcast(&["x", "xy"]), true).unwrap_err().contains("overlaps with another"));
        assert!(t.enable(&2, TrackingOpts { prefixes: keys(&["x"]), ..Default::default() }, true).is_err());
        assert!(t.enable(&3, TrackingOpts { redirect: Some(8), ..Default::default() }, false).is_err());
        t.command(&1, &keys(&["other"]));
        assert_eq!(
            t.modified(Some(&4), &keys(&["user:7", "other", "cfg"])),
            vec![to(1, &["cfg"]), to(1, &["user:7"])],
            "a message per prefix, in prefix order"
        );
        assert_eq!(t.modified(Some(&4), &keys(&["user:7"])), vec![to(1, &["user:7"])], "every time");
    }
}
