//! `events`: the audit log, page by page, in the CLI's JSON shape, filtered on the server.
//!
//! Without a filter, `after=N&limit=M` is what it always was: the next M events after N, and
//! `next_after` the last one returned. The filters (`job`, `actor`, `type`: comma-separated,
//! any of them matches; `since` ≤ recorded_at < `until`, RFC 3339) and `order=desc` (newest
//! first, paged with `before`) are applied in the store's read loop, which streams the log:
//! a page costs the events scanned to find `limit` matches (at most `MAX_SCAN`, never the
//! whole log in memory), so a rare match in a long log is paid in scanning, not in memory. When
//! the scan stops at `MAX_SCAN` the page may hold fewer than `limit` events; its cursor
//! (`next_after`, or `next_before`) is where the scan stopped, so the next page carries on and
//! paging returns every matching event exactly once.

use super::error::ApiError;
use super::input::{query, ranged};
use super::{json, ApiContext};
use crate::events::{Envelope, Event};
use serde_json::Value;
use std::collections::BTreeSet;
use tide::{Request, Response};
use time::{format_description::well_known::Rfc3339, OffsetDateTime};

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 1000;
/// The most events one request reads looking for matches: ~100k small records decode in well
/// under a second, and bound what a filter that matches nothing costs.
pub const MAX_SCAN: u64 = 100_000;

const PARAMS: &[&str] = &[
    "after", "before", "limit", "job", "actor", "type", "since", "until", "order",
];

/// What a page selects. Every list is "any of"; empty lists and `None`s select everything.
#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub jobs: Vec<String>,
    pub actors: Vec<String>,
    pub types: Vec<&'static str>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// The live catalog's backups of `jobs` (a backup recovered from its archive may carry an
    /// id that does not follow `layout::backup_id`).
    pub job_backups: BTreeSet<String>,
}

impl Filter {
    pub fn matches(&self, env: &Envelope) -> bool {
        if !self.actors.is_empty() && !self.actors.contains(&env.actor) {
            return false;
        }
        if !self.types.is_empty() && !self.types.contains(&env.payload.name()) {
            return false;
        }
        let at = env.recorded_at.get();
        if self.since.is_some_and(|s| at < s) || self.until.is_some_and(|u| at >= u) {
            return false;
        }
        self.jobs.is_empty() || self.names_a_job(env)
    }

    /// Does the event concern one of `jobs`? Its correlation (a run id, `<job>@<slot>`), or any
    /// field of its payload that names a job: `job_id`, a job spec's `id`, a run id, a backup id.
    fn names_a_job(&self, env: &Envelope) -> bool {
        if env.correlation.as_deref().is_some_and(|c| self.run_of(c)) {
            return true;
        }
        // Cheap for the events without a payload worth walking; the JSON is the one the page
        // would show, so every field the client sees is one the filter saw.
        match serde_json::to_value(&env.payload) {
            Ok(v) => self.walk(&v, 0),
            Err(_) => false,
        }
    }

    fn walk(&self, v: &Value, depth: u8) -> bool {
        if depth > 4 {
            return false;
        }
        match v {
            Value::Object(map) => map.iter().any(|(k, v)| {
                let s = v.as_str();
                match k.as_str() {
                    "job_id" => s.is_some_and(|s| self.jobs.iter().any(|j| j == s)),
                    "run_id" | "running_run_id" => s.is_some_and(|s| self.run_of(s)),
                    "backup_id" => s.is_some_and(|s| self.backup_of(s)),
                    // A job spec (`job_created`, `job_updated`, `presets_installed`'s list).
                    "job" | "jobs" => self.spec_named(v) || self.walk(v, depth + 1),
                    _ => self.walk(v, depth + 1),
                }
            }),
            Value::Array(items) => items.iter().any(|v| self.walk(v, depth + 1)),
            _ => false,
        }
    }

    fn spec_named(&self, v: &Value) -> bool {
        let named = |o: &Value| {
            o.get("id")
                .and_then(Value::as_str)
                .is_some_and(|id| self.jobs.iter().any(|j| j == id))
        };
        match v {
            Value::Array(items) => items.iter().any(named),
            o => named(o),
        }
    }

    /// Run ids are `<job>@<slot or manual-…>` (job ids hold no `@`); restore runs are
    /// `restore-…`, of no job.
    fn run_of(&self, run_id: &str) -> bool {
        run_id
            .split_once('@')
            .is_some_and(|(job, _)| self.jobs.iter().any(|j| j == job))
    }

    fn backup_of(&self, backup_id: &str) -> bool {
        self.job_backups.contains(backup_id)
            || backup_job(backup_id).is_some_and(|job| self.jobs.iter().any(|j| j == job))
    }
}

/// The job of a backup id as the engine builds it (`engine::layout::backup_id`):
/// `<job>-<yyyymmddThhmmssZ>-<8 hex digits>`; job ids may hold `-`, so it is cut from the end.
pub fn backup_job(id: &str) -> Option<&str> {
    let (rest, crc) = id.rsplit_once('-')?;
    let (job, at) = rest.rsplit_once('-')?;
    let stamp = at.as_bytes();
    let ok = crc.len() == 8
        && crc.bytes().all(|b| b.is_ascii_hexdigit())
        && stamp.len() == 16
        && stamp[8] == b'T'
        && stamp[15] == b'Z'
        && stamp[..8]
            .iter()
            .chain(&stamp[9..15])
            .all(u8::is_ascii_digit);
    (ok && !job.is_empty()).then_some(job)
}

fn names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn instant(field: &str, value: &str) -> Result<OffsetDateTime, ApiError> {
    let value = value.trim();
    OffsetDateTime::parse(value, &Rfc3339)
        // An unencoded `+02:00` arrives as ` 02:00` (a `+` in a query is a space).
        .or_else(|e| OffsetDateTime::parse(&value.replace(' ', "+"), &Rfc3339).map_err(|_| e))
        .map_err(|e| {
            ApiError::invalid(
                field,
                format!("{field} must be an RFC 3339 time such as 2026-11-30T08:00:00Z ({e})"),
            )
        })
}

fn types(value: &str) -> Result<Vec<&'static str>, ApiError> {
    names(value)
        .iter()
        .map(|t| {
            Event::NAMES
                .iter()
                .find(|n| **n == t.as_str())
                .copied()
                .ok_or_else(|| {
                    ApiError::invalid(
                        "type",
                        format!("unknown event type {t:?}: see Event names in schema/events.md"),
                    )
                })
        })
        .collect()
}

/// A page's request, parsed.
struct Page {
    after: u64,
    before: Option<u64>,
    limit: u64,
    desc: bool,
    filter: Filter,
}

fn parse(req: &Request<ApiContext>) -> Result<Page, ApiError> {
    let mut page = Page {
        after: 0,
        before: None,
        limit: DEFAULT_LIMIT,
        desc: false,
        filter: Filter::default(),
    };
    for (k, v) in query(req, PARAMS)? {
        match k.as_str() {
            "after" => page.after = ranged("after", &v, 0, u64::MAX)?,
            "before" => page.before = Some(ranged("before", &v, 1, u64::MAX)?),
            "limit" => page.limit = ranged("limit", &v, 1, MAX_LIMIT)?,
            "job" => page.filter.jobs = names(&v),
            "actor" => page.filter.actors = names(&v),
            "type" => page.filter.types = types(&v)?,
            "since" => page.filter.since = Some(instant("since", &v)?),
            "until" => page.filter.until = Some(instant("until", &v)?),
            _ => {
                page.desc = match v.as_str() {
                    "asc" => false,
                    "desc" => true,
                    _ => {
                        return Err(ApiError::invalid(
                            "order",
                            format!("order must be asc or desc, not {v:?}"),
                        ))
                    }
                }
            }
        }
    }
    if let (Some(s), Some(u)) = (page.filter.since, page.filter.until) {
        if u <= s {
            return Err(ApiError::invalid("until", "until must be later than since"));
        }
    }
    Ok(page)
}

pub async fn list(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let mut page = parse(&req)?;
    let ctx = req.state();
    let head = ctx.service.position();
    if !page.filter.jobs.is_empty() {
        let jobs = page.filter.jobs.clone();
        page.filter.job_backups = ctx.service.read(|s| {
            s.catalog
                .backups
                .values()
                .filter(|b| jobs.contains(&b.record.job_id))
                .map(|b| b.record.id.clone())
                .collect()
        });
    }
    let store = ctx.service.store().clone();
    let Page {
        after,
        before,
        limit,
        desc,
        filter,
    } = page;
    let (events, scanned_to) = smol::unblock(move || {
        let mut out = Vec::new();
        let mut scanned = 0u64;
        // The last position looked at: where the next page starts.
        let mut at = None;
        let mut visit = |env: Envelope| {
            if desc && env.position <= after || !desc && before.is_some_and(|b| env.position >= b) {
                return false;
            }
            scanned += 1;
            at = Some(env.position);
            if filter.matches(&env) {
                out.push(env);
            }
            (out.len() as u64) < limit && scanned < MAX_SCAN
        };
        match desc {
            true => store.scan_back_blocking(before, &mut visit),
            false => store.scan_blocking(after, &mut visit),
        }
        .map(|()| (out, at))
    })
    .await
    .map_err(ApiError::internal)?;
    let body: Vec<Value> = events.iter().map(|e| e.to_json()).collect();
    let answer = if desc {
        // Nothing older is left when the scan reached the bottom of the window.
        let lowest = scanned_to.unwrap_or(before.unwrap_or(head + 1).min(head + 1));
        let next_before = (lowest > after + 1).then_some(lowest);
        serde_json::json!({
            "events": body,
            "next_before": next_before,
            "last_position": head,
        })
    } else {
        // The cursor for the next page: the last event looked at (without a filter, the last
        // one returned), or where the client already was.
        let next_after = scanned_to.unwrap_or(after);
        serde_json::json!({
            "events": body,
            "next_after": next_after,
            "last_position": head.max(next_after),
        })
    };
    Ok(json(200, &answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_id_names_its_job_even_when_the_job_has_dashes() {
        let at = time::macros::datetime!(2026-11-30 04:00:00 UTC);
        for job in ["nightly", "db-main", "a-20261130T040000Z-0"] {
            let id = crate::engine::layout::backup_id(job, at, "run@1");
            assert_eq!(backup_job(&id), Some(job), "{id}");
        }
        for id in [
            "bk-1",
            "nightly",
            "-20261130T040000Z-eef3490c",
            "x-20261130T040000Z-eef349",
        ] {
            assert_eq!(backup_job(id), None, "{id}");
        }
    }
}
