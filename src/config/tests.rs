use super::*;

#[test]
fn empty_file_gives_the_documented_defaults() {
    let c = Config::parse("").unwrap();
    assert_eq!(c.bind.to_string(), DEFAULT_BIND);
    assert_eq!(c.data_dir, PathBuf::from(DEFAULT_DATA_DIR));
    assert!(c.autostart);
    assert_eq!(c.retention.full_secs, Some(30 * 86_400));
    assert_eq!(c.retention.incremental_secs, Some(7 * 86_400));
    assert_eq!(c.retention.archive_secs, None);
    assert_eq!(c.retention.report_secs, Some(90 * 86_400));
    assert_eq!((c.codec.as_str(), c.level), ("zstd", 3));
    assert_eq!((c.archive_codec.as_str(), c.archive_level), ("xz", 9));
    assert_eq!(c.health, Thresholds::default());
}

#[test]
fn health_thresholds_are_read_and_ordered() {
    let c = Config::parse(
        "[health]\nfull_age_warning = \"2d\"\nfull_age_critical = \"1w\"\n\
         disk_warning_percent = 70\ndisk_critical_percent = 90\nfailures_critical = 5\n\
         days_until_full_warning = 14\ndays_until_full_critical = 3.5\n",
    )
    .unwrap();
    assert_eq!(
        (
            c.health.full_age_warning_secs,
            c.health.full_age_critical_secs
        ),
        (2 * 86_400, 7 * 86_400)
    );
    assert_eq!(
        (
            c.health.disk_used_warning_pct,
            c.health.disk_used_critical_pct
        ),
        (70, 90)
    );
    assert_eq!(
        (c.health.failures_warning, c.health.failures_critical),
        (1, 5)
    );
    assert_eq!(
        (
            c.health.days_until_full_warning,
            c.health.days_until_full_critical
        ),
        (14.0, 3.5)
    );
}

#[test]
fn bad_keys_and_values_name_the_key() {
    let cases = [
        ("[server]\nbindd = \"x\"", "bindd"),
        ("[nope]\n", "nope"),
        ("[server]\nbind = \"nowhere\"", "server.bind"),
        (
            "[scheduler]\ntimezone = \"Mars/Olympus\"",
            "scheduler.timezone",
        ),
        ("[scheduler]\nautostart = \"yes\"", "autostart"),
        ("[retention]\nfull = \"30x\"", "retention.full"),
        ("[compression]\ndefault = \"lz4\"", "compression.default"),
        ("[compression]\nlevel = 30", "compression.level"),
        (
            "[health]\nfull_age_warning = \"forever\"",
            "health.full_age_warning",
        ),
        (
            "[health]\nfull_age_warning = \"3d\"\nfull_age_critical = \"1d\"",
            "health.full_age_critical",
        ),
        (
            "[health]\ndisk_critical_percent = 120",
            "health.disk_critical_percent",
        ),
        (
            "[health]\ndisk_warning_percent = 99",
            "health.disk_critical_percent",
        ),
        ("[health]\nfailures_warning = 0", "health.failures_warning"),
        (
            "[health]\ndays_until_full_critical = 9",
            "health.days_until_full_critical",
        ),
        ("[health]\nfull_age = \"1d\"", "full_age"),
        (
            "[scheduler]\nmax_concurrent_runs = 0",
            "scheduler.max_concurrent_runs",
        ),
        ("[scheduler]\nrun_timeout = -1", "run_timeout"),
        (
            "[scheduler]\ndefer_while_load_above = 0",
            "scheduler.defer_while_load_above",
        ),
        (
            "[scheduler]\ndefer_while_load_above = nan",
            "scheduler.defer_while_load_above",
        ),
        (
            "[scheduler]\ndefer_while_load_above = 1.0\nmax_defer = \"soon\"",
            "scheduler.max_defer",
        ),
        (
            "[scheduler]\ndefer_while_load_above = 1.0\nmax_defer = \"forever\"",
            "scheduler.max_defer",
        ),
        ("[scheduler]\nmax_defer = \"2x\"", "scheduler.max_defer"),
        ("[scheduler]\nnice = 20", "scheduler.nice"),
        ("[scheduler]\nnice = -5", "scheduler.nice"),
        (
            "[[sources.database]]\nname = \"a\"\nkind = \"sqlite\"",
            "sources.database[0].path",
        ),
        (
            "[[sources.database]]\nname = \"a\"\nkind = \"oracle\"",
            "kind",
        ),
    ];
    for (text, key) in cases {
        let err = Config::parse(text).unwrap_err().to_string();
        assert!(
            err.contains(key),
            "{text:?} gave {err:?}, which does not name {key}"
        );
    }
}

#[test]
fn run_limits_default_and_zero_means_no_timeout() {
    let d = Config::default();
    assert_eq!(
        (d.run_timeout_secs, d.max_concurrent_runs),
        (Some(21_600), 2)
    );
    let c = Config::parse("[scheduler]\nrun_timeout = 0\nmax_concurrent_runs = 5").unwrap();
    assert_eq!((c.run_timeout_secs, c.max_concurrent_runs), (None, 5));
}

#[test]
fn deferring_is_off_by_default_and_max_defer_defaults_to_an_hour() {
    let d = Config::default();
    assert_eq!((d.defer, d.nice, d.ioprio_idle), (None, None, false));
    let c =
        Config::parse("[scheduler]\ndefer_while_load_above = 0.8\nnice = 10\nioprio_idle = true")
            .unwrap();
    let rule = c.defer.unwrap();
    assert_eq!((rule.threshold, rule.max_defer_secs), (0.8, 3600));
    assert_eq!((c.nice, c.ioprio_idle), (Some(10), true));
    let c =
        Config::parse("[scheduler]\ndefer_while_load_above = 2.5\nmax_defer = \"15m\"").unwrap();
    assert_eq!(c.defer.unwrap().max_defer_secs, 900);
}

#[test]
fn the_demo_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo.toml");
    let c = Config::load(&path).unwrap();
    assert_eq!(c.timezone, chrono_tz::Asia::Shanghai);
}

#[test]
fn encryption_is_on_with_the_section_and_takes_one_key_source() {
    assert_eq!(Config::default().encryption, None);
    let env_only = Config::parse("[encryption]").unwrap().encryption.unwrap();
    assert_eq!((env_only.passphrase_file, env_only.key_file), (None, None));
    let file = Config::parse("[encryption]\npassphrase_file = \"/etc/backupd/pass\"")
        .unwrap()
        .encryption
        .unwrap();
    assert_eq!(
        file.passphrase_file.as_deref(),
        Some(Path::new("/etc/backupd/pass"))
    );
    // Never from the file: only unlocking sets it.
    assert_eq!(file.key, None);
    let both = "[encryption]\npassphrase_file = \"/a\"\nkey_file = \"/b\"";
    let err = Config::parse(both).unwrap_err().to_string();
    assert!(err.contains("encryption.key_file"), "{err}");
    let err = Config::parse("[encryption]\npassphrase = \"x\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("passphrase"), "{err}");
}

#[test]
fn repack_below_defaults_to_a_half_and_must_be_a_share() {
    assert_eq!(Config::default().repository.repack_below, 0.5);
    let c = Config::parse("[repository]\nrepack_below = 0.2").unwrap();
    assert_eq!(c.repository.repack_below, 0.2);
    for bad in ["1.5", "-0.1", "nan"] {
        let err = Config::parse(&format!("[repository]\nrepack_below = {bad}")).unwrap_err();
        assert!(
            err.to_string().contains("repository.repack_below"),
            "{bad}: {err}"
        );
    }
}
