//! How a protocol operation fails, in the history's terms: `fail` (it had no effect) or `info`
//! (it may or may not have taken effect).

use tiersim_sim::net::NetError;

/// Why an operation did not complete normally.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpError {
    /// It definitely had no effect (history: `fail`).
    Failed(String),
    /// It may or may not have taken effect (history: `info`): a timeout after a request left.
    Indeterminate(String),
}

impl From<NetError> for OpError {
    fn from(e: NetError) -> Self {
        OpError::Indeterminate(e.to_string())
    }
}
