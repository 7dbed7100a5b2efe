//! Table-driven tests of the detection rules and the alert lifecycle: each
//! case is a list of epochs of traffic and the alert lines expected, by
//! epoch (see `builder.rs`).

mod builder;

use builder::{bg, check, times, Answer, Epoch, Flood, Line};

use super::{AlertKind, DetectConfig, Event, Evidence, HostGroup};

/// Start, an update per further epoch of the flood, end after the third
/// quiet epoch.
fn lifecycle(kind: AlertKind, victim: &'static str, flood: u64, end: u64) -> Vec<Line> {
    let mut v = vec![(0, Event::Start, kind, victim)];
    v.extend((1..flood).map(|e| (e, Event::Update, kind, victim)));
    v.push((end, Event::End, kind, victim));
    v
}

#[test]
fn every_dos_rule_starts_updates_and_ends_its_alert() {
    use AlertKind::*;
    // What, the flood (kind, packets per second, sources), the alert.
    let floods = [
        ("unanswered SYNs", Flood::Syn, 5_000, 50, SynFlood),
        ("reflector UDP", Flood::Amp, 5_000, 50, UdpAmplification),
        ("ICMP", Flood::Icmp, 5_000, 50, IcmpFlood),
        ("many sources", Flood::Udp, 3_000, 1_500, DistributedFlood),
        ("a few sources", Flood::Udp, 20_000, 10, Volumetric),
    ];
    let mut cases: Vec<(&str, Epoch, AlertKind, &str)> = floods
        .into_iter()
        .map(|(name, f, pps, n, kind)| (name, bg().flood("10.0.0.1", f, pps, n), kind, "10.0.0.1"))
        .collect();
    // 250 hosts at 30 packets per second each: no host over a threshold.
    let spread = bg().spread([10, 5, 5], 250, 30);
    cases.push((
        "a /24 over prefix_pps",
        spread,
        CarpetBombing,
        "10.5.5.0/24",
    ));
    for (name, flood, kind, victim) in cases {
        // Three epochs of flood, then background: ended by the third quiet
        // epoch.
        let epochs = [times(3, flood), times(4, bg())].concat();
        let want = lifecycle(kind, victim, 3, 5);
        check(name, DetectConfig::default(), &epochs, &want);
    }
}

#[test]
fn an_alert_ends_on_a_quiet_link_with_no_traffic_at_all() {
    let flood = Epoch::quiet().flood("10.0.0.1", Flood::Syn, 5_000, 50);
    let epochs = [times(2, flood), times(4, Epoch::quiet())].concat();
    let want = lifecycle(AlertKind::SynFlood, "10.0.0.1", 2, 4);
    check("quiet link", DetectConfig::default(), &epochs, &want);
}

#[test]
fn start_epochs_and_end_epochs_are_the_configured_ones() {
    let cfg = DetectConfig {
        start_epochs: 2,
        end_epochs: 1,
        ..DetectConfig::default()
    };
    let flood = bg().flood("10.0.0.3", Flood::Icmp, 5_000, 50);
    let k = AlertKind::IcmpFlood;
    // One epoch of flood is not enough; three start at the second.
    let epochs = [
        vec![flood.clone(), Epoch::quiet().background()],
        times(3, flood),
        times(2, Epoch::quiet().background()),
    ]
    .concat();
    let want = [
        (3, Event::Start, k, "10.0.0.3"),
        (4, Event::Update, k, "10.0.0.3"),
        (5, Event::End, k, "10.0.0.3"),
    ];
    check("start 2, end 1", cfg, &epochs, &want);
}

#[test]
fn answered_traffic_is_a_flash_crowd_not_a_flood() {
    for (name, epoch) in [
        (
            "volumetric, answered",
            bg().flood("10.0.0.5", Flood::Udp, 20_000, 10)
                .replies("10.0.0.5", 10_000),
        ),
        (
            "many sources, answered",
            bg().flood("10.0.0.4", Flood::Udp, 3_000, 1_500)
                .replies("10.0.0.4", 1_000),
        ),
    ] {
        check(name, DetectConfig::default(), &times(4, epoch), &[]);
    }
    // Below answered_ratio (0.25) it is a flood again.
    let under = bg()
        .flood("10.0.0.5", Flood::Udp, 20_000, 10)
        .replies("10.0.0.5", 4_000);
    let want = lifecycle(AlertKind::Volumetric, "10.0.0.5", 2, 4);
    let epochs = [times(2, under), times(3, bg())].concat();
    check("answered 20%", DetectConfig::default(), &epochs, &want);
}

#[test]
fn a_host_far_above_its_learned_normal_is_a_baseline_change() {
    let normal = bg().flood("10.0.0.6", Flood::Udp, 100, 5);
    let surge = bg().flood("10.0.0.6", Flood::Udp, 3_000, 5);
    let k = AlertKind::BaselineChange;
    let epochs = [times(8, normal.clone()), times(2, surge), times(3, normal)].concat();
    let want = [
        (8, Event::Start, k, "10.0.0.6"),
        (9, Event::Update, k, "10.0.0.6"),
        (12, Event::End, k, "10.0.0.6"),
    ];
    check("baseline", DetectConfig::default(), &epochs, &want);
    // Without warm-up history the same surge raises nothing.
    let surge = bg().flood("10.0.0.6", Flood::Udp, 3_000, 5);
    check("no history", DetectConfig::default(), &times(3, surge), &[]);
}

#[test]
fn carpet_bombing_needs_a_spread_unanswered_prefix() {
    // One host carrying the prefix is that host's traffic.
    let one = bg()
        .spread([10, 5, 5], 250, 2)
        .flood("10.5.5.7", Flood::Udp, 6_000, 3);
    // Under prefix_pps (5,000).
    let thin = bg().spread([10, 5, 5], 250, 15);
    for (name, e) in [("one heavy host", one), ("under threshold", thin)] {
        check(name, DetectConfig::default(), &times(3, e), &[]);
    }
}

#[test]
fn sla_alerts_hold_their_epochs_and_end() {
    let srv = "10.0.0.9:443";
    for (name, answer, kind) in [
        ("refused", Answer::Refused, AlertKind::SlaFailures),
        ("slow", Answer::After(300), AlertKind::SlaLatency),
    ] {
        let bad = bg().handshakes("10.0.0.9", 443, 40, answer);
        let good = bg().handshakes("10.0.0.9", 443, 40, Answer::After(5));
        let epochs = [times(5, bad), times(4, good)].concat();
        // Held 3 epochs (the default), so it starts in the third.
        let want = [
            (2, Event::Start, kind, srv),
            (3, Event::Update, kind, srv),
            (4, Event::Update, kind, srv),
            (7, Event::End, kind, srv),
        ];
        check(name, DetectConfig::default(), &epochs, &want);
    }
    // Fast and answered: nothing.
    let good = bg().handshakes("10.0.0.9", 443, 40, Answer::After(5));
    check("healthy", DetectConfig::default(), &times(5, good), &[]);
}

#[test]
fn a_service_on_a_host_under_a_dos_alert_raises_no_sla_alert() {
    // The flood's SYNs (to port 80) time out unanswered after 3 s, and the
    // host refuses port 443 meanwhile: both are the attack's, not SLA.
    let attacked = bg().flood("10.0.0.1", Flood::Syn, 5_000, 50).handshakes(
        "10.0.0.1",
        443,
        40,
        Answer::Refused,
    );
    let after = bg().handshakes("10.0.0.1", 443, 40, Answer::Refused);
    let epochs = [times(4, attacked), times(6, after)].concat();
    let want = lifecycle(AlertKind::SynFlood, "10.0.0.1", 4, 6);
    check("cooldown", DetectConfig::default(), &epochs, &want);
}

#[test]
fn hostgroups_and_the_whitelist_decide_what_is_protected() {
    let flood = || bg().flood("10.0.0.1", Flood::Syn, 700, 50);
    let epochs = [times(2, flood()), times(3, bg())].concat();
    let group = |name: &str, nets: &[&str], syn_pps: f64| HostGroup {
        name: name.into(),
        networks: nets.iter().map(|n| n.parse().expect("a prefix")).collect(),
        syn_pps,
        ..HostGroup::default()
    };
    let with = |groups: Vec<HostGroup>, whitelist: &[&str]| DetectConfig {
        hostgroups: groups,
        whitelist: whitelist
            .iter()
            .map(|n| n.parse().expect("a prefix"))
            .collect(),
        ..DetectConfig::default()
    };
    // 700 SYN/s: under the default 1,000.
    check("default", DetectConfig::default(), &epochs, &[]);
    let servers = || group("servers", &["10.0.0.0/16"], 500.0);
    let dmz = group("dmz", &["192.0.2.0/24", "2001:db8::/32"], 500.0);
    check("not covered", with(vec![dmz.clone()], &[]), &epochs, &[]);
    check(
        "whitelisted",
        with(vec![servers()], &["10.0.0.1"]),
        &epochs,
        &[],
    );
    let want = lifecycle(AlertKind::SynFlood, "10.0.0.1", 2, 4);
    // First match wins: the dmz group does not hold it, servers does.
    let got = check("servers", with(vec![dmz, servers()], &[]), &epochs, &want);
    assert_eq!(got[0].hostgroup, "servers");
}

#[test]
fn new_flows_alone_make_a_volumetric_alert() {
    let cfg = DetectConfig {
        hostgroups: vec![HostGroup {
            pps: 1e9,
            bps: 1e12,
            syn_pps: 1e9,
            udp_amp_pps: 1e9,
            icmp_pps: 1e9,
            distinct_sources: 1e9,
            prefix_pps: 1e9,
            baseline: false,
            flows: 2_000.0,
            ..HostGroup::default()
        }],
        ..DetectConfig::default()
    };
    let flood = bg().flood("10.0.0.5", Flood::Udp, 3_000, 3_000);
    let epochs = [times(2, flood), times(3, bg())].concat();
    let want = lifecycle(AlertKind::Volumetric, "10.0.0.5", 2, 4);
    let got = check("flows", cfg, &epochs, &want);
    let Evidence::Host(h) = &got[0].evidence else {
        panic!("host evidence: {got:?}");
    };
    let flows = h.flows_per_s.expect("flows tracked for the victim");
    assert!(
        flows.lower >= 2_000.0 && flows.lower <= flows.upper,
        "{flows:?}"
    );
}
