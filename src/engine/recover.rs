//! `backupd recover`: what the archives themselves say, when the log that recorded them is lost.
//!
//! An archive's file name is its backup id (`<job>-<YYYYMMDDTHHMMSSZ>-<hash>`, `layout::backup_id`):
//! the job and the creation time (to the second). Its directory gives the kind of a weekly
//! archive (`archives/`); in `backups/`, an index with entries held by another backup
//! (`Location::Parent`) is an incremental, one without a full. The parent is the newest backup
//! the index refers to: restore needs exactly the backups the index names, and each of those
//! names its own older ones, so the chain holds every byte. (An incremental that changed nothing
//! since its base but the files an older backup holds names that older one: the chain is shorter
//! than it was, and still restores.) The index CRC is the checksum, the file size the bytes, the
//! header the codec. Each archive is verified in full first: a damaged one is left out, named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

use super::layout::{Layout, ARCHIVE_EXT};
use super::reconcile::archives_in;
use super::EngineError;
use crate::archive::{verify_file_with, ArchiveReader, Location};
use crate::events::{BackupKind, BackupRecord, Ts};
use crate::keys::MasterKey;

/// The run id of a recovered backup: the run that made it is not known.
pub const RECOVERED_RUN: &str = "recovered";

/// What the archives told: records in an order that puts each parent before its children, and
/// the archives left out, each as `file: why`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Recovery {
    pub records: Vec<BackupRecord>,
    pub skipped: Vec<String>,
    /// How many archive files were found at all.
    pub found: usize,
}

/// Reads every archive of the data directory (read-only); sealed archives need `key`.
pub fn scan(data_dir: &Path, key: Option<&MasterKey>) -> Result<Recovery, EngineError> {
    let layout = Layout::new(data_dir);
    let mut read = Vec::new();
    let mut out = Recovery::default();
    for (dir, archive) in [(layout.backups_dir(), false), (layout.archives_dir(), true)] {
        for path in archives_in(&dir)? {
            out.found += 1;
            match read_one(data_dir, &path, archive, key) {
                Ok(found) => read.push(found),
                Err(why) => out
                    .skipped
                    .push(format!("{}: {why}", shown(data_dir, &path))),
            }
        }
    }
    // Parents first: by creation time, then id; a child whose parent is not (yet) known waits,
    // and one whose parent never comes is left out.
    read.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
    let mut known: BTreeSet<String> = BTreeSet::new();
    let mut waiting: BTreeMap<String, Vec<BackupRecord>> = BTreeMap::new();
    let mut ready: Vec<BackupRecord> = Vec::new();
    for record in read {
        ready.push(record);
        while let Some(record) = ready.pop() {
            match &record.parent {
                Some(p) if !known.contains(p) => {
                    waiting.entry(p.clone()).or_default().push(record);
                }
                _ => {
                    known.insert(record.id.clone());
                    if let Some(children) = waiting.remove(&record.id) {
                        ready.extend(children);
                    }
                    out.records.push(record);
                }
            }
        }
    }
    for (parent, children) in waiting {
        for child in children {
            out.skipped.push(format!(
                "{}: an incremental whose parent backup {parent} is missing or left out",
                shown(data_dir, &layout.resolve(&child.location))
            ));
        }
    }
    Ok(out)
}

fn shown(data_dir: &Path, path: &Path) -> String {
    path.strip_prefix(data_dir)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// One archive's record, or why it cannot be recovered.
fn read_one(
    data_dir: &Path,
    path: &PathBuf,
    archive: bool,
    key: Option<&MasterKey>,
) -> Result<BackupRecord, String> {
    let id = path
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or("the file name is not a backup id")?
        .to_string();
    let (job_id, created_at) = parse_id(&id)?;
    verify_file_with(path, key).map_err(|e| format!("damaged: {e}"))?;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot be opened: {e}"))?;
    let bytes = file
        .metadata()
        .map_err(|e| format!("cannot be read: {e}"))?
        .len();
    let reader = ArchiveReader::open_with(file, key).map_err(|e| format!("damaged: {e}"))?;
    let index = reader.index();
    // The newest backup the index refers to (ids of one job sort by time; across jobs the time
    // in the id decides).
    let parent = index
        .entries
        .iter()
        .filter_map(|e| match &e.location {
            Location::Parent { backup } => Some(backup.as_str()),
            _ => None,
        })
        .collect::<BTreeSet<&str>>()
        .into_iter()
        .max_by_key(|b| (parse_id(b).map(|(_, t)| t).ok(), b.to_string()))
        .map(str::to_string);
    let kind = match (archive, &parent) {
        (true, _) => BackupKind::Archive,
        (false, Some(_)) => BackupKind::Incremental,
        (false, None) => BackupKind::Full,
    };
    if archive && parent.is_some() {
        return Err(
            "a weekly archive that refers to other backups (it must be self-contained)".into(),
        );
    }
    let location = shown(data_dir, path);
    debug_assert!(location.ends_with(ARCHIVE_EXT));
    Ok(BackupRecord {
        id: id.clone(),
        job_id,
        run_id: RECOVERED_RUN.into(),
        kind,
        parent,
        location,
        bytes,
        entries: index.entries.len() as u64,
        checksum: reader.index_crc32(),
        compression: index.codec.name().to_string(),
        created_at,
    })
}

/// `<job>-<YYYYMMDDTHHMMSSZ>-<8 hex digits>` → (job, time).
pub fn parse_id(id: &str) -> Result<(String, Ts), String> {
    let bad =
        || format!("the file name {id:?} is not a backup id (<job>-<YYYYMMDDTHHMMSSZ>-<hash>)");
    let (rest, hash) = id.rsplit_once('-').ok_or_else(bad)?;
    let (job, at) = rest.rsplit_once('-').ok_or_else(bad)?;
    if job.is_empty() || hash.len() != 8 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let b = at.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Result<u32, String> {
        at.get(r).and_then(|s| s.parse().ok()).ok_or_else(bad)
    };
    let month = Month::try_from(num(4..6)? as u8).map_err(|_| bad())?;
    let date =
        Date::from_calendar_date(num(0..4)? as i32, month, num(6..8)? as u8).map_err(|_| bad())?;
    let time = Time::from_hms(num(9..11)? as u8, num(11..13)? as u8, num(13..15)? as u8)
        .map_err(|_| bad())?;
    let at: OffsetDateTime = PrimitiveDateTime::new(date, time).assume_utc();
    Ok((job.to_string(), at.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_give_their_job_and_time_back() {
        let at = OffsetDateTime::from_unix_timestamp(1_774_699_201).unwrap();
        let id = super::super::layout::backup_id("daily_full-backup", at, "r1");
        let (job, t) = parse_id(&id).unwrap();
        assert_eq!(job, "daily_full-backup");
        assert_eq!(t, Ts::from(at));
        for bad in [
            "nohash",
            "job-20260328T120000Z-xyz",
            "job-20261328T120000Z-0000abcd",
            "-20260328T120000Z-0000abcd",
            "job-20260328 120000Z-0000abcd",
        ] {
            assert!(parse_id(bad).is_err(), "{bad}");
        }
    }
}
