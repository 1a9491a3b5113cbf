//! Pinned unique-state counts (as stateright's own examples pin theirs): an
//! unintended change to the machine's state space fails here. Small (`--ci`)
//! scopes keep the debug-profile run short.

use model_check::config::Config;
use model_check::props;
use model_check::run::{RunOptions, run};

fn check(name: &str) -> model_check::run::Summary {
    let cfg = Config::named(name, true).expect("known configuration");
    let opts = RunOptions {
        threads: 2,
        ..RunOptions::default()
    };
    run(cfg, &opts)
}

#[test]
fn mc0_smoke_is_safe_and_pinned() {
    let s = check("mc0-smoke");
    assert!(s.ok, "{}", s.render(None));
    assert!(s.discovered(props::DECISION));
    assert_eq!(s.unique, 46_412);
}

#[test]
fn mc1_equivocator_is_safe_and_pinned() {
    let s = check("mc1-equivocator");
    assert!(s.ok, "{}", s.render(None));
    assert_eq!(s.unique, 111_306);
}

#[test]
fn mc2_weighted_is_safe_and_pinned() {
    let s = check("mc2-weighted");
    assert!(s.ok, "{}", s.render(None));
    assert_eq!(s.unique, 111_510);
}

#[test]
fn mc6_liveness_all_decide() {
    let s = check("mc6-liveness");
    assert!(s.ok, "{}", s.render(None));
    assert!(!s.discovered(props::LIVENESS));
    assert_eq!(s.unique, 46_412);
}

#[test]
fn mc3_negative_control_finds_a_fork() {
    let s = check("mc3-two-equivocators");
    assert!(s.ok, "{}", s.render(None));
    assert!(s.discovered(props::AGREEMENT));
    let trace = s.trace.expect("a counterexample trace");
    assert!(trace.last().is_some_and(|l| l.contains("S1 agreement")));
}
