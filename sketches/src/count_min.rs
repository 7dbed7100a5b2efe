use crate::codec::{Decoder, Encoder, Kind};
use crate::{Estimate, SketchError};

/// Deepest sketch supported: `delta = e^-16 ≈ 1e-7` is already far below
/// anything an operator needs.
const MAX_DEPTH: usize = 16;

/// Count-Min sketch over 64-bit key hashes, with `u64` counters.
///
/// Guarantee: for every key, `estimate >= truth`, and with probability at
/// least `1 - delta`, `estimate <= truth + eps * N`, where `N` is the total
/// weight added, `eps = e / width` and `delta = e^-depth`. The width is
/// rounded up to a power of two, which only tightens `eps`.
///
/// Conservative update (on by default) raises each row only as far as the
/// new minimum needs: estimates are never higher than with plain update, and
/// the bounds above still hold. Merging adds counters; for plain update the
/// merge equals the sketch of the concatenated streams bit for bit, for
/// conservative update it keeps the bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountMin {
    width: usize,
    depth: usize,
    seed: u64,
    conservative: bool,
    total: u64,
    counters: Vec<u64>,
}

impl CountMin {
    /// Sized from the error `eps` (relative to total weight) and failure
    /// probability `delta`: width `ceil(e / eps)` (rounded up to a power of
    /// two), depth `ceil(ln(1 / delta))`.
    pub fn with_error(eps: f64, delta: f64, seed: u64) -> Result<CountMin, SketchError> {
        let in_range = |x: f64| x > 0.0 && x < 1.0;
        if !in_range(eps) || !in_range(delta) {
            return Err(SketchError::InvalidParameter(format!(
                "eps and delta must be in (0, 1), got eps={eps} delta={delta}"
            )));
        }
        let width = (std::f64::consts::E / eps).ceil() as usize;
        let depth = (1.0 / delta).ln().ceil().max(1.0) as usize;
        Self::with_shape(width, depth, seed)
    }

    /// Sized by `width` (rounded up to a power of two) and `depth` rows.
    pub fn with_shape(width: usize, depth: usize, seed: u64) -> Result<CountMin, SketchError> {
        if width == 0 || width > 1 << 30 || depth == 0 || depth > MAX_DEPTH {
            return Err(SketchError::InvalidParameter(format!(
                "width must be in 1..=2^30 and depth in 1..={MAX_DEPTH}, got {width} x {depth}"
            )));
        }
        let width = width.next_power_of_two();
        Ok(CountMin {
            width,
            depth,
            seed,
            conservative: true,
            total: 0,
            counters: vec![0; width * depth],
        })
    }

    /// The largest sketch of the given depth that fits `bytes` of counters.
    pub fn with_budget(bytes: usize, depth: usize, seed: u64) -> Result<CountMin, SketchError> {
        let per_row = bytes / 8 / depth.max(1);
        if per_row == 0 {
            return Err(SketchError::InvalidParameter(format!(
                "{bytes} bytes cannot hold {depth} rows"
            )));
        }
        // Round down to a power of two so the footprint stays in budget.
        let width = 1usize << (usize::BITS - 1 - per_row.leading_zeros());
        Self::with_shape(width, depth, seed)
    }

    /// Switches to plain (non-conservative) update.
    pub fn plain(mut self) -> CountMin {
        self.conservative = false;
        self
    }

    /// Counters per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Rows.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// The hashing seed the keys must be hashed with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// `eps`: the over-estimate bound as a share of the total weight.
    pub fn eps(&self) -> f64 {
        std::f64::consts::E / self.width as f64
    }

    /// `delta`: the probability that an estimate exceeds its bound.
    pub fn delta(&self) -> f64 {
        (-(self.depth as f64)).exp()
    }

    /// Total weight added.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Memory held by the counters, fixed at construction.
    pub fn size_bytes(&self) -> usize {
        self.counters.len() * 8
    }

    #[inline(always)]
    fn index(&self, hash: u64, row: usize) -> usize {
        // Double hashing (Kirsch-Mitzenmacher): row i uses h1 + i * h2.
        let h1 = hash as u32 as usize;
        let h2 = ((hash >> 32) as usize) | 1;
        row * self.width + (h1.wrapping_add(row.wrapping_mul(h2)) & (self.width - 1))
    }

    /// Adds `weight` to the key whose hash is `hash`.
    #[inline]
    pub fn update(&mut self, hash: u64, weight: u64) {
        self.total = self.total.saturating_add(weight);
        if self.conservative {
            let mut idx = [0usize; MAX_DEPTH];
            let mut min = u64::MAX;
            for (r, slot) in idx.iter_mut().enumerate().take(self.depth) {
                *slot = self.index(hash, r);
                min = min.min(self.counters[*slot]);
            }
            let target = min.saturating_add(weight);
            for &i in &idx[..self.depth] {
                let c = &mut self.counters[i];
                if *c < target {
                    *c = target;
                }
            }
        } else {
            for r in 0..self.depth {
                let i = self.index(hash, r);
                self.counters[i] = self.counters[i].saturating_add(weight);
            }
        }
    }

    /// The raw estimate (minimum over rows).
    #[inline]
    pub fn query(&self, hash: u64) -> u64 {
        (0..self.depth)
            .map(|r| self.counters[self.index(hash, r)])
            .min()
            .unwrap_or(0)
    }

    /// The estimate with its bounds: `upper` is the estimate (never below
    /// the truth), `lower` is `estimate - eps * N` (floored at 0), with
    /// confidence `1 - delta`.
    pub fn estimate(&self, hash: u64) -> Estimate {
        let v = self.query(hash) as f64;
        Estimate {
            value: v,
            lower: (v - (self.eps() * self.total as f64).ceil()).max(0.0),
            upper: v,
            confidence: 1.0 - self.delta(),
        }
    }

    /// Adds `other`'s counters into `self`.
    pub fn merge(&mut self, other: &CountMin) -> Result<(), SketchError> {
        if (self.width, self.depth, self.seed) != (other.width, other.depth, other.seed) {
            return Err(SketchError::Incompatible(format!(
                "count-min {}x{} seed {:#x} vs {}x{} seed {:#x}",
                self.width, self.depth, self.seed, other.width, other.depth, other.seed
            )));
        }
        for (a, b) in self.counters.iter_mut().zip(&other.counters) {
            *a = a.saturating_add(*b);
        }
        self.total = self.total.saturating_add(other.total);
        Ok(())
    }

    /// Zeroes every counter, keeping the shape.
    pub fn clear(&mut self) {
        if self.total == 0 {
            // Nothing was added: every counter is still zero, and not
            // touching them keeps never-written pages unmapped.
            return;
        }
        self.counters.iter_mut().for_each(|c| *c = 0);
        self.total = 0;
    }

    /// The snapshot bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(Kind::CountMin);
        e.u32(self.width as u32)
            .u8(self.depth as u8)
            .u8(u8::from(self.conservative))
            .u64(self.seed)
            .u64(self.total);
        let raw = e.raw();
        raw.reserve(self.counters.len() * 8);
        for c in &self.counters {
            raw.extend_from_slice(&c.to_le_bytes());
        }
        e.finish()
    }

    /// Decodes a snapshot.
    pub fn from_bytes(bytes: &[u8]) -> Result<CountMin, SketchError> {
        let mut d = Decoder::new(bytes, Kind::CountMin)?;
        let width = d.u32()? as usize;
        let depth = d.u8()? as usize;
        let conservative = d.u8()? != 0;
        let seed = d.u64()?;
        let total = d.u64()?;
        if !width.is_power_of_two() || depth == 0 || depth > MAX_DEPTH {
            return Err(SketchError::Decode(format!(
                "bad count-min shape {width} x {depth}"
            )));
        }
        if d.remaining() != width * depth * 8 {
            return Err(SketchError::Decode(
                "count-min counters do not match its shape".into(),
            ));
        }
        let mut cm = CountMin::with_shape(width, depth, seed)
            .map_err(|e| SketchError::Decode(e.to_string()))?;
        cm.conservative = conservative;
        cm.total = total;
        for c in cm.counters.iter_mut() {
            *c = d.u64()?;
        }
        d.finish()?;
        Ok(cm)
    }
}
