//! HyperLogLog distinct counts: sparse coupons, then registers (Ertl's estimator).

use crate::codec::{Decoder, Encoder, Kind};
use crate::{Estimate, SketchError};

mod ertl;
use ertl::ertl;

/// Slot bits of a coupon: small sets are counted as if the sketch had 2^26
/// registers, which is near exact.
const SLOT_BITS: u32 = 26;
const SLOT_MASK: u32 = (1 << SLOT_BITS) - 1;
/// Rounds of bound: estimates carry `value ± Z * rse`, about 95% coverage.
const Z: f64 = 2.0;
/// Largest register value a coupon can carry (six bits).
pub(crate) const MAX_VALUE: u8 = 63;

/// How a sketch's keys were hashed into coupons. Sketches merge only with
/// sketches hashed the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hashing {
    /// netsketch's own seeded 64-bit hash ([`crate::hash`]): one multiply
    /// pair per key, shared with the other sketches. Register values use
    /// the 38 hash bits below the slot, so they saturate at 39.
    Netsketch {
        /// The hash seed.
        seed: u64,
    },
    /// Apache DataSketches' hashing: MurmurHash3 x64/128 with seed 9001
    /// over the key's bytes (for addresses, their text form). Sketches
    /// hashed this way export to, import from and merge with DataSketches
    /// HLL sketches ([`crate::datasketches`]).
    DataSketches,
}

/// One hashed key as HyperLogLog stores it, in DataSketches' layout: the
/// register value (leading zeros + 1, 1..=63) in the top six bits and a
/// 26-bit slot below. A sketch of precision `p` keeps, per register
/// `slot mod 2^p`, the largest value seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Coupon(u32);

impl Coupon {
    /// The coupon of a key hashed with netsketch's hash
    /// ([`Hashing::Netsketch`]): slot from the top 26 bits, value from the
    /// 38 below.
    #[inline(always)]
    pub fn from_hash(hash: u64) -> Coupon {
        let slot = (hash >> (64 - SLOT_BITS)) as u32;
        let w = hash << SLOT_BITS;
        let value = if w == 0 {
            64 - SLOT_BITS + 1
        } else {
            w.leading_zeros() + 1
        };
        Coupon(value << SLOT_BITS | slot)
    }

    /// The coupon DataSketches gives a key whose bytes are `key`
    /// ([`Hashing::DataSketches`]): MurmurHash3 x64/128, seed 9001, slot
    /// from the low 26 bits of the first half, value from the leading zeros
    /// of the second, capped at 62, plus one.
    #[inline]
    pub fn datasketches(key: &[u8]) -> Coupon {
        let (lo, hi) = mur3::murmurhash3_x64_128(key, crate::datasketches::UPDATE_SEED);
        let value = hi.leading_zeros().min(62) + 1;
        Coupon(value << SLOT_BITS | (lo as u32 & SLOT_MASK))
    }

    /// A coupon from its 32-bit form, if valid (value 1..=63).
    pub fn from_raw(raw: u32) -> Option<Coupon> {
        (raw >> SLOT_BITS != 0).then_some(Coupon(raw))
    }

    /// The 32-bit form.
    pub fn raw(self) -> u32 {
        self.0
    }

    #[inline(always)]
    fn slot(self) -> u32 {
        self.0 & SLOT_MASK
    }

    #[inline(always)]
    fn value(self) -> u8 {
        (self.0 >> SLOT_BITS) as u8
    }
}

/// HyperLogLog distinct counter, precision `p` in 4..=18.
///
/// Keys arrive as [`Coupon`]s (a 26-bit slot and a register value), from
/// netsketch's hash ([`HyperLogLog::update`]) or DataSketches' hashing
/// ([`HyperLogLog::update_coupon`] with [`Coupon::datasketches`]). Small
/// sets live in a sparse set of coupons (one `u32` each), estimated by
/// linear counting over 2^26 virtual registers: near exact (relative
/// standard error under 1e-4 up to thousands of keys). When the coupons
/// would outgrow the dense form, they fold into `2^p` one-byte registers
/// (register `slot mod 2^p` keeps the largest value), exactly as if every
/// key had been added dense, so sparse and dense sketches merge with each
/// other and a merge equals the sketch of the concatenated streams. Dense
/// estimates use Ertl's improved estimator (2017), which needs no bias
/// tables and has no bump between the small- and large-range regimes;
/// relative standard error `1.04/sqrt(2^p)`.
///
/// The coupon layout is DataSketches', so a sketch hashed with
/// [`Hashing::DataSketches`] converts to and from DataSketches HLL bytes
/// register for register.
///
/// Memory: 8 coupons at first (32 bytes), at most `2^p` bytes.
#[derive(Debug, Clone)]
pub struct HyperLogLog {
    p: u8,
    hashing: Hashing,
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// Open-addressed set of coupons keyed by their slot; 0 is an empty
    /// entry (a coupon's value is at least 1).
    Sparse {
        slots: Vec<u32>,
        len: usize,
    },
    Dense(Box<[u8]>),
}

impl HyperLogLog {
    /// A new sketch of precision `p` (4..=18) whose keys are hashed with
    /// netsketch's hash and `seed`.
    pub fn new(p: u8, seed: u64) -> Result<HyperLogLog, SketchError> {
        HyperLogLog::with_hashing(p, Hashing::Netsketch { seed })
    }

    /// A new sketch of precision `p` (4..=18) whose keys are hashed as
    /// DataSketches hashes them ([`Coupon::datasketches`]).
    pub fn new_datasketches(p: u8) -> Result<HyperLogLog, SketchError> {
        HyperLogLog::with_hashing(p, Hashing::DataSketches)
    }

    /// A new sketch of precision `p` (4..=18) for keys hashed by `hashing`.
    pub fn with_hashing(p: u8, hashing: Hashing) -> Result<HyperLogLog, SketchError> {
        if !(4..=18).contains(&p) {
            return Err(SketchError::InvalidParameter(format!(
                "HLL precision must be 4..=18, got {p}"
            )));
        }
        Ok(HyperLogLog {
            p,
            hashing,
            repr: Repr::Sparse {
                slots: vec![0; 8],
                len: 0,
            },
        })
    }

    /// Precision.
    pub fn precision(&self) -> u8 {
        self.p
    }

    /// How keys are hashed.
    pub fn hashing(&self) -> Hashing {
        self.hashing
    }

    /// Whether the sketch is still sparse.
    pub fn is_sparse(&self) -> bool {
        matches!(self.repr, Repr::Sparse { .. })
    }

    /// Bytes currently held (grows from 32 to `2^p`).
    pub fn size_bytes(&self) -> usize {
        match &self.repr {
            Repr::Sparse { slots, .. } => slots.len() * 4,
            Repr::Dense(r) => r.len(),
        }
    }

    /// The most this sketch will ever hold.
    pub fn max_size_bytes(&self) -> usize {
        1 << self.p
    }

    /// Relative standard error of the dense estimator.
    pub fn dense_rse(&self) -> f64 {
        1.04 / ((1u64 << self.p) as f64).sqrt()
    }

    /// Adds a key by its netsketch hash (for [`Hashing::Netsketch`]
    /// sketches).
    #[inline]
    pub fn update(&mut self, hash: u64) {
        debug_assert!(matches!(self.hashing, Hashing::Netsketch { .. }));
        self.update_coupon(Coupon::from_hash(hash));
    }

    /// Adds a key by its coupon; the coupon must come from this sketch's
    /// [`Hashing`].
    #[inline]
    pub fn update_coupon(&mut self, c: Coupon) {
        match &mut self.repr {
            Repr::Dense(regs) => {
                let r = &mut regs[(c.slot() & ((1 << self.p) - 1)) as usize];
                if *r < c.value() {
                    *r = c.value();
                }
            }
            Repr::Sparse { .. } => self.insert_coupon(c.0),
        }
    }

    fn insert_coupon(&mut self, c: u32) {
        let Repr::Sparse { slots, len } = &mut self.repr else {
            self.update_coupon(Coupon(c));
            return;
        };
        let mask = slots.len() - 1;
        let key = c & SLOT_MASK;
        // Slots are uniform hash bits already.
        let mut i = key as usize & mask;
        loop {
            let s = slots[i];
            if s == 0 {
                slots[i] = c;
                *len += 1;
                break;
            }
            if s & SLOT_MASK == key {
                if c > s {
                    slots[i] = c;
                }
                return;
            }
            i = (i + 1) & mask;
        }
        // Coupons take 4 bytes, registers 1: go dense when the coupons
        // would outweigh the registers.
        if *len * 4 > 1 << self.p {
            self.densify();
        } else if *len * 4 > slots.len() * 3 {
            let old = std::mem::replace(slots, vec![0; slots.len() * 2]);
            *len = 0;
            for c in old.into_iter().filter(|&c| c != 0) {
                self.insert_coupon(c);
            }
        }
    }

    fn densify(&mut self) {
        let old = std::mem::replace(
            &mut self.repr,
            Repr::Dense(vec![0u8; 1 << self.p].into_boxed_slice()),
        );
        if let Repr::Sparse { slots, .. } = old {
            for c in slots.into_iter().filter(|&c| c != 0) {
                self.update_coupon(Coupon(c));
            }
        }
    }

    /// The highest register value this sketch's hashing can produce: the
    /// saturated value `q + 1` of Ertl's estimator.
    fn max_value(&self) -> u8 {
        match self.hashing {
            Hashing::Netsketch { .. } => (64 - SLOT_BITS + 1) as u8,
            Hashing::DataSketches => MAX_VALUE,
        }
    }

    /// The distinct-count estimate with about-95% bounds (`± 2` standard
    /// errors).
    pub fn estimate(&self) -> Estimate {
        let (v, rse) = match &self.repr {
            Repr::Sparse { len, .. } => {
                let m = (1u64 << SLOT_BITS) as f64;
                let n = *len as f64;
                if n == 0.0 {
                    return Estimate::exact(0.0);
                }
                let v = m * (m / (m - n)).ln();
                let t = v / m;
                (v, (m * (t.exp() - t - 1.0)).sqrt() / v)
            }
            Repr::Dense(regs) => (ertl(regs, self.max_value() as u32 - 1), self.dense_rse()),
        };
        Estimate {
            value: v,
            lower: (v * (1.0 - Z * rse)).max(0.0),
            upper: v * (1.0 + Z * rse),
            confidence: 0.9545,
        }
    }

    /// Register-wise max of `other` into `self`; sparse and dense mix.
    pub fn merge(&mut self, other: &HyperLogLog) -> Result<(), SketchError> {
        if (self.p, self.hashing) != (other.p, other.hashing) {
            return Err(SketchError::Incompatible(format!(
                "HLL p={} {:?} vs p={} {:?}",
                self.p, self.hashing, other.p, other.hashing
            )));
        }
        match &other.repr {
            Repr::Sparse { slots, .. } => {
                for &c in slots.iter().filter(|&&c| c != 0) {
                    self.insert_coupon(c);
                }
            }
            Repr::Dense(o) => self.merge_registers(o),
        }
        Ok(())
    }

    /// Register-wise max of `regs` (`2^p` of them) into `self`.
    pub(crate) fn merge_registers(&mut self, o: &[u8]) {
        if self.is_sparse() {
            self.densify();
        }
        if let Repr::Dense(regs) = &mut self.repr {
            for (a, b) in regs.iter_mut().zip(o.iter()) {
                *a = (*a).max(*b);
            }
        }
    }

    /// Empties the sketch (back to sparse), keeping the coupon table of a
    /// sparse one for reuse.
    pub fn clear(&mut self) {
        match &mut self.repr {
            Repr::Sparse { slots, len } => {
                // A table grown by one busy stretch and reused for quiet
                // ones shrinks to twice what it held this time, so that
                // clearing and merging it cost its coupons, not its peak.
                let fit = (2 * *len).next_power_of_two().max(8);
                if slots.len() > 4 * fit {
                    *slots = vec![0; fit];
                } else {
                    slots.fill(0);
                }
                *len = 0;
            }
            Repr::Dense(_) => {
                self.repr = Repr::Sparse {
                    slots: vec![0; 8],
                    len: 0,
                };
            }
        }
    }

    /// The coupons, sorted, while sparse.
    pub(crate) fn sorted_coupons(&self) -> Option<Vec<u32>> {
        match &self.repr {
            Repr::Sparse { slots, .. } => {
                let mut v: Vec<u32> = slots.iter().copied().filter(|&c| c != 0).collect();
                v.sort_unstable();
                Some(v)
            }
            Repr::Dense(_) => None,
        }
    }

    /// The `2^p` registers (folding the coupons while sparse).
    pub(crate) fn registers(&self) -> Vec<u8> {
        match &self.repr {
            Repr::Dense(regs) => regs.to_vec(),
            Repr::Sparse { .. } => {
                let mut h = self.clone();
                h.densify();
                h.registers()
            }
        }
    }

    /// The snapshot bytes (canonical: equal sketches give equal bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut e = Encoder::new(Kind::HyperLogLog);
        e.u8(self.p);
        match self.hashing {
            Hashing::Netsketch { seed } => e.u8(0).u64(seed),
            Hashing::DataSketches => e.u8(1).u64(0),
        };
        match (&self.repr, self.sorted_coupons()) {
            (_, Some(coupons)) => {
                e.u8(0).u32(coupons.len() as u32);
                for c in coupons {
                    e.u32(c);
                }
            }
            (Repr::Dense(regs), None) => {
                e.u8(1).bytes(regs);
            }
            (Repr::Sparse { .. }, None) => unreachable!("sparse sketches have coupons"),
        }
        e.finish()
    }

    /// Decodes a snapshot.
    pub fn from_bytes(bytes: &[u8]) -> Result<HyperLogLog, SketchError> {
        let mut d = Decoder::new(bytes, Kind::HyperLogLog)?;
        let p = d.u8()?;
        let hashing = match (d.u8()?, d.u64()?) {
            (0, seed) => Hashing::Netsketch { seed },
            (1, 0) => Hashing::DataSketches,
            (h, s) => {
                return Err(SketchError::Decode(format!(
                    "unknown HLL hashing {h} (seed {s:#x})"
                )))
            }
        };
        let mut h = HyperLogLog::with_hashing(p, hashing)
            .map_err(|e| SketchError::Decode(e.to_string()))?;
        let max = h.max_value();
        match d.u8()? {
            0 => {
                let n = d.u32()? as usize;
                if n * 4 != d.remaining() || n * 4 > 1 << p {
                    return Err(SketchError::Decode(
                        "HLL coupon count does not match".into(),
                    ));
                }
                for _ in 0..n {
                    let c = d.u32()?;
                    match Coupon::from_raw(c) {
                        Some(c) if c.value() <= max => h.insert_coupon(c.0),
                        _ => return Err(SketchError::Decode(format!("bad HLL coupon {c:#x}"))),
                    }
                }
            }
            1 => {
                let regs = d.take(1 << p)?;
                if regs.iter().any(|&r| r > max) {
                    return Err(SketchError::Decode("HLL register out of range".into()));
                }
                h.repr = Repr::Dense(regs.to_vec().into_boxed_slice());
            }
            m => return Err(SketchError::Decode(format!("unknown HLL mode {m}"))),
        }
        d.finish()?;
        Ok(h)
    }
}

impl PartialEq for HyperLogLog {
    fn eq(&self, other: &Self) -> bool {
        self.p == other.p
            && self.hashing == other.hashing
            && match (&self.repr, &other.repr) {
                (Repr::Dense(a), Repr::Dense(b)) => a == b,
                (Repr::Sparse { .. }, Repr::Sparse { .. }) => {
                    self.sorted_coupons() == other.sorted_coupons()
                }
                _ => false,
            }
    }
}
