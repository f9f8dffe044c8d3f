//! Where a restore through the API may write: `[restore] allowed_targets` (default
//! `<data_dir>/restores`). A target directory, or an SQLite file loaded into, must lie at or
//! below one of those roots.
//!
//! Checked twice: lexically, after making the path absolute and folding `.` and `..`; and on
//! the real path (the canonical path of the longest existing ancestor, the missing rest
//! appended), so a symlink inside an allowed root cannot lead out of it. Offline restores (the
//! `restore` command, an operator on the machine) are not limited: they run with the
//! operator's own rights.

use std::path::{Component, Path, PathBuf};

/// `path` absolute (relative to the working directory), `.` dropped and `..` folded without
/// touching the file system.
pub fn normalise(path: &Path) -> PathBuf {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(path)
    };
    let mut out = PathBuf::from("/");
    for c in absolute.components() {
        match c {
            Component::Normal(name) => out.push(name),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

/// The real path of `path` (normalised first): the canonical path of its longest existing
/// ancestor with the rest appended as is (that rest does not exist, so it holds no link).
pub fn real(path: &Path) -> PathBuf {
    let path = normalise(path);
    let mut existing = path.as_path();
    let mut tail = Vec::new();
    loop {
        if let Ok(canonical) = std::fs::canonicalize(existing) {
            return tail.iter().rev().fold(canonical, |p, name| p.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name);
                existing = parent;
            }
            _ => return path,
        }
    }
}

/// Is `path` at or below `root`, both lexically and on the real paths?
pub fn within(path: &Path, root: &Path) -> bool {
    normalise(path).starts_with(normalise(root)) && real(path).starts_with(real(root))
}

/// Is `target` at or below one of `roots` (lexically, and on the real paths)?
pub fn allowed(target: &Path, roots: &[PathBuf]) -> bool {
    roots
        .iter()
        .any(|r| normalise(target).starts_with(normalise(r)))
        && roots.iter().any(|r| real(target).starts_with(real(r)))
}

/// Why a target is refused: the roots there are and the key that sets them.
pub fn refusal(what: &str, target: &Path, roots: &[PathBuf]) -> String {
    let list = roots
        .iter()
        .map(|r| r.display().to_string())
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{what} {} is outside the directories a restore through the API may write into ({list}); \
         the configuration key `[restore] allowed_targets` lists them",
        target.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_rules() {
        assert_eq!(normalise(Path::new("/a/./b/../c")), PathBuf::from("/a/c"));
        assert_eq!(normalise(Path::new("/../..")), PathBuf::from("/"));
        let roots = [PathBuf::from("/srv/restore"), PathBuf::from("/data/r")];
        assert!(allowed(Path::new("/srv/restore"), &roots));
        assert!(allowed(Path::new("/srv/restore/x/y"), &roots));
        assert!(allowed(Path::new("/data/r/z"), &roots));
        assert!(
            !allowed(Path::new("/srv/restorex"), &roots),
            "a prefix is not a parent"
        );
        assert!(!allowed(Path::new("/srv"), &roots));
        assert!(!allowed(Path::new("/srv/restore/../etc"), &roots));
        assert!(
            !allowed(Path::new("/etc"), &[]),
            "no roots: nothing allowed"
        );
    }

    #[test]
    fn a_link_inside_a_root_cannot_lead_out() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let roots = [root.clone()];
        assert!(allowed(&root.join("plain/new"), &roots));
        assert!(!allowed(&root.join("link"), &roots));
        assert!(!allowed(&root.join("link/deeper/new"), &roots));
        // A root that is itself a link works through it; the path must name it as configured.
        let alias = dir.path().join("alias");
        std::os::unix::fs::symlink(&root, &alias).unwrap();
        assert!(allowed(&alias.join("x"), std::slice::from_ref(&alias)));
        assert!(!allowed(&alias.join("link/x"), &[alias]));
    }
}
