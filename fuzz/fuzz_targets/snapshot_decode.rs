//! Arbitrary bytes through the snapshot decoder (schema/repository.md): a typed error or a
//! snapshot that encodes back to exactly the input.
#![no_main]

use backupd_fuzz::repository::Snapshot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Snapshot::decode(data) {
        let again = s.encode();
        assert_eq!(again, data, "a decoded snapshot encodes to its input");
        assert_eq!(Snapshot::decode(&again).ok(), Some(s));
    }
});
