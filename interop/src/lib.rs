//! Interop test harness: small network-namespace topologies running real BGP daemons
//! (FRR 8.4, BIRD 2.0, GoBGP 3.10, podroute), for integration tests in `tests/`; and
//! containerlab topology files realised in namespaces ([`clab`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use interop::{BgpConfig, Bird, Community, Daemon, Frr, Lab, Neighbor, Origin, prefix};
//!
//! # fn main() -> anyhow::Result<()> {
//! let lab = Lab::new("demo")?; // fails clearly unless root
//! let (r1, r2) = (lab.node("r1")?, lab.node("r2")?);
//! lab.link(&r1, "192.0.2.1/30", &r2, "192.0.2.2/30")?;
//! let frr = Frr::start(
//!     &r1,
//!     BgpConfig::new(4200000001, "192.0.2.1".parse()?)
//!         .neighbor(Neighbor::new("192.0.2.2".parse()?, 4200000002))
//!         .originate(Origin::new(prefix("10.244.1.0/24")).community(Community(64511, 1))),
//! )?;
//! let bird = Bird::start(
//!     &r2,
//!     BgpConfig::new(4200000002, "192.0.2.2".parse()?)
//!         .neighbor(Neighbor::new("192.0.2.1".parse()?, 4200000001).passive()),
//! )?;
//! frr.wait_established("192.0.2.2".parse()?, Duration::from_secs(60))?;
//! let route = bird.wait_route(prefix("10.244.1.0/24"), Duration::from_secs(60), |r| {
//!     r.has_community(Community(64511, 1))
//! })?;
//! assert_eq!(route.as_path, vec![4200000001]);
//! # Ok(())
//! # }
//! ```
//!
//! Everything a test creates is torn down when the values are dropped, also on panic:
//! daemons and other processes are stopped by PID (TERM, then KILL after a grace period),
//! then the lab deletes its namespaces and scratch directory. See `README.md` for the rules
//! tests follow and the daemon quirks the harness works around.

pub mod bench;
pub mod bird;
pub mod clab;
pub mod config;
pub mod daemon;
pub mod fake_api;
pub mod frr;
pub mod gobgp;
pub mod lab;
pub mod podroute;
pub mod process;
pub mod rules;
pub mod types;
pub mod wait;

pub use bird::{Bird, BirdProtocol};
pub use clab::{Deployed, KeptLab, NodeRole, PingStats, Topology};
pub use config::{BgpConfig, Direction, Neighbor, Origin, Policy, Timers};
pub use daemon::Daemon;
pub use frr::Frr;
pub use gobgp::{Gobgp, GobgpExtras};
pub use lab::{Lab, Link, Node, NodeProcess, require_programs, require_root};
pub use podroute::{MaxPrefix, Podroute, PodrouteExtras};
pub use process::{Process, Signal};
pub use types::{
    Community, Family, LargeCommunity, Prefix, Route, SessionState, prefix, show_routes,
};
pub use wait::{Fatal, wait_until};
