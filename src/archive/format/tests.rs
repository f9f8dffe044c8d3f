use super::*;

fn header() -> Header {
    Header {
        version: VERSION,
        codec: Codec::Zstd,
        flags: 0,
        level: 3,
    }
}

#[test]
fn header_round_trips_and_accepts_only_the_sealed_flag() {
    let h = header();
    assert_eq!(Header::decode(&h.encode()).unwrap(), h);
    let sealed = Header {
        flags: FLAG_SEALED,
        ..h
    };
    assert_eq!(Header::decode(&sealed.encode()).unwrap(), sealed);
    assert_eq!((sealed.body_start(), h.body_start()), (88, 24));
    let unknown = Header { flags: 2, ..h }.encode();
    assert!(matches!(
        Header::decode(&unknown),
        Err(ArchiveError::UnsupportedFlags { flags: 2, .. })
    ));
    let mut b = h.encode();
    b[0] ^= 1;
    assert!(matches!(Header::decode(&b), Err(ArchiveError::BadMagic)));
    let v2 = Header { version: 2, ..h }.encode();
    assert!(matches!(
        Header::decode(&v2),
        Err(ArchiveError::UnsupportedVersion { version: 2, .. })
    ));
}

#[test]
fn trailer_round_trips() {
    let t = Trailer {
        index_offset: 24,
        index_stored_len: 10,
        index_raw_len: 16,
        index_crc32: 7,
    };
    assert_eq!(Trailer::decode(&t.encode(), 34).unwrap(), t);
    let mut b = t.encode();
    b[3] ^= 0x10;
    assert!(matches!(
        Trailer::decode(&b, 34),
        Err(ArchiveError::BadTrailer { .. })
    ));
}

#[test]
fn mtime_converts_both_sides_of_the_epoch() {
    for (s, n) in [
        (0, 0),
        (1_700_000_000, 123_456_789),
        (-1, 500),
        (-86_400, 0),
    ] {
        let m = Mtime::new(s, n);
        assert_eq!(Mtime::from(m.to_system_time().unwrap()), m);
    }
}

#[test]
fn index_round_trips_and_counts_are_checked_against_size() {
    let frames = [FrameInfo {
        offset: HEADER_LEN as u64,
        stored_len: 5,
        raw_len: 10,
    }];
    let entries = vec![
        IndexEntry {
            path: "a b/ü.txt".into(),
            kind: EntryKind::File,
            mode: 0o644,
            mtime: Mtime::new(5, 6),
            size: 10,
            crc32: 1,
            location: Location::Here { offset: 0 },
        },
        IndexEntry {
            path: "l".into(),
            kind: EntryKind::Symlink {
                target: "a b".into(),
            },
            mode: 0o777,
            mtime: Mtime::new(-5, 0),
            size: 0,
            crc32: 0,
            location: Location::None,
        },
        IndexEntry {
            path: "db.sql".into(),
            kind: EntryKind::Stream,
            mode: 0o600,
            mtime: Mtime::new(1, 0),
            size: 99,
            crc32: 2,
            location: Location::Parent {
                backup: "b-1".into(),
            },
        },
    ];
    let mut raw = Vec::new();
    encode_index(&frames, &entries, &mut raw);
    let idx = decode_index(&raw, &header(), HEADER_LEN as u64 + 16 + 5).unwrap();
    assert_eq!(idx.entries, entries);
    assert_eq!(idx.frames, frames);
    // A frame that does not end where the index starts is refused.
    assert!(decode_index(&raw, &header(), HEADER_LEN as u64 + 16 + 6).is_err());
    // A huge entry count in a short index is refused before anything is allocated.
    let mut huge = raw.clone();
    huge[8 + 16..8 + 16 + 8].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(
        decode_index(&huge, &header(), HEADER_LEN as u64 + 21),
        Err(ArchiveError::BadIndex { .. })
    ));
    // Trailing bytes are refused.
    raw.push(0);
    assert!(decode_index(&raw, &header(), HEADER_LEN as u64 + 21).is_err());
}
