//! The trace generator: synthetic traffic with exact ground truth,
//! deterministic from a seed (the `gen` command's driver is `cmd/gen.rs`;
//! `demo` and the tests run the model in memory).

mod frame;
pub mod model;
pub mod scenario;
pub mod truth;

pub use model::{Config, Meta, Model};
pub use scenario::Scenario;
pub use truth::Truth;
