//! Template and options template sets: parsing, definition against the
//! quotas and the shared table, withdrawal.

use std::sync::Arc;

use super::*;
use crate::{FlowUpdate, Ip};

/// A template record's header layout (RFC 3954 5.2, RFC 7011 3.4.1); an
/// options template record's (RFC 3954 6.1, RFC 7011 3.4.2.2) has one
/// more word.
mod template_header {
    use super::Field;

    pub const ID: Field = 0..2;
    pub const FIELD_COUNT: Field = 2..4;
    /// v9 options: scope and option field lengths in bytes.
    pub const V9_SCOPE_LEN: Field = 2..4;
    pub const V9_OPTION_LEN: Field = 4..6;
    pub const LEN: usize = 4;
    pub const OPTIONS_LEN: usize = 6;
}

/// A field specifier's layout (RFC 7011 3.2); the enterprise number
/// follows only when the id's enterprise bit is set (IPFIX).
mod specifier {
    use super::Field;

    pub const ID: Field = 0..2;
    pub const LENGTH: Field = 2..4;
    pub const LEN: usize = 4;
    pub const ENTERPRISE: Field = 4..8;
    pub const ENTERPRISE_LEN: usize = 4;
}

/// Variable length (IPFIX).
pub(super) const VARIABLE: u16 = 65_535;

/// `(pick, length)` per field, in order (`None` for fields skipped).
pub(super) type Fields = Vec<(Option<Pick>, u16)>;

#[derive(Debug, Clone)]
pub(super) struct Template {
    /// Shared, so that a data set takes a reference rather than a copy.
    pub(super) fields: Arc<[(Option<Pick>, u16)]>,
    /// Fixed record length, if no field is variable.
    pub(super) fixed_len: Option<usize>,
    /// Options template: records carry sampling or uptime, not flows.
    pub(super) options: bool,
    /// Defined or used last at this time (decoder clock).
    pub(super) last_used_ns: u64,
}

/// The fields as kept: runs of skipped fixed-length fields merged into one
/// (a template of 500 unknown fields costs one entry).
pub(super) fn compact(fields: Fields) -> Arc<[(Option<Pick>, u16)]> {
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

impl FlowDecoder {
    pub(super) fn templates_set(
        &mut self,
        domain: Domain,
        mut c: &[u8],
        options: bool,
        out: &mut Vec<FlowUpdate>,
    ) {
        let v9 = domain.3 == Proto::V9;
        // Records until fewer bytes than a template header remain (padding).
        use template_header as h;
        while c.len() >= h::LEN {
            let id = u16_at(c, h::ID).unwrap_or(0);
            let count = u16_at(c, h::FIELD_COUNT);
            if id < 256 && !(!v9 && count == Some(0) && id == if options { 3 } else { 2 }) {
                // Zero padding ends the set; any other small id is bad.
                if c.iter().any(|&b| b != 0) {
                    self.counts.error(FlowError::BadTemplate);
                }
                return;
            }
            let parsed = match (v9, options) {
                (_, false) => {
                    let n = count.unwrap_or(0) as usize;
                    if n == 0 && !v9 {
                        // IPFIX withdrawal (id 2: all of this domain).
                        self.withdraw(domain, id);
                        c = &c[h::LEN..];
                        continue;
                    }
                    self.fields(&c[h::LEN..], n, v9)
                        .map(|(f, used)| (f, h::LEN + used))
                }
                (true, true) => {
                    let (Some(sl), Some(ol)) =
                        (u16_at(c, h::V9_SCOPE_LEN), u16_at(c, h::V9_OPTION_LEN))
                    else {
                        break;
                    };
                    if sl % 4 != 0 || ol % 4 != 0 {
                        self.counts.error(FlowError::BadTemplate);
                        return;
                    }
                    let n = (sl as usize + ol as usize) / 4;
                    self.fields(&c[h::OPTIONS_LEN..], n, true)
                        .map(|(f, used)| (f, h::OPTIONS_LEN + used))
                }
                (false, true) => {
                    let n = count.unwrap_or(0) as usize;
                    if n == 0 {
                        self.withdraw(domain, id);
                        c = &c[h::LEN..];
                        continue;
                    }
                    if c.len() < h::OPTIONS_LEN {
                        self.counts.error(FlowError::BadTemplate);
                        return;
                    }
                    self.fields(&c[h::OPTIONS_LEN..], n, false)
                        .map(|(f, used)| (f, h::OPTIONS_LEN + used))
                }
            };
            let Some((fields, used)) = parsed else {
                self.counts.error(FlowError::BadTemplate);
                return;
            };
            self.define((domain, id), fields, options, out);
            c = &c[used.min(c.len())..];
        }
    }

    /// Reads `n` field specifiers; returns them and the bytes used.
    pub(super) fn fields(&self, c: &[u8], n: usize, v9: bool) -> Option<(Fields, usize)> {
        if n == 0 || n > 512 {
            return None;
        }
        let mut at = 0;
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            let spec = c.get(at..)?;
            let ie = Ie(u16_at(spec, specifier::ID)?);
            let len = u16_at(spec, specifier::LENGTH)?;
            at += specifier::LEN;
            let enterprise = ie.is_enterprise(if v9 { Proto::V9 } else { Proto::Ipfix });
            if enterprise {
                // Enterprise-specific: skipped, whatever its number.
                u32_at(spec, specifier::ENTERPRISE)?;
                at += specifier::ENTERPRISE_LEN;
            }
            // Zero-length fields occur (v9 scope "System" with length 0);
            // a record must still take at least one byte (checked below).
            if v9 && len == VARIABLE {
                return None;
            }
            let pick = if enterprise { None } else { ie.pick() };
            v.push((pick, len));
        }
        Some((v, at))
    }

    /// Defines (or refreshes) template `key` within the quotas, then
    /// decodes the data held for it.
    pub(super) fn define(
        &mut self,
        key: Key,
        fields: Fields,
        options: bool,
        out: &mut Vec<FlowUpdate>,
    ) {
        let (domain, id) = key;
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
            if mine >= self.limits.templates_per_exporter {
                self.counts.error(FlowError::TemplateLimit);
                return;
            }
            if self.take_template() {
                self.templates += 1;
            } else if !self.yield_template(domain.0, mine) {
                // (A yielded place is reused: this decoder's count stays.)
                self.counts.error(FlowError::TemplateLimit);
                return;
            }
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
    pub(super) fn take_template(&mut self) -> bool {
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

    /// With the shared table full, the exporter address holding the most
    /// templates in this decoder gives up its least recently used one to
    /// `requester`, if it holds more than one beyond the requester's
    /// `mine` (so many addresses at their quota cannot lock a newcomer out
    /// until they go idle); counted as `flow_template_limit` against it.
    /// At most [`MAX_YIELDS_PER_SECOND`] a second of clock: each costs a
    /// scan of this decoder's addresses and domains.
    pub(super) fn yield_template(&mut self, requester: u128, mine: usize) -> bool {
        let second = self.now_ns / 1_000_000_000;
        if self.yield_second != second {
            self.yield_second = second;
            self.yields = 0;
        }
        if self.yields >= MAX_YIELDS_PER_SECOND {
            return false;
        }
        let Some((heavy, n)) = self
            .per_exporter
            .iter()
            .filter(|(a, _)| **a != requester)
            .map(|(a, q)| (*a, q.templates))
            .max_by_key(|&(_, n)| n)
        else {
            return false;
        };
        if n <= mine + 1 {
            return false;
        }
        let mut lru: Option<(Domain, u16, u64)> = None;
        for (d, st) in self.domains.iter().filter(|(d, _)| d.0 == heavy) {
            for (id, t) in &st.templates {
                if lru.is_none_or(|(_, _, used)| t.last_used_ns < used) {
                    lru = Some((*d, *id, t.last_used_ns));
                }
            }
        }
        let Some((d, id, _)) = lru else {
            return false;
        };
        if let Some(st) = self.domains.get_mut(&d) {
            st.templates.remove(&id);
            if st.templates.is_empty() {
                self.samplers -= st.sampler_rates.len();
                self.domains.remove(&d);
            }
        }
        if let Some(q) = self.per_exporter.get_mut(&heavy) {
            q.templates -= 1;
        }
        self.yields += 1;
        self.counts.error_from(Ip(heavy), FlowError::TemplateLimit);
        true
    }

    pub(super) fn withdraw(&mut self, domain: Domain, id: u16) {
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
}
