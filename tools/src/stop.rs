//! Clean stop on Ctrl-C and SIGTERM: the handler only sets a flag, which
//! the read loops check between batches, so final counters are printed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A flag set when the user asks the program to stop (or the program
/// itself: a deadline, an output that failed).
#[derive(Debug, Clone)]
pub struct StopFlag(Arc<AtomicBool>, Arc<AtomicBool>);

impl StopFlag {
    /// Installs the Ctrl-C/SIGTERM handler. A second signal while stopping
    /// exits at once, for a stuck program.
    pub fn install() -> StopFlag {
        Self::install_with(|| {})
    }

    /// Like [`Self::install`], also running `wake` on a stop request, to
    /// interrupt a blocking read. The `ctrlc` crate runs handlers on an
    /// ordinary thread, so `wake` need not be async-signal-safe.
    pub fn install_with(wake: impl Fn() + Send + 'static) -> StopFlag {
        let flag = Arc::new(AtomicBool::new(false));
        let signalled = Arc::new(AtomicBool::new(false));
        let (f, s) = (Arc::clone(&flag), Arc::clone(&signalled));
        // Installing can only fail if a handler exists already (tests that
        // run several commands in one process); the flag then stays unset.
        let _ = ctrlc::set_handler(move || {
            if s.swap(true, Ordering::SeqCst) {
                std::process::exit(crate::exit::INTERRUPTED.into());
            }
            f.store(true, Ordering::SeqCst);
            wake();
        });
        StopFlag(flag, signalled)
    }

    /// Whether a signal (Ctrl-C, SIGTERM) asked for the stop.
    pub fn signalled(&self) -> bool {
        self.1.load(Ordering::SeqCst)
    }

    /// Requests a stop from inside the program (a deadline, say).
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    /// The flag itself, for code that polls it.
    pub fn flag(&self) -> &AtomicBool {
        &self.0
    }
}
