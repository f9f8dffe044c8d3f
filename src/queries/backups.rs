//! Backups: the listing with its filters, the largest ones, what is stored by kind (now and at
//! the end of each day).

use super::{last_days, Day, Filter, Page};
use crate::events::{BackupKind, Ts};
use crate::projections::{Backup, State, StoragePoint};
use serde::Serialize;

/// Which backups `list` returns: `only` is a kind.
pub type BackupFilter = Filter<BackupKind>;

/// Matching live backups, newest first; the id breaks ties of backups made in the same instant.
pub fn list<'a>(state: &'a State, filter: &BackupFilter) -> Page<&'a Backup> {
    filter.page(
        state.catalog.backups.values(),
        |b| (&b.record.job_id, &b.record.kind),
        |b| (b.record.created_at, &b.record.id),
    )
}

/// The `n` largest live backups, largest first (the id breaks ties).
pub fn largest(state: &State, n: usize) -> Vec<&Backup> {
    let mut backups: Vec<&Backup> = state.catalog.backups.values().collect();
    backups.sort_by(|a, b| {
        b.record
            .bytes
            .cmp(&a.record.bytes)
            .then_with(|| a.record.id.cmp(&b.record.id))
    });
    backups.truncate(n);
    backups
}

/// The live backups of one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KindFigures {
    pub kind: BackupKind,
    pub backups: usize,
    pub bytes: u64,
}

/// Every kind, in `BackupKind::ALL` order, kinds without backups at 0.
pub fn by_kind(state: &State) -> Vec<KindFigures> {
    BackupKind::ALL
        .iter()
        .map(|&kind| KindFigures {
            kind,
            backups: state
                .catalog
                .backups
                .values()
                .filter(|b| b.record.kind == kind)
                .count(),
            bytes: state.catalog.bytes_by_kind.get(&kind).copied().unwrap_or(0),
        })
        .collect()
}

/// Bytes stored now: the live backups by kind and the kept reports.
pub fn storage(state: &State) -> StoragePoint {
    state.catalog.storage_point()
}

/// Storage at the end of each of the `days` UTC days up to `now`'s, oldest first; a day without
/// a change carries the previous one's figures (from before the first day too).
pub fn storage_per_day(state: &State, now: Ts, days: i64) -> Vec<Day<StoragePoint>> {
    let span = last_days(now, days);
    let by_day = &state.catalog.storage_by_day;
    let mut current = by_day
        .range(..*span.start())
        .next_back()
        .map(|(_, p)| *p)
        .unwrap_or_default();
    span.map(|day| {
        if let Some(p) = by_day.get(&day) {
            current = *p;
        }
        Day {
            day,
            value: current,
        }
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Event;
    use crate::queries::fixture::*;
    use BackupKind::{Archive, Full, Incremental};

    fn sample() -> State {
        state(vec![
            (0, backup("f1", "a", Full, 100, 0)),
            (10, backup("i1", "a", Incremental, 20, 10)),
            (10, backup("f2", "b", Full, 300, 10)),
            (20, backup("w1", "a", Archive, 5, 20)),
            (30, backup("i2", "a", Incremental, 20, 30)),
        ])
    }

    fn ids(backups: &[&Backup]) -> Vec<String> {
        backups.iter().map(|b| b.record.id.clone()).collect()
    }

    #[test]
    fn listing_filters_sorts_newest_first_and_counts_before_the_limit() {
        let s = sample();
        let page = |job_id: Option<&str>, only, limit| {
            let p = list(
                &s,
                &BackupFilter {
                    job_id: job_id.map(String::from),
                    only,
                    ..BackupFilter::all(limit)
                },
            );
            (ids(&p.items), p.total)
        };
        // i1 and f2 share an instant: the larger id first.
        assert_eq!(
            page(None, None, 50),
            (
                vec![
                    "i2".into(),
                    "w1".into(),
                    "i1".into(),
                    "f2".into(),
                    "f1".into()
                ],
                5
            )
        );
        assert_eq!(page(None, None, 2), (vec!["i2".into(), "w1".into()], 5));
        assert_eq!(
            page(Some("a"), Some(Incremental), 50),
            (vec!["i2".into(), "i1".into()], 2)
        );
        assert_eq!(
            page(None, Some(Full), 50),
            (vec!["f2".into(), "f1".into()], 2)
        );
        assert_eq!(page(Some("b"), Some(Archive), 50), (vec![], 0));
    }

    #[test]
    fn the_largest_come_first_and_equal_sizes_by_id() {
        let s = sample();
        assert_eq!(ids(&largest(&s, 3)), ["f2", "f1", "i1"]);
        assert_eq!(ids(&largest(&s, 10)).len(), 5);
    }

    #[test]
    fn storage_by_kind_counts_live_backups_only() {
        let mut s = sample();
        apply(
            &mut s,
            vec![(
                40,
                Event::BackupDeleted {
                    backup_id: "i1".into(),
                    rule: "expired".into(),
                    bytes: 20,
                },
            )],
        );
        let k = |kind, backups, bytes| KindFigures {
            kind,
            backups,
            bytes,
        };
        assert_eq!(
            by_kind(&s),
            [k(Full, 2, 400), k(Incremental, 1, 20), k(Archive, 1, 5)]
        );
        assert_eq!(
            by_kind(&State::default()),
            [k(Full, 0, 0), k(Incremental, 0, 0), k(Archive, 0, 0)]
        );
        apply(&mut s, vec![(50, report_generated("r", 9))]);
        let p = storage(&s);
        assert_eq!(
            (p.full, p.incremental, p.archive, p.reports, p.total()),
            (400, 20, 5, 9, 434)
        );
    }

    #[test]
    fn storage_per_day_carries_the_last_change_forward() {
        // T0 is 12:00 UTC on day 20_540.
        let s = state(vec![
            (-10 * DAY, backup("old", "a", Archive, 7, -10 * DAY)),
            (-2 * DAY, backup("f", "a", Full, 100, -2 * DAY)),
            (
                -2 * DAY + HOUR,
                backup("i", "a", Incremental, 10, -2 * DAY + HOUR),
            ),
        ]);
        let days = storage_per_day(&s, at(0), 4);
        let totals: Vec<(i64, u64)> = days.iter().map(|d| (d.day, d.value.total())).collect();
        // The chart starts on day 20_537: the archive from before is carried in.
        assert_eq!(
            totals,
            [(20_537, 7), (20_538, 117), (20_539, 117), (20_540, 117)]
        );
        assert_eq!(days[1].value.incremental, 10);
    }
}
