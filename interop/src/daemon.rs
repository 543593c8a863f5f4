//! What every BGP speaker in a lab can answer, and waits built on it.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};

use crate::config::Origin;
use crate::lab::Node;
use crate::types::{Family, Prefix, Route, SessionState, show_routes};
use crate::wait::{Fatal, wait_until};

/// Lines of daemon log appended to a failed wait.
pub const LOG_TAIL_LINES: usize = 40;

/// A BGP speaker running in a node: FRR, BIRD, GoBGP (and later podroute).
pub trait Daemon {
    /// A short name for messages, e.g. `frr@r1`.
    fn name(&self) -> String;

    /// The node it runs in.
    fn node(&self) -> &Node;

    /// The session state with one configured neighbor.
    fn session_state(&self, peer: IpAddr) -> Result<SessionState>;

    /// Every path of every prefix of one family in the daemon's BGP table (locally originated
    /// ones included).
    fn routes(&self, family: Family) -> Result<Vec<Route>>;

    /// Starts originating a prefix.
    fn originate(&mut self, origin: Origin) -> Result<()>;

    /// Stops originating a prefix.
    fn withdraw(&mut self, prefix: Prefix) -> Result<()>;

    /// The last lines of the daemon's log(s).
    fn log_tail(&self, lines: usize) -> String;

    /// Fails unless the daemon's processes are still running.
    fn ensure_running(&self) -> Result<()>;

    /// Every path for one prefix.
    fn paths(&self, prefix: Prefix) -> Result<Vec<Route>> {
        Ok(self
            .routes(prefix.family())?
            .into_iter()
            .filter(|r| r.prefix == prefix)
            .collect())
    }

    /// [`wait_until`], with this daemon's name and log tail added to a timeout error. Stops at
    /// once if the daemon exits meanwhile.
    fn wait<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut() -> Result<T>,
    ) -> Result<T>
    where
        Self: Sized,
    {
        let checked = || {
            self.ensure_running().map_err(|e| Fatal(format!("{e:#}")))?;
            probe()
        };
        wait_until(&format!("{what} on {}", self.name()), timeout, checked).map_err(|e| {
            anyhow!(
                "{e:#}\n--- last {LOG_TAIL_LINES} log lines of {}:\n{}",
                self.name(),
                self.log_tail(LOG_TAIL_LINES)
            )
        })
    }

    /// Waits until the session with `peer` is Established.
    fn wait_established(&self, peer: IpAddr, timeout: Duration) -> Result<()>
    where
        Self: Sized,
    {
        self.wait(
            &format!("session with {peer} Established"),
            timeout,
            || match self.session_state(peer)? {
                SessionState::Established => Ok(()),
                s => bail!("session state {s}"),
            },
        )
    }

    /// Waits until the session with `peer` is not Established.
    fn wait_not_established(&self, peer: IpAddr, timeout: Duration) -> Result<SessionState>
    where
        Self: Sized,
    {
        self.wait(
            &format!("session with {peer} to leave Established"),
            timeout,
            || match self.session_state(peer)? {
                SessionState::Established => bail!("session state Established"),
                s => Ok(s),
            },
        )
    }

    /// Waits until some path for `prefix` satisfies `pred`, and returns it.
    fn wait_route(
        &self,
        prefix: Prefix,
        timeout: Duration,
        pred: impl Fn(&Route) -> bool,
    ) -> Result<Route>
    where
        Self: Sized,
    {
        self.wait(&format!("a matching path for {prefix}"), timeout, || {
            let paths = self.paths(prefix)?;
            match paths.iter().find(|r| pred(r)) {
                Some(r) => Ok(r.clone()),
                None => bail!("paths for {prefix}:\n{}", show_routes(&paths)),
            }
        })
    }

    /// Waits until the daemon has no path at all for `prefix`.
    fn wait_no_route(&self, prefix: Prefix, timeout: Duration) -> Result<()>
    where
        Self: Sized,
    {
        self.wait(&format!("no path for {prefix}"), timeout, || {
            let paths = self.paths(prefix)?;
            if paths.is_empty() {
                Ok(())
            } else {
                bail!("paths for {prefix}:\n{}", show_routes(&paths))
            }
        })
    }
}
