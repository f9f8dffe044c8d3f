//! Plain domain rules: job validation, trigger fields, presets, retention durations, the base of
//! an incremental. Pure functions.

pub mod base;
pub mod duration;
pub mod health;
pub mod job;
pub mod keep;
pub mod patch;
pub mod presets;
pub mod retention;
pub mod selection;
pub mod trigger;

pub use job::Rejection;
