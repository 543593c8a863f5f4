//! The HTTP side: `/metrics`, `/healthz`, `/readyz`. It only does I/O;
//! every answer comes from the driver through the [`MetricsHandle`].

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore, oneshot};
use tokio::time::{Instant, timeout};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

use super::encode::{CONTENT_TYPE as OPENMETRICS, encode};
use super::{MetricsHandle, Readiness, Request, Snapshot};

type Response = hyper::Response<Full<Bytes>>;

const TEXT: &str = "text/plain; charset=utf-8";

#[derive(Debug, Clone, Copy)]
struct Limits {
    /// For the driver to answer `/healthz` and `/readyz`; slower is unhealthy.
    health: Duration,
    /// For the driver to answer a scrape (a snapshot walks every peer).
    scrape: Duration,
    /// For a client to send a request's headers (and for an idle
    /// keep-alive connection to send its next request).
    header_read: Duration,
    /// Connections served at once; more wait in the listen backlog.
    connections: usize,
    /// How long shutdown waits for requests in flight.
    drain: Duration,
    /// Scrapes this close together share one snapshot, so a client that
    /// scrapes in a loop cannot keep the driver busy.
    reuse: Duration,
}

const LIMITS: Limits = Limits {
    health: Duration::from_secs(2),
    scrape: Duration::from_secs(5),
    header_read: Duration::from_secs(10),
    connections: 16,
    drain: Duration::from_secs(1),
    reuse: Duration::from_secs(1),
};

/// What every connection shares.
#[derive(Debug)]
struct Shared {
    handle: MetricsHandle,
    limits: Limits,
    /// The last exposition and when it was taken. Held across the request
    /// to the driver: one snapshot at a time, however many scrapers.
    last: Mutex<Option<(Instant, Bytes)>>,
}

/// A bound metrics listener, not serving yet: [`bind`] early so a taken
/// port stops the agent before it starts sessions, then [`Server::run`].
#[derive(Debug)]
pub(crate) struct Server {
    listener: TcpListener,
    addr: SocketAddr,
}

/// Binds `listen` for the metrics endpoints.
pub(crate) async fn bind(listen: SocketAddr) -> anyhow::Result<Server> {
    let listener = TcpListener::bind(listen).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot listen for metrics on {listen}: {e}; set metrics.listen to a free address, or --metrics-listen none to turn the endpoint off"
        )
    })?;
    let addr = listener.local_addr().unwrap_or(listen);
    Ok(Server { listener, addr })
}

impl Server {
    /// Serves until `shutdown` is cancelled. Failures of single
    /// connections are logged, never fatal.
    pub(crate) async fn run(self, handle: MetricsHandle, shutdown: CancellationToken) {
        self.run_with(handle, shutdown, LIMITS).await
    }

    async fn run_with(self, handle: MetricsHandle, shutdown: CancellationToken, limits: Limits) {
        let Server { listener, addr } = self;
        info!(address = %addr, "metrics listening: /metrics, /healthz, /readyz");
        let permits = Arc::new(Semaphore::new(limits.connections));
        let shared = Arc::new(Shared {
            handle,
            limits,
            last: Mutex::new(None),
        });
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
                        warn!(error = %e, "metrics: accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
            };
            let shared = Arc::clone(&shared);
            let stop = shutdown.clone();
            tracker.spawn(async move {
                connection(stream, shared, stop).await;
                drop(permit);
            });
        }
        drop(listener);
        tracker.close();
        if timeout(limits.drain, tracker.wait()).await.is_err() {
            debug!("metrics: connections still open at shutdown");
        }
        info!(address = %addr, "metrics endpoint closed");
    }
}

async fn connection(stream: TcpStream, shared: Arc<Shared>, shutdown: CancellationToken) {
    let header_read = shared.limits.header_read;
    let service = service_fn(move |req: hyper::Request<Incoming>| {
        let shared = Arc::clone(&shared);
        async move { Ok::<_, Infallible>(respond(&req, &shared).await) }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = shutdown.cancelled() => {
            // Finish the request in flight, then close.
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        debug!("metrics: connection ended: {e}");
    }
}

async fn respond(req: &hyper::Request<Incoming>, shared: &Shared) -> Response {
    let (handle, limits) = (&shared.handle, shared.limits);
    let path = req.uri().path();
    let known = matches!(path, "/metrics" | "/healthz" | "/readyz");
    if known && !matches!(*req.method(), Method::GET | Method::HEAD) {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{} {path}: only GET and HEAD are served\n", req.method()),
        );
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match path {
        "/metrics" => match scrape(shared).await {
            Ok(body) => metrics(body),
            Err(e) => {
                warn!("metrics: cannot scrape: {e}");
                text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n"))
            }
        },
        "/healthz" => match ask(handle, Request::Readiness, limits.health).await {
            Ok(_) => text(StatusCode::OK, "ok\n".into()),
            Err(e) => {
                warn!("health check failed: {e}");
                text(StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n"))
            }
        },
        "/readyz" => match ask(handle, Request::Readiness, limits.health).await {
            Ok(r) => match Readiness::not_ready(&r) {
                None => text(StatusCode::OK, "ok\n".into()),
                Some(why) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("not ready: {why}\n"),
                ),
            },
            Err(e) => text(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {e}\n")),
        },
        _ => text(
            StatusCode::NOT_FOUND,
            format!("{path} not found: podroute serves /metrics, /healthz and /readyz\n"),
        ),
    }
}

/// The exposition: the last one if it is recent, else a new snapshot.
async fn scrape(shared: &Shared) -> Result<Bytes, Unavailable> {
    let mut last = shared.last.lock().await;
    if let Some((at, body)) = &*last
        && at.elapsed() < shared.limits.reuse
    {
        return Ok(body.clone());
    }
    let snapshot: Snapshot = ask(&shared.handle, Request::Snapshot, shared.limits.scrape).await?;
    let body = Bytes::from(encode(snapshot));
    *last = Some((Instant::now(), body.clone()));
    Ok(body)
}

fn metrics(body: Bytes) -> Response {
    let mut r = hyper::Response::new(Full::new(body));
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
    r
}

fn text(status: StatusCode, body: String) -> Response {
    let mut r = hyper::Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(TEXT));
    r
}

/// Why the driver gave no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unavailable {
    /// Its channel is closed: it stopped, or is stopping.
    Stopped,
    /// It did not answer in time: busy, or stuck.
    Slow(Duration),
}

impl std::fmt::Display for Unavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unavailable::Stopped => f.write_str("the routing task has stopped"),
            Unavailable::Slow(d) => write!(
                f,
                "the routing task did not answer within {} ms (busy or stuck; see the log)",
                d.as_millis()
            ),
        }
    }
}

/// Sends the driver a request and waits up to `limit` for its answer.
async fn ask<T>(
    handle: &MetricsHandle,
    request: impl FnOnce(oneshot::Sender<T>) -> Request,
    limit: Duration,
) -> Result<T, Unavailable> {
    let (tx, rx) = oneshot::channel();
    let exchange = async {
        handle
            .send(request(tx))
            .await
            .map_err(|_| Unavailable::Stopped)?;
        rx.await.map_err(|_| Unavailable::Stopped)
    };
    timeout(limit, exchange)
        .await
        .unwrap_or(Err(Unavailable::Slow(limit)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::sync::mpsc;

    /// Short, but not so short that a loaded test machine trips them.
    const FAST: Limits = Limits {
        health: Duration::from_millis(1000),
        scrape: Duration::from_millis(1000),
        header_read: Duration::from_secs(2),
        connections: 4,
        drain: Duration::from_millis(200),
        reuse: Duration::from_millis(1000),
    };

    /// What the fake driver answers.
    #[derive(Clone)]
    enum Fake {
        Answers(Box<Snapshot>, Readiness),
        /// Takes requests, never answers.
        Stuck,
        /// Gone: the channel is closed.
        Stopped,
    }

    fn fake_driver(fake: Fake) -> MetricsHandle {
        let (tx, mut rx) = mpsc::channel::<Request>(4);
        tokio::spawn(async move {
            let mut held = Vec::new();
            let mut snapshots = 0;
            if matches!(fake, Fake::Stopped) {
                return;
            }
            while let Some(req) = rx.recv().await {
                match (&fake, req) {
                    (Fake::Answers(s, _), Request::Snapshot(r)) => {
                        // Tells the snapshots apart.
                        snapshots += 1;
                        let _ = r.send(Snapshot {
                            uptime_secs: f64::from(snapshots),
                            ..(**s).clone()
                        });
                    }
                    (Fake::Answers(_, ready), Request::Readiness(r)) => {
                        let _ = r.send(*ready);
                    }
                    (_, req) => held.push(req),
                }
            }
        });
        tx
    }

    struct Running {
        addr: SocketAddr,
        stop: CancellationToken,
        task: tokio::task::JoinHandle<()>,
    }

    async fn start(fake: Fake) -> Running {
        let server = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = server.addr;
        let stop = CancellationToken::new();
        let task = tokio::spawn(server.run_with(fake_driver(fake), stop.clone(), FAST));
        Running { addr, stop, task }
    }

    impl Running {
        async fn shut(self) {
            self.stop.cancel();
            timeout(Duration::from_secs(5), self.task)
                .await
                .expect("the server stops on cancel")
                .unwrap();
        }
    }

    struct Reply {
        status: u16,
        headers: String,
        body: String,
    }

    /// A plain HTTP/1.1 client: one request, `Connection: close`.
    async fn http(addr: SocketAddr, method: &str, path: &str) -> Reply {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await
        .unwrap();
        let mut raw = String::new();
        timeout(Duration::from_secs(5), s.read_to_string(&mut raw))
            .await
            .expect("the server answers and closes")
            .unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").expect("a header block");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .expect("a status line");
        Reply {
            status,
            headers: head.to_ascii_lowercase(),
            body: body.to_string(),
        }
    }

    fn ready() -> Readiness {
        Readiness {
            initial_sync_done: true,
            deferring: false,
            fib_reconciled: true,
        }
    }

    fn snapshot() -> Snapshot {
        let mut s = Snapshot::default();
        s.rib.prefixes = 42;
        s.fib.reconciled = true;
        s
    }

    #[tokio::test]
    async fn serves_metrics_health_and_readiness() {
        let srv = start(Fake::Answers(Box::new(snapshot()), ready())).await;

        let m = http(srv.addr, "GET", "/metrics").await;
        assert_eq!(m.status, 200, "{}", m.body);
        assert!(
            m.headers
                .contains("content-type: application/openmetrics-text; version=1.0.0"),
            "{}",
            m.headers
        );
        assert!(
            m.body.lines().any(|l| l == "podroute_rib_prefixes 42"),
            "{}",
            m.body
        );
        assert!(m.body.ends_with("# EOF\n"));

        let h = http(srv.addr, "GET", "/healthz").await;
        assert_eq!((h.status, h.body.as_str()), (200, "ok\n"));
        let r = http(srv.addr, "GET", "/readyz").await;
        assert_eq!((r.status, r.body.as_str()), (200, "ok\n"));

        let head = http(srv.addr, "HEAD", "/healthz").await;
        assert_eq!((head.status, head.body.as_str()), (200, ""));

        let nf = http(srv.addr, "GET", "/nope").await;
        assert_eq!(nf.status, 404);
        assert!(
            nf.body.contains("/metrics, /healthz and /readyz"),
            "{}",
            nf.body
        );

        let post = http(srv.addr, "POST", "/metrics").await;
        assert_eq!(post.status, 405);
        assert!(
            post.headers.contains("allow: get, head"),
            "{}",
            post.headers
        );

        srv.shut().await;
    }

    #[tokio::test]
    async fn scrapes_close_together_share_a_snapshot() {
        let srv = start(Fake::Answers(Box::new(snapshot()), ready())).await;
        let uptime = |body: String| {
            body.lines()
                .find(|l| l.starts_with("podroute_uptime_seconds "))
                .map(str::to_string)
                .expect("an uptime line")
        };
        let first = uptime(http(srv.addr, "GET", "/metrics").await.body);
        let again = uptime(http(srv.addr, "GET", "/metrics").await.body);
        assert_eq!(first, "podroute_uptime_seconds 1.0");
        assert_eq!(again, first);
        tokio::time::sleep(FAST.reuse + Duration::from_millis(50)).await;
        let later = uptime(http(srv.addr, "GET", "/metrics").await.body);
        assert_eq!(later, "podroute_uptime_seconds 2.0");
        srv.shut().await;
    }

    #[tokio::test]
    async fn not_ready_says_what_it_waits_for() {
        let waiting = Readiness {
            initial_sync_done: false,
            deferring: true,
            fib_reconciled: false,
        };
        let srv = start(Fake::Answers(Box::default(), waiting)).await;
        let r = http(srv.addr, "GET", "/readyz").await;
        assert_eq!(r.status, 503);
        assert_eq!(
            r.body,
            "not ready: waiting for the initial routing table: graceful restart, waiting for the peers' End-of-RIB\n"
        );
        // Alive all the same.
        assert_eq!(http(srv.addr, "GET", "/healthz").await.status, 200);
        srv.shut().await;

        let synced = Readiness {
            initial_sync_done: true,
            deferring: false,
            fib_reconciled: false,
        };
        let srv = start(Fake::Answers(Box::default(), synced)).await;
        let r = http(srv.addr, "GET", "/readyz").await;
        assert_eq!(r.status, 503);
        assert!(r.body.contains("first FIB reconcile"), "{}", r.body);
        assert_eq!(r.body.lines().count(), 1);
        srv.shut().await;
    }

    #[tokio::test]
    async fn a_stuck_driver_is_unhealthy() {
        let srv = start(Fake::Stuck).await;
        let h = http(srv.addr, "GET", "/healthz").await;
        assert_eq!(h.status, 503);
        assert!(
            h.body.contains("did not answer within 1000 ms"),
            "{}",
            h.body
        );
        let m = http(srv.addr, "GET", "/metrics").await;
        assert_eq!(m.status, 503);
        let r = http(srv.addr, "GET", "/readyz").await;
        assert_eq!(r.status, 503);
        assert!(r.body.starts_with("not ready: "), "{}", r.body);
        srv.shut().await;
    }

    #[tokio::test]
    async fn a_stopped_driver_is_unhealthy() {
        let srv = start(Fake::Stopped).await;
        // Let the fake drop its receiver.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let h = http(srv.addr, "GET", "/healthz").await;
        assert_eq!(
            (h.status, h.body.as_str()),
            (503, "the routing task has stopped\n")
        );
        srv.shut().await;
    }

    #[tokio::test]
    async fn a_taken_port_says_what_to_do() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = taken.local_addr().unwrap();
        let e = bind(addr).await.unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("cannot listen for metrics on {addr}: ")),
            "{e}"
        );
        assert!(e.contains("--metrics-listen none"), "{e}");
    }

    #[tokio::test]
    async fn shutdown_closes_idle_keep_alive_connections() {
        let srv = start(Fake::Answers(Box::new(snapshot()), ready())).await;
        // A keep-alive client that made one request and stays connected.
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let n = s.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        srv.shut().await;
        // The server closed its end.
        let n = timeout(Duration::from_secs(2), s.read(&mut buf))
            .await
            .expect("closed promptly")
            .unwrap_or(0);
        assert_eq!(n, 0);
    }
}
