//! The attributes a route carries in the RIB, and their interning: one
//! shared copy per distinct set, however many prefixes use it (the common
//! case is thousands of prefixes with one set).

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::net::Ipv4Addr;
use std::sync::Arc;

use serde::Serialize;

use crate::types::{Asn, Community, ExtCommunity, LargeCommunity};
use crate::wire::{
    Aggregator, AsPath, AttrFlags, AttrValue, Attribute, NextHop, Origin, PathAttributes,
};

/// The path attributes of one route, decoded once, independent of the
/// session it came on (AS4 merged, next hop taken from NEXT_HOP or
/// MP_REACH_NLRI).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RouteAttrs {
    pub origin: Origin,
    pub as_path: AsPath,
    pub next_hop: NextHop,
    pub med: Option<u32>,
    pub local_pref: Option<u32>,
    pub atomic_aggregate: bool,
    pub aggregator: Option<Aggregator>,
    pub communities: Vec<Community>,
    pub ext_communities: Vec<ExtCommunity>,
    pub large_communities: Vec<LargeCommunity>,
    pub originator_id: Option<Ipv4Addr>,
    pub cluster_list: Vec<Ipv4Addr>,
    pub otc: Option<Asn>,
    /// Attributes without a typed field, passed on per RFC 4271 §5
    /// (optional transitive ones with Partial set; others dropped).
    pub other: Vec<Attribute>,
}

impl RouteAttrs {
    /// Attributes for a route we originate: ORIGIN IGP, empty AS_PATH.
    pub fn local(next_hop: NextHop) -> Self {
        RouteAttrs {
            origin: Origin::Igp,
            as_path: AsPath::empty(),
            next_hop,
            med: None,
            local_pref: None,
            atomic_aggregate: false,
            aggregator: None,
            communities: vec![],
            ext_communities: vec![],
            large_communities: vec![],
            originator_id: None,
            cluster_list: vec![],
            otc: None,
            other: vec![],
        }
    }

    /// From an UPDATE's attributes and the next hop of the NLRI at hand.
    pub fn from_update(attrs: &PathAttributes, next_hop: NextHop) -> Self {
        let (as_path, aggregator) = attrs.effective_as_path();
        let mut r = RouteAttrs::local(next_hop);
        r.as_path = as_path.unwrap_or_default();
        r.aggregator = aggregator;
        for a in attrs {
            match &a.value {
                AttrValue::Origin(o) => r.origin = *o,
                AttrValue::MultiExitDisc(m) => r.med = Some(*m),
                AttrValue::LocalPref(l) => r.local_pref = Some(*l),
                AttrValue::AtomicAggregate => r.atomic_aggregate = true,
                AttrValue::Communities(c) => r.communities = c.clone(),
                AttrValue::ExtendedCommunities(c) => r.ext_communities = c.clone(),
                AttrValue::LargeCommunities(c) => r.large_communities = c.clone(),
                AttrValue::OriginatorId(o) => r.originator_id = Some(*o),
                AttrValue::ClusterList(c) => r.cluster_list = c.clone(),
                AttrValue::Otc(o) => r.otc = Some(*o),
                AttrValue::Other { .. } => {
                    if let Some(kept) = a.for_readvertisement() {
                        r.other.push(kept);
                    }
                }
                // Carried elsewhere (NLRI, next hop, merged AS path).
                AttrValue::AsPath(_)
                | AttrValue::As4Path(_)
                | AttrValue::Aggregator(_)
                | AttrValue::As4Aggregator(_)
                | AttrValue::NextHop(_)
                | AttrValue::MpReachNlri(_)
                | AttrValue::MpUnreachNlri(_) => {}
            }
        }
        r
    }

    /// The wire attributes to send (without NEXT_HOP and MP attributes,
    /// which the UPDATE packer writes), in type-code order.
    pub fn to_path_attributes(&self) -> PathAttributes {
        let mut v = vec![
            AttrValue::Origin(self.origin),
            AttrValue::AsPath(self.as_path.clone()),
        ];
        if let Some(m) = self.med {
            v.push(AttrValue::MultiExitDisc(m));
        }
        if let Some(l) = self.local_pref {
            v.push(AttrValue::LocalPref(l));
        }
        if self.atomic_aggregate {
            v.push(AttrValue::AtomicAggregate);
        }
        if let Some(a) = self.aggregator {
            v.push(AttrValue::Aggregator(a));
        }
        if !self.communities.is_empty() {
            v.push(AttrValue::Communities(self.communities.clone()));
        }
        if let Some(o) = self.originator_id {
            v.push(AttrValue::OriginatorId(o));
        }
        if !self.cluster_list.is_empty() {
            v.push(AttrValue::ClusterList(self.cluster_list.clone()));
        }
        if !self.ext_communities.is_empty() {
            v.push(AttrValue::ExtendedCommunities(self.ext_communities.clone()));
        }
        if !self.large_communities.is_empty() {
            v.push(AttrValue::LargeCommunities(self.large_communities.clone()));
        }
        if let Some(o) = self.otc {
            v.push(AttrValue::Otc(o));
        }
        let mut list: Vec<Attribute> = v.into_iter().map(Attribute::new).collect();
        for o in &self.other {
            let code = o.value.type_code();
            let at = list
                .iter()
                .position(|a| a.value.type_code() > code)
                .unwrap_or(list.len());
            let mut o = o.clone();
            o.flags = AttrFlags(o.flags.0 & !AttrFlags::EXTENDED_LENGTH);
            list.insert(at, o);
        }
        PathAttributes(list)
    }

    pub fn has_community(&self, c: Community) -> bool {
        self.communities.contains(&c)
    }
}

/// A shared, immutable attribute set.
pub type SharedAttrs = Arc<RouteAttrs>;

/// Hands out one `Arc` per distinct attribute set.
#[derive(Debug, Default)]
pub struct Interner {
    sets: HashSet<ByValue>,
    since_collect: usize,
}

/// Hashes and compares the set, not the pointer.
#[derive(Debug)]
struct ByValue(SharedAttrs);

impl PartialEq for ByValue {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl Eq for ByValue {}

impl Hash for ByValue {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl std::borrow::Borrow<RouteAttrs> for ByValue {
    fn borrow(&self) -> &RouteAttrs {
        &self.0
    }
}

impl Interner {
    pub fn intern(&mut self, attrs: RouteAttrs) -> SharedAttrs {
        if let Some(existing) = self.sets.get(&attrs) {
            return existing.0.clone();
        }
        self.since_collect += 1;
        if self.since_collect > 1024 && self.since_collect > self.sets.len() {
            self.collect();
        }
        let shared = Arc::new(attrs);
        self.sets.insert(ByValue(shared.clone()));
        shared
    }

    /// Forgets sets nothing uses any more.
    pub fn collect(&mut self) {
        self.sets.retain(|s| Arc::strong_count(&s.0) > 1);
        self.since_collect = 0;
    }

    /// Distinct sets held.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(med: u32) -> RouteAttrs {
        let mut a = RouteAttrs::local(NextHop::V4(Ipv4Addr::new(192, 0, 2, 1)));
        a.med = Some(med);
        a
    }

    #[test]
    fn one_copy_per_distinct_set() {
        let mut i = Interner::default();
        let a = i.intern(attrs(1));
        let b = i.intern(attrs(1));
        let c = i.intern(attrs(2));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(i.len(), 2);
        drop((a, b));
        i.collect();
        assert_eq!(i.len(), 1);
    }

    #[test]
    fn wire_attributes_round_trip() {
        let mut a = attrs(5);
        a.communities = vec![Community::from_parts(65001, 1)];
        a.large_communities = vec![LargeCommunity::new(1, 2, 3)];
        a.other = vec![Attribute {
            flags: AttrFlags(AttrFlags::OPTIONAL | AttrFlags::TRANSITIVE | AttrFlags::PARTIAL),
            value: AttrValue::Other {
                type_code: 99,
                data: vec![1],
            },
        }];
        let wire = a.to_path_attributes();
        let codes: Vec<u8> = wire.iter().map(|x| x.value.type_code()).collect();
        assert_eq!(codes, vec![1, 2, 4, 8, 32, 99]);
        assert_eq!(RouteAttrs::from_update(&wire, a.next_hop), a);
    }
}
