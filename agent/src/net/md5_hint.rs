//! Saying why a TCP-MD5 session does not come up. A password mismatch is
//! silent on the wire: the kernel drops segments whose signature is wrong
//! or missing (RFC 2385 §2.0), so connect attempts just get no answer. What
//! the kernel does count, per network namespace, is in /proc/net/netstat
//! (`TcpExt: TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// How often one peer's hint is repeated while its session stays down.
const REPEAT: Duration = Duration::from_secs(60);

/// Unanswered attempts before the hint: the first ones are usually a peer
/// that is not listening yet (its unsigned reset is dropped just the same).
const ATTEMPTS: u32 = 3;

/// Segments the kernel dropped for TCP-MD5 reasons, since boot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Md5Drops {
    /// Signed with a key that does not match ours.
    pub(crate) wrong_signature: u64,
    /// Unsigned, from a peer we have a key for.
    pub(crate) unsigned: u64,
    /// Signed, from a peer we have no key for.
    pub(crate) unexpected: u64,
}

impl Md5Drops {
    pub(crate) fn read() -> Option<Md5Drops> {
        parse(&std::fs::read_to_string("/proc/net/netstat").ok()?)
    }
}

fn parse(netstat: &str) -> Option<Md5Drops> {
    let mut lines = netstat.lines();
    while let Some(names) = lines.next() {
        let values = lines.next()?;
        if !names.starts_with("TcpExt:") {
            continue;
        }
        let map: HashMap<&str, u64> = names
            .split_whitespace()
            .zip(values.split_whitespace())
            .filter_map(|(n, v)| Some((n, v.parse().ok()?)))
            .collect();
        return Some(Md5Drops {
            wrong_signature: *map.get("TCPMD5Failure")?,
            unsigned: *map.get("TCPMD5NotFound")?,
            unexpected: *map.get("TCPMD5Unexpected").unwrap_or(&0),
        });
    }
    None
}

/// Counts unanswered attempts and rate-limits the hint, per peer.
#[derive(Debug, Default)]
pub(crate) struct Md5Hints {
    last: HashMap<IpAddr, Instant>,
    unanswered: HashMap<IpAddr, u32>,
    /// The last hint given, shown as the neighbor's last error until the
    /// session comes up: the FSM never saw a failure to report.
    text: HashMap<IpAddr, String>,
}

impl Md5Hints {
    /// One more attempt to `peer` got no answer: the hint, once a few have
    /// and unless it was given less than a minute ago.
    pub(crate) fn hint(&mut self, peer: IpAddr, now: Instant) -> Option<String> {
        let n = self.unanswered.entry(peer).or_default();
        *n += 1;
        if *n < ATTEMPTS
            || self
                .last
                .get(&peer)
                .is_some_and(|t| now.duration_since(*t) < REPEAT)
        {
            return None;
        }
        self.last.insert(peer, now);
        let counted = match Md5Drops::read() {
            Some(d) => format!(
                " (this host's kernel has dropped {} segments with a wrong TCP-MD5 signature and {} unsigned ones from peers with a key)",
                d.wrong_signature, d.unsigned
            ),
            None => String::new(),
        };
        let text = format!(
            "no answer from {peer} to our connection attempts, and TCP-MD5 is on for this peer: a password mismatch looks exactly like this, because the kernel drops the segments silently{counted}; check that both sides use the same password"
        );
        self.text.insert(peer, text.clone());
        Some(text)
    }

    /// The last hint for `peer`, while its session has not come up since.
    pub(crate) fn current(&self, peer: IpAddr) -> Option<&str> {
        self.text.get(&peer).map(String::as_str)
    }

    /// The session came up: a later failure gets a fresh hint.
    pub(crate) fn forget(&mut self, peer: IpAddr) {
        self.last.remove(&peer);
        self.unanswered.remove(&peer);
        self.text.remove(&peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_tcpext_counters() {
        let text = "TcpExt: SyncookiesSent TCPMD5NotFound TCPMD5Unexpected TCPMD5Failure\nTcpExt: 0 3 1 7\nIpExt: InNoRoutes\nIpExt: 0\n";
        assert_eq!(
            parse(text),
            Some(Md5Drops {
                wrong_signature: 7,
                unsigned: 3,
                unexpected: 1
            })
        );
        assert_eq!(parse("IpExt: A\nIpExt: 1\n"), None);
    }

    #[test]
    fn this_kernel_counts_md5_drops() {
        assert!(
            Md5Drops::read().is_some(),
            "/proc/net/netstat has no TCPMD5 counters"
        );
    }

    #[test]
    fn hints_are_rate_limited_per_peer() {
        let mut h = Md5Hints::default();
        let t = Instant::now();
        let a: IpAddr = "192.0.2.2".parse().unwrap();
        let b: IpAddr = "192.0.2.3".parse().unwrap();
        // A peer still starting up: not yet.
        assert!(h.hint(a, t).is_none());
        assert!(h.hint(a, t).is_none());
        let first = h.hint(a, t).unwrap();
        assert!(
            first.contains("192.0.2.2") && first.contains("TCP-MD5"),
            "{first}"
        );
        assert!(h.hint(a, t + Duration::from_secs(5)).is_none());
        for _ in 1..ATTEMPTS {
            assert!(h.hint(b, t + Duration::from_secs(5)).is_none());
        }
        assert!(h.hint(b, t + Duration::from_secs(5)).is_some());
        assert!(h.hint(a, t + REPEAT).is_some());
        // After a session, the count starts over.
        h.forget(a);
        assert!(h.hint(a, t + REPEAT + Duration::from_secs(1)).is_none());
    }
}
