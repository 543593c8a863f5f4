//! A fake Kubernetes API server: a **test double**, not an API server. It keeps objects in
//! memory and speaks enough of the real HTTP/JSON protocol that the real `kube` client,
//! `kube::runtime::watcher` and reflectors work against it unchanged, so tests can run
//! podroute's Kubernetes code without a cluster. There is no etcd, no authentication or
//! authorization, no admission, defaulting or schema validation, no controllers and no
//! kubelet; the one controller-like behaviour is owner-reference garbage collection.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use interop::fake_api::FakeApiServer;
//! use k8s_openapi::api::core::v1::Node;
//! use kube::api::{Api, PostParams};
//!
//! let server = FakeApiServer::start().await?;
//! let nodes: Api<Node> = Api::all(server.client().await);
//! let node = serde_json::from_value(serde_json::json!({ "metadata": { "name": "a" } }))?;
//! nodes.create(&PostParams::default(), &node).await?;
//! assert_eq!(server.objects("v1", "nodes").len(), 1);
//! server.shutdown().await;
//! # Ok(())
//! # }
//! ```
//!
//! What it serves (`kinds.rs` has the table): Nodes, Namespaces, Secrets, ConfigMaps and
//! podroute's `podroute.io/v1alpha1` custom resources, with get, list (selectors,
//! pagination), watch (history replay, 410 Gone after [`FakeApiServer::compact`],
//! bookmarks, `sendInitialEvents`), create, update, the four patch formats, delete with
//! owner-reference garbage collection, and `/status` subresources. Each module says what
//! it simplifies. Plain HTTP only: kube's client accepts an `http://` cluster URL.

mod discovery;
mod errors;
mod gc;
mod http;
mod kinds;
mod list;
mod patch;
mod select;
mod store;
mod watch;
mod write;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch as signal;
use tokio::task::JoinHandle;

use kinds::Kind;
use store::{Store, lock};

/// A running fake API server (a test double; see the [module docs](self)).
///
/// It serves from tasks on the tokio runtime that started it; clients may run on any
/// runtime or thread. Dropping it stops it like [`FakeApiServer::shutdown`], without
/// waiting.
#[derive(Debug)]
pub struct FakeApiServer {
    addr: SocketAddr,
    store: Arc<Mutex<Store>>,
    /// Set to `true` to stop accepting and drop every connection.
    stop: signal::Sender<bool>,
    accept: Option<JoinHandle<()>>,
    /// Listeners added with [`listen_also`](Self::listen_also).
    more: Vec<JoinHandle<()>>,
}

impl FakeApiServer {
    /// Starts a server on `127.0.0.1` and an unused port.
    pub async fn start() -> anyhow::Result<Self> {
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .context("binding the fake API server to 127.0.0.1")?;
        Self::start_on(listener).await
    }

    /// Starts a server on a listener bound elsewhere, e.g. inside a network namespace.
    pub async fn start_on(listener: std::net::TcpListener) -> anyhow::Result<Self> {
        listener
            .set_nonblocking(true)
            .context("making the fake API server's listener non-blocking")?;
        let listener = TcpListener::from_std(listener)
            .context("registering the fake API server's listener with tokio")?;
        let addr = listener.local_addr()?;
        let store = Arc::new(Mutex::new(Store::default()));
        let (stop, stopped) = signal::channel(false);
        let accept = tokio::spawn(accept(listener, Arc::clone(&store), stopped));
        Ok(FakeApiServer {
            addr,
            store,
            stop,
            accept: Some(accept),
            more: Vec::new(),
        })
    }

    /// Serves the same objects on one more listener too: e.g. the server lives in a
    /// namespace where the agents reach it, and the test, outside, talks to it on
    /// 127.0.0.1 ([`client_at`](Self::client_at) the address returned).
    pub async fn listen_also(
        &mut self,
        listener: std::net::TcpListener,
    ) -> anyhow::Result<SocketAddr> {
        listener
            .set_nonblocking(true)
            .context("making the fake API server's listener non-blocking")?;
        let listener = TcpListener::from_std(listener)
            .context("registering the fake API server's listener with tokio")?;
        let addr = listener.local_addr()?;
        let stopped = self.stop.subscribe();
        self.more.push(tokio::spawn(accept(
            listener,
            Arc::clone(&self.store),
            stopped,
        )));
        Ok(addr)
    }

    /// A kube client for the listener at `addr` (see [`listen_also`](Self::listen_also)).
    ///
    /// # Panics
    ///
    /// If kube cannot build a client (it always can for a plain-HTTP URL).
    pub async fn client_at(&self, addr: SocketAddr) -> kube::Client {
        let url = format!("http://{addr}")
            .parse()
            .expect("the server URL is a URI");
        kube::Client::try_from(kube::Config::new(url))
            .expect("a kube client for the fake API server")
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig whose current context points at [`url`](Self::url), with no
    /// credentials (none are asked for). kube reads it with `Kubeconfig::read_from` or
    /// `Kubeconfig::from_yaml`; note that kube applies `HTTPS_PROXY` from the environment
    /// to it, while [`client`](Self::client) never uses a proxy.
    pub fn kubeconfig_yaml(&self) -> String {
        format!(
            "apiVersion: v1\n\
             kind: Config\n\
             clusters:\n\
             - name: fake\n  cluster:\n    server: {}\n\
             users:\n\
             - name: fake\n  user: {{}}\n\
             contexts:\n\
             - name: fake\n  context:\n    cluster: fake\n    user: fake\n\
             current-context: fake\n",
            self.url()
        )
    }

    pub fn write_kubeconfig(&self, path: &Path) -> anyhow::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
            .with_context(|| format!("writing {}", path.display()))
    }

    /// A kube client for this server.
    ///
    /// # Panics
    ///
    /// If kube cannot build a client (it always can for a plain-HTTP URL).
    pub async fn client(&self) -> kube::Client {
        self.client_at(self.addr).await
    }

    /// The current objects of a kind, in every namespace, sorted by namespace then name.
    ///
    /// # Panics
    ///
    /// If the server does not serve `api_version` + `plural` (a typo in a test).
    pub fn objects(&self, api_version: &str, plural: &str) -> Vec<Value> {
        let kind = Kind::find(api_version, plural)
            .unwrap_or_else(|| panic!("the fake API server does not serve {api_version} {plural}"));
        lock(&self.store)
            .objects(kind)
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// Forgets the history of changes, like an etcd compaction, and closes every open
    /// watch. A watch from an older resourceVersion then gets a 410 Gone ERROR event (kube's
    /// watcher lists again); continuing an older paginated list gets 410 too.
    pub fn compact(&self) {
        lock(&self.store).compact();
    }

    /// How many requests of a verb were served: `list`, `watch`, `get`, `create`,
    /// `update`, `patch` or `delete` (failed ones included; discovery not counted).
    pub fn requests(&self, verb: &str) -> usize {
        lock(&self.store).requests(verb)
    }

    /// Stops serving: closes the listener, every connection and every watch.
    pub async fn shutdown(mut self) {
        self.stop_serving();
        if let Some(accept) = self.accept.take() {
            let _ = accept.await;
        }
        for accept in self.more.drain(..) {
            let _ = accept.await;
        }
    }

    fn stop_serving(&self) {
        self.stop.send_replace(true);
        lock(&self.store).close_watches();
    }
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.stop_serving();
    }
}

/// Accepts connections until stopped, serving each on its own task.
async fn accept(listener: TcpListener, store: Arc<Mutex<Store>>, mut stop: signal::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.wait_for(|&stopped| stopped) => return,
        };
        match accepted {
            Ok((stream, _)) => {
                tokio::spawn(connection(stream, Arc::clone(&store), stop.clone()));
            }
            // Out of file descriptors and the like: wait rather than spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Serves one HTTP/1.1 connection (keep-alive, any number of requests) until the client
/// closes it or the server stops.
async fn connection(stream: TcpStream, store: Arc<Mutex<Store>>, mut stop: signal::Receiver<bool>) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| http::serve(Arc::clone(&store), request));
    let serving =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = serving => {}
        _ = stop.wait_for(|&stopped| stopped) => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::store::Key;
    use super::*;

    /// A client that goes away in the middle of a watch costs nothing for long: its watch
    /// is dropped at the next change (the first send that fails).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_watch_connection_is_forgotten() {
        let server = FakeApiServer::start().await.unwrap();
        let watches = || lock(&server.store).watch_count();
        let mut client = TcpStream::connect(server.addr()).await.unwrap();
        let request = "GET /api/v1/nodes?watch=true HTTP/1.1\r\nHost: fake\r\n\r\n";
        client.write_all(request.as_bytes()).await.unwrap();
        let mut head = [0u8; 64];
        let n = client.read(&mut head).await.unwrap();
        assert!(
            head[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&head)
        );
        assert_eq!(watches(), 1);
        drop(client);

        let started = std::time::Instant::now();
        for i in 0.. {
            let key = Key {
                kind: 0,
                namespace: String::new(),
                name: format!("n{i}"),
            };
            lock(&server.store).write(key, Some(json!({"metadata": {"name": format!("n{i}")}})));
            if watches() == 0 {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "the watch is still open"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        server.shutdown().await;
    }
}
