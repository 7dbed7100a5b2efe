//! Pipeline (see ARCHITECTURE.md).
