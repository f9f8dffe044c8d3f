//! Golden encodings of every released schema version decode forever; bad bytes get typed errors;
//! `schema/events.md` lists every variant.

use crate::support::repo;
use backupd::events::{self, decode, decode_record, encode, DecodeError, Envelope, Event, Ts};

/// Records are `[u32 LE length][envelope bytes]`, one per variant, with the expected JSON beside.
fn read_records(version: u32) -> (Vec<Vec<u8>>, Vec<serde_json::Value>) {
    let dir = repo().join("fixtures/events");
    let bin = std::fs::read(dir.join(format!("v{version}.bin"))).unwrap();
    let mut records = Vec::new();
    let mut rest = bin.as_slice();
    while !rest.is_empty() {
        let (len, tail) = rest.split_at(4);
        let len = u32::from_le_bytes(len.try_into().unwrap()) as usize;
        records.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    let json = std::fs::read_to_string(dir.join(format!("v{version}.jsonl"))).unwrap();
    let expected = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (records, expected)
}

fn example_envelopes() -> Vec<Envelope> {
    events::examples()
        .into_iter()
        .enumerate()
        .map(|(i, payload)| Envelope {
            position: i as u64 + 1,
            recorded_at: Ts::from_unix_nanos(1_780_000_000_000_000_000 + i as i64),
            actor: if i % 2 == 0 { "system" } else { "api:admin" }.into(),
            correlation: (i % 3 == 0).then(|| format!("run-{i}")),
            payload,
        })
        .collect()
}

#[test]
#[ignore = "writes fixtures/events/v<SCHEMA_VERSION>.*: run once when a schema version is released"]
fn regenerate_golden_event_fixtures() {
    let dir = repo().join("fixtures/events");
    std::fs::create_dir_all(&dir).unwrap();
    let (mut bin, mut json) = (Vec::new(), String::new());
    // A chain, as the store writes it: each record links to the hash of the one before.
    let mut link = events::GENESIS;
    for env in example_envelopes() {
        let bytes = events::encode_linked(&env, &link).unwrap();
        link = events::hash_of(&bytes);
        bin.extend((bytes.len() as u32).to_le_bytes());
        bin.extend(bytes);
        json.push_str(&env.to_json().to_string());
        json.push('\n');
    }
    let v = events::SCHEMA_VERSION;
    std::fs::write(dir.join(format!("v{v}.bin")), bin).unwrap();
    std::fs::write(dir.join(format!("v{v}.jsonl")), json).unwrap();
}

#[test]
fn golden_v1_records_decode_to_their_json() {
    golden_records_decode_to_their_json(1, 21);
}

/// v2 added `backup_archived` and `report_deleted` (the maintenance jobs); its fixture holds every
/// variant written with version byte 2.
#[test]
fn golden_v2_records_decode_to_their_json() {
    golden_records_decode_to_their_json(2, 23);
}

/// v3 added `run_failed_v2` (a failed run's kind).
#[test]
fn golden_v3_records_decode_to_their_json() {
    golden_records_decode_to_their_json(3, 24);
}

/// v4 changed the envelope: a checksum and a hash chain (schema/events.md, "Envelope v4"), and
/// added `run_queued`, `run_started_v2` and `run_cancelled` (run control), the `backup_v2` job
/// action (a backup config with its description and named sources) inside `job_created` /
/// `job_updated` / `presets_installed`, the `cron_v2` trigger (held by `presets_installed`), and
/// `run_succeeded_v2` (a run's warnings). Its fixture is a chain: every record links to the hash of the one before, the first to zero.
#[test]
fn golden_v4_records_decode_to_their_json_and_form_a_chain() {
    golden_records_decode_to_their_json(4, 30);
    let (records, expected) = read_records(4);
    for what in [
        "\"cron_v2\"",
        "\"backup_v2\"",
        "\"run_cancelled\"",
        "\"warnings_total\"",
        "\"catalog_recovered\"",
    ] {
        assert!(
            expected.iter().any(|j| j.to_string().contains(what)),
            "the v4 fixture holds {what}"
        );
    }
    let mut link = events::GENESIS;
    for (i, bytes) in records.iter().enumerate() {
        let record = decode_record(bytes).unwrap();
        assert_eq!(
            record.link,
            Some(link),
            "record {i} links to the one before"
        );
        link = record.hash;
    }
}

/// v5 added the `backup_v3` job action (the backup config with the job's `keep` rules,
/// `KeepRules`; `backup_v2` is frozen as `BackupConfigV2` and upcast), `token_created` and
/// `token_revoked` (API tokens), `restore_started` and `restore_finished` (restore runs). The
/// envelope is v4's, so its fixture is a chain too.
#[test]
fn golden_v5_records_decode_to_their_json_and_form_a_chain() {
    golden_records_decode_to_their_json(5, 37);
    let (records, expected) = read_records(5);
    let created = expected
        .iter()
        .find(|j| j["type"] == "job_created")
        .unwrap();
    assert_eq!(
        created["data"]["job"]["action"]["backup_v3"]["keep"],
        serde_json::json!({"last": 3, "hourly": null, "daily": 7, "weekly": 4, "monthly": 12,
                           "yearly": null, "within_secs": 172800})
    );
    for what in [
        "\"token_created\"",
        "\"token_revoked\"",
        "\"scopes\"",
        "\"restore_started\"",
        "\"if-newer\"",
        "\"incomplete\"",
    ] {
        assert!(
            expected.iter().any(|j| j.to_string().contains(what)),
            "the v5 fixture holds {what}"
        );
    }
    let mut link = events::GENESIS;
    for (i, bytes) in records.iter().enumerate() {
        let record = decode_record(bytes).unwrap();
        assert_eq!(
            record.link,
            Some(link),
            "record {i} links to the one before"
        );
        link = record.hash;
    }
}

/// v6 added the deduplicated repository's `pack_written`, `snapshot_recorded`, `packs_deleted`
/// and `packs_repacked` (and tag 37, the run outcome with phase timings).
#[test]
fn golden_v6_records_decode_to_their_json_and_form_a_chain() {
    golden_records_decode_to_their_json(6, 46);
    let (records, expected) = read_records(6);
    for what in [
        "\"pack_written\"",
        "\"snapshot_recorded\"",
        "\"packs_deleted\"",
    ] {
        assert!(
            expected.iter().any(|j| j.to_string().contains(what)),
            "the v6 fixture holds {what}"
        );
    }
    let mut link = events::GENESIS;
    for bytes in &records {
        let record = decode_record(bytes).unwrap();
        assert_eq!(record.link, Some(link));
        link = record.hash;
    }
}

/// v7 added the job action `verify_sample` (no new event variant).
#[test]
fn golden_v7_records_decode_to_their_json_and_form_a_chain() {
    golden_records_decode_to_their_json(7, Event::NAMES.len());
    let (records, expected) = read_records(7);
    assert!(
        expected.iter().any(|j| j
            .to_string()
            .contains("\"verify_sample\":{\"per_mille\":50}")),
        "the v7 fixture holds a verify_sample job"
    );
    let mut link = events::GENESIS;
    for bytes in &records {
        let record = decode_record(bytes).unwrap();
        assert_eq!(record.link, Some(link));
        link = record.hash;
    }
}

fn golden_records_decode_to_their_json(version: u32, variants: usize) {
    let (records, expected) = read_records(version);
    assert_eq!(records.len(), expected.len());
    let mut seen = std::collections::BTreeSet::new();
    for (bytes, want) in records.iter().zip(&expected) {
        let env = decode(bytes).unwrap_or_else(|e| panic!("{want}: {e}"));
        assert_eq!(&env.to_json(), want);
        seen.insert(env.payload.name());
    }
    assert_eq!(
        seen.len(),
        variants,
        "the v{version} fixture covers every variant it released"
    );
    assert!(records.iter().all(|r| r[0] == version as u8));
}

#[test]
fn every_kind_of_bad_bytes_gets_its_typed_error() {
    for version in 1..=u32::from(events::SCHEMA_VERSION) {
        let (records, _) = read_records(version);
        let mut different_events = 0;
        for (index, bytes) in records.iter().enumerate() {
            different_events +=
                bad_copies_of_one_record(&format!("v{version} record {index}"), bytes);
        }
        if version < u32::from(events::CHAINED_VERSION) {
            // A flipped letter of a name is still an event: the `Ok` judgement is exercised.
            assert!(different_events > 100, "v{version}: {different_events}");
        } else {
            // From v4 the checksum catches every flip: no damaged record reads as an event.
            assert_eq!(different_events, 0, "v{version}");
        }
    }
    let unit = encode(&Envelope {
        position: 1,
        recorded_at: Ts::from_unix_nanos(0),
        actor: "a".into(),
        correlation: None,
        payload: Event::SchedulerStarted,
    })
    .unwrap();
    // The unit variant's tag is the last byte before the digest: the old layout shows it bare.
    let mut unknown = unchained(&unit, 3);
    *unknown.last_mut().unwrap() = 200;
    assert_eq!(
        decode(&unknown),
        Err(DecodeError::UnknownVariant { index: 200 })
    );
}

/// The same envelope in the v1-3 layout: no link, no digest.
fn unchained(v4: &[u8], version: u8) -> Vec<u8> {
    let mut out = vec![version];
    out.extend_from_slice(&v4[33..v4.len() - 32]);
    out
}

/// Returns how many single-bit flips decoded to another event.
fn bad_copies_of_one_record(what: &str, bytes: &[u8]) -> usize {
    let original = decode(bytes).unwrap();
    let chained = bytes[0] >= events::CHAINED_VERSION;
    for cut in 0..bytes.len() {
        match decode(&bytes[..cut]) {
            Err(DecodeError::Truncated { .. }) => {}
            // A cut v4 record no longer ends in its own digest.
            Err(DecodeError::Checksum { .. }) if chained => {}
            other => panic!("{what}, cut at {cut}: {other:?}"),
        }
    }
    let mut trailing = bytes.to_vec();
    trailing.push(0);
    match decode(&trailing) {
        Err(DecodeError::Checksum { .. }) if chained => {}
        other => assert_eq!(
            other,
            Err(DecodeError::TrailingBytes { count: 1 }),
            "{what}"
        ),
    }
    let mut version = bytes.to_vec();
    version[0] = 9;
    assert_eq!(
        decode(&version),
        Err(DecodeError::UnknownVersion { version: 9 }),
        "{what}"
    );
    // Every single-bit flip, judged independently of the decoder: never a panic; an error names
    // the version when the version byte was hit; an `Ok` is a different, well-formed event
    // whose encoding is exactly the flipped bytes (nothing ignored, nothing guessed).
    let mut different_events = 0;
    for bit in 0..bytes.len() * 8 {
        let mut flipped = bytes.to_vec();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let result = std::panic::catch_unwind(|| decode(&flipped))
            .unwrap_or_else(|_| panic!("{what}, bit {bit}: decoding panicked"));
        let in_version = bit < 8;
        match result {
            Err(DecodeError::UnknownVersion { version }) => {
                assert!(in_version, "{what}, bit {bit}: version {version} reported");
                assert_eq!(version, flipped[0], "{what}, bit {bit}");
            }
            // A v4 record whose version byte now says 1-3 is read in the old layout and fails.
            // A chained record flipped to another chained version: the digest covers the byte.
            Err(e) if chained && in_version => {
                assert!(
                    flipped[0] < events::CHAINED_VERSION
                        || matches!(e, DecodeError::Checksum { .. }),
                    "{what}, bit {bit}: {e}"
                )
            }
            // And a v1-3 record whose version byte now says 4 or later (v5 made 1 ^ 4 known) is
            // read in the chained layout: its bytes are no digest, so it fails.
            Err(e) if !chained && in_version && flipped[0] >= events::CHAINED_VERSION => {
                assert!(
                    matches!(
                        e,
                        DecodeError::Checksum { .. } | DecodeError::Truncated { .. }
                    ),
                    "{what}, bit {bit}: {e}"
                )
            }
            Err(e) => {
                assert!(!in_version, "{what}, bit {bit}: {e} for a bad version byte");
                if chained {
                    assert!(
                        matches!(e, DecodeError::Checksum { .. }),
                        "{what}, bit {bit}: {e}"
                    );
                }
                assert!(!e.to_string().is_empty());
            }
            // Versions only add variants: another known version byte reads the same event.
            Ok(env) if in_version => {
                assert!((1..=events::SCHEMA_VERSION).contains(&flipped[0]));
                assert_eq!(env, original, "{what}, bit {bit}");
            }
            Ok(env) => {
                assert_ne!(
                    env, original,
                    "{what}, bit {bit}: a flip that changes nothing"
                );
                let again = match chained {
                    true => encode(&env).unwrap(),
                    false => unchained(&encode(&env).unwrap(), bytes[0]),
                };
                // `encode` writes the record's own layout; the flip was elsewhere.
                assert_eq!(
                    (flipped[0], &again[1..]),
                    (bytes[0], &flipped[1..]),
                    "{what}, bit {bit}: decoded {env:?}, which encodes differently"
                );
                let _ = env.to_json();
                different_events += 1;
            }
        }
    }
    different_events
}

#[test]
fn schema_events_md_lists_every_variant_with_its_version() {
    let doc = std::fs::read_to_string(repo().join("schema/events.md")).unwrap();
    for (tag, name) in Event::NAMES.iter().enumerate() {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("schema/events.md has no row for `{name}`"));
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        assert_eq!(cells[2], tag.to_string(), "`{name}` row has the wrong tag");
        let version: u8 = cells[3].parse().unwrap_or(0);
        assert!(
            (1..=events::SCHEMA_VERSION).contains(&version),
            "`{name}` row names no known version: {row}"
        );
    }
}
