//! Export groups: peers that would be sent exactly the same UPDATEs share
//! one Adj-RIB-Out, and each change is computed and encoded once for all of
//! them (what FRR calls update groups). The Adj-RIB-Out itself is kept in
//! the Loc-RIB's destinations (see [`crate::rib::Advertised`]).
//!
//! Two established peers are in one group when everything export looks at
//! is equal: the export chain, the session kind, the reflector and next-hop
//! settings, the negotiated families and encodings, and our end of the
//! session. The one thing left per peer is RFC 4271 §9.2's "not back to
//! where it came from": the group keeps, for each prefix, the peer its best
//! path came from, and that member alone is left out of that prefix's
//! UPDATEs.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use super::Speaker;
use super::peer::LocalEnd;
use super::prefix_set::PrefixSet;
pub(crate) use crate::rib::GroupId;
use crate::rib::{LocRib, PeerId, SharedAttrs, prefix_family};
use crate::types::{FamilySet, Prefix};
use crate::wire::SessionContext;

/// Everything the export of a route to a peer depends on, besides the route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupKey {
    pub(crate) export: Option<Vec<String>>,
    pub(crate) internal: bool,
    pub(crate) route_reflector_client: bool,
    pub(crate) next_hop_self: bool,
    pub(crate) next_hop_v4: Option<Ipv4Addr>,
    pub(crate) next_hop_v6: Option<Ipv6Addr>,
    pub(crate) min_advertisement_interval: Duration,
    pub(crate) families: FamilySet,
    pub(crate) context: SessionContext,
    pub(crate) local: LocalEnd,
    /// The peer's address, when a policy of the chain matches on it: such a
    /// peer shares its group with no one.
    pub(crate) neighbor: Option<IpAddr>,
}

#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) key: GroupKey,
    /// Established peers, sorted.
    pub(crate) members: Vec<PeerId>,
    /// Prefixes whose advertisement must be looked at again.
    pub(crate) pending: PrefixSet,
    /// Every prefix must be looked at again (a new group, a changed policy).
    pub(crate) full: bool,
    /// Routes no member may be sent (a lone member's own) are not kept: a
    /// second member joining makes the group look at every prefix again.
    pub(crate) sparse: bool,
    /// MinRouteAdvertisementInterval: no UPDATE before this.
    pub(crate) next_flush: Option<Instant>,
}

impl Group {
    pub(crate) fn new(key: GroupKey) -> Self {
        Group {
            key,
            members: Vec::new(),
            pending: PrefixSet::default(),
            full: true,
            sparse: false,
            next_flush: None,
        }
    }

    pub(crate) fn is_member(&self, pid: PeerId) -> bool {
        self.members.binary_search(&pid).is_ok()
    }

    pub(crate) fn join(&mut self, pid: PeerId) {
        if let Err(i) = self.members.binary_search(&pid) {
            self.members.insert(i, pid);
        }
    }

    pub(crate) fn leave(&mut self, pid: PeerId) {
        if let Ok(i) = self.members.binary_search(&pid) {
            self.members.remove(i);
        }
    }

    /// Has work to do: changes to look at.
    pub(crate) fn has_work(&self) -> bool {
        self.full || !self.pending.is_empty()
    }
}

/// What `pid`, a member of `gid`, was sent: the group's advertisements but
/// its own routes.
pub(crate) fn view(
    rib: &LocRib,
    gid: GroupId,
    pid: PeerId,
) -> impl Iterator<Item = (Prefix, &SharedAttrs)> {
    rib.adj_rib_out(gid)
        .filter(move |(_, a)| a.from() != Some(pid))
        .map(|(p, a)| (p, a.attrs()))
}

impl Speaker {
    /// The group `pid` belongs in, if established.
    fn group_key(&self, pid: PeerId) -> Option<GroupKey> {
        let p = self.peers.get(&pid)?;
        let up = p.up.as_ref()?;
        let c = &p.config;
        let looks_at_neighbor = c.export.iter().flatten().any(|name| {
            self.cfg
                .policies
                .get(name)
                .is_some_and(|policy| policy.looks_at_neighbor())
        });
        Some(GroupKey {
            export: c.export.clone(),
            internal: up.negotiated.internal,
            route_reflector_client: c.route_reflector_client,
            next_hop_self: c.next_hop_self,
            next_hop_v4: c.next_hop_v4,
            next_hop_v6: c.next_hop_v6,
            min_advertisement_interval: c.min_advertisement_interval,
            families: up.negotiated.families,
            context: up.negotiated.context,
            local: up.local,
            neighbor: looks_at_neighbor.then_some(c.address),
        })
    }

    /// Puts the established `pid` in the group its settings call for, a new
    /// one if none has them.
    pub(super) fn join_group(&mut self, pid: PeerId) {
        let Some(key) = self.group_key(pid) else {
            return;
        };
        let gid = match self.groups.iter().find(|(_, g)| g.key == key) {
            Some((gid, _)) => *gid,
            None => {
                let gid = self.next_group;
                self.next_group = self.next_group.wrapping_add(1);
                self.groups.insert(gid, Group::new(key));
                gid
            }
        };
        if let Some(g) = self.groups.get_mut(&gid) {
            g.join(pid);
            if g.sparse {
                g.sparse = false;
                g.full = true;
                g.next_flush = None;
            }
        }
        if let Some(p) = self.peers.get_mut(&pid) {
            p.group = Some(gid);
        }
    }

    /// Takes `pid` out of its group; the last one out drops the group.
    pub(super) fn leave_group(&mut self, pid: PeerId) {
        let Some(gid) = self.peers.get_mut(&pid).and_then(|p| p.group.take()) else {
            return;
        };
        if let Some(g) = self.groups.get_mut(&gid) {
            g.leave(pid);
            if g.members.is_empty() {
                self.groups.remove(&gid);
                self.rib.forget_group(gid);
            }
        }
    }

    /// The export settings of `pid` (or a policy it uses) changed: it moves
    /// to the group they now call for, and gets that group's table, with
    /// what it had and no longer gets withdrawn. If its group is still
    /// right, the whole group is looked at again.
    pub(super) fn regroup(&mut self, pid: PeerId) {
        let Some(key) = self.group_key(pid) else {
            return;
        };
        let Some(gid) = self.peers.get(&pid).and_then(|p| p.group) else {
            return;
        };
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        if g.key == key {
            g.full = true;
            g.next_flush = None;
            return;
        }
        let had: Vec<Prefix> = view(&self.rib, gid, pid)
            .map(|(prefix, _)| prefix)
            .collect();
        self.leave_group(pid);
        self.join_group(pid);
        if let Some(p) = self.peers.get_mut(&pid) {
            let families =
                p.up.as_ref()
                    .map_or(FamilySet::EMPTY, |u| u.negotiated.families);
            p.dump = families;
            p.stale_view = Some(
                had.into_iter()
                    .filter(|prefix| families.contains(prefix_family(prefix)))
                    .collect(),
            );
        }
    }
}
