//! A counter with a history: when did it first reach n (or drop to n)?
//!
//! The collector and the FIB watcher record their count after every batch they process (a
//! socket read), stamped with the moment the batch arrived. A waiter may come late (the
//! runner starts the load, then asks "when were all N there?"): the history answers for the
//! past as well as the future.
//!
//! Entries closer than [`RESOLUTION`] to the previous one overwrite it (keeping their own,
//! later, instant), so the history grows by at most one entry per 50 µs; it is capped at
//! [`MAX_ENTRIES`] (the oldest half is dropped).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// Updates closer together than this share one history entry.
pub const RESOLUTION: Duration = Duration::from_micros(50);
/// The most history entries kept.
pub const MAX_ENTRIES: usize = 1 << 21;

#[derive(Debug)]
struct State {
    /// (when, count after the batch), oldest first; never empty.
    history: VecDeque<(Instant, u64)>,
    /// When the bucket of the last entry started.
    bucket: Instant,
    /// Set when the source stops for good (session closed, socket error).
    closed: Option<String>,
}

/// A count over time, shared between the thread that updates it and waiters.
#[derive(Debug)]
pub struct Progress {
    state: Mutex<State>,
    cond: Condvar,
}

impl Progress {
    /// Starts at `initial`, now.
    pub fn new(initial: u64) -> Progress {
        let now = Instant::now();
        Progress {
            state: Mutex::new(State {
                history: VecDeque::from([(now, initial)]),
                bucket: now,
                closed: None,
            }),
            cond: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the count as of `at` (instants must not go backwards).
    pub fn record(&self, at: Instant, count: u64) {
        let mut s = self.lock();
        let last = s.history.back().map_or(0, |e| e.1);
        if last == count {
            return;
        }
        if at.saturating_duration_since(s.bucket) < RESOLUTION && s.history.len() > 1 {
            if let Some(e) = s.history.back_mut() {
                *e = (at, count);
            }
        } else {
            if s.history.len() >= MAX_ENTRIES {
                s.history.drain(..MAX_ENTRIES / 2);
            }
            s.history.push_back((at, count));
            s.bucket = at;
        }
        drop(s);
        self.cond.notify_all();
    }

    /// Marks the source as finished (waits that cannot succeed any more fail at once).
    pub fn close(&self, why: String) {
        let mut s = self.lock();
        if s.closed.is_none() {
            s.closed = Some(why);
        }
        drop(s);
        self.cond.notify_all();
    }

    /// Why the source stopped, if it did.
    pub fn closed(&self) -> Option<String> {
        self.lock().closed.clone()
    }

    /// The current count.
    pub fn get(&self) -> u64 {
        self.lock().history.back().map_or(0, |e| e.1)
    }

    /// Waits until the count is at least `n` and returns when it got there: the first entry
    /// after the last one below `n`.
    pub fn wait_at_least(&self, n: u64, timeout: Duration, what: &str) -> Result<Instant> {
        self.wait(timeout, what, n, |c| c >= n)
    }

    /// Waits until the count is at most `n` and returns when it got there.
    pub fn wait_at_most(&self, n: u64, timeout: Duration, what: &str) -> Result<Instant> {
        self.wait(timeout, what, n, |c| c <= n)
    }

    fn wait(
        &self,
        timeout: Duration,
        what: &str,
        n: u64,
        reached: impl Fn(u64) -> bool,
    ) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        let mut s = self.lock();
        loop {
            let current = s.history.back().map_or(0, |e| e.1);
            if reached(current) {
                // The latest entry that had not reached it; the crossing is the next one.
                let at = match s.history.iter().rposition(|e| !reached(e.1)) {
                    Some(i) => s.history[i + 1].0,
                    None => s.history[0].0,
                };
                return Ok(at);
            }
            if let Some(why) = &s.closed {
                bail!("{what}: stopped at {current} (waiting for {n}): {why}");
            }
            let now = Instant::now();
            if now >= deadline {
                bail!("{what}: {current} after {timeout:?}, waiting for {n}");
            }
            s = self
                .cond
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_for_the_past_and_the_future() {
        let p = Progress::new(0);
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(1);
        let t2 = t0 + Duration::from_millis(2);
        let t3 = t0 + Duration::from_millis(3);
        p.record(t1, 5);
        p.record(t2, 10);
        assert_eq!(
            p.wait_at_least(7, Duration::ZERO, "x").unwrap(),
            t2,
            "first reached at t2"
        );
        assert_eq!(p.wait_at_least(5, Duration::ZERO, "x").unwrap(), t1);
        assert!(p.wait_at_least(11, Duration::from_millis(10), "x").is_err());
        p.record(t3, 0);
        assert_eq!(p.wait_at_most(0, Duration::ZERO, "x").unwrap(), t3);
        // A second cycle: the answer is the latest crossing.
        let t4 = t0 + Duration::from_millis(4);
        p.record(t4, 10);
        assert_eq!(p.wait_at_least(10, Duration::ZERO, "x").unwrap(), t4);
        p.close("gone".into());
        assert!(
            p.wait_at_least(20, Duration::from_secs(10), "x")
                .unwrap_err()
                .to_string()
                .contains("gone")
        );
    }

    #[test]
    fn close_updates_share_an_entry() {
        let p = Progress::new(0);
        let t0 = Instant::now() + Duration::from_millis(1);
        p.record(t0, 1);
        p.record(t0 + Duration::from_micros(10), 2);
        p.record(t0 + Duration::from_micros(20), 3);
        assert_eq!(
            p.lock().history.len(),
            2,
            "the initial entry and one bucket"
        );
        assert_eq!(
            p.wait_at_least(2, Duration::ZERO, "x").unwrap(),
            t0 + Duration::from_micros(20)
        );
    }
}
