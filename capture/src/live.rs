//! Live capture through libpcap (the `pcap` crate), behind the `live`
//! feature so that builds without libpcap headers still work.

use std::fmt;

use crate::{Linktype, RawPacket};

/// How to open an interface.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// Interface name (`eth0`, `lo`, `any`).
    pub interface: String,
    /// BPF filter expression (tcpdump syntax).
    pub filter: Option<String>,
    /// Bytes captured per packet.
    pub snaplen: u32,
    /// Promiscuous mode.
    pub promisc: bool,
    /// Kernel buffer size in bytes (`None`: libpcap's default).
    pub buffer_size: Option<u32>,
    /// Deliver packets as they arrive instead of filling a buffer first.
    pub immediate: bool,
    /// Read timeout. On Linux without immediate mode (TPACKET_V3) the
    /// kernel only applies it once a packet has arrived: a quiet interface
    /// blocks, so callers that need the clock wake reads with a
    /// [`LiveStopper`].
    pub timeout_ms: i32,
}

/// A live capture error, with what to do about it when the user can fix it.
#[derive(Debug)]
pub struct LiveError {
    message: String,
}

impl fmt::Display for LiveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LiveError {}

impl LiveError {
    fn open(iface: &str, e: pcap::Error) -> LiveError {
        let text = e.to_string();
        let lower = text.to_lowercase();
        let hint = if lower.contains("permission") || lower.contains("operation not permitted") {
            "; run as root or grant the capture capabilities: \
             `sudo setcap cap_net_raw,cap_net_admin=eip $(command -v netsketch)`"
        } else if lower.contains("no such device") || lower.contains("doesn't exist") {
            "; list interfaces with `netsketch capture --list`"
        } else {
            ""
        };
        LiveError {
            message: format!("cannot open {iface}: {}{hint}", text.trim_end_matches('.')),
        }
    }
}

/// Kernel and libpcap counters of a live capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Packets the kernel handed to the capture.
    pub received: u64,
    /// Packets dropped because the capture buffer was full.
    pub dropped: u64,
    /// Packets dropped by the interface or its driver.
    pub if_dropped: u64,
}

/// An open live capture.
pub struct LiveCapture {
    cap: pcap::Capture<pcap::Active>,
    linktype: Linktype,
    /// libpcap's raw 32-bit counters at the last read.
    last_raw: [u32; 3],
    /// Counters accumulated since the filter was in place.
    total: KernelStats,
}

impl fmt::Debug for LiveCapture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveCapture")
            .field("linktype", &self.linktype)
            .finish()
    }
}

impl LiveCapture {
    /// Opens the interface and applies the filter.
    pub fn open(cfg: &LiveConfig) -> Result<LiveCapture, LiveError> {
        let iface = cfg.interface.as_str();
        let mut inactive = pcap::Capture::from_device(iface)
            .map_err(|e| LiveError::open(iface, e))?
            .snaplen(cfg.snaplen.min(i32::MAX as u32) as i32)
            .promisc(cfg.promisc)
            .immediate_mode(cfg.immediate)
            .timeout(cfg.timeout_ms)
            .precision(pcap::Precision::Nano);
        if let Some(b) = cfg.buffer_size {
            inactive = inactive.buffer_size(b.min(i32::MAX as u32) as i32);
        }
        let mut cap = inactive.open().map_err(|e| LiveError::open(iface, e))?;
        if let Some(f) = &cfg.filter {
            cap.filter(f, true).map_err(|e| LiveError {
                message: format!("bad capture filter {f:?}: {e}"),
            })?;
        }
        let linktype = Linktype(cap.get_datalink().0 as u32);
        let mut live = LiveCapture {
            cap,
            linktype,
            last_raw: [0; 3],
            total: KernelStats::default(),
        };
        // Between activation and the filter, the kernel queues (and, on a
        // busy link, drops) packets of every kind; those drops are not of
        // the traffic asked for, so the counters start once the filter is
        // in place. Drops after this point are of matching packets only.
        live.stats()?;
        live.total = KernelStats::default();
        Ok(live)
    }

    /// The interface's link type.
    pub fn linktype(&self) -> Linktype {
        self.linktype
    }

    /// The next packet, or `Ok(None)` when the read timeout expired with
    /// nothing to deliver.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, LiveError> {
        match self.cap.next_packet() {
            Ok(p) => {
                // Opened with nanosecond precision: tv_usec holds ns.
                let ts_ns =
                    (p.header.ts.tv_sec as u64) * 1_000_000_000 + p.header.ts.tv_usec as u64;
                Ok(Some(RawPacket {
                    ts_ns,
                    linktype: self.linktype,
                    wire_len: p.header.len,
                    data: p.data,
                }))
            }
            // A timeout, or `pcap_breakloop` from a `LiveStopper`.
            Err(pcap::Error::TimeoutExpired | pcap::Error::NoMorePackets) => Ok(None),
            Err(e) => Err(LiveError {
                message: format!("capture failed: {e}"),
            }),
        }
    }

    /// A handle that wakes a blocked [`Self::next_packet`] from another
    /// thread (the read timeout does not fire on a quiet link; see
    /// [`LiveConfig::timeout_ms`]).
    pub fn stopper(&mut self) -> LiveStopper {
        LiveStopper(self.cap.breakloop_handle())
    }

    /// Kernel counters since the filter was in place. libpcap's counters
    /// are 32 bits and wrap (at 4.3 G packets, hours on a busy 10G link);
    /// read at least once per wrap (the capture command reads them every
    /// second) and these 64-bit totals stay right.
    pub fn stats(&mut self) -> Result<KernelStats, LiveError> {
        let s = self.cap.stats().map_err(|e| LiveError {
            message: format!("cannot read capture statistics: {e}"),
        })?;
        let raw = [s.received, s.dropped, s.if_dropped];
        let d = |i: usize| u64::from(raw[i].wrapping_sub(self.last_raw[i]));
        self.total.received += d(0);
        self.total.dropped += d(1);
        self.total.if_dropped += d(2);
        self.last_raw = raw;
        Ok(self.total)
    }
}

/// Wakes a capture blocked in [`LiveCapture::next_packet`]; it then
/// returns `Ok(None)`. Call from an ordinary thread, not a signal handler.
pub struct LiveStopper(pcap::BreakLoop);

impl LiveStopper {
    /// Interrupts the current or next blocking read.
    pub fn stop(&self) {
        self.0.breakloop();
    }
}

impl fmt::Debug for LiveStopper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LiveStopper")
    }
}

/// One capturable interface.
#[derive(Debug, Clone)]
pub struct InterfaceInfo {
    /// Name to pass to `--interface`.
    pub name: String,
    /// Description, if libpcap has one.
    pub description: Option<String>,
    /// Addresses bound to it.
    pub addresses: Vec<std::net::IpAddr>,
}

/// Lists the interfaces libpcap can capture on.
pub fn list_interfaces() -> Result<Vec<InterfaceInfo>, LiveError> {
    let devs = pcap::Device::list().map_err(|e| LiveError {
        message: format!("cannot list interfaces: {e}"),
    })?;
    Ok(devs
        .into_iter()
        .map(|d| InterfaceInfo {
            name: d.name,
            description: d.desc,
            addresses: d.addresses.into_iter().map(|a| a.addr).collect(),
        })
        .collect())
}
