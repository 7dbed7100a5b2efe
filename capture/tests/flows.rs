//! Flow export decoding: hand-built NetFlow v5/v9 and IPFIX datagrams with
//! known contents, data before its template, sampling from options data
//! (PSAMP selectors included), bounded and shared memory, per-exporter
//! fairness, template timeouts, and garbage that must never panic.

use std::sync::Arc;

use capture::flows::{FlowDecoder, FlowError, Limits, SharedBudget, HELD_OVERHEAD};
use capture::{tcp_flags, FlowUpdate, Ip, ProtocolCounts, Totals};
use proptest::prelude::*;

const EXPORTER: (Ip, u16) = (Ip(0xffff_0a00_0001), 2055);

fn u16b(v: &mut Vec<u8>, x: u16) {
    v.extend_from_slice(&x.to_be_bytes());
}
fn u32b(v: &mut Vec<u8>, x: u32) {
    v.extend_from_slice(&x.to_be_bytes());
}

/// A v9 header with `sets` appended.
fn v9(sets: &[Vec<u8>]) -> Vec<u8> {
    let mut d = Vec::new();
    u16b(&mut d, 9);
    u16b(&mut d, sets.len() as u16);
    u32b(&mut d, 100_000); // sysUptime, ms
    u32b(&mut d, 1_700_000_000); // unix secs
    u32b(&mut d, 1); // sequence
    u32b(&mut d, 7); // source id
    for s in sets {
        d.extend_from_slice(s);
    }
    d
}

fn set(id: u16, body: &[u8]) -> Vec<u8> {
    let mut s = Vec::new();
    u16b(&mut s, id);
    u16b(&mut s, (body.len() + 4) as u16);
    s.extend_from_slice(body);
    s
}

/// Template 300: src4, dst4, sport, dport, proto, bytes(4), packets(4),
/// last switched (21).
fn v9_template() -> Vec<u8> {
    let mut b = Vec::new();
    u16b(&mut b, 300);
    u16b(&mut b, 8);
    for (id, len) in [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (1, 4),
        (2, 4),
        (21, 4),
    ] {
        u16b(&mut b, id);
        u16b(&mut b, len);
    }
    set(0, &b)
}

fn v9_record(b: &mut Vec<u8>, src: [u8; 4], bytes: u32, packets: u32) {
    b.extend_from_slice(&src);
    b.extend_from_slice(&[10, 0, 0, 9]);
    u16b(b, 40000);
    u16b(b, 443);
    b.push(6);
    u32b(b, bytes);
    u32b(b, packets);
    u32b(b, 99_000); // ended 1 s before the export
}

fn decode(dec: &mut FlowDecoder, d: &[u8]) -> Vec<FlowUpdate> {
    let mut out = Vec::new();
    let _ = dec.decode(EXPORTER, d, 0, &mut out);
    out
}

#[test]
fn v9_records_decode_with_their_fields_and_end_time() {
    let mut dec = FlowDecoder::new(Limits::default());
    let mut data = Vec::new();
    v9_record(&mut data, [192, 0, 2, 1], 1500, 3);
    v9_record(&mut data, [192, 0, 2, 2], 600, 1);
    // Two bytes of padding after the records.
    data.extend_from_slice(&[0, 0]);
    let out = decode(&mut dec, &v9(&[v9_template(), set(300, &data)]));
    assert_eq!(out.len(), 2, "{:?}", dec.counts);
    let u = &out[0];
    assert_eq!(u.src, Ip::v4([192, 0, 2, 1]));
    assert_eq!(u.dst, Ip::v4([10, 0, 0, 9]));
    assert_eq!((u.sport, u.dport, u.proto), (40000, 443, 6));
    assert_eq!((u.bytes, u.packets, u.sampling_rate), (1500, 3, 1));
    assert_eq!(u.ts_ns, 1_699_999_999_000_000_000);
    assert!(dec.counts.errors.is_empty(), "{:?}", dec.counts);
}

#[test]
fn data_before_its_template_is_held_and_decoded_when_it_comes() {
    let mut dec = FlowDecoder::new(Limits::default());
    let mut data = Vec::new();
    v9_record(&mut data, [192, 0, 2, 1], 100, 1);
    assert!(decode(&mut dec, &v9(&[set(300, &data)])).is_empty());
    let out = decode(&mut dec, &v9(&[v9_template()]));
    assert_eq!(out.len(), 1);
    assert_eq!(dec.counts.pending_decoded, 1);
    // A data set whose template never comes is given up, and counted.
    assert!(decode(&mut dec, &v9(&[set(301, &data)])).is_empty());
    dec.finish();
    assert_eq!(dec.counts.errors.get(FlowError::MissingTemplate), 1);
}

#[test]
fn sampling_from_options_data_scales_the_records() {
    let mut dec = FlowDecoder::new(Limits::default());
    // Options template 400: scope System (1, len 4), sampling interval (34,
    // len 4).
    let mut ot = Vec::new();
    u16b(&mut ot, 400);
    u16b(&mut ot, 4);
    u16b(&mut ot, 4);
    for (id, len) in [(1u16, 4u16), (34, 4)] {
        u16b(&mut ot, id);
        u16b(&mut ot, len);
    }
    let mut od = Vec::new();
    u32b(&mut od, 0);
    u32b(&mut od, 100);
    let mut data = Vec::new();
    v9_record(&mut data, [192, 0, 2, 1], 1000, 2);
    let out = decode(
        &mut dec,
        &v9(&[set(1, &ot), set(400, &od), v9_template(), set(300, &data)]),
    );
    assert_eq!(out.len(), 1);
    assert_eq!(
        (out[0].bytes, out[0].packets, out[0].sampling_rate),
        (100_000, 200, 100)
    );
    // An override wins over what the exporter says.
    let mut dec = FlowDecoder::new(Limits {
        override_sampling: Some(10),
        ..Limits::default()
    });
    let out = decode(
        &mut dec,
        &v9(&[set(1, &ot), set(400, &od), v9_template(), set(300, &data)]),
    );
    assert_eq!((out[0].bytes, out[0].sampling_rate), (10_000, 10));
}

#[test]
fn ipfix_variable_length_and_enterprise_fields_are_skipped_correctly() {
    // Template 500: enterprise field (E bit, id 1, len 2, PEN 9), src6,
    // dst6, variable-length field (id 82 interfaceName), octets in 2 bytes
    // (reduced size), flowEndMilliseconds.
    let mut t = Vec::new();
    u16b(&mut t, 500);
    u16b(&mut t, 6);
    u16b(&mut t, 0x8001);
    u16b(&mut t, 2);
    u32b(&mut t, 9);
    for (id, len) in [(27u16, 16u16), (28, 16), (82, 65535), (1, 2), (153, 8)] {
        u16b(&mut t, id);
        u16b(&mut t, len);
    }
    let mut rec = vec![0xab, 0xcd];
    rec.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    rec.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    rec.push(4);
    rec.extend_from_slice(b"eth0");
    u16b(&mut rec, 1234);
    rec.extend_from_slice(&1_700_000_000_123u64.to_be_bytes());
    let sets = [set(2, &t), set(500, &rec)];
    let len: usize = 16 + sets.iter().map(Vec::len).sum::<usize>();
    let mut d = Vec::new();
    u16b(&mut d, 10);
    u16b(&mut d, len as u16);
    u32b(&mut d, 1_700_000_001);
    u32b(&mut d, 0);
    u32b(&mut d, 42);
    for s in &sets {
        d.extend_from_slice(s);
    }
    let mut dec = FlowDecoder::new(Limits::default());
    let out = decode(&mut dec, &d);
    assert_eq!(out.len(), 1, "{:?}", dec.counts);
    assert_eq!(out[0].src.to_string(), "2001:db8::1");
    assert_eq!(out[0].dst.to_string(), "2001:db8::2");
    assert_eq!(out[0].bytes, 1234);
    assert_eq!(out[0].ts_ns, 1_700_000_000_123_000_000);
}

#[test]
fn v5_records_and_header_sampling() {
    let mut d = Vec::new();
    u16b(&mut d, 5);
    u16b(&mut d, 1);
    u32b(&mut d, 10_000);
    u32b(&mut d, 1_700_000_000);
    u32b(&mut d, 0);
    u32b(&mut d, 0);
    d.extend_from_slice(&[0, 0]);
    u16b(&mut d, 0x4000 | 64); // mode 1, interval 64
    let mut r = vec![198, 51, 100, 7, 10, 0, 0, 1, 0, 0, 0, 0];
    r.extend_from_slice(&[0; 4]); // input, output
    r.extend_from_slice(&5u32.to_be_bytes());
    r.extend_from_slice(&700u32.to_be_bytes());
    r.extend_from_slice(&9_000u32.to_be_bytes());
    r.extend_from_slice(&9_500u32.to_be_bytes());
    r.extend_from_slice(&53u16.to_be_bytes());
    r.extend_from_slice(&3333u16.to_be_bytes());
    r.extend_from_slice(&[0, 0, 17, 0]);
    r.extend_from_slice(&[0; 8]);
    d.extend_from_slice(&r);
    let mut dec = FlowDecoder::new(Limits::default());
    let out = decode(&mut dec, &d);
    assert_eq!(out.len(), 1);
    let u = &out[0];
    assert_eq!((u.packets, u.bytes, u.sampling_rate), (320, 44_800, 64));
    assert_eq!((u.sport, u.dport, u.proto), (53, 3333, 17));
    assert_eq!(u.ts_ns, 1_699_999_999_500_000_000);
    // A count beyond the datagram is refused whole.
    d[3] = 2;
    assert!(decode(&mut dec, &d).is_empty());
    assert_eq!(dec.counts.errors.get(FlowError::BadCount), 1);
}

#[test]
fn a_template_flood_is_bounded_and_counted() {
    let mut dec = FlowDecoder::new(Limits {
        templates_per_exporter: 100,
        ..Limits::default()
    });
    for id in 256..1256u16 {
        let mut b = Vec::new();
        u16b(&mut b, id);
        u16b(&mut b, 1);
        u16b(&mut b, 8);
        u16b(&mut b, 4);
        decode(&mut dec, &v9(&[set(0, &b)]));
    }
    assert_eq!(dec.counts.templates, 100);
    assert_eq!(dec.counts.errors.get(FlowError::TemplateLimit), 900);
}

/// An sFlow v5 datagram from agent 192.0.2.9: one flow sample (1 in
/// `rate`) whose raw header is an Ethernet/IPv4/TCP SYN of `ip_len` IP
/// bytes, one ARP flow sample, and one counter sample with generic
/// interface counters for ifIndex 7.
fn sflow(rate: u32, ip_len: u16) -> Vec<u8> {
    let mut d = Vec::new();
    for w in [5u32, 1] {
        u32b(&mut d, w);
    }
    d.extend_from_slice(&[192, 0, 2, 9]);
    for w in [0u32, 42, 123_000, 3] {
        u32b(&mut d, w); // sub-agent, sequence, uptime ms, samples
    }
    let frame = |ethertype: u16, ip: &[u8]| {
        let mut f = vec![0u8; 12];
        u16b(&mut f, ethertype);
        f.extend_from_slice(ip);
        f
    };
    let mut ip = vec![0x45, 0];
    u16b(&mut ip, ip_len);
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 6, 0, 0, 198, 51, 100, 1, 203, 0, 113, 5]);
    // TCP: 40000 -> 443, seq 1, SYN.
    for w in [40000u16, 443, 0, 1, 0, 0, 0x5002, 1024, 0, 0] {
        u16b(&mut ip, w);
    }
    let flow_sample = |header: &[u8], protocol: u32| {
        let mut rec = Vec::new();
        for w in [protocol, 1514, 4, header.len() as u32] {
            u32b(&mut rec, w);
        }
        rec.extend_from_slice(header);
        while rec.len() % 4 != 0 {
            rec.push(0);
        }
        let mut s = Vec::new();
        for w in [1u32, 3, rate, rate * 10, 2, 1, 2, 1, 1, rec.len() as u32] {
            u32b(&mut s, w); // seq, source, rate, pool, drops, in, out, records, format, len
        }
        s.extend_from_slice(&rec);
        s
    };
    let samples = [
        (1u32, flow_sample(&frame(0x0800, &ip), 1)),
        (1, flow_sample(&frame(0x0806, &[0u8; 28]), 1)),
        (2, {
            let mut c = Vec::new();
            for w in [1u32, 7, 1, 1, 88, 7, 6] {
                u32b(&mut c, w); // seq, source, records, format, len, ifIndex, ifType
            }
            for w in [0u32, 1_000_000_000, 1, 3] {
                u32b(&mut c, w); // speed (u64), direction, status (admin+oper up)
            }
            for w in [0u32, 5000, 10, 2, 1, 3, 4, 0, 0, 9000, 20, 0, 0, 5, 6, 0] {
                u32b(&mut c, w); // in octets (u64), in ucast/mcast/bcast, discards, errors,
                                 // unknown, out octets (u64), out ucast/mcast/bcast, discards, errors, promisc
            }
            c
        }),
    ];
    for (format, body) in samples {
        u32b(&mut d, format);
        u32b(&mut d, body.len() as u32);
        d.extend_from_slice(&body);
    }
    d
}

#[test]
fn sflow_samples_go_through_the_packet_parser_scaled_by_their_rate() {
    let mut dec = FlowDecoder::new(Limits::default());
    let mut out = Vec::new();
    dec.decode(EXPORTER, &sflow(512, 1000), 77, &mut out)
        .unwrap();
    assert_eq!(out.len(), 1);
    let u = out[0];
    assert_eq!(u.src, Ip::v4([198, 51, 100, 1]));
    assert_eq!(u.dst, Ip::v4([203, 0, 113, 5]));
    assert_eq!((u.sport, u.dport, u.proto), (40000, 443, 6));
    assert_eq!(u.tcp_flags, tcp_flags::SYN);
    assert_eq!((u.packets, u.bytes, u.sampling_rate), (512, 512_000, 512));
    assert_eq!((u.ts_ns, u.wire_len), (77, 0));
    let c = &dec.counts;
    assert_eq!(
        (
            c.sflow_flow_samples,
            c.sflow_counter_samples,
            c.sflow_non_ip
        ),
        (2, 1, 1)
    );
    assert_eq!(c.sflow_agent_drops, 4);
    assert!(c.errors.is_empty());
    let ifs: Vec<_> = dec.sflow_interfaces().collect();
    assert_eq!(ifs.len(), 1);
    let i = ifs[0];
    assert_eq!(
        (i.agent, i.if_index, i.speed_bps),
        (Ip::v4([192, 0, 2, 9]), 7, 1_000_000_000)
    );
    assert_eq!(
        (i.in_octets, i.in_packets, i.in_discards, i.in_errors),
        (5000, 13, 3, 4)
    );
    assert_eq!(
        (i.out_octets, i.out_packets, i.out_discards, i.out_errors),
        (9000, 20, 5, 6)
    );
    assert!(i.oper_up);
    assert_eq!(i.uptime_ms, 123_000);

    // An override wins over the sample's rate.
    let mut dec = FlowDecoder::new(Limits {
        override_sampling: Some(10),
        ..Limits::default()
    });
    let mut out = Vec::new();
    dec.decode(EXPORTER, &sflow(512, 1000), 0, &mut out)
        .unwrap();
    assert_eq!((out[0].packets, out[0].bytes), (10, 10_000));
}

#[test]
fn malformed_datagrams_are_counted_by_reason_and_exporter() {
    let mut dec = FlowDecoder::new(Limits::default());
    let mut out = Vec::new();
    let mut d = sflow(1, 60);
    d.truncate(d.len() - 30);
    assert!(dec.decode(EXPORTER, &d, 0, &mut out).is_err());
    let other = (Ip::v4([192, 0, 2, 77]), 9995);
    assert!(dec.decode(other, &[0, 9, 0], 0, &mut out).is_err());
    assert!(dec.decode(other, &[0, 42, 0, 0], 0, &mut out).is_err());
    let by = &dec.counts.exporter_errors;
    assert_eq!(by.get(&(EXPORTER.0, "flow_bad_length")), Some(&1));
    assert_eq!(by.get(&(other.0, "flow_truncated_header")), Some(&1));
    assert_eq!(by.get(&(other.0, "flow_unknown_version")), Some(&1));
    assert_eq!(dec.counts.errors.total(), 3);
}

/// A v9 template set defining `id` with one field of `len` bytes
/// (sourceIPv4Address).
fn one_field_template(id: u16, len: u16) -> Vec<u8> {
    let mut b = Vec::new();
    for w in [id, 1, 8, len] {
        u16b(&mut b, w);
    }
    set(0, &b)
}

/// `n` empty data sets (set length 4) for template ids from `first` on.
fn empty_sets(first: u16, n: u16) -> Vec<Vec<u8>> {
    (0..n).map(|i| set(first + i, &[])).collect()
}

fn exporter(last: u8, port: u16) -> (Ip, u16) {
    (Ip::v4([192, 0, 2, last]), port)
}

fn decode_from(dec: &mut FlowDecoder, from: (Ip, u16), d: &[u8], at_ns: u64) -> Vec<FlowUpdate> {
    let mut out = Vec::new();
    let _ = dec.decode(from, d, at_ns, &mut out);
    out
}

#[test]
fn empty_data_sets_for_unknown_templates_cost_their_bookkeeping() {
    // 200,000 empty sets were held at 0 bytes each (3 GB of RSS from
    // 128 MB of UDP); now each costs HELD_OVERHEAD against the limit.
    let limits = Limits::default();
    let mut dec = FlowDecoder::new(limits);
    for round in 0..600u16 {
        let sets = empty_sets(256 + round % 64, 340);
        decode_from(&mut dec, exporter(1, 2055), &v9(&sets), 0);
    }
    let (sets, bytes) = dec.held();
    let most = limits.pending_per_exporter / HELD_OVERHEAD;
    assert!(
        sets <= most,
        "{sets} empty sets held, at most {most} allowed"
    );
    assert_eq!(bytes, sets * HELD_OVERHEAD);
    let given_up = dec.counts.errors.get(FlowError::MissingTemplate);
    assert_eq!(given_up + sets as u64, 600 * 340);
}

#[test]
fn a_template_definition_releases_only_its_own_held_sets() {
    let mut dec = FlowDecoder::new(Limits::default());
    let mut data = Vec::new();
    v9_record(&mut data, [192, 0, 2, 1], 100, 1);
    // 5,000 held sets of other templates, then one of template 300.
    for round in 0..50u16 {
        decode(&mut dec, &v9(&empty_sets(400 + round, 100)));
    }
    decode(&mut dec, &v9(&[set(300, &data), set(300, &data)]));
    let before = dec.held().0;
    let out = decode(&mut dec, &v9(&[v9_template()]));
    assert_eq!(out.len(), 2);
    assert_eq!(dec.counts.pending_decoded, 2);
    assert_eq!(dec.held().0, before - 2);
}

#[test]
fn one_exporter_flooding_held_sets_leaves_another_exporters_held_data() {
    let limits = Limits {
        pending_bytes: 64 * HELD_OVERHEAD,
        pending_per_exporter: 16 * HELD_OVERHEAD,
        ..Limits::default()
    };
    let mut dec = FlowDecoder::new(limits);
    let good = exporter(2, 2055);
    let mut data = Vec::new();
    v9_record(&mut data, [192, 0, 2, 1], 100, 1);
    // The good exporter's data comes first, its template later ...
    decode_from(&mut dec, good, &v9(&[set(300, &data)]), 0);
    // ... and meanwhile a flood of held sets from one address, many ports.
    for port in 0..100u16 {
        decode_from(
            &mut dec,
            exporter(66, 10_000 + port),
            &v9(&empty_sets(256, 50)),
            0,
        );
    }
    let out = decode_from(&mut dec, good, &v9(&[v9_template()]), 0);
    assert_eq!(out.len(), 1, "{:?}", dec.counts);
    let by = &dec.counts.exporter_errors;
    assert_eq!(by.get(&(good.0, "flow_missing_template")), None);
    assert_eq!(
        by.get(&(exporter(66, 0).0, "flow_missing_template")),
        Some(&(100 * 50 - 16))
    );
}

#[test]
fn a_template_flood_from_one_address_leaves_room_for_another_exporter() {
    let limits = Limits {
        templates_per_exporter: 10,
        templates_total: 50,
        ..Limits::default()
    };
    let mut dec = FlowDecoder::new(limits);
    // One address, 100 source ports, 20 templates from each: the quota is
    // the address's, not each port's.
    for port in 0..100u16 {
        for id in 256..276 {
            decode_from(
                &mut dec,
                exporter(66, 20_000 + port),
                &v9(&[one_field_template(id, 4)]),
                0,
            );
        }
    }
    assert_eq!(dec.templates_kept(), 10);
    let good = exporter(2, 2055);
    let mut data = Vec::new();
    v9_record(&mut data, [192, 0, 2, 1], 100, 1);
    let out = decode_from(&mut dec, good, &v9(&[v9_template(), set(300, &data)]), 0);
    assert_eq!(out.len(), 1, "{:?}", dec.counts);
}

#[test]
fn a_table_filled_by_many_addresses_yields_to_a_new_exporter() {
    // The 65,536 templates filled with anyone's: a new exporter got 0
    // records. Five addresses at their quota fill a 50-template table; the
    // newcomer takes the least recently used place of the heaviest.
    let limits = Limits {
        templates_per_exporter: 10,
        templates_total: 50,
        ..Limits::default()
    };
    let mut dec = FlowDecoder::new(limits);
    for last in 60..65u8 {
        for id in 256..266 {
            decode_from(
                &mut dec,
                exporter(last, 2055),
                &v9(&[one_field_template(id, 4)]),
                0,
            );
        }
    }
    assert_eq!(dec.templates_kept(), 50);
    let good = exporter(2, 2055);
    let mut data = Vec::new();
    v9_record(&mut data, [192, 0, 2, 1], 100, 1);
    let out = decode_from(&mut dec, good, &v9(&[v9_template(), set(300, &data)]), 0);
    assert_eq!(out.len(), 1, "{:?}", dec.counts);
    assert_eq!(dec.templates_kept(), 50);
    let yielded: u64 = (60..65u8)
        .filter_map(|l| {
            dec.counts
                .exporter_errors
                .get(&(exporter(l, 0).0, "flow_template_limit"))
        })
        .sum();
    assert_eq!(yielded, 1);
    // An address at its fair share does not yield to one above it.
    let flooder = exporter(60, 2055);
    for id in 400..420 {
        decode_from(&mut dec, flooder, &v9(&[one_field_template(id, 4)]), 0);
    }
    assert_eq!(dec.templates_kept(), 50);
    let out = decode_from(&mut dec, good, &v9(&[set(300, &data)]), 0);
    assert_eq!(out.len(), 1, "the newcomer kept its template");
}

#[test]
fn the_template_table_limit_is_shared_by_every_receiving_thread() {
    // Per thread, `--threads 4` kept 262,193 templates against a 65,536 cap.
    let limits = Limits {
        templates_total: 40,
        ..Limits::default()
    };
    let budget = Arc::new(SharedBudget::default());
    let mut decoders: Vec<FlowDecoder> = (0..4)
        .map(|_| FlowDecoder::with_budget(limits, Arc::clone(&budget)))
        .collect();
    for (i, dec) in decoders.iter_mut().enumerate() {
        for id in 256..276 {
            decode_from(
                dec,
                exporter(i as u8, 2055),
                &v9(&[one_field_template(id, 4)]),
                0,
            );
        }
    }
    let kept: usize = decoders.iter().map(FlowDecoder::templates_kept).sum();
    assert_eq!((kept, budget.templates()), (40, 40));
    assert_eq!(budget.peak_templates(), 40);
    let refused: u64 = decoders
        .iter()
        .map(|d| d.counts.errors.get(FlowError::TemplateLimit))
        .sum();
    assert_eq!(refused, 40);
    // A decoder that goes gives its share back.
    decoders.truncate(1);
    assert_eq!(budget.templates(), decoders[0].templates_kept());
}

#[test]
fn idle_templates_expire_and_free_the_full_table() {
    const S: u64 = 1_000_000_000;
    let limits = Limits {
        templates_total: 4,
        template_timeout_ns: 60 * S,
        ..Limits::default()
    };
    let mut dec = FlowDecoder::new(limits);
    // Four addresses, one template each: the table is full and fair (no
    // address yields a place to a newcomer).
    let old = exporter(66, 2055);
    for last in 66..70 {
        decode_from(
            &mut dec,
            exporter(last, 2055),
            &v9(&[one_field_template(256, 4)]),
            S,
        );
    }
    // 66's template stays in use; the other three go idle.
    decode_from(&mut dec, old, &v9(&[set(256, &[10, 0, 0, 1])]), 40 * S);
    let good = exporter(2, 2055);
    let mut data = Vec::new();
    v9_record(&mut data, [192, 0, 2, 1], 100, 1);
    let full = decode_from(
        &mut dec,
        good,
        &v9(&[v9_template(), set(300, &data)]),
        30 * S,
    );
    assert!(full.is_empty(), "the table was full");
    assert_eq!(dec.counts.errors.get(FlowError::TemplateLimit), 1);
    // 62 s on: 67..69's templates are idle past the timeout, 66's is not.
    let out = decode_from(
        &mut dec,
        good,
        &v9(&[v9_template(), set(300, &data)]),
        62 * S,
    );
    // The record held since the refused attempt comes out with the new one.
    assert_eq!(out.len(), 2, "{:?}", dec.counts);
    assert_eq!(dec.counts.pending_decoded, 1);
    assert_eq!(dec.templates_kept(), 2);
    // The expired template's data is now held, not decoded.
    decode_from(
        &mut dec,
        exporter(67, 2055),
        &v9(&[set(256, &[10, 0, 0, 1])]),
        62 * S,
    );
    assert_eq!(dec.held().0, 1);
    // 0 keeps templates for the run.
    let mut dec = FlowDecoder::new(Limits {
        template_timeout_ns: 0,
        ..limits
    });
    decode_from(&mut dec, old, &v9(&[one_field_template(256, 4)]), S);
    decode_from(&mut dec, old, &v9(&[]), 1_000_000 * S);
    assert_eq!(dec.templates_kept(), 1);
}

#[test]
fn rejected_zero_length_templates_do_not_use_up_the_exporter_limit() {
    let mut dec = FlowDecoder::new(Limits::default());
    // 1,024 templates whose records would take no byte: refused, and
    // (before the fix) counted toward the exporter's 1,024.
    for id in 256..1280u16 {
        decode(&mut dec, &v9(&[one_field_template(id, 0)]));
    }
    assert_eq!(dec.counts.errors.get(FlowError::BadTemplate), 1024);
    assert_eq!(dec.templates_kept(), 0);
    let mut data = Vec::new();
    v9_record(&mut data, [192, 0, 2, 1], 100, 1);
    let out = decode(&mut dec, &v9(&[v9_template(), set(300, &data)]));
    assert_eq!(out.len(), 1, "{:?}", dec.counts);
    assert_eq!(dec.counts.errors.get(FlowError::TemplateLimit), 0);
}

#[test]
fn sampling_rate_2_32_with_a_2_63_byte_record_does_not_wrap_the_totals() {
    // Template 310: src4, dst4, octetDeltaCount in 8 bytes, packets.
    let mut t = Vec::new();
    for w in [310u16, 4, 8, 4, 12, 4, 1, 8, 2, 4] {
        u16b(&mut t, w);
    }
    let mut rec = vec![198, 51, 100, 1, 10, 0, 0, 9];
    rec.extend_from_slice(&(1u64 << 63).to_be_bytes());
    u32b(&mut rec, 1);
    let mut dec = FlowDecoder::new(Limits {
        override_sampling: Some(u32::MAX),
        ..Limits::default()
    });
    let out = decode(&mut dec, &v9(&[set(0, &t), set(310, &rec)]));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].bytes, u64::MAX);
    // Two such talkers: the traffic total stays at least either's.
    let mut p = ProtocolCounts::default();
    p.add(&out[0]);
    p.add(&out[0]);
    assert_eq!(p.ip_bytes, u64::MAX);
    let mut q = p;
    q.merge(&p);
    assert_eq!((q.ip_bytes, q.ipv4), (u64::MAX, 2 * u32::MAX as u64 * 2));
    let mut a = Totals {
        wire_bytes: u64::MAX - 1,
        packets: u64::MAX,
        ..Totals::default()
    };
    a.merge(&a.clone());
    assert_eq!((a.packets, a.wire_bytes), (u64::MAX, u64::MAX));
    let mut c = dec.counts.clone();
    c.records = u64::MAX;
    c.merge(&c.clone());
    assert_eq!(c.records, u64::MAX);
}

/// An IPFIX message of observation domain 1 with `sets` appended.
fn ipfix(sets: &[Vec<u8>]) -> Vec<u8> {
    let len: usize = 16 + sets.iter().map(Vec::len).sum::<usize>();
    let mut d = Vec::new();
    u16b(&mut d, 10);
    u16b(&mut d, len as u16);
    u32b(&mut d, 1_700_000_000);
    u32b(&mut d, 0);
    u32b(&mut d, 1);
    for s in sets {
        d.extend_from_slice(s);
    }
    d
}

/// RFC 5477 selector report: options template 257 scoped by selectorId
/// (302), with selectorAlgorithm (304) and, per `algorithm`, samplingSize
/// and samplingPopulation (309, 310: random n-out-of-N, algorithm 3) or
/// samplingPacketInterval and samplingPacketSpace (305, 306: systematic
/// count-based, algorithm 1); then its data for selector `sid`.
fn psamp_selector(sid: u64, algorithm: u16, a: u32, b: u32) -> Vec<Vec<u8>> {
    let (ia, ib) = if algorithm == 3 {
        (309, 310)
    } else {
        (305, 306)
    };
    let mut t = Vec::new();
    for w in [257u16, 4, 1, 302, 8, 304, 2, ia, 4, ib, 4] {
        u16b(&mut t, w);
    }
    let mut d = Vec::new();
    d.extend_from_slice(&sid.to_be_bytes());
    u16b(&mut d, algorithm);
    u32b(&mut d, a);
    u32b(&mut d, b);
    vec![set(3, &t), set(257, &d)]
}

/// Data template 256 (src4, dst4, octets, packets, selectorId) and
/// records of selector `sid`.
fn psamp_data(sid: u64, records: &[(u64, u64)]) -> Vec<Vec<u8>> {
    let mut t = Vec::new();
    for w in [256u16, 5, 8, 4, 12, 4, 1, 8, 2, 8, 302, 8] {
        u16b(&mut t, w);
    }
    let mut d = Vec::new();
    for &(bytes, packets) in records {
        d.extend_from_slice(&[198, 51, 100, 1, 10, 0, 0, 9]);
        d.extend_from_slice(&bytes.to_be_bytes());
        d.extend_from_slice(&packets.to_be_bytes());
        d.extend_from_slice(&sid.to_be_bytes());
    }
    vec![set(2, &t), set(256, &d)]
}

#[test]
fn psamp_random_selector_scales_records_by_its_population() {
    // A Cisco export with a 1-out-of-256 random selector: 121 packets and
    // 10,632 bytes sampled stand for 30,976 packets and 2,721,792 bytes.
    let mut dec = FlowDecoder::new(Limits::default());
    let mut sets = psamp_selector(1, 3, 1, 256);
    sets.extend(psamp_data(1, &[(10_000, 100), (632, 21)]));
    let out = decode(&mut dec, &ipfix(&sets));
    assert_eq!(out.len(), 2, "{:?}", dec.counts);
    assert!(out.iter().all(|u| u.sampling_rate == 256));
    let packets: u64 = out.iter().map(|u| u.packets as u64).sum();
    let bytes: u64 = out.iter().map(|u| u.bytes).sum();
    assert_eq!((packets, bytes), (30_976, 2_721_792));
    // Records of another selector id are not scaled by this one.
    let out = decode(&mut dec, &ipfix(&psamp_data(2, &[(100, 1)])));
    assert_eq!(out[0].sampling_rate, 1);
}

#[test]
fn psamp_systematic_selector_scales_by_interval_and_space() {
    // 1 packet selected, then 99 skipped: 1 in 100.
    let mut dec = FlowDecoder::new(Limits::default());
    let mut sets = psamp_selector(7, 1, 1, 99);
    sets.extend(psamp_data(7, &[(1_000, 10)]));
    let out = decode(&mut dec, &ipfix(&sets));
    assert_eq!(out.len(), 1, "{:?}", dec.counts);
    assert_eq!(
        (out[0].packets, out[0].bytes, out[0].sampling_rate),
        (1_000, 100_000, 100)
    );
    // The override still wins.
    let mut dec = FlowDecoder::new(Limits {
        override_sampling: Some(3),
        ..Limits::default()
    });
    let mut sets = psamp_selector(7, 1, 1, 99);
    sets.extend(psamp_data(7, &[(1_000, 10)]));
    assert_eq!(decode(&mut dec, &ipfix(&sets))[0].sampling_rate, 3);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mutated_sflow_never_panics(flips in proptest::collection::vec((0usize..400, any::<u8>()), 1..8), cut in 0usize..400) {
        let mut d = sflow(256, 1500);
        for (i, b) in flips {
            let n = d.len();
            // Keep the version word most of the time so the sFlow path runs.
            d[4 + i % (n - 4)] = b;
        }
        d.truncate(d.len().saturating_sub(cut % 200));
        let mut dec = FlowDecoder::new(Limits::default());
        let mut out = Vec::new();
        let _ = dec.decode(EXPORTER, &d, 0, &mut out);
        for u in &out {
            prop_assert!(u.sampling_rate >= 1);
        }
    }

    #[test]
    fn garbage_never_panics(d in proptest::collection::vec(any::<u8>(), 0..600), v in 0u16..12) {
        let mut dec = FlowDecoder::new(Limits::default());
        let mut d = d;
        if d.len() >= 2 {
            d[..2].copy_from_slice(&v.to_be_bytes());
        }
        let mut out = Vec::new();
        let _ = dec.decode(EXPORTER, &d, 0, &mut out);
        dec.finish();
    }

    #[test]
    fn mutated_valid_datagrams_never_panic(flips in proptest::collection::vec((0usize..200, any::<u8>()), 1..8), cut in 0usize..200) {
        let mut data = Vec::new();
        v9_record(&mut data, [192, 0, 2, 1], 1, 1);
        let mut d = v9(&[v9_template(), set(300, &data)]);
        for (i, b) in flips {
            let n = d.len();
            d[i % n] = b;
        }
        d.truncate(d.len().saturating_sub(cut % 40));
        let mut dec = FlowDecoder::new(Limits::default());
        let mut out = Vec::new();
        let _ = dec.decode(EXPORTER, &d, 0, &mut out);
        let _ = dec.decode(EXPORTER, &d, 0, &mut out);
        dec.finish();
    }
}
