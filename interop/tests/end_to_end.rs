//! podroute doing its job on the topologies in `interop/topologies/` (realised as network
//! namespaces, see `interop::clab`): kernel routes straight to the peer with no tunnel,
//! `show routes` agreeing with the kernel, a removed node leaving every FIB within the hold
//! time, and restarts of an agent under pod-to-pod traffic losing nothing.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use interop::{Daemon, Deployed, PingStats, Topology};
use serde_json::Value;

const T: Duration = Duration::from_secs(60);
/// The hold time every node of the topologies is configured with.
const HOLD_TIME: Duration = Duration::from_secs(9);
/// podroute's protocol number in the topologies' node configs (the default).
const PROTO: &str = "44";

fn deploy(name: &str, lab: &str) -> Result<Deployed> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("topologies")
        .join(format!("{name}.clab.yml"));
    let d = Topology::load(&path)?.deploy(lab)?;
    d.wait_converged(T)?;
    Ok(d)
}

/// podroute's kernel routes on a node: prefix -> (gateways, devices), or the route type
/// (`unreachable`) for routes without a gateway.
fn kernel_routes(d: &Deployed, node: &str) -> Result<Vec<(String, Value)>> {
    let mut out = Vec::new();
    for family in ["-4", "-6"] {
        let text = d
            .node(node)?
            .ip(&["-j", family, "route", "show", "proto", PROTO])?;
        let v: Value = serde_json::from_str(text.trim()).context("ip -j route")?;
        for r in v.as_array().into_iter().flatten() {
            out.push((r["dst"].as_str().unwrap_or("?").to_string(), r.clone()));
        }
    }
    Ok(out)
}

fn has_route(d: &Deployed, node: &str, prefix: &str) -> Result<bool> {
    Ok(kernel_routes(d, node)?.iter().any(|(p, _)| p == prefix))
}

/// Pings from `pod` at 100 per second while `during` runs, and returns ping's statistics.
fn ping_during(
    d: &mut Deployed,
    pod: &str,
    to: IpAddr,
    count: u32,
    during: impl FnOnce(&mut Deployed) -> Result<()>,
) -> Result<PingStats> {
    let node = d.node(pod)?.clone();
    let pinger = std::thread::spawn(move || interop::clab::ping(&node, to, count));
    // Let traffic flow before the restart starts.
    std::thread::sleep(Duration::from_secs(1));
    let r = during(d);
    let stats = pinger
        .join()
        .map_err(|_| anyhow::anyhow!("the ping thread panicked"))??;
    r?;
    Ok(stats)
}

/// The first address of a pod in `family`.
fn pod_addr(d: &Deployed, pod: &str, v6: bool) -> Result<IpAddr> {
    d.addresses(pod)?
        .into_iter()
        .find(|a| a.is_ipv6() == v6)
        .with_context(|| format!("{pod} has no {} address", if v6 { "IPv6" } else { "IPv4" }))
}

#[test]
fn kernel_routes_go_straight_to_the_peer_and_agree_with_show_routes() -> Result<()> {
    for (topology, lab) in [
        ("two-racks", "e2eroutes"),
        ("one-rack-dualstack", "e2eroutes6"),
    ] {
        let d = deploy(topology, lab)?;
        for node in d.podroute_nodes() {
            let links = d.node(node)?.ip(&["-d", "-o", "link", "show"])?;
            for tunnel in [
                "ipip",
                "vxlan",
                "gre",
                "geneve",
                "wireguard",
                "sit",
                "ip6tnl",
            ] {
                ensure!(
                    !links.contains(&format!(" {tunnel} ")),
                    "{node} has a {tunnel} device:\n{links}"
                );
            }
            let kernel = kernel_routes(&d, node)?;
            // Every learned route goes via a neighbor's address on a link of the node.
            let neighbors: BTreeSet<String> = d.podroute(node)?.show(&["neighbors"])?["neighbors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|n| n["address"].as_str().map(str::to_string))
                .collect();
            for (prefix, r) in &kernel {
                match r["type"].as_str() {
                    Some("unreachable") => ensure!(
                        d.pod_cidrs(node)?.iter().any(|p| p.to_string() == *prefix),
                        "{node}: unreachable {prefix} is not its own pod CIDR"
                    ),
                    _ => {
                        let gw = r["gateway"].as_str().unwrap_or_default().to_string();
                        ensure!(
                            neighbors.contains(&gw),
                            "{node}: {prefix} via {gw:?}, not a neighbor's address ({neighbors:?}): {r}"
                        );
                        ensure!(
                            r["dev"].as_str().is_some_and(|dev| dev.starts_with("eth")),
                            "{node}: {prefix} not on a link device: {r}"
                        );
                    }
                }
            }
            // `show routes -o json` says installed for exactly what the kernel has.
            let shown = d.podroute(node)?.show(&["routes"])?;
            let installed: BTreeSet<String> = shown["routes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["fib"] == "installed")
                .filter_map(|r| r["prefix"].as_str().map(str::to_string))
                .collect();
            let in_kernel: BTreeSet<String> = kernel.iter().map(|(p, _)| p.clone()).collect();
            ensure!(
                installed == in_kernel,
                "{node}: show routes says installed {installed:?}, the kernel has {in_kernel:?}"
            );
            // Every other node's pod CIDRs are there.
            for other in d.podroute_nodes() {
                for p in d.pod_cidrs(other)? {
                    ensure!(
                        in_kernel.contains(&p.to_string()),
                        "{node} has no kernel route for {other}'s {p}"
                    );
                }
            }
        }
    }
    Ok(())
}

#[test]
fn a_removed_node_leaves_every_fib_within_the_hold_time() -> Result<()> {
    let d = deploy("two-racks", "e2eremove")?;
    let gone = "node-b2";
    let cidr = d.pod_cidrs(gone)?[0].to_string();
    let others = ["node-a1", "node-a2", "node-b1"];
    for n in others {
        ensure!(
            has_route(&d, n, &cidr)?,
            "{n} has no route to {cidr} to begin with"
        );
    }
    // The node is taken out: `podroute agent --cleanup` stops the agent for good (peers are
    // told, no graceful restart) and removes its kernel routes.
    let pr = d.podroute(gone)?;
    let binary = interop::podroute::binary()?;
    let config = pr.config_path();
    let began = Instant::now();
    let out = d.node(gone)?.exec(&[
        binary.as_os_str(),
        "agent".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--cleanup".as_ref(),
    ])?;
    ensure!(
        out.contains("stopping for good") && out.contains("removed"),
        "{out}"
    );
    loop {
        let mut left = Vec::new();
        for n in others {
            if has_route(&d, n, &cidr)? {
                left.push(n);
            }
        }
        if left.is_empty() {
            break;
        }
        if began.elapsed() > HOLD_TIME {
            bail!("{cidr} still in the FIB of {left:?} after the hold time ({HOLD_TIME:?})");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = began.elapsed();
    eprintln!("{gone}'s {cidr} left every other FIB in {took:?}");
    // Through BIRD (tor-b) and FRR (tor-a) as well.
    ensure!(d.frr("tor-a")?.paths(d.pod_cidrs(gone)?[0])?.is_empty());
    ensure!(
        kernel_routes(&d, gone)?.is_empty(),
        "--cleanup left routes on {gone}"
    );
    Ok(())
}

/// A continuous ping between pods on two nodes while the agent on one of them restarts, with
/// SIGTERM and then SIGKILL: the kernel routes stay (FIB kept, graceful restart on both
/// sides) and no packet is lost.
fn restart_under_traffic(
    topology: &str,
    lab: &str,
    (from, to): (&str, &str),
    node: &str,
    v6: bool,
) -> Result<()> {
    let mut d = deploy(topology, lab)?;
    let dst = pod_addr(&d, to, v6)?;
    // Traffic flows before anything happens.
    let warm = d.ping(from, dst, 20)?;
    ensure!(warm.no_loss(), "{from} -> {to} before the restart: {warm}");
    for kill in [false, true] {
        let how = if kill { "SIGKILL" } else { "SIGTERM" };
        let stats = ping_during(&mut d, from, dst, 1500, |d| {
            let pr = d.podroute_mut(node)?;
            if kill {
                pr.kill()?;
            } else {
                pr.stop()?;
            }
            std::thread::sleep(Duration::from_millis(500));
            pr.start_again()?;
            let began = Instant::now();
            while pr.show(&["fib"])?["synced"] != true {
                ensure!(began.elapsed() < T, "{node} never finished its restart");
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(())
        })?;
        eprintln!(
            "{topology}: {from} -> {to} ({dst}) at 100/s while {node} restarted ({how}): {stats}"
        );
        ensure!(
            stats.no_loss(),
            "{topology}: packets lost while {node} restarted ({how}): {stats}\n{}",
            stats.output
        );
        ensure!(
            d.podroute(node)?
                .full_log()
                .contains("routes of ours from the previous run are in the kernel"),
            "the restart after {how} should have kept the kernel routes"
        );
    }
    Ok(())
}

#[test]
fn an_agent_restart_in_a_node_mesh_loses_no_packet() -> Result<()> {
    restart_under_traffic("mesh", "e2emesh", ("pod-1", "pod-2"), "node-2", false)
}

#[test]
fn an_agent_restart_behind_frr_and_bird_loses_no_packet() -> Result<()> {
    // pod-a1 -> node-a1 -> tor-a (FRR) -> tor-b (BIRD) -> node-b1 -> pod-b1, while node-a1's
    // agent restarts: FRR is the graceful-restart helper.
    restart_under_traffic(
        "two-racks",
        "e2etwo",
        ("pod-a1", "pod-b1"),
        "node-a1",
        false,
    )
}

#[test]
fn an_agent_restart_loses_no_ipv6_packet_either() -> Result<()> {
    // pod-a1 -> node-a1 -> tor-a (FRR) -> node-a2 -> pod-a2 over IPv6, node-a2 restarting.
    restart_under_traffic(
        "one-rack-dualstack",
        "e2edual",
        ("pod-a1", "pod-a2"),
        "node-a2",
        true,
    )
}
