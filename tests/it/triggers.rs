//! Triggers over HTTP (issue 11, item 9): months, day names, cron lines, the supported date
//! range, and the fire-time preview, against the real router over an in-process service on the
//! manual clock (2026-03-28T12:00:00Z, a Saturday; Berlin springs forward on the 29th).

use crate::support::{open_service, reply, serve_api_with, ApiOver};
use backupd::config::{Config, FilesSource};
use backupd::service::Service;
use serde_json::{json, Value};

fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    reply(ureq::post(&format!("{base}{path}")).send_json(body))
}

fn call(method: &str, base: &str, path: &str) -> (u16, Value) {
    reply(ureq::request(method, &format!("{base}{path}")).call())
}

/// The API over `service`, with one files source for the jobs to back up (a job that would back
/// up nothing is refused).
fn api_with_a_source(service: &Service) -> ApiOver {
    let config = Config {
        files: vec![FilesSource {
            name: "uploads".into(),
            path: "/srv/uploads".into(),
            exclude: vec![],
        }],
        ..Config::default()
    };
    serve_api_with(service, config)
}

fn job(id: &str, trigger_type: &str, config: Value) -> Value {
    json!({"id": id, "name": id, "trigger_type": trigger_type, "trigger_config": config,
           "timezone": "Europe/Berlin", "backup_config": {"type": "files"}})
}

#[test]
fn cron_lines_months_and_names_are_accepted_and_previewed() {
    let dir = tempfile::tempdir().unwrap();
    let (service, _clock) = open_service(dir.path(), 0);
    let api = api_with_a_source(&service);
    let base = api.base.as_str();
    // Next run times exist only while the scheduler runs.
    let (status, body) = post(base, "/scheduler/start", json!({}));
    assert!(status < 300, "{body}");

    let (status, body) = post(
        base,
        "/scheduler/jobs",
        job("weekdays", "cron", json!({"cron": "30 2 * * mon-fri"})),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body["trigger_config"],
        json!({"minute": 30, "hour": 2, "day": "*", "month": "*", "day_of_week": "mon-fri"})
    );
    assert_eq!(body["next_run_time"], "2026-03-30T02:30:00+02:00");
    let preview = api.get("/scheduler/jobs/weekdays/preview");
    #[rustfmt::skip]
    assert_eq!(preview, json!({
        "job_id": "weekdays", "timezone": "Europe/Berlin", "paused": false,
        "scheduler_running": preview["scheduler_running"],
        "fire_times": ["2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00", "2026-04-01T02:30:00+02:00",
                       "2026-04-02T02:30:00+02:00", "2026-04-03T02:30:00+02:00"],
    }));

    // Every day at 02:30: on the 29th that time does not exist in Berlin, so it fires at 03:00.
    let (status, body) = post(
        base,
        "/scheduler/jobs",
        job("nightly", "cron", json!({"cron": "30 2 * * *"})),
    );
    assert_eq!(status, 201, "{body}");
    let preview = api.get("/scheduler/jobs/nightly/preview?count=3");
    assert_eq!(
        preview["fire_times"],
        json!([
            "2026-03-29T03:00:00+02:00",
            "2026-03-30T02:30:00+02:00",
            "2026-03-31T02:30:00+02:00"
        ])
    );

    // Fields with a month and names: the first Sunday-or-Saturday of the summer months at 04:00.
    let (status, body) = post(
        base,
        "/scheduler/jobs",
        job(
            "summer",
            "cron",
            json!({"hour": 4, "month": "JUN-aug", "day_of_week": "sat,sun", "day": "1-7"}),
        ),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["trigger_config"]["month"], "JUN-aug");
    let preview = api.get("/scheduler/jobs/summer/preview?count=4");
    assert_eq!(
        preview["fire_times"],
        json!([
            "2026-06-06T04:00:00+02:00",
            "2026-06-07T04:00:00+02:00",
            "2026-07-04T04:00:00+02:00",
            "2026-07-05T04:00:00+02:00"
        ])
    );

    // A paused job and a stopped scheduler still preview, and say so.
    assert_eq!(post(base, "/scheduler/jobs/summer/pause", json!({})).0, 200);
    assert_eq!(post(base, "/scheduler/stop", json!({})).0, 200);
    let preview = api.get("/scheduler/jobs/summer/preview?count=1");
    assert_eq!(
        (
            &preview["paused"],
            &preview["scheduler_running"],
            &preview["fire_times"]
        ),
        (
            &json!(true),
            &json!(false),
            &json!(["2026-06-06T04:00:00+02:00"])
        )
    );
    assert_eq!(post(base, "/scheduler/start", json!({})).0, 200);
    assert_eq!(
        api.get("/scheduler/jobs/summer/preview")["scheduler_running"],
        true
    );

    let count = api.get("/scheduler/jobs/nightly/preview?count=100");
    assert_eq!(count["fire_times"].as_array().unwrap().len(), 100);
    for (path, status, field) in [
        ("/scheduler/jobs/nightly/preview?count=0", 400, "count"),
        ("/scheduler/jobs/nightly/preview?count=101", 400, "count"),
        ("/scheduler/jobs/nightly/preview?count=x", 400, "count"),
        ("/scheduler/jobs/nightly/preview?cont=5", 400, "cont"),
        ("/scheduler/jobs/nope/preview", 404, "job_id"),
    ] {
        let (got, body) = call("GET", base, path);
        assert_eq!(
            (got, body["error"]["field"].as_str()),
            (status, Some(field)),
            "{path}: {body}"
        );
    }
}

#[test]
fn bad_triggers_and_out_of_range_dates_are_400_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let (service, _clock) = open_service(dir.path(), 0);
    let api = api_with_a_source(&service);
    #[rustfmt::skip]
    let table: Vec<(&str, Value, &str)> = vec![
        // Was a 500: the job_created event could not encode a time past 2262.
        ("interval", json!({"hours": 1, "start_date": "2300-01-01T00:00:00Z"}), "trigger_config.start_date"),
        ("interval", json!({"hours": 1, "start_date": "1900-01-01T00:00:00Z"}), "trigger_config.start_date"),
        ("interval", json!({"hours": 1, "start_date": "9999-12-31T23:59:59Z"}), "trigger_config.start_date"),
        ("cron", json!({"cron": "30 2 * * mon-fri", "hour": 3}), "trigger_config.hour"),
        ("cron", json!({"cron": "30 2 * *"}), "trigger_config.cron"),
        ("cron", json!({"cron": "30 2 * * 7"}), "trigger_config.cron"),
        ("cron", json!({"month": 13}), "trigger_config.month"),
        ("cron", json!({"day_of_week": "fri-mon"}), "trigger_config.day_of_week"),
        ("cron", json!({"day": 31, "month": "feb"}), "trigger_config.day"),
    ];
    for (kind, config, field) in table {
        let (status, body) = post(
            &api.base,
            "/scheduler/jobs",
            job("bad", kind, config.clone()),
        );
        assert_eq!(status, 400, "{config}: {body}");
        assert_eq!(body["error"]["field"], field, "{config}: {body}");
        assert_eq!(body["error"]["code"], "validation", "{config}: {body}");
    }
    // The same on an update.
    let (status, _) = post(
        &api.base,
        "/scheduler/jobs",
        job("ok", "interval", json!({"hours": 1})),
    );
    assert_eq!(status, 201);
    let (status, body) = reply(
        ureq::put(&format!("{}/scheduler/jobs/ok", api.base)).send_json(
            json!({"trigger_config": {"hours": 1, "start_date": "2300-01-01T00:00:00Z"}}),
        ),
    );
    assert_eq!(
        (status, &body["error"]["field"]),
        (400, &json!("trigger_config.start_date")),
        "{body}"
    );
}
