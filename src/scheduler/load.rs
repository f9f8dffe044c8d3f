//! The machine's load as `[scheduler] defer_while_load_above` reads it: the first field of
//! `/proc/loadavg` (the 1-minute load average) divided by the number of CPUs.
//!
//! `BACKUPD_LOADAVG_FILE` names another file of the same format to read instead, so the real
//! binary can be driven through busy and quiet periods by a test (or an operator's dry run).

use std::path::{Path, PathBuf};

/// The override of `/proc/loadavg` (same format: the 1-minute average first).
pub const LOADAVG_ENV: &str = "BACKUPD_LOADAVG_FILE";

/// The file the load is read from: `BACKUPD_LOADAVG_FILE`, else `/proc/loadavg`.
pub fn loadavg_path() -> PathBuf {
    std::env::var_os(LOADAVG_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/proc/loadavg"))
}

/// The 1-minute load average in `path` per core; `None` when it cannot be read or parsed
/// (logged).
pub fn load_per_core(path: &Path) -> Option<f64> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            log::warn!(target: "scheduler", "load not read from {}: {e}", path.display());
            return None;
        }
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    match parse(&text) {
        Some(load) => Some(load / cpus as f64),
        None => {
            log::warn!(target: "scheduler", "load in {} is not a number: {text:?}", path.display());
            None
        }
    }
}

fn parse(text: &str) -> Option<f64> {
    text.split_whitespace()
        .next()?
        .parse::<f64>()
        .ok()
        .filter(|l| l.is_finite() && *l >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn reads_the_first_field_of_loadavg() {
        assert_eq!(parse("0.52 0.58 0.59 1/389 12345\n"), Some(0.52));
        assert_eq!(parse("7\n"), Some(7.0));
        assert_eq!(parse(""), None);
        assert_eq!(parse("busy 1 2"), None);
        assert_eq!(parse("-1 0 0"), None);
    }
}
