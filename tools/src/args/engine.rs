//! Pipeline options shared by `replay` and `demo`.

use anyhow::{bail, Result};
use clap::Args;
use pipeline::{Dimension, Engine, EngineConfig, Metric, WindowSpec};

#[derive(Debug, Args, Clone)]
pub struct EngineArgs {
    /// Worker threads (default: the CPUs available, at most 16).
    #[arg(short = 'w', long)]
    pub workers: Option<usize>,
    /// CPUs to pin to, comma-separated: the reader alone on the last, the
    /// workers on the others in order (all on one CPU if one is given).
    #[arg(long, value_delimiter = ',')]
    pub cpus: Option<Vec<usize>>,
    /// Do not pin threads to CPUs.
    #[arg(long)]
    pub no_pin: bool,
    /// Updates per batch handed to the workers.
    #[arg(long, default_value_t = 1024)]
    pub batch: usize,
    /// Epoch length in seconds.
    #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
    pub epoch: f64,
    /// Allowed lateness in seconds: updates this far behind the newest event
    /// time still count in their own epoch; later ones are counted as late.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    pub lateness: f64,
    /// Memory for all sketches, in MiB.
    #[arg(long, default_value_t = 256)]
    pub memory: usize,
    /// Window to report, `LEN[/SLIDE]` in seconds (repeatable; default 10).
    #[arg(
        long = "window",
        value_name = "LEN[/SLIDE]",
        allow_hyphen_values = true
    )]
    pub windows: Vec<String>,
    /// Report a window every this many seconds (same as --window S/S).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub report_every: Option<f64>,
    /// Keys per top-k list (1 to 100000).
    #[arg(long, default_value_t = 10, value_parser = parse_top)]
    pub top: usize,
    /// What the text report ranks each dimension by: bytes (IP-layer),
    /// packets, or both (two sections each).
    #[arg(long, value_name = "bytes|packets|both", default_value = "bytes", value_parser = ["bytes", "packets", "both"])]
    pub top_by: String,
    /// The rankings the text report shows, comma-separated: src, dst,
    /// pair, dport, sport (default all; `--json` always has all).
    #[arg(long, value_name = "DIMS", value_delimiter = ',', value_parser = ["src", "dst", "pair", "dport", "sport"])]
    pub rankings: Vec<String>,
    /// Bytes sent from and to an address or prefix, with bounds
    /// (repeatable): 10.1.2.3, 10.1.2.0/24, 2001:db8::/48. IPv4 prefixes
    /// /8 /16 /24 /32 and IPv6 /32 /48 /64 /128 are tracked.
    #[arg(long = "query", value_name = "ADDR[/LEN]")]
    pub queries: Vec<String>,
    /// Seconds after which a TCP handshake with no SYN-ACK (or no final
    /// ACK) counts as failed.
    #[arg(
        long,
        default_value_t = 3.0,
        value_name = "SECONDS",
        allow_negative_numbers = true
    )]
    pub handshake_timeout: f64,
    /// Overload mode: a key's summed packets below N per flush reach the
    /// source, pair and port rankings sampled (with probability
    /// packets/N, weighed up), so a flood of one-packet sources costs
    /// 1/N of its ranking updates. Their bounds then hold with
    /// probability 0.99 each; totals, destinations, attack counters,
    /// distinct counts and handshakes stay exact. 2 to 65536; off by default.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(2..=65536))]
    pub sample: Option<u64>,
}

/// `--top N`: 1 to 100,000 rows (0 would print headings without rows).
fn parse_top(s: &str) -> std::result::Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if (1..=100_000).contains(&n) => Ok(n),
        _ => Err(format!(
            "{s:?}: give the rows per top-k list, 1 to 100000 (it cannot turn the lists off)"
        )),
    }
}

/// The most epochs a window may span (the engine's limit).
const MAX_WINDOW_EPOCHS: u32 = 3600;

/// A parsed `--query`.
#[derive(Debug, Clone, Copy)]
pub struct Query {
    pub addr: capture::Ip,
    pub len: u8,
}

impl std::str::FromStr for Query {
    type Err = String;

    /// `ADDR[/LEN]`, a whole address without a length; only the tracked
    /// prefix lengths are accepted.
    fn from_str(q: &str) -> std::result::Result<Query, String> {
        use capture::PrefixError;
        let tracked = |v4: bool| -> &'static [u8] {
            if v4 {
                &[32, 24, 16, 8]
            } else {
                &[128, 64, 48, 32]
            }
        };
        let not_tracked =
            |len: u8, ok: &[u8]| format!("{q:?}: /{len} is not tracked; use one of {ok:?}");
        let p: capture::Prefix = q.parse().map_err(|e| match e {
            PrefixError::Address { .. } => format!("{q:?}: not an address"),
            PrefixError::Length { .. } => format!("{q:?}: bad prefix length"),
            PrefixError::TooLong { len, max, .. } => not_tracked(len, tracked(max == 32)),
        })?;
        let (len, ok) = (p.prefix_len(), tracked(p.is_v4()));
        if !ok.contains(&len) {
            return Err(not_tracked(len, ok));
        }
        Ok(Query {
            addr: p.addr(),
            len,
        })
    }
}

impl std::fmt::Display for Query {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

/// `flag`'s value must be a positive, finite number of seconds.
pub fn positive_seconds(flag: &str, s: f64) -> Result<()> {
    if !(s.is_finite() && s > 0.0) {
        bail!("{flag} must be a positive number of seconds");
    }
    Ok(())
}

fn epochs(s: f64, epoch: f64, what: &str) -> Result<u32> {
    let n = s / epoch;
    if !(n.is_finite() && n >= 1.0 && (n - n.round()).abs() < 1e-9) {
        bail!("{what} {s}s must be a whole number of {epoch}s epochs");
    }
    Ok(n.round() as u32)
}

impl EngineArgs {
    /// What the text report ranks (`--top`, `--top-by`, `--rankings`).
    pub fn rankings(&self) -> crate::rankings::Rankings {
        let by = match self.top_by.as_str() {
            "packets" => vec![Metric::Packets],
            "both" => vec![Metric::Bytes, Metric::Packets],
            _ => vec![Metric::Bytes],
        };
        let dims = if self.rankings.is_empty() {
            Dimension::ALL.to_vec()
        } else {
            Dimension::ALL
                .into_iter()
                .filter(|d| self.rankings.iter().any(|r| r == d.name()))
                .collect()
        };
        crate::rankings::Rankings {
            k: self.top,
            by,
            dims,
        }
    }

    /// Parses `--query` values; a length that is not tracked is an error
    /// naming the ones that are.
    pub fn queries(&self) -> Result<Vec<Query>> {
        self.queries
            .iter()
            .map(|q| q.parse().map_err(|e| anyhow::anyhow!("--query {e}")))
            .collect()
    }

    /// The engine these options describe, built and checked before any
    /// thread starts; an option refused is a usage error (exit status 2).
    /// `detect`: whether detection will read each epoch's sketches (off,
    /// the workers keep them per window chunk instead).
    pub fn engine(&self, detect: bool) -> Result<Engine> {
        let mut cfg = self.config().map_err(crate::exit::usage)?;
        cfg.epoch_sketches = detect;
        if self.windows.is_empty() && self.report_every.is_none() {
            // The default window (nobody asked for it) shortens until
            // --memory holds it: `--epoch 0.001` runs with 10 ms epochs
            // instead of failing over a 10 s window the user never gave.
            loop {
                match Engine::new(cfg.clone()) {
                    Ok(e) => return Ok(e),
                    Err(_) if cfg.windows[0].length > 1 => {
                        let n = (cfg.windows[0].length / 2).max(1);
                        cfg.windows[0] = WindowSpec {
                            length: n,
                            slide: n,
                        };
                    }
                    Err(e) => return Err(crate::engine_error::usage(e)),
                }
            }
        }
        Engine::new(cfg).map_err(crate::engine_error::usage)
    }

    pub fn config(&self) -> Result<EngineConfig> {
        positive_seconds("--epoch", self.epoch)?;
        let memory_bytes = check_memory(self.memory, physical_memory())?;
        positive_seconds("--handshake-timeout", self.handshake_timeout)?;
        if !(self.lateness.is_finite() && self.lateness >= 0.0) {
            bail!("--lateness must be zero or a positive number of seconds");
        }
        let mut windows = Vec::new();
        for w in &self.windows {
            let (len, slide) = match w.split_once('/') {
                Some((l, s)) => (l, s),
                None => (w.as_str(), w.as_str()),
            };
            let parse = |x: &str| x.trim().trim_end_matches('s').parse::<f64>();
            let (Ok(l), Ok(s)) = (parse(len), parse(slide)) else {
                bail!("--window {w:?}: expected LEN[/SLIDE] in seconds, like 60/10");
            };
            windows.push(WindowSpec {
                length: epochs(l, self.epoch, "window length")?,
                slide: epochs(s, self.epoch, "window slide")?,
            });
        }
        if let Some(r) = self.report_every {
            let n = epochs(r, self.epoch, "--report-every")?;
            windows.push(WindowSpec {
                length: n,
                slide: n,
            });
        }
        if windows.is_empty() {
            // 10 s (10 epochs when they are longer than a second), and no
            // more epochs than a window holds: `--epoch 0.001` works
            // without a --window of its own.
            let n = (10.0 * self.epoch.max(1.0) / self.epoch).round() as u32;
            let n = n.clamp(1, MAX_WINDOW_EPOCHS);
            windows.push(WindowSpec {
                length: n,
                slide: n,
            });
        }
        for (w, given) in windows.iter().zip(&self.windows) {
            if w.length > MAX_WINDOW_EPOCHS {
                bail!(
                    "--window {given}: {} epochs of {}s; a window holds at most {MAX_WINDOW_EPOCHS} \
                     epochs ({}s at this --epoch): give a shorter window or a longer --epoch",
                    w.length,
                    self.epoch,
                    f64::from(MAX_WINDOW_EPOCHS) * self.epoch
                );
            }
        }
        let defaults = EngineConfig::default();
        Ok(EngineConfig {
            workers: self.workers.unwrap_or(defaults.workers),
            cpus: self.cpus.clone(),
            pin: !self.no_pin,
            batch_size: self.batch,
            epoch_ns: (self.epoch * 1e9) as u64,
            lateness_ns: (self.lateness * 1e9) as u64,
            memory_bytes,
            windows,
            queue_batches: defaults.queue_batches,
            handshake_timeout_ns: (self.handshake_timeout * 1e9) as u64,
            handshake_table: defaults.handshake_table,
            sample: self.sample,
            epoch_sketches: defaults.epoch_sketches,
        })
    }
}

/// This machine's memory (`MemTotal` of /proc/meminfo), if known.
fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

/// `--memory` MiB in bytes, refused above the machine's memory (when
/// known) or past what the address space holds.
fn check_memory(mib: usize, physical: Option<u64>) -> Result<usize> {
    let Some(bytes) = mib.checked_mul(1 << 20) else {
        bail!("--memory {mib} MiB is more than this machine can address");
    };
    if let Some(total) = physical {
        if bytes as u64 > total {
            bail!(
                "--memory {mib} MiB is more than this machine's memory ({} MiB); give at most that, \
                 leaving room for the rest of the process",
                total >> 20
            );
        }
    }
    Ok(bytes)
}

/// Flow decoding limits from `--default-sampling` and `--sampling-override`
/// (both at least 1).
pub fn sampling_limits(
    default_sampling: u32,
    sampling_override: Option<u32>,
) -> Result<capture::flows::Limits> {
    if default_sampling == 0 || sampling_override == Some(0) {
        return Err(crate::exit::usage("sampling rates must be at least 1"));
    }
    Ok(capture::flows::Limits {
        default_sampling,
        override_sampling: sampling_override,
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_over_the_machine_is_refused() {
        let gib24 = 24u64 << 30;
        assert_eq!(check_memory(256, Some(gib24)).unwrap(), 256 << 20);
        let e = check_memory(1_000_000, Some(gib24))
            .unwrap_err()
            .to_string();
        assert!(e.contains("24576 MiB"), "{e}");
        assert!(check_memory(usize::MAX, None).is_err());
        // Unknown machine memory: only the address-space check.
        assert!(check_memory(1_000_000, None).is_ok());
    }
}
