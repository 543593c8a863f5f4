use std::net::IpAddr;

use super::*;
use crate::control::protocol::{FamilyCounts, FibCounts};

fn status() -> Status {
    Status {
        version: "0.1.0".into(),
        node: Some("node-1".into()),
        router_id: "192.0.2.11".into(),
        asn: 64512,
        uptime_secs: 100,
        peers_configured: 2,
        peers_established: 1,
        prefixes: 3,
        paths: 4,
        attribute_sets: 2,
        deferring: false,
        originated: vec!["10.244.7.0/24".into()],
        fib: None,
    }
}

fn neighbor(address: &str, state: &str, uptime: Option<u64>, accepted: u64) -> NeighborSummary {
    NeighborSummary {
        address: address.parse::<IpAddr>().unwrap(),
        asn: Some(64512),
        kind: "mesh".into(),
        description: None,
        state: state.into(),
        uptime_secs: uptime,
        families: vec![FamilyCounts {
            family: "ipv4-unicast".into(),
            received: None,
            accepted,
            advertised: 1,
        }],
        last_error: None,
        policy_note: None,
    }
}

fn at(text: &str) -> Timestamp {
    text.parse().unwrap()
}

#[test]
fn the_report_counts_sessions_and_routes() {
    let mut status = status();
    status.fib = Some(FibCounts {
        installed: 2,
        not_installed: 1,
        pending: 0,
    });
    let r = report(
        &status,
        &[
            neighbor("192.0.2.12", "Established", Some(60), 2),
            neighbor("192.0.2.13", "Active", None, 0),
        ],
        at("2026-12-02T10:00:00.4Z"),
    );
    assert_eq!(r.updated, "2026-12-02T10:00:00Z");
    assert_eq!(r.router_id, "192.0.2.11");
    assert_eq!(r.asn, 64512);
    assert_eq!(r.pod_cidrs, vec!["10.244.7.0/24"]);
    assert_eq!((r.session_count, r.established), (2, 1));
    assert_eq!(r.sessions[0].since.as_deref(), Some("2026-12-02T09:59:00Z"));
    assert_eq!(r.sessions[0].prefixes_accepted, 2);
    // Received is known only when kept; else it is what was accepted.
    assert_eq!(r.sessions[0].prefixes_received, 2);
    assert_eq!(r.sessions[1].since, None);
    assert_eq!(
        (r.routes.best, r.routes.installed, r.routes.not_installed),
        (3, 2, 1)
    );
}

#[test]
fn without_a_fib_nothing_counts_as_installed() {
    let r = report(&status(), &[], at("2026-12-02T10:00:00Z"));
    assert_eq!((r.routes.best, r.routes.installed), (3, 0));
    assert_eq!(r.session_count, 0);
}

#[test]
fn only_a_real_change_makes_a_write() {
    let n = |up| [neighbor("192.0.2.12", "Established", Some(up), 2)];
    let a = report(&status(), &n(60), at("2026-12-02T10:00:00Z"));
    // Ten seconds on, the same sessions: the times moved, nothing else.
    let b = report(&status(), &n(70), at("2026-12-02T10:00:10Z"));
    assert!(same(&a, &b));
    let down = [neighbor("192.0.2.12", "Idle", Some(1), 0)];
    let c = report(&status(), &down, at("2026-12-02T10:00:20Z"));
    assert!(!same(&a, &c));
}
