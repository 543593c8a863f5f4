//! `podroute show neighbor ADDR`: one neighbor as a block, like
//! `vtysh show bgp neighbors`.

use std::io::Write;

use super::table::{Align, Table};
use super::{duration, field, list, or_dash};
use crate::cli::output::outln;
use crate::control::protocol::NeighborDetail;

const INDENT: &str = "  ";

pub(super) fn print(out: &mut impl Write, d: &NeighborDetail) -> anyhow::Result<()> {
    let s = &d.summary;
    outln!(
        out,
        "Neighbor {}, AS {}, {}{}",
        s.address,
        or_dash(s.asn),
        s.kind,
        if d.route_reflector_client {
            ", route reflector client"
        } else {
            ""
        }
    )?;
    if let Some(desc) = &s.description {
        field(out, INDENT, "Description", desc)?;
    }
    let state = match s.uptime_secs {
        Some(t) if s.state.eq_ignore_ascii_case("established") => {
            format!("{}, up for {}", s.state, duration(t))
        }
        Some(t) => format!("{}, for {}", s.state, duration(t)),
        None => s.state.clone(),
    };
    field(out, INDENT, "State", state)?;
    if let Some(id) = &d.router_id {
        field(out, INDENT, "Router ID", id)?;
    }
    if let Some(h) = &d.hostname {
        field(out, INDENT, "Hostname", h)?;
    }
    if let Some(l) = &d.local_address {
        field(out, INDENT, "Local address", l)?;
    }
    let timers = match (d.hold_time, d.keepalive_secs) {
        (Some(h), k) => format!(
            "hold time {h} s (configured {} s){}",
            d.configured_hold_time,
            k.map(|k| format!(", keepalive every {k} s"))
                .unwrap_or_default()
        ),
        (None, _) => format!("hold time configured {} s", d.configured_hold_time),
    };
    field(out, INDENT, "Timers", timers)?;
    if d.graceful_restart_stale {
        field(
            out,
            INDENT,
            "Graceful restart",
            "routes from this neighbor are stale, kept until it comes back (RFC 4724)",
        )?;
    }
    if let Some(e) = &s.last_error {
        field(out, INDENT, "Last error", e)?;
    }
    if let Some(down) = &d.last_down {
        field(out, INDENT, "Last down", down)?;
    }
    if let Some(note) = &s.policy_note {
        field(out, INDENT, "Note", note)?;
    }
    for (label, policy) in [
        ("Import policy", &d.import_policy),
        ("Export policy", &d.export_policy),
    ] {
        match policy {
            None => field(out, INDENT, label, "none configured")?,
            Some(p) if p.is_empty() => field(out, INDENT, label, "(empty)")?,
            Some(p) => list(out, INDENT, label, p)?,
        }
    }
    field(
        out,
        INDENT,
        "Updates",
        format!(
            "{} received, {} sent, {} rejected by checks",
            d.updates_received, d.updates_sent, d.rejected_by_checks
        ),
    )?;

    lines(out, "Capabilities received", &d.capabilities)?;
    lines(out, "Negotiated", &d.negotiated)?;

    outln!(out)?;
    let mut t = Table::new();
    for (h, a) in [
        ("Family", Align::Left),
        ("Received", Align::Right),
        ("Accepted", Align::Right),
        ("Advertised", Align::Right),
    ] {
        t.column(h, a);
    }
    for f in &s.families {
        t.row(vec![
            f.family.clone(),
            or_dash(f.received),
            f.accepted.to_string(),
            f.advertised.to_string(),
        ]);
    }
    t.print(out, INDENT)
}

/// A heading and one indented line per item; nothing when empty.
fn lines(out: &mut impl Write, heading: &str, items: &[String]) -> anyhow::Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    outln!(out)?;
    outln!(out, "{INDENT}{heading}:")?;
    for i in items {
        outln!(out, "{INDENT}{INDENT}{i}")?;
    }
    Ok(())
}
