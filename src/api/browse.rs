//! Browsing a backup by the source's original paths: one directory per page, and one file's
//! bytes (whole, or one `Range`). The engine's `browse` does the work; this renders it.

use super::backups::{catalog_state, no_backup};
use super::error::ApiError;
use super::input::{param, query, ranged};
use super::{json_bytes, ApiContext};
use crate::engine::browse::{self, BrowseError, FileRef, DEFAULT_LIMIT, MAX_LIMIT};
use crate::engine::EngineError;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tide::{Request, Response};

fn browse_error(id: &str, e: BrowseError) -> ApiError {
    let message = e.to_string();
    match e {
        BrowseError::NotFound { .. } => ApiError::not_found("path", message),
        BrowseError::NotADirectory { .. } => {
            ApiError::new(400, "not_a_directory", message).with_field("path")
        }
        BrowseError::NotAFile { .. } => {
            ApiError::new(400, "not_a_file", message).with_field("path")
        }
        BrowseError::Engine(EngineError::UnknownBackup { .. }) => no_backup(id),
        BrowseError::Engine(e) => engine_error(e),
    }
}

/// A missing or damaged archive is the server's fault, not the request's.
fn engine_error(e: EngineError) -> ApiError {
    ApiError::of_kind(e.kind(), "backup_damaged", e.to_string())
}

/// `GET /backups/{backup_id}/files?path=&limit=&after=`
pub async fn list(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "backup_id")?;
    let (mut path, mut after, mut limit) = (String::new(), None, DEFAULT_LIMIT);
    for (k, v) in query(&req, &["path", "limit", "after"])? {
        match k.as_str() {
            "path" => path = v,
            "limit" => limit = ranged("limit", &v, 1, MAX_LIMIT as u64)? as usize,
            _ => after = Some(v),
        }
    }
    let ctx = req.state();
    let state = catalog_state(ctx, &id)?;
    let config = ctx.config.clone();
    let asked = id.clone();
    // Serialised on the blocking thread too: a 10,000-entry page is most of the work.
    let body = smol::unblock(move || {
        let listing = browse::list(&config, &state, &asked, &path, after.as_deref(), limit)?;
        Ok(serde_json::to_vec(&listing).map_err(|e| ApiError::internal(e.to_string())))
    })
    .await
    .map_err(|e| browse_error(&id, e))??;
    Ok(json_bytes(200, Arc::new(body)))
}

/// A `Range: bytes=a-b` (or `a-`, or `-n`) within `size`; `Ok(None)` without the header.
fn byte_range(header: Option<&str>, size: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(h) = header else { return Ok(None) };
    let spec = h.trim().strip_prefix("bytes=").ok_or(())?;
    if spec.contains(',') || size == 0 {
        return Err(());
    }
    let (a, b) = spec.split_once('-').ok_or(())?;
    let (a, b) = (a.trim(), b.trim());
    let parse = |s: &str| s.parse::<u64>().map_err(|_| ());
    let (from, to) = match (a.is_empty(), b.is_empty()) {
        (false, true) => (parse(a)?, size - 1),
        (false, false) => (parse(a)?, parse(b)?.min(size - 1)),
        (true, false) => {
            let n = parse(b)?;
            if n == 0 {
                return Err(());
            }
            (size.saturating_sub(n), size - 1)
        }
        (true, true) => return Err(()),
    };
    if from > to || from >= size {
        return Err(());
    }
    Ok(Some((from, to)))
}

/// `GET /backups/{backup_id}/files/content?path=`: the bytes, streamed from the frames that
/// hold the file in the archive of the backup that holds it.
pub async fn content(req: Request<ApiContext>) -> Result<Response, ApiError> {
    let id = param(&req, "backup_id")?;
    let mut path = None;
    for (k, v) in query(&req, &["path"])? {
        if k == "path" {
            path = Some(v);
        }
    }
    let ctx = req.state();
    let state = catalog_state(ctx, &id)?;
    let path = path.ok_or_else(|| ApiError::invalid("path", "path is required"))?;
    let config = ctx.config.clone();
    let (s2, asked) = (state.clone(), id.clone());
    let c2 = config.clone();
    let file: FileRef = smol::unblock(move || browse::find_file(&c2, &s2, &asked, &path))
        .await
        .map_err(|e| browse_error(&id, e))?;
    let range = req.header("Range").map(|v| v.as_str().to_string());
    let (from, to, status) = match byte_range(range.as_deref(), file.size) {
        Ok(Some((a, b))) => (a, b, 206),
        Ok(None) => (0, file.size.saturating_sub(1), 200),
        Err(()) => {
            let mut res = ApiError::new(
                416,
                "range_not_satisfiable",
                format!(
                    "Range {:?} is not one range within the file's {} bytes",
                    range.unwrap_or_default(),
                    file.size
                ),
            )
            .with_field("Range")
            .into_response();
            res.insert_header("Content-Range", format!("bytes */{}", file.size));
            return Ok(res);
        }
    };
    let len = if file.size == 0 { 0 } else { to - from + 1 };
    // A pipe between the archive reader (on a blocking thread) and the response body: the
    // file is never held whole in memory.
    let (rx, mut tx) = std::io::pipe().map_err(ApiError::internal)?;
    let done = Arc::new(AtomicBool::new(false));
    let finished = done.clone();
    let f2 = file.clone();
    std::thread::spawn(move || {
        let read = if len > 0 {
            browse::read_range(&config, &state, &f2, from, to, &mut tx)
        } else {
            Ok(())
        };
        match read {
            Ok(()) => finished.store(true, Ordering::Release),
            // The status line is sent: the body ends in an error (the connection is dropped
            // short of its Content-Length) so no client takes the bytes for the file.
            Err(e) => log::error!("API: streaming {} failed: {e}", f2.archive_path),
        }
        drop(tx);
    });
    let body = Checked { rx, done };
    let reader = smol::io::BufReader::new(smol::Unblock::new(body));
    let mut res = Response::new(status);
    res.insert_header("Content-Type", "application/octet-stream");
    res.insert_header("Accept-Ranges", "bytes");
    if status == 206 {
        res.insert_header("Content-Range", format!("bytes {from}-{to}/{}", file.size));
    }
    res.set_body(tide::Body::from_reader(reader, Some(len as usize)));
    Ok(res)
}

/// The pipe's reading end, whose end of file is an error unless the writer finished the file.
struct Checked {
    rx: std::io::PipeReader,
    done: Arc<AtomicBool>,
}

impl Read for Checked {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.rx.read(buf)?;
        if n == 0 && !buf.is_empty() && !self.done.load(Ordering::Acquire) {
            return Err(std::io::Error::other(
                "the file could not be read to its end",
            ));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::byte_range;

    #[test]
    fn ranges_within_the_file_are_taken_others_refused() {
        let ok = [
            (None, Some((0, 0)).filter(|_| false)),
            (Some("bytes=0-9"), Some((0, 9))),
            (Some("bytes=5-"), Some((5, 99))),
            (Some("bytes=-10"), Some((90, 99))),
            (Some("bytes=90-500"), Some((90, 99))),
            (Some("bytes=-500"), Some((0, 99))),
        ];
        for (h, want) in ok {
            assert_eq!(byte_range(h, 100), Ok(want), "{h:?}");
        }
        for h in [
            "bytes=100-",
            "bytes=9-5",
            "bytes=-0",
            "bytes=-",
            "items=0-1",
            "bytes=0-1,3-4",
            "bytes=a-b",
        ] {
            assert_eq!(byte_range(Some(h), 100), Err(()), "{h}");
        }
    }
}
