//! The single writer: serialise commands, `decide`, append in one transaction, `evolve` the
//! in-memory projections, wake waiters. The API and the timer loop hold a `Service`; neither
//! touches the log or the projections directly.

use crate::clock::Clock;
use crate::decide::{decide, Command};
use crate::domain::job::RejectionCode;
use crate::domain::Rejection;
use crate::error::ErrorKind;
use crate::events::{Envelope, Ts};
use crate::projections::State;
use crate::snapshot;
use crate::store::{EventStore, Expected, NewEvent, StoreError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ServiceError::Rejected(r) => match r.code {
                // The command's input is wrong or names nothing: the sender must change it.
                RejectionCode::Validation | RejectionCode::NotFound => ErrorKind::Config,
                // A rule of the current state says no (running, taken, not expired yet).
                // The thing changed since the sender read it (`If-Match`).
                RejectionCode::Conflict | RejectionCode::PreconditionFailed => ErrorKind::Refused,
            },
            ServiceError::Store(e) => e.kind(),
        }
    }
}

/// Who sends a command and how it may be retried.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// `api:<token name>`, `scheduler`, `system`, `cli`.
    pub actor: String,
    pub correlation: Option<String>,
    /// The same key again returns the first result and writes nothing.
    pub idempotency_key: Option<String>,
}

impl Meta {
    pub fn actor(actor: &str) -> Meta {
        Meta {
            actor: actor.into(),
            ..Meta::default()
        }
    }
}

/// What boot found, for the log line and the tests.
#[derive(Debug, Clone, PartialEq)]
pub struct BootInfo {
    pub position: u64,
    pub snapshot_position: Option<u64>,
    pub snapshot_unused: Option<String>,
    pub replayed: u64,
}

struct Inner {
    store: EventStore,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
    commands: smol::lock::Mutex<()>,
    changed: event_listener::Event,
    snapshot_every: u64,
    snapshot_at: AtomicU64,
}

#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

impl Service {
    /// Load the snapshot if it fits, replay the rest of the log. Blocking: call it before serving
    /// or through `smol::unblock`.
    pub fn open(
        store: EventStore,
        clock: Arc<dyn Clock>,
        snapshot_every: u64,
    ) -> Result<(Service, BootInfo), StoreError> {
        let (mut state, snapshot_position, snapshot_unused) = match snapshot::load(&store)? {
            Ok(state) => {
                let p = state.position;
                (state, Some(p), None)
            }
            Err(snapshot::Unused::None) => (State::default(), None, None),
            Err(why) => {
                log::warn!("projection snapshot dropped: {why:?}");
                snapshot::drop(&store)?;
                (State::default(), None, Some(format!("{why:?}")))
            }
        };
        let from = state.position;
        store.scan_blocking(from, |env| {
            state.apply(&env);
            true
        })?;
        let info = BootInfo {
            position: state.position,
            snapshot_position,
            snapshot_unused,
            replayed: state.position - from,
        };
        if snapshot_every > 0 && info.replayed >= snapshot_every {
            snapshot::save(&store, &state)?;
        }
        let service = Service {
            inner: Arc::new(Inner {
                snapshot_at: AtomicU64::new(if info.replayed >= snapshot_every {
                    state.position
                } else {
                    from
                }),
                store,
                clock,
                state: RwLock::new(state),
                commands: smol::lock::Mutex::new(()),
                changed: event_listener::Event::new(),
                snapshot_every,
            }),
        };
        Ok((service, info))
    }

    /// decide → append → evolve → notify. Returns the events the command produced (or, for a
    /// repeated idempotency key, the events the first attempt produced).
    pub async fn execute(
        &self,
        command: Command,
        meta: Meta,
    ) -> Result<Vec<Envelope>, ServiceError> {
        let _turn = self.inner.commands.lock().await;
        if let Some(key) = &meta.idempotency_key {
            let store = self.inner.store.clone();
            let key = key.clone();
            let seen = smol::unblock(move || -> Result<_, StoreError> {
                match store.idempotency_blocking(&key)? {
                    Some((first, last)) => Ok(Some(
                        store.read_blocking(first - 1, (last - first + 1) as usize)?,
                    )),
                    None => Ok(None),
                }
            })
            .await?;
            if let Some(first_result) = seen {
                return Ok(first_result);
            }
        }
        let now = Ts::from(self.inner.clock.now());
        let (events, position) = {
            let state = self.read_state();
            (decide(&state, &command, now)?, state.position)
        };
        if events.is_empty() {
            return Ok(vec![]);
        }
        let new = events
            .into_iter()
            .map(|payload| NewEvent {
                recorded_at: now,
                actor: meta.actor.clone(),
                correlation: meta.correlation.clone(),
                payload,
            })
            .collect();
        let appended = self
            .inner
            .store
            .append(new, Expected::Position(position), meta.idempotency_key)
            .await?;
        {
            let mut state = self.inner.state.write().unwrap_or_else(|p| p.into_inner());
            for env in &appended.envelopes {
                state.apply(env);
            }
        }
        self.inner.changed.notify(usize::MAX);
        self.maybe_snapshot().await;
        Ok(appended.envelopes)
    }

    /// Run `f` on the current state (a short read lock: do not block inside).
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.read_state())
    }

    pub fn position(&self) -> u64 {
        self.read_state().position
    }

    pub fn store(&self) -> &EventStore {
        &self.inner.store
    }

    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.inner.clock
    }

    /// Wait until the projections hold a position beyond `position`.
    pub async fn wait_beyond(&self, position: u64) {
        loop {
            let listener = self.inner.changed.listen();
            if self.position() > position {
                return;
            }
            listener.await;
        }
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.inner.state.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Every `snapshot_every` events, write a snapshot. Done inside the command's turn (on the
    /// blocking pool) so snapshots are written in order and never outlive the service; it costs
    /// one command in `snapshot_every` the time of encoding the state.
    async fn maybe_snapshot(&self) {
        let every = self.inner.snapshot_every;
        let position = self.position();
        if every == 0 || position < self.inner.snapshot_at.load(Ordering::Acquire) + every {
            return;
        }
        let state = self.read_state().clone();
        let store = self.inner.store.clone();
        match smol::unblock(move || snapshot::save(&store, &state)).await {
            Ok(()) => self.inner.snapshot_at.store(position, Ordering::Release),
            Err(e) => log::warn!("projection snapshot not written: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_have_kinds() {
        let cases = [
            (Rejection::invalid("name", "bad").into(), ErrorKind::Config),
            (
                Rejection::not_found("job_id", "no").into(),
                ErrorKind::Config,
            ),
            (
                Rejection::conflict("job_id", "running").into(),
                ErrorKind::Refused,
            ),
            (
                ServiceError::Store(StoreError::Closed),
                ErrorKind::Transient,
            ),
            (
                ServiceError::Store(StoreError::Missing { path: "/d".into() }),
                ErrorKind::Config,
            ),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e}");
        }
    }
}
