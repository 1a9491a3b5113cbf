//! Black box: a fifth, non-mining node that knows a single bootnode
//! (`--bootnodes <node1> --nodiscover`) joins a running four-validator network,
//! catches up by sync — every block checked against its certificate and the
//! committee of its parent before it is executed — and then follows the chain live
//! by gossip, committing the same blocks.
//!
//! Needs `cargo build -p node` in the same target dir. Longer:
//! `cargo test -p tests --test follower -- --ignored`.

use std::time::{Duration, Instant};

use tests::cluster::{Network, Node, assert_same_chain, free_port};

const TWO_LAMBDA_MS: u64 = 500;

fn follower_syncs_then_follows(start_at: u64, follow: u64) {
    follower_syncs_then_follows_at(TWO_LAMBDA_MS, start_at, follow);
}

fn follower_syncs_then_follows_at(two_lambda_ms: u64, start_at: u64, follow: u64) {
    let net = Network::fixed(4, two_lambda_ms);
    let (mut nodes, _boot) = net.start_all();
    for n in nodes.iter_mut() {
        n.wait_height(start_at, Duration::from_secs(120 + start_at));
    }
    let bootnode = nodes[1].listen_addr(Duration::from_secs(5));
    let datadir = net.extra_datadir("follower");
    let args = vec![
        "--bootnodes".to_string(),
        bootnode,
        "--nodiscover".to_string(),
    ];
    let built = nodes[0].height();
    let t = Instant::now();
    let mut follower = Node::start(&net.bin, "follower", &datadir, free_port(), &args);
    follower.wait_height(built, Duration::from_secs(120 + built));
    let sync_secs = t.elapsed().as_secs_f64();
    let goal = nodes[0].height() + follow;
    follower.wait_height(goal, Duration::from_secs(120 + follow));
    let commits = follower.commits();
    assert_eq!(
        commits.keys().next(),
        Some(&1),
        "the follower committed every block from 1"
    );
    assert_eq!(commits.len() as u64, follower.height(), "no gaps");
    let synced = commits.values().filter(|c| c.how == "sync").count() as u64;
    let live = commits.values().filter(|c| c.how == "consensus").count();
    assert!(synced >= start_at, "synced only {synced} blocks");
    assert!(
        live > 0,
        "the follower never followed by gossip: {commits:?}"
    );
    for n in nodes.iter_mut() {
        n.wait_height(goal, Duration::from_secs(60));
    }
    let mut all: Vec<&Node> = nodes.iter().collect();
    all.push(&follower);
    assert_same_chain(&all);
    eprintln!(
        "follower: {synced} blocks synced, {live} followed by gossip, up to {goal}; caught up with the {built} blocks there at start in {sync_secs:.1} s ({:.0} blocks/s, certificates verified)",
        built as f64 / sync_secs
    );
}

#[test]
fn a_fifth_node_with_one_bootnode_syncs_and_follows() {
    follower_syncs_then_follows(12, 8);
}

#[test]
#[ignore = "long: a few minutes"]
fn a_fifth_node_syncs_a_long_chain() {
    follower_syncs_then_follows(150, 50);
}

/// Issue #6's acceptance: a fifth node with a single peer syncs 500 blocks,
/// verifying every certificate (2λ = 200 ms, so the chain is quick to build).
#[test]
#[ignore = "long: about three minutes"]
fn a_fifth_node_with_one_peer_syncs_five_hundred_blocks() {
    follower_syncs_then_follows_at(200, 500, 20);
}
