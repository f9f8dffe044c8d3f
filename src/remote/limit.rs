//! The upload bandwidth cap (`max_upload_rate`): a token bucket shared by every upload to one
//! remote, and a reader that takes tokens before it hands bytes on.

use std::io::Read;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Bytes per second, with up to one second's worth saved up (a burst no larger than that).
pub struct RateLimit {
    rate: u64,
    state: Mutex<(f64, Instant)>,
}

impl RateLimit {
    pub fn new(rate: u64) -> RateLimit {
        RateLimit {
            rate,
            state: Mutex::new((rate as f64, Instant::now())),
        }
    }

    /// Blocks until `n` bytes may go. The debt is taken at once and slept off, so concurrent
    /// uploads share the rate rather than each getting all of it.
    pub fn take(&self, n: usize) {
        let wait = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            let now = Instant::now();
            let refill = now.duration_since(s.1).as_secs_f64() * self.rate as f64;
            s.0 = (s.0 + refill).min(self.rate as f64) - n as f64;
            s.1 = now;
            if s.0 < 0.0 {
                Duration::from_secs_f64(-s.0 / self.rate as f64)
            } else {
                Duration::ZERO
            }
        };
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
    }
}

/// A reader paced by an optional limit; reads at most 64 KiB at a time so the pace is smooth.
pub struct Paced<'a, R> {
    pub inner: R,
    pub limit: Option<&'a RateLimit>,
}

impl<R: Read> Read for Paced<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let Some(l) = self.limit else {
            return self.inner.read(buf);
        };
        let max = buf.len().min(64 << 10);
        let n = self.inner.read(&mut buf[..max])?;
        if n > 0 {
            l.take(n);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 3 MiB through a 1 MiB/s limit (1 MiB of burst) takes about two seconds, not none.
    #[test]
    fn the_rate_is_kept() {
        let limit = RateLimit::new(1 << 20);
        let data = vec![0u8; 3 << 20];
        let start = Instant::now();
        let mut r = Paced {
            inner: &data[..],
            limit: Some(&limit),
        };
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        let took = start.elapsed().as_secs_f64();
        assert!((1.8..3.0).contains(&took), "took {took}s");
    }
}
