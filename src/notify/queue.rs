//! The delivery queue: one thread per channel takes messages in order and tries each up to the
//! channel's `retries`, waiting `retry_backoff`, doubled after each failure (at most an hour).
//! Every attempt's outcome goes back to the watcher, which records it (`notification_sent` /
//! `notification_failed`). Runs and the API never wait on it: they only append events, which
//! the watcher reads. The threads hold no handle on the service: an attempt still hanging when
//! the service stops (a server that never answers, up to its timeout) holds neither the stop
//! nor the log; its outcome is then only logged.

use super::message::Message;
use super::send;
use crate::config::notify::Channel;
use crate::decide::{Command, Delivery};
use crate::service::{Meta, Service};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

const MAX_BACKOFF: Duration = Duration::from_secs(3600);

/// One attempt's outcome, for the watcher to record.
pub struct Outcome {
    pub channel: String,
    pub message: Message,
    pub attempt: u32,
    pub delivery: Delivery,
}

/// A channel's queue: messages sent here are delivered by its thread. Dropping it stops the
/// thread after the attempt in flight, without waiting for it (a message waiting for its retry
/// is given up: the service is stopping).
pub struct Queue {
    tx: mpsc::Sender<Message>,
    stop: Arc<AtomicBool>,
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }
}

impl Queue {
    pub fn start(channel: Channel, outcomes: smol::channel::Sender<Outcome>) -> Queue {
        let (tx, rx) = mpsc::channel::<Message>();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::Builder::new()
            .name(format!("notify-{}", channel.name))
            .spawn(move || {
                // Ends when the watcher lets go of the sender (shutdown).
                while let Ok(m) = rx.recv() {
                    if stopping.load(Ordering::Acquire) {
                        return;
                    }
                    deliver_with_retries(&channel, &m, &stopping, &outcomes);
                }
            })
            .expect("a thread for the notification queue");
        Queue { tx, stop }
    }

    pub fn push(&self, m: Message) {
        if self.tx.send(m).is_err() {
            log::warn!("notification queue stopped: a message was dropped");
        }
    }
}

fn deliver_with_retries(
    channel: &Channel,
    m: &Message,
    stop: &AtomicBool,
    outcomes: &smol::channel::Sender<Outcome>,
) {
    let mut wait = Duration::from_secs(channel.retry_backoff_secs);
    for attempt in 1..=channel.retries {
        let outcome = match send::deliver(channel, m) {
            Ok(()) => Delivery::Sent {
                subject: m.subject.clone(),
                run_id: m.run_id.clone(),
            },
            Err(reason) => Delivery::Failed {
                reason,
                will_retry: attempt < channel.retries,
            },
        };
        let done = matches!(outcome, Delivery::Sent { .. });
        if let Delivery::Failed { reason, .. } = &outcome {
            log::warn!(
                "notification {} to {} failed (attempt {attempt}/{}): {reason}",
                m.kind,
                channel.name,
                channel.retries
            );
        }
        let outcome = Outcome {
            channel: channel.name.clone(),
            message: m.clone(),
            attempt,
            delivery: outcome,
        };
        if let Err(lost) = outcomes.send_blocking(outcome) {
            let o = lost.into_inner();
            log::warn!(
                "notification {} to {} (attempt {}) not recorded, the service is stopping: {:?}",
                o.message.kind,
                o.channel,
                o.attempt,
                o.delivery
            );
            return;
        }
        if done || attempt == channel.retries {
            return;
        }
        // The backoff in short naps, so a stopping service is not held for up to an hour.
        let until = Instant::now() + wait;
        while Instant::now() < until {
            if stop.load(Ordering::Acquire) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50).min(until - Instant::now()));
        }
        wait = (wait * 2).min(MAX_BACKOFF);
    }
}

/// Appends the attempt's outcome through the service, as every event is.
pub async fn record(
    service: &Service,
    channel: &str,
    m: &Message,
    attempt: u32,
    outcome: Delivery,
) {
    let meta = Meta {
        actor: "notify".into(),
        correlation: m.run_id.clone(),
        idempotency_key: None,
    };
    let command = Command::RecordDelivery {
        channel: channel.to_string(),
        kind: m.kind.clone(),
        attempt,
        outcome,
    };
    if let Err(e) = service.execute(command, meta).await {
        log::error!("notification outcome for {channel} not recorded: {e}");
    }
}
