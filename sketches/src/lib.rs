//! Sketches (see ARCHITECTURE.md).
