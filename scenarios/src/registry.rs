//! The scenarios and protocols a `tiersim` binary knows by name.
//!
//! The shipped binary knows the built-ins; a user's binary (`cli::main_with(registry)`) adds its
//! own protocols and scenarios. Everything that names a protocol or a scenario across a process
//! boundary goes through here: a sweep's worker processes are the same binary re-executed, so
//! they resolve the names the parent sent with the same registry, user protocols included.

use crate::scenario::Scenario;
use std::sync::Arc;
use tiersim_model::protocol::DynProtocol;

/// The registry the command line was started with (`cli::main_with`); installed once, before
/// any command runs.
static CURRENT: std::sync::OnceLock<Registry> = std::sync::OnceLock::new();

/// Make `registry` the one `current` returns. The first call wins.
pub fn install(registry: Registry) {
    let _ = CURRENT.set(registry);
}

/// The installed registry; the built-ins when none was installed.
pub fn current() -> &'static Registry {
    CURRENT.get_or_init(Registry::builtin)
}

/// Named scenarios and protocols, in the order `list` shows them.
#[derive(Clone)]
pub struct Registry {
    pub scenarios: Vec<Arc<dyn Scenario>>,
    pub protocols: Vec<Arc<dyn DynProtocol>>,
}

impl Registry {
    /// The built-in scenarios and protocols (the correct ones and the bug zoo).
    pub fn builtin() -> Registry {
        Registry {
            scenarios: crate::scenario::catalog::all(),
            protocols: tiersim_model::protocols::builtin(),
        }
    }

    /// Add a protocol; a later one with the same name replaces an earlier one.
    pub fn with_protocol(mut self, protocol: Arc<dyn DynProtocol>) -> Registry {
        self.protocols.retain(|p| p.name() != protocol.name());
        self.protocols.push(protocol);
        self
    }

    /// Add a scenario; a later one with the same name replaces an earlier one.
    pub fn with_scenario(mut self, scenario: Arc<dyn Scenario>) -> Registry {
        self.scenarios.retain(|s| s.name() != scenario.name());
        self.scenarios.push(scenario);
        self
    }

    pub fn scenario(&self, name: &str) -> Option<Arc<dyn Scenario>> {
        self.scenarios.iter().find(|s| s.name() == name).cloned()
    }

    pub fn protocol(&self, name: &str) -> Option<Arc<dyn DynProtocol>> {
        self.protocols.iter().find(|p| p.name() == name).cloned()
    }
}
