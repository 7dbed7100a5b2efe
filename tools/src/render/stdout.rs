//! Writing reports to standard output without panicking: a failed write
//! (EPIPE under `| head`, ENOSPC, `/dev/full`) is kept and reported once at
//! the end of the run.

use std::io::Write as _;
use std::sync::OnceLock;

/// The first failure to write standard output (EPIPE under `| head`,
/// ENOSPC, `/dev/full`).
static STDOUT_FAILED: OnceLock<String> = OnceLock::new();

/// Writes `text` to standard output and flushes it. Never panics: false
/// if it could not be written, the failure kept for [`check_stdout`]
/// (nothing more is written after one).
pub fn print(text: &str) -> bool {
    if STDOUT_FAILED.get().is_some() {
        return false;
    }
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        Ok(()) => true,
        Err(e) => {
            let _ = STDOUT_FAILED.set(e.to_string());
            false
        }
    }
}

/// [`print`] with a newline.
pub fn println(text: impl std::fmt::Display) -> bool {
    print(&format!("{text}\n"))
}

/// Ends a run's output: a failure to write standard output is said on
/// stderr and marks the outcome.
pub fn check_stdout(outcome: &mut crate::exit::Outcome) {
    if let Some(e) = STDOUT_FAILED.get() {
        eprintln!("netsketch: error: cannot write the report to standard output: {e}");
        outcome.output_failed = true;
    }
}
