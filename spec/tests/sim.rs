//! Acceptance runs of the seeded simulator (issue: spec crate).

use spec::invariants::Violation;
use spec::sim::{Behaviour, Crypto, SimConfig, run};

fn assert_all_agree(report: &spec::sim::SimReport, honest: &[usize], heights: usize) {
    assert_eq!(report.violation, None, "invariant violated");
    let first = &report.committed[honest[0]];
    assert!(
        first.len() >= heights,
        "node {} committed only {} heights",
        honest[0],
        first.len()
    );
    for &i in honest {
        let c = &report.committed[i];
        assert!(
            c.len() >= heights,
            "node {i} committed only {} heights",
            c.len()
        );
        assert_eq!(&c[..heights], &first[..heights], "node {i} disagrees");
    }
}

#[test]
fn four_honest_nodes_commit_200_heights() {
    let r = run(SimConfig::honest(4, 200, 1));
    assert_all_agree(&r, &[0, 1, 2, 3], 200);
}

#[test]
fn seven_honest_nodes_commit_200_heights() {
    let r = run(SimConfig::honest(7, 200, 2));
    assert_all_agree(&r, &[0, 1, 2, 3, 4, 5, 6], 200);
}

#[test]
fn fixed_committee_survives_one_silent_node_of_four() {
    let mut cfg = SimConfig::honest(4, 200, 3);
    cfg.behaviours[2] = Behaviour::Silent;
    let r = run(cfg);
    assert_all_agree(&r, &[0, 1, 3], 200);
    assert!(r.committed[2].is_empty());
}

#[test]
fn one_equivocator_of_four_cannot_break_safety() {
    let mut cfg = SimConfig::honest(4, 50, 4);
    cfg.behaviours[3] = Behaviour::Equivocator;
    let r = run(cfg);
    assert_all_agree(&r, &[0, 1, 2], 50);
}

#[test]
fn two_equivocators_of_four_are_caught_by_the_invariants() {
    let mut cfg = SimConfig::honest(4, 20, 5);
    cfg.behaviours[2] = Behaviour::Equivocator;
    cfg.behaviours[3] = Behaviour::Equivocator;
    // The attackers reach each honest node before gossip does (no relaying), so
    // each honest node sees "its" value with a quorum of three: a fork.
    cfg.relay = false;
    let r = run(cfg);
    assert!(
        matches!(
            r.violation,
            Some(Violation::Agreement { .. }) | Some(Violation::TwoCertificates { .. })
        ),
        "expected a safety violation, got {:?}",
        r.violation
    );
}

#[test]
fn loss_and_heavy_duplication_do_not_break_safety() {
    let mut cfg = SimConfig::honest(4, 40, 6);
    cfg.drop_pct = 10;
    cfg.duplicate_pct = 50;
    let r = run(cfg);
    assert_all_agree(&r, &[0, 1, 2, 3], 40);
}

#[test]
fn weighted_fixed_committee_with_byzantine_weight_two() {
    // Weights [1, 1, 2, 3]: total 7, quorum 5; the weight-2 node equivocates.
    let mut cfg = SimConfig::honest(4, 40, 7);
    cfg.weights = vec![1, 1, 2, 3];
    cfg.behaviours[2] = Behaviour::Equivocator;
    let r = run(cfg);
    assert_all_agree(&r, &[0, 1, 3], 40);
}

#[test]
fn same_seed_same_run() {
    let a = run(SimConfig::honest(4, 20, 9));
    let b = run(SimConfig::honest(4, 20, 9));
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(a.committed, b.committed);
    assert_eq!(a.events, b.events);
    let c = run(SimConfig::honest(4, 20, 10));
    assert_ne!(a.trace_hash, c.trace_hash);
}

/// The node's gossip relays only what its driver accepted. A block that reached
/// an honest node before its proposal is held, not relayed; an equivocator
/// that sends each of its blocks to half of the nodes used to leave the others
/// unable to validate a soft-certified value, the honest nodes splitting their
/// next votes between it and the empty value for good. The driver now sends a
/// held block on once its proposal pairs it.
#[test]
fn an_equivocator_cannot_stall_the_gossip_the_node_runs() {
    let mut cfg = SimConfig::honest(4, 50, 4);
    cfg.behaviours[3] = Behaviour::Equivocator;
    cfg.relay_held = false;
    cfg.max_events = 200_000;
    let r = run(cfg);
    assert_all_agree(&r, &[0, 1, 2], 50);
}

/// With the production cryptography (schnorrkel VRF, forward-secure ed25519)
/// four nodes agree, and every honest node authenticated at least the two
/// cert votes of others its quorum of three needs at each height.
#[test]
fn real_cryptography_commits_and_counts_verified_votes() {
    let mut cfg = SimConfig::honest(4, 3, 11);
    cfg.crypto = Crypto::Real;
    let r = run(cfg);
    assert_all_agree(&r, &[0, 1, 2, 3], 3);
    assert!(
        r.stats.votes_verified >= 3 * 4 * 2,
        "only {} votes verified",
        r.stats.votes_verified
    );
    assert!(r.stats.certificate_bytes.iter().all(|&b| b > 0));
}

/// The verification count is a figure of the run, the same for the same seed,
/// and it grows with the heights run.
#[test]
fn verified_votes_are_deterministic_and_grow_with_heights() {
    let a = run(SimConfig::honest(4, 10, 12));
    let b = run(SimConfig::honest(4, 10, 12));
    let c = run(SimConfig::honest(4, 20, 12));
    assert_eq!(a.stats.votes_verified, b.stats.votes_verified);
    assert!(a.stats.votes_verified >= 10 * 4 * 2);
    assert!(c.stats.votes_verified > a.stats.votes_verified);
}
