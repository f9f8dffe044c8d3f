//! The sorted trees of recently browsed (or recently made) backups, by archive file (archives
//! never change once written), and the thread of `serve` that builds them ahead of the first
//! request: at start for the newest backups, then for each backup as it is recorded. A cold
//! listing otherwise pays for reading and ordering the whole index (77–109 ms for 100,000
//! entries), many times what a page costs once the tree is there.
//!
//! Bounded by entries, not trees (a tree costs about its entries' size): the least recently used
//! go first, never the one just built. A tree being built has a slot of its own, locked while it
//! builds, so a request for it waits for that build instead of starting a second one.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use super::{build, Tree};
use crate::config::Config;
use crate::engine::layout::Layout;
use crate::engine::EngineError;
use crate::projections::State;
use crate::service::Service;

/// At most this many entries over all cached trees (about 150 bytes each with their paths), and
/// at most this many trees.
const KEPT_ENTRIES: usize = 1_000_000;
const KEPT_TREES: usize = 8;

/// Backups whose trees are built at `serve` start: the newest of each job, newest first.
const AT_START: usize = 4;

/// One archive's tree: empty until built; locked while it builds.
type Slot = Arc<Mutex<Option<Arc<Tree>>>>;

/// Slots by archive file, least recently used first.
static TREES: Mutex<Vec<(PathBuf, Slot)>> = Mutex::new(Vec::new());

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Backup `id`'s tree: the cached one, the one another thread is building (waited for), or one
/// built now.
pub(super) fn tree(layout: &Layout, state: &State, id: &str) -> Result<Arc<Tree>, EngineError> {
    Ok(cached(layout, state, id)?.0)
}

/// The tree, and whether this call built it.
fn cached(layout: &Layout, state: &State, id: &str) -> Result<(Arc<Tree>, bool), EngineError> {
    let b = state
        .catalog
        .backups
        .get(id)
        .ok_or_else(|| EngineError::UnknownBackup { id: id.to_string() })?;
    let file = layout.resolve(&b.record.location);
    let slot = {
        let mut kept = lock(&TREES);
        let slot = match kept.iter().position(|(f, _)| f == &file) {
            Some(i) => kept.remove(i).1,
            None => Slot::default(),
        };
        kept.push((file, slot.clone()));
        slot
    };
    let mut built = lock(&slot);
    if let Some(t) = built.as_ref() {
        return Ok((t.clone(), false));
    }
    // A failure leaves the slot empty: the next request tries again (and eviction drops it).
    let t = Arc::new(build(layout, state, id)?);
    *built = Some(t.clone());
    drop(built);
    evict();
    Ok((t, true))
}

/// Drops the least recently used trees past the bounds (an empty slot, whose build failed,
/// counts as a tree of none). The newest slot stays whatever its size; a slot being built is
/// skipped (`try_lock`).
fn evict() {
    evict_from(&mut lock(&TREES));
}

fn evict_from(kept: &mut Vec<(PathBuf, Slot)>) {
    let sizes: Vec<Option<usize>> = kept
        .iter()
        .map(|(_, s)| match s.try_lock() {
            Ok(t) => Some(t.as_ref().map_or(0, |t| t.entries.len())),
            Err(_) => None,
        })
        .collect();
    let mut total: usize = sizes.iter().flatten().sum();
    let mut trees = kept.len();
    let newest = kept.len().saturating_sub(1);
    let mut drop_at = Vec::new();
    for (i, size) in sizes.iter().enumerate().take(newest) {
        let Some(size) = *size else { continue };
        if total > KEPT_ENTRIES || trees > KEPT_TREES {
            drop_at.push(i);
            total -= size;
            trees -= 1;
        }
    }
    for i in drop_at.into_iter().rev() {
        kept.remove(i);
    }
}

/// Which backups to build at start: the newest of each job, newest first, at most `AT_START`.
fn newest_per_job(state: &State) -> Vec<String> {
    let mut all: Vec<_> = state.catalog.backups.values().collect();
    all.sort_by(|a, b| {
        (b.record.created_at, &b.record.id).cmp(&(a.record.created_at, &a.record.id))
    });
    let mut jobs = std::collections::HashSet::new();
    all.into_iter()
        .filter(|b| jobs.insert(b.record.job_id.clone()))
        .take(AT_START)
        .map(|b| b.record.id.clone())
        .collect()
}

/// Builds (or finds) the trees of `ids`, logging each one built; a backup that cannot be read
/// is left to the request that asks for it, which reports why.
fn prefetch(config: &Config, state: &State, ids: &[String]) {
    let layout = Layout::of(config);
    for id in ids {
        let started = Instant::now();
        match cached(&layout, state, id) {
            Ok((t, true)) => log::info!(
                "browse: the tree of backup {id} is ready ({} entries in {} ms)",
                t.entries.len(),
                started.elapsed().as_millis()
            ),
            Ok((_, false)) => {}
            Err(e) => log::debug!("browse: backup {id} not read ahead: {e}"),
        }
    }
}

/// The running read-ahead; dropping it stops the thread (after the tree it is building).
pub struct Prefetch {
    _thread: crate::background::Background,
}

/// Starts the thread that builds trees ahead of the first request (see the module).
pub fn start_prefetch(service: Service, config: Arc<Config>) -> Prefetch {
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let thread = std::thread::Builder::new()
        .name("browse-prefetch".into())
        .spawn(move || {
            smol::block_on(async {
                let snapshot = |s: &State| State {
                    catalog: s.catalog.clone(),
                    repository: s.repository.clone(),
                    ..State::default()
                };
                let (mut seen, state) = service.read(|s| (s.position, snapshot(s)));
                let mut known: std::collections::HashSet<String> =
                    state.catalog.backups.keys().cloned().collect();
                prefetch(&config, &state, &newest_per_job(&state));
                loop {
                    let changed = async {
                        service.wait_beyond(seen).await;
                        true
                    };
                    let stopping = async {
                        let _ = stopped.recv().await;
                        false
                    };
                    if !smol::future::or(changed, stopping).await {
                        return;
                    }
                    let (position, new) = service.read(|s| {
                        let mut new: Vec<_> = s
                            .catalog
                            .backups
                            .values()
                            .filter(|b| !known.contains(&b.record.id))
                            .collect();
                        new.sort_by_key(|b| std::cmp::Reverse(b.record.created_at));
                        let ids: Vec<String> = new.iter().map(|b| b.record.id.clone()).collect();
                        (s.position, (!ids.is_empty()).then(|| (ids, snapshot(s))))
                    });
                    seen = position;
                    if let Some((ids, state)) = new {
                        known = state.catalog.backups.keys().cloned().collect();
                        prefetch(&config, &state, &ids);
                    }
                }
            })
        })
        .expect("a thread for browsing ahead");
    Prefetch {
        _thread: crate::background::Background::new(stop, thread),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_keeps_the_newest_and_stays_within_the_bounds() {
        let tree = |n: usize| {
            let e = crate::archive::IndexEntry {
                path: "files/x".into(),
                kind: crate::archive::EntryKind::File,
                mode: 0o644,
                mtime: crate::archive::Mtime::new(0, 0),
                size: 0,
                crc32: 0,
                location: crate::archive::Location::None,
            };
            let mut t = Tree::new(Vec::new());
            t.entries = vec![e; n];
            Slot::new(Mutex::new(Some(Arc::new(t))))
        };
        let names = |kept: &[(PathBuf, Slot)]| -> Vec<String> {
            kept.iter().map(|(f, _)| f.display().to_string()).collect()
        };
        let mut kept: Vec<(PathBuf, Slot)> = vec![
            ("/a".into(), tree(600_000)),
            ("/b".into(), tree(300_000)),
            ("/c".into(), tree(300_000)),
        ];
        evict_from(&mut kept);
        // the oldest goes (over the entry bound); what is left fits
        assert_eq!(names(&kept), ["/b", "/c"]);
        // a slot being built is neither counted nor dropped
        let building = Slot::default();
        let guard = building.lock().unwrap();
        kept.insert(0, ("/building".into(), building.clone()));
        kept.push(("/huge".into(), tree(2_000_000)));
        evict_from(&mut kept);
        // the newest stays whatever its size; every finished older one goes to make room
        assert_eq!(names(&kept), ["/building", "/huge"]);
        drop(guard);
        // past the count bound, the oldest go: the failed (empty) one first
        for i in 0..KEPT_TREES {
            kept.push((format!("/t{i}").into(), tree(1)));
        }
        evict_from(&mut kept);
        assert_eq!(kept.len(), KEPT_TREES);
        assert_eq!(names(&kept)[0], "/t0");
    }
}
