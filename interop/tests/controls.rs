//! Exercises the harness's control helpers against real daemons: policy changes, soft
//! resets, shutdown/disable and enable, runtime origination, and the generic process and
//! exec facilities of a node.

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Result, bail, ensure};
use interop::{
    BgpConfig, Bird, Community, Daemon, Direction, Frr, Gobgp, Lab, LargeCommunity, Neighbor,
    Origin, Policy, SessionState, prefix, show_routes,
};

const AS_FRR: u32 = 4200000001;
const AS_BIRD: u32 = 4200000002;
const AS_GOBGP: u32 = 4200000003;
const T: Duration = Duration::from_secs(60);

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

#[test]
fn control_helpers_drive_each_daemon() -> Result<()> {
    let lab = Lab::new("controls")?;
    let n_frr = lab.node("frr")?;
    let n_bird = lab.node("bird")?;
    let n_gobgp = lab.node("gobgp")?;
    lab.link(&n_frr, "192.0.2.1/30", &n_bird, "192.0.2.2/30")?;
    lab.link(&n_bird, "198.51.100.1/30", &n_gobgp, "198.51.100.2/30")?;
    lab.link(&n_frr, "203.0.113.1/30", &n_gobgp, "203.0.113.2/30")?;
    let (frr_b, frr_g) = (ip("192.0.2.1"), ip("203.0.113.1"));
    let (bird_f, bird_g) = (ip("192.0.2.2"), ip("198.51.100.1"));
    let (gobgp_b, gobgp_f) = (ip("198.51.100.2"), ip("203.0.113.2"));
    let (p_frr, p_bird, p_gobgp) = (
        prefix("10.244.21.0/24"),
        prefix("10.244.22.0/24"),
        prefix("10.244.23.0/24"),
    );

    let mut frr = Frr::start(
        &n_frr,
        BgpConfig::new(AS_FRR, "192.0.2.1".parse()?)
            .neighbor(Neighbor::new(bird_f, AS_BIRD).name("bird"))
            .neighbor(Neighbor::new(gobgp_f, AS_GOBGP).name("gobgp"))
            .originate(Origin::new(p_frr)),
    )?;
    let mut bird = Bird::start(
        &n_bird,
        BgpConfig::new(AS_BIRD, "198.51.100.1".parse()?)
            .neighbor(Neighbor::new(frr_b, AS_FRR).name("frr").passive())
            .neighbor(Neighbor::new(gobgp_b, AS_GOBGP).name("gobgp"))
            .originate(Origin::new(p_bird)),
    )?;
    let mut gobgp = Gobgp::start(
        &n_gobgp,
        BgpConfig::new(AS_GOBGP, "203.0.113.2".parse()?)
            .neighbor(Neighbor::new(frr_g, AS_FRR).name("frr").passive())
            .neighbor(Neighbor::new(bird_g, AS_BIRD).name("bird").passive())
            .originate(Origin::new(p_gobgp)),
    )?;
    frr.wait_established(bird_f, T)?;
    frr.wait_established(gobgp_f, T)?;
    bird.wait_established(gobgp_b, T)?;

    // FRR: replace a route-map, add a prefix-list, soft resets, shutdown / no shutdown.
    let c201 = Community(64511, 201);
    frr.set_policy(bird_f, Direction::Export, Policy::new().add_community(c201))?;
    bird.wait_route(p_frr, T, |r| r.peer == Some(frr_b) && r.has_community(c201))?;
    frr.wait_route(p_bird, T, |r| r.peer == Some(bird_f))?;
    frr.set_policy(bird_f, Direction::Import, Policy::new().reject(p_bird))?;
    frr.wait("FRR's import prefix-list to drop BIRD's prefix", T, || {
        let paths = frr.paths(p_bird)?;
        if paths.iter().any(|r| r.peer == Some(bird_f)) {
            bail!("{}", show_routes(&paths));
        }
        Ok(())
    })?;
    // Still there through GoBGP, and zebra put it in the kernel.
    frr.wait_route(p_bird, T, |r| {
        r.peer == Some(gobgp_f) && r.as_path == [AS_GOBGP, AS_BIRD]
    })?;
    frr.wait("zebra to install BIRD's prefix", T, || {
        let out = n_frr.exec(&["ip", "route", "show", &p_bird.to_string()])?;
        ensure!(out.contains("203.0.113.2"), "ip route: {out:?}");
        Ok(())
    })?;
    frr.clear_soft_in(bird_f)?;
    frr.clear_soft_out(bird_f)?;
    frr.shutdown_neighbor(bird_f)?;
    bird.wait_not_established(frr_b, T)?;
    ensure!(frr.session_state(bird_f)? != SessionState::Established);
    frr.enable_neighbor(bird_f)?;
    bird.wait_established(frr_b, T)?;

    // BIRD: a new export filter through `configure`, reload in, disable / enable.
    let l202 = LargeCommunity(AS_BIRD, 2, 2);
    bird.set_policy(
        gobgp_b,
        Direction::Export,
        Policy::new().set_med(202).add_large_community(l202),
    )?;
    gobgp.wait_route(p_bird, T, |r| {
        r.peer == Some(bird_g) && r.med == Some(202) && r.has_large_community(l202)
    })?;
    bird.reload_in(frr_b)?;
    bird.reload_out(frr_b)?;
    bird.disable(gobgp_b)?;
    gobgp.wait_not_established(bird_g, T)?;
    ensure!(bird.session_state(gobgp_b)? == SessionState::Idle);
    bird.enable(gobgp_b)?;
    gobgp.wait_established(bird_g, T)?;

    // GoBGP: soft resets, disable / enable.
    gobgp.soft_reset_in(frr_g)?;
    gobgp.soft_reset_out(frr_g)?;
    gobgp.disable(frr_g)?;
    frr.wait_not_established(gobgp_f, T)?;
    gobgp.enable(frr_g)?;
    frr.wait_established(gobgp_f, T)?;

    // Runtime origination with communities on each daemon, seen by the other two.
    let new = [
        prefix("10.244.31.0/24"),
        prefix("10.244.32.0/24"),
        prefix("10.244.33.0/24"),
    ];
    let tag = |i: u16| Community(64511, 300 + i);
    let ltag = |asn: u32| LargeCommunity(asn, 3, 3);
    frr.originate(
        Origin::new(new[0])
            .community(tag(1))
            .large_community(ltag(AS_FRR)),
    )?;
    bird.originate(
        Origin::new(new[1])
            .community(tag(2))
            .large_community(ltag(AS_BIRD)),
    )?;
    gobgp.originate(
        Origin::new(new[2])
            .community(tag(3))
            .large_community(ltag(AS_GOBGP)),
    )?;
    let want = |i: usize, asn: u32| {
        move |r: &interop::Route| {
            r.as_path.first() == Some(&asn)
                && r.has_community(tag(i as u16 + 1))
                && r.has_large_community(ltag(asn))
        }
    };
    bird.wait_route(new[0], T, want(0, AS_FRR))?;
    gobgp.wait_route(new[0], T, want(0, AS_FRR))?;
    frr.wait_route(new[1], T, want(1, AS_BIRD))?;
    gobgp.wait_route(new[1], T, want(1, AS_BIRD))?;
    frr.wait_route(new[2], T, want(2, AS_GOBGP))?;
    bird.wait_route(new[2], T, want(2, AS_GOBGP))?;

    // The generic process facility: a process in a node, logged, stopped by PID.
    let p = n_gobgp.spawn(
        "pinger",
        &[
            "sh",
            "-c",
            "echo started in $(ip -br link show eth0); exec sleep 60",
        ],
    )?;
    let pid = p.pid();
    lab_wait(&p, "started in eth0")?;
    p.stop(Duration::from_secs(5))?;
    ensure!(!p.is_running(), "pid {pid} still running");

    frr.ensure_running()?;
    bird.ensure_running()?;
    gobgp.ensure_running()?;
    Ok(())
}

fn lab_wait(p: &interop::NodeProcess, text: &str) -> Result<()> {
    interop::wait_until(&format!("{} to log {text:?}", p.name()), T, || {
        let tail = p.log_tail(5);
        ensure!(tail.contains(text), "log: {tail:?}");
        Ok(())
    })
}
