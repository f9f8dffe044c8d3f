//! The report as one self-contained HTML page: inline CSS, inline SVG charts drawn here, no
//! scripts and no external references, so it opens from a file, a mail or an air-gapped host.

use super::model::{DayRuns, Report, Storage, StorageDay, Warned, Window};
use crate::events::{HealthStatus, Ts};
use crate::projections::Outcomes;
use std::fmt::Write as _;

const STORAGE_SERIES: [(&str, &str); 4] = [
    ("full", "#2b6cb0"),
    ("incremental", "#38a169"),
    ("archive", "#805ad5"),
    ("reports", "#dd6b20"),
];
const RUN_SERIES: [(&str, &str); 3] = [
    ("succeeded", "#38a169"),
    ("failed", "#e53e3e"),
    ("interrupted", "#d69e2e"),
];

// Chart geometry (SVG user units; the SVG scales to the page width).
const W: f64 = 1000.0;
const H: f64 = 300.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const PW: f64 = W - LEFT - RIGHT;
const PH: f64 = H - TOP - BOTTOM;

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0;background:#f4f6f8;color:#1a202c}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{margin:0 0 4px;font-size:26px}h2{font-size:18px;margin:28px 0 10px}
.sub{color:#4a5568;margin:0 0 16px}
.cards{display:grid;grid-template-columns:repeat(3,1fr);gap:12px}
.card{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08);}
.card .k{color:#4a5568;font-size:13px}.card .v{font-size:24px;font-weight:600}
.panel{background:#fff;border-radius:8px;padding:12px 16px;box-shadow:0 1px 2px rgba(0,0,0,.08)}
svg{display:block;width:100%;height:auto}
svg text{font-family:inherit;font-size:13px;fill:#2d3748}
svg .axis{stroke:#4a5568;stroke-width:1}svg .grid{stroke:#e2e8f0;stroke-width:1}
table{border-collapse:collapse;width:100%;background:#fff;border-radius:8px;overflow:hidden;box-shadow:0 1px 2px rgba(0,0,0,.08)}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #edf2f7;font-size:14px;vertical-align:top}
th{background:#edf2f7}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.empty{color:#718096;font-style:italic}
.ok{color:#276749}.warning{color:#975a16}.critical{color:#c53030}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;font-weight:600;background:#edf2f7}
.err{font-family:ui-monospace,monospace;font-size:13px;white-space:pre-wrap;word-break:break-word}
";

/// The page for `report`. Every string from the data goes through `esc`.
pub fn html(report: &Report) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let title = format!("backupd report {}", report.id);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body><main>\
         <h1>Backup report</h1><p class=\"sub\">{} &middot; generated {}</p>",
        esc(&title),
        esc(&report.id),
        when(report.generated_at)
    );

    // Three columns: the rates and health above, the byte figures below.
    out.push_str("<div class=\"cards\">");
    rate_card(&mut out, "last 24 h", &report.last_24h);
    rate_card(&mut out, "last 7 d", &report.last_7d);
    let (health, class) = match &report.health {
        Some(h) => (health_name(h.status), health_name(h.status)),
        None => ("not checked yet", "empty"),
    };
    let _ = write!(
        out,
        "<div class=\"card\"><div class=\"k\">health</div><div class=\"v {class}\">{health}</div></div>"
    );
    for (label, n) in [
        ("written, last 24 h", report.last_24h.bytes_written),
        ("written, last 7 d", report.last_7d.bytes_written),
        ("stored now", report.storage.total),
    ] {
        let _ = write!(
            out,
            "<div class=\"card\"><div class=\"k\">{label}</div><div class=\"v\">{}</div></div>",
            bytes(n)
        );
    }
    out.push_str("</div>");

    out.push_str("<h2>Runs per day (UTC)</h2><div class=\"panel\">");
    out.push_str(&runs_chart(&report.runs_per_day));
    out.push_str("</div><h2>Storage over time</h2><div class=\"panel\">");
    out.push_str(&storage_chart(charted(&report.storage_over_time)));
    out.push_str("</div>");

    storage_table(&mut out, &report.storage);
    runs_per_job(&mut out, report);
    durations(&mut out, report);
    failures(&mut out, report);
    largest(&mut out, report);
    next_runs(&mut out, report);
    health_section(&mut out, report);
    remotes_section(&mut out, report);

    out.push_str("</main></body></html>\n");
    out
}

/// The days the storage chart shows: a young installation's 80 empty days would squeeze its
/// history into the right edge, so leading empty days go, keeping one for the rise and at least
/// a week.
fn charted(days: &[StorageDay]) -> &[StorageDay] {
    const MIN_DAYS: usize = 7;
    let first = days
        .iter()
        .position(|d| d.storage.total > 0)
        .map_or(days.len(), |i| i.saturating_sub(1));
    &days[first.min(days.len().saturating_sub(MIN_DAYS))..]
}

/// Escapes text for element content and quoted attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn rate_card(out: &mut String, label: &str, w: &Window) {
    let rate = match w.success_rate {
        Some(r) => percent(r),
        None => "&mdash;".into(),
    };
    let _ = write!(
        out,
        "<div class=\"card\"><div class=\"k\">success rate, {label}</div><div class=\"v\">{rate}</div>\
         <div class=\"k\">{} runs: {} ok, {} failed, {} interrupted</div></div>",
        w.finished, w.succeeded, w.failed, w.interrupted
    );
}

fn storage_table(out: &mut String, s: &Storage) {
    out.push_str(
        "<h2>Storage by kind</h2><table><tr><th>kind</th><th class=\"n\">bytes</th><th class=\"n\">size</th></tr>",
    );
    for (name, v) in [
        ("full", s.full),
        ("incremental", s.incremental),
        ("archive", s.archive),
        ("reports", s.reports),
        ("total", s.total),
    ] {
        let _ = write!(
            out,
            "<tr><td>{name}</td><td class=\"n\">{v}</td><td class=\"n\">{}</td></tr>",
            bytes(v)
        );
    }
    out.push_str("</table>");
}

fn outcome_cells(out: &mut String, o: &Outcomes) {
    let _ = write!(
        out,
        "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>",
        o.succeeded, o.failed, o.interrupted
    );
}

/// Warnings and the succeeded runs that had them: `5 in 2 runs`, or `0`.
fn warned_cell(out: &mut String, w: &Warned) {
    if w.runs == 0 {
        out.push_str("<td class=\"n\">0</td>");
    } else {
        let runs = if w.runs == 1 { "run" } else { "runs" };
        let _ = write!(
            out,
            "<td class=\"n\">{} in {} {runs}</td>",
            w.warnings, w.runs
        );
    }
}

fn runs_per_job(out: &mut String, report: &Report) {
    out.push_str("<h2>Runs per job</h2>");
    if report.runs_per_job.is_empty() {
        out.push_str("<p class=\"empty\">No jobs.</p>");
        return;
    }
    out.push_str(
        "<table><tr><th>job</th><th class=\"n\">24 h ok</th><th class=\"n\">24 h failed</th>\
         <th class=\"n\">24 h interrupted</th><th class=\"n\">7 d ok</th><th class=\"n\">7 d failed</th>\
         <th class=\"n\">7 d interrupted</th><th class=\"n\">24 h warnings</th>\
         <th class=\"n\">7 d warnings</th></tr>",
    );
    for j in &report.runs_per_job {
        let _ = write!(out, "<tr><td>{}", job(&j.name, &j.job_id));
        if let Some(text) = &j.description {
            let _ = write!(out, "<br><span class=\"empty\">{}</span>", esc(text));
        }
        out.push_str("</td>");
        outcome_cells(out, &j.last_24h);
        outcome_cells(out, &j.last_7d);
        warned_cell(out, &j.warnings_24h);
        warned_cell(out, &j.warnings_7d);
        out.push_str("</tr>");
    }
    out.push_str("</table>");
}

fn durations(out: &mut String, report: &Report) {
    out.push_str("<h2>Durations, last 7 d</h2>");
    if report.durations.is_empty() {
        out.push_str("<p class=\"empty\">No run finished in the last 7 days.</p>");
        return;
    }
    out.push_str(
        "<table><tr><th>job</th><th class=\"n\">runs</th><th class=\"n\">average</th>\
         <th class=\"n\">p95</th><th class=\"n\">max</th></tr>",
    );
    for d in &report.durations {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            job(&d.name, &d.job_id),
            d.runs,
            millis(d.avg_ms),
            millis(d.p95_ms),
            millis(d.max_ms)
        );
    }
    out.push_str("</table>");
}

fn failures(out: &mut String, report: &Report) {
    out.push_str("<h2>Failures, last 7 d</h2>");
    if report.failures.is_empty() {
        out.push_str("<p class=\"empty\">No failures.</p>");
        return;
    }
    out.push_str(
        "<table><tr><th>when</th><th>job</th><th>run</th><th>status</th><th>error</th></tr>",
    );
    for f in &report.failures {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"err\">{}</td></tr>",
            when(f.at),
            job(&f.name, &f.job_id),
            esc(&f.run_id),
            esc(&f.status),
            esc(&f.error)
        );
    }
    out.push_str("</table>");
}

fn largest(out: &mut String, report: &Report) {
    out.push_str("<h2>Largest backups</h2>");
    if report.largest_backups.is_empty() {
        out.push_str("<p class=\"empty\">No backups stored.</p>");
        return;
    }
    out.push_str(
        "<table><tr><th>backup</th><th>job</th><th>kind</th><th>created</th><th class=\"n\">size</th></tr>",
    );
    for b in &report.largest_backups {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
            esc(&b.id),
            esc(&b.job_id),
            b.kind.as_str(),
            when(b.created_at),
            bytes(b.bytes)
        );
    }
    out.push_str("</table>");
}

fn next_runs(out: &mut String, report: &Report) {
    out.push_str("<h2>Next runs</h2>");
    if report.next_runs.is_empty() {
        let why = if report.scheduler_running {
            "No job is scheduled."
        } else {
            "The scheduler is stopped: nothing runs until it is started."
        };
        let _ = write!(out, "<p class=\"empty\">{why}</p>");
        return;
    }
    out.push_str("<table><tr><th>when</th><th>job</th></tr>");
    for n in &report.next_runs {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            when(n.at),
            job(&n.name, &n.job_id)
        );
    }
    out.push_str("</table>");
}

fn health_section(out: &mut String, report: &Report) {
    out.push_str("<h2>Latest health check</h2>");
    let Some(h) = &report.health else {
        out.push_str("<p class=\"empty\">No health check has run yet.</p>");
        return;
    };
    let status = health_name(h.status);
    let _ = write!(
        out,
        "<p><span class=\"badge {status}\">{status}</span> at {}</p>",
        when(h.at)
    );
    if h.checks.is_empty() {
        return;
    }
    out.push_str("<table><tr><th>check</th><th>status</th><th>reason</th></tr>");
    for c in &h.checks {
        let s = health_name(c.status);
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"{s}\">{s}</td><td>{}</td></tr>",
            esc(&c.name),
            esc(&c.reason)
        );
    }
    out.push_str("</table>");
}

/// Off-site copies per remote; no section at all without remotes.
fn remotes_section(out: &mut String, report: &Report) {
    if report.remotes.is_empty() {
        return;
    }
    out.push_str(
        "<h2>Off-site copies</h2><table><tr><th>remote</th><th class=\"n\">pending objects</th>\
         <th class=\"n\">pending</th><th>oldest backup not off-site</th><th>last upload</th>\
         <th>last failure</th></tr>",
    );
    for r in &report.remotes {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&r.name),
            r.pending_objects,
            bytes(r.pending_bytes),
            r.oldest_pending_backup.map_or_else(|| "none".to_string(), when),
            r.last_success.map_or_else(|| "never".to_string(), when),
            esc(r.last_failure.as_deref().unwrap_or("")),
        );
    }
    out.push_str("</table>");
}

fn health_name(s: HealthStatus) -> &'static str {
    match s {
        HealthStatus::Ok => "ok",
        HealthStatus::Warning => "warning",
        HealthStatus::Critical => "critical",
    }
}

fn job(name: &str, id: &str) -> String {
    if name == id {
        esc(name)
    } else {
        format!("{} <span class=\"empty\">({})</span>", esc(name), esc(id))
    }
}

fn when(t: Ts) -> String {
    let t = t.get().to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}&nbsp;UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

fn percent(rate: f64) -> String {
    format!("{:.1}&nbsp;%", rate * 100.0)
}

/// Binary units, one decimal: what an operator compares with `du -h`.
pub fn bytes(n: u64) -> String {
    // The health reasons' sizes, kept on one line in the page.
    crate::domain::health::bytes(n).replacen(' ', "&nbsp;", 1)
}

fn millis(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms}&nbsp;ms"),
        1000..=59_999 => format!("{:.1}&nbsp;s", ms as f64 / 1000.0),
        _ => format!(
            "{}&nbsp;min&nbsp;{}&nbsp;s",
            ms / 60_000,
            (ms % 60_000) / 1000
        ),
    }
}

/// A round axis maximum at or above `max`: 1, 2 or 5 times a power of ten.
fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let mut step = 1.0;
    while step * 10.0 <= max {
        step *= 10.0;
    }
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * step >= max {
            return m * step;
        }
    }
    10.0 * step
}

/// `YYYY-MM-DD` → `MM-DD` for axis labels.
fn short_day(day: &str) -> &str {
    day.get(5..).unwrap_or(day)
}

/// The frame every chart shares: accessible title and description, horizontal grid lines with
/// labels, the axes and their titles, a legend.
fn frame(
    out: &mut String,
    id: &str,
    title: &str,
    desc: &str,
    y_label: &str,
    ticks: &[(f64, String)],
    legend: &[(&str, &str)],
) {
    let _ = write!(
        out,
        "<svg role=\"img\" aria-labelledby=\"{id}-title {id}-desc\" viewBox=\"0 0 {W} {H}\" \
         preserveAspectRatio=\"xMidYMid meet\"><title id=\"{id}-title\">{}</title>\
         <desc id=\"{id}-desc\">{}</desc>",
        esc(title),
        esc(desc)
    );
    for (y, label) in ticks {
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            LEFT + PW,
            LEFT - 8.0,
            y + 4.0
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" x2=\"{LEFT}\" y1=\"{TOP}\" y2=\"{}\"/>\
         <line class=\"axis\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{}\" y2=\"{}\"/>\
         <text x=\"16\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 16 {})\">{}</text>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">day (UTC)</text>",
        TOP + PH,
        LEFT + PW,
        TOP + PH,
        TOP + PH,
        TOP + PH / 2.0,
        TOP + PH / 2.0,
        esc(y_label),
        LEFT + PW / 2.0,
        H - 8.0
    );
    let mut x = LEFT;
    for (name, colour) in legend {
        let _ = write!(
            out,
            "<rect x=\"{x}\" y=\"10\" width=\"14\" height=\"14\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"22\">{name}</text>",
            x + 20.0
        );
        x += 30.0 + 8.0 * name.len() as f64;
    }
}

fn no_data(out: &mut String, text: &str) {
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" class=\"empty\">{}</text>",
        LEFT + PW / 2.0,
        TOP + PH / 2.0,
        esc(text)
    );
}

/// Stacked bars: succeeded, failed, interrupted per day.
pub fn runs_chart(days: &[DayRuns]) -> String {
    let total = |d: &DayRuns| d.succeeded + d.failed + d.interrupted;
    let max = days.iter().map(total).max().unwrap_or(0);
    // Whole runs only: 1, 2 or 5 times a power of ten, split into at most 5 steps.
    let top = nice_max(max as f64).max(1.0);
    let step = if top <= 5.0 { 1.0 } else { top / 5.0 };
    let y = |v: f64| TOP + PH - v / top * PH;
    let ticks: Vec<(f64, String)> = (0..)
        .map(|i| i as f64 * step)
        .take_while(|v| *v <= top + 1e-9)
        .map(|v| (y(v), format!("{v}")))
        .collect();
    let desc = match (days.first(), days.last()) {
        (Some(a), Some(b)) => format!(
            "Finished runs per UTC day from {} to {}, stacked by outcome; {} in all.",
            a.day,
            b.day,
            days.iter().map(total).sum::<u64>()
        ),
        _ => "No days to show.".into(),
    };
    let mut out = String::new();
    frame(
        &mut out,
        "runs",
        "Runs per day",
        &desc,
        "runs",
        &ticks,
        &RUN_SERIES,
    );
    if days.is_empty() || max == 0 {
        no_data(&mut out, "no runs finished in this period");
    }
    let band = PW / days.len().max(1) as f64;
    let width = (band * 0.7).min(60.0);
    for (i, d) in days.iter().enumerate() {
        let cx = LEFT + band * (i as f64 + 0.5);
        let mut base = 0.0;
        for ((name, colour), v) in RUN_SERIES
            .iter()
            .zip([d.succeeded, d.failed, d.interrupted])
        {
            if v == 0 {
                continue;
            }
            let (y0, y1) = (y(base), y(base + v as f64));
            let _ = write!(
                out,
                "<rect x=\"{:.1}\" y=\"{y1:.1}\" width=\"{width:.1}\" height=\"{:.1}\" fill=\"{colour}\">\
                 <title>{}: {v} {name}</title></rect>",
                cx - width / 2.0,
                y0 - y1,
                esc(&d.day)
            );
            base += v as f64;
        }
        if total(d) > 0 {
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                y(base) - 5.0,
                total(d)
            );
        }
        // Every label when they fit; every other one on long ranges.
        let every = (days.len() / 15).max(1);
        if i % every == 0 || i + 1 == days.len() {
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                TOP + PH + 18.0,
                esc(short_day(&d.day))
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// Stacked areas of stored bytes by kind, with the total as a line on top.
pub fn storage_chart(days: &[StorageDay]) -> String {
    let values = |s: &Storage| [s.full, s.incremental, s.archive, s.reports];
    let max = days.iter().map(|d| d.storage.total).max().unwrap_or(0);
    // Round in the unit the labels use (KiB, MiB, ...), so the ticks read 0.5, 1, 1.5 MiB.
    let unit = (0..6)
        .map(|k| 1024f64.powi(k))
        .take_while(|u| *u <= max as f64)
        .last()
        .unwrap_or(1.0);
    let top = nice_max(max as f64 / unit) * unit;
    let y = |v: f64| TOP + PH - v / top * PH;
    let ticks: Vec<(f64, String)> = (0..=4)
        .map(|i| top * i as f64 / 4.0)
        .map(|v| (y(v), bytes(v.round() as u64)))
        .collect();
    let desc = match (days.first(), days.last()) {
        (Some(a), Some(b)) => format!(
            "Bytes stored at the end of each UTC day from {} to {}, stacked by kind (full, \
             incremental, archive, reports); {} bytes on the last day.",
            a.day, b.day, b.storage.total
        ),
        _ => "No days to show.".into(),
    };
    let mut out = String::new();
    frame(
        &mut out,
        "storage",
        "Storage over time",
        &desc,
        "stored",
        &ticks,
        &STORAGE_SERIES,
    );
    if days.is_empty() || max == 0 {
        no_data(&mut out, "nothing stored in this period");
    }
    // One day still gets an area: it spans the whole width.
    let xs: Vec<f64> = match days.len() {
        0 => Vec::new(),
        1 => vec![LEFT, LEFT + PW],
        n => (0..n)
            .map(|i| LEFT + PW * i as f64 / (n - 1) as f64)
            .collect(),
    };
    let point = |i: usize| &days[i.min(days.len() - 1)];
    let mut lower = vec![0.0f64; xs.len()];
    if max > 0 {
        for (k, (name, colour)) in STORAGE_SERIES.iter().enumerate() {
            let upper: Vec<f64> = (0..xs.len())
                .map(|i| lower[i] + values(&point(i).storage)[k] as f64)
                .collect();
            if upper != lower {
                let mut pts = String::new();
                for (i, x) in xs.iter().enumerate() {
                    let _ = write!(pts, "{x:.1},{:.1} ", y(upper[i]));
                }
                for (i, x) in xs.iter().enumerate().rev() {
                    let _ = write!(pts, "{x:.1},{:.1} ", y(lower[i]));
                }
                let _ = write!(
                    out,
                    "<polygon points=\"{}\" fill=\"{colour}\" fill-opacity=\"0.75\" stroke=\"{colour}\">\
                     <title>{name}</title></polygon>",
                    pts.trim_end()
                );
            }
            lower = upper;
        }
        let mut line = String::new();
        for (i, x) in xs.iter().enumerate() {
            let _ = write!(line, "{x:.1},{:.1} ", y(lower[i]));
        }
        let _ = write!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#1a202c\" stroke-width=\"1.5\"/>",
            line.trim_end()
        );
    }
    // About six dated ticks along the x axis, the first and the last always.
    if !days.is_empty() {
        let n = days.len();
        let every = n.div_ceil(6).max(1);
        for i in (0..n).filter(|i| i % every == 0 || *i == n - 1) {
            if i != n - 1 && n - 1 - i < every / 2 {
                continue;
            }
            let x = if n == 1 { LEFT + PW / 2.0 } else { xs[i] };
            let _ = write!(
                out,
                "<line class=\"axis\" x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{}\" y2=\"{}\"/>\
                 <text x=\"{x:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                TOP + PH,
                TOP + PH + 5.0,
                TOP + PH + 20.0,
                esc(short_day(&days[i].day))
            );
        }
    }
    out.push_str("</svg>");
    out
}
