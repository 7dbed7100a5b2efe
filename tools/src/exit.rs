//! The exit status of every command, from one table (README "Exit codes"):
//!
//! | status | meaning |
//! | --- | --- |
//! | 0 | the run went through; everything was written |
//! | 1 | input rejected or corrupt (a file that is not a capture, corrupt framing mid-file), or the run could not start (address in use, file unreadable) |
//! | 2 | usage: a flag, option value or configuration file refused before anything ran |
//! | 3 | truncated input: a capture (compressed or not) cut short; what it held was counted |
//! | 4 | output failure: standard output, `--alerts`, `--export-sketches` or a `--notify` command failed (the rest of the report is still written where it can be) |
//! | 130 | interrupted: Ctrl-C or SIGTERM stopped a run before its input ended (`"interrupted": true` in the summary) |
//!
//! When several apply, the first in the order 4, 1, 130, 3 is the status.

use std::fmt;
use std::process::ExitCode;

/// Usage status (clap's too).
pub const USAGE: u8 = 2;
/// Truncated input.
pub const TRUNCATED: u8 = 3;
/// Output failure.
pub const OUTPUT: u8 = 4;
/// Interrupted by a signal.
pub const INTERRUPTED: u8 = 130;

/// What went wrong in a run that reached its report.
#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    /// Some input was rejected or corrupt.
    pub rejected: bool,
    /// Some input was cut short.
    pub truncated: bool,
    /// A signal stopped the run before its input ended.
    pub interrupted: bool,
    /// An output could not be written.
    pub output_failed: bool,
}

impl Outcome {
    /// The exit status, by the table's precedence.
    pub fn code(&self) -> ExitCode {
        ExitCode::from(if self.output_failed {
            OUTPUT
        } else if self.rejected {
            1
        } else if self.interrupted {
            INTERRUPTED
        } else if self.truncated {
            TRUNCATED
        } else {
            0
        })
    }
}

/// An error that is the user's to fix in the command line or the
/// configuration file: exit status 2.
#[derive(Debug)]
pub struct Usage(pub String);

impl fmt::Display for Usage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

/// An output that could not be opened or written before the run: exit
/// status 4.
#[derive(Debug)]
pub struct OutputFailed(pub String);

impl fmt::Display for OutputFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for OutputFailed {}

/// Marks an error as a usage error.
pub fn usage(e: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(Usage(format!("{e:#}")))
}

/// Marks an error as an output failure.
pub fn output(e: impl fmt::Display) -> anyhow::Error {
    anyhow::Error::new(OutputFailed(format!("{e:#}")))
}

/// The status of a command that failed with `e`.
pub fn status_of(e: &anyhow::Error) -> u8 {
    if e.chain().any(|c| c.is::<Usage>()) {
        USAGE
    } else if e.chain().any(|c| c.is::<OutputFailed>()) {
        OUTPUT
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_follows_the_table() {
        let all = Outcome {
            rejected: true,
            truncated: true,
            interrupted: true,
            output_failed: true,
        };
        assert_eq!(all.code(), ExitCode::from(OUTPUT));
        let o = Outcome {
            output_failed: false,
            ..all
        };
        assert_eq!(o.code(), ExitCode::from(1));
        let o = Outcome {
            rejected: false,
            ..o
        };
        assert_eq!(o.code(), ExitCode::from(INTERRUPTED));
        let o = Outcome {
            interrupted: false,
            ..o
        };
        assert_eq!(o.code(), ExitCode::from(TRUNCATED));
        assert_eq!(Outcome::default().code(), ExitCode::SUCCESS);
    }

    #[test]
    fn errors_carry_their_status_through_context() {
        let e = usage("--memory 9 MiB is too small").context("replay");
        assert_eq!(status_of(&e), USAGE);
        let e = output("cannot create /x").context("replay");
        assert_eq!(status_of(&e), OUTPUT);
        assert_eq!(status_of(&anyhow::anyhow!("cannot read x")), 1);
    }
}
