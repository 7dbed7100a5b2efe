//! The `netsketch` binary. All command-line code lives in `tools/`
//! (crate `netsketch-tools`); this entry point sits in the root package so
//! that the end-to-end tests in `tests/` can run it as `CARGO_BIN_EXE_netsketch`.

fn main() -> std::process::ExitCode {
    netsketch_tools::main()
}
