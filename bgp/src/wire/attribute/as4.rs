//! RFC 6793 between a 4-octet ("NEW") and a 2-octet ("OLD") speaker: the
//! AS4_PATH / AS4_AGGREGATOR attributes carry the real numbers beside the
//! AS_TRANS-filled 2-octet ones.

use super::as_path::{AsPath, AsSegment, SegmentType};
use super::{Aggregator, AttrType, AttrValue, Attribute, PathAttributes};
use crate::types::Asn;

/// Reconstructs the path and aggregator a NEW speaker receives from an OLD
/// one (RFC 6793 §4.2.3).
pub fn merge_as4(
    as_path: Option<&AsPath>,
    as4_path: Option<&AsPath>,
    aggregator: Option<&Aggregator>,
    as4_aggregator: Option<&Aggregator>,
) -> (Option<AsPath>, Option<Aggregator>) {
    // "If the AGGREGATOR attribute ... contains an AS number other than
    // AS_TRANS, then ... the AS4_AGGREGATOR and AS4_PATH attributes ...
    // MUST be ignored": an OLD speaker aggregated after the last NEW one.
    if let (Some(agg), Some(_)) = (aggregator, as4_aggregator)
        && agg.asn != Asn::TRANS
    {
        return (as_path.cloned(), Some(*agg));
    }
    let aggregator = match (aggregator, as4_aggregator) {
        (Some(_), Some(a4)) => Some(*a4),
        (agg, _) => agg.copied(),
    };
    let path = match (as_path, as4_path) {
        (Some(p), Some(p4)) if p.path_len() >= p4.path_len() => {
            Some(merge_paths(p, p4, p.path_len() - p4.path_len()))
        }
        // "... if the number of AS numbers in the AS_PATH attribute is less
        // than the number ... in the AS4_PATH attribute, then the AS4_PATH
        // attribute SHALL be ignored".
        (p, _) => p.cloned(),
    };
    (path, aggregator)
}

/// Takes `lead` AS numbers (and the confederation segments before or among
/// them) from the front of `path` and puts them before `as4`.
fn merge_paths(path: &AsPath, as4: &AsPath, mut lead: usize) -> AsPath {
    let mut segments: Vec<AsSegment> = Vec::new();
    for s in &path.segments {
        match s.kind {
            SegmentType::ConfedSequence | SegmentType::ConfedSet => segments.push(s.clone()),
            _ if lead == 0 => break,
            SegmentType::Set => {
                segments.push(s.clone());
                lead -= 1;
            }
            SegmentType::Sequence => {
                let take = lead.min(s.asns.len());
                segments.push(AsSegment {
                    kind: SegmentType::Sequence,
                    asns: s.asns[..take].to_vec(),
                });
                lead -= take;
            }
        }
    }
    for s in &as4.segments {
        // Join sequences across the seam so the result reads as one path.
        match (segments.last_mut(), s.kind) {
            (Some(last), SegmentType::Sequence)
                if last.kind == SegmentType::Sequence && last.asns.len() + s.asns.len() <= 255 =>
            {
                last.asns.extend_from_slice(&s.asns)
            }
            _ => segments.push(s.clone()),
        }
    }
    AsPath { segments }
}

/// The attributes to send to an OLD speaker (RFC 6793 §4.2.2): AS_PATH and
/// AGGREGATOR go out with AS_TRANS in place of 4-octet-only numbers (the
/// codec does that on a 2-octet session), and AS4_PATH / AS4_AGGREGATOR
/// carry the real numbers, only when some number needs it.
pub fn attributes_for_two_octet_peer(attrs: &PathAttributes) -> PathAttributes {
    let mut out: Vec<Attribute> = attrs
        .iter()
        .filter(|a| {
            !matches!(
                a.value.attr_type(),
                AttrType::As4Path | AttrType::As4Aggregator
            )
        })
        .cloned()
        .collect();
    let mut extra = Vec::new();
    if let Some(path) = attrs.as_path()
        && path.asns().any(Asn::is_four_octet_only)
    {
        // AS4_PATH never carries confederation segments (RFC 6793 §3).
        let segments = path
            .segments
            .iter()
            .filter(|s| !s.kind.is_confed())
            .cloned()
            .collect();
        extra.push(Attribute::new(AttrValue::As4Path(AsPath { segments })));
    }
    if let Some(agg) = attrs.aggregator()
        && agg.asn.is_four_octet_only()
    {
        extra.push(Attribute::new(AttrValue::As4Aggregator(*agg)));
    }
    for a in extra {
        let code = a.value.type_code();
        let at = out
            .iter()
            .position(|b| b.value.type_code() > code)
            .unwrap_or(out.len());
        out.insert(at, a);
    }
    PathAttributes(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::attribute::as_path::seq;
    use std::net::Ipv4Addr;

    fn path(segs: Vec<AsSegment>) -> AsPath {
        AsPath { segments: segs }
    }

    #[test]
    fn rfc6793_merge_prepends_the_old_speakers_leading_ases() {
        // An OLD AS 65010 received 4200000001 4200000002 (AS_TRANS twice)
        // and prepended itself.
        let as_path = path(vec![seq(&[65010, 23456, 23456])]);
        let as4 = path(vec![seq(&[4_200_000_001, 4_200_000_002])]);
        let (merged, _) = merge_as4(Some(&as_path), Some(&as4), None, None);
        assert_eq!(
            merged.unwrap(),
            path(vec![seq(&[65010, 4_200_000_001, 4_200_000_002])])
        );
    }

    #[test]
    fn shorter_as_path_means_as4_path_is_ignored() {
        let as_path = path(vec![seq(&[23456])]);
        let as4 = path(vec![seq(&[4_200_000_001, 4_200_000_002])]);
        let (merged, _) = merge_as4(Some(&as_path), Some(&as4), None, None);
        assert_eq!(merged.unwrap(), as_path);
    }

    #[test]
    fn sets_count_as_one_and_confed_segments_are_kept() {
        let as_path = path(vec![
            AsSegment {
                kind: SegmentType::ConfedSequence,
                asns: vec![Asn::new(65100)],
            },
            AsSegment {
                kind: SegmentType::Set,
                asns: vec![Asn::new(1), Asn::new(2)],
            },
            seq(&[23456]),
        ]);
        let as4 = path(vec![seq(&[4_200_000_001])]);
        let (merged, _) = merge_as4(Some(&as_path), Some(&as4), None, None);
        assert_eq!(merged.unwrap().to_string(), "(65100) {1,2} 4200000001");
    }

    #[test]
    fn aggregator_rules() {
        let a2 = Aggregator {
            asn: Asn::TRANS,
            address: Ipv4Addr::new(192, 0, 2, 1),
        };
        let a4 = Aggregator {
            asn: Asn::new(4_200_000_001),
            address: Ipv4Addr::new(192, 0, 2, 1),
        };
        let p = path(vec![seq(&[65010, 23456])]);
        let p4 = path(vec![seq(&[4_200_000_001])]);
        assert_eq!(
            merge_as4(Some(&p), Some(&p4), Some(&a2), Some(&a4)).1,
            Some(a4)
        );
        // A non-AS_TRANS AGGREGATOR voids both AS4 attributes.
        let old = Aggregator {
            asn: Asn::new(65010),
            ..a2
        };
        let (mp, ma) = merge_as4(Some(&p), Some(&p4), Some(&old), Some(&a4));
        assert_eq!((mp.unwrap(), ma), (p, Some(old)));
    }

    #[test]
    fn two_octet_peer_gets_as4_attributes_only_when_needed() {
        let small: PathAttributes = [AttrValue::AsPath(AsPath::from_sequence([Asn::new(65001)]))]
            .into_iter()
            .collect();
        assert_eq!(attributes_for_two_octet_peer(&small), small);
        let big: PathAttributes = [
            AttrValue::AsPath(AsPath::from_sequence([Asn::new(4_200_000_001)])),
            AttrValue::LargeCommunities(vec![]),
        ]
        .into_iter()
        .collect();
        let out = attributes_for_two_octet_peer(&big);
        let codes: Vec<u8> = out.iter().map(|a| a.value.type_code()).collect();
        assert_eq!(codes, vec![2, 17, 32]);
        assert_eq!(out.as4_path(), big.as_path());
    }
}
