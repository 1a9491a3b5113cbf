//! Black box: attacks by one peer on four validators of a fixed committee
//! (2λ = 500 ms) on 127.0.0.1, with the harness of [`tests::faults`]. Each was
//! a way for a single peer to halt the whole chain when the consensus host
//! decided these questions itself (now `spec::driver`):
//!
//! 1. a committee member cert-votes the empty value before each of its cert
//!    votes (hidden `--test.cert-empty-first`): a host that kept the first cert
//!    vote per voter decided with the member's vote for the block but found only
//!    its vote for ⊥, and could not certify the decision, for good;
//! 2. a peer publishes, at every height, 80 blocks that no proposal names for
//!    that height and 80 for the next (hidden `--test.junk-blocks`): a host that
//!    stored blocks first come in a 64-slot map never kept the leader's block.
//!
//! Each ends with the same block hash at every height on every node and no
//! (height, round, step) with two values in any own-vote log. The attacks on
//! past rounds' far steps and on a long height's own-vote log need rounds and
//! hours a healthy cluster does not reach; they are shown in process
//! (`spec/tests/machine.rs`, `actors::consensus::journal`).
//!
//! Needs `cargo build -p node` in the same target dir.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use tests::faults::Cluster;

/// One cluster at a time (each starts four nodes on a shared machine).
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Heights every attack must not stop.
const HEIGHTS: u64 = 20;

/// Resident memory of node `i`, in KiB (Linux `/proc`).
fn rss_kib(c: &Cluster, i: usize) -> Option<u64> {
    let pid = c.nodes[i].pid()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn attack(flag: &str) {
    let _g = serial();
    let t0 = Instant::now();
    let mut c = Cluster::start(4, |i| match i {
        3 => vec![flag.to_string()],
        _ => Vec::new(),
    });
    c.wait_all(HEIGHTS, secs(120));
    assert!(
        c.nodes[3].log().contains("attack switches on"),
        "node3 did not run with {flag}"
    );
    let upto = c.assert_same_chain(HEIGHTS);
    let rss: Vec<String> = (0..3)
        .map(|i| rss_kib(&c, i).map_or("?".into(), |k| format!("{} MiB", k / 1024)))
        .collect();
    let votes = c.stop_and_check_votes();
    eprintln!(
        "{flag}: all agree up to {upto}; honest RSS {}; {votes} own messages, none conflicting; {:.1} s",
        rss.join(", "),
        t0.elapsed().as_secs_f64()
    );
}

/// Attack 1.
#[test]
fn a_member_cert_voting_empty_before_each_cert_vote_cannot_halt_the_chain() {
    attack("--test.cert-empty-first");
}

/// Attack 2.
#[test]
fn a_peer_flooding_blocks_no_proposal_names_cannot_halt_the_chain() {
    attack("--test.junk-blocks");
}
