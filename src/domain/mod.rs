//! Plain domain rules: job validation, trigger fields, presets, retention durations. Pure functions.

pub mod duration;
pub mod health;
pub mod job;
pub mod presets;
pub mod retention;
pub mod seed;
pub mod trigger;

pub use job::Rejection;
