//! Link-layer header types as an open newtype over the tcpdump.org registry.

use std::fmt;

/// A link-layer header type (LINKTYPE_* value of the tcpdump.org registry).
///
/// Modelled as an open newtype so that an unknown value is still
/// representable and can be counted by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Linktype(pub u32);

impl Linktype {
    /// BSD loopback: 4-byte address family in host byte order.
    pub const NULL: Linktype = Linktype(0);
    /// Ethernet II / 802.3.
    pub const ETHERNET: Linktype = Linktype(1);
    /// Raw IP on some BSDs (DLT_RAW = 12 on OpenBSD-derived files).
    pub const RAW_BSD: Linktype = Linktype(12);
    /// PPP.
    pub const PPP: Linktype = Linktype(9);
    /// PPP in HDLC-like framing (RFC 1662).
    pub const PPP_HDLC: Linktype = Linktype(50);
    /// Cisco HDLC.
    pub const C_HDLC: Linktype = Linktype(104);
    /// Per-Packet Information header, then a frame of another link type.
    pub const PPI: Linktype = Linktype(192);
    /// Raw IPv4 or IPv6, version from the first nibble.
    pub const RAW: Linktype = Linktype(101);
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: Linktype = Linktype(108);
    /// Linux "cooked" capture, version 1.
    pub const LINUX_SLL: Linktype = Linktype(113);
    /// IEEE 802.11 without radio header.
    pub const IEEE802_11: Linktype = Linktype(105);
    /// IEEE 802.11 with radiotap header.
    pub const IEEE802_11_RADIOTAP: Linktype = Linktype(127);
    /// Raw IPv4.
    pub const IPV4: Linktype = Linktype(228);
    /// Raw IPv6.
    pub const IPV6: Linktype = Linktype(229);
    /// Linux "cooked" capture, version 2.
    pub const LINUX_SLL2: Linktype = Linktype(276);

    /// Short lowercase name for reports, `None` for values we do not name.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::NULL => "null",
            Self::ETHERNET => "ethernet",
            Self::PPP => "ppp",
            Self::PPP_HDLC => "ppp_hdlc",
            Self::C_HDLC => "c_hdlc",
            Self::PPI => "ppi",
            Self::RAW | Self::RAW_BSD => "raw",
            Self::LOOP => "loop",
            Self::IEEE802_11 => "ieee802_11",
            Self::IEEE802_11_RADIOTAP => "ieee802_11_radiotap",
            Self::LINUX_SLL => "linux_sll",
            Self::IPV4 => "ipv4",
            Self::IPV6 => "ipv6",
            Self::LINUX_SLL2 => "linux_sll2",
            _ => return None,
        })
    }

    /// Whether [`crate::parse_packet`] decodes frames of this type.
    pub fn is_supported(self) -> bool {
        matches!(
            self,
            Self::NULL
                | Self::ETHERNET
                | Self::RAW
                | Self::RAW_BSD
                | Self::LOOP
                | Self::LINUX_SLL
                | Self::IPV4
                | Self::IPV6
                | Self::LINUX_SLL2
                | Self::PPP
                | Self::PPP_HDLC
                | Self::C_HDLC
                | Self::PPI
        )
    }
}

impl fmt::Display for Linktype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "linktype_{}", self.0),
        }
    }
}
