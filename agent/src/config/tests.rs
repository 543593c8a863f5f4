use super::*;
use bgp::fsm::RemoteAs;
use bgp::policy::{Condition, Fallthrough, Verdict};
use bgp::speaker::MaxPrefixAction;
use bgp::types::Family;
use std::time::Duration;

const FULL: &str = r#"
node: node-a
asn: 4200000001
router_id: 192.0.2.10
listen: { port: 1179, addresses: ["192.0.2.10"] }
control_socket: /tmp/podroute-test.sock
graceful_restart: { restart_time: 90s, stale_routes_time: 5m }
multipath: { max_paths: 4, relax: true }
originate:
  - prefix: 10.244.1.0/24
    communities: ["65001:100", no-export]
    large_communities: ["4200000001:1:2"]
peers:
  - address: 192.0.2.1
    remote_as: 65001
    kind: tor
    description: rack 1 ToR
    password: s3cret
    ttl_security: 1
    hold_time: 30
    families: [ipv4-unicast]
    import: [from-tor]
    export: [to-tor]
    max_prefix: { limit: 100, action: restart, restart_after: 2m }
  - address: 192.0.2.11
    remote_as: internal
    route_reflector_client: true
    add_path: { receive: [v4], send: [ipv6-unicast] }
dynamic_neighbors:
  - range: 192.0.2.0/24
    template: { remote_as: internal }
policies:
  from-tor:
    default: reject
    rules:
      - name: pods and default
        match: { prefix: ["10.244.0.0/16 le 24", "0.0.0.0/0"] }
        set: { local_pref: 200, add_communities: ["65001:7"] }
        action: accept
  to-tor:
    rules:
      - match: { source: local }
        set: { prepend: 2 }
        action: accept
"#;

#[test]
fn a_full_configuration() {
    let c = parse(FULL, &Host::default()).unwrap();
    assert_eq!(c.node.as_deref(), Some("node-a"));
    assert_eq!(c.speaker.asn.get(), 4_200_000_001);
    assert_eq!(c.speaker.graceful_restart.restart_time, 90);
    assert_eq!(
        c.speaker.graceful_restart.stale_routes_time,
        Duration::from_secs(300)
    );
    assert_eq!((c.speaker.max_paths, c.speaker.multipath_relax), (4, true));
    assert_eq!(c.listen.port, 1179);
    assert_eq!(c.originate[0].communities.len(), 2);
    let tor = &c.peers[0];
    assert_eq!(tor.remote_as, RemoteAs::Exact(bgp::types::Asn::new(65001)));
    assert_eq!(tor.transport.password.as_deref(), Some("s3cret"));
    assert_eq!(tor.hold_time.seconds(), 30);
    assert_eq!(
        tor.families.iter().collect::<Vec<_>>(),
        vec![Family::IPV4_UNICAST]
    );
    assert_eq!(
        tor.max_prefix.unwrap().action,
        MaxPrefixAction::Restart(Duration::from_secs(120))
    );
    let rr = &c.peers[1];
    assert_eq!(rr.remote_as, RemoteAs::Internal);
    assert!(rr.add_path_receive.contains(Family::IPV4_UNICAST));
    let pol = &c.speaker.policies["from-tor"];
    assert_eq!(pol.default, Fallthrough::Reject);
    assert_eq!(pol.rules[0].verdict, Some(Verdict::Accept));
    assert!(matches!(&pol.rules[0].conditions[0], Condition::Prefix(set) if set.0.len() == 2));
    assert_eq!(c.speaker.dynamic_neighbors.len(), 1);
    assert_eq!(c.speaker.hostname.as_deref(), Some("node-a"));
}

#[test]
fn unknown_keys_say_where() {
    let e = parse(
        "asn: 65001\nrouter_id: 192.0.2.1\npeers:\n  - address: 192.0.2.2\n    remot_as: 65002\n",
        &Host::default(),
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("unknown field `remot_as`"), "{msg}");
    assert!(msg.contains("line 5"), "{msg}");
}

#[test]
fn every_problem_is_listed_with_its_place() {
    let e = parse(
        r#"
asn: 0
router_id: 0.0.0.0
peers:
  - address: 192.0.2.2
    remote_as: 65002
    import: [missing]
    hold_time: 2
  - address: fe80::1
    remote_as: 65002
  - address: 192.0.2.2
    remote_as: nope
policies:
  p:
    default: maybe
    rules:
      - match: { prefix: ["10.0.0.0/8 ge 4"] }
        action: allow
"#,
        &Host::default(),
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    for expected in [
        "asn: AS 0 is reserved",
        "router_id: a BGP identifier must not be 0.0.0.0",
        "peers[0] (192.0.2.2).import: policy `missing` is not defined under `policies` (defined: p)",
        "peers[0] (192.0.2.2).hold_time: hold time 2 s is not allowed",
        "peers[1] (fe80::1): a link-local peer needs `interface`",
        "peers[2] (192.0.2.2): the same address as peers[0]",
        "peers[2] (192.0.2.2).remote_as",
        "policies.p.default: `maybe`",
        "policies.p.rules[0].match.prefix[0]",
        "policies.p.rules[0].action: `allow`",
    ] {
        assert!(msg.contains(expected), "missing {expected:?} in:\n{msg}");
    }
    assert!(msg.starts_with("10 problems"), "{msg}");
}

#[test]
fn durations() {
    use super::raw::RawDuration::*;
    assert_eq!(
        validate::duration(&Seconds(5)).unwrap(),
        Duration::from_secs(5)
    );
    assert_eq!(
        validate::duration(&Text("2m".into())).unwrap(),
        Duration::from_secs(120)
    );
    assert_eq!(
        validate::duration(&Text("250ms".into())).unwrap(),
        Duration::from_millis(250)
    );
    assert!(validate::duration(&Text("2 fortnights".into())).is_err());
}

#[test]
fn the_shipped_examples_are_valid() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            load(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 2, "examples/ should hold example configurations");
}

#[test]
fn router_id_auto_takes_the_host_address() {
    let host = Host {
        ipv4: Some("192.0.2.7".parse().unwrap()),
    };
    let c = parse("asn: 64512\nrouter_id: auto\n", &host).unwrap();
    assert_eq!(c.speaker.router_id.to_string(), "192.0.2.7");
    let e = parse("asn: 64512\nrouter_id: auto\n", &Host::default()).unwrap_err();
    assert!(
        format!("{e:#}").contains("`auto` found no global IPv4 address"),
        "{e:#}"
    );
}

#[test]
fn the_embedded_default_is_valid_and_has_no_peers() {
    let host = Host {
        ipv4: Some("192.0.2.7".parse().unwrap()),
    };
    let c = parse(EMBEDDED_DEFAULT, &host).unwrap();
    assert!(c.peers.is_empty());
    assert_eq!(c.listen.port, 179);
    assert_eq!(
        c.control_socket,
        std::path::Path::new(crate::control::DEFAULT_SOCKET)
    );
    assert_eq!(
        c.state_dir,
        std::path::Path::new(validate::DEFAULT_STATE_DIR)
    );
}
