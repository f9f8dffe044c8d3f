// backupd dashboard, the jobs: list, form, live preview (see core.js for how the pages are built).
"use strict";

// ---------- jobs ----------
const CRON_FIELDS = ["minute", "hour", "day", "month", "day_of_week"];
function cronText(cfg) {
  if (cfg.cron) return cfg.cron;
  return CRON_FIELDS.map((f) => (cfg[f] === undefined ? (f === "minute" && cfg.hour !== undefined ? "0" : "*") : String(cfg[f]))).join(" ");
}
async function previewInto(box, jobId) {
  try {
    const p = await api("GET", "/scheduler/jobs/" + encodeURIComponent(jobId) + "/preview?count=5");
    const times = p.times || p.fire_times || p.next || [];
    fill(box, h("h3", {}, "Next fire times (" + (p.timezone || S.zone) + ")"),
      h("ol", { class: "fire-times", "data-job": jobId }, times.map((t) => h("li", {}, when(typeof t === "string" ? t : t.at)))),
      p.paused ? h("p", { class: "muted" }, "The job is paused: nothing fires until it is resumed.") : null,
      p.scheduler_running === false ? h("p", { class: "muted" }, "The scheduler is stopped.") : null);
  } catch (e) {
    fill(box, h("p", { class: "error" }, e.message));
  }
}

async function jobForm(root, job) {
  const sources = (await api("GET", "/sources").catch(() => ({ sources: [] }))).sources;
  const cfg = (job && job.backup_config) || { type: "files", options: {} };
  const opts = cfg.options || {};
  const tt = (job && job.trigger_type) || "cron";
  const tc = (job && job.trigger_config) || {};
  const name = h("input", { id: "job-name", required: true, value: job ? job.name : "" });
  if (job) name.disabled = true;
  const trigType = h("select", { id: "job-trigger-type" }, ["cron", "interval"].map((t) => h("option", { value: t, selected: t === tt }, t)));
  const cron = h("input", { id: "job-cron", value: job && tt === "cron" ? cronText(tc) : "0 3 * * *", spellcheck: "false", "aria-describedby": "cron-help" });
  const every_ = h("input", { id: "job-interval", type: "number", min: "1", value: tt === "interval" ? (tc.minutes || tc.hours || tc.days || tc.seconds || 1) : 60 });
  const unit = h("select", { id: "job-interval-unit" }, ["seconds", "minutes", "hours", "days"].map((u) => h("option", { value: u, selected: tt === "interval" ? tc[u] !== undefined : u === "minutes" }, u)));
  const type = h("select", { id: "job-type" }, ["files", "database", "full"].map((t) => h("option", { value: t, selected: t === cfg.type }, t)));
  const mode = h("select", { id: "job-mode" }, ["full", "incremental"].map((t) => h("option", { value: t, selected: t === (cfg.mode || "full") }, t)));
  const compression = h("select", { id: "job-compression" }, ["", "zstd", "xz", "gzip", "none"].map((t) => h("option", { value: t, selected: t === (opts.compression || "") }, t || "(default)")));
  const chosen = new Set(opts.sources || []);
  const srcBoxes = sources.map((src) => h("label", { class: "check" }, h("input", { type: "checkbox", value: src.name, checked: chosen.has(src.name), "data-source": src.name }), " " + src.name + " (" + src.kind + ")"));
  const hooks = (job && job.hooks) || {};
  const hook = (k) => h("input", { id: "job-hook-" + k, value: hooks[k] ? JSON.stringify(hooks[k]) : "", placeholder: '["cmd","arg"]', spellcheck: "false" });
  const hb = hook("before"), ha = hook("after"), hf = hook("on_failure");
  const preview = h("div", { id: "job-preview", "aria-live": "polite" });
  const live = h("div", { id: "job-live-preview", "aria-live": "polite" });
  const err = h("p", { class: "error", role: "alert" });
  const trigRows = h("div", {});
  const showTrig = () => {
    const t = trigType.value;
    fill(trigRows, t === "cron" ? field("Cron expression (min hour day month weekday)", cron)
      : h("div", { class: "row" }, field("Every", every_), field("Unit", unit)));
  };
  // The next five fire times as the operator types (the trigger parsed by the server, unsaved).
  let typing = null;
  const livePreview = () => {
    clearTimeout(typing);
    typing = setTimeout(async () => {
      const t = trigType.value;
      const cfg = t === "cron" ? { cron: cron.value.trim() } : { [unit.value]: Number(every_.value) };
      try {
        const p = await api("GET", "/scheduler/preview?" + new URLSearchParams({ trigger_type: t, trigger_config: JSON.stringify(cfg), count: "5" }));
        fill(live, h("h3", {}, "Would fire at (" + p.timezone + ")"),
          p.fire_times.length ? h("ol", { class: "fire-times live" }, p.fire_times.map((x) => h("li", {}, when(x)))) : h("p", { class: "muted" }, "Never."));
      } catch (e) {
        fill(live, h("p", { class: "error" }, e.message));
      }
    }, 250);
  };
  trigType.addEventListener("change", () => { showTrig(); livePreview(); });
  for (const el of [cron, every_, unit]) el.addEventListener("input", livePreview);
  showTrig();
  livePreview();
  const body = () => {
    const t = trigType.value;
    const trigger_config = t === "cron" ? { cron: cron.value.trim() } : { [unit.value]: Number(every_.value) };
    const options = {};
    const picked = srcBoxes.map((l) => l.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
    if (picked.length) options.sources = picked;
    if (compression.value) options.compression = compression.value;
    const b = { trigger_type: t, trigger_config, backup_config: { type: type.value, mode: mode.value, options } };
    const hk = {};
    for (const [k, el] of [["before", hb], ["after", ha], ["on_failure", hf]]) {
      if (el.value.trim()) hk[k] = JSON.parse(el.value);
    }
    if (Object.keys(hk).length) b.hooks = hk;
    if (!job) b.name = name.value.trim();
    return b;
  };
  const form = h("form", { id: "job-form", class: "card" },
    h("h2", {}, job ? "Edit " + job.name : "New job"),
    field("Name", name), field("Trigger", trigType), trigRows,
    h("p", { id: "cron-help", class: "muted" }, "Times are in the scheduler's zone, " + S.zone + "."), live,
    h("div", { class: "row" }, field("What", type), field("Mode", mode), field("Compression", compression)),
    srcBoxes.length ? h("fieldset", {}, h("legend", {}, "Sources (none ticked: by category)"), srcBoxes) : null,
    h("fieldset", {}, h("legend", {}, "Hooks (argv as JSON arrays)"), field("Before", hb), field("After", ha), field("On failure", hf)),
    h("button", { type: "submit", id: "job-save" }, job ? "Save" : "Create"), err, preview);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    err.textContent = "";
    try {
      const b = body();
      const saved = job
        ? await api("PUT", "/scheduler/jobs/" + encodeURIComponent(job.id), b, { "If-Match": '"' + job.version + '"' })
        : await api("POST", "/scheduler/jobs", b);
      const id = (saved.job && saved.job.id) || saved.id || (job && job.id);
      toast((job ? "Saved " : "Created ") + id);
      await previewInto(preview, id);
      if (!job) { form.querySelector("#job-save").disabled = true; }
      refreshJobList();
    } catch (e) {
      err.textContent = e.message + (e.body && e.body.error && e.body.error.field ? " (" + e.body.error.field + ")" : "");
    }
  });
  if (job) previewInto(preview, job.id);
  fill(root, form);
  name.focus();
}

let refreshJobList = () => {};
async function jobs(root, args) {
  const list = h("div", { id: "job-list" });
  const formBox = h("div", {});
  const runsBox = h("div", { id: "job-runs" });
  fill(root, h("h1", {}, "Jobs"), btn("New job", "manage", () => jobForm(formBox, null), { id: "new-job" }), formBox, runsBox, list);
  const watch = async () => {
    const ids = Object.keys(S.watch);
    if (!ids.length) return;
    const rows = [];
    for (const id of ids) {
      try {
        const r = await api("GET", "/runs/" + encodeURIComponent(id));
        rows.push(h("li", {}, h("strong", {}, r.job_name || r.job_id), " ", badge(r.status), " ", progressBar(r)));
        if (r.status !== "running" && r.status !== "queued") S.watch[id] = "done";
      } catch (_) { /* gone */ }
    }
    fill(runsBox, h("section", { class: "card" }, h("h2", {}, "Runs started here"), h("ul", { class: "flying" }, rows)));
  };
  refreshJobList = async () => {
    const data = await api("GET", "/scheduler/jobs");
    fill(list, table(["Job", "Trigger", "Next run", "Last run", "State", "Actions"], data.jobs.map((j) => h("tr", { "data-job": j.id },
      h("td", {}, h("strong", {}, j.name), h("br"), h("small", { class: "muted" }, j.id + " · " + (j.backup_mode || j.action))),
      h("td", {}, j.trigger_type + " " + (j.trigger_type === "cron" ? cronText(j.trigger_config) : JSON.stringify(j.trigger_config))),
      h("td", {}, when(j.next_run_time)),
      h("td", {}, j.last_run ? [badge(j.last_run.status), " " + when(j.last_run.started_at)] : "–"),
      h("td", {}, j.paused ? badge("paused") : j.running ? badge("running") : "active"),
      h("td", { class: "actions" },
        btn("Run now", "operate", () => act("Run " + j.name, async () => {
          const r = await api("POST", "/scheduler/jobs/" + encodeURIComponent(j.id) + "/run");
          const id = r.run_id || (r.run && r.run.run_id);
          if (id) S.watch[id] = "watch";
        }), { class: "run", "data-run-job": j.id }),
        j.running ? btn("Cancel", "operate", () => act("Cancel", () => api("POST", "/runs/" + encodeURIComponent(j.running) + "/cancel"))) : null,
        j.paused ? btn("Resume", "operate", () => act("Resume", () => api("POST", "/scheduler/jobs/" + encodeURIComponent(j.id) + "/resume")))
          : btn("Pause", "operate", () => act("Pause", () => api("POST", "/scheduler/jobs/" + encodeURIComponent(j.id) + "/pause"))),
        btn("Edit", "manage", () => jobForm(formBox, j)),
        btn("Preview", null, () => { const box = h("div", {}); fill(formBox, h("section", { class: "card" }, box)); previewInto(box, j.id); }),
        btn("Delete", "manage", () => { if (confirm("Delete job " + j.name + "?")) act("Delete", () => api("DELETE", "/scheduler/jobs/" + encodeURIComponent(j.id))); }))))));
  };
  await refreshJobList();
  await watch();
  every(1000, () => { watch(); });
  if (args[0] === "new" && can("manage")) jobForm(formBox, null);
}
