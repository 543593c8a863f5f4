//! For tests against the real kernel: a network namespace of the test's
//! own thread (namespaces are per thread: `unshare` here touches nothing
//! else, and `ip` commands and threads spawned from this thread run inside
//! it). Needs root, like the interop tests; fails (does not skip) without it.

use std::process::Command;

use crate::net::ifaddr::if_index;

/// Runs `f` on a fresh thread inside a new, empty network namespace.
pub(crate) fn in_netns<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::spawn(move || {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
            .expect("unshare(CLONE_NEWNET) failed: these tests need root");
        f()
    })
    .join()
    .expect("test thread panicked")
}

pub(crate) fn ip(args: &str) {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("cannot run ip");
    assert!(
        out.status.success(),
        "ip {args}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) fn ip_out(args: &str) -> String {
    let out = Command::new("ip")
        .args(args.split_whitespace())
        .output()
        .expect("cannot run ip");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One veth pair with documentation addresses on `veth-a`; its index.
pub(crate) fn link() -> u32 {
    ip("link set lo up");
    ip("link add veth-a type veth peer name veth-b");
    ip("link set veth-a up");
    ip("link set veth-b up");
    let _ = std::fs::write("/proc/sys/net/ipv6/conf/veth-a/accept_dad", "0");
    ip("addr add 192.0.2.1/30 dev veth-a");
    ip("addr add 198.51.100.1/24 dev veth-a");
    ip("addr add 2001:db8:0:12::1/64 dev veth-a nodad");
    if_index("veth-a").expect("veth a exists")
}
