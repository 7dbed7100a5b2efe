//! TCP handshakes per service: round-trip times and connection failures.
//!
//! A *service* is a server address and port. For every connection the
//! pipeline sees open, it measures two round trips from the vantage point:
//!
//! ```text
//!   client            vantage            server
//!     │── SYN ───────────►│─────────────────►│   ┐
//!     │                   │◄──────── SYN-ACK ─│   ┘ server side
//!     │◄──────────────────│                   │   ┐
//!     │── ACK ───────────►│                   │   ┘ client side
//! ```
//!
//! and classifies attempts that fail: `refused` (the server answered the
//! SYN with a RST), `unanswered` (no SYN-ACK or RST within the handshake
//! timeout), `incomplete` (SYN-ACK sent, no ACK from the client in time, or
//! the client reset).
//!
//! Accounting: a handshake is counted once, when it ends (completed,
//! refused, timed out, reset) or at the end of input (`open`), in the
//! epoch where that happens: its attempt, its outcome and its round trips
//! together, in one service's statistics. So in every epoch, window and run
//! total, `attempts = completed + incomplete + refused + unanswered + open`
//! and `answered` (SYN-ACKed: completed, incomplete, or open after a
//! SYN-ACK) is at most `attempts`, ratios are at most 1, whatever the
//! epochs or the Space-Saving admission did. A SYN with the sequence number
//! of the pending one is a retransmission, counted apart, never an attempt.
//! (Counting the attempt at the SYN and the outcome at the timeout put them
//! in different epochs, and Space-Saving could admit a service between the
//! two: windows showed more unanswered than attempts.)
//!
//! Determinism: pending handshakes live in per-shard tables sharded by the
//! service, so all of one service's connections are in one shard, which
//! sees the same packets in the same order whatever the worker count. A
//! timed-out handshake is counted in the epoch whose close finds it expired,
//! and closes fall at fixed points of the stream, so the counts do not
//! depend on threads or speed either.
//!
//! Bounded memory: each shard holds at most `table_capacity` pending
//! handshakes (SYNs beyond that are counted as `untracked`, not measured)
//! and each shard's epoch statistics track at most `capacity` services with
//! Space-Saving admission (every service with more than `attempts /
//! capacity` attempts in the shard is tracked; the rest, and what a
//! tracked service did before it was admitted, go to `other`). Round-trip
//! times are HdrHistograms with 2 significant digits (relative error under
//! 1/128) from 1 µs to 60 s, allocated only for services that have one.

mod conn;
mod rtt;
mod service;
mod table;

pub use conn::{service_shard, ConnTables, ServiceSink};
pub use rtt::{
    histogram_bytes, Rtt, RttHistogram, RttQuantiles, RTT_HIGH_US, RTT_LOW_US, RTT_SIGFIG,
};
pub use service::{service_name, ServiceReport, ServiceStats};
pub use table::ServiceTable;
