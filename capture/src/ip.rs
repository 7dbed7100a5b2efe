//! The one address type of netsketch: both families in 128 bits.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An IP address as 128 bits: IPv6 as is, IPv4 mapped into `::ffff:0:0/96`.
/// One fixed-size key type for both families keeps hashing and sketch keys
/// branch-free.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Ip(pub u128);

impl Ip {
    /// The high 96 bits of an IPv4-mapped address, shifted down.
    const V4_MAPPED_PREFIX: u128 = 0xffff;

    /// From IPv4 octets.
    #[inline]
    pub fn v4(o: [u8; 4]) -> Ip {
        Ip(Self::V4_MAPPED_PREFIX << 32 | u32::from_be_bytes(o) as u128)
    }

    /// From IPv6 octets.
    #[inline]
    pub fn v6(o: [u8; 16]) -> Ip {
        Ip(u128::from_be_bytes(o))
    }

    /// The IPv4 address, if this is an IPv4-mapped address.
    #[inline]
    pub fn to_v4(self) -> Option<Ipv4Addr> {
        (self.0 >> 32 == Self::V4_MAPPED_PREFIX).then(|| Ipv4Addr::from(self.0 as u32))
    }

    /// As a standard library address (IPv4 when mapped).
    pub fn to_ip_addr(self) -> IpAddr {
        match self.to_v4() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(self.0)),
        }
    }
}

impl From<IpAddr> for Ip {
    fn from(a: IpAddr) -> Ip {
        match a {
            IpAddr::V4(v4) => Ip::v4(v4.octets()),
            IpAddr::V6(v6) => Ip::v6(v6.octets()),
        }
    }
}

impl fmt::Display for Ip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.to_ip_addr().fmt(f)
    }
}
