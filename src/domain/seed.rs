//! What a backup config takes in (`includes`). The seed's JSON shapes for triggers and backup
//! configs are the API's (`api::jobs::seed`).

use crate::events::{BackupConfig, BackupType};

/// What a backup takes in, as `(database, files, config)`.
///
/// `type` sets the defaults and explicit options win: `database` → only the database;
/// `files` → only the file directories (config files are a source of their own, taken by
/// `full` or by an explicit `include_config: true`); `full` → all three.
pub fn includes(cfg: &BackupConfig) -> (bool, bool, bool) {
    let (db, files, config) = match cfg.backup_type {
        BackupType::Database => (true, false, false),
        BackupType::Files => (false, true, false),
        BackupType::Full => (true, true, true),
    };
    (
        cfg.include_database.unwrap_or(db),
        cfg.include_files.unwrap_or(files),
        cfg.include_config.unwrap_or(config),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::BackupMode;

    fn config(
        t: BackupType,
        include_database: Option<bool>,
        include_files: Option<bool>,
        include_config: Option<bool>,
    ) -> BackupConfig {
        BackupConfig {
            include_database,
            include_files,
            include_config,
            ..BackupConfig::new(t, BackupMode::Full)
        }
    }

    #[test]
    fn includes_follow_type_and_explicit_options_win() {
        use BackupType::*;
        #[rustfmt::skip]
        let table = [
            (config(Database, None, None, None), (true, false, false)),
            (config(Files, None, None, None), (false, true, false)),
            (config(Full, None, None, None), (true, true, true)),
            (config(Files, None, None, Some(true)), (false, true, true)),
            (config(Full, Some(false), None, None), (false, true, true)),
            (config(Database, Some(false), Some(true), Some(false)), (false, true, false)),
        ];
        for (cfg, want) in table {
            assert_eq!(includes(&cfg), want, "{cfg:?}");
        }
    }
}
