//! Start-up and the command line: a non-loopback bind without tokens (and TLS) refuses to start;
//! `backupd token create|list|revoke` offline, and naming the API route while serve runs.

use super::{call, hex_sha256};
use crate::support::{bin, offline, reply, stdout_ok, Served as Server};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

/// `backupd serve --bind ADDR` run to its end (or killed after 30 s if it started): exit code
/// and everything it wrote on stderr.
fn serve_on(bind: &str, config: Option<&Path>, data_dir: &Path) -> (Option<i32>, String) {
    use std::io::Read;
    let mut cmd = bin();
    cmd.args(["serve", "--bind", bind, "--data-dir"])
        .arg(data_dir);
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let mut child = cmd.stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (code, reader.join().unwrap())
}

#[test]
fn a_non_loopback_bind_without_tls_needs_tokens_and_insecure() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // No tokens, no insecure: refused, with both fixes named; nothing recorded.
    let (code, stderr) = serve_on("0.0.0.0:0", None, &data);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("refusing to serve the API on 0.0.0.0:0"),
        "{stderr}"
    );
    assert!(stderr.contains("backupd token create"), "{stderr}");
    assert!(stderr.contains("insecure = true"), "{stderr}");
    assert!(!stderr.contains("listening on"), "{stderr}");
    let events = stdout_ok(offline(["events"], &data));
    assert!(!events.contains("service_booted"), "{events}");

    // A token (made offline), no TLS and no insecure: refused, naming what is missing (the TLS
    // case is `tls.rs`).
    let secret = stdout_ok(offline(
        ["token", "create", "remote", "--scope", "admin"],
        &data,
    ));
    let secret = secret.trim().to_string();
    assert!(secret.starts_with("bkpd_"), "{secret}");
    let (code, stderr) = serve_on("0.0.0.0:0", None, &data);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("insecure = true"), "{stderr}");
    assert!(!stderr.contains("backupd token create"), "{stderr}");

    // insecure = true without a token: still refused.
    let insecure = tmp.path().join("insecure.toml");
    std::fs::write(&insecure, "[server]\ninsecure = true\n").unwrap();
    let empty = tmp.path().join("empty");
    let (code, stderr) = serve_on("0.0.0.0:0", Some(&insecure), &empty);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("backupd token create"), "{stderr}");

    // Tokens and insecure = true: it starts, with the warning, and asks for a token.
    let mut child = bin()
        .args(["serve", "--bind", "0.0.0.0:0", "--data-dir"])
        .arg(&data)
        .arg("--config")
        .arg(&insecure)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = crate::support::stderr_lines(&mut child);
    let (seen, listening) = crate::support::lines_until(&mut child, &lines, "listening on ", 60);
    assert!(
        seen.iter().any(|l| l.contains("server.insecure = true")),
        "{seen:?}"
    );
    let port = listening
        .split("listening on http://0.0.0.0:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{listening}"))
        .to_string();
    let url = format!("http://127.0.0.1:{port}/api/backup/health");
    let (status, answer) = reply(ureq::get(&url).call());
    assert_eq!(status, 401, "{answer}");
    let (status, answer) = reply(
        ureq::get(&url)
            .set("Authorization", &format!("Bearer {secret}"))
            .call(),
    );
    assert_eq!(status, 200, "{answer}");

    // From this machine's own non-loopback address: a remote client as far as the guard knows.
    let remote = format!("http://{}:{port}/api/backup/health", non_loopback_ip());
    let bearer = format!("Bearer {secret}");
    let (status, answer) = reply(ureq::get(&remote).set("Authorization", &bearer).call());
    assert_eq!(status, 200, "{answer}");
    // Every token revoked at run time: loopback is served anonymously again, a remote client
    // is not (the address it came from decides, not the address bound).
    let revoke = format!("http://127.0.0.1:{port}/api/backup/tokens/remote");
    let (status, answer) = reply(ureq::delete(&revoke).set("Authorization", &bearer).call());
    assert_eq!(status, 200, "{answer}");
    let (status, answer) = reply(ureq::get(&remote).call());
    assert_eq!(status, 401, "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("only on loopback"), "{message}");
    let (status, answer) = reply(ureq::get(&url).call());
    assert_eq!(status, 200, "{answer}");
    crate::support::terminate(child);
}

/// An IPv4 address of this machine that is not loopback: the source address the kernel picks
/// for a route off the machine (a UDP connect sends nothing).
fn non_loopback_ip() -> std::net::IpAddr {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    for target in [
        "192.0.2.1:9",
        "198.51.100.1:9",
        "10.255.255.1:9",
        "8.8.8.8:53",
    ] {
        if socket.connect(target).is_ok() {
            let ip = socket.local_addr().unwrap().ip();
            if !ip.is_loopback() && !ip.is_unspecified() {
                return ip;
            }
        }
    }
    panic!("this test needs a network interface with a non-loopback IPv4 address");
}

#[test]
fn the_token_cli_works_offline_and_names_the_route_while_serve_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path();
    let create = |name: &str, scopes: &[&str], expires: Option<&str>| {
        let mut args = vec!["token", "create", name];
        for s in scopes {
            args.extend(["--scope", s]);
        }
        if let Some(e) = expires {
            args.extend(["--expires", e]);
        }
        offline(args, data)
    };
    let a = stdout_ok(create("ci", &["read", "operate"], Some("90d")));
    let b = stdout_ok(create("backup-admin", &["admin"], None));
    let (a, b) = (a.trim(), b.trim());
    assert_eq!(a.lines().count(), 1, "only the secret on stdout");
    assert_ne!(a, b);
    for bad in [
        create("ci", &["read"], None),
        create("x", &["everything"], None),
        create("x", &["read"], Some("3x")),
        create("bad name", &["read"], None),
    ] {
        assert!(!bad.status.success());
        assert!(!String::from_utf8_lossy(&bad.stderr).is_empty());
    }
    let listed = stdout_ok(offline(["token", "list"], data));
    let rows: Vec<Value> = listed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert_eq!(rows[0]["name"], "backup-admin");
    assert_eq!(rows[0]["expires_at"], Value::Null);
    assert_eq!(rows[1]["name"], "ci");
    assert_eq!(rows[1]["scopes"], json!(["read", "operate"]));
    assert_eq!(rows[1]["created_by"], "cli");
    assert!(rows[1]["expires_at"].is_string());
    assert!(!listed.contains(&a[5..]) && !listed.contains(&hex_sha256(a)));
    let out = stdout_ok(offline(["token", "revoke", "ci"], data));
    assert!(out.contains("revoked"), "{out}");
    let again = offline(["token", "revoke", "ci"], data);
    assert!(!again.status.success());
    let events = stdout_ok(offline(["events"], data));
    let revoked: Vec<Value> = events
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "token_revoked")
        .collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0]["actor"], "cli");
    assert_eq!(revoked[0]["data"]["name"], "ci");
    assert!(!events.contains(&a[5..]) && !events.contains(&b[5..]));

    // A token made offline opens the served API; the CLI on a held log names the routes.
    let config = tmp.path().join("none.toml");
    std::fs::write(&config, "").unwrap();
    let server = Server::with_config_file(&config, data);
    let (status, _) = call(&server, Some(b), "GET", "/tokens", None);
    assert_eq!(status, 200);
    let (status, _) = call(&server, Some(a), "GET", "/scheduler/status", None);
    assert_eq!(status, 401, "revoked offline, refused online");
    for (args, route) in [
        (vec!["token", "list"], "GET /api/backup/tokens"),
        (
            vec!["token", "revoke", "backup-admin"],
            "DELETE /api/backup/tokens/backup-admin",
        ),
        (
            vec!["token", "create", "more", "--scope", "read"],
            "POST /api/backup/tokens",
        ),
    ] {
        let out = offline(&args, data);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(route), "{args:?}: {stderr}");
    }
    server.stop();
}
