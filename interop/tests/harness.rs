//! Self-test of the harness: FRR, BIRD and GoBGP in a triangle.
//!
//! ```text
//!            192.0.2.0/30 + 2001:db8:0:12::/64
//!   FRR  ---------------------------------------  BIRD
//!   AS 4200000001                                 AS 4200000002
//!      \  203.0.113.0/30 (TCP-MD5)                  /  198.51.100.0/30
//!       \------------------  GoBGP  ---------------/
//!                            AS 4200000003
//! ```
//!
//! Each daemon originates prefixes with a community and a large community; sessions, paths
//! and attributes are checked through each daemon's own queries. Then one prefix per daemon
//! is withdrawn, and FRR's bgpd is restarted with graceful restart while BIRD keeps its
//! routes.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use interop::{
    BgpConfig, Bird, Community, Daemon, Family, Fatal, Frr, Gobgp, Lab, LargeCommunity, Neighbor,
    Origin, Policy, Route, prefix, show_routes,
};

const AS_FRR: u32 = 4200000001;
const AS_BIRD: u32 = 4200000002;
const AS_GOBGP: u32 = 4200000003;
/// Generous: FRR waits for its coalesce timer, GoBGP idles 5 s after errors.
const T: Duration = Duration::from_secs(60);

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

/// Checks a path's AS path, and that it carries (at least) these communities.
fn check(r: &Route, as_path: &[u32], comms: &[Community], large: &[LargeCommunity]) -> bool {
    r.as_path == as_path
        && comms.iter().all(|c| r.has_community(*c))
        && large.iter().all(|c| r.has_large_community(*c))
}

#[test]
fn triangle_sessions_routes_withdraw_and_graceful_restart() -> Result<()> {
    let started = Instant::now();
    let lab = Lab::new("harness")?;
    let n_frr = lab.node("frr")?;
    let n_bird = lab.node("bird")?;
    let n_gobgp = lab.node("gobgp")?;
    let fb = lab.link(&n_frr, "192.0.2.1/30", &n_bird, "192.0.2.2/30")?;
    fb.add_addrs("2001:db8:0:12::1/64", "2001:db8:0:12::2/64")?;
    lab.link(&n_bird, "198.51.100.1/30", &n_gobgp, "198.51.100.2/30")?;
    lab.link(&n_frr, "203.0.113.1/30", &n_gobgp, "203.0.113.2/30")?;

    let (frr_v4, frr_v6, frr_g) = (ip("192.0.2.1"), ip("2001:db8:0:12::1"), ip("203.0.113.1"));
    let (bird_v4, bird_v6, bird_g) = (ip("192.0.2.2"), ip("2001:db8:0:12::2"), ip("198.51.100.1"));
    let (gobgp_f, gobgp_b) = (ip("203.0.113.2"), ip("198.51.100.2"));
    let md5 = "interop-md5";

    let p_frr = prefix("10.244.1.0/24");
    let p_frr6 = prefix("fd00:10:244:1::/64");
    let p_bird = prefix("10.244.2.0/24");
    let p_bird6 = prefix("fd00:10:244:2::/64");
    let p_gobgp = prefix("10.244.3.0/24");
    let gone = [
        prefix("10.244.11.0/24"),
        prefix("10.244.12.0/24"),
        prefix("10.244.13.0/24"),
    ];
    let (c_frr, l_frr) = (Community(64511, 1), LargeCommunity(AS_FRR, 1, 1));
    let (c_bird, l_bird) = (Community(64511, 2), LargeCommunity(AS_BIRD, 1, 1));
    let (c_gobgp, l_gobgp) = (Community(64511, 3), LargeCommunity(AS_GOBGP, 1, 1));
    // Policies: FRR tags what it sends BIRD over IPv4, BIRD tags what it sends GoBGP, and
    // GoBGP refuses FRR's 10.244.1.0/24 directly (so it only has it through BIRD).
    let frr_tag = Community(64511, 101);
    let bird_tag = LargeCommunity(AS_BIRD, 2, 2);

    let mut frr = Frr::start(
        &n_frr,
        BgpConfig::new(AS_FRR, "192.0.2.1".parse()?)
            .neighbor(
                Neighbor::new(bird_v4, AS_BIRD)
                    .name("bird")
                    .graceful_restart(60)
                    .export(Policy::new().add_community(frr_tag).set_med(101)),
            )
            .neighbor(
                Neighbor::new(bird_v6, AS_BIRD)
                    .name("bird6")
                    .graceful_restart(60),
            )
            .neighbor(Neighbor::new(gobgp_f, AS_GOBGP).name("gobgp").password(md5))
            .originate(Origin::new(p_frr).community(c_frr).large_community(l_frr))
            .originate(Origin::new(p_frr6).community(c_frr).large_community(l_frr))
            .originate(Origin::new(gone[0]).community(Community(64511, 11))),
    )?;
    let mut bird = Bird::start(
        &n_bird,
        BgpConfig::new(AS_BIRD, "198.51.100.1".parse()?)
            .neighbor(
                Neighbor::new(frr_v4, AS_FRR)
                    .name("frr")
                    .passive()
                    .graceful_restart(60),
            )
            .neighbor(
                Neighbor::new(frr_v6, AS_FRR)
                    .name("frr6")
                    .passive()
                    .graceful_restart(60),
            )
            .neighbor(
                Neighbor::new(gobgp_b, AS_GOBGP)
                    .name("gobgp")
                    .export(Policy::new().add_large_community(bird_tag)),
            )
            .originate(
                Origin::new(p_bird)
                    .community(c_bird)
                    .large_community(l_bird)
                    .med(22),
            )
            .originate(
                Origin::new(p_bird6)
                    .community(c_bird)
                    .large_community(l_bird),
            )
            .originate(Origin::new(gone[1]).community(Community(64511, 12))),
    )?;
    let mut gobgp = Gobgp::start(
        &n_gobgp,
        BgpConfig::new(AS_GOBGP, "203.0.113.2".parse()?)
            .neighbor(
                // GoBGP 3.10 retries connections every 5 s at best: let the others connect.
                Neighbor::new(frr_g, AS_FRR)
                    .name("frr")
                    .password(md5)
                    .passive()
                    .import(Policy::new().reject(p_frr)),
            )
            .neighbor(Neighbor::new(bird_g, AS_BIRD).name("bird").passive())
            .originate(
                Origin::new(p_gobgp)
                    .community(c_gobgp)
                    .large_community(l_gobgp)
                    .med(33),
            )
            .originate(Origin::new(gone[2]).community(Community(64511, 13))),
    )?;

    // Sessions, each as its own daemon sees it.
    for peer in [bird_v4, bird_v6, gobgp_f] {
        frr.wait_established(peer, T)?;
    }
    for peer in [frr_v4, frr_v6, gobgp_b] {
        bird.wait_established(peer, T)?;
    }
    for peer in [frr_g, bird_g] {
        gobgp.wait_established(peer, T)?;
    }
    eprintln!("sessions up after {:.1?}", started.elapsed());

    // Routes, attributes and paths, each as its own daemon shows them.
    let r = frr.wait_route(p_bird, T, |r| {
        r.peer == Some(bird_v4) && check(r, &[AS_BIRD], &[c_bird], &[l_bird])
    })?;
    ensure!(
        r.next_hop == Some(bird_v4) && r.med == Some(22),
        "FRR's path from BIRD: {r}"
    );
    frr.wait_route(p_bird6, T, |r| {
        r.peer == Some(bird_v6)
            && r.next_hop == Some(bird_v6)
            && check(r, &[AS_BIRD], &[c_bird], &[l_bird])
    })?;
    let r = frr.wait_route(p_gobgp, T, |r| {
        r.peer == Some(gobgp_f) && check(r, &[AS_GOBGP], &[c_gobgp], &[l_gobgp])
    })?;
    ensure!(r.best && r.med == Some(33), "FRR's path from GoBGP: {r}");
    let r = frr.wait_route(p_frr, T, |r| r.peer.is_none())?;
    ensure!(
        r.as_path.is_empty() && r.has_community(c_frr),
        "FRR's own route: {r}"
    );

    let r = bird.wait_route(p_frr, T, |r| {
        r.peer == Some(frr_v4) && check(r, &[AS_FRR], &[c_frr, frr_tag], &[l_frr])
    })?;
    ensure!(
        r.best && r.med == Some(101) && r.next_hop == Some(frr_v4),
        "BIRD's path from FRR: {r}"
    );
    bird.wait_route(p_frr6, T, |r| {
        r.peer == Some(frr_v6)
            && r.next_hop == Some(frr_v6)
            && check(r, &[AS_FRR], &[c_frr], &[l_frr])
    })?;
    let r = bird.wait_route(p_gobgp, T, |r| {
        r.peer == Some(gobgp_b) && check(r, &[AS_GOBGP], &[c_gobgp], &[l_gobgp])
    })?;
    ensure!(r.best && r.med == Some(33), "BIRD's path from GoBGP: {r}");

    let r = gobgp.wait_route(p_bird, T, |r| {
        r.peer == Some(bird_g) && check(r, &[AS_BIRD], &[c_bird], &[l_bird, bird_tag])
    })?;
    ensure!(
        r.med == Some(22) && r.next_hop == Some(bird_g),
        "GoBGP's path from BIRD: {r}"
    );
    gobgp.wait_route(p_frr, T, |r| {
        r.peer == Some(bird_g)
            && check(r, &[AS_BIRD, AS_FRR], &[c_frr, frr_tag], &[l_frr, bird_tag])
    })?;
    // FRR's other originated prefix arrived directly, so 10.244.1.0/24 did too, and
    // GoBGP's import policy must have dropped it.
    gobgp.wait_route(gone[0], T, |r| {
        r.peer == Some(frr_g) && r.as_path == [AS_FRR]
    })?;
    let direct = |g: &Gobgp| -> Result<()> {
        let paths = g.paths(p_frr)?;
        ensure!(
            !paths.iter().any(|r| r.peer == Some(frr_g)),
            "GoBGP accepted {p_frr} from FRR despite its import policy:\n{}",
            show_routes(&paths)
        );
        Ok(())
    };
    direct(&gobgp)?;
    eprintln!("routes checked after {:.1?}", started.elapsed());

    // Withdraw one prefix at each daemon; each disappears everywhere.
    for p in gone {
        frr.wait_route(p, T, |_| true)?;
        bird.wait_route(p, T, |_| true)?;
        gobgp.wait_route(p, T, |_| true)?;
    }
    frr.withdraw(gone[0])?;
    bird.withdraw(gone[1])?;
    gobgp.withdraw(gone[2])?;
    for p in gone {
        frr.wait_no_route(p, T)?;
        bird.wait_no_route(p, T)?;
        gobgp.wait_no_route(p, T)?;
    }
    eprintln!("withdrawals seen after {:.1?}", started.elapsed());

    // Graceful restart of FRR's bgpd: BIRD keeps FRR's routes (stale) meanwhile.
    let from_frr = |b: &Bird| -> Result<Route> {
        let paths = b.paths(p_frr)?;
        match paths.iter().find(|r| r.peer == Some(frr_v4)) {
            Some(r) => Ok(r.clone()),
            None => bail!(
                "BIRD has no path for {p_frr} from FRR:\n{}",
                show_routes(&paths)
            ),
        }
    };
    // BIRD prints when it last changed a route: a route kept through the restart and
    // refreshed with the same attributes keeps its time; one flushed and learned again
    // (even for a moment too short to poll) gets a new one.
    let since = |b: &Bird| -> Result<String> {
        let routes = b.bird_routes(Family::Ipv4)?;
        match routes
            .iter()
            .find(|br| br.route.prefix == p_frr && br.route.peer == Some(frr_v4))
        {
            Some(br) => Ok(br.since.clone()),
            None => bail!("BIRD has no path for {p_frr} from FRR"),
        }
    };
    let since_before = since(&bird)?;
    frr.stop_bgpd()?;
    let proto = bird.wait("BIRD to act as graceful-restart helper for FRR", T, || {
        let p = bird.protocol_for(frr_v4)?;
        ensure!(p.gr_active, "protocol {p:?}");
        Ok(p)
    })?;
    let stale = from_frr(&bird).context("while FRR's bgpd is down")?;
    ensure!(
        check(&stale, &[AS_FRR], &[c_frr, frr_tag], &[l_frr]),
        "BIRD's stale path changed: {stale}"
    );
    eprintln!(
        "bgpd stopped; BIRD keeps {stale} (session {:?}) after {:.1?}",
        proto.bgp_state,
        started.elapsed()
    );
    frr.start_bgpd()?;
    bird.wait(
        "the session with FRR to recover from graceful restart",
        T,
        || {
            // A missing path here is a failure, not "not yet".
            let r = from_frr(&bird).map_err(|e| {
                Fatal(format!(
                    "BIRD dropped FRR's route during graceful restart: {e:#}"
                ))
            })?;
            let p = bird.protocol_for(frr_v4)?;
            if p.gr_active || p.bgp_state.as_deref() != Some("Established") {
                bail!("protocol {p:?}, path {r}");
            }
            Ok(())
        },
    )?;
    bird.wait_route(p_frr, T, |r| {
        r.peer == Some(frr_v4) && check(r, &[AS_FRR], &[c_frr, frr_tag], &[l_frr])
    })?;
    let since_after = since(&bird)?;
    ensure!(
        since_after == since_before,
        "BIRD replaced FRR's path during the graceful restart (changed at {since_before}, \
         then at {since_after}) instead of keeping it"
    );
    frr.wait_established(bird_v4, T)?;
    frr.wait_route(p_bird, T, |r| {
        r.peer == Some(bird_v4) && r.as_path == [AS_BIRD]
    })?;
    frr.wait_established(gobgp_f, T)?;
    ensure!(
        gobgp.paths(gone[0])?.is_empty(),
        "{} came back at GoBGP",
        gone[0]
    );
    direct(&gobgp)?;
    frr.ensure_running()?;
    bird.ensure_running()?;
    gobgp.ensure_running()?;
    eprintln!("graceful restart done after {:.1?}", started.elapsed());
    Ok(())
}
