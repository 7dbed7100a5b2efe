//! Exact pre-aggregation in front of the sketches.
//!
//! A packet touches two dozen sketch counters (source, destination, pair
//! and port rankings, attack counters, prefix Count-Min rows, distinct
//! counts). Real traffic repeats its flows within an epoch (5-15 packets
//! per flow per second), so the source thread first sums packets and bytes
//! per flow (the 5-tuple) in a small table and the sketches see one
//! weighted update per flow instead of one per packet. Weighted updates
//! keep every contract: Count-Min stays an over-estimate within `eps * N`,
//! Space-Saving keeps `count - error <= truth <= count`, HyperLogLog is
//! idempotent.
//!
//! The table is flushed at fixed points of the stream only: when its epoch
//! closes, or when it is full. Both depend on the input alone (one source
//! thread sees every update in order), never on `--batch` or `--workers`,
//! so the sketches see the same weighted stream however the work is split.
//! A flushed flow carries every hash its keys need, computed once, so the
//! workers hash nothing.
//!
//! [`table`] is the per-epoch table of flows; [`flush`] sums its flows per
//! key family for the workers ([`Flush::take_from`], [`Flush::seal`]), one
//! part per worker; [`map`] is the small map each family sums in.

mod flush;
mod map;
mod table;

pub use flush::{DstSums, Flush, FlushPart, SrcSums, Sums};
pub use map::AggMap;
pub use table::FlowTable;
