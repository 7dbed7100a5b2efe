//! The DataSketches frequent-items format (string items), from and to
//! Space-Saving bounds.

use super::wire::{bad, Reader, FAMILY_FREQUENCY, SERIAL_VERSION};
use crate::hash::SketchKey;
use crate::{SketchError, SpaceSaving};

/// The DataSketches frequent-items bytes (string items, as
/// `frequent_strings_sketch` reads them) of a Space-Saving summary, each
/// key written by `text`. See the module documentation for the mapping.
pub fn frequent_items_to_bytes<K: SketchKey>(
    ss: &SpaceSaving<K>,
    text: impl Fn(&K) -> String,
) -> Vec<u8> {
    let items: Vec<Bounded> = ss
        .top(ss.len())
        .iter()
        .map(|h| (text(&h.key), h.lower, h.upper))
        .collect();
    frequent_items_bytes(&items, ss.total(), ss.max_error(), ss.capacity())
}

/// An item and its bounds, `(key, lower, upper)`.
pub type Bounded = (String, u64, u64);

/// The DataSketches frequent-items bytes of `items` (each with `lower <=
/// truth <= upper`) from a stream of weight `total` in which any item not
/// listed weighs at most `absent_upper`; `capacity` counters were kept.
/// DataSketches' one `offset` becomes the largest of `absent_upper` and
/// every item's `upper - lower`; items weigh `upper - offset`, so its
/// estimate (`weight + offset`) is our `upper`; items not above `offset` are
/// left out (DataSketches bounds absent items by `offset`).
pub fn frequent_items_bytes(
    items: &[Bounded],
    total: u64,
    absent_upper: u64,
    capacity: usize,
) -> Vec<u8> {
    // The map DataSketches would need for this many counters (3/4 load).
    let lg_for = |n: usize| {
        let mut lg = 3u8;
        while 4 * n > 3 << lg && lg < 30 {
            lg += 1;
        }
        lg
    };
    let lg_max = lg_for(capacity.max(items.len()));
    if total == 0 {
        return vec![1, SERIAL_VERSION, FAMILY_FREQUENCY, lg_max, 3, 5, 0, 0];
    }
    let offset = items
        .iter()
        .map(|h| h.2 - h.1)
        .max()
        .unwrap_or(0)
        .max(absent_upper);
    let mut kept: Vec<&Bounded> = items.iter().filter(|h| h.2 > offset).collect();
    kept.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.0.cmp(&b.0)));
    let lg_cur = lg_for(kept.len()).min(lg_max);
    let mut out = vec![4, SERIAL_VERSION, FAMILY_FREQUENCY, lg_max, lg_cur, 0, 0, 0];
    out.extend((kept.len() as u32).to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(total.to_le_bytes());
    out.extend(offset.to_le_bytes());
    for h in &kept {
        out.extend((h.2 - offset).to_le_bytes());
    }
    for h in &kept {
        out.extend((h.0.len() as u32).to_le_bytes());
        out.extend(h.0.as_bytes());
    }
    out
}

/// A DataSketches frequent-items sketch with string items, as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrequentItems {
    /// Total weight of the stream.
    pub total: u64,
    /// The error every estimate may carry; also the upper bound of any
    /// item not listed.
    pub offset: u64,
    /// Items and their weights (lower bounds), heaviest first.
    pub items: Vec<(String, u64)>,
}

impl FrequentItems {
    /// Reads `frequent_strings_sketch` bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<FrequentItems, SketchError> {
        let mut r = Reader::new(bytes);
        let pre_longs = r.u8()? & 0x3f;
        let version = r.u8()?;
        let family = r.u8()?;
        let lg_max = r.u8()?;
        let lg_cur = r.u8()?;
        let flags = r.u8()?;
        r.take(2)?;
        if family != FAMILY_FREQUENCY {
            return Err(bad(format!("family {family} is not frequent items (10)")));
        }
        if version != SERIAL_VERSION || lg_cur < 3 || lg_cur > lg_max || lg_max > 30 {
            return Err(bad(format!(
                "frequent items version {version}, map sizes 2^{lg_cur} of 2^{lg_max}"
            )));
        }
        let empty = flags & 5 != 0;
        match (pre_longs, empty) {
            (1, true) => {
                return Ok(FrequentItems {
                    total: 0,
                    offset: 0,
                    items: Vec::new(),
                })
            }
            (4, false) => {}
            _ => return Err(bad(format!("{pre_longs} preamble longs, flags {flags:#x}"))),
        }
        let n = r.u32()? as usize;
        r.u32()?;
        let total = r.u64()?;
        let offset = r.u64()?;
        if n > 3 << (lg_cur - 2) || total == 0 {
            return Err(bad(format!("{n} items of total weight {total}")));
        }
        let mut weights = Vec::with_capacity(n);
        let mut sum = 0u64;
        for _ in 0..n {
            let w = r.u64()?;
            sum = sum
                .checked_add(w)
                .filter(|&s| s <= total)
                .ok_or_else(|| bad("item weights exceed the stream's".into()))?;
            weights.push(w);
        }
        let mut items = Vec::with_capacity(n);
        for w in weights {
            let len = r.u32()? as usize;
            let s =
                std::str::from_utf8(r.take(len)?).map_err(|_| bad("item is not UTF-8".into()))?;
            items.push((s.to_owned(), w));
        }
        if r.rest() != 0 {
            return Err(bad(format!("{} bytes after the items", r.rest())));
        }
        items.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(FrequentItems {
            total,
            offset,
            items,
        })
    }

    /// DataSketches' estimate for `item`: `weight + offset`, 0 if absent.
    pub fn estimate(&self, item: &str) -> u64 {
        self.weight(item).map_or(0, |w| w + self.offset)
    }

    /// Bounds `(lower, upper)` on `item`'s true weight.
    pub fn bounds(&self, item: &str) -> (u64, u64) {
        match self.weight(item) {
            Some(w) => (w, w + self.offset),
            None => (0, self.offset),
        }
    }

    /// Adds `other` (a sketch of another part of the stream: another
    /// appliance, another window) into `self`, as DataSketches' merge does
    /// before any purge: totals, offsets and each item's weight add up, an
    /// item missing on one side weighing 0 there. Every bound still holds
    /// (a missing item's truth on that side is at most its offset, which the
    /// summed offset covers), and nothing is purged: the result holds the
    /// union of the items.
    pub fn merge(&mut self, other: &FrequentItems) {
        self.total = self.total.saturating_add(other.total);
        self.offset = self.offset.saturating_add(other.offset);
        let mut at: std::collections::HashMap<String, usize> = self
            .items
            .iter()
            .enumerate()
            .map(|(i, (k, _))| (k.clone(), i))
            .collect();
        for (k, w) in &other.items {
            match at.get(k) {
                Some(&i) => self.items[i].1 = self.items[i].1.saturating_add(*w),
                None => {
                    at.insert(k.clone(), self.items.len());
                    self.items.push((k.clone(), *w));
                }
            }
        }
        self.items
            .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    }

    /// The `k` heaviest items with `(estimate, lower, upper)`, heaviest
    /// first: estimate `weight + offset` (DataSketches' own), lower the
    /// weight.
    pub fn top(&self, k: usize) -> Vec<(String, u64, u64, u64)> {
        self.items
            .iter()
            .take(k)
            .map(|(key, w)| (key.clone(), w + self.offset, *w, w + self.offset))
            .collect()
    }

    fn weight(&self, item: &str) -> Option<u64> {
        self.items.iter().find(|(k, _)| k == item).map(|&(_, w)| w)
    }
}
