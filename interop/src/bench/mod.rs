//! Load tools for the side-by-side benchmarks (podroute, BIRD, FRR, GoBGP; issue 6): built
//! to be faster than anything they measure, so a daemon relaying a million prefixes in
//! about a second is never waiting on them.
//!
//! ```text
//!   loader(s) ──BGP──▶ target daemon ──BGP──▶ collector
//!                           │
//!                      kernel FIB ◀── FIB watcher (netlink events)
//!                           ▲
//!                        rawfib (the kernel's own limit, no daemon)
//! ```
//!
//! - [`Loader`]: one BGP session that announces N prefixes from UPDATEs built before the
//!   clock starts ([`Updates`], packed by `bgp::wire::UpdatePacker`), written in 1 MiB
//!   pieces, then End-of-RIB; later all the withdrawals. Stamps: first and last octet
//!   handed to the socket ([`SendStamps`]).
//! - [`ManyLoaders`]: hundreds or thousands of small loader sessions on one tokio thread.
//! - [`Collector`]: counts the distinct prefixes the target currently announces, via a
//!   scanner of UPDATE octets ([`scan`]), and says when the count reached n.
//! - [`FibWatcher`] and [`fib::count_now`]: the kernel table of a namespace, via rtnetlink
//!   events and dumps.
//! - [`RawFib`]: installs and removes the same routes directly, in batches of ~1000
//!   messages per `sendmsg`.
//!
//! Everything takes a [`Netns`] (`&Node` converts into one) and makes its sockets inside
//! that namespace from a short-lived thread; the tools' own threads never change
//! namespace. Handles stop and join their threads when dropped; there is no global state;
//! every loop is bounded by a deadline or a stop flag checked at least every 100 ms.
//! Address ranges: see [`prefixes`].
//!
//! Measured here (2 shared cores), loader → collector, 1M IPv4 /32s: ~16M prefixes/s
//! counted in a release build, ~2M/s in a debug build; so benchmarks run the tools
//! optimised (`cargo test --release`, or `[profile.dev.package.interop] opt-level = 3`).

pub mod collector;
pub mod fib;
pub mod loader;
pub mod many;
mod netlink;
pub mod netns;
pub mod prefixes;
pub mod progress;
pub mod rawfib;
pub mod runner;
pub mod scan;
pub mod session;

pub use collector::{Collector, CollectorTotals};
pub use fib::{FibFilter, FibWatcher, ProtocolFilter, rtprot};
pub use loader::Loader;
pub use many::{ManyLoaders, ManySpec};
pub use netns::Netns;
pub use prefixes::{AttrSets, LoadSpec, PrefixRange, Updates};
pub use rawfib::{RawFib, RawFibReport, RawFibSpec};
pub use session::{Established, Mode, SendStamps, SessionConfig, SessionStats};

/// Prefixes per second for `count` prefixes over `d`.
pub fn rate(count: u64, d: std::time::Duration) -> f64 {
    count as f64 / d.as_secs_f64().max(1e-9)
}
