//! The network side of the agent.
//!
//! ```text
//!  listeners ──accepted──┐                       ┌──► writer task per connection
//!  connectors ─connected─┤                       │
//!  readers ───messages───┼──► driver (owns the Speaker) ──► FIB (next issue)
//!  control server ─query─┘         │ timers: sleep until poll_timeout()
//!                                  └──► answers to `podroute show`
//! ```
//!
//! One task owns the speaker; every other task only moves bytes or
//! requests through channels. No lock guards protocol state.

mod answer;
mod conn;
mod driver;
pub(crate) mod ifaddr;
mod md5_hint;
pub(crate) mod sockopt;
mod transport;

use bgp::fsm::ConnId;
use bytes::Bytes;
use tokio::net::TcpStream;

pub(crate) use driver::{Driver, DriverParts};
pub(crate) use ifaddr::first_global_ipv4;

/// What the I/O tasks tell the driver.
#[derive(Debug)]
pub(crate) enum NetEvent {
    Accepted {
        stream: TcpStream,
        remote: std::net::SocketAddr,
    },
    Connected {
        conn: ConnId,
        stream: TcpStream,
    },
    ConnectFailed {
        conn: ConnId,
        error: String,
    },
    Message {
        conn: ConnId,
        bytes: Bytes,
    },
    Closed {
        conn: ConnId,
        error: Option<String>,
    },
}

impl NetEvent {
    /// The message octets it carries (for the driver's burst budget).
    pub(crate) fn octets(&self) -> usize {
        match self {
            NetEvent::Message { bytes, .. } => bytes.len(),
            _ => 0,
        }
    }
}
