use std::fmt;

use serde::{Deserialize, Serialize};

/// A hold time in seconds: 0 (keepalives disabled) or at least 3
/// (RFC 4271 §4.2: "MUST reject Hold Time values of one or two seconds").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u16", into = "u16")]
pub struct HoldTime(u16);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("hold time {0} s is not allowed: use 0 (disabled) or 3 to 65535 seconds (RFC 4271 §4.2)")]
pub struct InvalidHoldTime(pub u16);

impl HoldTime {
    pub const DISABLED: HoldTime = HoldTime(0);
    /// RFC 4271 §10 suggested default.
    pub const DEFAULT: HoldTime = HoldTime(90);

    pub const fn new(seconds: u16) -> Result<Self, InvalidHoldTime> {
        match seconds {
            1 | 2 => Err(InvalidHoldTime(seconds)),
            _ => Ok(HoldTime(seconds)),
        }
    }

    pub const fn seconds(self) -> u16 {
        self.0
    }

    pub const fn is_disabled(self) -> bool {
        self.0 == 0
    }

    /// RFC 4271 §10: keepalives at one third of the hold time.
    pub const fn keepalive_interval(self) -> u16 {
        self.0 / 3
    }
}

impl TryFrom<u16> for HoldTime {
    type Error = InvalidHoldTime;

    fn try_from(v: u16) -> Result<Self, Self::Error> {
        HoldTime::new(v)
    }
}

impl From<HoldTime> for u16 {
    fn from(h: HoldTime) -> u16 {
        h.0
    }
}

impl fmt::Display for HoldTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}s", self.0)
    }
}

impl fmt::Debug for HoldTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HoldTime({})", self.0)
    }
}
