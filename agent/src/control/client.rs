//! The control client, blocking: `podroute show` asks one question and
//! exits, so it needs no runtime.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::anyhow;

use super::protocol::{PROTOCOL_VERSION, Query, Request, Response, ResponseBody};

/// The server gives the agent 5 s to answer; this leaves room for that and
/// for a large answer to arrive.
const READ_TIMEOUT: Duration = Duration::from_secs(15);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Far above any real RIB; stops a runaway peer from eating the memory.
const MAX_RESPONSE: u64 = 1 << 30;

/// Sends `query` to the agent listening on `path` and returns its answer.
/// An [`ResponseBody::Error`] is an answer, not an `Err`: `Err` means the
/// agent could not be asked, and says why in words a user can act on.
pub(crate) fn request(path: &Path, query: Query) -> anyhow::Result<ResponseBody> {
    let shown = path.display();
    let mut stream = UnixStream::connect(path).map_err(|e| connect_error(path, &e))?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;

    let mut line = serde_json::to_vec(&Request {
        version: PROTOCOL_VERSION,
        query,
    })?;
    line.push(b'\n');
    stream
        .write_all(&line)
        .and_then(|()| stream.shutdown(std::net::Shutdown::Write))
        .map_err(|e| anyhow!("cannot send the request to the agent on {shown}: {e}"))?;

    let mut answer = Vec::new();
    (&mut stream)
        .take(MAX_RESPONSE)
        .read_to_end(&mut answer)
        .map_err(|e| match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => anyhow!(
                "the agent on {shown} did not answer within {} s",
                READ_TIMEOUT.as_secs()
            ),
            _ => anyhow!("cannot read the agent's answer on {shown}: {e}"),
        })?;
    decode(path, &answer)
}

fn connect_error(path: &Path, e: &io::Error) -> anyhow::Error {
    let p = path.display();
    match e.kind() {
        io::ErrorKind::NotFound => anyhow!(
            "podroute agent is not running (no control socket at {p}); start it with `podroute agent --config FILE`"
        ),
        io::ErrorKind::PermissionDenied => anyhow!(
            "cannot open {p}: permission denied; the control socket is root-only, run with sudo"
        ),
        io::ErrorKind::ConnectionRefused => {
            anyhow!("nothing is listening on {p} (stale socket?)")
        }
        _ => anyhow!("cannot connect to the agent on {p}: {e}"),
    }
}

fn decode(path: &Path, answer: &[u8]) -> anyhow::Result<ResponseBody> {
    let shown = path.display();
    if answer.iter().all(u8::is_ascii_whitespace) {
        return Err(anyhow!(
            "the agent on {shown} closed the connection without answering"
        ));
    }
    let value: serde_json::Value = serde_json::from_slice(answer).map_err(|e| {
        anyhow!("the answer on {shown} is not JSON ({e}); is this a podroute socket?")
    })?;
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    if version != Some(u64::from(PROTOCOL_VERSION)) {
        let theirs = version.map_or_else(|| "an unknown".to_string(), |v| v.to_string());
        let said = value
            .get("message")
            .and_then(serde_json::Value::as_str)
            .map(|m| format!(" (the agent says: {m})"))
            .unwrap_or_default();
        return Err(anyhow!(
            "control protocol mismatch: the agent on {shown} speaks version {theirs}, this podroute {} speaks version {PROTOCOL_VERSION}; use the podroute binary that matches the running agent{said}",
            env!("CARGO_PKG_VERSION")
        ));
    }
    let response: Response = serde_json::from_value(value)
        .map_err(|e| anyhow!("cannot understand the agent's answer on {shown}: {e}"))?;
    Ok(response.body)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        std::env::temp_dir().join(format!("podroute-client-{name}-{}", std::process::id()))
    }

    #[test]
    fn a_missing_socket_says_the_agent_is_not_running() {
        let path = temp_path("missing");
        let e = request(&path, Query::Status).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "podroute agent is not running (no control socket at {}); start it with `podroute agent --config FILE`",
                path.display()
            )
        );
    }

    #[test]
    fn a_socket_nobody_listens_on_is_called_stale() {
        let path = temp_path("stale");
        let _ = std::fs::remove_file(&path);
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let e = request(&path, Query::Status).unwrap_err().to_string();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            e,
            format!("nothing is listening on {} (stale socket?)", path.display())
        );
    }

    #[test]
    fn permission_denied_suggests_sudo() {
        let e = io::Error::from(io::ErrorKind::PermissionDenied);
        let m = connect_error(Path::new("/run/podroute/podroute.sock"), &e).to_string();
        assert_eq!(
            m,
            "cannot open /run/podroute/podroute.sock: permission denied; the control socket is root-only, run with sudo"
        );
    }

    #[test]
    fn another_version_is_named_with_what_the_agent_said() {
        let p = Path::new("/s");
        let e = decode(
            p,
            br#"{"version":2,"response":"error","message":"control protocol version 1 is not supported"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "control protocol mismatch: the agent on /s speaks version 2, this podroute"
            ),
            "{e}"
        );
        assert!(
            e.contains("speaks version 1; use the podroute binary"),
            "{e}"
        );
        assert!(
            e.ends_with("(the agent says: control protocol version 1 is not supported)"),
            "{e}"
        );

        let e = decode(p, b"").unwrap_err().to_string();
        assert!(e.contains("without answering"), "{e}");
        let e = decode(p, b"HTTP/1.1 400").unwrap_err().to_string();
        assert!(e.contains("not JSON"), "{e}");
    }

    #[test]
    fn every_answer_round_trips_through_the_wire_format() {
        use super::super::protocol::*;
        let summary = NeighborSummary {
            address: "fd00::2".parse().unwrap(),
            asn: Some(64512),
            kind: "mesh".into(),
            description: None,
            state: "Established".into(),
            uptime_secs: Some(u64::MAX),
            families: vec![FamilyCounts {
                family: "ipv6-unicast".into(),
                received: None,
                accepted: 1,
                advertised: 2,
            }],
            last_error: None,
            policy_note: Some("RFC 8212".into()),
        };
        let path = PathEntry {
            best: true,
            multipath: false,
            from: "local".into(),
            next_hop: "self".into(),
            as_path: String::new(),
            origin: "IGP".into(),
            med: None,
            local_pref: Some(100),
            communities: vec!["65000:1".into()],
            large_communities: Vec::new(),
            age_secs: 1,
            stale: false,
            not_best: None,
            path_id: Some(7),
        };
        let bodies = [
            ResponseBody::Status(Status {
                version: "0.1.0".into(),
                node: None,
                router_id: "10.0.0.1".into(),
                asn: 64512,
                uptime_secs: 3,
                peers_configured: 1,
                peers_established: 0,
                prefixes: 0,
                paths: 0,
                attribute_sets: 0,
                deferring: true,
                originated: Vec::new(),
                fib: None,
            }),
            ResponseBody::Neighbors {
                neighbors: vec![summary.clone()],
            },
            ResponseBody::Neighbor(Box::new(NeighborDetail {
                summary,
                router_id: Some("10.0.0.2".into()),
                hostname: None,
                local_address: Some("fd00::1".parse().unwrap()),
                hold_time: Some(90),
                keepalive_secs: Some(30),
                configured_hold_time: 90,
                capabilities: vec!["route refresh".into()],
                negotiated: Vec::new(),
                import_policy: None,
                export_policy: Some(Vec::new()),
                route_reflector_client: true,
                updates_received: 1,
                updates_sent: 2,
                rejected_by_checks: 3,
                last_down: None,
                graceful_restart_stale: false,
            })),
            ResponseBody::Routes {
                routes: vec![RouteEntry {
                    prefix: "10.244.0.0/24".into(),
                    paths: vec![path],
                    fib: Some("not-installed".into()),
                    fib_reason: Some(
                        "next hop 203.0.113.9 is not on a directly connected subnet".into(),
                    ),
                }],
            },
            ResponseBody::Rib {
                entries: Vec::new(),
            },
            ResponseBody::Error {
                message: "10.0.0.9 is not a neighbor".into(),
            },
        ];
        for body in bodies {
            let wire = serde_json::to_vec(&Response {
                version: PROTOCOL_VERSION,
                body: body.clone(),
            })
            .unwrap();
            assert_eq!(decode(Path::new("/s"), &wire).unwrap(), body);
        }
    }

    #[test]
    fn every_query_round_trips_through_the_wire_format() {
        use super::super::protocol::RibDirection;
        for query in [
            Query::Status,
            Query::Neighbors,
            Query::Neighbor {
                address: "10.0.0.2".parse().unwrap(),
            },
            Query::Routes {
                all: true,
                prefix: Some("10.244.0.0/16".into()),
            },
            Query::Rib {
                direction: RibDirection::In,
                address: "fd00::2".parse().unwrap(),
            },
        ] {
            let request = Request {
                version: PROTOCOL_VERSION,
                query,
            };
            let wire = serde_json::to_string(&request).unwrap();
            assert_eq!(serde_json::from_str::<Request>(&wire).unwrap(), request);
        }
    }
}
