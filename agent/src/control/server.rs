//! The control server: a unix socket, one JSON request per connection, one
//! JSON response. It only does I/O; the agent's core task owns the state and
//! answers each [`Query`] through the [`ControlHandle`].

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, trace, warn};

use super::protocol::{PROTOCOL_VERSION, Query, Request, Response, ResponseBody};

/// How the server reaches the task that owns the state: a query and the
/// channel for its answer.
pub(crate) type ControlHandle = mpsc::Sender<(Query, oneshot::Sender<ResponseBody>)>;

#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Longest request, newline included.
    max_request: usize,
    /// For the whole request to arrive.
    read: Duration,
    /// For the core task to take the query and answer it.
    answer: Duration,
    /// For the client to take the whole answer (a full RIB can be large).
    write: Duration,
    /// Connections served at once; more wait in the listen backlog.
    connections: usize,
    /// How long shutdown waits for connections in flight.
    drain: Duration,
}

const LIMITS: Limits = Limits {
    max_request: 64 * 1024,
    read: Duration::from_secs(5),
    answer: Duration::from_secs(5),
    write: Duration::from_secs(30),
    connections: 16,
    drain: Duration::from_secs(1),
};

/// Serves the control socket at `path` until `shutdown` is cancelled, then
/// removes the socket file.
///
/// The parent directory is created (0755) if missing; a stale socket file
/// is replaced, but a socket another agent still answers on is not. The
/// socket is made root-only (0600).
pub(crate) async fn serve(
    path: &Path,
    handle: ControlHandle,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    serve_with(path, handle, shutdown, LIMITS).await
}

async fn serve_with(
    path: &Path,
    handle: ControlHandle,
    shutdown: CancellationToken,
    limits: Limits,
) -> anyhow::Result<()> {
    prepare(path).await?;
    let listener = UnixListener::bind(path)
        .with_context(|| format!("cannot listen on control socket {}", path.display()))?;
    let mut socket = SocketFile::new(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot make {} root-only (chmod 0600)", path.display()))?;
    info!(socket = %path.display(), "control socket listening");

    let permits = Arc::new(Semaphore::new(limits.connections));
    let tracker = TaskTracker::new();
    loop {
        let permit = tokio::select! {
            _ = shutdown.cancelled() => break,
            p = Arc::clone(&permits).acquire_owned() => match p {
                Ok(p) => p,
                // Closed only if we closed it: stop serving.
                Err(_) => break,
            },
        };
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and the like: do not spin.
                    warn!(error = %e, "control socket: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let handle = handle.clone();
        tracker.spawn(async move {
            connection(stream, &handle, limits).await;
            drop(permit);
        });
    }

    // New clients learn at once that the agent is gone; the ones in flight
    // get a moment to finish.
    drop(listener);
    socket.remove();
    tracker.close();
    if timeout(limits.drain, tracker.wait()).await.is_err() {
        debug!("control socket: connections still open at shutdown");
    }
    info!(socket = %path.display(), "control socket closed");
    Ok(())
}

/// Makes room for the socket: the directory exists, no stale file is in
/// the way, and no other agent is using it.
async fn prepare(path: &Path) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        // Whatever the umask: `podroute show` must be able to reach the socket.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .with_context(|| format!("cannot chmod 0755 {}", dir.display()))?;
    }
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    };
    if !meta.file_type().is_socket() {
        bail!(
            "{} exists and is not a socket; refusing to replace it (remove it, or choose another control socket path)",
            path.display()
        );
    }
    match UnixStream::connect(path).await {
        Ok(_) => bail!(
            "another podroute agent is answering on {}; stop it first, or give this one another control socket",
            path.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            debug!(socket = %path.display(), "removing a stale control socket");
            std::fs::remove_file(path)
                .with_context(|| format!("cannot remove stale socket {}", path.display()))
        }
        Err(e) => {
            Err(e).with_context(|| format!("cannot tell whether {} is in use", path.display()))
        }
    }
}

/// The socket file we bound; removed when we stop, unless someone has
/// replaced it since.
#[derive(Debug)]
struct SocketFile {
    path: PathBuf,
    /// (device, inode) of the file we created.
    id: Option<(u64, u64)>,
}

impl SocketFile {
    fn new(path: &Path) -> anyhow::Result<SocketFile> {
        let meta = std::fs::symlink_metadata(path)
            .with_context(|| format!("cannot inspect {}", path.display()))?;
        Ok(SocketFile {
            path: path.to_path_buf(),
            id: Some((meta.dev(), meta.ino())),
        })
    }

    fn remove(&mut self) {
        let Some(id) = self.id.take() else { return };
        match std::fs::symlink_metadata(&self.path) {
            Ok(m) if (m.dev(), m.ino()) == id => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    warn!(socket = %self.path.display(), error = %e, "cannot remove the control socket");
                }
            }
            _ => debug!(socket = %self.path.display(), "control socket already gone or replaced"),
        }
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        self.remove();
    }
}

/// One connection: read the request, ask the core task, write the answer.
async fn connection(mut stream: UnixStream, handle: &ControlHandle, limits: Limits) {
    let body = match read_request(&mut stream, limits).await {
        Ok(query) => {
            trace!(?query, "control request");
            ask(handle, query, limits).await
        }
        Err(message) => {
            warn!("control request refused: {message}");
            ResponseBody::Error { message }
        }
    };
    let mut bytes = match serde_json::to_vec(&Response {
        version: PROTOCOL_VERSION,
        body,
    }) {
        Ok(b) => b,
        Err(e) => {
            warn!(error = %e, "control socket: cannot encode the answer");
            return;
        }
    };
    bytes.push(b'\n');
    let write = async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await
    };
    match timeout(limits.write, write).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) if e.kind() == io::ErrorKind::BrokenPipe => {
            debug!("control socket: the client left before the answer");
        }
        Ok(Err(e)) => warn!(error = %e, "control socket: cannot write the answer"),
        Err(_) => warn!(
            "control socket: the client did not take the answer within {} s",
            limits.write.as_secs()
        ),
    }
}

/// One JSON object, ended by a newline or by the end of the stream.
async fn read_request(stream: &mut UnixStream, limits: Limits) -> Result<Query, String> {
    let mut buf = Vec::new();
    let read = {
        let mut reader = BufReader::new((&mut *stream).take(limits.max_request as u64 + 1));
        timeout(limits.read, reader.read_until(b'\n', &mut buf)).await
    };
    match read {
        Err(_) => {
            return Err(format!(
                "no complete request within {} ms",
                limits.read.as_millis()
            ));
        }
        Ok(Err(e)) => return Err(format!("cannot read the request: {e}")),
        Ok(Ok(_)) => {}
    }
    if buf.len() > limits.max_request {
        // Take the rest (within reason): closing with unread input resets
        // the connection, and the client would never see why.
        let rest = (&mut *stream).take(limits.max_request as u64 * 16);
        let _ = timeout(
            limits.read,
            tokio::io::copy(&mut { rest }, &mut tokio::io::sink()),
        )
        .await;
        return Err(format!(
            "the request is longer than {} KiB",
            limits.max_request / 1024
        ));
    }
    parse_request(&buf)
}

fn parse_request(bytes: &[u8]) -> Result<Query, String> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err("empty request".into());
    }
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the request is not JSON: {e}"))?;
    // The version first: a newer client's query may not parse at all, and
    // "wrong version" is the useful answer then.
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(PROTOCOL_VERSION) => {}
        Some(v) => {
            return Err(format!(
                "control protocol version {v} is not supported: this agent (podroute {}) speaks version {PROTOCOL_VERSION} only; use the podroute binary that matches the agent",
                env!("CARGO_PKG_VERSION")
            ));
        }
        None => {
            return Err(format!(
                "the request has no protocol version; this agent speaks control protocol version {PROTOCOL_VERSION}"
            ));
        }
    }
    serde_json::from_value::<Request>(value)
        .map(|r| r.query)
        .map_err(|e| format!("bad request: {e}"))
}

/// Hands the query to the core task and waits for its answer.
async fn ask(handle: &ControlHandle, query: Query, limits: Limits) -> ResponseBody {
    let (tx, rx) = oneshot::channel();
    let exchange = async {
        handle.send((query, tx)).await.ok()?;
        rx.await.ok()
    };
    match timeout(limits.answer, exchange).await {
        Ok(Some(body)) => body,
        Ok(None) => ResponseBody::Error {
            message: "the agent is shutting down".into(),
        },
        Err(_) => {
            warn!(
                "control request: the agent did not answer within {} ms",
                limits.answer.as_millis()
            );
            ResponseBody::Error {
                message: "the agent did not answer in time".into(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;
    use tokio::task::JoinHandle;

    use super::super::client;
    use super::super::protocol::Status;
    use super::*;
    use crate::test_dir::TempDir;

    fn status() -> Status {
        Status {
            version: "0.1.0".into(),
            node: Some("worker-1".into()),
            router_id: "10.0.0.1".into(),
            asn: 64512,
            uptime_secs: 5,
            peers_configured: 1,
            peers_established: 1,
            prefixes: 1,
            paths: 1,
            attribute_sets: 1,
            deferring: false,
            originated: vec!["10.244.1.0/24".into()],
            fib: None,
        }
    }

    /// A core task that answers `status` and refuses everything else.
    fn fake_core() -> ControlHandle {
        let (tx, mut rx) = mpsc::channel::<(Query, oneshot::Sender<ResponseBody>)>(4);
        tokio::spawn(async move {
            while let Some((query, reply)) = rx.recv().await {
                let body = match query {
                    Query::Status => ResponseBody::Status(status()),
                    other => ResponseBody::Error {
                        message: format!("not in this test: {other:?}"),
                    },
                };
                let _ = reply.send(body);
            }
        });
        tx
    }

    struct Running {
        shutdown: CancellationToken,
        task: JoinHandle<anyhow::Result<()>>,
    }

    async fn start(path: PathBuf, handle: ControlHandle, limits: Limits) -> Running {
        let shutdown = CancellationToken::new();
        let task = tokio::spawn({
            let (path, shutdown) = (path.clone(), shutdown.clone());
            async move { serve_with(&path, handle, shutdown, limits).await }
        });
        for _ in 0..200 {
            if std::fs::symlink_metadata(&path).is_ok_and(|m| m.mode() & 0o777 == 0o600) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Running { shutdown, task }
    }

    impl Running {
        async fn stop(self) -> anyhow::Result<()> {
            self.shutdown.cancel();
            self.task.await.unwrap()
        }
    }

    /// Sends raw bytes, returns the raw answer.
    async fn raw(path: &Path, request: &[u8]) -> Response {
        let mut s = UnixStream::connect(path).await.unwrap();
        s.write_all(request).await.unwrap();
        s.shutdown().await.unwrap();
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await.unwrap();
        assert_eq!(answer.last(), Some(&b'\n'), "answers end with a newline");
        serde_json::from_slice(&answer).unwrap()
    }

    fn error_message(r: Response) -> String {
        assert_eq!(r.version, PROTOCOL_VERSION);
        match r.body {
            ResponseBody::Error { message } => message,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn answers_a_query_from_a_root_only_socket_in_a_new_directory() {
        let tmp = TempDir::new("answer");
        let path = tmp.0.join("run/podroute/podroute.sock");
        let server = start(path.clone(), fake_core(), LIMITS).await;

        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.mode() & 0o777, 0o600);
        let dir = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(dir.mode() & 0o777, 0o755);

        let p = path.clone();
        let body = tokio::task::spawn_blocking(move || client::request(&p, Query::Status))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(body, ResponseBody::Status(status()));

        // A request ended by EOF rather than a newline is fine too.
        let r = raw(&path, br#"{"version":1,"query":"neighbors"}"#).await;
        assert!(error_message(r).starts_with("not in this test: Neighbors"));

        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn refuses_another_protocol_version_and_says_which_it_speaks() {
        let tmp = TempDir::new("version");
        let path = tmp.0.join("c.sock");
        let server = start(path.clone(), fake_core(), LIMITS).await;

        let m = error_message(raw(&path, b"{\"version\":99,\"query\":\"what-is-new\"}\n").await);
        assert!(m.contains("version 99 is not supported"), "{m}");
        assert!(m.contains("speaks version 1"), "{m}");
        let m = error_message(raw(&path, b"{\"query\":\"status\"}\n").await);
        assert!(m.contains("no protocol version"), "{m}");
        let m = error_message(raw(&path, b"status\n").await);
        assert!(m.contains("not JSON"), "{m}");
        let m = error_message(raw(&path, b"{\"version\":1,\"query\":\"nope\"}\n").await);
        assert!(m.starts_with("bad request"), "{m}");

        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn refuses_oversized_requests() {
        let tmp = TempDir::new("big");
        let path = tmp.0.join("c.sock");
        let server = start(path.clone(), fake_core(), LIMITS).await;
        let mut big = br#"{"version":1,"query":"status","pad":""#.to_vec();
        big.resize(70 * 1024, b'x');
        let m = error_message(raw(&path, &big).await);
        assert!(m.contains("longer than 64 KiB"), "{m}");
        server.stop().await.unwrap();
    }

    #[tokio::test]
    async fn says_so_when_the_agent_does_not_answer() {
        let tmp = TempDir::new("slow");
        let path = tmp.0.join("c.sock");
        // Takes queries and never answers.
        let (tx, mut rx) = mpsc::channel::<(Query, oneshot::Sender<ResponseBody>)>(4);
        let hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Some(q) = rx.recv().await {
                held.push(q);
            }
        });
        let limits = Limits {
            answer: Duration::from_millis(50),
            ..LIMITS
        };
        let server = start(path.clone(), tx, limits).await;
        let m = error_message(raw(&path, b"{\"version\":1,\"query\":\"status\"}\n").await);
        assert_eq!(m, "the agent did not answer in time");
        server.stop().await.unwrap();
        hold.abort();
    }

    #[tokio::test]
    async fn removes_the_socket_on_shutdown() {
        let tmp = TempDir::new("shutdown");
        let path = tmp.0.join("c.sock");
        let server = start(path.clone(), fake_core(), LIMITS).await;
        assert!(path.exists());
        server.stop().await.unwrap();
        assert!(std::fs::symlink_metadata(&path).is_err(), "socket removed");
    }

    #[tokio::test]
    async fn replaces_a_stale_socket_but_not_a_live_agent() {
        let tmp = TempDir::new("stale");
        let path = tmp.0.join("c.sock");
        // A socket file nobody listens on, as a killed agent leaves it.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        assert!(path.exists());
        let first = start(path.clone(), fake_core(), LIMITS).await;
        let p = path.clone();
        let body = tokio::task::spawn_blocking(move || client::request(&p, Query::Status))
            .await
            .unwrap();
        assert!(body.is_ok(), "{body:?}");

        let e = serve(&path, fake_core(), CancellationToken::new())
            .await
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("another podroute agent is answering"),
            "{e:#}"
        );
        // The refused second server did not take the first one's socket.
        assert!(path.exists());
        first.stop().await.unwrap();

        std::fs::write(&path, "not a socket").unwrap();
        let e = serve(&path, fake_core(), CancellationToken::new())
            .await
            .unwrap_err();
        assert!(e.to_string().contains("is not a socket"), "{e:#}");
    }
}
