//! `[[notify]]`: the notification channels (e-mail over SMTP, webhooks). Secrets come from the
//! environment or a file only, never from the configuration text itself, and are read here, at
//! load, so a missing one is a configuration error naming its key rather than a failed delivery
//! at 3 a.m.

use super::{invalid, ConfigError};
use crate::domain::duration;
use crate::notify::Kind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawChannel {
    name: String,
    kind: String,
    events: Option<Vec<String>>,
    min_interval: Option<String>,
    alert_after: Option<String>,
    /// Per job: `alert_after` for that job (overrides the channel's).
    alert_after_jobs: BTreeMap<String, String>,
    /// The start of the links in messages (`http://backup.example:8720`); default: the API's
    /// bind address.
    link: Option<String>,
    retries: Option<u32>,
    retry_backoff: Option<String>,
    // email
    server: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    username: Option<String>,
    pub(crate) password_env: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    from: Option<String>,
    to: Vec<String>,
    // webhook
    url: Option<String>,
    pub(crate) secret_env: Option<String>,
    secret_file: Option<PathBuf>,
    headers: BTreeMap<String, String>,
}

/// A secret's value; its `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tls {
    /// Plain connection upgraded with STARTTLS (port 587 by default).
    Starttls,
    /// TLS from the first byte (port 465 by default).
    Implicit,
    /// No TLS: only for a relay on the same host or a test server.
    None,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Email {
    pub server: String,
    pub port: u16,
    pub tls: Tls,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// PEM certificates trusted besides the public roots (a private CA's SMTP server).
    pub ca_pem: Option<Vec<u8>>,
    pub from: String,
    pub to: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Webhook {
    pub url: String,
    /// The key of `X-Backupd-Signature` (HMAC-SHA256 of the body); `None` = unsigned.
    pub secret: Option<Secret>,
    pub headers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Transport {
    Email(Email),
    Webhook(Webhook),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub name: String,
    pub events: Vec<Kind>,
    /// Per job (or kind, for notices without a job): at most one message in this many
    /// seconds; what comes meanwhile is held and sent as one digest when it has passed.
    pub min_interval_secs: u64,
    /// The dead-man's switch: a job with no success for this long; `None` = off.
    pub alert_after_secs: Option<u64>,
    pub alert_after_jobs: BTreeMap<String, u64>,
    pub link: Option<String>,
    /// Attempts per message (the first included) before the queue gives up on it.
    pub retries: u32,
    /// The wait after the first failed attempt; doubled after each further one (at most 1 h).
    pub retry_backoff_secs: u64,
    pub transport: Transport,
}

impl Channel {
    /// The dead-man's limit for a job: its own, or the channel's.
    pub fn alert_after(&self, job_id: &str) -> Option<u64> {
        self.alert_after_jobs
            .get(job_id)
            .copied()
            .or(self.alert_after_secs)
    }
}

/// The default filter: what needs a human; warnings and the daily report are opt-in.
pub const DEFAULT_EVENTS: [Kind; 4] = [
    Kind::RunFailed,
    Kind::Recovered,
    Kind::HealthChanged,
    Kind::Overdue,
];

pub(super) fn channels(raw: Vec<RawChannel>) -> Result<Vec<Channel>, ConfigError> {
    let mut out: Vec<Channel> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let key = |k: &str| format!("notify[{i}].{k}");
        if r.name.is_empty() {
            return Err(invalid(&key("name"), "every channel has a name"));
        }
        if !r
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                &key("name"),
                format!("{:?}: letters, digits, - and _ only", r.name),
            ));
        }
        if out.iter().any(|c| c.name == r.name) {
            return Err(invalid(&key("name"), format!("{:?} is taken", r.name)));
        }
        let events = match &r.events {
            None => DEFAULT_EVENTS.to_vec(),
            Some(names) => names
                .iter()
                .map(|n| {
                    Kind::parse(n).ok_or_else(|| {
                        invalid(
                            &key("events"),
                            format!(
                                "{n:?} is not one of {}",
                                Kind::ALL.map(|k| k.as_str()).join(", ")
                            ),
                        )
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let secs = |k: &str, v: &Option<String>, default: &str| -> Result<u64, ConfigError> {
            match duration::parse(v.as_deref().unwrap_or(default)) {
                Ok(Some(s)) => Ok(s),
                Ok(None) => Err(invalid(&key(k), "must be a duration, not forever")),
                Err(e) => Err(invalid(&key(k), e)),
            }
        };
        // "0s": no coalescing (every notice at once), which a digest-free test channel wants.
        let min_interval_secs = match r.min_interval.as_deref().map(str::trim) {
            Some("0" | "0s" | "0m" | "0h") => 0,
            _ => secs("min_interval", &r.min_interval, "10m")?,
        };
        let alert_after_secs = match &r.alert_after {
            None => None,
            Some(_) => Some(secs("alert_after", &r.alert_after, "")?),
        };
        let mut alert_after_jobs = BTreeMap::new();
        for (job, v) in &r.alert_after_jobs {
            alert_after_jobs.insert(
                job.clone(),
                secs(&format!("alert_after_jobs.{job}"), &Some(v.clone()), "")?,
            );
        }
        let retries = r.retries.unwrap_or(8);
        if retries == 0 {
            return Err(invalid(&key("retries"), "at least 1 attempt"));
        }
        let retry_backoff_secs = secs("retry_backoff", &r.retry_backoff, "30s")?.max(1);
        let secret = |env_key: &str,
                      env: &Option<String>,
                      file_key: &str,
                      file: &Option<PathBuf>|
         -> Result<Option<Secret>, ConfigError> {
            match (env, file) {
                (Some(_), Some(_)) => Err(invalid(
                    &key(env_key),
                    format!("give {env_key} or {file_key}, not both"),
                )),
                (Some(var), None) => std::env::var(var).map(|v| Some(Secret(v))).map_err(|_| {
                    invalid(
                        &key(env_key),
                        format!("the environment variable {var} is not set"),
                    )
                }),
                (None, Some(path)) => std::fs::read_to_string(path)
                    .map(|v| Some(Secret(v.trim_end_matches(['\n', '\r']).to_string())))
                    .map_err(|e| invalid(&key(file_key), format!("{}: {e}", path.display()))),
                (None, None) => Ok(None),
            }
        };
        let transport = match r.kind.as_str() {
            "email" => {
                let server = r
                    .server
                    .clone()
                    .ok_or_else(|| invalid(&key("server"), "an email channel names its server"))?;
                let tls = match r.tls.as_deref().unwrap_or("starttls") {
                    "starttls" => Tls::Starttls,
                    "implicit" => Tls::Implicit,
                    "none" => Tls::None,
                    other => {
                        return Err(invalid(
                            &key("tls"),
                            format!("{other:?} is not one of starttls, implicit, none"),
                        ))
                    }
                };
                let port = r.port.unwrap_or(match tls {
                    Tls::Starttls => 587,
                    Tls::Implicit => 465,
                    Tls::None => 25,
                });
                let from = r
                    .from
                    .clone()
                    .ok_or_else(|| invalid(&key("from"), "an email channel has a sender"))?;
                check_address(&key("from"), &from)?;
                if r.to.is_empty() {
                    return Err(invalid(&key("to"), "an email channel has a recipient"));
                }
                for a in &r.to {
                    check_address(&key("to"), a)?;
                }
                let password = secret(
                    "password_env",
                    &r.password_env,
                    "password_file",
                    &r.password_file,
                )?;
                if password.is_some() && r.username.is_none() {
                    return Err(invalid(&key("username"), "a password needs a username"));
                }
                let ca_pem = match &r.ca_file {
                    None => None,
                    Some(path) => Some(std::fs::read(path).map_err(|e| {
                        invalid(&key("ca_file"), format!("{}: {e}", path.display()))
                    })?),
                };
                Transport::Email(Email {
                    server,
                    port,
                    tls,
                    username: r.username.clone(),
                    password,
                    ca_pem,
                    from,
                    to: r.to.clone(),
                })
            }
            "webhook" => {
                let url = r
                    .url
                    .clone()
                    .ok_or_else(|| invalid(&key("url"), "a webhook channel has a url"))?;
                if !(url.starts_with("http://") || url.starts_with("https://")) {
                    return Err(invalid(
                        &key("url"),
                        format!("{url:?} is not an http(s) URL"),
                    ));
                }
                Transport::Webhook(Webhook {
                    url,
                    secret: secret("secret_env", &r.secret_env, "secret_file", &r.secret_file)?,
                    headers: r.headers.clone(),
                })
            }
            other => {
                return Err(invalid(
                    &key("kind"),
                    format!("{other:?} is not one of email, webhook"),
                ))
            }
        };
        out.push(Channel {
            name: r.name,
            events,
            min_interval_secs,
            alert_after_secs,
            alert_after_jobs,
            link: r.link,
            retries,
            retry_backoff_secs,
            transport,
        });
    }
    Ok(out)
}

fn check_address(key: &str, a: &str) -> Result<(), ConfigError> {
    a.parse::<lettre::message::Mailbox>()
        .map(|_| ())
        .map_err(|e| invalid(key, format!("{a:?} is not an e-mail address: {e}")))
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::notify::Kind;

    #[test]
    fn channels_are_read_with_their_defaults_and_secrets_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("hook.secret");
        std::fs::write(&secret, "s3cret\n").unwrap();
        let text = format!(
            r#"
[[notify]]
name = "ops-mail"
kind = "email"
server = "smtp.example.org"
from = "backupd@example.org"
to = ["ops@example.org", "Oncall <oncall@example.org>"]

[[notify]]
name = "chat"
kind = "webhook"
url = "https://hooks.example.org/x"
secret_file = "{}"
events = ["run_failed", "daily_report"]
min_interval = "1h"
alert_after = "26h"
alert_after_jobs = {{ hourly = "2h" }}
headers = {{ Authorization = "Bearer x" }}
"#,
            secret.display()
        );
        let c = Config::parse(&text).unwrap();
        assert_eq!(c.notify.len(), 2);
        let mail = &c.notify[0];
        assert_eq!(mail.events, super::DEFAULT_EVENTS.to_vec());
        assert_eq!(mail.min_interval_secs, 600);
        let super::Transport::Email(e) = &mail.transport else {
            panic!("{mail:?}")
        };
        assert_eq!((e.port, e.tls), (587, super::Tls::Starttls));
        let hook = &c.notify[1];
        assert_eq!(hook.events, vec![Kind::RunFailed, Kind::DailyReport]);
        assert_eq!(hook.alert_after("hourly"), Some(7200));
        assert_eq!(hook.alert_after("nightly"), Some(26 * 3600));
        let super::Transport::Webhook(w) = &hook.transport else {
            panic!("{hook:?}")
        };
        assert_eq!(w.secret.as_ref().unwrap().0, "s3cret");
        assert!(
            !format!("{hook:?}").contains("s3cret"),
            "Debug shows no secret"
        );
    }

    #[test]
    fn the_reference_example_parses() {
        // schema/config.md's `[[notify]]` entries, as an operator would copy them.
        let doc = include_str!("../../schema/config.md");
        let from = doc.find("[[notify]]").unwrap();
        let example = &doc[from..from + doc[from..].find("```").unwrap()];
        let c = Config::parse(example).unwrap();
        let names: Vec<&str> = c.notify.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["ops-mail", "chat"]);
    }

    #[test]
    fn a_password_comes_from_the_environment() {
        // A name of this test's own: no other test reads or sets it.
        std::env::set_var("BACKUPD_TEST_NOTIFY_SMTP_PASSWORD", "hunter2");
        let c = Config::parse(
            "[[notify]]\nname = \"m\"\nkind = \"email\"\nserver = \"s\"\ntls = \"implicit\"\n\
             username = \"u\"\npassword_env = \"BACKUPD_TEST_NOTIFY_SMTP_PASSWORD\"\n\
             from = \"a@b.c\"\nto = [\"d@e.f\"]\n",
        )
        .unwrap();
        let super::Transport::Email(e) = &c.notify[0].transport else {
            panic!()
        };
        assert_eq!(e.password.as_ref().unwrap().0, "hunter2");
        assert_eq!((e.port, e.tls), (465, super::Tls::Implicit));
        // the variable's name is kept, to be withheld from hooks and tools
        assert_eq!(c.secret_envs, ["BACKUPD_TEST_NOTIFY_SMTP_PASSWORD"]);
        // a password without a user, and both sources at once, are refused by key
        let no_user = "[[notify]]\nname = \"m\"\nkind = \"email\"\nserver = \"s\"\n\
                       password_env = \"BACKUPD_TEST_NOTIFY_SMTP_PASSWORD\"\n\
                       from = \"a@b.c\"\nto = [\"d@e.f\"]\n";
        assert!(matches!(Config::parse(no_user),
            Err(crate::config::ConfigError::Invalid { key, .. }) if key == "notify[0].username"));
        let both = "[[notify]]\nname = \"w\"\nkind = \"webhook\"\nurl = \"http://x\"\n\
                    secret_env = \"X\"\nsecret_file = \"/nonexistent\"\n";
        assert!(matches!(Config::parse(both),
            Err(crate::config::ConfigError::Invalid { key, .. }) if key == "notify[0].secret_env"));
    }

    #[test]
    fn bad_channels_name_the_key() {
        let cases = [
            ("kind = \"email\"", "notify[0].name"),
            ("name = \"a\"\nkind = \"pager\"", "notify[0].kind"),
            ("name = \"a\"\nkind = \"webhook\"", "notify[0].url"),
            (
                "name = \"a\"\nkind = \"webhook\"\nurl = \"ftp://x\"",
                "notify[0].url",
            ),
            (
                "name = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\nevents = [\"everything\"]",
                "notify[0].events",
            ),
            (
                "name = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\nsecret_env = \"BACKUPD_TEST_UNSET_SECRET\"",
                "notify[0].secret_env",
            ),
            (
                "name = \"a\"\nkind = \"email\"\nserver = \"s\"\nfrom = \"not an address\"\nto = [\"a@b.c\"]",
                "notify[0].from",
            ),
            (
                "name = \"a\"\nkind = \"email\"\nserver = \"s\"\nfrom = \"a@b.c\"\nto = [\"a@b.c\"]\ntls = \"ssl\"",
                "notify[0].tls",
            ),
            (
                "name = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\nmin_interval = \"soon\"",
                "notify[0].min_interval",
            ),
        ];
        for (body, key) in cases {
            let text = format!("[[notify]]\n{body}\n");
            match Config::parse(&text) {
                Err(crate::config::ConfigError::Invalid { key: k, .. }) => {
                    assert_eq!(k, key, "{body}")
                }
                other => panic!("{body}: {other:?}"),
            }
        }
        let twice = "[[notify]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://x\"\n\
                     [[notify]]\nname = \"a\"\nkind = \"webhook\"\nurl = \"http://y\"\n";
        assert!(matches!(
            Config::parse(twice),
            Err(crate::config::ConfigError::Invalid { key, .. }) if key == "notify[1].name"
        ));
    }
}
