//! Byte framing of one envelope: `[schema version u8][bincode header][bincode payload]`.
//!
//! The payload's variant tag is read by hand before decoding, so an event written by a newer
//! binary is reported as an unknown variant rather than as garbage.

use super::{Envelope, Event, Ts};
use bincode::config::Config;
use serde::{Deserialize, Serialize};

/// The version written into every new envelope.
pub const SCHEMA_VERSION: u8 = 4;

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

pub fn encode(envelope: &Envelope) -> Result<Vec<u8>, EncodeError> {
    let header = HeaderRef {
        position: envelope.position,
        recorded_at: envelope.recorded_at,
        actor: &envelope.actor,
        correlation: envelope.correlation.as_deref(),
    };
    let mut out = vec![SCHEMA_VERSION];
    let err = |e: bincode::error::EncodeError| EncodeError(e.to_string());
    out.extend(bincode::serde::encode_to_vec(&header, config()).map_err(err)?);
    out.extend(bincode::serde::encode_to_vec(&envelope.payload, config()).map_err(err)?);
    if out.len() > MAX_EVENT_BYTES {
        return Err(EncodeError(format!(
            "{} bytes is over the limit",
            out.len()
        )));
    }
    Ok(out)
}

pub fn decode(bytes: &[u8]) -> Result<Envelope, DecodeError> {
    let (&version, rest) = bytes.split_first().ok_or(DecodeError::Truncated {
        at: "schema version",
    })?;
    // Versions only ever added variants at the end, so every known version decodes the same way.
    if version == 0 || version > SCHEMA_VERSION {
        return Err(DecodeError::UnknownVersion { version });
    }
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(DecodeError::TooLarge);
    }
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
