//! Why datagrams, sets and records are given up, and the counters of a
//! decoder.

use std::collections::BTreeMap;

use crate::Ip;

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
    /// Every reason, in declaration order (each indexes its counter in
    /// [`FlowErrorCounts`]).
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

    /// Every reason, in the order of their labels (the order reports list
    /// them in).
    pub const BY_LABEL: [FlowError; 13] = [
        FlowError::ShutdownDropped,
        FlowError::BadCount,
        FlowError::BadLength,
        FlowError::BadRecord,
        FlowError::BadSet,
        FlowError::BadTemplate,
        FlowError::NotAllowed,
        FlowError::MissingTemplate,
        FlowError::NoAddress,
        FlowError::TemplateLimit,
        FlowError::TruncatedDatagram,
        FlowError::TruncatedHeader,
        FlowError::UnknownVersion,
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

/// A counter per [`FlowError`], as a fixed array indexed by the error:
/// counting is one add, no map.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FlowErrorCounts([u64; FlowError::ALL.len()]);

impl FlowErrorCounts {
    /// Adds `n` to the counter of `e`, saturating.
    #[inline]
    pub fn add(&mut self, e: FlowError, n: u64) {
        let c = &mut self.0[e as usize];
        *c = c.saturating_add(n);
    }

    /// The count of `e`.
    pub fn get(&self, e: FlowError) -> u64 {
        self.0[e as usize]
    }

    /// Sum over all reasons, saturating.
    pub fn total(&self) -> u64 {
        self.0.iter().fold(0u64, |a, &n| a.saturating_add(n))
    }

    /// No error counted.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|&n| n == 0)
    }

    /// The non-zero counters, in label order ([`FlowError::BY_LABEL`]).
    pub fn iter(&self) -> impl Iterator<Item = (FlowError, u64)> + '_ {
        FlowError::BY_LABEL
            .iter()
            .map(|&e| (e, self.get(e)))
            .filter(|&(_, n)| n > 0)
    }

    /// Adds every counter of `other`, saturating.
    pub fn merge(&mut self, other: &FlowErrorCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0.iter()) {
            *a = a.saturating_add(*b);
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
    pub errors: FlowErrorCounts,
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
        self.errors.add(e, 1);
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
        self.errors.merge(&o.errors);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_listed_in_label_order_once_each() {
        let labels: Vec<&str> = FlowError::BY_LABEL.iter().map(|e| e.reason()).collect();
        let mut sorted = labels.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(labels, sorted);
        // Every error is indexed by its place in ALL.
        for (i, e) in FlowError::ALL.iter().enumerate() {
            assert_eq!(*e as usize, i);
        }
    }

    #[test]
    fn error_counts_iterate_non_zero_reasons_by_label() {
        let mut c = FlowCounts::default();
        c.error(FlowError::UnknownVersion);
        c.error(FlowError::ShutdownDropped);
        c.error(FlowError::UnknownVersion);
        let mut o = FlowCounts::default();
        o.error(FlowError::BadSet);
        c.merge(&o);
        let got: Vec<(&str, u64)> = c.errors.iter().map(|(e, n)| (e.reason(), n)).collect();
        assert_eq!(
            got,
            [
                ("collector_shutdown_dropped", 1),
                ("flow_bad_set", 1),
                ("flow_unknown_version", 2)
            ]
        );
        assert_eq!(
            (c.errors.total(), c.errors.get(FlowError::BadLength)),
            (4, 0)
        );
    }
}
