//! podroute's BGP speaker as a library.
//!
//! Sans-IO by design: nothing in this crate opens a socket, spawns a task
//! or reads a clock. Bytes and time come in as arguments, bytes and
//! deadlines go out as values. That keeps the protocol deterministic,
//! testable in microseconds and fuzzable end to end.
//!
//! - [`types`]: the newtypes every layer shares (AS numbers, router IDs,
//!   address families, prefixes, communities).
//! - [`wire`]: every BGP-4 message, parsed and emitted symmetrically, with
//!   errors that already know their NOTIFICATION or RFC 7606 action.
#![forbid(unsafe_code)]

pub mod fsm;
pub mod policy;
pub mod rib;
pub mod speaker;
pub mod types;
pub mod wire;
