//! Network namespaces, veth links and addresses, torn down by a guard.

use std::ffi::OsStr;
use std::fmt;
use std::fs;
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};

use crate::process::{self, Output, Process};
use crate::rules;

/// Time limit for one short command (`ip`, `sysctl`, `vtysh`, `birdc`, `gobgp`, ...).
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Labs started by this test process (part of every namespace name).
static LAB_SEQ: AtomicU32 = AtomicU32::new(0);

/// Fails with a clear message unless the process runs as root with `ip netns` available.
pub fn require_root() -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!(
            "interop tests need root: they create network namespaces and run BGP daemons \
             (run `sudo -E cargo test -p interop`, or as root in CI)"
        );
    }
    process::run_checked(&["ip", "netns", "list"], COMMAND_TIMEOUT)
        .context("interop tests need iproute2 with `ip netns`")?;
    Ok(())
}

/// Fails with an install hint unless every program is on PATH (or is an existing path).
pub fn require_programs(programs: &[&str]) -> Result<()> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let missing: Vec<&str> = programs
        .iter()
        .copied()
        .filter(|p| {
            if p.contains('/') {
                !Path::new(p).exists()
            } else {
                !std::env::split_paths(&path).any(|d| d.join(p).is_file())
            }
        })
        .collect();
    ensure!(
        missing.is_empty(),
        "missing programs {missing:?}: install them with \
         `DEBIAN_FRONTEND=noninteractive apt-get install -y frr bird2 gobgpd iproute2`"
    );
    Ok(())
}

/// Owns everything a test builds: namespaces (and the links inside them) and a scratch
/// directory for configurations and logs. Processes hold a reference to it, so the
/// namespaces are deleted only after every process started in them has been stopped, even
/// when a test panics.
///
/// Set `INTEROP_KEEP=1` to keep the scratch directory (its path is printed).
pub struct Lab {
    inner: Arc<LabInner>,
}

impl fmt::Debug for Lab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lab")
            .field("name", &self.inner.name)
            .field("dir", &self.inner.dir)
            .finish()
    }
}

struct LabInner {
    name: String,
    /// `it-<pid>-<seq>`: unique per lab within this test process, and across processes.
    tag: String,
    dir: PathBuf,
    namespaces: Mutex<Vec<String>>,
}

impl Lab {
    /// A new, empty lab. `name` (`[a-z0-9]`, at most 12 characters) names the scratch
    /// directory; namespace names are `it-<pid>-<seq>-<node>`.
    pub fn new(name: &str) -> Result<Lab> {
        ensure!(
            !name.is_empty()
                && name.len() <= 12
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "lab name {name:?} must be [a-z0-9], 1 to 12 characters"
        );
        require_root()?;
        let seq = LAB_SEQ.fetch_add(1, Ordering::Relaxed);
        let tag = format!("it-{}-{seq}", std::process::id());
        let dir = std::env::temp_dir().join(format!("interop-{name}-{}-{seq}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("remove stale {}", dir.display()))?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        // Daemons that drop privileges (FRR runs as `frr`) must reach their own directories.
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        Ok(Lab {
            inner: Arc::new(LabInner {
                name: name.to_string(),
                tag,
                dir,
                namespaces: Mutex::new(Vec::new()),
            }),
        })
    }

    /// A lab whose namespaces are named `<tag>-<node>` and whose scratch directory is `dir`
    /// (created; it must not exist yet), for a lab a person explores by name (e.g. the
    /// `podroute-lab` demo). `tag` is `[a-z0-9-]`, at most 32 characters; no namespace may
    /// already start with `<tag>-`. Torn down on drop like any lab.
    pub fn with_tag(tag: &str, dir: &Path) -> Result<Lab> {
        ensure!(
            valid_name(tag, 32),
            "lab tag {tag:?} must be [a-z0-9-], 1 to 32 characters, starting with a letter or digit"
        );
        require_root()?;
        let taken: Vec<String> = list_namespaces()?
            .into_iter()
            .filter(|ns| ns.starts_with(&format!("{tag}-")))
            .collect();
        ensure!(
            taken.is_empty(),
            "namespaces {taken:?} exist already: another lab tagged {tag:?} is up"
        );
        ensure!(!dir.exists(), "{} exists already", dir.display());
        fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
        Ok(Lab {
            inner: Arc::new(LabInner {
                name: tag.to_string(),
                tag: tag.to_string(),
                dir: dir.to_path_buf(),
                namespaces: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The scratch directory (configurations, sockets, logs).
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The prefix of every namespace name of this lab (`<tag>-<node>`).
    pub fn tag(&self) -> &str {
        &self.inner.tag
    }

    /// The namespaces created so far, in creation order.
    pub fn namespaces(&self) -> Vec<String> {
        self.inner
            .namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Creates a node: a namespace with `lo` up, DAD off and forwarding on. `name`
    /// (`[a-z0-9-]`, at most 20 characters, starting with a letter or digit) must be unique
    /// in the lab.
    pub fn node(&self, name: &str) -> Result<Node> {
        ensure!(
            valid_name(name, 20),
            "node name {name:?} must be [a-z0-9-], 1 to 20 characters, starting with a letter \
             or digit"
        );
        let netns = format!("{}-{name}", self.inner.tag);
        let dir = self.inner.dir.join(name);
        ensure!(
            !dir.exists(),
            "node {name} exists already in lab {}",
            self.inner.name
        );
        fs::create_dir(&dir)?;
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755))?;
        process::run_checked(&["ip", "netns", "add", &netns], COMMAND_TIMEOUT)?;
        self.inner
            .namespaces
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(netns.clone());
        let node = Node {
            inner: Arc::new(NodeInner {
                lab: Arc::clone(&self.inner),
                name: name.to_string(),
                netns,
                dir,
                next_if: AtomicU32::new(0),
            }),
        };
        node.ip(&["link", "set", "lo", "up"])?;
        node.exec(&[
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv4.ip_forward=1",
            "net.ipv6.conf.all.forwarding=1",
        ])?;
        Ok(node)
    }

    /// Joins two nodes with a veth pair (`eth<N>` in each, numbered per node) and puts one
    /// address on each end: both IPv4 or both IPv6, from the documentation ranges, as
    /// `ADDR/LEN`. IPv6 addresses are added with `nodad`.
    pub fn link(&self, a: &Node, a_addr: &str, b: &Node, b_addr: &str) -> Result<Link> {
        ensure!(
            Arc::ptr_eq(&a.inner.lab, &self.inner) && Arc::ptr_eq(&b.inner.lab, &self.inner),
            "link: both nodes must belong to this lab"
        );
        ensure!(
            a.inner.netns != b.inner.netns,
            "link: a node cannot link to itself"
        );
        let a_if = a.next_ifname();
        let b_if = b.next_ifname();
        // Created inside the namespaces: the interfaces never exist in the root namespace,
        // so their names cannot clash with other tests.
        a.ip(&[
            "link",
            "add",
            &a_if,
            "type",
            "veth",
            "peer",
            "name",
            &b_if,
            "netns",
            &b.inner.netns,
        ])?;
        let link = Link {
            a: a.clone(),
            a_if,
            b: b.clone(),
            b_if,
        };
        for (n, ifname) in [(&link.a, &link.a_if), (&link.b, &link.b_if)] {
            n.exec(&[
                "sysctl",
                "-qw",
                &format!("net.ipv6.conf.{ifname}.accept_dad=0"),
            ])?;
        }
        link.add_addrs(a_addr, b_addr)?;
        link.a.ip(&["link", "set", &link.a_if, "up"])?;
        link.b.ip(&["link", "set", &link.b_if, "up"])?;
        Ok(link)
    }

    /// Joins two nodes with a veth pair whose ends have the given names (`a_if` in `a`,
    /// `b_if` in `b`), up, with DAD off and no addresses. The pair is created inside the
    /// namespaces, never in the root namespace. Do not mix with [`Lab::link`] on the same
    /// node unless the names cannot clash (that one names interfaces `eth<N>`).
    pub fn veth(&self, a: &Node, a_if: &str, b: &Node, b_if: &str) -> Result<Link> {
        ensure!(
            Arc::ptr_eq(&a.inner.lab, &self.inner) && Arc::ptr_eq(&b.inner.lab, &self.inner),
            "veth: both nodes must belong to this lab"
        );
        ensure!(
            a.inner.netns != b.inner.netns,
            "veth: a node cannot link to itself"
        );
        for ifname in [a_if, b_if] {
            ensure!(
                valid_ifname(ifname),
                "interface name {ifname:?}: 1 to 15 characters of [A-Za-z0-9_.-]"
            );
        }
        a.ip(&[
            "link",
            "add",
            a_if,
            "type",
            "veth",
            "peer",
            "name",
            b_if,
            "netns",
            &b.inner.netns,
        ])?;
        let link = Link {
            a: a.clone(),
            a_if: a_if.to_string(),
            b: b.clone(),
            b_if: b_if.to_string(),
        };
        for (n, ifname) in [(&link.a, &link.a_if), (&link.b, &link.b_if)] {
            // The slash form: an interface name may contain dots.
            n.exec(&[
                "sysctl",
                "-qw",
                &format!("net/ipv6/conf/{ifname}/accept_dad=0"),
            ])?;
            n.ip(&["link", "set", ifname, "up"])?;
        }
        Ok(link)
    }
}

/// `[a-z0-9-]`, 1 to `max` characters, not starting with `-`.
fn valid_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// A Linux interface name the harness accepts: 1 to 15 characters of `[A-Za-z0-9_.-]`.
pub fn valid_ifname(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 15
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The names of every network namespace (`ip netns list`).
pub fn list_namespaces() -> Result<Vec<String>> {
    let out = process::run_checked(&["ip", "netns", "list"], COMMAND_TIMEOUT)?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect())
}

impl Drop for LabInner {
    fn drop(&mut self) {
        // Every Process holds a Node, which holds this: all of them are stopped by now.
        let namespaces =
            std::mem::take(self.namespaces.get_mut().unwrap_or_else(|e| e.into_inner()));
        for ns in namespaces.iter().rev() {
            if let Ok(out) = process::run(&["ip", "netns", "pids", ns], COMMAND_TIMEOUT) {
                let pids = out.stdout.split_whitespace().collect::<Vec<_>>().join(" ");
                if !pids.is_empty() {
                    // Not ours (ours were stopped): leave them alone, but say so.
                    eprintln!(
                        "interop: namespace {ns} still has processes {pids} that the harness \
                         did not start; deleting the namespace anyway"
                    );
                }
            }
            match process::run(&["ip", "netns", "del", ns], COMMAND_TIMEOUT) {
                Ok(out) if out.status.success() => {}
                Ok(out) => eprintln!("interop: ip netns del {ns}: {}", out.stderr.trim()),
                Err(e) => eprintln!("interop: ip netns del {ns}: {e:#}"),
            }
        }
        if std::env::var_os("INTEROP_KEEP").is_some_and(|v| !v.is_empty() && v != "0") {
            eprintln!("interop: kept {}", self.dir.display());
        } else if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("interop: remove {}: {e}", self.dir.display());
        }
    }
}

/// One network namespace of a lab. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
}

struct NodeInner {
    lab: Arc<LabInner>,
    name: String,
    netns: String,
    dir: PathBuf,
    next_if: AtomicU32,
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.inner.name)
            .field("netns", &self.inner.netns)
            .finish()
    }
}

impl Node {
    /// The node's short name (as given to [`Lab::node`]).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The namespace name (`it-<pid>-<seq>-<node>`).
    pub fn netns(&self) -> &str {
        &self.inner.netns
    }

    /// The node's scratch directory (mode 0755).
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    fn next_ifname(&self) -> String {
        format!("eth{}", self.inner.next_if.fetch_add(1, Ordering::Relaxed))
    }

    fn netns_argv<S: AsRef<OsStr>>(&self, argv: &[S]) -> Vec<std::ffi::OsString> {
        let mut full: Vec<std::ffi::OsString> = vec!["ip".into(), "netns".into(), "exec".into()];
        full.push(self.inner.netns.clone().into());
        full.extend(argv.iter().map(|a| a.as_ref().to_os_string()));
        full
    }

    /// Runs a command in the namespace; fails unless it exits 0; returns its stdout.
    pub fn exec<S: AsRef<OsStr>>(&self, argv: &[S]) -> Result<String> {
        process::run_checked(&self.netns_argv(argv), COMMAND_TIMEOUT)
            .with_context(|| format!("on node {}", self.inner.name))
    }

    /// Runs a command in the namespace and returns its status and output unchecked.
    pub fn exec_output<S: AsRef<OsStr>>(&self, argv: &[S]) -> Result<Output> {
        process::run(&self.netns_argv(argv), COMMAND_TIMEOUT)
    }

    /// [`Node::exec_output`] for commands that take longer than the usual 10 s (e.g. a long
    /// ping); killed after `timeout`.
    pub fn exec_output_for<S: AsRef<OsStr>>(
        &self,
        argv: &[S],
        timeout: std::time::Duration,
    ) -> Result<Output> {
        process::run(&self.netns_argv(argv), timeout)
    }

    /// A TCP listener bound to `addr` inside the namespace, for a server the test process
    /// runs itself (the fake API server) that the nodes must reach. A socket keeps the
    /// namespace it was made in, so only a short-lived thread enters the namespace: the
    /// test's own threads stay where they are.
    pub fn bind_tcp(&self, addr: std::net::SocketAddr) -> Result<std::net::TcpListener> {
        let path = Path::new("/var/run/netns").join(&self.inner.netns);
        let node = self.inner.name.clone();
        std::thread::spawn(move || -> Result<std::net::TcpListener> {
            let ns = fs::File::open(&path).with_context(|| format!("open {}", path.display()))?;
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&ns),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .with_context(|| format!("enter the namespace of node {node}"))?;
            let listener = std::net::TcpListener::bind(addr)
                .with_context(|| format!("bind {addr} on node {node}"))?;
            listener.set_nonblocking(true)?;
            Ok(listener)
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the thread binding {addr} panicked"))?
    }

    /// Runs `ip -n NETNS ARGS...`.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        let mut argv = vec!["ip", "-n", &self.inner.netns];
        argv.extend_from_slice(args);
        process::run_checked(&argv, COMMAND_TIMEOUT)
            .with_context(|| format!("on node {}", self.inner.name))
    }

    /// Starts a long-running process in the namespace; its stdout and stderr go to
    /// `<node dir>/<name>.log`. The returned [`Process`] stops it when dropped.
    pub fn spawn<S: AsRef<OsStr>>(&self, name: &str, argv: &[S]) -> Result<NodeProcess> {
        let log = self.inner.dir.join(format!("{name}.log"));
        let process = Process::spawn(
            &format!("{name}@{}", self.inner.name),
            &self.netns_argv(argv),
            &log,
        )?;
        Ok(NodeProcess {
            process,
            _node: self.clone(),
        })
    }

    /// Adds an address to an interface: `ADDR/LEN`; IPv6 with `nodad`. Link addresses must
    /// be in the documentation ranges; on `lo`, routed ranges (10.244.0.0/16,
    /// fd00:10:244::/48) are allowed too.
    pub fn add_addr(&self, ifname: &str, cidr: &str) -> Result<IpAddr> {
        let (addr, _) = parse_cidr(cidr)?;
        if ifname == "lo" {
            rules::check_any_addr(addr)?;
        } else {
            rules::check_link_addr(addr)?;
        }
        match addr {
            IpAddr::V4(_) => self.ip(&["addr", "add", cidr, "dev", ifname])?,
            IpAddr::V6(_) => self.ip(&["addr", "add", cidr, "dev", ifname, "nodad"])?,
        };
        Ok(addr)
    }

    /// Adds a host address (`/32` or `/128` unless a length is given) to `lo`.
    pub fn add_loopback(&self, addr: &str) -> Result<IpAddr> {
        let cidr = if addr.contains('/') {
            addr.to_string()
        } else if addr.contains(':') {
            format!("{addr}/128")
        } else {
            format!("{addr}/32")
        };
        self.add_addr("lo", &cidr)
    }
}

/// A [`Process`] that also keeps its node (and so the lab's namespaces) alive until it has
/// been stopped.
#[derive(Debug)]
pub struct NodeProcess {
    /// The process (dropped, and so stopped, before the node reference).
    pub process: Process,
    _node: Node,
}

impl std::ops::Deref for NodeProcess {
    type Target = Process;
    fn deref(&self) -> &Process {
        &self.process
    }
}

impl std::ops::DerefMut for NodeProcess {
    fn deref_mut(&mut self) -> &mut Process {
        &mut self.process
    }
}

/// A veth pair between two nodes.
#[derive(Debug, Clone)]
pub struct Link {
    /// One end's node.
    pub a: Node,
    /// Its interface name.
    pub a_if: String,
    /// The other end's node.
    pub b: Node,
    /// Its interface name.
    pub b_if: String,
}

impl Link {
    /// Adds one more address pair (e.g. IPv6 on an IPv4 link).
    pub fn add_addrs(&self, a_addr: &str, b_addr: &str) -> Result<()> {
        let (x, _) = parse_cidr(a_addr)?;
        let (y, _) = parse_cidr(b_addr)?;
        ensure!(
            x.is_ipv4() == y.is_ipv4(),
            "link addresses {a_addr} and {b_addr} are of different families"
        );
        self.a.add_addr(&self.a_if, a_addr)?;
        self.b.add_addr(&self.b_if, b_addr)?;
        Ok(())
    }
}

fn parse_cidr(cidr: &str) -> Result<(IpAddr, u8)> {
    let (a, l) = cidr
        .split_once('/')
        .ok_or_else(|| anyhow!("address {cidr:?} needs a /length"))?;
    let addr: IpAddr = a.parse().with_context(|| format!("address {cidr:?}"))?;
    let len: u8 = l.parse().with_context(|| format!("address {cidr:?}"))?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    ensure!(len <= max, "address {cidr:?}: length over {max}");
    Ok((addr, len))
}
