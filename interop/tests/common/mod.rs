//! What the podroute interop tests share: addresses, prefixes, and checks.

#![allow(dead_code, reason = "each test file uses part of this")]

use std::net::IpAddr;
use std::time::Duration;

use anyhow::{Result, ensure};
use interop::{Community, Daemon, LargeCommunity, Podroute, Prefix, Route, prefix};

/// podroute's AS (4-octet).
pub(crate) const AS_PR: u32 = 4200000001;
/// The peer's AS for eBGP tests (4-octet).
pub(crate) const AS_PEER: u32 = 4200000002;
/// Generous: GoBGP idles 5 s after errors, FRR waits for its coalesce timer.
pub(crate) const T: Duration = Duration::from_secs(60);

/// podroute's pod CIDRs, and one it withdraws.
pub(crate) fn p_pr() -> Prefix {
    prefix("10.244.1.0/24")
}
pub(crate) fn p_pr6() -> Prefix {
    prefix("fd00:10:244:1::/64")
}
pub(crate) fn p_pr_gone() -> Prefix {
    prefix("10.244.11.0/24")
}
/// The peer's, and one it withdraws.
pub(crate) fn p_peer() -> Prefix {
    prefix("10.244.2.0/24")
}
pub(crate) fn p_peer6() -> Prefix {
    prefix("fd00:10:244:2::/64")
}
pub(crate) fn p_peer_gone() -> Prefix {
    prefix("10.244.12.0/24")
}

pub(crate) fn ip(s: &str) -> IpAddr {
    s.parse().expect("address literal")
}

/// The path has this AS path and carries (at least) these communities.
pub(crate) fn has(r: &Route, as_path: &[u32], c: Community, l: LargeCommunity) -> bool {
    r.as_path == as_path && r.has_community(c) && r.has_large_community(l)
}

/// podroute never took `prefix` out of its forwarding view in the current run: no "best
/// path changed" to zero next hops for it in its log.
pub(crate) fn never_withdrawn(pr: &Podroute, p: Prefix) -> Result<()> {
    let log = std::fs::read_to_string(pr.log_path())?;
    let seen = format!("prefix={p} next_hops=");
    ensure!(
        log.contains(&seen),
        "podroute's log has no FIB change for {p} at all; has its format changed?"
    );
    let needle = format!("prefix={p} next_hops=0");
    let bad: Vec<&str> = log.lines().filter(|l| l.contains(&needle)).collect();
    ensure!(
        bad.is_empty(),
        "podroute withdrew {p} from the FIB:\n{}",
        bad.join("\n")
    );
    Ok(())
}

/// podroute says why a session with a wrong TCP-MD5 password does not come up: a log line
/// naming the peer and TCP-MD5, and the same as the neighbor's last error in `show neighbors`,
/// where an operator looks first.
pub(crate) fn md5_mismatch_reported(pr: &Podroute, peer: IpAddr) -> Result<()> {
    let address = peer.to_string();
    pr.wait("a log line naming the peer and TCP-MD5", T, || {
        let log = pr.full_log();
        ensure!(
            log.lines()
                .any(|l| l.contains(&address) && l.contains("TCP-MD5")),
            "no line yet"
        );
        Ok(())
    })?;
    let n = pr.neighbor_summary(peer)?;
    ensure!(
        n["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("TCP-MD5") && e.contains("password")),
        "show neighbors should name TCP-MD5: {n:#}"
    );
    Ok(())
}
