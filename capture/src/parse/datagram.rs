//! Whole UDP datagrams out of frames, for flow exports that arrive in a
//! capture rather than on a socket.

use etherparse::{LaxNetSlice, TransportSlice};

use super::error::{Layer, ParseError};
use super::{resolve, slice_link};
use crate::{FlowUpdate, Ip, RawPacket};

/// A complete UDP datagram found in a frame.
#[derive(Debug, Clone, Copy)]
pub struct UdpDatagram<'a> {
    /// Sender address.
    pub src: Ip,
    /// Receiver address.
    pub dst: Ip,
    /// Sender port.
    pub sport: u16,
    /// Receiver port.
    pub dport: u16,
    /// The UDP payload, whole.
    pub payload: &'a [u8],
}

/// The UDP datagram a frame carries: `Ok(None)` when it carries none (not
/// UDP, or a later IP fragment), an error when it is cut short or only its
/// first fragment is here (flow exports are not reassembled).
pub fn udp_datagram<'a>(pkt: &RawPacket<'a>) -> Result<Option<UdpDatagram<'a>>, ParseError> {
    let Some(sliced) = slice_link(pkt.linktype, pkt.data, true)? else {
        return Ok(None);
    };
    let sliced = resolve(sliced)?;
    let (src, dst, payload) = match &sliced.net {
        Some(LaxNetSlice::Ipv4(v4)) => (
            Ip::v4(v4.header().source()),
            Ip::v4(v4.header().destination()),
            v4.payload(),
        ),
        Some(LaxNetSlice::Ipv6(v6)) => (
            Ip::v6(v6.header().source()),
            Ip::v6(v6.header().destination()),
            v6.payload(),
        ),
        _ => return Ok(None),
    };
    if payload.ip_number.0 != FlowUpdate::UDP {
        return Ok(None);
    }
    if payload.fragmented {
        return Err(ParseError::Truncated(Layer::Transport));
    }
    match &sliced.transport {
        Some(TransportSlice::Udp(u)) if !payload.incomplete => {
            // The UDP length bounds the payload (Ethernet may pad).
            let want = (u.length() as usize).saturating_sub(8);
            let p = u.payload();
            if p.len() < want {
                return Err(ParseError::Truncated(Layer::Transport));
            }
            Ok(Some(UdpDatagram {
                src,
                dst,
                sport: u.source_port(),
                dport: u.destination_port(),
                payload: &p[..want],
            }))
        }
        _ => Err(ParseError::Truncated(Layer::Transport)),
    }
}
