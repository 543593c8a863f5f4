//! `podroute-lab`: brings a containerlab topology up as network namespaces on this host
//! (no Docker), waits until it has converged, shows podroute's view and a pod-to-pod ping,
//! and tears it down (or leaves it up with `--keep`).
//!
//! ```text
//! podroute-lab up [TOPOLOGY.clab.yml] [--keep] [--timeout SECS]
//! podroute-lab down [NAME | TOPOLOGY.clab.yml]
//! podroute-lab list
//! ```
//!
//! A lab's namespaces are `pl-<name>-<node>`; its files (configurations, sockets, logs) and
//! its record (`lab.json`: namespaces and the PIDs it started) are in
//! `/run/podroute-lab/<name>/`. `down` stops only the recorded processes (same PID and start
//! time), then deletes the namespaces and the directory.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use interop::clab::{Deployed, KeptLab, NodeRole, Topology};
use interop::{Lab, require_root, wait_until};

const STATE_ROOT: &str = "/run/podroute-lab";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

const USAGE: &str = "\
podroute-lab: podroute's containerlab topologies as network namespaces on this host (root)

usage:
  podroute-lab up [TOPOLOGY.clab.yml] [--keep] [--timeout SECS]
      deploy (default: interop/topologies/two-racks.clab.yml), wait until every BGP
      session is up and every node has the others' pod CIDRs, show podroute's neighbors
      and routes on one node and a ping between two pods; then tear down, unless --keep
  podroute-lab down [NAME | TOPOLOGY.clab.yml]
      tear down a lab left up with --keep (or by an interrupted run)
  podroute-lab list
      the labs that are up
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("up") => up(&args[1..]),
        Some("down") => down(&args[1..]),
        Some("list") => list(),
        Some("help" | "-h" | "--help") => {
            print!("{USAGE}");
            Ok(true)
        }
        Some(other) => Err(anyhow!("unknown command {other:?}\n\n{USAGE}")),
        None => Err(anyhow!("{USAGE}")),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("podroute-lab: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn default_topology() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/two-racks.clab.yml")
}

fn state_dir(name: &str) -> PathBuf {
    Path::new(STATE_ROOT).join(name)
}

fn record_path(name: &str) -> PathBuf {
    state_dir(name).join("lab.json")
}

/// Namespace prefix of a lab.
fn tag(name: &str) -> String {
    format!("pl-{name}")
}

/// What is left of a lab named `name`: its record, or (for a run interrupted before it
/// wrote one) its directory and namespaces.
fn leftover(name: &str) -> Result<Option<KeptLab>> {
    let record = record_path(name);
    if record.exists() {
        return KeptLab::load(&record).map(Some);
    }
    let namespaces: Vec<String> = interop::lab::list_namespaces()?
        .into_iter()
        .filter(|ns| ns.starts_with(&format!("{}-", tag(name))))
        .collect();
    if namespaces.is_empty() && !state_dir(name).exists() {
        return Ok(None);
    }
    Ok(Some(KeptLab {
        topology: name.to_string(),
        file: PathBuf::new(),
        tag: tag(name),
        dir: state_dir(name),
        namespaces,
        processes: Vec::new(),
    }))
}

fn up(args: &[String]) -> Result<bool> {
    let mut file = None;
    let mut keep = false;
    let mut timeout = DEFAULT_TIMEOUT;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--keep" => keep = true,
            "--timeout" => {
                let v = it
                    .next()
                    .ok_or_else(|| anyhow!("--timeout needs seconds"))?;
                timeout = Duration::from_secs(v.parse().with_context(|| format!("--timeout {v}"))?);
            }
            s if s.starts_with('-') => bail!("unknown option {s}\n\n{USAGE}"),
            s if file.is_none() => file = Some(PathBuf::from(s)),
            s => bail!("one topology at a time ({s}?)"),
        }
    }
    let file = file.unwrap_or_else(default_topology);
    require_root()?;
    let topology = Topology::load(&file)?;
    let name = topology.name.clone();
    println!(
        "topology {name} ({}): {} nodes, {} links",
        file.display(),
        topology.nodes.len(),
        topology.links.len()
    );
    if let Some(old) = leftover(&name)? {
        let running = old.running();
        ensure!(
            running.is_empty(),
            "lab {name} is up already ({} processes running): `podroute-lab down {name}` first",
            running.len()
        );
        println!("removing what an earlier, interrupted run of {name} left behind");
        old.teardown()?;
    }

    let t0 = Instant::now();
    println!("deploying as network namespaces:");
    let lab = Lab::with_tag(&tag(&name), &state_dir(&name))?;
    let deployed = topology.deploy_in(lab, |msg| println!("  {msg}"))?;
    deployed.record(&record_path(&name))?;
    println!("deployed in {:.1?}", t0.elapsed());

    println!(
        "waiting for BGP sessions and pod CIDR routes (at most {}s):",
        timeout.as_secs()
    );
    let converged = deployed.wait_converged_with(timeout, |c, at| {
        println!("  [{:5.1}s] {}", at.as_secs_f64(), c.summary());
    });
    let mut ok = match converged {
        Ok(_) => {
            println!("converged");
            true
        }
        Err(e) => {
            println!("NOT converged: {e:#}");
            false
        }
    };
    if ok {
        ok = show(&deployed)?;
    }
    if keep {
        explore(&deployed)?;
        deployed.keep();
    } else {
        print!("tearing down ... ");
        drop(deployed);
        println!("done");
    }
    Ok(ok)
}

/// podroute's neighbors and routes on the first podroute node, and a ping between the
/// first and the last pod.
fn show(d: &Deployed) -> Result<bool> {
    if let Some(node) = d.podroute_nodes().first() {
        let p = d.podroute(node)?;
        for what in ["neighbors", "routes"] {
            println!("\n== {node}: podroute show {what}");
            print!("{}", p.show_text(&[what])?);
        }
    }
    let pods = d.pods();
    let (Some(from), Some(to)) = (pods.first(), pods.last()) else {
        return Ok(true);
    };
    if from == to {
        return Ok(true);
    }
    let mut ok = true;
    for addr in d.addresses(to)? {
        println!(
            "\n== ping from {from} ({}) to {to} ({addr}), {} -> {}",
            join(&d.addresses(from)?),
            host_of(d, from),
            host_of(d, to)
        );
        // The kernel routes follow the RIB; give them a moment.
        let result = wait_until("a reply", Duration::from_secs(10), || {
            let s = d.ping(from, addr, 1)?;
            ensure!(s.no_loss(), "{s}");
            Ok(())
        })
        .and_then(|()| d.ping(from, addr, 20));
        match result {
            Ok(s) if s.no_loss() => println!("  {s}"),
            Ok(s) => {
                println!("  FAILED: {s}");
                ok = false;
            }
            Err(e) => {
                println!("  FAILED: {e:#}");
                ok = false;
            }
        }
    }
    Ok(ok)
}

/// The node a pod hangs off (the other end of its first link).
fn host_of(d: &Deployed, pod: &str) -> String {
    d.topology()
        .links
        .iter()
        .find_map(|l| {
            if l.a.node == pod {
                Some(l.b.node.clone())
            } else if l.b.node == pod {
                Some(l.a.node.clone())
            } else {
                None
            }
        })
        .unwrap_or_else(|| "?".to_string())
}

fn join(addrs: &[IpAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// How to look around a lab that stays up, and how to remove it.
fn explore(d: &Deployed) -> Result<()> {
    let name = &d.topology().name;
    let me = std::env::current_exe()?;
    let podroute = interop::podroute::binary()?;
    println!("\nThe lab stays up. Look around (as root):");
    if let Some(node) = d.podroute_nodes().first() {
        let p = d.podroute(node)?;
        println!(
            "  {} show neighbors --socket {}",
            podroute.display(),
            p.socket().display()
        );
        println!(
            "  ip netns exec {} ip route            # the kernel routes podroute installed",
            d.node(node)?.netns()
        );
    }
    for tor in d.topology().nodes_with(NodeRole::Frr) {
        println!(
            "  vtysh --vty_socket {} -c 'show bgp summary'",
            d.frr(tor)?.run_dir().display()
        );
    }
    for tor in d.topology().nodes_with(NodeRole::Bird) {
        println!(
            "  birdc -s {} show protocols",
            d.bird(tor)?.ctl_socket().display()
        );
    }
    let pods = d.pods();
    if let (Some(from), Some(to)) = (pods.first(), pods.last())
        && let Some(addr) = d.addresses(to)?.first()
    {
        println!("  ip netns exec {} ping {addr}", d.node(from)?.netns());
    }
    println!(
        "  ip netns list | grep {}-          # one namespace per node",
        tag(name)
    );
    println!(
        "  ls {}/<node>/                 # configurations and logs",
        d.lab().dir().display()
    );
    println!("Tear it down:\n  {} down {name}", me.display());
    Ok(())
}

fn down(args: &[String]) -> Result<bool> {
    require_root()?;
    let name = match args {
        [] => {
            let up = labs()?;
            match up.as_slice() {
                [one] => one.clone(),
                [] => bail!("no lab is up (nothing in {STATE_ROOT})"),
                many => bail!("several labs are up ({}): name one", many.join(", ")),
            }
        }
        [a] if a.ends_with(".yml") || a.ends_with(".yaml") => Topology::load(a)?.name,
        [a] => a.clone(),
        _ => bail!("down takes one lab name\n\n{USAGE}"),
    };
    match leftover(&name)? {
        None => bail!("no lab {name} (nothing in {})", state_dir(&name).display()),
        Some(kept) => {
            print!("tearing down {name} ... ");
            kept.teardown()?;
            println!("done");
        }
    }
    Ok(true)
}

/// The names of the labs with a directory under [`STATE_ROOT`].
fn labs() -> Result<Vec<String>> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir(STATE_ROOT) else {
        return Ok(out);
    };
    for e in dir {
        let e = e?;
        if e.file_type()?.is_dir() {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

fn list() -> Result<bool> {
    let names = labs()?;
    if names.is_empty() {
        println!("no lab is up");
    }
    for name in names {
        match KeptLab::load(&record_path(&name)) {
            Ok(k) => println!(
                "{name}: {} namespaces, {}/{} processes running, {} ({})",
                k.namespaces.len(),
                k.running().len(),
                k.processes.len(),
                k.dir.display(),
                k.file.display()
            ),
            Err(_) => println!(
                "{name}: no record (an interrupted run?): `podroute-lab down {name}` cleans up"
            ),
        }
    }
    Ok(true)
}
