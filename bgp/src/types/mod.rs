//! Values shared by the codec, the session and the RIB. Each is parsed once
//! and valid by construction, so nothing downstream re-checks it.

mod asn;
mod community;
mod family;
mod hold_time;
mod prefix;
mod router_id;

pub use asn::{Asn, ParseAsnError};
pub use community::{Community, ExtCommunity, LargeCommunity, ParseCommunityError};
pub use family::{Afi, Family, FamilySet, Safi};
pub use hold_time::{HoldTime, InvalidHoldTime};
pub use prefix::{Ipv4Prefix, Ipv6Prefix, ParsePrefixError, PathId, Prefix, PrefixError};
pub use router_id::{RouterId, ZeroRouterId};
