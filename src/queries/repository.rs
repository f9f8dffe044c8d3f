//! The deduplicated repository's storage figures: logical size (what the live snapshots hold),
//! stored size (pack files, after dedup and compression) and what a prune would free now. One
//! definition for `GET scheduler/status`, `/metrics` and the daily report.

use crate::projections::{Figures, State};

/// The figures under the configured `[repository] repack_below`: a prune frees unreferenced
/// packs whole and the dead frames of packs below that live share.
pub fn figures(state: &State, repack_below: f64) -> Figures {
    state.repository.figures(
        |run| {
            state
                .schedule
                .runs
                .get(run)
                .is_some_and(|r| r.status.is_open())
        },
        repack_below,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Envelope, Event, PackChunk, PackRecord, RunReason, Ts};

    fn env(position: u64, payload: Event) -> Envelope {
        Envelope {
            position,
            recorded_at: Ts::from_unix_nanos(0),
            actor: "t".into(),
            correlation: None,
            payload,
        }
    }

    #[test]
    fn a_pack_of_a_run_in_flight_is_not_prunable_until_the_run_ends() {
        let pack = PackRecord {
            id: "p".into(),
            run_id: "r".into(),
            location: "repository/packs/p.pack".into(),
            bytes: 300,
            chunks: vec![PackChunk {
                id: [1; 32],
                raw_len: 500,
                stored_len: 250,
            }],
        };
        let log = [
            Event::RunStarted {
                run_id: "r".into(),
                job_id: "j".into(),
                slot: None,
                reason: RunReason::Manual,
            },
            Event::PackWritten { pack },
        ];
        let mut state = State::default();
        for (i, e) in log.into_iter().enumerate() {
            state.apply(&env(i as u64 + 1, e));
        }
        let f = figures(&state, 0.5);
        assert_eq!(
            (f.stored_bytes, f.prunable_bytes, f.packs, f.chunks),
            (300, 0, 1, 1)
        );
        state.apply(&env(
            3,
            Event::RunFailed {
                run_id: "r".into(),
                error: "died before its snapshot".into(),
                duration_ms: 1,
            },
        ));
        assert_eq!(figures(&state, 0.5).prunable_bytes, 300);
    }
}
