//! The netsketch command line: argument parsing (clap), the commands'
//! drivers, and report rendering. Analysis lives in `capture`, `sketches`
//! and `pipeline`; this crate wires them to files, terminals and sockets.
//!
//! Architecture invariant: no analysis logic here. A command reads options,
//! builds the stages the library crates provide, and renders their answers.

mod accuracy;
mod alerts;
mod archive;
mod cli;
mod cmd;
mod collect_cmd;
mod demo;
mod engine_args;
mod exit;
pub mod gen;
mod http;
pub mod kafka;
mod merge_cmd;
mod progress;
mod rankings;
mod render;
mod replay;
mod report_html;
mod run_cmd;
mod select;
mod serve;
mod stop;
mod top;
mod top_view;

use std::process::ExitCode;

use clap::Parser;

pub use cli::Cli;

/// Runs the command line and returns the process exit status, from the
/// table in [`exit`]: 0 ok, 1 input rejected or the run failed, 2 usage
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
        cli::Command::Run(args) => run_cmd::run(&args),
        cli::Command::Demo(args) => demo::run(&args),
        cli::Command::Replay(args) => replay::run(&args),
        cli::Command::Capture(args) => cmd::capture::run(&args),
        cli::Command::Collect(args) => collect_cmd::run(&args),
        cli::Command::Top(args) => top::run(&args),
        cli::Command::Query(args) => top::query(&args),
        cli::Command::Gen(args) => gen::run(&args),
        cli::Command::Accuracy(args) => accuracy::run(&args),
        cli::Command::Merge(args) => merge_cmd::run(&args),
    }
}
