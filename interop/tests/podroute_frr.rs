//! podroute against FRR 8.4, asserted through FRR's own `vtysh ... json` as well as through
//! `podroute show`.
//!
//! ```text
//!   podroute (pr) ---- 192.0.2.0/30 + 2001:db8:0:12::/64 ---- FRR
//!   AS 4200000001                                             AS 4200000002 (eBGP)
//!                                                             AS 4200000001 (iBGP test)
//! ```

mod common;

use std::time::Duration;

use anyhow::{Context, Result, ensure};
use common::*;
use interop::{
    BgpConfig, Community, Daemon, Direction, Frr, Lab, LargeCommunity, MaxPrefix, Neighbor, Origin,
    Podroute, PodrouteExtras, Policy, prefix,
};
use serde_json::Value;

/// FRR's view of one neighbor (`show bgp neighbors ADDR json`).
fn frr_neighbor(frr: &Frr, peer: std::net::IpAddr) -> Result<Value> {
    let v = frr.vtysh_json(&format!("show bgp neighbors {peer} json"))?;
    Ok(v[peer.to_string()].clone())
}

fn counter(v: &Value, path: &[&str]) -> u64 {
    path.iter().fold(v, |v, k| &v[*k]).as_u64().unwrap_or(0)
}

#[test]
fn ebgp_v4_and_v6_md5_communities_withdrawals_and_soft_policy_changes() -> Result<()> {
    let lab = Lab::new("frrebgp")?;
    let (n_pr, n_frr) = (lab.node("pr")?, lab.node("frr")?);
    let link = lab.link(&n_pr, "192.0.2.1/30", &n_frr, "192.0.2.2/30")?;
    link.add_addrs("2001:db8:0:12::1/64", "2001:db8:0:12::2/64")?;
    let (pr4, pr6, frr4, frr6) = (
        ip("192.0.2.1"),
        ip("2001:db8:0:12::1"),
        ip("192.0.2.2"),
        ip("2001:db8:0:12::2"),
    );
    let md5 = "podroute-md5";
    let (c_pr, l_pr) = (Community(64511, 1), LargeCommunity(AS_PR, 1, 1));
    let (c_frr, l_frr) = (Community(64511, 2), LargeCommunity(AS_PEER, 1, 1));

    let mut pr = Podroute::start(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            // Graceful restart on the IPv4 session only: with it both sides offer Enhanced
            // Route Refresh (RFC 7313); the IPv6 session uses plain ROUTE-REFRESH (RFC 2918).
            .neighbor(
                Neighbor::new(frr4, AS_PEER)
                    .name("frr")
                    .password(md5)
                    .graceful_restart(60),
            )
            .neighbor(Neighbor::new(frr6, AS_PEER).name("frr6"))
            .originate(Origin::new(p_pr()).community(c_pr).large_community(l_pr))
            .originate(Origin::new(p_pr6()).community(c_pr).large_community(l_pr))
            .originate(Origin::new(p_pr_gone())),
    )?;
    let mut frr = Frr::start(
        &n_frr,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
            .neighbor(
                Neighbor::new(pr4, AS_PR)
                    .name("pr")
                    .password(md5)
                    .graceful_restart(60),
            )
            .neighbor(Neighbor::new(pr6, AS_PR).name("pr6"))
            .originate(
                Origin::new(p_peer())
                    .community(c_frr)
                    .large_community(l_frr),
            )
            .originate(
                Origin::new(p_peer6())
                    .community(c_frr)
                    .large_community(l_frr),
            )
            .originate(Origin::new(p_peer_gone())),
    )?;

    // Sessions, seen from both sides.
    for (peer, mine) in [(frr4, pr4), (frr6, pr6)] {
        pr.wait_established(peer, T)?;
        frr.wait_established(mine, T)?;
    }

    // Routes both ways, communities and large communities intact, next hop self over eBGP.
    let r = frr.wait_route(p_pr(), T, |r| has(r, &[AS_PR], c_pr, l_pr))?;
    ensure!(
        r.next_hop == Some(pr4),
        "FRR's next hop for {}: {r:?}",
        p_pr()
    );
    let r = frr.wait_route(p_pr6(), T, |r| has(r, &[AS_PR], c_pr, l_pr))?;
    ensure!(
        r.next_hop == Some(pr6),
        "FRR's next hop for {}: {r:?}",
        p_pr6()
    );
    frr.wait_route(p_pr_gone(), T, |_| true)?;
    let r = pr.wait_route(p_peer(), T, |r| has(r, &[AS_PEER], c_frr, l_frr) && r.best)?;
    ensure!(
        r.next_hop == Some(frr4),
        "podroute's next hop for {}: {r:?}",
        p_peer()
    );
    let r = pr.wait_route(p_peer6(), T, |r| has(r, &[AS_PEER], c_frr, l_frr) && r.best)?;
    ensure!(
        r.next_hop == Some(frr6),
        "podroute's next hop for {}: {r:?}",
        p_peer6()
    );
    pr.wait_route(p_peer_gone(), T, |_| true)?;

    // Withdrawals, both ways.
    pr.withdraw(p_pr_gone())?;
    frr.wait_no_route(p_pr_gone(), T)?;
    frr.withdraw(p_peer_gone())?;
    pr.wait_no_route(p_peer_gone(), T)?;

    // Import policy change on podroute: it asks FRR for a route refresh and applies the new
    // policy without resetting the session.
    let before = frr_neighbor(&frr, pr4)?;
    pr.set_policy(frr4, Direction::Import, Policy::new().reject(p_peer()))?;
    pr.wait_no_route(p_peer(), T)?;
    pr.set_policy(frr4, Direction::Import, Policy::new())?;
    pr.wait_route(p_peer(), T, |r| has(r, &[AS_PEER], c_frr, l_frr))?;
    let after = frr_neighbor(&frr, pr4)?;
    ensure!(
        counter(&after, &["messageStats", "routeRefreshRecv"])
            > counter(&before, &["messageStats", "routeRefreshRecv"]),
        "FRR received no ROUTE-REFRESH from podroute: {after:#}"
    );
    same_session(&before, &after)?;

    // The same over the IPv6 session, which has no graceful restart and so plain ROUTE-REFRESH.
    // FRR up to 10.0 never answers a refresh from a peer that offered Enhanced Route Refresh
    // without graceful restart (FRRouting/frr#16126); podroute does not offer it there, so
    // every refresh is answered, not only one that happens to meet FRR's own timers.
    let before6 = frr_neighbor(&frr, pr6)?;
    for round in 0..2 {
        pr.set_policy(frr6, Direction::Import, Policy::new().reject(p_peer6()))?;
        pr.wait_no_route(p_peer6(), T)
            .with_context(|| format!("round {round}: the reject policy"))?;
        pr.set_policy(frr6, Direction::Import, Policy::new())?;
        pr.wait_route(p_peer6(), T, |r| has(r, &[AS_PEER], c_frr, l_frr))
            .with_context(|| format!("round {round}: the accept policy"))?;
    }
    let after6 = frr_neighbor(&frr, pr6)?;
    ensure!(
        counter(&after6, &["messageStats", "routeRefreshRecv"])
            >= counter(&before6, &["messageStats", "routeRefreshRecv"]) + 4,
        "FRR did not receive podroute's four ROUTE-REFRESH requests: {after6:#}"
    );
    same_session(&before6, &after6)?;

    // Export policy change on podroute: FRR sees the new community, same session.
    let tag = Community(64511, 99);
    pr.set_policy(frr4, Direction::Export, Policy::new().add_community(tag))?;
    frr.wait_route(p_pr(), T, |r| r.has_community(tag) && r.has_community(c_pr))?;
    same_session(&before, &frr_neighbor(&frr, pr4)?)?;

    // FRR asks podroute for a refresh (`clear bgp soft in`): podroute re-sends its routes
    // between BoRR and EoRR (RFC 7313); nothing is lost and the session stays.
    let before_refresh = frr_neighbor(&frr, pr4)?;
    frr.clear_soft_in(pr4)?;
    frr.wait("podroute's answer to ROUTE-REFRESH", T, || {
        let now = frr_neighbor(&frr, pr4)?;
        let got = counter(&now, &["messageStats", "routeRefreshRecv"])
            - counter(&before_refresh, &["messageStats", "routeRefreshRecv"]);
        // BoRR and EoRR are ROUTE-REFRESH messages too.
        ensure!(
            got >= 2,
            "FRR received {got} ROUTE-REFRESH messages since its request"
        );
        Ok(())
    })?;
    frr.wait_route(p_pr(), T, |r| r.has_community(tag))?;
    same_session(&before, &frr_neighbor(&frr, pr4)?)?;

    pr.ensure_running()?;
    Ok(())
}

/// FRR's session with `pr` was never reset between two snapshots.
fn same_session(before: &Value, after: &Value) -> Result<()> {
    for k in ["connectionsEstablished", "connectionsDropped"] {
        ensure!(
            before[k] == after[k],
            "the session was reset ({k}: {} -> {})",
            before[k],
            after[k]
        );
    }
    ensure!(
        after["bgpState"] == "Established",
        "FRR: {}",
        after["bgpState"]
    );
    Ok(())
}

#[test]
fn ibgp_keeps_next_hop_and_local_pref() -> Result<()> {
    let lab = Lab::new("frribgp")?;
    let (n_pr, n_frr) = (lab.node("pr")?, lab.node("frr")?);
    let link = lab.link(&n_pr, "192.0.2.1/30", &n_frr, "192.0.2.2/30")?;
    link.add_addrs("2001:db8:0:12::1/64", "2001:db8:0:12::2/64")?;
    let (pr4, pr6, frr4, frr6) = (
        ip("192.0.2.1"),
        ip("2001:db8:0:12::1"),
        ip("192.0.2.2"),
        ip("2001:db8:0:12::2"),
    );
    let c = Community(64511, 7);
    let l = LargeCommunity(AS_PR, 7, 7);
    let pr = Podroute::start(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(Neighbor::new(frr4, AS_PR).name("frr").local_address(pr4))
            .neighbor(Neighbor::new(frr6, AS_PR).name("frr6").local_address(pr6))
            .originate(Origin::new(p_pr()).community(c).large_community(l))
            .originate(Origin::new(p_pr6()).community(c).large_community(l)),
    )?;
    let frr = Frr::start(
        &n_frr,
        BgpConfig::new(AS_PR, "192.0.2.2".parse()?)
            .neighbor(Neighbor::new(pr4, AS_PR).name("pr"))
            .neighbor(Neighbor::new(pr6, AS_PR).name("pr6"))
            .originate(Origin::new(p_peer()).community(c).large_community(l))
            .originate(Origin::new(p_peer6()).community(c).large_community(l)),
    )?;
    pr.wait_established(frr4, T)?;
    pr.wait_established(frr6, T)?;
    // iBGP: empty AS path, LOCAL_PREF present, next hop the originator's address.
    let r = frr.wait_route(p_pr(), T, |r| has(r, &[], c, l))?;
    ensure!(r.next_hop == Some(pr4), "{r:?}");
    frr.wait_route(p_pr6(), T, |r| has(r, &[], c, l) && r.next_hop == Some(pr6))?;
    let json = frr.vtysh_json(&format!("show bgp ipv4 unicast {} json", p_pr()))?;
    ensure!(
        json["paths"][0]["locPrf"] == 100,
        "FRR should see LOCAL_PREF 100 from an iBGP podroute: {json:#}"
    );
    ensure!(json["paths"][0]["peer"]["type"] == "internal", "{json:#}");
    pr.wait_route(p_peer(), T, |r| {
        has(r, &[], c, l) && r.next_hop == Some(frr4)
    })?;
    pr.wait_route(p_peer6(), T, |r| {
        has(r, &[], c, l) && r.next_hop == Some(frr6)
    })?;
    let routes = pr.show(&["routes", &p_peer().to_string()])?;
    ensure!(
        routes["routes"][0]["paths"][0]["local_pref"] == 100,
        "{routes:#}"
    );
    Ok(())
}

#[test]
fn wrong_md5_password_gives_no_session_and_a_clear_log_line() -> Result<()> {
    let lab = Lab::new("frrmd5")?;
    let (n_pr, n_frr) = (lab.node("pr")?, lab.node("frr")?);
    lab.link(&n_pr, "192.0.2.1/30", &n_frr, "192.0.2.2/30")?;
    let (pr4, frr4) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let pr = Podroute::start(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(
                Neighbor::new(frr4, AS_PEER)
                    .name("frr")
                    .password("wrong-one"),
            )
            .originate(Origin::new(p_pr())),
    )?;
    let frr = Frr::start(
        &n_frr,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
            .neighbor(Neighbor::new(pr4, AS_PR).name("pr").password("right-one"))
            .originate(Origin::new(p_peer())),
    )?;
    md5_mismatch_reported(&pr, frr4)?;
    // Long enough for several connect attempts by both sides.
    std::thread::sleep(Duration::from_secs(5));
    ensure!(
        frr_neighbor(&frr, pr4)?["bgpState"] != "Established",
        "FRR established a session despite the wrong password"
    );
    ensure!(
        pr.session_state(frr4)? != interop::SessionState::Established,
        "podroute established a session despite the wrong password"
    );
    ensure!(frr.paths(p_pr())?.is_empty() && pr.paths(p_peer())?.is_empty());
    Ok(())
}

#[test]
fn max_prefix_trips_cease_and_frr_sees_why() -> Result<()> {
    let lab = Lab::new("frrmaxpfx")?;
    let (n_pr, n_frr) = (lab.node("pr")?, lab.node("frr")?);
    lab.link(&n_pr, "192.0.2.1/30", &n_frr, "192.0.2.2/30")?;
    let (pr4, frr4) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let mut extras = PodrouteExtras::default();
    extras.max_prefix.insert(
        frr4,
        MaxPrefix {
            limit: 2,
            restart: true,
            restart_after: 600,
        },
    );
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
            .originate(Origin::new(prefix("10.244.2.0/24")))
            .originate(Origin::new(prefix("10.244.3.0/24")))
            .originate(Origin::new(prefix("10.244.4.0/24"))),
    )?;
    frr.wait("FRR told of the max-prefix Cease", T, || {
        let n = frr_neighbor(&frr, pr4)?;
        let why = n["lastNotificationReason"]
            .as_str()
            .or(n["lastResetDueTo"].as_str())
            .unwrap_or_default()
            .to_string();
        ensure!(
            why.contains("Maximum Number of Prefixes Reached"),
            "last reset: {why:?} ({})",
            n["bgpState"]
        );
        Ok(())
    })?;
    let n = pr.neighbor_summary(frr4)?;
    ensure!(n["state"] != "Established", "{n:#}");
    ensure!(
        n["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("Maximum Number of Prefixes Reached (6/1)"),
        "podroute should say why: {n:#}"
    );
    // Held down for restart_after: no reconnect within a few connect-retry intervals.
    std::thread::sleep(Duration::from_secs(4));
    ensure!(pr.session_state(frr4)? != interop::SessionState::Established);
    ensure!(pr.paths(prefix("10.244.2.0/24"))?.is_empty());
    Ok(())
}

#[test]
fn graceful_restart_frr_restarts_then_podroute_restarts() -> Result<()> {
    let lab = Lab::new("frrgr")?;
    let (n_pr, n_frr) = (lab.node("pr")?, lab.node("frr")?);
    lab.link(&n_pr, "192.0.2.1/30", &n_frr, "192.0.2.2/30")?;
    let (pr4, frr4) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let mut pr = Podroute::start(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(
                Neighbor::new(frr4, AS_PEER)
                    .name("frr")
                    .graceful_restart(60),
            )
            .originate(Origin::new(p_pr()).community(Community(64511, 1))),
    )?;
    let mut frr = Frr::start(
        &n_frr,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
            .neighbor(Neighbor::new(pr4, AS_PR).name("pr").graceful_restart(60))
            .originate(Origin::new(p_peer()).community(Community(64511, 2))),
    )?;
    pr.wait_route(p_peer(), T, |r| r.best && !r.stale)?;
    frr.wait_route(p_pr(), T, |r| r.best && !r.stale)?;

    // 1. FRR restarts (bgpd stopped, zebra and the kernel routes stay). podroute, the
    //    helper, keeps FRR's route, marked stale, until FRR's End-of-RIB.
    frr.stop_bgpd()?;
    pr.wait_not_established(frr4, T)?;
    let r = pr.wait_route(p_peer(), T, |r| r.stale)?;
    ensure!(r.best, "the stale path must stay in use: {r:?}");
    let held = pr.neighbor(frr4)?;
    ensure!(held["graceful_restart_stale"] == true, "{held:#}");
    std::thread::sleep(Duration::from_secs(2));
    ensure!(
        !pr.paths(p_peer())?.is_empty(),
        "podroute dropped FRR's route"
    );
    frr.start_bgpd()?;
    pr.wait_established(frr4, T)?;
    pr.wait_route(p_peer(), T, |r| r.best && !r.stale)?;
    never_withdrawn(&pr, p_peer())?;

    // 2. podroute restarts (TERM, then start): FRR, the helper, keeps podroute's route as
    //    stale while it is away, and podroute comes back as a restarting speaker.
    pr.stop()?;
    let r = frr.wait_route(p_pr(), T, |r| r.stale)?;
    ensure!(r.as_path == vec![AS_PR], "{r:?}");
    let gr = frr_neighbor(&frr, pr4)?;
    ensure!(gr["bgpState"] != "Established", "{gr:#}");
    for _ in 0..10 {
        ensure!(
            !frr.paths(p_pr())?.is_empty(),
            "FRR dropped podroute's route"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    pr.start_again()?;
    ensure!(
        pr.full_log().contains("graceful restart: telling peers"),
        "the second start should be a graceful restart:\n{}",
        pr.log_tail(30)
    );
    frr.wait("podroute's restart state in its OPEN", T, || {
        let n = frr_neighbor(&frr, pr4)?;
        ensure!(n["bgpState"] == "Established", "{}", n["bgpState"]);
        ensure!(
            n["gracefulRestartInfo"]["rBit"] == true,
            "FRR did not see the R bit: {:#}",
            n["gracefulRestartInfo"]
        );
        Ok(())
    })?;
    frr.wait_route(p_pr(), T, |r| {
        !r.stale && r.has_community(Community(64511, 1))
    })?;
    pr.wait_route(p_peer(), T, |r| r.best && !r.stale)?;
    Ok(())
}

#[test]
fn stopping_sends_cease_to_a_peer_without_graceful_restart() -> Result<()> {
    let lab = Lab::new("frrcease")?;
    let (n_pr, n_frr) = (lab.node("pr")?, lab.node("frr")?);
    lab.link(&n_pr, "192.0.2.1/30", &n_frr, "192.0.2.2/30")?;
    let (pr4, frr4) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let mut pr = Podroute::start(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(Neighbor::new(frr4, AS_PEER).name("frr"))
            .originate(Origin::new(p_pr())),
    )?;
    let frr = Frr::start(
        &n_frr,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
            .neighbor(Neighbor::new(pr4, AS_PR).name("pr"))
            .originate(Origin::new(p_peer())),
    )?;
    frr.wait_route(p_pr(), T, |_| true)?;
    pr.stop()?;
    // Without graceful restart the peer is told (Cease) and drops our routes at once.
    let n = frr_neighbor(&frr, pr4)?;
    let why = n["lastNotificationReason"].as_str().unwrap_or_default();
    ensure!(
        why.contains("Cease/Administrative Shutdown"),
        "FRR got no Cease: {n:#}"
    );
    // RFC 9003: the shutdown communication says who and why.
    ensure!(
        n.to_string().contains("podroute stopping"),
        "FRR did not keep the shutdown message: {n:#}"
    );
    frr.wait_no_route(p_pr(), Duration::from_secs(5))?;
    Ok(())
}
