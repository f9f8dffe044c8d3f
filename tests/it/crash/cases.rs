//! The crash property's fixed cases: each crash point reached on purpose, and the sequences the
//! property found, kept as they were shrunk.

use super::{case, settle, tree, Op, World};
use backupd::failpoint;
use std::fs;

/// The first sequence the property found (shrunk): a prune that died after `packs_deleted`,
/// then a backup.
#[test]
fn a_backup_after_a_prune_that_died_before_removing_its_packs() {
    let ops = [
        Op::Backup { job: 0, edits: 5 },
        Op::Forget {
            pick: 900207571365215929,
        },
        Op::Crash {
            point: 8,
            nth: 2,
            job: 2,
            edits: 1,
            pick: 16557640874775848282,
        },
        Op::Backup { job: 2, edits: 5 },
        Op::Cleanup,
        Op::Crash {
            point: 4,
            nth: 1,
            job: 0,
            edits: 5,
            pick: 12544668963000501469,
        },
        Op::Backup { job: 2, edits: 2 },
    ];
    case(14207042447489941686, &ops).unwrap();
}

/// Each crash point, reached on purpose (the property reaches them at random): the data
/// directory and the log a crash there leaves are recovered from, nothing live is lost and
/// nothing dead is kept after the next prune.
#[test]
fn every_crash_point_is_reached_and_recovered_from() {
    for (n, &point) in failpoint::POINTS.iter().enumerate() {
        let mut w = World::new(7);
        w.apply(&Op::Backup { job: 0, edits: 0 });
        if point.starts_with("repack.") {
            // All but one file gone: once the first backup is forgotten, its pack is one
            // sixth live, and repacked.
            for s in w.sources.clone() {
                for (name, _) in tree(&s) {
                    if name != "f0" {
                        fs::remove_file(s.join(name)).unwrap();
                    }
                }
            }
            w.apply(&Op::Backup { job: 0, edits: 0 });
        } else if point.starts_with("cleanup.") {
            // A newer full: the first one expires a day later and retention deletes it.
            w.apply(&Op::Backup { job: 0, edits: 1 });
        }
        // Pick 0: the oldest backup (ids sort by time), the first one.
        w.apply(&Op::Crash {
            point: n,
            nth: 1,
            job: 0,
            edits: 2,
            pick: 0,
        });
        assert_eq!(w.crashes, [point]);
        w.check_restores().unwrap();
        settle(w).unwrap_or_else(|e| panic!("{point}: {e}"));
    }
}

/// Found by the property: a cleanup a day later, when retention would delete every backup,
/// is refused by design; its prune has run all the same.
#[test]
fn a_crash_in_a_cleanup_whose_retention_is_refused() {
    let ops = [
        Op::Backup { job: 2, edits: 1 },
        Op::Backup { job: 3, edits: 4 },
        Op::Backup { job: 3, edits: 3 },
        Op::Forget {
            pick: 7450556284748635407,
        },
        Op::Crash {
            point: 8,
            nth: 1,
            job: 1,
            edits: 2,
            pick: 5471688508562425278,
        },
        Op::Backup { job: 3, edits: 1 },
    ];
    case(0, &ops).unwrap();
}
