//! The control socket: `podroute show ...` asks, the agent answers.
//!
//! ```text
//!  podroute show ──client (blocking)──► unix socket ──► server task
//!                                                          │ (Query, oneshot)
//!                                                          ▼
//!                                        the agent's core task (owns the state)
//! ```
//!
//! The server only moves bytes: it reads one request, hands the query to the
//! core task through a [`server::ControlHandle`] and writes back what comes
//! out. The wire format is in [`protocol`].

#[allow(
    unreachable_pub,
    reason = "the frozen protocol file says `pub`; the crate is a binary"
)]
pub(crate) mod protocol;

pub(crate) mod client;

pub(crate) mod server;

/// Where the agent listens and `podroute show` connects, unless told
/// otherwise (`--socket`, `PODROUTE_SOCKET`).
pub(crate) const DEFAULT_SOCKET: &str = "/run/podroute/podroute.sock";
