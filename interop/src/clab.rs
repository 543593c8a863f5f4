//! containerlab topology files (`*.clab.yml`): the subset podroute's labs use, parsed
//! strictly, and realised here with network namespaces instead of containers
//! ([`Topology::deploy`], in [`deploy`]).
//!
//! The same file is the source of truth for both: a user with Docker runs
//! `containerlab deploy -t interop/topologies/two-racks.clab.yml`; the tests and
//! `podroute-lab` build the same nodes, links, addresses and daemons as namespaces.
//!
//! The subset, and everything else is refused with an error that names it (nothing is
//! silently ignored):
//!
//! ```yaml
//! name: two-racks                      # [a-z0-9-]
//! topology:
//!   nodes:
//!     tor-a:
//!       kind: linux                    # or `bridge`
//!       image: quay.io/frrouting/frr:8.4.1
//!       binds:                         # host:container[:ro|rw], host relative to this file
//!         - two-racks/tor-a.frr.conf:/etc/frr/frr.conf
//!       exec:                          # run in the node after the links exist
//!         - ip addr add 192.0.2.1/30 dev eth1
//!       env: { PODROUTE_LOG: debug }   # for the node's daemon
//!       cmd: sleep infinity            # pods only: a process started in the node
//!   links:
//!     - endpoints: ["node-a1:eth1", "tor-a:eth2"]
//! ```
//!
//! What a `linux` node runs is decided by its image ([`NodeRole::of_image`]): `podroute:*`
//! runs `podroute agent` with the file bound to [`PODROUTE_CONFIG`]; `*frrouting/frr*` runs
//! zebra + bgpd with the file bound to `/etc/frr/frr.conf`; `*bird*` runs BIRD with the file
//! bound to `/etc/bird.conf` (or `/etc/bird/bird.conf`); any other image (`alpine`) runs
//! nothing: a pod. A `bridge` node is a Linux bridge named after the node.
//!
//! `exec` lines run on this host (inside the node's namespace, but with the host's file
//! system), so only `ip` (without `netns`, `-n` or `-batch`) and `sysctl` of `net.*` keys are
//! accepted.

pub mod deploy;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail, ensure};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::lab::valid_ifname;

pub use deploy::{Convergence, Deployed, KeptLab, PingStats, SessionView, ping};

/// Where the podroute image reads its configuration (`deploy/Dockerfile`'s default `CMD`).
pub const PODROUTE_CONFIG: &str = "/etc/podroute/config.yaml";
/// Where FRR's image reads its integrated configuration.
pub const FRR_CONFIG: &str = "/etc/frr/frr.conf";
/// FRR's list of daemons to start.
pub const FRR_DAEMONS: &str = "/etc/frr/daemons";
/// Where BIRD images read their configuration: `ghcr.io/srl-labs/bird` uses the first,
/// Debian-based images the second.
pub const BIRD_CONFIGS: [&str; 2] = ["/etc/bird.conf", "/etc/bird/bird.conf"];

/// A parsed, validated topology file.
#[derive(Debug, Clone)]
pub struct Topology {
    /// `name:` (containerlab names containers `clab-<name>-<node>`).
    pub name: String,
    /// The file it was read from.
    pub path: PathBuf,
    /// The nodes, in file order.
    pub nodes: Vec<NodeSpec>,
    /// The links, in file order.
    pub links: Vec<LinkSpec>,
}

/// One `topology.nodes` entry.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// The node's name (`[a-z0-9-]`, at most 20 characters; a bridge's at most 15).
    pub name: String,
    /// `kind:`.
    pub kind: Kind,
    /// `image:` (`linux` nodes only).
    pub image: Option<String>,
    /// What runs in it, from the image.
    pub role: NodeRole,
    /// `binds:`, with host paths resolved against the topology file's directory.
    pub binds: Vec<Bind>,
    /// `exec:`, each line split into words as containerlab does (shell quoting, no shell).
    pub exec: Vec<Vec<String>>,
    /// `env:`.
    pub env: BTreeMap<String, String>,
    /// `cmd:`, split into words (pods only).
    pub cmd: Option<Vec<String>>,
}

/// A containerlab node kind this realiser understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A container; here, a network namespace.
    Linux,
    /// A Linux bridge named after the node (containerlab expects it on the host; here it
    /// lives in a namespace of its own).
    Bridge,
}

/// What a node runs, decided by its kind and image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    /// `podroute agent` (image `podroute:*`).
    Podroute,
    /// FRR's zebra + bgpd (image `quay.io/frrouting/frr:*`).
    Frr,
    /// BIRD 2 (an image whose name starts with `bird`).
    Bird,
    /// Nothing but its `cmd`, if any: a pod (any other image, e.g. `alpine`).
    Pod,
    /// A `bridge` node.
    Bridge,
}

impl NodeRole {
    /// The role of a `linux` node running `image`.
    pub fn of_image(image: &str) -> NodeRole {
        // registry[:port]/path/name[:tag][@digest] -> name
        let last = image.rsplit('/').next().unwrap_or(image);
        let name = last.split(['@', ':']).next().unwrap_or(last);
        if name == "podroute" {
            NodeRole::Podroute
        } else if image.contains("frrouting/frr") || name == "frr" {
            NodeRole::Frr
        } else if name.starts_with("bird") {
            NodeRole::Bird
        } else {
            NodeRole::Pod
        }
    }
}

impl fmt::Display for NodeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NodeRole::Podroute => "podroute",
            NodeRole::Frr => "FRR",
            NodeRole::Bird => "BIRD",
            NodeRole::Pod => "pod",
            NodeRole::Bridge => "bridge",
        })
    }
}

/// One `binds:` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    /// The file on the host (absolute).
    pub host: PathBuf,
    /// Where the container sees it (absolute).
    pub container: PathBuf,
    /// `:ro`.
    pub read_only: bool,
}

/// One end of a link.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Endpoint {
    /// The node.
    pub node: String,
    /// The interface name in that node.
    pub iface: String,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.node, self.iface)
    }
}

/// One `links:` entry: a veth pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSpec {
    /// `endpoints[0]`.
    pub a: Endpoint,
    /// `endpoints[1]`.
    pub b: Endpoint,
}

impl Topology {
    /// Reads and validates a topology file. Bind paths must exist.
    pub fn load(path: impl AsRef<Path>) -> Result<Topology> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
        let base = path
            .canonicalize()
            .with_context(|| format!("resolve {}", path.display()))?;
        Topology::parse(&text, &base).with_context(|| format!("topology {}", path.display()))
    }

    /// Parses and validates a topology; relative bind paths resolve against `path`'s
    /// directory (`path` is also recorded as [`Topology::path`]).
    pub fn parse(text: &str, path: &Path) -> Result<Topology> {
        let raw: RawFile = serde_yaml_ng::from_str(text)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        ensure!(
            !raw.name.is_empty()
                && raw.name.len() <= 24
                && !raw.name.starts_with('-')
                && raw
                    .name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "name {:?}: [a-z0-9-], 1 to 24 characters (it names namespaces here)",
            raw.name
        );
        let mut nodes = Vec::new();
        let mut seen = BTreeSet::new();
        for (name, n) in raw.topology.nodes.0 {
            ensure!(seen.insert(name.clone()), "node {name} is defined twice");
            nodes.push(node_spec(&name, n, dir).with_context(|| format!("node {name}"))?);
        }
        ensure!(!nodes.is_empty(), "topology.nodes is empty");
        let mut links = Vec::new();
        let mut used = BTreeSet::new();
        for (i, l) in raw.topology.links.into_iter().enumerate() {
            let link = link_spec(&l, &nodes, &mut used)
                .with_context(|| format!("links[{i}] {:?}", l.endpoints))?;
            links.push(link);
        }
        Ok(Topology {
            name: raw.name,
            path: path.to_path_buf(),
            nodes,
            links,
        })
    }

    /// The node named `name`.
    pub fn node(&self, name: &str) -> Result<&NodeSpec> {
        self.nodes
            .iter()
            .find(|n| n.name == name)
            .ok_or_else(|| anyhow!("topology {} has no node {name}", self.name))
    }

    /// The names of the nodes with this role, in file order.
    pub fn nodes_with(&self, role: NodeRole) -> Vec<&str> {
        self.nodes
            .iter()
            .filter(|n| n.role == role)
            .map(|n| n.name.as_str())
            .collect()
    }
}

impl NodeSpec {
    /// The host file bound at `container` (e.g. [`FRR_CONFIG`]).
    pub fn bound(&self, container: &str) -> Option<&Path> {
        self.binds
            .iter()
            .find(|b| b.container == Path::new(container))
            .map(|b| b.host.as_path())
    }

    /// The configuration file the node's daemon reads (`None` for pods and bridges).
    pub fn daemon_config(&self) -> Option<&Path> {
        match self.role {
            NodeRole::Podroute => self.bound(PODROUTE_CONFIG),
            NodeRole::Frr => self.bound(FRR_CONFIG),
            NodeRole::Bird => BIRD_CONFIGS.iter().find_map(|c| self.bound(c)),
            NodeRole::Pod | NodeRole::Bridge => None,
        }
    }
}

// ---- the file as written ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: String,
    topology: RawTopology,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopology {
    nodes: Ordered<RawNode>,
    #[serde(default)]
    links: Vec<RawLink>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    kind: String,
    image: Option<String>,
    #[serde(default)]
    binds: Vec<String>,
    #[serde(default)]
    exec: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cmd: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLink {
    endpoints: Vec<String>,
}

/// A YAML mapping kept in file order (with the parser's line numbers in errors).
#[derive(Debug)]
struct Ordered<T>(Vec<(String, T)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Ordered<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Ordered<T>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping from node names to nodes")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Ordered<T>, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, T>()? {
                    if out.iter().any(|(n, _)| *n == k) {
                        return Err(de::Error::custom(format!("node {k} is defined twice")));
                    }
                    out.push((k, v));
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

// ---- validation ----

fn node_spec(name: &str, n: RawNode, dir: &Path) -> Result<NodeSpec> {
    ensure!(
        !name.is_empty()
            && name.len() <= 20
            && !name.starts_with('-')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "the name must be [a-z0-9-], 1 to 20 characters (it names a namespace here)"
    );
    let kind = match n.kind.as_str() {
        "linux" => Kind::Linux,
        "bridge" => Kind::Bridge,
        other => bail!(
            "kind {other:?} is not supported: this realiser knows `linux` (containers) and \
             `bridge` (Linux bridges)"
        ),
    };
    if kind == Kind::Bridge {
        ensure!(
            n.image.is_none()
                && n.binds.is_empty()
                && n.exec.is_empty()
                && n.env.is_empty()
                && n.cmd.is_none(),
            "a bridge takes no image, binds, exec, env or cmd"
        );
        ensure!(
            valid_ifname(name),
            "a bridge is a Linux interface named after its node: at most 15 characters"
        );
        return Ok(NodeSpec {
            name: name.to_string(),
            kind,
            image: None,
            role: NodeRole::Bridge,
            binds: Vec::new(),
            exec: Vec::new(),
            env: BTreeMap::new(),
            cmd: None,
        });
    }
    let image = n
        .image
        .ok_or_else(|| anyhow!("a `linux` node needs an image"))?;
    let role = NodeRole::of_image(&image);
    let binds = n
        .binds
        .iter()
        .map(|b| parse_bind(b, dir).with_context(|| format!("bind {b:?}")))
        .collect::<Result<Vec<_>>>()?;
    let mut containers = BTreeSet::new();
    for b in &binds {
        ensure!(
            containers.insert(&b.container),
            "{} is bound twice",
            b.container.display()
        );
    }
    let exec = n
        .exec
        .iter()
        .map(|line| parse_exec(line).with_context(|| format!("exec {line:?}")))
        .collect::<Result<Vec<_>>>()?;
    for k in n.env.keys() {
        ensure!(
            !k.is_empty()
                && !k.starts_with(|c: char| c.is_ascii_digit())
                && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "env: {k:?} is not a variable name"
        );
    }
    let cmd = match n.cmd {
        None => None,
        Some(c) => {
            ensure!(
                role == NodeRole::Pod,
                "cmd: only pods (images other than podroute, FRR and BIRD) take a cmd here; \
                 the {role} image's own command is what runs"
            );
            let words = shlex::split(&c).ok_or_else(|| anyhow!("cmd {c:?}: unbalanced quotes"))?;
            ensure!(!words.is_empty(), "cmd is empty");
            Some(words)
        }
    };
    let spec = NodeSpec {
        name: name.to_string(),
        kind,
        image: Some(image),
        role,
        binds,
        exec,
        env: n.env,
        cmd,
    };
    check_role_binds(&spec)?;
    Ok(spec)
}

fn parse_bind(s: &str, dir: &Path) -> Result<Bind> {
    let parts: Vec<&str> = s.split(':').collect();
    let (host, container, read_only) = match parts.as_slice() {
        [h, c] => (*h, *c, false),
        [h, c, "ro"] => (*h, *c, true),
        [h, c, "rw"] => (*h, *c, false),
        [_, _, o] => bail!("mode {o:?}: only `ro` and `rw`"),
        _ => bail!("expected host:container or host:container:ro"),
    };
    ensure!(
        container.starts_with('/'),
        "the container path {container:?} must be absolute"
    );
    ensure!(
        !container.split('/').any(|c| c == ".."),
        "the container path {container:?} must not contain `..`"
    );
    let host_path = dir.join(host);
    let meta =
        fs::metadata(&host_path).with_context(|| format!("host file {}", host_path.display()))?;
    ensure!(
        meta.is_file(),
        "{} is not a file: only files can be bound here",
        host_path.display()
    );
    Ok(Bind {
        host: host_path.canonicalize()?,
        container: PathBuf::from(container),
        read_only,
    })
}

/// Splits an `exec` line into words and checks that it is safe to run on this host: `ip`
/// (not `ip netns`, `-n`, `-batch`, `vrf exec`) or `sysctl` of `net.*` keys.
pub fn parse_exec(line: &str) -> Result<Vec<String>> {
    let words = shlex::split(line).ok_or_else(|| anyhow!("unbalanced quotes"))?;
    let (prog, args) = words
        .split_first()
        .ok_or_else(|| anyhow!("an empty exec line"))?;
    const WHY: &str = "here `exec` lines run on the host (in the node's network namespace, \
                       but with the host's files), so only `ip` and `sysctl -w net.*` are run";
    match prog.as_str() {
        "ip" => {
            for a in args {
                ensure!(
                    !matches!(
                        a.as_str(),
                        "netns"
                            | "-n"
                            | "-netns"
                            | "--netns"
                            | "-b"
                            | "-batch"
                            | "--batch"
                            | "-force"
                            | "exec"
                    ),
                    "`ip ... {a}` is refused: {WHY}"
                );
            }
        }
        "sysctl" => {
            let mut keys = 0;
            for a in args {
                if matches!(a.as_str(), "-w" | "-q" | "-qw" | "-wq") {
                    continue;
                }
                let (k, _) = a
                    .split_once('=')
                    .ok_or_else(|| anyhow!("sysctl {a:?}: only KEY=VALUE settings ({WHY})"))?;
                ensure!(
                    (k.starts_with("net.") || k.starts_with("net/")) && !k.contains(".."),
                    "sysctl {k}: only net.* keys, which belong to the namespace ({WHY})"
                );
                keys += 1;
            }
            ensure!(keys > 0, "sysctl without a KEY=VALUE setting");
        }
        other => bail!("{other:?} is refused: {WHY}"),
    }
    Ok(words)
}

fn check_role_binds(n: &NodeSpec) -> Result<()> {
    match n.role {
        NodeRole::Podroute => {
            ensure!(
                n.bound(PODROUTE_CONFIG).is_some(),
                "the podroute image reads {PODROUTE_CONFIG}: bind the node's configuration \
                 there"
            );
        }
        NodeRole::Frr => {
            ensure!(
                n.bound(FRR_CONFIG).is_some(),
                "the FRR image reads {FRR_CONFIG}: bind the node's configuration there"
            );
            if let Some(d) = n.bound(FRR_DAEMONS) {
                check_frr_daemons(d)?;
            }
        }
        NodeRole::Bird => {
            ensure!(
                n.daemon_config().is_some(),
                "a BIRD image reads {} or {}: bind the node's configuration there",
                BIRD_CONFIGS[0],
                BIRD_CONFIGS[1]
            );
        }
        NodeRole::Pod | NodeRole::Bridge => {}
    }
    Ok(())
}

/// FRR's `daemons` file: bgpd must be on, and nothing the realiser does not run (it runs
/// zebra and bgpd only).
fn check_frr_daemons(path: &Path) -> Result<()> {
    const OTHERS: [&str; 17] = [
        "ospfd", "ospf6d", "ripd", "ripngd", "isisd", "pimd", "pim6d", "ldpd", "nhrpd", "eigrpd",
        "babeld", "sharpd", "pbrd", "bfdd", "fabricd", "vrrpd", "pathd",
    ];
    let text = fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let mut bgpd = false;
    for line in text.lines().map(str::trim) {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let on = v.trim().trim_matches('"') == "yes";
        if k == "bgpd" {
            bgpd = on;
        } else if on && OTHERS.contains(&k) {
            bail!(
                "{}: {k}=yes, but this realiser runs only zebra and bgpd",
                path.display()
            );
        }
    }
    ensure!(bgpd, "{}: bgpd is not enabled (bgpd=yes)", path.display());
    Ok(())
}

fn link_spec(l: &RawLink, nodes: &[NodeSpec], used: &mut BTreeSet<Endpoint>) -> Result<LinkSpec> {
    let [a, b] = l.endpoints.as_slice() else {
        bail!("endpoints: exactly two \"node:interface\" strings");
    };
    let end = |s: &str| -> Result<Endpoint> {
        let (node, iface) = s
            .split_once(':')
            .ok_or_else(|| anyhow!("endpoint {s:?}: expected node:interface"))?;
        ensure!(
            nodes.iter().any(|n| n.name == node),
            "endpoint {s:?}: no node {node}"
        );
        ensure!(
            valid_ifname(iface),
            "endpoint {s:?}: interface names are 1 to 15 characters of [A-Za-z0-9_.-]"
        );
        ensure!(iface != "lo", "endpoint {s:?}: `lo` is the node's loopback");
        Ok(Endpoint {
            node: node.to_string(),
            iface: iface.to_string(),
        })
    };
    let (a, b) = (end(a)?, end(b)?);
    ensure!(a.node != b.node, "both ends are on node {}", a.node);
    let kind = |e: &Endpoint| nodes.iter().find(|n| n.name == e.node).map(|n| n.kind);
    ensure!(
        !(kind(&a) == Some(Kind::Bridge) && kind(&b) == Some(Kind::Bridge)),
        "a link between two bridges"
    );
    for e in [&a, &b] {
        ensure!(used.insert(e.clone()), "{e} is used by another link");
    }
    Ok(LinkSpec { a, b })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[(&str, &str)]) -> PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let d = std::env::temp_dir().join(format!(
            "interop-clab-unit-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        for (name, text) in files {
            let p = d.join(name);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        d
    }

    fn parse(text: &str, files: &[(&str, &str)]) -> Result<Topology> {
        let d = dir_with(files);
        let r = Topology::parse(text, &d.join("t.clab.yml"));
        fs::remove_dir_all(&d).unwrap();
        r
    }

    const GOOD: &str = r#"
name: t
topology:
  nodes:
    tor:
      kind: linux
      image: quay.io/frrouting/frr:8.4.1
      binds:
        - t/tor.conf:/etc/frr/frr.conf
        - t/daemons:/etc/frr/daemons:ro
    rr:
      kind: linux
      image: ghcr.io/srl-labs/bird:2.13
      binds: [t/bird.conf:/etc/bird.conf]
      exec: ["ip addr add 192.0.2.5/30 dev eth1", "sysctl -w net.ipv4.ip_forward=1"]
    node-1:
      kind: linux
      image: podroute:dev
      binds: [t/n1.yaml:/etc/podroute/config.yaml]
      env: { PODROUTE_LOG: debug }
      exec:
        - ip addr add 192.0.2.2/30 dev eth1
        - "ip route add 10.244.1.10/32 dev 'pod1'"
    pod-1:
      kind: linux
      image: alpine:3.20
      cmd: sleep 3600
    br:
      kind: bridge
  links:
    - endpoints: ["node-1:eth1", "tor:eth1"]
    - endpoints: ["node-1:pod1", "pod-1:eth1"]
    - endpoints: ["rr:eth1", "br:p1"]
    - endpoints: ["tor:eth2", "br:p2"]
"#;

    fn good_files() -> Vec<(&'static str, &'static str)> {
        vec![
            ("t/tor.conf", "router bgp 4200000100\n"),
            ("t/daemons", "bgpd=yes\nospfd=no\nvtysh_enable=yes\n"),
            ("t/bird.conf", "router id 192.0.2.5;\n"),
            ("t/n1.yaml", "asn: 4200000101\n"),
        ]
    }

    #[test]
    fn parses_the_subset_in_file_order() {
        let t = parse(GOOD, &good_files()).unwrap();
        assert_eq!(t.name, "t");
        let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["tor", "rr", "node-1", "pod-1", "br"]);
        let roles: Vec<NodeRole> = t.nodes.iter().map(|n| n.role).collect();
        assert_eq!(
            roles,
            [
                NodeRole::Frr,
                NodeRole::Bird,
                NodeRole::Podroute,
                NodeRole::Pod,
                NodeRole::Bridge
            ]
        );
        let tor = t.node("tor").unwrap();
        assert!(tor.binds[1].read_only);
        assert!(tor.bound(FRR_CONFIG).unwrap().ends_with("t/tor.conf"));
        let n1 = t.node("node-1").unwrap();
        assert_eq!(
            n1.exec[1],
            ["ip", "route", "add", "10.244.1.10/32", "dev", "pod1"]
        );
        assert_eq!(n1.env["PODROUTE_LOG"], "debug");
        assert!(n1.daemon_config().unwrap().ends_with("t/n1.yaml"));
        assert_eq!(
            t.node("pod-1").unwrap().cmd.as_deref(),
            Some(&["sleep".to_string(), "3600".to_string()][..])
        );
        assert_eq!(t.links.len(), 4);
        assert_eq!(t.links[1].b.to_string(), "pod-1:eth1");
        assert_eq!(t.nodes_with(NodeRole::Pod), ["pod-1"]);
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        let files = good_files();
        let cases: &[(&str, &str, &str)] = &[
            ("  links:", "  mgmt: {}\n  links:", "unknown field `mgmt`"),
            (
                "      cmd: sleep 3600",
                "      cmd: sleep 3600\n      ports: [80]",
                "unknown field `ports`",
            ),
            (
                "kind: bridge",
                "kind: ovs-bridge",
                "kind \"ovs-bridge\" is not supported",
            ),
            (
                "- endpoints: [\"node-1:eth1\", \"tor:eth1\"]",
                "- endpoints: [\"node-1:eth1\", \"tor:eth1\", \"br:x\"]",
                "exactly two",
            ),
            (
                "\"tor:eth1\"]",
                "\"tor:eth1\"]\n      mtu: 9000",
                "unknown field `mtu`",
            ),
            ("\"tor:eth1\"]", "\"tor\"]", "expected node:interface"),
            ("\"tor:eth1\"]", "\"nope:eth1\"]", "no node nope"),
            (
                "\"tor:eth1\"]",
                "\"tor:an-interface-name-too-long\"]",
                "1 to 15 characters",
            ),
            ("\"br:p2\"]", "\"br:p1\"]", "br:p1 is used by another link"),
            (
                "dev eth1\", \"sysctl",
                "dev eth1\", \"rm -rf /tmp/x\", \"sysctl",
                "\"rm\" is refused",
            ),
            (
                "ip addr add 192.0.2.5/30",
                "ip netns add x; ip addr add 192.0.2.5/30",
                "`ip ... netns` is refused",
            ),
            ("net.ipv4.ip_forward=1", "kernel.panic=1", "only net.* keys"),
            (
                "t/n1.yaml:/etc/podroute/config.yaml",
                "t/n1.yaml:/etc/podroute/other.yaml",
                "reads /etc/podroute/config.yaml",
            ),
            ("t/n1.yaml:", "t/missing.yaml:", "missing.yaml"),
            (
                "t/daemons:/etc/frr/daemons:ro",
                "t/daemons:/etc/frr/daemons:rx",
                "only `ro` and `rw`",
            ),
            (
                "      image: podroute:dev\n",
                "      image: podroute:dev\n      cmd: agent\n",
                "only pods",
            ),
            (
                "    br:\n      kind: bridge",
                "    br:\n      kind: bridge\n      image: x",
                "a bridge takes no image",
            ),
            ("    pod-1:", "    Pod_1:", "[a-z0-9-]"),
            ("name: t", "name: T", "[a-z0-9-]"),
        ];
        for (from, to, want) in cases {
            assert!(GOOD.contains(from), "case {from:?} does not apply");
            let text = GOOD.replacen(from, to, 1);
            let e = format!("{:#}", parse(&text, &files).unwrap_err());
            assert!(e.contains(want), "{from:?} -> {to:?}: {e}");
        }
        let mut bad_daemons = files.clone();
        bad_daemons[1] = ("t/daemons", "bgpd=yes\nospfd=yes\n");
        let e = format!("{:#}", parse(GOOD, &bad_daemons).unwrap_err());
        assert!(
            e.contains("ospfd=yes, but this realiser runs only zebra and bgpd"),
            "{e}"
        );
        bad_daemons[1] = ("t/daemons", "bgpd=no\n");
        let e = format!("{:#}", parse(GOOD, &bad_daemons).unwrap_err());
        assert!(e.contains("bgpd is not enabled"), "{e}");
    }

    #[test]
    fn roles_from_images() {
        for (image, role) in [
            ("podroute:dev", NodeRole::Podroute),
            ("ghcr.io/podroute/podroute:v0.1.0", NodeRole::Podroute),
            ("localhost:5000/podroute", NodeRole::Podroute),
            ("quay.io/frrouting/frr:8.4.1", NodeRole::Frr),
            ("frrouting/frr", NodeRole::Frr),
            ("ghcr.io/srl-labs/bird:2.13", NodeRole::Bird),
            ("pierky/bird:2.0.12", NodeRole::Bird),
            ("alpine:3.20", NodeRole::Pod),
            ("ghcr.io/hellt/network-multitool", NodeRole::Pod),
        ] {
            assert_eq!(NodeRole::of_image(image), role, "{image}");
        }
    }

    #[test]
    fn exec_lines() {
        assert_eq!(
            parse_exec("ip -6 route replace default via fe80::1 dev eth1").unwrap(),
            [
                "ip", "-6", "route", "replace", "default", "via", "fe80::1", "dev", "eth1"
            ]
        );
        assert!(parse_exec("sysctl -w net.ipv6.conf.all.forwarding=1").is_ok());
        assert!(parse_exec("sysctl -w net/ipv4/conf/pod1/proxy_arp=1").is_ok());
        assert!(parse_exec("sysctl net.ipv4.ip_forward").is_err());
        assert!(parse_exec("ip -n other link").is_err());
        assert!(parse_exec("ip vrf exec blue sh").is_err());
        assert!(parse_exec("ip addr add 'unbalanced").is_err());
        assert!(parse_exec("sh -c 'ip addr'").is_err());
    }
}
