//! `events.head` beside the log: the position and hash of the last committed event, rewritten
//! (write, rename; no fsync) after every commit. redb keeps the previous commit as a fallback;
//! a damaged header byte can make it open that older commit, and a file can be swapped for an
//! older copy. Either is a log that reads as sound and ends early. The head file is how that
//! shows: a log that ends before the head, or holds another event there, is an error.
//!
//! The file lags the log, never leads it: it is written after the commit is durable, and a
//! crash can only lose its newest version. So a head behind the log's end is normal after a
//! crash, and is checked against the event at its own position.

use super::StoreError;
use crate::events::{hex, Hash};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Head {
    pub position: u64,
    pub hash: Hash,
}

pub(super) fn path_of(log: &Path) -> PathBuf {
    let mut name = log.file_name().unwrap_or_default().to_os_string();
    name.push(".head");
    log.with_file_name(name)
}

/// The head as last written; `None` when there is none yet (a log of an older release, a new
/// log) or the file is empty (a crash before its first write reached the disk).
pub(super) fn read(log: &Path) -> Result<Option<Head>, StoreError> {
    let path = path_of(log);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(damaged(&path, &e.to_string())),
    };
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = text.trim_end().split_once(' ').and_then(|(p, h)| {
        let position = p.parse().ok()?;
        let bytes: Vec<u8> = (0..h.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
            .collect::<Option<_>>()?;
        Some(Head {
            position,
            hash: bytes.try_into().ok()?,
        })
    });
    match parsed {
        Some(head) if text == format!("{} {}\n", head.position, hex(&head.hash)) => Ok(Some(head)),
        _ => Err(damaged(&path, "not `<position> <hash>`")),
    }
}

fn damaged(path: &Path, why: &str) -> StoreError {
    StoreError::HeadFile {
        path: path.to_path_buf(),
        reason: why.to_string(),
    }
}

/// Record `head` (after a durable commit). A failure is logged, not fatal: the log itself is
/// written, and a lagging head file is what a crash leaves anyway.
pub(super) fn write(log: &Path, head: Head) {
    let path = path_of(log);
    let tmp = path.with_extension("head.partial");
    let text = format!("{} {}\n", head.position, hex(&head.hash));
    if let Err(e) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path)) {
        log::warn!("{} not updated: {e}", path.display());
    }
}

/// The log, ending at `last`, against the head file. `hash_at` gives the hash of the event at a
/// position (the head may lag after a crash).
pub(super) fn check(
    log: &Path,
    last: u64,
    hash_at: impl FnOnce(u64) -> Result<Option<Hash>, StoreError>,
) -> Result<(), StoreError> {
    let Some(head) = read(log)? else {
        return Ok(());
    };
    if head.position > last {
        return Err(StoreError::Shortened {
            last,
            head: head.position,
            path: path_of(log),
        });
    }
    match hash_at(head.position)? {
        Some(hash) if hash == head.hash => Ok(()),
        // position 0: an empty log has no event to compare
        None if head.position == 0 => Ok(()),
        other => Err(StoreError::Rewritten {
            position: head.position,
            expected: hex(&head.hash),
            found: other.map(|h| hex(&h)).unwrap_or_else(|| "nothing".into()),
            path: path_of(log),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_round_trips_and_damage_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("events.redb");
        assert_eq!(read(&log).unwrap(), None);
        let head = Head {
            position: 12,
            hash: [0xab; 32],
        };
        write(&log, head);
        assert_eq!(read(&log).unwrap(), Some(head));
        assert!(check(&log, 12, |_| Ok(Some([0xab; 32]))).is_ok());
        assert!(check(&log, 15, |p| Ok((p == 12).then_some([0xab; 32]))).is_ok());
        assert!(matches!(
            check(&log, 11, |_| Ok(None)),
            Err(StoreError::Shortened {
                last: 11,
                head: 12,
                ..
            })
        ));
        assert!(matches!(
            check(&log, 12, |_| Ok(Some([1; 32]))),
            Err(StoreError::Rewritten { position: 12, .. })
        ));
        std::fs::write(path_of(&log), "12 zz\n").unwrap();
        assert!(matches!(read(&log), Err(StoreError::HeadFile { .. })));
        std::fs::write(path_of(&log), "").unwrap();
        assert_eq!(read(&log).unwrap(), None);
    }
}
