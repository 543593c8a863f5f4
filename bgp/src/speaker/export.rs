//! From the Loc-RIB to each peer: which best paths go where, with which
//! attributes (RFC 4271 §5, §9.1.3; RFC 4456 §8), after export policy;
//! diffed against the export group's Adj-RIB-Out, encoded once per group and
//! sent packed by attribute set.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::ops::Range;
use std::sync::Arc;
use std::time::Instant;

use super::group::GroupId;
use super::peer::{LocalEnd, Up};
use super::{PeerEventKind, Speaker};
use crate::policy::{self, RouteContext, RouteSource, Verdict};
use crate::rib::{Advertised, PeerId, PrefixHasher, SharedAttrs, Slot, Source, prefix_family};
use crate::types::{Afi, Community, Family, FamilySet, PathId, Prefix};
use crate::wire::{
    Message, NextHop, Nlri, RefreshSubtype, RouteRefresh, SessionContext, Update, UpdatePacker,
    attributes_for_two_octet_peer,
};
use bytes::{Bytes, BytesMut};

/// A best path's attribute set (by identity: interned, and alive for the
/// whole flush), its source and its family.
type ExportKey = (usize, Source, Family);
/// What [`Speaker::export_for`] says.
type Exported = Result<Option<SharedAttrs>, Family>;

/// Who of a group gets a run of UPDATEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Audience {
    /// Every member but the one the routes came from (RFC 4271 §9.2: not
    /// back to where they came from).
    AllBut(Option<PeerId>),
    /// That member alone: it had the route from another peer, and the best
    /// path is now its own.
    Only(PeerId),
}

impl Audience {
    fn includes(self, pid: PeerId) -> bool {
        match self {
            Audience::AllBut(from) => from != Some(pid),
            Audience::Only(to) => to == pid,
        }
    }
}

/// Announcements grouped by family, attribute set (pointer identity: the
/// sets are interned) and audience, and withdrawals by family and audience.
#[derive(Default)]
struct Batch {
    announce: BTreeMap<(Family, usize, Audience), (SharedAttrs, Vec<Prefix>)>,
    withdraw: BTreeMap<(Family, Audience), Vec<Prefix>>,
    /// The group of the last announcement: a table's prefixes come in runs
    /// sharing one set, so most need no lookup at all.
    last: Option<(Family, usize, Audience)>,
    run: Vec<Prefix>,
}

impl Batch {
    fn announce(&mut self, to: Audience, attrs: &SharedAttrs, prefix: Prefix) {
        let key = (prefix_family(&prefix), Arc::as_ptr(attrs) as usize, to);
        if self.last != Some(key) {
            self.close_run();
            self.last = Some(key);
            self.announce
                .entry(key)
                .or_insert_with(|| (attrs.clone(), Vec::new()));
        }
        self.run.push(prefix);
    }

    fn withdraw(&mut self, to: Audience, prefix: Prefix) {
        self.withdraw
            .entry((prefix_family(&prefix), to))
            .or_default()
            .push(prefix);
    }

    fn close_run(&mut self) {
        if let Some(key) = self.last.take()
            && let Some((_, list)) = self.announce.get_mut(&key)
        {
            list.append(&mut self.run);
        }
    }

    fn is_empty(&self) -> bool {
        self.announce.is_empty() && self.withdraw.is_empty() && self.run.is_empty()
    }
}

/// A batch encoded: every run's UPDATE messages back to back in one
/// buffer, shared by every member of the group. A member is sent slices of
/// it (no copy): the runs it gets, adjacent ones as one slice. Concatenating
/// per member instead cost a copy of the whole batch for each, so a group of
/// a thousand peers held a thousand copies until the sockets drained them.
#[derive(Default)]
struct Encoding {
    bytes: Bytes,
    runs: Vec<Run>,
}

/// One run of a batch: its family, audience, place in the buffer and how
/// many messages it holds.
struct Run {
    family: Family,
    to: Audience,
    range: Range<usize>,
    messages: u64,
}

impl Encoding {
    /// The slices of the runs `include` keeps, adjacent runs merged, and
    /// how many messages they hold.
    fn slices(&self, include: impl Fn(&Run) -> bool) -> (Vec<Bytes>, u64) {
        let mut slices = Vec::new();
        let mut messages = 0;
        let mut open: Option<Range<usize>> = None;
        for run in self.runs.iter().filter(|r| include(r)) {
            messages += run.messages;
            open = match open {
                Some(r) if r.end == run.range.start => Some(r.start..run.range.end),
                Some(r) => {
                    slices.push(self.bytes.slice(r));
                    Some(run.range.clone())
                }
                None => Some(run.range.clone()),
            };
        }
        if let Some(r) = open {
            slices.push(self.bytes.slice(r));
        }
        (slices, messages)
    }
}

impl Speaker {
    /// Sends every export group what changed for it (at most once per
    /// minimum advertisement interval), then each peer waiting for a whole
    /// table (a new session, a route refresh) its group's table.
    pub(super) fn flush(&mut self, now: Instant) {
        let gids: Vec<GroupId> = self.groups.keys().copied().collect();
        for gid in gids {
            self.flush_group(now, gid);
        }
        let waiting: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| p.up.is_some() && (!p.dump.is_empty() || p.stale_view.is_some()))
            .map(|p| p.id)
            .collect();
        for pid in waiting {
            self.send_table(now, pid);
        }
    }

    /// Looks at the group's changed prefixes once for all its members,
    /// updates its Adj-RIB-Out and sends each member its share.
    fn flush_group(&mut self, now: Instant, gid: GroupId) {
        let Some(g) = self.groups.get_mut(&gid) else {
            return;
        };
        if !g.has_work() || g.next_flush.is_some_and(|t| t > now) {
            return;
        }
        let Some(&rep) = g.members.first() else {
            return;
        };
        let families = g.key.families;
        let candidates: Vec<(Prefix, Slot)> = if g.full {
            g.full = false;
            g.pending.clear();
            // Destinations with no path left too: they are still to be
            // withdrawn.
            self.rib
                .slots()
                .filter(|(prefix, _)| families.contains(prefix_family(prefix)))
                .collect()
        } else {
            g.pending.take()
        };
        // Members about to get the whole table of a family need no changes
        // to it: if all of them do, nothing of that family is encoded.
        let members = g.members.clone();
        let mut quiet = FamilySet::EMPTY;
        for f in families.iter() {
            if members.iter().all(|m| {
                self.peers
                    .get(m)
                    .is_none_or(|p| p.awaiting_table(families).contains(f))
            }) {
                quiet.insert(f);
            }
        }

        let mut batch = Batch::default();
        let mut no_next_hop = FamilySet::EMPTY;
        // What goes out depends on the best path's attributes and source,
        // the family and the group's export chain; unless the chain looks
        // at prefixes, once per attribute set is enough.
        let prefix_free = self.export_prefix_free(rep);
        let mut memo: HashMap<ExportKey, Exported, PrefixHasher> = HashMap::default();
        for (prefix, slot) in candidates {
            let family = prefix_family(&prefix);
            let best = self.rib.get_at(&prefix, slot).and_then(|d| d.best());
            let from = best.and_then(|b| match b.source {
                Source::Peer(q) => Some(q),
                Source::Local => None,
            });
            let key = best
                .filter(|_| prefix_free)
                .map(|b| (Arc::as_ptr(&b.attrs) as usize, b.source, family));
            let exported = match key.and_then(|k| memo.get(&k)) {
                Some(e) => e.clone(),
                None => {
                    let e = self.export_for(rep, &prefix);
                    if let Some(k) = key {
                        memo.insert(k, e.clone());
                    }
                    e
                }
            };
            let desired = exported.unwrap_or_else(|family| {
                no_next_hop.insert(family);
                None
            });
            let Some(g) = self.groups.get_mut(&gid) else {
                return;
            };
            let loud = !quiet.contains(family);
            // The audience leaves out only a member the route came from.
            let from_member = from.filter(|q| g.is_member(*q));
            // A lone member's own routes go to no one: not kept (a full
            // table from one peer would otherwise be held twice).
            let desired = if desired.is_some() && from_member.is_some() && g.members.len() == 1 {
                g.sparse = true;
                None
            } else {
                desired
            };
            match desired {
                Some(attrs) => {
                    if let Some(old) = self.rib.advertised(&prefix, slot, gid) {
                        let same = Arc::ptr_eq(&attrs, old.attrs()) || attrs == *old.attrs();
                        if same && old.from() == from {
                            continue;
                        }
                        // The member the best path now comes from had the
                        // route from another peer: it is withdrawn there.
                        if old.from() != from
                            && let Some(q) = from_member
                            && loud
                        {
                            batch.withdraw(Audience::Only(q), prefix);
                        }
                    }
                    if loud {
                        batch.announce(Audience::AllBut(from_member), &attrs, prefix);
                    }
                    self.rib
                        .advertise(&prefix, slot, Advertised::new(gid, from, attrs));
                }
                None => {
                    if let Some(old) = self.rib.unadvertise(&prefix, slot, gid)
                        && loud
                    {
                        let old_from = old.from().filter(|q| g.is_member(*q));
                        batch.withdraw(Audience::AllBut(old_from), prefix);
                    }
                }
            }
        }
        for family in no_next_hop.iter() {
            for m in &members {
                self.event(*m, PeerEventKind::NoNextHop { family });
            }
        }
        batch.close_run();
        if !batch.is_empty() {
            let encoding = self.encode(rep, &batch);
            for m in members {
                let skip = self
                    .peers
                    .get(&m)
                    .map_or(FamilySet::EMPTY, |p| p.awaiting_table(families));
                let mine = encoding.slices(|r| r.to.includes(m) && !skip.contains(r.family));
                self.send_encoded(now, m, mine);
            }
        }
        if let Some(g) = self.groups.get_mut(&gid)
            && !g.key.min_advertisement_interval.is_zero()
        {
            g.next_flush = Some(now + g.key.min_advertisement_interval);
        }
    }

    /// Sends `pid` the whole table of the families it waits for, as its
    /// group advertises it, then End-of-RIB (a new session) or EoRR (a
    /// route refresh, RFC 7313). After a move between groups, what it had
    /// and the new group does not advertise is withdrawn.
    fn send_table(&mut self, now: Instant, pid: PeerId) {
        let Some(p) = self.peers.get(&pid) else {
            return;
        };
        let Some((gid, g)) = p.group.and_then(|gid| Some((gid, self.groups.get(&gid)?))) else {
            return;
        };
        // The group's table is not complete until its first flush.
        if g.full {
            return;
        }
        let families = p.dump;
        let mut batch = Batch::default();
        for (prefix, attrs) in super::group::view(&self.rib, gid, pid) {
            if families.contains(prefix_family(&prefix)) {
                batch.announce(Audience::Only(pid), attrs, prefix);
            }
        }
        if let Some(had) = &p.stale_view {
            for prefix in had {
                if self
                    .rib
                    .advertised(prefix, Slot::UNKNOWN, gid)
                    .is_none_or(|a| a.from() == Some(pid))
                {
                    batch.withdraw(Audience::Only(pid), *prefix);
                }
            }
        }
        batch.close_run();
        let encoding = self.encode(pid, &batch);
        self.send_encoded(now, pid, encoding.slices(|_| true));

        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        p.dump = FamilySet::EMPTY;
        p.stale_view = None;
        let mut tail = Vec::new();
        if let Some(up) = &p.up {
            for f in up.negotiated.families.iter() {
                if !p.eor_sent.contains(f) {
                    p.eor_sent.insert(f);
                    tail.push(Message::Update(Update::end_of_rib_marker(f)));
                }
            }
        }
        for family in std::mem::take(&mut p.refresh_replies) {
            tail.push(Message::RouteRefresh(RouteRefresh {
                family,
                subtype: RefreshSubtype::EndOfRouteRefresh,
                orf: vec![],
            }));
        }
        for m in tail {
            self.send_message(now, pid, &m);
        }
    }

    fn send_message(&mut self, now: Instant, pid: PeerId, m: &Message) {
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        let ctx =
            p.up.as_ref()
                .map_or_else(SessionContext::default, |u| u.negotiated.context);
        if let Ok(bytes) = m.to_bytes(&ctx)
            && let Some(o) = p.session.send(now, bytes.into())
        {
            self.session_outputs(now, pid, vec![o]);
        }
    }

    /// Encodes the batch's runs with the session encodings of `pid` (the
    /// same for its whole group).
    fn encode(&mut self, pid: PeerId, batch: &Batch) -> Encoding {
        let Some(ctx) = self
            .peers
            .get(&pid)
            .and_then(|p| p.up.as_ref())
            .map(|u| u.negotiated.context)
        else {
            return Encoding::default();
        };
        let packer = UpdatePacker::new(ctx);
        let mut out = BytesMut::new();
        let mut runs = Vec::new();
        let mut errors = Vec::new();
        for ((family, to), prefixes) in &batch.withdraw {
            let start = out.len();
            let r = match family.afi {
                Afi::IPV4 => packer.withdraw(*family, &nlri_v4(prefixes, &ctx, *family), &mut out),
                _ => packer.withdraw(*family, &nlri_v6(prefixes, &ctx, *family), &mut out),
            };
            match r {
                Ok(n) => runs.push(Run {
                    family: *family,
                    to: *to,
                    range: start..out.len(),
                    messages: n as u64,
                }),
                Err(e) => {
                    // Nothing of a run that failed goes out.
                    out.truncate(start);
                    errors.push(e.to_string());
                }
            }
        }
        for ((family, _, to), (attrs, prefixes)) in &batch.announce {
            let mut wire = attrs.to_path_attributes();
            if !ctx.four_octet_as {
                wire = attributes_for_two_octet_peer(&wire);
            }
            let attributes = match packer.encode_attributes(*family, &wire, attrs.next_hop) {
                Ok(e) => e,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            };
            let start = out.len();
            let r = match family.afi {
                Afi::IPV4 => {
                    packer.announce(&attributes, &nlri_v4(prefixes, &ctx, *family), &mut out)
                }
                _ => packer.announce(&attributes, &nlri_v6(prefixes, &ctx, *family), &mut out),
            };
            match r {
                Ok(n) => runs.push(Run {
                    family: *family,
                    to: *to,
                    range: start..out.len(),
                    messages: n as u64,
                }),
                Err(e) => {
                    out.truncate(start);
                    errors.push(e.to_string());
                }
            }
        }
        for e in errors {
            self.event(
                pid,
                PeerEventKind::Warning {
                    message: format!("could not encode an UPDATE: {e}"),
                },
            );
        }
        Encoding {
            bytes: out.freeze(),
            runs,
        }
    }

    /// Sends `pid` these slices of an encoding, holding `messages` UPDATEs.
    fn send_encoded(&mut self, now: Instant, pid: PeerId, (slices, messages): (Vec<Bytes>, u64)) {
        if slices.is_empty() {
            return;
        }
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        p.counters.updates_sent += messages;
        let outputs: Vec<_> = slices
            .into_iter()
            .filter_map(|bytes| p.session.send(now, bytes))
            .collect();
        if !outputs.is_empty() {
            self.session_outputs(now, pid, outputs);
        }
    }

    /// Whether the export chain of `pid` may treat two prefixes of one
    /// family with the same best path differently.
    fn export_prefix_free(&self, pid: PeerId) -> bool {
        let Some(p) = self.peers.get(&pid) else {
            return false;
        };
        p.config.export.iter().flatten().all(|name| {
            self.cfg
                .policies
                .get(name)
                .is_some_and(|policy| !policy.looks_at_prefix())
        })
    }

    /// The attributes `prefix` goes to `pid`'s group with, or `None` if it
    /// does not go. `Err(family)`: it should go, but there is no next hop of that
    /// family for this session.
    fn export_for(&mut self, pid: PeerId, prefix: &Prefix) -> Result<Option<SharedAttrs>, Family> {
        let Some(peer) = self.peers.get(&pid) else {
            return Ok(None);
        };
        let Some(up) = &peer.up else { return Ok(None) };
        let Some(best) = self.rib.get(prefix).and_then(|d| d.best()) else {
            return Ok(None);
        };
        let family = prefix_family(prefix);
        if !up.negotiated.families.contains(family) {
            return Ok(None);
        }
        let to_internal = up.negotiated.internal;
        // Never back to where it came from: the group leaves that member
        // out of the audience (RFC 4271 §9.2).
        let source_peer = match best.source {
            Source::Local => None,
            Source::Peer(q) => self.peers.get(&q),
        };
        let from_internal =
            source_peer.is_some_and(|q| q.facts.as_ref().is_some_and(|f| f.internal));
        // RFC 4271 §9.2 and RFC 4456 §8: iBGP routes go to iBGP peers only
        // through a reflector: from a client to everyone, from a
        // non-client to clients.
        if to_internal && from_internal {
            let client_source = source_peer.is_some_and(|q| q.config.route_reflector_client);
            if !(client_source || peer.config.route_reflector_client) {
                return Ok(None);
            }
        }
        // RFC 1997 well-known communities.
        if best.attrs.has_community(Community::NO_ADVERTISE)
            || (!to_internal
                && (best.attrs.has_community(Community::NO_EXPORT)
                    || best.attrs.has_community(Community::NO_EXPORT_SUBCONFED)))
        {
            return Ok(None);
        }

        let self_nh = self_next_hop(up, peer.config.next_hop_v4, peer.config.next_hop_v6, family);
        let mut a = (*best.attrs).clone();
        let local = best.source == Source::Local;
        if to_internal {
            // RFC 4271 §5.1.5: LOCAL_PREF goes to internal peers.
            a.local_pref = Some(a.local_pref.unwrap_or(self.decision.default_local_pref));
            if local || peer.config.next_hop_self {
                a.next_hop = self_nh?;
            } else {
                a.next_hop = without_link_local(a.next_hop);
            }
            if let (true, Some(q)) = (from_internal, source_peer) {
                // RFC 4456 §8: mark the reflection.
                let originator = q.facts.as_ref().map(|f| f.router_id.to_ipv4());
                if a.originator_id.is_none() {
                    a.originator_id = originator;
                }
                let cluster = self.cfg.cluster_id.unwrap_or(self.cfg.router_id).to_ipv4();
                a.cluster_list.insert(0, cluster);
            }
        } else {
            // RFC 4271 §5.1.2: our AS in front for an external peer.
            a.as_path.prepend(self.cfg.asn, 1);
            a.local_pref = None;
            a.originator_id = None;
            a.cluster_list.clear();
            // RFC 4271 §5.1.4: a MED learned from one AS is not passed to
            // another; export policy may set our own.
            if !local {
                a.med = None;
            }
            // RFC 4271 §5.1.3: keep a next hop the peer shares a subnet
            // with (third party); otherwise ourselves.
            let third_party = !local
                && !peer.config.next_hop_self
                && up
                    .local
                    .subnet
                    .is_some_and(|s| next_hop_in(&a.next_hop, &s));
            a.next_hop = if third_party {
                without_link_local(a.next_hop)
            } else {
                self_nh?
            };
        }
        let chain = match &peer.config.export {
            // RFC 8212 §3: nothing goes to an eBGP peer without a policy.
            None if !to_internal => return Ok(None),
            None => Vec::new(),
            Some(names) => match names
                .iter()
                .map(|n| self.cfg.policies.get(n))
                .collect::<Option<Vec<_>>>()
            {
                Some(c) => c,
                None => return Ok(None),
            },
        };
        let ctx = RouteContext {
            prefix: *prefix,
            neighbor: Some(peer.config.address),
            source: match (local, from_internal) {
                (true, _) => RouteSource::Local,
                (false, true) => RouteSource::Internal,
                (false, false) => RouteSource::External,
            },
            local_as: self.cfg.asn,
            self_next_hop: self_nh.ok(),
        };
        if policy::evaluate(chain, &ctx, &mut a) == Verdict::Reject {
            return Ok(None);
        }
        Ok(Some(self.interner.intern(a)))
    }
}

/// Our own next hop for `family` on this session.
fn self_next_hop(
    up: &Up,
    v4: Option<std::net::Ipv4Addr>,
    v6: Option<std::net::Ipv6Addr>,
    family: Family,
) -> Result<NextHop, Family> {
    let local = up.local;
    match (family.afi, local.address) {
        (Afi::IPV4, IpAddr::V4(a)) => Ok(NextHop::V4(v4.unwrap_or(a))),
        (Afi::IPV4, IpAddr::V6(a)) => match v4 {
            Some(v4) => Ok(NextHop::V4(v4)),
            // RFC 8950: an IPv6 next hop where the peer takes one.
            None if up
                .negotiated
                .context
                .extended_next_hop_send
                .contains(family) =>
            {
                Ok(v6_next_hop(&local, v6, a))
            }
            None => Err(family),
        },
        (_, IpAddr::V6(a)) => Ok(v6_next_hop(&local, v6, a)),
        // IPv6 routes over an IPv4 session: the interface's global IPv6
        // address, as FRR and BIRD do, unless one is configured.
        (_, IpAddr::V4(_)) => v6
            .or(local.global_v6)
            .map(|g| NextHop::V6 {
                global: g,
                link_local: local.link_local,
            })
            .ok_or(family),
    }
}

/// Our IPv6 next hop on a session whose local address is `a`: the global
/// address first, our link-local beside it (RFC 2545 §3). Over a link-local
/// session the global one comes from the interface.
fn v6_next_hop(local: &LocalEnd, configured: Option<Ipv6Addr>, a: Ipv6Addr) -> NextHop {
    let global = match configured {
        Some(g) => g,
        None if a.is_unicast_link_local() => local.global_v6.unwrap_or(a),
        None => a,
    };
    NextHop::V6 {
        global,
        link_local: local
            .link_local
            .or(a.is_unicast_link_local().then_some(a))
            .filter(|ll| *ll != global),
    }
}

/// A link-local next hop is only meaningful on the link it was learned on
/// (RFC 2545 §3); passed on, only the global address stays.
fn without_link_local(nh: NextHop) -> NextHop {
    match nh {
        NextHop::V6 { global, .. } => NextHop::V6 {
            global,
            link_local: None,
        },
        v4 => v4,
    }
}

fn next_hop_in(nh: &NextHop, subnet: &Prefix) -> bool {
    let addr = match nh {
        NextHop::V4(a) => IpAddr::V4(*a),
        NextHop::V6 { global, .. } => IpAddr::V6(*global),
    };
    match (subnet, addr) {
        (Prefix::V4(s), IpAddr::V4(a)) => {
            crate::types::Ipv4Prefix::new(a, 32).is_ok_and(|h| s.contains(&h))
        }
        (Prefix::V6(s), IpAddr::V6(a)) => {
            crate::types::Ipv6Prefix::new(a, 128).is_ok_and(|h| s.contains(&h))
        }
        _ => false,
    }
}

/// Our single best path goes out with path identifier 1 where the peer
/// receives identifiers (RFC 7911).
fn path_id(ctx: &SessionContext, family: Family) -> Option<PathId> {
    ctx.add_path_send.contains(family).then_some(PathId(1))
}

fn nlri_v4(
    prefixes: &[Prefix],
    ctx: &SessionContext,
    family: Family,
) -> Vec<Nlri<crate::types::Ipv4Prefix>> {
    let id = path_id(ctx, family);
    prefixes
        .iter()
        .filter_map(|p| match p {
            Prefix::V4(p) => Some(Nlri {
                path_id: id,
                prefix: *p,
            }),
            Prefix::V6(_) => None,
        })
        .collect()
}

fn nlri_v6(
    prefixes: &[Prefix],
    ctx: &SessionContext,
    family: Family,
) -> Vec<Nlri<crate::types::Ipv6Prefix>> {
    let id = path_id(ctx, family);
    prefixes
        .iter()
        .filter_map(|p| match p {
            Prefix::V6(p) => Some(Nlri {
                path_id: id,
                prefix: *p,
            }),
            Prefix::V4(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn end(address: &str, link_local: Option<&str>, global_v6: Option<&str>) -> LocalEnd {
        LocalEnd {
            address: address.parse().unwrap(),
            subnet: None,
            link_local: link_local.map(|a| a.parse().unwrap()),
            global_v6: global_v6.map(|a| a.parse().unwrap()),
        }
    }

    fn v6(global: &str, link_local: Option<&str>) -> NextHop {
        NextHop::V6 {
            global: global.parse().unwrap(),
            link_local: link_local.map(|a| a.parse().unwrap()),
        }
    }

    /// RFC 2545 §3: the global address goes first, the link-local beside it.
    #[test]
    fn ipv6_next_hop_self_per_rfc_2545() {
        let ll: Ipv6Addr = "fe80::1".parse().unwrap();
        let global: Ipv6Addr = "2001:db8::1".parse().unwrap();
        // Over a global session: our address, our link-local beside it.
        let e = end("2001:db8::1", Some("fe80::1"), Some("2001:db8::1"));
        assert_eq!(
            v6_next_hop(&e, None, global),
            v6("2001:db8::1", Some("fe80::1"))
        );
        // Over a link-local session: the interface's global address first.
        let e = end("fe80::1", Some("fe80::1"), Some("2001:db8::1"));
        assert_eq!(
            v6_next_hop(&e, None, ll),
            v6("2001:db8::1", Some("fe80::1"))
        );
        // No global address on the interface: the link-local alone.
        let e = end("fe80::1", None, None);
        assert_eq!(v6_next_hop(&e, None, ll), v6("fe80::1", None));
        // A configured next hop wins.
        let e = end("fe80::1", Some("fe80::1"), Some("2001:db8::1"));
        assert_eq!(
            v6_next_hop(&e, Some("2001:db8::99".parse().unwrap()), ll),
            v6("2001:db8::99", Some("fe80::1"))
        );
    }

    /// Runs a member gets are sent as slices of the one shared buffer:
    /// adjacent ones merged, the ones it must not get left out.
    #[test]
    fn a_member_gets_slices_of_the_shared_encoding() {
        let run = |to, range: Range<usize>| Run {
            family: Family::IPV4_UNICAST,
            to,
            range,
            messages: 1,
        };
        let (a, b) = (PeerId(1), PeerId(2));
        let encoding = Encoding {
            bytes: Bytes::from_static(b"aaabbbcccdd"),
            runs: vec![
                run(Audience::AllBut(None), 0..3),
                run(Audience::AllBut(Some(a)), 3..6),
                run(Audience::AllBut(Some(b)), 6..9),
                run(Audience::Only(a), 9..11),
            ],
        };
        let of = |pid| {
            let (slices, messages) = encoding.slices(|r| r.to.includes(pid));
            let slices: Vec<&[u8]> = slices.iter().map(|s| s.as_ref()).collect();
            (slices.concat(), slices.len(), messages)
        };
        assert_eq!(of(a), (b"aaacccdd".to_vec(), 2, 3));
        assert_eq!(of(b), (b"aaabbb".to_vec(), 1, 2));
        assert_eq!(of(PeerId(3)), (b"aaabbbccc".to_vec(), 1, 3));
        let (slices, _) = encoding.slices(|r| r.to.includes(a));
        // Slices, not copies: they point into the shared buffer.
        assert_eq!(slices[0].as_ptr(), encoding.bytes.as_ptr());
    }
}
