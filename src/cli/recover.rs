//! Rebuilding a data directory: `recover` from the archives it holds, `recover --from-remote`
//! from a remote's log segments and objects, and `verify --remote`.

use crate::*;

/// `backupd recover`: the archives' records into a new log, with the recovery itself on record.
pub(crate) fn recover(config: &Config, force: bool) -> anyhow::Result<()> {
    let log = config.events_path();
    let mut note = format!("rebuilt from the archives in {}", config.data_dir.display());
    let found = engine::recover::scan(&config.data_dir, config.master_key())?;
    if found.found == 0 {
        println!(
            "no archives in {}: nothing to recover",
            config.data_dir.display()
        );
        return Ok(());
    }
    if found.records.is_empty() {
        for why in &found.skipped {
            eprintln!("left out: {why}");
        }
        bail!(
            "none of the {} archive(s) could be recovered; no log was written",
            found.found
        );
    }
    if let Ok(meta) = std::fs::metadata(&log) {
        if meta.len() > 0 && !force {
            bail!(
                "{} exists and is not empty: recover rebuilds a lost log and never writes over one; \
                 use --force to move it aside (as events.redb.damaged-<time>) and recover",
                log.display()
            );
        }
    }
    // The old log, and the head file that vouches for it (it would call the new log truncated),
    // are moved aside, never deleted: they are evidence, and may yet be mended.
    let at = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "damaged-{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    );
    let mut head = log.as_os_str().to_os_string();
    head.push(".head");
    for old in [log.clone(), PathBuf::from(head)] {
        if std::fs::symlink_metadata(&old).is_err() {
            continue;
        }
        // Two recoveries in one second must not put one aside copy over another.
        let aside = (0..)
            .map(|n| {
                let mut name = old.file_name().unwrap_or_default().to_os_string();
                name.push(format!(".{stamp}"));
                if n > 0 {
                    name.push(format!("-{n}"));
                }
                old.with_file_name(name)
            })
            .find(|p| std::fs::symlink_metadata(p).is_err())
            .unwrap_or_default();
        std::fs::rename(&old, &aside)
            .with_context(|| format!("moving {} aside to {}", old.display(), aside.display()))?;
        println!("moved aside: {}", aside.display());
        note.push_str(&format!(
            "; {} was moved aside as {}",
            old.file_name().unwrap_or_default().to_string_lossy(),
            aside.file_name().unwrap_or_default().to_string_lossy()
        ));
    }
    let store = EventStore::open(&log)?;
    let (service, _) = Service::open(store, Arc::new(SystemClock), 0)?;
    let command = Command::RecoverCatalog {
        backups: found.records.clone(),
        skipped: found.skipped.clone(),
        note,
    };
    smol::block_on(service.execute(command, Meta::actor("system:recover")))
        .context("recording the recovered catalog")?;
    println!("recovered {} backup(s):", found.records.len());
    for b in &found.records {
        let kind = serde_json::to_value(b.kind).unwrap_or_default();
        let kind = kind.as_str().unwrap_or("?");
        match &b.parent {
            Some(p) => println!("  {} ({kind} on {p}, job {})", b.id, b.job_id),
            None => println!("  {} ({kind}, job {})", b.id, b.job_id),
        }
    }
    println!("left out {} archive(s)", found.skipped.len());
    for why in &found.skipped {
        println!("  {why}");
    }
    Ok(())
}

/// The `[[remotes]]` entry `name`, opened.
pub(crate) fn open_remote(
    config: &Config,
    name: &str,
) -> anyhow::Result<Box<dyn backupd::remote::ObjectStore>> {
    let Some(cfg) = config.remotes.iter().find(|r| r.name == name) else {
        let known: Vec<&str> = config.remotes.iter().map(|r| r.name.as_str()).collect();
        return Err(ConfigFailure(format!(
            "no [[remotes]] entry named {name:?} in the configuration (known: {})",
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        ))
        .into());
    };
    Ok(backupd::remote::open(cfg)?)
}

/// `backupd verify [ID] --remote NAME [--sample P%]`: the remote copies' every checksum, read in
/// place; exits non-zero when any is missing or damaged.
pub(crate) fn verify_remote(
    config: &Config,
    name: &str,
    target: Option<String>,
    sample: Option<f64>,
) -> anyhow::Result<()> {
    let remote: Arc<dyn backupd::remote::ObjectStore> = Arc::from(open_remote(config, name)?);
    let store = EventStore::open_read_only(&config.events_path())?;
    let (_store, state) = offline_state(store)?;
    let all: Vec<(String, String)> = state
        .catalog
        .backups
        .values()
        .filter(|b| target.as_ref().is_none_or(|t| *t == b.record.id))
        .map(|b| (b.record.id.clone(), b.record.location.clone()))
        .collect();
    if let Some(t) = &target {
        if all.is_empty() {
            bail!("no backup {t:?} in the catalog");
        }
    }
    let picked = match sample {
        None => all,
        Some(share) => backupd::remote::ranged::sample(&all, share * 100.0),
    };
    let mut bad = 0;
    for v in backupd::remote::ranged::verify_remote(remote, &picked, config.master_key()) {
        match &v.result {
            Ok(sum) => println!(
                "remote {name}: backup {} ({}): ok, {} frames, {} bytes read in {} ranged GET(s)",
                v.backup_id, v.location, sum.frames, v.fetched, v.gets
            ),
            Err(why) => {
                bad += 1;
                println!(
                    "remote {name}: backup {} ({}): {why}",
                    v.backup_id, v.location
                );
            }
        }
    }
    if bad > 0 {
        bail!(
            "{bad} of {} remote copies on {name} are missing or damaged",
            picked.len()
        );
    }
    println!("remote {name}: {} backup(s) verified", picked.len());
    Ok(())
}

/// `backupd recover --from-remote NAME`: a lost machine's data dir rebuilt from a remote. The
/// master key is not unlocked here (an empty data dir has none: unlocking would make a new
/// one); the key files come back with the rest when `key export` put them on the remote.
pub(crate) fn recover_from_remote(config: &Config, name: &str) -> anyhow::Result<()> {
    let remote = open_remote(config, name)?;
    let done = backupd::remote::recover::recover(remote.as_ref(), &config.data_dir)
        .with_context(|| format!("recover from remote {name}"))?;
    println!(
        "recovered the log from remote {name}: {} segment(s), positions 1..={}, head hash {}",
        done.segments,
        done.last,
        backupd::events::hex(&done.head)
    );
    let bytes: u64 = done.downloaded.iter().map(|(_, b)| b).sum();
    println!(
        "downloaded {} object(s), {bytes} bytes, into {}",
        done.downloaded.len(),
        config.data_dir.display()
    );
    for k in &done.keys {
        println!("key file: {k}");
    }
    for s in &done.strays {
        eprintln!("not a log segment, left alone: {s}");
    }
    if !done.missing.is_empty() {
        for m in &done.missing {
            eprintln!("missing on the remote: {m}");
        }
        bail!(
            "{} object(s) the log names are not on remote {name}: the log is recovered, the \
             backups they hold cannot be restored from this remote",
            done.missing.len()
        );
    }
    Ok(())
}
