//! The pcapng reader (section headers of either byte order, interface
//! descriptions, enhanced/simple/obsolete packet blocks, unknown blocks).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    // Keep the input a pcapng file: it starts with a section header block.
    let mut d = data.to_vec();
    if d.len() >= 4 {
        d[..4].copy_from_slice(&[0x0a, 0x0d, 0x0d, 0x0a]);
    }
    common::read_all(d);
});
