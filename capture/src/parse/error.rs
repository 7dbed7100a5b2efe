//! Why a frame could not be parsed, and the drop reason it is counted under.

use std::fmt;

use crate::{Linktype, Reason};

/// The layer at which parsing stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    /// Link layer (Ethernet, VLAN, MPLS, SLL...).
    Link,
    /// IPv4/IPv6 header and extension headers.
    Ip,
    /// TCP, UDP, ICMP.
    Transport,
}

/// Why a packet could not be parsed completely. What was parsed before the
/// error stays in the [`crate::FlowUpdate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// The link type is not one [`crate::parse_packet`] decodes.
    UnsupportedLinktype(Linktype),
    /// The bytes end inside a header of this layer.
    Truncated(Layer),
    /// A header of this layer has impossible contents.
    Malformed(Layer),
}

impl ParseError {
    /// The counted drop reason.
    pub fn reason(self) -> Reason {
        match self {
            ParseError::UnsupportedLinktype(_) => Reason::UnsupportedLinktype,
            ParseError::Truncated(Layer::Link) => Reason::TruncatedLink,
            ParseError::Truncated(Layer::Ip) => Reason::TruncatedIp,
            ParseError::Truncated(Layer::Transport) => Reason::TruncatedTransport,
            ParseError::Malformed(Layer::Link) => Reason::MalformedLink,
            ParseError::Malformed(Layer::Ip) => Reason::MalformedIp,
            ParseError::Malformed(Layer::Transport) => Reason::MalformedTransport,
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::UnsupportedLinktype(l) => write!(f, "unsupported link type {}", l.0),
            _ => f.write_str(self.reason().as_str()),
        }
    }
}

impl std::error::Error for ParseError {}
