//! Pinned unique-state counts (as stateright's own examples pin theirs): an
//! unintended change to the driver's or the machine's state space fails here. Small (`--ci`)
//! scopes keep the test-profile run short. Counts are pinned with symmetry
//! reduction (the default) and without; with a symmetry group of order 2 the
//! reduced count is the number of orbits, (unique + fixed points) / 2.

use model_check::config::{Config, Mutation};
use model_check::props;
use model_check::run::{RunOptions, Summary, run};

fn check(name: &str, symmetry: bool) -> Summary {
    check_config(
        Config::named(name, true).expect("known configuration"),
        symmetry,
    )
}

fn check_config(cfg: Config, symmetry: bool) -> Summary {
    let opts = RunOptions {
        threads: 2,
        symmetry,
        ..RunOptions::default()
    };
    run(cfg, &opts)
}

/// Runs `name` with and without symmetry; both must hold their expected verdict
/// and be exhaustive. Returns (reduced, full).
fn both(name: &str) -> (Summary, Summary) {
    let reduced = check(name, true);
    let full = check(name, false);
    for s in [&reduced, &full] {
        assert!(s.ok && s.exhaustive, "{}", s.render(None));
    }
    assert_eq!(full.symmetry, 1);
    (reduced, full)
}

#[test]
fn mc0_smoke_is_safe_and_pinned() {
    let (r, f) = both("mc0-smoke");
    assert!(r.discovered(props::DECISION));
    assert_eq!(r.symmetry, 2);
    assert_eq!((r.unique, f.unique), (27_012, 53_368));
}

#[test]
fn mc1_equivocator_is_safe_and_pinned() {
    let (r, f) = both("mc1-equivocator");
    assert_eq!(r.symmetry, 2);
    assert_eq!((r.unique, f.unique), (38_767, 77_192));
}

#[test]
fn mc2_weighted_is_safe_and_pinned() {
    // Weights [1,1,2,3]: no two nodes are interchangeable.
    let (r, f) = both("mc2-weighted");
    assert_eq!(r.symmetry, 1);
    assert_eq!((r.unique, f.unique), (77_372, 77_372));
}

#[test]
fn mc4_multi_round_decides_in_round_2_and_is_pinned() {
    let (r, f) = both("mc4-multi-round");
    assert_eq!(r.symmetry, 2);
    for s in [&r, &f] {
        assert!(s.discovered(props::DECISION_ROUND_2), "{}", s.render(None));
        assert!(s.discovered(props::EMPTY_NEXT_QUORUM));
        assert!(!s.discovered(props::VALUE_LOCK));
    }
    assert_eq!((r.unique, f.unique), (118_962, 237_130));
}

#[test]
fn mc5_crash_restart_is_safe_and_pinned() {
    let s = check("mc5-crash-restart", true);
    assert!(s.ok && s.exhaustive, "{}", s.render(None));
    assert!(!s.discovered(props::NON_EQUIVOCATION));
    // A restarted node can decide a block it no longer holds: it is left to
    // sync (neither the block nor its proposal is durable unless its own).
    assert!(s.discovered(props::LEFT_TO_SYNC), "{}", s.render(None));
    assert_eq!(s.symmetry, 1);
    assert_eq!(s.unique, 1_019_786);
}

#[test]
fn mc6_liveness_all_decide() {
    let s = check("mc6-liveness", true);
    assert!(s.ok && s.exhaustive, "{}", s.render(None));
    assert!(!s.discovered(props::LIVENESS));
    assert_eq!(s.unique, 27_012);
}

/// A Byzantine member sends junk blocks, forged copies of the honest blocks
/// (tampered body, trailing bytes), proposals naming blocks it did not build
/// and votes far outside every window: nothing it sends stops the three
/// honest nodes (exactly the quorum) from all deciding.
#[test]
fn mc9_hostile_blocks_never_stop_a_decision() {
    let s = check("mc9-hostile-blocks", true);
    assert!(s.ok && s.exhaustive, "{}", s.render(None));
    assert!(s.discovered(props::DECISION));
    assert!(!s.discovered(props::LIVENESS), "{}", s.render(None));
    assert!(!s.discovered(props::CERTIFIABLE));
    assert_eq!(s.symmetry, 1);
    assert_eq!(s.unique, 12_514);
}

/// A miner suspended for equivocation is out of the roster and the total
/// stake but still online: its validly signed equivocating votes and its
/// proposals are refused by every honest node, and the three honest nodes
/// (the whole committee, quorum 3 of 3) all decide.
#[test]
fn mc10_suspended_miner_is_ignored_and_pinned() {
    let s = check("mc10-suspended", true);
    assert!(s.ok && s.exhaustive, "{}", s.render(None));
    assert!(s.discovered(props::DECISION));
    assert!(!s.discovered(props::LIVENESS), "{}", s.render(None));
    assert!(!s.discovered(props::CERTIFIABLE));
    assert_eq!(s.symmetry, 1);
    assert_eq!(s.unique, 8_952);
}

/// A host whose roster keeps the suspended miner's record (while the total
/// leaves it out) counts its votes again: a cert vote without an honest soft
/// quorum, or a certificate naming it, is reachable.
#[test]
fn keeping_a_suspended_miner_in_the_roster_is_caught() {
    let cfg = Config::named("mc10-suspended", true)
        .expect("known configuration")
        .mutate(Mutation::SuspendedInRoster);
    let s = check_config(cfg, true);
    assert!(s.ok, "{}", s.render(None));
    assert!(
        s.discovered(props::CERT_PRECONDITION) || s.discovered(props::CERT_WELL_FORMED),
        "{}",
        s.render(None)
    );
    let trace = s.trace.expect("a counterexample trace");
    assert!(
        trace
            .iter()
            .any(|l| l.contains("from M3") && l.contains("(byzantine)")),
        "{trace:?}"
    );
}

#[test]
fn mc3_negative_control_finds_a_fork() {
    for symmetry in [true, false] {
        let s = check("mc3-two-equivocators", symmetry);
        assert!(s.ok, "{}", s.render(None));
        assert!(s.discovered(props::AGREEMENT));
        let trace = s.trace.expect("a counterexample trace");
        assert!(trace.last().is_some_and(|l| l.contains("S1 agreement")));
    }
}

#[test]
fn halving_the_cert_threshold_is_caught() {
    let cfg = Config::named("mc7-mutation-scope", true)
        .expect("known configuration")
        .mutate(Mutation::CertThresholdHalf);
    let s = check_config(cfg, true);
    assert!(s.ok, "{}", s.render(None));
    assert!(s.discovered(props::VALUE_LOCK), "{}", s.render(None));
}

#[test]
fn mc8_cert_votes_are_certifiable_and_pinned() {
    let (r, f) = both("mc8-cert-votes");
    assert_eq!(r.symmetry, 2);
    assert!(r.discovered(props::DECISION));
    assert!(!r.discovered(props::CERTIFIABLE) && !f.discovered(props::CERTIFIABLE));
    assert_eq!((r.unique, f.unique), (4_761, 9_357));
}

/// The consensus host's old cert-vote store (first vote per round and voter,
/// kept before the machine's checks) lets a Byzantine member's cert vote for
/// the empty value hide its counted vote for A: a decision without a
/// certificate, which halted every node that reached it.
#[test]
fn keeping_cert_votes_by_voter_is_caught() {
    let cfg = Config::named("mc8-cert-votes", true)
        .expect("known configuration")
        .mutate(Mutation::CertVotesByVoter);
    for symmetry in [true, false] {
        let s = check_config(cfg.clone(), symmetry);
        assert!(s.ok, "{}", s.render(None));
        assert!(s.discovered(props::CERTIFIABLE), "{}", s.render(None));
        let trace = s.trace.expect("a counterexample trace");
        assert!(
            trace
                .iter()
                .any(|l| l.contains("cert ⊥") && l.contains("(byzantine)")),
            "{trace:?}"
        );
    }
}
