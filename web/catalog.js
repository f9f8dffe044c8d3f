// backupd dashboard, runs and backups: history, the file tree, restore, forget (see core.js for how the pages are built).
"use strict";

// ---------- runs ----------
async function runs(root) {
  const q = new URLSearchParams(location.hash.split("?")[1] || "");
  const jobSel = h("input", { id: "runs-job", value: q.get("job_id") || "", placeholder: "job id" });
  const statusSel = h("select", { id: "runs-status" }, ["", "running", "queued", "succeeded", "failed", "interrupted", "cancelled"].map((v) => h("option", { value: v, selected: v === (q.get("status") || "") }, v || "any")));
  const kindSel = h("select", { id: "runs-kind" }, ["", "backup", "restore"].map((v) => h("option", { value: v, selected: v === (q.get("kind") || "") }, v || "any")));
  const box = h("div", {});
  const load = async () => {
    const p = new URLSearchParams();
    if (jobSel.value) p.set("job_id", jobSel.value);
    if (statusSel.value) p.set("status", statusSel.value);
    if (kindSel.value) p.set("kind", kindSel.value);
    p.set("limit", "200");
    const data = await api("GET", "/runs?" + p);
    fill(box, table(["Run", "Job", "Status", "Started", "Took", "Size", "Problems"], data.runs.map((r) => h("tr", {},
      h("td", {}, h("small", {}, h("a", { href: "#/run/" + encodeURIComponent(r.run_id) }, r.run_id)), h("br"), h("small", { class: "muted" }, r.kind + " · " + (r.reason || "") + " · " + (r.actor || ""))),
      h("td", {}, r.job_name || r.job_id || (r.paths ? "restore " + (r.target || "in place") : "")),
      h("td", {}, badge(r.status), r.status === "running" ? progressBar(r) : null),
      h("td", {}, when(r.started_at)),
      h("td", {}, duration(r.duration_ms)),
      h("td", {}, bytes(r.bytes) + " · " + r.files + " files", r.backup_id ? [h("br"), h("a", { href: "#/backup/" + encodeURIComponent(r.backup_id) }, r.backup_id)] : null),
      h("td", {}, r.error ? h("span", { class: "error" }, r.error) : null,
        r.warnings_total ? h("details", {}, h("summary", {}, r.warnings_total + " warnings"), h("ul", {}, r.warnings.map((w) => h("li", {}, w.path + ": " + w.reason)))) : null,
        r.note ? h("small", { class: "muted" }, r.note) : null,
        r.status === "running" ? btn("Cancel", "operate", () => act("Cancel", () => api("POST", "/runs/" + encodeURIComponent(r.run_id) + "/cancel"))) : null)))));
  };
  const form = h("form", { class: "filters" }, field("Job", jobSel), field("Status", statusSel), field("Kind", kindSel), h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (e) => { e.preventDefault(); load(); });
  fill(root, h("h1", {}, "Runs"), form, box);
  await load();
  every(2000, () => { if (box.querySelector("progress")) load(); });
}

// ---------- backups ----------
async function backups(root) {
  const data = await api("GET", "/backups?limit=500");
  fill(root, h("h1", {}, "Backups"), table(["Backup", "Job", "Kind", "Created", "Size", "Expires", "Verified", "Actions"], data.backups.map((b) => h("tr", { "data-backup": b.id },
    h("td", {}, h("a", { href: "#/backup/" + encodeURIComponent(b.id) }, b.id)),
    h("td", {}, b.job_id), h("td", {}, b.kind), h("td", {}, when(b.created_at)),
    h("td", {}, bytes(b.size)), h("td", {}, b.expires_at ? when(b.expires_at) : "never"),
    h("td", {}, b.last_verified ? badge(b.last_verified.ok ? "ok" : "failed") : "–"),
    h("td", { class: "actions" },
      btn("Verify", "operate", () => act("Verify " + b.id, () => api("POST", "/backups/" + encodeURIComponent(b.id) + "/verify"))),
      btn("Forget", "manage", () => forget(b.id)))))));
}

// Forget a backup after a confirmation; a refusal that `force` would lift (the job's newest good
// full, say) is shown and asked again, never forced silently.
function forget(id, then) {
  if (!confirm("Forget backup " + id + " and delete its files?")) return;
  act("Forget " + id, async () => {
    const path = "/backups/" + encodeURIComponent(id);
    try {
      await api("DELETE", path);
    } catch (e) {
      if (!(e.status === 409 || e.status === 422) || !/force/.test(e.message) || !confirm(e.message + "\n\nForget it anyway?")) throw e;
      await api("DELETE", path, { force: true, reason: "forgotten from the dashboard, forced" });
    }
    if (then) then();
  });
}

async function backup(root, args) {
  const id = args[0];
  const b = await api("GET", "/backups/" + encodeURIComponent(id));
  const selected = new Set();
  const count = h("span", { id: "selected-count" }, "0 selected");
  const tree = h("ul", { class: "tree", id: "tree", role: "tree" });
  const node = (e) => {
    // Ticking is for restoring: no box for a token that may not restore.
    const box = !can("restore") ? "" : h("input", { type: "checkbox", "aria-label": "select " + e.path, "data-path": e.path, onchange: (ev) => { ev.target.checked ? selected.add(e.path) : selected.delete(e.path); count.textContent = selected.size + " selected"; } });
    const li = h("li", { role: "treeitem", "data-entry": e.path });
    if (e.kind === "dir") {
      const kids = h("ul", { role: "group" });
      const open = h("button", { type: "button", class: "twisty", "aria-expanded": "false", "data-open": e.path }, "▸ " + e.name);
      open.addEventListener("click", async () => {
        if (open.getAttribute("aria-expanded") === "true") { fill(kids); open.setAttribute("aria-expanded", "false"); open.textContent = "▸ " + e.name; return; }
        open.setAttribute("aria-expanded", "true");
        open.textContent = "▾ " + e.name;
        await listInto(kids, e.path);
      });
      li.append(box, " ", open, kids);
    } else {
      li.append(box, " ", h("span", {}, e.name), h("small", { class: "muted" }, " " + e.kind + " · " + bytes(e.size) + " · " + when(e.mtime)));
    }
    return li;
  };
  const listInto = async (ul, path) => {
    let after = null;
    const items = [];
    do {
      const p = new URLSearchParams({ limit: "1000" });
      if (path) p.set("path", path);
      if (after) p.set("after", after);
      const page = await api("GET", "/backups/" + encodeURIComponent(id) + "/files?" + p);
      items.push(...page.entries);
      after = page.next;
    } while (after && items.length < 5000);
    fill(ul, ...items.map(node));
  };
  const target = h("input", { id: "restore-target", placeholder: "/absolute/directory/on/the/server", spellcheck: "false" });
  const out = h("p", { id: "restore-result", role: "status" });
  const restoreForm = can("restore") ? h("form", { class: "card", id: "restore-form" }, h("h2", {}, "Restore"),
    h("p", {}, "Restores the selected paths (none selected: everything) into a directory on the server."),
    field("Target directory", target), count, " ", h("button", { type: "submit", id: "restore-go" }, "Restore"), out) : null;
  if (restoreForm) {
    restoreForm.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      out.textContent = "Restoring…";
      try {
        const body = { target: target.value.trim() };
        if (selected.size) body.paths = [...selected];
        const r = await api("POST", "/backups/" + encodeURIComponent(id) + "/restore", body);
        out.textContent = "Restored " + (r.files ?? "") + " files, " + bytes(r.bytes) + " to " + (r.target || body.target) + (r.run_id ? " (run " + r.run_id + ")" : "");
        out.className = "ok";
      } catch (e) {
        out.textContent = e.message + (e.body && e.body.error && e.body.error.field ? " (" + e.body.error.field + ")" : "");
        out.className = "error";
      }
    });
  }
  fill(root, h("h1", {}, "Backup " + id),
    h("p", {}, b.kind + " of " + b.job_id + " · " + when(b.created_at) + " · " + bytes(b.size) + (b.parent ? " · based on " + b.parent : "")),
    h("p", { class: "actions" }, btn("Verify", "operate", () => act("Verify", () => api("POST", "/backups/" + encodeURIComponent(id) + "/verify"))),
      btn("Forget", "manage", () => forget(id, () => { location.hash = "#/backups"; }))),
    h("div", { class: "grid" }, h("section", { class: "card wide" }, h("h2", {}, "Files"), tree), restoreForm));
  await listInto(tree, "");
}
