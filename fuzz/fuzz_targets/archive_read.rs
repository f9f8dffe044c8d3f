//! Arbitrary bytes through open, index, verify, read_entry and extract.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    backupd_fuzz::exercise(data);
});
