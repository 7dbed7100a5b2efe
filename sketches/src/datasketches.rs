//! Apache DataSketches wire formats for the sketches that leave netsketch.
//!
//! Druid, Pinot, Spark, Flink and the DataSketches libraries (Java, C++,
//! Python, Rust) merge these bytes, so a fleet's distinct counts and heavy
//! hitters combine in engines operators already run.
//!
//! - HLL ([`hll_to_bytes`], [`hll_from_bytes`]): a [`HyperLogLog`] built
//!   with [`Hashing::DataSketches`] holds exactly the coupons a DataSketches
//!   HLL would hold for the same keys, so the conversion is register for
//!   register. We write the mode DataSketches itself would be in for that
//!   many coupons (LIST, SET, or HLL_8 registers marked out-of-order, so
//!   readers use the composite estimator); we read LIST, SET, HLL_4 (with
//!   its exception table), HLL_6 and HLL_8.
//! - Frequent items ([`frequent_items_to_bytes`], [`FrequentItems`]): the
//!   string-item format of `frequent_strings_sketch`. DataSketches keeps one
//!   global `offset` and per-item weights with `weight <= truth <= weight +
//!   offset`, estimate `weight + offset`. From Space-Saving we write
//!   `offset = ` the largest error any item can carry and `weight = count -
//!   offset`, so DataSketches' estimate equals ours and its bounds hold
//!   (they are at most as tight as ours); items not above `offset` are left
//!   out, which DataSketches' bound for absent items (`offset`) covers.
//!
//! Format facts come from the DataSketches documentation and the
//! `datasketches` crate's readers; every reader here is bounds checked and
//! returns [`SketchError::Decode`] for malformed bytes.

use crate::hash::SketchKey;
use crate::hll::{Coupon, Hashing, HyperLogLog, MAX_VALUE};
use crate::{SketchError, SpaceSaving};

/// DataSketches' default update seed (HLL always uses it).
pub const UPDATE_SEED: u32 = 9001;

const SERIAL_VERSION: u8 = 1;
const FAMILY_HLL: u8 = 7;
const FAMILY_FREQUENCY: u8 = 10;

const EMPTY_FLAG: u8 = 4;
const COMPACT_FLAG: u8 = 8;
const OUT_OF_ORDER_FLAG: u8 = 16;

const MODE_LIST: u8 = 0;
const MODE_SET: u8 = 1;
const MODE_HLL: u8 = 2;
const TGT_HLL4: u8 = 0;
const TGT_HLL6: u8 = 1;
const TGT_HLL8: u8 = 2;

/// LIST mode holds fewer than this many coupons.
const LIST_CAPACITY: usize = 8;
const AUX_TOKEN: u8 = 15;

/// Decimal text of every octet: up to three digits and the length.
const OCTET_TEXT: [([u8; 3], u8); 256] = {
    let mut t = [([0u8; 3], 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let o = i as u8;
        t[i] = if o >= 100 {
            ([b'0' + o / 100, b'0' + o / 10 % 10, b'0' + o % 10], 3)
        } else if o >= 10 {
            ([b'0' + o / 10, b'0' + o % 10, 0], 2)
        } else {
            ([b'0' + o, 0, 0], 1)
        };
        i += 1;
    }
    t
};

/// Writes an address key as DataSketches' Python and SQL users would give
/// it: its text form (`10.1.2.3`, `2001:db8::1`, RFC 5952, the same text as
/// `std`'s `Display`). Returns the bytes used in `buf`. This runs once per
/// packet, so it avoids `fmt`.
#[inline]
pub fn ip_text(ip: std::net::IpAddr, buf: &mut [u8; 48]) -> usize {
    match ip {
        std::net::IpAddr::V4(v4) => v4_text(v4.octets(), buf, 0),
        std::net::IpAddr::V6(v6) => {
            let g = v6.segments();
            if g[..5] == [0; 5] && g[5] == 0xffff {
                // IPv4-mapped: `::ffff:a.b.c.d`.
                buf[..7].copy_from_slice(b"::ffff:");
                let o = v6.octets();
                return v4_text([o[12], o[13], o[14], o[15]], buf, 7);
            }
            // The longest run of two or more zero groups (the first of equal
            // runs) becomes `::`.
            let (mut best, mut best_len, mut i) = (8, 1, 0);
            while i < 8 {
                let start = i;
                while i < 8 && g[i] == 0 {
                    i += 1;
                }
                if i - start > best_len {
                    (best, best_len) = (start, i - start);
                }
                i += 1;
            }
            let mut n = 0;
            let mut i = 0;
            while i < 8 {
                if i == best {
                    buf[n..n + 2].copy_from_slice(b"::");
                    n += 2;
                    i += best_len;
                    continue;
                }
                if i > 0 && i != best + best_len {
                    buf[n] = b':';
                    n += 1;
                }
                let v = g[i];
                let digits = (16 - v.leading_zeros()).div_ceil(4).max(1);
                for d in (0..digits).rev() {
                    buf[n] = b"0123456789abcdef"[(v >> (4 * d)) as usize & 15];
                    n += 1;
                }
                i += 1;
            }
            n
        }
    }
}

fn v4_text(octets: [u8; 4], buf: &mut [u8; 48], mut n: usize) -> usize {
    for (i, o) in octets.into_iter().enumerate() {
        if i > 0 {
            buf[n] = b'.';
            n += 1;
        }
        let (digits, len) = OCTET_TEXT[o as usize];
        buf[n..n + 3].copy_from_slice(&digits);
        n += len as usize;
    }
    n
}

/// The DataSketches coupon of an address keyed by its text form.
#[inline]
pub fn ip_coupon(ip: std::net::IpAddr) -> Coupon {
    let mut buf = [0u8; 48];
    let n = ip_text(ip, &mut buf);
    Coupon::datasketches(&buf[..n])
}

/// The DataSketches HLL bytes of `hll` (target type HLL_8).
///
/// Only sketches built with [`Hashing::DataSketches`] can leave: a sketch
/// hashed otherwise would merge wrongly with the receiver's own.
pub fn hll_to_bytes(hll: &HyperLogLog) -> Result<Vec<u8>, SketchError> {
    if hll.hashing() != Hashing::DataSketches {
        return Err(SketchError::Incompatible(
            "only HLLs hashed as DataSketches hashes (MurmurHash3, seed 9001) can be exported"
                .into(),
        ));
    }
    let lg_k = hll.precision();
    let k = 1usize << lg_k;
    let mode_byte = |mode: u8| mode | TGT_HLL8 << 2;
    if let Some(coupons) = hll.sorted_coupons() {
        let n = coupons.len();
        let set_max = if lg_k >= 8 { 3 * (k >> 3) / 4 } else { 0 };
        if n < LIST_CAPACITY {
            let flags = COMPACT_FLAG | if n == 0 { EMPTY_FLAG } else { 0 };
            let mut out = vec![2, SERIAL_VERSION, FAMILY_HLL, lg_k, 3, flags, n as u8];
            out.push(mode_byte(MODE_LIST));
            coupons.iter().for_each(|c| out.extend(c.to_le_bytes()));
            return Ok(out);
        }
        if n <= set_max {
            // The table size DataSketches would have grown to: at most 3/4
            // full, at least 2^5.
            let mut lg_arr = 5u8;
            while 4 * n > 3 << lg_arr {
                lg_arr += 1;
            }
            let mut out = vec![3, SERIAL_VERSION, FAMILY_HLL, lg_k, lg_arr, COMPACT_FLAG, 0];
            out.push(mode_byte(MODE_SET));
            out.extend((n as u32).to_le_bytes());
            coupons.iter().for_each(|c| out.extend(c.to_le_bytes()));
            return Ok(out);
        }
    }
    let regs = hll.registers();
    let (mut kxq0, mut kxq1, mut zeros) = (0f64, 0f64, 0u32);
    for &r in &regs {
        let inv = (-(r as f64)).exp2();
        if r < 32 {
            kxq0 += inv;
        } else {
            kxq1 += inv;
        }
        zeros += (r == 0) as u32;
    }
    let mut out = Vec::with_capacity(40 + k);
    out.extend([
        10,
        SERIAL_VERSION,
        FAMILY_HLL,
        lg_k,
        0,
        OUT_OF_ORDER_FLAG,
        0,
    ]);
    out.push(mode_byte(MODE_HLL));
    // HIP accumulator: unused by readers once out-of-order is set; ours.
    out.extend(hll.estimate().value.to_le_bytes());
    out.extend(kxq0.to_le_bytes());
    out.extend(kxq1.to_le_bytes());
    out.extend(zeros.to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(&regs);
    Ok(out)
}

/// Reads DataSketches HLL bytes (any mode, any target type) into a
/// [`Hashing::DataSketches`] sketch of the same precision (4..=18).
pub fn hll_from_bytes(bytes: &[u8]) -> Result<HyperLogLog, SketchError> {
    let mut r = Reader::new(bytes);
    let pre_ints = r.u8()?;
    let version = r.u8()?;
    let family = r.u8()?;
    let lg_k = r.u8()?;
    let lg_arr = r.u8()?;
    let flags = r.u8()?;
    let state = r.u8()?;
    let mode_byte = r.u8()?;
    if family != FAMILY_HLL {
        return Err(bad(format!("family {family} is not HLL (7)")));
    }
    if version != SERIAL_VERSION {
        return Err(bad(format!("HLL serial version {version}")));
    }
    let mut hll = HyperLogLog::new_datasketches(lg_k).map_err(|e| bad(e.to_string()))?;
    let compact = flags & COMPACT_FLAG != 0;
    let coupon = |raw: u32| match Coupon::from_raw(raw) {
        Some(c) => Ok(c),
        None => Err(bad(format!("HLL coupon {raw:#x} has no value"))),
    };
    match (mode_byte & 3, pre_ints) {
        (MODE_LIST, 2) | (MODE_SET, 3) => {
            let list = mode_byte & 3 == MODE_LIST;
            let count = if list {
                state as usize
            } else {
                r.u32()? as usize
            };
            if lg_arr > 26 || count > 1 << lg_arr {
                return Err(bad(format!("{count} coupons in a table of 2^{lg_arr}")));
            }
            let stored = if compact || flags & EMPTY_FLAG != 0 {
                count
            } else {
                1 << lg_arr
            };
            let mut seen = 0;
            for _ in 0..stored {
                let raw = r.u32()?;
                if raw != 0 {
                    hll.update_coupon(coupon(raw)?);
                    seen += 1;
                }
            }
            if seen != count {
                return Err(bad(format!("{seen} coupons stored, header says {count}")));
            }
        }
        (MODE_HLL, 10) => {
            let cur_min = state;
            let _hip = r.f64()?;
            let _kxq0 = r.f64()?;
            let _kxq1 = r.f64()?;
            let _num_at_cur_min = r.u32()?;
            let aux_count = r.u32()? as usize;
            let k = 1usize << lg_k;
            let mut regs = vec![0u8; k];
            match (mode_byte >> 2) & 3 {
                TGT_HLL8 => regs.copy_from_slice(r.take(k)?),
                TGT_HLL6 => {
                    let packed = r.take(k * 3 / 4 + 1)?;
                    for (i, reg) in regs.iter_mut().enumerate() {
                        let bit = i * 6;
                        let two = u16::from_le_bytes([packed[bit / 8], packed[bit / 8 + 1]]);
                        *reg = (two >> (bit % 8)) as u8 & 63;
                    }
                }
                TGT_HLL4 => {
                    // Registers at AUX_TOKEN hold their value in the exception
                    // table; mark them until it is read.
                    const PENDING: u8 = u8::MAX;
                    let packed = r.take(k / 2)?;
                    let mut pending = 0usize;
                    for (i, reg) in regs.iter_mut().enumerate() {
                        let b = packed[i / 2];
                        let nibble = if i % 2 == 0 { b & 15 } else { b >> 4 };
                        if nibble == AUX_TOKEN {
                            *reg = PENDING;
                            pending += 1;
                        } else {
                            *reg = cur_min.saturating_add(nibble);
                        }
                    }
                    let stored = if compact || aux_count == 0 {
                        aux_count
                    } else if lg_arr <= 26 {
                        1 << lg_arr
                    } else {
                        return Err(bad(format!("HLL_4 exception table of 2^{lg_arr}")));
                    };
                    let mut filled = 0;
                    for _ in 0..stored {
                        let raw = r.u32()?;
                        if raw == 0 {
                            continue;
                        }
                        let c = coupon(raw)?;
                        let slot = (c.raw() & ((1 << 26) - 1)) as usize;
                        if slot >= k || regs[slot] != PENDING {
                            return Err(bad(format!("HLL_4 exception for slot {slot}")));
                        }
                        regs[slot] = (c.raw() >> 26) as u8;
                        filled += 1;
                    }
                    if filled != pending || filled != aux_count {
                        return Err(bad(format!(
                            "HLL_4: {pending} registers point to exceptions, {filled} stored, \
                             header says {aux_count}"
                        )));
                    }
                }
                t => return Err(bad(format!("unknown HLL target type {t}"))),
            }
            if regs.iter().any(|&v| v > MAX_VALUE) {
                return Err(bad("HLL register above 63".into()));
            }
            hll.merge_registers(&regs);
        }
        (m, p) => return Err(bad(format!("HLL mode {m} with {p} preamble ints"))),
    }
    Ok(hll)
}

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

fn bad(msg: String) -> SketchError {
    SketchError::Decode(format!("DataSketches: {msg}"))
}

/// Bounds-checked little-endian reads.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Reader<'a> {
        Reader { b }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], SketchError> {
        if n > self.b.len() {
            return Err(bad(format!(
                "truncated: wanted {n} more bytes, {} left",
                self.b.len()
            )));
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }
    fn u8(&mut self) -> Result<u8, SketchError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, SketchError> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, SketchError> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn f64(&mut self) -> Result<f64, SketchError> {
        Ok(f64::from_bits(self.u64()?))
    }
    fn rest(&self) -> usize {
        self.b.len()
    }
}
