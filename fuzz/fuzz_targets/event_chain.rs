//! Arbitrary bytes as a run of length-prefixed records (`[u16 LE length][record]`), decoded and
//! linked as the store reads a log: every record gives a typed error or a record whose bytes are
//! exactly what `encode_linked` writes for it (a v4 record) and whose hash is what the next one
//! must link to; never a panic or an unbounded allocation. Seeds: `fixtures/events/v4.bin`
//! (its `u32` lengths read as a `u16` and two zero bytes of the next record: any file works).
#![no_main]

use backupd_fuzz::events;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let mut head = events::GENESIS;
    let mut chained = false;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_le_bytes([rest[0], rest[1]])).min(rest.len() - 2);
        let bytes = &rest[2..2 + len];
        rest = &rest[2 + len..];
        let Ok(record) = events::decode_record(bytes) else {
            continue;
        };
        assert_eq!(record.hash, events::hash_of(bytes), "the hash a record is linked by");
        match record.link {
            Some(link) => {
                assert!(bytes[0] >= events::CHAINED_VERSION);
                let again = events::encode_linked(&record.envelope, &link)
                    .expect("a decoded envelope re-encodes");
                assert_eq!(again, bytes, "a v4 record has one byte form");
                // Whether it continues the chain is a comparison, never a panic.
                let _continues = link == head;
                chained = true;
            }
            None => {
                assert!(bytes[0] < events::CHAINED_VERSION);
                let _unchained_after_chain = chained;
            }
        }
        head = record.hash;
        let _ = record.envelope.to_json();
    }
});
