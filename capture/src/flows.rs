//! Flow export decoding: NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX
//! (RFC 7011), from UDP payloads into [`FlowUpdate`]s.
//!
//! Every datagram is a zero-copy view checked before use (lengths against
//! the buffer, set lengths against the message, template field counts and
//! lengths against sane limits); a bad datagram, set or record is an error
//! with a stable reason label ([`FlowError::reason`]), counted by the caller,
//! never a panic.
//!
//! Templates (and options templates) are kept per exporter, observation
//! domain (IPFIX) or source id (v9), and template id; refreshed by any new
//! definition, withdrawn by IPFIX withdrawals. Memory is bounded: at most
//! [`Limits::templates_per_exporter`] per exporter and
//! [`Limits::templates_total`] overall (new ones beyond are refused and
//! counted). Data sets that arrive before their template are held
//! ([`Limits::pending_bytes`] in all, oldest given up first, counted) and
//! decoded when the template comes.
//!
//! Sampling: a record's own sampling interval (IEs 34, 50, 305/306) wins;
//! else the rate its sampler id (IE 48/302) announced in options data; else
//! the exporter's (v5 header, or options data without a sampler id); else
//! the configured default. Packets and bytes are scaled by it and the
//! update carries it in `sampling_rate`.
//!
//! Event time is the flow's end: absolute (IEs 151/153/155/157), or relative
//! to the exporter's uptime (v5 `Last`, IE 21 with the header's sysUptime),
//! or the export time when the record has neither.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::{FlowUpdate, Ip};

/// Why a datagram, set or record was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FlowError {
    /// Shorter than its header.
    TruncatedHeader,
    /// A version netsketch does not decode.
    UnknownVersion,
    /// A length field disagrees with the datagram.
    BadLength,
    /// A set or flowset whose length is impossible.
    BadSet,
    /// A template with impossible contents.
    BadTemplate,
    /// A template refused: the per-exporter or total limit is reached.
    TemplateLimit,
    /// Data whose template never came (or was given up to the hold limit).
    MissingTemplate,
    /// A data record that does not fit its template.
    BadRecord,
    /// A record without source or destination address.
    NoAddress,
    /// A v5 datagram with a record count beyond what it holds.
    BadCount,
    /// A datagram cut short in the capture, or an IP fragment of one (not
    /// reassembled).
    TruncatedDatagram,
    /// A datagram from an exporter not on the allowlist.
    NotAllowed,
    /// A datagram still queued in the collector's socket at shutdown, read
    /// but not decoded (the drain's time bound passed).
    ShutdownDropped,
}

impl FlowError {
    /// Every reason, in report order.
    pub const ALL: [FlowError; 13] = [
        FlowError::TruncatedHeader,
        FlowError::UnknownVersion,
        FlowError::BadLength,
        FlowError::BadSet,
        FlowError::BadTemplate,
        FlowError::TemplateLimit,
        FlowError::MissingTemplate,
        FlowError::BadRecord,
        FlowError::NoAddress,
        FlowError::BadCount,
        FlowError::TruncatedDatagram,
        FlowError::NotAllowed,
        FlowError::ShutdownDropped,
    ];

    /// The stable label counted in reports and metrics.
    pub fn reason(self) -> &'static str {
        match self {
            FlowError::TruncatedHeader => "flow_truncated_header",
            FlowError::UnknownVersion => "flow_unknown_version",
            FlowError::BadLength => "flow_bad_length",
            FlowError::BadSet => "flow_bad_set",
            FlowError::BadTemplate => "flow_bad_template",
            FlowError::TemplateLimit => "flow_template_limit",
            FlowError::MissingTemplate => "flow_missing_template",
            FlowError::BadRecord => "flow_bad_record",
            FlowError::NoAddress => "flow_no_address",
            FlowError::BadCount => "flow_bad_count",
            FlowError::TruncatedDatagram => "flow_truncated_datagram",
            FlowError::NotAllowed => "flow_exporter_not_allowed",
            FlowError::ShutdownDropped => "collector_shutdown_dropped",
        }
    }
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// Memory and sampling settings.
///
/// Memory: templates are counted per exporter address (whatever its UDP
/// port or observation domain) and in all; held data sets cost
/// [`HELD_OVERHEAD`] bytes of bookkeeping plus their payload, per exporter
/// address and in all. The totals are shared by every decoder handed the
/// same [`SharedBudget`] (the collector's receiving threads), so they bound
/// the process, not one thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Templates one exporter address may define (per decoder: an address
    /// whose UDP ports land on N receiving threads may hold N times this).
    pub templates_per_exporter: usize,
    /// Templates in all, across the decoders sharing a budget.
    pub templates_total: usize,
    /// Accounted bytes of data sets held while their template is unknown,
    /// across the decoders sharing a budget.
    pub pending_bytes: usize,
    /// Accounted held bytes one exporter address may use (per decoder).
    pub pending_per_exporter: usize,
    /// A template (and a held data set) unused for this long, in the
    /// decoder's clock (receive time), is dropped; 0 keeps them forever.
    pub template_timeout_ns: u64,
    /// Sampling rate of records that say nothing (1 = unsampled).
    pub default_sampling: u32,
    /// Use this rate for every record, whatever the exporter says.
    pub override_sampling: Option<u32>,
}

impl Limits {
    /// The sampling rate to scale a record by: the override if set, else
    /// the rate the export states (`stated`, asked only without an
    /// override: the record's own interval, else its selector's or
    /// sampler's from options data, RFC 5477 PSAMP included, else the
    /// exporter's), else the default.
    pub fn rate(&self, stated: impl FnOnce() -> Option<u32>) -> u32 {
        self.override_sampling
            .unwrap_or_else(|| stated().unwrap_or(self.default_sampling))
    }
}

/// Default template idle timeout: 30 minutes, as RFC 7011 section 8.4
/// suggests a collector may use for UDP (several template refresh
/// intervals of a typical exporter).
pub const DEFAULT_TEMPLATE_TIMEOUT_NS: u64 = 30 * 60 * 1_000_000_000;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            templates_per_exporter: 1024,
            templates_total: 65_536,
            pending_bytes: 4 << 20,
            pending_per_exporter: 1 << 20,
            template_timeout_ns: DEFAULT_TEMPLATE_TIMEOUT_NS,
            default_sampling: 1,
            override_sampling: None,
        }
    }
}

/// What one held data set costs beyond its payload, in bytes: its entry
/// (header, key, vector), its place in the eviction order and the index
/// slot, rounded up. An empty data set is not free.
pub const HELD_OVERHEAD: usize = 128;

/// Samplers and selectors (IE 48/302) remembered per decoder, at most;
/// further ids are refused and counted as `flow_template_limit`.
pub const MAX_SAMPLERS: usize = 16_384;

/// The memory totals that decoders share: templates defined and held data
/// accounted ([`HELD_OVERHEAD`] + payload per set). Each decoder takes from
/// it before it keeps anything and gives back what it drops (when dropped
/// itself too), so the bound holds across receiving threads without a lock.
#[derive(Debug, Default)]
pub struct SharedBudget {
    templates: AtomicUsize,
    held_bytes: AtomicUsize,
    peak_templates: AtomicUsize,
    peak_held_bytes: AtomicUsize,
}

impl SharedBudget {
    /// Templates kept by every decoder sharing this budget.
    pub fn templates(&self) -> usize {
        self.templates.load(Ordering::Relaxed)
    }

    /// Accounted bytes held by every decoder sharing this budget.
    pub fn held_bytes(&self) -> usize {
        self.held_bytes.load(Ordering::Relaxed)
    }

    /// The most templates kept at once so far.
    pub fn peak_templates(&self) -> usize {
        self.peak_templates.load(Ordering::Relaxed)
    }

    /// The most accounted bytes held at once so far.
    pub fn peak_held_bytes(&self) -> usize {
        self.peak_held_bytes.load(Ordering::Relaxed)
    }

    /// Takes `n` if the total stays within `cap`.
    fn take(a: &AtomicUsize, peak: &AtomicUsize, n: usize, cap: usize) -> bool {
        match a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            v.checked_add(n).filter(|&t| t <= cap)
        }) {
            Ok(before) => {
                peak.fetch_max(before + n, Ordering::Relaxed);
                true
            }
            Err(_) => false,
        }
    }

    fn take_template(&self, cap: usize) -> bool {
        SharedBudget::take(&self.templates, &self.peak_templates, 1, cap)
    }

    fn take_held(&self, n: usize, cap: usize) -> bool {
        SharedBudget::take(&self.held_bytes, &self.peak_held_bytes, n, cap)
    }

    fn give(a: &AtomicUsize, n: usize) {
        let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(n))
        });
    }
}

/// Counters of one decoder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlowCounts {
    /// Datagrams decoded (fully or in part).
    pub datagrams: u64,
    /// Flow records turned into updates.
    pub records: u64,
    /// Template and options template definitions read.
    pub templates: u64,
    /// Options data records read (sampling, uptime).
    pub options_records: u64,
    /// Data sets decoded after waiting for their template.
    pub pending_decoded: u64,
    /// Errors by reason.
    pub errors: BTreeMap<&'static str, u64>,
    /// Errors by exporter address and reason (the first
    /// [`MAX_EXPORTER_ERROR_KEYS`] (exporter, reason) pairs; later pairs
    /// are counted under the unspecified address `::`).
    pub exporter_errors: BTreeMap<(Ip, &'static str), u64>,
    /// sFlow flow samples read.
    pub sflow_flow_samples: u64,
    /// sFlow counter samples read.
    pub sflow_counter_samples: u64,
    /// sFlow samples of other enterprises or formats, skipped.
    pub sflow_other_samples: u64,
    /// sFlow flow samples that held no IP packet (ARP, LLDP...).
    pub sflow_non_ip: u64,
    /// sFlow raw headers of a protocol the parser does not read.
    pub sflow_unknown_header: u64,
    /// Packets the agents say they dropped before sampling (sum of the
    /// samples' `drops`).
    pub sflow_agent_drops: u64,
    /// Interface counter rows not kept (table full).
    pub sflow_interfaces_dropped: u64,
    /// The exporter of the datagram being decoded, for `exporter_errors`.
    pub(crate) current: Ip,
}

/// (exporter, reason) pairs counted separately, at most.
pub const MAX_EXPORTER_ERROR_KEYS: usize = 4096;

impl FlowCounts {
    /// Counts one error, against the exporter of the datagram being decoded.
    pub fn error(&mut self, e: FlowError) {
        self.error_from(self.current, e);
    }

    /// Counts one error of a datagram from `exporter` (which need not be
    /// the one being decoded: held data given up belongs to its own).
    pub fn error_from(&mut self, exporter: Ip, e: FlowError) {
        let n = self.errors.entry(e.reason()).or_insert(0);
        *n = n.saturating_add(1);
        let mut key = (exporter, e.reason());
        if self.exporter_errors.len() >= MAX_EXPORTER_ERROR_KEYS
            && !self.exporter_errors.contains_key(&key)
        {
            key.0 = Ip(0);
        }
        let n = self.exporter_errors.entry(key).or_insert(0);
        *n = n.saturating_add(1);
    }

    /// Adds another decoder's counts (receiving threads), saturating.
    pub fn merge(&mut self, o: &FlowCounts) {
        fn add(a: &mut u64, b: u64) {
            *a = a.saturating_add(b);
        }
        add(&mut self.datagrams, o.datagrams);
        add(&mut self.records, o.records);
        add(&mut self.templates, o.templates);
        add(&mut self.options_records, o.options_records);
        add(&mut self.pending_decoded, o.pending_decoded);
        for (k, v) in &o.errors {
            add(self.errors.entry(k).or_insert(0), *v);
        }
        for (k, v) in &o.exporter_errors {
            add(self.exporter_errors.entry(*k).or_insert(0), *v);
        }
        add(&mut self.sflow_flow_samples, o.sflow_flow_samples);
        add(&mut self.sflow_counter_samples, o.sflow_counter_samples);
        add(&mut self.sflow_other_samples, o.sflow_other_samples);
        add(&mut self.sflow_non_ip, o.sflow_non_ip);
        add(&mut self.sflow_unknown_header, o.sflow_unknown_header);
        add(&mut self.sflow_agent_drops, o.sflow_agent_drops);
        add(
            &mut self.sflow_interfaces_dropped,
            o.sflow_interfaces_dropped,
        );
    }
}

/// Which export protocol a template belongs to (their field encodings
/// differ slightly).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Proto {
    V9,
    Ipfix,
}

/// `(exporter address, exporter port, domain or source id, protocol)`.
type Domain = (u128, u16, u32, Proto);

/// A field of interest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Bytes,
    Packets,
    PostBytes,
    PostPackets,
    Proto,
    TcpFlags,
    SrcPort,
    DstPort,
    Src4,
    Dst4,
    Src6,
    Dst6,
    IcmpType,
    EndSysUp,
    EndSec,
    EndMs,
    EndUs,
    EndNs,
    SamplingInterval,
    SamplerRandomInterval,
    SamplerId,
    PacketInterval,
    PacketSpace,
    SamplingSize,
    SamplingPopulation,
    SamplingProbability,
    SystemInitMs,
}

fn pick_of(id: u16) -> Option<Pick> {
    Some(match id {
        1 => Pick::Bytes,
        2 => Pick::Packets,
        23 => Pick::PostBytes,
        24 => Pick::PostPackets,
        4 => Pick::Proto,
        6 => Pick::TcpFlags,
        7 => Pick::SrcPort,
        11 => Pick::DstPort,
        8 => Pick::Src4,
        12 => Pick::Dst4,
        27 => Pick::Src6,
        28 => Pick::Dst6,
        32 | 139 => Pick::IcmpType,
        21 => Pick::EndSysUp,
        151 => Pick::EndSec,
        153 => Pick::EndMs,
        155 => Pick::EndUs,
        157 => Pick::EndNs,
        34 => Pick::SamplingInterval,
        50 => Pick::SamplerRandomInterval,
        48 | 302 => Pick::SamplerId,
        305 => Pick::PacketInterval,
        306 => Pick::PacketSpace,
        // RFC 5477: random n-out-of-N (309, 310), probabilistic (311).
        309 => Pick::SamplingSize,
        310 => Pick::SamplingPopulation,
        311 => Pick::SamplingProbability,
        160 => Pick::SystemInitMs,
        _ => return None,
    })
}

/// Variable length (IPFIX).
const VARIABLE: u16 = 65_535;

/// `(pick, length)` per field, in order (`None` for fields skipped).
type Fields = Vec<(Option<Pick>, u16)>;

#[derive(Debug, Clone)]
struct Template {
    /// Shared, so that a data set takes a reference rather than a copy.
    fields: Arc<[(Option<Pick>, u16)]>,
    /// Fixed record length, if no field is variable.
    fixed_len: Option<usize>,
    /// Options template: records carry sampling or uptime, not flows.
    options: bool,
    /// Defined or used last at this time (decoder clock).
    last_used_ns: u64,
}

/// The fields as kept: runs of skipped fixed-length fields merged into one
/// (a template of 500 unknown fields costs one entry).
fn compact(fields: Fields) -> Arc<[(Option<Pick>, u16)]> {
    let mut v: Vec<(Option<Pick>, u16)> = Vec::with_capacity(fields.len());
    for f in fields {
        match (v.last_mut(), f) {
            (Some((None, l)), (None, n))
                if *l != VARIABLE && n != VARIABLE && (*l as u32 + n as u32) < VARIABLE as u32 =>
            {
                *l += n
            }
            _ => v.push(f),
        }
    }
    v.into()
}

/// What one record holds.
#[derive(Debug, Default, Clone, Copy)]
struct Rec {
    bytes: Option<u64>,
    packets: Option<u64>,
    proto: u8,
    flags: u8,
    sport: u16,
    dport: u16,
    src4: Option<Ip>,
    dst4: Option<Ip>,
    src6: Option<Ip>,
    dst6: Option<Ip>,
    icmp: Option<u16>,
    end_sysup_ms: Option<u64>,
    end_ns: Option<u64>,
    sampling: Option<u64>,
    sampler_id: Option<u64>,
    packet_interval: Option<u64>,
    packet_space: Option<u64>,
    sampling_size: Option<u64>,
    sampling_population: Option<u64>,
    sampling_probability: Option<f64>,
    init_ms: Option<u64>,
}

/// Big-endian unsigned of 1 to 8 bytes (IPFIX reduced-size encoding).
fn be(b: &[u8]) -> u64 {
    b.iter().take(8).fold(0u64, |a, &x| a << 8 | x as u64)
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    d.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

fn be32(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

impl Rec {
    fn set(&mut self, p: Pick, v: &[u8]) {
        let n = be(v);
        match p {
            Pick::Bytes => self.bytes = Some(n),
            Pick::Packets => self.packets = Some(n),
            Pick::PostBytes => {
                self.bytes.get_or_insert(n);
            }
            Pick::PostPackets => {
                self.packets.get_or_insert(n);
            }
            Pick::Proto => self.proto = n as u8,
            Pick::TcpFlags => self.flags = n as u8,
            Pick::SrcPort => self.sport = n as u16,
            Pick::DstPort => self.dport = n as u16,
            Pick::Src4 if v.len() == 4 => self.src4 = Some(Ip::v4([v[0], v[1], v[2], v[3]])),
            Pick::Dst4 if v.len() == 4 => self.dst4 = Some(Ip::v4([v[0], v[1], v[2], v[3]])),
            Pick::Src6 if v.len() == 16 => self.src6 = Some(Ip(u128_of(v))),
            Pick::Dst6 if v.len() == 16 => self.dst6 = Some(Ip(u128_of(v))),
            Pick::IcmpType => self.icmp = Some(n as u16),
            Pick::EndSysUp => self.end_sysup_ms = Some(n),
            Pick::EndSec => self.end_ns = Some(n.saturating_mul(1_000_000_000)),
            Pick::EndMs => self.end_ns = Some(n.saturating_mul(1_000_000)),
            // NTP format (RFC 7011 6.1.9): seconds since 1900, fraction.
            Pick::EndUs | Pick::EndNs if v.len() == 8 => {
                let secs = (n >> 32).saturating_sub(2_208_988_800);
                let frac = ((n & 0xffff_ffff) * 1_000_000_000) >> 32;
                self.end_ns = Some(secs * 1_000_000_000 + frac);
            }
            Pick::SamplingInterval | Pick::SamplerRandomInterval => self.sampling = Some(n),
            Pick::SamplerId => self.sampler_id = Some(n),
            Pick::PacketInterval => self.packet_interval = Some(n),
            Pick::PacketSpace => self.packet_space = Some(n),
            Pick::SamplingSize => self.sampling_size = Some(n),
            Pick::SamplingPopulation => self.sampling_population = Some(n),
            Pick::SamplingProbability if v.len() == 8 => {
                self.sampling_probability = Some(f64::from_bits(n))
            }
            Pick::SamplingProbability if v.len() == 4 => {
                self.sampling_probability = Some(f32::from_bits(n as u32) as f64)
            }
            Pick::SystemInitMs => self.init_ms = Some(n),
            _ => {}
        }
    }

    /// The flow's addresses: templates with both IPv4 and IPv6 fields fill
    /// one pair and leave the other unspecified (0.0.0.0, ::).
    fn addrs(&self) -> Option<(Ip, Ip)> {
        let zero = Ip::v4([0; 4]);
        let unspecified =
            |p: (Ip, Ip)| (p.0 .0 == 0 && p.1 .0 == 0) || (p.0 == zero && p.1 == zero);
        let v4 = self.src4.zip(self.dst4);
        let v6 = self.src6.zip(self.dst6);
        match (v4, v6) {
            (Some(a), Some(b)) if unspecified(a) && !unspecified(b) => Some(b),
            (Some(a), _) => Some(a),
            (None, b) => b,
        }
    }

    /// The sampling rate the record itself states: a sampling interval
    /// (IE 34/50), else systematic count-based sampling (RFC 5477: 305
    /// packets selected, then 306 skipped: 1 in (interval + space) /
    /// interval), else random n-out-of-N (309 of 310: N / n), else uniform
    /// probabilistic sampling (311: 1 / p); rounded to the nearest rate.
    fn own_rate(&self) -> Option<u32> {
        let clamp = |r: u64| r.clamp(1, u32::MAX as u64) as u32;
        if let Some(s) = self.sampling.filter(|&s| s > 0) {
            return Some(clamp(s));
        }
        if let (Some(i), Some(sp)) = (self.packet_interval, self.packet_space) {
            if i > 0 {
                return Some(clamp(ratio(i.saturating_add(sp), i)));
            }
        }
        if let (Some(n), Some(pop)) = (self.sampling_size, self.sampling_population) {
            if n > 0 && pop >= n {
                return Some(clamp(ratio(pop, n)));
            }
        }
        match self.sampling_probability {
            Some(p) if p > 0.0 && p <= 1.0 => Some(clamp((1.0 / p).round() as u64)),
            _ => None,
        }
    }
}

/// `a / b` rounded to the nearest, without overflow (`b` > 0).
fn ratio(a: u64, b: u64) -> u64 {
    ((a as u128 + b as u128 / 2) / b as u128) as u64
}

fn u128_of(v: &[u8]) -> u128 {
    v.iter().fold(0u128, |a, &x| a << 8 | x as u128)
}

/// A data set waiting for its template.
#[derive(Debug)]
struct Held {
    /// Arrival order, for giving up the oldest first.
    seq: u64,
    /// When it arrived (decoder clock), for the idle timeout.
    at_ns: u64,
    hdr: Header,
    data: Vec<u8>,
}

impl Held {
    /// What it counts against the hold limits.
    fn cost(&self) -> usize {
        HELD_OVERHEAD + self.data.len()
    }
}

/// What the message header says, for decoding its records.
#[derive(Debug, Clone, Copy)]
struct Header {
    /// Export time, ns since the Unix epoch.
    export_ns: u64,
    /// Exporter uptime at export, ms (v9), if known.
    sys_uptime_ms: Option<u64>,
}

/// The state of one observation domain (IPFIX) or source id (v9) of one
/// exporter: its templates and what its options data said.
#[derive(Debug, Default)]
struct DomainState {
    templates: HashMap<u16, Template>,
    /// Rates by sampler or selector id (IE 48/302).
    sampler_rates: HashMap<u64, u32>,
    /// Rate stated without a sampler id.
    rate: Option<u32>,
    /// systemInitTimeMilliseconds (IE 160).
    init_ms: Option<u64>,
}

/// What one exporter address holds in a decoder.
#[derive(Debug, Default, Clone, Copy)]
struct Quota {
    templates: usize,
    held_bytes: usize,
}

/// `(domain, template id)`.
type Key = (Domain, u16);

/// Decodes flow export datagrams, keeping templates and sampling state
/// across them.
///
/// Held data is indexed by template key (a definition finds its sets
/// without scanning) with one arrival order for eviction; every size it
/// keeps is bounded by [`Limits`] and the [`SharedBudget`].
#[derive(Debug)]
pub struct FlowDecoder {
    limits: Limits,
    budget: Arc<SharedBudget>,
    domains: HashMap<Domain, DomainState>,
    /// Templates this decoder keeps (its share of the budget).
    templates: usize,
    samplers: usize,
    per_exporter: HashMap<u128, Quota>,
    held: HashMap<Key, VecDeque<Held>>,
    /// `(seq, key)` in arrival order; entries whose set was decoded since
    /// are stale and skipped (and compacted away).
    held_order: VecDeque<(u64, Key)>,
    held_sets: usize,
    /// Accounted bytes this decoder holds (its share of the budget).
    held_bytes: usize,
    next_seq: u64,
    /// The decoder's clock: the latest receive time seen.
    now_ns: u64,
    next_sweep_ns: u64,
    last_forced_sweep_ns: Option<u64>,
    sflow: crate::sflow::SflowState,
    /// Counters so far.
    pub counts: FlowCounts,
}

impl FlowDecoder {
    /// A decoder with these limits and a budget of its own.
    pub fn new(limits: Limits) -> FlowDecoder {
        FlowDecoder::with_budget(limits, Arc::new(SharedBudget::default()))
    }

    /// A decoder whose template and hold totals are shared with every
    /// other decoder given the same `budget`.
    pub fn with_budget(limits: Limits, budget: Arc<SharedBudget>) -> FlowDecoder {
        FlowDecoder {
            limits,
            budget,
            domains: HashMap::new(),
            templates: 0,
            samplers: 0,
            per_exporter: HashMap::new(),
            held: HashMap::new(),
            held_order: VecDeque::new(),
            held_sets: 0,
            held_bytes: 0,
            next_seq: 0,
            now_ns: 0,
            next_sweep_ns: 0,
            last_forced_sweep_ns: None,
            sflow: crate::sflow::SflowState::default(),
            counts: FlowCounts::default(),
        }
    }

    /// Templates this decoder keeps.
    pub fn templates_kept(&self) -> usize {
        self.templates
    }

    /// Data sets held for a template, and their accounted bytes.
    pub fn held(&self) -> (usize, usize) {
        (self.held_sets, self.held_bytes)
    }

    /// Decodes one datagram from `exporter` (address and UDP port),
    /// received at `recv_ns` (the event time of sFlow samples, which carry
    /// no clock, and the clock of template timeouts), appending its flow
    /// records to `out`. Errors of single sets or records are counted and
    /// skipped; an error of the whole datagram is counted and returned.
    pub fn decode(
        &mut self,
        exporter: (Ip, u16),
        d: &[u8],
        recv_ns: u64,
        out: &mut Vec<FlowUpdate>,
    ) -> Result<(), FlowError> {
        self.counts.current = exporter.0;
        self.now_ns = self.now_ns.max(recv_ns);
        if self.now_ns >= self.next_sweep_ns {
            self.sweep();
        }
        let r = match be16(d, 0) {
            None => Err(FlowError::TruncatedHeader),
            // sFlow's version is a 32-bit word; NetFlow has no version 0.
            Some(0) if be16(d, 2) == Some(5) => crate::sflow::decode(
                &mut self.sflow,
                &mut self.counts,
                exporter.0,
                d,
                recv_ns,
                &self.limits,
                out,
            ),
            Some(5) => self.v5(d, out),
            Some(9) => self.v9(exporter, d, out),
            Some(10) => self.ipfix(exporter, d, out),
            Some(_) => Err(FlowError::UnknownVersion),
        };
        match r {
            Ok(()) => self.counts.datagrams += 1,
            Err(e) => self.counts.error(e),
        }
        r
    }

    /// Gives up what is still waiting for a template (counted as
    /// `flow_missing_template`, one per data set).
    pub fn finish(&mut self) {
        while self.evict_oldest() {}
        self.held_order.clear();
    }

    /// The latest sFlow interface counters, by agent and ifIndex.
    pub fn sflow_interfaces(&self) -> impl Iterator<Item = &crate::sflow::SflowInterface> {
        self.sflow.interfaces.values()
    }

    /// Drops templates and held sets idle for longer than the timeout,
    /// and domains left without templates; schedules the next sweep.
    fn sweep(&mut self) {
        let timeout = self.limits.template_timeout_ns;
        if timeout == 0 {
            self.next_sweep_ns = u64::MAX;
            return;
        }
        // A few sweeps per timeout, at least every 10 s of clock.
        self.next_sweep_ns = self
            .now_ns
            .saturating_add((timeout / 4).clamp(1, 10_000_000_000));
        let Some(cutoff) = self.now_ns.checked_sub(timeout) else {
            return;
        };
        let mut gone = 0usize;
        let mut samplers_gone = 0usize;
        let per_exporter = &mut self.per_exporter;
        self.domains.retain(|domain, st| {
            let before = st.templates.len();
            st.templates.retain(|_, t| t.last_used_ns >= cutoff);
            let n = before - st.templates.len();
            if n > 0 {
                gone += n;
                if let Some(q) = per_exporter.get_mut(&domain.0) {
                    q.templates = q.templates.saturating_sub(n);
                }
            }
            let keep = !st.templates.is_empty();
            if !keep {
                samplers_gone += st.sampler_rates.len();
            }
            keep
        });
        self.templates -= gone;
        self.samplers -= samplers_gone;
        SharedBudget::give(&self.budget.templates, gone);
        // Held sets in arrival order: the oldest go first.
        while let Some(&(seq, key)) = self.held_order.front() {
            match self.held.get(&key).and_then(|q| q.front()) {
                Some(h) if h.seq == seq && h.at_ns >= cutoff => break,
                Some(h) if h.seq == seq => {
                    self.evict_oldest();
                }
                _ => {
                    self.held_order.pop_front();
                }
            }
        }
        self.per_exporter
            .retain(|_, q| q.templates > 0 || q.held_bytes > 0);
    }

    /// Gives up the oldest held data set, counted against its exporter;
    /// `false` when nothing is held.
    fn evict_oldest(&mut self) -> bool {
        while let Some((seq, key)) = self.held_order.pop_front() {
            let Some(q) = self.held.get_mut(&key) else {
                continue;
            };
            if q.front().map(|h| h.seq) != Some(seq) {
                continue;
            }
            let h = q.pop_front().expect("front checked above");
            if q.is_empty() {
                self.held.remove(&key);
            }
            self.unaccount_held(key.0 .0, h.cost());
            self.counts
                .error_from(Ip(key.0 .0), FlowError::MissingTemplate);
            return true;
        }
        false
    }

    fn unaccount_held(&mut self, exporter: u128, cost: usize) {
        self.held_sets -= 1;
        self.held_bytes -= cost;
        SharedBudget::give(&self.budget.held_bytes, cost);
        if let Some(q) = self.per_exporter.get_mut(&exporter) {
            q.held_bytes = q.held_bytes.saturating_sub(cost);
        }
    }

    fn v5(&mut self, d: &[u8], out: &mut Vec<FlowUpdate>) -> Result<(), FlowError> {
        const HDR: usize = 24;
        const REC: usize = 48;
        if d.len() < HDR {
            return Err(FlowError::TruncatedHeader);
        }
        let count = be16(d, 2).unwrap_or(0) as usize;
        if count == 0 || count > 30 || HDR + count * REC > d.len() {
            return Err(FlowError::BadCount);
        }
        let uptime = be32(d, 4).unwrap_or(0) as u64;
        let secs = be32(d, 8).unwrap_or(0) as u64;
        let nsecs = be32(d, 12).unwrap_or(0) as u64;
        let export_ns = secs * 1_000_000_000 + nsecs.min(999_999_999);
        // Top two bits: sampling mode; low 14: the interval.
        let interval = (be16(d, 22).unwrap_or(0) & 0x3fff) as u32;
        let rate = self.limits.rate(|| (interval > 1).then_some(interval));
        for i in 0..count {
            let r = &d[HDR + i * REC..HDR + (i + 1) * REC];
            let last = be32(r, 28).unwrap_or(0) as u64;
            let end_ns = export_ns.saturating_sub(uptime.saturating_sub(last) * 1_000_000);
            let rec = Rec {
                src4: Some(Ip::v4([r[0], r[1], r[2], r[3]])),
                dst4: Some(Ip::v4([r[4], r[5], r[6], r[7]])),
                packets: Some(be32(r, 16).unwrap_or(0) as u64),
                bytes: Some(be32(r, 20).unwrap_or(0) as u64),
                sport: be16(r, 32).unwrap_or(0),
                dport: be16(r, 34).unwrap_or(0),
                flags: r[37],
                proto: r[38],
                end_ns: Some(end_ns),
                ..Rec::default()
            };
            self.emit(&rec, rate, export_ns, out);
        }
        Ok(())
    }

    fn v9(
        &mut self,
        exporter: (Ip, u16),
        d: &[u8],
        out: &mut Vec<FlowUpdate>,
    ) -> Result<(), FlowError> {
        const HDR: usize = 20;
        if d.len() < HDR {
            return Err(FlowError::TruncatedHeader);
        }
        let uptime = be32(d, 4).unwrap_or(0) as u64;
        let secs = be32(d, 8).unwrap_or(0) as u64;
        let source_id = be32(d, 16).unwrap_or(0);
        let hdr = Header {
            export_ns: secs * 1_000_000_000,
            sys_uptime_ms: Some(uptime),
        };
        let domain = (exporter.0 .0, exporter.1, source_id, Proto::V9);
        self.sets(domain, hdr, &d[HDR..], out)
    }

    fn ipfix(
        &mut self,
        exporter: (Ip, u16),
        d: &[u8],
        out: &mut Vec<FlowUpdate>,
    ) -> Result<(), FlowError> {
        const HDR: usize = 16;
        if d.len() < HDR {
            return Err(FlowError::TruncatedHeader);
        }
        let len = be16(d, 2).unwrap_or(0) as usize;
        if len < HDR || len > d.len() {
            return Err(FlowError::BadLength);
        }
        let secs = be32(d, 4).unwrap_or(0) as u64;
        let domain_id = be32(d, 12).unwrap_or(0);
        let hdr = Header {
            export_ns: secs * 1_000_000_000,
            sys_uptime_ms: None,
        };
        let domain = (exporter.0 .0, exporter.1, domain_id, Proto::Ipfix);
        self.sets(domain, hdr, &d[HDR..len], out)
    }

    /// Walks the sets (flowsets) of one message.
    fn sets(
        &mut self,
        domain: Domain,
        hdr: Header,
        mut body: &[u8],
        out: &mut Vec<FlowUpdate>,
    ) -> Result<(), FlowError> {
        let v9 = domain.3 == Proto::V9;
        while body.len() >= 4 {
            let id = be16(body, 0).unwrap_or(0);
            let len = be16(body, 2).unwrap_or(0) as usize;
            if len < 4 || len > body.len() {
                // v9 exporters may pad the datagram's end; anything else
                // is a broken set, and the rest cannot be found.
                self.counts.error(FlowError::BadSet);
                return Ok(());
            }
            let content = &body[4..len];
            match (v9, id) {
                (true, 0) | (false, 2) => self.templates_set(domain, content, false, out),
                (true, 1) | (false, 3) => self.templates_set(domain, content, true, out),
                (_, 256..) => self.data_set(domain, id, hdr, content, out),
                _ => self.counts.error(FlowError::BadSet),
            }
            body = &body[len..];
        }
        Ok(())
    }

    fn templates_set(
        &mut self,
        domain: Domain,
        mut c: &[u8],
        options: bool,
        out: &mut Vec<FlowUpdate>,
    ) {
        let v9 = domain.3 == Proto::V9;
        // Records until fewer bytes than a template header remain (padding).
        while c.len() >= 4 {
            let id = be16(c, 0).unwrap_or(0);
            if id < 256 && !(!v9 && be16(c, 2) == Some(0) && id == if options { 3 } else { 2 }) {
                // Zero padding ends the set; any other small id is bad.
                if c.iter().any(|&b| b != 0) {
                    self.counts.error(FlowError::BadTemplate);
                }
                return;
            }
            let parsed = match (v9, options) {
                (_, false) => {
                    let n = be16(c, 2).unwrap_or(0) as usize;
                    if n == 0 && !v9 {
                        // IPFIX withdrawal (id 2: all of this domain).
                        self.withdraw(domain, id);
                        c = &c[4..];
                        continue;
                    }
                    self.fields(&c[4..], n, v9).map(|(f, used)| (f, 4 + used))
                }
                (true, true) => {
                    // v9 options: scope and option lengths in bytes.
                    let (Some(sl), Some(ol)) = (be16(c, 2), be16(c, 4)) else {
                        break;
                    };
                    if sl % 4 != 0 || ol % 4 != 0 {
                        self.counts.error(FlowError::BadTemplate);
                        return;
                    }
                    let n = (sl as usize + ol as usize) / 4;
                    self.fields(&c[6..], n, true).map(|(f, used)| (f, 6 + used))
                }
                (false, true) => {
                    let n = be16(c, 2).unwrap_or(0) as usize;
                    if n == 0 {
                        self.withdraw(domain, id);
                        c = &c[4..];
                        continue;
                    }
                    if c.len() < 6 {
                        self.counts.error(FlowError::BadTemplate);
                        return;
                    }
                    self.fields(&c[6..], n, false)
                        .map(|(f, used)| (f, 6 + used))
                }
            };
            let Some((fields, used)) = parsed else {
                self.counts.error(FlowError::BadTemplate);
                return;
            };
            self.define(domain, id, fields, options, out);
            c = &c[used.min(c.len())..];
        }
    }

    /// Reads `n` field specifiers; returns them and the bytes used.
    fn fields(&self, c: &[u8], n: usize, v9: bool) -> Option<(Fields, usize)> {
        if n == 0 || n > 512 {
            return None;
        }
        let mut at = 0;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let raw = be16(c, at)?;
            let len = be16(c, at + 2)?;
            at += 4;
            let enterprise = !v9 && raw & 0x8000 != 0;
            if enterprise {
                // Enterprise-specific: skipped, whatever its number.
                be32(c, at)?;
                at += 4;
            }
            // Zero-length fields occur (v9 scope "System" with length 0);
            // a record must still take at least one byte (checked below).
            if v9 && len == VARIABLE {
                return None;
            }
            let pick = if enterprise { None } else { pick_of(raw) };
            v.push((pick, len));
        }
        Some((v, at))
    }

    fn define(
        &mut self,
        domain: Domain,
        id: u16,
        fields: Fields,
        options: bool,
        out: &mut Vec<FlowUpdate>,
    ) {
        // Checked before anything is counted: a rejected template takes
        // no place in the exporter's quota.
        let fixed_len = fields.iter().try_fold(0usize, |a, &(_, l)| {
            (l != VARIABLE).then_some(a + l as usize)
        });
        if fixed_len == Some(0) {
            self.counts.error(FlowError::BadTemplate);
            return;
        }
        let t = Template {
            fields: compact(fields),
            fixed_len,
            options,
            last_used_ns: self.now_ns,
        };
        let known = self
            .domains
            .get(&domain)
            .is_some_and(|d| d.templates.contains_key(&id));
        if !known {
            let mine = self.per_exporter.get(&domain.0).map_or(0, |q| q.templates);
            if mine >= self.limits.templates_per_exporter || !self.take_template() {
                self.counts.error(FlowError::TemplateLimit);
                return;
            }
            self.templates += 1;
            self.per_exporter.entry(domain.0).or_default().templates += 1;
        }
        self.domains
            .entry(domain)
            .or_default()
            .templates
            .insert(id, t);
        self.counts.templates += 1;
        self.release(domain, id, out);
    }

    /// One place in the shared template table; when it is full, expired
    /// templates are swept first (at most once a second of clock).
    fn take_template(&mut self) -> bool {
        let cap = self.limits.templates_total;
        if self.budget.take_template(cap) {
            return true;
        }
        let due = self
            .last_forced_sweep_ns
            .is_none_or(|t| self.now_ns.saturating_sub(t) >= 1_000_000_000);
        if !due {
            return false;
        }
        self.last_forced_sweep_ns = Some(self.now_ns);
        self.sweep();
        self.budget.take_template(cap)
    }

    fn withdraw(&mut self, domain: Domain, id: u16) {
        let Some(st) = self.domains.get_mut(&domain) else {
            return;
        };
        // Template id 2 or 3 withdraws every template of the domain.
        let gone = if id < 256 {
            std::mem::take(&mut st.templates).len()
        } else {
            usize::from(st.templates.remove(&id).is_some())
        };
        if st.templates.is_empty() {
            self.samplers -= st.sampler_rates.len();
            self.domains.remove(&domain);
        }
        self.templates -= gone;
        SharedBudget::give(&self.budget.templates, gone);
        if let Some(q) = self.per_exporter.get_mut(&domain.0) {
            q.templates = q.templates.saturating_sub(gone);
        }
    }

    /// Decodes the data sets held for a template that just arrived.
    fn release(&mut self, domain: Domain, id: u16, out: &mut Vec<FlowUpdate>) {
        let Some(ready) = self.held.remove(&(domain, id)) else {
            return;
        };
        for h in ready {
            self.unaccount_held(domain.0, h.cost());
            self.counts.pending_decoded += 1;
            self.data_set(domain, id, h.hdr, &h.data, out);
        }
        // Their places in the arrival order are stale now: compact it
        // once they outnumber the live ones.
        if self.held_order.len() > 2 * self.held_sets + 1024 {
            let held = &self.held;
            self.held_order.retain(|(seq, key)| {
                held.get(key)
                    .and_then(|q| q.front())
                    .is_some_and(|h| h.seq <= *seq)
            });
        }
    }

    fn data_set(
        &mut self,
        domain: Domain,
        id: u16,
        hdr: Header,
        c: &[u8],
        out: &mut Vec<FlowUpdate>,
    ) {
        let now = self.now_ns;
        let Some(t) = self
            .domains
            .get_mut(&domain)
            .and_then(|d| d.templates.get_mut(&id))
        else {
            self.hold(domain, id, hdr, c);
            return;
        };
        t.last_used_ns = now;
        // A reference-counted copy: the fields are not copied.
        let t = t.clone();
        let mut at = 0;
        let min = t.fixed_len.unwrap_or(1).max(1);
        while c.len() - at >= min {
            let mut rec = Rec::default();
            let Some(used) = read_record(&t, &c[at..], domain.3, &mut rec).filter(|&u| u > 0)
            else {
                self.counts.error(FlowError::BadRecord);
                return;
            };
            at += used;
            if t.options {
                self.options_record(domain, &rec);
            } else {
                self.flow_record(domain, hdr, &rec, out);
            }
            if t.fixed_len.is_none() && c.len() - at < 4 {
                // Padding after variable-length records.
                break;
            }
        }
    }

    /// Keeps a data set until its template comes: refused (counted) when
    /// its exporter's quota is used up; the oldest held sets of this
    /// decoder are given up (counted) to make room in the shared budget.
    fn hold(&mut self, domain: Domain, id: u16, hdr: Header, c: &[u8]) {
        let cost = HELD_OVERHEAD + c.len();
        let mine = self.per_exporter.get(&domain.0).map_or(0, |q| q.held_bytes);
        if mine + cost > self.limits.pending_per_exporter || cost > self.limits.pending_bytes {
            self.counts.error(FlowError::MissingTemplate);
            return;
        }
        while !self.budget.take_held(cost, self.limits.pending_bytes) {
            if !self.evict_oldest() {
                // Other decoders hold the budget.
                self.counts.error(FlowError::MissingTemplate);
                return;
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.held_sets += 1;
        self.held_bytes += cost;
        self.per_exporter.entry(domain.0).or_default().held_bytes += cost;
        self.held_order.push_back((seq, (domain, id)));
        self.held.entry((domain, id)).or_default().push_back(Held {
            seq,
            at_ns: self.now_ns,
            hdr,
            data: c.to_vec(),
        });
    }

    fn options_record(&mut self, domain: Domain, rec: &Rec) {
        self.counts.options_records += 1;
        let Some(st) = self.domains.get_mut(&domain) else {
            return;
        };
        if let Some(ms) = rec.init_ms {
            st.init_ms = Some(ms);
        }
        if let Some(rate) = rec.own_rate() {
            match rec.sampler_id {
                Some(sid) => {
                    let room = self.samplers < MAX_SAMPLERS;
                    match st.sampler_rates.entry(sid) {
                        std::collections::hash_map::Entry::Occupied(mut e) => {
                            e.insert(rate);
                        }
                        std::collections::hash_map::Entry::Vacant(e) if room => {
                            e.insert(rate);
                            self.samplers += 1;
                        }
                        std::collections::hash_map::Entry::Vacant(_) => {
                            self.counts.error(FlowError::TemplateLimit);
                        }
                    }
                }
                None => st.rate = Some(rate),
            }
        }
    }

    fn flow_record(&mut self, domain: Domain, hdr: Header, rec: &Rec, out: &mut Vec<FlowUpdate>) {
        let st = self.domains.get(&domain);
        let rate = self.limits.rate(|| {
            rec.own_rate()
                .or_else(|| {
                    let sid = rec.sampler_id?;
                    st?.sampler_rates.get(&sid).copied()
                })
                .or_else(|| st?.rate)
        });
        let mut rec = *rec;
        if rec.end_ns.is_none() {
            rec.end_ns = match (rec.end_sysup_ms, hdr.sys_uptime_ms) {
                (Some(end), Some(up)) => Some(
                    hdr.export_ns
                        .saturating_sub(up.saturating_sub(end).saturating_mul(1_000_000)),
                ),
                // IPFIX relative times count from the exporter's boot.
                (Some(end), None) => st
                    .and_then(|s| s.init_ms)
                    .map(|init| init.saturating_add(end).saturating_mul(1_000_000)),
                _ => None,
            };
        }
        self.emit(&rec, rate, hdr.export_ns, out);
    }

    fn emit(&mut self, rec: &Rec, rate: u32, export_ns: u64, out: &mut Vec<FlowUpdate>) {
        let Some((src, dst)) = rec.addrs() else {
            self.counts.error(FlowError::NoAddress);
            return;
        };
        let rate = rate.max(1);
        let packets = rec.packets.unwrap_or(0).saturating_mul(rate as u64);
        let bytes = rec.bytes.unwrap_or(0).saturating_mul(rate as u64);
        let icmp = matches!(rec.proto, 1 | 58);
        let mut u = FlowUpdate {
            ts_ns: rec.end_ns.unwrap_or(export_ns),
            src,
            dst,
            bytes,
            packets: packets.min(u32::MAX as u64) as u32,
            wire_len: 0,
            sampling_rate: rate,
            proto: rec.proto,
            tcp_flags: if rec.proto == 6 { rec.flags } else { 0 },
            ip_version: if src.to_v4().is_some() { 4 } else { 6 },
            has_ports: matches!(rec.proto, 6 | 17 | 1 | 58),
            ..FlowUpdate::default()
        };
        if icmp {
            // v5 and many v9 exporters put type << 8 | code in the
            // destination port.
            u.dport = rec.icmp.unwrap_or(rec.dport);
        } else {
            u.sport = rec.sport;
            u.dport = rec.dport;
        }
        self.counts.records += 1;
        out.push(u);
    }
}

impl Drop for FlowDecoder {
    /// Gives this decoder's share back to the shared budget.
    fn drop(&mut self) {
        SharedBudget::give(&self.budget.templates, self.templates);
        SharedBudget::give(&self.budget.held_bytes, self.held_bytes);
    }
}

/// Reads one record; returns the bytes it took, `None` if it does not fit.
fn read_record(t: &Template, c: &[u8], proto: Proto, rec: &mut Rec) -> Option<usize> {
    let mut at = 0;
    for &(pick, len) in t.fields.iter() {
        let n = if len == VARIABLE && proto == Proto::Ipfix {
            let first = *c.get(at)? as usize;
            at += 1;
            if first == 255 {
                let l = be16(c, at)? as usize;
                at += 2;
                l
            } else {
                first
            }
        } else {
            len as usize
        };
        let v = c.get(at..at + n)?;
        if let Some(p) = pick {
            rec.set(p, v);
        }
        at += n;
    }
    Some(at)
}
