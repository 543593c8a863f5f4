//! A [`Topology`] realised with network namespaces: one namespace per node, veth pairs
//! named as in the links, bridges, bound files copied, `exec` lines run, and the daemon each
//! image stands for started from its bound configuration.
//!
//! Order: namespaces, links (and bridge ports), bound files, `exec` lines, then the daemons
//! (FRR, BIRD, podroute) and the pods' `cmd`s. containerlab starts the containers first and
//! wires and runs `exec` afterwards; here the daemons start once their interfaces and
//! addresses exist, which only makes them converge sooner.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Kind, NodeRole, NodeSpec, Topology};
use crate::Daemon;
use crate::bird::Bird;
use crate::frr::Frr;
use crate::lab::{COMMAND_TIMEOUT, Lab, Node, NodeProcess};
use crate::podroute::{self, Podroute};
use crate::process::{self, DEFAULT_GRACE};
use crate::rules;
use crate::types::{Prefix, prefix};
use crate::wait::{Fatal, wait_until};

/// A deployed topology. Dropping it stops every daemon and process it started (by PID) and
/// deletes the namespaces and scratch directory.
///
/// Fields drop in order: the daemons first, then the nodes and the lab.
pub struct Deployed {
    podroutes: BTreeMap<String, Podroute>,
    frrs: BTreeMap<String, Frr>,
    birds: BTreeMap<String, Bird>,
    commands: BTreeMap<String, NodeProcess>,
    nodes: BTreeMap<String, Node>,
    /// Per podroute node: the prefixes it originates (`pod_cidrs` and `originate`).
    pod_cidrs: BTreeMap<String, Vec<Prefix>>,
    topology: Topology,
    lab: Lab,
}

impl fmt::Debug for Deployed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deployed")
            .field("topology", &self.topology.name)
            .field("lab", &self.lab)
            .finish_non_exhaustive()
    }
}

impl Topology {
    /// Deploys the topology in a new [`Lab`] named `lab_name` (`[a-z0-9]`, at most 12
    /// characters; namespaces `it-<pid>-<seq>-<node>`).
    pub fn deploy(&self, lab_name: &str) -> Result<Deployed> {
        self.deploy_in(Lab::new(lab_name)?, |_| {})
    }

    /// Deploys the topology in `lab` (empty), telling `progress` what it does.
    pub fn deploy_in(&self, lab: Lab, mut progress: impl FnMut(&str)) -> Result<Deployed> {
        if !self.nodes_with(NodeRole::Podroute).is_empty() {
            // Before any namespace exists: this may build podroute.
            podroute::binary()?;
        }
        progress(&format!(
            "{} namespaces ({}-*), {} links",
            self.nodes.len(),
            lab.tag(),
            self.links.len()
        ));
        let mut nodes = BTreeMap::new();
        for n in &self.nodes {
            let node = lab.node(&n.name)?;
            if n.kind == Kind::Bridge {
                node.ip(&["link", "add", &n.name, "type", "bridge"])?;
                node.ip(&["link", "set", &n.name, "up"])?;
            }
            nodes.insert(n.name.clone(), node);
        }
        for l in &self.links {
            let (a, b) = (&nodes[&l.a.node], &nodes[&l.b.node]);
            lab.veth(a, &l.a.iface, b, &l.b.iface)
                .with_context(|| format!("link {} <-> {}", l.a, l.b))?;
            for e in [&l.a, &l.b] {
                if self.node(&e.node)?.kind == Kind::Bridge {
                    nodes[&e.node].ip(&["link", "set", &e.iface, "master", &e.node])?;
                }
            }
        }
        for n in &self.nodes {
            copy_binds(n, &nodes[&n.name])?;
        }
        for n in &self.nodes {
            for argv in &n.exec {
                nodes[&n.name]
                    .exec(argv)
                    .with_context(|| format!("node {}: exec {:?}", n.name, argv.join(" ")))?;
            }
        }
        let mut d = Deployed {
            podroutes: BTreeMap::new(),
            frrs: BTreeMap::new(),
            birds: BTreeMap::new(),
            commands: BTreeMap::new(),
            nodes,
            pod_cidrs: BTreeMap::new(),
            topology: self.clone(),
            lab,
        };
        for n in &self.nodes {
            let node = d.nodes[&n.name].clone();
            let conf = || {
                n.daemon_config()
                    .ok_or_else(|| anyhow!("node {}: no configuration bound", n.name))
            };
            match n.role {
                NodeRole::Frr => {
                    progress(&format!(
                        "{}: FRR (zebra + bgpd) from {}",
                        n.name,
                        short(conf()?)
                    ));
                    let frr = Frr::start_integrated(&node, conf()?)
                        .with_context(|| format!("node {}", n.name))?;
                    d.frrs.insert(n.name.clone(), frr);
                }
                NodeRole::Bird => {
                    progress(&format!("{}: BIRD from {}", n.name, short(conf()?)));
                    let bird = Bird::start_from_file(&node, conf()?)
                        .with_context(|| format!("node {}", n.name))?;
                    d.birds.insert(n.name.clone(), bird);
                }
                NodeRole::Podroute | NodeRole::Pod | NodeRole::Bridge => {}
            }
        }
        for n in &self.nodes {
            let node = d.nodes[&n.name].clone();
            match (n.role, &n.cmd) {
                (NodeRole::Podroute, _) => {
                    let conf = n.daemon_config().expect("checked when parsed");
                    progress(&format!("{}: podroute agent from {}", n.name, short(conf)));
                    let cidrs = originated(conf).with_context(|| format!("node {}", n.name))?;
                    d.pod_cidrs.insert(n.name.clone(), cidrs);
                    let env: Vec<(String, String)> =
                        n.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    let p = Podroute::start_from_file(&node, conf, &env)
                        .with_context(|| format!("node {}", n.name))?;
                    d.podroutes.insert(n.name.clone(), p);
                }
                (NodeRole::Pod, Some(cmd)) => {
                    progress(&format!("{}: {}", n.name, cmd.join(" ")));
                    let mut argv: Vec<String> = Vec::new();
                    if !n.env.is_empty() {
                        argv.push("env".into());
                        argv.extend(n.env.iter().map(|(k, v)| format!("{k}={v}")));
                    }
                    argv.extend(cmd.iter().cloned());
                    let p = node.spawn("cmd", &argv)?;
                    d.commands.insert(n.name.clone(), p);
                }
                _ => {}
            }
        }
        d.audit_addresses()?;
        Ok(d)
    }
}

/// A path for messages: the file name and its directory's name.
fn short(p: &Path) -> String {
    let n = p.components().count();
    p.components()
        .skip(n.saturating_sub(2))
        .collect::<PathBuf>()
        .display()
        .to_string()
}

/// Copies each bound file to `<node dir>/root/<container path>`.
fn copy_binds(n: &NodeSpec, node: &Node) -> Result<()> {
    for b in &n.binds {
        let rel = b.container.strip_prefix("/").unwrap_or(&b.container);
        let to = node.dir().join("root").join(rel);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::copy(&b.host, &to)
            .with_context(|| format!("node {}: copy {}", n.name, b.host.display()))?;
    }
    Ok(())
}

/// The prefixes a podroute configuration originates: `pod_cidrs` and `originate[].prefix`.
fn originated(config: &Path) -> Result<Vec<Prefix>> {
    use serde_yaml_ng::Value as Yaml;
    let text = fs::read_to_string(config)?;
    let doc: Yaml =
        serde_yaml_ng::from_str(&text).with_context(|| format!("{}", config.display()))?;
    let mut out = Vec::new();
    let cidrs = doc.get("pod_cidrs").and_then(Yaml::as_sequence);
    for c in cidrs.into_iter().flatten() {
        let s = c
            .as_str()
            .ok_or_else(|| anyhow!("pod_cidrs: {c:?} is not text"))?;
        out.push(s.parse::<Prefix>()?);
    }
    let origins = doc.get("originate").and_then(Yaml::as_sequence);
    for o in origins.into_iter().flatten() {
        if let Some(s) = o.get("prefix").and_then(Yaml::as_str) {
            out.push(s.parse::<Prefix>()?);
        }
    }
    for p in &out {
        rules::check_route_prefix(p)?;
    }
    Ok(out)
}

/// One BGP session as one daemon sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionView {
    /// The node the daemon runs in.
    pub node: String,
    /// Which daemon.
    pub daemon: NodeRole,
    /// The neighbor (address, or name when the daemon has no address for it).
    pub peer: String,
    /// The state as the daemon names it (`Established`, `Active`, `Connect`, ...).
    pub state: String,
}

impl SessionView {
    /// Whether the session is up.
    pub fn established(&self) -> bool {
        self.state.eq_ignore_ascii_case("established")
    }
}

impl fmt::Display for SessionView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}) -> {}: {}",
            self.node, self.daemon, self.peer, self.state
        )
    }
}

/// How far a deployed topology is from converged.
#[derive(Debug, Clone, Default)]
pub struct Convergence {
    /// Every session of every daemon.
    pub sessions: Vec<SessionView>,
    /// How many (podroute node, other node's pod CIDR) pairs are expected.
    pub routes_expected: usize,
    /// The pairs not (yet) in that node's `podroute show routes`.
    pub routes_missing: Vec<(String, Prefix)>,
}

impl Convergence {
    /// Every session Established (and at least one exists), every podroute node has every
    /// other podroute node's pod CIDRs.
    pub fn done(&self) -> bool {
        !self.sessions.is_empty()
            && self.sessions.iter().all(SessionView::established)
            && self.routes_missing.is_empty()
    }

    /// One line: `sessions 10/12 Established, pod CIDR routes 8/12`.
    pub fn summary(&self) -> String {
        format!(
            "sessions {}/{} Established, pod CIDR routes {}/{}",
            self.sessions.iter().filter(|s| s.established()).count(),
            self.sessions.len(),
            self.routes_expected - self.routes_missing.len(),
            self.routes_expected
        )
    }
}

impl fmt::Display for Convergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.summary())?;
        for s in self.sessions.iter().filter(|s| !s.established()) {
            write!(f, "\n  session {s}")?;
        }
        for (node, p) in &self.routes_missing {
            write!(f, "\n  {node} has no route for {p}")?;
        }
        Ok(())
    }
}

/// What `ping -q` reported.
#[derive(Debug, Clone, PartialEq)]
pub struct PingStats {
    /// Echo requests sent.
    pub transmitted: u32,
    /// Replies received.
    pub received: u32,
    /// The loss ping printed, in percent.
    pub loss_percent: f64,
    /// ping's whole output.
    pub output: String,
}

impl PingStats {
    /// Parses the summary line of iputils `ping`
    /// (`10 packets transmitted, 9 received, +1 errors, 10% packet loss, time 93ms`).
    pub fn parse(output: &str) -> Result<PingStats> {
        let line = output
            .lines()
            .find(|l| l.contains("packets transmitted"))
            .ok_or_else(|| anyhow!("no `packets transmitted` line in ping's output:\n{output}"))?;
        let mut stats = PingStats {
            transmitted: 0,
            received: 0,
            loss_percent: 100.0,
            output: output.to_string(),
        };
        for part in line.split(',').map(str::trim) {
            let (n, what) = part.split_once(' ').unwrap_or((part, ""));
            if what.starts_with("packets transmitted") {
                stats.transmitted = n.parse().with_context(|| format!("in {line:?}"))?;
            } else if what == "received" {
                stats.received = n.parse().with_context(|| format!("in {line:?}"))?;
            } else if what == "packet loss" {
                stats.loss_percent = n
                    .trim_end_matches('%')
                    .parse()
                    .with_context(|| format!("in {line:?}"))?;
            }
        }
        Ok(stats)
    }

    /// Every request answered.
    pub fn no_loss(&self) -> bool {
        self.transmitted > 0 && self.received >= self.transmitted
    }
}

impl fmt::Display for PingStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} transmitted, {} received, {}% loss",
            self.transmitted, self.received, self.loss_percent
        )
    }
}

/// Pings `to` from `node`: `ping -c COUNT -i 0.01 -q` (100 per second), COUNT at most
/// 2000. Packet loss is not an error (see [`PingStats::no_loss`]); ping failing to run or
/// printing no summary is. Blocks for the whole run, so a caller can restart things on
/// another thread meanwhile.
pub fn ping(node: &Node, to: IpAddr, count: u32) -> Result<PingStats> {
    ensure!(
        (1..=2000).contains(&count),
        "ping: count {count} is not within 1..=2000"
    );
    crate::lab::require_programs(&["ping"]).context("ping is in Debian's iputils-ping package")?;
    let seconds = u64::from(count / 100 + 10);
    let out = node.exec_output_for(
        &[
            "ping",
            "-c",
            &count.to_string(),
            "-i",
            "0.01",
            "-q",
            "-W",
            "1",
            "-w",
            &seconds.to_string(),
            &to.to_string(),
        ],
        Duration::from_secs(seconds + 10),
    )?;
    PingStats::parse(&format!("{}{}", out.stdout, out.stderr))
        .with_context(|| format!("ping exited with {}", out.status))
}

impl Deployed {
    /// The topology this was deployed from.
    pub fn topology(&self) -> &Topology {
        &self.topology
    }

    /// The lab (scratch directory, namespace tag).
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// A node's namespace (to run `ping`, `ip route`, ...).
    pub fn node(&self, name: &str) -> Result<&Node> {
        self.nodes
            .get(name)
            .ok_or_else(|| anyhow!("topology {} has no node {name}", self.topology.name))
    }

    /// The podroute agent of a podroute node.
    pub fn podroute(&self, name: &str) -> Result<&Podroute> {
        self.podroutes
            .get(name)
            .ok_or_else(|| self.no_such(name, NodeRole::Podroute))
    }

    /// The podroute agent of a podroute node, to stop, kill or restart it.
    pub fn podroute_mut(&mut self, name: &str) -> Result<&mut Podroute> {
        if !self.podroutes.contains_key(name) {
            return Err(self.no_such(name, NodeRole::Podroute));
        }
        self.podroutes
            .get_mut(name)
            .ok_or_else(|| anyhow!("no podroute node {name}"))
    }

    /// The FRR of an FRR node.
    pub fn frr(&self, name: &str) -> Result<&Frr> {
        self.frrs
            .get(name)
            .ok_or_else(|| self.no_such(name, NodeRole::Frr))
    }

    /// The BIRD of a BIRD node.
    pub fn bird(&self, name: &str) -> Result<&Bird> {
        self.birds
            .get(name)
            .ok_or_else(|| self.no_such(name, NodeRole::Bird))
    }

    fn no_such(&self, name: &str, role: NodeRole) -> anyhow::Error {
        anyhow!(
            "topology {} has no {role} node {name} (its {role} nodes: {})",
            self.topology.name,
            self.topology.nodes_with(role).join(", ")
        )
    }

    /// The podroute nodes, in file order.
    pub fn podroute_nodes(&self) -> Vec<&str> {
        self.topology.nodes_with(NodeRole::Podroute)
    }

    /// The pods (nodes whose image runs none of the daemons), in file order.
    pub fn pods(&self) -> Vec<&str> {
        self.topology.nodes_with(NodeRole::Pod)
    }

    /// The prefixes a podroute node originates (its `pod_cidrs` and `originate`).
    pub fn pod_cidrs(&self, node: &str) -> Result<&[Prefix]> {
        self.pod_cidrs
            .get(node)
            .map(Vec::as_slice)
            .ok_or_else(|| self.no_such(node, NodeRole::Podroute))
    }

    /// The global addresses of a node (every interface but `lo`), from `ip -j addr`.
    pub fn addresses(&self, node: &str) -> Result<Vec<IpAddr>> {
        Ok(self
            .all_addresses(node)?
            .into_iter()
            .filter(|(ifname, _, scope)| ifname != "lo" && scope == "global")
            .map(|(_, a, _)| a)
            .collect())
    }

    /// (interface, address, scope) of every address in a node.
    fn all_addresses(&self, node: &str) -> Result<Vec<(String, IpAddr, String)>> {
        let out = self.node(node)?.ip(&["-j", "addr", "show"])?;
        let v: Value =
            serde_json::from_str(&out).with_context(|| format!("ip -j addr printed {out}"))?;
        let mut addrs = Vec::new();
        for link in v.as_array().into_iter().flatten() {
            let ifname = link["ifname"].as_str().unwrap_or_default();
            for a in link["addr_info"].as_array().into_iter().flatten() {
                if let Some(local) = a["local"].as_str() {
                    let addr: IpAddr = local
                        .parse()
                        .with_context(|| format!("address {local} on {node}:{ifname}"))?;
                    let scope = a["scope"].as_str().unwrap_or_default();
                    addrs.push((ifname.to_string(), addr, scope.to_string()));
                }
            }
        }
        Ok(addrs)
    }

    /// Fails unless every address in every node follows the lab rules: documentation ranges,
    /// the pod ranges (10.244.0.0/16, fd00:10:244::/48), link-local (169.254.0.0/16 for pod
    /// gateways, fe80::/10) and loopback.
    pub fn audit_addresses(&self) -> Result<()> {
        let link_local4 = prefix("169.254.0.0/16");
        let mut bad = Vec::new();
        for name in self.nodes.keys() {
            for (ifname, a, _) in self.all_addresses(name)? {
                let ok = a.is_loopback()
                    || link_local4.contains_addr(a)
                    || rules::check_any_addr(a).is_ok();
                if !ok {
                    bad.push(format!("{name}:{ifname} {a}"));
                }
            }
        }
        ensure!(
            bad.is_empty(),
            "topology {}: addresses outside the lab ranges (documentation ranges, \
             10.244.0.0/16, fd00:10:244::/48, link-local): {}",
            self.topology.name,
            bad.join(", ")
        );
        Ok(())
    }

    /// Every BGP session of every daemon, as the daemon's own CLI shows it (`podroute show
    /// neighbors`, `vtysh show bgp neighbors json`, `birdc show protocols all`).
    pub fn sessions(&self) -> Result<Vec<SessionView>> {
        let mut out = Vec::new();
        for (name, p) in &self.podroutes {
            let v = p.show(&["neighbors"])?;
            for n in v["neighbors"].as_array().into_iter().flatten() {
                out.push(SessionView {
                    node: name.clone(),
                    daemon: NodeRole::Podroute,
                    peer: n["address"].as_str().unwrap_or("?").to_string(),
                    state: n["state"].as_str().unwrap_or("?").to_string(),
                });
            }
        }
        for (name, f) in &self.frrs {
            let v = f.neighbors()?;
            for (peer, n) in v.as_object().into_iter().flatten() {
                out.push(SessionView {
                    node: name.clone(),
                    daemon: NodeRole::Frr,
                    peer: peer.clone(),
                    state: n["bgpState"].as_str().unwrap_or("?").to_string(),
                });
            }
        }
        for (name, b) in &self.birds {
            for p in b.protocols()?.into_iter().filter(|p| p.proto == "BGP") {
                out.push(SessionView {
                    node: name.clone(),
                    daemon: NodeRole::Bird,
                    peer: p
                        .neighbor_address
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| p.name.clone()),
                    state: p.bgp_state.unwrap_or(p.state),
                });
            }
        }
        Ok(out)
    }

    /// The prefixes with a best path in a podroute node's `podroute show routes`.
    pub fn podroute_prefixes(&self, node: &str) -> Result<Vec<Prefix>> {
        let v = self.podroute(node)?.show(&["routes"])?;
        let mut out = Vec::new();
        for r in v["routes"].as_array().into_iter().flatten() {
            let has_best = r["paths"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["best"].as_bool() == Some(true)));
            if has_best && let Some(p) = r["prefix"].as_str() {
                out.push(p.parse()?);
            }
        }
        Ok(out)
    }

    /// Where the topology stands now (see [`Convergence`]).
    pub fn convergence(&self) -> Result<Convergence> {
        let mut c = Convergence {
            sessions: self.sessions()?,
            ..Convergence::default()
        };
        for node in self.podroutes.keys() {
            let have = self.podroute_prefixes(node)?;
            for (other, cidrs) in &self.pod_cidrs {
                if other == node {
                    continue;
                }
                for p in cidrs {
                    c.routes_expected += 1;
                    if !have.contains(p) {
                        c.routes_missing.push((node.clone(), *p));
                    }
                }
            }
        }
        Ok(c)
    }

    /// Fails (with the exit status and log tail) if any daemon or `cmd` has exited.
    pub fn ensure_running(&self) -> Result<()> {
        for p in self.podroutes.values() {
            p.ensure_running()?;
        }
        for f in self.frrs.values() {
            f.ensure_running()?;
        }
        for b in self.birds.values() {
            b.ensure_running()?;
        }
        for (name, c) in &self.commands {
            c.ensure_running()
                .with_context(|| format!("node {name}: cmd"))?;
        }
        Ok(())
    }

    /// Waits until every BGP session is Established and every podroute node has every other
    /// podroute node's pod CIDRs (see [`Convergence::done`]).
    pub fn wait_converged(&self, timeout: Duration) -> Result<Convergence> {
        self.wait_converged_with(timeout, |_, _| {})
    }

    /// As [`Deployed::wait_converged`], calling `on_change` with the state and the time
    /// waited so far whenever its summary changes (for progress output).
    pub fn wait_converged_with(
        &self,
        timeout: Duration,
        mut on_change: impl FnMut(&Convergence, Duration),
    ) -> Result<Convergence> {
        let start = Instant::now();
        let mut last = String::new();
        let what = format!("topology {} to converge", self.topology.name);
        let result = wait_until(&what, timeout, || {
            self.ensure_running().map_err(|e| Fatal(format!("{e:#}")))?;
            let c = self.convergence()?;
            if c.summary() != last {
                last = c.summary();
                on_change(&c, start.elapsed());
            }
            if c.done() { Ok(c) } else { Err(anyhow!("{c}")) }
        });
        let c = result.map_err(|e| {
            let logs: String = self
                .podroutes
                .iter()
                .map(|(n, p)| format!("\n--- {n}: last lines of podroute's log\n{}", p.log_tail(8)))
                .collect();
            anyhow!("{e:#}{logs}")
        })?;
        self.audit_addresses()?;
        Ok(c)
    }

    /// Pings `to` from a node (a pod, usually): `ping -c COUNT -i 0.01 -q -W 1`, so it
    /// sends exactly COUNT requests and waits at most 1 s for the last reply. Packet loss is
    /// not an error (see [`PingStats::no_loss`]); ping failing to run or printing no summary
    /// is. COUNT is at most 2000 (the command's time limit is 30 s).
    pub fn ping(&self, from: &str, to: IpAddr, count: u32) -> Result<PingStats> {
        ping(self.node(from)?, to, count).with_context(|| format!("ping from {from} to {to}"))
    }

    /// Every PID this deployment started, with a name for messages.
    pub fn pids(&self) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        for (n, f) in &self.frrs {
            out.extend(f.pids().into_iter().map(|p| (format!("frr@{n}"), p)));
        }
        for (n, b) in &self.birds {
            out.extend(b.pids().into_iter().map(|p| (format!("bird@{n}"), p)));
        }
        for (n, p) in &self.podroutes {
            out.extend(
                p.pids()
                    .into_iter()
                    .map(|pid| (format!("podroute@{n}"), pid)),
            );
        }
        for (n, c) in &self.commands {
            out.push((format!("cmd@{n}"), c.pid()));
        }
        out
    }

    /// What [`KeptLab::teardown`] needs to remove this deployment from another process.
    pub fn kept_state(&self) -> KeptLab {
        KeptLab {
            topology: self.topology.name.clone(),
            file: self.topology.path.clone(),
            tag: self.lab.tag().to_string(),
            dir: self.lab.dir().to_path_buf(),
            namespaces: self.lab.namespaces(),
            processes: self
                .pids()
                .into_iter()
                .map(|(name, pid)| KeptProcess {
                    name,
                    pid,
                    start_time: start_time(pid).unwrap_or(0),
                })
                .collect(),
        }
    }

    /// Writes [`Deployed::kept_state`] to `path` (JSON), so that another process can tear
    /// the deployment down if this one is interrupted or [`Deployed::keep`]s it.
    pub fn record(&self, path: &Path) -> Result<KeptLab> {
        let state = self.kept_state();
        fs::write(path, serde_json::to_string_pretty(&state)?)
            .with_context(|| format!("write {}", path.display()))?;
        Ok(state)
    }

    /// Leaves everything running after this process exits: nothing is stopped or deleted
    /// when it goes out of scope. Tear it down later with [`KeptLab::teardown`] (record it
    /// first with [`Deployed::record`]).
    pub fn keep(self) -> KeptLab {
        let state = self.kept_state();
        std::mem::forget(self);
        state
    }
}

/// A deployment left running ([`Deployed::keep`]), as recorded for a later teardown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptLab {
    /// The topology's name.
    pub topology: String,
    /// The topology file.
    pub file: PathBuf,
    /// The namespace prefix (`<tag>-<node>`).
    pub tag: String,
    /// The scratch directory (configurations, sockets, logs).
    pub dir: PathBuf,
    /// The namespaces.
    pub namespaces: Vec<String>,
    /// The processes started.
    pub processes: Vec<KeptProcess>,
}

/// One process of a [`KeptLab`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeptProcess {
    /// For messages (`podroute@node-a1`).
    pub name: String,
    /// Its PID.
    pub pid: u32,
    /// Its start time (`/proc/PID/stat` field 22): a PID reused by another process since
    /// has a different one, and is left alone.
    pub start_time: u64,
}

impl KeptProcess {
    /// Whether this very process (same PID and start time) still runs.
    pub fn is_running(&self) -> bool {
        start_time(self.pid).is_some_and(|t| t == self.start_time)
    }
}

/// Field 22 of `/proc/PID/stat` (start time in clock ticks after boot).
fn start_time(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl KeptLab {
    /// Reads what [`Deployed::record`] wrote.
    pub fn load(path: &Path) -> Result<KeptLab> {
        let text = fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))
    }

    /// The recorded processes still running.
    pub fn running(&self) -> Vec<&KeptProcess> {
        self.processes.iter().filter(|p| p.is_running()).collect()
    }

    /// Stops the recorded processes (TERM, then KILL after 10 s; only a process with the
    /// recorded PID and start time is signalled), deletes the namespaces (also any other
    /// `<tag>-*` namespace an interrupted deployment left) and the scratch directory.
    /// Processes in those namespaces that were not recorded are reported, not killed.
    pub fn teardown(&self) -> Result<()> {
        use rustix::process::{Pid, Signal, kill_process};
        let signal = |p: &KeptProcess, s: Signal| {
            if p.is_running()
                && let Some(pid) = i32::try_from(p.pid).ok().and_then(Pid::from_raw)
            {
                let _ = kill_process(pid, s);
            }
        };
        for p in &self.processes {
            signal(p, Signal::TERM);
        }
        let deadline = Instant::now() + DEFAULT_GRACE;
        while Instant::now() < deadline && !self.running().is_empty() {
            std::thread::sleep(Duration::from_millis(50));
        }
        for p in self.running() {
            eprintln!("{} (pid {}) still runs after TERM: KILL", p.name, p.pid);
            signal(p, Signal::KILL);
        }
        let mut namespaces = self.namespaces.clone();
        for ns in crate::lab::list_namespaces()? {
            if ns.starts_with(&format!("{}-", self.tag)) && !namespaces.contains(&ns) {
                namespaces.push(ns);
            }
        }
        let mut errors = Vec::new();
        for ns in namespaces.iter().rev() {
            if let Ok(out) = process::run(&["ip", "netns", "pids", ns], COMMAND_TIMEOUT) {
                let pids = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
                if !pids.is_empty() {
                    eprintln!(
                        "namespace {ns} still has processes {pids} that the lab did not start; \
                         deleting the namespace, leaving them alone"
                    );
                }
            }
            match process::run(&["ip", "netns", "del", ns], COMMAND_TIMEOUT) {
                Ok(out) if out.status.success() => {}
                Ok(out) if out.stderr.contains("No such file") => {}
                Ok(out) => errors.push(format!("ip netns del {ns}: {}", out.stderr.trim())),
                Err(e) => errors.push(format!("ip netns del {ns}: {e:#}")),
            }
        }
        if self.dir.exists()
            && let Err(e) = fs::remove_dir_all(&self.dir)
        {
            errors.push(format!("remove {}: {e}", self.dir.display()));
        }
        if !errors.is_empty() {
            bail!("{}", errors.join("\n"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ping_summaries() {
        let ok = "PING 10.244.3.10 (10.244.3.10) 56(84) bytes of data.\n\n\
                  --- 10.244.3.10 ping statistics ---\n\
                  10 packets transmitted, 10 received, 0% packet loss, time 93ms\n\
                  rtt min/avg/max/mdev = 0.041/0.062/0.109/0.019 ms\n";
        let s = PingStats::parse(ok).unwrap();
        assert_eq!((s.transmitted, s.received), (10, 10));
        assert_eq!(s.loss_percent, 0.0);
        assert!(s.no_loss());
        let lossy = "--- x ping statistics ---\n\
                     5 packets transmitted, 0 received, +5 errors, 100% packet loss, time 41ms\n";
        let s = PingStats::parse(lossy).unwrap();
        assert_eq!((s.transmitted, s.received), (5, 0));
        assert_eq!(s.loss_percent, 100.0);
        assert!(!s.no_loss());
        let e = PingStats::parse("ping: connect: Network is unreachable\n").unwrap_err();
        assert!(e.to_string().contains("Network is unreachable"), "{e}");
    }

    #[test]
    fn reads_its_own_start_time() {
        let me = std::process::id();
        let t = start_time(me).unwrap();
        let p = KeptProcess {
            name: "me".into(),
            pid: me,
            start_time: t,
        };
        assert!(p.is_running());
        let other = KeptProcess {
            start_time: t + 1,
            ..p
        };
        assert!(!other.is_running());
    }

    #[test]
    fn convergence_summary() {
        let c = Convergence {
            sessions: vec![
                SessionView {
                    node: "n1".into(),
                    daemon: NodeRole::Podroute,
                    peer: "192.0.2.1".into(),
                    state: "Established".into(),
                },
                SessionView {
                    node: "tor".into(),
                    daemon: NodeRole::Frr,
                    peer: "192.0.2.2".into(),
                    state: "Active".into(),
                },
            ],
            routes_expected: 2,
            routes_missing: vec![("n1".into(), prefix("10.244.2.0/24"))],
        };
        assert!(!c.done());
        assert_eq!(
            c.to_string(),
            "sessions 1/2 Established, pod CIDR routes 1/2\n  \
             session tor (FRR) -> 192.0.2.2: Active\n  n1 has no route for 10.244.2.0/24"
        );
    }
}
