//! The report's performance section: two inline SVG charts in the frame the other charts use
//! (`html::frame`), throughput and duration of each run over the window with a line per job and
//! the regressions ringed in red, then per job the analysis' figures (`queries::performance`)
//! in tables, and the regressions listed.

use super::html::{bytes, esc, frame, job, millis, nice_max, no_data, LEFT, PH, PW, TOP};
use crate::events::Ts;
use crate::queries::performance::{JobPerformance, Performance};
use std::fmt::Write as _;

const PALETTE: [&str; 6] = [
    "#2b6cb0", "#38a169", "#805ad5", "#dd6b20", "#d53f8c", "#319795",
];
/// The ring around a regression.
const REGRESSION: &str = "#e53e3e";

/// The section: a heading, the charts, the tables.
pub fn section(out: &mut String, p: &Performance) {
    let _ = write!(out, "<h2>Performance, last {} d</h2>", p.days);
    out.push_str("<div class=\"panel\">");
    out.push_str(&throughput_chart(p));
    out.push_str("</div><div class=\"panel\" style=\"margin-top:12px\">");
    out.push_str(&duration_chart(p));
    out.push_str("</div>");
    figures(out, p);
    regressions(out, p);
}

/// The jobs with runs in the window, each with its colour.
fn charted(p: &Performance) -> Vec<(&JobPerformance, &'static str)> {
    p.jobs
        .iter()
        .filter(|j| !j.runs.is_empty())
        .enumerate()
        .map(|(i, j)| (j, PALETTE[i % PALETTE.len()]))
        .collect()
}

/// One point of a line: when, the value, whether it is ringed, its tooltip.
struct Point {
    at: Ts,
    value: f64,
    ringed: bool,
    tip: String,
}

/// MB/s of each measured run.
pub fn throughput_chart(p: &Performance) -> String {
    let series = charted(p)
        .into_iter()
        .map(|(j, colour)| {
            let points = j
                .runs
                .iter()
                .filter_map(|r| {
                    let v = r.throughput_mb_s?;
                    Some(Point {
                        at: r.started_at,
                        value: v,
                        ringed: false,
                        tip: format!("{}: {v:.2} MB/s ({})", r.run_id, r.started_at.rfc3339()),
                    })
                })
                .collect();
            (j, colour, points)
        })
        .collect();
    line_chart(
        p,
        "throughput",
        "Throughput",
        "Megabytes read per second of each backup run that measured its phases, per job, over the window.",
        "MB/s",
        series,
        |v| format!("{v:.1}"),
    )
}

/// The duration of each run, regressions ringed.
pub fn duration_chart(p: &Performance) -> String {
    let series = charted(p)
        .into_iter()
        .map(|(j, colour)| {
            let points = j
                .runs
                .iter()
                .map(|r| {
                    let ringed = j.regressions.iter().any(|g| g.run_id == r.run_id);
                    Point {
                        at: r.started_at,
                        value: r.duration_ms as f64,
                        ringed,
                        tip: format!(
                            "{}: {} ms{}",
                            r.run_id,
                            r.duration_ms,
                            if ringed { ", a regression" } else { "" }
                        ),
                    }
                })
                .collect();
            (j, colour, points)
        })
        .collect();
    line_chart(
        p,
        "duration",
        "Run duration",
        "Duration of each succeeded backup run, per job, over the window; runs over 1.5 times \
         the median of the 30 days before them are ringed in red.",
        "duration",
        series,
        |v| millis(v.round() as u64),
    )
}

/// Lines over the window's time axis, with a dot per point and a legend per job.
fn line_chart(
    p: &Performance,
    id: &str,
    title: &str,
    desc: &str,
    y_label: &str,
    series: Vec<(&JobPerformance, &str, Vec<Point>)>,
    tick: impl Fn(f64) -> String,
) -> String {
    let max = series
        .iter()
        .flat_map(|(_, _, pts)| pts.iter().map(|pt| pt.value))
        .fold(0.0f64, f64::max);
    let top = nice_max(max);
    let y = |v: f64| TOP + PH - v / top * PH;
    let ticks: Vec<(f64, String)> = (0..=4)
        .map(|i| top * i as f64 / 4.0)
        .map(|v| (y(v), tick(v)))
        .collect();
    let span = (p.to.get() - p.from.get()).as_seconds_f64().max(1.0);
    let x = |t: Ts| LEFT + PW * ((t.get() - p.from.get()).as_seconds_f64() / span).clamp(0.0, 1.0);
    let names: Vec<String> = series.iter().map(|(j, _, _)| esc(&j.name)).collect();
    let legend: Vec<(&str, &str)> = names
        .iter()
        .zip(&series)
        .map(|(n, (_, c, _))| (n.as_str(), *c))
        .collect();
    let mut out = String::new();
    frame(&mut out, id, title, desc, y_label, &ticks, &legend);
    if series.iter().all(|(_, _, pts)| pts.is_empty()) {
        no_data(&mut out, "no measured runs in this period");
    }
    for (_, colour, pts) in &series {
        if pts.len() > 1 {
            let line: Vec<String> = pts
                .iter()
                .map(|pt| format!("{:.1},{:.1}", x(pt.at), y(pt.value)))
                .collect();
            let _ = write!(
                out,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>",
                line.join(" ")
            );
        }
        for pt in pts {
            let (cx, cy) = (x(pt.at), y(pt.value));
            if pt.ringed {
                let _ = write!(
                    out,
                    "<circle class=\"regression\" cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"8\" fill=\"none\" \
                     stroke=\"{REGRESSION}\" stroke-width=\"2.5\"/>"
                );
            }
            let _ = write!(
                out,
                "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3.5\" fill=\"{colour}\"><title>{}</title></circle>",
                esc(&pt.tip)
            );
        }
    }
    // Six dated ticks along the time axis.
    for k in 0..=5 {
        let t = Ts(p.from.get() + (p.to.get() - p.from.get()) * (k as f64 / 5.0));
        let d = t.get().date();
        let _ = write!(
            out,
            "<line class=\"axis\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"{1}\" y2=\"{2}\"/>\
             <text x=\"{0:.1}\" y=\"{3}\" text-anchor=\"middle\">{4:02}-{5:02}</text>",
            x(t),
            TOP + PH,
            TOP + PH + 5.0,
            TOP + PH + 20.0,
            u8::from(d.month()),
            d.day()
        );
    }
    out.push_str("</svg>");
    out
}

fn ratio(v: Option<f64>) -> String {
    v.map_or_else(|| "&mdash;".into(), |r| format!("{r:.2}&times;"))
}

fn per_day(v: Option<f64>, unit: impl Fn(f64) -> String) -> String {
    v.map_or_else(|| "&mdash;".into(), |r| format!("{}/day", unit(r)))
}

fn signed_bytes(v: f64) -> String {
    let sign = if v < 0.0 { "&minus;" } else { "" };
    format!("{sign}{}", bytes(v.abs().round() as u64))
}

fn signed_ms(v: f64) -> String {
    let sign = if v < 0.0 { "&minus;" } else { "" };
    format!("{sign}{}", millis(v.abs().round() as u64))
}

/// Per job: the window, the slowest phase, ratios, trends, storage outlook; then its phases.
fn figures(out: &mut String, p: &Performance) {
    if p.jobs.is_empty() {
        out.push_str("<p class=\"empty\">No backup jobs.</p>");
        return;
    }
    out.push_str(
        "<table style=\"margin-top:12px\"><tr><th>job</th><th class=\"n\">runs (measured)</th>\
         <th class=\"n\">median</th><th class=\"n\">p95</th><th>slowest phase</th>\
         <th class=\"n\">compression</th><th class=\"n\">dedup</th><th class=\"n\">duration trend</th>\
         <th class=\"n\">data trend</th><th class=\"n\">storage growth</th>\
         <th class=\"n\">days until full</th><th class=\"n\">regressions</th></tr>",
    );
    for j in &p.jobs {
        let slowest = match (&j.slowest_phase, &j.bound) {
            (Some(phase), Some(bound)) => format!("{} ({} bound)", esc(phase), esc(bound)),
            _ => "&mdash;".into(),
        };
        let dash = || "&mdash;".to_string();
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{} ({})</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td>{slowest}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            job(&j.name, &j.job_id),
            j.runs.len(),
            j.measured_runs,
            j.window.median_ms.map_or_else(dash, millis),
            j.window.p95_ms.map_or_else(dash, millis),
            ratio(j.compression_ratio),
            ratio(j.dedup_ratio),
            per_day(j.trend.duration_ms_per_day, signed_ms),
            per_day(j.trend.bytes_read_per_day, signed_bytes),
            per_day(j.storage.growth_bytes_per_day, signed_bytes),
            j.storage.days_until_full.map_or_else(dash, until_full),
            j.regressions.len()
        );
    }
    out.push_str("</table>");
    out.push_str(
        "<table style=\"margin-top:12px\"><tr><th>job: time per phase</th><th class=\"n\">scan</th>\
         <th class=\"n\">read</th><th class=\"n\">compress</th><th class=\"n\">write</th>\
         <th class=\"n\">upload</th><th class=\"n\">verify</th></tr>",
    );
    for j in p.jobs.iter().filter(|j| j.measured_runs > 0) {
        let _ = write!(out, "<tr><td>{}</td>", job(&j.name, &j.job_id));
        for (_, ms, _) in j.phase_totals_ms.named() {
            let _ = write!(out, "<td class=\"n\">{}</td>", millis(ms));
        }
        out.push_str("</tr>");
    }
    out.push_str("</table>");
    let whole = &p.storage;
    let _ = write!(
        out,
        "<p class=\"sub\">Data directory: {}; {}.</p>",
        per_day(whole.growth_bytes_per_day, signed_bytes),
        match (whole.days_until_full, p.volume) {
            (Some(d), Some(v)) =>
                format!("{} free, full in {}", bytes(v.free_bytes), until_full(d)),
            (None, Some(v)) => format!("{} free, not growing", bytes(v.free_bytes)),
            _ => "free space unknown".into(),
        }
    );
}

/// Days until the volume is full, as a reader takes it in: a projection past ten years is
/// no more precise than "over 10 years".
fn until_full(days: f64) -> String {
    if days > 3650.0 {
        "over 10 years".into()
    } else {
        format!("about {days:.0} days")
    }
}

fn regressions(out: &mut String, p: &Performance) {
    let all: Vec<_> = p
        .jobs
        .iter()
        .flat_map(|j| j.regressions.iter().map(move |r| (j, r)))
        .collect();
    out.push_str("<h2>Regressions</h2>");
    if all.is_empty() {
        out.push_str(
            "<p class=\"empty\">No run took over 1.5&times; the median of the 30 days before it.</p>",
        );
        return;
    }
    out.push_str(
        "<table><tr><th>job</th><th>run</th><th>started</th><th class=\"n\">duration</th>\
         <th class=\"n\">median before</th><th class=\"n\">ratio</th></tr>",
    );
    for (j, r) in all {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{:.2}&times;</td></tr>",
            job(&j.name, &j.job_id),
            esc(&r.run_id),
            esc(&r.started_at.rfc3339()),
            millis(r.duration_ms),
            millis(r.median_ms.round() as u64),
            r.ratio
        );
    }
    out.push_str("</table>");
}
