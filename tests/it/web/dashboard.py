"""The dashboard in headless Chromium, driven by Playwright (run by tests/it/web.rs).

Environment: BASE (http://127.0.0.1:PORT), ADMIN and READER (tokens), TARGET (a restore
directory), FILE (the original path of the file to restore), JOB (the job to create), SHOTS
(the screenshot directory). MODE=bench measures the overview instead: TOKEN, RUNS_EXPECTED. MODE=history
checks the History page (see `history`), MODE=perf the Performance page and a run's (see `perf`).
Prints one JSON object of findings on stdout; any failed expectation raises (exit 1).
"""
import json
import os
import re
import sys
import time
from urllib.parse import quote, urlparse

from playwright.sync_api import expect, sync_playwright

BASE = os.environ["BASE"]
SHOTS = os.environ.get("SHOTS", "target/web-screenshots")
WIDTHS = {"1280": {"width": 1280, "height": 900}, "390": {"width": 390, "height": 844}}
found = {"outside_requests": [], "console_errors": []}


def guard(context):
    """Every request the pages make: anything not for 127.0.0.1 is recorded and aborted."""

    def check(route):
        host = urlparse(route.request.url).hostname
        if route.request.url.startswith("data:") or host == "127.0.0.1":
            route.continue_()
        else:
            found["outside_requests"].append(route.request.url)
            route.abort()

    context.route("**/*", check)


def new_page(browser, width, token=None):
    context = browser.new_context(viewport=WIDTHS[width])
    guard(context)
    if token:
        # What the login form stores: the tab's session, not the browser's.
        context.add_init_script(f"sessionStorage.setItem('backupd.token', {json.dumps(token)})")
    page = context.new_page()
    # A refused login is a logged 401 by design; anything else (a CSP refusal, say) is a finding.
    page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in m.text
            and found["console_errors"].append(m.text))
    page.on("pageerror", lambda e: found["console_errors"].append(str(e)))
    return page


def wait_js(page, expression, timeout=30.0):
    """Poll `expression` until true (wait_for_function would `eval` in the page: the CSP says no)."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"never true: {expression}"
        time.sleep(0.02)


def shot(page, name, width):
    os.makedirs(SHOTS, exist_ok=True)
    page.screenshot(path=f"{SHOTS}/{name}-{width}.png", full_page=True)


def flow(browser):
    admin, reader = os.environ["ADMIN"], os.environ["READER"]
    job, target, file = os.environ["JOB"], os.environ["TARGET"], os.environ["FILE"]
    page = new_page(browser, "1280")
    page.goto(BASE + "/")
    # Log in through the form.
    expect(page.locator("#login")).to_be_visible()
    shot(page, "login", "1280")
    page.fill("#token", "bkpd_not_a_real_token")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).not_to_be_empty()
    page.fill("#token", admin)
    page.press("#token", "Enter")
    expect(page.locator("#scheduler-state")).to_have_text("Running")
    expect(page.locator("#who")).to_contain_text("admin")
    assert page.evaluate("sessionStorage.getItem('backupd.token')") == admin
    assert page.evaluate("localStorage.length") == 0, "the token must not outlive the tab"

    # Create a job through the form; its next fire times show.
    page.click("a[data-page=jobs]")
    page.click("#new-job")
    page.fill("#job-name", job)
    page.select_option("#job-trigger-type", "cron")
    page.fill("#job-cron", "15 4 * * *")
    # Previewed as typed, before anything is saved...
    expect(page.locator("#job-live-preview li")).to_have_count(5)
    expect(page.locator("#job-live-preview li").first).to_contain_text("04:15:00")
    page.fill("#job-cron", "15 4 * * * nonsense")
    expect(page.locator("#job-live-preview .error")).to_be_visible()
    page.fill("#job-cron", "15 4 * * *")
    expect(page.locator("#job-live-preview li")).to_have_count(5)
    page.select_option("#job-type", "files")
    page.click("#job-save")
    # ...and the saved job's own preview.
    times = page.locator(f"ol.fire-times[data-job='{job}'] li")
    expect(times).to_have_count(5)
    found["fire_times"] = times.all_inner_texts()
    # "15 4 * * *" in the scheduler's zone, shown in that zone: five days at 04:15:00, in order.
    for t in found["fire_times"]:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2} 04:15:00", t), found["fire_times"]
    assert sorted(found["fire_times"]) == found["fire_times"] and len(set(found["fire_times"])) == 5
    shot(page, "jobs-form", "1280")

    # Run it and watch its progress bar reach the end.
    row = page.locator(f"tr[data-job='{job}']")
    expect(row).to_be_visible()
    row.locator("button.run").click()
    bar = page.locator("#job-runs progress")
    expect(bar).to_have_count(1)
    expect(bar).to_have_attribute("data-status", "succeeded", timeout=60_000)
    found["bar"] = {"value": bar.get_attribute("value"), "max": bar.get_attribute("max")}
    assert found["bar"]["value"] == found["bar"]["max"], found["bar"]
    expect(page.locator("#job-runs")).to_contain_text("done")
    shot(page, "jobs", "1280")

    # Pause, resume and edit: each a call to the API, the list showing the result.
    row = page.locator(f"tr[data-job='{job}']")
    row.locator("text=Pause").click()
    expect(page.locator(f"tr[data-job='{job}'] .badge.paused")).to_be_visible()
    page.locator(f"tr[data-job='{job}']").locator("text=Resume").click()
    expect(page.locator(f"tr[data-job='{job}']")).to_contain_text("active")
    page.locator(f"tr[data-job='{job}']").locator("text=Edit").click()
    expect(page.locator("#job-cron")).to_have_value("15 4 * * *")
    page.fill("#job-cron", "30 5 * * *")
    expect(page.locator("#job-live-preview li").first).to_contain_text("05:30:00")
    page.click("#job-save")
    expect(page.locator(f"ol.fire-times[data-job='{job}'] li").first).to_contain_text("05:30:00")
    expect(page.locator(f"tr[data-job='{job}']")).to_contain_text("cron 30 5 * * *")

    # Browse its backup and restore one file.
    page.click("a[data-page=runs]")
    page.select_option("#runs-status", "succeeded")
    page.click(".filters button[type=submit]")
    link = page.locator("a[href^='#/backup/']").first
    expect(link).to_be_visible()
    shot(page, "runs", "1280")
    page.click("a[data-page=backups]")
    expect(page.locator("tr[data-backup]").first).to_be_visible()
    shot(page, "backups", "1280")
    page.locator(f"tr[data-backup] a").first.click()
    expect(page.locator("#tree > li").first).to_be_visible()
    # Verify it from its page.
    page.locator("#page .actions button", has_text="Verify").click()
    expect(page.locator("#toast")).to_contain_text("Verify: done", timeout=60_000)
    expect(page.locator("#tree > li").first).to_be_visible()
    # Open each directory on the way down to the file.
    parts = file.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        path = "/" + "/".join(parts[:depth])
        if page.locator(f"[data-path='{path}']").count():
            if depth == len(parts):
                break
            opener = page.locator(f"button[data-open='{path}']")
            if opener.count() and opener.get_attribute("aria-expanded") == "false":
                opener.click()
        elif page.locator(f"button[data-open]").count():
            # the top level names a source's whole path: open the one holding the file
            for b in page.locator("button[data-open]").all():
                p = b.get_attribute("data-open")
                if file.startswith(p + "/") and b.get_attribute("aria-expanded") == "false":
                    b.click()
    box = page.locator(f"input[data-path='{file}']")
    expect(box).to_be_visible()
    box.check()
    expect(page.locator("#selected-count")).to_have_text("1 selected")
    page.fill("#restore-target", target)
    page.click("#restore-go")
    expect(page.locator("#restore-result")).to_contain_text("Restored", timeout=60_000)
    found["restore"] = page.locator("#restore-result").inner_text()
    shot(page, "backup", "1280")

    # The audit view: step back to the position before the job existed.
    page.click("a[data-page=audit]")
    created = page.locator("li[data-type='job_created']").filter(has_text=job)
    expect(created).to_have_count(1)
    position = int(created.get_attribute("data-position"))
    created.locator("button.state-at").click()
    view = page.locator("#state-view")
    expect(view.locator("h2")).to_contain_text(f"#{position}")
    row = view.locator(f"[data-section=Jobs] tr[data-id='{job}']")
    expect(row).to_have_attribute("data-side-at", "present")
    view.locator("#state-prev").click()
    expect(view.locator("h2")).to_contain_text(f"#{position - 1}")
    row = view.locator(f"[data-section=Jobs] tr[data-id='{job}']")
    expect(row).to_have_attribute("data-side-at", "absent")
    expect(row).to_have_class("diff")
    expect(row.locator("td.at")).to_have_text("—")
    found["audit"] = {"created_at": position, "stepped_to": position - 1}
    # The filters are the server's (GET /events?type=...&job=...): only what they select is
    # listed, newest first.
    page.locator("#audit-type").fill("job_created")
    expect(page.locator("li[data-type]").first).to_have_attribute("data-type", "job_created")
    expect(page.locator("li[data-type]:not([data-type='job_created'])")).to_have_count(0)
    page.locator("#audit-job").fill(job)
    expect(page.locator("li[data-type]")).to_have_count(1)
    expect(page.locator("li[data-type]")).to_have_attribute("data-position", str(position))
    page.locator("#audit-type").fill("job_created,job_paused,job_resumed")
    kinds = page.locator("li[data-type]")
    expect(kinds).to_have_count(3)
    listed = [int(p) for p in kinds.evaluate_all("l => l.map(e => e.dataset.position)")]
    assert listed == sorted(listed, reverse=True), listed
    # A type the log does not know is refused by the server, the field marked, the list kept.
    page.locator("#audit-type").fill("job_exploded")
    expect(page.locator("#audit-type")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#audit-status")).to_contain_text("job_exploded")
    expect(page.locator("li[data-type]")).to_have_count(3)
    page.locator("#audit-type").fill("job_created")
    expect(page.locator("li[data-type]")).to_have_count(1)
    found["audit_filtered"] = listed
    shot(page, "audit", "1280")
    page.locator("#audit-job").fill("")
    page.locator("#audit-type").fill("")

    # A report, written by the daily report job run from its row, opened in place.
    page.click("a[data-page=jobs]")
    page.locator("tr[data-job='daily_report'] button.run").click()
    expect(page.locator("#job-runs progress[data-status=succeeded]")).to_have_count(2, timeout=60_000)
    page.click("a[data-page=reports]")
    expect(page.locator("#page h1")).to_have_text("Reports")
    link = page.locator("a[href^='#/report/']")
    expect(link).to_have_count(1)
    shot(page, "reports", "1280")
    report_id = link.inner_text()
    link.click()
    expect(page.locator("#page h1")).to_have_text(f"Report {report_id}")
    # The report's own figures, in place: its time and the day's success rate, with units.
    expect(page.locator("#page th[scope=row]", has_text="generated_at")).to_have_count(1)
    expect(page.locator("#page tr", has_text="last_24h.success_rate")).to_contain_text("100.0 %")
    found["report_rows"] = page.locator("#page table tbody tr").count()
    shot(page, "report", "1280")
    page.click("a[data-page=overview]")
    expect(page.locator("#scheduler-state")).to_have_text("Running")
    # Stop the scheduler: the overview says who stopped it and when; then start it again.
    page.locator("#page button", has_text="Stop scheduler").click()
    expect(page.locator("#scheduler-state")).to_have_text("Stopped")
    expect(page.locator("#stopped-by")).to_contain_text("Stopped by api:admin at ")
    shot(page, "overview-stopped", "1280")
    page.locator("#page button", has_text="Start scheduler").click()
    expect(page.locator("#scheduler-state")).to_have_text("Running")
    expect(page.locator("#stopped-by")).to_be_empty()
    expect(page.locator("#next-runs table")).to_be_visible()
    shot(page, "overview", "1280")
    # Keyboard: on a fresh load the first Tab reaches the skip link, the next ones the sections,
    # and Enter on one opens it.
    page.reload()
    expect(page.locator("#scheduler-state")).to_be_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.page") == "overview"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#job-list table")).to_be_visible()
    page.context.close()

    # Every page at 390 px: nothing wider than the window.
    page = new_page(browser, "390", admin)
    for name, ready in [("overview", "#scheduler-state"), ("jobs", "#job-list table"),
                        ("runs", "#runs-status"), ("backups", "tr[data-backup]"),
                        ("audit", "li[data-type]"), ("reports", "#page h1")]:
        page.goto(f"{BASE}/#/{name}")
        expect(page.locator(ready).first).to_be_visible()
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} is {overflow} px wider than 390 px"
        shot(page, name, "390")
    page.goto(f"{BASE}/#/backups")
    page.locator("tr[data-backup] a").first.click()
    expect(page.locator("#tree > li").first).to_be_visible()
    shot(page, "backup", "390")
    page.goto(f"{BASE}/#/jobs/new")
    expect(page.locator("#job-live-preview li")).to_have_count(5)
    assert page.evaluate("document.documentElement.scrollWidth - window.innerWidth") <= 0
    shot(page, "jobs-form", "390")
    page.context.close()

    # A read token sees no run button (nor any other change).
    page = new_page(browser, "1280", reader)
    page.goto(f"{BASE}/#/jobs")
    expect(page.locator(f"tr[data-job='{job}']")).to_be_visible()
    expect(page.locator("#who")).to_contain_text("viewer")
    shot(page, "reader-jobs", "1280")
    for control in ["button.run", "#new-job", "text=Delete", "text=Pause", "text=Edit"]:
        expect(page.locator(control)).to_have_count(0)
    page.goto(f"{BASE}/#/backups")
    expect(page.locator("tr[data-backup]").first).to_be_visible()
    expect(page.locator("text=Forget")).to_have_count(0)
    expect(page.locator("text=Verify")).to_have_count(0)
    page.locator("tr[data-backup] a").first.click()
    expect(page.locator("#tree > li").first).to_be_visible()
    expect(page.locator("#restore-form")).to_have_count(0)
    expect(page.locator("#tree input[type=checkbox]")).to_have_count(0)
    shot(page, "reader-backup", "1280")
    page.context.close()

    # Forget the backup (after a confirmation), as admin: gone from the list.
    page = new_page(browser, "1280", admin)
    page.on("dialog", lambda d: (found.setdefault("dialogs", []).append(d.message), d.accept()))
    page.goto(f"{BASE}/#/backups")
    row = page.locator("tr[data-backup]").filter(has_text=job)
    expect(row).to_have_count(1)
    found["forgotten"] = row.get_attribute("data-backup")
    row.locator("text=Forget").click()
    expect(page.locator("tr[data-backup]").filter(has_text=job)).to_have_count(0)
    page.context.close()


def bench(browser):
    """The overview's first render and weight, best of five loads (the first warms Chromium)."""
    token = os.environ["TOKEN"]
    renders, complete = [], []
    weight = None
    for _ in range(5):
        page = new_page(browser, "1280", token)
        page.goto(BASE + "/")
        expect(page.locator("#scheduler-state")).to_be_visible()
        wait_js(page, "performance.getEntriesByName('overview-rendered').length > 0")
        renders.append(page.evaluate("performance.getEntriesByName('overview-rendered')[0].startTime"))
        wait_js(page, "performance.getEntriesByName('overview-complete').length > 0")
        complete.append(page.evaluate("performance.getEntriesByName('overview-complete')[0].startTime"))
        page.wait_for_load_state("networkidle")
        weight = page.evaluate("""() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const res = performance.getEntriesByType('resource');
            return { total: nav.decodedBodySize + res.reduce((a, r) => a + r.decodedBodySize, 0),
                     requests: res.length + 1,
                     slowest: res.map(r => [r.name.replace(location.origin, ''), Math.round(r.startTime), Math.round(r.duration)]),
                     runs_total: null };
        }""")
        total_runs = page.evaluate("fetch('/api/backup/scheduler/status', {headers: {Authorization: 'Bearer ' + sessionStorage.getItem('backupd.token')}}).then(r => r.json()).then(s => s.runs.total)")
        weight["runs_total"] = total_runs
        shot(page, "overview-10k", "1280")
        page.context.close()
    found["render_ms"] = renders
    # The audit view over that log: the failed runs (one in ten) a page of 200 at a time, newest
    # first; "Load older" adds the next page, each event once.
    page = new_page(browser, "1280", token)
    page.goto(BASE + "/#/audit")
    expect(page.locator("li[data-position]").first).to_be_visible()
    page.locator("#audit-type").fill("run_failed")
    items = page.locator("li[data-position]")
    expect(items).to_have_count(200)
    expect(page.locator("li[data-position]:not([data-type='run_failed'])")).to_have_count(0)
    page.click("#audit-older")
    expect(items).to_have_count(400)
    listed = [int(p) for p in items.evaluate_all("l => l.map(e => e.dataset.position)")]
    assert listed == sorted(set(listed), reverse=True), "newest first, each once"
    found["audit_older"] = len(listed)
    page.locator("#audit-type").fill("")
    expect(page.locator("li[data-position]:not([data-type='run_failed'])").first).to_be_visible()
    # The state at the oldest event loaded (200 back), folded on request.
    first = page.locator("li[data-position]").last
    expect(first).to_be_visible()
    position = first.get_attribute("data-position")
    started = page.evaluate("performance.now()")
    first.locator("button.state-at").click()
    expect(page.locator("#state-view h2")).to_contain_text(f"#{position} and now", timeout=60_000)
    found["state_at_ms"] = page.evaluate("performance.now()") - started
    found["state_at_position"] = int(position)
    shot(page, "audit-10k", "1280")
    page.context.close()
    found["complete_ms"] = complete
    found["weight"] = weight


def history(browser):
    """MODE=history: the History page with READER's token; CHECKS (names, comma-separated) and
    CELLS (recorded checks in 30 days) are what the API holds, JOB the job whose runs are drawn."""
    names, cells, job = os.environ["CHECKS"].split(","), int(os.environ["CELLS"]), os.environ["JOB"]
    for width in WIDTHS:
        page = new_page(browser, width, os.environ["READER"])
        page.goto(BASE + "/#/history/30")
        expect(page.locator(".health-row")).to_have_count(len(names), timeout=30_000)
        shown = page.eval_on_selector_all(".health-row", "rs => rs.map(r => r.dataset.check)")
        assert shown == names, (shown, names)
        for name in names:
            assert page.locator(f'.health-row[data-check="{name}"] rect.hc').count() == cells, name
        # The oldest recorded check (30 days back, critical) is drawn left of the newer ones.
        first = page.locator('.health-row[data-check="scheduler"] rect.hc').first
        assert first.get_attribute("data-status") == "critical", first.get_attribute("data-status")
        points = page.locator(f'.perf-job[data-job="{job}"] circle.pt')
        expect(points.first).to_be_attached()
        # Only jobs that copy data are drawn: the health check has no throughput.
        drawn = page.eval_on_selector_all(".perf-job", "js => js.map(j => j.dataset.job)")
        assert drawn == [job], drawn
        figs = page.locator(f'.perf-job[data-job="{job}"] figure')
        # Points per chart: duration, then throughput.
        found.setdefault("points", {})[width] = [figs.nth(i).locator("circle.pt").count() for i in range(figs.count())]
        tip = points.first.locator("title").text_content()
        assert " s" in tip or " ms" in tip, tip
        rates = page.locator(f'.perf-job[data-job="{job}"] figcaption').all_text_contents()
        found.setdefault("captions", rates)
        shot(page, "history", width)
        page.context.close()


def perf(browser):
    """MODE=perf: the Performance page with READER's token for JOB, whose run REGRESSION is the one
    regression (seeded by web/perf.rs), and REAL_RUN's page; ZONE is the scheduler's zone."""
    job, planted, real, zone = os.environ["JOB"], os.environ["REGRESSION"], os.environ["REAL_RUN"], os.environ["ZONE"]
    for width in WIDTHS:
        f = found[width] = {}
        page = new_page(browser, width, os.environ["READER"])
        page.goto(BASE + "/#/overview")
        expect(page.locator("#scheduler-state")).to_be_visible()
        page.wait_for_load_state("networkidle")
        loaded = "performance.getEntriesByType('resource').some(r => r.name.endsWith('/perf.js'))"
        f["perf_js_on_overview"] = page.evaluate(loaded)
        # Keyboard: the section is a link in the navigation; Enter opens it.
        page.focus("a[data-page=performance]")
        page.keyboard.press("Enter")
        card = page.locator(f'.perf-job[data-job="{job}"]')
        expect(card).to_be_visible()
        assert page.evaluate(loaded)
        assert page.evaluate("location.hash") == "#/performance"
        f["points"] = {c: card.locator(f"svg.{c} circle.pt").count() for c in ["throughput", "duration"]}
        f["flagged"] = card.locator("circle.reg").evaluate_all("l => l.map(c => c.dataset.run)")
        # Numbers with units, times in the zone with the zone named.
        for key, unit in [("throughput", r"\d+(\.\d+)? MB/s"), ("compression", r"\d\.\d\d ×"), ("dedup", r"\d\.\d\d ×"),
                          ("window", r"median \d.* (ms|s|min) · p95 \d.* (ms|s|min)"), ("slowest", r"read · disk-bound"),
                          ("growth", r"\+\d.*(B|KiB|MiB|GiB)/day · full in (\d+ days|over 10 years)"), ("trend", r"/day")]:
            text = card.locator(f'dd[data-figure="{key}"]').inner_text()
            assert re.search(unit, text), (key, text)
        expect(page.locator("#perf-window")).to_contain_text(zone)
        expect(page.locator("#perf-storage")).to_contain_text("free of")
        f["regressions"] = card.locator("tr[data-regression]").evaluate_all("l => l.map(r => r.dataset.regression)")
        expect(card.locator("tr[data-phase='read'].slowest")).to_have_count(1)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"performance is {overflow} px wider than {width} px"
        shot(page, "performance", width)
        # The window: a week holds fewer runs; the job filter keeps the window.
        page.click("a[data-days='7']")
        expect(page.locator("a[data-days='7'][aria-current=page]")).to_have_count(1)
        f["week_points"] = card.locator("svg.duration circle.pt").count()
        page.select_option("#perf-job", job)
        expect(page.locator(".perf-job")).to_have_count(1)
        assert page.evaluate("location.hash") == "#/performance/7/" + job, page.evaluate("location.hash")
        page.click("a[data-days='30']")
        # A regression's link opens its run: its phases, the slowest marked.
        page.locator(f'tr[data-regression="{planted}"] a').click()
        phases = page.locator("#run-perf tr[data-phase]")
        expect(phases).to_have_count(6)
        f["planted_phases"] = phases.count()
        f["planted_slowest"] = page.locator("#run-perf tr.slowest").get_attribute("data-phase")
        expect(page.locator("#run-volumes")).to_contain_text("MB/s")
        expect(page.locator("#page")).to_contain_text(zone)
        # A real run, opened from the Runs page: its measured phases drawn.
        page.goto(f"{BASE}/#/runs")
        page.locator(f'a[href="#/run/{quote(real, safe="")}"]').click()
        expect(page.locator("#run-perf svg.phase-bar rect").first).to_be_attached()
        expect(page.locator("#run-volumes")).to_contain_text("examined")
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"a run's page is {overflow} px wider than {width} px"
        shot(page, "run", width)
        # A job the log never knew: the API's 404 is said on the page, nothing else breaks.
        page.goto(f"{BASE}/#/performance/30/no_such_job")
        expect(page.locator("#page [role=alert]")).to_contain_text("no_such_job")
        page.context.close()


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            {"bench": bench, "history": history, "perf": perf}.get(os.environ.get("MODE"), flow)(browser)
        finally:
            browser.close()
    print(json.dumps(found))
    assert not found["outside_requests"], found["outside_requests"]
    assert not found["console_errors"], found["console_errors"]


if __name__ == "__main__":
    sys.exit(main())
