//! `netsketch collect`: NetFlow v5/v9, IPFIX and sFlow v5 over UDP through
//! the pipeline. Ctrl-C, SIGTERM or `--duration` stop the receivers first;
//! what they decoded is handed over before the final report, so a stop
//! loses no record.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use capture::Prefix;
use pipeline::{CollectConfig, Collector};
use serde_json::{json, Map, Value};

use crate::args::cli::CollectArgs;
use crate::args::engine::sampling_limits;
use crate::exit::{usage, Outcome};
use crate::render::{
    check_stdout, flow_errors_into, flow_json, flow_rows, print, println, thousands, window_printer,
};
use crate::stop::StopFlag;

/// The collector settings of `collect`.
fn collect_config(args: &CollectArgs, engine: &pipeline::EngineConfig) -> Result<CollectConfig> {
    let listen = args
        .listen
        .iter()
        .map(|a| {
            a.parse::<SocketAddr>().with_context(|| {
                format!("--listen {a:?}: expected ADDR:PORT, like 127.0.0.1:2055 or [::]:6343")
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let allow = args
        .allow
        .iter()
        .map(|c| {
            c.parse::<Prefix>()
                .map_err(|e| anyhow::anyhow!("--allow: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let threads = args.threads;
    anyhow::ensure!(
        (1..=64).contains(&threads),
        "--threads must be 1 to 64, got {threads}"
    );
    let t = args.template_timeout;
    anyhow::ensure!(
        t.is_finite() && (0.0..=1e9).contains(&t),
        "--template-timeout must be 0 (never) to 1e9 seconds, got {t}"
    );
    let limits = capture::flows::Limits {
        template_timeout_ns: (t * 1e9) as u64,
        ..sampling_limits(args.default_sampling, args.sampling_override)?
    };
    Ok(CollectConfig {
        listen,
        threads,
        recv_buffer: args.recv_buffer,
        allow,
        limits,
        cpus: engine.pin.then(|| engine.cpus.clone()).flatten(),
        batch: engine.batch_size,
    })
}

pub fn run(args: &CollectArgs) -> Result<ExitCode> {
    if let Some(d) = args.duration {
        crate::args::engine::positive_seconds("--duration", d).map_err(usage)?;
    }
    let (engine, queries) = args.session.engine()?;
    let cfg = collect_config(args, engine.config()).map_err(usage)?;
    let metrics = engine.metrics();
    let mut session = args.session.session(engine)?;
    let mut collector =
        Collector::start(&cfg, std::sync::Arc::clone(&metrics)).map_err(|e| match e {
            pipeline::CollectError::NoAddress => {
                anyhow::anyhow!("give at least one --listen address")
            }
            e => e.into(),
        })?;
    let shutdown = collector.shutdown_handle();
    let wake = std::sync::Arc::clone(&shutdown);
    let _stop = StopFlag::install_with(move || wake.store(true, Ordering::SeqCst));
    if let Some(d) = args.duration {
        let s = std::sync::Arc::clone(&shutdown);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs_f64(d));
            s.store(true, Ordering::SeqCst);
        });
    }
    let addrs: Vec<String> = collector
        .local_addrs()
        .iter()
        .map(|a| a.to_string())
        .collect();
    eprintln!(
        "netsketch: collecting on {} ({} thread(s) each, receive buffer {} bytes{}); Ctrl-C or SIGTERM stops",
        addrs.join(", "),
        cfg.threads,
        collector.recv_buffer(),
        if cfg.listen.iter().all(|a| a.ip().is_loopback()) {
            "; loopback only: --listen 0.0.0.0:PORT takes exports from the network"
        } else {
            ""
        }
    );
    let k = args.session.engine.top;
    let json = args.session.output.json;
    session.serve(&args.session.serve, "collect", k)?;
    let start = Instant::now();
    // The engine's own stop flag stays unset: the receivers' shutdown ends
    // the source once every decoded record is in.
    let never = std::sync::atomic::AtomicBool::new(false);
    // A report that cannot be written stops the receivers.
    let out = session.run(
        &mut collector,
        &never,
        window_printer(json, k, &queries, &shutdown),
    );
    let mut outcome = Outcome::default();
    let done = session.finish(&mut outcome);
    let elapsed = start.elapsed().as_secs_f64();
    let kernel = collector.kernel_drops();
    let state = json!({
        "templates_peak": collector.budget().peak_templates(),
        "templates_limit": cfg.limits.templates_total,
        "held_bytes_peak": collector.budget().peak_held_bytes(),
        "held_bytes_limit": cfg.limits.pending_bytes,
    });
    let (counts, ifs, recv_errors) = collector.finish();
    let shed = metrics
        .drops
        .with_label_values(&["collector_queue_full"])
        .get();
    let records_per_s = counts.records as f64 / elapsed.max(1e-9);
    if json {
        let mut v = Map::new();
        v.insert("type".into(), json!("summary"));
        v.insert("listen".into(), json!(addrs));
        v.insert("elapsed_s".into(), json!(elapsed));
        v.insert("records_per_s".into(), json!(records_per_s.round()));
        v.extend(flow_json(&counts, &ifs));
        v.insert("errors".into(), json!({}));
        v.insert("kernel_drops".into(), json!(kernel));
        v.insert("queue_drops".into(), json!(shed + out.dropped));
        v.insert("recv_errors".into(), json!(recv_errors));
        v.insert("flow_state".into(), state.clone());
        v.insert("late".into(), json!(out.late));
        v.insert("future".into(), json!(out.future));
        v.insert("epochs".into(), json!(out.epochs));
        done.answers_json(&mut v, &out.total, k, &queries);
        let mut v = Value::Object(v);
        flow_errors_into(&mut v, &counts);
        println(v);
    } else {
        let mut text = format!("netsketch collect on {}\n", addrs.join(", "));
        let mut rows = flow_rows(&counts);
        rows.push((
            "drops".into(),
            format!(
                "kernel {}  queue full {}  receive errors {}",
                kernel.map_or("unknown".into(), thousands),
                thousands(shed + out.dropped),
                thousands(recv_errors)
            ),
        ));
        rows.push((
            "flow memory".into(),
            format!(
                "peak {} of {} templates, {} of {} bytes held for a template",
                thousands(state["templates_peak"].as_u64().unwrap_or(0)),
                thousands(cfg.limits.templates_total as u64),
                thousands(state["held_bytes_peak"].as_u64().unwrap_or(0)),
                thousands(cfg.limits.pending_bytes as u64)
            ),
        ));
        rows.push((
            "epochs".into(),
            format!(
                "{} closed, {} late records, {} ahead of the clock",
                thousands(out.epochs),
                thousands(out.late),
                thousands(out.future)
            ),
        ));
        rows.push((
            "throughput".into(),
            format!(
                "{elapsed:.3} s, {} records/s",
                thousands(records_per_s as u64)
            ),
        ));
        rows.extend(done.rows());
        for (name, value) in rows {
            text.push_str(&format!("  {name:<18} {value}\n"));
        }
        text.push_str(&done.answers_text(
            &out.total,
            &args.session.engine.rankings(),
            &queries,
            None,
        ));
        print(&text);
    }
    check_stdout(&mut outcome);
    Ok(outcome.code())
}
