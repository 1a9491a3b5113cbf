//! The checked properties (consensus.md §(c)).
//!
//! Safety: every check of `spec::invariants::Observations` is an `always`
//! property. The checks run once per change of the observations (in
//! `next_state`) and their verdicts are kept as a bit set in the state, so a
//! property evaluation is a bit test.
//!
//! Reachability (L4): `sometimes` properties show that a decision, a decision in
//! round ≥ 2 and a next quorum for the empty value are reached.
//!
//! Bounded liveness (L1): in configurations with `liveness` (lossless, honest
//! proposers, timers fire only once the network is empty), every *quiescent* state
//! (no action enabled) must have every honest node decided. Because the scope is
//! finite and acyclic in such a configuration, every execution ends in a quiescent
//! state, so the property says "all honest nodes decide on every execution";
//! the run additionally checks that the maximal depth stays within
//! `Config::depth_bound`, which bounds the number of steps to decide.

use crate::config::Config;
use crate::model::{BaModel, State};
use spec::invariants::Observations;
use spec::types::{Hrs, Step};
use stateright::Property;

/// S1.
pub const AGREEMENT: &str = "S1 agreement";
/// S2.
pub const ONE_CERT: &str = "S2 one certificate value per height";
/// S3.
pub const NON_EQUIVOCATION: &str = "S3 honest non-equivocation (incl. restart)";
/// S5.
pub const CERT_PRECONDITION: &str = "S5 cert vote only after a soft quorum";
/// S7.
pub const VALUE_LOCK: &str = "S7 value lock across rounds";
/// S9.
pub const MONOTONIC: &str = "S9 monotonic (height, round, step)";
/// S10.
pub const CERT_WELL_FORMED: &str = "S10 certificate well-formedness";
/// Every decision can be certified: its voters' cert votes for the decided
/// value are where the host keeps them (`spec::certificate::assemble` succeeds).
pub const CERTIFIABLE: &str = "S11 every decision is certifiable";
/// L4: a decision.
pub const DECISION: &str = "L4 a decision is reached";
/// L4: a decision in round ≥ 2.
pub const DECISION_ROUND_2: &str = "L4 a decision in round >= 2";
/// L4: an empty next quorum.
pub const EMPTY_NEXT_QUORUM: &str = "L4 a next quorum for the empty value";
/// A node that crashed decided a block it no longer holds (it is left to
/// sync: neither the block nor the proposal is durable unless its own).
pub const LEFT_TO_SYNC: &str = "info: a restarted node decides a block it no longer holds";
/// L1.
pub const LIVENESS: &str = "L1 bounded liveness: all honest nodes decide";

/// Safety property names, in bit order.
pub const SAFETY: [&str; 7] = [
    AGREEMENT,
    ONE_CERT,
    NON_EQUIVOCATION,
    CERT_PRECONDITION,
    VALUE_LOCK,
    MONOTONIC,
    CERT_WELL_FORMED,
];

/// The bit set of violated safety checks of `obs`, in [`SAFETY`] order.
pub fn violations(obs: &Observations) -> u16 {
    let checks = [
        obs.agreement().is_err(),
        obs.one_certificate_value().is_err(),
        obs.honest_non_equivocation().is_err(),
        obs.cert_vote_precondition().is_err(),
        obs.value_lock().is_err(),
        obs.monotonic().is_err(),
        obs.certificates_well_formed().is_err(),
    ];
    checks
        .iter()
        .enumerate()
        .fold(0, |acc, (i, bad)| if *bad { acc | (1 << i) } else { acc })
}

macro_rules! safety_prop {
    ($name:expr, $bit:expr) => {
        Property::<BaModel>::always($name, |_, s: &State| s.violated & (1 << $bit) == 0)
    };
}

/// Whether some next step has a quorum for the empty value among the votes sent.
pub fn empty_next_quorum(m: &BaModel, s: &State) -> bool {
    let empty = m.empty();
    let t = m.thresholds().next;
    let positions: Vec<Hrs> = s
        .obs
        .votes
        .iter()
        .filter(|v| v.hrs.step >= Step::FIRST_NEXT && v.value == empty)
        .map(|v| v.hrs)
        .collect();
    positions
        .into_iter()
        .any(|h| s.obs.weight_for(h, empty) >= t)
}

/// Whether every honest node has decided.
pub fn all_decided(s: &State) -> bool {
    s.nodes.iter().flatten().all(|n| n.decided().is_some())
}

/// The properties checked for `cfg`.
pub fn properties(cfg: &Config) -> Vec<Property<BaModel>> {
    let mut v = vec![
        safety_prop!(AGREEMENT, 0),
        safety_prop!(ONE_CERT, 1),
        safety_prop!(NON_EQUIVOCATION, 2),
        safety_prop!(CERT_PRECONDITION, 3),
        safety_prop!(VALUE_LOCK, 4),
        safety_prop!(MONOTONIC, 5),
        safety_prop!(CERT_WELL_FORMED, 6),
        Property::<BaModel>::always(CERTIFIABLE, |_, s: &State| !s.uncertifiable),
        Property::<BaModel>::sometimes(DECISION, |_, s| !s.obs.decisions.is_empty()),
        Property::<BaModel>::sometimes(DECISION_ROUND_2, |_, s| {
            s.obs.decisions.iter().any(|d| d.round >= 2)
        }),
        Property::<BaModel>::sometimes(EMPTY_NEXT_QUORUM, empty_next_quorum),
    ];
    if cfg.max_crashes > 0 {
        v.push(Property::<BaModel>::sometimes(LEFT_TO_SYNC, |_, s| {
            s.left_to_sync
        }));
    }
    if cfg.liveness {
        v.push(Property::<BaModel>::always(LIVENESS, |m, s| {
            all_decided(s) || !m.quiescent(s)
        }));
    }
    v
}
