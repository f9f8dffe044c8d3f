//! Arbitrary bytes through the snapshot decoders (schema/repository.md): version 1, version 2 and
//! a tree chunk each give a typed error or a value that encodes back to exactly the input.
#![no_main]

use backupd_fuzz::repository::tree::{decode_tree, encode_tree, SnapFile};
use backupd_fuzz::repository::{SnapChunk, Snapshot};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = Snapshot::decode(data) {
        let again = s.encode();
        assert_eq!(again, data, "a decoded snapshot encodes to its input");
        assert_eq!(Snapshot::decode(&again).ok(), Some(s));
    }
    if let Ok(f) = SnapFile::decode(data) {
        assert_eq!(f.encode(), data, "a decoded version-2 snapshot encodes to its input");
    }
    let (mut entries, mut table, mut index) = (Vec::new(), Vec::new(), Default::default());
    if decode_tree(data, &mut entries, &mut table, &mut index).is_ok() {
        let chunks: Vec<SnapChunk> = table
            .iter()
            .map(|&(id, raw_len)| SnapChunk {
                id,
                raw_len,
                pack: 0,
                frame: 0,
            })
            .collect();
        assert_eq!(encode_tree(&entries, &chunks), data, "a decoded tree encodes to its input");
    }
});
