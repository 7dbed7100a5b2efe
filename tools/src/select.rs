//! `replay -f EXPR --from T --to T`: which packets of the files enter the
//! pipeline. The test runs before parsing; what it leaves out is counted
//! (`filtered`, `out_of_range`), never silently lost.

use anyhow::Result;
use capture::Linktype;
use pipeline::{Selected, Selector};

/// A time given as RFC 3339 (`2024-01-01T00:00:05Z`, `...05.25+01:00`) or
/// Unix seconds (`1704067205`, `1704067205.25`), in ns since the epoch.
pub fn parse_time(flag: &str, s: &str) -> Result<u64> {
    let bad = || {
        crate::exit::usage(format!(
            "{flag} {s:?}: give a time as RFC 3339 (2024-01-01T00:00:05Z) or Unix seconds (1704067205.5)"
        ))
    };
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let (secs, frac) = t.split_once('.').unwrap_or((t, ""));
        let secs: u64 = secs.parse().map_err(|_| bad())?;
        let ns = frac_ns(frac).ok_or_else(bad)?;
        return secs
            .checked_mul(1_000_000_000)
            .and_then(|x| x.checked_add(ns))
            .ok_or_else(bad);
    }
    rfc3339(t).ok_or_else(bad)
}

/// Up to nine digits of a fraction of a second, in ns.
fn frac_ns(frac: &str) -> Option<u64> {
    if frac.is_empty() {
        return Some(0);
    }
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = frac.parse().ok()?;
    Some(n * 10u64.pow(9 - frac.len() as u32))
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm, the
/// inverse of render.rs's).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn rfc3339(t: &str) -> Option<u64> {
    let b = t.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = t.get(r)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let dim = [
        31,
        28 + i64::from(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)),
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&mo)
        || d < 1
        || d > dim[(mo - 1) as usize]
        || h > 23
        || mi > 59
        || sec > 60
    {
        return None;
    }
    let mut rest = &t[19..];
    let mut ns = 0;
    if let Some(r) = rest.strip_prefix('.') {
        let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        ns = frac_ns(&r[..end])?;
        rest = &r[end..];
    }
    let offset_s: i64 = match rest {
        "Z" | "z" => 0,
        o if o.len() == 6 && (o.starts_with('+') || o.starts_with('-')) && &o[3..4] == ":" => {
            let oh = num(t.len() - 5..t.len() - 3)?;
            let om = num(t.len() - 2..t.len())?;
            let v = oh * 3600 + om * 60;
            if o.starts_with('-') {
                -v
            } else {
                v
            }
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset_s;
    let secs = u64::try_from(secs).ok()?;
    secs.checked_mul(1_000_000_000)?.checked_add(ns)
}

/// The packets asked for: a BPF expression (feature `live`) and a time
/// range `[from, to)`.
#[derive(Debug, Default)]
pub struct Selection {
    pub filter: Option<String>,
    pub from_ns: Option<u64>,
    pub to_ns: Option<u64>,
}

impl Selection {
    /// From `-f`, `--from`, `--to`; a bad time or range is a usage error.
    pub fn new(filter: Option<&str>, from: Option<&str>, to: Option<&str>) -> Result<Selection> {
        let from_ns = from.map(|s| parse_time("--from", s)).transpose()?;
        let to_ns = to.map(|s| parse_time("--to", s)).transpose()?;
        if let (Some(a), Some(b)) = (from_ns, to_ns) {
            if b <= a {
                return Err(crate::exit::usage(
                    "--to must be later than --from (the range is [from, to))",
                ));
            }
        }
        Ok(Selection {
            filter: filter.map(str::to_string),
            from_ns,
            to_ns,
        })
    }

    /// Whether anything is selected at all.
    pub fn is_some(&self) -> bool {
        self.filter.is_some() || self.from_ns.is_some() || self.to_ns.is_some()
    }

    /// The selector for a file source, the expression compiled for
    /// `linktype` first (a bad one fails here, before any work).
    pub fn selector(&self, linktype: Linktype) -> Result<(Selector, FilterFailures)> {
        let (from, to) = (self.from_ns.unwrap_or(0), self.to_ns.unwrap_or(u64::MAX));
        let failures = FilterFailures::default();
        let mut bpf = match &self.filter {
            None => None,
            Some(expr) => Some(compile(expr, linktype)?),
        };
        let fails = failures.clone();
        let select: Selector = Box::new(move |p| {
            if p.ts_ns < from || p.ts_ns >= to {
                return Selected::OutOfRange;
            }
            if let Some(f) = bpf.as_mut() {
                if !matches(f, p, &fails) {
                    return Selected::Filtered;
                }
            }
            Selected::Keep
        });
        Ok((select, failures))
    }
}

/// Link types the expression could not be compiled for, with libpcap's
/// message (their packets count as filtered).
#[derive(Debug, Default, Clone)]
pub struct FilterFailures(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl FilterFailures {
    /// The failures so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

#[cfg(feature = "live")]
type Bpf = capture::bpf::BpfFilter;
#[cfg(not(feature = "live"))]
type Bpf = std::convert::Infallible;

#[cfg(feature = "live")]
fn compile(expr: &str, linktype: Linktype) -> Result<Bpf> {
    capture::bpf::BpfFilter::new(expr, linktype).map_err(|e| crate::exit::usage(format!("-f: {e}")))
}

#[cfg(not(feature = "live"))]
fn compile(_expr: &str, _linktype: Linktype) -> Result<Bpf> {
    Err(crate::exit::usage(
        "-f needs libpcap to compile the expression: this netsketch was built without the `live` \
         feature; install libpcap-dev and build with --features live",
    ))
}

#[cfg(feature = "live")]
fn matches(f: &mut Bpf, p: &capture::RawPacket<'_>, fails: &FilterFailures) -> bool {
    let before = f.failures().count();
    let m = f.matches(p);
    // A link type compiled for the first time failed: say so once.
    if f.failures().count() > before {
        if let Some(e) = f.failures().last() {
            fails
                .0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(e.to_string());
        }
    }
    m
}

#[cfg(not(feature = "live"))]
fn matches(f: &mut Bpf, _p: &capture::RawPacket<'_>, _fails: &FilterFailures) -> bool {
    match *f {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339_or_unix_seconds() {
        let t0 = 1_704_067_200_000_000_000u64;
        assert_eq!(parse_time("--from", "2024-01-01T00:00:00Z").unwrap(), t0);
        assert_eq!(parse_time("--from", "1704067200").unwrap(), t0);
        assert_eq!(
            parse_time("--from", "1704067200.25").unwrap(),
            t0 + 250_000_000
        );
        assert_eq!(
            parse_time("--from", "2024-01-01T01:00:05.5+01:00").unwrap(),
            t0 + 5_500_000_000
        );
        assert_eq!(
            parse_time("--from", "2000-02-29 00:00:00Z").unwrap(),
            951_782_400_000_000_000
        );
        for bad in [
            "yesterday",
            "2024-02-30T00:00:00Z",
            "2024-01-01T00:00:00",
            "-5",
            "1.2.3",
        ] {
            let e = parse_time("--from", bad).unwrap_err().to_string();
            assert!(e.contains("RFC 3339"), "{bad}: {e}");
        }
    }
}
