//! The health check through the real binary over HTTP: a nearly full backup volume (a small
//! tmpfs), a stopped scheduler, unreachable sources, and the recorded event in the log.

use crate::support::{repo, Served};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Starts the preset health check by hand and waits for its outcome; returns the run id.
fn run_health_check(server: &Served) -> String {
    let run = server.run("health_check");
    // A critical health is still a successful run: the check ran.
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(
        run["note"].as_str().unwrap_or("").starts_with("health "),
        "{run}"
    );
    run["run_id"].as_str().unwrap().to_string()
}

pub(crate) fn named<'a>(health: &'a Value, name: &str) -> &'a Value {
    health["checks"]
        .as_array()
        .unwrap_or_else(|| panic!("no checks: {health}"))
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {health}"))
}

/// A tmpfs mounted for the test, lazily unmounted however the test ends.
pub(crate) struct Tmpfs(PathBuf);

impl Tmpfs {
    pub(crate) fn mount(at: &Path, size: &str) -> Tmpfs {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            out.status.success(),
            "this test needs to mount a tmpfs (run it as root, or in a container with \
             CAP_SYS_ADMIN): mount -t tmpfs -o size={size} tmpfs {} failed: {}",
            at.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// (total, available) bytes of the volume holding `dir`.
fn volume(dir: &Path) -> (u64, u64) {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path and a zeroed plain-data struct statvfs fills in.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
    let block = s.f_frsize as u64;
    (s.f_blocks as u64 * block, s.f_bavail as u64 * block)
}

/// Writes zeros (real pages: a sparse file would not fill a tmpfs) until `pct` % is used.
fn fill_to(dir: &Path, pct: u64) {
    use std::io::Write;
    let (total, free) = volume(dir);
    let target_free = total * (100 - pct) / 100;
    let mut left = free.saturating_sub(target_free);
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    f.sync_all().unwrap();
}

#[test]
fn health_disk_nearly_full_is_critical() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // Dropped last: the server (declared after) is stopped before the unmount.
    let _mount = Tmpfs::mount(&data, "32m");
    let server = Served::with_config_file(&repo().join("fixtures/demo.toml"), &data);
    fill_to(&data, 96);
    let (total, free) = volume(&data);
    assert!(
        (total - free) * 100 >= total * 95,
        "the volume is not filled: {free} of {total} free"
    );

    let run_id = run_health_check(&server);
    let health = server.get("/health");
    assert_eq!(health["recorded"], true, "{health}");
    assert_eq!(health["run_id"], run_id.as_str(), "{health}");
    assert_eq!(health["status"], "critical", "{health}");
    let disk = named(&health, "disk_space");
    assert_eq!(disk["status"], "critical", "{disk}");
    let reason = disk["reason"].as_str().unwrap();
    let pct: f64 = reason
        .strip_prefix("backup volume ")
        .and_then(|r| r.split(" % full").next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no percentage in {reason:?}"));
    assert!((95.0..=100.0).contains(&pct), "{reason}");
    assert!(reason.contains("critical at ≥ 95 %"), "{reason}");
    // The same verdict for scrapers.
    let metrics = ureq::get(&format!("{}/metrics", server.root))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    for line in [
        "backupd_health_status 2",
        "backupd_health_check_status{check=\"disk_space\"} 2",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in {metrics}"
        );
    }
    server.stop();
}

#[test]
fn health_shows_a_stopped_scheduler_and_records_its_event() {
    let server = Served::demo();

    // Nothing recorded yet: the checks run live and say so.
    let live = server.get("/health");
    assert_eq!(live["recorded"], false, "{live}");
    assert_eq!(live["run_id"], Value::Null, "{live}");
    assert_eq!(named(&live, "scheduler")["status"], "ok", "{live}");
    assert_eq!(
        live["checks"].as_array().unwrap().len(),
        backupd::domain::health::CHECK_NAMES.len(),
        "{live}"
    );
    let (status, body) = server.send("GET", "/health?verbose=1", None);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "unknown_field", "{body}");

    let (status, body) = server.send("POST", "/scheduler/stop", None);
    assert_eq!(status, 200, "{body}");
    // Manual runs work while the scheduler is stopped.
    let run_id = run_health_check(&server);
    let health = server.get("/health");
    assert_eq!(health["recorded"], true, "{health}");
    assert_eq!(health["run_id"], run_id.as_str(), "{health}");
    assert_eq!(health["status"], "critical", "{health}");
    assert!(health["age_seconds"].as_u64().unwrap() < 60, "{health}");
    let sched = named(&health, "scheduler");
    assert_eq!(sched["status"], "critical", "{sched}");
    let reason = sched["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("scheduler stopped at ") && reason.contains(" by api:anonymous: api"),
        "{reason}"
    );

    // The event is in the log, correlated with the run.
    let events = server.get("/events?after=0&limit=1000");
    let checked: Vec<&Value> = events["events"]
        .as_array()
        .unwrap_or_else(|| panic!("{events}"))
        .iter()
        .filter(|e| e["type"] == "health_checked")
        .collect();
    assert_eq!(checked.len(), 1, "{events}");
    assert_eq!(checked[0]["correlation"], run_id.as_str());
    assert_eq!(checked[0]["data"]["status"], "critical");
    assert_eq!(checked[0]["data"]["checks"], health["checks"]);
    server.stop();
}

#[test]
fn health_names_unreachable_sources() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let missing = tmp.path().join("missing-uploads");
    let etc = repo().join("fixtures/demo-data/etc");
    let config = tmp.path().join("backupd.toml");
    let toml = format!(
        r#"
[storage]
data_dir = {data:?}

[scheduler]
autostart = false

[[sources.files]]
path = {missing:?}

[[sources.config]]
path = {etc:?}

[[sources.database]]
name = "main"
kind = "postgresql"
url = "postgresql://backup@127.0.0.1:1/app"

# The thresholds come from the configuration: a warning from any use of the volume.
[health]
disk_warning_percent = 0
disk_critical_percent = 100
"#
    );
    std::fs::write(&config, toml).unwrap();
    let server = Served::with_config_file(&config, &data);
    run_health_check(&server);
    let health = server.get("/health");
    let disk = named(&health, "disk_space");
    assert_eq!(disk["status"], "warning", "{disk}");
    assert!(disk["reason"].as_str().unwrap().contains("≥ 0 %"), "{disk}");
    let sources = named(&health, "sources");
    assert!(
        sources["status"] == "critical" || sources["status"] == "warning",
        "{sources}"
    );
    let reason = sources["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("2 of 3 source(s) unreachable: "),
        "{reason}"
    );
    assert!(
        reason.contains(&format!("{} (files)", missing.display())),
        "{reason}"
    );
    assert!(
        reason.contains("main (postgresql): 127.0.0.1:1 not reachable"),
        "{reason}"
    );
    assert!(
        !reason.contains(&format!("{} (config)", etc.display())),
        "{reason}"
    );
    assert_eq!(json!(health["status"]), json!("critical"), "{health}");
    server.stop();
}
