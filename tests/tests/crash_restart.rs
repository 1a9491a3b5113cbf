//! Black box, crash recovery (issue #6, Kaleido §4.12): four validators of a fixed
//! committee (2λ = 500 ms); each in turn is killed with SIGKILL while the others
//! keep committing, restarted on the same data directory, and must commit by
//! consensus again. Afterwards:
//!
//! - every node committed the same hash at every height (no fork);
//! - every block a node had committed before its kill is still its block at that
//!   height after the restart (`eth_getBlockByNumber`: no committed block lost);
//! - no node's own-vote log holds two different values for one (height, round,
//!   step) (no double vote across crashes), and no node logged equivocation
//!   evidence against anyone.
//!
//! Each node has every node started before it as a bootnode (see the note in
//! the test). Needs `cargo build -p node` in the same target dir. The long version (every
//! validator killed three times, more blocks between):
//! `cargo test -p tests --test crash_restart -- --ignored`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tests::cluster::{Commit, Network, Node, assert_no_double_vote, free_port, run_ok};

const TWO_LAMBDA_MS: u64 = 500;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Waits until `node` commits, by consensus, a height above `above`.
fn wait_consensus_commit(node: &mut Node, above: u64, timeout: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let live = node
            .commits()
            .iter()
            .find(|(h, c)| **h > above && c.how == "consensus")
            .map(|(h, _)| *h);
        if let Some(h) = live {
            return h;
        }
        assert!(
            node.is_running(),
            "{} exited after its restart (log: {})",
            node.name,
            node.datadir.join("node.log").display()
        );
        assert!(
            start.elapsed() < timeout,
            "{} committed nothing by consensus above {above} in {timeout:?} (height {}, log: {})",
            node.name,
            node.height(),
            node.datadir.join("node.log").display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The hash of block `h` as `node` serves it over JSON-RPC.
fn block_hash(node: &Node, h: u64) -> Option<String> {
    let b = node
        .call(
            "eth_getBlockByNumber",
            serde_json::json!([format!("0x{h:x}"), false]),
        )
        .unwrap_or_else(|e| panic!("{}: eth_getBlockByNumber({h}): {e}", node.name));
    b.get("hash").and_then(|x| x.as_str()).map(str::to_string)
}

fn kill_and_restart_each(rounds: usize, down_blocks: u64) {
    let net = Network::fixed(4, TWO_LAMBDA_MS);
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    // Each node lists every node started before it as a bootnode: peers learn
    // no third parties from each other (identify names only the peer itself), so
    // with node0 as the only bootnode, killing node0 would split the others.
    let mut nodes: Vec<Node> = Vec::new();
    let mut addrs: Vec<String> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let mut n = net.start_validator_with(i, *port, &addrs, &[], true);
        addrs.push(n.listen_addr(secs(30)));
        nodes.push(n);
    }
    for n in nodes.iter_mut() {
        n.wait_height(4, secs(120));
    }
    // Every commit each node ever logged, across its restarts.
    let mut history: Vec<BTreeMap<u64, Commit>> = vec![BTreeMap::new(); 4];
    let started = Instant::now();
    for cycle in 0..rounds {
        for i in 0..4 {
            // A pause of a different length each time, so the kills fall at
            // different points of a height (proposal wait, soft, cert, commit).
            let offset = (i as u64 * 137 + cycle as u64 * 61) % TWO_LAMBDA_MS;
            std::thread::sleep(Duration::from_millis(offset));
            nodes[i].kill();
            let before = nodes[i].commits();
            history[i].extend(before.clone());
            let killed_at = before.keys().next_back().copied().unwrap_or(0);
            // The other three (3/4 of the weight > 2/3) keep committing.
            let target = killed_at + down_blocks;
            for (j, n) in nodes.iter_mut().enumerate() {
                if j != i {
                    n.wait_height(target, secs(60));
                }
            }
            let others: Vec<String> = (0..4)
                .filter(|j| *j != i)
                .map(|j| addrs[j].clone())
                .collect();
            nodes[i] = net.start_validator_with(i, ports[i], &others, &[], true);
            let head = (0..4)
                .filter(|j| *j != i)
                .map(|j| nodes[j].height())
                .max()
                .unwrap_or(0);
            let live = wait_consensus_commit(&mut nodes[i], head, secs(90));
            // Nothing it had committed before the kill is lost or changed.
            for (h, c) in before.iter().rev().take(8) {
                assert_eq!(
                    block_hash(&nodes[i], *h).as_deref(),
                    Some(c.hash.as_str()),
                    "node{i} lost or changed block {h} across its restart"
                );
            }
            let synced = nodes[i]
                .commits()
                .values()
                .filter(|c| c.how == "sync")
                .count();
            eprintln!(
                "cycle {cycle}: node{i} killed (after a {offset} ms pause) at height {killed_at}, restarted, synced {synced}, committed by consensus at {live} ({:.1} s so far)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    // A few more heights with everyone up, then stop them all.
    let goal = nodes.iter().map(Node::height).max().unwrap_or(0) + 3;
    for n in nodes.iter_mut() {
        n.wait_height(goal, secs(60));
    }
    for (i, n) in nodes.iter().enumerate() {
        // Every block committed before any kill is still served with its hash.
        for (h, c) in history[i].iter().step_by(3) {
            assert_eq!(
                block_hash(n, *h).as_deref(),
                Some(c.hash.as_str()),
                "node{i}: block {h} lost or changed"
            );
        }
    }
    for (i, n) in nodes.iter_mut().enumerate() {
        n.kill();
        history[i].extend(n.commits());
    }
    // No fork: one hash per height over every node's whole history.
    let mut by_height: BTreeMap<u64, (usize, String)> = BTreeMap::new();
    for (i, h) in history.iter().enumerate() {
        for (height, c) in h {
            if let Some((j, other)) = by_height.get(height) {
                assert_eq!(
                    &c.hash, other,
                    "node{i} and node{j} committed different blocks at height {height}"
                );
            } else {
                by_height.insert(*height, (i, c.hash.clone()));
            }
        }
    }
    assert!(
        by_height.len() as u64 >= goal,
        "heights seen: {}",
        by_height.len()
    );
    // No double vote, no equivocation seen.
    for (i, n) in nodes.iter().enumerate() {
        let logged = assert_no_double_vote(&n.name, &n.datadir);
        assert!(
            logged as u64 >= goal,
            "node{i} logged only {logged} messages"
        );
        assert_eq!(
            n.equivocations_logged(),
            0,
            "node{i} logged equivocation evidence: {}",
            n.datadir.join("node.log").display()
        );
    }
    // `kalgo dumpvote` prints what the log holds for a height.
    let log = tests::cluster::vote_log(&nodes[1].datadir);
    // A height it signed at (it signed nothing while it was down).
    let h = log[log.len() / 2].height;
    let out = run_ok(
        &net.bin,
        &nodes[1].datadir,
        &["dumpvote", "--height", &h.to_string()],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let printed = text
        .lines()
        .filter(|l| l.starts_with("vote ") || l.starts_with("proposal "))
        .count();
    let held = log.iter().filter(|m| m.height == h).count();
    assert!(held > 0 && printed == held, "dumpvote --height {h}: {text}");
    eprintln!(
        "{} heights, {rounds} kill/restart per validator, {:.1} s",
        by_height.len(),
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn each_validator_killed_and_restarted_once_no_fork_no_lost_block_no_double_vote() {
    kill_and_restart_each(1, 3);
}

#[test]
#[ignore = "long: every validator killed three times"]
fn each_validator_killed_and_restarted_three_times() {
    kill_and_restart_each(3, 10);
}
