//! Crash points for the crash-safety tests: named places at the step boundaries of a repository
//! backup, a prune, a repack and a cleanup where a killed process would leave the data directory
//! and the log half-way. Always compiled, inert unless a test arms one: the armed point's `n`th
//! hit returns an error, so the rest of the step (and any clean-up a dying process would not do)
//! does not happen.
//!
//! Armed per thread, not per process: the integration tests run in parallel threads of one
//! binary, and every point sits on the thread that runs the step (the run's own thread), so a
//! test arming a point never crashes another test's run.

use std::cell::{Cell, RefCell};

thread_local! {
    static ARMED: RefCell<Option<(&'static str, u32)>> = const { RefCell::new(None) };
    static FIRED: Cell<Option<&'static str>> = const { Cell::new(None) };
}

/// Every crash point, for tests that pick one.
pub const POINTS: &[&str] = &[
    PACK_BEFORE_RENAME,
    PACK_BEFORE_RECORD,
    SNAPSHOT_BEFORE_WRITE,
    SNAPSHOT_BEFORE_RECORD,
    PRUNE_BEFORE_REMOVE,
    PRUNE_REMOVING,
    REPACK_BEFORE_RECORD,
    REPACK_BEFORE_REMOVE,
    CLEANUP_BEFORE_REMOVE,
];

/// A pack's file is complete under its temporary name, not yet renamed to its id.
pub const PACK_BEFORE_RENAME: &str = "pack.before_rename";
/// A pack's file is published under its id; `pack_written` is not recorded.
pub const PACK_BEFORE_RECORD: &str = "pack.before_record";
/// Every pack of the backup is recorded; the snapshot file is not written.
pub const SNAPSHOT_BEFORE_WRITE: &str = "snapshot.before_write";
/// The snapshot file is published; `snapshot_recorded` is not recorded.
pub const SNAPSHOT_BEFORE_RECORD: &str = "snapshot.before_record";
/// `packs_deleted` is recorded; no file is removed.
pub const PRUNE_BEFORE_REMOVE: &str = "prune.before_remove";
/// One more pack file of a recorded deletion removed (hit after each removal).
pub const PRUNE_REMOVING: &str = "prune.removing";
/// A repack's new packs are written; `packs_repacked` is not recorded.
pub const REPACK_BEFORE_RECORD: &str = "repack.before_record";
/// `packs_repacked` is recorded; the old packs' files are still there.
pub const REPACK_BEFORE_REMOVE: &str = "repack.before_remove";
/// A cleanup recorded `backup_deleted`; the backup's files are still there.
pub const CLEANUP_BEFORE_REMOVE: &str = "cleanup.before_remove";

/// Arms `point` on this thread: its `nth` hit (1 = the next) fails, and so does every hit of
/// any point after it (a dead process does nothing more).
pub fn arm(point: &'static str, nth: u32) {
    ARMED.with(|a| *a.borrow_mut() = Some((point, nth.max(1))));
    FIRED.with(|f| f.set(None));
}

/// Disarms this thread's point; says which point fired since `arm`, if one did.
pub fn disarm() -> Option<&'static str> {
    ARMED.with(|a| *a.borrow_mut() = None);
    FIRED.with(|f| f.take())
}

/// Whether an armed point fired on this thread (the run "died" there).
pub fn fired() -> Option<&'static str> {
    FIRED.with(Cell::get)
}

/// A step boundary: `Err` when this thread armed `point` and this is its chosen hit, or when a
/// point already fired (nothing happens after a crash).
pub fn hit(point: &'static str) -> Result<(), String> {
    if let Some(at) = fired() {
        return Err(format!("crashed at {at}"));
    }
    let crash = ARMED.with(|a| match &mut *a.borrow_mut() {
        Some((name, n)) if *name == point => {
            *n -= 1;
            *n == 0
        }
        _ => false,
    });
    if crash {
        FIRED.with(|f| f.set(Some(point)));
        return Err(format!("crash at {point}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_armed_point_fails_on_its_nth_hit_and_everything_after_it() {
        assert!(hit(PRUNE_REMOVING).is_ok(), "inert unless armed");
        arm(PRUNE_REMOVING, 2);
        assert!(hit(PACK_BEFORE_RECORD).is_ok());
        assert!(hit(PRUNE_REMOVING).is_ok());
        assert!(hit(PRUNE_REMOVING).is_err());
        assert!(hit(PACK_BEFORE_RECORD).is_err(), "dead after the crash");
        assert_eq!(disarm(), Some(PRUNE_REMOVING));
        assert!(hit(PRUNE_REMOVING).is_ok());
        assert_eq!(disarm(), None);
    }
}
