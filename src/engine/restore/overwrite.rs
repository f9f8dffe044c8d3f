//! The in-place decision: what a restore does with one original path, given the backup's entry
//! and what is there now. Pure: the table is tested on its own.
//!
//! A file identical to the backup's (same kind, size, mtime and mode; a symlink with the same
//! target) is never rewritten, whatever `overwrite` says. A directory is never replaced and never
//! removed: a restore adds and replaces, it does not delete.

use crate::archive::Mtime;
use crate::events::Overwrite;

/// The kind of an entry, in the backup or on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    Symlink(String),
    /// A FIFO, socket or device: nothing a backup restores over.
    Other,
}

/// What decides: kind, size, mtime and permission bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    pub size: u64,
    pub mtime: Mtime,
    /// Permission bits (`0o7777`).
    pub mode: u32,
}

/// Why a path was left as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepWhy {
    /// `if-newer`: the file there is newer than the backup's copy.
    Newer,
    /// `never`: something is there.
    Exists,
    /// A directory is where the backup has a file or link.
    DirThere,
    /// A file, link or special file is where the backup has a directory.
    NotDirThere,
    /// A FIFO, socket or device is there.
    SpecialThere,
}

impl KeepWhy {
    pub fn reason(self) -> &'static str {
        match self {
            KeepWhy::Newer => "newer than the backup's copy (overwrite: if-newer)",
            KeepWhy::Exists => "exists (overwrite: never)",
            KeepWhy::DirThere => "a directory is there now; a restore does not remove directories",
            KeepWhy::NotDirThere => {
                "the backup has a directory here, and something else is there now"
            }
            KeepWhy::SpecialThere => "a FIFO, socket or device is there now",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing there: write it.
    Create,
    /// Write it over what is there (atomically: a temporary name, then a rename).
    Replace,
    /// Same content by size and mtime; only the mode differs: set the mode, no rewrite.
    SetMode,
    /// Identical (or an existing directory): nothing to do.
    Unchanged,
    Keep(KeepWhy),
}

impl Action {
    /// The word a dry run shows.
    pub fn name(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Replace => "replace",
            Action::SetMode => "set_mode",
            Action::Unchanged => "unchanged",
            Action::Keep(_) => "keep",
        }
    }
}

pub fn decide(overwrite: Overwrite, want: &Meta, have: Option<&Meta>) -> Action {
    let Some(have) = have else {
        return Action::Create;
    };
    match (&want.kind, &have.kind) {
        (Kind::Dir, Kind::Dir) => return Action::Unchanged,
        (Kind::Dir, _) => return Action::Keep(KeepWhy::NotDirThere),
        (_, Kind::Dir) => return Action::Keep(KeepWhy::DirThere),
        (_, Kind::Other) => return Action::Keep(KeepWhy::SpecialThere),
        _ => {}
    }
    let same_kind = want.kind == have.kind
        || matches!(
            (&want.kind, &have.kind),
            (Kind::Symlink(_), Kind::Symlink(_))
        );
    let same_content = match (&want.kind, &have.kind) {
        (Kind::Symlink(a), Kind::Symlink(b)) => a == b,
        (Kind::File, Kind::File) => want.size == have.size && want.mtime == have.mtime,
        _ => false,
    };
    let symlink = matches!(want.kind, Kind::Symlink(_));
    if same_content && (symlink || want.mode == have.mode) {
        return Action::Unchanged;
    }
    let changed = if same_content && same_kind {
        Action::SetMode
    } else {
        Action::Replace
    };
    match overwrite {
        Overwrite::Never => Action::Keep(KeepWhy::Exists),
        Overwrite::Always => Action::Replace,
        Overwrite::IfChanged => changed,
        Overwrite::IfNewer if have.mtime > want.mtime => Action::Keep(KeepWhy::Newer),
        Overwrite::IfNewer => changed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Overwrite::{Always, IfChanged, IfNewer, Never};

    fn file(size: u64, secs: i64, mode: u32) -> Meta {
        Meta {
            kind: Kind::File,
            size,
            mtime: Mtime::new(secs, 0),
            mode,
        }
    }

    fn of(kind: Kind, secs: i64) -> Meta {
        Meta {
            kind,
            size: 0,
            mtime: Mtime::new(secs, 0),
            mode: 0o755,
        }
    }

    #[test]
    fn the_overwrite_table() {
        let backup = file(10, 100, 0o644);
        let link = |t: &str, secs| of(Kind::Symlink(t.into()), secs);
        let keep = Action::Keep;
        // (what is there, [always, if-changed, if-newer, never])
        let table: Vec<(&str, Option<Meta>, [Action; 4])> = vec![
            ("missing", None, [Action::Create; 4]),
            (
                "identical",
                Some(file(10, 100, 0o644)),
                [Action::Unchanged; 4],
            ),
            (
                "only the mode differs",
                Some(file(10, 100, 0o600)),
                [
                    Action::Replace,
                    Action::SetMode,
                    Action::SetMode,
                    keep(KeepWhy::Exists),
                ],
            ),
            (
                "newer (changed after the backup)",
                Some(file(12, 200, 0o644)),
                [
                    Action::Replace,
                    Action::Replace,
                    keep(KeepWhy::Newer),
                    keep(KeepWhy::Exists),
                ],
            ),
            (
                "older mtime, other size",
                Some(file(12, 50, 0o644)),
                [
                    Action::Replace,
                    Action::Replace,
                    Action::Replace,
                    keep(KeepWhy::Exists),
                ],
            ),
            (
                "same size, older mtime (edited, then its mtime set back)",
                Some(file(10, 50, 0o644)),
                [
                    Action::Replace,
                    Action::Replace,
                    Action::Replace,
                    keep(KeepWhy::Exists),
                ],
            ),
            (
                "same mtime, other size",
                Some(file(11, 100, 0o644)),
                [
                    Action::Replace,
                    Action::Replace,
                    Action::Replace,
                    keep(KeepWhy::Exists),
                ],
            ),
            (
                "a symlink where a file was (older)",
                Some(link("/etc/passwd", 50)),
                [
                    Action::Replace,
                    Action::Replace,
                    Action::Replace,
                    keep(KeepWhy::Exists),
                ],
            ),
            (
                "a directory where a file was",
                Some(of(Kind::Dir, 50)),
                [keep(KeepWhy::DirThere); 4],
            ),
            (
                "a FIFO where a file was",
                Some(of(Kind::Other, 50)),
                [keep(KeepWhy::SpecialThere); 4],
            ),
        ];
        for (what, have, want) in table {
            for (mode, want) in [Always, IfChanged, IfNewer, Never].into_iter().zip(want) {
                assert_eq!(
                    decide(mode, &backup, have.as_ref()),
                    want,
                    "{what}, {mode:?}"
                );
            }
        }
    }

    #[test]
    fn links_and_directories() {
        let backup = of(Kind::Symlink("target".into()), 100);
        let same = of(Kind::Symlink("target".into()), 300);
        let other = of(Kind::Symlink("elsewhere".into()), 50);
        for mode in [Always, IfChanged, IfNewer, Never] {
            // the same target is the same link, whatever its own mtime
            assert_eq!(decide(mode, &backup, Some(&same)), Action::Unchanged);
            assert_eq!(
                decide(mode, &of(Kind::Dir, 1), Some(&of(Kind::Dir, 9))),
                Action::Unchanged
            );
            assert_eq!(
                decide(mode, &of(Kind::Dir, 1), Some(&file(1, 1, 0o644))),
                Action::Keep(KeepWhy::NotDirThere)
            );
            assert_eq!(decide(mode, &of(Kind::Dir, 1), None), Action::Create);
        }
        assert_eq!(decide(IfNewer, &backup, Some(&other)), Action::Replace);
        assert_eq!(decide(IfChanged, &backup, Some(&other)), Action::Replace);
        assert_eq!(
            decide(Never, &backup, Some(&other)),
            Action::Keep(KeepWhy::Exists)
        );
        let newer_other = of(Kind::Symlink("elsewhere".into()), 200);
        assert_eq!(
            decide(IfNewer, &backup, Some(&newer_other)),
            Action::Keep(KeepWhy::Newer)
        );
        // a file where the backup has a link: replaced unless newer
        assert_eq!(
            decide(IfNewer, &backup, Some(&file(3, 50, 0o644))),
            Action::Replace
        );
    }
}
