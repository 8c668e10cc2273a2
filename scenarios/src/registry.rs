//! What a `tiersim` binary knows by name: its protocols, its scenarios, and how a person calls
//! it, so that every command it prints (`reproduce: …`, `replay …`, `shrink …`) runs again.
//!
//! The shipped binary is `cli::main_with(Registry::builtin())`. A team's own binary registers
//! its protocols (and, if it has them, its scenarios) the same way and gets every command on
//! them:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     tiersim::cli::main_with(tiersim::Registry::new().protocol(OurCache::default))
//! }
//! ```

use crate::scenario::{catalog, Scenario};
use std::sync::Arc;
use tiersim_model::protocol::{Protocol, ProtocolFactory};
use tiersim_model::protocols;

/// Protocols and scenarios by name, and the command that runs this binary.
#[derive(Clone)]
pub struct Registry {
    protocols: Vec<ProtocolFactory>,
    scenarios: Vec<Arc<dyn Scenario>>,
    command: Option<String>,
}

impl Registry {
    /// Every built-in scenario and no protocol: the start of a team's own registry.
    pub fn new() -> Registry {
        Registry { protocols: Vec::new(), scenarios: catalog::all(), command: None }
    }

    /// Everything tiersim ships: the built-in scenarios and protocols (correct ones, common
    /// ones and the bug zoo), called as `cargo tiersim` from tiersim's own repository.
    pub fn builtin() -> Registry {
        Registry::new().with_builtin_protocols().command("cargo tiersim")
    }

    /// Add the built-in protocols, to compare a team's protocol with them.
    pub fn with_builtin_protocols(mut self) -> Registry {
        for p in protocols::builtin() {
            self = self.protocol_factory(p);
        }
        self
    }

    /// Register a protocol by its constructor (`OurCache::default`, `|| OurCache::new(ttl)`).
    /// Each run builds one instance per app process with it.
    pub fn protocol<P: Protocol, F: Fn() -> P + Send + Sync + 'static>(self, make: F) -> Registry {
        self.protocol_factory(ProtocolFactory::new(make))
    }

    /// Register a protocol factory; a later one with the same name replaces the earlier.
    pub fn protocol_factory(mut self, factory: ProtocolFactory) -> Registry {
        self.protocols.retain(|p| p.name() != factory.name());
        self.protocols.push(factory);
        self
    }

    /// Register a scenario of the team's own; a later one with the same name replaces the
    /// earlier (a built-in included).
    pub fn scenario(mut self, scenario: impl Scenario + 'static) -> Registry {
        self.scenarios.retain(|s| s.name() != scenario.name());
        self.scenarios.push(Arc::new(scenario));
        self
    }

    /// How a person runs this binary, for the commands it prints, e.g.
    /// `cargo run --release --bin tiersim --`. By default it is the name this process was
    /// started as, run through cargo: `cargo run --release --bin NAME --`.
    pub fn command(mut self, command: &str) -> Registry {
        self.command = Some(command.to_string());
        self
    }

    pub fn protocols(&self) -> &[ProtocolFactory] {
        &self.protocols
    }

    pub fn scenarios(&self) -> &[Arc<dyn Scenario>] {
        &self.scenarios
    }

    /// The protocol called `name` (an old name of a renamed built-in included).
    pub fn find_protocol(&self, name: &str) -> Option<ProtocolFactory> {
        let name = protocols::current_name(name);
        self.protocols.iter().find(|p| p.name() == name).cloned()
    }

    /// The scenario called `name` (an old name of a renamed built-in included).
    pub fn find_scenario(&self, name: &str) -> Option<Arc<dyn Scenario>> {
        let name = catalog::current_name(name);
        self.scenarios.iter().find(|s| s.name() == name).cloned()
    }

    /// The command prefix that runs this binary: `cargo tiersim`, or what `command` set, or
    /// `cargo run --release --bin NAME --` for the binary this process is.
    pub fn command_line(&self) -> String {
        self.command.clone().unwrap_or_else(|| {
            let exe = std::env::current_exe().ok();
            let name = exe.as_ref().and_then(|p| p.file_stem()).and_then(|s| s.to_str()).unwrap_or("tiersim");
            format!("cargo run --release --bin {name} --")
        })
    }

    /// The command that reproduces seed `seed` of `scenario` under `protocol`.
    pub fn reproduce(&self, scenario: &str, protocol: &str, seed: u64) -> String {
        format!("{} run --scenario {scenario} --protocol {protocol} --seed {seed}", self.command_line())
    }
}

impl Default for Registry {
    fn default() -> Registry {
        Registry::new()
    }
}
