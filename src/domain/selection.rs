//! Which configured sources a backup job takes in: the named `options.sources`, or else the
//! `include_*` categories. One rule for the API (a job that selects nothing is refused), the
//! engine (what a run reads) and the chain rule (`base`: jobs of the same selection share chains).

use super::Rejection;
use crate::events::BackupConfig;
use serde::Serialize;

/// The three kinds of configured source (`[[sources.database]]`, `[[sources.files]]`,
/// `[[sources.config]]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Database,
    Files,
    Config,
}

/// The configured sources by name, as a pure rule needs them (no paths, no credentials).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceCatalog(pub Vec<(String, Category)>);

/// What a job backs up, as a value two jobs can compare: jobs with equal selections build on
/// each other's backups.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Selection {
    /// `(database, files, config)` as type and options say.
    Categories(bool, bool, bool),
    /// These source names, sorted, without duplicates.
    Named(Vec<String>),
}

pub const SOURCES_FIELD: &str = "backup_config.options.sources";

impl BackupConfig {
    pub fn selection(&self) -> Selection {
        match &self.sources {
            Some(names) => {
                let mut names = names.clone();
                names.sort();
                names.dedup();
                Selection::Named(names)
            }
            None => {
                let (db, files, config) = self.includes();
                Selection::Categories(db, files, config)
            }
        }
    }

    /// Does this job back up the source `name` of `category`?
    pub fn selects(&self, name: &str, category: Category) -> bool {
        match &self.sources {
            Some(names) => names.iter().any(|n| n == name),
            None => {
                let (db, files, config) = self.includes();
                match category {
                    Category::Database => db,
                    Category::Files => files,
                    Category::Config => config,
                }
            }
        }
    }
}

/// A backup must take in at least one configured source, and every named source must exist:
/// a job that would back up nothing is refused rather than "succeeding" with an empty archive.
pub fn check_selection(cfg: &BackupConfig, catalog: &SourceCatalog) -> Result<(), Rejection> {
    if let Some(names) = &cfg.sources {
        if let Some(unknown) = names
            .iter()
            .find(|n| !catalog.0.iter().any(|(name, _)| name == *n))
        {
            let known: Vec<&str> = catalog.0.iter().map(|(n, _)| n.as_str()).collect();
            return Err(Rejection::invalid(
                SOURCES_FIELD,
                format!(
                    "no configured source is named {unknown:?} (configured: {}; see GET /api/backup/sources)",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            ));
        }
        if names.is_empty() {
            return Err(Rejection::invalid(
                SOURCES_FIELD,
                "an empty sources list selects nothing to back up: name at least one source, or leave sources out",
            ));
        }
        return Ok(());
    }
    if catalog.0.iter().any(|(name, c)| cfg.selects(name, *c)) {
        return Ok(());
    }
    let (db, files, config) = cfg.includes();
    let chosen: Vec<&str> = [(db, "database"), (files, "files"), (config, "config")]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect();
    Err(Rejection::invalid(
        "backup_config.options",
        if chosen.is_empty() {
            "the options select no source (every include_* is false): nothing would be backed up"
                .to_string()
        } else {
            format!(
                "the options select {} sources, and none is configured: nothing would be backed up",
                chosen.join(" and ")
            )
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{BackupMode, BackupType};

    fn catalog() -> SourceCatalog {
        SourceCatalog(vec![
            ("uploads".into(), Category::Files),
            ("etc".into(), Category::Config),
        ])
    }

    #[test]
    fn a_job_that_selects_nothing_is_refused() {
        let cfg = |t, db, files, conf, sources: Option<Vec<&str>>| BackupConfig {
            include_database: db,
            include_files: files,
            include_config: conf,
            sources: sources.map(|s| s.into_iter().map(String::from).collect()),
            ..BackupConfig::new(t, BackupMode::Full)
        };
        use BackupType::*;
        #[rustfmt::skip]
        let table = [
            (cfg(Full, None, None, None, None), None),
            (cfg(Files, None, None, None, None), None),
            (cfg(Database, None, None, None, None), Some("backup_config.options")),
            (cfg(Full, Some(false), Some(false), Some(false), None), Some("backup_config.options")),
            (cfg(Database, Some(false), None, Some(true), None), None),
            (cfg(Database, None, None, None, Some(vec!["uploads"])), None),
            (cfg(Full, None, None, None, Some(vec![])), Some(SOURCES_FIELD)),
            (cfg(Full, None, None, None, Some(vec!["uploads", "nope"])), Some(SOURCES_FIELD)),
        ];
        for (cfg, want) in table {
            let got = check_selection(&cfg, &catalog()).err();
            assert_eq!(
                got.as_ref().and_then(|r| r.field.as_deref()),
                want,
                "{cfg:?}"
            );
        }
        let unknown = check_selection(&cfg(Full, None, None, None, Some(vec!["nope"])), &catalog())
            .unwrap_err();
        assert!(unknown.message.contains("\"nope\""), "{unknown:?}");
    }

    #[test]
    fn named_sources_win_over_categories() {
        let mut cfg = BackupConfig::new(BackupType::Database, BackupMode::Full);
        assert!(cfg.selects("app", Category::Database));
        assert!(!cfg.selects("uploads", Category::Files));
        cfg.sources = Some(vec!["uploads".into(), "uploads".into()]);
        assert!(!cfg.selects("app", Category::Database));
        assert!(cfg.selects("uploads", Category::Files));
        assert_eq!(cfg.selection(), Selection::Named(vec!["uploads".into()]));
    }
}
