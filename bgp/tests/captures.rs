//! Real traffic: byte streams sent by FRR 8.4, BIRD 2.0 and GoBGP 3.10 to
//! each other in network namespaces (see `tests/captures/README.md` for how
//! they were made). Every message must decode under the session context
//! the two OPENs negotiated, re-encode to the same octets, survive every
//! truncation, and agree field by field with tshark's dissection (the
//! `.tshark.json` oracle next to each stream).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bgp::types::{Family, FamilySet};
use bgp::wire::*;
use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
struct Entry {
    file: String,
    oracle: String,
    sender: Daemon,
    context: Context,
}

#[derive(Debug, Deserialize)]
struct Daemon {
    daemon: String,
}

#[derive(Debug, Deserialize)]
struct Context {
    four_octet_as: bool,
    add_path_receive: Vec<Family>,
    extended_next_hop: Vec<Family>,
    extended_message: bool,
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures")
}

fn manifest() -> Vec<Entry> {
    let text = std::fs::read_to_string(dir().join("manifest.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn context(c: &Context) -> SessionContext {
    let ap: FamilySet = c.add_path_receive.iter().copied().collect();
    let enh: FamilySet = c.extended_next_hop.iter().copied().collect();
    SessionContext::symmetric(c.four_octet_as, c.extended_message, ap, enh)
}

/// Every message of a stream, decoded, with its octets.
fn decode_stream(entry: &Entry) -> Vec<(usize, Vec<u8>, Message)> {
    let bytes = std::fs::read(dir().join(&entry.file)).unwrap();
    let ctx = context(&entry.context);
    let mut out = Vec::new();
    let mut offset = 0;
    for item in Messages::new(&bytes, ctx) {
        match item {
            StreamItem::Message { raw, result: Ok(m) } => {
                out.push((offset, raw.to_vec(), m));
                offset += raw.len();
            }
            other => panic!("{} at offset {offset}: {other:?}", entry.file),
        }
    }
    assert_eq!(offset, bytes.len(), "{}", entry.file);
    out
}

fn find(manifest: &[Entry], file: &str) -> Vec<(usize, Vec<u8>, Message)> {
    decode_stream(manifest.iter().find(|e| e.file == file).unwrap())
}

#[test]
fn every_captured_message_round_trips_and_matches_tshark() {
    let manifest = manifest();
    assert!(manifest.len() >= 40, "captures are missing");
    let mut senders = BTreeSet::new();
    let mut kinds = BTreeSet::new();
    let mut total = 0;
    for entry in &manifest {
        let ctx = context(&entry.context);
        let oracle: Vec<Value> =
            serde_json::from_str(&std::fs::read_to_string(dir().join(&entry.oracle)).unwrap())
                .unwrap();
        let messages = decode_stream(entry);
        assert_eq!(messages.len(), oracle.len(), "{}", entry.file);
        for ((offset, raw, m), o) in messages.iter().zip(&oracle) {
            let at = format!("{} @{offset}", entry.file);
            let again = m.to_bytes(&ctx).unwrap_or_else(|e| panic!("{at}: {e}"));
            assert_eq!(
                hex::encode(&again),
                hex::encode(raw),
                "{at}: re-encoding differs"
            );
            common::check_truncations(raw, &ctx);
            assert_eq!(o["offset"], *offset, "{at}");
            assert_eq!(o["length"], raw.len(), "{at}");
            compare(m, o, &at);
            senders.insert(entry.sender.daemon.clone());
            kinds.insert(m.msg_type().to_string());
            total += 1;
        }
    }
    assert_eq!(
        senders.into_iter().collect::<Vec<_>>(),
        ["bird", "frr", "gobgp"]
    );
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "KEEPALIVE",
            "NOTIFICATION",
            "OPEN",
            "ROUTE-REFRESH",
            "UPDATE"
        ]
    );
    assert!(total > 400, "only {total} messages");
}

/// Checks every field of the oracle; a field this test does not know fails
/// it, so nothing tshark saw goes unchecked.
fn compare(m: &Message, o: &Value, at: &str) {
    let obj = o.as_object().unwrap();
    if obj.contains_key("tshark_not_dissected") {
        // tshark 4.0 cannot dissect extended (> 4096 octet) messages; the
        // round trip above still holds.
        return;
    }
    let mut checked: BTreeSet<&str> = ["type", "length", "offset"].into();
    assert_eq!(o["type"], m.msg_type().to_string(), "{at}");
    let mut eq = |key: &'static str, ours: Value| {
        checked.insert(key);
        assert_eq!(obj.get(key).unwrap_or(&Value::Null), &ours, "{at}: {key}");
    };
    match m {
        Message::Open(open) => compare_open(open, o, &mut eq),
        Message::Update(u) => compare_update(u, o, &mut eq),
        Message::Notification(n) => {
            eq("code", n.error.code().into());
            eq("subcode", n.error.subcode().into());
            eq("data_hex", hex::encode(&n.data).into());
            if obj.contains_key("shutdown_communication") {
                let NotificationData::ShutdownMessage { message } = n.data_view() else {
                    panic!("{at}: no shutdown message in {n}")
                };
                eq("shutdown_communication", message.into());
            }
        }
        Message::RouteRefresh(r) => {
            eq("afi", r.family.afi.0.into());
            eq("safi", r.family.safi.0.into());
            eq("subtype", u8::from(r.subtype).into());
        }
        Message::Keepalive => {}
    }
    for key in obj.keys() {
        assert!(
            checked.contains(key.as_str()),
            "{at}: oracle field {key} is not checked"
        );
    }
}

fn compare_open(open: &Open, _o: &Value, eq: &mut impl FnMut(&'static str, Value)) {
    use serde_json::json;
    eq("version", 4.into());
    eq("my_as", open.my_as.into());
    eq("hold_time", open.hold_time.seconds().into());
    eq("bgp_id", open.router_id.to_string().into());
    let caps: Vec<&Capability> = open.capabilities().collect();
    eq(
        "capabilities",
        caps.iter().map(|c| c.code()).collect::<Vec<_>>().into(),
    );
    let mut details = Vec::new();
    let mut mp = Vec::new();
    let mut add_path = Vec::new();
    let mut as4 = Value::Null;
    for c in &caps {
        match c {
            Capability::Multiprotocol(f) => {
                details.push(json!({"code": 1, "afi": f.afi.0, "safi": f.safi.0}));
                mp.push(json!([f.afi.0, f.safi.0]));
            }
            Capability::FourOctetAs(asn) => {
                details.push(json!({"code": 65, "as4": asn.get()}));
                as4 = asn.get().into();
            }
            Capability::AddPath(fams) => {
                let f: Vec<Value> = fams
                    .iter()
                    .map(|a| json!({"afi": a.family.afi.0, "safi": a.family.safi.0, "send_receive": a.mode.0}))
                    .collect();
                details.push(json!({"code": 69, "families": f}));
                add_path.extend(
                    fams.iter()
                        .map(|a| json!([a.family.afi.0, a.family.safi.0, a.mode.0])),
                );
            }
            Capability::GracefulRestart(gr) => {
                let f: Vec<Value> = gr
                    .families
                    .iter()
                    .map(|f| json!({"afi": f.family.afi.0, "safi": f.family.safi.0}))
                    .collect();
                details.push(json!({
                    "code": 64,
                    "restart_flag": u8::from(gr.restart_state()),
                    "restart_time": gr.restart_time,
                    "families": f,
                }));
            }
            Capability::ExtendedNextHop(v) => {
                let f: Vec<Value> = v
                    .iter()
                    .map(|e| json!({"afi": e.afi.0, "safi": e.safi, "nexthop_afi": e.next_hop_afi.0}))
                    .collect();
                details.push(json!({"code": 5, "families": f}));
            }
            _ => {}
        }
    }
    eq("capability_details", details.into());
    if !mp.is_empty() {
        eq("multiprotocol", mp.into());
    }
    if !add_path.is_empty() {
        eq("add_path", add_path.into());
    }
    if !as4.is_null() {
        eq("four_octet_as", as4);
    }
}

fn nlri_json<P: std::fmt::Display>(list: &[Nlri<P>]) -> Value {
    list.iter()
        .map(|n| match n.path_id {
            Some(id) => serde_json::json!({"prefix": n.prefix.to_string(), "path_id": id.0}),
            None => n.prefix.to_string().into(),
        })
        .collect::<Vec<_>>()
        .into()
}

fn path_json(p: &AsPath) -> Value {
    p.segments
        .iter()
        .map(|s| {
            let kind = match s.kind {
                SegmentType::Sequence => "AS_SEQUENCE",
                SegmentType::Set => "AS_SET",
                SegmentType::ConfedSequence => "AS_CONFED_SEQUENCE",
                SegmentType::ConfedSet => "AS_CONFED_SET",
            };
            serde_json::json!({"type": kind, "asns": s.asns.iter().map(|a| a.get()).collect::<Vec<_>>()})
        })
        .collect::<Vec<_>>()
        .into()
}

fn compare_update(u: &Update, _o: &Value, eq: &mut impl FnMut(&'static str, Value)) {
    use serde_json::json;
    eq("withdrawn", nlri_json(&u.withdrawn));
    eq("nlri", nlri_json(&u.nlri));
    eq(
        "attribute_types",
        u.attributes
            .iter()
            .map(|a| a.value.type_code())
            .collect::<Vec<_>>()
            .into(),
    );
    for a in &u.attributes {
        match &a.value {
            AttrValue::Origin(o) => eq("origin", o.to_string().to_uppercase().into()),
            AttrValue::AsPath(p) => eq("as_path", path_json(p)),
            AttrValue::As4Path(p) => eq("as4_path", path_json(p)),
            AttrValue::NextHop(n) => eq("next_hop", n.to_string().into()),
            AttrValue::MultiExitDisc(v) => eq("med", (*v).into()),
            AttrValue::LocalPref(v) => eq("local_pref", (*v).into()),
            AttrValue::Aggregator(g) => eq(
                "aggregator",
                json!({"as": g.asn.get(), "address": g.address.to_string()}),
            ),
            AttrValue::As4Aggregator(g) => eq(
                "as4_aggregator",
                json!({"as": g.asn.get(), "address": g.address.to_string()}),
            ),
            AttrValue::Communities(c) => eq(
                "communities",
                c.iter()
                    .map(|c| format!("{}:{}", c.asn(), c.value()))
                    .collect::<Vec<_>>()
                    .into(),
            ),
            AttrValue::LargeCommunities(c) => eq(
                "large_communities",
                c.iter().map(|c| c.to_string()).collect::<Vec<_>>().into(),
            ),
            AttrValue::ExtendedCommunities(c) => eq(
                "extended_communities",
                c.iter()
                    .map(|c| hex::encode(c.0))
                    .collect::<Vec<_>>()
                    .into(),
            ),
            AttrValue::MpReachNlri(m) => {
                let family = m.family();
                let (next_hop, prefixes) = match m {
                    MpReach::Ipv4 { next_hop, nlri, .. } => (*next_hop, nlri_json(nlri)),
                    MpReach::Ipv6 { next_hop, nlri, .. } => (*next_hop, nlri_json(nlri)),
                    MpReach::Other { .. } => panic!("captures only carry IP families"),
                };
                let hops: Vec<String> = match next_hop {
                    NextHop::V4(a) => vec![a.to_string()],
                    NextHop::V6 { global, link_local } => std::iter::once(global)
                        .chain(link_local)
                        .map(|a| a.to_string())
                        .collect(),
                };
                eq(
                    "mp_reach",
                    json!({"afi": family.afi.0, "safi": family.safi.0, "next_hops": hops, "prefixes": prefixes}),
                );
            }
            AttrValue::MpUnreachNlri(m) => {
                let family = m.family();
                let prefixes = match m {
                    MpUnreach::Ipv4 { withdrawn, .. } => nlri_json(withdrawn),
                    MpUnreach::Ipv6 { withdrawn, .. } => nlri_json(withdrawn),
                    MpUnreach::Other { .. } => panic!("captures only carry IP families"),
                };
                eq(
                    "mp_unreach",
                    json!({"afi": family.afi.0, "safi": family.safi.0, "prefixes": prefixes}),
                );
            }
            AttrValue::AtomicAggregate
            | AttrValue::OriginatorId(_)
            | AttrValue::ClusterList(_)
            | AttrValue::Otc(_)
            | AttrValue::Other { .. } => {}
        }
    }
}

// ------------------------------------------------------------------
// What the captures show, stated plainly.

#[test]
fn frr_open_offers_what_frr_8_4_offers() {
    let m = find(&manifest(), "lifecycle-v4/frr-to-bird.bin");
    let Message::Open(open) = &m[0].2 else {
        panic!()
    };
    let caps: Vec<String> = open.capabilities().map(|c| c.to_string()).collect();
    assert_eq!(open.asn().get(), 4_200_000_001);
    assert_eq!(open.my_as, 23456);
    assert!(
        caps.contains(&"route-refresh (old code 128)".to_string()),
        "{caps:?}"
    );
    assert!(caps.iter().any(|c| c.starts_with("fqdn ")), "{caps:?}");
    assert!(
        caps.iter()
            .any(|c| c.starts_with("graceful-restart time 120s")),
        "{caps:?}"
    );
    // One capability per optional parameter.
    assert_eq!(open.parameters.len(), caps.len());
}

#[test]
fn every_daemon_sends_an_rfc9003_shutdown_message() {
    let manifest = manifest();
    for file in [
        "lifecycle-v4/frr-to-bird.bin",
        "lifecycle-v4/bird-to-gobgp.bin",
        "lifecycle-v4/gobgp-to-frr.bin",
    ] {
        let m = find(&manifest, file);
        let n = m
            .iter()
            .find_map(|(_, _, m)| match m {
                Message::Notification(n) => Some(n.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{file}: no NOTIFICATION"));
        assert_eq!(
            n.error,
            ErrorCode::Cease(CeaseSubcode::AdministrativeShutdown),
            "{file}"
        );
        let NotificationData::ShutdownMessage { message } = n.data_view() else {
            panic!("{file}: {n}")
        };
        assert!(message.contains("maintenance"), "{file}: {message}");
    }
}

#[test]
fn as4_path_from_a_two_octet_session_merges_to_the_real_path() {
    let m = find(&manifest(), "as4-off/gobgp-to-bird.bin");
    let u = m
        .iter()
        .find_map(|(_, _, m)| match m {
            Message::Update(u) if u.attributes.as4_aggregator().is_some() => Some(u.clone()),
            _ => None,
        })
        .unwrap();
    assert!(
        u.attributes
            .as_path()
            .unwrap()
            .asns()
            .any(|a| a.get() == 23456)
    );
    let (path, agg) = u.attributes.effective_as_path();
    let path = path.unwrap();
    assert!(path.asns().all(|a| a.get() != 23456), "{path}");
    assert_eq!(path.to_string(), "4200000003 4200000003 64503");
    assert_eq!(agg.unwrap().asn.get(), 4_200_000_003);
}

#[test]
fn enhanced_route_refresh_markers_between_frr_and_bird() {
    let manifest = manifest();
    let mut seen = BTreeSet::new();
    for file in [
        "lifecycle-v4/frr-to-bird.bin",
        "lifecycle-v4/bird-to-frr.bin",
    ] {
        for (_, _, m) in find(&manifest, file) {
            if let Message::RouteRefresh(r) = m {
                seen.insert(r.subtype.to_string());
            }
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["BoRR", "EoRR", "request"]
    );
}

#[test]
fn add_path_streams_carry_several_paths_for_one_prefix() {
    let m = find(&manifest(), "addpath-v4/frr-to-bird.bin");
    let mut ids = BTreeSet::new();
    for (_, _, m) in &m {
        if let Message::Update(u) = m {
            for n in &u.nlri {
                assert!(n.path_id.is_some());
                if n.prefix.to_string() == "10.244.200.0/24" {
                    ids.insert(n.path_id.unwrap());
                }
            }
        }
    }
    assert!(ids.len() >= 2, "{ids:?}");
}

#[test]
fn frr_fills_updates_to_exactly_4096_octets() {
    let m = find(&manifest(), "bulk/frr-to-gobgp.bin");
    assert!(m.iter().any(|(_, raw, _)| raw.len() == MAX_MESSAGE_LEN));
    let extended = find(&manifest(), "bulk/frr-to-bird.bin");
    assert!(
        extended
            .iter()
            .any(|(_, raw, _)| raw.len() > MAX_MESSAGE_LEN)
    );
}
