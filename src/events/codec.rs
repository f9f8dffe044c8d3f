//! Byte framing of one envelope (schema/events.md, "Envelope"):
//!
//! - versions 1-3: `[version u8][bincode header][bincode payload]`
//! - version 4:    `[4][link: 32 bytes][bincode header][bincode payload][digest: 32 bytes]`
//!
//! A v4 record's `digest` is SHA-256 of every byte before it, the link included: it is the
//! record's checksum (a damaged byte anywhere is caught) and its hash in the chain. `link` is the
//! hash of the event before it: that event's digest if it is v4, else SHA-256 of its stored bytes
//! (older events have no digest of their own); `GENESIS` (all zero) at position 1. Checking the
//! link needs the previous event, so it is the store's job (`store::chain`); this module checks
//! what one record can show on its own.
//!
//! The payload's variant tag is read by hand before decoding, so an event written by a newer
//! binary is reported as an unknown variant rather than as garbage.

use super::{Envelope, Event, Ts};
use bincode::config::Config;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The version written into every new envelope.
pub const SCHEMA_VERSION: u8 = 7;

/// The first version whose records carry a digest and a link.
pub const CHAINED_VERSION: u8 = 4;

/// SHA-256 of a record: its checksum, and what the next record links to.
pub type Hash = [u8; 32];

/// What the event at position 1 links to.
pub const GENESIS: Hash = [0; 32];

const HASH_LEN: usize = 32;
/// The version byte, the link and the digest: a v4 record is never shorter.
const MIN_CHAINED_LEN: usize = 1 + 2 * HASH_LEN;

/// No event comes near this; it bounds what a corrupt length field can make the decoder allocate.
pub const MAX_EVENT_BYTES: usize = 4 << 20;

fn config() -> impl Config {
    bincode::config::standard().with_limit::<MAX_EVENT_BYTES>()
}

/// Why bytes are not an envelope. Each names where decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("event record is truncated (ended inside the {at})")]
    Truncated { at: &'static str },
    #[error(
        "event schema version {version} is not known to this binary (knows 1..={SCHEMA_VERSION})"
    )]
    UnknownVersion { version: u8 },
    #[error("event variant tag {index} is not known to this binary (knows 0..{})", Event::NAMES.len())]
    UnknownVariant { index: u64 },
    #[error("{count} trailing bytes after the event payload")]
    TrailingBytes { count: usize },
    #[error("event record exceeds {MAX_EVENT_BYTES} bytes")]
    TooLarge,
    #[error("malformed event {at}: {reason}")]
    Malformed { at: &'static str, reason: String },
    #[error("event checksum does not match its bytes (stored {stored}, computed {computed}): the record is damaged or was altered")]
    Checksum { stored: String, computed: String },
}

/// A decoded record: the envelope and its place in the hash chain.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub envelope: Envelope,
    /// The hash of the event before (v4 records); `None` for v1-3, which have no chain.
    pub link: Option<Hash>,
    /// This record's hash: its verified digest (v4), else SHA-256 of its bytes.
    pub hash: Hash,
}

/// The hash of a stored record as the next record links to it, without decoding it: a v4
/// record's digest as stored (checked when that record itself is read), else SHA-256 of all its
/// bytes. Only the version byte and the length are looked at.
pub fn hash_of(bytes: &[u8]) -> Hash {
    match bytes.first() {
        Some(&v) if v >= CHAINED_VERSION && bytes.len() >= MIN_CHAINED_LEN => {
            let mut h = GENESIS;
            h.copy_from_slice(&bytes[bytes.len() - HASH_LEN..]);
            h
        }
        _ => Sha256::digest(bytes).into(),
    }
}

/// Lower-case hex, for messages and `log verify`.
pub fn hex(hash: &Hash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Debug, thiserror::Error)]
#[error("event cannot be encoded: {0}")]
pub struct EncodeError(String);

#[derive(Serialize)]
struct HeaderRef<'a> {
    position: u64,
    recorded_at: Ts,
    actor: &'a str,
    correlation: Option<&'a str>,
}

#[derive(Deserialize)]
struct Header {
    position: u64,
    recorded_at: Ts,
    actor: String,
    correlation: Option<String>,
}

/// An envelope on its own, first of a chain (linked to `GENESIS`); the store links every record
/// it appends with `encode_linked`.
pub fn encode(envelope: &Envelope) -> Result<Vec<u8>, EncodeError> {
    encode_linked(envelope, &GENESIS)
}

/// The v4 record of `envelope`, linked to `link` (the hash of the event before it).
pub fn encode_linked(envelope: &Envelope, link: &Hash) -> Result<Vec<u8>, EncodeError> {
    let header = HeaderRef {
        position: envelope.position,
        recorded_at: envelope.recorded_at,
        actor: &envelope.actor,
        correlation: envelope.correlation.as_deref(),
    };
    let mut out = Vec::with_capacity(160);
    out.push(SCHEMA_VERSION);
    out.extend_from_slice(link);
    let err = |e: bincode::error::EncodeError| EncodeError(e.to_string());
    bincode::serde::encode_into_std_write(&header, &mut out, config()).map_err(err)?;
    bincode::serde::encode_into_std_write(&envelope.payload, &mut out, config()).map_err(err)?;
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    if out.len() > MAX_EVENT_BYTES {
        return Err(EncodeError(format!(
            "{} bytes is over the limit",
            out.len()
        )));
    }
    Ok(out)
}

/// The envelope in `bytes`, its checksum verified (v4). The chain link is not checked here.
pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
    decode_record(bytes).map(|r| r.envelope)
}

/// The record in `bytes`: a v4 record's digest is verified before anything is decoded, so a
/// damaged byte is a checksum error rather than whatever bincode makes of it.
pub fn decode_record(bytes: &[u8]) -> Result<Record, DecodeError> {
    let (&version, _) = bytes.split_first().ok_or(DecodeError::Truncated {
        at: "schema version",
    })?;
    if version == 0 || version > SCHEMA_VERSION {
        return Err(DecodeError::UnknownVersion { version });
    }
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(DecodeError::TooLarge);
    }
    if version < CHAINED_VERSION {
        let envelope = decode_body(&bytes[1..])?;
        return Ok(Record {
            envelope,
            link: None,
            hash: Sha256::digest(bytes).into(),
        });
    }
    if bytes.len() < MIN_CHAINED_LEN {
        return Err(DecodeError::Truncated {
            at: "link or digest",
        });
    }
    let (sealed, stored) = bytes.split_at(bytes.len() - HASH_LEN);
    let computed: Hash = Sha256::digest(sealed).into();
    if computed[..] != stored[..] {
        return Err(DecodeError::Checksum {
            stored: hex(stored.try_into().expect("32 bytes")),
            computed: hex(&computed),
        });
    }
    let mut link = GENESIS;
    link.copy_from_slice(&sealed[1..1 + HASH_LEN]);
    Ok(Record {
        envelope: decode_body(&sealed[1 + HASH_LEN..])?,
        link: Some(link),
        hash: computed,
    })
}

/// Header and payload: versions only ever added variants at the end, so every known version
/// decodes them the same way.
fn decode_body(rest: &[u8]) -> Result<Envelope, DecodeError> {
    let (header, used): (Header, usize) =
        bincode::serde::decode_from_slice(rest, config()).map_err(|e| map_err(e, "header"))?;
    let header_ref = HeaderRef {
        position: header.position,
        recorded_at: header.recorded_at,
        actor: &header.actor,
        correlation: header.correlation.as_deref(),
    };
    canonical(&header_ref, &rest[..used], "header")?;
    let body = &rest[used..];
    let index = variant_tag(body)?;
    if index >= Event::NAMES.len() as u64 {
        return Err(DecodeError::UnknownVariant { index });
    }
    let (payload, used): (Event, usize) =
        bincode::serde::decode_from_slice(body, config()).map_err(|e| map_err(e, "payload"))?;
    if used != body.len() {
        return Err(DecodeError::TrailingBytes {
            count: body.len() - used,
        });
    }
    canonical(&payload, body, "payload")?;
    Ok(Envelope {
        position: header.position,
        recorded_at: header.recorded_at,
        actor: header.actor,
        correlation: header.correlation,
        payload,
    })
}

/// bincode reads a number written longer than needed (`[251, 146, 0]` for 146) as if it were
/// short, so two byte strings could hold one event. Only the encoding `encode` writes is
/// accepted: an event has one byte form, and a damaged length or number is an error, not a
/// silently different record. Checked by encoding again into a comparison, without allocating.
fn canonical<T: Serialize>(value: &T, bytes: &[u8], at: &'static str) -> Result<(), DecodeError> {
    struct Same<'a>(&'a [u8]);
    impl bincode::enc::write::Writer for Same<'_> {
        fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
            match self.0.strip_prefix(bytes) {
                Some(rest) => {
                    self.0 = rest;
                    Ok(())
                }
                None => Err(bincode::error::EncodeError::Other("differs")),
            }
        }
    }
    let mut same = Same(bytes);
    match bincode::serde::encode_into_writer(value, &mut same, config()) {
        Ok(()) if same.0.is_empty() => Ok(()),
        _ => Err(DecodeError::Malformed {
            at,
            reason: "not in canonical form (a number or length is written longer than needed)"
                .into(),
        }),
    }
}

/// bincode's standard config writes an enum tag as a varint: one byte below 251, else a marker
/// byte (251 = u16, 252 = u32, 253 = u64) and that many little-endian bytes.
fn variant_tag(body: &[u8]) -> Result<u64, DecodeError> {
    let truncated = DecodeError::Truncated { at: "variant tag" };
    let (&first, rest) = body.split_first().ok_or(truncated.clone())?;
    let width = match first {
        0..=250 => return Ok(u64::from(first)),
        251 => 2,
        252 => 4,
        253 => 8,
        _ => return Ok(u64::MAX),
    };
    let raw = rest.get(..width).ok_or(truncated)?;
    let mut buf = [0u8; 8];
    buf[..width].copy_from_slice(raw);
    Ok(u64::from_le_bytes(buf))
}

fn map_err(e: bincode::error::DecodeError, at: &'static str) -> DecodeError {
    use bincode::error::DecodeError as B;
    match e {
        B::UnexpectedEnd { .. } => DecodeError::Truncated { at },
        B::LimitExceeded => DecodeError::TooLarge,
        other => DecodeError::Malformed {
            at,
            reason: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::examples;

    fn envelope(position: u64, payload: Event) -> Envelope {
        Envelope {
            position,
            recorded_at: Ts::from_unix_nanos(1_780_000_000_123_456_789),
            actor: "api:admin".into(),
            correlation: Some("run-1".into()),
            payload,
        }
    }

    /// The same envelope in the v1-3 layout (no link, no digest), as older binaries wrote it.
    fn unchained(v4: &[u8], version: u8) -> Vec<u8> {
        let mut out = vec![version];
        out.extend_from_slice(&v4[1 + HASH_LEN..v4.len() - HASH_LEN]);
        out
    }

    /// `[4][link][body]` with a correct digest: bytes the checksum lets through to bincode.
    fn sealed(link_and_body: &[u8]) -> Vec<u8> {
        let mut out = vec![4];
        out.extend_from_slice(link_and_body);
        let digest = Sha256::digest(&out);
        out.extend_from_slice(&digest);
        out
    }

    fn body(v4: &[u8]) -> Vec<u8> {
        v4[1..v4.len() - HASH_LEN].to_vec()
    }

    #[test]
    fn a_v4_record_carries_its_link_and_digest() {
        let env = envelope(7, examples().remove(9));
        let link = [7u8; 32];
        let bytes = encode_linked(&env, &link).unwrap();
        assert_eq!(bytes[0], SCHEMA_VERSION);
        assert_eq!(bytes[1..33], link);
        let record = decode_record(&bytes).unwrap();
        assert_eq!(record.envelope, env);
        assert_eq!(record.link, Some(link));
        let digest: Hash = Sha256::digest(&bytes[..bytes.len() - 32]).into();
        assert_eq!(record.hash, digest);
        assert_eq!(hash_of(&bytes), digest);
        // 64 bytes more than the same event unchained
        assert_eq!(bytes.len(), unchained(&bytes, 3).len() + 64);
    }

    #[test]
    fn every_damaged_byte_of_a_v4_record_is_a_typed_error() {
        let good = encode_linked(&envelope(7, examples().remove(9)), &[9; 32]).unwrap();
        for at in 0..good.len() {
            for bit in [0x01, 0x80] {
                let mut bad = good.clone();
                bad[at] ^= bit;
                let err = decode_record(&bad).unwrap_err();
                match at {
                    // the version byte: another chained version (the digest covers it)
                    0 if (CHAINED_VERSION..=SCHEMA_VERSION).contains(&bad[0]) => {
                        assert!(matches!(err, DecodeError::Checksum { .. }), "{err}")
                    }
                    // else unknown, or an older layout that does not parse
                    0 => assert!(!matches!(err, DecodeError::Checksum { .. }), "{err}"),
                    _ => assert!(matches!(err, DecodeError::Checksum { .. }), "{at}: {err}"),
                }
            }
        }
        for cut in 1..good.len() {
            assert!(decode_record(&good[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = good.clone();
        longer.push(0);
        assert!(matches!(
            decode_record(&longer),
            Err(DecodeError::Checksum { .. })
        ));
    }

    #[test]
    fn older_versions_decode_without_a_chain() {
        let env = envelope(7, examples().remove(9));
        let v4 = encode(&env).unwrap();
        for version in 1..CHAINED_VERSION {
            let old = unchained(&v4, version);
            let record = decode_record(&old).unwrap();
            assert_eq!(record.envelope, env);
            assert_eq!(record.link, None);
            let whole: Hash = Sha256::digest(&old).into();
            assert_eq!(
                record.hash, whole,
                "an old record's hash is that of its bytes"
            );
            assert_eq!(hash_of(&old), whole);
        }
    }

    #[test]
    fn bad_bytes_give_typed_errors() {
        let good = unchained(&encode(&envelope(7, examples().remove(9))).unwrap(), 3);
        assert_eq!(
            decode(&[]),
            Err(DecodeError::Truncated {
                at: "schema version"
            })
        );
        for unknown in [0, SCHEMA_VERSION + 1] {
            let mut v = good.clone();
            v[0] = unknown;
            assert_eq!(
                decode(&v),
                Err(DecodeError::UnknownVersion { version: unknown })
            );
        }
        let mut v1 = good.clone();
        v1[0] = 1;
        assert_eq!(decode(&v1), decode(&good), "v1 envelopes decode as before");
        let mut trailing = good.clone();
        trailing.extend([0, 0, 0]);
        assert_eq!(
            decode(&trailing),
            Err(DecodeError::TrailingBytes { count: 3 })
        );
        for cut in 1..good.len() {
            assert!(
                matches!(decode(&good[..cut]), Err(DecodeError::Truncated { .. })),
                "cut at {cut}: {:?}",
                decode(&good[..cut])
            );
        }
        // behind a correct digest, the same errors as ever
        let v4 = encode(&envelope(7, examples().remove(9))).unwrap();
        let mut with_trailing = body(&v4);
        with_trailing.extend([0, 0]);
        assert_eq!(
            decode(&sealed(&with_trailing)),
            Err(DecodeError::TrailingBytes { count: 2 })
        );
        assert!(matches!(
            decode(&sealed(&[0; 32])),
            Err(DecodeError::Truncated { at: "header" })
        ));
    }

    #[test]
    fn unknown_variant_tag_is_named() {
        let good = encode(&envelope(1, Event::SchedulerStarted)).unwrap();
        // SchedulerStarted is a unit variant: its tag is the last byte before the digest.
        let mut bad = body(&good);
        *bad.last_mut().unwrap() = Event::NAMES.len() as u8;
        let expected = Err(DecodeError::UnknownVariant {
            index: Event::NAMES.len() as u64,
        });
        assert_eq!(decode(&sealed(&bad)), expected);
        let mut old = unchained(&good, 3);
        *old.last_mut().unwrap() = Event::NAMES.len() as u8;
        assert_eq!(decode(&old), expected);
    }

    #[test]
    fn numbers_written_longer_than_needed_are_refused() {
        let v4 = encode(&envelope(5, Event::JobPaused { job_id: "x".into() })).unwrap();
        let good = unchained(&v4, 3);
        assert_eq!(good[1], 5, "the position comes first");
        // 5 as a u16 varint: what bincode alone would read as 5
        let mut long_position = good.clone();
        long_position.splice(1..2, [251, 5, 0]);
        let long_length = {
            let mut v = good.clone();
            let len_at = v.len() - 2; // [.., tag, len 1, b'x']
            assert_eq!(&v[len_at..], [1, b'x']);
            v.splice(len_at..len_at + 1, [251, 1, 0]);
            v
        };
        for (bytes, at) in [(long_position, "header"), (long_length, "payload")] {
            let mut chained = vec![0; 32];
            chained.extend_from_slice(&bytes[1..]);
            for bytes in [bytes, sealed(&chained)] {
                assert!(
                    matches!(decode(&bytes), Err(DecodeError::Malformed { at: a, .. }) if a == at),
                    "{at}: {:?}",
                    decode(&bytes)
                );
            }
        }
        assert!(decode(&good).is_ok());
        assert!(decode(&v4).is_ok());
    }
}
