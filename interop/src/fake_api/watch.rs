//! Watches: a stream of newline-delimited JSON events, `{"type": ..., "object": ...}`,
//! sent as one chunked HTTP response.
//!
//! A watch first sends what its start point asks for (the current state as synthetic
//! ADDED events, or the history after a resourceVersion), then every change committed
//! later, in commit order. Both parts are taken under the store lock together with the
//! watch's registration, so nothing falls between them.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::errors::ApiError;
use super::kinds::{Kind, KindId};
use super::select::Selector;
use super::store::{Change, Store, lock};

/// How often a watch that asked for bookmarks gets one. The real server sends one about
/// every minute; tests want them sooner.
pub(crate) const BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);

/// An open watch, as the store keeps it: which changes it wants and where they go.
#[derive(Debug)]
pub(crate) struct Watcher {
    kind: KindId,
    selector: Selector,
    events: mpsc::UnboundedSender<Bytes>,
}

impl Watcher {
    /// Sends this watch its event for `change`, if it has one. False when the client is
    /// gone, so the store can drop the watch.
    pub(crate) fn offer(&self, change: &Change) -> bool {
        if change.key.kind == self.kind
            && let Some(event) = event_for(&self.selector, change)
        {
            return self.events.send(event).is_ok();
        }
        !self.events.is_closed()
    }
}

/// The event a watch with `selector` sees for a change, by the real server's rule: an
/// object that starts matching is ADDED, one that stops matching is DELETED.
fn event_for(selector: &Selector, change: &Change) -> Option<Bytes> {
    let was = change.before.as_ref().is_some_and(|o| selector.matches(o));
    let is = change.after.as_ref().is_some_and(|o| selector.matches(o));
    let kind = match (was, is) {
        (false, false) => return None,
        (false, true) => "ADDED",
        (true, true) => "MODIFIED",
        (true, false) => "DELETED",
    };
    Some(line(kind, &change.object()))
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({ "type": kind, "object": object }))
        .expect("a JSON value serializes");
    line.push(b'\n');
    Bytes::from(line)
}

/// A BOOKMARK: only kind, apiVersion and resourceVersion (and, ending the initial events
/// of `sendInitialEvents`, the `k8s.io/initial-events-end` annotation).
fn bookmark(kind: &Kind, rv: u64, initial_events_end: bool) -> Bytes {
    let mut metadata = json!({ "resourceVersion": rv.to_string() });
    if initial_events_end {
        metadata["annotations"] = json!({ "k8s.io/initial-events-end": "true" });
    }
    let object = json!({ "kind": kind.kind, "apiVersion": kind.api_version, "metadata": metadata });
    line("BOOKMARK", &object)
}

/// What a watch request asked for.
#[derive(Debug)]
pub(crate) struct WatchParams {
    pub(crate) kind: KindId,
    pub(crate) selector: Selector,
    /// Replay the changes after this resourceVersion; `None` (resourceVersion `""` or
    /// `"0"`) starts with the current state as synthetic ADDED events.
    pub(crate) from: Option<u64>,
    /// `sendInitialEvents=true`: the current state, then a bookmark marking its end.
    pub(crate) send_initial_events: bool,
    /// `allowWatchBookmarks=true`.
    pub(crate) bookmarks: bool,
    /// `timeoutSeconds`: the stream ends after it.
    pub(crate) timeout: Option<Duration>,
}

/// Opens a watch: its response body, one event per item.
pub(crate) fn open(store: &Arc<Mutex<Store>>, params: WatchParams) -> BoxStream<'static, Bytes> {
    let kind = Kind::get(params.kind);
    let mut s = lock(store);
    let mut first = VecDeque::new();
    match params.from.filter(|_| !params.send_initial_events) {
        Some(rv) => match s.changes_after(rv) {
            Some(changes) => first.extend(
                changes
                    .filter(|c| c.key.kind == params.kind)
                    .filter_map(|c| event_for(&params.selector, c)),
            ),
            None => {
                // The real server's answer to a compacted start point: one ERROR event
                // carrying 410 Gone, then the end of the stream.
                let message = format!("too old resource version: {rv} ({})", s.compacted());
                let error = line("ERROR", &ApiError::expired(message).to_status());
                return stream::iter([error]).boxed();
            }
        },
        None => first.extend(
            s.objects(params.kind)
                .filter(|(_, o)| params.selector.matches(o))
                .map(|(_, o)| line("ADDED", o)),
        ),
    }
    if params.send_initial_events {
        first.push_back(bookmark(kind, s.rv(), true));
    }
    let (events, receiver) = mpsc::unbounded_channel();
    s.add_watcher(Watcher {
        kind: params.kind,
        selector: params.selector,
        events,
    });
    drop(s);

    let live = Live {
        store: Arc::clone(store),
        kind,
        receiver,
        pending: first,
        next_bookmark: params.bookmarks.then(|| Instant::now() + BOOKMARK_INTERVAL),
        deadline: params.timeout.map(|t| Instant::now() + t),
    };
    stream::unfold(live, Live::next).boxed()
}

/// The live part of a watch. It runs only when the connection polls the response body: a
/// closed connection drops it, and the store drops the watch at its next event.
struct Live {
    store: Arc<Mutex<Store>>,
    kind: &'static Kind,
    receiver: mpsc::UnboundedReceiver<Bytes>,
    /// Events to send before waiting again.
    pending: VecDeque<Bytes>,
    next_bookmark: Option<Instant>,
    deadline: Option<Instant>,
}

impl Live {
    async fn next(mut self) -> Option<(Bytes, Live)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((event, self));
            }
            tokio::select! {
                event = self.receiver.recv() => {
                    // `None`: the store closed the watch (compaction, shutdown).
                    return event.map(|e| (e, self));
                }
                () = sleep_until(self.next_bookmark) => self.bookmark(),
                () = sleep_until(self.deadline) => return None,
            }
        }
    }

    /// Queues a bookmark at the current resourceVersion, after every event committed up to
    /// it (those are already in the channel), so a bookmark never runs ahead of an event.
    fn bookmark(&mut self) {
        let rv = lock(&self.store).rv();
        while let Ok(event) = self.receiver.try_recv() {
            self.pending.push_back(event);
        }
        self.pending.push_back(bookmark(self.kind, rv, false));
        self.next_bookmark = Some(Instant::now() + BOOKMARK_INTERVAL);
    }
}

/// Sleeps until `at`, or forever.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
