//! Black box, gossip fuzz-lite: a hostile peer (`kalgo fuzzpeer`, built on the
//! node's own gossip module) joins a four-validator network through node0 and
//! publishes, in order, 5,500 far-future votes and proposals (Kaleido's B1
//! crashed a node with one), 500 forged votes for the next height and up to 4,000
//! random messages on every topic, each waiting for room in its send queue (a CI
//! run under load once lost the random ones to full queues, and nothing was
//! rejected). The validators keep committing identical blocks, none exits, and the
//! validators it reached disconnect the peer once its score falls below the
//! graylist threshold.
//!
//! Needs `cargo build -p node` in the same target dir.

use std::process::Command;
use std::time::Duration;

use tests::cluster::{Network, assert_same_chain};

#[test]
fn validators_keep_committing_under_malformed_and_far_future_gossip() {
    let net = Network::fixed(4, 500);
    let (mut nodes, boot) = net.start_all();
    for n in nodes.iter_mut() {
        n.wait_height(3, Duration::from_secs(120));
    }
    let datadir = net.extra_datadir("fuzzpeer");
    let out = Command::new(&net.bin)
        .arg("--datadir")
        .arg(&datadir)
        .args(["--bootnodes", &boot, "fuzzpeer"])
        .args(["--far", "5500", "--forged", "500", "--garbage", "4000"])
        .output()
        .expect("run fuzzpeer");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fuzzpeer failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Every far-future message left the fuzz peer (it waits for send-queue room);
    // the forged and random ones stop once the validators cut it off.
    assert!(stdout.contains("5500/5500 far-future"), "{stdout}");
    let after = nodes.iter().map(|n| n.height()).max().unwrap_or(0) + 5;
    for n in nodes.iter_mut() {
        n.wait_height(after, Duration::from_secs(120));
        assert!(n.is_running(), "{} exited", n.name);
    }
    assert_same_chain(&nodes.iter().collect::<Vec<_>>());
    // The fuzz peer joins through node0 but, by peer exchange, also dials the
    // others, so whichever validators its garbage reached must have cut it off.
    let disconnected: Vec<&str> = nodes
        .iter()
        .filter(|n| {
            let log = n.log();
            log.contains("disconnecting peer") && log.contains("score below graylist")
        })
        .map(|n| n.name.as_str())
        .collect();
    assert!(
        !disconnected.is_empty(),
        "no validator disconnected the fuzz peer: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{stdout}validators committed on to height {after}");
}
