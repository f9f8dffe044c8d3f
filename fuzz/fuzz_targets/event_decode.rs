//! Arbitrary bytes through the event decoder: a typed error or an envelope that re-encodes to
//! bytes that decode to the same envelope; never a panic or an unbounded allocation.
#![no_main]

use backupd_fuzz::events;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(env) = events::decode(data) {
        let again = events::encode(&env).expect("a decoded envelope re-encodes");
        assert_eq!(events::decode(&again).expect("re-encoded bytes decode"), env);
        let _ = env.to_json();
    }
});
