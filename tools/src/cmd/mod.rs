//! One file per command: each holds its source (file, interface, sockets,
//! generator) and its own report fields; the shared stages are built by
//! the session.

pub mod accuracy;
pub mod capture;
pub mod collect;
pub mod demo;
pub mod gen;
pub mod merge;
pub mod replay;
pub mod run;
pub mod top;
