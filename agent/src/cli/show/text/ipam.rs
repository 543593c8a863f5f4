//! `podroute show ipam` and `podroute ipam list`: where this node's pod
//! CIDRs come from, how full each pool is, and which node holds which block.

use std::io::Write;

use super::table::{Align, Table};
use crate::cli::output::outln;
use crate::control::protocol::IpamView;

pub(crate) fn print(out: &mut impl Write, v: &IpamView) -> anyhow::Result<()> {
    let mode = match v.mode.as_str() {
        "ipam" => "ipam (blocks claimed as PodCIDRBlock objects)",
        "node-spec" => "node-spec (the Node's spec.podCIDRs)",
        "static" => "static (the configuration file's pod_cidrs)",
        "file" => "file (no kubernetes section: the configuration file's pod_cidrs)",
        other => other,
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
    if v.mode == "ipam" {
        outln!(out)?;
        if v.blocks.is_empty() {
            return outln!(out, "No blocks allocated");
        }
        let mut t = Table::new();
        t.column("Block", Align::Left);
        t.column("Node", Align::Left);
        t.column("Pool", Align::Left);
        t.column("Claimed", Align::Left);
        for b in &v.blocks {
            let mine = v.node.as_deref() == Some(b.node.as_str());
            t.row(vec![
                if mine {
                    format!("{} *", b.cidr)
                } else {
                    b.cidr.clone()
                },
                b.node.clone(),
                b.pool.clone(),
                b.created.clone().unwrap_or_else(|| "-".into()),
            ]);
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
}
