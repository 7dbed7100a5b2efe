//! The non-zero cells of a sparse Count-Min table: a small open-addressing
//! map from cell index to counter, cheaper per lookup than a general hash
//! map (the index is already uniform; one multiply places it), its cells
//! kept in first-set order so that iterating and clearing cost what is
//! held, not what was ever allocated.

/// The non-zero cells, by index.
#[derive(Debug, Clone, Default)]
pub(super) struct SparseCells {
    /// `position in cells + 1`, 0 for an empty slot; a power of two long,
    /// at most half full (empty until the first cell is set).
    slots: Vec<u32>,
    /// `(cell index, counter)` in the order the cells were first set.
    cells: Vec<(u64, u64)>,
}

const MIN_SLOTS: usize = 16;

impl SparseCells {
    /// Room for `n` cells before the slots grow.
    pub(super) fn with_capacity(n: usize) -> SparseCells {
        let slots = (2 * n).next_power_of_two().max(MIN_SLOTS);
        SparseCells {
            slots: vec![0; slots],
            cells: Vec::with_capacity(n),
        }
    }

    /// Cells it holds before its slots grow.
    pub(super) fn capacity(&self) -> usize {
        self.slots.len() / 2
    }

    /// Cells held.
    pub(super) fn len(&self) -> usize {
        self.cells.len()
    }

    #[inline(always)]
    fn home(&self, i: usize) -> usize {
        let bits = self.slots.len().trailing_zeros();
        ((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - bits)) as usize
    }

    /// The position in `cells` of cell `i`, if set.
    #[inline]
    fn find(&self, i: usize) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut s = self.home(i);
        loop {
            match self.slots[s] {
                0 => return None,
                p if self.cells[p as usize - 1].0 as usize == i => return Some(p as usize - 1),
                _ => s = (s + 1) & mask,
            }
        }
    }

    /// Cell `i`'s counter (0 when not set).
    #[inline]
    pub(super) fn get(&self, i: usize) -> u64 {
        self.find(i).map_or(0, |p| self.cells[p].1)
    }

    /// A mutable counter for cell `i`, set to 0 first if new.
    #[inline]
    pub(super) fn entry(&mut self, i: usize) -> &mut u64 {
        if 2 * (self.cells.len() + 1) > self.slots.len() {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut s = self.home(i);
        loop {
            match self.slots[s] {
                0 => break,
                p if self.cells[p as usize - 1].0 as usize == i => {
                    return &mut self.cells[p as usize - 1].1;
                }
                _ => s = (s + 1) & mask,
            }
        }
        self.cells.push((i as u64, 0));
        self.slots[s] = self.cells.len() as u32;
        &mut self.cells.last_mut().expect("just pushed").1
    }

    /// Sets cell `i` to `v`.
    #[inline]
    pub(super) fn set(&mut self, i: usize, v: u64) {
        *self.entry(i) = v;
    }

    #[cold]
    fn grow(&mut self) {
        let n = (2 * self.slots.len()).max(MIN_SLOTS);
        self.slots.clear();
        self.slots.resize(n, 0);
        let mask = n - 1;
        for p in 0..self.cells.len() {
            let mut s = self.home(self.cells[p].0 as usize);
            while self.slots[s] != 0 {
                s = (s + 1) & mask;
            }
            self.slots[s] = p as u32 + 1;
        }
    }

    /// Every set cell as `(index, counter)`, in first-set order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (usize, u64)> + '_ {
        self.cells.iter().map(|&(i, c)| (i as usize, c))
    }

    /// Forgets every cell, keeping the storage: slot by slot when few were
    /// set, a fill otherwise.
    pub(super) fn clear(&mut self) {
        if 8 * self.cells.len() >= self.slots.len() {
            self.slots.fill(0);
        } else {
            let mask = self.slots.len() - 1;
            for p in 0..self.cells.len() {
                let want = p as u32 + 1;
                let mut s = self.home(self.cells[p].0 as usize);
                while self.slots[s] != want {
                    s = (s + 1) & mask;
                }
                self.slots[s] = 0;
            }
        }
        self.cells.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_set_read_grow_and_clear_like_a_map() {
        let mut m = SparseCells::default();
        let mut truth = std::collections::HashMap::new();
        let mut x = 7u64;
        for round in 0..3 {
            for _ in 0..3_000 {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                // Clustered indexes (one row's worth) probe long paths.
                let i = ((x >> 40) % 5_000) as usize * if round == 1 { 1 } else { 64 };
                *m.entry(i) += 3;
                *truth.entry(i).or_insert(0u64) += 3;
            }
            assert_eq!(m.len(), truth.len());
            for (&i, &c) in &truth {
                assert_eq!(m.get(i), c);
            }
            assert_eq!(m.get(1 << 29), 0);
            let order: Vec<usize> = m.iter().map(|(i, _)| i).collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), order.len());
            m.clear();
            truth.clear();
            assert_eq!(m.len(), 0);
            assert!(m.slots.iter().all(|&s| s == 0));
        }
        // A few cells after a big fill: cleared one by one.
        for i in 0..5 {
            m.set(i * 1000, 1);
        }
        m.clear();
        assert!(m.slots.iter().all(|&s| s == 0) && m.get(0) == 0);
    }
}
