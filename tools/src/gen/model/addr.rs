//! Stable per-host properties of the generated population, derived from a
//! rank by hashing instead of stored: addresses, round-trip times, ports.

use capture::Ip;

/// A well-mixed 64-bit hash, to derive stable per-host properties
/// (address, RTT) from a rank without storing them.
pub(super) fn mix(x: u64, salt: u64) -> u64 {
    sketches::hash::hash_u64(x, salt)
}

/// A public-looking IPv4 address for rank `r` of a population.
pub(super) fn public_v4(r: u64, salt: u64) -> Ip {
    let h = mix(r, salt) as u32;
    let mut o = h.to_be_bytes();
    // Keep clear of private, loopback, multicast and reserved space.
    o[0] = match o[0] {
        0 | 10 | 127 | 100 | 169 | 172 | 192 => o[0] ^ 0x40,
        x if x >= 224 => x - 100,
        x => x,
    };
    Ip::v4(o)
}

pub(super) fn public_v6(r: u64, salt: u64) -> Ip {
    let h = mix(r, salt) as u128;
    Ip(0x2a00_0000_0000_0000_0000_0000_0000_0000
        | (mix(r, salt ^ 7) as u128) << 32
        | (h & 0xffff_ffff))
}

pub(super) fn our_client(i: u64, v6: bool) -> Ip {
    if v6 {
        Ip(0x2001_0db8_0001_0000_0000_0000_0000_0000 | (i as u128 + 1))
    } else {
        Ip::v4([10, 1, (i / 250) as u8, (i % 250 + 1) as u8])
    }
}

pub(super) fn our_server(i: u64) -> Ip {
    Ip::v4([10, 2, 0, 10 + i as u8])
}

/// A lognormal value from a hash: median `m`, shape `sigma`.
pub(super) fn lognormal_from(h: u64, m: f64, sigma: f64) -> f64 {
    let u1 = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let u2 = ((mix(h, 3) >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    let z = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
    m * (sigma * z).exp()
}

/// A port in the dynamic range (49152-65535), where floods and client
/// stacks pick theirs and no well-known service (or dissector) lives.
///
/// 54328 is skipped: Wireshark dissects it as Elasticsearch discovery and
/// flags our zero-filled payloads as malformed (the only such port found in
/// a million generated packets).
pub(super) fn ephemeral(r: u64) -> u16 {
    match 49152 + (r % 16384) as u16 {
        54328 => 54329,
        p => p,
    }
}

pub(super) const SERVERS: u64 = 5000;
pub(super) const CLIENTS: u64 = 2000;
pub(super) const OUR_SERVERS: u64 = 20;
pub(super) const REFLECTOR_PORTS: [u16; 5] = [53, 123, 389, 1900, 11211];
