//! The one error type of the sketches crate.

/// Why a sketch could not be built, merged or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SketchError {
    /// A construction parameter is out of range.
    #[error("invalid sketch parameter: {0}")]
    InvalidParameter(String),
    /// Two sketches of different shape or seed cannot be merged.
    #[error("cannot merge sketches: {0}")]
    Incompatible(String),
    /// Bytes that are not a sketch of the expected kind and version.
    #[error("cannot decode sketch: {0}")]
    Decode(String),
}
