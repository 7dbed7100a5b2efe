//! `netsketch gen`: writes the generator's packets to a pcap or pcapng
//! file (optionally gzip-compressed), and its exact ground truth.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use capture::write::{PcapWriter, PcapngWriter};
use capture::Linktype;

use crate::args::cli::GenArgs;
use crate::gen::{Config, Model, Scenario, Truth};
use crate::render::si;

/// Where packets go: pcap or pcapng, optionally gzip-compressed.
enum Sink {
    Pcap(PcapWriter<Box<dyn Write>>),
    Pcapng(PcapngWriter<Box<dyn Write>>),
}

impl Sink {
    fn open(path: &Path) -> Result<Sink> {
        let name = path.to_string_lossy();
        let raw: Box<dyn Write> = if name == "-" {
            Box::new(BufWriter::with_capacity(1 << 20, io::stdout().lock()))
        } else {
            Box::new(BufWriter::with_capacity(
                1 << 20,
                File::create(path).with_context(|| format!("cannot create {name}"))?,
            ))
        };
        let gz = name.ends_with(".gz");
        let out: Box<dyn Write> = if gz {
            Box::new(flate2::write::GzEncoder::new(
                raw,
                flate2::Compression::fast(),
            ))
        } else {
            raw
        };
        let base = name.trim_end_matches(".gz");
        Ok(if base.ends_with(".pcapng") {
            let mut w = PcapngWriter::new(out)?;
            w.add_interface(Linktype::ETHERNET, 65535)?;
            Sink::Pcapng(w)
        } else {
            Sink::Pcap(PcapWriter::new(out, Linktype::ETHERNET, 65535)?)
        })
    }

    #[inline]
    fn write(&mut self, ts: u64, wire: u32, data: &[u8]) -> io::Result<()> {
        match self {
            Sink::Pcap(w) => w.write_packet(ts, wire, data),
            Sink::Pcapng(w) => w.write_packet(0, ts, wire, data),
        }
    }

    fn finish(self) -> io::Result<()> {
        // Dropping a GzEncoder writes its trailer; flush the chain first.
        let mut inner = match self {
            Sink::Pcap(w) => w.into_inner()?,
            Sink::Pcapng(w) => w.into_inner()?,
        };
        inner.flush()
    }
}

/// Builds the model configuration from the command line.
pub fn config(args: &GenArgs) -> Result<Config> {
    let scenarios = Scenario::parse_list(&args.scenario).map_err(anyhow::Error::msg)?;
    if !(args.rate.is_finite() && args.rate > 0.0) {
        bail!("--rate must be a positive number of packets per second");
    }
    let duration_s = match (args.packets, args.duration) {
        (_, Some(d)) => {
            crate::args::engine::positive_seconds("--duration", d)?;
            d
        }
        // The count decides the end; the duration at the requested rate
        // places the event window.
        (Some(n), None) => n as f64 / args.rate,
        (None, None) => 60.0,
    };
    Ok(Config {
        scenarios,
        rate_pps: args.rate,
        duration_ns: (duration_s * 1e9) as u64,
        max_packets: args.packets,
        until_count: args.duration.is_none(),
        seed: args.seed,
        start_ns: args.start_ns,
        attack_rate_pps: args.attack_rate.unwrap_or(args.rate),
    })
}

pub fn run(args: &GenArgs) -> Result<ExitCode> {
    let cfg = config(args)?;
    let mut sink = Sink::open(&args.output)?;
    let mut model = Model::new(cfg.clone());
    let mut truth = args.truth.as_ref().map(|_| Truth::default());
    let mut buf = Vec::with_capacity(2048);
    let start = Instant::now();
    let mut n = 0u64;
    while let Some(m) = model.next(&mut buf) {
        sink.write(m.ts_ns, m.wire_len, &buf)?;
        if let Some(t) = truth.as_mut() {
            t.record(&m);
        }
        n += 1;
    }
    sink.finish().context("cannot finish writing the trace")?;
    let elapsed = start.elapsed().as_secs_f64();
    if let (Some(path), Some(t)) = (&args.truth, &truth) {
        let doc = t.to_json(&cfg);
        let mut bytes = serde_json::to_vec_pretty(&doc)?;
        bytes.push(b'\n');
        std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    }
    eprintln!(
        "netsketch gen: {} packets in {:.3} s ({}packets/s){}",
        crate::render::thousands(n),
        elapsed,
        si(n as f64 / elapsed.max(1e-9)),
        if truth.is_some() {
            ", with ground truth"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}
