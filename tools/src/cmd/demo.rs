//! `netsketch demo`: a generated trace with attacks, in memory, through the
//! real parser and the whole pipeline.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use capture::{parse_packet, FlowUpdate, Linktype, RawPacket, Totals};
use pipeline::{Dimension, Metric, Source};
use serde_json::{json, Map};

use crate::args::cli::DemoArgs;
use crate::exit::Outcome;
use crate::gen::{Config, Model, Scenario, Truth};
use crate::render::{
    answers_json, check_stdout, print, println, queries_json, summary_json, table, window_printer,
    Rates,
};
use crate::session::Session;
use crate::stop::StopFlag;

/// Frames from the generator, parsed by capture's parser exactly as if they
/// had been read from a file.
struct Generated {
    model: Model,
    /// Packets generated, on a terminal (set once per batch).
    bar: indicatif::ProgressBar,
    buf: Vec<u8>,
    totals: Totals,
    truth: Option<Truth>,
}

impl Source for Generated {
    fn name(&self) -> &'static str {
        "generated"
    }

    fn fill(&mut self, out: &mut Vec<FlowUpdate>, max: usize) -> bool {
        let mut u = FlowUpdate::default();
        self.bar.set_position(self.totals.packets);
        while out.len() < max {
            let Some(m) = self.model.next(&mut self.buf) else {
                return false;
            };
            let pkt = RawPacket {
                ts_ns: m.ts_ns,
                linktype: Linktype::ETHERNET,
                wire_len: m.wire_len,
                data: &self.buf,
            };
            let r = parse_packet(&pkt, &mut u);
            self.totals.record(&pkt, &u, r.err());
            if let Some(t) = self.truth.as_mut() {
                t.record(&m);
            }
            out.push(u);
        }
        true
    }
}

/// `-r`: a finite, positive rate of at most 100 M packets/s, and one
/// that reaches `--packets` within a day of event time.
fn check_rate(rate: f64, packets: u64) -> Result<()> {
    if !(rate.is_finite() && rate > 0.0 && rate <= 1e8) {
        return Err(crate::exit::usage(format!(
            "-r/--rate {rate}: give packets per second, a positive number up to 100000000"
        )));
    }
    if packets as f64 / rate > 86_400.0 {
        return Err(crate::exit::usage(format!(
            "-r/--rate {rate}: {packets} packets would take more than a day of event time; \
             raise --rate or lower --packets"
        )));
    }
    Ok(())
}

pub fn run(args: &DemoArgs) -> Result<ExitCode> {
    check_rate(args.rate, args.packets)?;
    let engine = args.run.engine.engine(!args.run.detect.no_detect)?;
    let cfg = Config {
        scenarios: vec![
            Scenario::Baseline,
            Scenario::SynFlood,
            Scenario::UdpAmplification,
            Scenario::SlowService,
        ],
        rate_pps: args.rate,
        duration_ns: (args.packets as f64 / args.rate / 1.5 * 1e9) as u64,
        max_packets: Some(args.packets),
        until_count: true,
        seed: args.seed,
        start_ns: 1_704_067_200_000_000_000,
        attack_rate_pps: args.rate,
    };
    let mut source = Generated {
        model: Model::new(cfg.clone()),
        bar: crate::progress::work_bar(args.packets, "packets", args.run.output.no_progress),
        buf: Vec::with_capacity(2048),
        totals: Totals::default(),
        truth: args.verify.then(Truth::default),
    };
    let mut session = Session::new(engine, &args.run.detect, None)?;
    let stop = StopFlag::install();
    let k = args.run.engine.top;
    let queries = args.run.engine.queries()?;
    let json = args.run.output.json;
    let start = Instant::now();
    session.with_bar(source.bar.clone());
    let out = session.run(
        &mut source,
        stop.flag(),
        window_printer(json, k, &queries, stop.flag()),
    );
    let elapsed = start.elapsed();
    source.bar.finish_and_clear();
    let interrupted = stop.signalled();
    let mut outcome = Outcome {
        interrupted,
        ..Outcome::default()
    };
    let mut done = session.finish(&mut outcome);
    // Detection time relative to the generated event of the same victim.
    for a in &mut done.alerts {
        let v = a["victim"].as_str().unwrap_or("").to_string();
        if let Some(s) = cfg.scenarios.iter().find(|s| {
            s.victim()
                .is_some_and(|x| x == v || x.split(':').next() == Some(v.as_str()))
        }) {
            let (ev_start, _) = cfg.event_window();
            let d = a["detected_ts_ns"].as_u64().unwrap_or(0) as f64 - ev_start as f64;
            a["event_scenario"] = json!(s.name());
            a["detected_after_event_s"] = json!((d / 1e6).round() / 1e3);
        }
    }
    let rates = Rates::new(&source.totals, elapsed);
    let truth = source.truth.as_ref().map(|t| t.to_json(&cfg));
    let (ev_start, ev_end) = cfg.event_window();
    if json {
        let mut extra = Map::new();
        extra.insert("workers".into(), json!(session.engine.config().workers));
        extra.insert("epochs".into(), json!(out.epochs));
        extra.insert("interrupted".into(), json!(interrupted));
        extra.extend(answers_json(&out.total, k));
        if !queries.is_empty() {
            extra.insert("point".into(), queries_json(&out.total, &queries));
        }
        if let Some(t) = &truth {
            extra.insert("truth".into(), t.clone());
        }
        if let Some(alerts) = done.shown() {
            extra.insert("alerts".into(), json!(alerts));
        }
        println(summary_json(&source.totals, rates, extra));
        check_stdout(&mut outcome);
        return Ok(outcome.code());
    }
    let title = format!(
        "netsketch demo: {} s of generated edge traffic with a SYN flood on 10.2.0.10, UDP amplification on 10.2.0.11 \
         and a slow service 10.2.0.20:443 (events from +{:.0} s to +{:.0} s), {} worker(s)",
        (source.totals.last_ts_ns.saturating_sub(cfg.start_ns)) / 1_000_000_000 + 1,
        (ev_start - cfg.start_ns) as f64 / 1e9,
        (ev_end - cfg.start_ns) as f64 / 1e9,
        session.engine.config().workers,
    );
    let mut text = table(&title, &source.totals, rates, &[]);
    text.push_str(&done.answers_text(
        &out.total,
        &args.run.engine.rankings(),
        &queries,
        Some(cfg.start_ns),
    ));
    if let Some(t) = truth {
        text.push_str("  exact (--verify):\n");
        for d in [Dimension::Src, Dimension::Dst] {
            let est = out.total.top(d, Metric::Bytes, k);
            let exact = t["top"][d.name()]["bytes"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let mut inside = 0;
            for item in &est {
                if let Some(x) = exact.iter().find(|x| x["key"] == item.key.as_str()) {
                    let v = x["value"].as_u64().unwrap_or(0);
                    inside += usize::from(item.lower <= v && v <= item.upper);
                }
            }
            let same = est
                .iter()
                .zip(&exact)
                .filter(|(a, b)| b["key"] == a.key.as_str())
                .count();
            let _ = writeln!(
                text,
                "    top {} by bytes: {same}/{} in the exact order, {inside} within their bounds",
                d.name(),
                est.len()
            );
        }
        let _ = writeln!(
            text,
            "    distinct sources {}, destinations {}, flows {}",
            t["distinct"]["src"], t["distinct"]["dst"], t["distinct"]["flows"]
        );
    }
    print(&text);
    check_stdout(&mut outcome);
    Ok(outcome.code())
}
