//! Answers to `podroute show ...`, from the speaker's state.

use std::net::IpAddr;
use std::time::Instant;

use bgp::rib::{Path, Source};
use bgp::speaker::{PeerKind, PeerView, Speaker};
use bgp::types::Prefix;
use bgp::wire::NextHop;

use crate::config::Config;
use crate::control::protocol::{
    FamilyCounts, FibRoute, FibView, IpamView, NeighborDetail, NeighborSummary, PathEntry, Query,
    ResponseBody, RibDirection, RibEntry, RouteEntry, Status,
};
use crate::fib::{FibReport, FibState};

/// `fib`: the agent programs the kernel. Routes then carry a placeholder
/// FIB state, which [`fill_fib_states`] replaces with the FIB's own.
pub(crate) fn answer(
    speaker: &Speaker,
    config: &Config,
    started: Instant,
    fib: bool,
    query: Query,
) -> ResponseBody {
    let now = Instant::now();
    match query {
        Query::Status => ResponseBody::Status(status(speaker, config, started, now)),
        Query::Neighbors => ResponseBody::Neighbors {
            neighbors: speaker.peers().map(|p| summary(&p, now)).collect(),
        },
        Query::Neighbor { address } => match speaker.peer(address) {
            Some(p) => ResponseBody::Neighbor(Box::new(detail(&p, now))),
            None => not_a_neighbor(speaker, address),
        },
        Query::Routes { all, prefix } => routes(speaker, fib, all, prefix.as_deref(), now),
        Query::Rib { direction, address } => match speaker.peer(address) {
            None => not_a_neighbor(speaker, address),
            Some(p) => rib(&p, direction),
        },
        // The driver handles these itself.
        Query::Fib | Query::Decommission | Query::Ipam => ResponseBody::Error {
            message: "internal: answered by the driver".into(),
        },
    }
}

/// `show ipam`: the blocks as the IPAM keeper last saw them (the
/// cluster's in `ipam` mode, the state file's in `file` mode), with this
/// node's pod CIDRs as the agent advertises them.
pub(crate) fn ipam(config: &Config, blocks: Option<IpamView>) -> IpamView {
    let mode = match (&config.kubernetes, &config.ipam) {
        (Some(k), _) => k.pod_cidr_source.name(),
        (None, Some(_)) => "file",
        (None, None) => "static",
    };
    let mut view = blocks.unwrap_or_else(|| IpamView {
        mode: String::new(),
        node: None,
        node_cidrs: Vec::new(),
        pools: Vec::new(),
        blocks: Vec::new(),
        store: None,
    });
    view.mode = mode.to_string();
    view.node = config.node.clone();
    view.node_cidrs = config.pod_cidrs.iter().map(ToString::to_string).collect();
    view
}

/// `show fib`, from the FIB's report.
pub(crate) fn fib(r: FibReport) -> ResponseBody {
    let routes = r
        .entries
        .into_iter()
        .map(|e| {
            let (state, reason) = e.state.as_ref().map_or((None, None), words);
            FibRoute {
                prefix: e.prefix.to_string(),
                desired: e.desired.map(|t| t.to_string()),
                kernel: e.kernel.map(|t| t.to_string()),
                state,
                reason,
            }
        })
        .collect();
    ResponseBody::Fib(Box::new(FibView {
        protocol: r.protocol,
        table: r.table,
        synced: r.synced,
        routes,
        stats: serde_json::to_value(&r.stats).unwrap_or_default(),
    }))
}

fn not_a_neighbor(speaker: &Speaker, address: IpAddr) -> ResponseBody {
    let known: Vec<String> = speaker.peers().map(|p| p.address().to_string()).collect();
    ResponseBody::Error {
        message: format!(
            "{address} is not a neighbor{}",
            if known.is_empty() {
                " (no neighbors are configured)".to_string()
            } else {
                format!("; neighbors: {}", known.join(", "))
            }
        ),
    }
}

fn status(speaker: &Speaker, config: &Config, started: Instant, now: Instant) -> Status {
    let c = speaker.config();
    Status {
        version: env!("CARGO_PKG_VERSION").to_string(),
        node: config.node.clone(),
        router_id: c.router_id.to_string(),
        asn: c.asn.get(),
        uptime_secs: now.duration_since(started).as_secs(),
        peers_configured: speaker.peers().count(),
        peers_established: speaker
            .peers()
            .filter(|p| p.state() == bgp::fsm::State::Established)
            .count(),
        prefixes: speaker.rib().len(),
        paths: speaker.rib().iter().map(|(_, d)| d.paths.len()).sum(),
        attribute_sets: speaker.attribute_sets(),
        deferring: speaker.is_deferring(),
        originated: speaker
            .local_routes()
            .map(|r| r.prefix.to_string())
            .collect(),
        // The driver fills it in: the FIB task's counters live there.
        fib: None,
    }
}

fn kind(k: PeerKind) -> &'static str {
    match k {
        PeerKind::Mesh => "mesh",
        PeerKind::Tor => "tor",
        PeerKind::ReflectorClient => "reflector-client",
        PeerKind::Reflector => "reflector",
        PeerKind::Dynamic => "dynamic",
        PeerKind::Other => "other",
    }
}

fn summary(p: &PeerView<'_>, now: Instant) -> NeighborSummary {
    let c = p.config();
    let families = c
        .families
        .iter()
        .map(|f| FamilyCounts {
            family: f.to_string(),
            received: p.received(f).map(|n| n as u64),
            accepted: u64::from(p.accepted(f)),
            advertised: p.advertised(f) as u64,
        })
        .collect();
    let asn = p
        .negotiated()
        .map(|n| n.peer_as.get())
        .or(match c.remote_as {
            bgp::fsm::RemoteAs::Exact(a) => Some(a.get()),
            _ => None,
        });
    NeighborSummary {
        address: p.address(),
        asn,
        kind: kind(c.kind).to_string(),
        description: c.description.clone(),
        state: p.state().to_string(),
        uptime_secs: p
            .established_since()
            .map(|t| now.duration_since(t).as_secs()),
        families,
        last_error: p.last_error().map(str::to_string),
        policy_note: p.rfc8212_blocked().map(str::to_string),
    }
}

fn detail(p: &PeerView<'_>, now: Instant) -> NeighborDetail {
    let n = p.negotiated();
    let mut negotiated = Vec::new();
    if let Some(n) = n {
        negotiated.push(format!(
            "families {}",
            n.families
                .iter()
                .map(|f| f.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if n.context.four_octet_as {
            negotiated.push("4-octet AS".into());
        }
        if n.route_refresh {
            negotiated.push(if n.enhanced_route_refresh {
                "enhanced route refresh".into()
            } else {
                "route refresh".into()
            });
        }
        if n.context.extended_message {
            negotiated.push("extended messages".into());
        }
        for f in n.context.add_path_receive.iter() {
            negotiated.push(format!("ADD-PATH receive {f}"));
        }
        for f in n.context.add_path_send.iter() {
            negotiated.push(format!("ADD-PATH send {f}"));
        }
        for f in n.context.extended_next_hop_send.iter() {
            negotiated.push(format!("extended next hop {f}"));
        }
        if let Some(gr) = &n.peer_graceful_restart {
            negotiated.push(format!(
                "graceful restart (peer restart time {} s{})",
                gr.restart_time,
                if n.graceful_notification {
                    ", N bit"
                } else {
                    ""
                }
            ));
        }
    }
    NeighborDetail {
        summary: summary(p, now),
        router_id: n.map(|n| n.peer_id.to_string()),
        hostname: n.and_then(|n| n.peer_hostname.clone()),
        local_address: p.local_end().map(|l| l.address),
        hold_time: n.map(|n| n.hold_time.seconds()),
        keepalive_secs: n.map(|n| n.keepalive.as_secs()),
        configured_hold_time: p.config().hold_time.seconds(),
        capabilities: n
            .map(|n| n.peer_capabilities.iter().map(|c| c.to_string()).collect())
            .unwrap_or_default(),
        negotiated,
        import_policy: p.config().import.clone(),
        export_policy: p.config().export.clone(),
        route_reflector_client: p.config().route_reflector_client,
        updates_received: p.counters().updates_received,
        updates_sent: p.counters().updates_sent,
        rejected_by_checks: p.counters().rejected_by_checks,
        last_down: p.last_down().map(|d| {
            let g = if d.graceful {
                " (graceful restart)"
            } else {
                ""
            };
            format!("{}{g}", d.reason)
        }),
        graceful_restart_stale: p.stale_until().is_some(),
    }
}

fn next_hop(nh: &NextHop) -> String {
    match nh {
        NextHop::V4(a) if a.is_unspecified() => "self".into(),
        NextHop::V6 { global, .. } if global.is_unspecified() => "self".into(),
        other => other.to_string(),
    }
}

fn path_entry(speaker: &Speaker, p: &Path, best: bool, now: Instant) -> PathEntry {
    let a = &p.attrs;
    PathEntry {
        best,
        multipath: p.multipath && !best,
        from: match p.source {
            Source::Local => "local".into(),
            Source::Peer(id) => speaker
                .peer_by_id(id)
                .map_or_else(|| format!("peer {}", id.0), |v| v.address().to_string()),
        },
        next_hop: next_hop(&a.next_hop),
        as_path: a.as_path.to_string(),
        origin: a.origin.to_string(),
        med: a.med,
        local_pref: a.local_pref,
        communities: a.communities.iter().map(|c| c.to_string()).collect(),
        large_communities: a.large_communities.iter().map(|c| c.to_string()).collect(),
        age_secs: speaker.path_age(p, now).as_secs(),
        stale: p.stale,
        not_best: p.lost.map(|l| l.to_string()),
        path_id: p.path_id.map(|i| i.0),
    }
}

fn routes(
    speaker: &Speaker,
    fib: bool,
    all: bool,
    prefix: Option<&str>,
    now: Instant,
) -> ResponseBody {
    // A prefix, or an address: then the longest prefix holding it, like
    // `show ip bgp 10.244.2.5`. Either way every path is shown, as vtysh does.
    let filter = match prefix {
        None => None,
        Some(text) => match (text.parse::<Prefix>(), text.parse::<std::net::IpAddr>()) {
            (Ok(p), _) => Some(p),
            (Err(_), Ok(a)) => {
                let a = crate::net::ifaddr::canonical(a);
                match speaker
                    .rib()
                    .iter()
                    .map(|(p, _)| p)
                    .filter(|p| p.contains_addr(a))
                    .max_by_key(|p| p.len())
                {
                    Some(p) => Some(p),
                    None => return ResponseBody::Routes { routes: Vec::new() },
                }
            }
            (Err(e), Err(_)) => {
                return ResponseBody::Error {
                    message: format!("{e} (give a prefix such as 10.244.1.0/24, or an address)"),
                };
            }
        },
    };
    let all = all || filter.is_some();
    // The RIB is a hash table: sorted here, as routing tables print.
    let mut dests: Vec<_> = speaker
        .rib()
        .iter()
        .filter(|(p, _)| filter.is_none_or(|f| *p == f))
        .collect();
    dests.sort_unstable_by_key(|(p, _)| *p);
    let routes = dests
        .into_iter()
        .filter_map(|(prefix, dest)| {
            let best = dest.best()?;
            let mut paths = vec![path_entry(speaker, best, true, now)];
            if all {
                paths.extend(
                    dest.paths
                        .iter()
                        .filter(|p| !std::ptr::eq(*p, best))
                        .map(|p| path_entry(speaker, p, false, now)),
                );
            } else {
                paths.extend(
                    dest.multipath()
                        .skip(1)
                        .map(|p| path_entry(speaker, p, false, now)),
                );
            }
            let (state, reason) = fib_placeholder(fib, best);
            Some(RouteEntry {
                prefix: prefix.to_string(),
                paths,
                fib: state,
                fib_reason: reason,
            })
        })
        .collect();
    ResponseBody::Routes { routes }
}

/// A best path's FIB state until the FIB says otherwise: learned routes
/// the FIB has nothing for yet are pending; local ones it does not install
/// (originated prefixes that are not pod CIDRs) have none.
fn fib_placeholder(fib: bool, best: &Path) -> (Option<String>, Option<String>) {
    if !fib || matches!(best.source, Source::Local) {
        return (None, None);
    }
    (Some("pending".to_string()), None)
}

/// The FIB's states for `routes`, in the same order (`None`: it has
/// nothing for that prefix, and the placeholder stays).
pub(crate) fn fill_fib_states(routes: &mut [RouteEntry], states: Vec<Option<FibState>>) {
    for (r, s) in routes.iter_mut().zip(states) {
        if let Some(s) = s {
            (r.fib, r.fib_reason) = words(&s);
        }
    }
}

/// A FIB state as the protocol carries it: its word and its reason.
fn words(s: &FibState) -> (Option<String>, Option<String>) {
    let (word, why) = s.describe();
    (Some(word.to_string()), why.map(str::to_string))
}

fn rib(p: &PeerView<'_>, direction: RibDirection) -> ResponseBody {
    let entry = |prefix: &Prefix, path_id: Option<u32>, a: &bgp::rib::RouteAttrs| RibEntry {
        prefix: prefix.to_string(),
        path_id,
        next_hop: next_hop(&a.next_hop),
        as_path: a.as_path.to_string(),
        origin: a.origin.to_string(),
        med: a.med,
        local_pref: a.local_pref,
        communities: a.communities.iter().map(|c| c.to_string()).collect(),
        large_communities: a.large_communities.iter().map(|c| c.to_string()).collect(),
    };
    match direction {
        RibDirection::Out => {
            let mut out: Vec<_> = p.adj_rib_out().collect();
            out.sort_unstable_by_key(|(prefix, _)| *prefix);
            ResponseBody::Rib {
                entries: out
                    .into_iter()
                    .map(|(prefix, a)| entry(&prefix, None, a))
                    .collect(),
            }
        }
        RibDirection::In if !p.config().keep_received => ResponseBody::Error {
            message: format!(
                "routes received from {} are not kept before policy; set `keep_received: true` on the peer, or see what was accepted with `podroute show routes --all`",
                p.address()
            ),
        },
        RibDirection::In => ResponseBody::Rib {
            entries: p
                .adj_rib_in()
                .map(|((prefix, id), a)| entry(prefix, id.map(|i| i.0), a))
                .collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Host, parse};
    use bgp::speaker::{Input, LocalRoute};

    fn speaker_with(prefixes: &[&str]) -> (Speaker, Config) {
        let config = parse("asn: 64512\nrouter_id: 192.0.2.1\n", &Host::default()).unwrap();
        let now = Instant::now();
        let mut s = Speaker::new(config.speaker.clone(), now);
        for p in prefixes {
            s.handle(now, Input::Originate(LocalRoute::new(p.parse().unwrap())));
        }
        (s, config)
    }

    #[test]
    fn ipam_mode_is_file_with_an_ipam_section_and_static_without() {
        let base = "asn: 64512\nrouter_id: 192.0.2.1\nnode: lab-1\n";
        let file_mode = format!(
            "{base}ipam:\n  file: /srv/lab/ipam.json\n  pools: [{{ cidr: 10.244.0.0/16 }}]\n"
        );
        let blocks = ["10.244.3.0/24".parse().unwrap()];
        let config =
            crate::config::parse_with_allocated(&file_mode, &Host::default(), &blocks).unwrap();
        let kept = IpamView {
            mode: "file".into(),
            node: Some("lab-1".into()),
            node_cidrs: vec!["10.244.3.0/24".into()],
            pools: Vec::new(),
            blocks: Vec::new(),
            store: Some("/srv/lab/ipam.json".into()),
        };
        let view = ipam(&config, Some(kept.clone()));
        assert_eq!(
            view, kept,
            "the keeper's view, this node's CIDRs as advertised"
        );

        let config = parse(
            &format!("{base}pod_cidrs: [10.244.7.0/24]\n"),
            &Host::default(),
        )
        .unwrap();
        let view = ipam(&config, None);
        assert_eq!(
            (view.mode.as_str(), view.node_cidrs),
            ("static", vec!["10.244.7.0/24".to_string()])
        );
    }

    fn prefixes(body: ResponseBody) -> Vec<String> {
        match body {
            ResponseBody::Routes { routes } => routes.into_iter().map(|r| r.prefix).collect(),
            other => panic!("not routes: {other:?}"),
        }
    }

    #[test]
    fn routes_by_prefix_or_by_address_longest_match() {
        let (s, c) = speaker_with(&["10.244.0.0/16", "10.244.1.0/24", "fd00:10:244:1::/64"]);
        let q = |p: &str| Query::Routes {
            all: false,
            prefix: Some(p.to_string()),
        };
        let t = Instant::now();
        assert_eq!(
            prefixes(answer(&s, &c, t, false, q("10.244.1.0/24"))),
            ["10.244.1.0/24"]
        );
        assert_eq!(
            prefixes(answer(&s, &c, t, false, q("10.244.1.77"))),
            ["10.244.1.0/24"]
        );
        assert_eq!(
            prefixes(answer(&s, &c, t, false, q("10.244.9.1"))),
            ["10.244.0.0/16"]
        );
        assert_eq!(
            prefixes(answer(&s, &c, t, false, q("fd00:10:244:1::5"))),
            ["fd00:10:244:1::/64"]
        );
        assert!(prefixes(answer(&s, &c, t, false, q("10.245.0.1"))).is_empty());
        match answer(&s, &c, t, false, q("10.244.1.0/33")) {
            ResponseBody::Error { message } => {
                assert!(message.contains("or an address"), "{message}")
            }
            other => panic!("{other:?}"),
        }
    }
}
