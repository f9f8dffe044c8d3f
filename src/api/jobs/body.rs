//! The bodies of `POST scheduler/jobs` and `PUT scheduler/jobs/{job_id}`: the seed's job fields
//! read into a `JobSpec`.
//!
//! Request bodies are read field by field from a JSON object rather than through a derived
//! `Deserialize`: serde's messages for a wrong type do not say which field was wrong, and the
//! API promises to name it. Unknown fields are refused by name, like `deny_unknown_fields`.

use super::seed::{backup_config_from_seed, trigger_from_seed};
use crate::api::error::ApiError;
use crate::api::input::kind;
use crate::domain::job::{is_id_name, validate_hook, MAX_TIMEOUT_SECS};
use crate::domain::patch::{BackupPatch, JobPatch, TriggerPatch};
use crate::events::{BackupMode, Hooks, JobAction, JobSpec};
use serde_json::{json, Map, Value};

/// The fields `POST scheduler/jobs` accepts. `job_id` is an alias of `id` (seed clients use both).
pub const CREATE_FIELDS: &[&str] = &[
    "id",
    "job_id",
    "name",
    "trigger_type",
    "trigger_config",
    "backup_config",
    "timezone",
    "misfire_grace_time",
    "jitter",
    "timeout",
    "hooks",
];

/// `PUT scheduler/jobs/{job_id}` takes the same fields, every one optional.
pub const UPDATE_FIELDS: &[&str] = CREATE_FIELDS;

/// A slug of at most this many characters leads a derived id; with the suffix it stays well
/// inside `MAX_ID_LEN`.
const SLUG_LEN: usize = 40;

/// Refuse any key outside `allowed`, naming it.
fn only(body: &Map<String, Value>, allowed: &[&str]) -> Result<(), ApiError> {
    match body.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(ApiError::unknown_field(k, allowed)),
        None => Ok(()),
    }
}

/// A string field; `Ok(None)` when absent. `null` counts as absent only where `null_ok`.
fn string(body: &Map<String, Value>, key: &str, null_ok: bool) -> Result<Option<String>, ApiError> {
    match body.get(key) {
        None => Ok(None),
        Some(Value::Null) if null_ok => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(ApiError::invalid(
            key,
            format!("{key} must be a string, not {}", kind(other)),
        )),
    }
}

/// A whole number of seconds in `0..=max`.
fn seconds(key: &str, value: &Value, max: u64) -> Result<u64, ApiError> {
    value.as_u64().filter(|n| *n <= max).ok_or_else(|| {
        ApiError::invalid(
            key,
            format!("{key} must be a whole number of seconds in 0..={max}, not {value}"),
        )
    })
}

/// `misfire_grace_time`: absent → `None` (keep the default), `null` → `Some(None)` (always catch
/// up, as the seed means it), a number → `Some(Some(secs))`.
fn misfire(body: &Map<String, Value>) -> Result<Option<Option<u64>>, ApiError> {
    match body.get("misfire_grace_time") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        // Grace beyond ten years is the same as "always"; the bound keeps the arithmetic finite.
        Some(v) => Ok(Some(Some(seconds(
            "misfire_grace_time",
            v,
            10 * 365 * 86_400,
        )?))),
    }
}

fn jitter(body: &Map<String, Value>) -> Result<Option<u32>, ApiError> {
    match body.get("jitter") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => Ok(Some(seconds("jitter", v, u64::from(u32::MAX))? as u32)),
    }
}

/// `timeout`: absent → `None` (keep), `null` → `Some(None)` (the configured default), a number
/// of seconds → `Some(Some(secs))`, where 0 means none.
fn timeout(body: &Map<String, Value>) -> Result<Option<Option<u64>>, ApiError> {
    match body.get("timeout") {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(v) => Ok(Some(Some(seconds("timeout", v, MAX_TIMEOUT_SECS)?))),
    }
}

/// `hooks`: absent → `None` (keep), `null` → no hooks, an object of `before`, `after`,
/// `on_failure`, each an argv (a list of strings, the program first) or `null`.
fn hooks(body: &Map<String, Value>) -> Result<Option<Hooks>, ApiError> {
    let obj = match body.get("hooks") {
        None => return Ok(None),
        Some(Value::Null) => return Ok(Some(Hooks::default())),
        Some(Value::Object(obj)) => obj,
        Some(other) => {
            return Err(ApiError::invalid(
                "hooks",
                format!(
                    "hooks must be an object of before, after, on_failure, not {}",
                    kind(other)
                ),
            ))
        }
    };
    let mut hooks = Hooks::default();
    for (key, value) in obj {
        let field = format!("hooks.{key}");
        let slot = match key.as_str() {
            "before" => &mut hooks.before,
            "after" => &mut hooks.after,
            "on_failure" => &mut hooks.on_failure,
            _ => {
                return Err(ApiError::invalid(
                    &field,
                    format!("unknown hook {key:?}: expected before, after, on_failure"),
                ))
            }
        };
        *slot = match value {
            Value::Null => None,
            Value::Array(items) => {
                let argv = items
                    .iter()
                    .map(|v| v.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        ApiError::invalid(&field, "a hook is an argv: a list of strings")
                    })?;
                validate_hook(&field, &argv)?;
                Some(argv)
            }
            other => {
                return Err(ApiError::invalid(
                    &field,
                    format!("a hook is an argv (a list of strings), not {}", kind(other)),
                ))
            }
        };
    }
    Ok(Some(hooks))
}

/// `id` or its alias `job_id`; both given must agree.
fn given_id(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let id = string(body, "id", true)?;
    let alias = string(body, "job_id", true)?;
    match (id, alias) {
        (Some(a), Some(b)) if a != b => Err(ApiError::invalid(
            "job_id",
            format!("id {a:?} and job_id {b:?} disagree; send one of them"),
        )),
        (a, b) => Ok(a.or(b)),
    }
}

fn trigger_type(body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    string(body, "trigger_type", false)
}

/// The spec of a new job from the seed's body. `derive_id` makes an id from the name when the
/// client gave none; `default_grace` is the configured misfire grace.
pub fn create_spec(
    body: &Map<String, Value>,
    default_grace: Option<u64>,
    derive_id: impl FnOnce(&str) -> String,
) -> Result<JobSpec, ApiError> {
    only(body, CREATE_FIELDS)?;
    let name = string(body, "name", false)?
        .ok_or_else(|| ApiError::invalid("name", "name is required"))?;
    let kind = trigger_type(body)?.ok_or_else(|| {
        ApiError::invalid(
            "trigger_type",
            "trigger_type is required: \"cron\" or \"interval\"",
        )
    })?;
    let config = body
        .get("trigger_config")
        .ok_or_else(|| ApiError::invalid("trigger_config", "trigger_config is required"))?;
    let trigger = trigger_from_seed(&kind, config)?;
    let mut cfg = match body.get("backup_config") {
        None | Some(Value::Null) => {
            backup_config_from_seed(&json!({"type": "full"}), BackupMode::Full)?
        }
        Some(cfg) => backup_config_from_seed(cfg, BackupMode::Full)?,
    };
    cfg.timeout_secs = timeout(body)?.flatten();
    cfg.hooks = hooks(body)?.unwrap_or_default();
    let action = JobAction::Backup(cfg);
    // A name that is a valid id is the id, so the seed's flow works as written; a second job
    // of that name is then a conflict on the id.
    let id = match given_id(body)? {
        Some(id) => id,
        None if is_id_name(&name) => name.clone(),
        None => derive_id(&name),
    };
    Ok(JobSpec {
        id,
        name,
        trigger,
        action,
        misfire_grace_secs: misfire(body)?.unwrap_or(default_grace),
        timezone: string(body, "timezone", true)?,
        jitter_secs: jitter(body)?.unwrap_or(0),
    })
}

/// The fields the body gives, as a patch that `decide` applies to the job as it is then (the
/// pause state, kept by the projection, and a maintenance job's action stay as they are).
/// `current_kind` is the job's trigger type as the handler saw it: a `trigger_config` without a
/// `trigger_type` is read as that type, and `decide` refuses it if the type changed meanwhile.
pub fn update_patch(
    job_id: &str,
    current_kind: &str,
    body: &Map<String, Value>,
) -> Result<JobPatch, ApiError> {
    only(body, UPDATE_FIELDS)?;
    if let Some(id) = given_id(body)? {
        if id != job_id {
            return Err(ApiError::invalid(
                "id",
                format!("a job's id cannot change (the path says {job_id:?}, the body {id:?})"),
            ));
        }
    }
    let trigger = match (trigger_type(body)?, body.get("trigger_config")) {
        (Some(kind), Some(config)) => Some(TriggerPatch::Set(trigger_from_seed(&kind, config)?)),
        (None, Some(config)) => Some(TriggerPatch::Config(trigger_from_seed(
            current_kind,
            config,
        )?)),
        (Some(kind), None) => Some(TriggerPatch::Type(kind)),
        (None, None) => None,
    };
    let backup = match body.get("backup_config") {
        None => None,
        Some(cfg) => Some(BackupPatch {
            // The mode is read only if given; `decide` keeps the job's otherwise.
            mode_given: cfg.get("mode").is_some_and(|m| !m.is_null()),
            // `"keep": null` is given (back to the ages); no `keep` keeps the job's rules.
            keep_given: cfg.get("keep").is_some(),
            config: backup_config_from_seed(cfg, BackupMode::Full)?,
        }),
    };
    Ok(JobPatch {
        name: string(body, "name", false)?,
        trigger,
        backup,
        timezone: if body.contains_key("timezone") {
            Some(string(body, "timezone", true)?)
        } else {
            None
        },
        misfire_grace_secs: misfire(body)?,
        jitter_secs: jitter(body)?,
        timeout_secs: timeout(body)?,
        hooks: hooks(body)?,
    })
}

/// A readable id from a name: lowercase ASCII letters and digits, other runs of characters as one
/// `_`, at most `SLUG_LEN` long; `job` when nothing is left.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
        if out.len() >= SLUG_LEN {
            break;
        }
    }
    let trimmed = out.trim_end_matches('_');
    if trimmed.is_empty() {
        "job".to_string()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::input::obj;
    use crate::domain::presets::presets;
    use crate::events::{BackupType, Trigger};

    #[test]
    fn slugs() {
        assert_eq!(slug("Nightly DB backup!"), "nightly_db_backup");
        assert_eq!(slug("  --  "), "job");
        assert_eq!(slug("日本"), "job");
        assert_eq!(slug(&"a".repeat(100)).len(), SLUG_LEN);
    }

    #[test]
    fn create_reads_the_seed_body_and_names_bad_fields() {
        let body = obj(json!({
            "job_id": "custom", "name": "Custom", "trigger_type": "cron",
            "trigger_config": {"hour": 1, "minute": 30},
            "backup_config": {"type": "database", "options": {"compression": "gzip"}},
            "misfire_grace_time": null, "jitter": 5
        }));
        let spec = create_spec(&body, Some(3600), |_| unreachable!()).unwrap();
        assert_eq!(spec.id, "custom");
        assert_eq!(spec.misfire_grace_secs, None);
        assert_eq!(spec.jitter_secs, 5);
        let derived = create_spec(
            // a name that is not an id as it stands (the space): a derived id
            &obj(
                json!({"name": "N 1", "trigger_type": "interval", "trigger_config": {"hours": 1}}),
            ),
            Some(60),
            |name| format!("{}-x", slug(name)),
        )
        .unwrap();
        assert_eq!(
            (derived.id.as_str(), derived.misfire_grace_secs),
            ("n_1-x", Some(60))
        );
        let cases = [
            (
                json!({"name": "a", "trigger_type": "cron", "trigger_config": {"hour": 1}, "color": 1}),
                "color",
            ),
            (
                json!({"trigger_type": "cron", "trigger_config": {"hour": 1}}),
                "name",
            ),
            (
                json!({"name": 5, "trigger_type": "cron", "trigger_config": {"hour": 1}}),
                "name",
            ),
            (
                json!({"name": "a", "trigger_config": {"hour": 1}}),
                "trigger_type",
            ),
            (
                json!({"name": "a", "trigger_type": "cron"}),
                "trigger_config",
            ),
            (
                json!({"name": "a", "trigger_type": "cron", "trigger_config": {"hour": 1}, "jitter": -1}),
                "jitter",
            ),
            (
                json!({"name": "a", "trigger_type": "cron", "trigger_config": {"hour": 1}, "misfire_grace_time": "x"}),
                "misfire_grace_time",
            ),
            (
                json!({"id": "a", "job_id": "b", "name": "a", "trigger_type": "cron", "trigger_config": {"hour": 1}}),
                "job_id",
            ),
        ];
        for (body, field) in cases {
            let e = create_spec(&obj(body.clone()), None, |_| "x".into()).unwrap_err();
            assert_eq!((e.status, e.field.as_deref()), (400, Some(field)), "{body}");
        }
    }

    #[test]
    fn update_changes_only_what_is_given() {
        let daily = presets().remove(0);
        let patch = |body: Value| {
            update_patch(&daily.id, "cron", &obj(body))
                .and_then(|p| p.apply(&daily).map_err(ApiError::from))
        };
        assert_eq!(patch(json!({})).unwrap(), daily);
        let moved = patch(json!({"trigger_config": {"hour": 5}})).unwrap();
        assert_eq!(
            moved.trigger,
            Trigger::Cron {
                minute: None,
                hour: Some("5".into()),
                day: None,
                day_of_week: None
            }
        );
        assert_eq!(moved.name, daily.name);
        let e = patch(json!({"trigger_type": "interval"})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("trigger_config"));
        let e = patch(json!({"trigger_type": "date"})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("trigger_type"));
        assert_eq!(patch(json!({"trigger_type": "cron"})).unwrap(), daily);
        let e = patch(json!({"id": "other"})).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("id"));
        let cleanup = presets().remove(2);
        let p = update_patch(
            &cleanup.id,
            "cron",
            &obj(json!({"backup_config": {"type": "full"}})),
        )
        .unwrap();
        assert_eq!(
            p.apply(&cleanup).unwrap_err().field.as_deref(),
            Some("backup_config")
        );
        // the incremental preset keeps its mode when its backup_config changes without one
        let inc = presets().remove(1);
        let with = |body: Value| {
            update_patch(&inc.id, "interval", &obj(body))
                .unwrap()
                .apply(&inc)
                .unwrap()
                .action
        };
        let mode = |action: JobAction| action.backup_config().map(|c| c.mode);
        assert_eq!(
            mode(with(json!({"backup_config": {"type": "files"}}))),
            Some(BackupMode::Incremental)
        );
        assert_eq!(
            mode(with(
                json!({"backup_config": {"type": "files", "mode": "full"}})
            )),
            Some(BackupMode::Full)
        );
    }

    #[test]
    fn keep_rules_are_set_kept_and_cleared_by_put() {
        let daily = presets().remove(0);
        let put = |spec: &JobSpec, body: Value| {
            update_patch(&spec.id, "cron", &obj(body))
                .unwrap()
                .apply(spec)
                .unwrap()
        };
        let keep = |spec: &JobSpec| spec.action.backup_config().unwrap().keep;
        assert_eq!(keep(&daily), None);
        let set = put(
            &daily,
            json!({"backup_config": {"type": "full", "keep": {"daily": 7, "within": "2d"}}}),
        );
        let rules = keep(&set).unwrap();
        assert_eq!(
            (rules.daily, rules.within_secs, rules.last),
            (Some(7), Some(172_800), None)
        );
        // A new backup_config without keep changes the sources, not the retention.
        let moved = put(&set, json!({"backup_config": {"type": "files"}}));
        assert_eq!(keep(&moved), Some(rules));
        assert_eq!(
            moved.action.backup_config().unwrap().backup_type,
            BackupType::Files
        );
        // Other fields leave it be; "keep": null goes back to the age rules.
        assert_eq!(keep(&put(&set, json!({"name": "renamed"}))), Some(rules));
        assert_eq!(
            keep(&put(
                &set,
                json!({"backup_config": {"type": "full", "keep": null}})
            )),
            None
        );
        // The whole job as a patch (what a client's PUT of a job it read sends) keeps it.
        assert_eq!(JobPatch::whole(&set).apply(&daily).unwrap(), set);
        let e = update_patch(
            &daily.id,
            "cron",
            &obj(json!({"backup_config": {"type": "full", "keep": {"daily": "7"}}})),
        )
        .unwrap_err();
        assert_eq!(e.field.as_deref(), Some("backup_config.keep.daily"));
    }

    #[test]
    fn timeout_and_hooks_are_read_merged_and_refused_by_name() {
        let base = json!({"name": "h", "trigger_type": "cron", "trigger_config": {"hour": 1}});
        let with = |extra: Value| {
            let mut body = base.clone();
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            create_spec(&obj(body), None, |_| unreachable!())
        };
        let spec =
            with(json!({"timeout": 2, "hooks": {"before": ["sh", "-c", "true"], "after": null}}))
                .unwrap();
        let cfg = spec.action.backup_config().unwrap().into_owned();
        assert_eq!(cfg.timeout_secs, Some(2));
        assert_eq!(
            cfg.hooks.before,
            Some(vec!["sh".to_string(), "-c".into(), "true".into()])
        );
        assert_eq!((cfg.hooks.after, cfg.hooks.on_failure), (None, None));
        #[rustfmt::skip]
        let refused = [
            (json!({"timeout": -1}), "timeout"),
            (json!({"timeout": "1h"}), "timeout"),
            (json!({"timeout": 100_000_000}), "timeout"),
            (json!({"hooks": ["sh"]}), "hooks"),
            (json!({"hooks": {"during": ["sh"]}}), "hooks.during"),
            (json!({"hooks": {"before": "sh -c true"}}), "hooks.before"),
            (json!({"hooks": {"before": []}}), "hooks.before"),
            (json!({"hooks": {"after": [""]}}), "hooks.after"),
            (json!({"hooks": {"after": ["sh", 1]}}), "hooks.after"),
            (json!({"hooks": {"on_failure": ["sh", "a\u{0}b"]}}), "hooks.on_failure"),
            (json!({"hooks": {"on_failure": vec!["x"; 65]}}), "hooks.on_failure"),
        ];
        for (extra, field) in refused {
            let e = with(extra.clone()).unwrap_err();
            assert_eq!(
                (e.status, e.field.as_deref()),
                (400, Some(field)),
                "{extra}"
            );
        }
        // PUT: a new backup_config keeps them; null goes back to the default / no hooks
        let put = |spec: &JobSpec, body: Value| {
            update_patch(&spec.id, "cron", &obj(body))
                .unwrap()
                .apply(spec)
                .unwrap()
        };
        let kept = put(&spec, json!({"backup_config": {"type": "files"}}));
        assert_eq!(kept.action.backup_config().unwrap().timeout_secs, Some(2));
        assert!(kept.action.backup_config().unwrap().hooks.before.is_some());
        let cleared = put(&spec, json!({"timeout": null, "hooks": null}));
        let cfg = cleared.action.backup_config().unwrap().into_owned();
        assert_eq!((cfg.timeout_secs, cfg.hooks), (None, Hooks::default()));
        let cleanup = presets().remove(2);
        for (body, field) in [
            (json!({"timeout": 5}), "timeout"),
            (json!({"hooks": null}), "hooks"),
        ] {
            let e = update_patch(&cleanup.id, "cron", &obj(body))
                .unwrap()
                .apply(&cleanup)
                .unwrap_err();
            assert_eq!(e.field.as_deref(), Some(field));
        }
    }

    #[test]
    fn a_name_that_is_an_id_is_the_id() {
        let body = |name: &str| {
            obj(json!({"name": name, "trigger_type": "cron", "trigger_config": {"hour": 6}}))
        };
        let id = |name: &str| {
            create_spec(&body(name), None, |n| format!("{}-x", slug(n)))
                .unwrap()
                .id
        };
        assert_eq!(id("custom_backup"), "custom_backup");
        assert_eq!(id("A-b_9"), "A-b_9");
        assert_eq!(id("Custom Backup"), "custom_backup-x");
        assert_eq!(id("."), "job-x");
        assert_eq!(id(".."), "job-x");
        assert_eq!(id(&"a".repeat(65)), format!("{}-x", "a".repeat(SLUG_LEN)));
    }
}
