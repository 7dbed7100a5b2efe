//! Alert lines as JSON: [`alert_json`] turns a typed
//! [`pipeline::detect::Alert`] into the object DESIGN.md's alert contract
//! and the `--alerts` lines show. Fields are in output order; an ended
//! alert adds `end_ts_ns` and `peak_pps` at the end.

use super::handshake::StatsJson;
use pipeline::detect::{
    Alert, Evidence, HostEvidence, Latency, PrefixEvidence, Protocols, Rate, ServiceEvidence,
};
use pipeline::TopItem;
use serde::Serialize;
use serde_json::Value;
use sketches::Estimate;

/// One alert line.
#[derive(Serialize)]
struct Line<'a> {
    event: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
    victim: &'a str,
    hostgroup: &'a str,
    start_ts_ns: u64,
    detected_ts_ns: u64,
    ts_ns: u64,
    window: Window,
    evidence: EvidenceJson<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    end_ts_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peak_pps: Option<f64>,
}

#[derive(Serialize)]
struct Window {
    start_ts_ns: u64,
    end_ts_ns: u64,
}

#[derive(Serialize)]
#[serde(untagged)]
enum EvidenceJson<'a> {
    Host(HostJson<'a>),
    Prefix(PrefixJson<'a>),
    Service(ServiceJson),
}

/// A rate with its bounds.
#[derive(Serialize)]
struct RateJson {
    value: f64,
    lower: f64,
    upper: f64,
}

impl From<Rate> for RateJson {
    fn from(r: Rate) -> RateJson {
        RateJson {
            value: r.value,
            lower: r.lower,
            upper: r.upper,
        }
    }
}

/// An estimate as detection reports it (not rounded).
#[derive(Serialize)]
struct EstimateJson {
    value: f64,
    lower: f64,
    upper: f64,
    confidence: f64,
}

impl From<Estimate> for EstimateJson {
    fn from(e: Estimate) -> EstimateJson {
        EstimateJson {
            value: e.value,
            lower: e.lower,
            upper: e.upper,
            confidence: e.confidence,
        }
    }
}

#[derive(Serialize)]
struct ProtocolsJson {
    tcp_syn_pps: RateJson,
    tcp_synack_out_pps: RateJson,
    tcp_unanswered_syn_pps: RateJson,
    icmp_pps: RateJson,
    udp_reflector_pps: RateJson,
}

impl From<Protocols> for ProtocolsJson {
    fn from(p: Protocols) -> ProtocolsJson {
        ProtocolsJson {
            tcp_syn_pps: p.tcp_syn_pps.into(),
            tcp_synack_out_pps: p.tcp_synack_out_pps.into(),
            tcp_unanswered_syn_pps: p.tcp_unanswered_syn_pps.into(),
            icmp_pps: p.icmp_pps.into(),
            udp_reflector_pps: p.udp_reflector_pps.into(),
        }
    }
}

#[derive(Serialize)]
struct SourceJson<'a> {
    key: &'a str,
    packets: u64,
    lower: u64,
    upper: u64,
}

impl<'a> From<&'a TopItem> for SourceJson<'a> {
    fn from(t: &'a TopItem) -> SourceJson<'a> {
        SourceJson {
            key: &t.key,
            packets: t.value,
            lower: t.lower,
            upper: t.upper,
        }
    }
}

#[derive(Serialize)]
struct BaselineJson {
    mean: f64,
    stddev: f64,
    epochs: u32,
}

#[derive(Serialize)]
struct HostJson<'a> {
    pps: RateJson,
    bps: RateJson,
    reply_pps: RateJson,
    protocols: ProtocolsJson,
    flows_per_s: Option<EstimateJson>,
    distinct_sources: Option<EstimateJson>,
    top_sources: Vec<SourceJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    baseline_pps: Option<BaselineJson>,
}

impl<'a> From<&'a HostEvidence> for HostJson<'a> {
    fn from(h: &'a HostEvidence) -> HostJson<'a> {
        HostJson {
            pps: h.pps.into(),
            bps: h.bps.into(),
            reply_pps: h.reply_pps.into(),
            protocols: h.protocols.into(),
            flows_per_s: h.flows_per_s.map(Into::into),
            distinct_sources: h.distinct_sources.map(Into::into),
            top_sources: h.top_sources.iter().map(Into::into).collect(),
            baseline_pps: h.baseline.map(|b| BaselineJson {
                mean: b.mean,
                stddev: b.stddev,
                epochs: b.epochs,
            }),
        }
    }
}

#[derive(Serialize)]
struct HostRateJson<'a> {
    key: &'a str,
    pps: RateJson,
}

#[derive(Serialize)]
struct PrefixJson<'a> {
    pps: RateJson,
    top_hosts: Vec<HostRateJson<'a>>,
    threshold_pps: f64,
}

impl<'a> From<&'a PrefixEvidence> for PrefixJson<'a> {
    fn from(p: &'a PrefixEvidence) -> PrefixJson<'a> {
        PrefixJson {
            pps: p.pps.into(),
            top_hosts: p
                .top_hosts
                .iter()
                .map(|h| HostRateJson {
                    key: &h.key,
                    pps: h.pps.into(),
                })
                .collect(),
            threshold_pps: p.threshold_pps,
        }
    }
}

#[derive(Serialize)]
struct LatencyJson {
    side: &'static str,
    quantile: f64,
    lower_ns: Option<u64>,
    upper_ns: Option<u64>,
    threshold_ms: f64,
}

impl From<Latency> for LatencyJson {
    fn from(l: Latency) -> LatencyJson {
        LatencyJson {
            side: l.side.as_str(),
            quantile: l.quantile,
            lower_ns: l.lower_ns,
            upper_ns: l.upper_ns,
            threshold_ms: l.threshold_ms,
        }
    }
}

/// The service's handshake figures (as the services report shows them),
/// then what the SLA rule judged.
#[derive(Serialize)]
struct ServiceJson {
    #[serde(flatten)]
    stats: StatsJson,
    outcomes: u64,
    missed_events_upper: u64,
    latency: LatencyJson,
    failure_threshold: f64,
}

impl From<&ServiceEvidence> for ServiceJson {
    fn from(s: &ServiceEvidence) -> ServiceJson {
        ServiceJson {
            stats: StatsJson::from(&s.stats),
            outcomes: s.outcomes,
            missed_events_upper: s.missed_events_upper,
            latency: s.latency.into(),
            failure_threshold: s.failure_threshold,
        }
    }
}

/// An alert line as its JSON object.
pub fn alert_json(a: &Alert) -> Value {
    let evidence = match &a.evidence {
        Evidence::Host(h) => EvidenceJson::Host(h.as_ref().into()),
        Evidence::Prefix(p) => EvidenceJson::Prefix(p.into()),
        Evidence::Service(s) => EvidenceJson::Service(s.as_ref().into()),
    };
    let line = Line {
        event: a.event.as_str(),
        kind: a.kind.as_str(),
        victim: &a.victim,
        hostgroup: &a.hostgroup,
        start_ts_ns: a.start_ts_ns,
        detected_ts_ns: a.detected_ts_ns,
        ts_ns: a.ts_ns,
        window: Window {
            start_ts_ns: a.window.start_ts_ns,
            end_ts_ns: a.window.end_ts_ns,
        },
        evidence,
        end_ts_ns: a.ended.map(|e| e.end_ts_ns),
        peak_pps: a.ended.map(|e| e.peak_pps),
    };
    // Only string keys and numbers: serialising to a `Value` cannot fail.
    serde_json::to_value(line).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pipeline::detect::{AlertKind, Baseline, Ended, Event, HostEvidence, Protocols, Span};

    #[test]
    fn a_baseline_change_that_ended_renders_in_the_contract_order() {
        let r = |v: f64| Rate {
            value: v,
            lower: v / 2.0,
            upper: v,
        };
        let e = Estimate {
            value: 3.0,
            lower: 2.0,
            upper: 4.0,
            confidence: 0.9545,
        };
        let evidence = HostEvidence {
            pps: r(2.0),
            bps: r(16.0),
            reply_pps: r(0.0),
            protocols: Protocols {
                tcp_syn_pps: r(0.0),
                tcp_synack_out_pps: r(0.0),
                tcp_unanswered_syn_pps: r(0.0),
                icmp_pps: r(0.0),
                udp_reflector_pps: r(2.0),
            },
            flows_per_s: Some(e),
            distinct_sources: None,
            top_sources: vec![TopItem {
                key: "192.0.2.1".into(),
                value: 2,
                lower: 1,
                upper: 2,
            }],
            baseline: Some(Baseline {
                mean: 0.5,
                stddev: 0.25,
                epochs: 6,
            }),
        };
        let a = Alert {
            event: Event::End,
            kind: AlertKind::BaselineChange,
            victim: "10.0.0.6".into(),
            hostgroup: "any".into(),
            start_ts_ns: 1,
            detected_ts_ns: 2,
            ts_ns: 5,
            window: Span {
                start_ts_ns: 1,
                end_ts_ns: 2,
            },
            evidence: Evidence::Host(Box::new(evidence)),
            ended: Some(Ended {
                end_ts_ns: 5,
                peak_pps: 2.0,
            }),
        };
        let rate = |v: &str, l: &str| format!(r#"{{"value":{v},"lower":{l},"upper":{v}}}"#);
        let (zero, two) = (rate("0.0", "0.0"), rate("2.0", "1.0"));
        let want = format!(
            concat!(
                r#"{{"event":"end","type":"baseline_change","victim":"10.0.0.6","hostgroup":"any","#,
                r#""start_ts_ns":1,"detected_ts_ns":2,"ts_ns":5,"#,
                r#""window":{{"start_ts_ns":1,"end_ts_ns":2}},"#,
                r#""evidence":{{"pps":{two},"bps":{bps},"reply_pps":{zero},"#,
                r#""protocols":{{"tcp_syn_pps":{zero},"tcp_synack_out_pps":{zero},"#,
                r#""tcp_unanswered_syn_pps":{zero},"icmp_pps":{zero},"udp_reflector_pps":{two}}},"#,
                r#""flows_per_s":{{"value":3.0,"lower":2.0,"upper":4.0,"confidence":0.9545}},"#,
                r#""distinct_sources":null,"#,
                r#""top_sources":[{{"key":"192.0.2.1","packets":2,"lower":1,"upper":2}}],"#,
                r#""baseline_pps":{{"mean":0.5,"stddev":0.25,"epochs":6}}}},"#,
                r#""end_ts_ns":5,"peak_pps":2.0}}"#
            ),
            two = two,
            zero = zero,
            bps = rate("16.0", "8.0"),
        );
        assert_eq!(alert_json(&a).to_string(), want);
    }
}
