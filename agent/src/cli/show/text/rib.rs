//! `podroute show rib in|out ADDR`: a neighbor's Adj-RIB-In (before import
//! policy) or Adj-RIB-Out (after export policy); communities wrap under
//! their column.

use std::io::Write;
use std::net::IpAddr;

use super::table::{Align, Table};
use super::{WIDTH, or_dash, path_column};
use crate::cli::output::outln;
use crate::control::protocol::{RibDirection, RibEntry};

pub(super) fn print(
    out: &mut impl Write,
    direction: RibDirection,
    address: IpAddr,
    entries: &[RibEntry],
) -> anyhow::Result<()> {
    let what = match direction {
        RibDirection::In => {
            format!("received from {address}, before import policy (Adj-RIB-In)")
        }
        RibDirection::Out => {
            format!("advertised to {address}, after export policy (Adj-RIB-Out)")
        }
    };
    if entries.is_empty() {
        return outln!(out, "No routes {what}");
    }
    let with_id = entries.iter().any(|e| e.path_id.is_some());
    let with_comms = entries
        .iter()
        .any(|e| !e.communities.is_empty() || !e.large_communities.is_empty());

    let mut t = Table::new();
    t.column("Prefix", Align::Left);
    if with_id {
        t.column("ID", Align::Right);
    }
    t.column("Next hop", Align::Left);
    t.column("MED", Align::Right);
    t.column("LocPrf", Align::Right);
    t.column("Path", Align::Left);
    if with_comms {
        t.column("Communities", Align::Left);
        t.wrap_last(WIDTH);
    }
    for e in entries {
        let mut cells = vec![e.prefix.clone()];
        if with_id {
            cells.push(or_dash(e.path_id));
        }
        cells.extend([
            e.next_hop.clone(),
            or_dash(e.med),
            or_dash(e.local_pref),
            path_column(&e.as_path, &e.origin),
        ]);
        if with_comms {
            let all: Vec<&str> = e
                .communities
                .iter()
                .chain(&e.large_communities)
                .map(String::as_str)
                .collect();
            cells.push(all.join(" "));
        }
        t.row(cells);
    }
    let n = entries.len();
    outln!(out, "{n} route{} {what}", if n == 1 { "" } else { "s" })?;
    outln!(out)?;
    t.print(out, "")
}
