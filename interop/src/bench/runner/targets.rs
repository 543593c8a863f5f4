//! The daemons under test, each started fresh in the target namespace with a configuration
//! written here, so that every benchmark setting of every daemon is in one place (and in
//! the report: [`settings`]).
//!
//! Every target gets the same job: AS 64512; every configured peer passive (the load tools
//! connect), accepting and exporting everything (a relay); optionally a range of dynamic
//! neighbours; kernel FIB installation on or off. Beyond that each daemon runs with its
//! defaults plus the settings its own documentation gives for speed:
//!
//! | daemon   | settings |
//! |----------|----------|
//! | podroute | `metrics: {listen: none}`; `fib: {enabled: false}` when FIB is off; one `accept-all` policy (`default: accept`) as import and export of every peer (RFC 8212); log level default (info) |
//! | BIRD 2.0 | no `debug`, log warnings and errors only; `protocol kernel` (only when FIB is on) with `export where source = RTS_BGP` and `netlink rx buffer 256 MiB` (BIRD ≥ 2.0.9: SO_RCVBUFFORCE, so the kernel's notifications of a million routes do not overflow into a resync); `import all; export all` per BGP channel; `neighbor range ... external` with `dynamic name` for dynamic neighbours |
//! | FRR 8.4  | zebra + bgpd only (no staticd, no watchfrr; 8.4 has no mgmtd); `frr defaults traditional`, `log stdout warnings`; `no bgp ebgp-requires-policy`; `no bgp default ipv4-unicast` and explicit `activate`; zebra `-s 268435456` (netlink receive buffer); FIB off = `bgpd -n` (`--no_kernel`: bgpd keeps zebra for next-hop tracking but installs nothing); `bgp listen range ... peer-group` and `bgp listen limit` for dynamic neighbours |
//! | GoBGP    | `-l warn`, `--pprof-disable`, API on 127.0.0.1 in the namespace; default global import/export policy accept; `passive-mode`; a peer group plus `[[dynamic-neighbors]]` for dynamic neighbours; it never installs kernel routes (no zebra integration configured) |

use std::fmt::{self, Write as _};
use std::fs;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, ensure};
use serde::Serialize;

use crate::bench::fib::rtprot;
use crate::lab::{COMMAND_TIMEOUT, Node, NodeProcess, require_programs};
use crate::process::{self, Signal};
use crate::types::Family;
use crate::wait::{Fatal, wait_until};

/// How long a daemon gets to answer on its control socket.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// zebra's netlink receive buffer (`-s`).
const ZEBRA_NL_BUFFER: usize = 256 << 20;
/// BIRD's `netlink rx buffer`.
const BIRD_NL_BUFFER: usize = 256 << 20;
/// GoBGP's gRPC port inside the namespace.
const GOBGP_API_PORT: u16 = 50051;
const FRR_ZEBRA: &str = "/usr/lib/frr/zebra";
const FRR_BGPD: &str = "/usr/lib/frr/bgpd";

/// A daemon the benchmark compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// podroute (the workspace's build).
    Podroute,
    /// BIRD 2.
    Bird,
    /// FRR (zebra + bgpd).
    Frr,
    /// GoBGP.
    Gobgp,
}

impl TargetKind {
    /// Every target, in the order runs interleave.
    pub const ALL: [TargetKind; 4] = [
        TargetKind::Podroute,
        TargetKind::Bird,
        TargetKind::Frr,
        TargetKind::Gobgp,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            TargetKind::Podroute => "podroute",
            TargetKind::Bird => "bird",
            TargetKind::Frr => "frr",
            TargetKind::Gobgp => "gobgp",
        }
    }

    /// Parses [`TargetKind::name`].
    pub fn parse(s: &str) -> Result<TargetKind> {
        TargetKind::ALL
            .into_iter()
            .find(|k| k.name() == s.trim())
            .ok_or_else(|| anyhow!("unknown target {s:?} (podroute, bird, frr, gobgp)"))
    }

    /// The `rtm_protocol` of the routes it installs; `None`: it installs none.
    pub fn fib_protocol(self) -> Option<u8> {
        match self {
            TargetKind::Podroute => Some(rtprot::PODROUTE),
            TargetKind::Bird => Some(rtprot::BIRD),
            TargetKind::Frr => Some(rtprot::ZEBRA_BGP),
            TargetKind::Gobgp => None,
        }
    }

    /// The programs it needs.
    pub fn programs(self) -> &'static [&'static str] {
        match self {
            TargetKind::Podroute => &[],
            TargetKind::Bird => &["bird", "birdc"],
            TargetKind::Frr => &[FRR_ZEBRA, FRR_BGPD, "vtysh", "chown"],
            TargetKind::Gobgp => &["gobgpd", "gobgp"],
        }
    }

    /// Which processes count for memory and CPU.
    pub fn processes(self) -> &'static str {
        match self {
            TargetKind::Podroute => "podroute",
            TargetKind::Bird => "bird",
            TargetKind::Frr => "zebra + bgpd (FRR 8.4 has no mgmtd; staticd is not started)",
            TargetKind::Gobgp => "gobgpd",
        }
    }
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The settings each daemon runs with (for the report).
pub fn settings(kind: TargetKind) -> Vec<String> {
    let s = |v: &[&str]| v.iter().map(ToString::to_string).collect();
    match kind {
        TargetKind::Podroute => s(&[
            "every key not listed is podroute's default",
            "metrics: {listen: none}",
            "fib: {enabled: false} for FIB-off scenarios (default: enabled, batched netlink)",
            "peers: passive: true, import/export [accept-all] (policy `default: accept`; eBGP needs both, RFC 8212)",
            "dynamic_neighbors: range with template {remote_as: external, import/export [accept-all]}",
        ]),
        TargetKind::Bird => s(&[
            "no debug; log stderr { warning, error, fatal, bug }",
            "protocol device { scan time 10; }",
            "FIB on: protocol kernel { netlink rx buffer 268435456; ipv4|ipv6 { import none; export where source = RTS_BGP; } }",
            "FIB off: no protocol kernel",
            "protocol bgp per peer: passive on; ipv4|ipv6 { import all; export all; }",
            "dynamic: template with `neighbor range R external; dynamic name \"dyn\";`",
        ]),
        TargetKind::Frr => s(&[
            "zebra + bgpd in the foreground; no watchfrr, no staticd (8.4 has no mgmtd)",
            "zebra -s 268435456 (netlink receive buffer)",
            "frr defaults traditional; log stdout warnings; no debugs",
            "no bgp ebgp-requires-policy; no bgp default ipv4-unicast; neighbor activate per family",
            "neighbor X passive",
            "FIB off: bgpd -n (--no_kernel)",
            "dynamic: neighbor dyn peer-group; remote-as external; bgp listen range R peer-group dyn; bgp listen limit (peers + 10)",
        ]),
        TargetKind::Gobgp => s(&[
            "gobgpd -l warn --pprof-disable --api-hosts 127.0.0.1:50051",
            "default-import-policy and default-export-policy accept-route",
            "neighbors: passive-mode = true",
            "dynamic: [[peer-groups]] + [[dynamic-neighbors]] prefix",
            "no FIB: GoBGP installs kernel routes only through zebra, not configured",
        ]),
    }
}

/// The version a daemon's binary reports (first line).
pub fn version(kind: TargetKind) -> String {
    let run = |argv: &[&str]| -> String {
        match process::run(argv, COMMAND_TIMEOUT) {
            Ok(o) => {
                let text = if o.stdout.trim().is_empty() {
                    o.stderr
                } else {
                    o.stdout
                };
                text.lines().next().unwrap_or_default().trim().to_string()
            }
            Err(e) => format!("unknown ({e:#})"),
        }
    };
    match kind {
        TargetKind::Podroute => match crate::podroute::binary() {
            Ok(bin) => {
                let v = run(&[&bin.to_string_lossy(), "--version"]);
                let dir = env!("CARGO_MANIFEST_DIR");
                let rev = process::run(
                    &["git", "-C", dir, "describe", "--always", "--dirty"],
                    COMMAND_TIMEOUT,
                )
                .map(|o| o.stdout.trim().to_string())
                .unwrap_or_default();
                if rev.is_empty() {
                    v
                } else {
                    format!("{v} (git {rev})")
                }
            }
            Err(e) => format!("unknown ({e:#})"),
        },
        TargetKind::Bird => run(&["bird", "--version"]),
        TargetKind::Frr => run(&[FRR_ZEBRA, "--version"]),
        TargetKind::Gobgp => run(&["gobgpd", "--version"]),
    }
}

/// One configured (passive) peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerSpec {
    /// A name for the daemons' configuration (`[a-z][a-z0-9]*`).
    pub name: String,
    /// Its address.
    pub addr: IpAddr,
    /// Its AS.
    pub asn: u32,
}

/// Sessions accepted from any address of a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamicSpec {
    /// The range.
    pub addr: IpAddr,
    /// Its length.
    pub len: u8,
    /// The peers' AS (one for all: GoBGP's peer groups take one).
    pub asn: u32,
    /// How many sessions at most (FRR's `bgp listen limit` defaults to 100).
    pub limit: usize,
}

/// What the target is asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetSpec {
    /// Our AS.
    pub asn: u32,
    /// BGP identifier.
    pub router_id: Ipv4Addr,
    /// Configured peers (all passive, accept and export everything).
    pub peers: Vec<PeerSpec>,
    /// Dynamic neighbours, if any.
    pub dynamic: Option<DynamicSpec>,
    /// Install best routes into the kernel.
    pub fib: bool,
}

/// A running target. Dropping it kills its processes (SIGKILL: they are the runner's own,
/// and waiting for a daemon to remove a million kernel routes one by one on shutdown
/// would only slow the benchmark down; the namespace is deleted right after).
#[derive(Debug)]
pub struct Target {
    kind: TargetKind,
    processes: Vec<NodeProcess>,
    node: Node,
}

impl Target {
    /// Writes the configuration, starts the daemon(s) in `node` and waits until they
    /// answer on their control sockets.
    pub fn start(kind: TargetKind, node: &Node, spec: &TargetSpec) -> Result<Target> {
        require_programs(kind.programs())?;
        ensure!(
            spec.peers.iter().all(|p| valid_name(&p.name)),
            "peer names must be [a-z][a-z0-9]*"
        );
        let mut t = Target {
            kind,
            processes: Vec::new(),
            node: node.clone(),
        };
        let started = match kind {
            TargetKind::Podroute => t.start_podroute(spec),
            TargetKind::Bird => t.start_bird(spec),
            TargetKind::Frr => t.start_frr(spec),
            TargetKind::Gobgp => t.start_gobgp(spec),
        };
        started.map_err(|e| anyhow!("{e:#}\n--- {kind} log:\n{}", t.log_tail(30)))?;
        Ok(t)
    }

    /// Which daemon.
    pub fn kind(&self) -> TargetKind {
        self.kind
    }

    /// The PIDs whose memory and CPU count.
    pub fn pids(&self) -> Vec<u32> {
        self.processes.iter().map(|p| p.pid()).collect()
    }

    /// Fails if a process has exited.
    pub fn ensure_running(&self) -> Result<()> {
        for p in &self.processes {
            p.ensure_running()?;
        }
        Ok(())
    }

    /// The last lines of every process's log.
    pub fn log_tail(&self, lines: usize) -> String {
        self.processes
            .iter()
            .map(|p| format!("[{}]\n{}", p.name(), p.log_tail(lines)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn dir(&self, sub: &str) -> Result<PathBuf> {
        let d = self.node.dir().join(sub);
        fs::create_dir_all(&d)?;
        Ok(d)
    }

    fn spawn<S: AsRef<std::ffi::OsStr>>(&mut self, name: &str, argv: &[S]) -> Result<()> {
        let p = self.node.spawn(name, argv)?;
        self.processes.push(p);
        Ok(())
    }

    /// Polls `probe` until it succeeds; gives up at once if a process exits.
    fn wait_ready(&self, what: &str, mut probe: impl FnMut() -> Result<()>) -> Result<()> {
        wait_until(what, START_TIMEOUT, || {
            for p in &self.processes {
                p.ensure_running().map_err(|e| Fatal(format!("{e:#}")))?;
            }
            probe()
        })
    }

    fn start_podroute(&mut self, spec: &TargetSpec) -> Result<()> {
        let dir = self.dir("podroute")?;
        let socket = dir.join("podroute.sock");
        let conf = dir.join("podroute.yaml");
        fs::write(&conf, podroute_yaml(spec, &socket, &dir.join("state")))?;
        let bin = crate::podroute::binary()?;
        let check = process::run(
            &[
                bin.as_os_str(),
                "agent".as_ref(),
                "--check".as_ref(),
                "--config".as_ref(),
                conf.as_os_str(),
            ],
            COMMAND_TIMEOUT,
        )?;
        ensure!(
            check.status.success(),
            "podroute rejects {}: {}{}",
            conf.display(),
            check.stderr.trim(),
            check.stdout.trim()
        );
        self.spawn(
            "podroute",
            &[
                bin.as_os_str(),
                "agent".as_ref(),
                "--config".as_ref(),
                conf.as_os_str(),
            ],
        )?;
        let show = [
            bin.as_os_str(),
            "show".as_ref(),
            "status".as_ref(),
            "--socket".as_ref(),
            socket.as_os_str(),
        ];
        self.wait_ready("podroute's control socket", || {
            process::run_checked(&show, COMMAND_TIMEOUT).map(drop)
        })
    }

    fn start_bird(&mut self, spec: &TargetSpec) -> Result<()> {
        let dir = self.dir("bird")?;
        let conf = dir.join("bird.conf");
        let sock = dir.join("bird.ctl");
        fs::write(&conf, bird_conf(spec))?;
        let c = conf.to_string_lossy().into_owned();
        let s = sock.to_string_lossy().into_owned();
        process::run_checked(&["bird", "-p", "-c", &c], COMMAND_TIMEOUT)
            .with_context(|| format!("BIRD rejects {c}"))?;
        self.spawn("bird", &["bird", "-f", "-c", &c, "-s", &s])?;
        self.wait_ready("BIRD's control socket", || {
            let out =
                process::run_checked(&["birdc", "-s", &s, "show", "status"], COMMAND_TIMEOUT)?;
            ensure!(out.contains("Daemon is up and running"), "status: {out}");
            Ok(())
        })
    }

    fn start_frr(&mut self, spec: &TargetSpec) -> Result<()> {
        let dir = self.dir("frr")?;
        fs::write(
            dir.join("zebra.conf"),
            "hostname target-zebra\nlog stdout warnings\n!\n",
        )?;
        fs::write(dir.join("bgpd.conf"), frr_conf(spec))?;
        // The daemons drop to user `frr`: they must own their run directory.
        process::run_checked(
            &["chown", "-R", "frr:frr", &dir.to_string_lossy()],
            COMMAND_TIMEOUT,
        )?;
        let d = dir.to_string_lossy().into_owned();
        let nl = ZEBRA_NL_BUFFER.to_string();
        let (zc, zp, zs) = (
            format!("{d}/zebra.conf"),
            format!("{d}/zebra.pid"),
            format!("{d}/zserv.api"),
        );
        self.spawn(
            "zebra",
            &[
                FRR_ZEBRA,
                "-f",
                &zc,
                "-i",
                &zp,
                "-z",
                &zs,
                "--vty_socket",
                &d,
                "-P",
                "0",
                "-s",
                &nl,
            ],
        )?;
        let sock = PathBuf::from(&zs);
        self.wait_ready("zebra's zserv socket", || {
            ensure!(sock.exists(), "{} does not exist yet", sock.display());
            Ok(())
        })?;
        let (bc, bp) = (format!("{d}/bgpd.conf"), format!("{d}/bgpd.pid"));
        let mut argv = vec![
            FRR_BGPD,
            "-f",
            &bc,
            "-i",
            &bp,
            "-z",
            &zs,
            "--vty_socket",
            &d,
            "-P",
            "0",
        ];
        if !spec.fib {
            argv.push("-n");
        }
        self.spawn("bgpd", &argv)?;
        let probe = crate::frr::bgpd_probe(&d);
        self.wait_ready("bgpd's vty", || {
            process::run_checked(&probe, COMMAND_TIMEOUT).map(drop)
        })?;
        // A configuration line bgpd did not take is a benchmark of something else.
        let out = process::run_checked(
            &[
                "vtysh",
                "--vty_socket",
                &d,
                "-d",
                "bgpd",
                "-c",
                "show running-config",
            ],
            COMMAND_TIMEOUT,
        )?;
        ensure!(
            out.contains("no bgp ebgp-requires-policy"),
            "bgpd did not apply its configuration:\n{out}"
        );
        Ok(())
    }

    fn start_gobgp(&mut self, spec: &TargetSpec) -> Result<()> {
        let dir = self.dir("gobgp")?;
        let conf = dir.join("gobgpd.toml");
        fs::write(&conf, gobgp_toml(spec))?;
        let c = conf.to_string_lossy().into_owned();
        let api = format!("127.0.0.1:{GOBGP_API_PORT}");
        self.spawn(
            "gobgpd",
            &[
                "gobgpd",
                "-f",
                &c,
                "-t",
                "toml",
                "--api-hosts",
                &api,
                "--pprof-disable",
                "-l",
                "warn",
            ],
        )?;
        let port = GOBGP_API_PORT.to_string();
        let node = self.node.clone();
        self.wait_ready("GoBGP's API", || {
            node.exec(&["gobgp", "-u", "127.0.0.1", "-p", &port, "global"])
                .map(drop)
        })
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        for p in &self.processes {
            if let Err(e) = p.signal(Signal::Kill) {
                eprintln!("bench: kill {}: {e:#}", p.name());
            }
        }
        // Dropping each NodeProcess reaps it (it is dead already).
        self.processes.clear();
    }
}

fn valid_name(n: &str) -> bool {
    n.starts_with(|c: char| c.is_ascii_lowercase())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

fn family_of(a: IpAddr) -> Family {
    Family::of(a)
}

/// podroute's YAML.
pub fn podroute_yaml(spec: &TargetSpec, socket: &Path, state: &Path) -> String {
    let mut y = String::new();
    let _ = writeln!(
        y,
        "# podroute-bench target: keys not written are podroute's defaults"
    );
    let _ = writeln!(y, "node: bench-target");
    let _ = writeln!(y, "asn: {}", spec.asn);
    let _ = writeln!(y, "router_id: {}", spec.router_id);
    let _ = writeln!(y, "control_socket: {}", socket.display());
    let _ = writeln!(y, "state_dir: {}", state.display());
    let _ = writeln!(y, "metrics: {{ listen: none }}");
    let _ = writeln!(y, "fib: {{ enabled: {} }}", spec.fib);
    if !spec.peers.is_empty() {
        y.push_str("peers:\n");
    }
    for p in &spec.peers {
        let _ = writeln!(y, "  - address: {}", p.addr);
        let _ = writeln!(y, "    remote_as: {}", p.asn);
        let _ = writeln!(y, "    description: {}", p.name);
        let _ = writeln!(y, "    passive: true");
        let _ = writeln!(y, "    import: [accept-all]");
        let _ = writeln!(y, "    export: [accept-all]");
    }
    if let Some(d) = &spec.dynamic {
        let _ = writeln!(y, "dynamic_neighbors:");
        let _ = writeln!(y, "  - range: {}/{}", d.addr, d.len);
        let _ = writeln!(y, "    template:");
        let _ = writeln!(y, "      remote_as: {}", d.asn);
        let _ = writeln!(y, "      import: [accept-all]");
        let _ = writeln!(y, "      export: [accept-all]");
    }
    y.push_str("policies:\n  accept-all: { default: accept }\n");
    y
}

/// `bird.conf`.
pub fn bird_conf(spec: &TargetSpec) -> String {
    let mut w = String::new();
    let _ = writeln!(w, "# podroute-bench target");
    let _ = writeln!(w, "router id {};", spec.router_id);
    let _ = writeln!(w, "log stderr {{ warning, error, fatal, bug }};");
    let _ = writeln!(w, "protocol device {{ scan time 10; }}");
    if spec.fib {
        for (name, f) in [("k4", "ipv4"), ("k6", "ipv6")] {
            let _ = writeln!(w, "protocol kernel {name} {{");
            let _ = writeln!(w, "  netlink rx buffer {BIRD_NL_BUFFER};");
            let _ = writeln!(
                w,
                "  {f} {{ import none; export where source = RTS_BGP; }};"
            );
            let _ = writeln!(w, "}}");
        }
    }
    let chan = |f: Family| match f {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    };
    for p in &spec.peers {
        let _ = writeln!(w, "protocol bgp {} {{", p.name);
        let _ = writeln!(w, "  local as {};", spec.asn);
        let _ = writeln!(w, "  neighbor {} as {};", p.addr, p.asn);
        let _ = writeln!(w, "  passive on;");
        let _ = writeln!(
            w,
            "  {} {{ import all; export all; }};",
            chan(family_of(p.addr))
        );
        let _ = writeln!(w, "}}");
    }
    if let Some(d) = &spec.dynamic {
        let _ = writeln!(w, "template bgp dyn {{");
        let _ = writeln!(w, "  local as {};", spec.asn);
        let _ = writeln!(w, "  neighbor range {}/{} as {};", d.addr, d.len, d.asn);
        let _ = writeln!(w, "  dynamic name \"dyn\";");
        let _ = writeln!(w, "  passive on;");
        let _ = writeln!(
            w,
            "  {} {{ import all; export all; }};",
            chan(family_of(d.addr))
        );
        let _ = writeln!(w, "}}");
        let _ = writeln!(w, "protocol bgp dynpeers from dyn {{ }}");
    }
    w
}

/// FRR's `bgpd.conf`.
pub fn frr_conf(spec: &TargetSpec) -> String {
    let mut w = String::new();
    let _ = writeln!(w, "! podroute-bench target");
    let _ = writeln!(w, "frr defaults traditional");
    let _ = writeln!(w, "hostname target");
    let _ = writeln!(w, "log stdout warnings");
    let _ = writeln!(w, "!");
    let _ = writeln!(w, "router bgp {}", spec.asn);
    let _ = writeln!(w, " bgp router-id {}", spec.router_id);
    let _ = writeln!(w, " no bgp ebgp-requires-policy");
    let _ = writeln!(w, " no bgp default ipv4-unicast");
    if let Some(d) = &spec.dynamic {
        let _ = writeln!(w, " bgp listen limit {}", (d.limit + 10).min(65535));
        let _ = writeln!(w, " neighbor dyn peer-group");
        let _ = writeln!(w, " neighbor dyn remote-as {}", d.asn);
        let _ = writeln!(w, " bgp listen range {}/{} peer-group dyn", d.addr, d.len);
    }
    for p in &spec.peers {
        let _ = writeln!(w, " neighbor {} remote-as {}", p.addr, p.asn);
        let _ = writeln!(w, " neighbor {} description {}", p.addr, p.name);
        let _ = writeln!(w, " neighbor {} passive", p.addr);
    }
    for f in [Family::Ipv4, Family::Ipv6] {
        let peers: Vec<&PeerSpec> = spec
            .peers
            .iter()
            .filter(|p| family_of(p.addr) == f)
            .collect();
        let dynamic = spec
            .dynamic
            .as_ref()
            .is_some_and(|d| family_of(d.addr) == f);
        if peers.is_empty() && !dynamic {
            continue;
        }
        let _ = writeln!(w, " address-family {} unicast", f.name());
        for p in peers {
            let _ = writeln!(w, "  neighbor {} activate", p.addr);
        }
        if dynamic {
            let _ = writeln!(w, "  neighbor dyn activate");
        }
        let _ = writeln!(w, " exit-address-family");
    }
    let _ = writeln!(w, "!");
    w
}

/// GoBGP's TOML.
pub fn gobgp_toml(spec: &TargetSpec) -> String {
    let mut w = String::new();
    let afi = |a: IpAddr| match family_of(a) {
        Family::Ipv4 => "ipv4-unicast",
        Family::Ipv6 => "ipv6-unicast",
    };
    let _ = writeln!(w, "# podroute-bench target");
    let _ = writeln!(w, "[global.config]");
    let _ = writeln!(w, "  as = {}", spec.asn);
    let _ = writeln!(w, "  router-id = \"{}\"", spec.router_id);
    let _ = writeln!(w, "  port = 179");
    let _ = writeln!(w, "[global.apply-policy.config]");
    let _ = writeln!(w, "  default-import-policy = \"accept-route\"");
    let _ = writeln!(w, "  default-export-policy = \"accept-route\"");
    for p in &spec.peers {
        let _ = writeln!(w, "\n[[neighbors]]");
        let _ = writeln!(w, "  [neighbors.config]");
        let _ = writeln!(w, "    neighbor-address = \"{}\"", p.addr);
        let _ = writeln!(w, "    peer-as = {}", p.asn);
        let _ = writeln!(w, "    description = \"{}\"", p.name);
        let _ = writeln!(w, "  [neighbors.transport.config]");
        let _ = writeln!(w, "    passive-mode = true");
        let _ = writeln!(w, "  [[neighbors.afi-safis]]");
        let _ = writeln!(w, "    [neighbors.afi-safis.config]");
        let _ = writeln!(w, "      afi-safi-name = \"{}\"", afi(p.addr));
    }
    if let Some(d) = &spec.dynamic {
        let _ = writeln!(w, "\n[[peer-groups]]");
        let _ = writeln!(w, "  [peer-groups.config]");
        let _ = writeln!(w, "    peer-group-name = \"dyn\"");
        let _ = writeln!(w, "    peer-as = {}", d.asn);
        let _ = writeln!(w, "  [[peer-groups.afi-safis]]");
        let _ = writeln!(w, "    [peer-groups.afi-safis.config]");
        let _ = writeln!(w, "      afi-safi-name = \"{}\"", afi(d.addr));
        let _ = writeln!(w, "\n[[dynamic-neighbors]]");
        let _ = writeln!(w, "  [dynamic-neighbors.config]");
        let _ = writeln!(w, "    prefix = \"{}/{}\"", d.addr, d.len);
        let _ = writeln!(w, "    peer-group = \"dyn\"");
    }
    w
}

/// Fails unless every PID is still a live process (for messages before reading /proc).
pub fn check_alive(t: &Target) -> Result<()> {
    t.ensure_running().map_err(|e| {
        anyhow!(
            "{} is no longer running: {e:#}\n--- log:\n{}",
            t.kind(),
            t.log_tail(30)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> TargetSpec {
        TargetSpec {
            asn: 64512,
            router_id: Ipv4Addr::new(198, 51, 100, 2),
            peers: vec![
                PeerSpec {
                    name: "l0".into(),
                    addr: "198.51.100.1".parse().unwrap(),
                    asn: 65001,
                },
                PeerSpec {
                    name: "col".into(),
                    addr: "2001:db8:2::2".parse().unwrap(),
                    asn: 65002,
                },
            ],
            dynamic: Some(DynamicSpec {
                addr: "198.18.0.0".parse().unwrap(),
                len: 15,
                asn: 65100,
                limit: 1000,
            }),
            fib: false,
        }
    }

    #[test]
    fn renders_every_daemon() {
        let s = spec();
        let y = podroute_yaml(&s, Path::new("/x/s"), Path::new("/x/st"));
        assert!(y.contains("fib: { enabled: false }"));
        assert!(y.contains("  - range: 198.18.0.0/15\n    template:\n      remote_as: 65100"));
        let b = bird_conf(&s);
        assert!(
            !b.contains("protocol kernel"),
            "FIB off: no kernel protocol"
        );
        assert!(b.contains("neighbor range 198.18.0.0/15 as 65100;"));
        assert!(b.contains("  ipv6 { import all; export all; };"));
        let b = bird_conf(&TargetSpec {
            fib: true,
            ..s.clone()
        });
        assert!(b.contains("netlink rx buffer 268435456;"));
        let f = frr_conf(&s);
        assert!(f.contains(" bgp listen limit 1010\n"));
        assert!(f.contains(" address-family ipv6 unicast\n  neighbor 2001:db8:2::2 activate\n"));
        assert!(f.contains("  neighbor dyn activate\n"));
        let g = gobgp_toml(&s);
        assert!(g.contains("prefix = \"198.18.0.0/15\""));
        assert!(g.contains("afi-safi-name = \"ipv6-unicast\""));
        assert!(TargetKind::parse("frr").is_ok() && TargetKind::parse("quagga").is_err());
    }
}
