//! The catalog's offline commands: `backups`, `ls`, `verify` (whole, by sample), and the
//! restores that run without the service (into a database, in place).

use crate::*;

/// `restore BACKUP_ID --database SOURCE`: the dump loaded into a database, offline.
pub(crate) fn restore_database(
    config: &Config,
    backup_id: &str,
    req: &engine::LoadRequest,
) -> anyhow::Result<()> {
    let body = serde_json::json!({
        "database": req.source, "into": req.into, "live": req.live, "force": req.force,
        "dry_run": req.dry_run,
    });
    let route = format!("POST {}/backups/{backup_id}/restore {body}", api::BASE);
    let store = EventStore::open_read_only(&config.events_path()).map_err(held(route))?;
    let (_store, state) = offline_state(store)?;
    let cancel = backupd::progress::Cancel::default();
    let sum = engine::load(config, &state, backup_id, req, &cancel)?;
    println!(
        "{} the dump of database {} of backup {} into {} ({}, {}): {} bytes{}",
        if sum.dry_run { "would load" } else { "loaded" },
        sum.database,
        sum.backup_id,
        sum.into,
        sum.kind,
        sum.tool,
        sum.bytes,
        if sum.dry_run {
            String::new()
        } else {
            format!(" in {} ms", sum.duration_ms)
        }
    );
    Ok(())
}

/// `backupd backups [--job J]`: the catalog, read-only on the log.
pub(crate) fn backups(config: &Config, job: Option<&str>) -> anyhow::Result<()> {
    let query = job.map(|j| format!("?job_id={}", query_value(j)));
    let route = format!("GET {}/backups{}", api::BASE, query.unwrap_or_default());
    let store = EventStore::open_read_only(&config.events_path()).map_err(held(route))?;
    let (_store, state) = offline_state(store)?;
    let mut all: Vec<_> = state
        .catalog
        .backups
        .values()
        .filter(|b| job.is_none_or(|j| b.record.job_id == j))
        .collect();
    all.sort_by(|a, b| {
        (a.record.created_at, &a.record.id).cmp(&(b.record.created_at, &b.record.id))
    });
    let mut out = std::io::stdout().lock();
    for b in all {
        let r = &b.record;
        let line = writeln!(
            out,
            "{} {} {} {} {} {}",
            r.id,
            r.kind.as_str(),
            r.job_id,
            r.created_at,
            r.bytes,
            r.parent.as_deref().unwrap_or("-")
        );
        match line {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            other => other?,
        }
    }
    Ok(())
}

/// `backupd ls ID [PATH]`: every entry of one directory, a page at a time, read-only.
pub(crate) fn ls(config: &Config, id: &str, path: &str) -> anyhow::Result<()> {
    use engine::browse::{list, BrowseError, MAX_LIMIT};
    let route = format!(
        "GET {}/backups/{id}/files?path={}",
        api::BASE,
        query_value(if path.is_empty() { "/" } else { path })
    );
    let store = EventStore::open_read_only(&config.events_path()).map_err(held(route))?;
    let (_store, state) = offline_state(store)?;
    let mut out = std::io::stdout().lock();
    let mut after: Option<String> = None;
    loop {
        let page =
            list(config, &state, id, path, after.as_deref(), MAX_LIMIT).map_err(|e| match e {
                BrowseError::Engine(e) => anyhow::Error::from(e),
                other => anyhow::anyhow!("backup {id}: {other}"),
            })?;
        for e in &page.entries {
            let line = serde_json::to_string(e)?;
            match writeln!(out, "{line}") {
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
                other => other?,
            }
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(()),
        }
    }
}

/// `v` as a query value: a route the operator can paste (`/` kept, as the API reads it).
fn query_value(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `backupd verify BACKUP_ID|FILE`: a path that exists is checked as an archive file; anything
/// else is a backup id, verified through the catalog (parents included) and recorded.
pub(crate) fn verify(target: &str, at: &Where) -> anyhow::Result<()> {
    let path = std::path::Path::new(target);
    let config = load_keyed(at, None)?;
    if path.exists() {
        let sum = archive::verify_file_with(path, config.master_key())
            .with_context(|| format!("{} is damaged", path.display()))?;
        println!("{}: {sum}", path.display());
        return Ok(());
    }
    // Read-write (the result is recorded) but never created: a missing log is an error.
    let route = format!("POST {}/backups/{target}/verify", api::BASE);
    let store = EventStore::open_existing(&config.events_path()).map_err(held(route))?;
    let (store, state) = offline_state(store)?;
    let result = engine::verify(&config, &state, target);
    if state.catalog.backups.contains_key(target) {
        let (service, _) = Service::open(store, Arc::new(SystemClock), 0)?;
        for command in engine::verify_commands(target, &result) {
            smol::block_on(service.execute(command, Meta::actor("cli")))
                .context("recording the verification")?;
        }
    }
    let sum = result.with_context(|| format!("backup {target} failed verification"))?;
    println!("{sum}");
    Ok(())
}

pub(crate) fn parse_share(text: &str) -> Result<f64, String> {
    engine::sample::parse_share(text)
}

/// `backupd verify [ID] --sample 5%`: reads round `round` of a rotating share of the frames the
/// snapshot `target` (or every live snapshot) needs; a named backup's result is recorded.
pub(crate) fn verify_sample(
    target: Option<&str>,
    share: f64,
    round: Option<u64>,
    at: &Where,
) -> anyhow::Result<()> {
    let config = load_keyed(at, None)?;
    let route = format!("POST {}/backups/ID/verify?sample=", api::BASE);
    let store = EventStore::open_existing(&config.events_path()).map_err(held(route))?;
    let (store, state) = offline_state(store)?;
    let backups: Option<Vec<String>> = target.map(|t| vec![t.to_string()]);
    if let Some(id) = target {
        if state.repository.snapshot(id).is_none() {
            bail!("{id:?} is not a live snapshot of the repository (only snapshots are sampled)");
        }
    }
    let day = (time::OffsetDateTime::now_utc().unix_timestamp() / 86_400) as u64;
    let sum = engine::sample::verify_frames(
        &config,
        &state.repository,
        backups.as_deref(),
        share,
        round.unwrap_or(day),
    )?;
    if let Some(id) = target {
        let (service, _) = Service::open(store, Arc::new(SystemClock), 0)?;
        let command = backupd::decide::Command::VerifyBackup {
            backup_id: id.to_string(),
            ok: sum.damaged.is_empty(),
            detail: Some(format!("sample: {sum}")),
        };
        smol::block_on(service.execute(command, Meta::actor("cli")))
            .context("recording the verification")?;
    }
    if !sum.damaged.is_empty() {
        bail!("the repository is damaged: {sum}");
    }
    println!("{sum}");
    Ok(())
}

pub(crate) fn parse_overwrite(s: &str) -> Result<backupd::events::Overwrite, String> {
    backupd::events::Overwrite::named(s)
        .ok_or_else(|| format!("{s:?} is not one of always, if-changed, if-newer, never"))
}

/// `backupd restore ID --in-place`: the offline twin of `POST …/restore {"in_place": true}`
/// (the log is read, not written: restore runs are recorded by the service).
pub(crate) fn restore_in_place(
    config: &Config,
    backup_id: &str,
    paths: &[String],
    overwrite: backupd::events::Overwrite,
    skip_damaged: bool,
    dry_run: bool,
) -> anyhow::Result<()> {
    let body =
        serde_json::json!({"in_place": true, "paths": paths, "overwrite": overwrite.as_str()});
    let route = format!("POST {}/backups/{backup_id}/restore {body}", api::BASE);
    let store = EventStore::open_read_only(&config.events_path()).map_err(held(route))?;
    let (_store, state) = offline_state(store)?;
    if dry_run {
        let plan = engine::plan_in_place(config, &state, backup_id, paths, overwrite)?;
        for e in &plan.entries {
            match &e.reason {
                Some(why) => println!("would {} {} {} ({why})", e.action, e.kind, e.path),
                None => println!(
                    "would {} {} {} ({} bytes)",
                    e.action, e.kind, e.path, e.size
                ),
            }
        }
        println!(
            "dry run of backup {} in place (overwrite {}): would write {} files, {} dirs, {} symlinks, {} bytes; {} kept",
            plan.backup_id,
            overwrite.as_str(),
            plan.files,
            plan.dirs,
            plan.symlinks,
            plan.bytes,
            plan.kept
        );
        return Ok(());
    }
    let opts = engine::InPlaceOptions {
        overwrite,
        skip_damaged,
    };
    let sum = engine::restore_in_place(config, &state, backup_id, paths, &opts, None)?;
    println!(
        "restored backup {} in place (overwrite {}): {} files, {} dirs, {} symlinks, {} bytes; {} created, {} replaced, {} unchanged, {} kept",
        sum.backup_id,
        overwrite.as_str(),
        sum.files,
        sum.dirs,
        sum.symlinks,
        sum.bytes,
        sum.created,
        sum.replaced,
        sum.unchanged,
        sum.kept.len()
    );
    for k in &sum.kept {
        println!("kept {}: {}", k.path, k.reason);
    }
    for lost in &sum.damaged {
        eprintln!("damaged, not restored: {}: {}", lost.path, lost.reason);
    }
    if !sum.complete {
        return Err(Incomplete(sum.damaged.len()).into());
    }
    Ok(())
}
