//! The collector: peers with the target and counts the distinct prefixes it currently
//! announces, stamping when each count was reached.
//!
//! UPDATEs go through the [`scan`](super::scan) fast path into two hash sets (IPv4 keyed by
//! address and length in a `u64`, IPv6 by `(u128, u8)`), with a multiply-xorshift hash:
//! SipHash would be the slowest part of the loop. After each socket read (up to 1 MiB) the
//! count is recorded in a [`Progress`] with the instant the read returned, so
//! [`Collector::wait_until_count`] can say when the n-th distinct prefix arrived, even if
//! asked afterwards. That is when the octets reached the collector, not when it finished
//! counting them: as long as the collector keeps up (see [`CollectorTotals::busy`]) it is
//! the target's delivery time, undistorted by the collector's own work.

use std::collections::HashSet;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use anyhow::Result;

use super::netns::Netns;
use super::progress::Progress;
use super::scan::{Sink, scan_update};
use super::session::{Established, Inbound, Session, SessionConfig, SessionStats};
use crate::types::Family;

/// murmur3's 64-bit finalizer over the key's words: fast, and it spreads sequential
/// addresses over the whole table (a bare multiply would leave the low bits, which pick
/// the bucket, equal for every /32 of a run).
#[derive(Debug, Clone, Copy, Default)]
pub struct FastHash;

/// The hasher of [`FastHash`].
#[derive(Debug, Clone, Copy, Default)]
pub struct FastHasher(u64);

#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

impl Hasher for FastHasher {
    fn finish(&self) -> u64 {
        fmix64(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = fmix64(self.0 ^ i).wrapping_add(0x9E37_79B9_7F4A_7C15);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.write_u64(i as u64);
        self.write_u64((i >> 64) as u64);
    }
}

impl BuildHasher for FastHash {
    type Hasher = FastHasher;
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

/// The prefixes currently announced, per family.
#[derive(Debug, Default)]
struct Sets {
    v4: HashSet<u64, FastHash>,
    v6: HashSet<(u128, u8), FastHash>,
    /// Withdrawals of prefixes that were present.
    removed: u64,
}

impl Sink for Sets {
    #[inline]
    fn announce_v4(&mut self, addr: u32, len: u8) {
        self.v4.insert(u64::from(addr) << 8 | u64::from(len));
    }
    #[inline]
    fn withdraw_v4(&mut self, addr: u32, len: u8) {
        self.removed += u64::from(self.v4.remove(&(u64::from(addr) << 8 | u64::from(len))));
    }
    #[inline]
    fn announce_v6(&mut self, addr: u128, len: u8) {
        self.v6.insert((addr, len));
    }
    #[inline]
    fn withdraw_v6(&mut self, addr: u128, len: u8) {
        self.removed += u64::from(self.v6.remove(&(addr, len)));
    }
}

/// What the collector has counted so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CollectorTotals {
    /// Distinct IPv4 prefixes currently announced.
    pub ipv4: u64,
    /// Distinct IPv6 prefixes currently announced.
    pub ipv6: u64,
    /// UPDATEs received.
    pub updates: u64,
    /// Octets of those UPDATEs.
    pub update_octets: u64,
    /// Prefixes announced (NLRI entries, duplicates included).
    pub announced: u64,
    /// Prefixes withdrawn (entries, including ones not present).
    pub withdrawn: u64,
    /// Withdrawals that removed a present prefix.
    pub removed: u64,
    /// When the IPv4 End-of-RIB marker arrived (the latest one).
    pub end_of_rib_v4: Option<Instant>,
    /// When the IPv6 End-of-RIB marker arrived (the latest one).
    pub end_of_rib_v6: Option<Instant>,
    /// Time spent scanning and counting (from each read's return to the end of its
    /// processing): `announced / busy` is what the collector can take.
    pub busy: Duration,
}

impl CollectorTotals {
    /// Distinct prefixes of both families.
    pub fn distinct(&self) -> u64 {
        self.ipv4 + self.ipv6
    }

    /// The End-of-RIB stamp of a family.
    pub fn end_of_rib(&self, family: Family) -> Option<Instant> {
        match family {
            Family::Ipv4 => self.end_of_rib_v4,
            Family::Ipv6 => self.end_of_rib_v6,
        }
    }
}

struct Shared {
    progress: Progress,
    totals: Mutex<(CollectorTotals, Option<String>)>,
    cond: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, (CollectorTotals, Option<String>)> {
        self.totals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until `f` gives an answer, the session closes, or `timeout` passes.
    fn wait<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut f: impl FnMut(&CollectorTotals) -> Option<T>,
    ) -> Result<T> {
        super::session::wait_on(
            self.lock(),
            &self.cond,
            timeout,
            what,
            |g| g.1.as_deref(),
            |g| f(&g.0),
        )
    }
}

/// The reader thread's side.
struct Tally {
    sets: Sets,
    totals: CollectorTotals,
    eor_pending: [bool; 2],
    shared: Arc<Shared>,
}

impl Inbound for Tally {
    fn update(&mut self, body: &[u8]) -> Result<(), String> {
        let s = scan_update(body, &mut self.sets).map_err(|e| e.to_string())?;
        let t = &mut self.totals;
        t.updates += 1;
        t.update_octets += body.len() as u64 + 19;
        t.announced += u64::from(s.announced);
        t.withdrawn += u64::from(s.withdrawn);
        match s.end_of_rib {
            Some(Family::Ipv4) => self.eor_pending[0] = true,
            Some(Family::Ipv6) => self.eor_pending[1] = true,
            None => {}
        }
        Ok(())
    }

    fn batch(&mut self, at: Instant) {
        let t = &mut self.totals;
        t.busy += at.elapsed();
        t.ipv4 = self.sets.v4.len() as u64;
        t.ipv6 = self.sets.v6.len() as u64;
        t.removed = self.sets.removed;
        if std::mem::take(&mut self.eor_pending[0]) {
            t.end_of_rib_v4 = Some(at);
        }
        if std::mem::take(&mut self.eor_pending[1]) {
            t.end_of_rib_v6 = Some(at);
        }
        // Totals first: whoever the count wakes up reads totals at least as new.
        self.shared.lock().0 = *t;
        self.shared.cond.notify_all();
        self.shared.progress.record(at, t.ipv4 + t.ipv6);
    }

    fn closed(&mut self, why: &str) {
        self.shared.progress.close(why.to_string());
        self.shared.lock().1 = Some(why.to_string());
        self.shared.cond.notify_all();
    }
}

/// A BGP peer of the target that counts what it receives. Dropping it closes the session
/// (Cease) and joins its threads.
pub struct Collector {
    session: Session,
    shared: Arc<Shared>,
}

impl fmt::Debug for Collector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collector")
            .field("session", &self.session)
            .field("totals", &self.totals())
            .finish()
    }
}

impl Collector {
    /// Starts the session in `ns` (listening at once in [`Mode::Listen`]
    /// (super::session::Mode::Listen), so the target may connect any time after this returns).
    pub fn start(ns: impl Into<Netns>, cfg: SessionConfig) -> Result<Collector> {
        Collector::with_capacity(ns, cfg, 0)
    }

    /// [`Collector::start`] with room for `prefixes` reserved up front, so growing the sets
    /// (rehashing a million entries) does not happen while the clock runs.
    pub fn with_capacity(
        ns: impl Into<Netns>,
        cfg: SessionConfig,
        prefixes: usize,
    ) -> Result<Collector> {
        let mut sets = Sets::default();
        if cfg.families.contains(&Family::Ipv4) {
            sets.v4.reserve(prefixes);
        }
        if cfg.families.contains(&Family::Ipv6) {
            sets.v6.reserve(prefixes);
        }
        let shared = Arc::new(Shared {
            progress: Progress::new(0),
            totals: Mutex::new((CollectorTotals::default(), None)),
            cond: Condvar::new(),
        });
        let tally = Tally {
            sets,
            totals: CollectorTotals::default(),
            eor_pending: [false; 2],
            shared: Arc::clone(&shared),
        };
        let session = Session::start(ns.into(), cfg, tally)?;
        Ok(Collector { session, shared })
    }

    /// Waits until the session is established.
    pub fn wait_established(&self, timeout: Duration) -> Result<Established> {
        self.session.wait_established(timeout)
    }

    /// The session's details, once established.
    pub fn established(&self) -> Option<Established> {
        self.session.established()
    }

    /// Why the session ended, if it did.
    pub fn closed(&self) -> Option<String> {
        self.session.closed()
    }

    /// Distinct prefixes currently announced (as of the last processed read).
    pub fn count(&self) -> u64 {
        self.shared.progress.get()
    }

    /// Everything counted so far.
    pub fn totals(&self) -> CollectorTotals {
        self.shared.lock().0
    }

    /// Socket-level counters.
    pub fn stats(&self) -> SessionStats {
        self.session.stats()
    }

    /// Waits until at least `n` distinct prefixes are announced; returns when the read that
    /// brought the n-th one returned.
    pub fn wait_until_count(&self, n: u64, timeout: Duration) -> Result<Instant> {
        self.shared
            .progress
            .wait_at_least(n, timeout, "collector: distinct prefixes")
    }

    /// Waits until at most `n` distinct prefixes are announced; returns when that happened.
    pub fn wait_until_at_most(&self, n: u64, timeout: Duration) -> Result<Instant> {
        self.shared
            .progress
            .wait_at_most(n, timeout, "collector: distinct prefixes")
    }

    /// Waits until every prefix has been withdrawn (count 0 after some withdrawal).
    pub fn wait_until_withdrawn(&self, timeout: Duration) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        self.shared.wait(timeout, "collector: withdrawals", |t| {
            (t.withdrawn > 0).then_some(())
        })?;
        self.shared.progress.wait_at_most(
            0,
            deadline.saturating_duration_since(Instant::now()),
            "collector: distinct prefixes left",
        )
    }

    /// Waits for the End-of-RIB marker of `family`; returns when it arrived.
    pub fn wait_end_of_rib(&self, family: Family, timeout: Duration) -> Result<Instant> {
        let what = format!("collector: {family} End-of-RIB");
        self.shared.wait(timeout, &what, |t| t.end_of_rib(family))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_keys_spread() {
        use std::hash::BuildHasher as _;
        let h = FastHash;
        let buckets: HashSet<u64> = (0..1024u64)
            .map(|i| h.hash_one((0x6440_0000u64 + i) << 8 | 32) & 1023)
            .collect();
        assert!(buckets.len() > 600, "{}", buckets.len());
    }
}
