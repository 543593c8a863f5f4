//! Sockets made inside a network namespace without moving the caller's threads there.
//!
//! A socket belongs to the namespace it was created in, for its whole life, whatever thread
//! uses it later. So, as [`Node::bind_tcp`] does, a short-lived thread enters the namespace
//! (`setns`), creates (and binds) the socket and returns it; connecting, reading and writing
//! then happen on the tools' own threads.

use std::fmt;
use std::fs::File;
use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use rustix::net::{
    AddressFamily, SocketFlags, SocketType, bind, connect, listen, socket_with, sockopt,
};

use crate::lab::Node;

/// Where the tools make their sockets: a lab node's namespace, or the namespace the process
/// already runs in (the CLI under `ip netns exec`).
///
/// Built from a `&Node` (`(&node).into()`); holding the node keeps the lab's namespaces
/// alive until every tool using it has been dropped.
#[derive(Clone)]
pub enum Netns {
    /// The namespace of the calling thread.
    Current,
    /// A lab node's namespace.
    Node(Node),
}

impl fmt::Debug for Netns {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Netns::Current => f.write_str("Netns::Current"),
            Netns::Node(n) => write!(f, "Netns::Node({})", n.netns()),
        }
    }
}

impl From<&Node> for Netns {
    fn from(node: &Node) -> Netns {
        Netns::Node(node.clone())
    }
}

impl From<Node> for Netns {
    fn from(node: Node) -> Netns {
        Netns::Node(node)
    }
}

impl Netns {
    /// A short name for messages.
    pub fn name(&self) -> String {
        match self {
            Netns::Current => "the current namespace".to_string(),
            Netns::Node(n) => format!("node {}", n.name()),
        }
    }

    fn path(&self) -> Option<PathBuf> {
        match self {
            Netns::Current => None,
            Netns::Node(n) => Some(PathBuf::from("/var/run/netns").join(n.netns())),
        }
    }

    /// Runs `f` in a thread inside the namespace (or right here for [`Netns::Current`]) and
    /// returns what it made. `f` should only create sockets: it must not block for long.
    pub fn run<T, F>(&self, what: &str, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> io::Result<T> + Send + 'static,
    {
        let Some(path) = self.path() else {
            return f().with_context(|| format!("{what} in {}", self.name()));
        };
        let name = self.name();
        let what_owned = what.to_string();
        thread::Builder::new()
            .name("netns-socket".into())
            .spawn(move || -> Result<T> {
                let ns = File::open(&path).with_context(|| format!("open {}", path.display()))?;
                rustix::thread::move_into_link_name_space(
                    ns.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .with_context(|| format!("enter the namespace of {name}"))?;
                f().with_context(|| format!("{what_owned} in {name}"))
            })
            .context("spawn a thread to enter a namespace")?
            .join()
            .map_err(|_| anyhow!("the thread making a socket ({what}) panicked"))?
    }
}

/// `SO_RCVBUF`/`SO_SNDBUF` with the `FORCE` variants (root ignores `net.core.*mem_max`),
/// falling back to the plain ones.
pub(crate) fn grow_buffers(fd: impl AsFd, recv: usize, send: usize) {
    if recv > 0 && sockopt::set_socket_recv_buffer_size_force(&fd, recv).is_err() {
        let _ = sockopt::set_socket_recv_buffer_size(&fd, recv);
    }
    if send > 0 && sockopt::set_socket_send_buffer_size_force(&fd, send).is_err() {
        let _ = sockopt::set_socket_send_buffer_size(&fd, send);
    }
}

fn tcp_socket(family: IpAddr, buffers: usize) -> io::Result<OwnedFd> {
    let domain = match family {
        IpAddr::V4(_) => AddressFamily::INET,
        IpAddr::V6(_) => AddressFamily::INET6,
    };
    let fd = socket_with(domain, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    // Before connect/listen, so the window scale covers them.
    grow_buffers(&fd, buffers, buffers);
    Ok(fd)
}

/// A TCP socket in `ns` bound to `local` (port 0: any), unconnected, as a std stream (for
/// tokio's `TcpSocket::from_std_stream`, or [`connect_from`]).
pub(crate) fn bound_tcp_socket(ns: &Netns, local: IpAddr, buffers: usize) -> Result<OwnedFd> {
    ns.run(&format!("bind a TCP socket to {local}"), move || {
        let fd = tcp_socket(local, buffers)?;
        sockopt::set_socket_reuseaddr(&fd, true)?;
        bind(&fd, &SocketAddr::new(local, 0))?;
        Ok(fd)
    })
}

/// Many unconnected sockets bound to the given local addresses, made by one thread.
pub(crate) fn bound_tcp_sockets(
    ns: &Netns,
    locals: Vec<IpAddr>,
    buffers: usize,
) -> Result<Vec<OwnedFd>> {
    let n = locals.len();
    ns.run(&format!("bind {n} TCP sockets"), move || {
        locals
            .into_iter()
            .map(|local| {
                let fd = tcp_socket(local, buffers)?;
                sockopt::set_socket_reuseaddr(&fd, true)?;
                bind(&fd, &SocketAddr::new(local, 0)).map_err(|e| {
                    io::Error::new(e.kind(), format!("bind {local}: {e} (is it configured?)"))
                })?;
                Ok(fd)
            })
            .collect()
    })
}

/// Connects from `local` (an address of `ns`) to `peer`, retrying refused or unreachable
/// attempts every 100 ms until `deadline` or until `stop` says so.
pub(crate) fn connect_from(
    ns: &Netns,
    local: IpAddr,
    peer: SocketAddr,
    buffers: usize,
    deadline: Instant,
    stop: &dyn Fn() -> bool,
) -> Result<TcpStream> {
    let mut last: Option<anyhow::Error> = None;
    loop {
        if stop() {
            bail!("stopped while connecting to {peer}");
        }
        let now = Instant::now();
        if now >= deadline {
            let last = last.map(|e| format!(": {e:#}")).unwrap_or_default();
            bail!("could not connect from {local} to {peer} in time{last}");
        }
        let fd = bound_tcp_socket(ns, local, buffers)?;
        // connect() honours SO_SNDTIMEO: no attempt outlives the deadline (or 2 s).
        let attempt = (deadline - now).min(Duration::from_secs(2));
        sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, Some(attempt))?;
        match connect(&fd, &peer) {
            Ok(()) => {
                sockopt::set_socket_timeout(&fd, sockopt::Timeout::Send, None)?;
                return Ok(TcpStream::from(fd));
            }
            Err(e) => {
                last = Some(anyhow!("connect from {local} to {peer}: {e}"));
                thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// A listening TCP socket on `local` in `ns`, non-blocking.
pub(crate) fn listen_on(ns: &Netns, local: SocketAddr, buffers: usize) -> Result<TcpListener> {
    ns.run(&format!("listen on {local}"), move || {
        let fd = tcp_socket(local.ip(), buffers)?;
        sockopt::set_socket_reuseaddr(&fd, true)?;
        if local.is_ipv6() {
            sockopt::set_ipv6_v6only(&fd, true)?;
        }
        bind(&fd, &local)?;
        listen(&fd, 128)?;
        let l = TcpListener::from(fd);
        l.set_nonblocking(true)?;
        Ok(l)
    })
}

/// Accepts the first connection from `peer` (others are closed), polling every 10 ms until
/// `deadline` or until `stop` says so. The stream is blocking.
pub(crate) fn accept_from(
    listener: &TcpListener,
    peer: IpAddr,
    deadline: Instant,
    stop: &dyn Fn() -> bool,
) -> Result<TcpStream> {
    loop {
        if stop() {
            bail!("stopped while waiting for {peer} to connect");
        }
        match listener.accept() {
            Ok((s, from)) if from.ip() == peer || peer.is_unspecified() => {
                s.set_nonblocking(false)?;
                return Ok(s);
            }
            Ok((s, from)) => {
                eprintln!("bench: refused a connection from {from} (expecting {peer})");
                drop(s);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    bail!("{peer} did not connect in time");
                }
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(e).context("accept"),
        }
    }
}
