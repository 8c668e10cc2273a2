//! A panic in a protocol is a verdict about the user's code, so it must say where it happened and
//! in which operation. The runner turns any panic into a `crash` verdict; this wrapper, around
//! each client operation, names the protocol, the operation and the panic's location first.

use std::future::Future;
use tiersim_sim::runtime::{last_panic_location, panic_text};

/// Run `fut`; if it panics, panic on with "`context` at file:line:col: message".
pub async fn naming_panics<F: Future>(context: impl FnOnce() -> String, fut: F) -> F::Output {
    use futures_util::FutureExt;
    match std::panic::AssertUnwindSafe(fut).catch_unwind().await {
        Ok(out) => out,
        Err(payload) => {
            let at = last_panic_location().map_or(String::new(), |l| format!(" at {l}"));
            let text = panic_text(&*payload);
            std::panic::resume_unwind(Box::new(format!("{}{at}: {text}", context())))
        }
    }
}
