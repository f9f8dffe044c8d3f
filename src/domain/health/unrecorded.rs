//! The `unrecorded_archives` check: archive files that no event names (a crash between an
//! archive's rename and its record, or a file put there by hand). Nothing restores them and
//! nothing counts them, so they are named; cleanup removes each once older than the grace.

use super::{check, hours};
use crate::events::{HealthCheck, HealthStatus};

/// `facts`: each unrecorded archive's path (relative to the data directory), or why the data
/// directory could not be listed.
pub(super) fn unrecorded_archives(
    facts: &Result<Vec<String>, String>,
    grace_secs: i64,
) -> HealthCheck {
    let name = "unrecorded_archives";
    match facts {
        Err(why) => check(
            name,
            HealthStatus::Warning,
            format!("the archives could not be listed: {why}"),
        ),
        Ok(paths) if paths.is_empty() => check(
            name,
            HealthStatus::Ok,
            "every archive file is in the catalog",
        ),
        Ok(paths) => {
            let shown: Vec<&str> = paths.iter().take(5).map(String::as_str).collect();
            let more = if paths.len() > shown.len() {
                format!(" and {} more", paths.len() - shown.len())
            } else {
                String::new()
            };
            check(
                name,
                HealthStatus::Warning,
                format!(
                    "{} archive file(s) no event names (not restorable through the catalog): {}{more}; \
                     the next cleanup removes each one older than {}",
                    paths.len(),
                    shown.join(", "),
                    hours(grace_secs)
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_unrecorded_archive_as_a_warning() {
        let ok = unrecorded_archives(&Ok(vec![]), 3600);
        assert_eq!(ok.status, HealthStatus::Ok);
        let found = unrecorded_archives(
            &Ok(vec!["backups/x-20260101T000000Z-00000000.bka".into()]),
            3600,
        );
        assert_eq!(found.status, HealthStatus::Warning);
        assert!(
            found
                .reason
                .contains("backups/x-20260101T000000Z-00000000.bka"),
            "{}",
            found.reason
        );
        let many: Vec<String> = (0..7).map(|i| format!("backups/{i}.bka")).collect();
        let c = unrecorded_archives(&Ok(many), 3600);
        assert!(c.reason.starts_with("7 archive file(s)"), "{}", c.reason);
        assert!(c.reason.contains("and 2 more"), "{}", c.reason);
        let err = unrecorded_archives(&Err("denied".into()), 3600);
        assert_eq!(err.status, HealthStatus::Warning);
    }
}
