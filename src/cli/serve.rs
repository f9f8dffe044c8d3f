//! `serve`: the service, its safe-default checks before it starts, and `log verify`.

use crate::*;

/// The API off loopback needs tokens, and TLS (`[server.tls]`): `server.insecure = true` stands
/// for TLS on a trusted network (and is warned about at every start).
pub(crate) fn refuse_open_bind(config: &Config, tokens: bool) -> anyhow::Result<()> {
    if config.insecure && config.tls.is_none() {
        log::warn!(
            "server.insecure = true: the API on {} is plain HTTP, so tokens and data cross the \
             network unencrypted; use it only on a trusted network",
            config.bind
        );
    }
    if config.bind.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    let mut fixes = Vec::new();
    if !tokens {
        fixes.push(format!(
            "no API token exists: create one first, offline, with `backupd token create NAME \
             --scope admin --data-dir {}` (every request will then need one)",
            config.data_dir.display()
        ));
    }
    if !config.insecure && config.tls.is_none() {
        fixes.push(
            "the API would be plain HTTP: configure TLS with `cert` and `key` (PEM files) under \
             [server.tls], or, on a trusted network only, set `insecure = true` under [server]"
                .to_string(),
        );
    }
    if fixes.is_empty() {
        return Ok(());
    }
    // A proxy on this machine makes every client look local: it is no substitute for tokens
    // (the API also refuses anonymous requests that carry a proxy's forwarding headers).
    Err(ConfigFailure(format!(
        "refusing to serve the API on {}, which is not a loopback address: {}; or bind \
         127.0.0.1 (the default) behind a TLS proxy, with a token still: through a proxy every \
         client would look local",
        config.bind,
        fixes.join("; and ")
    ))
    .into())
}

/// `backupd log verify`: every record read and checked, read-only.
pub(crate) fn log_verify(config: &Config) -> anyhow::Result<()> {
    let store = EventStore::open_read_only(&config.events_path())?;
    let sum = match store.verify_blocking() {
        Ok(sum) => sum,
        Err(e) => match e.position() {
            Some(p) => bail!("event log damaged at position {p}: {e}"),
            None => bail!("event log unreadable: {e}"),
        },
    };
    println!(
        "event log {}: {} events; every checksum, position and link holds",
        config.events_path().display(),
        sum.events
    );
    println!(
        "  {} chained (schema v4 on{}), {} older events without a chain",
        sum.chained,
        sum.first_chained
            .map(|p| format!(", from position {p}"))
            .unwrap_or_default(),
        sum.events - sum.chained
    );
    println!(
        "  head hash {} (keep it elsewhere: a log cut short or rewritten will not end in it)",
        backupd::events::hex(&sum.head)
    );
    Ok(())
}

/// A data dir with backups but no log lost its history: starting afresh would record a new
/// empty catalog over it. `serve` refuses and says what to do instead.
pub(crate) fn refuse_lost_log(config: &Config) -> anyhow::Result<()> {
    let log = config.events_path();
    let lost = match std::fs::metadata(&log) {
        Ok(m) => m.len() == 0,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    };
    let layout = engine::layout::Layout::new(&config.data_dir);
    let holds = |dir: PathBuf| {
        std::fs::read_dir(dir)
            .map(|mut d| {
                d.any(|e| e.is_ok_and(|e| e.path().extension().is_some_and(|x| x == "bka")))
            })
            .unwrap_or(false)
    };
    if lost && (holds(layout.backups_dir()) || holds(layout.archives_dir())) {
        bail!(
            "the event log {} is missing or empty, but {} holds backups: starting would record a \
             new, empty history over them, so backupd refuses. Restore events.redb from a copy \
             (a file backup of the data dir), or rebuild the catalog from the archives with \
             `backupd recover --data-dir {}`; then start again",
            log.display(),
            config.data_dir.display(),
            config.data_dir.display()
        );
    }
    Ok(())
}

/// A log `serve` cannot read is never started afresh: the error says what to do.
pub(crate) fn damaged_log(e: backupd::store::StoreError) -> anyhow::Error {
    match e.kind() {
        backupd::error::ErrorKind::Integrity => anyhow::anyhow!(
            "{e}\nbackupd does not start on a damaged log: `backupd log verify` shows where it \
             is damaged; restore events.redb from a copy (or rebuild the catalog from the \
             archives with `backupd recover --force`, which moves the damaged log aside)"
        ),
        _ => e.into(),
    }
}

pub(crate) fn serve(config: Config) -> anyhow::Result<()> {
    std::fs::create_dir_all(config.logs_dir())
        .with_context(|| format!("creating {}", config.logs_dir().display()))?;
    let _logger = backupd::logging::start(&config)?;
    log::info!(
        "backupd {} starting: data dir {}, zone {}",
        env!("CARGO_PKG_VERSION"),
        config.data_dir.display(),
        config.timezone
    );
    if config.encryption.is_some() {
        // Never the key or the passphrase: only that there is one.
        log::info!("encryption at rest: the master key is unlocked; new archives are sealed");
    }
    // Registered before anything says it is up: a SIGTERM that arrives after "booted" (or
    // "listening on") must stop the service in order, not kill it with the default action.
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ])?;
    // A bad certificate or key stops the start here, with the file and the reason.
    let tls = match &config.tls {
        Some(files) => Some(Arc::new(api::tls::Tls::load(files).map_err(ConfigFailure)?)),
        None => None,
    };
    for db in &config.databases {
        if engine::dump::url_has_password(db) {
            log::warn!(
                "database source {:?}: its url holds a password, so the configuration file is a \
                 secret too; give it with password_env or password_file instead",
                db.name
            );
        }
    }
    // Before any hook or dump tool can start: they never inherit the service's secrets.
    engine::dump::child_env::withhold(&config);
    refuse_lost_log(&config)?;
    let started = Instant::now();
    let store = EventStore::open(&config.events_path()).map_err(damaged_log)?;
    let (service, boot) =
        Service::open(store, Arc::new(SystemClock), config.snapshot_every).map_err(damaged_log)?;
    log::info!(
        "replayed the log: position {}, snapshot {:?}, {} events folded in {} ms{}",
        boot.position,
        boot.snapshot_position,
        boot.replayed,
        started.elapsed().as_millis(),
        boot.snapshot_unused
            .map(|why| format!(" (snapshot dropped: {why})"))
            .unwrap_or_default()
    );
    let now = backupd::events::Ts::from(time::OffsetDateTime::now_utc());
    refuse_open_bind(&config, service.read(|s| s.tokens.any_live(now)))?;
    // Bound before anything is recorded: a serve that cannot listen leaves the log as it was.
    let progress = Progress::default();
    // One shared copy for the engine and the API.
    let shared = Arc::new(config.clone());
    let api = api::bind(
        api::ApiContext::new(
            service.clone(),
            progress.clone(),
            config.timezone,
            shared.clone(),
        ),
        config.bind,
    )
    .with_context(|| format!("binding the API to {}", config.bind))?
    .with_tls(tls.clone());
    let booted = smol::block_on(service.execute(
        Command::Boot {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            presets: presets(),
            retention: config.retention,
            autostart: config.autostart,
        },
        Meta::actor("system"),
    ))?;
    let (jobs, backups) = service.read(|s| (s.schedule.jobs.len(), s.catalog.backups.len()));
    log::info!(
        "booted at position {} ({} events recorded at boot): {jobs} jobs, {backups} backups",
        service.position(),
        booted.len()
    );
    // Before any run starts: partial files of interrupted runs go, unexpected files are reported.
    match service.read(|s| engine::reconcile(&config, s)) {
        Ok(report) if report.is_clean() => {}
        Ok(report) => log::warn!(
            "data dir reconciled: removed {:?}; archives no event names {:?}; recorded archives missing {:?}",
            report.removed,
            report.unrecorded,
            report.missing
        ),
        Err(e) => log::error!("data dir not reconciled: {e}"),
    }
    // Follows the log from here on (before the scheduler can start a run, so no outcome is
    // missed): a run only appends its outcome; delivery is the notifier's.
    let notifier = backupd::notify::start(
        service.clone(),
        config.notify.clone(),
        format!("http://{}", api.local_addr()),
        config.data_dir.clone(),
    );
    // Off-site copies: uploads what is recorded and not yet on each remote, from its own threads.
    let replicator = backupd::remote::queue::start(
        service.clone(),
        config.remotes.clone(),
        config.data_dir.clone(),
    );
    // The log goes to every remote after each run and once more at shutdown (dropped below,
    // after the scheduler stopped: the last runs' outcomes are in that shipment).
    let mut shipping = Vec::new();
    for r in &config.remotes {
        match backupd::remote::open(r) {
            Ok(store) => shipping.push(Arc::from(store)),
            Err(e) => log::error!(
                "remote {}: not opened, the log is not shipped there: {e}",
                r.name
            ),
        }
    }
    let log_shipper = backupd::remote::logship::start(service.clone(), shipping);
    let (stop_scheduler, stop_rx) = smol::channel::bounded::<()>(1);
    let scheduler = smol::spawn(
        Scheduler::new(
            service.clone(),
            config.timezone,
            Arc::new(engine::Engine::new(shared.clone(), service.clone())),
            progress.clone(),
        )
        .with_config(shared.clone())
        .run(stop_rx, Duration::from_secs(30)),
    );
    // The real address (with `--bind 127.0.0.1:0` the port is chosen here); tests read this line.
    log::info!(
        "listening on {}://{} (API under {})",
        if tls.is_some() { "https" } else { "http" },
        api.local_addr(),
        api::BASE
    );
    // Browsing's trees of the newest backups (and of each new one) built before anyone asks;
    // after the line above, so what it logs comes after it.
    let prefetch = engine::browse::start_prefetch(service.clone(), shared.clone());

    // signal-hook's iterator blocks, so it waits on a thread and forwards into the async world.
    let (signal_tx, signal_rx) = smol::channel::bounded::<i32>(1);
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if signal == signal_hook::consts::SIGHUP {
                // SIGHUP reloads the certificate; it never stops the service.
                match &tls {
                    Some(tls) => match tls.reload() {
                        Ok(()) => log::info!("SIGHUP: TLS certificate and key reloaded"),
                        Err(e) => log::error!(
                            "SIGHUP: TLS certificate not reloaded, the one in service stays: {e}"
                        ),
                    },
                    None => log::info!("SIGHUP: no [server.tls] configured, nothing to reload"),
                }
                continue;
            }
            let _ = signal_tx.send_blocking(signal);
            break;
        }
    });
    smol::block_on(async {
        let serving = async { api.run().await.map(|()| None) };
        let signalled = async { Ok(signal_rx.recv().await.ok()) };
        // Dropping the server future closes the listener: no new connections from here on.
        match serving.or(signalled).await {
            Ok(Some(signal)) => log::info!("signal {signal}: stopping"),
            Ok(None) => log::warn!("the API stopped accepting; stopping"),
            Err(e) => log::error!("the API failed: {e}; stopping"),
        }
        let _ = stop_scheduler.send(()).await;
        scheduler.await;
    });
    drop(log_shipper);
    drop(prefetch);
    drop(notifier);
    drop(replicator);
    drop(service);
    log::info!("stopped");
    Ok(())
}
