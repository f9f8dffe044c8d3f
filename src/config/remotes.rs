//! `[[remotes]]`: off-site copies (an S3 bucket + prefix, or a mounted directory). Credentials
//! come from the environment or a file only, read here at load so a missing one is a
//! configuration error naming its key; they are held as `Secret` (its `Debug` shows nothing).

use super::notify::Secret;
use super::{invalid, ConfigError};
use crate::domain::duration;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawRemote {
    name: String,
    kind: String,
    // s3
    endpoint: Option<String>,
    bucket: Option<String>,
    prefix: Option<String>,
    region: Option<String>,
    path_style: Option<bool>,
    multipart_above: Option<String>,
    pub(crate) access_key_id_env: Option<String>,
    pub(crate) secret_access_key_env: Option<String>,
    credentials_file: Option<PathBuf>,
    // dir
    path: Option<PathBuf>,
    // both
    max_upload_rate: Option<String>,
    concurrency: Option<u32>,
    warn_after: Option<String>,
    critical_after: Option<String>,
}

/// Where a remote keeps its objects.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteKind {
    S3(S3Remote),
    /// A mounted directory (NFS, a USB disk, ...): objects are files under `path`.
    Dir {
        path: PathBuf,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct S3Remote {
    /// `http(s)://host[:port]` of the S3 API.
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    /// Path-style URLs (`endpoint/bucket/key`) rather than virtual-host (`bucket.endpoint/key`):
    /// what MinIO, s3s and most self-hosted servers want.
    pub path_style: bool,
    pub access_key_id: Secret,
    pub secret_access_key: Secret,
    /// Files larger than this go up as a multipart upload (8 MiB parts), smaller ones in one
    /// streamed PUT: a pack (16–64 MiB) in one request, as restic sends its packs, since a
    /// multipart upload costs a request per part and the server a concatenation.
    pub multipart_above: u64,
}

/// `multipart_above` when not given.
pub const DEFAULT_MULTIPART_ABOVE: u64 = 128 << 20;
/// S3's smallest part (all but the last): a cutoff below it would make parts S3 refuses.
pub const MIN_MULTIPART_ABOVE: u64 = 5 << 20;

/// One `[[remotes]]` entry, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteConfig {
    pub name: String,
    pub kind: RemoteKind,
    /// Keys live under this prefix ("" or ending in `/`).
    pub prefix: String,
    /// Upload bandwidth cap in bytes per second; `None` = unlimited.
    pub max_upload_rate: Option<u64>,
    /// Uploads to this remote at once.
    pub concurrency: usize,
    /// Age of the oldest backup not yet off-site that makes the remote's health a warning /
    /// critical.
    pub warn_after_secs: u64,
    pub critical_after_secs: u64,
}

pub const DEFAULT_CONCURRENCY: u32 = 2;
pub const DEFAULT_WARN_AFTER_SECS: u64 = 24 * 3600;
pub const DEFAULT_CRITICAL_AFTER_SECS: u64 = 72 * 3600;

/// "20MiB", "500KB", "1000" (bytes): a size in bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gib" => 1 << 30,
        _ => return None,
    };
    n.checked_mul(mult)
}

fn env_secret(key: &str, var: &str) -> Result<Secret, ConfigError> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Ok(Secret(v)),
        _ => Err(invalid(
            key,
            format!("environment variable {var} is not set"),
        )),
    }
}

/// A credentials file: `access_key_id = ...` and `secret_access_key = ...` lines (the AWS
/// credentials file's keys; `aws_` prefixes accepted), `#` comments and `[sections]` ignored.
fn file_credentials(key: &str, path: &PathBuf) -> Result<(Secret, Secret), ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| invalid(key, format!("cannot read {}: {e}", path.display())))?;
    let (mut id, mut secret) = (None, None);
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let k = k.trim().trim_start_matches("aws_");
        let v = v.trim().to_string();
        match k {
            "access_key_id" => id = Some(Secret(v)),
            "secret_access_key" => secret = Some(Secret(v)),
            _ => {}
        }
    }
    match (id, secret) {
        (Some(i), Some(s)) => Ok((i, s)),
        _ => Err(invalid(
            key,
            format!(
                "{} must hold access_key_id and secret_access_key",
                path.display()
            ),
        )),
    }
}

pub(super) fn remotes(raw: Vec<RawRemote>) -> Result<Vec<RemoteConfig>, ConfigError> {
    let mut out: Vec<RemoteConfig> = Vec::new();
    for (i, r) in raw.into_iter().enumerate() {
        let at = |k: &str| format!("remotes[{i}].{k}");
        if r.name.is_empty()
            || !r
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                &at("name"),
                "must be non-empty letters, digits, '-' or '_'",
            ));
        }
        if out.iter().any(|o| o.name == r.name) {
            return Err(invalid(&at("name"), format!("{:?} is used twice", r.name)));
        }
        let kind = match r.kind.as_str() {
            "s3" => {
                let endpoint = r
                    .endpoint
                    .ok_or_else(|| invalid(&at("endpoint"), "required for kind = \"s3\""))?;
                if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                    return Err(invalid(
                        &at("endpoint"),
                        "must start with http:// or https://",
                    ));
                }
                let multipart_above = match &r.multipart_above {
                    None => DEFAULT_MULTIPART_ABOVE,
                    Some(t) => parse_size(t)
                        .filter(|n| *n >= MIN_MULTIPART_ABOVE)
                        .ok_or_else(|| {
                            invalid(
                                &at("multipart_above"),
                                format!("{t:?} is not a size of at least 5MiB, like \"128MiB\""),
                            )
                        })?,
                };
                let bucket = r
                    .bucket
                    .ok_or_else(|| invalid(&at("bucket"), "required for kind = \"s3\""))?;
                let (access_key_id, secret_access_key) = match (
                    &r.access_key_id_env,
                    &r.secret_access_key_env,
                    &r.credentials_file,
                ) {
                    (Some(a), Some(s), None) => (
                        env_secret(&at("access_key_id_env"), a)?,
                        env_secret(&at("secret_access_key_env"), s)?,
                    ),
                    (None, None, Some(f)) => file_credentials(&at("credentials_file"), f)?,
                    _ => {
                        return Err(invalid(
                            &at("credentials_file"),
                            "give either access_key_id_env and secret_access_key_env, or credentials_file",
                        ))
                    }
                };
                RemoteKind::S3(S3Remote {
                    endpoint: endpoint.trim_end_matches('/').to_string(),
                    bucket,
                    region: r.region.unwrap_or_else(|| "us-east-1".into()),
                    path_style: r.path_style.unwrap_or(true),
                    access_key_id,
                    secret_access_key,
                    multipart_above,
                })
            }
            "dir" => RemoteKind::Dir {
                path: r
                    .path
                    .ok_or_else(|| invalid(&at("path"), "required for kind = \"dir\""))?,
            },
            other => {
                return Err(invalid(
                    &at("kind"),
                    format!("{other:?} is not one of s3, dir"),
                ))
            }
        };
        let prefix = match r.prefix.unwrap_or_default().trim_matches('/') {
            "" => String::new(),
            p => format!("{p}/"),
        };
        let max_upload_rate = match r.max_upload_rate {
            None => None,
            Some(t) => Some(parse_size(&t).filter(|n| *n > 0).ok_or_else(|| {
                invalid(
                    &at("max_upload_rate"),
                    format!("{t:?} is not a size like \"20MiB\""),
                )
            })?),
        };
        let concurrency = r.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        if !(1..=64).contains(&concurrency) {
            return Err(invalid(&at("concurrency"), "must be 1..=64"));
        }
        let secs = |k: &str, v: Option<String>, d: u64| -> Result<u64, ConfigError> {
            match v {
                None => Ok(d),
                Some(t) => duration::parse(&t)
                    .map_err(|e| invalid(&at(k), e))?
                    .ok_or_else(|| invalid(&at(k), "\"forever\" is not a threshold")),
            }
        };
        let warn_after_secs = secs("warn_after", r.warn_after, DEFAULT_WARN_AFTER_SECS)?;
        let critical_after_secs = secs(
            "critical_after",
            r.critical_after,
            DEFAULT_CRITICAL_AFTER_SECS,
        )?;
        if critical_after_secs < warn_after_secs {
            return Err(invalid(
                &at("critical_after"),
                "must not be shorter than warn_after",
            ));
        }
        out.push(RemoteConfig {
            name: r.name,
            kind,
            prefix,
            max_upload_rate,
            concurrency: concurrency as usize,
            warn_after_secs,
            critical_after_secs,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn err(text: &str) -> String {
        Config::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn the_reference_example_parses() {
        // schema/config.md's `[[remotes]]` block, with its variables set (names of this test's own).
        std::env::set_var("BACKUPD_S3_KEY", "AKIDEXAMPLE");
        std::env::set_var("BACKUPD_S3_SECRET", "secret-example");
        let doc = include_str!("../../schema/config.md");
        let from = doc
            .find("[[remotes]]                      # any number")
            .unwrap();
        let example = &doc[from..from + doc[from..].find("```").unwrap()];
        let c = Config::parse(example).unwrap();
        assert_eq!(c.remotes.len(), 2);
        let RemoteKind::S3(s3) = &c.remotes[0].kind else {
            panic!()
        };
        assert_eq!(s3.secret_access_key.0, "secret-example");
        assert!(
            !format!("{:?}", c.remotes).contains("secret-example"),
            "Debug shows no secret"
        );
        assert_eq!(c.remotes[0].concurrency, 2);
        assert_eq!(
            c.remotes[1].kind,
            RemoteKind::Dir {
                path: "/mnt/usb/backupd".into()
            }
        );
    }

    #[test]
    fn sizes_prefixes_and_thresholds() {
        assert_eq!(parse_size("20MiB"), Some(20 << 20));
        assert_eq!(parse_size("500 KB"), Some(500_000));
        assert_eq!(parse_size("12"), Some(12));
        assert_eq!(parse_size("5 parsecs"), None);
        let c = Config::parse(
            "[[remotes]]\nname = \"d\"\nkind = \"dir\"\npath = \"/x\"\nprefix = \"/a/b/\"\n\
             max_upload_rate = \"1MiB\"\nwarn_after = \"1h\"\ncritical_after = \"2h\"\n",
        )
        .unwrap();
        let r = &c.remotes[0];
        assert_eq!(r.prefix, "a/b/");
        assert_eq!(r.max_upload_rate, Some(1 << 20));
        assert_eq!((r.warn_after_secs, r.critical_after_secs), (3600, 7200));
    }

    #[test]
    fn mistakes_name_their_key() {
        let dir = "[[remotes]]\nname = \"d\"\nkind = \"dir\"\npath = \"/x\"\n";
        assert!(err("[[remotes]]\nname = \"d\"\nkind = \"ftp\"\n").contains("remotes[0].kind"));
        assert!(err("[[remotes]]\nname = \"d\"\nkind = \"dir\"\n").contains("remotes[0].path"));
        assert!(err(&format!("{dir}{dir}")).contains("remotes[1].name"));
        assert!(err(&format!("{dir}concurrency = 0\n")).contains("remotes[0].concurrency"));
        assert!(err(&format!("{dir}max_upload_rate = \"fast\"\n")).contains("max_upload_rate"));
        let s3_min = "[[remotes]]\nname = \"s\"\nkind = \"s3\"\nendpoint = \"http://h\"\n\
                      bucket = \"b\"\ncredentials_file = \"/nonexistent\"\nmultipart_above = \"1MiB\"\n";
        assert!(
            err(s3_min).contains("remotes[0].multipart_above"),
            "{}",
            err(s3_min)
        );
        assert!(err(&format!(
            "{dir}warn_after = \"3h\"\ncritical_after = \"1h\"\n"
        ))
        .contains("critical_after"));
        let s3 =
            "[[remotes]]\nname = \"s\"\nkind = \"s3\"\nendpoint = \"http://h\"\nbucket = \"b\"\n";
        assert!(err(s3).contains("credentials_file"), "credentials required");
        let missing = err(&format!(
            "{s3}access_key_id_env = \"BACKUPD_TEST_NO_SUCH_VAR_1\"\n\
             secret_access_key_env = \"BACKUPD_TEST_NO_SUCH_VAR_2\"\n"
        ));
        assert!(
            missing.contains("remotes[0].access_key_id_env"),
            "{missing}"
        );
        assert!(err(&format!("{s3}credentials_file = \"/no/such/file\"\n"))
            .contains("remotes[0].credentials_file"));
        assert!(err(
            "[[remotes]]\nname = \"s\"\nkind = \"s3\"\nendpoint = \"ftp://h\"\nbucket = \"b\"\n"
        )
        .contains("remotes[0].endpoint"));
    }
}
