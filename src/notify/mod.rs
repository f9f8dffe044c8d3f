//! Notifications by e-mail and webhook (`[[notify]]`).
//!
//! The pure part decides what is sent: `watch` (which events are worth a notice), `gate`
//! (`min_interval` coalescing with a digest), `overdue` (the dead-man's switch), `message` (a
//! notice as a channel sends it). The shell delivers: `send` (SMTP, webhook), `queue` (a thread
//! per channel with retries and backoff) and `Notifier` below, a thread that follows the log and
//! the clock and records every attempt's outcome as an event (actor `notify`). A run never waits
//! on any of it.

mod gate;
pub mod kind;
mod message;
mod overdue;
mod queue;
pub mod send;
mod watch;

pub use kind::Kind;
pub use message::Message;

use crate::config::notify::Channel;
use crate::decide::Delivery;
use crate::events::Ts;
use crate::service::Service;
use smol::future::FutureExt;
use std::path::PathBuf;
use std::time::Duration;

/// How often the watcher looks at the clock without being woken (digests, overdue jobs).
const TICK: Duration = Duration::from_secs(1);
/// Events read from the log per batch.
const BATCH: usize = 1000;

struct Route {
    channel: Channel,
    gate: gate::Gate,
    dead_man: overdue::DeadMan,
    queue: queue::Queue,
}

/// The running notifier; dropping it stops the watcher (queued messages still go out).
pub struct Notifier {
    _thread: crate::background::Background,
}

/// Follows the log from its current position (nothing already recorded is notified again) and
/// the clock. `link` is the start of the links in messages where a channel sets none;
/// `data_dir` is where the recorded report locations are.
pub fn start(
    service: Service,
    channels: Vec<Channel>,
    link: String,
    data_dir: PathBuf,
) -> Option<Notifier> {
    if channels.is_empty() {
        return None;
    }
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    // Taken here, not on the thread: what is appended once `start` returned is followed.
    let from = service.read(|s| (s.position, watch::Watch::from_state(s)));
    let thread = std::thread::Builder::new()
        .name("notify-watch".into())
        .spawn(move || smol::block_on(follow(service, channels, link, data_dir, from, stopped)))
        .expect("a thread for the notifier");
    Some(Notifier {
        _thread: crate::background::Background::new(stop, thread),
    })
}

async fn follow(
    service: Service,
    channels: Vec<Channel>,
    link: String,
    data_dir: PathBuf,
    (mut seen, mut watch): (u64, watch::Watch),
    stopped: smol::channel::Receiver<()>,
) {
    // A report's recorded location is its JSON, relative to the data directory; the page the
    // mail carries is the HTML beside it.
    let page = |mut m: Message| {
        m.html_file = m.html_file.map(|location| {
            data_dir
                .join(location)
                .with_extension("html")
                .display()
                .to_string()
        });
        m
    };
    let (outcomes_tx, outcomes) = smol::channel::unbounded::<queue::Outcome>();
    let mut routes: Vec<Route> = channels
        .into_iter()
        .map(|channel| Route {
            gate: gate::Gate::new(channel.min_interval_secs),
            dead_man: overdue::DeadMan::default(),
            queue: queue::Queue::start(channel.clone(), outcomes_tx.clone()),
            channel,
        })
        .collect();
    drop(outcomes_tx);
    loop {
        // The queues' outcomes first: recording them appends events this loop then reads (and
        // finds no notice in).
        while let Ok(o) = outcomes.try_recv() {
            queue::record(&service, &o.channel, &o.message, o.attempt, o.delivery).await;
        }
        while service.position() > seen {
            let store = service.store().clone();
            let from = seen;
            let batch = match smol::unblock(move || store.read_blocking(from, BATCH)).await {
                Ok(b) if !b.is_empty() => b,
                Ok(_) => break,
                Err(e) => {
                    log::error!("notifier cannot read the log after {seen}: {e}");
                    // Not at once again: the wait below returns at once while the log is ahead.
                    smol::Timer::after(TICK).await;
                    break;
                }
            };
            let now = Ts::from(service.clock().now());
            for env in &batch {
                seen = env.position;
                let notices = service.read(|s| watch.observe(env, s));
                for n in notices {
                    for r in &mut routes {
                        if r.channel.events.contains(&n.kind) {
                            if let Some(out) = r.gate.offer(n.clone(), now) {
                                r.queue
                                    .push(page(message::render(&out, base(r, &link), now)));
                            }
                        }
                    }
                }
            }
        }
        let now = Ts::from(service.clock().now());
        for r in &mut routes {
            if r.channel.events.contains(&Kind::Overdue) {
                let channel = &r.channel;
                let late = service.read(|s| r.dead_man.check(s, |j| channel.alert_after(j), now));
                for n in late {
                    if let Some(out) = r.gate.offer(n, now) {
                        r.queue.push(message::render(&out, base(r, &link), now));
                    }
                }
            }
            for out in r.gate.due(now) {
                r.queue.push(message::render(&out, base(r, &link), now));
            }
        }
        let moved = service.clock().moved();
        let woken = async {
            service.wait_beyond(seen).await;
            Wake::Look
        }
        .or(async {
            match moved {
                Some(l) => l.await,
                None => std::future::pending::<()>().await,
            }
            Wake::Look
        })
        .or(async {
            // Never `Err` while the routes hold the queues' senders.
            match outcomes.recv().await {
                Ok(o) => Wake::Outcome(Box::new(o)),
                Err(_) => std::future::pending().await,
            }
        })
        .or(async {
            smol::Timer::after(TICK).await;
            Wake::Look
        })
        .or(async {
            let _ = stopped.recv().await;
            Wake::Stop
        });
        match woken.await {
            Wake::Look => {}
            Wake::Outcome(o) => {
                queue::record(&service, &o.channel, &o.message, o.attempt, o.delivery).await
            }
            Wake::Stop => {
                // What the queues reported already is recorded; an attempt still going is not
                // waited for (its outcome is logged by its thread).
                while let Ok(o) = outcomes.try_recv() {
                    queue::record(&service, &o.channel, &o.message, o.attempt, o.delivery).await;
                }
                return;
            }
        }
    }
}

enum Wake {
    Look,
    Outcome(Box<queue::Outcome>),
    Stop,
}

fn base<'a>(r: &'a Route, default: &'a str) -> &'a str {
    r.channel.link.as_deref().unwrap_or(default)
}

/// The outcome of `POST /api/backup/notify/test`.
#[derive(Debug, Clone, PartialEq)]
pub struct TestOutcome {
    pub delivered: bool,
    pub subject: String,
    pub reason: Option<String>,
}

/// One test message, sent now (one attempt, no queue) and recorded like any other.
pub async fn send_test(service: &Service, channel: &Channel, link: &str) -> TestOutcome {
    let now = Ts::from(service.clock().now());
    let m = message::test(&channel.name, channel.link.as_deref().unwrap_or(link), now);
    let (c, msg) = (channel.clone(), m.clone());
    let result = smol::unblock(move || send::deliver(&c, &msg)).await;
    let outcome = match &result {
        Ok(()) => Delivery::Sent {
            subject: m.subject.clone(),
            run_id: None,
        },
        Err(reason) => Delivery::Failed {
            reason: reason.clone(),
            will_retry: false,
        },
    };
    queue::record(service, &channel.name, &m, 1, outcome).await;
    TestOutcome {
        delivered: result.is_ok(),
        subject: m.subject,
        reason: result.err(),
    }
}
