//! The flow-input parts of a report (NetFlow, IPFIX, sFlow): records,
//! datagrams, templates, sFlow samples and interface counters, and errors
//! by exporter, in JSON and as text rows.

use serde_json::{json, Map, Value};

use super::format::thousands;

/// Flow-input figures of a summary: records, datagrams, templates, sFlow
/// samples and interface counters, errors by exporter. (Errors by reason go
/// into the summary's `errors` with [`flow_errors_into`].)
pub fn flow_json(
    c: &capture::flows::FlowCounts,
    interfaces: &[capture::sflow::SflowInterface],
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("flow_records".into(), json!(c.records));
    m.insert("flow_datagrams".into(), json!(c.datagrams));
    m.insert("flow_templates".into(), json!(c.templates));
    let mut by_exporter = Map::new();
    for ((ip, reason), n) in &c.exporter_errors {
        let e = by_exporter
            .entry(ip.to_string())
            .or_insert_with(|| json!({}));
        e[*reason] = json!(n);
    }
    m.insert("flow_errors_by_exporter".into(), Value::Object(by_exporter));
    if c.sflow_flow_samples + c.sflow_counter_samples + c.sflow_other_samples > 0 {
        let ifs: Vec<Value> = interfaces
            .iter()
            .map(|i| {
                json!({
                    "agent": i.agent.to_string(), "if_index": i.if_index,
                    "speed_bps": i.speed_bps, "oper_up": i.oper_up,
                    "in_octets": i.in_octets, "in_packets": i.in_packets,
                    "in_discards": i.in_discards, "in_errors": i.in_errors,
                    "out_octets": i.out_octets, "out_packets": i.out_packets,
                    "out_discards": i.out_discards, "out_errors": i.out_errors,
                    "uptime_ms": i.uptime_ms,
                })
            })
            .collect();
        m.insert(
            "sflow".into(),
            json!({
                "flow_samples": c.sflow_flow_samples,
                "counter_samples": c.sflow_counter_samples,
                "other_samples": c.sflow_other_samples,
                "non_ip_samples": c.sflow_non_ip,
                "unknown_header_samples": c.sflow_unknown_header,
                "agent_drops": c.sflow_agent_drops,
                "interfaces_not_kept": c.sflow_interfaces_dropped,
                "interfaces": ifs,
            }),
        );
    }
    m
}

/// Adds the flow decoder's errors by reason to a summary's `errors`.
pub fn flow_errors_into(summary: &mut Value, c: &capture::flows::FlowCounts) {
    for (reason, n) in c.errors.iter() {
        summary["errors"][reason.reason()] = json!(n);
    }
}

/// The text report's `flow records` row (and an `sflow` row when sFlow
/// came in).
pub fn flow_rows(c: &capture::flows::FlowCounts) -> Vec<(String, String)> {
    let errs: Vec<String> = c.errors.iter().map(|(r, n)| format!("{r} {n}")).collect();
    let mut rows = vec![(
        "flow records".to_string(),
        format!(
            "{} from {} datagrams, {} templates; given up: {}",
            thousands(c.records),
            thousands(c.datagrams),
            thousands(c.templates),
            if errs.is_empty() {
                "none".to_string()
            } else {
                errs.join(", ")
            }
        ),
    )];
    if c.sflow_flow_samples + c.sflow_counter_samples > 0 {
        rows.push((
            "sflow".to_string(),
            format!(
                "{} flow samples ({} not IP), {} counter samples, agents dropped {}",
                thousands(c.sflow_flow_samples),
                thousands(c.sflow_non_ip),
                thousands(c.sflow_counter_samples),
                thousands(c.sflow_agent_drops)
            ),
        ));
    }
    rows
}
