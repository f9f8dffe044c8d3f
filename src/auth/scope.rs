//! Which scope each route needs: one table of the routes that need something other than the
//! default, derived from the method and the route's pattern (`/scheduler/jobs/{job_id}`, below
//! `/api/backup`; `/metrics` at the root).
//!
//! The default is `read` for GET and `admin` for anything else: a route added without a line
//! here is reachable, but a write is closed to all but admin tokens until someone decides its
//! scope (fail closed). `admin` grants every scope; no other scope implies another, so a token
//! holds exactly what it was given (`read` is not part of `operate`: a CI job that only starts
//! runs need not see the catalog).

pub use crate::events::Scope;

/// Routes whose scope is not the default one.
const TABLE: &[(&str, &str, Scope)] = &[
    ("POST", "/scheduler/start", Scope::Operate),
    ("POST", "/scheduler/stop", Scope::Operate),
    ("POST", "/scheduler/jobs/{job_id}/pause", Scope::Operate),
    ("POST", "/scheduler/jobs/{job_id}/resume", Scope::Operate),
    ("POST", "/scheduler/jobs/{job_id}/run", Scope::Operate),
    ("POST", "/runs/{run_id}/cancel", Scope::Operate),
    // Verification reads every byte of a chain and records the result: a run-like operation.
    ("POST", "/backups/{backup_id}/verify", Scope::Operate),
    // A test message reaches people: more than a read, less than a change of configuration.
    ("POST", "/notify/test", Scope::Operate),
    ("POST", "/scheduler/jobs", Scope::Manage),
    ("PUT", "/scheduler/jobs/{job_id}", Scope::Manage),
    ("DELETE", "/scheduler/jobs/{job_id}", Scope::Manage),
    ("DELETE", "/backups/{backup_id}", Scope::Manage),
    ("POST", "/backups/{backup_id}/restore", Scope::Restore),
    // The listing of a backup's files is a read; their contents are the data itself.
    ("GET", "/backups/{backup_id}/files/content", Scope::Restore),
    ("GET", "/tokens", Scope::Admin),
    ("POST", "/tokens", Scope::Admin),
    ("DELETE", "/tokens/{name}", Scope::Admin),
    // A token learns its own scopes (the dashboard hides what it may not use); the state at a
    // position is a read of the log, as `events` is.
    ("GET", "/whoami", Scope::Read),
    ("GET", "/state", Scope::Read),
    ("GET", "/scheduler/preview", Scope::Read),
    // Past health checks: a read of the log, as `events` is.
    ("GET", "/health/history", Scope::Read),
];

/// The scope a route needs, by its method and its pattern as the route table spells it.
pub fn required(method: &str, pattern: &str) -> Scope {
    TABLE
        .iter()
        .find(|(m, p, _)| *m == method && *p == pattern)
        .map(|(_, _, scope)| *scope)
        .unwrap_or(if method == "GET" {
            Scope::Read
        } else {
            Scope::Admin
        })
}

/// Does a token holding `held` pass a route that needs `needed`?
pub fn grants(held: &[Scope], needed: Scope) -> bool {
    held.contains(&Scope::Admin) || held.contains(&needed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_and_its_defaults() {
        let cases = [
            ("GET", "/scheduler/jobs", Scope::Read),
            ("GET", "/events", Scope::Read),
            ("GET", "/metrics", Scope::Read),
            ("GET", "/backups/{backup_id}/files", Scope::Read),
            ("GET", "/backups/{backup_id}/files/content", Scope::Restore),
            ("POST", "/backups/{backup_id}/restore", Scope::Restore),
            ("POST", "/scheduler/jobs/{job_id}/run", Scope::Operate),
            ("POST", "/scheduler/stop", Scope::Operate),
            ("POST", "/notify/test", Scope::Operate),
            ("GET", "/notifications", Scope::Read),
            ("GET", "/health/history", Scope::Read),
            ("POST", "/scheduler/jobs", Scope::Manage),
            ("DELETE", "/backups/{backup_id}", Scope::Manage),
            ("GET", "/tokens", Scope::Admin),
            ("DELETE", "/tokens/{name}", Scope::Admin),
            // not in the table: a write nobody classified is admin's, a read is read's
            ("POST", "/something/new", Scope::Admin),
            ("GET", "/something/new", Scope::Read),
        ];
        for (method, pattern, scope) in cases {
            assert_eq!(required(method, pattern), scope, "{method} {pattern}");
        }
        // Every route of the table is one the API serves (a typo would silently fall back).
        let served: Vec<(&str, &str)> = crate::api::ROUTES
            .iter()
            .chain(crate::api::ROOT_ROUTES)
            .map(|r| (r.method(), r.path()))
            .collect();
        for (m, p, _) in TABLE {
            assert!(served.contains(&(*m, *p)), "{m} {p} is not a route");
        }
    }

    #[test]
    fn admin_grants_everything_and_nothing_else_implies_another() {
        for needed in Scope::ALL {
            assert!(grants(&[Scope::Admin], needed));
            for held in Scope::ALL.into_iter().filter(|s| *s != Scope::Admin) {
                assert_eq!(
                    grants(&[held], needed),
                    held == needed,
                    "{held:?} {needed:?}"
                );
            }
        }
        assert!(grants(&[Scope::Read, Scope::Restore], Scope::Restore));
        assert!(!grants(&[], Scope::Read));
    }
}
