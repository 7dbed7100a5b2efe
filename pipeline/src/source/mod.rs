//! Where a pipeline's updates come from: the [`Source`] trait the source
//! thread pulls batches through, what a source does with full queues
//! ([`Backpressure`]), and the sources themselves: capture files
//! (`file.rs`), a live interface (`live.rs`, feature `live`) and flow
//! collection over UDP ([`crate::collect`]).

use capture::{FlowUpdate, RawPacket};

mod file;
#[cfg(feature = "live")]
mod live;

pub use file::{FileProblem, FileSource};
#[cfg(feature = "live")]
pub use live::LiveSource;

/// What happens when a worker queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backpressure {
    /// Wait: nothing is lost (file replay).
    Block,
    /// Drop the batch and count it (live capture, flow collection).
    Shed,
}

/// Where updates come from. `fill` runs on the source thread.
pub trait Source: Send {
    /// A short label for metrics (`file`, `live`, `generated`).
    fn name(&self) -> &'static str;
    /// Appends up to `max` updates to `out`; returns false when the input
    /// is exhausted (what was appended still counts).
    fn fill(&mut self, out: &mut Vec<FlowUpdate>, max: usize) -> bool;
    /// Whether the source is live (an interface, a collector socket): its
    /// traffic cannot wait, and its event times follow the wall clock.
    /// What the two defaults below go by.
    fn live(&self) -> bool {
        false
    }
    /// What to do with full queues: a live source sheds (and counts), any
    /// other waits.
    fn backpressure(&self) -> Backpressure {
        if self.live() {
            Backpressure::Shed
        } else {
            Backpressure::Block
        }
    }
    /// The wall clock, ns since the Unix epoch, for live sources whose
    /// event times follow it: epochs then close on time even when no
    /// update comes (a quiet link, an idle exporter). `None` (files): event
    /// time alone closes epochs, so a replay gives the same answers at any
    /// speed.
    fn clock_ns(&self) -> Option<u64> {
        self.live().then(wall_clock_ns)
    }
}

/// The wall clock in ns since the Unix epoch: what a live source's
/// [`Source::clock_ns`] returns, and what stamps records on arrival.
pub fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// What a [`Selector`] says of a packet before it is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Selected {
    /// Into the pipeline.
    Keep,
    /// Left out by a filter expression (counted as `filtered`).
    Filtered,
    /// Outside the time range asked for (counted as `out_of_range`).
    OutOfRange,
}

/// A test run on each packet read, before it is parsed or counted (a BPF
/// expression, a time range): packets it leaves out are counted, never
/// parsed, and reach neither the totals nor the sketches.
pub type Selector = Box<dyn FnMut(&RawPacket<'_>) -> Selected + Send>;
