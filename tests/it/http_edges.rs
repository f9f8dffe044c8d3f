//! HTTP edge cases over raw TCP against the real binary (issue 11, item 10): every head the
//! server cannot serve gets its 4xx as JSON (no silent close), HTTP/1.0 is served, and the
//! server answers a normal request after each.

use crate::support::Served;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Send raw bytes, read until the server closes: (status, headers lowercased, body).
fn exchange(root: &str, bytes: &[u8]) -> (u16, String, Vec<u8>) {
    let addr = root.strip_prefix("http://").unwrap();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    if let Err(e) = stream.read_to_end(&mut answer) {
        panic!(
            "reading the answer: {e} (got {:?})",
            String::from_utf8_lossy(&answer)
        );
    }
    assert!(
        !answer.is_empty(),
        "the connection closed without an answer"
    );
    let split = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(&answer)));
    let head = String::from_utf8_lossy(&answer[..split]).to_ascii_lowercase();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, answer[split + 4..].to_vec())
}

fn alive(root: &str) {
    let (status, _, body) = exchange(
        root,
        b"GET /api/backup/scheduler/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
}

fn error(code: &str, field: Option<&str>) -> Value {
    json!({"code": code, "field": field})
}

#[test]
fn every_edge_case_is_answered_and_the_server_lives_on() {
    let served = Served::demo();
    let root = served.root.clone();
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(5000));
    let many_headers = format!(
        "GET /api/backup/scheduler/status HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-Filler-{i}: {}\r\n", "v".repeat(40)))
            .collect::<String>()
    );
    let too_many_headers = format!(
        "GET /api/backup/scheduler/status HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..150)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect::<String>()
    );
    #[rustfmt::skip]
    let table: Vec<(&str, Vec<u8>, u16, Option<Value>)> = vec![
        ("QUERY method", b"QUERY /api/backup/scheduler/jobs HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 405, Some(error("method_not_allowed", None))),
        ("FOO method", b"FOO / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 405, Some(error("method_not_allowed", None))),
        ("lower-case method", b"get /api/backup/scheduler/status HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 405, Some(error("method_not_allowed", None))),
        ("no Host", b"GET /api/backup/scheduler/status HTTP/1.1\r\n\r\n".to_vec(), 400, Some(error("malformed_request", Some("Host")))),
        ("two Hosts", b"GET /api/backup/scheduler/status HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n".to_vec(), 400, Some(error("malformed_request", Some("Host")))),
        ("non-ASCII header byte", b"GET /api/backup/scheduler/status HTTP/1.1\r\nHost: x\r\nX-Name: caf\xc3\xa9\r\n\r\n".to_vec(), 400, Some(error("malformed_request", Some("X-Name")))),
        ("non-ASCII Latin-1 byte", b"GET /api/backup/scheduler/status HTTP/1.1\r\nHost: x\r\nX-Name: \xff\r\n\r\n".to_vec(), 400, Some(error("malformed_request", Some("X-Name")))),
        ("non-ASCII request line", b"GET /api/backup/\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400, Some(error("malformed_request", None))),
        ("request line too long", long_target.into_bytes(), 414, Some(error("uri_too_long", None))),
        ("head too large", many_headers.into_bytes(), 431, Some(error("headers_too_large", None))),
        ("too many headers", too_many_headers.into_bytes(), 431, Some(error("headers_too_large", None))),
        ("bad Content-Length", b"POST /api/backup/scheduler/start HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n".to_vec(), 400, Some(error("malformed_request", Some("Content-Length")))),
        ("Content-Length and chunked", b"POST /api/backup/scheduler/start HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}".to_vec(), 400, Some(error("malformed_request", Some("Transfer-Encoding")))),
        ("unknown Transfer-Encoding", b"POST /api/backup/scheduler/start HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(), 400, Some(error("malformed_request", Some("Transfer-Encoding")))),
        ("not HTTP", b"hello there\r\n\r\n".to_vec(), 400, Some(error("malformed_request", None))),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), 400, Some(error("malformed_request", None))),
        ("head cut short", b"GET /api/backup/scheduler/status HTTP/1.1\r\nHost".to_vec(), 400, Some(error("malformed_request", None))),
        ("HEAD without Host: no body", b"HEAD /api/backup/scheduler/status HTTP/1.1\r\n\r\n".to_vec(), 400, None),
        ("HTTP/1.0 without Host", b"GET /api/backup/scheduler/status HTTP/1.0\r\n\r\n".to_vec(), 200, None),
        ("HTTP/1.0 POST with a body", b"POST /api/backup/scheduler/jobs/nope/pause HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}".to_vec(), 404, Some(error("not_found", Some("job_id")))),
    ];
    for (what, bytes, want, want_error) in table {
        let half_close = what == "head cut short";
        let (status, head, body) = if half_close {
            let addr = root.strip_prefix("http://").unwrap();
            let mut stream = TcpStream::connect(addr).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            stream.write_all(&bytes).unwrap();
            stream.shutdown(std::net::Shutdown::Write).unwrap();
            let mut answer = Vec::new();
            stream.read_to_end(&mut answer).unwrap();
            let text = String::from_utf8_lossy(&answer).to_string();
            let (head, body) = text
                .split_once("\r\n\r\n")
                .unwrap_or_else(|| panic!("{what}: {text:?}"));
            (
                head.split(' ').nth(1).unwrap().parse().unwrap(),
                head.to_ascii_lowercase(),
                body.as_bytes().to_vec(),
            )
        } else {
            eprintln!("edge case: {what}");
            exchange(&root, &bytes)
        };
        let text = String::from_utf8_lossy(&body);
        assert_eq!(status, want, "{what}: {head}\n{text}");
        if status != 200 {
            assert!(
                head.contains("content-type: application/json"),
                "{what}: {head}"
            );
        }
        match &want_error {
            Some(want) => {
                let got: Value =
                    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
                assert_eq!(got["error"]["code"], want["code"], "{what}: {text}");
                assert_eq!(got["error"]["field"], want["field"], "{what}: {text}");
                assert!(
                    !got["error"]["message"].as_str().unwrap().is_empty(),
                    "{what}"
                );
            }
            None if status == 200 => {
                let got: Value =
                    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{what}: {e}: {text}"));
                assert!(got["running"].is_boolean(), "{what}: {text}");
            }
            None => assert!(body.is_empty(), "{what}: a HEAD answer has no body: {text}"),
        }
        if status == 405 {
            assert!(head.contains("\r\nallow:"), "{what}: {head}");
        }
        alive(&root);
    }
    // The QUERY answer names what its path takes.
    let (_, head, _) = exchange(
        &root,
        b"QUERY /api/backup/scheduler/jobs HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(head.contains("\r\nallow: get, post"), "{head}");
    // A keep-alive connection serves one request after another through the same checks.
    let (status, _, body) = exchange(
        &root,
        b"GET /api/backup/scheduler/status HTTP/1.1\r\nHost: x\r\n\r\nFOO / HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert_eq!(status, 200);
    let second = String::from_utf8_lossy(&body);
    assert!(
        second.contains("HTTP/1.1 405"),
        "the pipelined FOO is answered: {second}"
    );
    let log = std::fs::read_to_string(served.data_dir().join("logs/backup_scheduler.log")).unwrap();
    for status in [405, 400, 414, 431] {
        assert!(
            log.contains(&format!("request refused before routing: {status} ")),
            "a log line for {status}"
        );
    }
    drop(served);
}
