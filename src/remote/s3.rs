//! An S3-compatible remote (AWS S3, MinIO, Ceph RGW, Garage, R2, s3s): requests are presigned
//! by rusty-s3 (no I/O of its own) and sent by ureq, blocking, on the caller's thread. Bodies
//! stream from the file (a part at most in flight, never in memory); large files go up as a
//! multipart upload.
//!
//! The credentials are held only in `creds` and appear in the presigned URL's signature, never
//! in an error: errors name the remote and the key, and carry the server's error code.

use super::limit::{Paced, RateLimit};
use super::{ObjectStore, RemoteError};
use crate::config::remotes::S3Remote;
use rusty_s3::actions::{CompleteMultipartUpload, CreateMultipartUpload, ListObjectsV2};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::Duration;

/// A presigned URL's life: long enough for one part at a slow rate.
const SIGN_FOR: Duration = Duration::from_secs(3600);
/// Files above `multipart_above` go up in parts of at least this size.
pub const PART: u64 = 8 << 20;
/// What one write to the connection carries: the default copy buffer (8 KiB) would make a
/// 64 MiB pack 8,192 syscalls, this 256.
const SEND_BUF: usize = 256 << 10;
/// S3 allows 10,000 parts; the part size grows beyond `PART` for files that need it.
const MAX_PARTS: u64 = 10_000;

pub struct S3Store {
    name: String,
    prefix: String,
    bucket: Bucket,
    creds: Credentials,
    agent: ureq::Agent,
    limit: Option<RateLimit>,
    multipart_above: u64,
}

impl S3Store {
    pub fn new(
        name: &str,
        cfg: &S3Remote,
        prefix: &str,
        limit: Option<RateLimit>,
    ) -> Result<S3Store, RemoteError> {
        let bad = |message: String| RemoteError::Unreachable {
            remote: name.into(),
            key: String::new(),
            message,
        };
        let endpoint: url::Url = cfg
            .endpoint
            .parse()
            .map_err(|e| bad(format!("endpoint {:?}: {e}", cfg.endpoint)))?;
        let style = if cfg.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(endpoint, style, cfg.bucket.clone(), cfg.region.clone())
            .map_err(|e| bad(format!("bucket {:?}: {e}", cfg.bucket)))?;
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(10))
            // Per read/write, not per request: a large part at a low rate may take long.
            .timeout_read(Duration::from_secs(60))
            .timeout_write(Duration::from_secs(60))
            .build();
        Ok(S3Store {
            name: name.into(),
            prefix: prefix.into(),
            bucket,
            creds: Credentials::new(cfg.access_key_id.0.clone(), cfg.secret_access_key.0.clone()),
            agent,
            limit,
            multipart_above: cfg.multipart_above,
        })
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// A ureq failure as our error: the status and the S3 error code (its XML `<Code>` and
    /// `<Message>`), never the URL (it carries the signature).
    fn fail(&self, key: &str, e: ureq::Error) -> RemoteError {
        let (remote, key) = (self.name.clone(), key.to_string());
        match e {
            ureq::Error::Status(status, resp) => {
                let body = resp.into_string().unwrap_or_default();
                let code = xml_field(&body, "Code");
                let message = xml_field(&body, "Message");
                let text = match (code, message) {
                    (Some(c), Some(m)) => format!("{c}: {m}"),
                    (Some(c), None) => c,
                    _ => body.chars().take(200).collect(),
                };
                match status {
                    401 | 403 => RemoteError::Auth {
                        remote,
                        key,
                        message: format!("HTTP {status} {text}"),
                    },
                    404 => RemoteError::NotFound { remote, key },
                    412 => RemoteError::Exists { remote, key },
                    _ => RemoteError::Http {
                        remote,
                        key,
                        status,
                        body: text,
                    },
                }
            }
            ureq::Error::Transport(t) => RemoteError::Unreachable {
                remote,
                key,
                // The transport error's text names the host, not the query string.
                message: transport_text(&t),
            },
        }
    }

    fn io(&self, key: &str, source: std::io::Error) -> RemoteError {
        RemoteError::Io {
            remote: self.name.clone(),
            key: key.into(),
            source,
        }
    }

    /// One PUT of `len` bytes from `body` (paced), `If-None-Match: *` when asked.
    fn put_stream(
        &self,
        key: &str,
        body: impl Read,
        len: u64,
        if_absent: bool,
    ) -> Result<(), RemoteError> {
        let full = self.full(key);
        let mut action = self.bucket.put_object(Some(&self.creds), &full);
        if if_absent {
            action.headers_mut().insert("if-none-match", "*");
        }
        let url = action.sign(SIGN_FOR);
        let mut req = self
            .agent
            .request_url("PUT", &url)
            .set("Content-Length", &len.to_string());
        if if_absent {
            req = req.set("If-None-Match", "*");
        }
        let paced = Paced {
            inner: body,
            limit: self.limit.as_ref(),
        };
        req.send(BufReader::with_capacity(SEND_BUF, paced))
            .map_err(|e| self.fail(key, e))?;
        Ok(())
    }

    fn multipart(
        &self,
        key: &str,
        path: &Path,
        size: u64,
        if_absent: bool,
    ) -> Result<(), RemoteError> {
        let full = self.full(key);
        let url = self
            .bucket
            .create_multipart_upload(Some(&self.creds), &full)
            .sign(SIGN_FOR);
        let resp = self
            .agent
            .request_url("POST", &url)
            .call()
            .map_err(|e| self.fail(key, e))?;
        let text = resp.into_string().map_err(|e| self.io(key, e))?;
        let created =
            CreateMultipartUpload::parse_response(&text).map_err(|e| RemoteError::Http {
                remote: self.name.clone(),
                key: key.into(),
                status: 200,
                body: format!("unreadable CreateMultipartUpload answer: {e}"),
            })?;
        let upload_id = created.upload_id().to_string();
        let result = self.parts(key, &full, &upload_id, path, size, if_absent);
        if result.is_err() {
            // Parts left behind cost storage until aborted; an abort that fails too is left
            // to the bucket's lifecycle rule (the next attempt starts a new upload anyway).
            let url = self
                .bucket
                .abort_multipart_upload(Some(&self.creds), &full, &upload_id)
                .sign(SIGN_FOR);
            let _ = self.agent.request_url("DELETE", &url).call();
        }
        result
    }

    fn parts(
        &self,
        key: &str,
        full: &str,
        upload_id: &str,
        path: &Path,
        size: u64,
        if_absent: bool,
    ) -> Result<(), RemoteError> {
        let part = PART.max(size.div_ceil(MAX_PARTS));
        let mut file = File::open(path).map_err(|e| self.io(key, e))?;
        let mut etags = Vec::new();
        let mut offset = 0u64;
        let mut number: u16 = 1;
        while offset < size {
            let len = part.min(size - offset);
            file.seek(SeekFrom::Start(offset))
                .map_err(|e| self.io(key, e))?;
            let url = self
                .bucket
                .upload_part(Some(&self.creds), full, number, upload_id)
                .sign(SIGN_FOR);
            let paced = Paced {
                inner: (&mut file).take(len),
                limit: self.limit.as_ref(),
            };
            let resp = self
                .agent
                .request_url("PUT", &url)
                .set("Content-Length", &len.to_string())
                .send(BufReader::with_capacity(SEND_BUF, paced))
                .map_err(|e| self.fail(key, e))?;
            let etag = resp.header("ETag").unwrap_or_default().to_string();
            etags.push(etag);
            offset += len;
            number += 1;
        }
        let mut action = CompleteMultipartUpload::new(
            &self.bucket,
            Some(&self.creds),
            full,
            upload_id,
            etags.iter().map(String::as_str),
        );
        if if_absent {
            action.headers_mut().insert("if-none-match", "*");
        }
        let url = action.sign(SIGN_FOR);
        let body = action.body();
        let mut req = self.agent.request_url("POST", &url);
        if if_absent {
            req = req.set("If-None-Match", "*");
        }
        let resp = req.send_string(&body).map_err(|e| self.fail(key, e))?;
        // S3 may answer 200 with an error document when the completion failed late.
        let text = resp.into_string().unwrap_or_default();
        if text.contains("<Error>") {
            return Err(RemoteError::Http {
                remote: self.name.clone(),
                key: key.into(),
                status: 200,
                body: xml_field(&text, "Code").unwrap_or(text),
            });
        }
        Ok(())
    }
}

/// The text of the first `<field>` element of an S3 XML answer.
fn xml_field(body: &str, field: &str) -> Option<String> {
    let open = format!("<{field}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{field}>"))? + start;
    Some(body[start..end].to_string())
}

/// The inner texts of every `<name>` element.
fn elements<'a>(body: &'a str, name: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(&after[..j]);
        rest = &after[j + close.len()..];
    }
    out
}

/// XML's five entities and numeric references, as S3 escapes keys.
fn unescape(s: &str) -> String {
    if !s.contains('&') {
        return s.to_string();
    }
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let after = &rest[i..];
        let Some(end) = after.find(';') else {
            out.push_str(after);
            return out;
        };
        let ent = &after[1..end];
        let ch = match ent {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ if ent.starts_with("#x") => u32::from_str_radix(&ent[2..], 16)
                .ok()
                .and_then(char::from_u32),
            _ if ent.starts_with('#') => ent[1..].parse().ok().and_then(char::from_u32),
            _ => None,
        };
        match ch {
            Some(c) => out.push(c),
            None => out.push_str(&after[..=end]),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

fn transport_text(t: &ureq::Transport) -> String {
    let mut s = format!("{:?}", t.kind());
    if let Some(m) = t.message() {
        s.push_str(": ");
        s.push_str(m);
    }
    // The source (an io::Error) says "connection refused", "reset by peer", ...
    if let Some(src) = std::error::Error::source(t) {
        s.push_str(": ");
        s.push_str(&src.to_string());
    }
    s
}

impl ObjectStore for S3Store {
    fn name(&self) -> &str {
        &self.name
    }

    fn put_file(&self, key: &str, path: &Path, if_absent: bool) -> Result<(), RemoteError> {
        let file = File::open(path).map_err(|e| {
            self.io(
                key,
                std::io::Error::new(e.kind(), format!("local {}: {e}", path.display())),
            )
        })?;
        let size = file.metadata().map_err(|e| self.io(key, e))?.len();
        if size <= self.multipart_above {
            self.put_stream(key, file, size, if_absent)
        } else {
            drop(file);
            self.multipart(key, path, size, if_absent)
        }
    }

    fn put_bytes(&self, key: &str, bytes: &[u8], if_absent: bool) -> Result<(), RemoteError> {
        self.put_stream(key, bytes, bytes.len() as u64, if_absent)
    }

    fn get(&self, key: &str, range: Option<std::ops::Range<u64>>) -> Result<Vec<u8>, RemoteError> {
        let full = self.full(key);
        let mut action = self.bucket.get_object(Some(&self.creds), &full);
        let header = range
            .as_ref()
            .map(|r| format!("bytes={}-{}", r.start, r.end.saturating_sub(1)));
        if let Some(h) = &header {
            action.headers_mut().insert("range", h.clone());
        }
        if matches!(&range, Some(r) if r.start >= r.end) {
            return Ok(Vec::new());
        }
        let url = action.sign(SIGN_FOR);
        let mut req = self.agent.request_url("GET", &url);
        if let Some(h) = &header {
            req = req.set("Range", h);
        }
        let resp = req.call().map_err(|e| self.fail(key, e))?;
        let mut out = Vec::new();
        resp.into_reader()
            .read_to_end(&mut out)
            .map_err(|e| self.io(key, e))?;
        Ok(out)
    }

    fn get_to_file(&self, key: &str, path: &Path) -> Result<u64, RemoteError> {
        let full = self.full(key);
        let url = self
            .bucket
            .get_object(Some(&self.creds), &full)
            .sign(SIGN_FOR);
        let resp = self
            .agent
            .request_url("GET", &url)
            .call()
            .map_err(|e| self.fail(key, e))?;
        let mut out = File::create(path).map_err(|e| self.io(key, e))?;
        std::io::copy(&mut resp.into_reader(), &mut out).map_err(|e| self.io(key, e))
    }

    fn head(&self, key: &str) -> Result<Option<u64>, RemoteError> {
        let full = self.full(key);
        let url = self
            .bucket
            .head_object(Some(&self.creds), &full)
            .sign(SIGN_FOR);
        match self.agent.request_url("HEAD", &url).call() {
            Ok(resp) => Ok(resp
                .header("Content-Length")
                .and_then(|l| l.parse().ok())
                .or(Some(0))),
            Err(ureq::Error::Status(404, _)) => Ok(None),
            Err(e) => Err(self.fail(key, e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, RemoteError> {
        let full = self.full(prefix);
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action = ListObjectsV2::new(&self.bucket, Some(&self.creds));
            action.with_prefix(full.as_str());
            if let Some(t) = &token {
                action.with_continuation_token(t.as_str());
            }
            let url = action.sign(SIGN_FOR);
            let resp = self
                .agent
                .request_url("GET", &url)
                .call()
                .map_err(|e| self.fail(prefix, e))?;
            let text = resp.into_string().map_err(|e| self.io(prefix, e))?;
            // Read by hand: rusty-s3's parser requires an ETag per entry, which not every
            // server sends (s3s-fs does not); only Key, Size and the token are needed.
            for c in elements(&text, "Contents") {
                let (Some(k), Some(size)) = (xml_field(c, "Key"), xml_field(c, "Size")) else {
                    continue;
                };
                let k = unescape(&k);
                if let Some(k) = k.strip_prefix(&self.prefix) {
                    out.push((k.to_string(), size.trim().parse().unwrap_or(0)));
                }
            }
            let truncated = xml_field(&text, "IsTruncated").is_some_and(|t| t.trim() == "true");
            match xml_field(&text, "NextContinuationToken") {
                Some(t) if truncated && !t.is_empty() => token = Some(unescape(&t)),
                _ => break,
            }
        }
        Ok(out)
    }

    fn delete(&self, key: &str) -> Result<(), RemoteError> {
        let full = self.full(key);
        let url = self
            .bucket
            .delete_object(Some(&self.creds), &full)
            .sign(SIGN_FOR);
        match self.agent.request_url("DELETE", &url).call() {
            Ok(_) | Err(ureq::Error::Status(404, _)) => Ok(()),
            Err(e) => Err(self.fail(key, e)),
        }
    }
}
