//! Notifications against real servers on 127.0.0.1: an SMTP server (`aiosmtpd`, started here)
//! receives the failure, recovery and daily-report mails from the real binary; a webhook
//! receiver (a thread here) checks the HMAC signature; a channel that is down records its failed
//! attempts, shows in health, and delivers when it comes back; 100 failures in a minute are one
//! message and one digest (manual clock); a job silent past `alert_after` is alerted once.

pub mod servers;

use crate::support::{open_service, reply, serve_api_with, start_time, Served};
use backupd::config::Config;
use backupd::decide::{Command, RunOutcome};
use backupd::error::ErrorKind;
use backupd::events::{JobAction, JobSpec, RunReason, Trigger};
use backupd::service::Meta;
use serde_json::{json, Value};
use servers::{certificates, free_port, hmac_hex, Receiver, Silent, Smtp};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// A database source that fails until `marker` exists, and a job `db` backing it up.
fn flaky_source(marker: &Path) -> String {
    format!(
        "[[sources.database]]\nname = \"flaky\"\nkind = \"command\"\n\
         command = [\"sh\", \"-c\", \"test -f {} || {{ echo dump exploded >&2; exit 1; }}; echo data\"]\n\n",
        marker.display()
    )
}

fn create_db_job(server: &Served) {
    let body = json!({"job_id": "db", "name": "Nightly DB", "trigger_type": "interval",
        "trigger_config": {"hours": 24}, "backup_config": {"type": "database"}});
    let (code, job) = server.send("POST", "/scheduler/jobs", Some(body));
    assert_eq!(code, 201, "{job}");
}

/// Waits (at most 30 s) until `/notifications` holds an attempt `pred` accepts.
fn wait_attempt(server: &Served, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = server.get("/notifications?limit=1000");
        if let Some(a) = list["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| pred(a))
        {
            return a.clone();
        }
        assert!(Instant::now() < deadline, "{what}: {list}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn check<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {health}"))
}

#[test]
fn the_failure_the_recovery_and_the_daily_report_arrive_by_mail() {
    let scratch = tempfile::tempdir().unwrap();
    let port = free_port();
    let smtp = Smtp::start(port, &scratch.path().join("maildir"));
    let marker = scratch.path().join("db-is-up");
    let server = Served::with_config(&format!(
        "{}[[notify]]\nname = \"ops-mail\"\nkind = \"email\"\nserver = \"127.0.0.1\"\n\
         port = {port}\ntls = \"none\"\nfrom = \"backupd@example.org\"\n\
         to = [\"ops@example.org\", \"oncall@example.org\"]\n\
         events = [\"run_failed\", \"recovered\", \"daily_report\"]\nmin_interval = \"0s\"\n",
        flaky_source(&marker)
    ));
    create_db_job(&server);

    // the failure
    let failed = server.run("db");
    assert_eq!(failed["status"], "failed", "{failed}");
    let run_id = failed["run_id"].as_str().unwrap();
    let raw = smtp.wait_for("backupd: Nightly DB failed");
    let mail = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(mail.subject(), Some("backupd: Nightly DB failed"));
    let to: Vec<&str> = mail
        .to()
        .unwrap()
        .iter()
        .filter_map(|a| a.address())
        .collect();
    assert_eq!(to, ["ops@example.org", "oncall@example.org"]);
    let body = mail.body_text(0).unwrap().to_string();
    assert!(
        body.contains(&format!(
            "The backup run {run_id} of job Nightly DB (db) failed."
        )),
        "{body}"
    );
    assert!(
        body.contains("Error: ") && body.contains("dump exploded"),
        "{body}"
    );
    assert!(body.contains("When: 20"), "{body}");
    assert!(
        body.contains(&format!("Link: {}/runs/{run_id}", server.base)),
        "{body}"
    );

    // the recovery
    std::fs::write(&marker, "").unwrap();
    let ok = server.run("db");
    assert_eq!(ok["status"], "succeeded", "{ok}");
    let raw = smtp.wait_for("backupd: Nightly DB recovered");
    let mail = mail_parser::MessageParser::default().parse(&raw).unwrap();
    let body = mail.body_text(0).unwrap().to_string();
    assert!(body.contains("succeeded after a failure"), "{body}");
    assert!(body.contains(ok["run_id"].as_str().unwrap()), "{body}");

    // the daily report, its page inline as the HTML part (not an attachment)
    let report_run = server.run("daily_report");
    assert_eq!(report_run["status"], "succeeded", "{report_run}");
    let reports = server.get("/reports");
    let report_id = reports["reports"][0]["id"].as_str().unwrap().to_string();
    let raw = smtp.wait_for("backupd: daily report");
    let mail = mail_parser::MessageParser::default().parse(&raw).unwrap();
    assert_eq!(
        mail.subject().unwrap(),
        format!("backupd: daily report {report_id}")
    );
    assert_eq!(mail.attachment_count(), 0);
    let html = mail.body_html(0).unwrap().to_string();
    let (status, _, page) = server.exchange("GET", &format!("/reports/{report_id}.html"), None);
    assert_eq!(status, 200);
    assert_eq!(
        html.trim_end(),
        page.trim_end(),
        "the mail carries the same page"
    );
    assert!(html.contains("<svg"), "the report's inline charts");
    assert!(mail.body_text(0).unwrap().contains("was written"));

    // every delivery was recorded, newest first, and only what the filter lets through (the
    // queue records an attempt after the server took the mail: the last record may trail it)
    wait_attempt(&server, "the report mail's record", |a| {
        a["kind"] == "daily_report"
    });
    let list = server.get("/notifications");
    let kinds: Vec<&str> = list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["daily_report", "recovered", "run_failed"], "{list}");
    for a in list["notifications"].as_array().unwrap() {
        assert_eq!(a["outcome"], "sent", "{a}");
        assert_eq!(a["channel"], "ops-mail", "{a}");
        assert_eq!(a["attempt"], 1, "{a}");
    }
    assert_eq!(list["notifications"][2]["run_id"], run_id);
    assert_eq!(smtp.mails().len(), 3, "nothing else was sent");
    drop(server.stop());
}

#[test]
fn webhooks_are_signed_filtered_and_carry_a_text_field() {
    let scratch = tempfile::tempdir().unwrap();
    let marker = scratch.path().join("db-is-up");
    let secret = scratch.path().join("hook.secret");
    std::fs::write(&secret, "correct horse battery staple\n").unwrap();
    let (signed, recoveries) = (Receiver::start(), Receiver::start());
    let server = Served::with_config(&format!(
        "{}[[notify]]\nname = \"chat\"\nkind = \"webhook\"\nurl = \"{}\"\nsecret_file = \"{}\"\n\
         headers = {{ X-Team = \"storage\" }}\nmin_interval = \"0s\"\n\n\
         [[notify]]\nname = \"recoveries\"\nkind = \"webhook\"\nurl = \"{}\"\nevents = [\"recovered\"]\n",
        flaky_source(&marker),
        signed.url,
        secret.display(),
        recoveries.url
    ));
    create_db_job(&server);
    let failed = server.run("db");
    assert_eq!(failed["status"], "failed", "{failed}");
    let got = signed.wait_for(1);
    let req = &got[0];
    assert_eq!(req.path, "/hook");
    assert_eq!(req.header("Content-Type"), Some("application/json"));
    assert_eq!(req.header("X-Team"), Some("storage"));
    // the receiver recomputes the signature over the bytes it got, with the file's secret
    let expected = format!(
        "sha256={}",
        hmac_hex(b"correct horse battery staple", &req.body)
    );
    assert_eq!(req.header("X-Backupd-Signature"), Some(expected.as_str()));
    assert_ne!(
        req.header("X-Backupd-Signature").unwrap(),
        format!("sha256={}", hmac_hex(b"another secret", &req.body))
    );
    let body = req.json();
    assert_eq!(body["kind"], "run_failed");
    assert_eq!(body["channel"], "chat");
    assert_eq!(body["job_id"], "db");
    assert_eq!(body["run_id"], failed["run_id"]);
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("backupd: Nightly DB failed\n"), "{text}");
    assert!(text.contains("dump exploded"), "{text}");

    std::fs::write(&marker, "").unwrap();
    let ok = server.run("db");
    assert_eq!(ok["status"], "succeeded");
    let got = signed.wait_for(2);
    assert_eq!(got[1].json()["kind"], "recovered");
    // the second channel only takes recoveries, and is unsigned
    let only = recoveries.wait_for(1);
    assert_eq!(only[0].json()["kind"], "recovered");
    assert_eq!(only[0].json()["run_id"], ok["run_id"]);
    assert_eq!(only[0].header("X-Backupd-Signature"), None);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(recoveries.got().len(), 1, "the failure was filtered out");
    assert_eq!(signed.got().len(), 2);

    // a test message through each channel: 200 with the outcome, recorded
    let (status, answer) = server.send("POST", "/notify/test?channel=recoveries", None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["delivered"], true, "{answer}");
    assert_eq!(recoveries.wait_for(2)[1].json()["kind"], "test");
    signed.status.store(503, Ordering::SeqCst);
    let (status, answer) = server.send("POST", "/notify/test?channel=chat", None);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["delivered"], false, "{answer}");
    assert!(
        answer["reason"].as_str().unwrap().contains("503"),
        "{answer}"
    );
    let (status, body) = server.send("POST", "/notify/test?channel=pager", None);
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["field"], "channel", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("chat, recoveries"),
        "{body}"
    );
    let (status, body) = server.send("POST", "/notify/test", None);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "channel", "{body}");
    let (status, body) = server.send("POST", "/notify/test?channel=chat&to=me", None);
    assert_eq!(status, 400, "{body}");

    let failed_test = wait_attempt(&server, "the failed test", |a| {
        a["kind"] == "test" && a["outcome"] == "failed"
    });
    assert_eq!(failed_test["channel"], "chat");
    assert_eq!(failed_test["will_retry"], false);
    // paging: one at a time, newest first, to the end
    let mut seen = vec![];
    let mut path = "/notifications?limit=1".to_string();
    loop {
        let page = server.get(&path);
        let items = page["notifications"].as_array().unwrap();
        assert!(items.len() <= 1);
        seen.extend(items.iter().map(|a| a["position"].as_u64().unwrap()));
        match page["next_before"].as_u64() {
            Some(b) => path = format!("/notifications?limit=1&before={b}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] > w[1]), "{seen:?}");
    let chat = server.get("/notifications?channel=recoveries");
    assert_eq!(chat["notifications"].as_array().unwrap().len(), 2, "{chat}");
    for bad in ["limit=0", "limit=1001", "before=x", "page=2"] {
        let (status, body) = server.send("GET", &format!("/notifications?{bad}"), None);
        assert_eq!(status, 400, "{bad}: {body}");
    }
    drop(server.stop());
}

#[test]
fn a_mail_server_that_is_down_gets_the_mail_when_it_comes_back() {
    let scratch = tempfile::tempdir().unwrap();
    let port = free_port();
    let marker = scratch.path().join("never");
    let server = Served::with_config(&format!(
        "{}[[notify]]\nname = \"ops-mail\"\nkind = \"email\"\nserver = \"127.0.0.1\"\n\
         port = {port}\ntls = \"none\"\nfrom = \"backupd@example.org\"\nto = [\"ops@example.org\"]\n\
         retry_backoff = \"1s\"\nretries = 20\n",
        flaky_source(&marker)
    ));
    create_db_job(&server);
    let failed = server.run("db");
    assert_eq!(failed["status"], "failed");
    // nobody listens: attempts fail and are recorded, with a retry to come
    let first = wait_attempt(&server, "a failed attempt", |a| a["outcome"] == "failed");
    assert_eq!(first["channel"], "ops-mail");
    assert_eq!(first["kind"], "run_failed");
    assert_eq!(first["will_retry"], true);
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .contains(&port.to_string()),
        "{first}"
    );
    wait_attempt(&server, "a second failed attempt", |a| {
        a["outcome"] == "failed" && a["attempt"] == 2
    });
    // the channel that is down shows in health
    let run = server.run("health_check");
    assert_eq!(run["status"], "succeeded", "{run}");
    let health = server.get("/health");
    let c = check(&health, "notifications");
    assert_eq!(c["status"], "warning", "{health}");
    assert!(c["reason"].as_str().unwrap().contains("ops-mail"), "{c}");

    // it comes back: the same message is delivered by a later attempt
    let smtp = Smtp::start(port, &scratch.path().join("maildir"));
    let sent = wait_attempt(&server, "the delivery", |a| a["outcome"] == "sent");
    assert!(sent["attempt"].as_u64().unwrap() >= 3, "{sent}");
    assert_eq!(sent["run_id"], failed["run_id"]);
    let raw = smtp.wait_for("backupd: Nightly DB failed");
    assert!(String::from_utf8_lossy(&raw).contains("dump exploded"));
    assert_eq!(smtp.mails().len(), 1, "delivered once");
    server.run("health_check");
    let health = server.get("/health");
    assert_eq!(check(&health, "notifications")["status"], "ok", "{health}");
    drop(server.stop());
}

#[test]
fn mail_goes_over_starttls_and_implicit_tls_to_a_server_it_verifies() {
    let scratch = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(scratch.path());
    let (cert, key) = (cert.to_str().unwrap(), key.to_str().unwrap());
    let (p1, p2) = (free_port(), free_port());
    // STARTTLS is required by this server: a mail in its box came over TLS
    let starttls = Smtp::start_with(
        p1,
        &scratch.path().join("box1"),
        &["--tlscert", cert, "--tlskey", key],
    );
    let implicit = Smtp::start_with(
        p2,
        &scratch.path().join("box2"),
        &["--smtpscert", cert, "--smtpskey", key],
    );
    let marker = scratch.path().join("never");
    let channel = |name: &str, port: u16, tls: &str, ca: &Path| {
        format!(
            "[[notify]]\nname = \"{name}\"\nkind = \"email\"\nserver = \"127.0.0.1\"\n\
             port = {port}\ntls = \"{tls}\"\nca_file = \"{}\"\nfrom = \"backupd@example.org\"\n\
             to = [\"ops@example.org\"]\nretries = 1\n\n",
            ca.display()
        )
    };
    // a third channel that trusts another CA: the server's certificate is refused
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = certificates(other.path());
    let server = Served::with_config(&format!(
        "{}{}{}{}",
        flaky_source(&marker),
        channel("starttls", p1, "starttls", &ca),
        channel("smtps", p2, "implicit", &ca),
        channel("untrusted", p1, "starttls", &other_ca),
    ));
    create_db_job(&server);
    let failed = server.run("db");
    assert_eq!(failed["status"], "failed");
    for smtp in [&starttls, &implicit] {
        let raw = smtp.wait_for("backupd: Nightly DB failed");
        assert!(String::from_utf8_lossy(&raw).contains("dump exploded"));
    }
    let refused = wait_attempt(&server, "the untrusted channel", |a| {
        a["channel"] == "untrusted" && a["outcome"] == "failed"
    });
    assert_eq!(refused["will_retry"], false, "retries = 1: {refused}");
    let reason = refused["reason"].as_str().unwrap();
    assert!(reason.contains("invalid peer certificate"), "{reason}");
    assert_eq!(starttls.mails().len(), 1, "{refused}");
    for name in ["starttls", "smtps"] {
        wait_attempt(&server, name, |a| {
            a["channel"] == name && a["outcome"] == "sent"
        });
    }
    drop(server.stop());
}

#[test]
fn a_channel_that_hangs_holds_no_run() {
    let scratch = tempfile::tempdir().unwrap();
    let marker = scratch.path().join("db-is-up");
    let silent = Silent::start();
    let server = Served::with_config(&format!(
        "{}[[notify]]\nname = \"stuck\"\nkind = \"webhook\"\nurl = \"{}\"\nmin_interval = \"0s\"\n\
         retries = 1\n",
        flaky_source(&marker),
        silent.url
    ));
    create_db_job(&server);
    let started = Instant::now();
    let failed = server.run("db");
    assert_eq!(failed["status"], "failed");
    // the notification's POST is going and gets no answer ...
    let deadline = Instant::now() + Duration::from_secs(10);
    while silent.connections() == 0 {
        assert!(Instant::now() < deadline, "no POST reached the endpoint");
        std::thread::sleep(Duration::from_millis(20));
    }
    // ... while the job's next runs start and end as if nothing were pending
    std::fs::write(&marker, "").unwrap();
    for _ in 0..3 {
        assert_eq!(server.run("db")["status"], "succeeded");
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "runs waited on the channel: {:?}",
        started.elapsed()
    );
    assert_eq!(
        server.get("/notifications")["notifications"],
        json!([]),
        "no outcome yet: the attempt is still waiting"
    );
    // the endpoint lets go: the attempt's failure is recorded
    silent.release();
    let a = wait_attempt(&server, "the failed attempt", |a| a["outcome"] == "failed");
    assert_eq!(
        (a["channel"].as_str(), a["will_retry"].as_bool()),
        (Some("stuck"), Some(false))
    );
    drop(server.stop());
}

fn job(id: &str) -> JobSpec {
    JobSpec {
        id: id.into(),
        name: format!("{id} files"),
        trigger: Trigger::Interval {
            seconds: 86_400,
            start_at: None,
        },
        action: JobAction::HealthCheck,
        misfire_grace_secs: None,
        timezone: None,
        jitter_secs: 0,
    }
}

fn exec(service: &backupd::service::Service, command: Command) {
    smol::block_on(service.execute(command, Meta::actor("test"))).unwrap();
}

#[test]
fn a_hundred_failures_in_a_minute_are_one_message_and_one_digest() {
    let dir = tempfile::tempdir().unwrap();
    let (service, clock) = open_service(dir.path(), 0);
    let hook = Receiver::start();
    let config = Config::parse(&format!(
        "[[notify]]\nname = \"chat\"\nkind = \"webhook\"\nurl = \"{}\"\nmin_interval = \"10m\"\n\
         alert_after = \"6h\"\nalert_after_jobs = {{ flappy = \"2h\" }}\n",
        hook.url
    ))
    .unwrap();
    exec(&service, Command::CreateJob(job("flappy")));
    exec(&service, Command::CreateJob(job("steady")));
    let notifier = backupd::notify::start(
        service.clone(),
        config.notify.clone(),
        "http://backup.example:8720".into(),
        dir.path().to_path_buf(),
    )
    .unwrap();
    let api = serve_api_with(&service, config);

    // 100 failures of one job within a minute, by the manual clock
    for i in 0..100 {
        let run_id = format!("flappy-{i:03}");
        exec(
            &service,
            Command::StartRun {
                run_id: run_id.clone(),
                job_id: "flappy".into(),
                slot: None,
                reason: RunReason::Manual,
            },
        );
        exec(
            &service,
            Command::FinishRun {
                run_id,
                outcome: RunOutcome::Failed {
                    error: format!("dump exploded #{i}"),
                    kind: ErrorKind::Transient,
                },
            },
        );
        clock.advance(time::Duration::milliseconds(500));
    }
    let first = hook.wait_for(1);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(hook.got().len(), 1, "one message, not 100");
    assert_eq!(first[0].json()["kind"], "run_failed");
    assert_eq!(first[0].json()["run_id"], "flappy-000");
    assert_eq!(
        first[0].json()["link"],
        "http://backup.example:8720/api/backup/runs/flappy-000"
    );

    // min_interval later: one digest of the 99 held
    clock.set(start_time() + time::Duration::minutes(11));
    let got = hook.wait_for(2);
    let digest = got[1].json();
    assert_eq!(digest["kind"], "digest", "{digest}");
    assert_eq!(
        digest["subject"],
        "backupd: digest for flappy: 99 more notification(s)"
    );
    let text = digest["text"].as_str().unwrap();
    assert!(
        text.contains("flappy-001") && text.contains("flappy-099"),
        "{text}"
    );
    assert!(!text.contains("flappy-000"), "{text}");
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(hook.got().len(), 2, "one message and one digest");

    // the dead-man's switch: flappy never succeeded since its creation (2 h limit), steady
    // neither (the channel's 6 h): each is alerted once its silence passes its limit, once
    clock.set(start_time() + time::Duration::hours(3));
    let got = hook.wait_for(3);
    let overdue = got[2].json();
    assert_eq!(overdue["kind"], "overdue", "{overdue}");
    assert_eq!(overdue["job_id"], "flappy");
    assert_eq!(
        overdue["subject"],
        "backupd: flappy files has not succeeded for 2h"
    );
    clock.set(start_time() + time::Duration::hours(7));
    let got = hook.wait_for(4);
    assert_eq!(got[3].json()["job_id"], "steady", "{:?}", got[3].json());
    clock.set(start_time() + time::Duration::hours(8));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(hook.got().len(), 4, "each silence alerted once");

    // the deliveries, as the API lists them
    let list = api.get("/notifications");
    let kinds: Vec<&str> = list["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["overdue", "overdue", "digest", "run_failed"],
        "{list}"
    );
    let (status, body) = reply(ureq::get(&format!("{}/notifications?limit=nine", api.base)).call());
    assert_eq!(status, 400, "{body}");
    drop(notifier);
}
