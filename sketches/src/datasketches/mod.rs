//! Apache DataSketches wire formats for the sketches that leave netsketch.
//!
//! Druid, Pinot, Spark, Flink and the DataSketches libraries (Java, C++,
//! Python, Rust) merge these bytes, so a fleet's distinct counts and heavy
//! hitters combine in engines operators already run.
//!
//! - HLL ([`hll_to_bytes`], [`hll_from_bytes`]): a [`HyperLogLog`](crate::HyperLogLog) built
//!   with [`Hashing::DataSketches`](crate::Hashing::DataSketches) holds exactly the coupons a DataSketches
//!   HLL would hold for the same keys, so the conversion is register for
//!   register. We write the mode DataSketches itself would be in for that
//!   many coupons (LIST, SET, or HLL_8 registers marked out-of-order, so
//!   readers use the composite estimator); we read LIST, SET, HLL_4 (with
//!   its exception table), HLL_6 and HLL_8.
//! - Frequent items ([`frequent_items_to_bytes`], [`FrequentItems`]): the
//!   string-item format of `frequent_strings_sketch`. DataSketches keeps one
//!   global `offset` and per-item weights with `weight <= truth <= weight +
//!   offset`, estimate `weight + offset`. From Space-Saving we write
//!   `offset = ` the largest error any item can carry and `weight = count -
//!   offset`, so DataSketches' estimate equals ours and its bounds hold
//!   (they are at most as tight as ours); items not above `offset` are left
//!   out, which DataSketches' bound for absent items (`offset`) covers.
//!
//! Format facts come from the DataSketches documentation and the
//! `datasketches` crate's readers; every reader here is bounds checked and
//! returns [`SketchError::Decode`](crate::SketchError::Decode) for malformed bytes.

mod frequent_items;
mod hll;
mod ip_text;
mod wire;

pub use frequent_items::{frequent_items_bytes, frequent_items_to_bytes, Bounded, FrequentItems};
pub use hll::{hll_from_bytes, hll_to_bytes};
pub use ip_text::{ip_coupon, ip_string, ip_text};
pub use wire::UPDATE_SEED;
