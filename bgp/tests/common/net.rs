//! An in-memory network of speakers on a simulated clock: TCP connections
//! are pairs of connection ids, bytes are framed and delivered in order,
//! and time only moves when told to. A whole multi-speaker scenario runs
//! in milliseconds and the same way every time.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bgp::fsm::ConnId;
use bgp::speaker::{
    FibNextHop, Input, LocalEnd, Output, PeerConfig, PeerEvent, PeerEventKind, Speaker,
    SpeakerConfig,
};
use bgp::types::{Asn, Prefix, RouterId};
use bgp::wire::{Frame, SessionContext, frame};

pub struct Node {
    pub name: String,
    pub addr: IpAddr,
    pub speaker: Speaker,
    pub fib: BTreeMap<Prefix, Vec<FibNextHop>>,
    pub events: Vec<PeerEvent>,
    pub initial_sync_done: bool,
    /// Bytes received per connection, not yet framed.
    buffers: HashMap<ConnId, Vec<u8>>,
}

enum Pending {
    Input(usize, OwnedInput),
}

enum OwnedInput {
    Accepted {
        conn: ConnId,
        remote: IpAddr,
        local: LocalEnd,
    },
    Connected {
        conn: ConnId,
        local: LocalEnd,
    },
    ConnectFailed {
        conn: ConnId,
    },
    Closed {
        conn: ConnId,
    },
    Bytes {
        conn: ConnId,
        bytes: Vec<u8>,
    },
}

pub struct Net {
    pub now: Instant,
    pub nodes: Vec<Node>,
    /// (node, conn) -> (node, conn) at the other end.
    links: HashMap<(usize, ConnId), (usize, ConnId)>,
    next_inbound: u64,
    queue: VecDeque<Pending>,
    /// Pairs of nodes that cannot reach each other.
    cut: HashSet<(usize, usize)>,
}

pub fn v4(s: &str) -> IpAddr {
    IpAddr::V4(s.parse::<Ipv4Addr>().unwrap())
}

pub fn prefix(s: &str) -> Prefix {
    s.parse().unwrap()
}

impl Net {
    pub fn new() -> Self {
        Net {
            now: Instant::now(),
            nodes: Vec::new(),
            links: HashMap::new(),
            next_inbound: 0,
            queue: VecDeque::new(),
            cut: HashSet::new(),
        }
    }

    /// A speaker at 192.0.2.`n` (router ID 10.0.0.`n`) in `asn`.
    pub fn config(n: u8, asn: u32) -> SpeakerConfig {
        let mut c = SpeakerConfig::new(
            Asn::new(asn),
            RouterId::new(0x0a00_0000 + u32::from(n)).unwrap(),
        );
        c.hostname = Some(format!("node{n}"));
        c
    }

    pub fn add(&mut self, name: &str, n: u8, config: SpeakerConfig) -> usize {
        let addr = v4(&format!("192.0.2.{n}"));
        self.nodes.push(Node {
            name: name.into(),
            addr,
            speaker: Speaker::new(config, self.now),
            fib: BTreeMap::new(),
            events: Vec::new(),
            initial_sync_done: false,
            buffers: HashMap::new(),
        });
        self.nodes.len() - 1
    }

    /// Replaces a node's speaker, as a restarted process would.
    pub fn restart(&mut self, i: usize, config: SpeakerConfig) {
        self.nodes[i].speaker = Speaker::new(config, self.now);
        self.nodes[i].initial_sync_done = false;
        self.nodes[i].buffers.clear();
        self.nodes[i].events.clear();
    }

    pub fn input(&mut self, i: usize, input: Input<'_>) {
        let now = self.now;
        let outs = self.nodes[i].speaker.handle(now, input);
        self.outputs(i, outs);
        self.drain();
    }

    /// Feeds a burst of inputs to node `i` as a driver with them all queued
    /// would: absorbed one by one, settled once.
    pub fn burst(&mut self, i: usize, inputs: Vec<Input<'_>>) {
        let now = self.now;
        for input in inputs {
            self.nodes[i].speaker.absorb(now, input);
        }
        let outs = self.nodes[i].speaker.settle(now);
        self.outputs(i, outs);
        self.drain();
    }

    /// Peers `a` and `b`, with the given peer settings on each side.
    pub fn peer(
        &mut self,
        a: usize,
        b: usize,
        on_a: impl FnOnce(&mut PeerConfig),
        on_b: impl FnOnce(&mut PeerConfig),
    ) {
        let (aa, ba) = (self.nodes[a].addr, self.nodes[b].addr);
        let asn_a = self.nodes[a].speaker.config().asn;
        let asn_b = self.nodes[b].speaker.config().asn;
        let mut ca = PeerConfig::new(ba, bgp::fsm::RemoteAs::Exact(asn_b));
        let mut cb = PeerConfig::new(aa, bgp::fsm::RemoteAs::Exact(asn_a));
        ca.connect_retry = Duration::from_secs(2);
        cb.connect_retry = Duration::from_secs(2);
        on_a(&mut ca);
        on_b(&mut cb);
        // Both sides are configured before any connection is delivered, so
        // both connect and the collision is real (RFC 4271 §6.8).
        let now = self.now;
        let outs_a = self.nodes[a].speaker.handle(now, Input::AddPeer(ca));
        let outs_b = self.nodes[b].speaker.handle(now, Input::AddPeer(cb));
        self.outputs(a, outs_a);
        self.outputs(b, outs_b);
        self.drain();
    }

    /// Makes `a` and `b` unreachable from each other; existing connections
    /// are reset.
    pub fn partition(&mut self, a: usize, b: usize) {
        self.cut.insert((a, b));
        self.cut.insert((b, a));
        let doomed: Vec<((usize, ConnId), (usize, ConnId))> = self
            .links
            .iter()
            .filter(|((x, _), (y, _))| (*x == a && *y == b) || (*x == b && *y == a))
            .map(|(k, v)| (*k, *v))
            .collect();
        for ((x, c), _) in doomed {
            self.links.remove(&(x, c));
            self.queue
                .push_back(Pending::Input(x, OwnedInput::Closed { conn: c }));
        }
        self.drain();
    }

    pub fn heal(&mut self, a: usize, b: usize) {
        self.cut.remove(&(a, b));
        self.cut.remove(&(b, a));
    }

    /// Resets every connection of node `i` without a word, as a killed
    /// process would.
    pub fn kill_connections(&mut self, i: usize) {
        let doomed: Vec<((usize, ConnId), (usize, ConnId))> = self
            .links
            .iter()
            .filter(|((x, _), _)| *x == i)
            .map(|(k, v)| (*k, *v))
            .collect();
        for ((x, c), (y, d)) in doomed {
            self.links.remove(&(x, c));
            self.links.remove(&(y, d));
            self.queue
                .push_back(Pending::Input(y, OwnedInput::Closed { conn: d }));
        }
        self.drain();
    }

    fn local_end(&self, i: usize) -> LocalEnd {
        LocalEnd {
            address: self.nodes[i].addr,
            subnet: Some(prefix("192.0.2.0/24")),
            link_local: None,
            global_v6: None,
        }
    }

    fn outputs(&mut self, i: usize, outs: Vec<Output>) {
        for o in outs {
            match o {
                Output::Connect { conn, peer, .. } => {
                    let target = self.nodes.iter().position(|n| n.addr == peer);
                    match target {
                        Some(t) if !self.cut.contains(&(i, t)) => {
                            self.next_inbound += 1;
                            let inbound = ConnId((1 << 63) | self.next_inbound);
                            self.links.insert((i, conn), (t, inbound));
                            self.links.insert((t, inbound), (i, conn));
                            let remote = self.nodes[i].addr;
                            let (lt, li) = (self.local_end(t), self.local_end(i));
                            // The connector learns first, as with real TCP
                            // where both handshakes finish together; two
                            // speakers connecting at once then really
                            // collide (RFC 4271 §6.8).
                            self.queue.push_back(Pending::Input(
                                i,
                                OwnedInput::Connected { conn, local: li },
                            ));
                            self.queue.push_back(Pending::Input(
                                t,
                                OwnedInput::Accepted {
                                    conn: inbound,
                                    remote,
                                    local: lt,
                                },
                            ));
                        }
                        _ => self
                            .queue
                            .push_back(Pending::Input(i, OwnedInput::ConnectFailed { conn })),
                    }
                }
                Output::Send { conn, bytes } => {
                    if let Some((t, c)) = self.links.get(&(i, conn)).copied() {
                        self.queue.push_back(Pending::Input(
                            t,
                            OwnedInput::Bytes {
                                conn: c,
                                bytes: bytes.to_vec(),
                            },
                        ));
                    }
                }
                Output::Close { conn } => {
                    if let Some((t, c)) = self.links.remove(&(i, conn)) {
                        self.links.remove(&(t, c));
                        self.queue
                            .push_back(Pending::Input(t, OwnedInput::Closed { conn: c }));
                    }
                }
                Output::Route(r) => {
                    if r.next_hops.is_empty() {
                        self.nodes[i].fib.remove(&r.prefix);
                    } else {
                        self.nodes[i].fib.insert(r.prefix, r.next_hops);
                    }
                }
                Output::Event(e) => self.nodes[i].events.push(e),
                Output::InitialSyncDone => self.nodes[i].initial_sync_done = true,
            }
        }
    }

    /// Delivers everything queued (bounded: a loop here is a bug).
    fn drain(&mut self) {
        for _ in 0..1_000_000 {
            let Some(Pending::Input(i, input)) = self.queue.pop_front() else {
                return;
            };
            let now = self.now;
            let outs = match input {
                OwnedInput::Accepted {
                    conn,
                    remote,
                    local,
                } => self.nodes[i].speaker.handle(
                    now,
                    Input::Accepted {
                        conn,
                        remote,
                        local,
                    },
                ),
                OwnedInput::Connected { conn, local } => self.nodes[i]
                    .speaker
                    .handle(now, Input::Connected { conn, local }),
                OwnedInput::ConnectFailed { conn } => self.nodes[i].speaker.handle(
                    now,
                    Input::ConnectFailed {
                        conn,
                        error: "unreachable".into(),
                    },
                ),
                OwnedInput::Closed { conn } => {
                    self.nodes[i].buffers.remove(&conn);
                    self.nodes[i].speaker.handle(now, Input::Closed { conn })
                }
                OwnedInput::Bytes { conn, bytes } => {
                    let buf = self.nodes[i].buffers.entry(conn).or_default();
                    buf.extend_from_slice(&bytes);
                    let mut outs = Vec::new();
                    loop {
                        // Frame with the most permissive limit; the speaker
                        // checks the real one.
                        let ctx = SessionContext {
                            extended_message: true,
                            ..SessionContext::default()
                        };
                        let buf = self.nodes[i].buffers.entry(conn).or_default();
                        match frame(buf, &ctx) {
                            Ok(Frame::Message { len, .. }) => {
                                let msg: Vec<u8> = buf.drain(..len).collect();
                                outs.extend(
                                    self.nodes[i]
                                        .speaker
                                        .handle(now, Input::Message { conn, bytes: &msg }),
                                );
                            }
                            Ok(Frame::Incomplete { .. }) => break,
                            Err(e) => panic!("{}: stream broken: {e}", self.nodes[i].name),
                        }
                    }
                    outs
                }
            };
            self.outputs(i, outs);
        }
        panic!("the network did not settle");
    }

    /// Moves the clock forward by `d`, firing timers as they fall due.
    pub fn run(&mut self, d: Duration) {
        let end = self.now + d;
        for _ in 0..1_000_000 {
            self.drain();
            let next = self
                .nodes
                .iter()
                .enumerate()
                .filter_map(|(i, n)| n.speaker.poll_timeout().map(|t| (t, i)))
                .min();
            match next {
                Some((t, i)) if t <= end => {
                    self.now = self.now.max(t);
                    let now = self.now;
                    let outs = self.nodes[i].speaker.handle_timeout(now);
                    self.outputs(i, outs);
                }
                _ => {
                    self.now = end;
                    self.drain();
                    return;
                }
            }
        }
        panic!("timers did not settle");
    }

    pub fn state(&self, i: usize, peer: usize) -> bgp::fsm::State {
        self.nodes[i]
            .speaker
            .peer(self.nodes[peer].addr)
            .map_or(bgp::fsm::State::Idle, |p| p.state())
    }

    /// Events of node `i` about `peer` matching `f`.
    pub fn events(&self, i: usize, peer: usize, f: impl Fn(&PeerEventKind) -> bool) -> usize {
        self.nodes[i]
            .events
            .iter()
            .filter(|e| e.peer == self.nodes[peer].addr && f(&e.kind))
            .count()
    }
}
