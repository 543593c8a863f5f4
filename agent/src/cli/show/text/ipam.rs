//! `podroute show ipam` and `podroute ipam list`: where this node's pod
//! CIDRs come from, how full each pool is, and which node holds which block.

use std::io::Write;

use super::table::{Align, Table};
use crate::cli::output::outln;
use crate::control::protocol::IpamView;

pub(crate) fn print(out: &mut impl Write, v: &IpamView) -> anyhow::Result<()> {
    let mode = match (v.mode.as_str(), &v.store) {
        ("ipam", _) => "ipam (blocks claimed as PodCIDRBlock objects)".to_string(),
        ("node-spec", _) => "node-spec (the Node's spec.podCIDRs)".to_string(),
        ("static", _) => "static (the configuration file's pod_cidrs)".to_string(),
        ("file", Some(path)) => format!("file (blocks allocated from the pools in {path})"),
        ("file", None) => "file (blocks allocated from the pools in a state file)".to_string(),
        (other, _) => other.to_string(),
    };
    outln!(out, "Pod CIDR mode: {mode}")?;
    if let Some(node) = &v.node {
        let cidrs = if v.node_cidrs.is_empty() {
            "none".to_string()
        } else {
            v.node_cidrs.join(", ")
        };
        outln!(out, "Node {node}: {cidrs}")?;
    }
    if !v.pools.is_empty() {
        outln!(out)?;
        let mut t = Table::new();
        t.column("Pool", Align::Left);
        t.column("Block", Align::Right);
        t.column("Allocated", Align::Right);
        t.column("Reserved", Align::Right);
        t.column("Free", Align::Right);
        t.column("Total", Align::Right);
        t.column("Used", Align::Right);
        for p in &v.pools {
            let free = p.total.saturating_sub(p.allocated + p.reserved);
            let usable = p.total.saturating_sub(p.reserved);
            let used = if usable == 0 {
                "-".to_string()
            } else {
                format!("{:.1}%", p.allocated as f64 * 100.0 / usable as f64)
            };
            t.row(vec![
                p.pool.clone(),
                format!("/{}", p.block_len),
                p.allocated.to_string(),
                p.reserved.to_string(),
                free.to_string(),
                p.total.to_string(),
                used,
            ]);
        }
        t.print(out, "")?;
    }
    if v.mode == "ipam" || v.mode == "file" {
        outln!(out)?;
        if v.blocks.is_empty() {
            return outln!(out, "No blocks allocated");
        }
        // The state file keeps no times: no column of dashes for it.
        let dated = v.blocks.iter().any(|b| b.created.is_some());
        let mut t = Table::new();
        t.column("Block", Align::Left);
        t.column("Node", Align::Left);
        t.column("Pool", Align::Left);
        if dated {
            t.column("Claimed", Align::Left);
        }
        for b in &v.blocks {
            let mine = v.node.as_deref() == Some(b.node.as_str());
            let mut row = vec![
                if mine {
                    format!("{} *", b.cidr)
                } else {
                    b.cidr.clone()
                },
                b.node.clone(),
                b.pool.clone(),
            ];
            if dated {
                row.push(b.created.clone().unwrap_or_else(|| "-".into()));
            }
            t.row(row);
        }
        t.print(out, "")?;
        if v.node.is_some() {
            outln!(out, "(* this node)")?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::protocol::{BlockEntry, PoolUsage};

    #[test]
    fn pools_and_blocks_are_aligned_tables() {
        let v = IpamView {
            mode: "ipam".into(),
            node: Some("node-1".into()),
            node_cidrs: vec!["10.244.7.0/24".into()],
            pools: vec![PoolUsage {
                pool: "10.244.0.0/16".into(),
                block_len: 24,
                allocated: 2,
                reserved: 1,
                total: 256,
            }],
            blocks: vec![
                BlockEntry {
                    cidr: "10.244.7.0/24".into(),
                    node: "node-1".into(),
                    pool: "10.244.0.0/16".into(),
                    created: Some("2026-12-02T10:00:00Z".into()),
                },
                BlockEntry {
                    cidr: "10.244.19.0/24".into(),
                    node: "node-22".into(),
                    pool: "10.244.0.0/16".into(),
                    created: None,
                },
            ],
            store: None,
        };
        let mut out = Vec::new();
        print(&mut out, &v).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "\
Pod CIDR mode: ipam (blocks claimed as PodCIDRBlock objects)
Node node-1: 10.244.7.0/24

Pool           Block  Allocated  Reserved  Free  Total  Used
10.244.0.0/16    /24          2         1   253    256  0.8%

Block            Node     Pool           Claimed
10.244.7.0/24 *  node-1   10.244.0.0/16  2026-12-02T10:00:00Z
10.244.19.0/24   node-22  10.244.0.0/16  -
(* this node)
"
        );
    }

    #[test]
    fn file_mode_names_the_state_file_and_shows_no_claim_times() {
        let v = IpamView {
            mode: "file".into(),
            node: Some("lab-1".into()),
            node_cidrs: vec!["10.244.3.0/24".into()],
            pools: vec![PoolUsage {
                pool: "10.244.0.0/16".into(),
                block_len: 24,
                allocated: 2,
                reserved: 0,
                total: 256,
            }],
            blocks: vec![
                BlockEntry {
                    cidr: "10.244.3.0/24".into(),
                    node: "lab-1".into(),
                    pool: "10.244.0.0/16".into(),
                    created: None,
                },
                BlockEntry {
                    cidr: "10.244.9.0/24".into(),
                    node: "lab-2".into(),
                    pool: "10.244.0.0/16".into(),
                    created: None,
                },
            ],
            store: Some("/srv/lab/ipam.json".into()),
        };
        let mut out = Vec::new();
        print(&mut out, &v).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\
Pod CIDR mode: file (blocks allocated from the pools in /srv/lab/ipam.json)
Node lab-1: 10.244.3.0/24

Pool           Block  Allocated  Reserved  Free  Total  Used
10.244.0.0/16    /24          2         0   254    256  0.8%

Block            Node   Pool
10.244.3.0/24 *  lab-1  10.244.0.0/16
10.244.9.0/24    lab-2  10.244.0.0/16
(* this node)
"
        );
    }
}
