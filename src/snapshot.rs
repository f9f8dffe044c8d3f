//! Projection snapshots: a cache of the folded state at some position, so boot does not replay
//! from zero. Tagged with the projection code's version and the CRC32 of the event it was taken
//! at; a snapshot that does not match the code or the log is dropped, never preferred.

use crate::projections::{State, PROJECTION_VERSION};
use crate::store::{EventStore, StoreError};
use serde::{Deserialize, Serialize};

const NAME: &str = "projections";
/// Snapshots are local and trusted-ish, but a corrupt length must still not allocate the moon.
const MAX_SNAPSHOT_BYTES: usize = 2 << 30;

#[derive(Serialize, Deserialize)]
struct Header {
    projection_version: u32,
    position: u64,
    event_crc: u32,
}

#[derive(Serialize)]
struct RecordRef<'a> {
    header: Header,
    state: &'a State,
}

#[derive(Deserialize)]
struct Record {
    header: Header,
    state: State,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_SNAPSHOT_BYTES>()
}

/// Why a snapshot was not used (logged at boot; never fatal).
#[derive(Debug, PartialEq, Eq)]
pub enum Unused {
    None,
    OtherVersion(u32),
    BeyondLog(u64),
    LogDiffers(u64),
    Corrupt(String),
}

/// The snapshot, if there is one that matches this code and this log.
pub fn load(store: &EventStore) -> Result<Result<State, Unused>, StoreError> {
    let Some(bytes) = store.snapshot_blocking(NAME)? else {
        return Ok(Err(Unused::None));
    };
    let header: Header = match bincode::serde::decode_from_slice(&bytes, config()) {
        Ok((h, _)) => h,
        Err(e) => return Ok(Err(Unused::Corrupt(e.to_string()))),
    };
    if header.projection_version != PROJECTION_VERSION {
        return Ok(Err(Unused::OtherVersion(header.projection_version)));
    }
    if header.position > store.last_position() {
        return Ok(Err(Unused::BeyondLog(header.position)));
    }
    if header.position > 0 {
        let raw = store.raw_event_blocking(header.position)?;
        if raw.map(|r| crc32fast::hash(&r)) != Some(header.event_crc) {
            return Ok(Err(Unused::LogDiffers(header.position)));
        }
    }
    match bincode::serde::decode_from_slice::<Record, _>(&bytes, config()) {
        Ok((record, used))
            if used == bytes.len()
                && record.header.position == header.position
                && record.state.position == header.position =>
        {
            Ok(Ok(record.state))
        }
        Ok(_) => Ok(Err(Unused::Corrupt("length or position mismatch".into()))),
        Err(e) => Ok(Err(Unused::Corrupt(e.to_string()))),
    }
}

/// Write `state` as the snapshot.
pub fn save(store: &EventStore, state: &State) -> Result<(), StoreError> {
    let event_crc = match state.position {
        0 => 0,
        p => store
            .raw_event_blocking(p)?
            .map(|r| crc32fast::hash(&r))
            .unwrap_or(0),
    };
    let record = RecordRef {
        header: Header {
            projection_version: PROJECTION_VERSION,
            position: state.position,
            event_crc,
        },
        state,
    };
    match bincode::serde::encode_to_vec(&record, config()) {
        Ok(bytes) => store.put_snapshot_blocking(NAME, &bytes),
        Err(e) => {
            // A state too big to snapshot only costs boot time; the log stays the truth.
            log::warn!("projection snapshot not written: {e}");
            Ok(())
        }
    }
}

pub fn drop(store: &EventStore) -> Result<(), StoreError> {
    store.drop_snapshot_blocking(NAME)
}
