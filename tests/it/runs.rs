//! Run outcomes over HTTP: a failed run says what kind of failure it was.

use crate::support::Served;
use serde_json::json;

#[test]
fn a_failed_run_shows_its_error_and_kind_and_a_good_one_none() {
    let scratch = tempfile::tempdir().unwrap();
    let there = scratch.path().join("there");
    std::fs::create_dir(&there).unwrap();
    std::fs::write(there.join("f"), b"x").unwrap();
    let missing = scratch.path().join("not-there");
    let server = Served::with_config(&format!(
        "[[sources.files]]\npath = {there:?}\n\n[[sources.files]]\npath = {missing:?}\n"
    ));
    let failed = server.run("daily_full_backup");
    assert_eq!(
        (&failed["status"], &failed["error_kind"]),
        (&json!("failed"), &json!("config")),
        "{failed}"
    );
    assert!(
        failed["error"].as_str().unwrap().contains("not-there"),
        "{failed}"
    );
    std::fs::create_dir(&missing).unwrap();
    let ok = server.run("daily_full_backup");
    assert_eq!(
        (&ok["status"], &ok["error_kind"]),
        (&json!("succeeded"), &json!(null)),
        "{ok}"
    );
    let listed = server.get("/runs?status=failed")["runs"].clone();
    assert_eq!(listed[0]["error_kind"], "config", "{listed}");
}
