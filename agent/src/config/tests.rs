use super::*;
use bgp::fsm::RemoteAs;
use bgp::policy::{Condition, Fallthrough, Verdict};
use bgp::speaker::MaxPrefixAction;
use bgp::types::{Community, Family};
use std::time::Duration;

/// The smallest valid file; tests add to it.
const MINIMAL: &str = "asn: 64512\nrouter_id: 192.0.2.10\n";

fn ok(extra: &str) -> Config {
    parse(&format!("{MINIMAL}{extra}"), &Host::default())
        .unwrap_or_else(|e| panic!("{extra}\n{e:#}"))
}

/// The whole error message for `MINIMAL` plus `extra`.
fn problems(extra: &str) -> String {
    match parse(&format!("{MINIMAL}{extra}"), &Host::default()) {
        Ok(_) => panic!("accepted:\n{extra}"),
        Err(e) => format!("{e:#}"),
    }
}

fn assert_mentions(msg: &str, expected: &[&str]) {
    for e in expected {
        assert!(msg.contains(e), "missing {e:?} in:\n{msg}");
    }
}

fn prefixes(list: &[&str]) -> Vec<bgp::types::Prefix> {
    list.iter().map(|p| p.parse().unwrap()).collect()
}

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

/// serde_yaml_ng names the path, the key, the keys it expected and the
/// line; these pin that down for every section, old and new.
#[test]
fn unknown_keys_name_the_key_the_line_and_the_known_keys() {
    for (extra, expected) in [
        (
            "pod_cidr: [10.244.1.0/24]\n",
            &[
                "unknown field `pod_cidr`",
                "expected one of",
                "`pod_cidrs`",
                "`templates`",
                "`fib`",
                "`metrics`",
                "at line 3 column 1",
            ][..],
        ),
        (
            "fib:\n  enabled: true\n  proto: 44\n",
            &[
                "fib: unknown field `proto`",
                "`protocol`",
                "`pod_cidr_route`",
                "line 5",
            ],
        ),
        (
            "metrics:\n  address: 127.0.0.1:9180\n",
            &[
                "metrics: unknown field `address`",
                "expected `listen`",
                "line 4",
            ],
        ),
        (
            "templates:\n  tor:\n    remote_as: 65001\n    hold: 9\n",
            &[
                "templates.tor: unknown field `hold`",
                "`hold_time`",
                "`template`",
                "line 6",
            ],
        ),
        (
            "dynamic_neighbors:\n  - range: 10.0.0.0/8\n    template: { remote_as: internal, pasive: true }\n",
            &[
                "dynamic_neighbors[0].template: unknown field `pasive`",
                "`passive`",
                "line 5",
            ],
        ),
    ] {
        assert_mentions(&problems(extra), expected);
    }
}

/// A value of the wrong kind says what was expected, and where.
#[test]
fn wrong_kinds_of_value_say_what_was_expected_and_where() {
    let msg = format!(
        "{:#}",
        parse("asn: [1]\nrouter_id: 192.0.2.1\n", &Host::default()).unwrap_err()
    );
    assert_mentions(
        &msg,
        &["asn: invalid type: sequence", "an AS number", "line 1"],
    );
    assert_mentions(
        &problems("graceful_restart: { restart_time: -5 }\n"),
        &[
            "restart_time: invalid value: integer `-5`",
            "a duration",
            "line 3",
        ],
    );
    assert_mentions(
        &problems("metrics: { listen: true }\n"),
        &[
            "metrics.listen: invalid type: boolean `true`",
            "or `none` / false",
            "line 3",
        ],
    );
    assert_mentions(
        &problems("fib: { table: 1.5 }\n"),
        &[
            "fib.table: invalid type: floating point `1.5`",
            "a number or a name",
            "line 3",
        ],
    );
}

#[test]
fn pod_cidrs_are_originated_and_kept_apart() {
    let c = ok(r#"
pod_cidrs: [10.244.1.0/24, fd00:10:244:1::/64]
originate:
  - prefix: 192.0.2.128/25
  - prefix: 10.244.1.0/24
    communities: ["64512:100"]
"#);
    assert_eq!(
        c.pod_cidrs,
        prefixes(&["10.244.1.0/24", "fd00:10:244:1::/64"])
    );
    let originated: Vec<String> = c.originate.iter().map(|r| r.prefix.to_string()).collect();
    assert_eq!(
        originated,
        ["192.0.2.128/25", "10.244.1.0/24", "fd00:10:244:1::/64"]
    );
    // The explicit entry wins: it keeps its community.
    assert_eq!(
        c.originate[1].communities,
        vec!["64512:100".parse::<Community>().unwrap()]
    );
    assert!(c.originate[2].communities.is_empty());
}

#[test]
fn pod_cidr_problems() {
    let msg = problems(
        r#"
pod_cidrs:
  - 10.244.1.5/24
  - 10.244.2.0/24
  - 10.244.2.0/24
  - 10.244.2.128/25
  - 10.0.0.0/8
  - fd00::/8
  - fd00:10::/32
  - 0.0.0.0/0
  - pods
"#,
    );
    assert_mentions(
        &msg,
        &[
            "pod_cidrs[0]: invalid prefix \"10.244.1.5/24\": address has bits set beyond the /24 mask",
            "pod_cidrs[2]: 10.244.2.0/24 is already pod_cidrs[1]",
            "pod_cidrs[3]: 10.244.2.128/25 overlaps pod_cidrs[1] (10.244.2.0/24); a node's pod CIDRs are disjoint",
            "pod_cidrs[4]: 10.0.0.0/8 overlaps pod_cidrs[1] (10.244.2.0/24)",
            "pod_cidrs[6]: fd00:10::/32 overlaps pod_cidrs[5] (fd00::/8)",
            "pod_cidrs[7]: 0.0.0.0/0 is every address",
            "pod_cidrs[8]: invalid prefix \"pods\"",
        ],
    );
    assert!(msg.starts_with("7 problems"), "{msg}");
}

#[test]
fn an_originate_entry_is_given_once() {
    assert_mentions(
        &problems("originate:\n  - prefix: 10.244.1.0/24\n  - prefix: 10.244.1.0/24\n"),
        &["originate[1].prefix: 10.244.1.0/24 is already originate[0]; one entry per prefix"],
    );
}

#[test]
fn fib_defaults() {
    let c = ok("");
    assert_eq!(c.fib, FibSettings::default());
    assert_eq!(
        c.fib,
        FibSettings {
            enabled: true,
            protocol: 44,
            table: 254,
            pod_cidr_route: PodCidrRoute::Unreachable,
            metric: 0,
        }
    );
    assert_eq!(ok("fib: {}\n").fib, FibSettings::default());
}

#[test]
fn fib_settings() {
    let c = ok(
        "fib: { enabled: false, protocol: 201, table: 100, pod_cidr_route: blackhole, metric: 20 }\n",
    );
    assert_eq!(
        c.fib,
        FibSettings {
            enabled: false,
            protocol: 201,
            table: 100,
            pod_cidr_route: PodCidrRoute::Blackhole,
            metric: 20,
        }
    );
    let c = ok("fib: { protocol: podroute, table: main, pod_cidr_route: none }\n");
    assert_eq!((c.fib.protocol, c.fib.table), (44, 254));
    assert_eq!(c.fib.pod_cidr_route, PodCidrRoute::None);
    assert_eq!(
        ok("fib: { protocol: 255, table: 4294967295 }\n").fib.table,
        u32::MAX
    );
    assert_eq!(
        ok("fib: { pod_cidr_route: unreachable }\n")
            .fib
            .pod_cidr_route,
        PodCidrRoute::Unreachable
    );
}

#[test]
fn fib_protocols_others_use_are_refused_by_name() {
    for (protocol, expected) in [
        ("0", "fib.protocol: 0 means unspecified (`unspec`)"),
        ("2", "2 is used by the kernel itself (`kernel`)"),
        ("3", "3 is used by `ip route add` without `proto` (`boot`)"),
        ("4", "4 is used by routes administrators add (`static`)"),
        ("11", "11 is used by FRR's and Quagga's zebra (`zebra`)"),
        ("12", "12 is used by BIRD (`bird`)"),
        (
            "186",
            "186 is used by FRR's daemons (186 `bgp` to 198 `srte`)",
        ),
        ("198", "198 is used by FRR's daemons"),
        ("256", "256: a route protocol is one byte, 1 to 255"),
        ("bird", "`bird`: a number from 1 to 255, or `podroute` (44)"),
    ] {
        let msg = problems(&format!("fib: {{ protocol: {protocol} }}\n"));
        assert_mentions(&msg, &[expected, "fib.protocol"]);
    }
    let msg = problems("fib: { protocol: 12 }\n");
    assert_mentions(
        &msg,
        &[
            "podroute would take those routes for its own",
            "e.g. `podroute` (44)",
        ],
    );
    assert_eq!(ok("fib: { protocol: 199 }\n").fib.protocol, 199);
    assert_eq!(ok("fib: { protocol: 5 }\n").fib.protocol, 5);
}

#[test]
fn fib_tables_the_kernel_keeps_are_refused() {
    for (table, expected) in [
        ("0", "fib.table: 0 is no table"),
        ("253", "253 is the kernel's `default` table"),
        ("default", "253 is the kernel's `default` table"),
        ("255", "255 is the kernel's `local` table"),
        ("local", "255 is the kernel's `local` table"),
        (
            "4294967296",
            "4294967296: a table number is at most 4294967295",
        ),
        (
            "pods",
            "`pods`: `main`, or a table number from 1 to 4294967295",
        ),
    ] {
        assert_mentions(
            &problems(&format!("fib: {{ table: {table} }}\n")),
            &[expected],
        );
    }
    assert_mentions(
        &problems("fib: { pod_cidr_route: drop }\n"),
        &["fib.pod_cidr_route: `drop`: use `unreachable`, `blackhole` or `none`"],
    );
}

#[test]
fn metrics_listen() {
    assert_eq!(ok("").metrics, Some(DEFAULT_METRICS_LISTEN));
    assert_eq!(ok("").metrics, Some("127.0.0.1:9180".parse().unwrap()));
    assert_eq!(
        ok("metrics: { listen: \"0.0.0.0:9100\" }\n").metrics,
        Some("0.0.0.0:9100".parse().unwrap())
    );
    assert_eq!(
        ok("metrics: { listen: \"[::]:9180\" }\n").metrics,
        Some("[::]:9180".parse().unwrap())
    );
    assert_eq!(ok("metrics: { listen: none }\n").metrics, None);
    assert_eq!(ok("metrics: { listen: false }\n").metrics, None);
    assert_eq!(ok("metrics: {}\n").metrics, Some(DEFAULT_METRICS_LISTEN));
    assert_mentions(
        &problems("metrics: { listen: 127.0.0.1 }\n"),
        &["metrics.listen: `127.0.0.1` has no port: e.g. 127.0.0.1:9180"],
    );
    assert_mentions(
        &problems("metrics: { listen: \"::1\" }\n"),
        &["`::1` has no port: e.g. [::1]:9180"],
    );
    assert_mentions(
        &problems("metrics: { listen: \"localhost:9180\" }\n"),
        &["`localhost:9180` is not an address and port"],
    );
}

const WITH_TEMPLATES: &str = r#"
templates:
  tor:
    remote_as: 65001
    kind: tor
    hold_time: 9
    password: rack-key
    import: [any]
    export: [any]
  node:
    remote_as: internal
    kind: mesh
peers:
  - address: 192.0.2.1
    template: tor
  - address: 192.0.2.2
    template: tor
    hold_time: 30
    description: second ToR
    password_file: /nonexistent/podroute-test-key
  - address: 192.0.2.3
    remote_as: 65003
dynamic_neighbors:
  - range: 198.51.100.0/24
    template: node
  - range: 203.0.113.0/24
    template: { template: node, passive: true }
policies:
  any: { default: accept }
"#;

#[test]
fn peers_start_from_their_template() {
    let msg = problems(WITH_TEMPLATES);
    // The peer's own `password_file` replaced the template's `password`
    // instead of clashing with it.
    assert!(!msg.contains("not both"), "{msg}");
    assert_mentions(
        &msg,
        &["peers[1] (192.0.2.2).password_file: cannot read /nonexistent/podroute-test-key"],
    );
    assert!(msg.starts_with("1 problem"), "{msg}");

    let c = ok(&WITH_TEMPLATES.replace("    password_file: /nonexistent/podroute-test-key\n", ""));
    let [a, b, plain] = &c.peers[..] else {
        panic!("{:?}", c.peers)
    };
    assert_eq!(a.remote_as, RemoteAs::Exact(bgp::types::Asn::new(65001)));
    assert_eq!(a.kind, bgp::speaker::PeerKind::Tor);
    assert_eq!(a.hold_time.seconds(), 9);
    assert_eq!(a.transport.password.as_deref(), Some("rack-key"));
    assert_eq!(a.import.as_deref(), Some(&["any".to_string()][..]));
    assert_eq!(b.hold_time.seconds(), 30);
    assert_eq!(b.description.as_deref(), Some("second ToR"));
    assert_eq!(b.transport.password.as_deref(), Some("rack-key"));
    assert_eq!(plain.kind, bgp::speaker::PeerKind::Other);
    assert_eq!(plain.transport.password, None);

    let [named, inline] = &c.speaker.dynamic_neighbors[..] else {
        panic!("{:?}", c.speaker.dynamic_neighbors)
    };
    assert_eq!(named.template.remote_as, RemoteAs::Internal);
    assert_eq!(named.template.kind, bgp::speaker::PeerKind::Mesh);
    assert!(!named.template.passive);
    assert_eq!(inline.template.kind, bgp::speaker::PeerKind::Mesh);
    assert!(inline.template.passive);
}

#[test]
fn template_problems() {
    let msg = problems(
        r#"
templates:
  tor:
    address: 192.0.2.1
    hold_time: 2
  nested:
    template: tor
    remote_as: 65001
peers:
  - address: 192.0.2.1
    template: tor
  - address: 192.0.2.2
    template: tor
    remote_as: 65001
  - address: 192.0.2.3
    template: to
    remote_as: 65001
dynamic_neighbors:
  - range: 198.51.100.0/24
    template: missing
  - range: 203.0.113.0/24
    template: { template: tor }
"#,
    );
    assert_mentions(
        &msg,
        &[
            "templates.tor.address: a template has no `address`",
            "templates.nested.template: templates do not nest: copy what `tor` sets into `nested`",
            // Found once, where it is written, however many peers use it.
            "templates.tor.hold_time: hold time 2 s is not allowed",
            "peers[0] (192.0.2.1): missing `remote_as`: the peer's AS number, or `internal` / `external` (template `tor` does not set it either)",
            "peers[2] (192.0.2.3).template: template `to` is not defined under `templates` (defined: nested, tor)",
            "dynamic_neighbors[0].template.template: template `missing` is not defined under `templates` (defined: nested, tor)",
            "dynamic_neighbors[1].template: missing `remote_as`",
        ],
    );
    assert_eq!(msg.matches("hold time 2 s").count(), 1, "{msg}");
    assert!(msg.starts_with("7 problems"), "{msg}");
    assert_mentions(
        &problems("peers:\n  - address: 192.0.2.1\n    template: tor\n"),
        &[
            "peers[0] (192.0.2.1).template: template `tor` is not defined under `templates` (none are defined)",
        ],
    );
}

#[test]
fn flags_override_the_file() {
    let overrides = Overrides {
        node_name: Some("node-z".into()),
        router_id: Some("192.0.2.99".into()),
        asn: Some("65099".into()),
        pod_cidrs: Some(vec!["10.244.9.0/24".into(), "fd00:10:244:9::/64".into()]),
        metrics_listen: Some("none".into()),
        fib_protocol: Some("201".into()),
        no_fib: true,
        control_socket: Some("/tmp/podroute-flag.sock".into()),
        namespace: None,
    };
    let file = format!(
        "{MINIMAL}node: node-a\npod_cidrs: [10.244.1.0/24]\nfib: {{ protocol: 45, table: 100 }}\n"
    );
    let c = parse_with(&file, &Host::default(), &overrides).unwrap();
    assert_eq!(c.node.as_deref(), Some("node-z"));
    assert_eq!(c.speaker.hostname.as_deref(), Some("node-z"));
    assert_eq!(c.speaker.router_id.to_string(), "192.0.2.99");
    assert_eq!(c.speaker.asn.get(), 65099);
    assert_eq!(
        c.pod_cidrs,
        prefixes(&["10.244.9.0/24", "fd00:10:244:9::/64"])
    );
    assert_eq!(c.originate.len(), 2);
    assert_eq!(c.metrics, None);
    assert_eq!(
        c.fib,
        FibSettings {
            enabled: false,
            protocol: 201,
            table: 100,
            ..FibSettings::default()
        }
    );
    assert_eq!(
        c.control_socket,
        std::path::Path::new("/tmp/podroute-flag.sock")
    );

    // No flags: the file as written.
    let c = parse_with(&file, &Host::default(), &Overrides::default()).unwrap();
    assert_eq!(c.pod_cidrs, prefixes(&["10.244.1.0/24"]));
    assert_eq!((c.fib.protocol, c.fib.enabled), (45, true));
    assert_eq!(c.metrics, Some(DEFAULT_METRICS_LISTEN));
}

#[test]
fn a_bad_flag_is_reported_with_the_file_and_named() {
    let overrides = Overrides {
        router_id: Some("0.0.0.0".into()),
        asn: Some("sixty".into()),
        pod_cidrs: Some(vec!["10.244.1.0/24".into(), "10.244.1.1/24".into()]),
        metrics_listen: Some("9180".into()),
        fib_protocol: Some("bird".into()),
        ..Overrides::default()
    };
    let e = parse_with(
        "asn: 64512\nrouter_id: 192.0.2.1\nfib: { table: 255 }\n",
        &Host::default(),
        &overrides,
    )
    .unwrap_err();
    let msg = format!("{e:#}");
    assert_mentions(
        &msg,
        &[
            "6 problems",
            "asn (from --asn): ",
            "router_id (from --router-id): a BGP identifier must not be 0.0.0.0",
            "pod_cidrs[1] (from --pod-cidr): invalid prefix \"10.244.1.1/24\"",
            "metrics.listen (from --metrics-listen): `9180` is not an address and port",
            "fib.protocol (from --fib-protocol): `bird`",
            // From the file: no flag named.
            "\n  fib.table: 255 is the kernel's `local` table",
        ],
    );
}

#[test]
fn flags_complete_the_embedded_default() {
    let host = Host {
        ipv4: Some("192.0.2.7".parse().unwrap()),
    };
    let overrides = Overrides {
        node_name: Some("node-a".into()),
        pod_cidrs: Some(vec!["10.244.1.0/24".into()]),
        ..Overrides::default()
    };
    let c = parse_with(EMBEDDED_DEFAULT, &host, &overrides).unwrap();
    assert_eq!(c.node.as_deref(), Some("node-a"));
    assert_eq!(c.pod_cidrs, prefixes(&["10.244.1.0/24"]));
    assert_eq!(c.originate.len(), 1);
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
    assert!(c.pod_cidrs.is_empty() && c.originate.is_empty());
    assert_eq!(c.fib, FibSettings::default());
    assert_eq!(c.metrics, Some(DEFAULT_METRICS_LISTEN));
}

const KUBE_POOLS: &str = "node: node-a\nkubernetes:\n  pools:\n    - cidr: 10.244.0.0/16\n    - cidr: fd00:10:244::/48\n";

#[test]
fn kubernetes_mode_follows_what_is_written() {
    use crate::config::{Mesh, PodCidrSource};
    let k = ok(KUBE_POOLS).kubernetes.unwrap();
    assert_eq!(k.pod_cidr_source, PodCidrSource::Ipam);
    assert_eq!(k.mesh, Mesh::Full);
    assert!(k.import_guard);
    let pools: Vec<String> = k.pools.unwrap().iter().map(|p| p.to_string()).collect();
    assert_eq!(pools.len(), 2, "{pools:?}");
    let blocks: Vec<u8> = ok(KUBE_POOLS)
        .kubernetes
        .unwrap()
        .pools
        .unwrap()
        .iter()
        .map(|p| p.block_len())
        .collect();
    assert_eq!(blocks, [24, 64], "default block sizes per family");

    let k = ok(&format!("{KUBE_POOLS}pod_cidrs: [10.244.7.0/24]\n"))
        .kubernetes
        .unwrap();
    assert_eq!(k.pod_cidr_source, PodCidrSource::Static);
    let k = ok("node: node-a\nkubernetes: { import_guard: false }\n")
        .kubernetes
        .unwrap();
    assert_eq!(k.pod_cidr_source, PodCidrSource::NodeSpec);
    assert!(ok("kubernetes: { enabled: false }\n").kubernetes.is_none());
    assert!(ok("").kubernetes.is_none());
}

#[test]
fn kubernetes_problems_say_what_to_write() {
    let text = problems("kubernetes:\n  pod_cidrs: ipam\n  mesh: partial\n");
    for expected in [
        "node: missing: with `kubernetes` on, the agent needs its Node's name",
        "kubernetes.pools: `pod_cidrs: ipam` cuts blocks from pools",
        "kubernetes.mesh: `partial` is not a mesh",
        "kubernetes.pools: the import guard accepts only prefixes inside the cluster pools",
    ] {
        assert!(text.contains(expected), "{expected}\nnot in\n{text}");
    }
    let text = problems("node: a\nkubernetes: { pod_cidrs: static, import_guard: false }\n");
    assert!(
        text.contains("pod_cidrs: `kubernetes.pod_cidrs: static` needs"),
        "{text}"
    );
    let text = problems(&format!(
        "{KUBE_POOLS}policies:\n  podroute-guard: {{ default: accept }}\n"
    ));
    assert!(
        text.contains("policies.podroute-guard: names starting with `podroute-`"),
        "{text}"
    );
    let text =
        problems("node: a\nkubernetes:\n  pools: [{ cidr: 10.244.0.0/16, block_len: 12 }]\n");
    assert!(text.contains("kubernetes.pools[0]"), "{text}");
}

#[test]
fn the_cluster_overlay_adds_peers_and_cidrs_and_the_file_wins() {
    use crate::config::ClusterOverlay;
    use crate::config::raw::RawPeer;
    let overlay = ClusterOverlay {
        router_id: Some("192.0.2.77".parse().unwrap()),
        pod_cidrs: Some(vec!["10.244.3.0/24".into()]),
        peers: vec![
            RawPeer {
                address: Some("192.0.2.1".into()),
                remote_as: Some(crate::config::raw::RawAsn::Text("internal".into())),
                ..RawPeer::default()
            },
            RawPeer {
                address: Some("192.0.2.2".into()),
                remote_as: Some(crate::config::raw::RawAsn::Number(65002)),
                ..RawPeer::default()
            },
        ],
        policies: Default::default(),
    };
    let file = format!(
        "asn: 64512\nrouter_id: auto\n{KUBE_POOLS}peers:\n  - address: 192.0.2.2\n    remote_as: 65099\n"
    );
    let c = crate::config::parse_with_overlay(&file, &Host::default(), &overlay).unwrap();
    assert_eq!(c.speaker.router_id.to_string(), "192.0.2.77");
    assert_eq!(
        c.pod_cidrs
            .iter()
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        ["10.244.3.0/24"]
    );
    let peers: Vec<(String, String)> = c
        .peers
        .iter()
        .map(|p| (p.address.to_string(), format!("{:?}", p.remote_as)))
        .collect();
    assert_eq!(peers.len(), 2);
    assert!(
        peers[0].0 == "192.0.2.2" && peers[0].1.contains("65099"),
        "{peers:?}"
    );
    assert_eq!(peers[1].0, "192.0.2.1");
}

const FILE_IPAM: &str = "node: lab-1\nipam:\n  file: /var/lib/podroute/ipam.json\n  pools:\n    - cidr: 10.244.0.0/16\n    - cidr: fd00:10:244::/48\n      block_len: 80\n      reserved: [\"fd00:10:244::/64\"]\n";

#[test]
fn the_ipam_section_names_a_state_file_and_pools() {
    let c = ok(FILE_IPAM);
    let i = c.ipam.unwrap();
    assert_eq!(i.file, std::path::Path::new("/var/lib/podroute/ipam.json"));
    let pools: Vec<(String, u8, u64)> = i
        .pools
        .iter()
        .map(|p| (p.cluster().to_string(), p.block_len(), p.reserved_count()))
        .collect();
    assert_eq!(
        pools,
        [
            ("10.244.0.0/16".to_string(), 24, 0),
            ("fd00:10:244::/48".to_string(), 80, 65536),
        ],
        "block_len 24 for IPv4 by default, as kubernetes.pools"
    );
    assert!(c.kubernetes.is_none());
    assert!(c.pod_cidrs.is_empty(), "nothing is allocated by validation");
    assert!(ok("").ipam.is_none());
    let c = ok(&format!("{FILE_IPAM}kubernetes: {{ enabled: false }}\n"));
    assert!(c.ipam.is_some() && c.kubernetes.is_none());
}

#[test]
fn allocated_blocks_are_the_pod_cidrs_while_ipam_is_on() {
    let blocks = ["10.244.3.0/24".parse().unwrap()];
    let text = format!("{MINIMAL}{FILE_IPAM}");
    let c = parse_with_allocated(&text, &Host::default(), &blocks).unwrap();
    assert_eq!(c.pod_cidrs, prefixes(&["10.244.3.0/24"]));
    assert_eq!(c.originate.len(), 1);
    // Without the section the blocks are not this node's pod CIDRs.
    let c = parse_with_allocated(MINIMAL, &Host::default(), &blocks).unwrap();
    assert!(c.pod_cidrs.is_empty());
}

#[test]
fn ipam_conflicts_say_which_to_keep() {
    let text = problems(&format!(
        "{FILE_IPAM}kubernetes:\n  pools: [{{ cidr: 10.244.0.0/16 }}]\n"
    ));
    assert_mentions(
        &text,
        &[
            "ipam: `ipam` allocates pod CIDRs on hosts without Kubernetes; with `kubernetes` on, remove `ipam` and use `kubernetes.pod_cidrs: ipam`",
        ],
    );
    assert_eq!(text.matches("\n  ").count(), 1, "one problem:\n{text}");

    let text = problems(&format!("{FILE_IPAM}pod_cidrs: [10.244.7.0/24]\n"));
    assert_mentions(
        &text,
        &[
            "pod_cidrs: `ipam` allocates this node's pod CIDRs from its pools: remove `pod_cidrs` (and --pod-cidr), or remove `ipam`",
        ],
    );
    let flag = Overrides {
        pod_cidrs: Some(vec!["10.244.7.0/24".into()]),
        ..Overrides::default()
    };
    let e = parse_with(&format!("{MINIMAL}{FILE_IPAM}"), &Host::default(), &flag).unwrap_err();
    assert_mentions(
        &format!("{e:#}"),
        &["pod_cidrs (from --pod-cidr): `ipam` allocates"],
    );
}

#[test]
fn ipam_needs_a_node_name() {
    let without = FILE_IPAM.replace("node: lab-1\n", "");
    assert_mentions(
        &problems(&without),
        &["node: missing: `ipam` allocates blocks to a node by name; set `node` or --node-name"],
    );
    let flag = Overrides {
        node_name: Some("lab-9".into()),
        ..Overrides::default()
    };
    let c = parse_with(&format!("{MINIMAL}{without}"), &Host::default(), &flag).unwrap();
    assert_eq!(c.node.as_deref(), Some("lab-9"));
    assert_mentions(
        &problems(&FILE_IPAM.replace("node: lab-1", "node: \"lab 1\"")),
        &["node: node name \"lab 1\" contains whitespace"],
    );
}

#[test]
fn ipam_problems_are_named_by_their_key() {
    let text = problems(
        "node: lab-1\nipam:\n  file: ipam.json\n  pools:\n    - cidr: 10.244.0.0/16\n      block_len: 12\n    - cidr: 10.245.0.1/16\n    - cidr: 10.246.0.0/16\n      reserved: [10.0.0.0/33]\n",
    );
    assert_mentions(
        &text,
        &[
            "ipam.file: `ipam.json` is not an absolute path",
            "ipam.pools[0]: block size /12 is not longer than the cluster prefix 10.244.0.0/16",
            "ipam.pools[1].cidr: ",
            "ipam.pools[2].reserved[0]: ",
        ],
    );
    assert_mentions(
        &problems("node: lab-1\nipam: {}\n"),
        &[
            "ipam.file: missing: the state file",
            "ipam.pools: list at least one pool",
        ],
    );
    assert_mentions(
        &problems(&format!(
            "{FILE_IPAM}    - cidr: 10.0.0.0/8\n    - cidr: 10.244.0.0/20\n"
        )),
        &["ipam.pools: pools 10.244.0.0/16 and 10.0.0.0/8 overlap"],
    );
    let text = problems("node: lab-1\nipam:\n  file: /x\n  pools: []\n  shared: true\n");
    assert_mentions(&text, &["unknown field `shared`", "`file`", "`pools`"]);
}
