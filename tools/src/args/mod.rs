//! Command-line arguments: the clap definitions of every command (`cli`)
//! and the engine options shared by the commands that run the pipeline
//! (`engine`), validated into library configurations in one place.

pub mod cli;
pub mod config;
pub mod engine;
