//! Applying a changed configuration file to a running speaker (SIGHUP), the
//! way `birdc configure` does: sessions are touched only when what their
//! OPEN carries changed; a policy change is a soft reconfiguration (route
//! refresh or the kept Adj-RIB-In), never a reset.

use std::collections::BTreeMap;
use std::net::IpAddr;

use bgp::speaker::{Input, PeerConfig};
use bgp::types::Prefix;

use super::Config;

/// What changed, as speaker inputs in the order they must be applied
/// (policies first, so that a peer naming a new policy finds it).
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub(crate) inputs: Vec<Input<'static>>,
    /// One line per change, for the log.
    pub(crate) summary: Vec<String>,
}

/// Settings the running speaker cannot change in place. Refusing the whole
/// reload is better than applying half of it silently.
pub(crate) fn plan(old: &Config, new: &Config) -> Result<Plan, Vec<String>> {
    let mut refused = Vec::new();
    let (o, n) = (&old.speaker, &new.speaker);
    let mut fixed = |what: &str, same: bool| {
        if !same {
            refused.push(format!(
                "`{what}` changed; it takes effect only when the agent restarts"
            ));
        }
    };
    fixed("asn", o.asn == n.asn);
    fixed("router_id", o.router_id == n.router_id);
    fixed("cluster_id", o.cluster_id == n.cluster_id);
    fixed("hostname", o.hostname == n.hostname);
    fixed(
        "graceful_restart",
        o.graceful_restart.restart_time == n.graceful_restart.restart_time
            && o.graceful_restart.stale_routes_time == n.graceful_restart.stale_routes_time
            && o.graceful_restart.selection_deferral == n.graceful_restart.selection_deferral,
    );
    fixed(
        "dynamic_neighbors",
        o.dynamic_neighbors == n.dynamic_neighbors,
    );
    fixed(
        "always_compare_med",
        o.always_compare_med == n.always_compare_med,
    );
    fixed(
        "multipath",
        o.max_paths == n.max_paths && o.multipath_relax == n.multipath_relax,
    );
    fixed("listen", old.listen == new.listen);
    fixed("control_socket", old.control_socket == new.control_socket);
    fixed("state_dir", old.state_dir == new.state_dir);
    // The FIB task and the metrics listener are set up once, at start.
    fixed("fib", old.fib == new.fib);
    fixed("metrics", old.metrics == new.metrics);
    // The API client, the watchers and the pod CIDR claim are made once.
    fixed("kubernetes", old.kubernetes == new.kubernetes);
    // This node's blocks were allocated once, at start, from one state
    // file; another file, or none, is another allocation. New pools are
    // allowed: the daemon keeps the blocks and says whether they still fit.
    let ipam_file = |c: &Config| c.ipam.as_ref().map(|i| i.file.clone());
    fixed("ipam", old.ipam.is_some() == new.ipam.is_some());
    fixed(
        "ipam.file",
        old.ipam.is_none() || new.ipam.is_none() || ipam_file(old) == ipam_file(new),
    );
    if !refused.is_empty() {
        return Err(refused);
    }

    let mut plan = Plan::default();
    if o.policies != n.policies {
        let changed: Vec<&str> = n
            .policies
            .keys()
            .chain(o.policies.keys())
            .filter(|k| o.policies.get(*k) != n.policies.get(*k))
            .map(String::as_str)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        plan.summary
            .push(format!("policies changed: {}", changed.join(", ")));
        plan.inputs.push(Input::SetPolicies(n.policies.clone()));
    }

    let old_peers: BTreeMap<IpAddr, &PeerConfig> =
        old.peers.iter().map(|p| (p.address, p)).collect();
    let new_peers: BTreeMap<IpAddr, &PeerConfig> =
        new.peers.iter().map(|p| (p.address, p)).collect();
    for addr in old_peers.keys().filter(|a| !new_peers.contains_key(a)) {
        plan.summary.push(format!("peer {addr} removed"));
        plan.inputs.push(Input::RemovePeer(*addr));
    }
    for (addr, p) in &new_peers {
        match old_peers.get(addr) {
            None => {
                plan.summary.push(format!("peer {addr} added"));
                plan.inputs.push(Input::AddPeer((*p).clone()));
            }
            Some(was) if was != p => {
                plan.summary.push(format!("peer {addr} changed"));
                plan.inputs.push(Input::UpdatePeer((*p).clone()));
            }
            Some(_) => {}
        }
    }

    let old_routes: BTreeMap<Prefix, _> = old.originate.iter().map(|r| (r.prefix, r)).collect();
    let new_routes: BTreeMap<Prefix, _> = new.originate.iter().map(|r| (r.prefix, r)).collect();
    for prefix in old_routes.keys().filter(|p| !new_routes.contains_key(p)) {
        plan.summary.push(format!("no longer originating {prefix}"));
        plan.inputs.push(Input::Withdraw(*prefix));
    }
    for (prefix, r) in &new_routes {
        if old_routes.get(prefix) != Some(r) {
            plan.summary.push(format!("originating {prefix}"));
            plan.inputs.push(Input::Originate((*r).clone()));
        }
    }
    Ok(plan)
}

/// What a plan asks of the speaker, one line each (`AddPeer 192.0.2.2`),
/// for tests that check which sessions a change touches.
#[cfg(test)]
pub(crate) fn kinds(p: &Plan) -> Vec<String> {
    p.inputs
        .iter()
        .map(|i| match i {
            Input::SetPolicies(_) => "SetPolicies".to_string(),
            Input::AddPeer(c) => format!("AddPeer {}", c.address),
            Input::UpdatePeer(c) => format!("UpdatePeer {}", c.address),
            Input::RemovePeer(a) => format!("RemovePeer {a}"),
            Input::Originate(r) => format!("Originate {}", r.prefix),
            Input::Withdraw(p) => format!("Withdraw {p}"),
            other => format!("{other:?}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Host, parse};

    const BASE: &str = r#"
asn: 64512
router_id: 192.0.2.10
originate:
  - prefix: 10.244.1.0/24
  - prefix: 10.244.9.0/24
peers:
  - address: 192.0.2.1
    remote_as: 65001
    import: [in]
    export: [out]
  - address: 192.0.2.2
    remote_as: 65002
    import: [in]
    export: [out]
policies:
  in: { default: accept }
  out: { default: accept }
"#;

    fn cfg(text: &str) -> Config {
        parse(text, &Host::default()).unwrap()
    }

    #[test]
    fn the_same_file_changes_nothing() {
        let p = plan(&cfg(BASE), &cfg(BASE)).unwrap();
        assert!(p.inputs.is_empty() && p.summary.is_empty());
    }

    #[test]
    fn a_policy_edit_is_one_set_policies_and_no_peer_change() {
        let new = BASE.replace("in: { default: accept }", "in: { default: reject }");
        let p = plan(&cfg(BASE), &cfg(&new)).unwrap();
        assert_eq!(kinds(&p), ["SetPolicies"]);
        assert_eq!(p.summary, ["policies changed: in"]);
    }

    #[test]
    fn peers_and_routes_are_diffed_policies_first() {
        let new = BASE
            .replace("  - prefix: 10.244.9.0/24\n", "  - prefix: 10.244.2.0/24\n")
            .replace(
                "address: 192.0.2.2\n    remote_as: 65002",
                "address: 192.0.2.3\n    remote_as: 65003",
            )
            .replace(
                "address: 192.0.2.1\n    remote_as: 65001\n",
                "address: 192.0.2.1\n    remote_as: 65001\n    description: tor\n",
            )
            .replace("out: { default: accept }", "out: { default: reject }");
        let p = plan(&cfg(BASE), &cfg(&new)).unwrap();
        assert_eq!(
            kinds(&p),
            [
                "SetPolicies",
                "RemovePeer 192.0.2.2",
                "UpdatePeer 192.0.2.1",
                "AddPeer 192.0.2.3",
                "Withdraw 10.244.9.0/24",
                "Originate 10.244.2.0/24",
            ]
        );
    }

    #[test]
    fn identity_changes_are_refused_whole() {
        let new = BASE
            .replace("asn: 64512", "asn: 64513")
            .replace("router_id: 192.0.2.10", "router_id: 192.0.2.11");
        let e = plan(&cfg(BASE), &cfg(&new)).unwrap_err();
        assert_eq!(
            e,
            [
                "`asn` changed; it takes effect only when the agent restarts",
                "`router_id` changed; it takes effect only when the agent restarts",
            ]
        );
    }

    #[test]
    fn pod_cidrs_are_originated_and_withdrawn() {
        let old = format!("{BASE}pod_cidrs: [10.244.3.0/24]\n");
        let new = format!("{BASE}pod_cidrs: [10.244.4.0/24, \"fd00:10:244:4::/64\"]\n");
        let p = plan(&cfg(&old), &cfg(&new)).unwrap();
        assert_eq!(
            kinds(&p),
            [
                "Withdraw 10.244.3.0/24",
                "Originate 10.244.4.0/24",
                "Originate fd00:10:244:4::/64",
            ]
        );
        // Listed under `originate` as well: no change while the attributes
        // are the same, an Originate when they differ.
        let same = format!("{BASE}pod_cidrs: [10.244.1.0/24]\n");
        assert!(plan(&cfg(BASE), &cfg(&same)).unwrap().inputs.is_empty());
        let tagged = same.replace(
            "  - prefix: 10.244.1.0/24\n",
            "  - prefix: 10.244.1.0/24\n    communities: [\"64512:1\"]\n",
        );
        let p = plan(&cfg(&same), &cfg(&tagged)).unwrap();
        assert_eq!(kinds(&p), ["Originate 10.244.1.0/24"]);
    }

    #[test]
    fn fib_and_metrics_changes_wait_for_a_restart() {
        let new =
            format!("{BASE}fib: {{ protocol: 201 }}\nmetrics: {{ listen: \"127.0.0.1:9999\" }}\n");
        let e = plan(&cfg(BASE), &cfg(&new)).unwrap_err();
        assert_eq!(
            e,
            [
                "`fib` changed; it takes effect only when the agent restarts",
                "`metrics` changed; it takes effect only when the agent restarts",
            ]
        );
        let off = format!("{BASE}metrics: {{ listen: none }}\n");
        assert!(plan(&cfg(BASE), &cfg(&off)).is_err());
    }

    /// BASE's peers again, through a template: the same peers.
    const TEMPLATED: &str = r#"
asn: 64512
router_id: 192.0.2.10
originate:
  - prefix: 10.244.1.0/24
  - prefix: 10.244.9.0/24
templates:
  upstream:
    import: [in]
    export: [out]
peers:
  - address: 192.0.2.1
    template: upstream
    remote_as: 65001
  - address: 192.0.2.2
    template: upstream
    remote_as: 65002
  - address: 192.0.2.3
    remote_as: 65003
    import: [in]
    export: [out]
policies:
  in: { default: accept }
  out: { default: accept }
"#;

    #[test]
    fn templates_leave_peers_whose_settings_did_not_change_alone() {
        let inline = BASE.replace(
            "peers:\n",
            "peers:\n  - address: 192.0.2.3\n    remote_as: 65003\n    import: [in]\n    export: [out]\n",
        );
        let p = plan(&cfg(&inline), &cfg(TEMPLATED)).unwrap();
        assert!(p.inputs.is_empty(), "{:?}", p.summary);
        assert!(
            plan(&cfg(TEMPLATED), &cfg(TEMPLATED))
                .unwrap()
                .inputs
                .is_empty()
        );

        // A template edit reaches the peers that use it, and only them.
        let edited = TEMPLATED.replace(
            "    export: [out]\npeers:",
            "    export: [out]\n    hold_time: 30\npeers:",
        );
        let p = plan(&cfg(TEMPLATED), &cfg(&edited)).unwrap();
        assert_eq!(kinds(&p), ["UpdatePeer 192.0.2.1", "UpdatePeer 192.0.2.2"]);
    }

    #[test]
    fn the_ipam_state_file_is_fixed_but_its_pools_may_change() {
        let blocks = ["10.244.3.0/24".parse().unwrap()];
        let with = |ipam: &str| {
            let text = format!("{BASE}node: lab-1\n{ipam}");
            crate::config::parse_with_allocated(&text, &Host::default(), &blocks).unwrap()
        };
        let start = with("ipam: { file: /srv/a.json, pools: [{ cidr: 10.244.0.0/16 }] }\n");
        let other_file = with("ipam: { file: /srv/b.json, pools: [{ cidr: 10.244.0.0/16 }] }\n");
        assert_eq!(
            plan(&start, &other_file).unwrap_err(),
            ["`ipam.file` changed; it takes effect only when the agent restarts"]
        );
        let off = with("");
        assert_eq!(
            plan(&start, &off).unwrap_err(),
            ["`ipam` changed; it takes effect only when the agent restarts"]
        );
        let more_pools = with(
            "ipam: { file: /srv/a.json, pools: [{ cidr: 10.244.0.0/16 }, { cidr: \"fd00::/48\" }] }\n",
        );
        let p = plan(&start, &more_pools).unwrap();
        assert!(p.inputs.is_empty(), "the blocks held stay: {:?}", p.summary);
    }
}
