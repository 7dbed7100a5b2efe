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
}

impl FlowError {
    /// Every reason, in report order.
    pub const ALL: [FlowError; 12] = [
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
        }
    }
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.reason())
    }
}

/// Memory and sampling settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Templates one exporter may define.
    pub templates_per_exporter: usize,
    /// Templates in all.
    pub templates_total: usize,
    /// Bytes of data sets held while their template is unknown.
    pub pending_bytes: usize,
    /// Sampling rate of records that say nothing (1 = unsampled).
    pub default_sampling: u32,
    /// Use this rate for every record, whatever the exporter says.
    pub override_sampling: Option<u32>,
}

impl Limits {
    /// The sampling rate to scale a record by: the override if set, else
    /// the rate the export states (`stated`, asked only without an
    /// override), else the default.
    pub fn rate(&self, stated: impl FnOnce() -> Option<u32>) -> u32 {
        self.override_sampling
            .unwrap_or_else(|| stated().unwrap_or(self.default_sampling))
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            templates_per_exporter: 1024,
            templates_total: 65_536,
            pending_bytes: 4 << 20,
            default_sampling: 1,
            override_sampling: None,
        }
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
        *self.errors.entry(e.reason()).or_insert(0) += 1;
        let mut key = (exporter, e.reason());
        if self.exporter_errors.len() >= MAX_EXPORTER_ERROR_KEYS
            && !self.exporter_errors.contains_key(&key)
        {
            key.0 = Ip(0);
        }
        *self.exporter_errors.entry(key).or_insert(0) += 1;
    }

    /// Adds another decoder's counts (receiving threads).
    pub fn merge(&mut self, o: &FlowCounts) {
        self.datagrams += o.datagrams;
        self.records += o.records;
        self.templates += o.templates;
        self.options_records += o.options_records;
        self.pending_decoded += o.pending_decoded;
        for (k, v) in &o.errors {
            *self.errors.entry(k).or_insert(0) += v;
        }
        for (k, v) in &o.exporter_errors {
            *self.exporter_errors.entry(*k).or_insert(0) += v;
        }
        self.sflow_flow_samples += o.sflow_flow_samples;
        self.sflow_counter_samples += o.sflow_counter_samples;
        self.sflow_other_samples += o.sflow_other_samples;
        self.sflow_non_ip += o.sflow_non_ip;
        self.sflow_unknown_header += o.sflow_unknown_header;
        self.sflow_agent_drops += o.sflow_agent_drops;
        self.sflow_interfaces_dropped += o.sflow_interfaces_dropped;
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
    fields: Fields,
    /// Fixed record length, if no field is variable.
    fixed_len: Option<usize>,
    /// Options template: records carry sampling or uptime, not flows.
    options: bool,
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

    /// The sampling rate the record itself states.
    fn own_rate(&self) -> Option<u32> {
        if let Some(s) = self.sampling.filter(|&s| s > 0) {
            return Some(s.min(u32::MAX as u64) as u32);
        }
        match (self.packet_interval, self.packet_space) {
            (Some(i), Some(sp)) if i > 0 => Some(((i + sp) / i).clamp(1, u32::MAX as u64) as u32),
            _ => None,
        }
    }
}

fn u128_of(v: &[u8]) -> u128 {
    v.iter().fold(0u128, |a, &x| a << 8 | x as u128)
}

/// A data set waiting for its template.
#[derive(Debug)]
struct Held {
    domain: Domain,
    template: u16,
    hdr: Header,
    data: Vec<u8>,
}

/// What the message header says, for decoding its records.
#[derive(Debug, Clone, Copy)]
struct Header {
    /// Export time, ns since the Unix epoch.
    export_ns: u64,
    /// Exporter uptime at export, ms (v9), if known.
    sys_uptime_ms: Option<u64>,
}

/// Decodes flow export datagrams, keeping templates and sampling state
/// across them.
#[derive(Debug)]
pub struct FlowDecoder {
    limits: Limits,
    templates: HashMap<(Domain, u16), Template>,
    per_exporter: HashMap<(u128, u16), usize>,
    sampler_rates: HashMap<(Domain, u64), u32>,
    domain_rates: HashMap<Domain, u32>,
    init_ms: HashMap<Domain, u64>,
    held: VecDeque<Held>,
    held_bytes: usize,
    sflow: crate::sflow::SflowState,
    /// Counters so far.
    pub counts: FlowCounts,
}

impl FlowDecoder {
    /// A decoder with these limits.
    pub fn new(limits: Limits) -> FlowDecoder {
        FlowDecoder {
            limits,
            templates: HashMap::new(),
            per_exporter: HashMap::new(),
            sampler_rates: HashMap::new(),
            domain_rates: HashMap::new(),
            init_ms: HashMap::new(),
            held: VecDeque::new(),
            held_bytes: 0,
            sflow: crate::sflow::SflowState::default(),
            counts: FlowCounts::default(),
        }
    }

    /// Decodes one datagram from `exporter` (address and UDP port),
    /// received at `recv_ns` (the event time of sFlow samples, which carry
    /// no clock), appending its flow records to `out`. Errors of single
    /// sets or records are counted and skipped; an error of the whole
    /// datagram is counted and returned.
    pub fn decode(
        &mut self,
        exporter: (Ip, u16),
        d: &[u8],
        recv_ns: u64,
        out: &mut Vec<FlowUpdate>,
    ) -> Result<(), FlowError> {
        self.counts.current = exporter.0;
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
        for h in self.held.drain(..) {
            self.counts
                .error_from(Ip(h.domain.0), FlowError::MissingTemplate);
        }
        self.held_bytes = 0;
    }

    /// The latest sFlow interface counters, by agent and ifIndex.
    pub fn sflow_interfaces(&self) -> impl Iterator<Item = &crate::sflow::SflowInterface> {
        self.sflow.interfaces.values()
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
        let key = (domain, id);
        let exporter = (domain.0, domain.1);
        if !self.templates.contains_key(&key) {
            let mine = self.per_exporter.get(&exporter).copied().unwrap_or(0);
            if mine >= self.limits.templates_per_exporter
                || self.templates.len() >= self.limits.templates_total
            {
                self.counts.error(FlowError::TemplateLimit);
                return;
            }
            *self.per_exporter.entry(exporter).or_insert(0) += 1;
        }
        let fixed_len = fields.iter().try_fold(0usize, |a, &(_, l)| {
            (l != VARIABLE).then_some(a + l as usize)
        });
        if fixed_len == Some(0) {
            self.counts.error(FlowError::BadTemplate);
            return;
        }
        self.templates.insert(
            key,
            Template {
                fields,
                fixed_len,
                options,
            },
        );
        self.counts.templates += 1;
        self.release(domain, id, out);
    }

    fn withdraw(&mut self, domain: Domain, id: u16) {
        let before = self.templates.len();
        // Template id 2 or 3 withdraws every template of the domain.
        self.templates
            .retain(|(d, t), _| !(*d == domain && (*t == id || id < 256)));
        let gone = before - self.templates.len();
        if let Some(n) = self.per_exporter.get_mut(&(domain.0, domain.1)) {
            *n = n.saturating_sub(gone);
        }
    }

    /// Decodes the data sets held for a template that just arrived.
    fn release(&mut self, domain: Domain, id: u16, out: &mut Vec<FlowUpdate>) {
        if self.held.is_empty() {
            return;
        }
        let (ready, keep): (VecDeque<Held>, VecDeque<Held>) = self
            .held
            .drain(..)
            .partition(|h| h.domain == domain && h.template == id);
        self.held = keep;
        for h in ready {
            self.held_bytes -= h.data.len();
            self.counts.pending_decoded += 1;
            self.data_set(domain, id, h.hdr, &h.data, out);
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
        let Some(t) = self.templates.get(&(domain, id)) else {
            self.hold(domain, id, hdr, c);
            return;
        };
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

    fn hold(&mut self, domain: Domain, id: u16, hdr: Header, c: &[u8]) {
        if c.len() > self.limits.pending_bytes {
            self.counts.error(FlowError::MissingTemplate);
            return;
        }
        while self.held_bytes + c.len() > self.limits.pending_bytes {
            match self.held.pop_front() {
                Some(h) => {
                    self.held_bytes -= h.data.len();
                    self.counts
                        .error_from(Ip(h.domain.0), FlowError::MissingTemplate);
                }
                None => break,
            }
        }
        self.held_bytes += c.len();
        self.held.push_back(Held {
            domain,
            template: id,
            hdr,
            data: c.to_vec(),
        });
    }

    fn options_record(&mut self, domain: Domain, rec: &Rec) {
        self.counts.options_records += 1;
        if let Some(ms) = rec.init_ms {
            self.init_ms.insert(domain, ms);
        }
        if let Some(rate) = rec.own_rate() {
            match rec.sampler_id {
                Some(sid) => {
                    self.sampler_rates.insert((domain, sid), rate);
                }
                None => {
                    self.domain_rates.insert(domain, rate);
                }
            }
        }
    }

    fn flow_record(&mut self, domain: Domain, hdr: Header, rec: &Rec, out: &mut Vec<FlowUpdate>) {
        let rate = self.limits.rate(|| {
            rec.own_rate()
                .or_else(|| {
                    rec.sampler_id
                        .and_then(|s| self.sampler_rates.get(&(domain, s)).copied())
                })
                .or_else(|| self.domain_rates.get(&domain).copied())
        });
        let mut rec = *rec;
        if rec.end_ns.is_none() {
            rec.end_ns = match (rec.end_sysup_ms, hdr.sys_uptime_ms) {
                (Some(end), Some(up)) => Some(
                    hdr.export_ns
                        .saturating_sub(up.saturating_sub(end).saturating_mul(1_000_000)),
                ),
                // IPFIX relative times count from the exporter's boot.
                (Some(end), None) => self
                    .init_ms
                    .get(&domain)
                    .map(|init| (init + end).saturating_mul(1_000_000)),
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

/// Reads one record; returns the bytes it took, `None` if it does not fit.
fn read_record(t: &Template, c: &[u8], proto: Proto, rec: &mut Rec) -> Option<usize> {
    let mut at = 0;
    for &(pick, len) in &t.fields {
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
