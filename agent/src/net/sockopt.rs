//! Socket options the safe wrappers do not cover: TCP-MD5 keys (RFC 2385),
//! the minimum TTL / hop limit of GTSM (RFC 5082), and the saved SYN that
//! tells an accepted connection's TTL.
//!
//! This module is the one place in podroute allowed `unsafe`: neither
//! socket2 nor nix wraps `TCP_MD5SIG`, `IP_MINTTL` or `IPV6_MINHOPCOUNT`,
//! so they go through `setsockopt` directly. Each call passes a pointer to
//! a plain `#[repr(C)]` value that lives across the call and its exact
//! size; the kernel copies it and keeps no reference.
#![allow(unsafe_code)]

use std::io;
use std::mem::size_of;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, RawFd};

/// Longest key the kernel takes (`TCP_MD5SIG_MAXKEYLEN`).
pub(crate) const MD5_MAX_KEY: usize = 80;

/// `struct tcp_md5sig` from `<linux/tcp.h>`.
#[repr(C)]
struct TcpMd5Sig {
    addr: libc::sockaddr_storage,
    flags: u8,
    prefixlen: u8,
    keylen: u16,
    ifindex: libc::c_int,
    key: [u8; MD5_MAX_KEY],
}

fn storage_for(peer: IpAddr) -> libc::sockaddr_storage {
    // SAFETY: sockaddr_storage is plain old data; all zeroes is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    match peer {
        IpAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: 0,
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_in fits in sockaddr_storage, which is made
            // to hold any socket address; both are plain data.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
        }
        IpAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr {
                    s6_addr: a.octets(),
                },
                sin6_scope_id: 0,
            };
            // SAFETY: as above, for sockaddr_in6.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
        }
    }
    ss
}

fn setsockopt<T>(fd: RawFd, level: libc::c_int, name: libc::c_int, value: &T) -> io::Result<()> {
    // SAFETY: `value` is a live, initialized `T` for the whole call and the
    // length passed is exactly its size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `TCP_MD5SIG_FLAG_PREFIX` from `<linux/tcp.h>`: the key covers a range.
const MD5_FLAG_PREFIX: u8 = 1;

/// Installs (or with `None`, removes) the TCP-MD5 key for segments to and
/// from `peer` on this socket. On a listening socket it applies to the
/// connections that peer makes.
pub(crate) fn set_md5_key(sock: &impl AsRawFd, peer: IpAddr, key: Option<&[u8]>) -> io::Result<()> {
    set_md5_key_for(sock, peer, None, key)
}

/// As [`set_md5_key`], for every address in `peer/prefix_len` (Linux ≥ 4.13,
/// `TCP_MD5SIG_EXT`): how dynamic neighbours get their key.
pub(crate) fn set_md5_key_for_range(
    sock: &impl AsRawFd,
    network: IpAddr,
    prefix_len: u8,
    key: Option<&[u8]>,
) -> io::Result<()> {
    set_md5_key_for(sock, network, Some(prefix_len), key)
}

fn set_md5_key_for(
    sock: &impl AsRawFd,
    peer: IpAddr,
    prefix_len: Option<u8>,
    key: Option<&[u8]>,
) -> io::Result<()> {
    let key = key.unwrap_or_default();
    if key.len() > MD5_MAX_KEY {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "TCP-MD5 key is {} bytes; the kernel takes at most {MD5_MAX_KEY}",
                key.len()
            ),
        ));
    }
    let mut sig = TcpMd5Sig {
        addr: storage_for(peer),
        flags: if prefix_len.is_some() {
            MD5_FLAG_PREFIX
        } else {
            0
        },
        prefixlen: prefix_len.unwrap_or(0),
        keylen: key.len() as u16,
        ifindex: 0,
        key: [0; MD5_MAX_KEY],
    };
    sig.key[..key.len()].copy_from_slice(key);
    let name = if prefix_len.is_some() {
        libc::TCP_MD5SIG_EXT
    } else {
        libc::TCP_MD5SIG
    };
    setsockopt(sock.as_raw_fd(), libc::IPPROTO_TCP, name, &sig)
}

/// GTSM (RFC 5082 §3): drop packets that arrive with a TTL (hop limit)
/// below `min`, i.e. from further than `256 - min` hops.
pub(crate) fn set_min_ttl(sock: &impl AsRawFd, v6: bool, min: u8) -> io::Result<()> {
    let value = libc::c_int::from(min);
    if v6 {
        setsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_MINHOPCOUNT,
            &value,
        )
    } else {
        setsockopt(sock.as_raw_fd(), libc::IPPROTO_IP, libc::IP_MINTTL, &value)
    }
}

/// Keep the SYN of each connection this listener accepts (`TCP_SAVE_SYN`,
/// Linux ≥ 4.2), so that GTSM can check the TTL the peer's very first
/// segment had: the listener is shared by every peer, so it cannot carry a
/// minimum TTL itself, and setting one after `accept` is too late for data
/// already queued.
pub(crate) fn save_syn(listener: &impl AsRawFd) -> io::Result<()> {
    let on: libc::c_int = 1;
    setsockopt(
        listener.as_raw_fd(),
        libc::IPPROTO_TCP,
        libc::TCP_SAVE_SYN,
        &on,
    )
}

/// The TTL (IPv4) or hop limit (IPv6) of the SYN that opened this accepted
/// connection, if its listener saved it ([`save_syn`]). The kernel hands
/// the saved headers over once.
pub(crate) fn saved_syn_ttl(stream: &impl AsRawFd) -> io::Result<Option<u8>> {
    // An IPv6 header with extension headers and the TCP header fit here.
    let mut buf = [0u8; 512];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is writable for `len` bytes and `len` is a live
    // socklen_t the kernel updates with the length it wrote.
    let r = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_SAVED_SYN,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let header = &buf[..(len as usize).min(buf.len())];
    // IPv4: TTL at byte 8; IPv6: hop limit at byte 7 (RFC 791, RFC 8200).
    Ok(match header.first().map(|b| b >> 4) {
        Some(4) => header.get(8).copied(),
        Some(6) => header.get(7).copied(),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ttl_of_an_accepted_syn_is_read_back() {
        use std::os::fd::AsFd;
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        save_syn(&l).unwrap();
        let c = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        c.set_ttl_v4(77).unwrap();
        c.connect(&l.local_addr().unwrap().into()).unwrap();
        let (s, _) = l.accept().unwrap();
        assert_eq!(saved_syn_ttl(&s.as_fd()).unwrap(), Some(77));
        // A listener without TCP_SAVE_SYN has nothing to give.
        let l2 = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let _c2 = std::net::TcpStream::connect(l2.local_addr().unwrap()).unwrap();
        let (s2, _) = l2.accept().unwrap();
        assert!(!matches!(saved_syn_ttl(&s2.as_fd()), Ok(Some(_))));
    }

    #[test]
    fn the_struct_matches_the_kernel_layout() {
        // <linux/tcp.h>: 128 + 1 + 1 + 2 + 4 + 80.
        assert_eq!(size_of::<TcpMd5Sig>(), 216);
    }

    #[test]
    fn keys_install_on_a_tcp_socket() {
        let s = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        set_md5_key(&s, "127.0.0.1".parse().unwrap(), Some(b"secret")).unwrap();
        set_md5_key(&s, "127.0.0.1".parse().unwrap(), None).unwrap();
        set_min_ttl(&s, false, 254).unwrap();
        let long = [b'x'; 81];
        assert!(set_md5_key(&s, "127.0.0.1".parse().unwrap(), Some(&long)).is_err());
        set_md5_key_for_range(&s, "127.0.0.0".parse().unwrap(), 8, Some(b"secret")).unwrap();
        set_md5_key_for_range(&s, "127.0.0.0".parse().unwrap(), 8, None).unwrap();
    }
}
