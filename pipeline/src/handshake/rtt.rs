//! Round-trip samples of one service: a few kept as they are, an
//! HdrHistogram (2 significant digits, 1 µs to 60 s) beyond.

use hdrhistogram::Histogram;

/// Round-trip times are recorded in microseconds from 1 µs...
pub const RTT_LOW_US: u64 = 1;
/// ...to 60 s (larger values are clamped)...
pub const RTT_HIGH_US: u64 = 60_000_000;
/// ...with 2 significant digits.
pub const RTT_SIGFIG: u8 = 2;

/// A round-trip time histogram, in microseconds.
pub type RttHistogram = Histogram<u32>;

fn new_histogram() -> RttHistogram {
    Histogram::new_with_bounds(RTT_LOW_US, RTT_HIGH_US, RTT_SIGFIG).expect("valid bounds")
}

/// Bytes one round-trip histogram takes.
pub fn histogram_bytes() -> usize {
    new_histogram().distinct_values() * std::mem::size_of::<u32>() + 64
}

/// Round-trip samples of one service: the first few kept as they are (a
/// busy link sees thousands of services with a handshake or two each, and
/// a histogram costs 10 KiB), an HdrHistogram beyond.
#[derive(Debug, Clone)]
pub enum Rtt {
    /// Up to [`Rtt::SPARSE`] samples, in µs.
    Sparse(u8, [u32; Rtt::SPARSE]),
    /// Every sample, in µs.
    Dense(Box<RttHistogram>),
}

impl Default for Rtt {
    fn default() -> Rtt {
        Rtt::Sparse(0, [0; Rtt::SPARSE])
    }
}

impl Rtt {
    /// Samples held before switching to a histogram.
    pub const SPARSE: usize = 8;

    /// Records one round trip of `ns`.
    #[inline]
    pub fn record_ns(&mut self, ns: u64) {
        self.record_us((ns / 1000).clamp(RTT_LOW_US, RTT_HIGH_US));
    }

    fn record_us(&mut self, us: u64) {
        match self {
            Rtt::Sparse(n, v) if (*n as usize) < Rtt::SPARSE => {
                v[*n as usize] = us as u32;
                *n += 1;
            }
            Rtt::Sparse(..) => {
                let mut h = self.to_histogram();
                h.saturating_record(us);
                *self = Rtt::Dense(Box::new(h));
            }
            Rtt::Dense(h) => h.saturating_record(us),
        }
    }

    /// Adds every sample of `o`.
    pub fn merge(&mut self, o: &Rtt) {
        match o {
            Rtt::Sparse(n, v) => {
                for &us in &v[..*n as usize] {
                    self.record_us(us as u64);
                }
            }
            Rtt::Dense(oh) => match self {
                // Same bounds by construction; counts saturate.
                Rtt::Dense(h) => {
                    let _ = h.add(&**oh);
                }
                Rtt::Sparse(..) => {
                    let mine = std::mem::replace(self, Rtt::Dense(oh.clone()));
                    self.merge(&mine);
                }
            },
        }
    }

    /// Samples held.
    pub fn len(&self) -> u64 {
        match self {
            Rtt::Sparse(n, _) => *n as u64,
            Rtt::Dense(h) => h.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The samples as a histogram (a copy).
    pub fn to_histogram(&self) -> RttHistogram {
        match self {
            Rtt::Sparse(n, v) => {
                let mut h = new_histogram();
                for &us in &v[..*n as usize] {
                    h.saturating_record(us as u64);
                }
                h
            }
            Rtt::Dense(h) => (**h).clone(),
        }
    }

    /// The `q` quantile's HdrHistogram bucket `(lowest, highest)`, in ns:
    /// the true sample lies inside it. `None` without samples.
    pub fn quantile_ns(&self, q: f64) -> Option<(u64, u64)> {
        if self.is_empty() {
            return None;
        }
        let with = |h: &RttHistogram| {
            let v = h.value_at_quantile(q);
            (
                h.lowest_equivalent(v) * 1000,
                h.highest_equivalent(v) * 1000,
            )
        };
        Some(match self {
            Rtt::Dense(h) => with(h),
            Rtt::Sparse(..) => with(&self.to_histogram()),
        })
    }

    /// Count, median, 90th and 99th percentiles and maximum, in ns, each
    /// the top of its HdrHistogram bucket (at most 1/128 above the true
    /// sample). `None` without samples.
    pub fn quantiles(&self) -> Option<RttQuantiles> {
        if self.is_empty() {
            return None;
        }
        let h = match self {
            Rtt::Dense(h) => std::borrow::Cow::Borrowed(&**h),
            Rtt::Sparse(..) => std::borrow::Cow::Owned(self.to_histogram()),
        };
        let q = |x: f64| h.value_at_quantile(x) * 1000;
        Some(RttQuantiles {
            count: h.len(),
            p50: q(0.5),
            p90: q(0.9),
            p99: q(0.99),
            max: h.highest_equivalent(h.max()) * 1000,
        })
    }
}

/// What reports say of a service's round trips, in ns: see
/// [`Rtt::quantiles`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RttQuantiles {
    /// Samples.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest sample.
    pub max: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparse_samples_turn_dense_with_the_same_quantiles() {
        let samples: Vec<u64> = (1..=50).map(|i| i * 7_919_000).collect();
        let mut exact = new_histogram();
        let mut r = Rtt::default();
        let mut merged = Rtt::default();
        for (i, &ns) in samples.iter().enumerate() {
            r.record_ns(ns);
            exact.saturating_record(ns / 1000);
            let mut one = Rtt::default();
            one.record_ns(ns);
            merged.merge(&one);
            assert_eq!(matches!(r, Rtt::Sparse(..)), i < Rtt::SPARSE);
            for q in [0.5, 0.9, 0.99, 1.0] {
                let want = exact.value_at_quantile(q) * 1000;
                assert_eq!(r.quantile_ns(q).unwrap().1, want);
                assert_eq!(merged.quantile_ns(q).unwrap().1, want);
            }
        }
        assert_eq!(r.len(), 50);
    }
}
