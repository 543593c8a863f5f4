//! AS_PATH and AS4_PATH values (RFC 4271 §4.3, RFC 5065 §3, RFC 6793 §3).

use std::fmt;

use bytes::BufMut;
use serde::Serialize;

use crate::types::Asn;
use crate::wire::error::Fault;

/// RFC 4271 §4.3 and RFC 5065 §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentType {
    Set = 1,
    Sequence = 2,
    ConfedSequence = 3,
    ConfedSet = 4,
}

impl SegmentType {
    fn from_wire(v: u8) -> Option<Self> {
        Some(match v {
            1 => SegmentType::Set,
            2 => SegmentType::Sequence,
            3 => SegmentType::ConfedSequence,
            4 => SegmentType::ConfedSet,
            _ => return None,
        })
    }

    pub fn is_confed(self) -> bool {
        matches!(self, SegmentType::ConfedSequence | SegmentType::ConfedSet)
    }
}

/// One path segment.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct AsSegment {
    pub kind: SegmentType,
    pub asns: Vec<Asn>,
}

impl AsSegment {
    /// What the segment adds to the path length: RFC 4271 §9.1.2.2 (a)
    /// counts an AS_SET as one; RFC 5065 §5.3 does not count confederation
    /// segments. RFC 6793 §4.2.3 counts the same way.
    pub fn path_len(&self) -> usize {
        match self.kind {
            SegmentType::Sequence => self.asns.len(),
            SegmentType::Set => 1,
            SegmentType::ConfedSequence | SegmentType::ConfedSet => 0,
        }
    }
}

/// An AS path: segments in wire order, leftmost (most recent) first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct AsPath {
    pub segments: Vec<AsSegment>,
}

/// A segment holds at most 255 AS numbers (one-octet count).
const MAX_SEGMENT_ASNS: usize = 255;

impl AsPath {
    pub fn empty() -> Self {
        AsPath::default()
    }

    pub fn from_sequence(asns: impl IntoIterator<Item = Asn>) -> Self {
        let asns: Vec<Asn> = asns.into_iter().collect();
        if asns.is_empty() {
            return AsPath::empty();
        }
        AsPath {
            segments: vec![AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }],
        }
    }

    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| s.asns.is_empty())
    }

    /// The length the decision process compares (RFC 4271 §9.1.2.2 (a)).
    pub fn path_len(&self) -> usize {
        self.segments.iter().map(AsSegment::path_len).sum()
    }

    pub fn asns(&self) -> impl Iterator<Item = Asn> + '_ {
        self.segments.iter().flat_map(|s| s.asns.iter().copied())
    }

    /// How many times `asn` appears (for loop detection with allowas-in).
    pub fn count(&self, asn: Asn) -> usize {
        self.asns().filter(|a| *a == asn).count()
    }

    /// The neighbouring AS: leftmost AS of a leading AS_SEQUENCE.
    pub fn first_asn(&self) -> Option<Asn> {
        match self.segments.first() {
            Some(AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }) => asns.first().copied(),
            _ => None,
        }
    }

    /// The originating AS: rightmost AS of a trailing AS_SEQUENCE.
    pub fn origin_asn(&self) -> Option<Asn> {
        match self.segments.last() {
            Some(AsSegment {
                kind: SegmentType::Sequence,
                asns,
            }) => asns.last().copied(),
            _ => None,
        }
    }

    pub fn has_confed_segments(&self) -> bool {
        self.segments.iter().any(|s| s.kind.is_confed())
    }

    /// Prepends `asn` `times` times (RFC 4271 §5.1.2 when sending to an
    /// external peer, or policy prepending).
    pub fn prepend(&mut self, asn: Asn, times: usize) {
        for _ in 0..times {
            match self.segments.first_mut() {
                Some(s) if s.kind == SegmentType::Sequence && s.asns.len() < MAX_SEGMENT_ASNS => {
                    s.asns.insert(0, asn)
                }
                _ => self.segments.insert(
                    0,
                    AsSegment {
                        kind: SegmentType::Sequence,
                        asns: vec![asn],
                    },
                ),
            }
        }
    }

    /// Decodes an attribute value with `width`-octet AS numbers.
    pub(crate) fn decode(mut buf: &[u8], width: usize) -> Result<AsPath, Fault> {
        let mut segments = Vec::with_capacity(1);
        while let Some((&[kind, count], rest)) = buf.split_first_chunk::<2>() {
            let kind = SegmentType::from_wire(kind)
                .ok_or(Fault::MalformedAsPath("undefined path segment type"))?;
            if count == 0 {
                // RFC 7606 §7.2.
                return Err(Fault::MalformedAsPath("path segment with no AS numbers"));
            }
            let (body, rest) =
                rest.split_at_checked(usize::from(count) * width)
                    .ok_or(Fault::MalformedAsPath(
                        "path segment runs past the attribute",
                    ))?;
            let asns: Vec<Asn> = body
                .chunks_exact(width)
                .map(|c| match *c {
                    [a, b] => Asn::from(u16::from_be_bytes([a, b])),
                    [a, b, c, d] => Asn::new(u32::from_be_bytes([a, b, c, d])),
                    _ => Asn::ZERO,
                })
                .collect();
            if asns.contains(&Asn::ZERO) {
                return Err(Fault::ZeroAs);
            }
            segments.push(AsSegment { kind, asns });
            buf = rest;
        }
        if !buf.is_empty() {
            return Err(Fault::MalformedAsPath("path segment header cut short"));
        }
        Ok(AsPath { segments })
    }

    pub(crate) fn encoded_len(&self, width: usize) -> usize {
        self.segments
            .iter()
            .map(|s| s.asns.len().div_ceil(MAX_SEGMENT_ASNS) * 2 + s.asns.len() * width)
            .sum()
    }

    /// Writes the value; on a 2-octet session 4-octet-only numbers become
    /// AS_TRANS (RFC 6793 §4.2.2). Overlong segments are split, empty ones
    /// (which RFC 7606 §7.2 calls malformed) are not written.
    pub(crate) fn encode(&self, width: usize, out: &mut impl BufMut) {
        for s in &self.segments {
            for chunk in s.asns.chunks(MAX_SEGMENT_ASNS) {
                out.put_u8(s.kind as u8);
                out.put_u8(chunk.len() as u8);
                for asn in chunk {
                    if width == 4 {
                        out.put_u32(asn.get());
                    } else {
                        out.put_u16(asn.to_two_octet());
                    }
                }
            }
        }
    }
}

impl fmt::Display for AsPath {
    /// vtysh style: `65001 65002 {65003,65004} (65010) [65020]`; sets in
    /// braces, confederation sequences in parentheses, confederation sets
    /// in brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for s in &self.segments {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            let (open, sep, close) = match s.kind {
                SegmentType::Sequence => ("", " ", ""),
                SegmentType::Set => ("{", ",", "}"),
                SegmentType::ConfedSequence => ("(", " ", ")"),
                SegmentType::ConfedSet => ("[", ",", "]"),
            };
            f.write_str(open)?;
            for (i, asn) in s.asns.iter().enumerate() {
                if i > 0 {
                    f.write_str(sep)?;
                }
                write!(f, "{asn}")?;
            }
            f.write_str(close)?;
        }
        Ok(())
    }
}

/// An AS_SEQUENCE from plain numbers, for tests.
#[cfg(test)]
pub(crate) fn seq(v: &[u32]) -> AsSegment {
    AsSegment {
        kind: SegmentType::Sequence,
        asns: v.iter().map(|a| Asn::new(*a)).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_both_widths() {
        let path = AsPath {
            segments: vec![
                seq(&[65001, 65002]),
                AsSegment {
                    kind: SegmentType::Set,
                    asns: vec![Asn::new(65003), Asn::new(65004)],
                },
            ],
        };
        for width in [2, 4] {
            let mut buf = Vec::new();
            path.encode(width, &mut buf);
            assert_eq!(buf.len(), path.encoded_len(width));
            assert_eq!(AsPath::decode(&buf, width).unwrap(), path);
        }
        assert_eq!(path.to_string(), "65001 65002 {65003,65004}");
        assert_eq!(path.path_len(), 3);
    }

    #[test]
    fn two_octet_encoding_uses_as_trans() {
        let path = AsPath::from_sequence([Asn::new(4_200_000_001)]);
        let mut buf = Vec::new();
        path.encode(2, &mut buf);
        assert_eq!(buf, [2, 1, 0x5b, 0xa0]);
    }

    #[test]
    fn malformed_paths() {
        assert!(AsPath::decode(&[5, 1, 0, 1], 2).is_err()); // bad type
        assert!(AsPath::decode(&[2, 0], 2).is_err()); // empty segment
        assert!(AsPath::decode(&[2, 2, 0, 1], 2).is_err()); // overrun
        assert!(AsPath::decode(&[2, 1, 0, 1, 2], 2).is_err()); // dangling octet
        assert_eq!(AsPath::decode(&[2, 1, 0, 0], 2), Err(Fault::ZeroAs));
        assert_eq!(AsPath::decode(&[], 4).unwrap(), AsPath::empty());
    }

    #[test]
    fn long_sequences_split_into_segments() {
        let path = AsPath::from_sequence((1..=300).map(Asn::new));
        let mut buf = Vec::new();
        path.encode(4, &mut buf);
        assert_eq!(buf.len(), 2 + 255 * 4 + 2 + 45 * 4);
        let back = AsPath::decode(&buf, 4).unwrap();
        assert_eq!(back.segments.len(), 2);
        assert_eq!(back.path_len(), 300);
    }

    #[test]
    fn prepend_and_ends() {
        let mut p = AsPath::from_sequence([Asn::new(65002)]);
        p.prepend(Asn::new(65001), 2);
        assert_eq!(p.to_string(), "65001 65001 65002");
        assert_eq!(p.first_asn(), Some(Asn::new(65001)));
        assert_eq!(p.origin_asn(), Some(Asn::new(65002)));
        assert_eq!(p.count(Asn::new(65001)), 2);
    }
}
