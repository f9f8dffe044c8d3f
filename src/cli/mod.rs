//! The command line's commands beyond parsing and dispatch (`main.rs`), one file per concept.

mod catalog;
mod recover;
mod secrets;
mod serve;

pub(crate) use catalog::*;
pub(crate) use recover::*;
pub(crate) use secrets::*;
pub(crate) use serve::*;
