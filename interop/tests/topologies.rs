//! The containerlab topologies in `interop/topologies/`, realised as network namespaces
//! (`interop::clab`): each one parses, deploys, and converges (every BGP session
//! Established as each daemon's own CLI shows it, every podroute node with the other nodes'
//! pod CIDRs, the ToRs with all of them); then its pods ping each other across the fabric
//! (`*_pods_reach_each_other`, which needs podroute's kernel FIB).
//!
//! ```text
//!   one-rack            3 podroute nodes --eBGP-- FRR ToR
//!   one-rack-dualstack  the same, with an IPv6 session per node and IPv6 pods
//!   two-racks           2 nodes -- FRR ToR --eBGP-- BIRD ToR -- 2 nodes
//!   mesh                3 nodes on a bridge, iBGP full mesh
//! ```

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use interop::{Daemon, Deployed, NodeRole, Topology, wait_until};

/// Generous: the first sessions wait for connect retries (podroute 2 s, FRR and BIRD 5 s).
const T: Duration = Duration::from_secs(90);
/// How long pods get to reach each other once the control plane has converged (the FIB
/// follows the RIB).
const PING_WAIT: Duration = Duration::from_secs(30);

/// The topologies, with the number of BGP sessions (counted from both sides) each has.
const TOPOLOGIES: [(&str, usize); 4] = [
    ("one-rack", 6),
    ("one-rack-dualstack", 12),
    ("two-racks", 10),
    ("mesh", 6),
];

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("topologies")
        .join(format!("{name}.clab.yml"))
}

fn load(name: &str) -> Result<Topology> {
    Topology::load(path(name))
}

/// Deploys a topology and waits until it has converged; checks the session count and that
/// every ToR (FRR, BIRD) has every pod CIDR, through `vtysh` / `birdc`.
fn deploy_converged(name: &str, lab: &str) -> Result<Deployed> {
    let sessions = TOPOLOGIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .expect("a known topology");
    let d = load(name)?.deploy(lab)?;
    let c = d.wait_converged(T)?;
    ensure!(
        c.sessions.len() == sessions,
        "{name}: expected {sessions} sessions (both sides), found {}:\n{}",
        c.sessions.len(),
        c.sessions
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    let all_cidrs: Vec<_> = d
        .podroute_nodes()
        .iter()
        .map(|n| d.pod_cidrs(n).map(<[_]>::to_vec))
        .collect::<Result<Vec<_>>>()?
        .concat();
    for tor in d.topology().nodes_with(NodeRole::Frr) {
        for p in &all_cidrs {
            d.frr(tor)?.wait_route(*p, T, |r| r.best)?;
        }
    }
    for tor in d.topology().nodes_with(NodeRole::Bird) {
        for p in &all_cidrs {
            d.bird(tor)?.wait_route(*p, T, |r| r.best)?;
        }
    }
    Ok(d)
}

/// Every pod pings every address of every other pod, until all answer (within
/// [`PING_WAIT`]); the failure lists every pair that did not.
fn pods_reach_each_other(d: &Deployed) -> Result<()> {
    let pods = d.pods();
    ensure!(pods.len() >= 2, "fewer than two pods");
    let mut pairs: Vec<(&str, &str, IpAddr)> = Vec::new();
    for from in &pods {
        for to in &pods {
            if from == to {
                continue;
            }
            for addr in d.addresses(to)? {
                pairs.push((from, to, addr));
            }
        }
    }
    wait_until(
        &format!("pods of {} to reach each other", d.topology().name),
        PING_WAIT,
        || {
            let mut failed = Vec::new();
            for (from, to, addr) in &pairs {
                match d.ping(from, *addr, 3) {
                    Ok(s) if s.no_loss() => {}
                    Ok(s) => failed.push(format!("{from} -> {to} {addr}: {s}")),
                    Err(e) => failed.push(format!("{from} -> {to} {addr}: {e:#}")),
                }
            }
            ensure!(
                failed.is_empty(),
                "{} of {} pairs fail:\n{}",
                failed.len(),
                pairs.len(),
                failed.join("\n")
            );
            Ok(())
        },
    )
    .with_context(|| {
        // What the kernel of each podroute node routes, for the one reading the failure.
        d.podroute_nodes()
            .iter()
            .map(|n| {
                let routes = d
                    .node(n)
                    .and_then(|node| node.ip(&["route", "show"]))
                    .unwrap_or_else(|e| format!("{e:#}"));
                format!("{n}: ip route\n{routes}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    })
}

#[test]
fn every_topology_file_parses_and_has_a_test() -> Result<()> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("topologies");
    let mut found = Vec::new();
    for e in std::fs::read_dir(&dir)? {
        let p = e?.path();
        if let Some(name) = p
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".clab.yml"))
        {
            let t = Topology::load(&p)?;
            ensure!(t.name == name, "{}: name {} differs", p.display(), t.name);
            ensure!(
                !t.nodes_with(NodeRole::Podroute).is_empty()
                    && !t.nodes_with(NodeRole::Pod).is_empty(),
                "{name}: no podroute nodes or no pods"
            );
            found.push(name.to_string());
        }
    }
    found.sort();
    let mut known: Vec<String> = TOPOLOGIES.iter().map(|(n, _)| n.to_string()).collect();
    known.sort();
    ensure!(
        found == known,
        "topology files {found:?} and the tests' list {known:?} differ"
    );
    Ok(())
}

#[test]
fn one_rack_converges() -> Result<()> {
    deploy_converged("one-rack", "onerack").map(drop)
}

#[test]
fn one_rack_dualstack_converges() -> Result<()> {
    deploy_converged("one-rack-dualstack", "onerack6").map(drop)
}

#[test]
fn two_racks_converges() -> Result<()> {
    let d = deploy_converged("two-racks", "tworacks")?;
    // Cross-rack routes went through both ToRs: node-a1's path to node-b1's pods has tor-a,
    // tor-b and node-b1 in its AS path.
    let v = d.podroute("node-a1")?.show(&["routes", "10.244.3.0/24"])?;
    let as_path = v["routes"][0]["paths"][0]["as_path"]
        .as_str()
        .unwrap_or_default();
    ensure!(
        as_path == "4200000100 4200000200 4200000201",
        "node-a1's AS path to 10.244.3.0/24: {as_path:?} in {v}"
    );
    Ok(())
}

#[test]
fn mesh_converges() -> Result<()> {
    deploy_converged("mesh", "mesh").map(drop)
}

#[test]
fn one_rack_pods_reach_each_other() -> Result<()> {
    pods_reach_each_other(&deploy_converged("one-rack", "onerackp")?)
}

#[test]
fn one_rack_dualstack_pods_reach_each_other() -> Result<()> {
    pods_reach_each_other(&deploy_converged("one-rack-dualstack", "onerack6p")?)
}

#[test]
fn two_racks_pods_reach_each_other() -> Result<()> {
    pods_reach_each_other(&deploy_converged("two-racks", "tworacksp")?)
}

#[test]
fn mesh_pods_reach_each_other() -> Result<()> {
    pods_reach_each_other(&deploy_converged("mesh", "meshp")?)
}
