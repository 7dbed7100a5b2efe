//! The netsketch command line: argument parsing (clap), the commands'
//! drivers, and report rendering. Analysis lives in `capture`, `sketches`
//! and `pipeline`; this crate wires them to files, terminals and sockets.
//!
//! Architecture invariant: no analysis logic here. A command reads options,
//! builds the stages the library crates provide, and renders their answers.

mod alerts;
mod archive;
mod args;
mod cmd;
mod engine_error;
mod exit;
pub mod gen;
mod http;
pub mod kafka;
mod progress;
mod rankings;
mod render;
mod report_html;
mod select;
mod serve;
mod session;
mod stop;
mod top_view;

use std::process::ExitCode;

use clap::Parser;

use args::cli;
pub use args::cli::Cli;

/// Runs the command line and returns the process exit status, from the
/// table in `exit.rs`: 0 ok, 1 input rejected or the run failed, 2 usage
/// (clap's and ours), 3 truncated input, 4 output failure, 130
/// interrupted.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("netsketch: {e:#}");
            ExitCode::from(exit::status_of(&e))
        }
    }
}

/// Runs one command.
fn dispatch(command: cli::Command) -> anyhow::Result<ExitCode> {
    match command {
        cli::Command::Run(args) => cmd::run::run(&args),
        cli::Command::Demo(args) => cmd::demo::run(&args),
        cli::Command::Replay(args) => cmd::replay::run(&args),
        cli::Command::Capture(args) => cmd::capture::run(&args),
        cli::Command::Collect(args) => cmd::collect::run(&args),
        cli::Command::Top(args) => cmd::top::run(&args),
        cli::Command::Query(args) => cmd::top::query(&args),
        cli::Command::Gen(args) => cmd::gen::run(&args),
        cli::Command::Accuracy(args) => cmd::accuracy::run(&args),
        cli::Command::Merge(args) => cmd::merge::run(&args),
    }
}
