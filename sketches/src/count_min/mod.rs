//! Count-Min: point estimates that never undercount, sparse while small.

use crate::codec::{Decoder, Encoder, Kind};
use crate::{Estimate, SketchError};

mod sparse;

use sparse::SparseCells;

/// A sketch holds its non-zero counters in a map until they fill this
/// share of the table (1/16), then switches to the full array for good.
const SPARSE_SHARE: usize = 16;

/// The counter table: a map of the non-zero cells while few are set, the
/// full array once many are. Both hold the same values cell for cell, so
/// which one a sketch uses never changes an answer; the map makes a sketch
/// of a quiet epoch cost what its traffic costs, not the table's size, to
/// create, merge, clone and free.
#[derive(Debug, Clone)]
enum Cells {
    Sparse(SparseCells),
    Dense(Vec<u64>),
}

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
#[derive(Debug)]
pub struct CountMin {
    width: usize,
    depth: usize,
    seed: u64,
    conservative: bool,
    total: u64,
    cells: Cells,
    /// The array of an earlier life ([`CountMin::reset`]), kept so that
    /// going dense again reuses its pages instead of faulting in new ones.
    /// Not part of the sketch's value: never compared, cloned or encoded.
    spare: Vec<u64>,
    /// The map of an earlier life, kept (uncleared) while the array is in
    /// use, so that going back to the map reuses its storage too.
    spare_cells: SparseCells,
}

impl Clone for CountMin {
    fn clone(&self) -> CountMin {
        CountMin {
            width: self.width,
            depth: self.depth,
            seed: self.seed,
            conservative: self.conservative,
            total: self.total,
            cells: self.cells.clone(),
            spare: Vec::new(),
            spare_cells: SparseCells::default(),
        }
    }
}

/// Equal shapes and equal counters, however each side holds them.
impl PartialEq for CountMin {
    fn eq(&self, o: &CountMin) -> bool {
        (
            self.width,
            self.depth,
            self.seed,
            self.conservative,
            self.total,
        ) == (o.width, o.depth, o.seed, o.conservative, o.total)
            && (0..self.width * self.depth).all(|i| self.cell(i) == o.cell(i))
    }
}

impl Eq for CountMin {}

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
            cells: Cells::Sparse(SparseCells::default()),
            spare: Vec::new(),
            spare_cells: SparseCells::default(),
        })
    }

    /// Cells past which the map gives way to the array.
    fn sparse_limit(&self) -> usize {
        self.width * self.depth / SPARSE_SHARE
    }

    #[inline(always)]
    fn cell(&self, i: usize) -> u64 {
        match &self.cells {
            Cells::Dense(v) => v[i],
            Cells::Sparse(m) => m.get(i),
        }
    }

    /// The full array, made from the map on first need.
    fn dense(&mut self) -> &mut Vec<u64> {
        if matches!(self.cells, Cells::Sparse(_)) {
            let mut v = self.zeroed_array();
            let Cells::Sparse(m) = &self.cells else {
                unreachable!("checked sparse")
            };
            for (i, c) in m.iter() {
                v[i] = c;
            }
            self.go_dense(v);
        }
        match &mut self.cells {
            Cells::Dense(v) => v,
            Cells::Sparse(_) => unreachable!("just made dense"),
        }
    }

    /// Holds the counters as the array `v` from now on, keeping the map
    /// it held them in (uncleared) for the next reset.
    fn go_dense(&mut self, v: Vec<u64>) {
        if let Cells::Sparse(m) = std::mem::replace(&mut self.cells, Cells::Dense(v)) {
            self.spare_cells = m;
        }
    }

    /// A zeroed full array: the spare one if there is one.
    fn zeroed_array(&mut self) -> Vec<u64> {
        let n = self.width * self.depth;
        let mut v = std::mem::take(&mut self.spare);
        if v.len() == n {
            v.fill(0);
            v
        } else {
            vec![0; n]
        }
    }

    /// Switches to the array if the map has grown past its share.
    fn settle(&mut self) {
        if matches!(&self.cells, Cells::Sparse(m) if m.len() > self.sparse_limit()) {
            self.dense();
        }
    }

    /// Whether the counters are still held as a map of the non-zero cells.
    pub fn is_sparse(&self) -> bool {
        matches!(self.cells, Cells::Sparse(_))
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

    /// Memory the counters may take: the full array's (a sparse sketch
    /// holds fewer).
    pub fn size_bytes(&self) -> usize {
        self.width * self.depth * 8
    }

    #[inline(always)]
    fn index(&self, hash: u64, row: usize) -> usize {
        index_in(self.width, hash, row)
    }

    /// Adds `weight` to the key whose hash is `hash`.
    #[inline]
    pub fn update(&mut self, hash: u64, weight: u64) {
        self.total = self.total.saturating_add(weight);
        let (width, depth, conservative) = (self.width, self.depth, self.conservative);
        let mut idx = [0usize; MAX_DEPTH];
        match &mut self.cells {
            // The hot path of a busy sketch: row indexes and the minimum in
            // one pass, as tight as before the map existed (callgrind: the
            // generic form below cost twice the instructions here).
            Cells::Dense(v) if conservative => {
                let mut min = u64::MAX;
                for (r, slot) in idx.iter_mut().enumerate().take(depth) {
                    *slot = index_in(width, hash, r);
                    min = min.min(v[*slot]);
                }
                let target = min.saturating_add(weight);
                for &i in &idx[..depth] {
                    let c = &mut v[i];
                    if *c < target {
                        *c = target;
                    }
                }
            }
            Cells::Dense(v) => {
                for r in 0..depth {
                    let i = index_in(width, hash, r);
                    v[i] = v[i].saturating_add(weight);
                }
            }
            Cells::Sparse(m) => {
                for (r, slot) in idx.iter_mut().enumerate().take(depth) {
                    *slot = index_in(width, hash, r);
                }
                raise(m, &idx[..depth], weight, conservative);
                self.settle();
            }
        }
    }

    /// The raw estimate (minimum over rows).
    #[inline]
    pub fn query(&self, hash: u64) -> u64 {
        (0..self.depth)
            .map(|r| self.cell(self.index(hash, r)))
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
        match (&mut self.cells, &other.cells) {
            (Cells::Dense(a), Cells::Dense(b)) => {
                for (a, b) in a.iter_mut().zip(b) {
                    *a = a.saturating_add(*b);
                }
            }
            (Cells::Dense(a), Cells::Sparse(b)) => {
                for (i, c) in b.iter() {
                    a[i] = a[i].saturating_add(c);
                }
            }
            (Cells::Sparse(a), Cells::Sparse(b)) => {
                for (i, c) in b.iter() {
                    let x = a.entry(i);
                    *x = x.saturating_add(c);
                }
                self.settle();
            }
            (Cells::Sparse(_), Cells::Dense(b)) => {
                let mut v = std::mem::take(&mut self.spare);
                v.clear();
                v.extend_from_slice(b);
                if let Cells::Sparse(a) = &self.cells {
                    for (i, c) in a.iter() {
                        v[i] = v[i].saturating_add(c);
                    }
                }
                self.go_dense(v);
            }
        }
        self.total = self.total.saturating_add(other.total);
        Ok(())
    }

    /// Empties the sketch for reuse: back to the map (a sketch reused for
    /// a quiet epoch should cost what its traffic costs), keeping the map's
    /// capacity and the array for when it fills again.
    pub fn reset(&mut self) {
        self.total = 0;
        match &mut self.cells {
            Cells::Sparse(m) => m.clear(),
            Cells::Dense(v) => {
                self.spare = std::mem::take(v);
                // A sketch that filled its map last time likely will again:
                // the map it filled is reused (emptied), else one is made at
                // its full size once, not grown by rehashing (its peak is
                // what it was before the switch).
                let mut m = std::mem::take(&mut self.spare_cells);
                if m.capacity() > self.sparse_limit() {
                    m.clear();
                } else {
                    m = SparseCells::with_capacity(self.sparse_limit() + 1);
                }
                self.cells = Cells::Sparse(m);
            }
        }
    }

    /// Zeroes every counter, keeping the shape.
    pub fn clear(&mut self) {
        if self.total == 0 {
            // Nothing was added: every counter is still zero, and not
            // touching them keeps never-written pages unmapped.
            return;
        }
        match &mut self.cells {
            Cells::Dense(v) => v.iter_mut().for_each(|c| *c = 0),
            Cells::Sparse(m) => m.clear(),
        }
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
        raw.reserve(self.size_bytes());
        for i in 0..self.width * self.depth {
            raw.extend_from_slice(&self.cell(i).to_le_bytes());
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
        for c in cm.dense().iter_mut() {
            *c = d.u64()?;
        }
        d.finish()?;
        Ok(cm)
    }
}

/// The cell of `hash` in `row` of a table `width` wide. Double hashing
/// (Kirsch-Mitzenmacher): row i uses h1 + i * h2.
#[inline(always)]
fn index_in(width: usize, hash: u64, row: usize) -> usize {
    let h1 = hash as u32 as usize;
    let h2 = ((hash >> 32) as usize) | 1;
    row * width + (h1.wrapping_add(row.wrapping_mul(h2)) & (width - 1))
}

/// One update's counter rule over its `depth` cells of the map (the same
/// rule as the array's in `update`): conservative update raises each cell
/// only to the new minimum; plain update adds to each.
#[inline(always)]
fn raise(m: &mut SparseCells, idx: &[usize], weight: u64, conservative: bool) {
    let get = |m: &SparseCells, i: usize| m.get(i);
    if conservative {
        // Each cell looked up once: the values are kept for the raise.
        let mut was = [0u64; MAX_DEPTH];
        let mut min = u64::MAX;
        for (w, &i) in was.iter_mut().zip(idx) {
            *w = get(m, i);
            min = min.min(*w);
        }
        let target = min.saturating_add(weight);
        for (&w, &i) in was.iter().zip(idx) {
            // Counters never fall, so no zero is ever stored.
            if w < target {
                m.set(i, target);
            }
        }
    } else if weight > 0 {
        for &i in idx {
            let c = m.entry(i);
            *c = c.saturating_add(weight);
        }
    }
}
