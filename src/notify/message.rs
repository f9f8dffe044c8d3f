//! A notice as a channel sends it: subject, plain text with the link to the run, and for the
//! daily report the page to carry inline. Pure: the link's base and `now` are arguments.

use super::gate::Out;
use super::watch::Notice;
use crate::events::Ts;

#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// As recorded in `notification_sent.kind`.
    pub kind: String,
    pub subject: String,
    /// The body: what, which job, when, the error, the link.
    pub text: String,
    pub job_id: Option<String>,
    pub run_id: Option<String>,
    pub at: Ts,
    pub link: Option<String>,
    /// The report page's file, sent inline as the HTML part of the mail.
    pub html_file: Option<String>,
}

fn run_link(base: &str, run_id: &str) -> String {
    format!(
        "{}{}/runs/{run_id}",
        base.trim_end_matches('/'),
        crate::api::BASE
    )
}

pub fn render(out: &Out, base: &str, now: Ts) -> Message {
    match out {
        Out::Send(n) => notice(n, base),
        Out::Digest { key, since, held } => digest(key, *since, held, base, now),
    }
}

fn notice(n: &Notice, base: &str) -> Message {
    let link = match (&n.report, &n.run_id) {
        (Some((id, _)), _) => Some(format!(
            "{}{}/reports/{id}.html",
            base.trim_end_matches('/'),
            crate::api::BASE
        )),
        (None, Some(run)) => Some(run_link(base, run)),
        (None, None) => None,
    };
    let mut text = n.lines.join("\n");
    if let Some(l) = &link {
        text.push_str(&format!("\nLink: {l}"));
    }
    text.push('\n');
    Message {
        kind: n.kind.as_str().to_string(),
        subject: n.subject.clone(),
        text,
        job_id: n.job_id.clone(),
        run_id: n.run_id.clone(),
        at: n.at,
        link,
        html_file: n.report.as_ref().map(|(_, file)| file.clone()),
    }
}

/// What `min_interval` held back, one line each, newest last.
fn digest(key: &str, since: Ts, held: &[Notice], base: &str, now: Ts) -> Message {
    let mut text = format!(
        "{} notification(s) for {key} were held since {} (min_interval):\n",
        held.len(),
        since.rfc3339()
    );
    for n in held {
        text.push_str(&format!("- {} {}", n.at.rfc3339(), n.subject));
        if let Some(run) = &n.run_id {
            text.push_str(&format!(" ({})", run_link(base, run)));
        }
        text.push('\n');
    }
    Message {
        kind: super::kind::DIGEST.to_string(),
        subject: format!(
            "backupd: digest for {key}: {} more notification(s)",
            held.len()
        ),
        text,
        job_id: held.first().and_then(|n| n.job_id.clone()),
        run_id: held.last().and_then(|n| n.run_id.clone()),
        at: now,
        link: held
            .last()
            .and_then(|n| n.run_id.as_ref())
            .map(|r| run_link(base, r)),
        html_file: None,
    }
}

/// `POST /api/backup/notify/test`.
pub fn test(channel: &str, base: &str, now: Ts) -> Message {
    Message {
        kind: super::kind::TEST.to_string(),
        subject: format!("backupd: test message for channel {channel}"),
        text: format!(
            "This is a test message from backupd to the channel {channel}.\nWhen: {}\nLink: {}{}/notifications\n",
            now.rfc3339(),
            base.trim_end_matches('/'),
            crate::api::BASE
        ),
        job_id: None,
        run_id: None,
        at: now,
        link: None,
        html_file: None,
    }
}

/// The webhook's JSON: `text` (subject and body, what Slack and ntfy show) and the same facts
/// as fields for receivers that read them.
pub fn webhook_body(channel: &str, m: &Message) -> serde_json::Value {
    serde_json::json!({
        "text": format!("{}\n{}", m.subject, m.text),
        "channel": channel,
        "kind": m.kind,
        "subject": m.subject,
        "job_id": m.job_id,
        "run_id": m.run_id,
        "at": m.at.rfc3339(),
        "link": m.link,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Kind;

    fn t(secs: i64) -> Ts {
        Ts::from_unix_nanos(1_790_000_000_000_000_000 + secs * 1_000_000_000)
    }

    #[test]
    fn a_failure_carries_its_link_and_a_digest_lists_what_was_held() {
        let n = Notice {
            kind: Kind::RunFailed,
            at: t(0),
            job_id: Some("nightly".into()),
            run_id: Some("r1".into()),
            subject: "backupd: nightly failed".into(),
            lines: vec!["Error: disk full".into()],
            report: None,
        };
        let m = render(&Out::Send(n.clone()), "http://h:8720/", t(0));
        assert_eq!(m.kind, "run_failed");
        assert_eq!(
            m.text,
            "Error: disk full\nLink: http://h:8720/api/backup/runs/r1\n"
        );
        let held = vec![
            n.clone(),
            Notice {
                run_id: Some("r2".into()),
                ..n
            },
        ];
        let d = render(
            &Out::Digest {
                key: "nightly".into(),
                since: t(0),
                held,
            },
            "http://h:8720",
            t(600),
        );
        assert_eq!(d.kind, "digest");
        assert_eq!(
            d.subject,
            "backupd: digest for nightly: 2 more notification(s)"
        );
        assert_eq!(d.text.lines().count(), 3, "{}", d.text);
        assert!(d.text.contains("http://h:8720/api/backup/runs/r2"));
        let body = webhook_body("chat", &d);
        assert_eq!(body["kind"], "digest");
        assert!(body["text"].as_str().unwrap().starts_with(&d.subject));
    }
}
