//! Flow collection over UDP as a pipeline source.
//!
//! ```text
//! socket (SO_REUSEPORT) ─► receiver thread (pinned): recv, allowlist, decode ─┐
//! socket (same address) ─► receiver thread ...                                 ├─► bounded channel ─► source thread ─► workers
//! socket (next address) ─► receiver thread ...                                ─┘   (batches of records)
//! ```
//!
//! Each receiving thread owns its socket and its [`FlowDecoder`]: the kernel
//! hashes an exporter's address and port to one of the sockets sharing an
//! address, so an exporter's templates and data always meet in the same
//! decoder, and no lock is taken per datagram. Records go to the engine in
//! batches over a bounded channel; a full channel sheds the batch and
//! counts it (`netsketch_drops_total{reason="collector_queue_full"}`),
//! as a full socket buffer is counted by the kernel (read from
//! /proc/net/udp into `netsketch_kernel_drops_total{source="udp"}`).
//!
//! Template and held-data memory is one [`SharedBudget`] handed to every
//! receiver's decoder, so `--threads` does not multiply its bound.
//!
//! At shutdown each receiver drains its own socket without blocking: it
//! decodes what is queued for up to [`DRAIN_DECODE`], then reads and counts
//! the rest as `collector_shutdown_dropped` (by exporter) for up to
//! [`DRAIN_COUNT`] more, so a stop loses nothing silently.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use capture::flows::{FlowCounts, FlowDecoder, FlowError, Limits, SharedBudget};
use capture::sflow::SflowInterface;
use capture::{FlowUpdate, Ip, Prefix};
use crossbeam_channel::{bounded, Receiver, RecvTimeoutError, Sender, TrySendError};

use crate::engine::{wall_clock_ns, Source};
use crate::metrics::Metrics;

/// Why a collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// No address to listen on was given.
    #[error("no address to listen on")]
    NoAddress,
    /// A socket could not be bound.
    #[error("cannot listen on {addr}: {error}")]
    Listen {
        /// The address asked for (with the port the first socket got).
        addr: SocketAddr,
        /// What the system said.
        error: std::io::Error,
    },
    /// A socket's address could not be read, or a thread not started.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// How long a receiving thread waits for a datagram before it looks at
/// the shutdown flag again.
const READ_TIMEOUT: Duration = Duration::from_millis(50);

/// At shutdown, how long a receiver decodes what its socket still holds.
pub const DRAIN_DECODE: Duration = Duration::from_secs(2);

/// After [`DRAIN_DECODE`], how long it reads and counts what is left.
pub const DRAIN_COUNT: Duration = Duration::from_secs(1);

/// How to collect.
#[derive(Debug, Clone)]
pub struct CollectConfig {
    /// Addresses to listen on (IPv4 or IPv6; `[::]` takes both families).
    pub listen: Vec<SocketAddr>,
    /// Receiving threads per address, sharing it with `SO_REUSEPORT`.
    pub threads: usize,
    /// Socket receive buffer asked for, in bytes.
    pub recv_buffer: usize,
    /// Exporters allowed (empty: all). Datagrams from others are dropped
    /// and counted as `flow_exporter_not_allowed`, by exporter.
    pub allow: Vec<Prefix>,
    /// Template memory and sampling.
    pub limits: Limits,
    /// CPUs to pin the receiving threads to, round-robin (`None`: not pinned).
    pub cpus: Option<Vec<usize>>,
    /// Records per batch handed to the engine.
    pub batch: usize,
}

impl Default for CollectConfig {
    fn default() -> Self {
        CollectConfig {
            listen: vec![SocketAddr::from(([127, 0, 0, 1], 2055))],
            threads: 1,
            recv_buffer: 32 << 20,
            allow: Vec::new(),
            limits: Limits::default(),
            cpus: None,
            batch: 1024,
        }
    }
}

/// What one receiving thread publishes (per batch, under its own lock,
/// read by the source thread once a second).
#[derive(Debug, Default, Clone)]
struct Published {
    counts: FlowCounts,
    interfaces: Vec<SflowInterface>,
    recv_errors: u64,
}

/// Running receivers, as a shedding pipeline source.
#[derive(Debug)]
pub struct Collector {
    rx: Receiver<Vec<FlowUpdate>>,
    carry: Vec<FlowUpdate>,
    shutdown: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
    published: Vec<Arc<Mutex<Published>>>,
    budget: Arc<SharedBudget>,
    inodes: Vec<u64>,
    /// Kept open until the collector is dropped, so that the kernel's
    /// drop counts can still be read after the receivers stopped.
    _sockets: Vec<Arc<UdpSocket>>,
    bound: Vec<SocketAddr>,
    granted_buffer: usize,
    metrics: Arc<Metrics>,
    synced: FlowCounts,
    synced_kernel: u64,
    last_sync: Instant,
}

impl Collector {
    /// Binds every socket (all or nothing, so a bad address fails before
    /// any thread starts) and starts the receiving threads. Metrics go to
    /// `metrics` (the engine's).
    pub fn start(cfg: &CollectConfig, metrics: Arc<Metrics>) -> Result<Collector, CollectError> {
        if cfg.listen.is_empty() {
            return Err(CollectError::NoAddress);
        }
        let threads = cfg.threads.clamp(1, 64);
        let mut sockets: Vec<Arc<UdpSocket>> = Vec::new();
        let mut bound = Vec::new();
        for addr in &cfg.listen {
            let mut target = *addr;
            for _ in 0..threads {
                let s = capture::udp::bind(target, true, cfg.recv_buffer, READ_TIMEOUT).map_err(
                    |error| CollectError::Listen {
                        addr: target,
                        error,
                    },
                )?;
                // Port 0: the others join the port the first one got.
                target = s.local_addr()?;
                sockets.push(Arc::new(s));
            }
            bound.push(target);
        }
        let granted_buffer = capture::udp::recv_buffer_size(&sockets[0]).unwrap_or(0);
        let inodes = sockets
            .iter()
            .filter_map(|s| capture::udp::inode(s))
            .collect();
        // A few batches per receiver in flight.
        let (tx, rx) = bounded(16 * sockets.len());
        let shutdown = Arc::new(AtomicBool::new(false));
        let budget = Arc::new(SharedBudget::default());
        let mut handles = Vec::new();
        let mut published = Vec::new();
        for (i, sock) in sockets.iter().enumerate() {
            let p = Arc::new(Mutex::new(Published::default()));
            published.push(Arc::clone(&p));
            let r = UdpReceiver {
                sock: Arc::clone(sock),
                tx: tx.clone(),
                shutdown: Arc::clone(&shutdown),
                allow: cfg.allow.clone(),
                dec: FlowDecoder::with_budget(cfg.limits, Arc::clone(&budget)),
                batch: cfg.batch.max(1),
                published: p,
                metrics: Arc::clone(&metrics),
            };
            let core = cfg
                .cpus
                .as_ref()
                .filter(|c| !c.is_empty())
                .map(|c| core_affinity::CoreId { id: c[i % c.len()] });
            handles.push(
                std::thread::Builder::new()
                    .name(format!("netsketch-udp{i}"))
                    .spawn(move || {
                        if let Some(c) = core {
                            core_affinity::set_for_current(c);
                        }
                        r.run();
                    })?,
            );
        }
        Ok(Collector {
            rx,
            carry: Vec::new(),
            shutdown,
            handles,
            published,
            budget,
            inodes,
            _sockets: sockets,
            bound,
            granted_buffer,
            metrics,
            synced: FlowCounts::default(),
            synced_kernel: 0,
            last_sync: Instant::now(),
        })
    }

    /// The addresses actually bound (port 0 resolved), one per `--listen`.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.bound
    }

    /// The receive buffer the kernel granted each socket, in bytes.
    pub fn recv_buffer(&self) -> usize {
        self.granted_buffer
    }

    /// Datagrams the kernel dropped on the sockets so far (`None` where the
    /// platform does not say).
    pub fn kernel_drops(&self) -> Option<u64> {
        capture::udp::kernel_drops(&self.inodes)
    }

    /// The template and held-data memory shared by every receiver (kept
    /// now, and the peaks so far).
    pub fn budget(&self) -> &SharedBudget {
        &self.budget
    }

    /// Every receiver's counters, summed, and the sFlow interface rows.
    pub fn counts(&self) -> (FlowCounts, Vec<SflowInterface>, u64) {
        let mut c = FlowCounts::default();
        let mut ifs = Vec::new();
        let mut recv_errors = 0;
        for p in &self.published {
            let p = p.lock().unwrap_or_else(|e| e.into_inner());
            c.merge(&p.counts);
            ifs.extend(p.interfaces.iter().copied());
            recv_errors += p.recv_errors;
        }
        ifs.sort_by_key(|i| (i.agent, i.if_index));
        (c, ifs, recv_errors)
    }

    /// A flag that stops the receivers when set; once they have handed over
    /// what they hold, the source ends (so a stopped collection loses no
    /// decoded record: set this rather than the engine's stop flag).
    pub fn shutdown_handle(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.shutdown)
    }

    /// Stops the receivers and waits for them; returns the final counters.
    pub fn finish(mut self) -> (FlowCounts, Vec<SflowInterface>, u64) {
        self.shutdown.store(true, Ordering::Relaxed);
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
        self.sync_metrics();
        self.counts()
    }

    /// Brings the Prometheus counters up to the receivers' counts (once a
    /// second from the source thread; the counters only move forward).
    fn sync_metrics(&mut self) {
        let (c, _, _) = self.counts();
        let m = &self.metrics;
        m.flow_records.inc_by(c.records - self.synced.records);
        m.flow_datagrams.inc_by(c.datagrams - self.synced.datagrams);
        for (&(exporter, reason), &n) in &c.exporter_errors {
            let before = self
                .synced
                .exporter_errors
                .get(&(exporter, reason))
                .copied()
                .unwrap_or(0);
            if n > before {
                m.flow_errors
                    .with_label_values(&[reason, &exporter.to_string()])
                    .inc_by(n - before);
            }
        }
        if let Some(k) = self.kernel_drops() {
            // Published at 0 too: a dashboard shows "no drops", not "no
            // data" (as capture publishes its pcap and interface drops).
            m.kernel_drops
                .with_label_values(&["udp"])
                .inc_by(k.saturating_sub(self.synced_kernel));
            self.synced_kernel = self.synced_kernel.max(k);
        }
        self.synced = c;
        self.last_sync = Instant::now();
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.shutdown.store(true, Ordering::Relaxed);
    }
}

impl Source for Collector {
    fn name(&self) -> &'static str {
        "collector"
    }

    // Records are stamped on arrival: an idle exporter still closes its
    // epochs on time; full queues shed.
    fn live(&self) -> bool {
        true
    }

    fn fill(&mut self, out: &mut Vec<FlowUpdate>, max: usize) -> bool {
        if self.last_sync.elapsed() >= Duration::from_secs(1) {
            self.sync_metrics();
        }
        let mut alive = true;
        while out.len() < max {
            if self.carry.is_empty() {
                // Wait a little for the first batch only: a quiet collector
                // still returns to let epochs close on the clock.
                let got = if out.is_empty() {
                    self.rx.recv_timeout(Duration::from_millis(100))
                } else {
                    self.rx.try_recv().map_err(|_| RecvTimeoutError::Timeout)
                };
                match got {
                    Ok(b) => self.carry = b,
                    Err(RecvTimeoutError::Timeout) => break,
                    Err(RecvTimeoutError::Disconnected) => {
                        alive = false;
                        break;
                    }
                }
            }
            let take = self.carry.len().min(max - out.len());
            out.extend(self.carry.drain(..take));
        }
        alive || !self.carry.is_empty()
    }
}

/// One receiving thread.
struct UdpReceiver {
    sock: Arc<UdpSocket>,
    tx: Sender<Vec<FlowUpdate>>,
    shutdown: Arc<AtomicBool>,
    allow: Vec<Prefix>,
    dec: FlowDecoder,
    batch: usize,
    published: Arc<Mutex<Published>>,
    metrics: Arc<Metrics>,
}

impl UdpReceiver {
    fn run(mut self) {
        let mut buf = vec![0u8; 65_536];
        let mut out: Vec<FlowUpdate> = Vec::with_capacity(self.batch + 64);
        let mut recv_errors = 0u64;
        let mut last_send = Instant::now();
        let shed = self
            .metrics
            .drops
            .with_label_values(&["collector_queue_full"]);
        while !self.shutdown.load(Ordering::Relaxed) {
            match self.sock.recv_from(&mut buf) {
                Ok((n, from)) => self.datagram(&buf[..n], from, &mut out),
                // A timeout lets the loop look at the flag; a signal (SIGSTOP
                // and SIGCONT, SIGTERM) interrupts the wait: neither is an error.
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock
                            | std::io::ErrorKind::TimedOut
                            | std::io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => recv_errors += 1,
            }
            let due = last_send.elapsed() >= Duration::from_millis(50);
            if out.len() >= self.batch || due {
                if !out.is_empty() {
                    let full = std::mem::replace(&mut out, Vec::with_capacity(self.batch + 64));
                    match self.tx.try_send(full) {
                        Ok(()) => {}
                        Err(TrySendError::Full(mut b)) => {
                            shed.inc_by(b.len() as u64);
                            b.clear();
                            out = b;
                        }
                        Err(TrySendError::Disconnected(_)) => break,
                    }
                }
                self.publish(recv_errors);
                last_send = Instant::now();
            }
        }
        self.drain(&mut buf, &mut out, &mut recv_errors, &shed);
        // What is held for a template that never came is given up, counted.
        self.dec.finish();
        self.hand_over(&mut out, &shed);
        self.publish(recv_errors);
    }

    /// Checks the allowlist and decodes one datagram into `out`.
    fn datagram(&mut self, d: &[u8], from: SocketAddr, out: &mut Vec<FlowUpdate>) {
        let ip = Ip::from(from.ip().to_canonical());
        if !self.allow.is_empty() && !self.allow.iter().any(|p| p.contains(ip)) {
            self.dec.counts.error_from(ip, FlowError::NotAllowed);
        } else {
            let _ = self.dec.decode((ip, from.port()), d, wall_clock_ns(), out);
        }
    }

    /// Empties the socket at shutdown without blocking: decodes for
    /// [`DRAIN_DECODE`], then reads and counts for [`DRAIN_COUNT`]
    /// (`collector_shutdown_dropped`); records go out in batches meanwhile.
    fn drain(
        &mut self,
        buf: &mut [u8],
        out: &mut Vec<FlowUpdate>,
        recv_errors: &mut u64,
        shed: &prometheus::IntCounter,
    ) {
        if self.sock.set_nonblocking(true).is_err() {
            *recv_errors += 1;
            return;
        }
        let start = Instant::now();
        loop {
            let decoding = start.elapsed() < DRAIN_DECODE;
            if !decoding && start.elapsed() >= DRAIN_DECODE + DRAIN_COUNT {
                break;
            }
            match self.sock.recv_from(buf) {
                Ok((n, from)) if decoding => self.datagram(&buf[..n], from, out),
                Ok((_, from)) => {
                    let ip = Ip::from(from.ip().to_canonical());
                    self.dec.counts.error_from(ip, FlowError::ShutdownDropped);
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => {
                    *recv_errors += 1;
                    break;
                }
            }
            if out.len() >= self.batch {
                self.hand_over(out, shed);
            }
        }
    }

    /// Sends what `out` holds, waiting a little for room (the source
    /// thread still reads); what cannot go is counted as shed.
    fn hand_over(&mut self, out: &mut Vec<FlowUpdate>, shed: &prometheus::IntCounter) {
        if out.is_empty() {
            return;
        }
        let n = out.len() as u64;
        let b = std::mem::replace(out, Vec::with_capacity(self.batch + 64));
        if self.tx.send_timeout(b, Duration::from_millis(500)).is_err() {
            shed.inc_by(n);
        }
    }

    /// Copies the decoder's counters where the source thread reads them.
    fn publish(&self, recv_errors: u64) {
        let mut p = self.published.lock().unwrap_or_else(|e| e.into_inner());
        p.counts.clone_from(&self.dec.counts);
        p.interfaces.clear();
        p.interfaces.extend(self.dec.sflow_interfaces().copied());
        p.recv_errors = recv_errors;
    }
}
