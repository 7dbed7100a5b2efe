//! The overload mode (`EngineConfig::sample`): threshold sampling of a
//! flush's sums before the traffic rankings, and the bounds it then states.
//!
//! A key's sums in one flush (`packets`, `bytes`) go in whole when they
//! hold at least `threshold` packets; below it they go in with probability
//! `p = packets / threshold`, weighed up by `1 / p` (Duffield, Lund and
//! Thorup's threshold sampling, over the exact pre-aggregation's sums). Each
//! estimate stays unbiased, heavy keys (a threshold's packets per flush)
//! stay exact, and a spoofed-source flood, one packet per source, reaches
//! the rankings at one in `threshold`. The coin is the key's hash mixed with
//! the flush's number: a function of the input alone, whatever the workers.
//!
//! Sampled: the source, pair and port rankings and the run total's source
//! sums, where a flood's keys are many. Not sampled: destinations, attack
//! counters, Count-Min, distinct counts, handshakes and exact totals.

use sketches::hash::hash_u64;

/// A sampled estimate's bounds hold with probability `1 - DELTA` each.
pub const DELTA: f64 = 0.01;

/// Mixed into the coin so it is independent of the shard and map hashes.
const COIN_SEED: u64 = 0x5a3c_9e1d_7b24_f0a6;

/// One flush's sampler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampler {
    threshold: u64,
    seq: u64,
}

impl Sampler {
    /// Sampling below `threshold` packets (at least 2), for flush `seq`.
    pub fn new(threshold: u64, seq: u64) -> Sampler {
        Sampler {
            threshold: threshold.max(2),
            seq,
        }
    }

    /// Packets at and above which sums go in whole.
    pub fn threshold(&self) -> u64 {
        self.threshold
    }

    /// The `(bytes, packets)` a key's flushed sums enter the sampled
    /// rankings with, or `None` when the coin leaves them out. `hash` is
    /// the key's hash (the one its shard is chosen by).
    #[inline]
    pub fn weigh(&self, hash: u64, bytes: u64, packets: u64) -> Option<(u64, u64)> {
        if packets >= self.threshold {
            return Some((bytes, packets));
        }
        let coin = hash_u64(
            hash ^ self.seq.wrapping_mul(0x9e37_79b9_7f4a_7c15),
            COIN_SEED,
        );
        if coin % self.threshold >= packets {
            return None;
        }
        // Weighed by threshold / packets; bytes rounded to the nearest.
        let t = self.threshold as u128;
        let b = (bytes as u128 * t + packets as u128 / 2) / (packets.max(1) as u128);
        Some((b.min(u64::MAX as u128) as u64, self.threshold))
    }
}

/// The largest increment a sampled-in update made to a shard's rankings,
/// per metric (0: none was sampled): what their bounds widen by.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampledMax {
    /// Packets below which sums were sampled (0: the mode is off).
    pub threshold: u64,
    pub bytes: u64,
    pub packets: u64,
}

impl SampledMax {
    /// Notes one sampled-in update's weights (when it was weighed up).
    #[inline]
    pub fn note(&mut self, threshold: u64, (bytes, packets): (u64, u64)) {
        self.threshold = threshold;
        self.bytes = self.bytes.max(bytes);
        self.packets = self.packets.max(packets);
    }

    /// The larger of both, metric by metric.
    pub fn merge(&mut self, o: &SampledMax) {
        self.threshold = self.threshold.max(o.threshold);
        self.bytes = self.bytes.max(o.bytes);
        self.packets = self.packets.max(o.packets);
    }
}

/// The bounds `(lower, upper)` on a key's true weight, given the sampled
/// stream's deterministic bounds `lower <= estimate <= upper` and the
/// largest increment `m` of a sampled-in update (0: nothing was sampled, the
/// bounds stand). Each holds with probability at least `1 - DELTA`.
///
/// Each update adds `X_i` in `[0, m]` with mean `w_i` and variance at most
/// `m * w_i`, so over a key of true weight `n` the variance is at most
/// `m * n`, and Bernstein's inequality gives `|estimate - n| <= sqrt(2 m n
/// L) + 2 m L / 3` with `L = ln(2 / DELTA)`. Solved for `n` (a quadratic in
/// `sqrt(n)`) at `upper` and at `lower`.
pub fn widen(lower: u64, upper: u64, m: u64) -> (u64, u64) {
    if m == 0 {
        return (lower, upper);
    }
    let l = (2.0 / DELTA).ln();
    let a = (2.0 * m as f64 * l).sqrt();
    let b = 2.0 * m as f64 * l / 3.0;
    let hi = {
        let s = (a + (a * a + 4.0 * (upper as f64 + b)).sqrt()) / 2.0;
        (s * s).ceil()
    };
    let lo = if (lower as f64) > b {
        let s = (-a + (a * a + 4.0 * (lower as f64 - b)).sqrt()) / 2.0;
        (s * s).floor()
    } else {
        0.0
    };
    (
        (lo as u64).min(lower),
        if hi >= u64::MAX as f64 {
            u64::MAX
        } else {
            (hi as u64).max(upper)
        },
    )
}

/// The additive bound over a stream of weight `total`: every sampled
/// estimate is within `eps * total` of the truth with probability at least
/// `1 - DELTA` (the key-by-key bound of [`widen`] at `n = total`).
pub fn epsilon(total: u64, m: u64) -> f64 {
    if m == 0 || total == 0 {
        return 0.0;
    }
    let l = (2.0 / DELTA).ln();
    ((2.0 * m as f64 * total as f64 * l).sqrt() + 2.0 * m as f64 * l / 3.0) / total as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_sums_go_in_whole_and_light_ones_unbiased() {
        let s = Sampler::new(16, 7);
        assert_eq!(s.weigh(123, 9000, 16), Some((9000, 16)));
        // One-packet keys: about one in 16 goes in, weighed 16 times.
        let kept: Vec<(u64, u64)> = (0..160_000u64)
            .filter_map(|h| s.weigh(h.wrapping_mul(0x2545_f491_4f6c_dd1d), 60, 1))
            .collect();
        assert!(kept.iter().all(|&w| w == (960, 16)));
        let est = kept.len() as f64 * 16.0;
        assert!((est - 160_000.0).abs() < 160_000.0 * 0.03, "{est}");
        // The same key and flush always decide alike; another flush anew.
        let a: Vec<bool> = (0..64).map(|h| s.weigh(h, 60, 1).is_some()).collect();
        let b: Vec<bool> = (0..64).map(|h| s.weigh(h, 60, 1).is_some()).collect();
        let c: Vec<bool> = (0..64)
            .map(|h| Sampler::new(16, 8).weigh(h, 60, 1).is_some())
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn widened_bounds_cover_sampled_estimates_of_known_truths() {
        // Keys of known weight made of 1..15-packet updates, sampled at 16:
        // the widened bounds hold for at least 1 - DELTA of them.
        let (mut held, mut keys) = (0, 0);
        for key in 0..2_000u64 {
            let s = |seq| Sampler::new(16, seq);
            let (mut truth, mut est) = (0u64, 0u64);
            for seq in 0..200u64 {
                let p = (key.wrapping_mul(31) + seq) % 15 + 1;
                truth += p;
                if let Some((_, w)) = s(seq).weigh(hash_u64(key, 1), p * 100, p) {
                    est += w;
                }
            }
            let (lo, hi) = widen(est, est, 16);
            keys += 1;
            if lo <= truth && truth <= hi {
                held += 1;
            }
        }
        assert!(held as f64 >= keys as f64 * (1.0 - DELTA), "{held}/{keys}");
        assert_eq!(widen(5, 9, 0), (5, 9));
        let (lo, hi) = widen(100_000, 100_000, 16);
        assert!(
            lo < 100_000 && hi > 100_000 && hi - lo < 10_000,
            "{lo} {hi}"
        );
        assert!(epsilon(1_000_000, 16) < 0.02);
    }
}
