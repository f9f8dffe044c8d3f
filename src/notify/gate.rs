//! Coalescing: per channel and key (the job, or the kind for notices without one) at most one
//! message per `min_interval`. What comes meanwhile is held, and once the interval has passed
//! it goes out as one digest, so a flapping job sends two messages an interval, not hundreds.
//! Pure: time is an argument.

use super::watch::Notice;
use crate::events::Ts;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq)]
struct Window {
    last_sent: Option<Ts>,
    held: Vec<Notice>,
}

/// What the gate says about a notice, and the digests due.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    Send(Notice),
    Digest {
        key: String,
        since: Ts,
        held: Vec<Notice>,
    },
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gate {
    min_interval_secs: u64,
    windows: BTreeMap<String, Window>,
}

pub fn key_of(n: &Notice) -> String {
    n.job_id
        .clone()
        .unwrap_or_else(|| n.kind.as_str().to_string())
}

impl Gate {
    pub fn new(min_interval_secs: u64) -> Gate {
        Gate {
            min_interval_secs,
            windows: BTreeMap::new(),
        }
    }

    /// Send now, or hold for the digest.
    pub fn offer(&mut self, notice: Notice, now: Ts) -> Option<Out> {
        let w = self.windows.entry(key_of(&notice)).or_default();
        match w.last_sent {
            Some(last) if !passed(last, now, self.min_interval_secs) => {
                w.held.push(notice);
                None
            }
            _ => {
                w.last_sent = Some(now);
                Some(Out::Send(notice))
            }
        }
    }

    /// The digests whose interval has passed at `now` (each restarts its window).
    pub fn due(&mut self, now: Ts) -> Vec<Out> {
        let mut out = vec![];
        for (key, w) in &mut self.windows {
            let Some(last) = w.last_sent else { continue };
            if w.held.is_empty() || !passed(last, now, self.min_interval_secs) {
                continue;
            }
            w.last_sent = Some(now);
            out.push(Out::Digest {
                key: key.clone(),
                since: last,
                held: std::mem::take(&mut w.held),
            });
        }
        out
    }
}

fn passed(last: Ts, now: Ts, secs: u64) -> bool {
    now.get() - last.get() >= time::Duration::seconds(secs as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Kind;

    fn t(secs: i64) -> Ts {
        Ts::from_unix_nanos(1_790_000_000_000_000_000 + secs * 1_000_000_000)
    }

    fn failed(job: &str, at: i64) -> Notice {
        Notice {
            kind: Kind::RunFailed,
            at: t(at),
            job_id: Some(job.into()),
            run_id: Some(format!("{job}-{at}")),
            subject: format!("{job} failed"),
            lines: vec![],
            report: None,
        }
    }

    #[test]
    fn a_hundred_failures_in_a_minute_are_one_message_and_one_digest() {
        let mut gate = Gate::new(600);
        let mut sent = vec![];
        for i in 0..100 {
            // given 100 failures of one job within a minute
            if let Some(o) = gate.offer(failed("nightly", i * 6 / 10), t(i * 6 / 10)) {
                sent.push(o);
            }
            sent.extend(gate.due(t(i * 6 / 10)));
        }
        // then the first went out at once, the rest are held
        assert_eq!(sent.len(), 1);
        assert!(matches!(&sent[0], Out::Send(n) if n.run_id.as_deref() == Some("nightly-0")));
        // nothing before the interval has passed
        assert!(gate.due(t(599)).is_empty());
        // when it has: one digest of the 99 held
        let digests = gate.due(t(600));
        assert_eq!(digests.len(), 1);
        let Out::Digest { key, since, held } = &digests[0] else {
            panic!("{digests:?}")
        };
        assert_eq!((key.as_str(), *since, held.len()), ("nightly", t(0), 99));
        // and nothing more after it
        assert!(gate.due(t(6000)).is_empty());
    }

    #[test]
    fn jobs_have_windows_of_their_own_and_a_quiet_window_sends_at_once() {
        let mut gate = Gate::new(600);
        assert!(gate.offer(failed("a", 0), t(0)).is_some());
        assert!(gate.offer(failed("b", 1), t(1)).is_some());
        assert!(gate.offer(failed("a", 2), t(2)).is_none());
        // after the interval with nothing held, the next is sent right away
        assert!(gate.offer(failed("b", 700), t(700)).is_some());
        // a's held one goes out as a digest
        assert_eq!(gate.due(t(700)).len(), 1);
        // a zero interval never holds
        let mut open = Gate::new(0);
        assert!(open.offer(failed("a", 0), t(0)).is_some());
        assert!(open.offer(failed("a", 0), t(0)).is_some());
    }
}
