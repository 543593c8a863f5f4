//! `podroute show ...` against a fake agent: a thread in the test that
//! answers on a unix socket with canned control-protocol JSON, while the
//! real binary connects with `--socket`. No root, no real agent.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use serde_json::{Value, json};

#[path = "../src/test_dir.rs"]
mod test_dir;

use test_dir::TempDir;

/// A fake agent: answers every connection with `answer(request)`.
struct FakeAgent {
    /// Removed when the agent is dropped, after its thread has ended.
    _dir: TempDir,
    socket: PathBuf,
    requests: Arc<Mutex<Vec<Value>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeAgent {
    fn start(name: &str, answer: impl Fn(&Value) -> Value + Send + 'static) -> FakeAgent {
        let dir = TempDir::new(&format!("show-{name}"));
        let socket = dir.0.join("podroute.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let (requests, stop) = (Arc::clone(&requests), Arc::clone(&stop));
            move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(mut conn) = conn else { continue };
                    let mut line = String::new();
                    BufReader::new(&conn).read_line(&mut line).unwrap();
                    let request: Value = serde_json::from_str(&line).unwrap();
                    let mut response = answer(&request);
                    requests.lock().unwrap().push(request);
                    if response.get("version").is_none() {
                        response["version"] = json!(1);
                    }
                    let mut bytes = serde_json::to_vec(&response).unwrap();
                    bytes.push(b'\n');
                    // The client may have gone (the closed-pipe test).
                    let _ = conn.write_all(&bytes);
                }
            }
        });
        FakeAgent {
            _dir: dir,
            socket,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// Always the same answer.
    fn answering(name: &str, body: Value) -> FakeAgent {
        FakeAgent::start(name, move |_| body.clone())
    }

    fn socket(&self) -> &str {
        self.socket.to_str().unwrap()
    }

    fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    /// Runs `podroute show ARGS --socket <this agent>`.
    fn show(&self, args: &[&str]) -> Output {
        let mut all = vec!["show"];
        all.extend_from_slice(args);
        all.extend(["--socket", self.socket()]);
        podroute(&all)
    }
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees `stop`.
        let _ = UnixStream::connect(&self.socket);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn podroute(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_podroute"))
        .args(args)
        .env_remove("PODROUTE_SOCKET")
        .stdin(Stdio::null())
        .output()
        .expect("podroute runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[track_caller]
fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr: {}\nstdout: {}",
        o.status.code(),
        stderr(o),
        stdout(o)
    );
    assert_eq!(stderr(o), "", "nothing on stderr");
}

fn neighbors() -> Value {
    json!({
        "response": "neighbors",
        "neighbors": [
            {
                "address": "10.0.0.2", "asn": 64512, "kind": "mesh", "description": "node-b",
                "state": "Established", "uptime_secs": 312,
                "families": [
                    {"family": "ipv4-unicast", "received": null, "accepted": 12, "advertised": 3},
                    {"family": "ipv6-unicast", "received": null, "accepted": 4, "advertised": 1}
                ],
                "last_error": null, "policy_note": null
            },
            {
                "address": "192.0.2.1", "asn": 65000, "kind": "tor", "description": "tor-a (rack 12)",
                "state": "Active", "uptime_secs": 93784,
                "families": [
                    {"family": "ipv4-unicast", "received": 1500, "accepted": 0, "advertised": 0}
                ],
                "last_error": "hold timer expired (NOTIFICATION sent: 4/0 Hold Timer Expired)",
                "policy_note": "RFC 8212: no import policy for this eBGP neighbor, so no routes are accepted"
            },
            {
                "address": "fd00::1", "asn": null, "kind": "dynamic", "description": null,
                "state": "Idle", "uptime_secs": null, "families": [],
                "last_error": null, "policy_note": null
            }
        ]
    })
}

#[allow(clippy::too_many_arguments)]
fn path(
    best: bool,
    multipath: bool,
    from: &str,
    as_path: &str,
    origin: &str,
    med: Option<u32>,
    local_pref: Option<u32>,
    age: u64,
) -> Value {
    json!({
        "best": best, "multipath": multipath, "from": from,
        "next_hop": if from == "local" { "self" } else { from },
        "as_path": as_path, "origin": origin, "med": med, "local_pref": local_pref,
        "communities": [], "large_communities": [], "age_secs": age,
        "stale": false, "not_best": null, "path_id": null
    })
}

fn routes_all() -> Value {
    let mut multi = path(false, true, "10.0.0.3", "", "IGP", Some(0), Some(100), 305);
    multi["not_best"] = json!("higher router ID");
    let mut worse = path(
        false,
        false,
        "192.0.2.1",
        "65000 65100",
        "incomplete",
        None,
        Some(90),
        60,
    );
    worse["not_best"] = json!("lower LOCAL_PREF");
    worse["communities"] = json!(["65000:100", "65000:200"]);
    let mut stale = path(
        true,
        false,
        "10.0.0.4",
        "",
        "IGP",
        None,
        Some(100),
        1_300_000,
    );
    stale["stale"] = json!(true);
    json!({
        "response": "routes",
        "routes": [
            {
                "prefix": "10.244.1.0/24", "fib": "installed",
                "paths": [path(true, false, "local", "", "IGP", None, None, 93784)]
            },
            {
                "prefix": "10.244.2.0/24", "fib": "installed",
                "paths": [
                    path(true, false, "10.0.0.2", "", "IGP", Some(0), Some(100), 312),
                    multi,
                    worse
                ]
            },
            {
                "prefix": "10.244.3.0/24", "fib": "not installed: next hop unreachable",
                "paths": [stale]
            }
        ]
    })
}

#[test]
fn neighbors_table_shows_families_errors_and_rfc8212_notes() {
    let agent = FakeAgent::answering("neighbors", neighbors());
    let o = agent.show(&["neighbors"]);
    assert_ok(&o);
    assert_eq!(
        stdout(&o),
        "\
Neighbor      AS  Kind     State         Up/Down  Family        Received  Accepted  Advertised  Description
10.0.0.2   64512  mesh     Established  00:05:12  ipv4-unicast         -        12           3  node-b
                                                  ipv6-unicast         -         4           1
192.0.2.1  65000  tor      Active       1d02h03m  ipv4-unicast      1500         0           0  tor-a (rack 12)
  last error: hold timer expired (NOTIFICATION sent: 4/0 Hold Timer Expired)
  note: RFC 8212: no import policy for this eBGP neighbor, so no routes are accepted
fd00::1        -  dynamic  Idle            never  -                    -         -           -

3 neighbors, 1 established
"
    );
    assert_eq!(
        agent.requests(),
        vec![json!({"version": 1, "query": "neighbors"})]
    );
}

#[test]
fn routes_all_marks_best_multipath_stale_and_why_not_best() {
    let agent = FakeAgent::answering("routes", routes_all());
    let o = agent.show(&["routes", "--all"]);
    assert_ok(&o);
    assert_eq!(
        stdout(&o),
        "\
Status codes: * valid, > best, = multipath (ECMP), S stale (graceful restart)
Origin codes: i IGP, e EGP, ? incomplete

   Prefix         Next hop   From       MED  LocPrf       Age  FIB                                  Not best          Path
*> 10.244.1.0/24  self       local        -       -  1d02h03m  installed                                              i
*> 10.244.2.0/24  10.0.0.2   10.0.0.2     0     100  00:05:12  installed                                              i
*=                10.0.0.3   10.0.0.3     0     100  00:05:05                                       higher router ID  i
*                 192.0.2.1  192.0.2.1    -      90  00:01:00                                       lower LOCAL_PREF  65000 65100 ?
S> 10.244.3.0/24  10.0.0.4   10.0.0.4     -     100  02w1d01h  not installed: next hop unreachable                    i

Displayed 3 routes and 5 total paths
"
    );
    assert_eq!(
        agent.requests(),
        vec![json!({"version": 1, "query": "routes", "all": true, "prefix": null})]
    );
}

#[test]
fn routes_without_fib_state_or_losers_leave_those_columns_out() {
    let agent = FakeAgent::answering(
        "routes-plain",
        json!({
            "response": "routes",
            "routes": [{
                "prefix": "10.244.2.0/24", "fib": null,
                "paths": [path(true, false, "10.0.0.2", "65001", "IGP", None, Some(100), 5)]
            }]
        }),
    );
    let o = agent.show(&["routes"]);
    assert_ok(&o);
    let out = stdout(&o);
    assert!(
        out.contains(
            "   Prefix         Next hop  From      MED  LocPrf       Age  Path\n\
             *> 10.244.2.0/24  10.0.0.2  10.0.0.2    -     100  00:00:05  65001 i\n"
        ),
        "{out}"
    );
    assert!(!out.contains("FIB") && !out.contains("Not best"), "{out}");
}

#[test]
fn one_prefix_is_shown_path_by_path_with_communities() {
    let mut body = routes_all();
    body["routes"] = json!([body["routes"][1].clone()]);
    let agent = FakeAgent::answering("prefix", body);
    let o = agent.show(&["routes", "10.244.2.0/24", "--all"]);
    assert_ok(&o);
    let out = stdout(&o);
    assert!(
        out.starts_with("10.244.2.0/24: 3 paths, FIB: installed\n"),
        "{out}"
    );
    assert!(out.contains("  *> from 10.0.0.2, best\n"), "{out}");
    assert!(
        out.contains("  *= from 10.0.0.3, multipath (ECMP), not best: higher router ID\n"),
        "{out}"
    );
    assert!(
        out.contains("     Communities          65000:100 65000:200\n"),
        "{out}"
    );
    assert_eq!(
        agent.requests()[0],
        json!({"version": 1, "query": "routes", "all": true, "prefix": "10.244.2.0/24"})
    );
}

#[test]
fn status_neighbor_and_rib_read_as_blocks_and_tables() {
    let agent = FakeAgent::start("mixed", |req| match req["query"].as_str().unwrap() {
        "status" => json!({
            "response": "status", "agent_version": "0.1.0", "node": "worker-1",
            "router_id": "10.0.0.1", "asn": 64512, "uptime_secs": 93784,
            "peers_configured": 3, "peers_established": 1, "prefixes": 3, "paths": 5,
            "attribute_sets": 4, "deferring": true,
            "originated": ["10.244.1.0/24", "fd00:10:244:1::/64"]
        }),
        "neighbor" => json!({
            "response": "neighbor",
            "summary": neighbors()["neighbors"][0].clone(),
            "router_id": "10.0.0.2", "hostname": "node-b", "local_address": "10.0.0.1",
            "hold_time": 90, "keepalive_secs": 30, "configured_hold_time": 90,
            "capabilities": ["route refresh", "4-octet AS 64512"],
            "negotiated": ["families ipv4-unicast, ipv6-unicast", "4-octet AS"],
            "import_policy": ["accept-pod-cidrs"], "export_policy": null,
            "route_reflector_client": false, "updates_received": 42, "updates_sent": 17,
            "rejected_by_checks": 1, "last_down": null, "graceful_restart_stale": false
        }),
        _ => json!({
            "response": "rib",
            "entries": [
                {
                    "prefix": "10.244.1.0/24", "path_id": null, "next_hop": "10.0.0.1",
                    "as_path": "64512", "origin": "IGP", "med": null, "local_pref": null,
                    "communities": (1..=10).map(|i| format!("64512:{i}")).collect::<Vec<_>>(),
                    "large_communities": ["64512:1:1", "64512:1:2"]
                },
                {
                    "prefix": "fd00:10:244:1::/64", "path_id": null, "next_hop": "fd00::10",
                    "as_path": "64512", "origin": "IGP", "med": 10, "local_pref": null,
                    "communities": [], "large_communities": []
                }
            ]
        }),
    });

    let o = agent.show(&["status"]);
    assert_ok(&o);
    assert_eq!(
        stdout(&o),
        "\
podroute 0.1.0 on node worker-1, up 1d02h03m
  Router ID            10.0.0.1
  Local AS             64512
  Neighbors            1 of 3 established
  Loc-RIB              3 prefixes, 5 paths, 4 attribute sets
  Best-path selection  deferred: waiting for End-of-RIB from peers after a restart (RFC 4724)
  Originated           10.244.1.0/24 fd00:10:244:1::/64
"
    );

    let o = agent.show(&["neighbor", "10.0.0.2"]);
    assert_ok(&o);
    let out = stdout(&o);
    for line in [
        "Neighbor 10.0.0.2, AS 64512, mesh\n",
        "  State                Established, up for 00:05:12\n",
        "  Timers               hold time 90 s (configured 90 s), keepalive every 30 s\n",
        "  Export policy        none configured\n",
        "  Capabilities received:\n    route refresh\n    4-octet AS 64512\n",
        "  Family        Received  Accepted  Advertised\n  ipv4-unicast         -        12           3\n",
    ] {
        assert!(out.contains(line), "{line:?} missing in\n{out}");
    }

    let o = agent.show(&["rib", "out", "10.0.0.2"]);
    assert_ok(&o);
    assert_eq!(
        stdout(&o),
        "\
2 routes advertised to 10.0.0.2, after export policy (Adj-RIB-Out)

Prefix              Next hop  MED  LocPrf  Path     Communities
10.244.1.0/24       10.0.0.1    -       -  64512 i  64512:1 64512:2 64512:3 64512:4 64512:5 64512:6
                                                    64512:7 64512:8 64512:9 64512:10 64512:1:1
                                                    64512:1:2
fd00:10:244:1::/64  fd00::10   10       -  64512 i
"
    );
    assert!(stdout(&o).lines().all(|l| l.len() <= 100));

    assert_eq!(
        agent.requests(),
        vec![
            json!({"version": 1, "query": "status"}),
            json!({"version": 1, "query": "neighbor", "address": "10.0.0.2"}),
            json!({"version": 1, "query": "rib", "direction": "out", "address": "10.0.0.2"}),
        ]
    );
}

#[test]
fn json_output_is_the_response_body() {
    let agent = FakeAgent::answering("json", neighbors());
    // `-o` works before or after the subcommand.
    for args in [
        &["-o", "json", "neighbors"][..],
        &["neighbors", "-o", "json"],
    ] {
        let o = agent.show(args);
        assert_ok(&o);
        let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
        assert_eq!(v, neighbors(), "the body, without the envelope's version");
    }
}

#[test]
fn the_socket_can_come_from_the_environment() {
    let agent = FakeAgent::answering("env", neighbors());
    let o = Command::new(env!("CARGO_BIN_EXE_podroute"))
        .args(["show", "neighbors"])
        .env("PODROUTE_SOCKET", agent.socket())
        .output()
        .unwrap();
    assert_ok(&o);
    assert!(stdout(&o).starts_with("Neighbor "));
}

#[test]
fn an_error_answer_goes_to_stderr_with_exit_1() {
    let agent = FakeAgent::answering(
        "error",
        json!({"response": "error", "message": "10.9.9.9 is not a neighbor; neighbors: 10.0.0.2"}),
    );
    let o = agent.show(&["neighbor", "10.9.9.9"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "podroute: 10.9.9.9 is not a neighbor; neighbors: 10.0.0.2\n"
    );
}

#[test]
fn a_missing_socket_says_the_agent_is_not_running_with_exit_2() {
    let path = std::env::temp_dir().join(format!("podroute-show-none-{}.sock", std::process::id()));
    let p = path.to_str().unwrap();
    let o = podroute(&["show", "status", "--socket", p]);
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        format!(
            "podroute: podroute agent is not running (no control socket at {p}); start it with `podroute agent --config FILE`\n"
        )
    );
}

#[test]
fn a_stale_socket_is_named_with_exit_2() {
    let path =
        std::env::temp_dir().join(format!("podroute-show-stale-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    drop(UnixListener::bind(&path).unwrap());
    let p = path.to_str().unwrap();
    let o = podroute(&["show", "neighbors", "--socket", p]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(
        stderr(&o),
        format!("podroute: nothing is listening on {p} (stale socket?)\n")
    );
}

#[test]
fn an_agent_of_another_protocol_version_is_named_with_exit_2() {
    let agent = FakeAgent::answering(
        "version",
        json!({"version": 2, "response": "error", "message": "control protocol version 1 is not supported"}),
    );
    let o = agent.show(&["status"]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(err.contains("control protocol mismatch"), "{err}");
    assert!(err.contains("speaks version 2"), "{err}");
}

#[test]
fn a_closed_pipe_ends_quietly_with_exit_0() {
    // Far more than a pipe holds, so the write must fail once the reader
    // is gone.
    let routes: Vec<Value> = (0..4000)
        .map(|i| {
            json!({
                "prefix": format!("10.{}.{}.0/24", i / 256, i % 256), "fib": null,
                "paths": [path(true, false, "10.0.0.2", "65001 65002", "IGP", Some(0), Some(100), 5)]
            })
        })
        .collect();
    let agent = FakeAgent::answering("pipe", json!({"response": "routes", "routes": routes}));
    for format in ["text", "json"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_podroute"))
            .args(["show", "routes", "-o", format, "--socket", agent.socket()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Like `| head -1`: read a little, then close.
        let mut stdout = child.stdout.take().unwrap();
        let mut first = [0u8; 16];
        stdout.read_exact(&mut first).unwrap();
        drop(stdout);
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{format}: {}", stderr(&o));
        assert_eq!(stderr(&o), "", "{format}: quiet");
    }
}
