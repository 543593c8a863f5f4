//! podroute's session plumbing against FRR 8.4: dynamic neighbours (with TCP-MD5 keys for a
//! whole range) that podroute reflects between (RFC 4456), IPv6 link-local peering with an
//! interface scope, GTSM (RFC 5082), and RFC 8212 for an eBGP peer without policy.

mod common;

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use common::*;
use interop::{
    BgpConfig, Daemon, Family, Frr, Lab, Neighbor, Node, Origin, Podroute, PodrouteExtras,
    SessionState, prefix,
};
use serde_json::Value;

fn frr_neighbor(frr: &Frr, peer: IpAddr) -> Result<Value> {
    let v = frr.vtysh_json(&format!("show bgp neighbors {peer} json"))?;
    Ok(v[peer.to_string()].clone())
}

/// The kernel's link-local address on `ifname` (every veth has one).
fn link_local(node: &Node, ifname: &str) -> Result<Ipv6Addr> {
    let out = node.exec(&[
        "ip", "-6", "-o", "addr", "show", "dev", ifname, "scope", "link",
    ])?;
    out.split_whitespace()
        .find_map(|w| w.split('/').next()?.parse::<Ipv6Addr>().ok())
        .with_context(|| format!("no link-local address on {ifname}: {out}"))
}

#[test]
fn dynamic_neighbours_with_a_range_md5_key_are_reflected_between() -> Result<()> {
    let lab = Lab::new("trdyn")?;
    let (n_pr, n_a, n_b) = (lab.node("pr")?, lab.node("a")?, lab.node("b")?);
    lab.link(&n_pr, "192.0.2.1/30", &n_a, "192.0.2.2/30")?;
    lab.link(&n_pr, "192.0.2.5/30", &n_b, "192.0.2.6/30")?;
    let (a, b) = (ip("192.0.2.2"), ip("192.0.2.6"));
    let p_a = prefix("10.244.2.0/24");
    let p_b = prefix("10.244.3.0/24");
    let md5 = "dynamic-range-md5";
    let extras = PodrouteExtras {
        raw: format!(
            "dynamic_neighbors:\n  - range: 192.0.2.0/24\n    template:\n      remote_as: internal\n      \
             route_reflector_client: true\n      password: \"{md5}\"\n      hold_time: 9\n      keepalive: 3\n"
        ),
        ..PodrouteExtras::default()
    };
    let pr = Podroute::start_with(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?).originate(Origin::new(p_pr())),
        extras,
    )?;
    let frr_a = Frr::start(
        &n_a,
        BgpConfig::new(AS_PR, "192.0.2.2".parse()?)
            .neighbor(
                Neighbor::new(ip("192.0.2.1"), AS_PR)
                    .name("pr")
                    .password(md5),
            )
            .originate(Origin::new(p_a)),
    )?;
    let frr_b = Frr::start(
        &n_b,
        BgpConfig::new(AS_PR, "192.0.2.6".parse()?)
            .neighbor(
                Neighbor::new(ip("192.0.2.5"), AS_PR)
                    .name("pr")
                    .password(md5),
            )
            .originate(Origin::new(p_b)),
    )?;
    pr.wait_established(a, T)?;
    pr.wait_established(b, T)?;
    for peer in [a, b] {
        let n = pr.neighbor_summary(peer)?;
        ensure!(n["kind"] == "dynamic", "{n:#}");
    }
    frr_a.wait_route(p_pr(), T, |r| r.as_path.is_empty())?;
    frr_b.wait_route(p_pr(), T, |r| r.as_path.is_empty())?;

    // RFC 4456 §8: the reflected route carries ORIGINATOR_ID (the client it came from) and
    // our cluster ID (by default our router ID) in CLUSTER_LIST; the next hop is unchanged.
    for (frr, p, origin) in [(&frr_b, p_a, "192.0.2.2"), (&frr_a, p_b, "192.0.2.6")] {
        frr.wait_route(p, T, |r| r.next_hop == Some(ip(origin)))?;
        let json = frr.vtysh_json(&format!("show bgp ipv4 unicast {p} json"))?;
        let path = &json["paths"][0];
        ensure!(path["originatorId"] == origin, "{json:#}");
        ensure!(path["clusterList"]["list"][0] == "192.0.2.1", "{json:#}");
    }
    // Each client's own route is not reflected back to it.
    ensure!(frr_a.paths(p_a)?.iter().all(|r| r.peer.is_none()));
    Ok(())
}

#[test]
fn ipv6_link_local_session_with_interface_scope() -> Result<()> {
    let lab = Lab::new("trll")?;
    let (n_pr, n_frr) = (lab.node("pr")?, lab.node("frr")?);
    let link = lab.link(&n_pr, "2001:db8:0:12::1/64", &n_frr, "2001:db8:0:12::2/64")?;
    let pr_ll = link_local(&n_pr, &link.a_if)?;
    let frr_ll = link_local(&n_frr, &link.b_if)?;
    let mut extras = PodrouteExtras::default();
    extras.peer_settings.insert(
        IpAddr::V6(frr_ll),
        vec![format!("interface: {}", link.a_if)],
    );
    let pr = Podroute::start_with(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(
                Neighbor::new(IpAddr::V6(frr_ll), AS_PEER)
                    .name("frr")
                    .families(&[Family::Ipv6]),
            )
            .originate(Origin::new(p_pr6())),
        extras,
    )?;
    let frr = Frr::start(
        &n_frr,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?).originate(Origin::new(p_peer6())),
    )?;
    frr.configure(&[
        &format!("router bgp {AS_PEER}"),
        &format!("neighbor {pr_ll} remote-as {AS_PR}"),
        &format!("neighbor {pr_ll} interface {}", link.b_if),
        &format!("neighbor {pr_ll} timers connect 1"),
        "address-family ipv6 unicast",
        &format!("neighbor {pr_ll} activate"),
    ])?;
    pr.wait_established(IpAddr::V6(frr_ll), T)?;
    let r = frr.wait_route(p_pr6(), T, |r| r.as_path == vec![AS_PR])?;
    ensure!(
        r.next_hop == Some(ip("2001:db8:0:12::1")),
        "podroute should give its global address as next hop, with the link-local beside it: {r:?}"
    );
    let json = frr.vtysh_json(&format!("show bgp ipv6 unicast {} json", p_pr6()))?;
    let hops: Vec<&str> = json["paths"][0]["nexthops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["ip"].as_str())
        .collect();
    ensure!(
        hops.contains(&pr_ll.to_string().as_str()),
        "FRR should also get podroute's link-local next hop {pr_ll}: {json:#}"
    );
    let r = pr.wait_route(p_peer6(), T, |r| r.as_path == vec![AS_PEER])?;
    ensure!(r.next_hop.is_some(), "{r:?}");
    Ok(())
}

#[test]
fn gtsm_refuses_a_peer_sending_ttl_1_and_accepts_ttl_255() -> Result<()> {
    let lab = Lab::new("trgtsm")?;
    let (n_pr, n_frr) = (lab.node("pr")?, lab.node("frr")?);
    lab.link(&n_pr, "192.0.2.1/30", &n_frr, "192.0.2.2/30")?;
    let (pr4, frr4) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let mut extras = PodrouteExtras::default();
    extras
        .peer_settings
        .insert(frr4, vec!["ttl_security: 1".to_string()]);
    let pr = Podroute::start_with(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(Neighbor::new(frr4, AS_PEER).name("frr"))
            .originate(Origin::new(p_pr())),
        extras,
    )?;
    // FRR without GTSM sends eBGP with TTL 1: podroute refuses its connections by the TTL
    // of their SYN, and says why.
    let frr_config = BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
        .neighbor(Neighbor::new(pr4, AS_PR).name("pr"))
        .originate(Origin::new(p_peer()));
    let frr = Frr::start(&n_frr, frr_config.clone())?;
    pr.wait("a log line refusing FRR for GTSM", T, || {
        ensure!(
            pr.full_log()
                .lines()
                .any(|l| l.contains("connection refused") && l.contains("GTSM")),
            "no line yet"
        );
        Ok(())
    })?;
    std::thread::sleep(Duration::from_secs(3));
    ensure!(
        pr.session_state(frr4)? != SessionState::Established,
        "podroute accepted a session from a peer 255 hops away"
    );
    ensure!(pr.paths(p_peer())?.is_empty());
    // FRR's listener answers with TTL 255 but its session packets carry TTL 1: a connection
    // podroute opened can get as far as OpenSent and then hears nothing. Start FRR afresh
    // with GTSM (TTL 255 out, minimum 255 in) and the session comes up.
    drop(frr);
    let _frr = Frr::start(
        &n_frr,
        frr_config.raw(&format!(
            "router bgp {AS_PEER}\n neighbor {pr4} ttl-security hops 1\nexit\n"
        )),
    )?;
    let frr = &_frr;
    pr.wait_established(frr4, T)?;
    frr.wait_route(p_pr(), T, |r| r.as_path == vec![AS_PR])?;
    pr.wait_route(p_peer(), T, |r| r.as_path == vec![AS_PEER])?;
    Ok(())
}

#[test]
fn rfc8212_ebgp_without_policy_exchanges_nothing_and_says_so() -> Result<()> {
    let lab = Lab::new("tr8212")?;
    let (n_pr, n_frr) = (lab.node("pr")?, lab.node("frr")?);
    lab.link(&n_pr, "192.0.2.1/30", &n_frr, "192.0.2.2/30")?;
    let (pr4, frr4) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let mut extras = PodrouteExtras::default();
    extras.without_policy.insert(frr4);
    let pr = Podroute::start_with(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(Neighbor::new(frr4, AS_PEER).name("frr"))
            .originate(Origin::new(p_pr())),
        extras,
    )?;
    let frr = Frr::start(
        &n_frr,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
            .neighbor(Neighbor::new(pr4, AS_PR).name("pr"))
            .originate(Origin::new(p_peer())),
    )?;
    pr.wait_established(frr4, T)?;
    frr.wait("FRR to send its route to podroute", T, || {
        let n = frr_neighbor(&frr, pr4)?;
        let sent = n["addressFamilyInfo"]["ipv4Unicast"]["sentPrefixCounter"]
            .as_u64()
            .unwrap_or(0);
        ensure!(sent >= 1, "sentPrefixCounter {sent}");
        Ok(())
    })?;
    // Give an UPDATE time to arrive and be processed.
    std::thread::sleep(Duration::from_secs(2));
    ensure!(
        pr.paths(p_peer())?.is_empty(),
        "podroute accepted a route without import policy"
    );
    ensure!(
        frr.paths(p_pr())?.is_empty(),
        "podroute sent a route without export policy"
    );
    let n = pr.neighbor_summary(frr4)?;
    ensure!(
        n["policy_note"]
            .as_str()
            .unwrap_or_default()
            .contains("RFC 8212"),
        "podroute should say why nothing is exchanged: {n:#}"
    );
    Ok(())
}
