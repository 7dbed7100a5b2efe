//! Address keys as DataSketches users write them: their text form, and its coupon.

use crate::hll::Coupon;

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

/// [`ip_text`] as a `String`: the standard text form without `fmt` (reports
/// name hundreds of addresses a window, and `Ipv4Addr`'s `Display` costs
/// about ten times as much).
pub fn ip_string(ip: std::net::IpAddr) -> String {
    let mut buf = [0u8; 48];
    let n = ip_text(ip, &mut buf);
    // Digits, hex digits, dots and colons: always UTF-8.
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// The DataSketches coupon of an address keyed by its text form.
#[inline]
pub fn ip_coupon(ip: std::net::IpAddr) -> Coupon {
    let mut buf = [0u8; 48];
    let n = ip_text(ip, &mut buf);
    Coupon::datasketches(&buf[..n])
}
