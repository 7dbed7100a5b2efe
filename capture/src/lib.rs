//! Input side of netsketch: everything that touches input bytes.
//!
//! The crate turns capture files (pcap, pcapng, either gzip-compressed) and
//! live interfaces (libpcap, behind the `live` feature) into [`RawPacket`]s,
//! and parses each packet into one compact [`FlowUpdate`] with etherparse's
//! lax slicer, so snaplen-truncated frames still yield their addresses.
//!
//! Architecture invariant: this crate knows nothing about sketches, threads or
//! windows. Every reader and parser returns an error for bad bytes and never
//! panics, however malformed the input; errors carry a stable reason label
//! ([`Reason`]) that the caller counts.
//!
//! ```no_run
//! use capture::{CaptureFile, FlowUpdate, Totals, parse_packet};
//! let mut file = CaptureFile::open("trace.pcapng").unwrap();
//! let mut totals = Totals::default();
//! let mut update = FlowUpdate::default();
//! while let Some(pkt) = file.next_packet().transpose() {
//!     let pkt = pkt.unwrap();
//!     let res = parse_packet(&pkt, &mut update);
//!     totals.record(&pkt, &update, res.err());
//! }
//! ```
#![deny(missing_docs)]

#[cfg(feature = "live")]
pub mod bpf;
mod error;
mod fast;
mod file;
mod flow_update;
#[path = "export/mod.rs"]
pub mod flows;
mod ip;
mod linktype;
#[cfg(feature = "live")]
pub mod live;
mod packet;
mod parse;
mod pcap_file;
mod pcapng;
pub mod prefix;
mod reason;
mod stream;
mod totals;
pub mod udp;
pub mod write;

pub use flows::sflow;

pub use error::ReadError;
pub use file::{CaptureFile, FileFormat};
pub use flow_update::{tcp_flags, FlowUpdate};
pub use ip::Ip;
pub use linktype::Linktype;
pub use packet::RawPacket;
pub use parse::datagram::{udp_datagram, UdpDatagram};
pub use parse::{parse_packet, parse_packet_general, Layer, ParseError};
pub use prefix::{Prefix, PrefixError};
pub use reason::{Reason, ReasonCounts};
pub use totals::{LinktypeCounts, ProtocolCounts, Totals};
