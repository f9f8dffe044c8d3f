//! Reports: the listing of the daily reports the catalog keeps.

use super::Page;
use crate::projections::{Report, State};

/// The kept reports, newest first; the id breaks ties of reports made in the same instant.
pub fn list(state: &State, limit: usize) -> Page<&Report> {
    let mut reports: Vec<&Report> = state.catalog.reports.values().collect();
    reports.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
    Page::first(reports, limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queries::fixture::*;

    #[test]
    fn newest_first_with_the_total_before_the_limit() {
        let s = state(vec![
            (0, report_generated("r-a", 10)),
            (DAY, report_generated("r-c", 10)),
            (DAY, report_generated("r-b", 10)),
        ]);
        let page = list(&s, 2);
        let ids: Vec<&str> = page.items.iter().map(|r| r.id.as_str()).collect();
        assert_eq!((ids, page.total), (vec!["r-c", "r-b"], 3));
        assert_eq!(list(&State::default(), 5).total, 0);
    }
}
