//! podroute's kernel routes, next to an FRR top-of-rack: what BGP chose is in the kernel with
//! podroute's protocol number, straight to the directly connected next hop; `show routes` and
//! `show fib` agree with `ip route`; a route deleted by hand comes back; another protocol's
//! route is never touched; restarts (TERM and KILL) keep the routes in place; `--cleanup`
//! removes exactly ours.
//!
//! ```text
//!   podroute (pr) ---- 192.0.2.0/30 + 2001:db8:0:12::/64 ---- FRR (tor)
//!   AS 4200000001, pod CIDRs 10.244.1.0/24,                    AS 4200000002
//!   fd00:10:244:1::/64                                         10.244.2.0/24, fd00:10:244:2::/64,
//!                                                              10.244.7.0/24 (podroute's import
//!                                                              policy sets next hop 203.0.113.9)
//! ```

mod common;

use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use common::*;
use interop::{BgpConfig, Daemon, Frr, Lab, Neighbor, Node, Origin, Podroute, PodrouteExtras};

/// podroute's routes in the node's kernel, as `ip route` prints them.
fn kernel_routes(node: &Node, v6: bool) -> Result<String> {
    let family = if v6 { "-6" } else { "-4" };
    node.ip(&[family, "route", "show", "proto", "44"])
}

/// [`interop::wait_until`] for a condition that is simply true or not yet.
fn wait_for(what: &str, timeout: Duration, mut ok: impl FnMut() -> Result<bool>) -> Result<()> {
    interop::wait_until(
        what,
        timeout,
        || {
            if ok()? { Ok(()) } else { bail!("not yet") }
        },
    )
}

/// The FIB state `show routes PREFIX -o json` gives for `prefix`.
fn fib_state(pr: &Podroute, prefix: &str) -> Result<(String, String)> {
    let v = pr.show(&["routes", prefix])?;
    let r = &v["routes"][0];
    Ok((
        r["fib"].as_str().unwrap_or("-").to_string(),
        r["fib_reason"].as_str().unwrap_or("").to_string(),
    ))
}

#[test]
fn best_paths_become_kernel_routes_that_survive_restarts_and_are_restored() -> Result<()> {
    let lab = Lab::new("fibfrr")?;
    let (n_pr, n_tor) = (lab.node("pr")?, lab.node("tor")?);
    let link = lab.link(&n_pr, "192.0.2.1/30", &n_tor, "192.0.2.2/30")?;
    link.add_addrs("2001:db8:0:12::1/64", "2001:db8:0:12::2/64")?;
    let (tor4, tor6) = (ip("192.0.2.2"), ip("2001:db8:0:12::2"));
    // Our own policies (the harness's accept-all ones are left out): the import policy moves
    // one route's next hop to an address on no link of ours.
    let mut extras = PodrouteExtras {
        raw: "pod_cidrs: [10.244.1.0/24, \"fd00:10:244:1::/64\"]\n\
              policies:\n  from-tor:\n    default: accept\n    rules:\n      \
              - match: { prefix: [10.244.7.0/24] }\n        set: { next_hop: 203.0.113.9 }\n        \
              action: accept\n  to-tor:\n    default: accept\n"
            .into(),
        ..PodrouteExtras::default()
    };
    for peer in [tor4, tor6] {
        extras.without_policy.insert(peer);
        extras.peer_settings.insert(
            peer,
            vec!["import: [from-tor]".into(), "export: [to-tor]".into()],
        );
    }
    let mut pr = Podroute::start_with(
        &n_pr,
        BgpConfig::new(AS_PR, "192.0.2.1".parse()?)
            .neighbor(
                Neighbor::new(tor4, AS_PEER)
                    .name("tor")
                    .graceful_restart(120),
            )
            .neighbor(
                Neighbor::new(tor6, AS_PEER)
                    .name("tor6")
                    .graceful_restart(120),
            ),
        extras,
    )?;
    let tor = Frr::start(
        &n_tor,
        BgpConfig::new(AS_PEER, "192.0.2.2".parse()?)
            .neighbor(
                Neighbor::new(ip("192.0.2.1"), AS_PR)
                    .name("pr")
                    .graceful_restart(120),
            )
            .neighbor(
                Neighbor::new(ip("2001:db8:0:12::1"), AS_PR)
                    .name("pr6")
                    .graceful_restart(120),
            )
            .originate(Origin::new(p_peer()))
            .originate(Origin::new(p_peer6()))
            .originate(Origin::new(interop::prefix("10.244.7.0/24"))),
    )?;

    // Learned routes in the kernel, with our protocol, straight to the ToR: no tunnel device.
    wait_for("the ToR's routes in podroute's kernel", T, || {
        let v4 = kernel_routes(&n_pr, false)?;
        let v6 = kernel_routes(&n_pr, true)?;
        Ok(v4.contains("10.244.2.0/24 via 192.0.2.2 dev ")
            && v6.contains("fd00:10:244:2::/64 via 2001:db8:0:12::2 dev "))
    })?;
    let v4 = kernel_routes(&n_pr, false)?;
    ensure!(
        v4.contains("unreachable 10.244.1.0/24"),
        "our own pod block must be unreachable, not follow a default route:\n{v4}"
    );
    ensure!(
        kernel_routes(&n_pr, true)?.contains("unreachable fd00:10:244:1::/64"),
        "IPv6 pod block"
    );
    let dev = n_pr.ip(&["-o", "link", "show"])?;
    ensure!(
        !dev.contains("ipip") && !dev.contains("vxlan") && !dev.contains("gre"),
        "no tunnel device: {dev}"
    );
    // `show routes` agrees with the kernel.
    ensure!(fib_state(&pr, "10.244.2.0/24")?.0 == "installed");
    ensure!(fib_state(&pr, "fd00:10:244:2::/64")?.0 == "installed");

    // A next hop on no connected subnet (set by our import policy): kept out of the kernel,
    // and `show` says why.
    wait_for("the third-party route in podroute's RIB", T, || {
        Ok(!pr.paths(interop::prefix("10.244.7.0/24"))?.is_empty())
    })?;
    wait_for("the FIB's verdict on 10.244.7.0/24", T, || {
        Ok(fib_state(&pr, "10.244.7.0/24")?.0 == "not-installed")
    })?;
    let (_, why) = fib_state(&pr, "10.244.7.0/24")?;
    ensure!(
        why.contains("203.0.113.9") && why.contains("directly connected"),
        "{why}"
    );
    ensure!(!kernel_routes(&n_pr, false)?.contains("10.244.7.0/24"));
    let fib = pr.show(&["fib"])?;
    ensure!(fib["protocol"] == 44 && fib["synced"] == true, "{fib:#}");

    // The metrics endpoint (default 127.0.0.1:9180, inside the node's namespace): ready, and
    // counting what the kernel holds.
    let get = |path: &str| http_get(&n_pr, path);
    let ready = get("/readyz")?;
    ensure!(
        ready.starts_with("HTTP/1.0 200") || ready.starts_with("HTTP/1.1 200"),
        "{ready}"
    );
    let metrics = get("/metrics")?;
    ensure!(
        metrics.contains("podroute_fib_routes_installed")
            && metrics.contains("podroute_bgp_peer_state"),
        "{metrics}"
    );

    // Another protocol's route survives everything below.
    n_pr.ip(&[
        "route",
        "add",
        "198.51.100.0/24",
        "via",
        "192.0.2.2",
        "proto",
        "static",
    ])?;

    // A route of ours deleted by hand is back within a second.
    n_pr.ip(&["route", "del", "10.244.2.0/24", "proto", "44"])?;
    let deleted = Instant::now();
    wait_for(
        "podroute to restore the deleted route",
        Duration::from_secs(1),
        || Ok(kernel_routes(&n_pr, false)?.contains("10.244.2.0/24 via 192.0.2.2")),
    )?;
    eprintln!("restored after {:?}", deleted.elapsed());
    // And one changed by hand is put back as it was.
    n_pr.ip(&[
        "route",
        "replace",
        "10.244.2.0/24",
        "dev",
        "lo",
        "proto",
        "44",
    ])?;
    wait_for(
        "podroute to restore the changed route",
        Duration::from_secs(1),
        || Ok(kernel_routes(&n_pr, false)?.contains("10.244.2.0/24 via 192.0.2.2")),
    )?;

    // Restarts: the kernel routes never leave, with TERM (graceful) or KILL (a crash).
    for kill in [false, true] {
        let before = kernel_routes(&n_pr, false)?;
        if kill {
            pr.kill()?;
        } else {
            pr.stop()?;
        }
        ensure!(
            kernel_routes(&n_pr, false)? == before,
            "routes changed while podroute was down"
        );
        pr.start_again()?;
        // While podroute restarts and relearns, the route stays, unchanged.
        let until = Instant::now() + Duration::from_secs(3);
        while Instant::now() < until {
            let now = kernel_routes(&n_pr, false)?;
            ensure!(
                now.contains("10.244.2.0/24 via 192.0.2.2"),
                "the route left the kernel during the restart (kill: {kill}):\n{now}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        pr.wait_established(tor4, T)?;
        wait_for("the FIB to reconcile after the restart", T, || {
            Ok(pr.show(&["fib"])?["synced"] == true)
        })?;
        ensure!(kernel_routes(&n_pr, false)?.contains("10.244.2.0/24 via 192.0.2.2"));
        ensure!(
            pr.full_log()
                .contains("routes of ours from the previous run are in the kernel"),
            "the start after {} should have found the kept routes",
            if kill { "KILL" } else { "TERM" }
        );
    }

    // The ToR withdraws: the route leaves the kernel.
    let mut tor = tor;
    tor.withdraw(p_peer())?;
    wait_for("the withdrawn route to leave the kernel", T, || {
        Ok(!kernel_routes(&n_pr, false)?.contains("10.244.2.0/24"))
    })?;

    // `--cleanup` removes ours, and only ours.
    pr.stop()?;
    let out = n_pr.exec(&[
        interop::podroute::binary()?.as_os_str(),
        "agent".as_ref(),
        "--config".as_ref(),
        pr.config_path().as_os_str(),
        "--cleanup".as_ref(),
    ])?;
    ensure!(out.contains("removed"), "{out}");
    ensure!(kernel_routes(&n_pr, false)?.trim().is_empty());
    ensure!(kernel_routes(&n_pr, true)?.trim().is_empty());
    ensure!(
        n_pr.ip(&["route", "show", "proto", "static"])?
            .contains("198.51.100.0/24 via 192.0.2.2"),
        "the static route must survive"
    );
    Ok(())
}

/// GET `path` from podroute's metrics endpoint inside `node`'s namespace.
fn http_get(node: &Node, path: &str) -> Result<String> {
    node.exec(&[
        "bash",
        "-c",
        &format!(
            "exec 3<>/dev/tcp/127.0.0.1/9180 && printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3"
        ),
    ])
}

#[test]
fn an_agent_with_nothing_to_install_becomes_ready() -> Result<()> {
    // Found by hand: with no route to write, the first reconcile was never recorded and
    // /readyz stayed 503 forever.
    let lab = Lab::new("fibempty")?;
    let n = lab.node("pr")?;
    n.add_loopback("192.0.2.10/32")?;
    let _pr = Podroute::start(&n, BgpConfig::new(AS_PR, "192.0.2.10".parse()?))?;
    wait_for("/readyz to answer 200", Duration::from_secs(10), || {
        Ok(http_get(&n, "/readyz").is_ok_and(|r| r.contains(" 200 ")))
    })
}
