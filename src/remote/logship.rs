//! The event log off-site: its records shipped to every remote as immutable segments
//! (`segment`: `log/<first:020>-<last:020>.seg`, written with `if_absent`, so a segment once
//! written is never replaced), after every run and at shutdown; each shipment recorded as
//! `log_shipped`. `recover --from-remote` (`remote::recover`) rebuilds a data dir from them.
//!
//! Where a remote's log ends is read from the remote itself (the last segment's name and
//! header), not from our own events: a shipment whose `log_shipped` was never recorded (a
//! crash between the two) is found there, and a prefix that another log ships to is found
//! before anything is written beside it. The `log_shipped` event of a shipment is itself in
//! the log, so the next shipment carries it; the newest one is only local until then
//! (schema/remote.md, "The tail").

pub mod segment;

use super::{ObjectStore, RemoteError};
use crate::decide::Command;
use crate::events::{self, Hash, GENESIS};
use crate::service::{Meta, Service};
use crate::store::{EventStore, StoreError};
use segment::SegmentError;
use smol::future::FutureExt;
use std::sync::Arc;
use std::time::Duration;

/// A segment holds at most this many records and about this many bytes, so a first shipment
/// of a long log is many objects of bounded size (and bounded memory), not one huge one.
const MAX_SEGMENT_RECORDS: usize = 10_000;
const MAX_SEGMENT_BYTES: usize = 16 << 20;
/// After a failed shipment, the next attempt comes this long after (or with the next run).
const RETRY_AFTER: Duration = Duration::from_secs(60);

/// Events that end a run: each is followed by a shipment.
const RUN_ENDS: &[&str] = &[
    "run_succeeded",
    "run_succeeded_v2",
    "run_succeeded_v3",
    "run_failed",
    "run_failed_v2",
    "run_interrupted",
    "run_cancelled",
    "restore_finished",
    "catalog_recovered",
];

/// One segment written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipped {
    pub first: u64,
    pub last: u64,
    pub key: String,
    pub bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    #[error(transparent)]
    Remote(#[from] RemoteError),
    #[error("reading the log to ship it: {0}")]
    Store(#[from] StoreError),
    #[error(transparent)]
    Segment(#[from] SegmentError),
    #[error("remote {remote}: the log segments there end at position {last} with hash {theirs}, but this log {ours}: another log ships under this prefix (give each host its own prefix); nothing is shipped there")]
    Diverged {
        remote: String,
        last: u64,
        theirs: String,
        ours: String,
    },
}

/// Where a remote's shipped log ends: the last position and its hash.
pub type Cursor = (u64, Hash);

/// Where the log segments on `remote` end, checked against our log: the last segment's head
/// must be the hash of our event at its last position.
pub fn remote_tip(store: &EventStore, remote: &dyn ObjectStore) -> Result<Cursor, ShipError> {
    let listed = remote.list("log/")?;
    let (segs, _) = segment::plan(&listed)?;
    let Some((key, _, last)) = segs.last() else {
        return Ok((0, GENESIS));
    };
    let bytes = remote.get(key, Some(0..segment::HEADER_LEN as u64))?;
    let header = segment::decode_header(key, &bytes)?;
    match store.hash_at_blocking(*last)? {
        Some(ours) if ours == header.head && header.last == *last => Ok((*last, ours)),
        ours => Err(ShipError::Diverged {
            remote: remote.name().to_string(),
            last: *last,
            theirs: events::hex(&header.head),
            ours: match ours {
                Some(h) => format!("has {} there", events::hex(&h)),
                None => format!("ends at position {}", store.last_position()),
            },
        }),
    }
}

/// Ship what `remote` lacks, as segments, from `cursor` on (read from the remote when `None`).
/// Nothing is shipped when the only new events are `log_shipped` ones: shipping them would
/// only make another. Returns the segments written, in order; `cursor` follows each one.
pub fn ship(
    store: &EventStore,
    remote: &dyn ObjectStore,
    cursor: &mut Option<Cursor>,
) -> Result<Vec<Shipped>, ShipError> {
    let (mut after, mut link) = match *cursor {
        Some(c) => c,
        None => {
            let c = remote_tip(store, remote)?;
            *cursor = Some(c);
            c
        }
    };
    let mut out = Vec::new();
    loop {
        let mut records = store.raw_range_blocking(after, MAX_SEGMENT_RECORDS)?;
        let mut size = 0;
        if let Some(cut) = records.iter().position(|(_, b)| {
            size += b.len() + 4;
            size > MAX_SEGMENT_BYTES
        }) {
            records.truncate(cut.max(1));
        }
        if records.is_empty() || (out.is_empty() && only_shipments(&records)) {
            return Ok(out);
        }
        let (first, last) = (records[0].0, records[records.len() - 1].0);
        let bytes = segment::encode(&link, &records);
        let key = segment::key(first, last);
        match remote.put_bytes(&key, &bytes, true) {
            Ok(()) => {}
            // Written before by us (the cursor was lost with a crash) it holds these bytes;
            // anything else there is another log's.
            Err(RemoteError::Exists { .. }) => {
                let there = remote.get(&key, None)?;
                if there != bytes {
                    return Err(ShipError::Diverged {
                        remote: remote.name().to_string(),
                        last,
                        theirs: format!("a different {key}"),
                        ours: "holds other records there".into(),
                    });
                }
            }
            Err(e) => return Err(e.into()),
        }
        after = last;
        link = events::hash_of(&records[records.len() - 1].1);
        *cursor = Some((after, link));
        out.push(Shipped {
            first,
            last,
            key,
            bytes: bytes.len() as u64,
        });
    }
}

fn only_shipments(records: &[(u64, Vec<u8>)]) -> bool {
    records.iter().all(|(_, b)| {
        events::decode(b).is_ok_and(|e| matches!(e.payload, events::Event::LogShipped { .. }))
    })
}

/// The shipping thread of `serve`: ships to every remote at start (what a crash left), after
/// every run's outcome, and once more when stopped (dropped).
pub struct LogShipper {
    _thread: crate::background::Background,
}

/// Start shipping to `remotes`; `None` when there are none.
pub fn start(service: Service, remotes: Vec<Arc<dyn ObjectStore>>) -> Option<LogShipper> {
    if remotes.is_empty() {
        return None;
    }
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let seen = service.position();
    let thread = std::thread::Builder::new()
        .name("log-shipper".into())
        .spawn(move || follow(service, remotes, seen, stopped))
        .expect("a thread for the log shipper");
    Some(LogShipper {
        _thread: crate::background::Background::new(stop, thread),
    })
}

fn follow(
    service: Service,
    remotes: Vec<Arc<dyn ObjectStore>>,
    mut seen: u64,
    stopped: smol::channel::Receiver<()>,
) {
    let mut cursors: Vec<Option<Cursor>> = vec![None; remotes.len()];
    let mut failed = ship_all(&service, &remotes, &mut cursors);
    loop {
        enum Wake {
            Events,
            Stop,
            Retry,
        }
        let wake = smol::block_on(async {
            let events = async {
                service.wait_beyond(seen).await;
                Wake::Events
            };
            let stop = async {
                let _ = stopped.recv().await;
                Wake::Stop
            };
            let retry = async {
                match failed {
                    true => smol::Timer::after(RETRY_AFTER).await,
                    false => std::future::pending().await,
                };
                Wake::Retry
            };
            stop.or(events).or(retry).await
        });
        match wake {
            Wake::Stop => {
                ship_all(&service, &remotes, &mut cursors);
                return;
            }
            Wake::Retry => failed = ship_all(&service, &remotes, &mut cursors),
            Wake::Events => {
                let upto = service.position();
                let mut run_ended = false;
                let scanned = service.store().scan_blocking(seen, |env| {
                    run_ended |= RUN_ENDS.contains(&env.payload.name());
                    env.position < upto
                });
                if let Err(e) = scanned {
                    log::error!("log shipper: reading the log: {e}");
                }
                seen = upto;
                if run_ended {
                    failed = ship_all(&service, &remotes, &mut cursors);
                }
            }
        }
    }
}

/// One shipment to every remote, each recorded; true when any failed (it is retried).
fn ship_all(
    service: &Service,
    remotes: &[Arc<dyn ObjectStore>],
    cursors: &mut [Option<Cursor>],
) -> bool {
    let mut failed = false;
    for (remote, cursor) in remotes.iter().zip(cursors.iter_mut()) {
        match ship(service.store(), remote.as_ref(), cursor) {
            Ok(shipped) => {
                for s in shipped {
                    log::info!(
                        "log shipped to {}: positions {}..={} as {} ({} bytes)",
                        remote.name(),
                        s.first,
                        s.last,
                        s.key,
                        s.bytes
                    );
                    let command = Command::RecordLogShipped {
                        remote: remote.name().to_string(),
                        first: s.first,
                        last: s.last,
                        key: s.key,
                    };
                    if let Err(e) =
                        smol::block_on(service.execute(command, Meta::actor("system:logship")))
                    {
                        log::warn!("log shipment to {} not recorded: {e}", remote.name());
                    }
                }
            }
            Err(e) => {
                failed = true;
                // Read the remote's end again next time: it is the truth, not our cursor.
                *cursor = None;
                log::warn!("log not shipped to {}: {e}", remote.name());
            }
        }
    }
    failed
}
