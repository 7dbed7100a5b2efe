//! NetFlow v9 (RFC 3954) and IPFIX (RFC 7011) messages: sets, data
//! records, options data, and the update a flow record becomes.

use super::*;
use crate::{FlowUpdate, Ip};

/// The NetFlow v9 message header's layout (RFC 3954 5.1).
mod v9_header {
    use super::Field;

    pub const SYS_UPTIME: Field = 4..8;
    pub const UNIX_SECS: Field = 8..12;
    pub const SOURCE_ID: Field = 16..20;
    pub const LEN: usize = 20;
}

/// The IPFIX message header's layout (RFC 7011 3.1).
mod ipfix_header {
    use super::Field;

    pub const LENGTH: Field = 2..4;
    pub const EXPORT_TIME: Field = 4..8;
    pub const DOMAIN_ID: Field = 12..16;
    pub const LEN: usize = 16;
}

/// A set's (flowset's) header layout, both protocols.
mod set_header {
    use super::Field;

    pub const ID: Field = 0..2;
    pub const LENGTH: Field = 2..4;
    pub const LEN: usize = 4;
}

impl FlowDecoder {
    pub(super) fn v9(
        &mut self,
        exporter: (Ip, u16),
        d: &[u8],
        out: &mut Vec<FlowUpdate>,
    ) -> Result<(), FlowError> {
        const HDR: usize = v9_header::LEN;
        if d.len() < HDR {
            return Err(FlowError::TruncatedHeader);
        }
        let uptime = u32_at(d, v9_header::SYS_UPTIME).unwrap_or(0) as u64;
        let secs = u32_at(d, v9_header::UNIX_SECS).unwrap_or(0) as u64;
        let source_id = u32_at(d, v9_header::SOURCE_ID).unwrap_or(0);
        let hdr = Header {
            export_ns: secs * 1_000_000_000,
            sys_uptime_ms: Some(uptime),
        };
        let domain = (exporter.0 .0, exporter.1, source_id, Proto::V9);
        self.sets(domain, hdr, &d[HDR..], out)
    }

    pub(super) fn ipfix(
        &mut self,
        exporter: (Ip, u16),
        d: &[u8],
        out: &mut Vec<FlowUpdate>,
    ) -> Result<(), FlowError> {
        const HDR: usize = ipfix_header::LEN;
        if d.len() < HDR {
            return Err(FlowError::TruncatedHeader);
        }
        let len = u16_at(d, ipfix_header::LENGTH).unwrap_or(0) as usize;
        if len < HDR || len > d.len() {
            return Err(FlowError::BadLength);
        }
        let secs = u32_at(d, ipfix_header::EXPORT_TIME).unwrap_or(0) as u64;
        let domain_id = u32_at(d, ipfix_header::DOMAIN_ID).unwrap_or(0);
        let hdr = Header {
            export_ns: secs * 1_000_000_000,
            sys_uptime_ms: None,
        };
        let domain = (exporter.0 .0, exporter.1, domain_id, Proto::Ipfix);
        self.sets(domain, hdr, &d[HDR..len], out)
    }

    /// Walks the sets (flowsets) of one message.
    pub(super) fn sets(
        &mut self,
        domain: Domain,
        hdr: Header,
        mut body: &[u8],
        out: &mut Vec<FlowUpdate>,
    ) -> Result<(), FlowError> {
        let v9 = domain.3 == Proto::V9;
        const HDR: usize = set_header::LEN;
        while body.len() >= HDR {
            let id = u16_at(body, set_header::ID).unwrap_or(0);
            let len = u16_at(body, set_header::LENGTH).unwrap_or(0) as usize;
            if len < HDR || len > body.len() {
                // v9 exporters may pad the datagram's end; anything else
                // is a broken set, and the rest cannot be found.
                self.counts.error(FlowError::BadSet);
                return Ok(());
            }
            let content = &body[HDR..len];
            match (v9, id) {
                (true, 0) | (false, 2) => self.templates_set(domain, content, false, out),
                (true, 1) | (false, 3) => self.templates_set(domain, content, true, out),
                (_, 256..) => self.data_set((domain, id), hdr, content, out),
                _ => self.counts.error(FlowError::BadSet),
            }
            body = &body[len..];
        }
        Ok(())
    }

    /// Decodes the data set of template `key`, or holds it until the
    /// template comes.
    pub(super) fn data_set(&mut self, key: Key, hdr: Header, c: &[u8], out: &mut Vec<FlowUpdate>) {
        let (domain, id) = key;
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

    pub(super) fn options_record(&mut self, domain: Domain, rec: &Rec) {
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

    pub(super) fn flow_record(
        &mut self,
        domain: Domain,
        hdr: Header,
        rec: &Rec,
        out: &mut Vec<FlowUpdate>,
    ) {
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

    pub(super) fn emit(&mut self, rec: &Rec, rate: u32, export_ns: u64, out: &mut Vec<FlowUpdate>) {
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
