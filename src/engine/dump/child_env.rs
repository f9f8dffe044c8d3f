//! What the programs the service starts (hooks, dump tools) do not inherit: the variables that
//! hold the service's own secrets. A hook is any program a job names, and its output goes into
//! the run's record; a dump tool needs one password, given to it alone (`PGPASSWORD` in its own
//! environment, or the owner-only defaults file of the MariaDB/MySQL tools), never the others'.
//!
//! Withheld: `BACKUPD_PASSPHRASE` (it unlocks every backup), `BACKUPD_NEW_PASSPHRASE`, and
//! every variable a database source's `password_env` names (and the `*_env` of `[[notify]]` and
//! `[[remotes]]`), which `serve` registers at start
//! (`withhold`) before any run can begin. The rest of the environment (`PATH`, `HOME`, the
//! locale, a proxy) passes on: hooks and tools depend on it.

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use crate::config::Config;
use crate::keys::{NEW_PASSPHRASE_ENV, PASSPHRASE_ENV};

/// The names `serve` registered, beside the two that are always withheld. Process-wide because
/// the environment it guards is: every child inherits from the one process environment.
static WITHHELD: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// Registers the secret variables `config` names (its database sources' `password_env`, the
/// notification channels' and the remotes' `*_env`).
pub fn withhold(config: &Config) {
    let mut set = WITHHELD.lock().unwrap_or_else(PoisonError::into_inner);
    set.extend(
        config
            .databases
            .iter()
            .filter_map(|db| db.password_env.clone()),
    );
    set.extend(config.secret_envs.iter().cloned());
}

/// Every name withheld from children now.
pub fn withheld() -> Vec<String> {
    let set = WITHHELD.lock().unwrap_or_else(PoisonError::into_inner);
    [PASSPHRASE_ENV, NEW_PASSPHRASE_ENV]
        .into_iter()
        .map(str::to_string)
        .chain(set.iter().cloned())
        .collect()
}

/// Removes the withheld variables from what `cmd`'s child inherits. Call it before adding the
/// child's own variables: a tool's `PGPASSWORD` is set after, so it survives even if some
/// `password_env` were named `PGPASSWORD` itself.
pub fn scrub(cmd: &mut Command) -> &mut Command {
    for name in withheld() {
        cmd.env_remove(name);
    }
    cmd
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_sees_none_of_the_withheld_variables() {
        let mut config = Config::default();
        let mut db: crate::config::DatabaseSource = serde_json::from_value(serde_json::json!({
            "name": "pg", "kind": "postgresql", "url": "postgresql://u@h/d",
            "password_env": "BACKUPD_TEST_CHILD_ENV_DB_PASSWORD"
        }))
        .unwrap();
        config.databases.push(db.clone());
        db.password_env = None;
        config.databases.push(db);
        config.secret_envs = vec!["BACKUPD_TEST_CHILD_ENV_S3_SECRET".into()];
        withhold(&config);
        // The variables as a parent would pass them on; the scrub takes effect after them.
        let mut inherited = Command::new("sh");
        inherited
            .args(["-c", "env"])
            .env(PASSPHRASE_ENV, "planted")
            .env("BACKUPD_TEST_CHILD_ENV_DB_PASSWORD", "planted")
            .env("BACKUPD_TEST_CHILD_ENV_S3_SECRET", "planted")
            .env("BACKUPD_TEST_CHILD_ENV_KEPT", "kept");
        scrub(&mut inherited);
        let out = inherited.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("planted"), "{text}");
        assert!(text.contains("BACKUPD_TEST_CHILD_ENV_KEPT=kept"), "{text}");
        assert!(text.contains("PATH="), "{text}");
    }
}
