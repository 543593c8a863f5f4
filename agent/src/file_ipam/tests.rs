use std::path::{Path, PathBuf};

use ::ipam::{Pool, Version};

use super::*;
use crate::config::{Host, parse_with_allocated};
use crate::test_dir::TempDir;

impl TempDir {
    /// The IPAM state file of a test.
    fn file(&self) -> PathBuf {
        self.0.join("ipam.json")
    }
}

fn cidr(text: &str) -> Cidr {
    text.parse().unwrap()
}

fn node(name: &str) -> NodeName {
    NodeName::new(name).unwrap()
}

fn settings(file: &Path, pools: &[(&str, u8)]) -> IpamSettings {
    let pools = pools
        .iter()
        .map(|(c, len)| Pool::new(cidr(c), *len, vec![]).unwrap())
        .collect();
    IpamSettings {
        file: file.to_path_buf(),
        pools: Pools::new(pools).unwrap(),
    }
}

fn dual_stack(file: &Path) -> IpamSettings {
    settings(file, &[("10.244.0.0/16", 24), ("fd00:10:244::/48", 64)])
}

/// Writes the state file as another host (or a person) would.
fn write_state(file: &Path, state: &State) {
    let store = FileStore::new(file);
    let (_, version) = store.load().unwrap();
    store.compare_and_swap(version, state).unwrap();
}

#[test]
fn two_nodes_get_distinct_blocks_and_a_restart_gets_its_own_back() {
    let dir = TempDir::new("two");
    let ipam = dual_stack(&dir.file());
    let a = start(&ipam, Some("node-a")).unwrap();
    let b = start(&ipam, Some("node-b")).unwrap();
    assert_eq!(a.blocks.len(), 2, "one block per pool: {:?}", a.blocks);
    assert_eq!(b.blocks.len(), 2);
    assert!(ipam.pools[0].is_allocatable(&a.blocks[0]));
    assert!(ipam.pools[1].is_allocatable(&a.blocks[1]));
    for block in &a.blocks {
        assert!(!b.blocks.contains(block), "{block} given to both nodes");
    }
    let (_, version) = FileStore::new(dir.file()).load().unwrap();

    // A restart: a new allocator on the same file, the same name.
    let again = start(&ipam, Some("node-a")).unwrap();
    assert_eq!(again.blocks, a.blocks);
    assert_eq!(
        FileStore::new(dir.file()).load().unwrap().1,
        version,
        "a node that holds its blocks writes nothing"
    );
    assert_eq!(version, Version::INITIAL.next().next());
}

#[test]
fn exhaustion_stops_the_start_naming_the_pool_and_how_full() {
    let dir = TempDir::new("full");
    let ipam = settings(&dir.file(), &[("10.244.0.0/23", 24)]);
    start(&ipam, Some("a")).unwrap();
    start(&ipam, Some("b")).unwrap();
    let err = format!("{:#}", start(&ipam, Some("c")).unwrap_err());
    assert_eq!(
        err,
        format!(
            "cannot get pod CIDR blocks for node c from {}: pool 10.244.0.0/23 (/24 blocks) is exhausted: 2 of 2 blocks are allocated (0 reserved)",
            dir.file().display()
        )
    );
}

#[test]
fn a_start_without_a_node_name_or_with_a_damaged_file_is_refused() {
    let dir = TempDir::new("refused");
    let ipam = dual_stack(&dir.file());
    let err = format!("{:#}", start(&ipam, None).unwrap_err());
    assert!(err.contains("set `node` or --node-name"), "{err}");
    std::fs::write(dir.file(), "{\"version\": 1, \"blocks\": ").unwrap();
    let err = format!("{:#}", start(&ipam, Some("a")).unwrap_err());
    assert!(
        err.contains("is not a valid IPAM state file"),
        "the store's own words: {err}"
    );
}

#[test]
fn the_view_has_every_block_the_pools_usage_and_the_file() {
    let dir = TempDir::new("view");
    let ipam = dual_stack(&dir.file());
    let a = start(&ipam, Some("node-a")).unwrap();
    let b = start(&ipam, Some("node-b")).unwrap();
    let view = read_view(&ipam, Some(&node("node-a"))).unwrap();
    assert_eq!(view.mode, "file");
    assert_eq!(view.store, Some(dir.file().display().to_string()));
    assert_eq!(view.node.as_deref(), Some("node-a"));
    let own: Vec<String> = a.blocks.iter().map(ToString::to_string).collect();
    assert_eq!(view.node_cidrs, own);
    let pools: Vec<(String, u8, u64, u64)> = view
        .pools
        .iter()
        .map(|p| (p.pool.clone(), p.block_len, p.allocated, p.total))
        .collect();
    assert_eq!(
        pools,
        [
            ("10.244.0.0/16".to_string(), 24, 2, 256),
            ("fd00:10:244::/48".to_string(), 64, 2, 65536),
        ]
    );
    let mut expected: Vec<(Cidr, &str, &str)> = a
        .blocks
        .iter()
        .map(|c| (*c, "node-a"))
        .chain(b.blocks.iter().map(|c| (*c, "node-b")))
        .map(|(c, n)| {
            let pool = if c.family() == ::ipam::Family::V4 {
                "10.244.0.0/16"
            } else {
                "fd00:10:244::/48"
            };
            (c, n, pool)
        })
        .collect();
    expected.sort();
    let shown: Vec<(Cidr, &str, &str)> = view
        .blocks
        .iter()
        .map(|e| (cidr(&e.cidr), e.node.as_str(), e.pool.as_str()))
        .collect();
    assert_eq!(shown, expected, "every block, in address order");
    assert!(view.blocks.iter().all(|e| e.created.is_none()));

    // An entry no pool hands out (older pools, or a hand edit) is shown.
    let (mut state, _) = FileStore::new(dir.file()).load().unwrap();
    state = state
        .iter()
        .map(|(c, n)| (c, n.clone()))
        .chain([(cidr("10.9.0.0/24"), node("old"))])
        .collect();
    write_state(&dir.file(), &state);
    let view = read_view(&ipam, None).unwrap();
    assert!(view.node_cidrs.is_empty());
    let old = view.blocks.iter().find(|e| e.node == "old").unwrap();
    assert_eq!((old.cidr.as_str(), old.pool.as_str()), ("10.9.0.0/24", "-"));
    assert_eq!(view.pools[0].allocated, 2, "not counted in a pool");
}

#[test]
fn the_allocated_blocks_are_the_pod_cidrs() {
    let dir = TempDir::new("show");
    let ipam = dual_stack(&dir.file());
    let held = start(&ipam, Some("node-a")).unwrap();
    let text = format!(
        "node: node-a\nasn: 64512\nrouter_id: 192.0.2.10\nipam:\n  file: {}\n  pools:\n    - cidr: 10.244.0.0/16\n    - cidr: fd00:10:244::/48\n",
        dir.file().display()
    );
    let config = parse_with_allocated(&text, &Host::default(), &held.blocks).unwrap();
    let own: Vec<String> = held.blocks.iter().map(ToString::to_string).collect();
    let pod_cidrs: Vec<String> = config.pod_cidrs.iter().map(ToString::to_string).collect();
    assert_eq!(pod_cidrs, own, "used exactly as static pod_cidrs");
    let originated: Vec<String> = config
        .originate
        .iter()
        .map(|r| r.prefix.to_string())
        .collect();
    assert_eq!(originated, own);

    let view = read_view(&ipam, Some(&held.node)).unwrap();
    assert_eq!(
        view.node_cidrs, own,
        "what `show ipam` lists as this node's"
    );
}

#[test]
fn release_frees_a_nodes_blocks_for_others() {
    let dir = TempDir::new("release");
    let ipam = settings(&dir.file(), &[("10.244.0.0/24", 26)]);
    let a = start(&ipam, Some("a")).unwrap();
    let b = start(&ipam, Some("b")).unwrap();
    assert_eq!(release(&ipam, "b").unwrap(), b.blocks);
    assert_eq!(release(&ipam, "b").unwrap(), vec![]);
    let view = read_view(&ipam, None).unwrap();
    let left: Vec<&str> = view.blocks.iter().map(|e| e.node.as_str()).collect();
    assert_eq!(left, ["a"]);
    assert_eq!(start(&ipam, Some("a")).unwrap().blocks, a.blocks);
    let err = format!("{:#}", release(&ipam, "").unwrap_err());
    assert!(err.contains("node name is empty"), "{err}");
}

#[test]
fn the_keeper_allocates_released_blocks_again_and_stops_for_a_taken_one() {
    let dir = TempDir::new("keeper");
    let ipam = settings(&dir.file(), &[("10.244.0.0/16", 24)]);
    let held = start(&ipam, Some("a")).unwrap();
    let view = look(&held).unwrap().unwrap();
    assert_eq!(view.node_cidrs, [held.blocks[0].to_string()]);

    // Released by hand while the agent runs: the same block comes back.
    release(&ipam, "a").unwrap();
    let view = look(&held).unwrap().unwrap();
    assert_eq!(view.node_cidrs, [held.blocks[0].to_string()]);
    assert_eq!(FileStore::new(dir.file()).load().unwrap().0.len(), 1);

    // Another node holds it now: advertising it too would blackhole pods.
    write_state(
        &dir.file(),
        &[(held.blocks[0], node("intruder"))].into_iter().collect(),
    );
    let err = format!("{:#}", look(&held).unwrap_err());
    assert!(
        err.contains(&format!(
            "pod CIDR block {} of this node is now held by node intruder",
            held.blocks[0]
        )),
        "{err}"
    );

    // A file that cannot be read for a moment is no reason to stop.
    std::fs::write(dir.file(), "not json").unwrap();
    assert_eq!(look(&held).unwrap(), None);
}

#[test]
fn reload_keeps_the_blocks_and_says_what_new_pools_change() {
    let dir = TempDir::new("reload");
    let ipam = settings(&dir.file(), &[("10.244.0.0/16", 24)]);
    let held = start(&ipam, Some("node-a")).unwrap();
    let config = |pools: &str| {
        let text = format!(
            "node: node-a\nasn: 64512\nrouter_id: 192.0.2.10\nipam:\n  file: {}\n  pools:\n{pools}",
            dir.file().display()
        );
        parse_with_allocated(&text, &Host::default(), &held.blocks).unwrap()
    };
    let same = config("    - cidr: 10.244.0.0/16\n");
    assert_eq!(reload_notes(&held, &same), Vec::<String>::new());

    let smaller = config("    - cidr: 10.244.0.0/16\n      block_len: 25\n    - cidr: fd00::/48\n");
    let notes = reload_notes(&held, &smaller);
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert!(
        notes[0].contains(&format!(
            "pod CIDR block {} no longer fits them; it stays this node's until a restart",
            held.blocks[0]
        )),
        "{notes:?}"
    );
    assert!(
        notes[2].contains("no block of pool fd00::/48 (/64 blocks) yet; a restart allocates one"),
        "{notes:?}"
    );
    // The held blocks are still the pod CIDRs of the reloaded configuration.
    let pod_cidrs: Vec<String> = smaller.pod_cidrs.iter().map(ToString::to_string).collect();
    assert_eq!(pod_cidrs, [held.blocks[0].to_string()]);
}
