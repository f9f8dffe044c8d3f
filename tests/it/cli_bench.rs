//! `backupd bench`: the real binary on a small directory, as a table and as JSON. Speeds are the
//! machine's and not asserted beyond being measured (positive and finite); the shape is: every
//! codec and level a row, the recommendation one of them, nothing left in the data directory.

use crate::support::{offline, stdout_ok};
use std::path::Path;

const ROWS: &[(&str, i64)] = &[
    ("none", 0),
    ("zstd", 1),
    ("zstd", 3),
    ("zstd", 9),
    ("zstd", 19),
    ("xz", 1),
    ("xz", 6),
    ("xz", 9),
    ("gzip", 1),
    ("gzip", 6),
    ("gzip", 9),
];

/// Half text, half random bytes: some codecs gain, `none` does not.
fn data(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    let text: String = (0..20_000)
        .map(|i| format!("line {i} of a log that compresses\n"))
        .collect();
    std::fs::write(dir.join("a.log"), text).unwrap();
    let mut rng = crate::support::Rng(17);
    let noise: Vec<u8> = (0..200_000).map(|_| rng.next() as u8).collect();
    std::fs::write(dir.join("sub/b.bin"), noise).unwrap();
}

fn positive(v: &serde_json::Value, what: &str) -> f64 {
    let x = v.as_f64().unwrap_or_else(|| panic!("{what}: {v}"));
    assert!(x.is_finite() && x > 0.0, "{what}: {x}");
    x
}

#[test]
fn bench_measures_every_codec_and_recommends_one_of_them() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    data(&src);
    let data_dir = tmp.path().join("data");
    std::fs::create_dir_all(&data_dir).unwrap();
    let src_arg = src.to_str().unwrap();

    let out = stdout_ok(offline(
        ["bench", "--path", src_arg, "--seconds", "1", "--json"],
        &data_dir,
    ));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["sample_files"], 2, "{v}");
    let text_len = std::fs::metadata(src.join("a.log")).unwrap().len();
    assert_eq!(
        v["sample_bytes"].as_u64().unwrap(),
        text_len + 200_000,
        "{v}"
    );
    positive(&v["read_mb_s"], "read");
    positive(&v["write_mb_s"], "write");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), ROWS.len(), "{v}");
    for (codec, level) in ROWS {
        let row = rows
            .iter()
            .find(|r| r["codec"] == *codec && r["level"] == *level)
            .unwrap_or_else(|| panic!("no row {codec} {level}: {v}"));
        positive(&row["compress_mb_s"], codec);
        positive(&row["effective_mb_s"], codec);
        positive(&row["ratio"], codec);
        assert!(row["measured_bytes"].as_u64().unwrap() > 0);
    }
    let ratio = |codec: &str, level: i64| {
        rows.iter()
            .find(|r| r["codec"] == codec && r["level"] == level)
            .unwrap()["ratio"]
            .as_f64()
            .unwrap()
    };
    // The text compresses: zstd 3 stores the sample in well under its size; none does not.
    assert!(ratio("zstd", 3) > 1.5, "{v}");
    assert!(ratio("none", 0) <= 1.0, "{v}");
    let pick = &v["recommended"];
    assert!(
        ROWS.iter()
            .any(|(c, l)| pick["codec"] == *c && pick["level"] == *l),
        "{pick}"
    );
    assert!(v["rule"].as_str().unwrap().contains("5%"));
    // The write test's file is gone.
    assert_eq!(std::fs::read_dir(&data_dir).unwrap().count(), 0);

    // The table: a row per codec and level, the recommendation named and marked.
    let table = stdout_ok(offline(
        ["bench", "--path", src_arg, "--seconds", "1"],
        &data_dir,
    ));
    for (codec, level) in ROWS {
        let row = table
            .lines()
            .find(|l| {
                let mut w = l.split_whitespace();
                w.next() == Some(codec) && w.next() == Some(&level.to_string())
            })
            .unwrap_or_else(|| panic!("no row {codec} {level}:\n{table}"));
        let figures: Vec<f64> = row
            .split_whitespace()
            .skip(2)
            .take(3)
            .map(|f| f.parse().unwrap())
            .collect();
        assert!(figures.iter().all(|f| *f > 0.0), "{row}");
    }
    let line = table
        .lines()
        .find(|l| l.starts_with("recommendation: codec = "))
        .unwrap_or_else(|| panic!("{table}"));
    let named = line.split('"').nth(1).unwrap();
    assert!(ROWS.iter().any(|(c, _)| *c == named), "{line}");
    assert_eq!(
        table
            .lines()
            .filter(|l| l.ends_with("recommended") || l.contains(" recommended,"))
            .count(),
        1,
        "{table}"
    );

    // A path with nothing in it is an error, not a table of zeros.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = offline(
        ["bench", "--path", empty.to_str().unwrap(), "--seconds", "1"],
        &data_dir,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nothing to read"));
}
