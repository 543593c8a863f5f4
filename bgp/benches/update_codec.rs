//! UPDATE codec throughput: our wire codec against bgpkit-parser and
//! zettabgp, on the same octets, in the same run.
//!
//! Every message is built with our encoder (and checked to be identical
//! whether it comes from `Message::encode` or `UpdatePacker::announce`);
//! before anything is timed, each of the three decoders must turn it into
//! exactly the prefixes that went in, so all three do the same work: a full
//! decode into owned prefix lists. Decoding uses a 4-octet-AS session
//! without ADD-PATH everywhere.
//!
//! Run with `cargo bench -p bgp --bench update_codec`. After the groups, the
//! medians criterion saved are printed as a markdown table and written to
//! `target/criterion/update_codec_summary.json`. `cargo test --benches` runs
//! each benchmark once and prints no table.

use std::fmt::Write as _;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bgp::types::{Asn, Community, Family, Ipv4Prefix, Ipv6Prefix, LargeCommunity, Safi};
use bgp::wire::{
    AsPath, AttrFlags, AttrValue, Attribute, EncodedAttributes, Message, MpReach, NextHop, Nlri,
    Origin, PathAttributes, SessionContext, Update, UpdatePacker,
};
use bgpkit_parser::models::{AsnLength, BgpMessage as KitMessage};
use bgpkit_parser::parser::bgp::messages::parse_bgp_message;
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use serde_json::{Value, json};
use zettabgp::BgpMessage as _;
use zettabgp::prelude::{
    BgpAddrs, BgpCapability, BgpMessageType, BgpSessionParams, BgpTransportMode,
    BgpUpdateMessage as ZettaUpdate,
};

const SIZES: [usize; 4] = [1, 10, 100, 500];
const AS_PATH: [u32; 3] = [4_200_000_001, 65001, 65002];
const LOCAL_AS: u32 = 4_200_000_001;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fam {
    V4,
    V6,
}

impl Fam {
    const ALL: [Fam; 2] = [Fam::V4, Fam::V6];

    fn name(self) -> &'static str {
        match self {
            Fam::V4 => "ipv4",
            Fam::V6 => "ipv6",
        }
    }
}

/// The prefixes of one message, our types.
#[derive(Debug, Clone)]
enum Prefixes {
    V4(Vec<Nlri<Ipv4Prefix>>),
    V6(Vec<Nlri<Ipv6Prefix>>),
}

/// One message under test and everything each codec needs to handle it.
#[derive(Debug)]
struct Case {
    fam: Fam,
    n: usize,
    /// The octets every decoder reads.
    wire: Vec<u8>,
    /// The same octets as `Bytes`, for bgpkit-parser (cloning is a refcount).
    wire_bytes: Bytes,
    /// Our typed message, for `Message::encode`.
    message: Message,
    /// The attribute set and prefixes, for `UpdatePacker::announce`.
    encoded_attrs: EncodedAttributes,
    prefixes: Prefixes,
    /// What bgpkit-parser and zettabgp decoded, for their encoders.
    kit_message: KitMessage,
    zetta_update: ZettaUpdate,
}

fn ctx() -> SessionContext {
    SessionContext {
        four_octet_as: true,
        ..Default::default()
    }
}

fn zetta_params() -> BgpSessionParams {
    let mut params = BgpSessionParams::new(
        LOCAL_AS,
        90,
        BgpTransportMode::IPv4,
        Ipv4Addr::new(192, 0, 2, 1),
        vec![
            BgpCapability::SafiIPv4u,
            BgpCapability::SafiIPv6u,
            BgpCapability::CapASN32(LOCAL_AS),
        ],
    );
    params.check_caps();
    assert!(params.has_as32bit);
    // `new` turns on guessing ADD-PATH from the octets; the session did not
    // negotiate it, so it is off, as for the other two decoders.
    params.fuzzy_pathid = false;
    params
}

/// Distinct /24s in 198.18.0.0/15 (512 of them).
fn v4_prefixes(n: usize) -> Vec<Nlri<Ipv4Prefix>> {
    assert!(n <= 512);
    (0..n)
        .map(|i| {
            let addr = Ipv4Addr::new(198, 18 + (i / 256) as u8, (i % 256) as u8, 0);
            Nlri::new(Ipv4Prefix::new(addr, 24).expect("a /24"))
        })
        .collect()
}

/// Distinct /48s in 2001:db8::/32.
fn v6_prefixes(n: usize) -> Vec<Nlri<Ipv6Prefix>> {
    assert!(n <= 0x1_0000);
    (0..n)
        .map(|i| {
            let addr = Ipv6Addr::new(0x2001, 0xdb8, i as u16, 0, 0, 0, 0, 0);
            Nlri::new(Ipv6Prefix::new(addr, 48).expect("a /48"))
        })
        .collect()
}

/// ORIGIN, AS_PATH, MED, two communities, one large community: everything
/// but the next hop, which depends on the family.
fn common_attributes() -> Vec<AttrValue> {
    vec![
        AttrValue::Origin(Origin::Igp),
        AttrValue::AsPath(AsPath::from_sequence(AS_PATH.map(Asn::new))),
        AttrValue::MultiExitDisc(100),
        AttrValue::Communities(vec![
            Community::from_parts(65001, 100),
            Community::from_parts(65001, 200),
        ]),
        AttrValue::LargeCommunities(vec![LargeCommunity::new(LOCAL_AS, 1, 1)]),
    ]
}

const V4_NEXT_HOP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const V6_NEXT_HOP: NextHop = NextHop::V6 {
    global: Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1),
    link_local: Some(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
};

fn build_case(fam: Fam, n: usize) -> Case {
    let ctx = ctx();
    let packer = UpdatePacker::new(ctx);
    let common: PathAttributes = common_attributes().into_iter().collect();
    let (message, encoded_attrs, prefixes) = match fam {
        Fam::V4 => {
            let nlri = v4_prefixes(n);
            let mut attributes = common_attributes();
            attributes.insert(2, AttrValue::NextHop(V4_NEXT_HOP));
            let update = Update {
                attributes: attributes.into_iter().collect(),
                nlri: nlri.clone(),
                ..Default::default()
            };
            let encoded = packer
                .encode_attributes(Family::IPV4_UNICAST, &common, NextHop::V4(V4_NEXT_HOP))
                .expect("encodable attributes");
            (Message::Update(update), encoded, Prefixes::V4(nlri))
        }
        Fam::V6 => {
            let nlri = v6_prefixes(n);
            // MP_REACH_NLRI first and always with a two-octet length, as
            // the packer writes it, so both encoders give the same octets.
            let mut attributes = vec![Attribute {
                flags: AttrFlags(AttrFlags::OPTIONAL | AttrFlags::EXTENDED_LENGTH),
                value: AttrValue::MpReachNlri(MpReach::Ipv6 {
                    safi: Safi::UNICAST,
                    next_hop: V6_NEXT_HOP,
                    nlri: nlri.clone(),
                }),
            }];
            attributes.extend(common.iter().cloned());
            let update = Update {
                attributes: PathAttributes(attributes),
                ..Default::default()
            };
            let encoded = packer
                .encode_attributes(Family::IPV6_UNICAST, &common, V6_NEXT_HOP)
                .expect("encodable attributes");
            (Message::Update(update), encoded, Prefixes::V6(nlri))
        }
    };

    let wire = message.to_bytes(&ctx).expect("encodable message");
    assert!(wire.len() <= 4096, "{fam:?}/{n}: {} octets", wire.len());
    let mut packed = Vec::new();
    let messages = match &prefixes {
        Prefixes::V4(p) => packer.announce(&encoded_attrs, p, &mut packed),
        Prefixes::V6(p) => packer.announce(&encoded_attrs, p, &mut packed),
    }
    .expect("packable");
    assert_eq!(messages, 1, "{fam:?}/{n}: one message");
    assert_eq!(
        packed, wire,
        "{fam:?}/{n}: Message::encode and UpdatePacker::announce differ"
    );

    let wire_bytes = Bytes::from(wire.clone());
    let kit_message = kit_decode(&wire_bytes);
    let zetta_update = zetta_decode(&zetta_params(), &wire);
    let case = Case {
        fam,
        n,
        wire,
        wire_bytes,
        message,
        encoded_attrs,
        prefixes,
        kit_message,
        zetta_update,
    };
    check_decoders(&case);
    case
}

fn ours_decode(wire: &[u8], ctx: &SessionContext) -> Message {
    Message::decode(wire, ctx).expect("our decoder accepts the message")
}

fn kit_decode(wire: &Bytes) -> KitMessage {
    let mut buf = wire.clone();
    parse_bgp_message(&mut buf, false, &AsnLength::Bits32).expect("bgpkit accepts the message")
}

fn zetta_decode(params: &BgpSessionParams, wire: &[u8]) -> ZettaUpdate {
    let (kind, len) = params
        .decode_message_head(wire)
        .expect("zettabgp accepts the header");
    assert_eq!(kind, BgpMessageType::Update);
    let mut update = ZettaUpdate::new();
    update
        .decode_from(params, &wire[19..19 + len])
        .expect("zettabgp accepts the message");
    update
}

/// The expected prefixes as (address, length).
fn expected(case: &Case) -> Vec<(IpAddr, u8)> {
    match &case.prefixes {
        Prefixes::V4(p) => p
            .iter()
            .map(|n| (IpAddr::V4(n.prefix.addr()), n.prefix.len()))
            .collect(),
        Prefixes::V6(p) => p
            .iter()
            .map(|n| (IpAddr::V6(n.prefix.addr()), n.prefix.len()))
            .collect(),
    }
}

fn ours_prefixes(m: &Message) -> Vec<(IpAddr, u8)> {
    let Message::Update(u) = m else {
        panic!("not an UPDATE")
    };
    let mut out: Vec<(IpAddr, u8)> = u
        .nlri
        .iter()
        .map(|n| (IpAddr::V4(n.prefix.addr()), n.prefix.len()))
        .collect();
    match u.attributes.mp_reach() {
        Some(MpReach::Ipv6 { nlri, .. }) => out.extend(
            nlri.iter()
                .map(|n| (IpAddr::V6(n.prefix.addr()), n.prefix.len())),
        ),
        None => {}
        Some(other) => panic!("unexpected MP_REACH_NLRI {other:?}"),
    }
    out
}

fn kit_prefixes(m: &KitMessage) -> Vec<(IpAddr, u8)> {
    let KitMessage::Update(u) = m else {
        panic!("not an UPDATE")
    };
    assert!(
        u.attributes.validation_warnings().is_empty(),
        "bgpkit warnings: {:?}",
        u.attributes.validation_warnings()
    );
    let mp = u.attributes.get_reachable_nlri();
    u.announced_prefixes
        .iter()
        .chain(mp.into_iter().flat_map(|nlri| nlri.prefixes.iter()))
        .map(|p| {
            assert_eq!(p.path_id, None);
            (p.prefix.addr(), p.prefix.prefix_len())
        })
        .collect()
}

fn zetta_prefixes(u: &ZettaUpdate) -> Vec<(IpAddr, u8)> {
    let mut out = Vec::new();
    let mut add = |addrs: &BgpAddrs| match addrs {
        BgpAddrs::None => {}
        BgpAddrs::IPV4U(v) => out.extend(v.iter().map(|p| (IpAddr::V4(p.addr), p.prefixlen))),
        BgpAddrs::IPV6U(v) => out.extend(v.iter().map(|p| (IpAddr::V6(p.addr), p.prefixlen))),
        other => panic!("unexpected zettabgp NLRI {other:?}"),
    };
    add(&u.updates);
    if let Some(mp) = u.get_mpupdates() {
        add(&mp.addrs);
    }
    out
}

fn ours_count(m: &Message) -> usize {
    match m {
        Message::Update(u) => {
            u.nlri.len()
                + u.attributes
                    .mp_reach()
                    .map_or(0, |r| r.nlri_count().unwrap_or(0))
        }
        _ => 0,
    }
}

/// Outside any timed loop: all three decoders must read exactly the
/// prefixes we put in (and ours must give back the message itself).
fn check_decoders(case: &Case) {
    let want = expected(case);
    assert_eq!(want.len(), case.n);
    let ours = ours_decode(&case.wire, &ctx());
    assert_eq!(ours, case.message, "our decode does not round-trip");
    assert_eq!(ours_count(&ours), case.n);
    assert_eq!(
        ours_prefixes(&ours),
        want,
        "ours: {:?}/{}",
        case.fam,
        case.n
    );
    assert_eq!(
        kit_prefixes(&case.kit_message),
        want,
        "bgpkit: {:?}/{}",
        case.fam,
        case.n
    );
    assert_eq!(
        zetta_prefixes(&case.zetta_update),
        want,
        "zettabgp: {:?}/{}",
        case.fam,
        case.n
    );
    // The competitors saw the attributes too.
    let KitMessage::Update(kit) = &case.kit_message else {
        unreachable!()
    };
    assert_eq!(kit.attributes.iter_communities().count(), 3);
    assert_eq!(
        case.zetta_update
            .get_attr_communitylist()
            .map(|c| c.value.len()),
        Some(2)
    );
    assert!(case.zetta_update.get_attr_aspath().is_some());
}

/// bgpkit-parser's encoder: a fresh `Bytes` per message (it takes no
/// buffer to reuse).
fn kit_encode(m: &KitMessage) -> Bytes {
    m.encode(AsnLength::Bits32).expect("bgpkit encodes")
}

/// zettabgp's encoder writes into a caller's slice, body first, then the
/// header in front.
fn zetta_encode(params: &BgpSessionParams, u: &ZettaUpdate, buf: &mut [u8]) -> usize {
    let body = u
        .encode_to(params, &mut buf[19..])
        .expect("zettabgp encodes");
    params
        .prepare_message_buf(buf, BgpMessageType::Update, body)
        .expect("zettabgp header")
}

/// How the competitors' encoders compare to our octets; printed once.
fn encoder_notes(cases: &[Case]) -> Vec<String> {
    let params = zetta_params();
    let mut buf = vec![0u8; 4096];
    let mut notes = Vec::new();
    for case in cases {
        let kit = kit_encode(&case.kit_message);
        let len = zetta_encode(&params, &case.zetta_update, &mut buf);
        let zetta = &buf[..len];
        for (who, out) in [("bgpkit", kit.as_ref()), ("zettabgp", zetta)] {
            if out != case.wire.as_slice() {
                // Still a valid UPDATE with the same prefixes?
                let back = Message::decode(out, &ctx());
                let same = back.as_ref().map(ours_prefixes).ok() == Some(expected(case));
                notes.push(format!(
                    "{who} encode {}/{}: {} octets vs our {} ({}; first difference at octet {})",
                    case.fam.name(),
                    case.n,
                    out.len(),
                    case.wire.len(),
                    if same {
                        "we decode the same prefixes from it"
                    } else {
                        "we do NOT decode the same prefixes from it"
                    },
                    out.iter()
                        .zip(&case.wire)
                        .position(|(a, b)| a != b)
                        .unwrap_or(out.len().min(case.wire.len())),
                ));
            }
        }
    }
    notes
}

fn decode_benches(c: &mut Criterion, cases: &[Case]) {
    let ctx = ctx();
    let params = zetta_params();
    for fam in Fam::ALL {
        let mut group = c.benchmark_group(format!("decode/{}", fam.name()));
        for case in cases.iter().filter(|c| c.fam == fam) {
            group.throughput(Throughput::Elements(case.n as u64));
            group.bench_with_input(BenchmarkId::new("ours", case.n), case, |b, case| {
                b.iter(|| ours_decode(black_box(&case.wire), &ctx))
            });
            group.bench_with_input(BenchmarkId::new("bgpkit", case.n), case, |b, case| {
                b.iter(|| kit_decode(black_box(&case.wire_bytes)))
            });
            group.bench_with_input(BenchmarkId::new("zettabgp", case.n), case, |b, case| {
                b.iter(|| zetta_decode(&params, black_box(&case.wire)))
            });
        }
        group.finish();
    }
}

fn encode_benches(c: &mut Criterion, cases: &[Case]) {
    let ctx = ctx();
    let packer = UpdatePacker::new(ctx);
    let params = zetta_params();
    for fam in Fam::ALL {
        let mut group = c.benchmark_group(format!("encode/{}", fam.name()));
        for case in cases.iter().filter(|c| c.fam == fam) {
            group.throughput(Throughput::Elements(case.n as u64));
            let mut out = Vec::with_capacity(4096);
            group.bench_with_input(BenchmarkId::new("ours", case.n), case, |b, case| {
                b.iter(|| {
                    out.clear();
                    black_box(&case.message)
                        .encode(&ctx, &mut out)
                        .expect("encodes");
                    black_box(&out);
                })
            });
            group.bench_with_input(BenchmarkId::new("packer", case.n), case, |b, case| {
                b.iter(|| {
                    out.clear();
                    let sent = match black_box(&case.prefixes) {
                        Prefixes::V4(p) => packer.announce(&case.encoded_attrs, p, &mut out),
                        Prefixes::V6(p) => packer.announce(&case.encoded_attrs, p, &mut out),
                    };
                    black_box(sent.expect("packs"));
                    black_box(&out);
                })
            });
            group.bench_with_input(BenchmarkId::new("bgpkit", case.n), case, |b, case| {
                // It returns a fresh buffer each time; freeing it is part of
                // the cost, as reusing one is part of ours.
                b.iter(|| kit_encode(black_box(&case.kit_message)))
            });
            let mut buf = vec![0u8; 4096];
            group.bench_with_input(BenchmarkId::new("zettabgp", case.n), case, |b, case| {
                b.iter(|| {
                    let len = zetta_encode(&params, black_box(&case.zetta_update), &mut buf);
                    black_box(&buf[..len]);
                })
            });
        }
        group.finish();
    }
}

// ---------------------------------------------------------------------------
// Summary from criterion's saved estimates.

/// Where criterion keeps its results; handed to criterion too, so the two
/// always agree.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // The bench executable is <target>/<profile>/deps/update_codec-<hash>.
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|t| t.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// criterion's directory name for one id component.
fn dir_name(s: &str) -> String {
    s.replace(['?', '"', '/', '\\', '*', '<', '>', ':', '|', '^'], "_")
}

/// The median time per iteration in ns, if this run measured it.
fn median_ns(dir: &Path, group: &str, function: &str, n: usize, since: SystemTime) -> Option<f64> {
    let path = dir
        .join(dir_name(group))
        .join(dir_name(function))
        .join(n.to_string())
        .join("new/estimates.json");
    let fresh = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since);
    if !fresh {
        return None;
    }
    let v: Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    v["median"]["point_estimate"].as_f64()
}

fn rate(n: usize, ns: Option<f64>) -> Option<f64> {
    ns.map(|ns| n as f64 / (ns * 1e-9))
}

fn human(rate: Option<f64>) -> String {
    match rate {
        None => "–".into(),
        Some(r) if r >= 1e9 => format!("{:.2} G/s", r / 1e9),
        Some(r) if r >= 1e6 => format!("{:.2} M/s", r / 1e6),
        Some(r) if r >= 1e3 => format!("{:.2} k/s", r / 1e3),
        Some(r) => format!("{r:.0} /s"),
    }
}

fn ratio(ours: Option<f64>, theirs: Option<f64>) -> Option<f64> {
    Some(ours? / theirs?)
}

fn human_ratio(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{r:.2}×"))
}

struct Table {
    op: &'static str,
    functions: &'static [(&'static str, &'static str)],
}

const TABLES: [Table; 2] = [
    Table {
        op: "decode",
        functions: &[
            ("ours", "ours Message::decode"),
            ("bgpkit", "bgpkit-parser"),
            ("zettabgp", "zettabgp"),
        ],
    },
    Table {
        op: "encode",
        functions: &[
            ("ours", "ours Message::encode"),
            ("packer", "ours UpdatePacker::announce"),
            ("bgpkit", "bgpkit-parser"),
            ("zettabgp", "zettabgp"),
        ],
    },
];

fn summarize(dir: &Path, since: SystemTime, notes: &[String]) {
    let mut md = String::new();
    let mut rows = Vec::new();
    for table in &TABLES {
        let _ = writeln!(md, "\n### {} (median, prefixes/s)\n", table.op);
        let mut header = "| family | prefixes |".to_string();
        for (_, label) in table.functions {
            let _ = write!(header, " {label} |");
        }
        header.push_str(" ours/bgpkit | ours/zettabgp |");
        let _ = writeln!(md, "{header}");
        let _ = writeln!(md, "|{}", "---|".repeat(table.functions.len() + 4));
        for fam in Fam::ALL {
            let group = format!("{}/{}", table.op, fam.name());
            for n in SIZES {
                let mut medians = serde_json::Map::new();
                let mut rates = serde_json::Map::new();
                let mut line = format!("| {} | {n} |", fam.name());
                let mut get = |f: &str| {
                    let ns = median_ns(dir, &group, f, n, since);
                    medians.insert(f.into(), json!(ns));
                    rates.insert(f.into(), json!(rate(n, ns)));
                    rate(n, ns)
                };
                let measured: Vec<Option<f64>> =
                    table.functions.iter().map(|(f, _)| get(f)).collect();
                for r in &measured {
                    let _ = write!(line, " {} |", human(*r));
                }
                let (ours, kit, zetta) = (
                    measured[0],
                    measured[measured.len() - 2],
                    measured[measured.len() - 1],
                );
                let (vs_kit, vs_zetta) = (ratio(ours, kit), ratio(ours, zetta));
                let _ = write!(
                    line,
                    " {} | {} |",
                    human_ratio(vs_kit),
                    human_ratio(vs_zetta)
                );
                let _ = writeln!(md, "{line}");
                rows.push(json!({
                    "op": table.op,
                    "family": fam.name(),
                    "prefixes": n,
                    "median_ns": medians,
                    "prefixes_per_sec": rates,
                    "ours_over_bgpkit": vs_kit,
                    "ours_over_zettabgp": vs_zetta,
                }));
            }
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(md, "\nEncoder output compared with ours:");
        for note in notes {
            let _ = writeln!(md, "- {note}");
        }
    }
    println!("{md}");
    let summary = json!({
        "statistic": "median",
        "ratio": "our throughput / theirs (ours = Message::decode or Message::encode)",
        "rows": rows,
        "encoder_notes": notes,
    });
    let path = dir.join("update_codec_summary.json");
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&summary).expect("serializable"),
        )
    });
    match written {
        Ok(()) => println!("summary written to {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}

fn main() {
    let since = SystemTime::now();
    let dir = criterion_dir();
    let mut c = Criterion::default()
        .without_plots()
        .output_directory(&dir)
        .sample_size(30)
        .warm_up_time(Duration::from_millis(700))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();

    let cases: Vec<Case> = Fam::ALL
        .into_iter()
        .flat_map(|fam| SIZES.map(|n| build_case(fam, n)))
        .collect();
    let notes = encoder_notes(&cases);

    decode_benches(&mut c, &cases);
    encode_benches(&mut c, &cases);
    c.final_summary();

    // Same rule as criterion's: `--bench` without `--test` (or `--list`)
    // measures; anything else (`cargo test --benches`) runs each once.
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| args.iter().any(|a| a == flag);
    let profiling = args.iter().any(|a| a.starts_with("--profile-time"));
    if has("--bench") && !has("--test") && !has("--list") && !profiling {
        summarize(&dir, since, &notes);
    }
}
