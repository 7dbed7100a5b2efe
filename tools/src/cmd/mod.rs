//! One file per command: each holds its source (file, interface, sockets,
//! generator) and its own report fields; the shared stages are built by
//! the session.

pub mod capture;
