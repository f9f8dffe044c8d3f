// backupd dashboard, the performance view (GET reports/performance: per backup job its throughput
// and durations over time, the slowest phase, ratios, backup window, storage growth, regressions)
// and one run's detail with its phases (GET runs/ID, field `perf`). Loaded on the first visit to
// either page (app.js `LAZY`), so the overview does not carry it. Charts are SVG built with DOM
// calls: the CSP allows no inline style, so sizes are attributes and colours are classes.
"use strict";

const PERF_DAYS = [7, 30, 90];
// Each phase of `perf` and what it waits on (the API's `bound`, queries/performance.rs).
const PHASES = [["scan", "disk"], ["read", "disk"], ["compress", "cpu"], ["write", "disk"], ["upload", "network"], ["verify", "disk"]];
const perfText = (t) => document.createTextNode(t);

// Decimal megabytes, as the API measures throughput (10^6 bytes).
function mbs(v) { return v === null || v === undefined ? "–" : (v < 10 ? v.toFixed(2) : v.toFixed(1)) + " MB/s"; }
function times(v) { return v === null || v === undefined ? "–" : v.toFixed(2) + " ×"; }
// A signed rate per day: "+1.2 MiB/day", "−30 ms/day".
function perDay(v, fmt) { return v === null || v === undefined ? "–" : (v < 0 ? "−" : "+") + fmt(Math.abs(v)) + "/day"; }
function daysLeft(d) {
  if (d === null || d === undefined) return "not filling";
  return d > 3650 ? "over 10 years" : d < 1 ? "under a day" : Math.round(d) + " days";
}
const zoned = (t) => when(t) + " " + S.zone;
const runLink = (id) => h("a", { href: "#/run/" + encodeURIComponent(id), "data-run": id }, id);

// Values over time: a line through the points, regressions drawn larger and red, the largest
// value and both ends of the time axis labelled (in the scheduler's zone).
function timeChart(label, points, fmt, cls) {
  const W = 600, H = 130, L = 4, B = 18;
  const t0 = Math.min(...points.map((p) => p.t)), t1 = Math.max(...points.map((p) => p.t));
  const top = Math.max(...points.map((p) => p.v)) || 1;
  const x = (t) => L + 6 + (t1 === t0 ? (W - 2 * L - 12) / 2 : ((t - t0) / (t1 - t0)) * (W - 2 * L - 12));
  const y = (v) => 30 + (1 - v / top) * (H - 36); // the top 30 units hold the max label (20 px text at 390 px)
  const svg = s("svg", { viewBox: `0 0 ${W} ${H + B}`, preserveAspectRatio: "xMinYMid meet", role: "img", class: "chart perf " + cls, "aria-label": label + ", " + points.length + " runs, max " + fmt(top) });
  svg.append(s("line", { x1: L, y1: y(0), x2: W - L, y2: y(0), class: "base" }), s("line", { x1: L, y1: y(top), x2: W - L, y2: y(top), class: "grid-line" }));
  if (points.length > 1) svg.append(s("polyline", { points: points.map((p) => x(p.t).toFixed(1) + "," + y(p.v).toFixed(1)).join(" "), class: "trend" }));
  for (const p of points) {
    svg.append(s("circle", { cx: x(p.t).toFixed(1), cy: y(p.v).toFixed(1), r: p.flag ? 6 : 4, class: p.flag ? "pt reg" : "pt", "data-run": p.run }, s("title", {}, perfText(p.tip))));
  }
  svg.append(s("text", { x: W - L, y: 20, class: "axis end" }, perfText("max " + fmt(top))));
  svg.append(s("text", { x: L, y: H + B - 3, class: "axis" }, perfText(when(new Date(t0).toISOString()))));
  if (t1 !== t0) svg.append(s("text", { x: W - L, y: H + B - 3, class: "axis end" }, perfText(when(new Date(t1).toISOString()))));
  return h("figure", { class: "perf-chart" }, h("figcaption", {}, label), svg);
}

// Where the time went: one bar split by phase, and a table of each phase's time and share.
function phaseBreakdown(ph, caption) {
  const rows = PHASES.map(([name, bound]) => ({ name, bound, ms: ph[name + "_ms"] || 0 }));
  const total = rows.reduce((a, r) => a + r.ms, 0);
  if (!total) return h("p", { class: "muted" }, "No phase measured.");
  const svg = s("svg", { viewBox: "0 0 1000 24", preserveAspectRatio: "none", role: "img", class: "phase-bar", "aria-label": caption + ": " + rows.filter((r) => r.ms).map((r) => r.name + " " + duration(r.ms)).join(", ") });
  let x = 0;
  for (const r of rows) {
    if (!r.ms) continue;
    const w = (r.ms / total) * 1000;
    svg.append(s("rect", { x: x.toFixed(1), y: 0, width: Math.max(1, w).toFixed(1), height: 24, class: "ph-" + r.name }, s("title", {}, perfText(r.name + ": " + duration(r.ms)))));
    x += w;
  }
  const slowest = rows.reduce((a, r) => (r.ms > a.ms ? r : a));
  return h("div", { class: "phases" }, svg,
    table(["Phase", "Time", "Share", "Waits on"], rows.map((r) => h("tr", { class: r === slowest ? "slowest" : null, "data-phase": r.name },
      h("th", { scope: "row" }, h("span", { class: "key ph-" + r.name }, r.name)),
      h("td", {}, duration(r.ms)), h("td", {}, ((r.ms / total) * 100).toFixed(1) + " %"), h("td", {}, r.bound))), { class: "keep phase-table" }));
}

function perfJob(j, days) {
  const measured = j.runs.filter((r) => r.throughput_mb_s !== null);
  const regs = new Set(j.regressions.map((r) => r.run_id));
  const head = h("h3", {}, j.name, j.name !== j.job_id ? h("small", { class: "muted" }, " " + j.job_id) : null);
  if (!j.runs.length) {
    return h("section", { class: "card perf-job", "data-job": j.job_id }, head,
      h("p", { class: "muted" }, "No succeeded run in the last " + days + " days."));
  }
  const tputs = measured.map((r) => r.throughput_mb_s).sort((a, b) => a - b);
  const mid = tputs.length ? (tputs.length % 2 ? tputs[(tputs.length - 1) / 2] : (tputs[tputs.length / 2 - 1] + tputs[tputs.length / 2]) / 2) : null;
  const dd = (k, v, attrs) => [h("dt", {}, k), h("dd", attrs || {}, v)];
  const figures = h("dl", { class: "figures perf-figures" },
    dd("Runs", j.runs.length + " succeeded, " + j.measured_runs + " measured"),
    dd("Throughput", "median " + mbs(mid) + (tputs.length ? " · last " + mbs(measured[measured.length - 1].throughput_mb_s) : ""), { "data-figure": "throughput" }),
    dd("Slowest phase", j.slowest_phase ? [j.slowest_phase + " · ", h("strong", {}, j.bound + "-bound")] : "– (no run measured its phases)", { "data-figure": "slowest" }),
    dd("Compression", times(j.compression_ratio) + " (read ÷ stored)", { "data-figure": "compression" }),
    dd("Dedup", times(j.dedup_ratio) + " (stored ÷ new)", { "data-figure": "dedup" }),
    dd("Backup window", "median " + duration(j.window.median_ms) + " · p95 " + duration(j.window.p95_ms), { "data-figure": "window" }),
    dd("Trend", "duration " + perDay(j.trend.duration_ms_per_day, (v) => duration(Math.round(v))) + " · data read " + perDay(j.trend.bytes_read_per_day, (v) => bytes(Math.round(v))), { "data-figure": "trend" }),
    dd("Storage growth", perDay(j.storage.growth_bytes_per_day, (v) => bytes(Math.round(v))) + " · full in " + daysLeft(j.storage.days_until_full), { "data-figure": "growth" }));
  const pt = (r, v, tip) => ({ t: Date.parse(r.started_at), v, run: r.run_id, flag: regs.has(r.run_id), tip: zoned(r.started_at) + ": " + tip + " · " + r.run_id + (regs.has(r.run_id) ? " · regression" : "") });
  const charts = h("div", { class: "perf-pair" },
    measured.length ? timeChart("Throughput (MB/s)", measured.map((r) => pt(r, r.throughput_mb_s, mbs(r.throughput_mb_s))), mbs, "throughput")
      : h("p", { class: "muted" }, "No run measured its throughput (runs recorded before schema version 6)."),
    timeChart("Duration", j.runs.map((r) => pt(r, r.duration_ms / 1000, duration(r.duration_ms))), (v) => duration(Math.round(v * 1000)), "duration"));
  const regList = j.regressions.length
    ? table(["Run", "Started (" + S.zone + ")", "Took", "Usual", "Ratio"], j.regressions.map((r) => h("tr", { "data-regression": r.run_id },
      h("td", {}, runLink(r.run_id)), h("td", { "data-label": "started" }, when(r.started_at)), h("td", { "data-label": "took" }, duration(r.duration_ms)),
      h("td", { "data-label": "usual" }, duration(Math.round(r.median_ms)) + " median of " + r.earlier_runs), h("td", { "data-label": "ratio" }, times(r.ratio)))), { class: "regressions" })
    : h("p", { class: "muted" }, "None: no run took over 1.5 × the median of the 30 days before it.");
  return h("section", { class: "card perf-job", "data-job": j.job_id }, head, figures, charts,
    h("h4", {}, "Time by phase (" + j.measured_runs + " measured runs)"), phaseBreakdown(j.phase_totals_ms, j.name + " phases"),
    h("h4", {}, "Regressions (" + j.regressions.length + ")"), regList);
}

// #/performance[/DAYS[/JOB]]
async function perfPage(root, args) {
  const days = PERF_DAYS.includes(Number(args[0])) ? Number(args[0]) : 30;
  const job = args[1] || "";
  const q = new URLSearchParams({ days: String(days) });
  if (job) q.set("job", job);
  const [p, jobs] = await Promise.all([api("GET", "/reports/performance?" + q), api("GET", "/scheduler/jobs")]);
  const ids = jobs.jobs.filter((j) => j.action === "backup" || j.action === "archive").map((j) => [j.id, j.name]);
  if (job && !ids.some(([id]) => id === job)) ids.push([job, job]); // a deleted job's link
  const pick = h("select", { id: "perf-job", onchange: (e) => { location.hash = "#/performance/" + days + (e.target.value ? "/" + encodeURIComponent(e.target.value) : ""); } },
    h("option", { value: "" }, "All backup jobs"), ids.map(([id, name]) => h("option", { value: id, selected: id === job }, name === id ? id : name + " (" + id + ")")));
  const href = (d) => "#/performance/" + d + (job ? "/" + encodeURIComponent(job) : "");
  const controls = h("div", { class: "filters perf-controls" },
    h("div", { class: "window", role: "group", "aria-label": "Window" }, h("span", { class: "muted" }, "Last "),
      PERF_DAYS.map((d) => h("a", { href: href(d), "aria-current": d === days ? "page" : null, "data-days": d }, d + " days"))),
    field("Job", pick));
  const v = p.volume;
  const outlook = h("section", { class: "card", id: "perf-storage" }, h("h2", {}, "Data directory"),
    h("dl", { class: "figures" },
      h("dt", {}, "Volume"), h("dd", {}, v ? bytes(v.free_bytes) + " free of " + bytes(v.total_bytes) : "unknown"),
      h("dt", {}, "Net growth"), h("dd", {}, perDay(p.storage.growth_bytes_per_day, (x) => bytes(Math.round(x)))),
      h("dt", {}, "Full in"), h("dd", { id: "perf-days-full" }, daysLeft(p.storage.days_until_full))));
  fill(root, h("h1", {}, "Performance"), controls,
    h("p", { class: "muted", id: "perf-window" }, "Succeeded backup runs that finished " + zoned(p.from) + " → " + zoned(p.to) + " · times in " + S.zone),
    outlook,
    p.jobs.length ? p.jobs.map((j) => perfJob(j, days)) : h("p", { class: "muted" }, "No backup job."));
}

// #/run/ID: one run, and where its time went.
async function runPage(root, args) {
  const r = await api("GET", "/runs/" + encodeURIComponent(args[0]));
  const rows = [
    ["Job", r.job_id ? h("a", { href: "#/performance/30/" + encodeURIComponent(r.job_id) }, r.job_name || r.job_id) : "restore " + (r.target || "in place")],
    ["Status", [badge(r.status), r.error ? h("span", { class: "error" }, " " + r.error) : null]],
    ["Kind", r.kind + " · " + r.reason + " · by " + r.actor],
    ["Started", zoned(r.started_at)],
    ["Finished", r.finished_at ? zoned(r.finished_at) : "–"],
    ["Took", duration(r.duration_ms)],
    ["Size", bytes(r.bytes) + " · " + r.files + " files"],
    ["Backup", r.backup_id ? h("a", { href: "#/backup/" + encodeURIComponent(r.backup_id) }, r.backup_id) : "–"],
  ];
  if (r.warnings_total) rows.push(["Warnings", r.warnings_total + " (first: " + r.warnings[0].path + ": " + r.warnings[0].reason + ")"]);
  if (r.note) rows.push(["Note", r.note]);
  const p = r.perf;
  const perf = p ? [
    phaseBreakdown(p, "phases of " + r.run_id),
    h("dl", { class: "figures", id: "run-volumes" },
      h("dt", {}, "Read"), h("dd", {}, bytes(p.bytes_read) + (r.duration_ms ? " at " + mbs(p.bytes_read / 1e6 / (r.duration_ms / 1000)) : "")),
      h("dt", {}, "Stored"), h("dd", {}, bytes(p.bytes_stored) + (p.bytes_stored ? " · compression " + times(p.bytes_read / p.bytes_stored) : "")),
      h("dt", {}, "New"), h("dd", {}, bytes(p.bytes_new)),
      h("dt", {}, "Files"), h("dd", {}, p.files_examined + " examined, " + p.files_changed + " changed"))]
    : h("p", { class: "muted" }, r.status === "running" ? "Measured when it finishes." : "This run did not measure its phases (not a backup that succeeded, or recorded before schema version 6).");
  fill(root, h("h1", {}, "Run"), h("p", {}, h("code", {}, r.run_id)),
    h("div", { class: "grid" },
      h("section", { class: "card" }, h("h2", {}, "Outcome"), h("div", { class: "scroll" }, h("table", { class: "keep run-facts" }, h("tbody", {}, rows.map(([k, v]) => h("tr", {}, h("th", { scope: "row" }, k), h("td", {}, v))))))),
      h("section", { class: "card wide-2", id: "run-perf" }, h("h2", {}, "Where the time went"), perf)));
  if (r.status === "running" || r.status === "queued") every(2000, route);
}
