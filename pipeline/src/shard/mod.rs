//! The sketches of one key shard for one epoch, and how an update reaches
//! them.
//!
//! [`rank`] lists what a shard ranks, [`sketches`] holds one shard's
//! sketches, [`budget`] sizes them from the memory budget, [`owned`] is a
//! worker's set of shards for one epoch and applies flushes to it,
//! [`batches`] holds the storage a worker reuses between flushes,
//! [`exact`] the run total's exact address sums, [`sample`] the overload
//! mode's sampling and the bounds it states.

mod batches;
mod budget;
mod exact;
mod owned;
mod rank;
mod sample;
mod sketches;

pub use self::sketches::{DstDistinct, ShardSketches};
pub use batches::{Batches, CouponCache};
pub use budget::{attack_prefix, is_reflector_port, Budget};
pub use exact::ExactAddresses;
pub use owned::OwnedShards;
pub use rank::{PairRank, PortRank, Rank};
pub use sample::{epsilon, widen, SampledMax, Sampler, DELTA};
