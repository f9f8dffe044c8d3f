//! Arbitrary JSON-ish input through the seed's trigger parsing and the fire-time arithmetic:
//! a rejection or a trigger whose next fire is strictly after the asked instant.
#![no_main]

use backupd_fuzz::api::jobs::seed;
use backupd_fuzz::domain::trigger;
use backupd_fuzz::events::Ts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let Ok(config) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let kind = if selector & 1 == 0 { "cron" } else { "interval" };
    let Ok(parsed) = seed::trigger_from_seed(kind, &config) else {
        return;
    };
    let (_, back) = seed::trigger_to_seed(&parsed);
    assert_eq!(seed::trigger_from_seed(kind, &back).as_ref(), Ok(&parsed));
    let zones = [chrono_tz::UTC, chrono_tz::Europe::Berlin, chrono_tz::Asia::Shanghai];
    let zone = zones[usize::from(selector >> 1) % zones.len()];
    let created = Ts::from_unix_nanos(1_774_699_200_000_000_000);
    let after = Ts::from_unix_nanos(1_774_699_200_000_000_000 + i64::from(selector) * 3_600_000_000_000);
    if let Some(next) = trigger::next_fire(&parsed, zone, created, after) {
        assert!(next > after, "next fire {next} is not after {after}");
    }
});
