//! The routing information bases (RFC 4271 §3.2): interned attribute sets,
//! the Loc-RIB with its decision process, and what is kept per peer.

mod attrs;
mod decision;
mod dense;
mod paths;
mod table;

pub use attrs::{Interner, RouteAttrs, SharedAttrs};
pub use decision::{Candidate, Decision, DecisionConfig, LossReason, Origin, decide};
pub use paths::Paths;
pub use table::{
    Advertised, Change, Dest, GroupId, LocRib, Path, PeerId, PrefixHasher, Since, Slot, Source,
    prefix_family,
};
