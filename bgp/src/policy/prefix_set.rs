//! Prefix sets with `ge`/`le` length ranges, the way FRR prefix-lists and
//! BIRD `[ 10.0.0.0/8{16,24} ]` sets work.

use std::fmt;

use serde::Serialize;

use crate::types::Prefix;

/// A prefix and the lengths it matches: any route inside `prefix` whose
/// length is in `ge..=le`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PrefixRange {
    pub prefix: Prefix,
    pub ge: u8,
    pub le: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{prefix} ge {ge} le {le}: need {len} <= ge <= le <= {max}")]
pub struct PrefixRangeError {
    prefix: Prefix,
    ge: u8,
    le: u8,
    len: u8,
    max: u8,
}

impl PrefixRange {
    /// `ge` and `le` default to the prefix's own length (an exact match);
    /// `le` alone means `ge` is the prefix length, `ge` alone means `le` is
    /// the family maximum, as in FRR.
    pub fn new(prefix: Prefix, ge: Option<u8>, le: Option<u8>) -> Result<Self, PrefixRangeError> {
        let len = prefix.len();
        let max = match prefix {
            Prefix::V4(_) => 32,
            Prefix::V6(_) => 128,
        };
        let (ge, le) = match (ge, le) {
            (None, None) => (len, len),
            (Some(g), None) => (g, max),
            (None, Some(l)) => (len, l),
            (Some(g), Some(l)) => (g, l),
        };
        if !(len <= ge && ge <= le && le <= max) {
            return Err(PrefixRangeError {
                prefix,
                ge,
                le,
                len,
                max,
            });
        }
        Ok(PrefixRange { prefix, ge, le })
    }

    pub fn matches(&self, p: &Prefix) -> bool {
        let inside = match (&self.prefix, p) {
            (Prefix::V4(range), Prefix::V4(p)) => range.contains(p),
            (Prefix::V6(range), Prefix::V6(p)) => range.contains(p),
            _ => false,
        };
        inside && (self.ge..=self.le).contains(&p.len())
    }
}

impl fmt::Display for PrefixRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.prefix)?;
        if self.ge != self.prefix.len() || self.le != self.prefix.len() {
            write!(f, " ge {} le {}", self.ge, self.le)?;
        }
        Ok(())
    }
}

/// A set of ranges; a route matches if any range does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PrefixSet(pub Vec<PrefixRange>);

impl PrefixSet {
    pub fn matches(&self, p: &Prefix) -> bool {
        self.0.iter().any(|r| r.matches(p))
    }
}
