//! The loader: a BGP speaker that announces N precomputed prefixes to the target as fast as
//! the socket takes them, then End-of-RIB, keeps the session up, and can withdraw them all.
//!
//! ```no_run
//! # use std::time::Duration;
//! # use interop::bench::{Loader, LoadSpec, SessionConfig};
//! # fn demo(node: &interop::Node) -> anyhow::Result<()> {
//! let cfg = SessionConfig::new("192.0.2.1".parse()?, 65001, "192.0.2.2".parse()?, 64512);
//! let loader = Loader::start(node, cfg, &LoadSpec::ipv4(1_000_000))?; // builds, then connects
//! loader.wait_established(Duration::from_secs(30))?;
//! loader.announce()?;
//! let sent = loader.wait_announced(Duration::from_secs(60))?;
//! println!("{} octets in {:?}", sent.octets, sent.duration());
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;

use super::netns::Netns;
use super::prefixes::{LoadSpec, Updates};
use super::session::{
    Established, Inbound, JobKind, SendStamps, Session, SessionConfig, SessionStats,
};

/// The loader reads and drops whatever the target sends (FRR sends routes back).
struct Discard;

impl Inbound for Discard {
    fn update(&mut self, _: &[u8]) -> Result<(), String> {
        Ok(())
    }
    fn batch(&mut self, _: Instant) {}
    fn closed(&mut self, _: &str) {}
}

/// One loader session. Dropping it closes the session (Cease) and joins its threads.
pub struct Loader {
    session: Session,
    updates: Arc<Updates>,
}

impl fmt::Debug for Loader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Loader")
            .field("session", &self.session)
            .field("updates", &self.updates)
            .finish()
    }
}

impl Loader {
    /// Builds the UPDATEs for `spec` (next hop: `spec.next_hop`, else `cfg.local_addr`),
    /// then starts the session in `ns`. Returns once connecting (or listening) has begun;
    /// see [`Loader::wait_established`].
    pub fn start(ns: impl Into<Netns>, cfg: SessionConfig, spec: &LoadSpec) -> Result<Loader> {
        let next_hop = spec.next_hop.unwrap_or(cfg.local_addr);
        let updates = Updates::build(spec, cfg.local_asn, cfg.peer_asn, next_hop)?;
        Loader::start_with(ns, cfg, Arc::new(updates))
    }

    /// Starts with UPDATEs built beforehand (e.g. before the target was started).
    pub fn start_with(
        ns: impl Into<Netns>,
        mut cfg: SessionConfig,
        updates: Arc<Updates>,
    ) -> Result<Loader> {
        let family = updates.range.family();
        if !cfg.families.contains(&family) {
            cfg.families.push(family);
        }
        let session = Session::start(ns.into(), cfg, Discard)?;
        Ok(Loader { session, updates })
    }

    /// The precomputed messages.
    pub fn updates(&self) -> &Updates {
        &self.updates
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

    /// Socket-level counters.
    pub fn stats(&self) -> SessionStats {
        self.session.stats()
    }

    /// Starts writing every announcement, then End-of-RIB (as soon as the session is up).
    pub fn announce(&self) -> Result<()> {
        self.session
            .submit(JobKind::Announce, Arc::clone(&self.updates))
    }

    /// Waits until the announcements of the last [`Loader::announce`] are written.
    pub fn wait_announced(&self, timeout: Duration) -> Result<SendStamps> {
        self.session.wait_job(JobKind::Announce, timeout)
    }

    /// Starts writing every withdrawal.
    pub fn withdraw(&self) -> Result<()> {
        self.session
            .submit(JobKind::Withdraw, Arc::clone(&self.updates))
    }

    /// Waits until the withdrawals of the last [`Loader::withdraw`] are written.
    pub fn wait_withdrawn(&self, timeout: Duration) -> Result<SendStamps> {
        self.session.wait_job(JobKind::Withdraw, timeout)
    }
}
