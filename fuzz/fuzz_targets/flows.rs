//! Every flow decoder through the one dispatcher (NetFlow v5, v9, IPFIX,
//! sFlow v5, chosen by the version word), with state across datagrams.
//!
//! The input is a sequence of datagrams, each `[exporter: u8][clock: u8]
//! [len: u16 BE][bytes]`, so that templates, held data, withdrawals and
//! timeouts meet their data. Small limits make the bounds bite; after
//! every datagram the decoder's accounting must match the shared budget
//! and stay within its limits.
#![no_main]

use std::sync::Arc;

use capture::flows::{FlowDecoder, Limits, SharedBudget};
use capture::Ip;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        templates_per_exporter: 8,
        templates_total: 16,
        pending_bytes: 4096,
        pending_per_exporter: 2048,
        template_timeout_ns: 10_000_000_000,
        ..Limits::default()
    };
    let budget = Arc::new(SharedBudget::default());
    let mut dec = FlowDecoder::with_budget(limits, Arc::clone(&budget));
    let mut out = Vec::new();
    let mut rest = data;
    let mut clock = 0u64;
    while rest.len() >= 4 {
        let exporter = (
            Ip::v4([192, 0, 2, rest[0] & 3]),
            2055 + (rest[0] >> 6) as u16,
        );
        // Each step moves the clock 0 to 255 s: timeouts happen.
        clock += rest[1] as u64 * 1_000_000_000;
        let len = (u16::from_be_bytes([rest[2], rest[3]]) as usize).min(rest.len() - 4);
        let d = &rest[4..4 + len];
        rest = &rest[4 + len..];
        let _ = dec.decode(exporter, d, clock, &mut out);
        let (sets, bytes) = dec.held();
        assert_eq!(budget.held_bytes(), bytes, "held accounting drifted");
        assert_eq!(
            budget.templates(),
            dec.templates_kept(),
            "template accounting drifted"
        );
        assert!(bytes <= limits.pending_bytes && sets * 128 <= bytes);
        assert!(dec.templates_kept() <= limits.templates_total);
        for u in &out {
            assert!(u.sampling_rate >= 1);
        }
        out.clear();
    }
    dec.finish();
    assert_eq!(dec.held(), (0, 0));
    assert_eq!(budget.held_bytes(), 0);
    drop(dec);
    assert_eq!(budget.templates(), 0);
});
