//! Prune of the repository: which packs go, and the rule that makes prune and backup safe
//! together. A pack is deleted only when no live snapshot references a frame of it and its run
//! is over; a sparse pack's live chunks are copied into a new pack first. Both are refused while
//! a run that may reference, write or read packs is in flight (a backup, a weekly archive, a
//! restore): a backup that starts after `packs_deleted` folds a projection without those packs
//! and stores their chunks again, and one already running blocks the prune
//! (schema/repository.md, "Prune and concurrent backups").

use std::collections::HashSet;

use crate::domain::Rejection;
use crate::events::{Event, JobAction, PackRecord};
use crate::projections::{Candidates, RunKind, State};

pub use crate::projections::DEFAULT_REPACK_BELOW;

/// Runs in flight that may reference, write or read packs: every running run but those of the
/// maintenance jobs that touch no pack (cleanup, which is where prune runs, the health check and
/// the report). Queued runs do not count: they start after the prune and see its result.
pub fn blocking_runs(state: &State) -> Vec<String> {
    state
        .schedule
        .runs
        .values()
        .filter(|run| run.status == crate::projections::RunStatus::Running)
        .filter(|run| {
            run.kind == RunKind::Restore
                || state.schedule.jobs.get(&run.job_id).is_none_or(|job| {
                    !matches!(
                        job.spec.action,
                        JobAction::Cleanup | JobAction::HealthCheck | JobAction::Report
                    )
                })
        })
        .map(|run| run.run_id.clone())
        .collect()
}

/// Is `run_id` still without an outcome? Its packs are never pruned: its snapshot is not
/// recorded yet, so their chunks look unreferenced.
pub fn in_flight(state: &State, run_id: &str) -> bool {
    state
        .schedule
        .runs
        .get(run_id)
        .is_some_and(|run| run.status.is_open())
}

/// What a prune would delete and repack now, by the rules alone.
pub fn plan(state: &State, repack_below: f64) -> Candidates {
    state
        .repository
        .prune_candidates(|run| in_flight(state, run), repack_below)
}

fn refuse_while_running(state: &State) -> Result<(), Rejection> {
    let runs = blocking_runs(state);
    if runs.is_empty() {
        return Ok(());
    }
    Err(Rejection::conflict(
        "runs",
        format!(
            "prune waits for the runs in flight that may use packs: {}",
            runs.join(", ")
        ),
    ))
}

/// `packs_deleted` for packs no live snapshot needs.
pub fn delete_packs(
    state: &State,
    packs: &[String],
    reason: &str,
) -> Result<Vec<Event>, Rejection> {
    refuse_while_running(state)?;
    if packs.is_empty() {
        return Err(Rejection::invalid("packs", "no pack to delete"));
    }
    let live = state.repository.liveness();
    let mut bytes = 0;
    let mut seen = HashSet::new();
    for id in packs {
        if !seen.insert(id) {
            return Err(Rejection::invalid(
                "packs",
                format!("pack {id} is named twice"),
            ));
        }
        let Some(p) = live.iter().find(|p| &p.id == id) else {
            return Err(Rejection::not_found("packs", format!("no pack {id}")));
        };
        if p.live_frames > 0 {
            return Err(Rejection::conflict(
                "packs",
                format!(
                    "pack {id} holds {} frame(s) a live snapshot needs",
                    p.live_frames
                ),
            ));
        }
        if in_flight(state, &p.run_id) {
            return Err(Rejection::conflict(
                "packs",
                format!(
                    "pack {id} belongs to run {} which is still in flight",
                    p.run_id
                ),
            ));
        }
        bytes += p.bytes;
    }
    Ok(vec![Event::PacksDeleted {
        packs: packs.to_vec(),
        reason: reason.to_string(),
        bytes,
    }])
}

/// The new packs `into` hold every live chunk of `from`: record them, move the references and
/// delete `from`, in one append (so no state has the copies unrecorded or `from` half-moved).
pub fn repack(
    state: &State,
    from: &[String],
    into: &[PackRecord],
) -> Result<Vec<Event>, Rejection> {
    refuse_while_running(state)?;
    if from.is_empty() || into.is_empty() {
        return Err(Rejection::invalid(
            "packs",
            "a repack needs packs to copy from and into",
        ));
    }
    let repo = &state.repository;
    let copied: HashSet<[u8; 32]> = into
        .iter()
        .flat_map(|p| p.chunks.iter().map(|c| c.id))
        .collect();
    for p in into {
        if repo.pack(&p.id).is_some() || from.contains(&p.id) {
            return Err(Rejection::conflict("into", format!("pack {} exists", p.id)));
        }
    }
    let live = repo.liveness();
    let mut from_bytes = 0;
    for id in from {
        let Some(p) = live.iter().find(|p| &p.id == id) else {
            return Err(Rejection::not_found("from", format!("no pack {id}")));
        };
        if in_flight(state, &p.run_id) {
            return Err(Rejection::conflict(
                "from",
                format!(
                    "pack {id} belongs to run {} which is still in flight",
                    p.run_id
                ),
            ));
        }
        let pack = repo.pack(id).expect("liveness lists packs that exist");
        for (i, frame) in pack.frames.iter().enumerate() {
            let chunk = repo.chunk_id(frame.chunk);
            if crate::projections::repository_bit(&p.live, i) && !copied.contains(&chunk) {
                return Err(Rejection::conflict(
                    "into",
                    format!("frame {i} of pack {id} is live and not in the new packs"),
                ));
            }
        }
        from_bytes += p.bytes;
    }
    let into_bytes: u64 = into.iter().map(|p| p.bytes).sum();
    let mut events: Vec<Event> = into
        .iter()
        .map(|p| Event::PackWritten { pack: p.clone() })
        .collect();
    events.push(Event::PacksRepacked {
        from: from.to_vec(),
        into: into.iter().map(|p| p.id.clone()).collect(),
        bytes_freed: from_bytes.saturating_sub(into_bytes),
    });
    events.push(Event::PacksDeleted {
        packs: from.to_vec(),
        reason: "repacked".into(),
        bytes: from_bytes,
    });
    Ok(events)
}

#[cfg(test)]
#[path = "prune_tests.rs"]
mod tests;
