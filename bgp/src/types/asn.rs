use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An autonomous system number, always held as 4 octets (RFC 6793).
///
/// Sessions without the 4-octet AS capability still carry 2-octet fields on
/// the wire; the codec converts at the edge (AS_TRANS substitution), so the
/// rest of the speaker only ever sees the real number.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Asn(u32);

impl Asn {
    /// RFC 6793 §9: stands in for a 4-octet-only AS in 2-octet fields.
    pub const TRANS: Asn = Asn(23456);
    /// RFC 7607: AS 0 must never appear in OPEN, AS_PATH or AGGREGATOR.
    pub const ZERO: Asn = Asn(0);

    pub const fn new(asn: u32) -> Self {
        Asn(asn)
    }

    pub const fn get(self) -> u32 {
        self.0
    }

    /// True when the number does not fit a 2-octet field.
    pub const fn is_four_octet_only(self) -> bool {
        self.0 > 0xFFFF
    }

    /// The value for a 2-octet field: the number itself, or AS_TRANS.
    pub const fn to_two_octet(self) -> u16 {
        if self.is_four_octet_only() {
            Asn::TRANS.0 as u16
        } else {
            self.0 as u16
        }
    }

    /// RFC 6996 and RFC 5398 private / documentation ranges.
    pub const fn is_private(self) -> bool {
        matches!(self.0, 64512..=65534 | 4_200_000_000..=4_294_967_294)
    }
}

impl From<u32> for Asn {
    fn from(v: u32) -> Self {
        Asn(v)
    }
}

impl From<u16> for Asn {
    fn from(v: u16) -> Self {
        Asn(u32::from(v))
    }
}

impl fmt::Display for Asn {
    /// asplain (RFC 5396), what FRR, BIRD and GoBGP print by default.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Debug for Asn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AS{}", self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid AS number {input:?}: expected asplain (65001, 4200000001) or asdot (64086.59904)")]
pub struct ParseAsnError {
    input: String,
}

impl FromStr for Asn {
    type Err = ParseAsnError;

    /// Accepts asplain and asdot (RFC 5396), with an optional `AS` prefix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseAsnError {
            input: s.to_owned(),
        };
        let digits = s
            .strip_prefix("AS")
            .or_else(|| s.strip_prefix("as"))
            .unwrap_or(s);
        match digits.split_once('.') {
            None => digits.parse::<u32>().map(Asn).map_err(|_| err()),
            Some((high, low)) => {
                let high: u16 = high.parse().map_err(|_| err())?;
                let low: u16 = low.parse().map_err(|_| err())?;
                Ok(Asn((u32::from(high) << 16) | u32::from(low)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_asplain_and_asdot() {
        assert_eq!("65001".parse::<Asn>().unwrap(), Asn(65001));
        assert_eq!("AS4200000001".parse::<Asn>().unwrap(), Asn(4_200_000_001));
        assert_eq!("1.10".parse::<Asn>().unwrap(), Asn(65546));
        assert!("65536.1".parse::<Asn>().is_err());
        assert!("4294967296".parse::<Asn>().is_err());
        assert!("".parse::<Asn>().is_err());
    }

    #[test]
    fn two_octet_view_uses_as_trans() {
        assert_eq!(Asn(65001).to_two_octet(), 65001);
        assert_eq!(Asn(4_200_000_001).to_two_octet(), 23456);
    }
}
