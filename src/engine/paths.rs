//! Archive paths ↔ the paths an operator knows. The archive layout (`files/…`, `config/…`,
//! `databases/<name>.<ext>`, see `sources` and `dump`) is internal; browsing and restoring speak
//! the source's original absolute path, and `db:<source name>` for a database dump.

use super::dump::extension;
use crate::config::DatabaseKind;

/// The prefix of a database dump's original path.
pub const DB_PREFIX: &str = "db:";

/// The groups whose archive paths are `<group>/<original path without its leading '/'>`.
const FILE_GROUPS: [&str; 2] = ["files", "config"];

const DUMP_KINDS: [DatabaseKind; 4] = [
    DatabaseKind::Postgresql,
    DatabaseKind::Mysql,
    DatabaseKind::Sqlite,
    DatabaseKind::Command,
];

/// Whether `archive` is a source's path or a dump (what `original` names), without building
/// the name: browsing asks it of every entry of an index.
pub fn has_original(archive: &str) -> bool {
    if let Some(base) = archive.strip_prefix("databases/") {
        return DUMP_KINDS.into_iter().any(|k| {
            base.strip_suffix(extension(k))
                .and_then(|n| n.strip_suffix('.'))
                .is_some_and(|name| !name.is_empty() && !name.contains('/'))
        });
    }
    FILE_GROUPS.into_iter().any(|g| {
        archive
            .strip_prefix(g)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The original path of an archive path, `None` for a name outside the layout.
pub fn original(archive: &str) -> Option<String> {
    if let Some(base) = archive.strip_prefix("databases/") {
        return DUMP_KINDS.into_iter().find_map(|k| {
            let name = base.strip_suffix(extension(k))?.strip_suffix('.')?;
            (!name.is_empty() && !name.contains('/')).then(|| format!("{DB_PREFIX}{name}"))
        });
    }
    FILE_GROUPS.into_iter().find_map(|g| {
        let rest = archive.strip_prefix(g)?;
        if rest.is_empty() {
            return Some("/".to_string());
        }
        rest.starts_with('/').then(|| rest.to_string())
    })
}

/// The archive paths an original path may have, most likely first: a file path may sit under
/// `files` or `config`; a `db:` name matches by `original` (its extension depends on the kind),
/// so it has no candidates here. `None` for a path that is neither absolute nor `db:`, or that
/// has empty, `.` or `..` components (never an archive name).
pub fn archive_candidates(original: &str) -> Option<Vec<String>> {
    if original.starts_with(DB_PREFIX) {
        return Some(Vec::new());
    }
    let rel = original.strip_prefix('/')?;
    if rel.is_empty() {
        return Some(FILE_GROUPS.iter().map(|g| g.to_string()).collect());
    }
    let rel = rel.strip_suffix('/').unwrap_or(rel);
    if rel
        .split('/')
        .any(|c| c.is_empty() || c == "." || c == "..")
    {
        return None;
    }
    Some(FILE_GROUPS.iter().map(|g| format!("{g}/{rel}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archive_paths_map_to_original_paths() {
        let table = [
            ("files/srv/app", Some("/srv/app")),
            ("files/srv/app/app.conf", Some("/srv/app/app.conf")),
            ("config/etc/app.toml", Some("/etc/app.toml")),
            ("files", Some("/")),
            ("files/", Some("/")),
            ("filesx/a", None),
            ("databases/app.postgresql.sql", Some("db:app")),
            ("databases/shop.mysql.sql", Some("db:shop")),
            ("databases/local.sqlite", Some("db:local")),
            ("databases/custom.dump", Some("db:custom")),
            ("databases/odd.txt", None),
            ("databases/.sqlite", None),
            ("other/x", None),
        ];
        for (archive, want) in table {
            assert_eq!(original(archive).as_deref(), want, "{archive}");
            assert_eq!(has_original(archive), want.is_some(), "{archive}");
        }
    }

    #[test]
    fn original_paths_map_to_their_candidates() {
        let table: [(&str, Option<&[&str]>); 8] = [
            ("/srv/app", Some(&["files/srv/app", "config/srv/app"])),
            ("/srv/app/", Some(&["files/srv/app", "config/srv/app"])),
            ("/", Some(&["files", "config"])),
            ("db:app", Some(&[])),
            ("srv/app", None),
            ("/srv//app", None),
            ("/srv/../etc", None),
            ("/srv/./app", None),
        ];
        for (orig, want) in table {
            let got = archive_candidates(orig);
            let want: Option<Vec<String>> = want.map(|w| w.iter().map(|s| s.to_string()).collect());
            assert_eq!(got, want, "{orig}");
        }
        // Round trip: every candidate maps back to the path it came from.
        for orig in ["/srv/app/a b/ü.txt", "/etc/app.toml"] {
            for c in archive_candidates(orig).unwrap() {
                assert_eq!(original(&c).as_deref(), Some(orig));
            }
        }
    }
}
