//! The DataSketches HLL format: LIST, SET and HLL_8 out; LIST, SET, HLL_4,
//! HLL_6 and HLL_8 in.

use super::wire::{
    bad, Reader, COMPACT_FLAG, EMPTY_FLAG, FAMILY_HLL, OUT_OF_ORDER_FLAG, SERIAL_VERSION,
};
use crate::hll::{Coupon, Hashing, HyperLogLog, MAX_VALUE};
use crate::SketchError;

const MODE_LIST: u8 = 0;
const MODE_SET: u8 = 1;
const MODE_HLL: u8 = 2;
const TGT_HLL4: u8 = 0;
const TGT_HLL6: u8 = 1;
const TGT_HLL8: u8 = 2;

/// LIST mode holds fewer than this many coupons.
const LIST_CAPACITY: usize = 8;
const AUX_TOKEN: u8 = 15;

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
