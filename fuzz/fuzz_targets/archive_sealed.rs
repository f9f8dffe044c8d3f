//! Sealed goldens, mutated (or arbitrary bytes), opened with the golden's key: open, verify,
//! read_entry and extract must give `Ok` or a typed error, never a panic or garbage.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    backupd_fuzz::exercise_sealed(data);
});
