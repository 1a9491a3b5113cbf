//! Black box: four validators of a fixed committee (`kalgo genesis --validators 4
//! --committee fixed`) on 127.0.0.1 commit identical blocks; with one of them
//! killed (`kill -9`) the other three — more than 2/3 of the weight — keep the
//! chain going; restarted, the fourth catches up by sync (certificates verified)
//! and commits by consensus again. Four validators with VRF sortition committees
//! (`--committee sortition`) commit identical blocks too.
//!
//! Needs `cargo build -p node` in the same target dir. The long version (100
//! heights before the kill, 500 in all):
//! `cargo test -p tests --test validators -- --ignored`.

use std::time::Duration;

use tests::cluster::{Network, Node, assert_same_chain};

/// 2λ of the test chain: short, so tens of heights take seconds.
const TWO_LAMBDA_MS: u64 = 500;

fn minutes(m: u64) -> Duration {
    Duration::from_secs(60 * m)
}

fn agree_survive_kill_and_rejoin(before: u64, while_down: u64, after: u64) {
    let net = Network::fixed(4, TWO_LAMBDA_MS);
    let (mut nodes, boot) = net.start_all();
    for n in nodes.iter_mut() {
        n.wait_height(before, minutes(2 + before / 60));
    }
    let compared = assert_same_chain(&nodes.iter().collect::<Vec<_>>());
    assert!(compared as u64 >= before, "compared {compared} heights");

    // Kill node 3: three of four equal weights still exceed 2/3.
    let port = nodes[3].port;
    nodes[3].kill();
    let killed_at = nodes[3].height();
    let target = nodes[0].height() + while_down;
    for n in nodes.iter_mut().take(3) {
        n.wait_height(target, minutes(2 + while_down / 60));
    }

    // Restart it: it syncs the blocks it missed, then votes and commits again.
    let mut back: Node = net.start_validator(3, port, std::slice::from_ref(&boot));
    let goal = nodes[0].height() + after;
    back.wait_height(goal, minutes(2 + after / 60));
    let commits = back.commits();
    let synced = commits.values().filter(|c| c.how == "sync").count();
    let first_live = commits
        .iter()
        .filter(|(h, c)| **h > killed_at && c.how == "consensus")
        .map(|(h, _)| *h)
        .next();
    assert!(synced > 0, "the restarted node synced nothing: {commits:?}");
    assert!(
        first_live.is_some_and(|h| h < goal),
        "the restarted node never committed by consensus before height {goal}"
    );
    for n in nodes.iter_mut().take(3) {
        n.wait_height(goal, minutes(1));
        assert!(n.is_running(), "{} stopped", n.name);
    }
    let mut all: Vec<&Node> = nodes.iter().take(3).collect();
    all.push(&back);
    assert_same_chain(&all);
    eprintln!(
        "killed at {killed_at}; restarted node synced {synced} blocks, committed by consensus from height {first_live:?}; all agree up to {goal}"
    );
}

#[test]
fn four_validators_agree_survive_a_kill_and_the_restarted_one_rejoins() {
    agree_survive_kill_and_rejoin(8, 8, 10);
}

#[test]
#[ignore = "long: about five minutes at 2λ = 500 ms"]
fn four_validators_five_hundred_heights() {
    agree_survive_kill_and_rejoin(100, 200, 200);
}

/// Sortition committees: every step's committee is drawn by VRF from the four
/// stakes; the validators still agree on every block.
#[test]
fn four_sortition_validators_agree() {
    let net = Network::sortition(4, TWO_LAMBDA_MS);
    let (mut nodes, _boot) = net.start_all();
    for n in nodes.iter_mut() {
        n.wait_height(8, minutes(3));
    }
    let compared = assert_same_chain(&nodes.iter().collect::<Vec<_>>());
    assert!(compared >= 8, "compared {compared} heights");
}
