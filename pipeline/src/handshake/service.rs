//! A service's handshake counts and round trips, and how reports name it.

use capture::Ip;

use super::rtt::Rtt;

/// Handshake counts and round-trip times of one service (or of the
/// `other` bucket) over an epoch or window.
#[derive(Debug, Clone, Default)]
pub struct ServiceStats {
    /// Connection attempts that ended here (first SYNs; retransmissions
    /// not counted): the sum of the five outcomes below.
    pub attempts: u64,
    /// Handshakes begun here (first SYNs), whenever they end: what an
    /// outage shows before its SYNs time out. Not part of `attempts`.
    pub started: u64,
    /// SYN retransmissions (same sequence number).
    pub syn_retransmits: u64,
    /// Attempts a SYN-ACK answered (completed, incomplete, or open after
    /// the SYN-ACK).
    pub answered: u64,
    /// Handshakes completed by the client's ACK.
    pub completed: u64,
    /// SYNs answered with a RST by the server.
    pub refused: u64,
    /// SYNs with neither SYN-ACK nor RST within the timeout.
    pub unanswered: u64,
    /// SYN-ACKs the client never acknowledged in time, or reset.
    pub incomplete: u64,
    /// Handshakes still in progress at the end of input.
    pub open: u64,
    /// Server side: SYN (the first) to SYN-ACK.
    pub server_rtt: Rtt,
    /// Client side: SYN-ACK to the client's ACK.
    pub client_rtt: Rtt,
}

impl ServiceStats {
    /// Adds every count and histogram of `o`.
    pub fn merge(&mut self, o: &ServiceStats) {
        self.attempts += o.attempts;
        self.started += o.started;
        self.syn_retransmits += o.syn_retransmits;
        self.answered += o.answered;
        self.completed += o.completed;
        self.refused += o.refused;
        self.unanswered += o.unanswered;
        self.incomplete += o.incomplete;
        self.open += o.open;
        self.server_rtt.merge(&o.server_rtt);
        self.client_rtt.merge(&o.client_rtt);
    }

    /// Failed attempts: refused or unanswered.
    pub fn failures(&self) -> u64 {
        self.refused + self.unanswered
    }

    /// Failures over attempts (0 without attempts).
    pub fn failure_ratio(&self) -> f64 {
        if self.attempts == 0 {
            0.0
        } else {
            self.failures() as f64 / self.attempts as f64
        }
    }
}

/// A service's handshakes over an epoch or window.
#[derive(Debug, Clone)]
pub struct ServiceReport {
    /// Server address.
    pub server: Ip,
    /// Server port.
    pub port: u16,
    /// Handshake events (attempts, answers, failures) it may have had
    /// before it was tracked, counted in `other` instead: 0 means its
    /// statistics are complete.
    pub missed_upper: u64,
    /// Counts and round-trip times.
    pub stats: ServiceStats,
}

impl ServiceReport {
    /// `addr:port` (`[v6]:port` for IPv6).
    pub fn name(&self) -> String {
        service_name(self.server, self.port)
    }
}

/// `addr:port`, with brackets around IPv6 addresses.
pub fn service_name(ip: Ip, port: u16) -> String {
    if ip.to_v4().is_some() {
        format!("{ip}:{port}")
    } else {
        format!("[{ip}]:{port}")
    }
}
