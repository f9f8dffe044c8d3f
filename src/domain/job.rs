//! Validation of job specs: ids, names, trigger fields in the seed's numbering, zones, codecs;
//! and what a backup job takes in.

use crate::events::{BackupConfig, BackupType, JobSpec, Trigger};
use serde::Serialize;

/// Why a command was refused: the API maps `code` to a status and shows all three fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct Rejection {
    pub code: RejectionCode,
    pub message: String,
    pub field: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionCode {
    Validation,
    NotFound,
    Conflict,
    /// The client's `If-Match` version is not the job's current one.
    PreconditionFailed,
}

impl Rejection {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Rejection {
            code: RejectionCode::Validation,
            message: message.into(),
            field: Some(field.to_string()),
        }
    }

    pub fn not_found(field: &str, message: impl Into<String>) -> Self {
        Rejection {
            code: RejectionCode::NotFound,
            message: message.into(),
            field: Some(field.to_string()),
        }
    }

    /// The job changed since the client read it (`If-Match`): 412.
    pub fn stale(field: &str, message: impl Into<String>) -> Self {
        Rejection {
            code: RejectionCode::PreconditionFailed,
            message: message.into(),
            field: Some(field.to_string()),
        }
    }

    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        Rejection {
            code: RejectionCode::Conflict,
            message: message.into(),
            field: Some(field.to_string()),
        }
    }
}

pub const MAX_ID_LEN: usize = 64;
pub const MAX_NAME_LEN: usize = 200;
pub const CODECS: [&str; 4] = ["zstd", "xz", "gzip", "none"];

pub fn validate(spec: &JobSpec) -> Result<(), Rejection> {
    validate_id(&spec.id)?;
    let name = spec.name.trim();
    if name.is_empty() {
        return Err(Rejection::invalid("name", "name must not be empty"));
    }
    if spec.name.chars().count() > MAX_NAME_LEN {
        return Err(Rejection::invalid(
            "name",
            format!("name is longer than {MAX_NAME_LEN} characters"),
        ));
    }
    if spec.name.contains(['/', '\\']) || spec.name.chars().any(char::is_control) {
        return Err(Rejection::invalid(
            "name",
            "name must not contain '/', '\\' or control characters",
        ));
    }
    validate_trigger(&spec.trigger)?;
    if let Some(tz) = &spec.timezone {
        tz.parse::<chrono_tz::Tz>().map_err(|_| {
            Rejection::invalid("timezone", format!("{tz:?} is not an IANA time zone"))
        })?;
    }
    if let Some(cfg) = spec.action.backup_config() {
        validate_backup_config(&cfg)?;
    }
    Ok(())
}

pub const MAX_DESCRIPTION_LEN: usize = 1000;

pub fn validate_backup_config(cfg: &BackupConfig) -> Result<(), Rejection> {
    if let Some(text) = &cfg.description {
        if text.chars().count() > MAX_DESCRIPTION_LEN {
            return Err(Rejection::invalid(
                "backup_config.description",
                format!("description is longer than {MAX_DESCRIPTION_LEN} characters"),
            ));
        }
    }
    if let Some(names) = &cfg.sources {
        if let Some(bad) = names
            .iter()
            .find(|n| n.trim().is_empty() || n.len() > MAX_NAME_LEN)
        {
            return Err(Rejection::invalid(
                "backup_config.options.sources",
                format!("{bad:?} is not a source name"),
            ));
        }
    }
    if let Some(codec) = &cfg.compression {
        if !CODECS.contains(&codec.as_str()) {
            return Err(Rejection::invalid(
                "backup_config.options.compression",
                format!("{codec:?} is not one of zstd, xz, gzip, none"),
            ));
        }
    }
    if let Some(level) = cfg.level {
        // Without a codec the level would be read on the configured default's scale, which a
        // pure decision cannot see; so the two come together.
        let Some(codec) = cfg.compression.as_deref() else {
            return Err(Rejection::invalid(
                "backup_config.options.level",
                "level needs compression: each codec has its own scale",
            ));
        };
        let (lo, hi) = level_range(codec);
        if level < lo || level > hi {
            return Err(Rejection::invalid(
                "backup_config.options.level",
                format!("level {level} is outside {lo}..={hi} for {codec}"),
            ));
        }
    }
    // Rules without a rule would silently leave only the safety rules: the API refuses `{}`,
    // and so does the decision, whatever sent the spec.
    if cfg.keep.as_ref().is_some_and(super::keep::is_empty) {
        return Err(Rejection::invalid(
            "backup_config.keep",
            "keep needs at least one rule",
        ));
    }
    if let Some(secs) = cfg.timeout_secs {
        if secs > MAX_TIMEOUT_SECS {
            return Err(Rejection::invalid(
                "timeout",
                format!("timeout must be at most {MAX_TIMEOUT_SECS} seconds (0 = none)"),
            ));
        }
    }
    for (stage, argv) in [
        ("before", &cfg.hooks.before),
        ("after", &cfg.hooks.after),
        ("on_failure", &cfg.hooks.on_failure),
    ] {
        if let Some(argv) = argv {
            validate_hook(&format!("hooks.{stage}"), argv)?;
        }
    }
    Ok(())
}

/// A timeout beyond a year is the same as none; the bound keeps deadlines finite.
pub const MAX_TIMEOUT_SECS: u64 = 366 * 86_400;
/// Arguments a hook's argv may have, the program included.
pub const MAX_HOOK_ARGS: usize = 64;
/// Bytes one argument may have.
pub const MAX_HOOK_ARG_LEN: usize = 4096;

/// A hook's argv: a program to run (no shell: `["sh", "-c", "..."]` for one), each argument
/// passable to `execve` (no NUL byte) and of bounded size.
pub fn validate_hook(field: &str, argv: &[String]) -> Result<(), Rejection> {
    let Some(program) = argv.first() else {
        return Err(Rejection::invalid(
            field,
            "a hook is an argv: a non-empty list, the program first",
        ));
    };
    if program.trim().is_empty() {
        return Err(Rejection::invalid(
            field,
            "the hook's program must not be empty",
        ));
    }
    if argv.len() > MAX_HOOK_ARGS {
        return Err(Rejection::invalid(
            field,
            format!("a hook has at most {MAX_HOOK_ARGS} arguments, the program included"),
        ));
    }
    if argv.iter().any(|a| a.contains('\0')) {
        return Err(Rejection::invalid(
            field,
            "a hook's arguments must not contain NUL",
        ));
    }
    if argv.iter().any(|a| a.len() > MAX_HOOK_ARG_LEN) {
        return Err(Rejection::invalid(
            field,
            format!("a hook's argument is longer than {MAX_HOOK_ARG_LEN} bytes"),
        ));
    }
    Ok(())
}

impl BackupConfig {
    /// What a backup takes in, as `(database, files, config)`.
    ///
    /// `type` sets the defaults and explicit options win: `database` → only the database;
    /// `files` → only the file directories (config files are a source of their own, taken by
    /// `full` or by an explicit `include_config: true`); `full` → all three.
    pub fn includes(&self) -> (bool, bool, bool) {
        let (db, files, config) = match self.backup_type {
            BackupType::Database => (true, false, false),
            BackupType::Files => (false, true, false),
            BackupType::Full => (true, true, true),
        };
        (
            self.include_database.unwrap_or(db),
            self.include_files.unwrap_or(files),
            self.include_config.unwrap_or(config),
        )
    }
}

/// Each codec's own scale.
pub fn level_range(codec: &str) -> (i32, i32) {
    match codec {
        "xz" => (0, 9),
        "gzip" => (1, 9),
        "none" => (0, 0),
        _ => (1, 19),
    }
}

/// A name that can be a job id as it stands (`^[A-Za-z0-9_-]{1,64}$`): a job created with such a
/// name and no id gets the name as its id, so the seed's flow (create `custom_backup`, then
/// `/jobs/custom_backup/pause`) works as written.
pub fn is_id_name(name: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

pub fn validate_id(id: &str) -> Result<(), Rejection> {
    // Path segments with a meaning of their own are never ids.
    if id == "." || id == ".." {
        return Err(Rejection::invalid(
            "id",
            format!("{id:?} cannot be a job id"),
        ));
    }
    if id.is_empty() || id.len() > MAX_ID_LEN {
        return Err(Rejection::invalid(
            "id",
            format!("id must be 1 to {MAX_ID_LEN} characters"),
        ));
    }
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(Rejection::invalid(
            "id",
            "id may contain only letters, digits, '_', '-' and '.'",
        ));
    }
    Ok(())
}

pub fn validate_trigger(trigger: &Trigger) -> Result<(), Rejection> {
    if let Some(fields) = crate::domain::trigger::cron_fields(trigger) {
        return crate::domain::trigger::validate_cron(fields);
    }
    let Trigger::Interval { seconds, start_at } = trigger else {
        return Ok(());
    };
    if *seconds == 0 {
        return Err(Rejection::invalid(
            "trigger_config",
            "an interval must be longer than zero",
        ));
    }
    // A century: beyond that the grid arithmetic is pointless and risks overflow.
    if *seconds > 100 * 365 * 86_400 {
        return Err(Rejection::invalid("trigger_config", "interval is too long"));
    }
    if let Some(start) = start_at {
        crate::domain::trigger::check_time("trigger_config.start_date", *start)?;
    }
    Ok(())
}

/// A cron field of numbers in `lo..=hi` (see `trigger::field` for the syntax); the sorted values
/// it selects.
pub fn parse_field(text: &str, lo: u32, hi: u32) -> Result<Vec<u32>, String> {
    crate::domain::trigger::field::Field {
        name: "",
        lo,
        hi,
        names: &[],
    }
    .parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_table() {
        let cases: &[(&str, u32, u32, Option<&[u32]>)] = &[
            ("*", 0, 6, Some(&[0, 1, 2, 3, 4, 5, 6])),
            ("5", 0, 59, Some(&[5])),
            ("*/20", 0, 59, Some(&[0, 20, 40])),
            ("1-5", 0, 6, Some(&[1, 2, 3, 4, 5])),
            ("1,3,5", 0, 6, Some(&[1, 3, 5])),
            ("10-20/5", 0, 59, Some(&[10, 15, 20])),
            ("0", 1, 31, None),
            ("32", 1, 31, None),
            ("7", 0, 6, None),
            ("24", 0, 23, None),
            ("-1", 0, 59, None),
            ("*/0", 0, 59, None),
            ("5-1", 0, 59, None),
            ("", 0, 59, None),
            ("a", 0, 59, None),
        ];
        for (text, lo, hi, want) in cases {
            let got = parse_field(text, *lo, *hi);
            match want {
                Some(v) => assert_eq!(got.as_deref(), Ok(*v), "{text}"),
                None => assert!(got.is_err(), "{text} should be refused, got {got:?}"),
            }
        }
    }

    #[test]
    fn ids_and_names_that_are_ids() {
        for id in ["custom_backup", "a.b", "A-1", &"x".repeat(64)] {
            assert_eq!(validate_id(id), Ok(()), "{id}");
        }
        for id in [".", "..", "", "a/b", "a b", &"x".repeat(65)] {
            assert!(validate_id(id).is_err(), "{id:?} must not be an id");
        }
        for name in ["custom_backup", "A-1", "x"] {
            assert!(is_id_name(name), "{name}");
        }
        for name in [
            ".",
            "..",
            "a.b",
            "Custom Backup",
            "自定义",
            "",
            &"x".repeat(65),
        ] {
            assert!(!is_id_name(name), "{name:?}");
        }
    }

    #[test]
    fn includes_follow_type_and_explicit_options_win() {
        use crate::events::BackupMode;
        use BackupType::*;
        let config = |t, db, files, conf| BackupConfig {
            include_database: db,
            include_files: files,
            include_config: conf,
            ..BackupConfig::new(t, BackupMode::Full)
        };
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
            assert_eq!(cfg.includes(), want, "{cfg:?}");
        }
    }

    #[test]
    fn keep_rules_need_a_rule() {
        use crate::events::{BackupMode, KeepRules};
        let with = |keep| BackupConfig {
            keep,
            ..BackupConfig::new(BackupType::Files, BackupMode::Full)
        };
        assert_eq!(validate_backup_config(&with(None)), Ok(()));
        let daily = KeepRules {
            daily: Some(7),
            ..KeepRules::default()
        };
        assert_eq!(validate_backup_config(&with(Some(daily))), Ok(()));
        let err = validate_backup_config(&with(Some(KeepRules::default()))).unwrap_err();
        assert_eq!(err.field.as_deref(), Some("backup_config.keep"));
    }
}
