//! A log segment: a run of the event log's records, exactly as the store holds them, in one
//! immutable object `log/<first:020>-<last:020>.seg` (schema/remote.md, "Log segments").
//!
//! ```text
//! 0..8     magic "BKDLOGSG"
//! 8        format version (1)
//! 9..17    first position (u64 LE)
//! 17..25   last position (u64 LE)
//! 25..57   link: the hash of the record at first-1 (all zero when first = 1)
//! 57..89   head: the hash of the record at last
//! 89..     per record, first..=last: length (u32 LE), the stored record
//! end-4..  CRC-32 (IEEE) of every byte before it
//! ```
//!
//! The header's link and head let a segment be chained to its neighbours without decoding
//! them; every record still carries its own digest and link, and decoding checks both.

use crate::events::{self, Hash};

pub const MAGIC: &[u8; 8] = b"BKDLOGSG";
pub const FORMAT: u8 = 1;
/// Bytes before the first record.
pub const HEADER_LEN: usize = 89;
const CRC_LEN: usize = 4;

/// The object key of the segment holding `first..=last`.
pub fn key(first: u64, last: u64) -> String {
    format!("log/{first:020}-{last:020}.seg")
}

/// `(first, last)` from a segment's key; `None` for a key that is not one.
pub fn parse_key(key: &str) -> Option<(u64, u64)> {
    let name = key.strip_prefix("log/")?.strip_suffix(".seg")?;
    let (a, b) = name.split_once('-')?;
    let digits = |s: &str| s.len() == 20 && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(a) || !digits(b) {
        return None;
    }
    let (first, last) = (a.parse().ok()?, b.parse().ok()?);
    (first >= 1 && first <= last).then_some((first, last))
}

/// A segment's header: where it sits in the log and how it chains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub first: u64,
    pub last: u64,
    pub link: Hash,
    pub head: Hash,
}

/// A decoded, checked segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub header: Header,
    /// `(position, stored bytes)`, first..=last.
    pub records: Vec<(u64, Vec<u8>)>,
}

/// Why an object is not a sound segment. Each names the segment's key: that is what an
/// operator looks at in the bucket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("log segment {key}: {why}")]
    Malformed { key: String, why: String },
    #[error("log segment {key}: CRC-32 {computed:08x} of its bytes is not the stored {stored:08x}: the object was damaged or altered")]
    Crc {
        key: String,
        stored: u32,
        computed: u32,
    },
    #[error("log segment {key}: its header says positions {first}..={last}, its name says otherwise: it was renamed or altered")]
    Misnamed { key: String, first: u64, last: u64 },
    #[error("log segment {key}: record at position {position}: {why}")]
    Record {
        key: String,
        position: u64,
        why: String,
    },
    #[error("log segment {key}: it begins at position {first}, but the log before it ends at {expected_after}: segment(s) holding positions {}..={} are missing", expected_after + 1, first - 1)]
    Missing {
        key: String,
        first: u64,
        expected_after: u64,
    },
    #[error("log segment {key}: it begins at position {first}, which the segment before it ({previous}) already holds: two logs write under this prefix, or a segment was rewritten")]
    Overlap {
        key: String,
        first: u64,
        previous: String,
    },
    #[error("log segment {key}: it links to {found}, but the record before it (position {}) hashes to {expected}: the segments are not one log", position - 1)]
    Chain {
        key: String,
        position: u64,
        expected: String,
        found: String,
    },
}

/// The segment of `records` (consecutive positions), linked to `link` (the hash of the record
/// before the first).
pub fn encode(link: &Hash, records: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let (first, last) = match (records.first(), records.last()) {
        (Some(f), Some(l)) => (f.0, l.0),
        _ => panic!("a segment holds at least one record"),
    };
    let size: usize = records.iter().map(|r| 4 + r.1.len()).sum();
    let mut out = Vec::with_capacity(HEADER_LEN + size + CRC_LEN);
    out.extend_from_slice(MAGIC);
    out.push(FORMAT);
    out.extend_from_slice(&first.to_le_bytes());
    out.extend_from_slice(&last.to_le_bytes());
    out.extend_from_slice(link);
    out.extend_from_slice(&events::hash_of(&records[records.len() - 1].1));
    for (_, bytes) in records {
        out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        out.extend_from_slice(bytes);
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The header alone (the first `HEADER_LEN` bytes): enough to chain a segment to the local log
/// without fetching all of it. Checks the magic and version only.
pub fn decode_header(key: &str, bytes: &[u8]) -> Result<Header, SegmentError> {
    let bad = |why: &str| SegmentError::Malformed {
        key: key.to_string(),
        why: why.to_string(),
    };
    if bytes.len() < HEADER_LEN {
        return Err(bad("shorter than its header"));
    }
    if &bytes[..8] != MAGIC {
        return Err(bad("not a log segment (bad magic)"));
    }
    if bytes[8] != FORMAT {
        return Err(bad(&format!(
            "segment format {} is not known to this binary (knows {FORMAT})",
            bytes[8]
        )));
    }
    let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
    let hash_at = |at: usize| -> Hash { bytes[at..at + 32].try_into().expect("32 bytes") };
    let header = Header {
        first: u64_at(9),
        last: u64_at(17),
        link: hash_at(25),
        head: hash_at(57),
    };
    if header.first == 0 || header.first > header.last {
        return Err(bad(&format!(
            "positions {}..={} are not a range of the log",
            header.first, header.last
        )));
    }
    Ok(header)
}

/// Every check one segment allows on its own: the CRC, the header against the name, each
/// record's digest and position, the links between its records, and the head hash.
pub fn decode(key: &str, bytes: &[u8]) -> Result<Segment, SegmentError> {
    if bytes.len() < HEADER_LEN + CRC_LEN {
        return Err(SegmentError::Malformed {
            key: key.into(),
            why: format!("{} bytes is shorter than a header and a CRC", bytes.len()),
        });
    }
    let (body, crc) = bytes.split_at(bytes.len() - CRC_LEN);
    let stored = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(SegmentError::Crc {
            key: key.into(),
            stored,
            computed,
        });
    }
    let header = decode_header(key, body)?;
    if parse_key(key).is_some_and(|named| named != (header.first, header.last)) {
        return Err(SegmentError::Misnamed {
            key: key.into(),
            first: header.first,
            last: header.last,
        });
    }
    let record_err = |position: u64, why: String| SegmentError::Record {
        key: key.into(),
        position,
        why,
    };
    let mut rest = &body[HEADER_LEN..];
    let mut records = Vec::new();
    let mut link = header.link;
    // Once the chain has begun (a v4 record), an unchained record is one put in by hand. (Across
    // segment boundaries the store's import checks the same.)
    let mut begun = false;
    for position in header.first..=header.last {
        if rest.len() < 4 {
            return Err(record_err(position, "the segment ends before it".into()));
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let Some(bytes) = rest.get(4..4 + len) else {
            return Err(record_err(
                position,
                format!("its length {len} runs past the segment's end"),
            ));
        };
        rest = &rest[4 + len..];
        let record =
            events::decode_record(bytes).map_err(|e| record_err(position, e.to_string()))?;
        if record.envelope.position != position {
            return Err(record_err(
                position,
                format!("it says it is position {}", record.envelope.position),
            ));
        }
        match record.link {
            Some(l) if l != link => {
                return Err(record_err(
                    position,
                    format!(
                        "it links to {}, the record before it hashes to {}",
                        events::hex(&l),
                        events::hex(&link)
                    ),
                ))
            }
            Some(_) => begun = true,
            None if begun => {
                return Err(record_err(
                    position,
                    "an unchained record after the chain began".into(),
                ))
            }
            None => {}
        }
        link = record.hash;
        records.push((position, bytes.to_vec()));
    }
    if !rest.is_empty() {
        return Err(SegmentError::Malformed {
            key: key.into(),
            why: format!("{} bytes after its last record", rest.len()),
        });
    }
    if link != header.head {
        return Err(SegmentError::Malformed {
            key: key.into(),
            why: format!(
                "its header's head hash {} is not the hash of its last record {}",
                events::hex(&header.head),
                events::hex(&link)
            ),
        });
    }
    Ok(Segment { header, records })
}

/// Segments in log order as (key, first, last), and the keys that are not segment names.
pub type Plan = (Vec<(String, u64, u64)>, Vec<String>);

/// Segments found under `log/`, in log order, checked to follow one another by their names
/// alone (no gap, no overlap; the first starts at position 1). Keys that are not segment names
/// are returned apart so they can be named.
pub fn plan(keys: &[(String, u64)]) -> Result<Plan, SegmentError> {
    let mut segs = Vec::new();
    let mut strays = Vec::new();
    for (k, _) in keys {
        match parse_key(k) {
            Some((first, last)) => segs.push((k.clone(), first, last)),
            None => strays.push(k.clone()),
        }
    }
    segs.sort_by_key(|s| (s.1, s.2));
    let mut after = 0u64;
    let mut previous = String::new();
    for (k, first, last) in &segs {
        if *first <= after {
            return Err(SegmentError::Overlap {
                key: k.clone(),
                first: *first,
                previous: previous.clone(),
            });
        }
        if *first != after + 1 {
            return Err(SegmentError::Missing {
                key: k.clone(),
                first: *first,
                expected_after: after,
            });
        }
        after = *last;
        previous = k.clone();
    }
    Ok((segs, strays))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{Envelope, Event, Ts, GENESIS};

    fn records(first: u64, n: u64, mut link: Hash) -> (Vec<(u64, Vec<u8>)>, Hash) {
        let out = (first..first + n)
            .map(|p| {
                let env = Envelope {
                    position: p,
                    recorded_at: Ts::from_unix_nanos(p as i64),
                    actor: "system".into(),
                    correlation: None,
                    payload: Event::SchedulerStarted,
                };
                let bytes = events::encode_linked(&env, &link).unwrap();
                link = events::hash_of(&bytes);
                (p, bytes)
            })
            .collect();
        (out, link)
    }

    #[test]
    fn a_segment_round_trips_and_every_flipped_byte_is_refused() {
        let (recs, head) = records(1, 3, GENESIS);
        let bytes = encode(&GENESIS, &recs);
        let k = key(1, 3);
        assert_eq!(k, "log/00000000000000000001-00000000000000000003.seg");
        let seg = decode(&k, &bytes).unwrap();
        assert_eq!(seg.records, recs);
        assert_eq!(seg.header.head, head);
        assert_eq!(decode_header(&k, &bytes[..HEADER_LEN]).unwrap(), seg.header);
        for at in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[at] ^= 0x10;
            let err = decode(&k, &bad).unwrap_err();
            assert!(err.to_string().contains(&k), "{err}");
        }
        assert!(matches!(
            decode(&key(1, 4), &bytes),
            Err(SegmentError::Misnamed { .. })
        ));
    }

    /// A segment whose CRC was recomputed after an edit is still caught by the record digests.
    #[test]
    fn an_altered_record_behind_a_fixed_crc_is_refused() {
        let (recs, _) = records(5, 2, [7; 32]);
        let mut bytes = encode(&[7; 32], &recs);
        bytes.truncate(bytes.len() - 4);
        let at = HEADER_LEN + 4 + 40;
        bytes[at] ^= 1;
        let crc = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
        assert!(matches!(
            decode(&key(5, 6), &bytes),
            Err(SegmentError::Record { position: 5, .. })
        ));
    }

    #[test]
    fn names_parse_and_plans_find_gaps_and_overlaps() {
        assert_eq!(parse_key(&key(12, 40)), Some((12, 40)));
        for bad in ["log/1-2.seg", "log/x.seg", &key(3, 2), "data/a"] {
            assert_eq!(parse_key(bad), None, "{bad}");
        }
        let ks = |v: &[(u64, u64)]| -> Vec<(String, u64)> {
            v.iter().map(|(a, b)| (key(*a, *b), 1)).collect()
        };
        let (segs, strays) = plan(&ks(&[(4, 9), (1, 3)])).unwrap();
        assert_eq!(segs.iter().map(|s| s.1).collect::<Vec<_>>(), vec![1, 4]);
        assert!(strays.is_empty());
        let gap = plan(&ks(&[(1, 3), (7, 9)])).unwrap_err();
        assert!(matches!(
            gap,
            SegmentError::Missing {
                first: 7,
                expected_after: 3,
                ..
            }
        ));
        assert!(gap.to_string().contains("4..=6"), "{gap}");
        assert!(matches!(
            plan(&ks(&[(1, 3), (3, 9)])),
            Err(SegmentError::Overlap { first: 3, .. })
        ));
        assert!(matches!(
            plan(&ks(&[(2, 3)])),
            Err(SegmentError::Missing {
                first: 2,
                expected_after: 0,
                ..
            })
        ));
    }
}
