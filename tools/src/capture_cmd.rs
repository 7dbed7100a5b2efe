//! `netsketch capture`: live capture with exact counters.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::CaptureArgs;

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
    use capture::{parse_packet, FlowUpdate, Totals};
    use serde_json::{json, Map};

    use crate::render::{summary_json, table, thousands, Rates};
    use crate::stop::StopFlag;

    if args.list {
        for i in list_interfaces()? {
            let addrs: Vec<String> = i.addresses.iter().map(|a| a.to_string()).collect();
            println!(
                "{:<16} {:<40} {}",
                i.name,
                i.description.as_deref().unwrap_or("-"),
                addrs.join(" ")
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let iface = args.interface.clone().unwrap_or_default();
    if let Some(d) = args.duration {
        anyhow::ensure!(
            d.is_finite() && d > 0.0,
            "--duration must be a positive number of seconds"
        );
    }
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
    let deadline = args
        .duration
        .map(|d| Instant::now() + Duration::from_secs_f64(d));
    if let Some(d) = deadline {
        // A blocked read does not look at the clock: a timer thread wakes it.
        let (stop, stopper) = (stop.clone(), std::sync::Arc::clone(&stopper));
        std::thread::spawn(move || {
            std::thread::sleep(d.saturating_duration_since(Instant::now()));
            stop.set();
            stopper.stop();
        });
    }
    let limit = args.count.unwrap_or(u64::MAX);
    let mut totals = Totals::default();
    let mut upd = FlowUpdate::default();
    let start = Instant::now();
    while totals.packets < limit && !stop.is_set() && deadline.is_none_or(|d| Instant::now() < d) {
        // Between timeouts, read a run of packets before looking at the
        // clock and the stop flag again.
        for _ in 0..1024 {
            match cap.next_packet()? {
                Some(pkt) => {
                    let res = parse_packet(&pkt, &mut upd);
                    totals.record(&pkt, &upd, res.err());
                    if totals.packets >= limit {
                        break;
                    }
                }
                None => break,
            }
        }
    }
    let elapsed = start.elapsed();
    let ks = cap.stats()?;
    let rates = Rates::new(&totals, elapsed);
    if args.output.json {
        let mut extra = Map::new();
        extra.insert("interface".into(), json!(iface));
        extra.insert("kernel_received".into(), json!(ks.received));
        extra.insert("kernel_drops".into(), json!(ks.dropped));
        extra.insert("interface_drops".into(), json!(ks.if_dropped));
        println!("{}", summary_json(&totals, rates, extra));
    } else {
        let rows = vec![(
            "kernel".to_string(),
            format!(
                "received {}  dropped {}  interface dropped {}",
                thousands(ks.received),
                thousands(ks.dropped),
                thousands(ks.if_dropped)
            ),
        )];
        print!(
            "{}",
            table(
                &format!("netsketch capture on {iface}"),
                &totals,
                rates,
                &rows
            )
        );
    }
    Ok(ExitCode::SUCCESS)
}
