//! The small open-addressing map a flush sums its key families in.

use super::table::clear_slots;

/// A small map from a key to its sums, in first-seen order: open
/// addressing over a power-of-two slot array at most half full, by a hash
/// the caller already has. It grows with its keys (a quiet epoch's flush
/// stays small) and keeps its storage across uses.
#[derive(Debug)]
pub struct AggMap<K, V> {
    slots: Vec<u32>,
    pub items: Vec<(K, u64, V)>,
}

impl<K: Copy + PartialEq, V: Default> AggMap<K, V> {
    const MIN_SLOTS: usize = 64;

    /// An empty map.
    pub fn new() -> AggMap<K, V> {
        AggMap {
            slots: vec![0; Self::MIN_SLOTS],
            items: Vec::new(),
        }
    }

    /// The sums of `key` (hash `hash`), inserted as defaults if new.
    #[inline]
    pub fn entry(&mut self, key: K, hash: u64) -> &mut V {
        let mask = self.slots.len() - 1;
        let mut i = (hash >> 32) as usize & mask;
        loop {
            let s = self.slots[i] as usize;
            if s == 0 {
                break;
            }
            if self.items[s - 1].1 == hash && self.items[s - 1].0 == key {
                return &mut self.items[s - 1].2;
            }
            i = (i + 1) & mask;
        }
        self.items.push((key, hash, V::default()));
        self.slots[i] = self.items.len() as u32;
        if 2 * self.items.len() > self.slots.len() {
            self.grow();
        }
        &mut self.items.last_mut().expect("just pushed").2
    }

    #[cold]
    fn grow(&mut self) {
        let n = 2 * self.slots.len();
        self.slots.clear();
        self.slots.resize(n, 0);
        self.reindex();
    }

    /// Keeps the items `keep` says to (it may change their sums), in
    /// order, keeping the storage.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut V) -> bool) {
        self.items.retain_mut(|(_, _, v)| keep(v));
        self.slots.fill(0);
        self.reindex();
    }

    /// Puts every item in the (empty) slots.
    fn reindex(&mut self) {
        let mask = self.slots.len() - 1;
        for (idx, item) in self.items.iter().enumerate() {
            let mut i = (item.1 >> 32) as usize & mask;
            while self.slots[i] != 0 {
                i = (i + 1) & mask;
            }
            self.slots[i] = idx as u32 + 1;
        }
    }

    /// Empties the map, keeping its storage. A map grown by one busy
    /// flush and reused for small ones zeroes only the slots it used.
    pub fn clear(&mut self) {
        clear_slots(&mut self.slots, self.items.iter().map(|i| i.1));
        self.items.clear();
    }
}

impl<K: Copy + PartialEq, V: Default> Default for AggMap<K, V> {
    fn default() -> Self {
        AggMap::new()
    }
}

#[cfg(test)]
mod tests {
    use super::super::table::tests::pkt;
    use super::super::table::FlowTable;
    use super::*;

    #[test]
    fn a_map_grown_by_a_busy_flush_and_cleared_sparsely_holds_no_stale_slot() {
        let mut m: AggMap<u64, u64> = AggMap::new();
        // Colliding hashes (one home slot) make long probe paths.
        for k in 0..5_000u64 {
            *m.entry(k, (k % 7) << 32 | k) += k;
        }
        let grown = m.slots.len();
        m.clear();
        assert!(m.slots.iter().all(|&s| s == 0));
        // A few keys: cleared slot by slot, not by a fill.
        for k in 0..100u64 {
            *m.entry(k, (k % 3) << 32) += 1;
            *m.entry(k, (k % 3) << 32) += 1;
        }
        assert_eq!(m.slots.len(), grown);
        assert_eq!(m.items.len(), 100);
        assert!(m.items.iter().all(|(_, _, v)| *v == 2));
        m.clear();
        assert!(m.slots.iter().all(|&s| s == 0) && m.items.is_empty());
        let mut t = FlowTable::new(4096);
        for i in 0..10 {
            assert!(t.add(&pkt(i, i, 80, 40, 0)));
        }
        t.clear();
        assert!(t.slots_empty() && t.is_empty());
    }
}
