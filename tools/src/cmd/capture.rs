//! `netsketch capture`: live capture through the pipeline. The capture is a
//! shedding source: when the workers fall behind, whole batches are
//! dropped and counted (`queue_full`), never the kernel's buffer left to
//! overflow silently.

use std::process::ExitCode;

use anyhow::Result;

use crate::args::cli::CaptureArgs;

#[cfg(not(feature = "live"))]
pub fn run(_args: &CaptureArgs) -> Result<ExitCode> {
    anyhow::bail!(
        "live capture is not compiled into this build; install libpcap (Debian: \
         `apt-get install libpcap-dev`) and rebuild with `cargo build --release --features live`"
    )
}

#[cfg(feature = "live")]
pub fn run(args: &CaptureArgs) -> Result<ExitCode> {
    use std::time::{Duration, Instant};

    use capture::live::{list_interfaces, LiveCapture, LiveConfig};
    use pipeline::LiveSource;
    use serde_json::{json, Map};

    use crate::render::{self, summary_json, table, thousands, window_printer, Rates};
    use crate::stop::StopFlag;

    if args.list {
        for i in list_interfaces()? {
            let addrs: Vec<String> = i.addresses.iter().map(|a| a.to_string()).collect();
            render::println(format!(
                "{:<16} {:<40} {}",
                i.name,
                i.description.as_deref().unwrap_or("-"),
                addrs.join(" ")
            ));
        }
        let mut outcome = crate::exit::Outcome::default();
        render::check_stdout(&mut outcome);
        return Ok(outcome.code());
    }
    let iface = args.interface.clone().unwrap_or_default();
    if let Some(d) = args.duration {
        crate::args::engine::positive_seconds("--duration", d).map_err(crate::exit::usage)?;
    }
    let (engine, queries) = args.session.engine()?;
    let metrics = engine.metrics();
    let mut session = args.session.session(engine)?;
    let cfg = LiveConfig {
        interface: iface.clone(),
        filter: args.filter.clone(),
        snaplen: args.snaplen,
        promisc: !args.no_promisc,
        buffer_size: args.buffer_size,
        immediate: args.immediate,
        timeout_ms: 100,
    };
    let mut cap = LiveCapture::open(&cfg)?;
    let stopper = std::sync::Arc::new(cap.stopper());
    let wake = std::sync::Arc::clone(&stopper);
    let stop = StopFlag::install_with(move || wake.stop());
    // A blocked read does not look at the clock: on Linux without
    // --immediate (TPACKET_V3) libpcap leaves the read timeout to the
    // kernel, which only fires once a packet has arrived, so a quiet link
    // would block forever, closing no epoch and ending no alert. A ticker
    // wakes the read every 100 ms (a short batch at most, under load) and
    // ends the capture at --duration.
    {
        let deadline = args
            .duration
            .map(|d| Instant::now() + Duration::from_secs_f64(d));
        let (stop, stopper) = (stop.clone(), std::sync::Arc::clone(&stopper));
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(100));
            if deadline.is_some_and(|t| Instant::now() >= t) {
                stop.set();
            }
            stopper.stop();
            if stop.flag().load(std::sync::atomic::Ordering::SeqCst) {
                break;
            }
        });
    }
    // As tcpdump does: say when packets are being captured (after the stop
    // handler is in place), on stderr so that --json output stays clean.
    eprintln!(
        "netsketch: listening on {iface}, link-type {}; Ctrl-C or SIGTERM stops",
        cap.linktype()
    );
    let mut source = LiveSource::new(cap, args.count.unwrap_or(u64::MAX), metrics);
    let k = args.session.engine.top;
    let json = args.session.output.json;
    session.serve(&args.session.serve, "capture", k)?;
    let start = Instant::now();
    // A report that cannot be written ends the capture.
    let out = session.run(
        &mut source,
        stop.flag(),
        window_printer(json, k, &queries, stop.flag()),
    );
    let mut outcome = crate::exit::Outcome {
        rejected: source.error.is_some(),
        ..Default::default()
    };
    let done = session.finish(&mut outcome);
    let elapsed = start.elapsed();
    if let Some(e) = &source.error {
        eprintln!("netsketch: error: {e}");
    }
    let ks = source.sync_kernel()?;
    let totals = &source.totals;
    let rates = Rates::new(totals, elapsed);
    if json {
        let mut extra = Map::new();
        extra.insert("interface".into(), json!(iface));
        extra.insert("kernel_received".into(), json!(ks.received));
        extra.insert("kernel_drops".into(), json!(ks.dropped));
        extra.insert("interface_drops".into(), json!(ks.if_dropped));
        extra.insert("queue_drops".into(), json!(out.dropped));
        extra.insert("epochs".into(), json!(out.epochs));
        done.answers_json(&mut extra, &out.total, k, &queries);
        render::println(summary_json(totals, rates, extra));
    } else {
        let mut rows = vec![(
            "drops".to_string(),
            format!(
                "kernel {}  interface {}  queue full {} (the kernel offered {} packets to the capture{})",
                thousands(ks.dropped),
                thousands(ks.if_dropped),
                thousands(out.dropped),
                thousands(ks.received),
                // Linux hands a loopback packet to the capture twice, sent
                // and received, and libpcap keeps one: the count is double.
                if iface == "lo" || iface.starts_with("lo:") {
                    "; on loopback each packet is offered twice, going out and coming in, and read once"
                } else {
                    ""
                }
            ),
        )];
        rows.extend(done.rows());
        let mut text = table(
            &format!("netsketch capture on {iface}"),
            totals,
            rates,
            &rows,
        );
        text.push_str(&done.answers_text(
            &out.total,
            &args.session.engine.rankings(),
            &queries,
            None,
        ));
        render::print(&text);
    }
    render::check_stdout(&mut outcome);
    Ok(outcome.code())
}
