//! The pcap reader (all four magics: micro/nanosecond, either byte order).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

const MAGICS: [[u8; 4]; 4] = [
    [0xd4, 0xc3, 0xb2, 0xa1],
    [0xa1, 0xb2, 0xc3, 0xd4],
    [0x4d, 0x3c, 0xb2, 0xa1],
    [0xa1, 0xb2, 0x3c, 0x4d],
];

fuzz_target!(|data: &[u8]| {
    // Keep the input a pcap file whatever the mutator did to the magic.
    let mut d = data.to_vec();
    if d.len() >= 4 && !MAGICS.iter().any(|m| d[..4] == m[..]) {
        let m = MAGICS[d[0] as usize % 4];
        d[..4].copy_from_slice(&m);
    }
    common::read_all(d);
});
