//! `podroute-bench cluster`: the real use at scale (issue 6 item 4). N podroute nodes in
//! their own namespaces on one bridge (192.0.2.K/24 on each node's `eth0`, a port `pK` of
//! bridge `br0` in namespace `br`), each with pod CIDR 10.244.K.0/24 (`pod_cidrs:`), all
//! iBGP in AS 64512:
//!
//! - **route reflectors**: nodes 1 and 2 reflect (each peers with the other explicitly and
//!   accepts every other node as a `dynamic_neighbors` route-reflector client from
//!   192.0.2.0/24); clients peer only with the two reflectors.
//! - **full mesh**: every node peers with every other node explicitly (and accepts a
//!   newcomer through `dynamic_neighbors`).
//!
//! Measured, with a FIB watcher per node (podroute's protocol, the other nodes' pod CIDRs):
//! from the first agent's spawn (and from the last agent's spawn) until every node's kernel
//! table holds every other node's pod CIDR; then one more node joins (configured with the
//! reflectors, or with every mesh node), and from its spawn until its pod CIDR is in every
//! FIB (and until its own FIB holds every other node's). Reflectors start first and are
//! waited for (their control sockets), then every client is spawned without waiting; mesh
//! nodes are all spawned without waiting. Keys not written are podroute's defaults
//! (`metrics: {listen: none}` aside).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, ensure};
use serde::Serialize;

use super::measure::{self, Summary};
use super::report::Machine;
use crate::bench::fib::{FibFilter, FibWatcher, ProtocolFilter, rtprot};
use crate::bench::prefixes::PrefixRange;
use crate::lab::{COMMAND_TIMEOUT, Lab, Node, NodeProcess};
use crate::process::{self, Signal};
use crate::types::Family;
use crate::wait::wait_until;

/// The options of `podroute-bench cluster`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterOptions {
    /// Nodes of the route-reflector cluster (0: skip it).
    pub rr_nodes: usize,
    /// Nodes of the full mesh (0: skip it).
    pub mesh_nodes: usize,
    /// Repetitions of each.
    pub reps: u32,
    /// Where cluster.json and cluster.md go.
    pub out: PathBuf,
    /// Longest wait for convergence, and for a join.
    pub limit: Duration,
}

impl ClusterOptions {
    /// 100 nodes with 2 reflectors, a mesh of 30, 3 repetitions.
    pub fn full() -> ClusterOptions {
        ClusterOptions {
            rr_nodes: 100,
            mesh_nodes: 30,
            reps: 3,
            out: PathBuf::from("target/bench"),
            limit: Duration::from_secs(180),
        }
    }

    /// 10 nodes with 2 reflectors, a mesh of 5, 1 repetition.
    pub fn quick() -> ClusterOptions {
        ClusterOptions {
            rr_nodes: 10,
            mesh_nodes: 5,
            reps: 1,
            limit: Duration::from_secs(60),
            ..ClusterOptions::full()
        }
    }
}

/// How the nodes peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Two route reflectors, every other node their client.
    Reflectors,
    /// Every node with every node.
    FullMesh,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Reflectors => "route reflectors (2)",
            Mode::FullMesh => "full mesh",
        }
    }
}

/// One cluster run.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterRun {
    /// The mode.
    pub mode: Mode,
    /// Nodes before the join.
    pub nodes: usize,
    /// Repetition (1-based).
    pub rep: u32,
    /// Completed.
    pub ok: bool,
    /// Measurements by key (see [`KEYS`]).
    pub metrics: BTreeMap<&'static str, f64>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The metrics, with their headings.
pub const KEYS: [(&str, &str); 6] = [
    (
        "converged_from_first_start_s",
        "every FIB complete, from the first start (s)",
    ),
    ("converged_from_last_start_s", "… from the last start (s)"),
    ("spawn_s", "spawning every agent took (s)"),
    ("join_s", "join → new route in every FIB (s)"),
    ("joiner_complete_s", "join → joiner's FIB complete (s)"),
    ("rss_per_node_mib", "mean RSS per node (MiB)"),
];

/// The results of `podroute-bench cluster`.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterReport {
    /// The command line.
    pub command: String,
    /// The machine.
    pub machine: Machine,
    /// podroute's version.
    pub podroute: String,
    /// The options.
    pub options: ClusterOptions,
    /// Every run.
    pub runs: Vec<ClusterRun>,
    /// Per mode, per key.
    pub summary: BTreeMap<String, BTreeMap<String, Summary>>,
}

impl ClusterReport {
    /// Markdown.
    pub fn markdown(&self) -> String {
        let mut m = String::new();
        let _ = writeln!(m, "# podroute cluster benchmark\n");
        let _ = writeln!(m, "Command: `{}`  ", self.command);
        let _ = writeln!(m, "Machine: {}  ", self.machine.summary());
        let _ = writeln!(m, "podroute: {}\n", self.podroute);
        let _ = writeln!(
            m,
            "Median (min–max) over {} repetitions.\n",
            self.options.reps
        );
        let _ = write!(m, "| cluster | nodes |");
        for (_, label) in KEYS {
            let _ = write!(m, " {label} |");
        }
        let _ = writeln!(m, " runs ok |");
        let _ = writeln!(m, "|---|---|{}---|", "---|".repeat(KEYS.len()));
        for mode in [Mode::Reflectors, Mode::FullMesh] {
            let runs: Vec<&ClusterRun> = self.runs.iter().filter(|r| r.mode == mode).collect();
            let Some(first) = runs.first() else { continue };
            let sum = self.summary.get(mode.name());
            let _ = write!(m, "| {} | {} |", mode.name(), first.nodes);
            for (key, _) in KEYS {
                let cell = match sum.and_then(|s| s.get(key)) {
                    Some(s) if s.n > 1 => format!("{:.3} ({:.3}–{:.3})", s.median, s.min, s.max),
                    Some(s) => format!("{:.3}", s.median),
                    None => "n/a".into(),
                };
                let _ = write!(m, " {cell} |");
            }
            let ok = runs.iter().filter(|r| r.ok).count();
            let _ = writeln!(m, " {ok}/{} |", runs.len());
        }
        for r in self.runs.iter().filter(|r| !r.ok) {
            let e = r.error.as_deref().unwrap_or_default();
            let _ = writeln!(
                m,
                "\n- {} rep {} failed: {}",
                r.mode.name(),
                r.rep,
                e.lines().take(3).collect::<Vec<_>>().join(" / ")
            );
        }
        m
    }

    fn finish(&mut self) {
        self.summary.clear();
        for mode in [Mode::Reflectors, Mode::FullMesh] {
            let mut per = BTreeMap::new();
            for (key, _) in KEYS {
                let v: Vec<f64> = self
                    .runs
                    .iter()
                    .filter(|r| r.mode == mode && r.ok)
                    .filter_map(|r| r.metrics.get(key).copied())
                    .collect();
                if let Some(s) = Summary::of(&v) {
                    per.insert(key.to_string(), s);
                }
            }
            if !per.is_empty() {
                self.summary.insert(mode.name().to_string(), per);
            }
        }
    }

    fn write(&self, o: &ClusterOptions) -> Result<()> {
        fs::create_dir_all(&o.out)?;
        fs::write(
            o.out.join("cluster.json"),
            serde_json::to_string_pretty(self)?,
        )?;
        fs::write(o.out.join("cluster.md"), self.markdown())?;
        Ok(())
    }
}

/// Runs the cluster benchmark.
pub fn run(o: &ClusterOptions, command: &str) -> Result<ClusterReport> {
    crate::lab::require_root()?;
    ensure!(
        o.rr_nodes <= 250 && o.mesh_nodes <= 250,
        "at most 250 nodes (one /24, and a newcomer)"
    );
    ensure!(
        o.rr_nodes == 0 || o.rr_nodes >= 3,
        "the reflector cluster needs at least 3 nodes"
    );
    ensure!(
        o.mesh_nodes == 0 || o.mesh_nodes >= 2,
        "the mesh needs at least 2 nodes"
    );
    let mut report = ClusterReport {
        command: command.to_string(),
        machine: Machine::read(),
        podroute: super::targets::version(super::targets::TargetKind::Podroute),
        options: o.clone(),
        runs: Vec::new(),
        summary: BTreeMap::new(),
    };
    eprintln!("bench: {}", report.machine.summary());
    for rep in 1..=o.reps {
        for (mode, n) in [
            (Mode::Reflectors, o.rr_nodes),
            (Mode::FullMesh, o.mesh_nodes),
        ] {
            if n == 0 {
                continue;
            }
            let mut r = ClusterRun {
                mode,
                nodes: n,
                rep,
                ok: false,
                metrics: BTreeMap::new(),
                error: None,
            };
            eprintln!(
                "bench: cluster {} of {n}, rep {rep}/{}",
                mode.name(),
                o.reps
            );
            match one(mode, n, o.limit, &mut r.metrics) {
                Ok(()) => r.ok = true,
                Err(e) => r.error = Some(format!("{e:#}")),
            }
            eprintln!("  {:?} {:?}", r.metrics, r.error);
            report.runs.push(r);
            measure::wait_idle(Duration::from_secs(30), 0.10);
            report.finish();
            report.write(o)?;
        }
    }
    report.finish();
    report.write(o)?;
    Ok(report)
}

fn node_addr(k: usize) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, k as u8)
}

/// Every pod CIDR but node `k`'s, for nodes 1..=total.
fn others(k: usize, total: usize) -> Result<Vec<PrefixRange>> {
    let mut v = Vec::new();
    let range = |from: usize, to: usize| -> Result<Option<PrefixRange>> {
        if to < from {
            return Ok(None);
        }
        Ok(Some(PrefixRange::new(
            Ipv4Addr::new(10, 244, from as u8, 0).into(),
            24,
            (to - from + 1) as u64,
        )?))
    };
    v.extend(range(1, k - 1)?);
    v.extend(range(k + 1, total)?);
    Ok(v)
}

/// A node's podroute configuration.
fn config(k: usize, mode: Mode, n: usize, joiner: bool, dir: &std::path::Path) -> String {
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# podroute-bench cluster node: keys not written are podroute's defaults"
    );
    let _ = writeln!(y, "node: n{k}");
    let _ = writeln!(y, "asn: 64512");
    let _ = writeln!(y, "router_id: {}", node_addr(k));
    let _ = writeln!(y, "pod_cidrs: [10.244.{k}.0/24]");
    let _ = writeln!(y, "control_socket: {}", dir.join("podroute.sock").display());
    let _ = writeln!(y, "state_dir: {}", dir.join("state").display());
    let _ = writeln!(y, "metrics: {{ listen: none }}");
    let peers: Vec<(usize, &str)> = match mode {
        Mode::Reflectors if k <= 2 => vec![(3 - k, "reflector")],
        Mode::Reflectors => vec![(1, "reflector"), (2, "reflector")],
        Mode::FullMesh => (1..=n).filter(|&j| j != k).map(|j| (j, "mesh")).collect(),
    };
    let _ = writeln!(y, "peers:");
    for (j, kind) in peers {
        let _ = writeln!(
            y,
            "  - {{ address: {}, remote_as: internal, kind: {kind} }}",
            node_addr(j)
        );
    }
    let accepts = match mode {
        Mode::Reflectors => k <= 2,
        Mode::FullMesh => !joiner,
    };
    if accepts {
        let client = mode == Mode::Reflectors;
        let _ = writeln!(y, "dynamic_neighbors:");
        let _ = writeln!(y, "  - range: 192.0.2.0/24");
        let _ = writeln!(
            y,
            "    template: {{ remote_as: internal, route_reflector_client: {client}, kind: {} }}",
            if client { "reflector-client" } else { "mesh" }
        );
    }
    y
}

/// One cluster: build, start, converge, join, tear down.
fn one(mode: Mode, n: usize, limit: Duration, out: &mut BTreeMap<&'static str, f64>) -> Result<()> {
    let bin = crate::podroute::binary()?;
    let lab = Lab::new("cluster")?;
    let br = lab.node("br")?;
    br.ip(&["link", "add", "br0", "type", "bridge"])?;
    br.ip(&["link", "set", "br0", "up"])?;
    let total = n + 1;
    let mut nodes: Vec<Node> = Vec::with_capacity(total);
    for k in 1..=total {
        let node = lab.node(&format!("n{k}"))?;
        let port = format!("p{k}");
        lab.veth(&node, "eth0", &br, &port)?;
        br.ip(&["link", "set", &port, "master", "br0"])?;
        node.add_addr("eth0", &format!("{}/24", node_addr(k)))?;
        nodes.push(node);
    }
    let mut configs = Vec::with_capacity(total);
    for (i, node) in nodes.iter().enumerate() {
        let k = i + 1;
        let dir = node.dir().join("podroute");
        fs::create_dir_all(&dir)?;
        let path = dir.join("podroute.yaml");
        fs::write(&path, config(k, mode, n, k == total, &dir))?;
        configs.push((path, dir.join("podroute.sock")));
    }
    // Checked before any clock starts.
    for (path, _) in [&configs[0], &configs[total - 1]] {
        let out = process::run(
            &[
                bin.as_os_str(),
                "agent".as_ref(),
                "--check".as_ref(),
                "--config".as_ref(),
                path.as_os_str(),
            ],
            COMMAND_TIMEOUT,
        )?;
        ensure!(
            out.status.success(),
            "podroute rejects {}: {}",
            path.display(),
            out.stderr.trim()
        );
    }
    let watchers: Vec<FibWatcher> = nodes
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let filter = FibFilter {
                families: vec![Family::Ipv4],
                prefixes: others(i + 1, total)?,
                ..FibFilter::default()
            }
            .protocol(ProtocolFilter::Only(rtprot::PODROUTE));
            FibWatcher::start(node, filter)
        })
        .collect::<Result<_>>()?;
    let spawn = |k: usize| -> Result<NodeProcess> {
        let (path, _) = &configs[k - 1];
        nodes[k - 1].spawn(
            "podroute",
            &[
                bin.as_os_str(),
                "agent".as_ref(),
                "--config".as_ref(),
                path.as_os_str(),
            ],
        )
    };
    let ready = |k: usize, p: &NodeProcess| -> Result<()> {
        let (_, sock) = &configs[k - 1];
        wait_until(
            &format!("node {k}'s control socket"),
            Duration::from_secs(30),
            || {
                p.ensure_running()?;
                process::run_checked(
                    &[
                        bin.as_os_str(),
                        "show".as_ref(),
                        "status".as_ref(),
                        "--socket".as_ref(),
                        sock.as_os_str(),
                    ],
                    COMMAND_TIMEOUT,
                )
                .map(drop)
            },
        )
    };
    let mut procs: Vec<NodeProcess> = Vec::with_capacity(total);
    let result = (|| -> Result<()> {
        let t0 = Instant::now();
        if mode == Mode::Reflectors {
            procs.push(spawn(1)?);
            procs.push(spawn(2)?);
            ready(1, &procs[0])?;
            ready(2, &procs[1])?;
        }
        for k in procs.len() + 1..=n {
            procs.push(spawn(k)?);
        }
        let t_last = Instant::now();
        let deadline = t0 + limit;
        let mut done = t0;
        for (i, w) in watchers.iter().take(n).enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            let at = w
                .wait_until_count((n - 1) as u64, left)
                .with_context(|| format!("node {}'s FIB", i + 1))?;
            done = done.max(at);
        }
        for p in &procs {
            p.ensure_running()?;
        }
        out.insert("converged_from_first_start_s", (done - t0).as_secs_f64());
        out.insert(
            "converged_from_last_start_s",
            done.saturating_duration_since(t_last).as_secs_f64(),
        );
        out.insert("spawn_s", (t_last - t0).as_secs_f64());
        thread::sleep(Duration::from_secs(1));
        // The newcomer.
        let tj = Instant::now();
        procs.push(spawn(total)?);
        let deadline = tj + limit;
        let mut everywhere = tj;
        for (i, w) in watchers.iter().take(n).enumerate() {
            let left = deadline.saturating_duration_since(Instant::now());
            let at = w
                .wait_until_count(n as u64, left)
                .with_context(|| format!("the newcomer's route in node {}'s FIB", i + 1))?;
            everywhere = everywhere.max(at);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let complete = watchers[total - 1]
            .wait_until_count(n as u64, left)
            .context("the newcomer's own FIB")?;
        out.insert("join_s", (everywhere - tj).as_secs_f64());
        out.insert(
            "joiner_complete_s",
            complete.saturating_duration_since(tj).as_secs_f64(),
        );
        let pids: Vec<u32> = procs.iter().map(|p| p.pid()).collect();
        let u = measure::usage(&pids)?;
        out.insert(
            "rss_per_node_mib",
            u.rss_kib as f64 / 1024.0 / pids.len() as f64,
        );
        for p in &procs {
            p.ensure_running()?;
        }
        Ok(())
    })();
    let tail = if result.is_err() {
        procs
            .iter()
            .find(|p| !p.is_running())
            .or(procs.first())
            .map(|p| format!("\n--- {}:\n{}", p.name(), p.log_tail(20)))
            .unwrap_or_default()
    } else {
        String::new()
    };
    for p in &procs {
        let _ = p.signal(Signal::Kill);
    }
    drop(procs);
    drop(watchers);
    drop(nodes);
    drop(br);
    drop(lab);
    result.map_err(|e| anyhow!("{e:#}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_and_ranges() {
        let d = std::path::Path::new("/x");
        let c = config(1, Mode::Reflectors, 100, false, d);
        assert!(c.contains("address: 192.0.2.2, remote_as: internal, kind: reflector"));
        assert!(c.contains("route_reflector_client: true"));
        let c = config(7, Mode::Reflectors, 100, false, d);
        assert!(c.contains("192.0.2.1,") && c.contains("192.0.2.2,"));
        assert!(!c.contains("dynamic_neighbors"));
        let c = config(3, Mode::FullMesh, 30, false, d);
        assert_eq!(c.matches("remote_as: internal, kind: mesh }").count(), 29);
        assert!(c.contains("dynamic_neighbors"));
        assert!(!config(31, Mode::FullMesh, 30, true, d).contains("dynamic_neighbors"));
        let r = others(1, 5).unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].count(), 4);
        let r = others(3, 5).unwrap();
        assert_eq!(r.iter().map(|x| x.count()).sum::<u64>(), 4);
        assert!(
            r.iter()
                .all(|x| !x.contains("10.244.3.0".parse().unwrap(), 24))
        );
    }
}
