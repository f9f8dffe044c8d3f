//! The `backupd bench` command line: its arguments, what it samples, the table and the JSON.

use super::{Report, Row};
use crate::config::Config;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// The data to sample (a file or directory; repeatable). Default: the configured files
    /// sources, or a generated sample when there are none.
    #[arg(long = "path")]
    pub paths: Vec<PathBuf>,
    /// The time each measurement may take (the read, the write, each codec and level).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub seconds: u64,
    /// Print the figures as one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Measures, then prints the table (or the JSON) on stdout.
pub fn run(args: &BenchArgs, config: &Config) -> std::io::Result<()> {
    let paths = if args.paths.is_empty() {
        config.files.iter().map(|f| f.path.clone()).collect()
    } else {
        args.paths.clone()
    };
    let report = super::run(&paths, &config.data_dir, Duration::from_secs(args.seconds))?;
    let configured = (config.codec.as_str(), config.level);
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        let mut v = serde_json::to_value(&report).map_err(std::io::Error::other)?;
        v["recommended"] = match &report.recommended {
            Some((codec, level)) => serde_json::json!({ "codec": codec, "level": level }),
            None => serde_json::Value::Null,
        };
        v["configured"] = serde_json::json!({ "codec": configured.0, "level": configured.1 });
        writeln!(out, "{v}")
    } else {
        table(&mut out, &report, configured)
    };
    match written {
        // A closed pipe (`| head`) is the reader's choice, not our failure.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e),
        _ => Ok(()),
    }
}

fn table(out: &mut impl Write, r: &Report, configured: (&str, i32)) -> std::io::Result<()> {
    if r.synthetic {
        writeln!(
            out,
            "sample: generated ({}; ratios say little about your data: pass --path)",
            size(r.sample_bytes)
        )?;
    } else {
        writeln!(
            out,
            "sample: {} ({} in {} files)",
            r.source,
            size(r.sample_bytes),
            r.sample_files
        )?;
    }
    writeln!(out, "read:   {:>9.1} MB/s", r.read_mb_s)?;
    writeln!(
        out,
        "write:  {:>9.1} MB/s (fsync'd, in {})",
        r.write_mb_s,
        r.write_dir.display()
    )?;
    writeln!(out, "cores:  {}", r.cores)?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<6} {:>5} {:>18} {:>7} {:>16}",
        "codec", "level", "compress MB/s/core", "ratio", "effective MB/s"
    )?;
    let pick = r.recommended.as_ref();
    for row in &r.rows {
        let Row {
            codec,
            level,
            compress_mb_s,
            ratio,
            effective_mb_s,
            ..
        } = row;
        let mut notes = Vec::new();
        if pick.is_some_and(|(c, l)| c == codec && l == level) {
            notes.push("recommended");
        }
        if configured.0 == codec && (codec == "none" || configured.1 == *level) {
            notes.push("configured");
        }
        let line = format!(
            "{codec:<6} {level:>5} {compress_mb_s:>18.1} {ratio:>7.2} {effective_mb_s:>16.1}  {}",
            notes.join(", ")
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    writeln!(out)?;
    match pick {
        Some((codec, level)) => writeln!(
            out,
            "recommendation: codec = \"{codec}\", level = {level} ({})",
            r.rule
        ),
        None => writeln!(out, "recommendation: none"),
    }
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}
