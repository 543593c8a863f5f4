//! `podroute show neighbors`: one row per neighbor and family, like
//! `vtysh show bgp summary`, with the last error and any RFC 8212 note
//! under the neighbor.

use std::io::Write;

use super::table::{Align, Table};
use super::{duration, or_dash};
use crate::cli::output::outln;
use crate::control::protocol::NeighborSummary;

pub(super) fn print(out: &mut impl Write, neighbors: &[NeighborSummary]) -> anyhow::Result<()> {
    if neighbors.is_empty() {
        return outln!(out, "No neighbors configured");
    }
    let described = neighbors.iter().any(|n| n.description.is_some());
    let mut t = Table::new();
    for (h, a) in [
        ("Neighbor", Align::Left),
        ("AS", Align::Right),
        ("Kind", Align::Left),
        ("State", Align::Left),
        ("Up/Down", Align::Right),
        ("Family", Align::Left),
        ("Received", Align::Right),
        ("Accepted", Align::Right),
        ("Advertised", Align::Right),
    ] {
        t.column(h, a);
    }
    if described {
        t.column("Description", Align::Left);
    }
    for n in neighbors {
        let mut first = vec![
            n.address.to_string(),
            or_dash(n.asn),
            n.kind.clone(),
            n.state.clone(),
            n.uptime_secs.map_or_else(|| "never".to_string(), duration),
        ];
        let blank = vec![String::new(); first.len()];
        let description = n.description.clone().unwrap_or_default();
        if n.families.is_empty() {
            first.extend(["-", "-", "-", "-"].map(String::from));
            if described {
                first.push(description.clone());
            }
            t.row(first.clone());
        }
        for (i, f) in n.families.iter().enumerate() {
            let mut cells = if i == 0 { first.clone() } else { blank.clone() };
            cells.extend([
                f.family.clone(),
                or_dash(f.received),
                f.accepted.to_string(),
                f.advertised.to_string(),
            ]);
            if described {
                cells.push(if i == 0 {
                    description.clone()
                } else {
                    String::new()
                });
            }
            t.row(cells);
        }
        if let Some(e) = &n.last_error {
            t.note(format!("  last error: {e}"));
        }
        if let Some(p) = &n.policy_note {
            t.note(format!("  note: {p}"));
        }
    }
    t.print(out, "")?;
    let established = neighbors
        .iter()
        .filter(|n| n.state.eq_ignore_ascii_case("established"))
        .count();
    outln!(out)?;
    outln!(
        out,
        "{} neighbor{}, {established} established",
        neighbors.len(),
        if neighbors.len() == 1 { "" } else { "s" }
    )
}
