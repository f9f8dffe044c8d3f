//! Reading the log checks it: each record's checksum (the codec), that positions are gapless and
//! each record sits under its own position, and that each chained record links to the hash of
//! the one before it. Once the chain has begun (the first v4 record), every later record must be
//! chained: an unchained one there was put in by hand.

use super::StoreError;
use crate::events::{self, Envelope, Hash, CHAINED_VERSION, GENESIS};

/// Where a walk of the log stands: the next position due and the hash it must link to.
#[derive(Debug, Clone)]
pub(super) struct Chain {
    next: u64,
    head: Hash,
    begun: bool,
    /// Chained records seen by this walk, and the first of them.
    pub(super) chained: u64,
    pub(super) first_chained: Option<u64>,
}

impl Chain {
    /// A walk from the start of the log.
    pub(super) fn start() -> Chain {
        Chain {
            next: 1,
            head: GENESIS,
            begun: false,
            chained: 0,
            first_chained: None,
        }
    }

    /// A walk that continues after the event at `position`, whose stored bytes are `bytes`
    /// (checked when that event itself is read, not here).
    pub(super) fn after(position: u64, bytes: &[u8]) -> Chain {
        Chain {
            next: position + 1,
            head: events::hash_of(bytes),
            begun: bytes.first().is_some_and(|&v| v >= CHAINED_VERSION),
            chained: 0,
            first_chained: None,
        }
    }

    /// The hash the next record links to.
    pub(super) fn head(&self) -> Hash {
        self.head
    }

    /// At the end of a walk meant to reach `last`: the event it stopped short of, if any.
    pub(super) fn check_end(&self, last: u64) -> Option<StoreError> {
        (self.next <= last).then_some(StoreError::Gap {
            position: self.next,
        })
    }

    /// Check the record stored under `position` and step past it.
    pub(super) fn check(&mut self, position: u64, bytes: &[u8]) -> Result<Envelope, StoreError> {
        if position != self.next {
            return Err(StoreError::Gap {
                position: self.next,
            });
        }
        let record = events::decode_record(bytes)
            .map_err(|source| StoreError::Decode { position, source })?;
        if record.envelope.position != position {
            return Err(StoreError::Misplaced {
                position,
                recorded: record.envelope.position,
            });
        }
        match record.link {
            Some(link) if link != self.head => {
                return Err(StoreError::Chain {
                    position,
                    expected: events::hex(&self.head),
                    found: events::hex(&link),
                })
            }
            Some(_) => {
                self.begun = true;
                self.chained += 1;
                self.first_chained.get_or_insert(position);
            }
            None if self.begun => {
                return Err(StoreError::Unchained {
                    position,
                    version: bytes[0],
                })
            }
            None => {}
        }
        self.head = record.hash;
        self.next += 1;
        Ok(record.envelope)
    }
}
