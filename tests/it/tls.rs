//! Issue 14 item 3: the API over TLS (`[server.tls]`, rustls) with rcgen certificates, end to
//! end through the real binary: HTTPS requests with a client trusting only the test CA, a token
//! over TLS, plain HTTP to the TLS port answered with no HTTP at all, SIGHUP reloading the pair
//! (and keeping it when the new files are bad), bad files at start, and a non-loopback bind
//! that starts with TLS and a token and without `insecure`.

use crate::support::{bin, offline, reply, stdout_ok, Served};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair, SerialNumber};
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::json;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A test certificate authority.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A server certificate: its PEM files' contents and its DER (what a client is shown).
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        Ca { issuer }
    }

    /// A certificate for 127.0.0.1 and localhost with this serial number.
    fn leaf(&self, serial: u64) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params.serial_number = Some(SerialNumber::from(serial));
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    /// A client configuration that trusts this CA and nothing else.
    fn client(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.issuer.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Arc::new(
            rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }

    fn agent(&self) -> ureq::Agent {
        ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(30))
            .tls_config(self.client())
            .build()
    }
}

/// Writes the leaf's files into `dir` (cert.pem, key.pem); returns their paths.
fn install(leaf: &Leaf, dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, &leaf.cert_pem).unwrap();
    std::fs::write(&key, &leaf.key_pem).unwrap();
    (cert, key)
}

fn tls_config(cert: &Path, key: &Path) -> String {
    format!(
        "[server.tls]\ncert = {:?}\nkey = {:?}\n",
        cert.display().to_string(),
        key.display().to_string()
    )
}

fn port_of(root: &str) -> u16 {
    root.rsplit(':').next().unwrap().parse().unwrap()
}

/// One request over a TLS connection made by hand: the raw answer and the certificate the
/// server showed.
fn handshake_get(port: u16, client: Arc<rustls::ClientConfig>, path: &str) -> (String, Vec<u8>) {
    tls_exchange(
        port,
        client,
        &format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"),
    )
}

/// `request`, raw, over a TLS connection made by hand; the answer up to the server's close.
fn tls_exchange(port: u16, client: Arc<rustls::ClientConfig>, request: &str) -> (String, Vec<u8>) {
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = rustls::ClientConnection::new(client, name).unwrap();
    let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    // A clean end: the server closes with close_notify, so no truncation error here.
    tls.read_to_end(&mut answer).unwrap();
    let shown: Vec<CertificateDer> = conn.peer_certificates().unwrap().to_vec();
    (
        String::from_utf8_lossy(&answer).into_owned(),
        shown[0].to_vec(),
    )
}

#[test]
fn https_end_to_end_with_an_rcgen_certificate_and_a_token() {
    let ca = Ca::new("backupd test CA");
    let leaf = ca.leaf(7);
    let pki = tempfile::tempdir().unwrap();
    let (cert, key) = install(&leaf, pki.path());
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("a.txt"), "over TLS").unwrap();
    let config = format!(
        "{}\n[[sources.files]]\npath = {:?}\n",
        tls_config(&cert, &key),
        src.path().display().to_string()
    );
    let mut s = Served::with_config(&config);
    assert!(s.root.starts_with("https://127.0.0.1:"), "{}", s.root);
    s.set_agent(ca.agent());

    // Reads, a job and a run, all over HTTPS.
    let status = s.get("/scheduler/status");
    assert!(status.is_object(), "{status}");
    let run = s.run("daily_full_backup");
    assert_eq!(run["status"], "succeeded", "{run}");
    let runs = s.get("/runs");
    assert!(runs.to_string().contains("daily_full_backup"), "{runs}");
    let backups = s.get("/backups");
    assert!(
        backups.to_string().contains("daily_full_backup"),
        "{backups}"
    );

    // The certificate shown is the one configured.
    let port = port_of(&s.root);
    let (answer, shown) = handshake_get(port, ca.client(), "/api/backup/scheduler/status");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(shown, leaf.der);

    // Heads the API refuses before routing are refused inside TLS the same way, as JSON.
    let (answer, _) = tls_exchange(
        port,
        ca.client(),
        "BREW /api/backup/runs HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    assert!(answer.starts_with("HTTP/1.1 405"), "{answer}");
    assert!(answer.contains("\"method_not_allowed\""), "{answer}");
    let (answer, _) = tls_exchange(port, ca.client(), "GET /api/backup/runs HTTP/1.1\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("Host"), "{answer}");

    // A client that does not trust the CA gets no answer at all.
    let stranger = Ca::new("another CA");
    let err = stranger
        .agent()
        .get(&s.url("/scheduler/status"))
        .call()
        .expect_err("a certificate of an unknown CA was accepted");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    // A token made over TLS; from then on every request needs it, over TLS too.
    let (code, made) = s.send(
        "POST",
        "/tokens",
        Some(json!({"name": "ops", "scopes": ["read", "admin"]})),
    );
    assert_eq!(code, 201, "{made}");
    let secret = made["token"].as_str().unwrap().to_string();
    let (code, body) = s.send("GET", "/scheduler/status", None);
    assert_eq!(code, 401, "{body}");
    let (code, body) = reply(
        ca.agent()
            .get(&s.url("/scheduler/status"))
            .set("Authorization", &format!("Bearer {secret}"))
            .call(),
    );
    assert_eq!(code, 200, "{body}");
    s.stop();
}

#[test]
fn plain_http_to_the_tls_port_gets_no_data() {
    let ca = Ca::new("backupd test CA");
    let pki = tempfile::tempdir().unwrap();
    let (cert, key) = install(&ca.leaf(1), pki.path());
    let mut s = Served::with_config(&tls_config(&cert, &key));
    let port = port_of(&s.root);
    for request in [
        "GET /api/backup/scheduler/status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET /metrics HTTP/1.0\r\n\r\n",
        "POST /api/backup/jobs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
    ] {
        let mut sock = TcpStream::connect(("127.0.0.1", port)).unwrap();
        sock.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        sock.write_all(request.as_bytes()).unwrap();
        let mut got = Vec::new();
        // The server ends the connection (a reset counts as an end too): never a timeout.
        if let Err(e) = sock.read_to_end(&mut got) {
            assert!(
                !matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ),
                "the connection stayed open: {e}"
            );
        }
        let text = String::from_utf8_lossy(&got);
        assert!(!text.contains("HTTP/"), "{request:?} got {text:?}");
        assert!(!text.contains('{'), "{request:?} got {text:?}");
        // At most a TLS alert record (content type 21), nothing of the API's.
        assert!(got.is_empty() || got[0] == 0x15, "{got:?}");
        assert!(got.len() <= 7, "more than one alert record: {got:?}");
    }
    // A client that connects and never starts the handshake holds only its own connection:
    // others are served meanwhile, and it is closed after the handshake timeout.
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stalled
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let started = std::time::Instant::now();
    s.set_agent(ca.agent());
    assert!(s.get("/scheduler/status").is_object());
    let (answer, _) = handshake_get(port, ca.client(), "/api/backup/scheduler/status");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    let mut got = Vec::new();
    let ended = stalled.read_to_end(&mut got);
    let waited = started.elapsed();
    assert!(ended.is_ok() && got.is_empty(), "{ended:?} {got:?}");
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(25),
        "closed after {waited:?}"
    );
    s.log_line("TLS handshake not done within 10 s", 10);
    s.stop();
}

#[test]
fn sighup_reloads_the_certificate_and_keeps_it_when_the_new_files_are_bad() {
    let ca = Ca::new("backupd test CA");
    let (first, second) = (ca.leaf(101), ca.leaf(202));
    let pki = tempfile::tempdir().unwrap();
    let (cert, key) = install(&first, pki.path());
    let s = Served::with_config(&tls_config(&cert, &key));
    let port = port_of(&s.root);
    let (answer, shown) = handshake_get(port, ca.client(), "/api/backup/scheduler/status");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(shown, first.der);

    let hup = || {
        let ok = std::process::Command::new("kill")
            .args(["-HUP", &s.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    };
    install(&second, pki.path());
    hup();
    s.log_line("TLS certificate and key reloaded", 30);
    let (answer, shown) = handshake_get(port, ca.client(), "/api/backup/scheduler/status");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(shown, second.der, "new connections see the new certificate");
    assert_ne!(first.der, second.der);

    // A key that does not fit the certificate: the pair in service stays.
    std::fs::write(&key, ca.leaf(303).key_pem).unwrap();
    hup();
    let line = s.log_line("TLS certificate not reloaded", 30);
    assert!(line.contains("does not fit"), "{line}");
    let (_, shown) = handshake_get(port, ca.client(), "/api/backup/scheduler/status");
    assert_eq!(shown, second.der);
    // Not PEM at all.
    std::fs::write(&cert, "not a certificate\n").unwrap();
    hup();
    let line = s.log_line("TLS certificate not reloaded", 30);
    assert!(line.contains("server.tls.cert"), "{line}");
    assert!(line.contains(&cert.display().to_string()), "{line}");
    let (answer, shown) = handshake_get(port, ca.client(), "/api/backup/scheduler/status");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(shown, second.der);
    s.stop();
}

/// `backupd serve` that must fail at start: its exit code and stderr.
fn failed_start(config: &str, bind: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backupd.toml");
    std::fs::write(&file, config).unwrap();
    let out = bin()
        .args(["serve", "--bind", bind, "--config"])
        .arg(&file)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bad_certificate_files_at_start_are_a_clear_error() {
    let ca = Ca::new("backupd test CA");
    let pki = tempfile::tempdir().unwrap();
    let (cert, key) = install(&ca.leaf(1), pki.path());
    let missing = pki.path().join("missing.pem");
    let garbage = pki.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN NOTHING-----\nxx\n").unwrap();
    let other_key = pki.path().join("other-key.pem");
    std::fs::write(&other_key, ca.leaf(2).key_pem).unwrap();
    let cases = [
        (
            tls_config(&missing, &key),
            "server.tls.cert",
            missing.clone(),
        ),
        (
            tls_config(&garbage, &key),
            "server.tls.cert",
            garbage.clone(),
        ),
        (
            tls_config(&cert, &missing),
            "server.tls.key",
            missing.clone(),
        ),
        (tls_config(&cert, &cert), "server.tls.key", cert.clone()),
        (
            tls_config(&cert, &other_key),
            "does not fit",
            other_key.clone(),
        ),
    ];
    for (config, says, file) in cases {
        let (code, stderr) = failed_start(&config, "127.0.0.1:0");
        assert_eq!(code, Some(2), "{config}: {stderr}");
        assert!(stderr.contains(says), "{config}: {stderr}");
        assert!(
            stderr.contains(&file.display().to_string()),
            "{config}: {stderr}"
        );
        assert!(!stderr.contains("listening on"), "{stderr}");
        // No key material in the message.
        assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");
    }
}

#[test]
fn a_non_loopback_bind_with_tls_and_a_token_starts_without_insecure() {
    let ca = Ca::new("backupd test CA");
    let pki = tempfile::tempdir().unwrap();
    let (cert, key) = install(&ca.leaf(9), pki.path());
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("backupd.toml");
    std::fs::write(&config, tls_config(&cert, &key)).unwrap();

    // TLS without a token: still refused, naming the token as the fix (and not TLS).
    let (code, stderr) = failed_start(&tls_config(&cert, &key), "0.0.0.0:0");
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("backupd token create"), "{stderr}");
    assert!(!stderr.contains("insecure = true"), "{stderr}");
    // A token without TLS (and no insecure): refused, naming [server.tls].
    std::fs::create_dir_all(&data).unwrap();
    let secret = stdout_ok(offline(
        ["token", "create", "remote", "--scope", "read"],
        &data,
    ));
    let secret = secret.trim().to_string();
    let plain = tmp.path().join("plain.toml");
    std::fs::write(&plain, "").unwrap();
    let out = bin()
        .args(["serve", "--bind", "0.0.0.0:0", "--config"])
        .arg(&plain)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("[server.tls]"), "{stderr}");

    // Token and TLS: it starts on 0.0.0.0 without `insecure`, and without its warning.
    let mut child = bin()
        .args(["serve", "--bind", "0.0.0.0:0", "--config"])
        .arg(&config)
        .arg("--data-dir")
        .arg(&data)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = crate::support::stderr_lines(&mut child);
    let (seen, listening) = crate::support::lines_until(&mut child, &lines, "listening on ", 60);
    assert!(!seen.iter().any(|l| l.contains("insecure")), "{seen:?}");
    let port: u16 = listening
        .split("listening on https://0.0.0.0:")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("{listening}"))
        .parse()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}/api/backup/health");
    let agent = ca.agent();
    let (code, body) = reply(agent.get(&url).call());
    assert_eq!(code, 401, "{body}");
    let (code, body) = reply(
        agent
            .get(&url)
            .set("Authorization", &format!("Bearer {secret}"))
            .call(),
    );
    assert_eq!(code, 200, "{body}");
    crate::support::terminate(child);
}
