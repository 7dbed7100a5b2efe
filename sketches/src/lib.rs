//! One-pass, fixed-memory summaries whose answers come with a bound that
//! holds.
//!
//! - [`CountMin`]: point estimates of weights, never under the truth and at
//!   most `eps * N` over it with probability `1 - delta`; conservative update
//!   by default.
//! - [`HyperLogLog`]: distinct counts, exact-ish while small (sparse
//!   coupons), then `2^p` registers with Ertl's improved estimator; relative
//!   standard error about `1.04 / sqrt(2^p)`.
//! - [`SpaceSaving`]: weighted heavy hitters with per-item bounds
//!   `count - error <= truth <= count`; every item heavier than `N / k` is
//!   reported; merges keep the guarantee.
//!
//! Every sketch is updated with a key's 64-bit hash ([`hash`]), computed
//! once per key and reused across sketches; hashing is seeded and fixed, so
//! results and snapshots are reproducible. Every sketch has a versioned
//! byte format ([`codec`]) whose decoder returns an error for any malformed
//! input.
//!
//! HLL and heavy-hitter snapshots that leave netsketch use Apache
//! DataSketches' formats ([`datasketches`]).
//!
//! Architecture invariant: this crate does no I/O, spawns no thread and
//! knows nothing about packets; it depends on nothing of ours.
#![deny(missing_docs)]

pub mod codec;
mod count_min;
pub mod datasketches;
mod error;
mod estimate;
pub mod hash;
mod hll;
mod space_saving;

pub use count_min::CountMin;
pub use error::SketchError;
pub use estimate::Estimate;
pub use hll::{Coupon, Hashing, HyperLogLog};
pub use space_saving::{top_of, HeavyHitter, SpaceSaving};
