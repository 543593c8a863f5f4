//! podroute against GoBGP 3.10, asserted through GoBGP's own `gobgp -j ...` as well as through
//! `podroute show`.
//!
//! ```text
//!   podroute (pr) ---- 192.0.2.0/30 + 2001:db8:0:12::/64 ---- GoBGP (gb, passive)
//!   AS 4200000001                                             AS 4200000002 (eBGP)
//!                                                             AS 4200000001 (iBGP test)
//! ```
//!
//! GoBGP is the passive side everywhere: it connects out only every 5 s or more and idles 5 s
//! after a session error, while podroute retries every second.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use common::*;
use interop::{
    BgpConfig, Community, Daemon, Direction, Gobgp, GobgpExtras, Lab, LargeCommunity, MaxPrefix,
    Neighbor, Node, Origin, Podroute, PodrouteExtras, Policy, Prefix, SessionState, prefix,
};
use serde_json::Value;

fn read(path: &std::path::Path) -> Result<String> {
    Ok(std::fs::read_to_string(path)?)
}

fn counter(v: &Value, path: &[&str]) -> u64 {
    path.iter().fold(v, |v, k| &v[*k]).as_u64().unwrap_or(0)
}

/// What identifies one session in `gobgp -j neighbor PEER`: when it came up (a Unix time, in
/// seconds) and how many OPENs GoBGP has received from the peer (the message counters add up
/// over sessions). GoBGP 3.10's `state.flops` stays 0 even across resets.
fn session_id(n: &Value) -> (u64, u64) {
    (
        counter(n, &["timers", "state", "uptime", "seconds"]),
        counter(n, &["state", "messages", "received", "open"]),
    )
}

/// GoBGP's session with a peer was not reset between two snapshots of `gobgp -j neighbor`.
fn same_session(before: &Value, after: &Value) -> Result<()> {
    ensure!(
        counter(after, &["state", "session_state"]) == 6,
        "GoBGP: session state {}",
        after["state"]["session_state"]
    );
    ensure!(
        session_id(before) == session_id(after),
        "GoBGP's session was reset: (uptime, OPENs received) {:?} -> {:?}",
        session_id(before),
        session_id(after)
    );
    Ok(())
}

/// The raw attributes GoBGP holds for `prefix` as learned from `peer` (`gobgp -j global rib`).
fn gobgp_attrs(gb: &Gobgp, p: Prefix, peer: IpAddr) -> Result<Vec<Value>> {
    let rib = gb.cli_json(&["global", "rib", "-a", p.family().name()])?;
    let paths = rib[p.to_string()].as_array().cloned().unwrap_or_default();
    let Some(path) = paths
        .iter()
        .find(|path| path["neighbor-ip"].as_str() == Some(&peer.to_string()))
    else {
        bail!("GoBGP has no path for {p} from {peer}: {rib}");
    };
    Ok(path["attrs"].as_array().cloned().unwrap_or_default())
}

/// Two directly connected nodes, podroute in `pr` and GoBGP in `gb`, with IPv4 and IPv6.
struct Pair {
    /// Owns the namespaces (the nodes and daemons keep it alive too).
    _lab: Lab,
    n_pr: Node,
    n_gb: Node,
    pr4: IpAddr,
    pr6: IpAddr,
    gb4: IpAddr,
    gb6: IpAddr,
}

fn pair(name: &str) -> Result<Pair> {
    let lab = Lab::new(name)?;
    let (n_pr, n_gb) = (lab.node("pr")?, lab.node("gb")?);
    let link = lab.link(&n_pr, "192.0.2.1/30", &n_gb, "192.0.2.2/30")?;
    link.add_addrs("2001:db8:0:12::1/64", "2001:db8:0:12::2/64")?;
    Ok(Pair {
        _lab: lab,
        n_pr,
        n_gb,
        pr4: ip("192.0.2.1"),
        pr6: ip("2001:db8:0:12::1"),
        gb4: ip("192.0.2.2"),
        gb6: ip("2001:db8:0:12::2"),
    })
}

#[test]
fn ebgp_v4_md5_and_v6_communities_withdrawals_refresh_and_soft_policy_changes() -> Result<()> {
    let Pair {
        _lab,
        n_pr,
        n_gb,
        pr4,
        pr6,
        gb4,
        gb6,
    } = pair("gobgpebgp")?;
    let md5 = "podroute-md5";
    let (c_pr, l_pr) = (Community(64511, 1), LargeCommunity(AS_PR, 1, 1));
    let (c_gb, l_gb) = (Community(64511, 2), LargeCommunity(AS_PEER, 1, 1));

    let mut pr = Podroute::start(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(Neighbor::new(gb4, AS_PEER).name("gb").password(md5))
            .neighbor(Neighbor::new(gb6, AS_PEER).name("gb6"))
            .originate(Origin::new(p_pr()).community(c_pr).large_community(l_pr))
            .originate(Origin::new(p_pr6()).community(c_pr).large_community(l_pr))
            .originate(Origin::new(p_pr_gone())),
    )?;
    let mut gb = Gobgp::start(
        &n_gb,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
            .neighbor(Neighbor::new(pr4, AS_PR).name("pr").password(md5).passive())
            .neighbor(Neighbor::new(pr6, AS_PR).name("pr6").passive())
            .originate(Origin::new(p_peer()).community(c_gb).large_community(l_gb))
            .originate(Origin::new(p_peer6()).community(c_gb).large_community(l_gb))
            .originate(Origin::new(p_peer_gone())),
    )?;

    // Sessions, seen from both sides; 4-octet ASNs on both.
    for (peer, mine) in [(gb4, pr4), (gb6, pr6)] {
        pr.wait_established(peer, T)?;
        gb.wait_established(mine, T)?;
        let n = gb.neighbor(mine)?;
        ensure!(
            counter(&n, &["state", "peer_asn"]) == u64::from(AS_PR),
            "{n:#}"
        );
        ensure!(
            (n["conf"]["auth_password"] == md5) == (mine == pr4),
            "TCP-MD5 on the IPv4 session only: {:#}",
            n["conf"]
        );
        let n = pr.neighbor(peer)?;
        ensure!(
            n["negotiated"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|x| x == "4-octet AS"),
            "podroute did not negotiate 4-octet ASNs with GoBGP: {n:#}"
        );
        ensure!(n["summary"]["asn"] == AS_PEER, "{n:#}");
    }

    // Routes both ways, communities and large communities intact, next hop self over eBGP.
    let r = gb.wait_route(p_pr(), T, |r| has(r, &[AS_PR], c_pr, l_pr))?;
    ensure!(
        r.next_hop == Some(pr4),
        "GoBGP's path for {}: {r:?}",
        p_pr()
    );
    let r = gb.wait_route(p_pr6(), T, |r| has(r, &[AS_PR], c_pr, l_pr))?;
    ensure!(
        r.next_hop == Some(pr6),
        "GoBGP's path for {}: {r:?}",
        p_pr6()
    );
    gb.wait_route(p_pr_gone(), T, |r| r.peer == Some(pr4))?;
    let r = pr.wait_route(p_peer(), T, |r| has(r, &[AS_PEER], c_gb, l_gb) && r.best)?;
    ensure!(
        r.next_hop == Some(gb4),
        "podroute's path for {}: {r:?}",
        p_peer()
    );
    let r = pr.wait_route(p_peer6(), T, |r| has(r, &[AS_PEER], c_gb, l_gb) && r.best)?;
    ensure!(
        r.next_hop == Some(gb6),
        "podroute's path for {}: {r:?}",
        p_peer6()
    );
    pr.wait_route(p_peer_gone(), T, |_| true)?;

    // Withdrawals, both ways.
    pr.withdraw(p_pr_gone())?;
    gb.wait_no_route(p_pr_gone(), T)?;
    gb.withdraw(p_peer_gone())?;
    pr.wait_no_route(p_peer_gone(), T)?;

    // Import policy change on podroute (SIGHUP): it asks GoBGP for a route refresh and
    // applies the new policy, without resetting the session.
    let before = gb.neighbor(pr4)?;
    pr.set_policy(gb4, Direction::Import, Policy::new().reject(p_peer()))?;
    pr.wait_no_route(p_peer(), T)?;
    pr.set_policy(gb4, Direction::Import, Policy::new())?;
    pr.wait_route(p_peer(), T, |r| has(r, &[AS_PEER], c_gb, l_gb) && r.best)?;
    let after = gb.neighbor(pr4)?;
    let refresh = ["state", "messages", "received", "refresh"];
    ensure!(
        counter(&after, &refresh) > counter(&before, &refresh),
        "GoBGP received no ROUTE-REFRESH from podroute: {:#}",
        after["state"]["messages"]
    );
    same_session(&before, &after)?;

    // Export policy change on podroute: GoBGP sees the new community, same session.
    let tag = Community(64511, 99);
    pr.set_policy(gb4, Direction::Export, Policy::new().add_community(tag))?;
    gb.wait_route(p_pr(), T, |r| {
        r.has_community(tag) && has(r, &[AS_PR], c_pr, l_pr)
    })?;
    same_session(&before, &gb.neighbor(pr4)?)?;

    // `gobgp neighbor X softresetin` in GoBGP 3.10 re-runs GoBGP's import policy over the
    // Adj-RIB-In it always keeps: it sends podroute no ROUTE-REFRESH (podroute's answer to
    // one is covered against FRR). Nothing is lost and the session stays.
    let gb_before = gb.neighbor(pr4)?;
    gb.soft_reset_in(pr4)?;
    gb.wait_route(p_pr(), T, |r| r.has_community(tag) && r.has_community(c_pr))?;
    std::thread::sleep(Duration::from_millis(500));
    let n = gb.neighbor(pr4)?;
    let sent = ["state", "messages", "sent", "refresh"];
    ensure!(
        counter(&n, &sent) == counter(&gb_before, &sent),
        "GoBGP 3.10 now sends ROUTE-REFRESH on softresetin: {:#}",
        n["state"]["messages"]
    );
    ensure!(
        gb.paths(p_pr())?
            .iter()
            .any(|r| r.peer == Some(pr4) && r.best),
        "GoBGP lost podroute's route on softresetin"
    );
    same_session(&before, &n)?;

    // GoBGP re-sends its routes (`softresetout`): podroute takes them as implicit
    // replacements; nothing is lost.
    let pr_before = pr.neighbor(gb4)?;
    gb.soft_reset_out(pr4)?;
    pr.wait("GoBGP's re-sent UPDATEs", T, || {
        let n = pr.neighbor(gb4)?;
        ensure!(
            counter(&n, &["updates_received"]) > counter(&pr_before, &["updates_received"]),
            "updates_received still {}",
            n["updates_received"]
        );
        Ok(())
    })?;
    let r = pr.wait_route(p_peer(), T, |r| r.best)?;
    ensure!(has(&r, &[AS_PEER], c_gb, l_gb) && !r.stale, "{r:?}");
    ensure!(pr.paths(p_peer_gone())?.is_empty());
    same_session(&before, &gb.neighbor(pr4)?)?;
    pr.wait_established(gb6, T)?;
    pr.ensure_running()?;
    Ok(())
}

#[test]
fn ibgp_v4_and_v6_keeps_next_hop_and_local_pref() -> Result<()> {
    let Pair {
        _lab,
        n_pr,
        n_gb,
        pr4,
        pr6,
        gb4,
        gb6,
    } = pair("gobgpibgp")?;
    let c = Community(64511, 7);
    let l = LargeCommunity(AS_PR, 7, 7);
    let pr = Podroute::start(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(Neighbor::new(gb4, AS_PR).name("gb"))
            .neighbor(Neighbor::new(gb6, AS_PR).name("gb6"))
            .originate(Origin::new(p_pr()).community(c).large_community(l))
            .originate(Origin::new(p_pr6()).community(c).large_community(l)),
    )?;
    let gb = Gobgp::start(
        &n_gb,
        BgpConfig::new(AS_PR, "192.0.2.2".parse()?)
            .neighbor(Neighbor::new(pr4, AS_PR).name("pr").passive())
            .neighbor(Neighbor::new(pr6, AS_PR).name("pr6").passive())
            .originate(Origin::new(p_peer()).community(c).large_community(l))
            .originate(Origin::new(p_peer6()).community(c).large_community(l)),
    )?;
    pr.wait_established(gb4, T)?;
    pr.wait_established(gb6, T)?;
    // GoBGP: internal peers (type 0 is omitted; 1 is external).
    let n = gb.neighbor(pr4)?;
    ensure!(counter(&n, &["state", "type"]) == 0, "{n:#}");

    // iBGP: empty AS path, next hop the originator's address, LOCAL_PREF 100.
    for (p, nh) in [(p_pr(), pr4), (p_pr6(), pr6)] {
        let r = gb.wait_route(p, T, |r| has(r, &[], c, l))?;
        ensure!(r.next_hop == Some(nh), "GoBGP's path for {p}: {r:?}");
        let attrs = gobgp_attrs(&gb, p, nh)?;
        ensure!(
            attrs.iter().any(|a| a["type"] == 5 && a["value"] == 100),
            "GoBGP should see LOCAL_PREF 100 from an iBGP podroute: {attrs:?}"
        );
    }
    for (p, nh) in [(p_peer(), gb4), (p_peer6(), gb6)] {
        let r = pr.wait_route(p, T, |r| has(r, &[], c, l))?;
        ensure!(r.next_hop == Some(nh), "podroute's path for {p}: {r:?}");
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
    let Pair {
        _lab,
        n_pr,
        n_gb,
        pr4,
        gb4,
        ..
    } = pair("gobgpmd5")?;
    let pr = Podroute::start(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(Neighbor::new(gb4, AS_PEER).name("gb").password("wrong-one"))
            .originate(Origin::new(p_pr())),
    )?;
    let gb = Gobgp::start(
        &n_gb,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
            .neighbor(
                Neighbor::new(pr4, AS_PR)
                    .name("pr")
                    .password("right-one")
                    .passive(),
            )
            .originate(Origin::new(p_peer())),
    )?;
    md5_mismatch_reported(&pr, gb4)?;
    // Long enough for several connect attempts by podroute.
    std::thread::sleep(Duration::from_secs(5));
    let n = gb.neighbor(pr4)?;
    ensure!(
        counter(&n, &["state", "session_state"]) != 6,
        "GoBGP established a session despite the wrong password: {n:#}"
    );
    ensure!(
        counter(&n, &["state", "messages", "received", "total"]) == 0,
        "GoBGP received BGP messages despite the wrong password: {:#}",
        n["state"]["messages"]
    );
    ensure!(
        pr.session_state(gb4)? != SessionState::Established,
        "podroute established a session despite the wrong password"
    );
    ensure!(gb.paths(p_pr())?.is_empty() && pr.paths(p_peer())?.is_empty());
    Ok(())
}

#[test]
fn max_prefix_trips_cease_and_gobgp_sees_why() -> Result<()> {
    let Pair {
        _lab,
        n_pr,
        n_gb,
        pr4,
        gb4,
        ..
    } = pair("gobgpmaxpfx")?;
    let mut extras = PodrouteExtras::default();
    extras.max_prefix.insert(
        gb4,
        MaxPrefix {
            limit: 2,
            restart: true,
            restart_after: 600,
        },
    );
    let pr = Podroute::start_with(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(Neighbor::new(gb4, AS_PEER).name("gb"))
            .originate(Origin::new(p_pr())),
        extras,
    )?;
    let gb = Gobgp::start(
        &n_gb,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
            .neighbor(Neighbor::new(pr4, AS_PR).name("pr").passive())
            .originate(Origin::new(prefix("10.244.2.0/24")))
            .originate(Origin::new(prefix("10.244.3.0/24")))
            .originate(Origin::new(prefix("10.244.4.0/24"))),
    )?;
    // GoBGP keeps no "last error" in `gobgp -j neighbor`, only counters; its log has the
    // NOTIFICATION's code and subcode.
    gb.wait("GoBGP told of the max-prefix Cease", T, || {
        let n = gb.neighbor(pr4)?;
        let got = counter(&n, &["state", "messages", "received", "notification"]);
        ensure!(got >= 1, "{got} NOTIFICATIONs received");
        let log = read(&gb.log_path())?;
        ensure!(
            log.lines().any(|l| {
                l.contains("received notification")
                    && l.contains("\"Key\":\"192.0.2.1\"")
                    && l.contains("\"Code\":6,")
                    && l.contains("\"Subcode\":1,")
            }),
            "no log line for Cease 6/1 from podroute"
        );
        Ok(())
    })?;
    let n = pr.neighbor_summary(gb4)?;
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
    ensure!(pr.session_state(gb4)? != SessionState::Established);
    ensure!(gb.session_state(pr4)? != SessionState::Established);
    ensure!(pr.paths(prefix("10.244.2.0/24"))?.is_empty());
    Ok(())
}

/// Keeps checking, until `done` holds, that `gb` has a path for `p` from `peer` the whole
/// time (polling every 100 ms).
fn gobgp_keeps(
    gb: &Gobgp,
    p: Prefix,
    peer: IpAddr,
    mut done: impl FnMut() -> Result<bool>,
) -> Result<Vec<bool>> {
    let deadline = Instant::now() + T;
    let mut stale_seen = Vec::new();
    loop {
        let paths = gb.paths(p)?;
        let Some(r) = paths.iter().find(|r| r.peer == Some(peer)) else {
            bail!("GoBGP dropped {p} from {peer}:\n{}", gb.log_tail(30));
        };
        stale_seen.push(r.stale);
        if done()? {
            return Ok(stale_seen);
        }
        ensure!(Instant::now() < deadline, "timed out; GoBGP kept {p}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GoBGP restarts (TERM, then `gobgpd --graceful-restart`), then podroute restarts, with
/// RFC 8538 on both sides: GoBGP's Cease on TERM keeps graceful restart going.
#[test]
fn graceful_restart_with_notification_gobgp_then_podroute_restarts() -> Result<()> {
    let Pair {
        _lab,
        n_pr,
        n_gb,
        pr4,
        gb4,
        ..
    } = pair("gobgpgr")?;
    let (c_pr, c_gb) = (Community(64511, 1), Community(64511, 2));
    let mut pr = Podroute::start(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(Neighbor::new(gb4, AS_PEER).name("gb").graceful_restart(60))
            .originate(Origin::new(p_pr()).community(c_pr)),
    )?;
    let mut gb = Gobgp::start_with(
        &n_gb,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
            .neighbor(
                Neighbor::new(pr4, AS_PR)
                    .name("pr")
                    .passive()
                    .graceful_restart(60),
            )
            .originate(Origin::new(p_peer()).community(c_gb))
            .originate(Origin::new(p_peer_gone())),
        GobgpExtras {
            gr_notification: true,
        },
    )?;
    pr.wait_route(p_peer(), T, |r| r.best && !r.stale)?;
    pr.wait_route(p_peer_gone(), T, |r| r.best && !r.stale)?;
    gb.wait_route(p_pr(), T, |r| !r.stale && r.has_community(c_pr))?;
    let caps = pr.neighbor(gb4)?["capabilities"].to_string();
    ensure!(
        caps.contains("graceful-restart time 60s notification ipv4-unicast"),
        "GoBGP's OPEN should offer GR with the N bit: {caps}"
    );

    // 1. GoBGP restarts. On TERM it sends Cease / Peer De-configured (6/3); with the N bit
    //    negotiated that is not a Hard Reset, so podroute, the helper, keeps GoBGP's route,
    //    marked stale, until GoBGP's End-of-RIB; GoBGP comes back without p_peer_gone(),
    //    which podroute drops at that End-of-RIB (not at the end of the restart time).
    gb.stop()?;
    pr.wait_not_established(gb4, T)?;
    let r = pr.wait_route(p_peer(), T, |r| r.stale)?;
    ensure!(r.best, "the stale path must stay in use: {r:?}");
    pr.wait_route(p_peer_gone(), T, |r| r.stale && r.best)?;
    gb.withdraw(p_peer_gone())?;
    let held = pr.neighbor(gb4)?;
    ensure!(held["graceful_restart_stale"] == true, "{held:#}");
    ensure!(
        read(&pr.log_path())?.contains(
            "received Cease / Peer De-configured (6/3) (graceful restart: routes kept as stale)"
        ),
        "{}",
        pr.log_tail(30)
    );
    std::thread::sleep(Duration::from_secs(2));
    for p in [p_peer(), p_peer_gone()] {
        ensure!(
            pr.paths(p)?.iter().any(|r| r.stale && r.best),
            "podroute dropped GoBGP's route for {p} early"
        );
    }
    let t_start = Instant::now();
    gb.start_again(true)?;
    pr.wait_established(gb4, T)?;
    let caps = pr.neighbor(gb4)?["capabilities"].to_string();
    ensure!(
        caps.contains("restarting notification ipv4-unicast(forwarding kept)"),
        "GoBGP's OPEN after the restart should have the R and F bits: {caps}"
    );
    pr.wait_route(p_peer(), T, |r| r.best && !r.stale && r.has_community(c_gb))?;
    pr.wait_no_route(p_peer_gone(), T)?;
    ensure!(
        t_start.elapsed() < Duration::from_secs(30),
        "podroute dropped the stale route only after {:?}",
        t_start.elapsed()
    );
    ensure!(
        read(&pr.log_path())?.contains("removed 1 stale paths"),
        "{}",
        pr.log_tail(30)
    );
    ensure!(pr.neighbor(gb4)?["graceful_restart_stale"] == false);
    never_withdrawn(&pr, p_peer())?;
    gb.wait_route(p_pr(), T, |r| !r.stale && r.has_community(c_pr))?;

    // 2. podroute restarts (TERM, then start): it sends Cease / Administrative Reset (6/4)
    //    to an N-bit peer; GoBGP, the helper, keeps podroute's route as stale the whole time
    //    and podroute comes back as a restarting speaker.
    let before = gb.neighbor(pr4)?;
    pr.stop()?;
    let stale = gobgp_keeps(&gb, p_pr(), pr4, || {
        Ok(gb.session_state(pr4)? != SessionState::Established)
    })?;
    ensure!(
        read(&gb.log_path())?.contains("peer graceful restart"),
        "GoBGP did not start helping:\n{}",
        gb.log_tail(20)
    );
    std::thread::sleep(Duration::from_millis(500));
    let r = gb.wait_route(p_pr(), T, |r| r.peer == Some(pr4))?;
    ensure!(
        r.stale,
        "GoBGP should mark podroute's path stale: {r:?} ({stale:?})"
    );
    pr.start_again()?;
    ensure!(
        pr.full_log().contains("graceful restart: telling peers"),
        "the second start should be a graceful restart:\n{}",
        pr.log_tail(30)
    );
    gobgp_keeps(&gb, p_pr(), pr4, || {
        Ok(gb.session_state(pr4)? == SessionState::Established
            && gb.paths(p_pr())?.iter().any(|r| !r.stale))
    })?;
    let after = gb.neighbor(pr4)?;
    eprintln!(
        "DBG before {:#}\nDBG after {:#}",
        before["state"], after["state"]
    );
    ensure!(
        session_id(&after).0 > session_id(&before).0
            && session_id(&after).1 == session_id(&before).1 + 1,
        "GoBGP's session should be a new one: (uptime, OPENs) {:?} -> {:?}",
        session_id(&before),
        session_id(&after)
    );
    let r = gb.wait_route(p_pr(), T, |r| !r.stale)?;
    ensure!(r.has_community(c_pr) && r.as_path == vec![AS_PR], "{r:?}");
    ensure!(
        after["afi_safis"][0]["mp_graceful_restart"]["state"]["end_of_rib_received"] == true,
        "GoBGP has no End-of-RIB from the restarted podroute: {:#}",
        after["afi_safis"]
    );
    ensure!(
        read(&gb.log_path())?
            .lines()
            .any(|l| l.contains("received notification")
                && l.contains("\"Subcode\":4,")
                && l.contains("podroute restarting")),
        "GoBGP should log podroute's Administrative Reset:\n{}",
        gb.log_tail(20)
    );
    pr.wait_route(p_peer(), T, |r| r.best && !r.stale)?;
    Ok(())
}

/// GoBGP without RFC 8538 (its default): its Cease on TERM ends graceful restart, so
/// podroute must drop its routes; a crash (KILL) is a graceful restart. podroute restarting
/// closes the session without a NOTIFICATION, and GoBGP keeps its routes.
#[test]
fn graceful_restart_without_notification_kill_term_and_podroute_restart() -> Result<()> {
    let Pair {
        _lab,
        n_pr,
        n_gb,
        pr4,
        gb4,
        ..
    } = pair("gobgpgrkill")?;
    let mut pr = Podroute::start(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(Neighbor::new(gb4, AS_PEER).name("gb").graceful_restart(60))
            .originate(Origin::new(p_pr())),
    )?;
    let mut gb = Gobgp::start(
        &n_gb,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
            .neighbor(
                Neighbor::new(pr4, AS_PR)
                    .name("pr")
                    .passive()
                    .graceful_restart(60),
            )
            .originate(Origin::new(p_peer())),
    )?;
    pr.wait_route(p_peer(), T, |r| r.best && !r.stale)?;
    gb.wait_route(p_pr(), T, |r| !r.stale)?;
    let caps = pr.neighbor(gb4)?["capabilities"].to_string();
    ensure!(
        caps.contains("graceful-restart time 60s ipv4-unicast"),
        "GoBGP's OPEN should offer GR without the N bit: {caps}"
    );

    // 1. GoBGP crashes (KILL: the kernel closes the connection, no NOTIFICATION) and comes
    //    back with --graceful-restart: podroute keeps the route stale until End-of-RIB.
    gb.kill()?;
    pr.wait_not_established(gb4, T)?;
    let r = pr.wait_route(p_peer(), T, |r| r.stale)?;
    ensure!(r.best, "the stale path must stay in use: {r:?}");
    gb.start_again(true)?;
    pr.wait_established(gb4, T)?;
    pr.wait_route(p_peer(), T, |r| r.best && !r.stale)?;
    never_withdrawn(&pr, p_peer())?;

    // 2. podroute restarts: no N bit, so it closes the session without a NOTIFICATION
    //    (RFC 4724); GoBGP keeps its route the whole time.
    pr.stop()?;
    gobgp_keeps(&gb, p_pr(), pr4, || {
        Ok(gb.session_state(pr4)? != SessionState::Established)
    })?;
    pr.start_again()?;
    ensure!(pr.full_log().contains("graceful restart: telling peers"));
    gobgp_keeps(&gb, p_pr(), pr4, || {
        Ok(gb.session_state(pr4)? == SessionState::Established
            && gb.paths(p_pr())?.iter().any(|r| !r.stale))
    })?;
    ensure!(
        gb.neighbor(pr4)?["state"]["messages"]["received"]["notification"].is_null(),
        "podroute sent GoBGP a NOTIFICATION: {:#}",
        gb.neighbor(pr4)?["state"]["messages"]
    );
    pr.wait_route(p_peer(), T, |r| r.best && !r.stale)?;

    // 3. GoBGP stops with TERM: Cease 6/3 without the N bit ends graceful restart (RFC 4724,
    //    RFC 8538 §4), and podroute drops GoBGP's route at once.
    gb.stop()?;
    pr.wait_no_route(p_peer(), Duration::from_secs(5))?;
    let log = read(&pr.log_path())?;
    ensure!(
        log.lines()
            .any(|l| l.contains("received Cease / Peer De-configured (6/3)")
                && !l.contains("kept as stale")),
        "{log}"
    );
    gb.start_again(false)?;
    pr.wait_route(p_peer(), T, |r| r.best && !r.stale)?;
    gb.wait_route(p_pr(), T, |r| !r.stale)?;
    Ok(())
}
