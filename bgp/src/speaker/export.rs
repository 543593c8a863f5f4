//! From the Loc-RIB to each peer: which best paths go where, with which
//! attributes (RFC 4271 §5, §9.1.3; RFC 4456 §8), after export policy;
//! diffed against the Adj-RIB-Out and sent packed by attribute set.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use indexmap::map::Entry;

use super::peer::{LocalEnd, Up};
use super::{PeerEventKind, Speaker};
use crate::policy::{self, RouteContext, RouteSource, Verdict};
use crate::rib::{PeerId, PrefixHasher, SharedAttrs, Source, prefix_family};
use crate::types::{Afi, Community, Family, PathId, Prefix};
use crate::wire::{
    Message, NextHop, Nlri, RefreshSubtype, RouteRefresh, SessionContext, Update, UpdatePacker,
    attributes_for_two_octet_peer,
};

/// A best path's attribute set (by identity: interned, and alive for the
/// whole flush), its source and its family.
type ExportKey = (usize, Source, Family);
/// What [`Speaker::export_for`] says.
type Exported = Result<Option<SharedAttrs>, Family>;

/// Announcements grouped by attribute set (pointer identity: the sets are
/// interned), and withdrawals, per family.
#[derive(Default)]
struct Batch {
    announce: BTreeMap<(Family, usize), (SharedAttrs, Vec<Prefix>)>,
    withdraw: BTreeMap<Family, Vec<Prefix>>,
    /// The group of the last announcement: a table's prefixes come in runs
    /// sharing one set, so most need no lookup at all.
    last: Option<(Family, usize)>,
    run: Vec<Prefix>,
}

impl Batch {
    fn announce(&mut self, key: (Family, usize), attrs: SharedAttrs, prefix: Prefix) {
        if self.last != Some(key) {
            self.close_run();
            self.last = Some(key);
            self.announce
                .entry(key)
                .or_insert_with(|| (attrs, Vec::new()));
        }
        self.run.push(prefix);
    }

    fn close_run(&mut self) {
        if let Some(key) = self.last.take()
            && let Some((_, list)) = self.announce.get_mut(&key)
        {
            list.append(&mut self.run);
        }
    }
}

impl Speaker {
    /// Sends `pid` what changed for it, if the session is up and the
    /// minimum advertisement interval allows.
    pub(super) fn flush(&mut self, now: Instant, pid: PeerId) {
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        if p.up.is_none()
            || (p.pending.is_empty() && !p.dump_pending)
            || p.next_flush.is_some_and(|t| t > now)
        {
            return;
        }
        let candidates: Vec<Prefix> = if p.dump_pending {
            let families = p.up.as_ref().map(|u| u.negotiated.families);
            p.pending.clear();
            self.rib
                .iter()
                .map(|(prefix, _)| *prefix)
                .filter(|prefix| families.is_some_and(|f| f.contains(prefix_family(prefix))))
                .collect()
        } else {
            p.pending.take()
        };

        let mut batch = Batch::default();
        let mut no_next_hop = Vec::new();
        // What goes out depends on the best path's attributes and source,
        // the family, the peer and the export chain; unless the chain looks
        // at prefixes, once per attribute set is enough.
        let prefix_free = self.export_prefix_free(pid);
        let mut memo: HashMap<ExportKey, Exported, PrefixHasher> = HashMap::default();
        for prefix in candidates {
            let key = prefix_free
                .then(|| self.rib.get(&prefix).and_then(|d| d.best()))
                .flatten()
                .map(|b| {
                    (
                        Arc::as_ptr(&b.attrs) as usize,
                        b.source,
                        prefix_family(&prefix),
                    )
                });
            let exported = match key.and_then(|k| memo.get(&k)) {
                Some(e) => e.clone(),
                None => {
                    let e = self.export_for(pid, &prefix);
                    if let Some(k) = key {
                        memo.insert(k, e.clone());
                    }
                    e
                }
            };
            let desired = match exported {
                Ok(d) => d,
                Err(family) => {
                    if !no_next_hop.contains(&family) {
                        no_next_hop.push(family);
                    }
                    None
                }
            };
            let Some(p) = self.peers.get_mut(&pid) else {
                return;
            };
            let family = prefix_family(&prefix);
            match desired {
                Some(a) => match p.adj_out.entry(prefix) {
                    Entry::Occupied(b) if Arc::ptr_eq(&a, b.get()) || a == *b.get() => {}
                    Entry::Occupied(mut b) => {
                        b.insert(a.clone());
                        batch.announce((family, Arc::as_ptr(&a) as usize), a, prefix);
                    }
                    Entry::Vacant(v) => {
                        v.insert(a.clone());
                        batch.announce((family, Arc::as_ptr(&a) as usize), a, prefix);
                    }
                },
                None => {
                    if p.adj_out.swap_remove(&prefix).is_some() {
                        batch.withdraw.entry(family).or_default().push(prefix);
                    }
                }
            }
        }
        for family in no_next_hop {
            self.event(pid, PeerEventKind::NoNextHop { family });
        }
        batch.close_run();
        self.send_batch(now, pid, batch);

        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        let mut tail = Vec::new();
        if p.dump_pending {
            p.dump_pending = false;
            if let Some(up) = &p.up {
                for f in up.negotiated.families.iter() {
                    if !p.eor_sent.contains(f) {
                        p.eor_sent.insert(f);
                        tail.push(Message::Update(Update::end_of_rib_marker(f)));
                    }
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
        if let Some(p) = self.peers.get_mut(&pid)
            && !p.config.min_advertisement_interval.is_zero()
        {
            p.next_flush = Some(now + p.config.min_advertisement_interval);
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

    fn send_batch(&mut self, now: Instant, pid: PeerId, batch: Batch) {
        let Some(p) = self.peers.get_mut(&pid) else {
            return;
        };
        let Some(up) = &p.up else { return };
        let ctx = up.negotiated.context;
        let packer = UpdatePacker::new(ctx);
        let mut out = BytesMut::new();
        let mut messages = 0u64;
        let mut errors = Vec::new();
        for (family, prefixes) in &batch.withdraw {
            let r = match family.afi {
                Afi::IPV4 => packer.withdraw(*family, &nlri_v4(prefixes, &ctx, *family), &mut out),
                _ => packer.withdraw(*family, &nlri_v6(prefixes, &ctx, *family), &mut out),
            };
            match r {
                Ok(n) => messages += n as u64,
                Err(e) => errors.push(e.to_string()),
            }
        }
        for ((family, _), (attrs, prefixes)) in &batch.announce {
            let mut wire = attrs.to_path_attributes();
            if !ctx.four_octet_as {
                wire = attributes_for_two_octet_peer(&wire);
            }
            let encoded = match packer.encode_attributes(*family, &wire, attrs.next_hop) {
                Ok(e) => e,
                Err(e) => {
                    errors.push(e.to_string());
                    continue;
                }
            };
            let r = match family.afi {
                Afi::IPV4 => packer.announce(&encoded, &nlri_v4(prefixes, &ctx, *family), &mut out),
                _ => packer.announce(&encoded, &nlri_v6(prefixes, &ctx, *family), &mut out),
            };
            match r {
                Ok(n) => messages += n as u64,
                Err(e) => errors.push(e.to_string()),
            }
        }
        p.counters.updates_sent += messages;
        if !out.is_empty()
            && let Some(o) = p.session.send(now, out.freeze())
        {
            self.session_outputs(now, pid, vec![o]);
        }
        for e in errors {
            self.event(
                pid,
                PeerEventKind::Warning {
                    message: format!("could not encode an UPDATE: {e}"),
                },
            );
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

    /// The attributes `prefix` goes to `pid` with, or `None` if it does not
    /// go. `Err(family)`: it should go, but there is no next hop of that
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
        let source_peer = match best.source {
            Source::Local => None,
            // Never back to where it came from.
            Source::Peer(q) if q == pid => return Ok(None),
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
}
