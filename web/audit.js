// backupd dashboard, the audit timeline, the state at an event, reports (see core.js for how the pages are built).
"use strict";

// ---------- audit ----------
// The timeline asks the server for what the filters select (GET /events with job, actor, type,
// since, until and order=desc), a page at a time, newest first; "Load older" follows the page's
// next_before cursor. Nothing is filtered here: what is shown is what the log holds.
const AUDIT_PAGE = 200;
async function audit(root) {
  const jobs = await api("GET", "/scheduler/jobs").catch(() => ({ jobs: [] }));
  const loaded = [];
  let cursor = null; // next_before of the last page; null: nothing older
  let generation = 0; // a newer query makes the answers of older ones stale
  const fJob = h("input", { id: "audit-job", placeholder: "job id", list: "audit-jobs" });
  const fActor = h("input", { id: "audit-actor", placeholder: "api:name, scheduler…", list: "audit-actors" });
  const fType = h("input", { id: "audit-type", placeholder: "event type", list: "event-types" });
  const fSince = h("input", { id: "audit-since", type: "datetime-local", "aria-label": "since" });
  const fUntil = h("input", { id: "audit-until", type: "datetime-local", "aria-label": "until" });
  const types = h("datalist", { id: "event-types" });
  const actors = h("datalist", { id: "audit-actors" });
  const jobList = h("datalist", { id: "audit-jobs" }, (jobs.jobs || []).map((j) => h("option", { value: j.id })));
  const seenTypes = new Set(), seenActors = new Set();
  const status = h("p", { id: "audit-status", class: "muted", "aria-live": "polite" });
  const listBox = h("div", { id: "timeline" });
  const stateBox = h("section", { class: "card wide", id: "state-view", "aria-live": "polite" }, h("h2", {}, "The state at an event"), h("p", { class: "muted" }, "Pick an event: the schedule and catalog as they were then, next to now."));
  const more = h("button", { type: "button", id: "audit-older" }, "Load older");
  const jobOf = (e) => {
    const d = e.data || {};
    return d.job_id || (d.job && d.job.id) || (d.backup && d.backup.job_id) || (e.correlation && e.correlation.includes("@") ? e.correlation.split("@")[0] : "");
  };
  // The query the filters say; a time is the browser's local time, sent as UTC.
  const query = () => {
    const q = new URLSearchParams({ order: "desc", limit: String(AUDIT_PAGE) });
    const put = (k, v) => { if (v.trim()) q.set(k, v.trim()); };
    put("job", fJob.value);
    put("actor", fActor.value);
    put("type", fType.value);
    if (fSince.value) q.set("since", new Date(fSince.value).toISOString());
    if (fUntil.value) q.set("until", new Date(fUntil.value).toISOString());
    return q;
  };
  const draw = () => {
    fill(types, [...seenTypes].sort().map((t) => h("option", { value: t })));
    fill(actors, [...seenActors].sort().map((a) => h("option", { value: a })));
    fill(listBox, loaded.length ? h("ol", { class: "timeline", reversed: true }, loaded.map((e) => h("li", { "data-position": e.position, "data-type": e.type },
      h("span", { class: "pos" }, "#" + e.position), " ", h("strong", {}, e.type), " ", h("small", { class: "muted" }, when(e.recorded_at) + " · " + e.actor + (jobOf(e) ? " · " + jobOf(e) : "")),
      " ", h("button", { type: "button", class: "state-at", "data-state-at": e.position, onclick: () => showState(e.position) }, "State here"),
      e.data !== null ? h("details", {}, h("summary", {}, "data"), h("pre", {}, JSON.stringify(e.data, null, 1))) : null)))
      : h("p", { class: "muted", id: "audit-empty" }, cursor ? "No match yet: older events remain." : "No event matches."),
      ...(cursor ? [more] : []));
    status.textContent = loaded.length + " event" + (loaded.length === 1 ? "" : "s") + " shown, newest first" + (cursor ? "; older ones remain" : "; that is all");
  };
  // One page older than what is shown (or the first page when `fresh`).
  const load = async (fresh) => {
    const mine = fresh ? ++generation : generation;
    const q = query();
    if (!fresh && cursor) q.set("before", String(cursor));
    more.disabled = true;
    try {
      const page = await api("GET", "/events?" + q.toString());
      if (mine !== generation) return;
      if (fresh) loaded.length = 0;
      loaded.push(...page.events);
      for (const e of page.events) { seenTypes.add(e.type); seenActors.add(e.actor); }
      cursor = page.next_before;
      for (const el of [fJob, fActor, fType, fSince, fUntil]) el.removeAttribute("aria-invalid");
      draw();
    } catch (e) {
      if (mine !== generation) return;
      // A filter the server refuses (an unknown type, a bad time): say which, keep the list.
      const field = e.body && e.body.error && e.body.error.field;
      const el = { job: fJob, actor: fActor, type: fType, since: fSince, until: fUntil }[field];
      if (el) el.setAttribute("aria-invalid", "true");
      status.textContent = e.message;
    } finally {
      more.disabled = false;
    }
  };
  const showState = async (pos) => {
    fill(stateBox, h("h2", {}, "The state at #" + pos), h("p", {}, "Loading…"));
    const st = await api("GET", "/state?position=" + pos);
    const nav = h("p", { class: "actions" },
      h("button", { type: "button", id: "state-prev", disabled: pos <= 0, onclick: () => showState(pos - 1) }, "◀ One event back"),
      h("button", { type: "button", id: "state-next", disabled: pos >= st.last_position, onclick: () => showState(pos + 1) }, "One event on ▶"),
      h("span", { class: "muted" }, " recorded " + when(st.recorded_at) + " · log ends at #" + st.last_position));
    fill(stateBox, h("h2", {}, "The state at #" + pos + " and now"), nav, compare(st.at, st.now));
    stateBox.scrollIntoView({ block: "nearest" });
  };
  more.addEventListener("click", () => load(false));
  // Typing asks the server once the typing pauses, not at every key.
  let pause = null;
  const changed = () => { clearTimeout(pause); pause = setTimeout(() => load(true), 250); };
  const filters = h("form", { class: "filters" }, field("Job", fJob), field("Actor", fActor), field("Type (comma-separated)", fType),
    field("Since (your browser's local time)", fSince), field("Until", fUntil), types, actors, jobList);
  for (const el of [fJob, fActor, fType, fSince, fUntil]) el.addEventListener("input", changed);
  filters.addEventListener("submit", (e) => { e.preventDefault(); clearTimeout(pause); load(true); });
  fill(root, h("h1", {}, "Audit"), h("p", { class: "muted" }, "Every change is an event in the log; the state at any position is the fold of the events up to it."),
    filters, h("div", { class: "grid audit" }, h("section", { class: "card" }, h("h2", {}, "Timeline"), status, listBox), stateBox));
  await load(true);
}

// Side by side: the state at a position and now; rows that differ are marked.
function compare(at, now) {
  const jobRow = (j) => j ? j.name + " · " + j.trigger_type + " " + (j.trigger_type === "cron" ? cronText(j.trigger_config) : JSON.stringify(j.trigger_config)) + " · v" + j.version + (j.paused ? " · paused" : "") : "—";
  const backupRow = (b) => b ? b.kind + " · " + b.job_id + " · " + bytes(b.bytes) : "—";
  const section = (title, key, a, n, show) => {
    const ids = [...new Set([...a.map((x) => x[key]), ...n.map((x) => x[key])])].sort();
    const rows = ids.map((id) => {
      const x = a.find((v) => v[key] === id), y = n.find((v) => v[key] === id);
      const l = show(x), r = show(y);
      const diff = l !== r;
      return h("tr", { class: diff ? "diff" : null, "data-id": id, "data-side-at": x ? "present" : "absent" }, h("th", { scope: "row" }, id), h("td", { class: "at" }, l), h("td", { class: "now" }, r), h("td", {}, diff ? (x ? (y ? "changed" : "gone now") : "new since") : ""));
    });
    return h("div", { "data-section": title }, h("h3", {}, title + " (" + a.length + " then, " + n.length + " now)"),
      rows.length ? table(["", "Then", "Now", ""], rows, { class: "keep" }) : h("p", { class: "muted" }, "None."));
  };
  const scalar = (label, l, r) => h("tr", { class: l !== r ? "diff" : null }, h("th", { scope: "row" }, label), h("td", { class: "at" }, l), h("td", { class: "now" }, r), h("td", {}, l !== r ? "changed" : ""));
  const runs = (m) => Object.entries(m || {}).map(([k, v]) => k + " " + v).join(", ") || "none";
  const kinds = (m) => Object.entries(m || {}).map(([k, v]) => k + " " + bytes(v)).join(", ");
  return h("div", { class: "compare" },
    table(["", "Then", "Now", ""], [
      scalar("Position", "#" + at.position, "#" + now.position),
      scalar("Scheduler", at.scheduler_running ? "running" : "stopped", now.scheduler_running ? "running" : "stopped"),
      scalar("Runs", runs(at.runs), runs(now.runs)),
      scalar("Storage", kinds(at.bytes_by_kind), kinds(now.bytes_by_kind)),
      scalar("Tokens", at.tokens.join(", ") || "none", now.tokens.join(", ") || "none"),
    ], { id: "state-summary", class: "keep" }),
    section("Jobs", "id", at.jobs, now.jobs, jobRow),
    section("Backups", "id", at.backups, now.backups, backupRow));
}

// ---------- reports ----------
// Runs per day (the scheduler's zone), succeeded above failed: the performance history.
function runsChart(runs) {
  const days = new Map();
  const dayOf = new Intl.DateTimeFormat("en-CA", { timeZone: S.zone, year: "numeric", month: "2-digit", day: "2-digit" });
  for (const r of runs) {
    if (r.status === "running" || r.status === "queued") continue;
    const d = dayOf.format(new Date(r.started_at));
    const e = days.get(d) || { ok: 0, bad: 0, ms: 0 };
    if (r.status === "succeeded") e.ok++; else e.bad++;
    e.ms += r.duration_ms || 0;
    days.set(d, e);
  }
  const list = [...days.entries()].sort().slice(-30);
  if (!list.length) return h("p", { class: "muted" }, "No finished run yet.");
  const W = 600, H = 140;
  const top = Math.max(1, ...list.map(([, e]) => e.ok + e.bad));
  const bw = Math.min(40, W / list.length);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H + 20}`, preserveAspectRatio: "xMinYMid meet", role: "img", "aria-label": "runs per day, succeeded and failed", class: "chart" });
  list.forEach(([d, e], i) => {
    const okH = (e.ok / top) * H, badH = (e.bad / top) * H;
    const title = d + ": " + e.ok + " succeeded, " + e.bad + " failed, average " + duration(Math.round(e.ms / (e.ok + e.bad)));
    const g = s("g", {}, s("title", {}, document.createTextNode(title)));
    if (okH) g.append(s("rect", { x: i * bw + 1, y: H - okH, width: Math.max(1, bw - 2), height: okH, class: "k-ok" }));
    if (badH) g.append(s("rect", { x: i * bw + 1, y: H - okH - badH, width: Math.max(1, bw - 2), height: badH, class: "k-bad" }));
    svg.append(g);
  });
  svg.append(s("text", { x: 0, y: H + 16, class: "axis" }, document.createTextNode(list[0][0] + " – " + list[list.length - 1][0] + " · max " + top + " runs/day")));
  return h("div", {}, svg, h("p", { class: "legend" }, h("span", { class: "key k-ok" }, "Succeeded"), h("span", { class: "key k-bad" }, "Failed, interrupted, cancelled")));
}

async function reports(root) {
  const [list, st, recent] = await Promise.all([api("GET", "/reports?limit=100"), api("GET", "/scheduler/status"), api("GET", "/runs?kind=backup&limit=1000")]);
  const f = st.stats || {};
  fill(root, h("h1", {}, "Reports"),
    h("section", { class: "card" }, h("h2", {}, "Runs per day (last 1000 runs)"), runsChart(recent.runs)),
    h("section", { class: "card" }, h("h2", {}, "Performance"), h("dl", { class: "figures" },
      h("dt", {}, "Average run"), h("dd", {}, duration(f.average_duration_ms)),
      h("dt", {}, "Last backup"), h("dd", {}, bytes(f.last_backup_bytes)),
      h("dt", {}, "Success 24 h / 7 d"), h("dd", {}, pct(f.success_rate_24h) + " / " + pct(f.success_rate_7d)))),
    list.reports.length ? table(["Report", "Created", "Size", "Expires"], list.reports.map((r) => h("tr", {},
      h("td", {}, h("a", { href: "#/report/" + encodeURIComponent(r.id) }, r.id)), h("td", {}, when(r.created_at)), h("td", {}, bytes(r.bytes)), h("td", {}, r.expires_at ? when(r.expires_at) : "never"))))
      : h("p", { class: "muted" }, "No report yet: the daily report job writes one a day."));
}
// A report opened in place: its figures, from its JSON (its HTML page is a file of its own).
async function report(root, args) {
  const r = await api("GET", "/reports/" + encodeURIComponent(args[0]));
  const show = (k, v, path) => v === null ? "–" : typeof v === "boolean" ? (v ? "yes" : "no")
    : /bytes|^storage\./.test(path + k) && typeof v === "number" ? bytes(v)
    : /_ms$/.test(k) ? duration(v) : /success_rate/.test(k) ? pct(v)
    : /(_at|^at|^from|^to|time)$/.test(k) ? when(v) : String(v);
  // An array of objects is a table of its own, folded: the report's lists (runs per job, ...).
  const list = (k, v) => {
    if (!v.length) return "none";
    if (typeof v[0] !== "object") return v.join(", ");
    const cols = Object.keys(v[0]);
    return h("details", {}, h("summary", {}, v.length + " items"),
      table(cols, v.map((o) => h("tr", {}, cols.map((c) => h("td", {}, o[c] !== null && typeof o[c] === "object" ? JSON.stringify(o[c]) : show(c, o[c], k + ".")))))));
  };
  const rows = (obj, prefix) => Object.entries(obj || {}).flatMap(([k, v]) => v && typeof v === "object" && !Array.isArray(v) ? rows(v, prefix + k + ".")
    : [h("tr", {}, h("th", { scope: "row" }, prefix + k), h("td", {}, Array.isArray(v) ? list(k, v) : show(k, v, prefix)))]);
  fill(root, h("h1", {}, "Report " + args[0]), h("p", {}, h("a", { href: "#/reports" }, "All reports")), table(["Figure", "Value"], rows(r, "")));
}
