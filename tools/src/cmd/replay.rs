//! `netsketch replay`: capture files through the whole pipeline; exact
//! counters plus answers with bounds.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use capture::CaptureFile;
use pipeline::FileSource;
use serde_json::{json, Map};

use crate::args::cli::ReplayArgs;
use crate::args::engine::sampling_limits;
use crate::exit::Outcome;
use crate::progress::file_bar;
use crate::render::{
    self, flow_errors_into, flow_json, flow_rows, summary_json, table, thousands,
    window_line_cached, Rates,
};
use crate::session::Session;
use crate::stop::StopFlag;

/// A source replayed at a multiple of its own pace (`--speed`), or as fast
/// as possible. Sleeps per batch (at most 256 updates), never per packet,
/// in slices of at most [`SLEEP_SLICE`] so a stop request ends it at once.
/// A gap between two packets longer than `max_gap` of wall time (two files
/// days apart, a capture paused overnight) sleeps `max_gap`; the rest is
/// skipped and counted. Pacing only moves wall time: event time, and so
/// every epoch, window and answer, is the same at any speed.
struct Paced<'a, S> {
    inner: &'a mut S,
    speed: Option<f64>,
    max_gap: Duration,
    stop: &'a AtomicBool,
    /// The event time and the instant it was due, from the first packet.
    origin: Option<(u64, Instant)>,
    /// The latest event time seen (time running backwards is not a gap).
    prev_ts: u64,
    /// Wall time skipped so far, taken off every later deadline.
    skipped: Duration,
    /// Gaps capped.
    capped: u64,
}

/// The longest a paced replay sleeps before it looks at the stop flag.
const SLEEP_SLICE: Duration = Duration::from_millis(20);

impl<S> Paced<'_, S> {
    /// Wall time from the first packet to event time `ts` at this speed,
    /// less what capped gaps skipped.
    fn due(&self, t0: u64, ts: u64, speed: f64) -> Duration {
        Duration::from_secs_f64(ts.saturating_sub(t0) as f64 / 1e9 / speed)
            .saturating_sub(self.skipped)
    }

    /// Event time skipped by capped gaps, in seconds.
    fn skipped_trace_s(&self) -> f64 {
        self.skipped.as_secs_f64() * self.speed.unwrap_or(1.0)
    }
}

impl<S: pipeline::Source> pipeline::Source for Paced<'_, S> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn fill(&mut self, out: &mut Vec<capture::FlowUpdate>, max: usize) -> bool {
        let Some(speed) = self.speed else {
            return self.inner.fill(out, max);
        };
        let n0 = out.len();
        let more = self.inner.fill(out, max.min(256));
        let Some(first) = out.get(n0) else {
            return more;
        };
        let (t0, w0) = *self.origin.get_or_insert((first.ts_ns, Instant::now()));
        if self.prev_ts == 0 {
            self.prev_ts = first.ts_ns;
        }
        for u in &out[n0..] {
            if u.ts_ns > self.prev_ts {
                let gap = Duration::from_secs_f64((u.ts_ns - self.prev_ts) as f64 / 1e9 / speed);
                if gap > self.max_gap {
                    self.skipped += gap - self.max_gap;
                    self.capped += 1;
                }
                self.prev_ts = u.ts_ns;
            }
        }
        let due = self.due(t0, self.prev_ts, speed);
        while !self.stop.load(Ordering::Relaxed) {
            let Some(wait) = due.checked_sub(w0.elapsed()) else {
                break;
            };
            if wait.is_zero() {
                break;
            }
            std::thread::sleep(wait.min(SLEEP_SLICE));
        }
        more
    }
}

/// A file that cannot be opened, said once (the OS error is the message,
/// not also its cause).
fn open_error(path: &std::path::Path, e: capture::ReadError) -> anyhow::Error {
    match e {
        capture::ReadError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
            anyhow::anyhow!("cannot read {}: no such file", path.display())
        }
        capture::ReadError::Io(io) => anyhow::anyhow!("cannot read {}: {io}", path.display()),
        other => anyhow::anyhow!("cannot read {}: {other}", path.display()),
    }
}

pub fn run(args: &ReplayArgs) -> Result<ExitCode> {
    // Build every stage before any thread starts: a bad option or an
    // unreadable file fails the run before work begins.
    if let Some(x) = args.speed {
        if !(x.is_finite() && x > 0.0) {
            return Err(crate::exit::usage(
                "--speed must be a positive multiple, like 1 or 10",
            ));
        }
        if !(args.max_gap.is_finite() && args.max_gap >= 0.0) {
            return Err(crate::exit::usage(
                "--max-gap must be a number of seconds, 0 or more, like 1",
            ));
        }
    }
    let engine = args.run.engine.engine(!args.run.detect.no_detect)?;
    if let Some(dir) = &args.export_sketches {
        std::fs::create_dir_all(dir)
            .map_err(|e| crate::exit::output(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut files = Vec::with_capacity(args.files.len());
    let mut total_size = Some(0u64);
    for path in &args.files {
        let f = CaptureFile::open(path).map_err(|e| open_error(path, e))?;
        total_size = match (total_size, std::fs::metadata(path)) {
            (Some(t), Ok(m)) if m.is_file() => Some(t + m.len()),
            _ => None,
        };
        files.push((path.display().to_string(), f));
    }
    let mut session = Session::new(engine, &args.run.detect, Some((&args.kafka, &args.archive)))?;
    let stop = StopFlag::install();
    let limits = sampling_limits(args.default_sampling, args.sampling_override)?;
    let selection = crate::select::Selection::new(
        args.filter.as_deref(),
        args.from.as_deref(),
        args.to.as_deref(),
    )?;
    let first_linktype = files
        .iter()
        .find_map(|(_, f)| f.linktype())
        .unwrap_or(capture::Linktype::ETHERNET);
    let mut source = if args.flows {
        FileSource::flows(files, limits)
    } else {
        FileSource::new(files)
    };
    let mut filter_failures = None;
    if selection.is_some() {
        let (select, failures) = selection.selector(first_linktype)?;
        source = source.select(select);
        filter_failures = Some(failures);
    }
    session.serve(&args.serve, "replay", args.run.engine.top)?;
    let counters = source.progress_counters();
    let bar = file_bar(total_size, args.run.output.no_progress);
    session.with_bar(bar.clone());
    let k = args.run.engine.top;
    let queries = args.run.engine.queries()?;
    let json = args.run.output.json;
    let start = Instant::now();
    let done = std::sync::atomic::AtomicBool::new(false);
    let mut empty_window = None;
    let mut timeline = args
        .report
        .as_ref()
        .map(|_| crate::report_html::Timeline::new());
    let out = std::thread::scope(|s| {
        let ticker = s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                bar.set_position(counters.iter().map(|c| c.load(Ordering::Relaxed)).sum());
                // Woken at the end, so a stopped run reports at once.
                std::thread::park_timeout(Duration::from_millis(100));
            }
        });
        let mut paced = Paced {
            inner: &mut source,
            speed: args.speed,
            max_gap: Duration::from_secs_f64(args.max_gap),
            stop: stop.flag(),
            origin: None,
            prev_ts: 0,
            skipped: Duration::ZERO,
            capped: 0,
        };
        let out = session.run(&mut paced, stop.flag(), |i, w| {
            if let (Some(t), 0) = (timeline.as_mut(), i) {
                t.push(w);
            }
            if json {
                let v = window_line_cached(w, k, &queries, &mut empty_window);
                // A report that cannot be written ends the run.
                if !bar.suspend(|| render::println(v)) {
                    stop.set();
                }
            }
        });
        done.store(true, Ordering::Relaxed);
        ticker.thread().unpark();
        let _ = ticker.join();
        let pacing = args
            .speed
            .map(|x| (x, paced.capped, paced.skipped_trace_s()));
        (out, pacing)
    });
    let (out, pacing) = out;
    let elapsed = start.elapsed();
    // A signal before the input ended: the counts are partial.
    let interrupted = stop.signalled();
    let mut outcome = Outcome {
        interrupted,
        ..Outcome::default()
    };
    bar.finish_and_clear();
    if let Some(s) = session.server() {
        s.done();
        // Serve the final answers a while (Ctrl-C ends it early).
        let until = Instant::now() + Duration::from_secs_f64(args.linger.max(0.0));
        while Instant::now() < until && !stop.flag().load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    for p in &source.problems {
        if p.cut_short {
            outcome.truncated = true;
            eprintln!(
                "netsketch: warning: {}: {}; counted as truncated_file",
                p.name, p.error
            );
        } else {
            outcome.rejected = true;
            eprintln!(
                "netsketch: error: {}: {}; the rest of the file is skipped",
                p.name, p.error
            );
        }
    }
    for e in filter_failures.iter().flat_map(|f| f.take()) {
        eprintln!("netsketch: warning: -f: {e}; its packets are counted as filtered");
    }
    if let Some(dir) = &args.export_sketches {
        // A sketch that cannot be written is warned about; the report
        // still follows.
        for (name, bytes) in out.total.datasketches_export() {
            let path = dir.join(name);
            if let Err(e) = std::fs::write(&path, bytes) {
                eprintln!("netsketch: warning: cannot write {}: {e}", path.display());
                outcome.output_failed = true;
            }
        }
    }
    let done = session.finish(&mut outcome);
    if let Some(a) = &done.archive {
        for e in &a.errors {
            eprintln!("netsketch: warning: archive: {e}");
            outcome.output_failed = true;
        }
    }
    let totals = &source.totals;
    let rates = Rates::new(totals, elapsed);
    if let (Some(path), Some(t)) = (&args.report, &timeline) {
        let names: Vec<String> = args.files.iter().map(|f| f.display().to_string()).collect();
        let mut facts = vec![
            ("files".to_string(), names.join(", ")),
            ("packets".to_string(), thousands(totals.packets)),
            (
                "IP-layer bytes".to_string(),
                thousands(totals.proto.ip_bytes),
            ),
        ];
        if let Some(first) = totals.first_ts() {
            facts.push(("first packet".into(), crate::render::ts_text(first)));
            facts.push((
                "last packet".into(),
                crate::render::ts_text(totals.last_ts_ns),
            ));
        }
        let e = |x: sketches::Estimate| {
            format!(
                "{} [{}, {}]",
                thousands(x.value.round() as u64),
                thousands(x.lower.floor() as u64),
                thousands(x.upper.ceil() as u64)
            )
        };
        facts.push(("distinct sources".into(), e(out.total.distinct_src())));
        facts.push(("distinct destinations".into(), e(out.total.distinct_dst())));
        facts.push(("distinct flows".into(), e(out.total.distinct_flows())));
        if selection.is_some() {
            facts.push((
                "left out".into(),
                format!(
                    "{} by -f, {} outside --from/--to",
                    thousands(source.filtered),
                    thousands(source.out_of_range)
                ),
            ));
        }
        let html = crate::report_html::page(
            &format!("netsketch replay report: {}", names.join(", ")),
            t,
            &out.total,
            k,
            done.shown().unwrap_or(&[]),
            &facts,
        );
        if let Err(e) = std::fs::write(path, html) {
            eprintln!("netsketch: error: cannot write {}: {e}", path.display());
            outcome.output_failed = true;
        }
    }
    let cfg = session.engine.config();
    if json {
        let mut extra = Map::new();
        extra.insert("files".into(), json!(args.files.len()));
        extra.insert("late".into(), json!(out.late));
        extra.insert("epochs".into(), json!(out.epochs));
        extra.insert("skipped_epochs".into(), json!(out.skipped_epochs));
        extra.insert("workers".into(), json!(cfg.workers));
        if let Some((speed, capped, skipped)) = pacing {
            extra.insert(
                "pacing".into(),
                json!({"speed": speed, "max_gap_s": args.max_gap,
                    "capped_gaps": capped, "skipped_trace_s": skipped}),
            );
        }
        extra.insert("interrupted".into(), json!(interrupted));
        if selection.is_some() {
            extra.insert("filtered".into(), json!(source.filtered));
            extra.insert("out_of_range".into(), json!(source.out_of_range));
            extra.insert(
                "selection".into(),
                json!({"filter": selection.filter, "from_ns": selection.from_ns,
                    "to_ns": selection.to_ns}),
            );
        }
        done.answers_json(&mut extra, &out.total, k, &queries);
        if let Some(dec) = &source.flows {
            let ifs: Vec<_> = dec.sflow_interfaces().copied().collect();
            extra.extend(flow_json(&dec.counts, &ifs));
        }
        let mut v = summary_json(totals, rates, extra);
        if let Some(dec) = &source.flows {
            // Records and datagrams given up count with the packet errors.
            flow_errors_into(&mut v, &dec.counts);
        }
        render::println(v);
    } else {
        let title = format!(
            "netsketch replay: {} file(s), {} worker(s){}",
            args.files.len(),
            cfg.workers,
            if interrupted {
                " (interrupted: partial counts)"
            } else {
                ""
            }
        );
        let mut rows = vec![(
            "epochs".to_string(),
            format!(
                "{} closed, {} late updates, {} skipped in gaps over 2^23 epochs",
                thousands(out.epochs),
                thousands(out.late),
                thousands(out.skipped_epochs)
            ),
        )];
        if selection.is_some() {
            rows.push((
                "selected".to_string(),
                format!(
                    "{} filtered out by -f, {} outside --from/--to (neither counted above)",
                    thousands(source.filtered),
                    thousands(source.out_of_range)
                ),
            ));
        }
        if let Some((speed, capped, skipped)) = pacing {
            rows.push((
                "pacing".to_string(),
                format!(
                    "x{speed}, {} gap(s) over {} s capped, {:.1} s of trace time skipped",
                    thousands(capped),
                    args.max_gap,
                    skipped
                ),
            ));
        }
        if let Some(dec) = &source.flows {
            rows.extend(flow_rows(&dec.counts));
        }
        rows.extend(done.rows());
        render::print(&table(&title, totals, rates, &rows));
        render::print(&done.answers_text(
            &out.total,
            &args.run.engine.rankings(),
            &queries,
            totals.first_ts(),
        ));
    }
    render::check_stdout(&mut outcome);
    Ok(outcome.code())
}
