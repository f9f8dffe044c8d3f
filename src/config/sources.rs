//! Source names: every configured source has one (given, or its path's last component; a
//! database's own `name`), unique across all kinds, so a job can choose sources by name
//! (`backup_config.options.sources`) and `GET /api/backup/sources` can list them.

use super::{invalid, Config, ConfigError, ConfigSource, DatabaseKind, FilesSource};
use crate::domain::selection::{Category, SourceCatalog};
use serde::Serialize;
use std::path::Path;

/// A configured source as the API shows it: never a URL or command (they may hold credentials).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SourceInfo {
    pub name: String,
    pub kind: Category,
    /// The directory or file of a files/config source, or a SQLite database's file.
    pub path: Option<String>,
    /// `sqlite`, `postgresql`, `mysql` or `command` for a database source.
    pub database_kind: Option<&'static str>,
}

fn default_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Fill in the default names, then refuse an empty or a shared name, naming both keys.
pub(super) fn name_sources(
    files: &mut [FilesSource],
    configs: &mut [ConfigSource],
    databases: &[super::DatabaseSource],
) -> Result<(), ConfigError> {
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut claim = |key: String, name: &str| -> Result<(), ConfigError> {
        if name.trim().is_empty() {
            return Err(invalid(
                &key,
                "a source needs a name (its path has no last component to default to)",
            ));
        }
        if let Some((other, _)) = seen.iter().find(|(_, n)| n == name) {
            return Err(invalid(
                &key,
                format!(
                    "{name:?} is also the name of {other}: source names must be unique \
                     (they default to the path's last component; set `name` to tell them apart)"
                ),
            ));
        }
        seen.push((key, name.to_string()));
        Ok(())
    };
    for (i, s) in files.iter_mut().enumerate() {
        if s.name.is_empty() {
            s.name = default_name(&s.path);
        }
        claim(format!("sources.files[{i}].name"), &s.name)?;
    }
    for (i, s) in configs.iter_mut().enumerate() {
        if s.name.is_empty() {
            s.name = default_name(&s.path);
        }
        claim(format!("sources.config[{i}].name"), &s.name)?;
    }
    for (i, s) in databases.iter().enumerate() {
        claim(format!("sources.database[{i}].name"), &s.name)?;
    }
    Ok(())
}

impl Config {
    /// Every configured source: files, then config, then databases.
    pub fn sources(&self) -> Vec<SourceInfo> {
        let path = |p: &Path| Some(p.display().to_string());
        let files = self.files.iter().map(|s| SourceInfo {
            name: s.name.clone(),
            kind: Category::Files,
            path: path(&s.path),
            database_kind: None,
        });
        let configs = self.config_paths.iter().map(|s| SourceInfo {
            name: s.name.clone(),
            kind: Category::Config,
            path: path(&s.path),
            database_kind: None,
        });
        let databases = self.databases.iter().map(|s| SourceInfo {
            name: s.name.clone(),
            kind: Category::Database,
            path: s.path.as_deref().and_then(path),
            database_kind: Some(match s.kind {
                DatabaseKind::Sqlite => "sqlite",
                DatabaseKind::Postgresql => "postgresql",
                DatabaseKind::Mysql => "mysql",
                DatabaseKind::Command => "command",
            }),
        });
        files.chain(configs).chain(databases).collect()
    }

    /// The names and kinds a job may choose from, for the pure rules.
    pub fn source_catalog(&self) -> SourceCatalog {
        SourceCatalog(
            self.sources()
                .into_iter()
                .map(|s| (s.name, s.kind))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    #[test]
    fn names_default_to_the_last_component_and_must_be_unique() {
        let ok = Config::parse(
            "[[sources.files]]\npath = \"/srv/app/uploads\"\n\
             [[sources.files]]\npath = \"/srv/other/uploads\"\nname = \"other\"\n\
             [[sources.config]]\npath = \"/etc/app\"\n\
             [[sources.database]]\nname = \"db\"\nkind = \"postgresql\"\nurl = \"postgresql://u:secret@h/db\"",
        )
        .unwrap();
        let names: Vec<_> = ok.sources().into_iter().map(|s| s.name).collect();
        assert_eq!(names, ["uploads", "other", "app", "db"]);
        assert!(!serde_json::to_string(&ok.sources())
            .unwrap()
            .contains("secret"));
        let clash = Config::parse(
            "[[sources.files]]\npath = \"/srv/app\"\n\
             [[sources.database]]\nname = \"app\"\nkind = \"sqlite\"\npath = \"/x.db\"",
        )
        .unwrap_err()
        .to_string();
        assert!(
            clash.contains("sources.database[0].name") && clash.contains("sources.files[0].name"),
            "{clash}"
        );
    }
}
