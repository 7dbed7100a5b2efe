//! Memory and sampling limits, and the budget decoders share.

use std::sync::atomic::{AtomicUsize, Ordering};

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

/// Templates a full table takes from its heaviest exporter address for a
/// newcomer, per decoder and second of clock, at most.
pub const MAX_YIELDS_PER_SECOND: usize = 64;

/// Samplers and selectors (IE 48/302) remembered per decoder, at most;
/// further ids are refused and counted as `flow_template_limit`.
pub const MAX_SAMPLERS: usize = 16_384;

/// The memory totals that decoders share: templates defined and held data
/// accounted ([`HELD_OVERHEAD`] + payload per set). Each decoder takes from
/// it before it keeps anything and gives back what it drops (when dropped
/// itself too), so the bound holds across receiving threads without a lock.
#[derive(Debug, Default)]
pub struct SharedBudget {
    pub(super) templates: AtomicUsize,
    pub(super) held_bytes: AtomicUsize,
    pub(super) peak_templates: AtomicUsize,
    pub(super) peak_held_bytes: AtomicUsize,
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
    pub(super) fn take(a: &AtomicUsize, peak: &AtomicUsize, n: usize, cap: usize) -> bool {
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

    pub(super) fn take_template(&self, cap: usize) -> bool {
        SharedBudget::take(&self.templates, &self.peak_templates, 1, cap)
    }

    pub(super) fn take_held(&self, n: usize, cap: usize) -> bool {
        SharedBudget::take(&self.held_bytes, &self.peak_held_bytes, n, cap)
    }

    pub(super) fn give(a: &AtomicUsize, n: usize) {
        let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_sub(n))
        });
    }
}
