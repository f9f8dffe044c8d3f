//! One API connection: every request head is read and checked here, bounded, before async-h1
//! decodes it.
//!
//! async-h1 answers a head it cannot take (an unknown method, HTTP/1.0, no `Host`, a head of
//! 8 KiB or more, a bad `Content-Length`) with an error that closes the connection without a
//! word. So each head is first read into a buffer the connection owns ([`Conn`]) and judged with
//! the same parser (`httparse`): a refused head gets its 4xx as JSON (no body for `HEAD`), a
//! log line and `Connection: close`; an accepted one is handed to async-h1 for that one request,
//! which reads it back out of the buffer. HTTP/1.0 is served by rewriting its request line to
//! 1.1 (adding the `Host` it may lack) and closing after the answer, as 1.0 expects.

use super::routes::allowed_methods;
use super::tls::Stream;
use super::ApiError;
use smol::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// The longest request line (method, target, version): a longer one is a 414.
pub const MAX_LINE: usize = 4096;
/// The largest head, request line and headers: a larger one is a 431. Below async-h1's own
/// 8 KiB by enough for the `Host` line an HTTP/1.0 head may get added.
pub const MAX_HEAD: usize = 8 * 1024 - 256;
/// How long a started head may take to arrive (async-h1's own default).
const HEAD_TIMEOUT: Duration = Duration::from_secs(60);

/// The accepted stream with the bytes read ahead of async-h1. Clones share both, as async-h1
/// needs (it clones its IO to write the answer while the body is read).
#[derive(Clone)]
pub struct Conn {
    stream: Stream,
    pending: Arc<Mutex<Vec<u8>>>,
    /// How many more bytes async-h1 may read for the request it is decoding: its head and a
    /// `Content-Length` body; `None` for a chunked body (its end is only known by decoding).
    /// async-h1 reads through a buffer of its own that it drops after each request, so without
    /// this bound the start of a pipelined next request would be read into it and lost.
    allowance: Arc<Mutex<Option<u64>>>,
}

/// What the next head of a connection is.
#[derive(Debug, PartialEq)]
pub enum Head {
    /// A well-formed head, now at the front of the buffer; `close_after`: HTTP/1.0.
    Request { close_after: bool },
    /// The client closed (or stayed idle) between requests: nothing to answer.
    Closed,
    /// A head that is answered here with this error, then the connection closed.
    Refused(Refusal),
}

#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub error: ApiError,
    pub allow: Option<String>,
    /// `HEAD` requests: the answer has no body.
    pub head_only: bool,
}

impl Refusal {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            error: ApiError::new(status, code, message),
            allow: None,
            head_only: false,
        }
    }

    fn field(mut self, field: &str) -> Refusal {
        self.error.field = Some(field.to_string());
        self
    }
}

impl Conn {
    pub fn new(stream: Stream) -> Conn {
        Conn {
            stream,
            pending: Arc::default(),
            allowance: Arc::default(),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Read until the next head is complete (or too large, or the client is gone) and judge it.
    pub async fn next_head(&mut self, local: Option<SocketAddr>) -> Head {
        let mut chunk = [0u8; 4096];
        loop {
            // The guard must be gone before `accept` locks the buffer again.
            let scanned = scan(&self.pending());
            match scanned {
                Scan::Complete(len) => return self.accept(len, local),
                Scan::Refused(r) => return Head::Refused(r),
                Scan::Partial => {}
            }
            let read =
                smol::future::or(async { Some(self.stream.read(&mut chunk).await) }, async {
                    smol::Timer::after(HEAD_TIMEOUT).await;
                    None
                })
                .await;
            let started = !self.pending().is_empty();
            match read {
                Some(Ok(0)) | Some(Err(_)) if !started => return Head::Closed,
                None if !started => return Head::Closed,
                Some(Ok(0)) => {
                    return Head::Refused(Refusal::new(
                        400,
                        "malformed_request",
                        "the connection ended inside the request head",
                    ))
                }
                Some(Err(_)) => return Head::Closed,
                None => {
                    return Head::Refused(Refusal::new(
                        408,
                        "request_timeout",
                        format!(
                            "the request head did not arrive within {} s",
                            HEAD_TIMEOUT.as_secs()
                        ),
                    ))
                }
                Some(Ok(n)) => self.pending().extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Judge a complete head of `len` bytes at the front of the buffer; HTTP/1.0 is rewritten
    /// there to the 1.1 head async-h1 takes.
    fn accept(&mut self, len: usize, local: Option<SocketAddr>) -> Head {
        let mut pending = self.pending();
        let (checked, body) = match check(&pending[..len]) {
            Err(r) => return Head::Refused(r),
            Ok(checked) => checked,
        };
        let mut head_len = len as u64;
        let head = match checked {
            Checked::Http11 => Head::Request { close_after: false },
            Checked::Http10 { line_end, has_host } => {
                // "... HTTP/1.0" → "... HTTP/1.1": the last byte of the request line.
                pending[line_end - 1] = b'1';
                if !has_host {
                    let host = local.map_or("localhost".to_string(), |a| a.to_string());
                    let line = format!("Host: {host}\r\n").into_bytes();
                    let at = line_end + 2;
                    head_len += line.len() as u64;
                    pending.splice(at..at, line);
                }
                Head::Request { close_after: true }
            }
        };
        *self.allowance.lock().unwrap_or_else(|p| p.into_inner()) =
            body.map(|body| head_len.saturating_add(body));
        head
    }

    /// Answer a refused head and log it; the caller closes the connection.
    pub async fn refuse(&mut self, refusal: &Refusal, peer: SocketAddr) {
        let e = &refusal.error;
        log::warn!(
            "API: {peer}: request refused before routing: {} {}: {}",
            e.status,
            e.code,
            e.message
        );
        let body = serde_json::to_vec(&e.body()).unwrap_or_default();
        let reason = tide::http::StatusCode::try_from(e.status)
            .map(|s| s.canonical_reason())
            .unwrap_or("Error");
        let mut out = format!(
            "HTTP/1.1 {} {reason}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n",
            e.status,
            body.len()
        );
        if let Some(allow) = &refusal.allow {
            out.push_str(&format!("allow: {allow}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        if !refusal.head_only {
            bytes.extend_from_slice(&body);
        }
        let _ = self.stream.write_all(&bytes).await;
        let _ = self.stream.flush().await;
        // Let the client read the answer before the close: without it, unread request bytes
        // still in our receive buffer make the close a reset that can destroy the answer.
        // (For TLS a close_notify goes first; either way the write half is shut.)
        let _ = self.stream.close().await;
        let drain = async {
            let mut sink = [0u8; 4096];
            while let Ok(n) = self.stream.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        };
        smol::future::or(drain, async {
            smol::Timer::after(Duration::from_secs(2)).await;
        })
        .await;
    }
}

enum Scan {
    Complete(usize),
    Partial,
    Refused(Refusal),
}

/// Where the buffer's first head ends, or why it is refused before it does.
fn scan(buf: &[u8]) -> Scan {
    let line_end = find(buf, b"\r\n");
    if line_end.map_or(buf.len(), |e| e) > MAX_LINE {
        return Scan::Refused(Refusal::new(
            414,
            "uri_too_long",
            format!("the request line is longer than {MAX_LINE} bytes"),
        ));
    }
    // An empty line ends the head; the request line's own CRLF may be the first half of it.
    let end = find(buf, b"\r\n\r\n").map(|i| i + 4);
    match end {
        Some(len) if len <= MAX_HEAD => Scan::Complete(len),
        None if buf.len() <= MAX_HEAD => Scan::Partial,
        _ => Scan::Refused(Refusal::new(
            431,
            "headers_too_large",
            format!("the request head is larger than {MAX_HEAD} bytes"),
        )),
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

enum Checked {
    Http11,
    /// Where the request line's CRLF starts, and whether a Host header was given.
    Http10 {
        line_end: usize,
        has_host: bool,
    },
}

/// The checks async-h1 would fail a head on, each answered with its status and the field at
/// fault.
/// With the length of the body when it is a `Content-Length` one (0 when there is none), `None`
/// when chunked.
fn check(head: &[u8]) -> Result<(Checked, Option<u64>), Refusal> {
    if let Some(at) = head.iter().position(|b| !b.is_ascii()) {
        // Which line: the request line has no field; a header line names its header.
        let line_start = head[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let r = Refusal::new(
            400,
            "malformed_request",
            "the request head has a byte that is not ASCII",
        );
        if line_start == 0 {
            return Err(r);
        }
        let line = &head[line_start..at];
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        let name = String::from_utf8_lossy(name).trim().to_string();
        return Err(Refusal {
            error: ApiError::new(
                400,
                "malformed_request",
                format!("header {name:?} has a byte that is not ASCII"),
            )
            .with_field(name),
            ..r
        });
    }
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    let parsed = req.parse(head).map_err(|e| {
        let status = if e == httparse::Error::TooManyHeaders {
            431
        } else {
            400
        };
        Refusal::new(
            status,
            if status == 431 {
                "headers_too_large"
            } else {
                "malformed_request"
            },
            format!("the request head is not HTTP/1.1: {e}"),
        )
    })?;
    if parsed.is_partial() {
        return Err(Refusal::new(
            400,
            "malformed_request",
            "the request head is incomplete",
        ));
    }
    let method = req.method.unwrap_or_default();
    let path = req.path.unwrap_or_default();
    let head_only = method == "HEAD";
    let header = |name: &str| {
        req.headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| std::str::from_utf8(h.value).unwrap_or_default().trim())
            .collect::<Vec<_>>()
    };
    let refuse = |r: Refusal| Err(Refusal { head_only, ..r });
    // Methods are case-sensitive (RFC 9110 9.1); http-types would read `get` as GET.
    let known = method
        .parse::<tide::http::Method>()
        .is_ok_and(|m| m.to_string() == method);
    if !known {
        let route = path.split('?').next().unwrap_or_default();
        let allow = allowed_methods(route).join(", ");
        return refuse(Refusal {
            allow: Some(allow.clone()),
            ..Refusal::new(
                405,
                "method_not_allowed",
                format!("{method} is not an HTTP method this API serves; {route} takes {allow}"),
            )
        });
    }
    if !path.starts_with('/') {
        return refuse(Refusal::new(
            400,
            "malformed_request",
            format!("{path:?} is not a path: the request target starts with '/'"),
        ));
    }
    let version = req.version.unwrap_or(1);
    let hosts = header("host");
    if hosts.len() > 1 || (version == 1 && hosts.is_empty()) {
        return refuse(
            Refusal::new(
                400,
                "malformed_request",
                "an HTTP/1.1 request has exactly one Host header",
            )
            .field("Host"),
        );
    }
    let lengths = header("content-length");
    let codings = header("transfer-encoding");
    if !codings.is_empty() {
        if !lengths.is_empty() {
            return refuse(
                Refusal::new(
                    400,
                    "malformed_request",
                    "Content-Length and Transfer-Encoding together are refused (request smuggling)",
                )
                .field("Transfer-Encoding"),
            );
        }
        if codings.len() > 1 || !codings[0].eq_ignore_ascii_case("chunked") {
            return refuse(
                Refusal::new(
                    400,
                    "malformed_request",
                    "the only Transfer-Encoding taken is chunked",
                )
                .field("Transfer-Encoding"),
            );
        }
    }
    if lengths.len() > 1
        || lengths.first().is_some_and(|l| {
            l.is_empty() || !l.bytes().all(|b| b.is_ascii_digit()) || l.parse::<u64>().is_err()
        })
    {
        return refuse(
            Refusal::new(
                400,
                "malformed_request",
                "Content-Length must be one decimal number",
            )
            .field("Content-Length"),
        );
    }
    let body = match (codings.is_empty(), lengths.first()) {
        (false, _) => None,
        (true, Some(len)) => Some(len.parse::<u64>().unwrap_or_default()),
        (true, None) => Some(0),
    };
    if version == 0 {
        let line_end = find(head, b"\r\n").unwrap_or_default();
        let has_host = !hosts.is_empty();
        return Ok((Checked::Http10 { line_end, has_host }, body));
    }
    Ok((Checked::Http11, body))
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut allowance = this.allowance.lock().unwrap_or_else(|p| p.into_inner());
        let cap = allowance.map_or(buf.len(), |a| buf.len().min(a as usize));
        if cap == 0 && !buf.is_empty() {
            // The request is read whole; the rest is the next request's, for `next_head`.
            return Poll::Ready(Ok(0));
        }
        let buf = &mut buf[..cap];
        let n = {
            let mut pending = this.pending();
            if pending.is_empty() {
                drop(pending);
                match Pin::new(&mut this.stream).poll_read(cx, buf) {
                    Poll::Ready(Ok(n)) => n,
                    other => return other,
                }
            } else {
                let n = pending.len().min(buf.len());
                buf[..n].copy_from_slice(&pending[..n]);
                pending.drain(..n);
                n
            }
        };
        if let Some(a) = allowance.as_mut() {
            *a -= n as u64;
        }
        Poll::Ready(Ok(n))
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(scan: Scan) -> Option<u16> {
        match scan {
            Scan::Complete(_) => Some(200),
            Scan::Partial => None,
            Scan::Refused(r) => Some(r.error.status),
        }
    }

    /// A head of exactly `len` bytes whose request line is `line_len` bytes (without CRLF).
    fn head(line_len: usize, len: usize) -> Vec<u8> {
        let line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(line_len - 14));
        assert_eq!(line.len(), line_len + 2);
        let filler = len - line.len() - "Host: x\r\nX: \r\n\r\n".len();
        format!("{line}Host: x\r\nX: {}\r\n\r\n", "v".repeat(filler)).into_bytes()
    }

    #[test]
    fn limits_are_exact() {
        assert_eq!(head(100, 500).len(), 500);
        assert_eq!(status(scan(&head(MAX_LINE, MAX_HEAD))), Some(200));
        assert_eq!(status(scan(&head(MAX_LINE + 1, MAX_HEAD))), Some(414));
        assert_eq!(status(scan(&head(100, MAX_HEAD + 1))), Some(431));
        // Refused as soon as the limit is passed, without waiting for the rest.
        assert_eq!(status(scan(&vec![b'a'; MAX_LINE + 1])), Some(414));
        assert_eq!(status(scan(&vec![b'a'; MAX_LINE])), None);
        let mut open = head(100, MAX_HEAD);
        open.truncate(MAX_HEAD - 2);
        assert_eq!(status(scan(&open)), None);
        open.resize(MAX_HEAD + 1, b'v');
        assert_eq!(status(scan(&open)), Some(431));
    }

    #[test]
    fn http_1_0_is_taken_with_its_body_length() {
        let (checked, body) = check(b"POST /x HTTP/1.0\r\nContent-Length: 2\r\n\r\n")
            .unwrap_or_else(|r| panic!("{r:?}"));
        assert!(matches!(
            checked,
            Checked::Http10 {
                line_end: 16,
                has_host: false
            }
        ));
        assert_eq!(body, Some(2));
        let (checked, body) =
            check(b"GET /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
                .unwrap_or_else(|r| panic!("{r:?}"));
        assert!(matches!(checked, Checked::Http11));
        assert_eq!(body, None, "a chunked body's length is not known");
    }
}
