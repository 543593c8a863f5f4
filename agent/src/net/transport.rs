//! Opening connections to peers and accepting theirs, with the per-peer
//! socket options: source address, interface, TCP-MD5 and GTSM.

use std::io;
use std::net::{IpAddr, SocketAddr, SocketAddrV6};
use std::time::Duration;

use bgp::speaker::Transport;
use socket2::SockRef;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use bgp::types::Prefix;

use super::ifaddr::if_index;
use super::sockopt::{save_syn, saved_syn_ttl, set_md5_key, set_md5_key_for_range, set_min_ttl};

/// RFC 5082 §3: send with TTL 255; accept only what comes from within
/// `hops` hops.
fn apply_gtsm(
    sock: &(impl std::os::fd::AsRawFd + std::os::fd::AsFd),
    v6: bool,
    hops: u8,
) -> io::Result<()> {
    let s = SockRef::from(sock);
    if v6 {
        s.set_unicast_hops_v6(255)?;
    } else {
        s.set_ttl_v4(255)?;
    }
    set_min_ttl(sock, v6, min_ttl(hops))
}

/// The socket address of a peer, with the interface scope for link-local
/// IPv6 peers.
pub(crate) fn peer_socket_addr(peer: IpAddr, t: &Transport) -> io::Result<SocketAddr> {
    Ok(match peer {
        IpAddr::V6(v6) if v6.is_unicast_link_local() => {
            let name = t.interface.as_deref().ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a link-local peer needs an interface",
                )
            })?;
            let index = if_index(name).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("no interface named {name}"),
                )
            })?;
            SocketAddr::V6(SocketAddrV6::new(v6, t.port, 0, index))
        }
        ip => SocketAddr::new(ip, t.port),
    })
}

/// Connects to `peer` as `t` says.
pub(crate) async fn connect(
    peer: IpAddr,
    t: &Transport,
    timeout: Duration,
) -> io::Result<TcpStream> {
    let addr = peer_socket_addr(peer, t)?;
    let sock = if addr.is_ipv6() {
        TcpSocket::new_v6()?
    } else {
        TcpSocket::new_v4()?
    };
    if let Some(pw) = &t.password {
        set_md5_key(&sock, peer, Some(pw.as_bytes()))?;
    }
    if let Some(hops) = t.ttl_security {
        apply_gtsm(&sock, addr.is_ipv6(), hops)?;
    }
    if let Some(name) = &t.interface {
        SockRef::from(&sock).bind_device(Some(name.as_bytes()))?;
    }
    if let Some(local) = t.local_address {
        sock.bind(SocketAddr::new(local, 0))?;
    }
    let md5_hint = if t.password.is_some() {
        ": TCP-MD5 is on for this peer, and a password mismatch looks exactly like \
         this (the kernel drops the segments); check that both sides use the same password"
    } else {
        ""
    };
    let stream = tokio::time::timeout(timeout, sock.connect(addr))
        .await
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("connection timed out{md5_hint}"),
            )
        })?
        .map_err(|e| io::Error::new(e.kind(), format!("{e}{md5_hint}")))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// A listening socket on `addr:port`; IPv6 sockets take IPv6 only, so
/// IPv4 and IPv6 listeners can coexist on one port.
pub(crate) fn listen(addr: IpAddr, port: u16) -> io::Result<TcpListener> {
    let sock = if addr.is_ipv6() {
        TcpSocket::new_v6()?
    } else {
        TcpSocket::new_v4()?
    };
    sock.set_reuseaddr(true)?;
    // SYN-ACKs leave with TTL 255, so a GTSM peer's minimum TTL lets them
    // in (RFC 5082 §3); accepted connections get their own TTL afterwards.
    if addr.is_ipv6() {
        SockRef::from(&sock).set_only_v6(true)?;
        SockRef::from(&sock).set_unicast_hops_v6(255)?;
    } else {
        SockRef::from(&sock).set_ttl_v4(255)?;
    }
    sock.bind(SocketAddr::new(addr, port))?;
    save_syn(&sock)?;
    sock.listen(1024)
}

/// Installs or removes the MD5 key for `peer` on a listener.
pub(crate) fn listener_key(l: &TcpListener, peers: &Prefix, key: Option<&str>) -> io::Result<()> {
    let (network, len) = (peers.addr(), peers.len());
    if len == if network.is_ipv4() { 32 } else { 128 } {
        set_md5_key(l, network, key.map(str::as_bytes))
    } else {
        set_md5_key_for_range(l, network, len, key.map(str::as_bytes))
    }
}

/// Options of an accepted connection (the listener is shared by all peers).
/// With GTSM, a connection whose SYN came from too far away is refused
/// before a byte of it is read (RFC 5082 §3).
pub(crate) fn accepted_options(stream: &TcpStream, t: &Transport) -> Result<(), Accept> {
    stream.set_nodelay(true).map_err(Accept::Io)?;
    if let Some(hops) = t.ttl_security {
        let min = min_ttl(hops);
        match saved_syn_ttl(stream) {
            Ok(Some(ttl)) if ttl < min => return Err(Accept::TooFar { ttl, min, hops }),
            Ok(Some(_)) => {}
            // No saved SYN: the minimum TTL set below still drops what follows.
            Ok(None) | Err(_) => {}
        }
        let v6 = stream.local_addr().map_err(Accept::Io)?.is_ipv6();
        apply_gtsm(stream, v6, hops).map_err(Accept::Io)?;
    }
    Ok(())
}

/// Why an accepted connection is not used.
#[derive(Debug)]
pub(crate) enum Accept {
    /// GTSM: the SYN arrived with a TTL below the minimum.
    TooFar {
        ttl: u8,
        min: u8,
        hops: u8,
    },
    Io(io::Error),
}

impl std::fmt::Display for Accept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Accept::TooFar { ttl, min, hops } => write!(
                f,
                "its SYN arrived with TTL {ttl}, but GTSM (ttl_security: {hops}) accepts only TTL {min} or more (RFC 5082): is the peer configured for GTSM too (FRR: `neighbor X ttl-security hops {hops}`, BIRD: `ttl security on`)?"
            ),
            Accept::Io(e) => write!(f, "cannot set socket options: {e}"),
        }
    }
}

/// RFC 5082 §3: a peer `hops` away arrives with TTL 255 - (hops - 1).
fn min_ttl(hops: u8) -> u8 {
    255u8.saturating_sub(hops.saturating_sub(1))
}
