//! Integration tests: one binary (each extra test binary costs a full link on 2 cores).
mod api;
mod archive;
mod cli;
mod databases;
mod engine;
mod golden;
mod health;
mod metrics;
mod replay;
mod report;
mod restore;
mod retention;
mod scheduler;
mod sqlite;
mod store;
mod support;
mod weekly_archive;
