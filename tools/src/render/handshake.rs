//! TCP handshakes per service in the JSON output: the `services` object of
//! a window or summary line (round trips in ns, HdrHistogram's 2-digit
//! precision). The shape is the output contract; field order is the order
//! the keys are written in.

use pipeline::handshake::{Rtt, ServiceStats};
use pipeline::Summary;
use serde::Serialize;

/// Quantiles of a service's round trips: [`Rtt::quantiles`].
#[derive(Serialize)]
pub(crate) struct RttJson {
    count: u64,
    p50: u64,
    p90: u64,
    p99: u64,
    max: u64,
}

impl RttJson {
    /// `None` (JSON `null`) without samples.
    fn of(r: &Rtt) -> Option<RttJson> {
        r.quantiles().map(|q| RttJson {
            count: q.count,
            p50: q.p50,
            p90: q.p90,
            p99: q.p99,
            max: q.max,
        })
    }
}

/// A service's (or the `other` bucket's) counts, failure ratio and round
/// trips.
#[derive(Serialize)]
pub(crate) struct StatsJson {
    attempts: u64,
    started: u64,
    syn_retransmits: u64,
    answered: u64,
    completed: u64,
    refused: u64,
    unanswered: u64,
    incomplete: u64,
    open: u64,
    failure_ratio: f64,
    server_rtt_ns: Option<RttJson>,
    client_rtt_ns: Option<RttJson>,
}

impl From<&ServiceStats> for StatsJson {
    fn from(s: &ServiceStats) -> StatsJson {
        StatsJson {
            attempts: s.attempts,
            started: s.started,
            syn_retransmits: s.syn_retransmits,
            answered: s.answered,
            completed: s.completed,
            refused: s.refused,
            unanswered: s.unanswered,
            incomplete: s.incomplete,
            open: s.open,
            failure_ratio: s.failure_ratio(),
            server_rtt_ns: RttJson::of(&s.server_rtt),
            client_rtt_ns: RttJson::of(&s.client_rtt),
        }
    }
}

/// One of the busiest services.
#[derive(Serialize)]
struct ServiceJson {
    service: String,
    missed_events_upper: u64,
    #[serde(flatten)]
    stats: StatsJson,
}

/// The `services` object.
#[derive(Serialize)]
pub(crate) struct ServicesJson {
    top: Vec<ServiceJson>,
    other: StatsJson,
    untracked_syns: u64,
    rtt_relative_precision: f64,
}

/// TCP handshakes of the `k` busiest services (round-trip times in ns,
/// with HdrHistogram's 2-digit precision) and of all others together: the
/// `services` object of a window or summary line.
pub(crate) fn services_out(s: &Summary, k: usize) -> ServicesJson {
    let top = s
        .services(k)
        .into_iter()
        .map(|r| ServiceJson {
            service: r.name(),
            missed_events_upper: r.missed_upper,
            stats: StatsJson::from(&r.stats),
        })
        .collect();
    let (other, untracked) = s.services_other();
    ServicesJson {
        top,
        other: StatsJson::from(&other),
        untracked_syns: untracked,
        rtt_relative_precision: 1.0 / 128.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 19: the service JSON left pipeline for Serialize structs; the
    /// keys keep their order and an empty side stays `null`.
    #[test]
    fn service_stats_json_keeps_its_keys_order_and_nulls() {
        let mut s = ServiceStats {
            attempts: 4,
            started: 5,
            syn_retransmits: 1,
            answered: 3,
            completed: 2,
            refused: 1,
            unanswered: 1,
            open: 0,
            ..ServiceStats::default()
        };
        s.server_rtt.record_ns(30_000_000);
        let got = serde_json::to_string(&StatsJson::from(&s)).unwrap();
        assert_eq!(
            got,
            "{\"attempts\":4,\"started\":5,\"syn_retransmits\":1,\"answered\":3,\
             \"completed\":2,\"refused\":1,\"unanswered\":1,\"incomplete\":0,\"open\":0,\
             \"failure_ratio\":0.5,\"server_rtt_ns\":{\"count\":1,\"p50\":30079000,\
             \"p90\":30079000,\"p99\":30079000,\"max\":30079000},\"client_rtt_ns\":null}"
        );
    }
}
