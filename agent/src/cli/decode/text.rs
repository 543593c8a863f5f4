//! The human printer: one block per message, labels aligned like
//! `vtysh show bgp` output, long prefix lists wrapped.

use std::fmt::Display;
use std::io::Write;

use bgp::wire::{
    Action, AttrFlags, AttrValue, Attribute, DecodeError, Message, MpReach, MpUnreach, Nlri,
    Notification, Open, RouteRefresh, SessionContext, StreamItem, Update,
};

use super::{As4Source, Report, outln};

const INDENT: &str = "    ";
const LABEL: usize = 24;
const WIDTH: usize = 100;

pub(super) fn print(out: &mut impl Write, report: &Report<'_>) -> anyhow::Result<()> {
    outln!(
        out,
        "session context: {}",
        describe_context(&report.ctx, report.as4)
    )?;
    for e in &report.entries {
        outln!(out)?;
        match &e.item {
            StreamItem::Message { raw, result } => {
                let kind = raw
                    .get(18)
                    .map_or("?".into(), |t| bgp::wire::MessageType::from(*t).to_string());
                let head = format!(
                    "#{} {kind}, {} octets at offset {}",
                    e.index,
                    raw.len(),
                    e.offset
                );
                match result {
                    Ok(m) => message(out, &head, m)?,
                    Err(err) => malformed(out, &head, err, raw)?,
                }
            }
            StreamItem::Truncated { raw, needed } => {
                outln!(
                    out,
                    "#{} incomplete message at offset {}: {} octets present, {needed} more needed",
                    e.index,
                    e.offset,
                    raw.len()
                )?;
                octets(out, raw)?;
            }
            StreamItem::BadHeader { raw, error } => {
                outln!(
                    out,
                    "#{} not a BGP message at offset {}: {error}",
                    e.index,
                    e.offset
                )?;
                field(out, "NOTIFICATION", error.notification())?;
                field(
                    out,
                    "rest of input",
                    format!(
                        "{} octets skipped: nothing after a bad header can be trusted",
                        raw.len()
                    ),
                )?;
            }
        }
    }
    if !report.hints.is_empty() {
        outln!(out)?;
        for h in &report.hints {
            outln!(out, "hint: {h}")?;
        }
    }
    Ok(())
}

fn describe_context(ctx: &SessionContext, as4: As4Source) -> String {
    let mut parts = vec![match (ctx.four_octet_as, as4) {
        (true, As4Source::Flag) => "4-octet AS numbers (--as4)".to_string(),
        (false, As4Source::Flag) => "2-octet AS numbers (--no-as4)".to_string(),
        (true, As4Source::Open) => {
            "4-octet AS numbers (the OPEN in the input announces them)".to_string()
        }
        (false, As4Source::Open) => {
            "2-octet AS numbers (the OPEN in the input does not announce 4-octet AS)".to_string()
        }
        (_, As4Source::Default) => {
            "4-octet AS numbers (assumed: no OPEN in the input; --no-as4 for an old speaker)"
                .to_string()
        }
    }];
    let list = |set: bgp::types::FamilySet| {
        set.iter()
            .map(|f| f.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    if !ctx.add_path_receive.is_empty() {
        parts.push(format!("ADD-PATH {}", list(ctx.add_path_receive)));
    }
    if !ctx.extended_next_hop_receive.is_empty() {
        parts.push(format!(
            "extended next hop {}",
            list(ctx.extended_next_hop_receive)
        ));
    }
    if ctx.extended_message {
        parts.push("extended messages".into());
    }
    parts.join(", ")
}

fn message(out: &mut impl Write, head: &str, m: &Message) -> anyhow::Result<()> {
    match m {
        Message::Open(o) => {
            outln!(out, "{head}")?;
            open(out, o)
        }
        Message::Update(u) => match u.end_of_rib() {
            Some(family) => outln!(out, "{head}: End-of-RIB {family}"),
            None => {
                outln!(out, "{head}")?;
                update(out, u)
            }
        },
        Message::Notification(n) => {
            outln!(out, "{head}")?;
            notification(out, n)
        }
        Message::Keepalive => outln!(out, "{head}"),
        Message::RouteRefresh(r) => {
            outln!(out, "{head}")?;
            route_refresh(out, r)
        }
    }
}

fn open(out: &mut impl Write, o: &Open) -> anyhow::Result<()> {
    let asn = o.asn();
    if u32::from(o.my_as) == asn.get() {
        field(out, "AS", asn)?;
    } else {
        field(out, "AS", format!("{asn} (My AS field {})", o.my_as))?;
    }
    field(out, "hold time", o.hold_time)?;
    field(out, "router ID", o.router_id)?;
    let caps: Vec<_> = o.capabilities().collect();
    let grouping = match (o.parameters.len(), o.extended_parameters) {
        (_, true) => ", RFC 9072 extended parameters",
        (0 | 1, false) => "",
        (_, false) => ", one parameter each",
    };
    if caps.is_empty() {
        field(out, "capabilities", "none")?;
    } else {
        field(out, "capabilities", format!("{}{grouping}", caps.len()))?;
        for c in caps {
            outln!(out, "{INDENT}  {c}")?;
        }
    }
    Ok(())
}

fn update(out: &mut impl Write, u: &Update) -> anyhow::Result<()> {
    if !u.withdrawn.is_empty() {
        list(
            out,
            &format!("withdrawn ({})", u.withdrawn.len()),
            u.withdrawn.iter().map(nlri),
        )?;
    }
    for a in &u.attributes {
        attribute(out, a)?;
    }
    let (effective, aggregator) = u.attributes.effective_as_path();
    if u.attributes.as4_path().is_some() {
        if let Some(p) = effective {
            field(out, "AS path (RFC 6793)", p)?;
        }
        if let (Some(a), Some(_)) = (aggregator, u.attributes.as4_aggregator()) {
            field(out, "aggregator (RFC 6793)", a)?;
        }
    }
    if !u.nlri.is_empty() {
        list(
            out,
            &format!("NLRI ({})", u.nlri.len()),
            u.nlri.iter().map(nlri),
        )?;
    }
    for d in &u.discarded {
        field(
            out,
            "discarded",
            format!("{}: {} (RFC 7606 attribute discard)", d.part, d.fault),
        )?;
    }
    Ok(())
}

fn attribute(out: &mut impl Write, a: &Attribute) -> anyhow::Result<()> {
    let name = a.value.attr_type().to_string();
    let name = match a.value.attr_type().name() {
        Some(_) => name,
        None => format!("type {}", a.value.type_code()),
    };
    // Flags are only worth showing when they are not the usual ones.
    let usual = a.value.canonical_flags().0 & !AttrFlags::EXTENDED_LENGTH;
    let label = if a.flags.0 & !AttrFlags::EXTENDED_LENGTH == usual
        && !matches!(a.value, AttrValue::Other { .. })
    {
        name
    } else {
        format!("{name} [{}]", a.flags)
    };
    let join = |items: Vec<String>| items.join(" ");
    match &a.value {
        AttrValue::Origin(o) => field(out, &label, o),
        AttrValue::AsPath(p) | AttrValue::As4Path(p) if p.is_empty() => {
            field(out, &label, "(empty)")
        }
        AttrValue::AsPath(p) | AttrValue::As4Path(p) => field(out, &label, p),
        AttrValue::NextHop(n) => field(out, &label, n),
        AttrValue::MultiExitDisc(v) | AttrValue::LocalPref(v) => field(out, &label, v),
        AttrValue::AtomicAggregate => field(out, &label, "yes"),
        AttrValue::Aggregator(g) | AttrValue::As4Aggregator(g) => field(out, &label, g),
        AttrValue::Communities(c) => list(out, &label, c.iter().map(|x| x.to_string())),
        AttrValue::OriginatorId(o) => field(out, &label, o),
        AttrValue::ClusterList(c) => {
            field(out, &label, join(c.iter().map(|x| x.to_string()).collect()))
        }
        AttrValue::ExtendedCommunities(c) => list(out, &label, c.iter().map(|x| x.to_string())),
        AttrValue::LargeCommunities(c) => list(out, &label, c.iter().map(|x| x.to_string())),
        AttrValue::Otc(asn) => field(out, &label, asn),
        AttrValue::MpReachNlri(m) => mp_reach(out, &label, m),
        AttrValue::MpUnreachNlri(m) => mp_unreach(out, &label, m),
        AttrValue::Other { data, .. } => field(
            out,
            &label,
            format!("{} octets: {}", data.len(), hex::encode(data)),
        ),
    }
}

fn mp_reach(out: &mut impl Write, label: &str, m: &MpReach) -> anyhow::Result<()> {
    match m {
        MpReach::Ipv4 {
            next_hop, nlri: n, ..
        } => {
            field(out, label, format!("{}, next hop {next_hop}", m.family()))?;
            list(out, &format!("  NLRI ({})", n.len()), n.iter().map(nlri))
        }
        MpReach::Ipv6 {
            next_hop, nlri: n, ..
        } => {
            field(out, label, format!("{}, next hop {next_hop}", m.family()))?;
            list(out, &format!("  NLRI ({})", n.len()), n.iter().map(nlri))
        }
        MpReach::Other {
            family,
            next_hop,
            nlri: n,
        } => {
            field(
                out,
                label,
                format!("{family} (not decoded), next hop {}", hex::encode(next_hop)),
            )?;
            field(out, "  NLRI octets", hex::encode(n))
        }
    }
}

fn mp_unreach(out: &mut impl Write, label: &str, m: &MpUnreach) -> anyhow::Result<()> {
    match m {
        MpUnreach::Ipv4 { withdrawn, .. } => {
            field(out, label, m.family())?;
            list(
                out,
                &format!("  withdrawn ({})", withdrawn.len()),
                withdrawn.iter().map(nlri),
            )
        }
        MpUnreach::Ipv6 { withdrawn, .. } => {
            field(out, label, m.family())?;
            list(
                out,
                &format!("  withdrawn ({})", withdrawn.len()),
                withdrawn.iter().map(nlri),
            )
        }
        MpUnreach::Other { family, withdrawn } => {
            field(out, label, format!("{family} (not decoded)"))?;
            field(out, "  withdrawn octets", hex::encode(withdrawn))
        }
    }
}

fn nlri<P: Display>(n: &Nlri<P>) -> String {
    match n.path_id {
        Some(id) => format!("{} (path {id})", n.prefix),
        None => n.prefix.to_string(),
    }
}

fn notification(out: &mut impl Write, n: &Notification) -> anyhow::Result<()> {
    outln!(out, "{INDENT}{n}")
}

fn route_refresh(out: &mut impl Write, r: &RouteRefresh) -> anyhow::Result<()> {
    let what = match r.subtype {
        bgp::wire::RefreshSubtype::Request => "request",
        bgp::wire::RefreshSubtype::BeginningOfRouteRefresh => "BoRR (beginning of route refresh)",
        bgp::wire::RefreshSubtype::EndOfRouteRefresh => "EoRR (end of route refresh)",
        bgp::wire::RefreshSubtype::Unknown(_) => "unknown subtype (ignored, RFC 7313 §5)",
    };
    field(out, r.family.to_string().as_str(), what)?;
    if !r.orf.is_empty() {
        field(out, "ORF entries", hex::encode(&r.orf))?;
    }
    Ok(())
}

fn malformed(
    out: &mut impl Write,
    head: &str,
    err: &DecodeError,
    raw: &[u8],
) -> anyhow::Result<()> {
    outln!(out, "{head}: MALFORMED")?;
    match err {
        DecodeError::Update(u) => {
            for f in &u.faults {
                outln!(out, "{INDENT}{}: {} ({})", f.part, f.fault, f.action)?;
            }
        }
        other => outln!(out, "{INDENT}{other}")?,
    }
    let n = err.notification();
    let (action, note) = match err.action() {
        Action::SessionReset => (
            "session reset".to_string(),
            "podroute would send this NOTIFICATION and close the session",
        ),
        Action::TreatAsWithdraw => {
            let count = match err {
                DecodeError::Update(u) => u.update.as_ref().map_or(0, |u| {
                    u.nlri.len()
                        + u.attributes
                            .mp_reach()
                            .and_then(|m| m.nlri_count())
                            .unwrap_or(0)
                }),
                _ => 0,
            };
            let what = if count == 1 {
                "1 announced prefix becomes a withdrawal".to_string()
            } else {
                format!("{count} announced prefixes become withdrawals")
            };
            (
                format!("treat-as-withdraw (RFC 7606): {what}"),
                "the session stays up; this is what RFC 4271 alone would have sent",
            )
        }
        Action::AfiSafiDisable(f) => (
            format!("AFI/SAFI disable (RFC 7606): {f} routes from this peer are dropped"),
            "sent if the session is reset instead",
        ),
        Action::AttributeDiscard => ("attribute discard (RFC 7606)".to_string(), ""),
    };
    field(out, "action", action)?;
    field(out, "NOTIFICATION", &n)?;
    if !note.is_empty() {
        outln!(out, "{INDENT}{:LABEL$}({note})", "")?;
    }
    octets(out, raw)
}

fn octets(out: &mut impl Write, raw: &[u8]) -> anyhow::Result<()> {
    let hex = hex::encode(raw);
    let chunks: Vec<String> = hex
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect();
    list(out, "octets", chunks.into_iter())
}

fn field(out: &mut impl Write, label: &str, value: impl Display) -> anyhow::Result<()> {
    outln!(out, "{INDENT}{label:LABEL$}{value}")
}

/// Items after a label, as many per line as fit.
fn list(
    out: &mut impl Write,
    label: &str,
    items: impl Iterator<Item = String>,
) -> anyhow::Result<()> {
    let mut line = String::new();
    let mut first = true;
    let room = WIDTH - INDENT.len() - LABEL;
    for item in items {
        if !line.is_empty() && line.len() + 1 + item.len() > room {
            let l = if first { label } else { "" };
            outln!(out, "{INDENT}{l:LABEL$}{line}")?;
            first = false;
            line.clear();
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&item);
    }
    let l = if first { label } else { "" };
    outln!(out, "{INDENT}{l:LABEL$}{line}")
}
