//! What the driver tells the FIB, in what order.

use std::net::{IpAddr, Ipv4Addr};

use bgp::speaker::{FibNextHop, RouteUpdate};

use super::*;
use crate::config::Host;
use crate::fib::Command;

/// A node restarting with its pod CIDR, no peers and no listener (nothing
/// leaves the test).
const NODE: &str = "
asn: 4200000101
router_id: 192.0.2.2
pod_cidrs: [10.244.1.0/24]
fib: { enabled: true, protocol: 44, table: main, pod_cidr_route: unreachable }
metrics: { listen: none }
";

/// A driver in a graceful restart, and what it sends the FIB.
async fn restarting() -> (Driver, mpsc::UnboundedReceiver<Command>) {
    let mut config = crate::config::parse(NODE, &Host::default()).unwrap();
    config.listen.addresses.clear();
    config.speaker.graceful_restart.restarting = true;
    let (commands, received) = mpsc::unbounded_channel();
    let (_, updates) = mpsc::unbounded_channel();
    let driver = Driver::new(DriverParts {
        config,
        control: mpsc::channel(1).1,
        metrics: mpsc::channel(1).1,
        reload: mpsc::channel(1).1,
        fib: Some(crate::fib::Handle { commands, updates }),
        ipam: None,
        shutdown: CancellationToken::new(),
    })
    .await
    .unwrap();
    (driver, received)
}

/// The commands sent so far: `Learned` with its prefixes, or the command's name.
fn sent(received: &mut mpsc::UnboundedReceiver<Command>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(c) = received.try_recv() {
        out.push(match c {
            Command::Learned(_, prefixes) => {
                let p: Vec<String> = prefixes.iter().map(ToString::to_string).collect();
                format!("Learned {}", p.join(" "))
            }
            Command::Local(_) => "Local".into(),
            Command::Synced => "Synced".into(),
            Command::Show(_) => "Show".into(),
            Command::States(..) => "States".into(),
        });
    }
    out
}

fn via_tor(prefix: &str) -> Output {
    let tor = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    Output::Route(RouteUpdate {
        prefix: prefix.parse().unwrap(),
        next_hops: vec![FibNextHop {
            address: tor,
            link_local: None,
            peer: tor,
        }],
    })
}

/// `Synced` makes the FIB delete every route kept from the previous run that
/// it has not been given again; the routes the speaker chose when its
/// End-of-RIB wait ended come in the same outputs, after `InitialSyncDone`.
/// Sent in that order, the FIB thread could reconcile before they arrived and
/// take them out of the kernel for a moment (a restart under traffic then saw
/// "network unreachable" from the node).
#[tokio::test]
async fn the_fib_is_told_the_table_is_complete_after_the_routes_that_complete_it() {
    let (mut driver, mut received) = restarting().await;
    driver.apply(vec![
        Output::InitialSyncDone,
        via_tor("10.244.2.0/24"),
        via_tor("10.244.3.0/24"),
    ]);
    assert_eq!(
        sent(&mut received),
        ["Learned 10.244.2.0/24 10.244.3.0/24", "Synced"]
    );
}

/// The same through the real speaker: its deferral ends (no peer to wait
/// for) when the pod CIDR is originated, and nothing it chose in that pass
/// reaches the FIB after `Synced`.
#[tokio::test]
async fn nothing_of_the_pass_that_ends_the_deferral_follows_synced() {
    let (mut driver, mut received) = restarting().await;
    for route in driver.config.originate.clone() {
        driver.feed(Input::Originate(route));
    }
    let sent = sent(&mut received);
    assert_eq!(sent.last().map(String::as_str), Some("Synced"), "{sent:?}");
    assert!(
        sent.contains(&"Learned 10.244.1.0/24".to_string()),
        "{sent:?}"
    );
}
