//! A real S3 server for the tests: `s3s-fs` (it checks every request's signature) on 127.0.0.1,
//! on a port picked free, serving a temporary directory. `.ci/run` installs it
//! (`cargo install s3s-fs --version 0.14.1 --features binary --locked`).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS: &str = "AKIDtestbackupd0001";
pub const SECRET: &str = "s3cr3t-never-in-the-log-7f3a9";
pub const BUCKET: &str = "offsite";

pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("S3S_FS") {
        return p.into();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_bin = Path::new(&home).join(".cargo/bin/s3s-fs");
    if cargo_bin.exists() {
        return cargo_bin;
    }
    "s3s-fs".into()
}

pub struct S3 {
    pub root: tempfile::TempDir,
    pub port: u16,
    child: Option<Child>,
}

impl S3 {
    /// A server with the bucket `BUCKET` created (a directory under its root).
    pub fn start() -> S3 {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(BUCKET)).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = S3 {
            root,
            port,
            child: None,
        };
        s.restart();
        s
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the server at once (SIGKILL: an upload in flight is cut).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it (again) on the same port and root, and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new(binary())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS, "--secret-key", SECRET])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary().display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The objects in the bucket as files: key → bytes (s3s-fs keeps its own bookkeeping
    /// in hidden files and directories, which are not objects).
    pub fn objects(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        let base = self.root.path().join(BUCKET);
        let mut out = std::collections::BTreeMap::new();
        let mut stack = vec![base.clone()];
        while let Some(d) = stack.pop() {
            // The server works while we look: a directory or file removed (a deletion, a
            // temporary upload file renamed) between listing and reading is not an object.
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd {
                let Ok(e) = e else { continue };
                let name = e.file_name().to_string_lossy().to_string();
                if name.starts_with('.') {
                    continue;
                }
                let Ok(kind) = e.file_type() else { continue };
                if kind.is_dir() {
                    stack.push(e.path());
                } else {
                    let key = e
                        .path()
                        .strip_prefix(&base)
                        .unwrap()
                        .to_string_lossy()
                        .to_string();
                    match std::fs::read(e.path()) {
                        Ok(bytes) => {
                            out.insert(key, bytes);
                        }
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                        Err(err) => panic!("{}: {err}", e.path().display()),
                    }
                }
            }
        }
        out
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        self.kill();
    }
}
