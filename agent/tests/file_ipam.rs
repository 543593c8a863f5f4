//! Standalone IPAM end to end: real `podroute agent` processes with an
//! `ipam` section share one state file, and `podroute show ipam` /
//! `podroute ipam ...` read it. No root: the FIB is off, BGP listens on an
//! ephemeral loopback port, the sockets and files are in a temp directory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "../src/test_dir.rs"]
mod test_dir;

use test_dir::TempDir;

/// Writes a configuration for `node` whose blocks come from `state`.
fn config(dir: &Path, node: &str, state: &Path) -> PathBuf {
    let path = dir.join(format!("{node}.yaml"));
    let text = format!(
        "\
node: {node}
asn: 64512
router_id: 192.0.2.10
listen: {{ port: 0, addresses: [127.0.0.1] }}
control_socket: {socket}
state_dir: {state_dir}
fib: {{ enabled: false }}
metrics: {{ listen: none }}
ipam:
  file: {state}
  pools:
    - cidr: 10.244.0.0/16
    - cidr: fd00:10:244::/48
",
        socket = dir.join(format!("{node}.sock")).display(),
        state_dir = dir.join(format!("{node}-state")).display(),
        state = state.display(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn podroute(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_podroute"))
        .args(args)
        .env_remove("PODROUTE_SOCKET")
        .env_remove("PODROUTE_CONFIG")
        .env_remove("NODE_NAME")
        .stdin(Stdio::null())
        .output()
        .expect("podroute runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[track_caller]
fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstderr: {}\nstdout: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr),
        stdout(o)
    );
}

/// A running agent, stopped with SIGTERM when dropped.
struct Agent {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Agent {
    fn start(dir: &Path, node: &str, state: &Path) -> Agent {
        let config = config(dir, node, state);
        let log = dir.join(format!("{node}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_podroute"))
            .args(["agent", "--config"])
            .arg(&config)
            .env_remove("PODROUTE_SOCKET")
            .env_remove("NODE_NAME")
            .env_remove("PODROUTE_POD_CIDRS")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("podroute agent starts");
        let agent = Agent {
            child,
            socket: dir.join(format!("{node}.sock")),
            log,
        };
        agent.wait_until_answering();
        agent
    }

    fn wait_until_answering(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.show(&["status"]).status.success() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the agent did not answer within 30 s; its log:\n{}",
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn show(&self, args: &[&str]) -> Output {
        let mut all = vec!["show"];
        all.extend_from_slice(args);
        all.extend(["--socket", self.socket.to_str().unwrap()]);
        podroute(&all)
    }

    fn ipam_json(&self) -> Value {
        let o = self.show(&["ipam", "-o", "json"]);
        assert_ok(&o);
        serde_json::from_slice(&o.stdout).unwrap()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        // SIGTERM, the way it is stopped in production; kill(1) keeps
        // this test free of unsafe code.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn two_agents_on_one_state_file_get_distinct_blocks_and_show_them() {
    let dir = TempDir::new("agents");
    let state = dir.0.join("ipam.json");
    let a = Agent::start(&dir.0, "lab-a", &state);
    let b = Agent::start(&dir.0, "lab-b", &state);

    let (va, vb) = (a.ipam_json(), b.ipam_json());
    assert_eq!(va["mode"], "file");
    assert_eq!(va["store"], state.display().to_string());
    let (own_a, own_b) = (strings(&va["node_cidrs"]), strings(&vb["node_cidrs"]));
    assert_eq!(own_a.len(), 2, "one block per pool: {own_a:?}");
    assert_eq!(own_b.len(), 2);
    assert!(
        own_a.iter().all(|c| !own_b.contains(c)),
        "{own_a:?} {own_b:?}"
    );

    // The blocks are advertised like static pod_cidrs.
    let status = a.show(&["status", "-o", "json"]);
    assert_ok(&status);
    let status: Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(strings(&status["originated"]), own_a);

    // Agent b, started after a, sees both nodes' blocks in the file.
    let nodes: Vec<&str> = vb["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"].as_str().unwrap())
        .collect();
    assert_eq!(nodes.iter().filter(|n| **n == "lab-a").count(), 2, "{vb}");
    assert_eq!(nodes.iter().filter(|n| **n == "lab-b").count(), 2, "{vb}");
    let text = b.show(&["ipam"]);
    assert_ok(&text);
    let text = stdout(&text);
    assert!(
        text.starts_with(&format!(
            "Pod CIDR mode: file (blocks allocated from the pools in {})\nNode lab-b: {}\n",
            state.display(),
            own_b.join(", ")
        )),
        "{text}"
    );
    let mine = format!("{} *", own_b[0]);
    assert!(
        text.lines()
            .any(|l| l.starts_with(&mine) && l.contains(" lab-b ")),
        "{text}"
    );

    // A restart gets the same blocks back.
    drop(a);
    let a = Agent::start(&dir.0, "lab-a", &state);
    assert_eq!(strings(&a.ipam_json()["node_cidrs"]), own_a);
    let log = std::fs::read_to_string(&a.log).unwrap();
    assert!(
        log.contains("pod CIDRs: allocated from the pools in the state file")
            && log.contains("mode=\"file\""),
        "{log}"
    );
}

#[test]
fn ipam_list_and_release_work_on_the_state_file_without_an_agent() {
    let dir = TempDir::new("cli");
    let state = dir.0.join("ipam.json");
    let config = config(&dir.0, "lab-a", &state);
    let config = config.to_str().unwrap();
    // An agent that is gone left its blocks behind.
    drop(Agent::start(&dir.0, "lab-a", &state));

    let list = podroute(&["ipam", "list", "--config", config, "-o", "json"]);
    assert_ok(&list);
    let view: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(view["mode"], "file");
    assert_eq!(view["blocks"].as_array().unwrap().len(), 2, "{view}");
    assert_eq!(view["pools"][0]["allocated"], 1);

    let released = podroute(&["ipam", "release", "--config", config, "lab-a"]);
    assert_ok(&released);
    let lines: Vec<String> = stdout(&released).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("released ") && l.ends_with(" (node lab-a)"))
    );
    let again = podroute(&["ipam", "release", "--config", config, "lab-a"]);
    assert_ok(&again);
    assert_eq!(stdout(&again), "node lab-a holds no blocks\n");

    let list = podroute(&["ipam", "list", "--config", config]);
    assert_ok(&list);
    assert!(
        stdout(&list).contains("No blocks allocated"),
        "{}",
        stdout(&list)
    );
}

#[test]
fn check_validates_the_ipam_section_and_touches_no_file() {
    let dir = TempDir::new("check");
    let state = dir.0.join("ipam.json");
    let config = config(&dir.0, "lab-a", &state);
    let ok = podroute(&["agent", "--check", "--config", config.to_str().unwrap()]);
    assert_ok(&ok);
    assert!(
        stdout(&ok).contains(&format!(
            "  ipam: state file {}, pools 10.244.0.0/16 (/24 blocks), fd00:10:244::/48 (/64 blocks)",
            state.display()
        )),
        "{}",
        stdout(&ok)
    );
    assert!(!state.exists(), "a check allocates nothing");

    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("node: lab-a\n", "");
    std::fs::write(&config, text).unwrap();
    let bad = podroute(&[
        "agent",
        "--check",
        "--config",
        config.to_str().unwrap(),
        "--pod-cidr",
        "10.244.9.0/24",
    ]);
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("2 problems in the configuration"), "{err}");
    assert!(
        err.contains(
            "node: missing: `ipam` allocates blocks to a node by name; set `node` or --node-name"
        ),
        "{err}"
    );
    assert!(
        err.contains("pod_cidrs (from --pod-cidr): `ipam` allocates"),
        "{err}"
    );
}
