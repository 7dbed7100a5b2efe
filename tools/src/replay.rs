//! `netsketch replay`: read capture files in order and report exact counters.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use capture::{parse_packet, CaptureFile, FlowUpdate, ReadError, Reason, Totals};
use serde_json::{json, Map};

use crate::cli::ReplayArgs;
use crate::progress::file_bar;
use crate::render::{summary_json, table, Rates};
use crate::stop::StopFlag;

/// Packets between checks of the stop flag and progress updates: keeps the
/// per-packet loop free of atomics.
const CHECK_EVERY: u64 = 1 << 14;

/// How reading one file ended.
#[derive(Debug)]
pub enum FileEnd {
    /// Read to the end.
    Complete,
    /// The file ended inside a record: counted, the packets before it stand.
    CutShort(ReadError),
    /// Corrupt framing: counted, the rest of the file is unreadable.
    Corrupt(ReadError),
    /// Stopped by the user.
    Stopped,
}

/// Reads every packet of `file` into `totals`.
pub fn read_file(
    file: &mut CaptureFile,
    totals: &mut Totals,
    stop: Option<&StopFlag>,
    mut tick: impl FnMut(),
) -> FileEnd {
    let mut upd = FlowUpdate::default();
    let mut n: u64 = 0;
    loop {
        match file.next_packet() {
            Ok(Some(pkt)) => {
                let res = parse_packet(&pkt, &mut upd);
                totals.record(&pkt, &upd, res.err());
                n += 1;
                if n % CHECK_EVERY == 0 {
                    tick();
                    if stop.is_some_and(StopFlag::is_set) {
                        return FileEnd::Stopped;
                    }
                }
            }
            Ok(None) => return FileEnd::Complete,
            Err(e) => {
                let reason = e.reason().unwrap_or(Reason::ReadError);
                totals.errors.add(reason, 1);
                if !e.is_fatal() {
                    continue;
                }
                return if reason == Reason::TruncatedFile {
                    FileEnd::CutShort(e)
                } else {
                    FileEnd::Corrupt(e)
                };
            }
        }
    }
}

pub fn run(args: &ReplayArgs) -> Result<ExitCode> {
    let stop = StopFlag::install();
    // Open every file first: a missing or foreign file fails the run before
    // any work starts.
    let mut files = Vec::with_capacity(args.files.len());
    let mut total_size = Some(0u64);
    for path in &args.files {
        let f =
            CaptureFile::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        total_size = match (total_size, std::fs::metadata(path)) {
            (Some(t), Ok(m)) if m.is_file() => Some(t + m.len()),
            _ => None,
        };
        files.push((path, f));
    }
    let bar = file_bar(total_size, args.output.no_progress);
    let mut totals = Totals::default();
    let mut failed = false;
    let mut done_bytes = 0u64;
    let start = Instant::now();
    for (path, file) in &mut files {
        let counter = file.source_bytes();
        let end = read_file(file, &mut totals, Some(&stop), || {
            bar.set_position(done_bytes + counter.load(std::sync::atomic::Ordering::Relaxed));
        });
        done_bytes += counter.load(std::sync::atomic::Ordering::Relaxed);
        match end {
            FileEnd::Complete => {}
            FileEnd::CutShort(e) => bar.suspend(|| {
                eprintln!(
                    "netsketch: warning: {}: {e}; counted as truncated_file",
                    path.display()
                )
            }),
            FileEnd::Corrupt(e) => {
                failed = true;
                bar.suspend(|| {
                    eprintln!(
                        "netsketch: error: {}: {e}; the rest of the file is skipped",
                        path.display()
                    )
                });
            }
            FileEnd::Stopped => break,
        }
    }
    let elapsed = start.elapsed();
    bar.finish_and_clear();
    let rates = Rates::new(&totals, elapsed);
    if args.output.json {
        let mut extra = Map::new();
        extra.insert("files".into(), json!(args.files.len()));
        println!("{}", summary_json(&totals, rates, extra));
    } else {
        let title = format!("netsketch replay: {} file(s)", args.files.len());
        print!("{}", table(&title, &totals, rates, &[]));
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
