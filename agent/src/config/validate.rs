//! From the file as written to typed settings, once. Every problem is
//! reported with where it is and what would be accepted, all at once.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use bgp::fsm::RemoteAs;
use bgp::policy::{
    Action, AsPathMatch, Condition, Fallthrough, Policy, PrefixRange, PrefixSet, RouteSource, Rule,
    Verdict,
};
use bgp::speaker::{
    DynamicNeighbors, GracefulRestart, LocalRoute, MaxPrefix, MaxPrefixAction, PeerConfig,
    PeerKind, SpeakerConfig,
};
use bgp::types::{Asn, Community, Family, FamilySet, HoldTime, LargeCommunity, Prefix, RouterId};

use super::overrides::Applied;
use super::raw::*;
use super::templates::{self, PeerAt};
use super::{
    Config, DEFAULT_METRICS_LISTEN, FibSettings, Listen, MAIN_TABLE, PODROUTE_ROUTE_PROTOCOL,
    PodCidrRoute,
};

/// Problems found, each with its place in the file.
#[derive(Debug, Default)]
pub(crate) struct Problems(pub(crate) Vec<Problem>);

/// One problem: where (`peers[0] (192.0.2.1).hold_time`) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    at: String,
    what: String,
}

impl Problem {
    /// Names the flag that set the key, if one did: the file is not where
    /// to look then.
    pub(crate) fn with_flag(&self, applied: &Applied) -> Problem {
        match applied.flag_for(&self.at) {
            Some(flag) => Problem {
                at: format!("{} (from {flag})", self.at),
                what: self.what.clone(),
            },
            None => self.clone(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.at, self.what)
    }
}

impl Problems {
    /// Records a problem once: a template's bad setting is found again in
    /// every peer that uses it.
    pub(crate) fn add(&mut self, at: &str, what: impl std::fmt::Display) {
        let problem = Problem {
            at: at.to_string(),
            what: what.to_string(),
        };
        if !self.0.contains(&problem) {
            self.0.push(problem);
        }
    }

    /// Keeps `Ok` values; records `Err`s.
    pub(crate) fn take<T, E: std::fmt::Display>(&mut self, at: &str, r: Result<T, E>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(at, e);
                None
            }
        }
    }

    /// Keeps `Ok` values; records `Err`s that carry their own place.
    fn take_at<T>(&mut self, r: Result<T, (String, String)>) -> Option<T> {
        match r {
            Ok(v) => Some(v),
            Err((at, what)) => {
                self.add(&at, what);
                None
            }
        }
    }
}

/// Where the graceful-restart marker lives unless `state_dir` says otherwise.
/// Under /run on purpose: a reboot empties it, and a reboot loses the
/// forwarding state the marker vouches for.
pub(crate) const DEFAULT_STATE_DIR: &str = "/run/podroute";

/// What validation needs to know about the host, looked up by the caller so
/// that validation itself reads nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct Host {
    /// For `router_id: auto`: the first global IPv4 address of the host.
    pub(crate) ipv4: Option<Ipv4Addr>,
}

pub(crate) fn validate(raw: RawConfig, host: &Host) -> Result<Config, Problems> {
    let mut p = Problems::default();
    let asn = match &raw.asn {
        Some(a) => p.take("asn", parse_asn(a)),
        None => {
            p.add("asn", "missing: the node's AS number, e.g. `asn: 64512`");
            None
        }
    };
    let router_id = match &raw.router_id {
        Some(r) if r == "auto" => match host.ipv4 {
            Some(a) => p.take("router_id", RouterId::try_from(a)),
            None => {
                p.add("router_id", "`auto` found no global IPv4 address on this host; write one, e.g. `router_id: 192.0.2.10`");
                None
            }
        },
        Some(r) => p.take("router_id", r.parse::<RouterId>()),
        None => {
            p.add("router_id", "missing: a unique non-zero ID, usually the node's IPv4 address, e.g. `router_id: 192.0.2.10`");
            None
        }
    };
    let cluster_id = raw
        .cluster_id
        .as_ref()
        .and_then(|c| p.take("cluster_id", c.parse::<RouterId>()));

    let mut gr = GracefulRestart::default();
    if let Some(g) = &raw.graceful_restart {
        if let Some(d) = g
            .restart_time
            .as_ref()
            .and_then(|d| p.take("graceful_restart.restart_time", duration(d)))
        {
            if d.as_secs() > 4095 {
                p.add(
                    "graceful_restart.restart_time",
                    "at most 4095 seconds (a 12-bit field, RFC 4724 §3)",
                );
            }
            gr.restart_time = d.as_secs().min(4095) as u16;
        }
        if let Some(d) = g
            .stale_routes_time
            .as_ref()
            .and_then(|d| p.take("graceful_restart.stale_routes_time", duration(d)))
        {
            gr.stale_routes_time = d;
        }
        if let Some(d) = g
            .selection_deferral
            .as_ref()
            .and_then(|d| p.take("graceful_restart.selection_deferral", duration(d)))
        {
            gr.selection_deferral = d;
        }
    }
    // Forwarding state survives our restarts: the kernel keeps our routes.
    gr.forwarding = [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
        .into_iter()
        .collect();

    let policies: BTreeMap<String, Policy> = raw
        .policies
        .iter()
        .filter_map(|(name, rp)| policy(&mut p, name, rp).map(|pol| (name.clone(), pol)))
        .collect();
    let defined: Vec<&str> = raw.policies.keys().map(String::as_str).collect();

    for (name, t) in &raw.templates {
        let at = format!("templates.{name}");
        if t.address.is_some() {
            p.add(
                &format!("{at}.address"),
                "a template has no `address`: each peer that names it has its own",
            );
        }
        if let Some(inner) = &t.template {
            p.add(
                &format!("{at}.template"),
                format!("templates do not nest: copy what `{inner}` sets into `{name}`"),
            );
        }
        // Checked on its own too, so that a mistake in a template no peer
        // uses yet is found now. A peer may be the one to give `remote_as`.
        let mut alone = t.clone();
        alone
            .remote_as
            .get_or_insert_with(|| RawAsn::Text("internal".into()));
        peer(&mut p, &PeerAt::entry(at), None, &alone, &defined);
    }

    let mut peers = Vec::new();
    let mut seen = BTreeMap::new();
    for (i, written) in raw.peers.iter().enumerate() {
        let at = format!("peers[{i}]");
        let Some(address) = written.address.as_deref() else {
            p.add(&at, "missing `address`");
            continue;
        };
        let at = format!("peers[{i}] ({address})");
        let Some(addr) = p.take(
            &at,
            address
                .parse::<IpAddr>()
                .map_err(|_| format!("`address: {address}` is not an IP address")),
        ) else {
            continue;
        };
        if let Some(prev) = seen.insert(addr, i) {
            p.add(
                &at,
                format!("the same address as peers[{prev}]; one session per address"),
            );
        }
        let Some((rp, at)) = p.take_at(templates::resolve(at, written, &raw.templates)) else {
            continue;
        };
        if let Some(pc) = peer(&mut p, &at, Some(addr), &rp, &defined) {
            peers.push(pc);
        }
    }
    let mut dynamic = Vec::new();
    for (i, d) in raw.dynamic_neighbors.iter().enumerate() {
        let at = format!("dynamic_neighbors[{i}]");
        let range = p.take(&format!("{at}.range"), d.range.parse::<Prefix>());
        // `template: tor` is `template: {template: tor}`: nothing of its own.
        let written = match &d.template {
            RawDynamicTemplate::Named(name) => RawPeer {
                template: Some(name.clone()),
                ..RawPeer::default()
            },
            RawDynamicTemplate::Inline(rp) => (**rp).clone(),
        };
        if written.address.is_some() {
            p.add(
                &format!("{at}.template"),
                "a template has no `address`: it applies to any address in `range`",
            );
        }
        let template = p
            .take_at(templates::resolve(
                format!("{at}.template"),
                &written,
                &raw.templates,
            ))
            .and_then(|(rp, at)| peer(&mut p, &at, None, &rp, &defined));
        if let (Some(range), Some(template)) = (range, template) {
            dynamic.push(DynamicNeighbors { range, template });
        }
    }
    let mut originate = Vec::new();
    let mut originated = BTreeMap::new();
    for (i, o) in raw.originate.iter().enumerate() {
        let at = format!("originate[{i}]");
        let Some(prefix) = p.take(&format!("{at}.prefix"), o.prefix.parse::<Prefix>()) else {
            continue;
        };
        if let Some(prev) = originated.insert(prefix, i) {
            p.add(
                &format!("{at}.prefix"),
                format!("{prefix} is already originate[{prev}]; one entry per prefix"),
            );
        }
        let mut r = LocalRoute::new(prefix);
        r.communities = list(&mut p, &format!("{at}.communities"), &o.communities, |s| {
            s.parse::<Community>()
        });
        r.large_communities = list(
            &mut p,
            &format!("{at}.large_communities"),
            &o.large_communities,
            |s| s.parse::<LargeCommunity>(),
        );
        r.med = o.med;
        originate.push(r);
    }
    let pod_cidrs = pod_cidrs(&mut p, &raw.pod_cidrs);
    for prefix in &pod_cidrs {
        // An `originate` entry for the same prefix says how to advertise it.
        if !originated.contains_key(prefix) {
            originate.push(LocalRoute::new(*prefix));
        }
    }
    let fib = fib(&mut p, raw.fib.as_ref());
    let metrics = metrics(&mut p, raw.metrics.as_ref());

    let listen = Listen {
        port: raw.listen.as_ref().and_then(|l| l.port).unwrap_or(179),
        addresses: match raw.listen.as_ref().and_then(|l| l.addresses.as_ref()) {
            None => vec![
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ],
            Some(list) => list
                .iter()
                .enumerate()
                .filter_map(|(i, a)| {
                    p.take(
                        &format!("listen.addresses[{i}]"),
                        a.parse::<IpAddr>()
                            .map_err(|_| format!("`{a}` is not an IP address")),
                    )
                })
                .collect(),
        },
    };

    if !p.0.is_empty() {
        return Err(p);
    }
    let (Some(asn), Some(router_id)) = (asn, router_id) else {
        return Err(p);
    };
    let mut speaker = SpeakerConfig::new(asn, router_id);
    speaker.cluster_id = cluster_id;
    speaker.graceful_restart = gr;
    speaker.policies = policies;
    speaker.dynamic_neighbors = dynamic;
    speaker.always_compare_med = raw.always_compare_med.unwrap_or(false);
    if let Some(m) = &raw.multipath {
        speaker.max_paths = m.max_paths.unwrap_or(8).max(1);
        speaker.multipath_relax = m.relax.unwrap_or(false);
    }
    speaker.hostname = raw.hostname.clone().or_else(|| raw.node.clone());
    Ok(Config {
        node: raw.node,
        speaker,
        peers,
        originate,
        pod_cidrs,
        fib,
        metrics,
        listen,
        control_socket: raw
            .control_socket
            .unwrap_or_else(|| PathBuf::from(crate::control::DEFAULT_SOCKET)),
        state_dir: PathBuf::from(raw.state_dir.as_deref().unwrap_or(DEFAULT_STATE_DIR)),
        // Validated by [`super::kubernetes`], before the cluster's overlay.
        kubernetes: None,
        // Validated by [`super::ipam`], before the allocated blocks.
        ipam: None,
    })
}

fn peer(
    p: &mut Problems,
    at: &PeerAt,
    address: Option<IpAddr>,
    rp: &RawPeer,
    defined: &[&str],
) -> Option<PeerConfig> {
    let remote_as = match &rp.remote_as {
        Some(r) => p.take(&at.field("remote_as"), parse_remote_as(r))?,
        None => {
            let also = at
                .template_name()
                .map(|t| format!(" (template `{t}` does not set it either)"))
                .unwrap_or_default();
            p.add(
                at.whole(),
                format!(
                    "missing `remote_as`: the peer's AS number, or `internal` / `external`{also}"
                ),
            );
            return None;
        }
    };
    let mut c = PeerConfig::new(
        address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        remote_as,
    );
    c.description = rp.description.clone();
    if let Some(k) = &rp.kind {
        c.kind = p
            .take(&at.field("kind"), peer_kind(k))
            .unwrap_or(PeerKind::Other);
    }
    c.passive = rp.passive.unwrap_or(false);
    if let Some(port) = rp.port {
        c.transport.port = port;
    }
    c.transport.local_address = rp.local_address.as_ref().and_then(|a| {
        p.take(
            &at.field("local_address"),
            a.parse::<IpAddr>()
                .map_err(|_| format!("`{a}` is not an IP address")),
        )
    });
    c.transport.interface = rp.interface.clone();
    if let Some(IpAddr::V6(v6)) = address
        && v6.is_unicast_link_local()
        && rp.interface.is_none()
    {
        p.add(
            at.whole(),
            "a link-local peer needs `interface`, the link it is on",
        );
    }
    c.transport.password = match (&rp.password, &rp.password_file) {
        (Some(_), Some(_)) => {
            p.add(at.whole(), "give `password` or `password_file`, not both");
            None
        }
        (Some(pw), None) => Some(pw.clone()),
        (None, Some(file)) => p.take(
            &at.field("password_file"),
            std::fs::read_to_string(file)
                .map(|s| s.trim_end_matches(['\r', '\n']).to_string())
                .map_err(|e| format!("cannot read {file}: {e}")),
        ),
        (None, None) => None,
    };
    if c.transport
        .password
        .as_ref()
        .is_some_and(|pw| pw.len() > 80)
    {
        let key = if rp.password.is_some() {
            "password"
        } else {
            "password_file"
        };
        p.add(
            &at.field(key),
            "a TCP-MD5 password is at most 80 bytes (the kernel's limit)",
        );
    }
    c.transport.ttl_security = rp.ttl_security;
    if rp.ttl_security == Some(0) {
        p.add(&at.field("ttl_security"), "the peer is at least 1 hop away");
    }
    if let Some(h) = rp.hold_time {
        c.hold_time = p
            .take(&at.field("hold_time"), HoldTime::new(h))
            .unwrap_or(c.hold_time);
    }
    c.keepalive = rp.keepalive;
    if let Some(d) = rp
        .connect_retry
        .as_ref()
        .and_then(|d| p.take(&at.field("connect_retry"), duration(d)))
    {
        c.connect_retry = d.max(Duration::from_secs(1));
    }
    c.delay_open = rp
        .delay_open
        .as_ref()
        .and_then(|d| p.take(&at.field("delay_open"), duration(d)))
        .filter(|d| !d.is_zero());
    if let Some(f) = &rp.families {
        c.families = families(p, &at.field("families"), f);
    }
    if let Some(ap) = &rp.add_path {
        c.add_path_receive = families(p, &at.field("add_path.receive"), &ap.receive);
        c.add_path_send = families(p, &at.field("add_path.send"), &ap.send);
    }
    c.extended_next_hop = rp.extended_next_hop.unwrap_or(false);
    c.route_reflector_client = rp.route_reflector_client.unwrap_or(false);
    c.next_hop_self = rp.next_hop_self.unwrap_or(false);
    c.next_hop_v4 = rp.next_hop_ipv4.as_ref().and_then(|a| {
        p.take(
            &at.field("next_hop_ipv4"),
            a.parse::<Ipv4Addr>()
                .map_err(|_| format!("`{a}` is not an IPv4 address")),
        )
    });
    c.next_hop_v6 = rp.next_hop_ipv6.as_ref().and_then(|a| {
        p.take(
            &at.field("next_hop_ipv6"),
            a.parse::<Ipv6Addr>()
                .map_err(|_| format!("`{a}` is not an IPv6 address")),
        )
    });
    for (what, chain) in [("import", &rp.import), ("export", &rp.export)] {
        for name in chain.iter().flatten() {
            if !defined.contains(&name.as_str()) {
                let known = if defined.is_empty() {
                    "none are defined".to_string()
                } else {
                    format!("defined: {}", defined.join(", "))
                };
                p.add(
                    &at.field(what),
                    format!("policy `{name}` is not defined under `policies` ({known})"),
                );
            }
        }
    }
    c.import = rp.import.clone();
    c.export = rp.export.clone();
    if let Some(m) = &rp.max_prefix {
        let action = match m.action.as_deref().unwrap_or("warn") {
            "warn" => Some(MaxPrefixAction::Warn),
            "restart" => {
                let after = m
                    .restart_after
                    .as_ref()
                    .and_then(|d| p.take(&at.field("max_prefix.restart_after"), duration(d)))
                    .unwrap_or(Duration::from_secs(60));
                Some(MaxPrefixAction::Restart(after))
            }
            other => {
                p.add(
                    &at.field("max_prefix.action"),
                    format!("`{other}`: use `warn` or `restart`"),
                );
                None
            }
        };
        c.max_prefix = action.map(|action| MaxPrefix {
            limit: m.limit,
            action,
        });
    }
    c.allowas_in = rp.allowas_in.unwrap_or(0);
    if let Some(d) = rp
        .min_advertisement_interval
        .as_ref()
        .and_then(|d| p.take(&at.field("min_advertisement_interval"), duration(d)))
    {
        c.min_advertisement_interval = d;
    }
    c.keep_received = rp.keep_received.unwrap_or(false);
    c.graceful_restart = rp.graceful_restart.unwrap_or(true);
    Some(c)
}

/// This node's pod CIDRs: each a network (no host bits), none twice, none
/// inside another, since the FIB installs a route for each.
fn pod_cidrs(p: &mut Problems, written: &[String]) -> Vec<Prefix> {
    let mut cidrs: Vec<(usize, Prefix)> = Vec::new();
    for (i, s) in written.iter().enumerate() {
        let at = format!("pod_cidrs[{i}]");
        let Some(prefix) = p.take(&at, s.trim().parse::<Prefix>()) else {
            continue;
        };
        if prefix.len() == 0 {
            p.add(
                &at,
                format!(
                    "{prefix} is every address; a pod CIDR is this node's block, e.g. 10.244.1.0/24"
                ),
            );
            continue;
        }
        match cidrs.iter().find(|(_, q)| overlap(q, &prefix)) {
            Some((j, q)) if *q == prefix => {
                p.add(&at, format!("{prefix} is already pod_cidrs[{j}]"))
            }
            Some((j, q)) => p.add(
                &at,
                format!("{prefix} overlaps pod_cidrs[{j}] ({q}); a node's pod CIDRs are disjoint"),
            ),
            None => cidrs.push((i, prefix)),
        }
    }
    cidrs.into_iter().map(|(_, prefix)| prefix).collect()
}

fn overlap(a: &Prefix, b: &Prefix) -> bool {
    match (a, b) {
        (Prefix::V4(a), Prefix::V4(b)) => a.overlaps(b),
        (Prefix::V6(a), Prefix::V6(b)) => a.overlaps(b),
        _ => false,
    }
}

fn fib(p: &mut Problems, raw: Option<&RawFib>) -> FibSettings {
    let mut f = FibSettings::default();
    let Some(raw) = raw else {
        return f;
    };
    if let Some(enabled) = raw.enabled {
        f.enabled = enabled;
    }
    if let Some(n) = raw
        .protocol
        .as_ref()
        .and_then(|v| p.take("fib.protocol", route_protocol(v)))
    {
        f.protocol = n;
    }
    if let Some(n) = raw
        .table
        .as_ref()
        .and_then(|v| p.take("fib.table", route_table(v)))
    {
        f.table = n;
    }
    match raw.pod_cidr_route.as_deref() {
        None => {}
        Some("unreachable") => f.pod_cidr_route = PodCidrRoute::Unreachable,
        Some("blackhole") => f.pod_cidr_route = PodCidrRoute::Blackhole,
        Some("none") => f.pod_cidr_route = PodCidrRoute::None,
        Some(other) => p.add(
            "fib.pod_cidr_route",
            format!("`{other}`: use `unreachable`, `blackhole` or `none`"),
        ),
    }
    if let Some(m) = raw.metric {
        f.metric = m;
    }
    f
}

/// Route protocol numbers others own, from the kernel's `rtnetlink.h` and
/// FRR's `rt_netlink.h`. We reconcile every route carrying our number as
/// ours, so sharing one would delete or rewrite the other daemon's routes.
const ROUTE_PROTOCOLS_IN_USE: &[(u8, u8, &str)] = &[
    (1, 1, "ICMP redirects (`redirect`)"),
    (2, 2, "the kernel itself (`kernel`)"),
    (3, 3, "`ip route add` without `proto` (`boot`)"),
    (4, 4, "routes administrators add (`static`)"),
    (8, 8, "gated (`gated`)"),
    (9, 9, "router advertisements (`ra`)"),
    (10, 10, "the MRT daemon (`mrt`)"),
    (11, 11, "FRR's and Quagga's zebra (`zebra`)"),
    (12, 12, "BIRD (`bird`)"),
    (13, 13, "DECnet routing (`dnrouted`)"),
    (14, 14, "XORP (`xorp`)"),
    (15, 15, "Netsukuku (`ntk`)"),
    (16, 16, "DHCP clients (`dhcp`)"),
    (17, 17, "mrouted (`mrouted`)"),
    (18, 18, "keepalived (`keepalived`)"),
    (42, 42, "babeld (`babel`)"),
    (99, 99, "Open/R (`openr`)"),
    (186, 198, "FRR's daemons (186 `bgp` to 198 `srte`)"),
];

/// `44`, `podroute`, or a number as text (from `--fib-protocol`).
fn route_protocol(v: &RawNumberOrName) -> Result<u8, String> {
    let n = match v {
        RawNumberOrName::Name(t) if t == "podroute" => return Ok(PODROUTE_ROUTE_PROTOCOL),
        RawNumberOrName::Number(n) => *n,
        RawNumberOrName::Name(t) => t.parse::<u64>().map_err(|_| {
            format!("`{t}`: a number from 1 to 255, or `podroute` ({PODROUTE_ROUTE_PROTOCOL})")
        })?,
    };
    let n = match u8::try_from(n) {
        Ok(0) => return Err("0 means unspecified (`unspec`): a route protocol is 1 to 255".into()),
        Ok(n) => n,
        Err(_) => return Err(format!("{n}: a route protocol is one byte, 1 to 255")),
    };
    match ROUTE_PROTOCOLS_IN_USE
        .iter()
        .find(|(low, high, _)| (*low..=*high).contains(&n))
    {
        Some((_, _, who)) => Err(format!(
            "{n} is used by {who}; podroute would take those routes for its own. Use a free number, e.g. `podroute` ({PODROUTE_ROUTE_PROTOCOL})"
        )),
        None => Ok(n),
    }
}

/// `main`, or a table number other than the kernel's reserved ones.
fn route_table(v: &RawNumberOrName) -> Result<u32, String> {
    let n = match v {
        RawNumberOrName::Name(t) if t == "main" => return Ok(MAIN_TABLE),
        RawNumberOrName::Name(t) if t == "local" => 255,
        RawNumberOrName::Name(t) if t == "default" => 253,
        RawNumberOrName::Number(n) => *n,
        RawNumberOrName::Name(t) => t
            .parse::<u64>()
            .map_err(|_| format!("`{t}`: `main`, or a table number from 1 to 4294967295"))?,
    };
    match n {
        0 => Err("0 is no table (`unspec`): use `main` or a number from 1 to 4294967295".into()),
        253 => Err("253 is the kernel's `default` table, consulted after `main` by the last rule; use `main` or a table of your own".into()),
        255 => Err("255 is the kernel's `local` table (local and broadcast addresses, managed by the kernel); use `main` or a table of your own".into()),
        n => u32::try_from(n)
            .map_err(|_| format!("{n}: a table number is at most 4294967295")),
    }
}

fn metrics(p: &mut Problems, raw: Option<&RawMetrics>) -> Option<SocketAddr> {
    match raw.and_then(|m| m.listen.as_ref()) {
        None => Some(DEFAULT_METRICS_LISTEN),
        Some(RawListenOrOff::Off) => None,
        Some(RawListenOrOff::Text(t)) if t == "none" || t == "false" => None,
        Some(RawListenOrOff::Text(t)) => p.take("metrics.listen", socket_address(t)),
    }
}

fn socket_address(t: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = t.parse::<SocketAddr>() {
        return Ok(a);
    }
    Err(match t.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => format!("`{t}` has no port: e.g. {a}:9180"),
        Ok(IpAddr::V6(a)) => format!("`{t}` has no port: e.g. [{a}]:9180"),
        Err(_) => {
            format!("`{t}` is not an address and port: e.g. 127.0.0.1:9180 or [::]:9180; or `none`")
        }
    })
}

fn policy(p: &mut Problems, name: &str, rp: &RawPolicy) -> Option<Policy> {
    let at = format!("policies.{name}");
    let default = match rp.default.as_deref().unwrap_or("reject") {
        "accept" => Fallthrough::Accept,
        "reject" => Fallthrough::Reject,
        "next" => Fallthrough::Next,
        other => {
            p.add(
                &format!("{at}.default"),
                format!("`{other}`: use `accept`, `reject` or `next`"),
            );
            Fallthrough::Reject
        }
    };
    let mut rules = Vec::new();
    for (i, r) in rp.rules.iter().enumerate() {
        let at = format!("{at}.rules[{i}]");
        let conditions = conditions(p, &format!("{at}.match"), &r.conditions);
        let actions = actions(p, &format!("{at}.set"), &r.set);
        let verdict = match r.action.as_deref() {
            None => None,
            Some("accept") => Some(Verdict::Accept),
            Some("reject") => Some(Verdict::Reject),
            Some(other) => {
                p.add(&format!("{at}.action"), format!("`{other}`: use `accept` or `reject`, or leave it out to go on to the next rule"));
                None
            }
        };
        rules.push(Rule {
            name: r.name.clone(),
            conditions,
            actions,
            verdict,
        });
    }
    Some(Policy {
        name: name.to_string(),
        rules,
        default,
    })
}

fn conditions(p: &mut Problems, at: &str, m: &RawMatch) -> Vec<Condition> {
    let mut c = Vec::new();
    if let Some(list) = &m.prefix {
        let ranges = list
            .iter()
            .enumerate()
            .filter_map(|(i, s)| p.take(&format!("{at}.prefix[{i}]"), prefix_range(s)))
            .collect();
        c.push(Condition::Prefix(PrefixSet(ranges)));
    }
    if let Some(f) = &m.family
        && let Some(f) = p.take(&format!("{at}.family"), f.parse::<Family>())
    {
        c.push(Condition::Family(f));
    }
    if let Some(l) = &m.community {
        c.push(Condition::Community(list(
            p,
            &format!("{at}.community"),
            l,
            |s| s.parse::<Community>(),
        )));
    }
    if let Some(l) = &m.large_community {
        c.push(Condition::LargeCommunity(list(
            p,
            &format!("{at}.large_community"),
            l,
            |s| s.parse::<LargeCommunity>(),
        )));
    }
    if let Some(a) = &m.as_path {
        let asn = |p: &mut Problems, what: &str, v: &Option<RawAsn>| {
            v.as_ref()
                .and_then(|v| p.take(&format!("{at}.as_path.{what}"), parse_asn(v)))
        };
        if let Some(x) = asn(p, "contains", &a.contains) {
            c.push(Condition::AsPath(AsPathMatch::Contains(x)));
        }
        if let Some(x) = asn(p, "origin", &a.origin) {
            c.push(Condition::AsPath(AsPathMatch::OriginatesFrom(x)));
        }
        if let Some(x) = asn(p, "neighbor", &a.neighbor) {
            c.push(Condition::AsPath(AsPathMatch::NeighborIs(x)));
        }
        if let Some(n) = a.max_length {
            c.push(Condition::AsPath(AsPathMatch::LengthAtMost(n)));
        }
        if let Some(n) = a.min_length {
            c.push(Condition::AsPath(AsPathMatch::LengthAtLeast(n)));
        }
    }
    if let Some(l) = &m.neighbor {
        c.push(Condition::Neighbor(list(
            p,
            &format!("{at}.neighbor"),
            l,
            prefix_or_address,
        )));
    }
    if let Some(l) = &m.next_hop {
        c.push(Condition::NextHop(list(
            p,
            &format!("{at}.next_hop"),
            l,
            prefix_or_address,
        )));
    }
    if let Some(s) = &m.source {
        let src = match s.as_str() {
            "local" => Some(RouteSource::Local),
            "external" => Some(RouteSource::External),
            "internal" => Some(RouteSource::Internal),
            other => {
                p.add(
                    &format!("{at}.source"),
                    format!("`{other}`: use `local`, `external` or `internal`"),
                );
                None
            }
        };
        c.extend(src.map(Condition::Source));
    }
    if let Some(not) = &m.not {
        for inner in conditions(p, &format!("{at}.not"), not) {
            c.push(Condition::Not(Box::new(inner)));
        }
    }
    c
}

fn actions(p: &mut Problems, at: &str, s: &RawSet) -> Vec<Action> {
    let mut a = Vec::new();
    if let Some(v) = s.local_pref {
        a.push(Action::LocalPref(v));
    }
    if let Some(v) = s.med {
        a.push(Action::Med(v));
    }
    if s.remove_med == Some(true) {
        a.push(Action::RemoveMed);
    }
    if s.clear_communities == Some(true) {
        a.push(Action::ClearCommunities);
    }
    if let Some(l) = &s.remove_communities {
        a.push(Action::RemoveCommunities(list(
            p,
            &format!("{at}.remove_communities"),
            l,
            |x| x.parse::<Community>(),
        )));
    }
    if let Some(l) = &s.add_communities {
        a.push(Action::AddCommunities(list(
            p,
            &format!("{at}.add_communities"),
            l,
            |x| x.parse::<Community>(),
        )));
    }
    if let Some(l) = &s.remove_large_communities {
        a.push(Action::RemoveLargeCommunities(list(
            p,
            &format!("{at}.remove_large_communities"),
            l,
            |x| x.parse::<LargeCommunity>(),
        )));
    }
    if let Some(l) = &s.add_large_communities {
        a.push(Action::AddLargeCommunities(list(
            p,
            &format!("{at}.add_large_communities"),
            l,
            |x| x.parse::<LargeCommunity>(),
        )));
    }
    match s.next_hop.as_deref() {
        None => {}
        Some("self") => a.push(Action::NextHopSelf),
        Some(addr) => {
            if let Some(ip) = p.take(
                &format!("{at}.next_hop"),
                addr.parse::<IpAddr>()
                    .map_err(|_| format!("`{addr}`: an IP address, or `self`")),
            ) {
                a.push(Action::NextHop(ip));
            }
        }
    }
    match &s.prepend {
        None => {}
        Some(RawPrepend::Count(n)) => a.push(Action::Prepend {
            asn: None,
            count: *n,
        }),
        Some(RawPrepend::Asn { asn, count }) => {
            if let Some(asn) = p.take(&format!("{at}.prepend.asn"), parse_asn(asn)) {
                a.push(Action::Prepend {
                    asn: Some(asn),
                    count: *count,
                });
            }
        }
    }
    a
}

fn list<T, E: std::fmt::Display>(
    p: &mut Problems,
    at: &str,
    items: &[String],
    f: impl Fn(&str) -> Result<T, E>,
) -> Vec<T> {
    items
        .iter()
        .enumerate()
        .filter_map(|(i, s)| p.take(&format!("{at}[{i}]"), f(s)))
        .collect()
}

fn families(p: &mut Problems, at: &str, names: &[String]) -> FamilySet {
    let mut set = FamilySet::EMPTY;
    for (i, n) in names.iter().enumerate() {
        if let Some(f) = p.take(&format!("{at}[{i}]"), n.parse::<Family>())
            && !set.insert(f)
        {
            p.add(
                &format!("{at}[{i}]"),
                format!("{f}: podroute speaks ipv4-unicast and ipv6-unicast"),
            );
        }
    }
    set
}

fn peer_kind(s: &str) -> Result<PeerKind, String> {
    Ok(match s {
        "mesh" => PeerKind::Mesh,
        "tor" => PeerKind::Tor,
        "reflector-client" => PeerKind::ReflectorClient,
        "reflector" => PeerKind::Reflector,
        "other" => PeerKind::Other,
        other => {
            return Err(format!(
                "`{other}`: use mesh, tor, reflector-client, reflector or other"
            ));
        }
    })
}

pub(crate) fn parse_asn(a: &RawAsn) -> Result<Asn, String> {
    match a {
        RawAsn::Number(0) => Err("AS 0 is reserved (RFC 7607)".into()),
        RawAsn::Number(n) => Ok(Asn::new(*n)),
        RawAsn::Text(t) => t.parse::<Asn>().map_err(|e| e.to_string()).and_then(|a| {
            if a == Asn::ZERO {
                Err("AS 0 is reserved (RFC 7607)".to_string())
            } else {
                Ok(a)
            }
        }),
    }
}

fn parse_remote_as(a: &RawAsn) -> Result<RemoteAs, String> {
    match a {
        RawAsn::Text(t) if t == "internal" => Ok(RemoteAs::Internal),
        RawAsn::Text(t) if t == "external" => Ok(RemoteAs::External),
        other => parse_asn(other)
            .map(RemoteAs::Exact)
            .map_err(|e| format!("{e}; or use `internal` / `external`")),
    }
}

/// `90`, `90s`, `2m`, `1h`, `500ms`.
pub(crate) fn duration(d: &RawDuration) -> Result<Duration, String> {
    match d {
        RawDuration::Seconds(s) => Ok(Duration::from_secs(*s)),
        RawDuration::Text(t) => {
            let t = t.trim();
            let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            let (num, unit) = t.split_at(split);
            let n: u64 = num.parse().map_err(|_| {
                format!("`{t}` is not a duration: use seconds (90) or 90s, 2m, 1h, 500ms")
            })?;
            match unit.trim() {
                "" | "s" => Ok(Duration::from_secs(n)),
                "ms" => Ok(Duration::from_millis(n)),
                "m" => Ok(Duration::from_secs(n * 60)),
                "h" => Ok(Duration::from_secs(n * 3600)),
                other => Err(format!(
                    "`{other}` is not a duration unit: use ms, s, m or h"
                )),
            }
        }
    }
}

/// `10.244.0.0/16`, `10.244.0.0/16 le 24`, `10.244.0.0/16 ge 24 le 26`.
fn prefix_range(s: &str) -> Result<PrefixRange, String> {
    let mut words = s.split_whitespace();
    let prefix: Prefix = words
        .next()
        .ok_or("empty prefix")?
        .parse()
        .map_err(|e: bgp::types::ParsePrefixError| e.to_string())?;
    let (mut ge, mut le) = (None, None);
    while let Some(w) = words.next() {
        let n: u8 = words
            .next()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("`{s}`: `{w}` needs a length after it"))?;
        match w {
            "ge" => ge = Some(n),
            "le" => le = Some(n),
            other => return Err(format!("`{s}`: `{other}` is neither `ge` nor `le`")),
        }
    }
    PrefixRange::new(prefix, ge, le).map_err(|e| e.to_string())
}

/// A prefix, or an address meaning just itself.
fn prefix_or_address(s: &str) -> Result<Prefix, String> {
    if s.contains('/') {
        return s.parse::<Prefix>().map_err(|e| e.to_string());
    }
    match s.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => Ok(Prefix::V4(
            bgp::types::Ipv4Prefix::new(a, 32).map_err(|e| e.to_string())?,
        )),
        Ok(IpAddr::V6(a)) => Ok(Prefix::V6(
            bgp::types::Ipv6Prefix::new(a, 128).map_err(|e| e.to_string())?,
        )),
        Err(_) => Err(format!("`{s}` is neither a prefix nor an address")),
    }
}
