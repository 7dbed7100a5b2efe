//! UDP sockets for flow collection: bound with `SO_REUSEPORT` so that
//! several receiving threads share one address (the kernel spreads
//! exporters over them by their address and port, so one exporter's
//! templates always meet its data on the same thread), with a large
//! receive buffer, and the kernel's count of datagrams it dropped because
//! that buffer was full.

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

/// Opens one receiving socket on `addr`. `reuse_port` lets further sockets
/// bind the same address; `recv_buffer` is asked of the kernel (Linux caps
/// it at `net.core.rmem_max` unless the process may override that); the
/// read timeout lets the receiving thread notice shutdown.
pub fn bind(
    addr: SocketAddr,
    reuse_port: bool,
    recv_buffer: usize,
    read_timeout: Duration,
) -> std::io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // [::] takes IPv4 exporters too (as v4-mapped senders).
        s.set_only_v6(false)?;
    }
    #[cfg(unix)]
    s.set_reuse_port(reuse_port)?;
    #[cfg(not(unix))]
    let _ = reuse_port;
    if recv_buffer > 0 {
        // A failure here (a limit) leaves the default buffer: not fatal,
        // and what the kernel granted is reported by `recv_buffer_size`.
        let _ = s.set_recv_buffer_size(recv_buffer);
    }
    s.bind(&addr.into())?;
    let u: UdpSocket = s.into();
    u.set_read_timeout(Some(read_timeout))?;
    Ok(u)
}

/// The receive buffer the kernel granted, in bytes.
pub fn recv_buffer_size(s: &UdpSocket) -> std::io::Result<usize> {
    socket2::SockRef::from(s).recv_buffer_size()
}

/// The socket's inode, by which /proc/net/udp names it (Linux).
#[cfg(target_os = "linux")]
pub fn inode(s: &UdpSocket) -> Option<u64> {
    use std::os::fd::AsRawFd;
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/fd/{}", s.as_raw_fd()))
        .ok()
        .map(|m| m.ino())
}

/// The socket's inode (only Linux names sockets by inode).
#[cfg(not(target_os = "linux"))]
pub fn inode(_s: &UdpSocket) -> Option<u64> {
    None
}

/// Datagrams the kernel dropped on these sockets (full receive buffer),
/// summed, from /proc/net/udp and /proc/net/udp6; `None` where the
/// platform does not say.
pub fn kernel_drops(inodes: &[u64]) -> Option<u64> {
    let mut found = false;
    let mut sum = 0u64;
    for table in ["/proc/net/udp", "/proc/net/udp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for (inode, drops) in text.lines().skip(1).filter_map(proc_udp_line) {
            if inodes.contains(&inode) {
                found = true;
                sum += drops;
            }
        }
    }
    found.then_some(sum)
}

/// `(inode, drops)` of one /proc/net/udp line: `sl local rem st tx:rx
/// tr:when retrnsmt uid timeout inode ref pointer drops`.
fn proc_udp_line(line: &str) -> Option<(u64, u64)> {
    let cols: Vec<&str> = line.split_whitespace().collect();
    Some((cols.get(9)?.parse().ok()?, cols.get(12)?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_lines_give_inode_and_drops() {
        let l = "  593: 0100007F:0807 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 1234567 2 0000000000000000 42";
        assert_eq!(proc_udp_line(l), Some((1_234_567, 42)));
        assert_eq!(proc_udp_line("garbage"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn two_sockets_share_a_port_and_the_kernel_counts_their_drops() {
        let t = Duration::from_millis(10);
        let a = bind("127.0.0.1:0".parse().unwrap(), true, 1 << 20, t).unwrap();
        let addr = a.local_addr().unwrap();
        let b = bind(addr, true, 1 << 20, t).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
        let inodes = [inode(&a).unwrap(), inode(&b).unwrap()];
        assert_eq!(kernel_drops(&inodes), Some(0));
        assert!(recv_buffer_size(&a).unwrap() > 0);
    }
}
