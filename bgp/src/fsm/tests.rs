//! Session scenarios on a simulated clock: the peer is played by hand,
//! message by message, and every output is checked.

use std::time::{Duration, Instant};

use super::*;
use crate::types::{Asn, Family, HoldTime, RouterId};
use crate::wire::{
    Capability, CeaseSubcode, ErrorCode, FsmSubcode, GracefulRestart, GracefulRestartFamily,
    Message, Notification, Open, OpenSubcode, SessionContext, UpdateSubcode,
};

const LOCAL_AS: u32 = 65001;
const PEER_AS: u32 = 65002;

fn id(last: u8) -> RouterId {
    RouterId::new(u32::from_be_bytes([192, 0, 2, last])).unwrap()
}

fn config() -> SessionConfig {
    let mut c = SessionConfig::new(
        Asn::new(LOCAL_AS),
        id(10),
        RemoteAs::Exact(Asn::new(PEER_AS)),
    );
    c.hold_time = HoldTime::new(9).unwrap();
    c
}

/// The peer's side of things.
fn peer_open(asn: u32, router: RouterId, hold: u16, extra: Vec<Capability>) -> Vec<u8> {
    let mut caps = vec![
        Capability::Multiprotocol(Family::IPV4_UNICAST),
        Capability::Multiprotocol(Family::IPV6_UNICAST),
        Capability::RouteRefresh,
        Capability::FourOctetAs(Asn::new(asn)),
    ];
    caps.extend(extra);
    let open = Open::new(Asn::new(asn), HoldTime::new(hold).unwrap(), router, caps);
    Message::Open(open)
        .to_bytes(&SessionContext::default())
        .unwrap()
}

fn gr_cap(restart_time: u16, notification: bool) -> Capability {
    Capability::GracefulRestart(GracefulRestart {
        flags: if notification {
            GracefulRestart::NOTIFICATION
        } else {
            0
        },
        restart_time,
        families: vec![GracefulRestartFamily {
            family: Family::IPV4_UNICAST,
            flags: GracefulRestartFamily::FORWARDING_STATE,
        }],
    })
}

fn keepalive() -> Vec<u8> {
    Message::Keepalive
        .to_bytes(&SessionContext::default())
        .unwrap()
}

fn notification(code: ErrorCode) -> Vec<u8> {
    Message::Notification(Notification::new(code, vec![]))
        .to_bytes(&SessionContext::default())
        .unwrap()
}

struct Harness {
    s: Session,
    now: Instant,
}

impl Harness {
    fn new(config: SessionConfig) -> Self {
        Harness {
            s: Session::new(config, 7),
            now: Instant::now(),
        }
    }

    fn step(&mut self, input: Input<'_>) -> Vec<Output> {
        self.s.handle(self.now, input)
    }

    fn accept(&mut self, conn: ConnId) -> Vec<Output> {
        let (taken, out) = self.s.accept(self.now, conn);
        assert!(taken, "inbound connection refused");
        out
    }

    /// Moves the clock forward by `d`, firing timers as they fall due.
    fn advance(&mut self, d: Duration) -> Vec<Output> {
        let end = self.now + d;
        let mut out = Vec::new();
        while let Some(t) = self.s.poll_timeout().filter(|t| *t <= end) {
            self.now = t.max(self.now);
            out.extend(self.s.handle_timeout(self.now));
        }
        self.now = end;
        out
    }

    /// Start → connect → OPENs → KEEPALIVEs: an established session on
    /// the outbound connection, whose id is returned.
    fn establish(&mut self, peer: Vec<u8>) -> ConnId {
        let out = self.step(Input::Start);
        let conn = connect_of(&out);
        self.step(Input::Connected(conn));
        self.step(Input::Message(conn, &peer));
        let out = self.step(Input::Message(conn, &keepalive()));
        assert!(established(&out).is_some(), "{out:?}");
        conn
    }
}

fn connect_of(out: &[Output]) -> ConnId {
    out.iter()
        .find_map(|o| match o {
            Output::Connect(c) => Some(*c),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Connect in {out:?}"))
}

/// Messages sent, decoded.
fn sent(out: &[Output]) -> Vec<(ConnId, Message)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Send(c, b) => {
                Some((*c, Message::decode(b, &SessionContext::default()).unwrap()))
            }
            _ => None,
        })
        .collect()
}

fn sent_notification(out: &[Output]) -> Option<Notification> {
    sent(out).into_iter().find_map(|(_, m)| match m {
        Message::Notification(n) => Some(n),
        _ => None,
    })
}

fn closed(out: &[Output]) -> Vec<ConnId> {
    out.iter()
        .filter_map(|o| match o {
            Output::Close(c) => Some(*c),
            _ => None,
        })
        .collect()
}

fn established(out: &[Output]) -> Option<&Negotiated> {
    out.iter().find_map(|o| match o {
        Output::Established(n) => Some(n.as_ref()),
        _ => None,
    })
}

fn down(out: &[Output]) -> Option<&Down> {
    out.iter().find_map(|o| match o {
        Output::Down(d) => Some(d),
        _ => None,
    })
}

// ---------------------------------------------------------------- opening

#[test]
fn active_open_reaches_established() {
    let mut h = Harness::new(config());
    let out = h.step(Input::Start);
    let conn = connect_of(&out);
    assert_eq!(h.s.state(), State::Connect);

    let out = h.step(Input::Connected(conn));
    let msgs = sent(&out);
    let Message::Open(ours) = &msgs[0].1 else {
        panic!("{msgs:?}")
    };
    assert_eq!(ours.asn(), Asn::new(LOCAL_AS));
    assert_eq!(ours.hold_time.seconds(), 9);
    assert!(
        ours.capabilities()
            .any(|c| matches!(c, Capability::GracefulRestart(_)))
    );
    assert_eq!(h.s.state(), State::OpenSent);

    let out = h.step(Input::Message(
        conn,
        &peer_open(PEER_AS, id(20), 30, vec![]),
    ));
    assert!(matches!(sent(&out)[..], [(_, Message::Keepalive)]));
    assert_eq!(h.s.state(), State::OpenConfirm);

    let out = h.step(Input::Message(conn, &keepalive()));
    let n = established(&out).expect("established");
    // The smaller hold time wins; keepalives every third of it.
    assert_eq!(n.hold_time.seconds(), 9);
    assert_eq!(n.keepalive, Duration::from_secs(3));
    assert_eq!(n.peer_as, Asn::new(PEER_AS));
    assert!(!n.internal && n.route_refresh && n.context.four_octet_as);
    assert_eq!(n.families.iter().count(), 2);
    assert_eq!(h.s.state(), State::Established);
    assert_eq!(h.s.established_conn(), Some(conn));
}

/// Our OPEN's capabilities, and what the session negotiated, with `config`.
fn open_and_negotiated(config: SessionConfig) -> (Vec<Capability>, Negotiated) {
    let mut h = Harness::new(config);
    let conn = connect_of(&h.step(Input::Start));
    let msgs = sent(&h.step(Input::Connected(conn)));
    let Message::Open(ours) = &msgs[0].1 else {
        panic!("{msgs:?}")
    };
    let caps = ours.capabilities().cloned().collect();
    let peer = peer_open(
        PEER_AS,
        id(20),
        30,
        vec![Capability::EnhancedRouteRefresh, gr_cap(120, true)],
    );
    h.step(Input::Message(conn, &peer));
    let out = h.step(Input::Message(conn, &keepalive()));
    (caps, established(&out).expect("established").clone())
}

#[test]
fn enhanced_route_refresh_only_goes_with_graceful_restart() {
    // RFC 7313 §4 ties BoRR to an End-of-RIB sent; the GR capability announces End-of-RIB.
    let (caps, n) = open_and_negotiated(config());
    assert!(caps.contains(&Capability::EnhancedRouteRefresh), "{caps:?}");
    assert!(n.route_refresh && n.enhanced_route_refresh);

    // Without GR, FRR up to 10.0 never answers a ROUTE-REFRESH from a peer that offered
    // Enhanced Route Refresh: offer plain ROUTE-REFRESH only, and never send BoRR/EoRR.
    let mut no_gr = config();
    no_gr.graceful_restart = None;
    let (caps, n) = open_and_negotiated(no_gr);
    assert!(caps.contains(&Capability::RouteRefresh), "{caps:?}");
    assert!(
        !caps.iter().any(|c| matches!(
            c,
            Capability::EnhancedRouteRefresh | Capability::GracefulRestart(_)
        )),
        "{caps:?}"
    );
    assert!(n.route_refresh && !n.enhanced_route_refresh);
}

#[test]
fn passive_peer_waits_and_accepts() {
    let mut c = config();
    c.passive = true;
    let mut h = Harness::new(c);
    let out = h.step(Input::Start);
    assert!(out.iter().all(|o| !matches!(o, Output::Connect(_))));
    assert_eq!(h.s.state(), State::Active);
    let conn = ConnId(1 << 63);
    let out = h.accept(conn);
    assert!(matches!(sent(&out)[..], [(c, Message::Open(_))] if c == conn));
    h.step(Input::Message(
        conn,
        &peer_open(PEER_AS, id(20), 90, vec![]),
    ));
    let out = h.step(Input::Message(conn, &keepalive()));
    assert!(established(&out).is_some());
}

#[test]
fn stopped_sessions_refuse_connections() {
    let mut h = Harness::new(config());
    let (taken, _) = h.s.accept(h.now, ConnId(1 << 63));
    assert!(!taken);
}

#[test]
fn connect_retry_tries_again() {
    let mut h = Harness::new(config());
    let first = connect_of(&h.step(Input::Start));
    let out = h.advance(Duration::from_secs(5));
    let second = connect_of(&out);
    assert_ne!(first, second);
    assert!(
        closed(&out).contains(&first),
        "the stale attempt is abandoned"
    );
    // A failed attempt waits for the retry timer, then connects again.
    h.step(Input::ConnectFailed(second));
    assert!(h.advance(Duration::from_secs(4)).is_empty());
    assert!(matches!(
        h.advance(Duration::from_secs(1))[..],
        [Output::Connect(_), ..]
    ));
}

// ---------------------------------------------------------------- OPEN checks (RFC 4271 §6.2)

fn refused_with(peer: Vec<u8>, config: SessionConfig) -> (Notification, Harness) {
    let mut h = Harness::new(config);
    let conn = connect_of(&h.step(Input::Start));
    h.step(Input::Connected(conn));
    let out = h.step(Input::Message(conn, &peer));
    let n = sent_notification(&out).unwrap_or_else(|| panic!("no NOTIFICATION in {out:?}"));
    assert_eq!(closed(&out), vec![conn]);
    assert_eq!(h.s.state(), State::Idle);
    assert!(
        h.s.last_error().unwrap().contains("OPEN"),
        "{:?}",
        h.s.last_error()
    );
    (n, h)
}

#[test]
fn open_with_the_wrong_peer_as_is_refused() {
    let (n, _) = refused_with(peer_open(65099, id(20), 90, vec![]), config());
    assert_eq!(n.error, ErrorCode::Open(OpenSubcode::BadPeerAs));
    // The AS we saw goes along, as FRR and BIRD do.
    assert_eq!(n.data, 65099u16.to_be_bytes());
}

#[test]
fn as_trans_without_the_capability_is_a_bad_peer_as() {
    let open = Open::new(Asn::TRANS, HoldTime::DEFAULT, id(20), vec![]);
    let bytes = Message::Open(open)
        .to_bytes(&SessionContext::default())
        .unwrap();
    let mut c = config();
    c.remote_as = RemoteAs::External;
    let (n, _) = refused_with(bytes, c);
    assert_eq!(n.error, ErrorCode::Open(OpenSubcode::BadPeerAs));
}

#[test]
fn four_octet_peer_as_through_as_trans() {
    let mut c = config();
    c.remote_as = RemoteAs::Exact(Asn::new(4_200_000_002));
    let mut h = Harness::new(c);
    let n = {
        let conn = connect_of(&h.step(Input::Start));
        h.step(Input::Connected(conn));
        h.step(Input::Message(
            conn,
            &peer_open(4_200_000_002, id(20), 90, vec![]),
        ));
        let out = h.step(Input::Message(conn, &keepalive()));
        established(&out).cloned().unwrap()
    };
    assert_eq!(n.peer_as, Asn::new(4_200_000_002));
}

#[test]
fn ibgp_peer_with_our_identifier_is_refused() {
    let mut c = config();
    c.remote_as = RemoteAs::Internal;
    let (n, _) = refused_with(peer_open(LOCAL_AS, id(10), 90, vec![]), c);
    assert_eq!(n.error, ErrorCode::Open(OpenSubcode::BadBgpIdentifier));
}

#[test]
fn malformed_opens_get_their_notification() {
    // Version 3 and a hold time of 2 s are refused by the codec; the
    // session sends the NOTIFICATION the error carries.
    let mut bytes = peer_open(PEER_AS, id(20), 90, vec![]);
    bytes[19] = 3;
    let (n, _) = refused_with_any(bytes);
    assert_eq!(
        n.error,
        ErrorCode::Open(OpenSubcode::UnsupportedVersionNumber)
    );
    assert_eq!(n.data, [0, 4]);
    let mut bytes = peer_open(PEER_AS, id(20), 90, vec![]);
    bytes[22..24].copy_from_slice(&2u16.to_be_bytes());
    let (n, _) = refused_with_any(bytes);
    assert_eq!(n.error, ErrorCode::Open(OpenSubcode::UnacceptableHoldTime));
}

fn refused_with_any(peer: Vec<u8>) -> (Notification, Vec<Output>) {
    let mut h = Harness::new(config());
    let conn = connect_of(&h.step(Input::Start));
    h.step(Input::Connected(conn));
    let out = h.step(Input::Message(conn, &peer));
    (sent_notification(&out).expect("notification"), out)
}

// ---------------------------------------------------------------- timers

#[test]
fn keepalives_flow_and_the_hold_timer_expires() {
    let mut h = Harness::new(config());
    let conn = h.establish(peer_open(PEER_AS, id(20), 9, vec![]));
    // 3 s keepalive interval: three KEEPALIVEs in 8.5 s of silence.
    let out = h.advance(Duration::from_millis(8_500));
    assert_eq!(
        sent(&out)
            .iter()
            .filter(|(_, m)| *m == Message::Keepalive)
            .count(),
        2
    );
    // Any message restarts the hold timer.
    h.step(Input::Message(conn, &keepalive()));
    assert!(down(&h.advance(Duration::from_secs(8))).is_none());
    let out = h.advance(Duration::from_secs(2));
    let n = sent_notification(&out).expect("hold timer NOTIFICATION");
    assert_eq!(n.error, ErrorCode::HoldTimerExpired(0));
    let d = down(&out).expect("down");
    assert_eq!(d.reason, DownReason::HoldTimerExpired);
    assert!(
        !d.graceful,
        "no graceful restart without the peer's capability"
    );
    // One second of idle hold later, it is connecting again.
    assert!(
        out.iter().any(|o| matches!(o, Output::Connect(_))),
        "{out:?}"
    );
}

#[test]
fn only_updates_stand_in_for_keepalives() {
    // Found against BIRD 2.0.12: ROUTE-REFRESH messages sent more often than
    // the keepalive interval suppressed our KEEPALIVEs, and BIRD, which
    // restarts its hold timer only on KEEPALIVE and UPDATE (RFC 4271 §6.5),
    // closed the session with Hold Timer Expired.
    let mut h = Harness::new(config());
    let conn = h.establish(peer_open(PEER_AS, id(20), 9, vec![]));
    let refresh = Message::RouteRefresh(crate::wire::RouteRefresh::request(Family::IPV4_UNICAST))
        .to_bytes(&SessionContext::default())
        .unwrap();
    let mut keepalives = 0;
    for _ in 0..5 {
        assert!(h.s.send(h.now, refresh.clone().into()).is_some());
        h.step(Input::Message(conn, &keepalive()));
        let out = h.advance(Duration::from_secs(2));
        keepalives += sent(&out)
            .iter()
            .filter(|(_, m)| *m == Message::Keepalive)
            .count();
    }
    // 10 s at a 3 s interval.
    assert_eq!(keepalives, 3, "ROUTE-REFRESH must not replace KEEPALIVE");
    // An UPDATE (here an End-of-RIB) does restart the timer: none in 10 s
    // of UPDATEs every 2 s.
    let eor = Message::Update(Update::end_of_rib_marker(Family::IPV4_UNICAST))
        .to_bytes(&SessionContext::default())
        .unwrap();
    let mut both = refresh.clone();
    both.extend_from_slice(&eor);
    let mut keepalives = 0;
    for _ in 0..5 {
        assert!(h.s.send(h.now, both.clone().into()).is_some());
        h.step(Input::Message(conn, &keepalive()));
        let out = h.advance(Duration::from_secs(2));
        keepalives += sent(&out)
            .iter()
            .filter(|(_, m)| *m == Message::Keepalive)
            .count();
    }
    assert_eq!(keepalives, 0);
}

#[test]
fn hold_time_zero_means_no_keepalives_and_no_expiry() {
    let mut c = config();
    c.hold_time = HoldTime::DISABLED;
    let mut h = Harness::new(c);
    h.establish(peer_open(PEER_AS, id(20), 90, vec![]));
    let out = h.advance(Duration::from_secs(3600));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(h.s.state(), State::Established);
    assert_eq!(h.s.poll_timeout(), None);
}

#[test]
fn waiting_for_the_open_times_out_after_four_minutes() {
    let mut h = Harness::new(config());
    let conn = connect_of(&h.step(Input::Start));
    h.step(Input::Connected(conn));
    let out = h.advance(Duration::from_secs(240));
    assert_eq!(
        sent_notification(&out).unwrap().error,
        ErrorCode::HoldTimerExpired(0)
    );
}

#[test]
fn delay_open_waits_for_the_peer() {
    let mut c = config();
    c.delay_open = Some(Duration::from_secs(5));
    let mut h = Harness::new(c.clone());
    let conn = connect_of(&h.step(Input::Start));
    let out = h.step(Input::Connected(conn));
    assert!(sent(&out).is_empty(), "OPEN is held back");
    // The peer's OPEN arrives first: ours and a KEEPALIVE go together.
    let out = h.step(Input::Message(
        conn,
        &peer_open(PEER_AS, id(20), 90, vec![]),
    ));
    let kinds: Vec<_> = sent(&out).into_iter().map(|(_, m)| m.msg_type()).collect();
    assert_eq!(kinds.len(), 2);
    assert!(matches!(sent(&out)[0].1, Message::Open(_)));
    assert_eq!(h.s.state(), State::OpenConfirm);

    // Or the timer runs out and we send OPEN ourselves.
    let mut h = Harness::new(c);
    let conn = connect_of(&h.step(Input::Start));
    h.step(Input::Connected(conn));
    let out = h.advance(Duration::from_secs(5));
    assert!(matches!(sent(&out)[..], [(_, Message::Open(_))]));
    assert_eq!(h.s.state(), State::OpenSent);
}

#[test]
fn failures_back_off_exponentially() {
    let mut h = Harness::new(config());
    let mut waits = Vec::new();
    let mut conn = connect_of(&h.step(Input::Start));
    for _ in 0..4 {
        h.step(Input::Connected(conn));
        h.step(Input::Message(conn, &peer_open(65099, id(20), 90, vec![])));
        assert_eq!(h.s.state(), State::Idle);
        let since = h.now;
        let next = h.s.poll_timeout().unwrap();
        waits.push(next - since);
        let out = h.advance(next - since);
        conn = connect_of(&out);
    }
    let secs: Vec<u64> = waits.iter().map(Duration::as_secs).collect();
    assert_eq!(secs, vec![1, 2, 4, 8]);
}

// ---------------------------------------------------------------- NOTIFICATION in every state

#[test]
fn notification_in_every_state_closes_without_reply() {
    for stage in 0..3 {
        let mut h = Harness::new(config());
        let conn = connect_of(&h.step(Input::Start));
        h.step(Input::Connected(conn));
        if stage >= 1 {
            h.step(Input::Message(
                conn,
                &peer_open(PEER_AS, id(20), 90, vec![]),
            ));
        }
        if stage >= 2 {
            h.step(Input::Message(conn, &keepalive()));
        }
        let cease = notification(ErrorCode::Cease(CeaseSubcode::PeerDeconfigured));
        let out = h.step(Input::Message(conn, &cease));
        assert!(
            sent(&out).is_empty(),
            "never answer a NOTIFICATION (stage {stage})"
        );
        assert_eq!(closed(&out), vec![conn]);
        assert_eq!(down(&out).is_some(), stage == 2, "{out:?}");
        assert_eq!(h.s.state(), State::Idle);
    }
}

#[test]
fn unexpected_messages_are_fsm_errors() {
    // RFC 6608 subcodes name the state.
    let update = Message::Update(Default::default())
        .to_bytes(&SessionContext::default())
        .unwrap();
    let mut h = Harness::new(config());
    let conn = connect_of(&h.step(Input::Start));
    h.step(Input::Connected(conn));
    let out = h.step(Input::Message(conn, &update));
    assert_eq!(
        sent_notification(&out).unwrap().error,
        ErrorCode::Fsm(FsmSubcode::UnexpectedMessageInOpenSent)
    );

    let mut h = Harness::new(config());
    let conn = connect_of(&h.step(Input::Start));
    h.step(Input::Connected(conn));
    h.step(Input::Message(
        conn,
        &peer_open(PEER_AS, id(20), 90, vec![]),
    ));
    let out = h.step(Input::Message(conn, &update));
    assert_eq!(
        sent_notification(&out).unwrap().error,
        ErrorCode::Fsm(FsmSubcode::UnexpectedMessageInOpenConfirm)
    );

    let mut h = Harness::new(config());
    let conn = h.establish(peer_open(PEER_AS, id(20), 90, vec![]));
    let out = h.step(Input::Message(
        conn,
        &peer_open(PEER_AS, id(20), 90, vec![]),
    ));
    assert_eq!(
        sent_notification(&out).unwrap().error,
        ErrorCode::Fsm(FsmSubcode::UnexpectedMessageInEstablished)
    );
    assert!(down(&out).is_some());
}

// ---------------------------------------------------------------- UPDATE handling (RFC 7606)

#[test]
fn updates_pass_through_and_malformed_ones_follow_rfc7606() {
    let mut h = Harness::new(config());
    let conn = h.establish(peer_open(PEER_AS, id(20), 90, vec![]));
    let ctx = SessionContext {
        four_octet_as: true,
        ..SessionContext::default()
    };
    let good = crate::wire::Update::end_of_rib_marker(Family::IPV6_UNICAST);
    let bytes = Message::Update(good.clone()).to_bytes(&ctx).unwrap();
    let out = h.step(Input::Message(conn, &bytes));
    assert!(out.contains(&Output::Update(good)));

    // ORIGIN of length 2: treat-as-withdraw, the session stays up.
    let bad = update_msg("4001020000 4002060201 0000fde9 400304c0000201", "180af401");
    let out = h.step(Input::Message(conn, &bad));
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::TreatAsWithdraw(u) if u.nlri.len() == 1)),
        "{out:?}"
    );
    assert!(sent(&out).is_empty());
    assert_eq!(h.s.state(), State::Established);

    // An unrecognized well-known attribute: session reset with 3/2.
    let reset = update_msg("40010100 4002060201 0000fde9 40630100", "180af401");
    let out = h.step(Input::Message(conn, &reset));
    assert_eq!(
        sent_notification(&out).unwrap().error,
        ErrorCode::Update(UpdateSubcode::UnrecognizedWellKnownAttribute)
    );
    assert!(down(&out).is_some());
}

fn hex(s: &str) -> Vec<u8> {
    let clean: String = s.split_whitespace().collect();
    (0..clean.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&clean[i..i + 2], 16).unwrap())
        .collect()
}

/// An UPDATE with these attributes and NLRI, lengths computed.
fn update_msg(attrs: &str, nlri: &str) -> Vec<u8> {
    let (attrs, nlri) = (hex(attrs), hex(nlri));
    let mut m = vec![0xff; 16];
    m.extend_from_slice(&((19 + 4 + attrs.len() + nlri.len()) as u16).to_be_bytes());
    m.push(2);
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    m.extend(attrs);
    m.extend(nlri);
    m
}

// ---------------------------------------------------------------- collisions (RFC 4271 §6.8)

/// Our outbound connection reaches OpenConfirm, then the peer's inbound
/// one delivers its OPEN (or the other way round); the connection opened
/// by the speaker with the higher identifier survives.
fn collision(
    local: u8,
    peer: u8,
    inbound_open_first: bool,
) -> (Direction, Harness, ConnId, ConnId) {
    let mut c = config();
    c.local_id = id(local);
    let mut h = Harness::new(c);
    let outbound = connect_of(&h.step(Input::Start));
    h.step(Input::Connected(outbound));
    let inbound = ConnId(1 << 63);
    let out = h.accept(inbound);
    assert!(matches!(sent(&out)[..], [(c, Message::Open(_))] if c == inbound));
    let open = peer_open(PEER_AS, id(peer), 90, vec![]);
    let (first, second) = if inbound_open_first {
        (inbound, outbound)
    } else {
        (outbound, inbound)
    };
    h.step(Input::Message(first, &open));
    let out = h.step(Input::Message(second, &open));
    let loser = closed(&out);
    assert_eq!(loser.len(), 1, "{out:?}");
    let n = sent_notification(&out).unwrap();
    assert_eq!(
        n.error,
        ErrorCode::Cease(CeaseSubcode::ConnectionCollisionResolution)
    );
    let kept = if loser[0] == inbound {
        Direction::Outbound
    } else {
        Direction::Inbound
    };
    let winner = if kept == Direction::Inbound {
        inbound
    } else {
        outbound
    };
    (kept, h, winner, loser[0])
}

#[test]
fn collision_keeps_the_higher_identifiers_connection() {
    for inbound_first in [false, true] {
        // We have the higher identifier: our connection stays.
        let (kept, mut h, winner, _) = collision(30, 20, inbound_first);
        assert_eq!(kept, Direction::Outbound, "inbound_first={inbound_first}");
        let out = h.step(Input::Message(winner, &keepalive()));
        assert!(established(&out).is_some());
        // The peer has the higher identifier: its connection stays.
        let (kept, mut h, winner, loser) = collision(10, 20, inbound_first);
        assert_eq!(kept, Direction::Inbound, "inbound_first={inbound_first}");
        // Late messages on the closed connection are ignored.
        assert!(h.step(Input::Message(loser, &keepalive())).is_empty());
        let out = h.step(Input::Message(winner, &keepalive()));
        assert!(established(&out).is_some());
    }
}

#[test]
fn a_second_connection_while_established_is_refused_without_gr() {
    let mut h = Harness::new(config());
    let conn = h.establish(peer_open(PEER_AS, id(20), 90, vec![]));
    let late = ConnId(1 << 63);
    h.accept(late);
    let out = h.step(Input::Message(
        late,
        &peer_open(PEER_AS, id(20), 90, vec![]),
    ));
    assert_eq!(closed(&out), vec![late]);
    assert_eq!(h.s.established_conn(), Some(conn));
}

// ---------------------------------------------------------------- graceful restart decisions (RFC 4724, RFC 8538)

#[test]
fn losing_the_connection_to_a_gr_peer_is_graceful() {
    let mut h = Harness::new(config());
    let conn = h.establish(peer_open(PEER_AS, id(20), 90, vec![gr_cap(120, false)]));
    let out = h.step(Input::Closed(conn));
    let d = down(&out).unwrap();
    assert_eq!(d.reason, DownReason::ConnectionLost);
    assert!(d.graceful);
    assert_eq!(d.restart_time, Duration::from_secs(120));
}

#[test]
fn notifications_are_graceful_only_with_the_n_bit() {
    let cease = notification(ErrorCode::Cease(CeaseSubcode::AdministrativeReset));
    let hard = notification(ErrorCode::Cease(CeaseSubcode::HardReset));
    for (n_bit, msg, graceful) in [
        (false, &cease, false),
        (true, &cease, true),
        (true, &hard, false),
    ] {
        let mut h = Harness::new(config());
        let conn = h.establish(peer_open(PEER_AS, id(20), 90, vec![gr_cap(120, n_bit)]));
        let out = h.step(Input::Message(conn, msg));
        assert_eq!(down(&out).unwrap().graceful, graceful, "N={n_bit}");
    }
}

#[test]
fn a_restarted_gr_peer_replaces_its_old_session() {
    let mut h = Harness::new(config());
    let old = h.establish(peer_open(PEER_AS, id(20), 90, vec![gr_cap(120, false)]));
    let new = ConnId(1 << 63);
    h.accept(new);
    let out = h.step(Input::Message(
        new,
        &peer_open(PEER_AS, id(20), 90, vec![gr_cap(120, false)]),
    ));
    let d = down(&out).unwrap();
    assert_eq!(d.reason, DownReason::PeerRestarted);
    assert!(d.graceful);
    assert!(closed(&out).contains(&old));
    let out = h.step(Input::Message(new, &keepalive()));
    assert!(established(&out).is_some());
    assert_eq!(h.s.established_conn(), Some(new));
}

#[test]
fn stopping_sends_the_cease_and_is_not_graceful() {
    let mut h = Harness::new(config());
    let conn = h.establish(peer_open(PEER_AS, id(20), 90, vec![gr_cap(120, true)]));
    let n = Notification::admin_shutdown("maintenance");
    let out = h.step(Input::Stop {
        notification: Some(n.clone()),
    });
    // Both sides set the N bit: the Cease goes inside a Hard Reset, or the
    // peer would keep our routes as for a restart (RFC 8538 §5.1).
    assert_eq!(sent_notification(&out), Some(Notification::hard_reset(&n)));
    assert_eq!(closed(&out), vec![conn]);
    let d = down(&out).unwrap();
    assert!(!d.graceful);
    assert_eq!(h.s.state(), State::Idle);
    // Stopped means stopped: no reconnection.
    assert!(h.advance(Duration::from_secs(600)).is_empty());
    // Without a NOTIFICATION the connection just closes.
    let mut h = Harness::new(config());
    let conn = h.establish(peer_open(PEER_AS, id(20), 90, vec![]));
    let out = h.step(Input::Stop { notification: None });
    assert!(sent(&out).is_empty());
    assert_eq!(closed(&out), vec![conn]);
}

#[test]
fn a_stop_with_the_n_bit_is_graceful_on_our_side_too() {
    // RFC 8538 §4: a NOTIFICATION other than Hard Reset leaves both
    // speakers in the receiving role: we keep the peer's routes as it
    // keeps ours.
    let mut h = Harness::new(config());
    h.establish(peer_open(PEER_AS, id(20), 90, vec![gr_cap(120, true)]));
    let n = Notification::new(
        ErrorCode::Cease(CeaseSubcode::OtherConfigurationChange),
        vec![],
    );
    let out = h.step(Input::Stop {
        notification: Some(n.clone()),
    });
    assert_eq!(sent_notification(&out), Some(n));
    let d = down(&out).unwrap();
    assert!(d.graceful);
    assert_eq!(d.restart_time, Duration::from_secs(120));
    // Without the N bit on the peer's side the NOTIFICATION ends it.
    let mut h = Harness::new(config());
    h.establish(peer_open(PEER_AS, id(20), 90, vec![gr_cap(120, false)]));
    let out = h.step(Input::Stop {
        notification: Some(Notification::admin_reset("again")),
    });
    assert!(!down(&out).unwrap().graceful);
    // A peer that asked for a restart time of zero gets none.
    let mut h = Harness::new(config());
    h.establish(peer_open(PEER_AS, id(20), 90, vec![gr_cap(0, true)]));
    let out = h.step(Input::Stop {
        notification: Some(Notification::admin_reset("again")),
    });
    assert!(!down(&out).unwrap().graceful);
}

#[test]
fn our_open_announces_restart_state_and_forwarding() {
    let mut c = config();
    c.graceful_restart = Some(GracefulRestartConfig {
        restart_time: 90,
        restarting: true,
        notification: true,
        forwarding: [Family::IPV4_UNICAST].into_iter().collect(),
    });
    let mut h = Harness::new(c);
    let conn = connect_of(&h.step(Input::Start));
    let out = h.step(Input::Connected(conn));
    let Message::Open(open) = &sent(&out)[0].1 else {
        panic!()
    };
    let gr = open
        .capabilities()
        .find_map(|c| match c {
            Capability::GracefulRestart(g) => Some(g.clone()),
            _ => None,
        })
        .unwrap();
    assert!(gr.restart_state() && gr.notification());
    assert_eq!(gr.restart_time, 90);
    let f: Vec<_> = gr
        .families
        .iter()
        .map(|f| (f.family, f.forwarding_state()))
        .collect();
    assert_eq!(
        f,
        vec![(Family::IPV4_UNICAST, true), (Family::IPV6_UNICAST, false)]
    );
}

#[test]
fn add_path_and_extended_next_hop_are_negotiated_per_direction() {
    use crate::wire::{AddPathFamily, AddPathMode, ExtendedNextHop};
    let mut c = config();
    c.add_path_receive = [Family::IPV4_UNICAST].into_iter().collect();
    c.add_path_send = [Family::IPV4_UNICAST, Family::IPV6_UNICAST]
        .into_iter()
        .collect();
    c.extended_next_hop = [Family::IPV4_UNICAST].into_iter().collect();
    let mut h = Harness::new(c);
    let conn = connect_of(&h.step(Input::Start));
    h.step(Input::Connected(conn));
    let peer = peer_open(
        PEER_AS,
        id(20),
        90,
        vec![
            Capability::AddPath(vec![
                AddPathFamily {
                    family: Family::IPV4_UNICAST,
                    mode: AddPathMode::SEND,
                },
                AddPathFamily {
                    family: Family::IPV6_UNICAST,
                    mode: AddPathMode::BOTH,
                },
            ]),
            Capability::ExtendedNextHop(vec![ExtendedNextHop {
                afi: crate::types::Afi::IPV4,
                safi: 1,
                next_hop_afi: crate::types::Afi::IPV6,
            }]),
            Capability::ExtendedMessage,
        ],
    );
    h.step(Input::Message(conn, &peer));
    let out = h.step(Input::Message(conn, &keepalive()));
    let n = established(&out).unwrap();
    let v4: crate::types::FamilySet = [Family::IPV4_UNICAST].into_iter().collect();
    let v6: crate::types::FamilySet = [Family::IPV6_UNICAST].into_iter().collect();
    // We receive v4 ids (we said receive, it said send); we send v6 ids
    // only (it can receive v6, not v4).
    assert_eq!(n.context.add_path_receive, v4);
    assert_eq!(n.context.add_path_send, v6);
    assert_eq!(n.context.extended_next_hop_send, v4);
    assert_eq!(n.context.extended_next_hop_receive, v4);
    assert!(n.context.extended_message);
}

#[test]
fn a_peer_without_multiprotocol_speaks_ipv4_only() {
    let open = Open::new(Asn::new(PEER_AS), HoldTime::DEFAULT, id(20), vec![]);
    let bytes = Message::Open(open)
        .to_bytes(&SessionContext::default())
        .unwrap();
    let mut h = Harness::new(config());
    let conn = connect_of(&h.step(Input::Start));
    h.step(Input::Connected(conn));
    h.step(Input::Message(conn, &bytes));
    let out = h.step(Input::Message(conn, &keepalive()));
    let n = established(&out).unwrap();
    assert_eq!(
        n.families.iter().collect::<Vec<_>>(),
        vec![Family::IPV4_UNICAST]
    );
    assert!(!n.context.four_octet_as && !n.route_refresh);
}
