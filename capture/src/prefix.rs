//! One network prefix type, [`Prefix`]: an address and a prefix length,
//! IPv4 or IPv6, parsed from `addr/len` or a bare address (a host).
//!
//! Addresses are [`Ip`]s (IPv4 mapped into `::ffff:0:0/96`), so an IPv4
//! `/len` covers the top `96 + len` bits of the 128-bit key and only
//! IPv4 addresses; `::/0` covers everything. Every place that parses a
//! prefix (the detection configuration, the collector's allowlist,
//! `--query`) uses this type and words its own error message from
//! [`PrefixError`].

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::Ip;

/// A network: an address (as written, host bits kept) and a prefix length
/// counted in the address's own family (0..=32 or 0..=128).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Prefix {
    addr: Ip,
    len: u8,
    v4: bool,
}

/// Why a prefix did not parse; each carries the text as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// The part before `/` is not an IPv4 or IPv6 address.
    #[error("`{input}` is not an address or CIDR prefix")]
    Address {
        /// The text as given.
        input: String,
    },
    /// The length is not a number 0..=255.
    #[error("`{input}`: prefix length must be 0..={max}")]
    Length {
        /// The text as given.
        input: String,
        /// The family's longest prefix.
        max: u8,
    },
    /// The length is over the family's (32 or 128).
    #[error("`{input}`: prefix length must be 0..={max}")]
    TooLong {
        /// The text as given.
        input: String,
        /// The length given.
        len: u8,
        /// The family's longest prefix.
        max: u8,
    },
}

/// The mask of the top `bits` bits of a 128-bit key (0 for 0, all ones
/// from 128 on).
#[inline]
pub const fn mask(bits: u32) -> u128 {
    if bits == 0 {
        0
    } else if bits >= 128 {
        u128::MAX
    } else {
        !(u128::MAX >> bits)
    }
}

impl Prefix {
    /// A single host: its address at the family's full length.
    pub fn host(addr: Ip) -> Prefix {
        let v4 = addr.to_v4().is_some();
        Prefix {
            addr,
            len: if v4 { 32 } else { 128 },
            v4,
        }
    }

    /// The address as written (host bits kept).
    pub fn addr(&self) -> Ip {
        self.addr
    }

    /// The length in the family's own bits.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }

    /// Whether it was written as an IPv4 prefix.
    pub fn is_v4(&self) -> bool {
        self.v4
    }

    /// The length in the 128-bit (IPv4-mapped) key space.
    pub fn bits(&self) -> u32 {
        self.len as u32 + if self.v4 { 96 } else { 0 }
    }

    /// The mask of its bits in the 128-bit key space.
    pub fn mask(&self) -> u128 {
        mask(self.bits())
    }

    /// The first address (host bits cleared).
    pub fn network(&self) -> Ip {
        Ip(self.addr.0 & self.mask())
    }

    /// Whether `ip` is inside.
    #[inline]
    pub fn contains(&self, ip: Ip) -> bool {
        (ip.0 ^ self.addr.0) & self.mask() == 0
    }
}

impl FromStr for Prefix {
    type Err = PrefixError;

    /// `ADDR/LEN`, or `ADDR` alone for a host.
    fn from_str(s: &str) -> Result<Prefix, PrefixError> {
        let (a, l) = s.split_once('/').unwrap_or((s, ""));
        let ip: IpAddr = a
            .parse()
            .map_err(|_| PrefixError::Address { input: s.into() })?;
        let v4 = ip.is_ipv4();
        let max = if v4 { 32 } else { 128 };
        let len = if l.is_empty() {
            max
        } else {
            let len: u8 = l.parse().map_err(|_| PrefixError::Length {
                input: s.into(),
                max,
            })?;
            if len > max {
                return Err(PrefixError::TooLong {
                    input: s.into(),
                    len,
                    max,
                });
            }
            len
        };
        Ok(Prefix {
            addr: Ip::from(ip),
            len,
            v4,
        })
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Prefix {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_parse_contain_and_display() {
        let ip = |s: &str| Ip::from(s.parse::<IpAddr>().unwrap());
        for (prefix, inside, outside) in [
            ("10.1.2.0/24", "10.1.2.255", "10.1.3.0"),
            ("10.1.2.3", "10.1.2.3", "10.1.2.4"),
            ("0.0.0.0/0", "192.0.2.1", "2001:db8::1"),
            ("2001:db8::/32", "2001:db8:ffff::1", "2001:db9::"),
            ("::/0", "10.0.0.1", "10.0.0.1"),
            ("2001:db8::1", "2001:db8::1", "2001:db8::2"),
        ] {
            assert!(p(prefix).contains(ip(inside)), "{prefix} {inside}");
            if inside != outside {
                assert!(!p(prefix).contains(ip(outside)), "{prefix} {outside}");
            }
        }
        assert_eq!(p("10.1.2.3/24").to_string(), "10.1.2.3/24");
        assert_eq!(p("10.1.2.3/24").network(), ip("10.1.2.0"));
        assert_eq!(p("10.1.2.3").prefix_len(), 32);
        assert_eq!(p("2001:db8::/48").bits(), 48);
        assert_eq!(p("10.0.0.0/8").bits(), 104);
        assert_eq!(Prefix::host(ip("2001:db8::1")), p("2001:db8::1/128"));
    }

    #[test]
    fn bad_prefixes_say_what_is_wrong() {
        for (s, want) in [
            ("10.0.0.0/33", "`10.0.0.0/33`: prefix length must be 0..=32"),
            ("::/129", "`::/129`: prefix length must be 0..=128"),
            ("10.0.0.0/x", "`10.0.0.0/x`: prefix length must be 0..=32"),
            (
                "example.org",
                "`example.org` is not an address or CIDR prefix",
            ),
        ] {
            assert_eq!(s.parse::<Prefix>().unwrap_err().to_string(), want);
        }
        assert!(matches!(
            "10.0.0.0/40".parse::<Prefix>(),
            Err(PrefixError::TooLong {
                len: 40,
                max: 32,
                ..
            })
        ));
    }
}
