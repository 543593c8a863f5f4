//! podroute against BIRD 2.0, asserted through BIRD's own `birdc` (routes with their time of
//! last change, `show protocols all` with the protocol's `Since` and channel statistics, and
//! its log with packet traces from `Bird::debug_all`) as well as through `podroute show`.
//!
//! BIRD 2.0.12 sends its answer to a ROUTE-REFRESH, and with graceful restart on its first
//! UPDATEs, only at its next keepalive tick (see `README.md`): waits allow for that.
//!
//! ```text
//!   podroute (pr) ---- 192.0.2.0/30 + 2001:db8:0:12::/64 ---- BIRD
//!   AS 4200000001                                             AS 4200000002 (eBGP)
//!                                                             AS 4200000001 (iBGP test)
//! ```

mod common;

use std::time::Duration;

use anyhow::{Result, ensure};
use common::*;
use interop::bird::{BirdRoute, same_time};
use interop::{
    BgpConfig, Bird, BirdProtocol, Community, Daemon, Direction, Lab, LargeCommunity, MaxPrefix,
    Neighbor, Origin, Podroute, PodrouteExtras, Policy, Prefix, prefix,
};

/// BIRD's path for `p` learned from protocol `proto`, with its time of last change.
fn bird_path_from(bird: &Bird, p: Prefix, proto: &str) -> Result<BirdRoute> {
    bird.bird_routes(p.family())?
        .into_iter()
        .find(|r| r.route.prefix == p && r.protocol == proto)
        .ok_or_else(|| anyhow::anyhow!("BIRD has no path for {p} from {proto}"))
}

/// How many lines of BIRD's log contain `needle` (e.g. `pr: Got ROUTE-REFRESH`).
fn bird_log_count(bird: &Bird, needle: &str) -> usize {
    bird.full_log()
        .lines()
        .filter(|l| l.contains(needle))
        .count()
}

/// BIRD's session with a peer was never reset between two snapshots: same protocol state
/// change time, still up and Established.
fn same_session(before: &BirdProtocol, after: &BirdProtocol) -> Result<()> {
    ensure!(
        after.state == "up" && after.bgp_state.as_deref() == Some("Established"),
        "BIRD's session {} is not up: {after:?}",
        after.name
    );
    ensure!(
        same_time(&before.since, &after.since),
        "BIRD's session {} was reset (state changed at {}, then at {})",
        after.name,
        before.since,
        after.since
    );
    Ok(())
}

#[test]
fn ebgp_v4_and_v6_md5_communities_withdrawals_and_soft_policy_changes() -> Result<()> {
    let lab = Lab::new("birdebgp")?;
    let (n_pr, n_bird) = (lab.node("pr")?, lab.node("bird")?);
    let link = lab.link(&n_pr, "192.0.2.1/30", &n_bird, "192.0.2.2/30")?;
    link.add_addrs("2001:db8:0:12::1/64", "2001:db8:0:12::2/64")?;
    let (pr4, pr6, bird4, bird6) = (
        ip("192.0.2.1"),
        ip("2001:db8:0:12::1"),
        ip("192.0.2.2"),
        ip("2001:db8:0:12::2"),
    );
    let md5 = "podroute-md5";
    let (c_pr, l_pr) = (Community(64511, 1), LargeCommunity(AS_PR, 1, 1));
    let (c_bird, l_bird) = (Community(64511, 2), LargeCommunity(AS_PEER, 1, 1));

    let mut pr = Podroute::start(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            // Graceful restart on the IPv4 session only: with it both sides offer Enhanced
            // Route Refresh (RFC 7313); the IPv6 session uses plain ROUTE-REFRESH (RFC 2918).
            .neighbor(
                Neighbor::new(bird4, AS_PEER)
                    .name("bird")
                    .password(md5)
                    .graceful_restart(60),
            )
            .neighbor(Neighbor::new(bird6, AS_PEER).name("bird6"))
            .originate(Origin::new(p_pr()).community(c_pr).large_community(l_pr))
            .originate(Origin::new(p_pr6()).community(c_pr).large_community(l_pr))
            .originate(Origin::new(p_pr_gone())),
    )?;
    let mut bird = Bird::start(
        &n_bird,
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
                    .community(c_bird)
                    .large_community(l_bird),
            )
            .originate(
                Origin::new(p_peer6())
                    .community(c_bird)
                    .large_community(l_bird),
            )
            .originate(Origin::new(p_peer_gone())),
    )?;

    // Sessions, seen from both sides, with 4-octet ASNs.
    for (peer, mine) in [(bird4, pr4), (bird6, pr6)] {
        pr.wait_established(peer, T)?;
        bird.wait_established(mine, T)?;
        let p = bird.protocol_for(mine)?;
        ensure!(p.neighbor_as == Some(AS_PR), "BIRD: {p:?}");
        let n = pr.neighbor(peer)?;
        ensure!(
            n["summary"]["asn"] == AS_PEER
                && n["negotiated"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|x| x == "4-octet AS")),
            "podroute: {n:#}"
        );
    }
    // Packet traces in BIRD's log: "pr: Got ROUTE-REFRESH", "pr: Got BEGIN-OF-RR"...
    bird.debug_all(pr4)?;

    // Routes both ways, communities and large communities intact, next hop self over eBGP.
    let r = bird.wait_route(p_pr(), T, |r| has(r, &[AS_PR], c_pr, l_pr))?;
    ensure!(r.next_hop == Some(pr4), "BIRD's path for {}: {r:?}", p_pr());
    let r = bird.wait_route(p_pr6(), T, |r| has(r, &[AS_PR], c_pr, l_pr))?;
    ensure!(
        r.next_hop == Some(pr6),
        "BIRD's path for {}: {r:?}",
        p_pr6()
    );
    bird.wait_route(p_pr_gone(), T, |r| r.as_path == [AS_PR])?;
    let r = pr.wait_route(p_peer(), T, |r| {
        has(r, &[AS_PEER], c_bird, l_bird) && r.best
    })?;
    ensure!(
        r.next_hop == Some(bird4),
        "podroute's path for {}: {r:?}",
        p_peer()
    );
    let r = pr.wait_route(p_peer6(), T, |r| {
        has(r, &[AS_PEER], c_bird, l_bird) && r.best
    })?;
    ensure!(
        r.next_hop == Some(bird6),
        "podroute's path for {}: {r:?}",
        p_peer6()
    );
    pr.wait_route(p_peer_gone(), T, |r| r.as_path == [AS_PEER])?;

    // Withdrawals, both ways.
    pr.withdraw(p_pr_gone())?;
    bird.wait_no_route(p_pr_gone(), T)?;
    bird.withdraw(p_peer_gone())?;
    pr.wait_no_route(p_peer_gone(), T)?;

    // Import policy change on podroute: it asks BIRD for a route refresh and applies the new
    // policy without resetting the session.
    // BIRD answers a ROUTE-REFRESH by exporting its routes again: its export counter grows.
    let exports = |p: &BirdProtocol| {
        p.channel("ipv4")
            .map(|c| c.stat("Export updates", 0))
            .unwrap_or(0)
    };
    let before = bird.protocol_for(pr4)?;
    let refreshes = bird_log_count(&bird, "pr: Got ROUTE-REFRESH");
    pr.set_policy(bird4, Direction::Import, Policy::new().reject(p_peer()))?;
    pr.wait_no_route(p_peer(), T)?;
    pr.set_policy(bird4, Direction::Import, Policy::new())?;
    pr.wait_route(p_peer(), T, |r| {
        has(r, &[AS_PEER], c_bird, l_bird) && r.best
    })?;
    bird.wait("BIRD to log podroute's ROUTE-REFRESH", T, || {
        let n = bird_log_count(&bird, "pr: Got ROUTE-REFRESH");
        ensure!(
            n >= refreshes + 2,
            "{n} ROUTE-REFRESH lines, {refreshes} before"
        );
        Ok(())
    })?;
    let after = bird.protocol_for(pr4)?;
    ensure!(
        exports(&after) >= exports(&before) + 2,
        "BIRD did not export again on podroute's ROUTE-REFRESH: {before:?} -> {after:?}"
    );
    same_session(&before, &after)?;
    // The IPv6 session was not touched.
    pr.wait_route(p_peer6(), T, |r| r.best)?;

    // Export policy change on podroute: BIRD sees the new community, same session.
    let tag = Community(64511, 99);
    pr.set_policy(bird4, Direction::Export, Policy::new().add_community(tag))?;
    bird.wait_route(p_pr(), T, |r| {
        r.has_community(tag) && has(r, &[AS_PR], c_pr, l_pr)
    })?;
    same_session(&before, &bird.protocol_for(pr4)?)?;

    // BIRD asks podroute for a refresh (`birdc reload in pr`): podroute re-sends its routes
    // between BoRR and EoRR (RFC 7313, BIRD and podroute both offer enhanced route refresh);
    // BIRD flushes whatever was not re-sent, so the route keeping its time of last change
    // proves nothing was lost, and the import counter proves podroute did re-send.
    let path_before = bird_path_from(&bird, p_pr(), "pr")?;
    let imports = |p: &BirdProtocol| {
        p.channel("ipv4")
            .map(|c| c.stat("Import updates", 0))
            .unwrap_or(0)
    };
    let proto_before = bird.protocol_for(pr4)?;
    let (borr, eorr) = (
        bird_log_count(&bird, "pr: Got BEGIN-OF-RR"),
        bird_log_count(&bird, "pr: Got END-OF-RR"),
    );
    bird.reload_in(pr4)?;
    bird.wait("podroute's answer to BIRD's ROUTE-REFRESH", T, || {
        let p = bird.protocol_for(pr4)?;
        let (b, e) = (
            bird_log_count(&bird, "pr: Got BEGIN-OF-RR"),
            bird_log_count(&bird, "pr: Got END-OF-RR"),
        );
        ensure!(
            b > borr && e > eorr && imports(&p) > imports(&proto_before),
            "BoRR {borr} -> {b}, EoRR {eorr} -> {e}, import updates {} -> {}",
            imports(&proto_before),
            imports(&p)
        );
        Ok(())
    })?;
    let r = bird.wait_route(p_pr(), T, |r| r.has_community(tag))?;
    ensure!(r.as_path == [AS_PR] && r.next_hop == Some(pr4), "{r:?}");
    let path_after = bird_path_from(&bird, p_pr(), "pr")?;
    ensure!(
        same_time(&path_after.since, &path_before.since),
        "BIRD replaced podroute's route during the refresh: {path_before:?} -> {path_after:?}"
    );
    bird_path_from(&bird, p_pr6(), "pr6")?;
    same_session(&before, &bird.protocol_for(pr4)?)?;
    let n = pr.neighbor_summary(bird4)?;
    ensure!(n["state"] == "Established", "podroute: {n:#}");

    pr.ensure_running()?;
    bird.ensure_running()?;
    Ok(())
}

#[test]
fn ibgp_keeps_next_hop_and_local_pref() -> Result<()> {
    let lab = Lab::new("birdibgp")?;
    let (n_pr, n_bird) = (lab.node("pr")?, lab.node("bird")?);
    let link = lab.link(&n_pr, "192.0.2.1/30", &n_bird, "192.0.2.2/30")?;
    link.add_addrs("2001:db8:0:12::1/64", "2001:db8:0:12::2/64")?;
    let (pr4, pr6, bird4, bird6) = (
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
            .neighbor(Neighbor::new(bird4, AS_PR).name("bird"))
            .neighbor(Neighbor::new(bird6, AS_PR).name("bird6"))
            .originate(Origin::new(p_pr()).community(c).large_community(l))
            .originate(Origin::new(p_pr6()).community(c).large_community(l)),
    )?;
    let bird = Bird::start(
        &n_bird,
        BgpConfig::new(AS_PR, "192.0.2.2".parse()?)
            .neighbor(Neighbor::new(pr4, AS_PR).name("pr"))
            .neighbor(Neighbor::new(pr6, AS_PR).name("pr6"))
            .originate(Origin::new(p_peer()).community(c).large_community(l))
            .originate(Origin::new(p_peer6()).community(c).large_community(l)),
    )?;
    pr.wait_established(bird4, T)?;
    pr.wait_established(bird6, T)?;
    bird.wait_established(pr4, T)?;
    bird.wait_established(pr6, T)?;
    // iBGP: empty AS path, LOCAL_PREF 100, next hop the originator's address.
    bird.wait_route(p_pr(), T, |r| has(r, &[], c, l) && r.next_hop == Some(pr4))?;
    bird.wait_route(p_pr6(), T, |r| has(r, &[], c, l) && r.next_hop == Some(pr6))?;
    for (p, proto) in [(p_pr(), "pr"), (p_pr6(), "pr6")] {
        let r = bird_path_from(&bird, p, proto)?;
        ensure!(
            r.local_pref == Some(100),
            "BIRD should see LOCAL_PREF 100 from an iBGP podroute: {r:?}"
        );
    }
    pr.wait_route(p_peer(), T, |r| {
        has(r, &[], c, l) && r.next_hop == Some(bird4)
    })?;
    pr.wait_route(p_peer6(), T, |r| {
        has(r, &[], c, l) && r.next_hop == Some(bird6)
    })?;
    for p in [p_peer(), p_peer6()] {
        let routes = pr.show(&["routes", &p.to_string()])?;
        ensure!(
            routes["routes"][0]["paths"][0]["local_pref"] == 100,
            "{routes:#}"
        );
    }
    Ok(())
}

#[test]
fn wrong_md5_password_gives_no_session_and_a_clear_log_line() -> Result<()> {
    let lab = Lab::new("birdmd5")?;
    let (n_pr, n_bird) = (lab.node("pr")?, lab.node("bird")?);
    lab.link(&n_pr, "192.0.2.1/30", &n_bird, "192.0.2.2/30")?;
    let (pr4, bird4) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let pr = Podroute::start(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(
                Neighbor::new(bird4, AS_PEER)
                    .name("bird")
                    .password("wrong-one"),
            )
            .originate(Origin::new(p_pr())),
    )?;
    let bird = Bird::start(
        &n_bird,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
            .neighbor(Neighbor::new(pr4, AS_PR).name("pr").password("right-one"))
            .originate(Origin::new(p_peer())),
    )?;
    md5_mismatch_reported(&pr, bird4)?;
    // Long enough for several connect attempts by both sides (1 s connect retry).
    std::thread::sleep(Duration::from_secs(5));
    let p = bird.protocol_for(pr4)?;
    ensure!(
        p.bgp_state.as_deref() != Some("Established") && p.state != "up",
        "BIRD established a session despite the wrong password: {p:?}"
    );
    ensure!(
        pr.session_state(bird4)? != interop::SessionState::Established,
        "podroute established a session despite the wrong password"
    );
    ensure!(
        bird.paths(p_pr())?.is_empty() && pr.paths(p_peer())?.is_empty(),
        "routes crossed a session that never came up"
    );
    Ok(())
}

#[test]
fn max_prefix_trips_cease_and_bird_sees_why() -> Result<()> {
    let lab = Lab::new("birdmaxpfx")?;
    let (n_pr, n_bird) = (lab.node("pr")?, lab.node("bird")?);
    lab.link(&n_pr, "192.0.2.1/30", &n_bird, "192.0.2.2/30")?;
    let (pr4, bird4) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let mut extras = PodrouteExtras::default();
    extras.max_prefix.insert(
        bird4,
        MaxPrefix {
            limit: 2,
            restart: true,
            restart_after: 600,
        },
    );
    let pr = Podroute::start_with(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(Neighbor::new(bird4, AS_PEER).name("bird"))
            .originate(Origin::new(p_pr())),
        extras,
    )?;
    let bird = Bird::start(
        &n_bird,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
            .neighbor(Neighbor::new(pr4, AS_PR).name("pr"))
            .originate(Origin::new(prefix("10.244.2.0/24")))
            .originate(Origin::new(prefix("10.244.3.0/24")))
            .originate(Origin::new(prefix("10.244.4.0/24"))),
    )?;
    bird.wait("BIRD told of the max-prefix Cease", T, || {
        let p = bird.protocol_for(pr4)?;
        let why = p.last_error.clone().unwrap_or_default();
        ensure!(
            why.contains("Received: Maximum number of prefixes reached"),
            "last error: {why:?} ({:?})",
            p.bgp_state
        );
        Ok(())
    })?;
    let n = pr.neighbor_summary(bird4)?;
    ensure!(n["state"] != "Established", "{n:#}");
    ensure!(
        n["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("Maximum Number of Prefixes Reached (6/1)"),
        "podroute should say why: {n:#}"
    );
    // Held down for restart_after: no session within several of BIRD's connect retries
    // (1 s), and nothing of BIRD's left in podroute's table.
    std::thread::sleep(Duration::from_secs(4));
    ensure!(pr.session_state(bird4)? != interop::SessionState::Established);
    let p = bird.protocol_for(pr4)?;
    ensure!(p.bgp_state.as_deref() != Some("Established"), "BIRD: {p:?}");
    for p in ["10.244.2.0/24", "10.244.3.0/24", "10.244.4.0/24"] {
        ensure!(pr.paths(prefix(p))?.is_empty(), "podroute kept {p}");
    }
    Ok(())
}

#[test]
fn graceful_restart_bird_restarts_then_podroute_restarts() -> Result<()> {
    let lab = Lab::new("birdgr")?;
    let (n_pr, n_bird) = (lab.node("pr")?, lab.node("bird")?);
    lab.link(&n_pr, "192.0.2.1/30", &n_bird, "192.0.2.2/30")?;
    let (pr4, bird4) = (ip("192.0.2.1"), ip("192.0.2.2"));
    let mut pr = Podroute::start(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(
                Neighbor::new(bird4, AS_PEER)
                    .name("bird")
                    .graceful_restart(60),
            )
            .originate(Origin::new(p_pr()).community(Community(64511, 1))),
    )?;
    let mut bird = Bird::start(
        &n_bird,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
            .neighbor(Neighbor::new(pr4, AS_PR).name("pr").graceful_restart(60))
            .originate(Origin::new(p_peer()).community(Community(64511, 2))),
    )?;
    bird.debug_all(pr4)?;
    pr.wait_route(p_peer(), T, |r| r.best && !r.stale)?;
    bird.wait_route(p_pr(), T, |r| {
        r.best && r.has_community(Community(64511, 1))
    })?;

    // 1. BIRD restarts gracefully (`birdc graceful restart`, then `bird -R`). podroute, the
    //    helper, keeps BIRD's route, marked stale, until BIRD's End-of-RIB.
    bird.graceful_restart()?;
    pr.wait_not_established(bird4, T)?;
    let r = pr.wait_route(p_peer(), T, |r| r.stale)?;
    ensure!(r.best, "the stale path must stay in use: {r:?}");
    let held = pr.neighbor(bird4)?;
    ensure!(held["graceful_restart_stale"] == true, "{held:#}");
    std::thread::sleep(Duration::from_secs(2));
    ensure!(
        !pr.paths(p_peer())?.is_empty(),
        "podroute dropped BIRD's route"
    );
    bird.start_again(true)?;
    pr.wait_established(bird4, T)?;
    pr.wait_route(p_peer(), T, |r| {
        r.best && !r.stale && r.has_community(Community(64511, 2))
    })?;
    let n = pr.neighbor(bird4)?;
    ensure!(n["graceful_restart_stale"] == false, "{n:#}");
    never_withdrawn(&pr, p_peer())?;
    // BIRD, the restarting speaker, got podroute's route back and finished its recovery.
    bird.wait_route(p_pr(), T, |r| r.has_community(Community(64511, 1)))?;
    bird.wait("BIRD to finish its graceful-restart recovery", T, || {
        let out = bird.birdc(&["show", "status"])?;
        ensure!(
            !out.contains("Graceful restart recovery in progress"),
            "{out}"
        );
        Ok(())
    })?;
    ensure!(
        bird_log_count(&bird, "Graceful restart started") == 1
            && bird_log_count(&bird, "Graceful restart done") == 1,
        "BIRD's second run should have been a graceful-restart recovery:\n{}",
        bird.log_tail(40)
    );

    // 2. podroute restarts (TERM, then start): BIRD, the helper, keeps podroute's route the
    //    whole time (BIRD's time of last change for the route does not move), and podroute
    //    comes back as a restarting speaker.
    let kept = bird_path_from(&bird, p_pr(), "pr")?;
    let gr_done = bird_log_count(&bird, "pr: Neighbor graceful restart done");
    pr.stop()?;
    bird.wait(
        "BIRD to act as graceful-restart helper for podroute",
        T,
        || {
            let p = bird.protocol_for(pr4)?;
            ensure!(p.gr_active, "{p:?}");
            Ok(())
        },
    )?;
    for _ in 0..10 {
        let now = bird_path_from(&bird, p_pr(), "pr")?;
        ensure!(
            same_time(&now.since, &kept.since),
            "BIRD changed podroute's route: {now:?}, before: {kept:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    pr.start_again()?;
    ensure!(
        pr.full_log().contains("graceful restart: telling peers"),
        "the second start should be a graceful restart:\n{}",
        pr.log_tail(30)
    );
    bird.wait("the session with podroute to recover", T, || {
        let p = bird.protocol_for(pr4)?;
        let now = bird_path_from(&bird, p_pr(), "pr")?;
        ensure!(
            same_time(&now.since, &kept.since),
            "BIRD replaced podroute's route during the graceful restart (changed at {}, then \
             at {})",
            kept.since,
            now.since
        );
        ensure!(
            p.bgp_state.as_deref() == Some("Established") && !p.gr_active,
            "{p:?}"
        );
        Ok(())
    })?;
    // BIRD ends its helper role on podroute's End-of-RIB and then flushes whatever was not
    // re-sent: podroute's route is still there, unchanged.
    bird.wait("BIRD to see podroute's End-of-RIB", T, || {
        let n = bird_log_count(&bird, "pr: Neighbor graceful restart done");
        ensure!(n > gr_done, "{n} lines, {gr_done} before");
        Ok(())
    })?;
    let now = bird_path_from(&bird, p_pr(), "pr")?;
    ensure!(
        same_time(&now.since, &kept.since) && now.route.has_community(Community(64511, 1)),
        "after the restart: {now:?}, before: {kept:?}"
    );
    pr.wait_route(p_peer(), T, |r| r.best && !r.stale)?;
    Ok(())
}
