//! Engine options, their validation and the CPUs threads are pinned to.
//! Everything here is checked before any thread starts.

use crate::keys::SHARDS;
use crate::shard::Budget;

/// Closed epochs the merge channel holds before workers wait for it.
pub(super) const MERGE_EPOCHS: usize = 2;

/// A sliding window: `length` epochs, reported every `slide` epochs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// Epochs covered.
    pub length: u32,
    /// Epochs between reports.
    pub slide: u32,
}

/// Engine options. Every one is checked by [`super::Engine::new`], before any
/// thread starts.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Worker threads (0..=16). 0 runs to completion: the source thread
    /// parses and updates the sketches itself.
    pub workers: usize,
    /// CPUs to pin to: the source thread to the last, alone when there are
    /// others, the workers to the others round-robin. `None`: the
    /// machine's cores in order.
    pub cpus: Option<Vec<usize>>,
    /// Pin threads at all.
    pub pin: bool,
    /// Updates per batch.
    pub batch_size: usize,
    /// Epoch length.
    pub epoch_ns: u64,
    /// How far behind the newest event time an update may be and still
    /// count in its own epoch.
    pub lateness_ns: u64,
    /// Memory for all sketches, in bytes (the window ring, open epochs and
    /// the run total).
    pub memory_bytes: usize,
    /// Windows to report.
    pub windows: Vec<WindowSpec>,
    /// Batches a worker queue holds.
    pub queue_batches: usize,
    /// A TCP handshake with no answer after this long is a failure.
    pub handshake_timeout_ns: u64,
    /// Pending TCP handshakes held at most (all shards together; about 80
    /// bytes each).
    pub handshake_table: usize,
    /// The overload mode: a key's flushed sums under this many packets
    /// reach the source, pair and port rankings sampled
    /// ([`crate::shard::Sampler`]). `None`: every sum, exactly.
    pub sample: Option<u64>,
    /// Whether something reads each closed epoch's sketches (detection
    /// does). `false`, with every window tumbling, lets the workers keep
    /// the sketches per chunk of windows ([`EngineConfig::chunk_epochs`])
    /// instead of per epoch: epochs then carry their exact totals only,
    /// windows and the run total everything, and no epoch's sketches are
    /// filled, merged into a window and reset.
    pub epoch_sketches: bool,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .min(SHARDS),
            cpus: None,
            pin: true,
            batch_size: 1024,
            epoch_ns: 1_000_000_000,
            lateness_ns: 0,
            memory_bytes: 256 << 20,
            windows: vec![WindowSpec {
                length: 10,
                slide: 10,
            }],
            queue_batches: 64,
            handshake_timeout_ns: 3_000_000_000,
            handshake_table: 1 << 18,
            sample: None,
            epoch_sketches: true,
        }
    }
}

impl EngineConfig {
    /// Epochs per chunk when the workers keep sketches per chunk: the
    /// greatest common divisor of the window lengths, so that every
    /// tumbling window (aligned to epoch 0, like the chunks) is a union of
    /// whole chunks. `None` while epochs' sketches are read or a window
    /// slides.
    pub(super) fn chunk_epochs(&self) -> Option<u64> {
        if self.epoch_sketches || self.windows.iter().any(|w| w.slide != w.length) {
            return None;
        }
        let gcd = |a: u64, b: u64| {
            let (mut a, mut b) = (a, b);
            while b != 0 {
                (a, b) = (b, a % b);
            }
            a
        };
        let g = self.windows.iter().fold(0, |g, w| gcd(g, w.length as u64));
        (g > 0).then_some(g)
    }
}

/// A configuration the engine refuses: which option, its bound and the
/// value given. The messages name no command-line flag; tools says which
/// flag the user gave.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    /// More workers than key shards.
    #[error("workers must be 0 (the reader does all the work) to {max}, got {given}")]
    Workers {
        /// Workers asked for.
        given: usize,
        /// The most there can be ([`SHARDS`]).
        max: usize,
    },
    /// A batch size out of range.
    #[error("batch size must be 1 to {max}, got {given}")]
    Batch {
        /// Updates per batch asked for.
        given: usize,
        /// The largest batch.
        max: usize,
    },
    /// An overload-mode threshold out of range.
    #[error("sampling threshold must be 2 to {max} packets, got {given}")]
    Sample {
        /// Packets asked for.
        given: u64,
        /// The largest threshold.
        max: u64,
    },
    /// An epoch shorter than the shortest one.
    #[error("epoch must be at least {min_ns} ns, got {given_ns} ns")]
    Epoch {
        /// Epoch length asked for, ns.
        given_ns: u64,
        /// The shortest epoch, ns.
        min_ns: u64,
    },
    /// A worker queue without room for a batch.
    #[error("queue size must be at least 1 batch")]
    Queue,
    /// A window whose length or slide is out of range.
    #[error(
        "window {length}/{slide} epochs: length must be 1 to {max_length} epochs and slide 1 to length"
    )]
    Window {
        /// Epochs covered.
        length: u32,
        /// Epochs between reports.
        slide: u32,
        /// The longest window, in epochs.
        max_length: u32,
    },
    /// A memory budget whose sketches would pass a sketch's own limit.
    #[error("{} MiB is more than the sketches can take ({why}); give at most {} MiB", .given_bytes >> 20, .fits_bytes >> 20)]
    MemoryOver {
        /// The budget given, bytes.
        given_bytes: usize,
        /// Which sketch limit it passes.
        why: String,
        /// The largest budget that fits, bytes (to within 1 MiB).
        fits_bytes: usize,
    },
    /// A memory budget too small for the epochs a window holds.
    #[error("{} MiB is too small for a {ring}-epoch window; give at least {} MiB", .given_bytes >> 20, .needed_bytes >> 20)]
    MemoryUnder {
        /// The budget given, bytes.
        given_bytes: usize,
        /// The longest window, in epochs.
        ring: usize,
        /// What the epochs need, bytes.
        needed_bytes: usize,
    },
    /// Pinning asked for with an empty list of CPUs.
    #[error("the CPU list needs at least one CPU")]
    NoCpus,
    /// A CPU to pin to that this machine does not offer.
    #[error("CPU {cpu} is not available; this machine has {}", join_ids(.available))]
    CpuUnavailable {
        /// The CPU asked for.
        cpu: usize,
        /// The CPUs there are.
        available: Vec<usize>,
    },
}

/// `0,1,2`: CPU ids as the machine lists them.
fn join_ids(ids: &[usize]) -> String {
    let ids: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    ids.join(",")
}

/// Checks `cfg` and sizes one epoch's sketches from its memory budget.
/// The largest overload-mode threshold, in packets.
pub const MAX_SAMPLE: u64 = 1 << 16;

pub(super) fn validate(cfg: &EngineConfig) -> Result<Budget, EngineError> {
    if cfg.workers > SHARDS {
        return Err(EngineError::Workers {
            given: cfg.workers,
            max: SHARDS,
        });
    }
    if let Some(t) = cfg.sample.filter(|t| !(2..=MAX_SAMPLE).contains(t)) {
        return Err(EngineError::Sample {
            given: t,
            max: MAX_SAMPLE,
        });
    }
    if cfg.batch_size == 0 || cfg.batch_size > 1 << 20 {
        return Err(EngineError::Batch {
            given: cfg.batch_size,
            max: 1 << 20,
        });
    }
    if cfg.epoch_ns < 1_000_000 {
        return Err(EngineError::Epoch {
            given_ns: cfg.epoch_ns,
            min_ns: 1_000_000,
        });
    }
    if cfg.queue_batches == 0 {
        return Err(EngineError::Queue);
    }
    for w in &cfg.windows {
        if w.length == 0 || w.slide == 0 || w.slide > w.length || w.length > 3600 {
            return Err(EngineError::Window {
                length: w.length,
                slide: w.slide,
                max_length: 3600,
            });
        }
    }
    let ring = cfg
        .windows
        .iter()
        .map(|w| w.length as usize)
        .max()
        .unwrap_or(1);
    // The ring, the run total, one window being merged, the epochs
    // held open by lateness, and the closed epochs on their way to the
    // merging thread. Workers split an open epoch's shards among
    // themselves, so the worker count does not enter: sketch sizes, and
    // with them the answers, are the same however many workers run.
    let open = 2 + cfg.lateness_ns.div_ceil(cfg.epoch_ns) as usize;
    let copies = ring + 2 + open + MERGE_EPOCHS;
    // An eighth goes to the run total's address rankings on top of its
    // epoch-sized sketches: at the default 256 MiB they hold 130 k sources
    // and as many destinations, so a run's top talkers are exact up to
    // there (an epoch rarely sees a tenth of a run's addresses).
    // Under 64 MiB every byte goes to the epochs.
    // Handshake tracking keeps the services it had before the total's
    // share was taken (a service table is small; fewer tracked services
    // would leave more of them incomplete).
    let plan = |memory: usize| {
        let total_extra = if memory >= 64 << 20 { memory / 8 } else { 0 };
        let mut b = Budget::for_epoch((memory - total_extra) / copies).with_total(total_extra);
        b.services_per_shard = Budget::for_epoch(memory / copies).services_per_shard;
        b
    };
    let budget = plan(cfg.memory_bytes);
    if let Err(why) = budget.check() {
        // The largest budget that fits, to say what to give instead.
        let (mut fits, mut over) = (0usize, cfg.memory_bytes);
        while over - fits > 1 << 20 {
            let mid = fits + (over - fits) / 2;
            match plan(mid).check() {
                Ok(()) => fits = mid,
                Err(_) => over = mid,
            }
        }
        return Err(EngineError::MemoryOver {
            given_bytes: cfg.memory_bytes,
            why,
            fits_bytes: fits,
        });
    }
    if budget.epoch_bytes() * copies + budget.total_extra_bytes() > cfg.memory_bytes.max(1) * 2 {
        return Err(EngineError::MemoryUnder {
            given_bytes: cfg.memory_bytes,
            ring,
            needed_bytes: budget.epoch_bytes() * copies,
        });
    }
    Ok(budget)
}

/// The core for each thread: the source first, then the workers. `None`
/// leaves a thread unpinned.
pub(super) fn pin_plan(
    cfg: &EngineConfig,
) -> Result<Vec<Option<core_affinity::CoreId>>, EngineError> {
    let available = core_affinity::get_core_ids().unwrap_or_default();
    let cores = if !cfg.pin {
        vec![None; cfg.workers + 1]
    } else {
        let wanted: Vec<usize> = match &cfg.cpus {
            Some(c) if c.is_empty() => return Err(EngineError::NoCpus),
            Some(c) => c.clone(),
            None => available.iter().map(|c| c.id).collect(),
        };
        for c in &wanted {
            if !available.iter().any(|a| a.id == *c) {
                return Err(EngineError::CpuUnavailable {
                    cpu: *c,
                    available: available.iter().map(|a| a.id).collect(),
                });
            }
        }
        if wanted.is_empty() {
            vec![None; cfg.workers + 1]
        } else {
            let id = |id| Some(core_affinity::CoreId { id });
            cpu_plan(&wanted, cfg.workers).into_iter().map(id).collect()
        }
    };
    Ok(cores)
}

/// The CPU of each thread, the source first, from the CPUs to use (at
/// least one). The source takes the last, alone when there are others: it
/// is the one serial stage, and a worker beside it takes half of its
/// core's time from it (on 2 CPUs with 2 workers the large trace ran 17%
/// slower that way than with both workers on the other CPU). Workers take
/// the other CPUs in order, round-robin.
fn cpu_plan(wanted: &[usize], workers: usize) -> Vec<usize> {
    let Some((&last, rest)) = wanted.split_last() else {
        return Vec::new();
    };
    let rest = if rest.is_empty() { wanted } else { rest };
    let mut v = vec![last];
    v.extend((0..workers).map(|w| rest[w % rest.len()]));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(windows: &[(u32, u32)], epoch_sketches: bool) -> EngineConfig {
        EngineConfig {
            windows: (windows.iter())
                .map(|&(length, slide)| WindowSpec { length, slide })
                .collect(),
            epoch_sketches,
            ..EngineConfig::default()
        }
    }

    #[test]
    fn the_source_has_a_cpu_of_its_own_when_there_are_others() {
        // Source first, then the workers.
        assert_eq!(cpu_plan(&[0, 1], 2), [1, 0, 0]);
        assert_eq!(cpu_plan(&[0, 1], 1), [1, 0]);
        assert_eq!(cpu_plan(&[0, 1, 2, 3], 3), [3, 0, 1, 2]);
        assert_eq!(cpu_plan(&[0, 1, 2], 4), [2, 0, 1, 0, 1]);
        assert_eq!(cpu_plan(&[5], 2), [5, 5, 5]);
        assert_eq!(cpu_plan(&[0, 1], 0), [1]);
    }

    #[test]
    fn sketches_are_kept_per_chunk_only_for_tumbling_windows_no_one_reads_per_epoch() {
        assert_eq!(with(&[(10, 10)], false).chunk_epochs(), Some(10));
        assert_eq!(
            with(&[(60, 60), (10, 10), (4, 4)], false).chunk_epochs(),
            Some(2)
        );
        assert_eq!(with(&[(3, 3), (2, 2)], false).chunk_epochs(), Some(1));
        // Detection reads every epoch; a sliding window is made of epochs.
        assert_eq!(with(&[(10, 10)], true).chunk_epochs(), None);
        assert_eq!(with(&[(10, 10), (4, 2)], false).chunk_epochs(), None);
    }
}
