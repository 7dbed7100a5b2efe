//! `netsketch replay`: capture files through the whole pipeline; exact
//! counters plus answers with bounds.

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use capture::CaptureFile;
use pipeline::FileSource;
use serde_json::{json, Map};

use crate::alerts::{self, Alerting};
use crate::cli::ReplayArgs;
use crate::engine_args::sampling_limits;
use crate::exit::Outcome;
use crate::progress::file_bar;
use crate::render::{
    self, flow_errors_into, flow_json, flow_rows, run_answers_json, run_answers_text, summary_json,
    table, thousands, window_line, Rates,
};
use crate::serve;
use crate::stop::StopFlag;

/// A source replayed at a multiple of its own pace (`--speed`), or as fast
/// as possible. Sleeps per batch (at most 256 updates), never per packet.
struct Paced<'a, S> {
    inner: &'a mut S,
    speed: Option<f64>,
    first: Option<(u64, Instant)>,
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
        if let (Some(first), Some(last)) = (out.get(n0), out.last()) {
            let (t0, w0) = *self.first.get_or_insert((first.ts_ns, Instant::now()));
            let due = Duration::from_secs_f64(last.ts_ns.saturating_sub(t0) as f64 / 1e9 / speed);
            if let Some(wait) = due.checked_sub(w0.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        more
    }
}

pub fn run(args: &ReplayArgs) -> Result<ExitCode> {
    // Build every stage before any thread starts: a bad option or an
    // unreadable file fails the run before work begins.
    let engine = args.engine.engine()?;
    if let Some(dir) = &args.export_sketches {
        std::fs::create_dir_all(dir)
            .map_err(|e| crate::exit::output(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut files = Vec::with_capacity(args.files.len());
    let mut total_size = Some(0u64);
    for path in &args.files {
        let f =
            CaptureFile::open(path).with_context(|| format!("cannot read {}", path.display()))?;
        total_size = match (total_size, std::fs::metadata(path)) {
            (Some(t), Ok(m)) if m.is_file() => Some(t + m.len()),
            _ => None,
        };
        files.push((path.display().to_string(), f));
    }
    let mut alerting = Alerting::new(&args.detect, engine.config().epoch_ns, &engine.metrics())?;
    let stop = StopFlag::install();
    let limits = sampling_limits(args.default_sampling, args.sampling_override)?;
    let mut source = if args.flows {
        FileSource::flows(files, limits)
    } else {
        FileSource::new(files)
    };
    let server = args
        .serve
        .start(engine.metrics().registry.clone(), "replay", args.engine.top)?;
    if let Some(x) = args.speed {
        if !(x.is_finite() && x > 0.0) {
            return Err(crate::exit::usage(
                "--speed must be a positive multiple, like 1 or 10",
            ));
        }
    }
    let counters = source.progress_counters();
    let bar = file_bar(total_size, args.output.no_progress);
    let k = args.engine.top;
    let queries = args.engine.queries()?;
    let json = args.output.json;
    let start = Instant::now();
    let done = std::sync::atomic::AtomicBool::new(false);
    let out = std::thread::scope(|s| {
        let ticker = s.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                bar.set_position(counters.iter().map(|c| c.load(Ordering::Relaxed)).sum());
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let mut paced = Paced {
            inner: &mut source,
            speed: args.speed,
            first: None,
        };
        let out = engine.run_observed(
            &mut paced,
            stop.flag(),
            |e| {
                bar.suspend(|| alerts::feed(&mut alerting, e));
                serve::epoch(server.as_ref(), &alerting, e);
            },
            |i, w| {
                serve::window(server.as_ref(), i, w);
                if json {
                    let v = window_line(w, k, &queries);
                    // A report that cannot be written ends the run.
                    if !bar.suspend(|| render::println(v)) {
                        stop.set();
                    }
                }
            },
        );
        done.store(true, Ordering::Relaxed);
        let _ = ticker.join();
        out
    });
    let elapsed = start.elapsed();
    // A signal before the input ended: the counts are partial.
    let interrupted = stop.signalled();
    let mut outcome = Outcome {
        interrupted,
        ..Outcome::default()
    };
    bar.finish_and_clear();
    if let Some(s) = &server {
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
    let alerts = alerts::finish(alerting, &mut outcome);
    let shown_alerts = (!args.detect.no_detect).then_some(&alerts[..]);
    let totals = &source.totals;
    let rates = Rates::new(totals, elapsed);
    let cfg = engine.config();
    if json {
        let mut extra = Map::new();
        extra.insert("files".into(), json!(args.files.len()));
        extra.insert("late".into(), json!(out.late));
        extra.insert("epochs".into(), json!(out.epochs));
        extra.insert("workers".into(), json!(cfg.workers));
        extra.insert("interrupted".into(), json!(interrupted));
        run_answers_json(&mut extra, &out.total, k, &queries, shown_alerts);
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
                "{} closed, {} late updates",
                thousands(out.epochs),
                thousands(out.late)
            ),
        )];
        if let Some(dec) = &source.flows {
            rows.extend(flow_rows(&dec.counts));
        }
        render::print(&table(&title, totals, rates, &rows));
        render::print(&run_answers_text(
            &out.total,
            k,
            &queries,
            shown_alerts,
            totals.first_ts_ns,
        ));
    }
    render::check_stdout(&mut outcome);
    Ok(outcome.code())
}
