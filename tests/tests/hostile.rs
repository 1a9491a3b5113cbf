//! Black box: a hostile network. Peers with no stake, and RPC clients, misbehave
//! against a four-validator network (fixed committee, 2λ = 500 ms, 127.0.0.1);
//! the validators keep committing, a node that fell behind catches up, and the
//! abuse gets a clear refusal instead of the node's time or memory.
//!
//! 1. Sync monopoly: a peer (`kalgo fuzzpeer --sync-lie`) claims head 2⁶⁴−1 and
//!    answers every blocks request with "unavailable". A node that always asked
//!    the peer with the highest claimed head asked only the liar, for good; a
//!    follower that knows the liar and one honest validator must still catch up.
//!
//! Needs `cargo build -p node` in the same target dir.

use std::time::Duration;

use tests::cluster::{Network, Node, assert_same_chain, free_port};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn a_peer_claiming_a_far_head_cannot_monopolise_sync() {
    let net = Network::fixed(4, 500);
    let (mut nodes, boot) = net.start_all();
    for n in nodes.iter_mut() {
        n.wait_height(10, secs(120));
    }
    let liar_dir = net.extra_datadir("liar");
    let liar_args: Vec<String> = ["--bootnodes", &boot, "--nodiscover", "fuzzpeer"]
        .into_iter()
        .chain(["--sync-lie", "--lie-for", "300"])
        .map(String::from)
        .collect();
    let mut liar = Node::start(&net.bin, "liar", &liar_dir, free_port(), &liar_args);
    let liar_addr = liar.listen_addr(secs(30));
    let liar_id = liar_addr
        .rsplit("/p2p/")
        .next()
        .unwrap_or_default()
        .to_string();
    let honest = nodes[1].listen_addr(secs(5));
    // The liar's claim must have reached the follower before the honest head
    // does: list it first, and give it a moment to be dialled.
    let follower_dir = net.extra_datadir("follower");
    let follower_args = vec![
        "--bootnodes".to_string(),
        format!("{liar_addr},{honest}"),
        "--nodiscover".to_string(),
    ];
    let target = nodes[0].height() + 5;
    let mut follower = Node::start(
        &net.bin,
        "follower",
        &follower_dir,
        free_port(),
        &follower_args,
    );
    follower.wait_height(target, secs(90));
    assert!(liar.is_running(), "the liar stopped early: {}", liar.log());
    // The attack was live: the follower did ask the liar (and was refused).
    let log = follower.log();
    assert!(
        log.lines()
            .any(|l| l.contains("sync: requesting blocks") && l.contains(&liar_id)),
        "the follower never asked the liar; its log:\n{log}"
    );
    let mut all: Vec<&Node> = nodes.iter().collect();
    all.push(&follower);
    assert!(assert_same_chain(&all) >= target as usize);
}
