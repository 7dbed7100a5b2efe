//! Progress on a terminal (indicatif, on stderr), and nothing at all when
//! stderr is not one: scripts and logs get no bar characters.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether a bar may be drawn: stderr is a terminal and none was refused.
fn shown(disabled: bool) -> bool {
    !disabled && std::io::stderr().is_terminal()
}

fn styled(bar: ProgressBar, template: &str) -> ProgressBar {
    bar.set_style(
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

/// A byte progress bar on stderr for files of known size, a spinner with
/// the bytes read so far for a stream (standard input).
pub fn file_bar(total_bytes: Option<u64>, disabled: bool) -> ProgressBar {
    if !shown(disabled) {
        return ProgressBar::hidden();
    }
    match total_bytes {
        Some(total) => styled(
            ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
            "{spinner} [{elapsed_precise}] [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta}) {msg}",
        ),
        None => styled(
            ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            "{spinner} [{elapsed_precise}] {bytes} read ({bytes_per_sec}) {msg}",
        ),
    }
}

/// A bar over `total` units of work (packets generated, sketch updates),
/// named by `what`.
pub fn work_bar(total: u64, what: &str, disabled: bool) -> ProgressBar {
    if !shown(disabled) {
        return ProgressBar::hidden();
    }
    let bar = styled(
        ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()),
        "{spinner} [{elapsed_precise}] [{bar:40}] {percent:>3}% {human_pos}/{human_len} {prefix} (eta {eta}) {msg}",
    );
    bar.set_prefix(what.to_string());
    bar
}
