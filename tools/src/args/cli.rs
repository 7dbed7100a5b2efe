//! The clap definitions of every command and the argument groups they
//! share (output, endpoint); the engine options are in `engine`. Only
//! tools/ knows flag names: libraries get validated configurations.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::alerts::DetectArgs;
use crate::args::engine::EngineArgs;

/// netsketch: network-flow telemetry with stated error bounds.
#[derive(Debug, Parser)]
#[command(
    name = "netsketch",
    version,
    about = "Network-flow telemetry: packets and flow exports in, answers with stated error bounds out",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate traffic with attacks in memory and run the whole pipeline
    /// on it: top talkers and distinct counts with bounds, and throughput.
    Demo(DemoArgs),
    /// Read pcap/pcapng files (optionally .gz, or - for stdin) through the
    /// pipeline: exact counters, top talkers and distinct counts with bounds.
    Replay(ReplayArgs),
    /// Capture from a live interface (libpcap) and report exact counters.
    Capture(CaptureArgs),
    /// Collect NetFlow v5/v9, IPFIX and sFlow v5 exports over UDP.
    Collect(CollectArgs),
    /// Appliance mode: sources, endpoint, detection and outputs from one
    /// TOML file (see deploy/netsketch.toml).
    Run(RunArgs),
    /// A live, refreshing view of a running instance (its --serve endpoint).
    Top(TopArgs),
    /// Ask a running instance's JSON API, e.g. `query top?dim=dst&k=5`.
    Query(QueryArgs),
    /// Measure each sketch against exact counts on Zipf streams.
    Accuracy(AccuracyArgs),
    /// Generate a synthetic capture (background traffic plus attack and
    /// fault scenarios) with its exact ground truth.
    Gen(GenArgs),
    /// Merge `replay --export-sketches` snapshots from several appliances
    /// (or runs) into one answer: distinct counts and top-k with bounds.
    Merge(MergeArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// Snapshot directories (written by --export-sketches) or single
    /// NAME.hll / NAME.fi files; sketches with the same name are merged.
    #[arg(required = true, value_name = "FILE|DIR")]
    pub inputs: Vec<PathBuf>,
    /// Items listed per ranking.
    #[arg(short = 'k', long, default_value_t = 10)]
    pub top: usize,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AccuracyArgs {
    /// Updates per Zipf stream (skews 0.8, 1.0, 1.2).
    #[arg(long, default_value_t = 10_000_000)]
    pub updates: u64,
    /// Distinct keys the Zipf streams draw from.
    #[arg(long, default_value_t = 1_000_000)]
    pub keys: u64,
    /// HyperLogLog runs per precision and cardinality.
    #[arg(long, default_value_t = 20)]
    pub runs: u32,
    /// Largest HyperLogLog cardinality (powers of ten from 1,000).
    #[arg(long, default_value_t = 100_000_000)]
    pub max_distinct: u64,
    /// Seed of the streams.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// One JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Never show a progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct GenArgs {
    /// Scenarios, comma-separated: baseline, syn-flood, udp-amplification,
    /// icmp-flood, distributed-flood, carpet-bombing, slow-service,
    /// connection-failures, flash-crowd. Events run through the middle 40%
    /// of the trace.
    #[arg(long, default_value = "baseline")]
    pub scenario: String,
    /// Stop after this many packets.
    #[arg(short = 'n', long)]
    pub packets: Option<u64>,
    /// Trace length in seconds of event time (default 60, or what
    /// --packets needs at --rate).
    #[arg(short = 'd', long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Background packets per second of event time.
    #[arg(short = 'r', long, default_value_t = 10_000.0)]
    pub rate: f64,
    /// Packets per second of each flood scenario (default: --rate).
    #[arg(long, value_name = "PPS")]
    pub attack_rate: Option<f64>,
    /// Seed: the same seed gives byte-identical output.
    #[arg(short = 's', long, default_value_t = 1)]
    pub seed: u64,
    /// Timestamp of the first packet, ns since the Unix epoch
    /// (default 2024-01-01T00:00:00Z).
    #[arg(long, default_value_t = 1_704_067_200_000_000_000)]
    pub start_ns: u64,
    /// Output file: .pcap, .pcapng, either with .gz; `-` writes pcap to
    /// standard output.
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: PathBuf,
    /// Also write the exact ground truth as JSON.
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Print JSON lines (the last one is the summary object) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Never show a progress bar, even on a terminal.
    #[arg(long)]
    pub no_progress: bool,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Capture files, read in the order given; `-` reads standard input.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Also write the whole run's sketches into DIR in Apache DataSketches
    /// formats, for Druid, Pinot, Spark or the DataSketches libraries to
    /// merge: distinct_src.hll, distinct_dst.hll (HLL of address text) and
    /// top_{src,dst}_{bytes,packets}.fi (frequent strings).
    #[arg(long, value_name = "DIR")]
    pub export_sketches: Option<PathBuf>,
    /// The captures hold flow exports (NetFlow v5/v9, IPFIX, on any UDP
    /// port): analyse their flow records instead of the packets.
    #[arg(long)]
    pub flows: bool,
    /// With --flows: sampling rate of records whose exporter states none.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "flows")]
    pub default_sampling: u32,
    /// With --flows: scale every record by N, whatever its exporter says.
    #[arg(long, value_name = "N", requires = "flows")]
    pub sampling_override: Option<u32>,
    /// Also write FILE.html: one self-contained page (inline SVG, nothing
    /// fetched) with traffic over time per protocol, top talkers, distinct
    /// counts and the alert timeline, from the run's windows.
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Only packets matching this BPF expression (tcpdump syntax, compiled
    /// by libpcap for each file's link type; needs the `live` feature).
    /// Others are counted as `filtered`.
    #[arg(short = 'f', long = "filter", value_name = "EXPR")]
    pub filter: Option<String>,
    /// Only packets at or after this time: RFC 3339
    /// (2024-01-01T00:00:05Z) or Unix seconds. Others are counted as
    /// `out_of_range`.
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub from: Option<String>,
    /// Only packets before this time (RFC 3339 or Unix seconds).
    #[arg(long, value_name = "TIME", allow_hyphen_values = true)]
    pub to: Option<String>,
    /// Replay at this multiple of the capture's own pace (1 = real time);
    /// by default as fast as possible.
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub speed: Option<f64>,
    /// With --speed: sleep at most this long (wall time) for any gap
    /// between packets; the rest of the gap is skipped and reported.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 1.0,
        requires = "speed",
        allow_negative_numbers = true
    )]
    pub max_gap: f64,
    /// With --serve: keep serving this many seconds after the input ends.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 0.0,
        requires = "serve"
    )]
    pub linger: f64,
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub run: OfflineArgs,
    #[command(flatten)]
    pub kafka: crate::kafka::KafkaArgs,
    #[command(flatten)]
    pub archive: crate::archive::ArchiveArgs,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Packets to generate (background plus a SYN flood, a UDP
    /// amplification attack and a slow service).
    #[arg(short = 'n', long, default_value_t = 2_000_000)]
    pub packets: u64,
    /// Background packets per second of event time.
    #[arg(short = 'r', long, default_value_t = 100_000.0)]
    pub rate: f64,
    /// Seed of the generated traffic.
    #[arg(short = 's', long, default_value_t = 1)]
    pub seed: u64,
    /// Also compute the exact answers and show them beside the estimates
    /// (slower: exact counting keeps every key).
    #[arg(long)]
    pub verify: bool,
    #[command(flatten)]
    pub run: OfflineArgs,
}

#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// Interface to capture on (see --list).
    #[arg(
        short = 'i',
        long = "interface",
        value_name = "IFACE",
        required_unless_present = "list"
    )]
    pub interface: Option<String>,
    /// List the interfaces that can be captured on and exit.
    #[arg(long)]
    pub list: bool,
    /// BPF capture filter, tcpdump syntax (e.g. "udp port 2055").
    #[arg(short = 'f', long, value_name = "EXPR")]
    pub filter: Option<String>,
    /// Bytes captured per packet.
    #[arg(short = 's', long, default_value_t = 262_144)]
    pub snaplen: u32,
    /// Do not put the interface into promiscuous mode.
    #[arg(long)]
    pub no_promisc: bool,
    /// Kernel capture buffer size in bytes (e.g. 67108864).
    #[arg(long, value_name = "BYTES")]
    pub buffer_size: Option<u32>,
    /// Deliver packets immediately rather than in kernel-buffered batches.
    #[arg(long)]
    pub immediate: bool,
    /// Stop after this many seconds.
    #[arg(short = 'd', long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    /// Stop after this many packets.
    #[arg(short = 'c', long, value_name = "N")]
    pub count: Option<u64>,
    #[command(flatten)]
    pub session: SessionArgs,
}

#[derive(Debug, Args)]
pub struct CollectArgs {
    /// Address to receive exports on (repeatable; IPv4 or IPv6, `[::]:PORT`
    /// takes both). The default listens on loopback only, for safety: give
    /// `0.0.0.0:2055` (or the exporters' side's address) to collect from
    /// the network.
    #[arg(short = 'l', long = "listen", value_name = "ADDR:PORT", default_values_t = vec!["127.0.0.1:2055".to_string()])]
    pub listen: Vec<String>,
    /// Receiving threads per address, sharing it with SO_REUSEPORT (the
    /// kernel keeps each exporter on one thread).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub threads: usize,
    /// Socket receive buffer to ask for, in bytes (capped by the kernel's
    /// net.core.rmem_max; the granted size is printed).
    #[arg(long, default_value_t = 32 << 20, value_name = "BYTES")]
    pub recv_buffer: usize,
    /// Accept exports only from these exporters (repeatable CIDR: 192.0.2.0/24,
    /// 2001:db8::1). Others are dropped and counted by exporter.
    #[arg(long = "allow", value_name = "CIDR")]
    pub allow: Vec<String>,
    /// Sampling rate of records whose exporter states none.
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub default_sampling: u32,
    /// Scale every record by N, whatever its exporter says.
    #[arg(long, value_name = "N")]
    pub sampling_override: Option<u32>,
    /// Drop a NetFlow v9/IPFIX template (and data held for one) unused
    /// for this long (RFC 7011 section 8.4); 0 keeps them for the run.
    #[arg(long, value_name = "SECONDS", default_value_t = 1800.0)]
    pub template_timeout: f64,
    /// Stop after this many seconds.
    #[arg(short = 'd', long, value_name = "SECONDS")]
    pub duration: Option<f64>,
    #[command(flatten)]
    pub session: SessionArgs,
}

#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    /// Serve Prometheus metrics (/metrics), the JSON API (/api/v1/...) and
    /// /healthz on ADDR:PORT while running (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR:PORT")]
    pub serve: Option<String>,
    /// Labelled series per metric family (top talkers, distinct sources per
    /// destination, handshake RTT per service) on /metrics.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub metrics_series: usize,
    /// HTTP connections served at once; more are closed as soon as
    /// accepted (counted in netsketch_http_rejected_connections_total).
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub http_max_connections: usize,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// The instance's endpoint.
    #[arg(long, default_value = "http://127.0.0.1:9464")]
    pub url: String,
    /// Seconds between refreshes.
    #[arg(
        short = 'i',
        long,
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    pub interval: f64,
    /// Rows per list.
    #[arg(short = 'n', long, default_value_t = 10)]
    pub rows: usize,
    /// Print one snapshot and exit.
    #[arg(long)]
    pub once: bool,
    /// With --once: the snapshot as JSON (status, latest window, active alerts).
    #[arg(long, requires = "once")]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// API path under /api/v1/: status, windows, window[?index=N],
    /// top?dim=src|dst|pair|dport|sport&metric=bytes|packets&k=N, estimate?prefix=ADDR/LEN&direction=src|dst,
    /// distinct[?dst=ADDR], alerts.
    pub path: String,
    /// The instance's endpoint.
    #[arg(long, default_value = "http://127.0.0.1:9464")]
    pub url: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
    /// Print the command the file amounts to and exit.
    #[arg(long)]
    pub dry_run: bool,
}

/// The argument groups of a live session (capture, collect), in the order
/// their help lists them: the endpoint, output, engine, detection, Kafka
/// and the archive.
#[derive(Debug, Args)]
pub struct SessionArgs {
    #[command(flatten)]
    pub serve: ServeArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
    #[command(flatten)]
    pub detect: DetectArgs,
    #[command(flatten)]
    pub kafka: crate::kafka::KafkaArgs,
    #[command(flatten)]
    pub archive: crate::archive::ArchiveArgs,
}

/// The argument groups replay and demo share, in the order their help
/// lists them: detection, output, engine.
#[derive(Debug, Args)]
pub struct OfflineArgs {
    #[command(flatten)]
    pub detect: DetectArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub engine: EngineArgs,
}
