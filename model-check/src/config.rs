//! Named model-checking configurations (consensus.md §(b.4), MC-0 … MC-6) and the
//! mutation used to prove that the checker can fail.
//!
//! Every configuration is height 1 only, with rounds ≤ `max_round` and steps
//! ≤ `max_step` (≤ `last_round_max_step` in the last round), a budget of Byzantine
//! votes and, in lockstep configurations, a budget of early timer firings, so each
//! exploration is exhaustive within its scope.

use crate::symmetry::Classes;
use spec::params::{Params, Thresholds};
use std::fmt;

/// A value in the model's scope: the two candidate blocks and the empty value.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Val {
    /// Block A.
    A,
    /// Block B.
    B,
    /// The height's empty value (⊥), only meaningful in next votes.
    E,
}

impl fmt::Display for Val {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Val::A => "A",
            Val::B => "B",
            Val::E => "⊥",
        })
    }
}

/// An honest proposer: when its machine asks for a new block it proposes `value`,
/// with a fixed credential priority (smaller is better).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Proposer {
    /// Index of the proposing node (into [`Config::weights`]).
    pub node: usize,
    /// The block it proposes for a new block.
    pub value: Val,
    /// Its credential priority (all 32 bytes set to this).
    pub priority: u8,
}

/// What a run must report for its verdict to hold.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Expect {
    /// No `always` property fails, and every listed `sometimes` property is reached.
    Safe {
        /// `sometimes` properties that must be reached.
        reach: Vec<&'static str>,
    },
    /// A safety (`always`) property fails: the negative control and the mutation
    /// run. With `Some(name)`, that property must be among the failures (the run
    /// stops once it fails); with `None`, any safety failure will do.
    Violation(Option<&'static str>),
}

/// One model-checking configuration.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Config {
    /// Command-line name.
    pub name: String,
    /// One-line description.
    pub about: &'static str,
    /// Weight (seats) of each node; the fixed committee is every node but the
    /// suspended ones.
    pub weights: Vec<u64>,
    /// Indices of the Byzantine (equivocating) nodes.
    pub byzantine: Vec<usize>,
    /// Indices of the suspended nodes (each also Byzantine): miners suspended
    /// for equivocation, left out of the committee. Their keys are not in the
    /// roster the drivers receive and their weight is not in the total (nor in
    /// the thresholds); they still sign what they send with their keys and
    /// their weight as stake, and every honest node must ignore it.
    pub suspended: Vec<usize>,
    /// Honest proposers.
    pub proposers: Vec<Proposer>,
    /// Highest round explored.
    pub max_round: u32,
    /// Highest step explored (2 soft, 3 cert, 4.. next votes).
    pub max_step: u32,
    /// Highest step explored in the last round (`max_round`), if lower than
    /// `max_step`: the last round only needs to reach its certificate.
    pub last_round_max_step: Option<u32>,
    /// Votes each Byzantine node may send in total (bounds the adversary).
    pub byz_budget: u8,
    /// Values the Byzantine nodes vote for (⊥ only in next steps).
    pub byz_values: Vec<Val>,
    /// Messages may be lost (a drop action).
    pub lossy: bool,
    /// A delivered message stays in the network (duplication / replay).
    pub duplicating: bool,
    /// Crashes allowed per node; a crashed node restarts from its last journal.
    pub max_crashes: u8,
    /// The nodes that may crash.
    pub crashable: Vec<usize>,
    /// Wall-clock limit of the run in the default suite (the run is then bounded,
    /// not exhaustive, and says so).
    pub timeout_secs: Option<u64>,
    /// Timers fire only when no message is in flight ("deliver before timeout",
    /// MC-6). Otherwise timers fire at any moment.
    pub synchronous: bool,
    /// With `synchronous`: how many timers may still fire early, at any moment
    /// (a node timing out while messages are in flight or another node is behind:
    /// bounded asynchrony, like the Byzantine vote budget).
    pub early_timers: u8,
    /// Check bounded liveness L1 at quiescent states.
    pub liveness: bool,
    /// Cert threshold override (the mutation), in weight.
    pub cert_threshold: Option<u64>,
    /// Byzantine nodes may also cert-vote the empty value (which the machine
    /// drops, but a host that stored cert votes before the machine's checks
    /// kept).
    pub byz_empty_cert: bool,
    /// Byzantine nodes also send blocks and proposals: a block no proposal
    /// names, an honest proposer's header with a tampered body or with a
    /// trailing byte, proposals of the honest proposers' values (naming a
    /// block whose header they did not put forward), and votes for far rounds
    /// and far steps.
    pub byz_blocks: bool,
    /// Byzantine nodes also send proposals of the honest proposers' values
    /// (the proposals of `byz_blocks`, without its blocks and far votes).
    pub byz_proposals: bool,
    /// A new block travels with its proposal, in one delivery (proposal,
    /// then block). Otherwise they are two messages delivered in any order.
    /// A scope cut for the configurations about votes: the order of a block
    /// and its proposal is explored where blocks matter (mc0, mc5, mc6, mc8,
    /// mc9).
    pub block_with_proposal: bool,
    /// Hosts keep the first cert vote per (round, voter), whatever its value,
    /// before the machine sees it (the mutation `cert-votes-by-voter`: the
    /// consensus host's design before `spec::driver::certvotes`). Otherwise
    /// they keep cert votes as the driver does.
    pub cert_votes_by_voter: bool,
    /// The suspended nodes' records stay in the roster the drivers receive,
    /// while the total and the thresholds leave them out (the mutation
    /// `suspended-in-roster`: a host whose committee lookup missed the
    /// suspension). Otherwise they are not in the roster.
    pub suspended_in_roster: bool,
    /// Bound on the search depth for L1 (reported; the run fails if exceeded).
    pub depth_bound: Option<usize>,
    pub expect: Expect,
}

/// The names of the configurations, for `--help` and the default suite.
pub const NAMES: &[(&str, &str)] = &[
    (
        "mc0-smoke",
        "MC-0: 4 equal honest nodes, no faults, lossless, round 1",
    ),
    (
        "mc1-equivocator",
        "MC-1: 4 nodes, node 3 equivocates; lossy, timers at any moment, round 1 to the cert step",
    ),
    (
        "mc2-weighted",
        "MC-2: weights [1,1,2,3], the weight-2 node equivocates; lossy, timers at any moment, round 1 to the cert step",
    ),
    (
        "mc3-two-equivocators",
        "MC-3 negative control: 4 nodes, 2 equivocators; must find a fork",
    ),
    (
        "mc4-multi-round",
        "MC-4: 4 nodes, 1 equivocator, rounds <= 2, lockstep timers but 2 may fire early (value lock across rounds; decision in round 2)",
    ),
    (
        "mc5-crash-restart",
        "MC-5: 4 honest nodes, lockstep; node 2 may crash once and restart from its journal",
    ),
    (
        "mc6-liveness",
        "MC-6: 4 honest nodes, lossless, deliver-before-timeout; all decide (L1)",
    ),
    (
        "mc7-mutation-scope",
        "MC-7: 4 nodes, 1 equivocator (2 votes), lockstep timers but 2 may fire early, round 1 to the first next step; safe as shipped, broken by --mutate",
    ),
    (
        "mc9-hostile-blocks",
        "MC-9: 4 nodes, node 3 Byzantine with blocks (junk, tampered body, trailing bytes), proposals naming others' blocks, far votes (2 attacks), lockstep; all honest nodes decide (L1)",
    ),
    (
        "mc8-cert-votes",
        "MC-8: 4 nodes, node 3 Byzantine (cert-votes the empty value and A, 2 votes), lockstep, round 1 to the cert step; every decision is certifiable; broken by --mutate cert-votes-by-voter",
    ),
    (
        "mc10-suspended",
        "MC-10: 4 nodes, node 3 suspended for equivocation (not in the roster or the total stake) but online and Byzantine: signed equivocating votes and proposals (2 attacks), lockstep; the 3 honest nodes are the committee and all decide (L1); broken by --mutate suspended-in-roster",
    ),
];

/// A mutation of the protocol parameters that must make the checker fail.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Mutation {
    /// The cert threshold is half the total weight instead of > 2/3.
    CertThresholdHalf,
    /// Cert votes kept first-come per (round, voter), before the machine's
    /// checks: a decision the node cannot certify is then reachable.
    CertVotesByVoter,
    /// Suspended miners stay in the roster (out of the total): their votes
    /// are counted again.
    SuspendedInRoster,
}

impl std::str::FromStr for Mutation {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "cert-threshold=half" => Ok(Mutation::CertThresholdHalf),
            "cert-votes-by-voter" => Ok(Mutation::CertVotesByVoter),
            "suspended-in-roster" => Ok(Mutation::SuspendedInRoster),
            other => Err(format!(
                "unknown mutation {other:?}; supported: cert-threshold=half, \
                 cert-votes-by-voter, suspended-in-roster"
            )),
        }
    }
}

impl Config {
    /// The configuration called `name`; `small` selects the reduced CI scope.
    pub fn named(name: &str, small: bool) -> Result<Config, String> {
        let base = Config {
            name: name.to_string(),
            about: NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, a)| *a)
                .unwrap_or(""),
            weights: vec![1, 1, 1, 1],
            byzantine: vec![],
            suspended: vec![],
            proposers: vec![
                Proposer {
                    node: 0,
                    value: Val::A,
                    priority: 1,
                },
                Proposer {
                    node: 1,
                    value: Val::B,
                    priority: 2,
                },
            ],
            max_round: 1,
            max_step: 5,
            last_round_max_step: None,
            byz_budget: 0,
            byz_values: vec![Val::A, Val::B, Val::E],
            lossy: false,
            duplicating: false,
            max_crashes: 0,
            crashable: vec![],
            timeout_secs: None,
            synchronous: false,
            early_timers: 0,
            liveness: false,
            cert_threshold: None,
            byz_empty_cert: false,
            byz_blocks: false,
            byz_proposals: false,
            block_with_proposal: false,
            cert_votes_by_voter: false,
            suspended_in_roster: false,
            depth_bound: None,
            expect: Expect::Safe {
                reach: vec![crate::props::DECISION, crate::props::EMPTY_NEXT_QUORUM],
            },
        };
        let cfg = match name {
            "mc0-smoke" => Config {
                max_step: if small { 4 } else { 5 },
                synchronous: true,
                expect: Expect::Safe {
                    reach: vec![crate::props::DECISION],
                },
                ..base
            },
            "mc1-equivocator" => Config {
                block_with_proposal: true,
                byzantine: vec![3],
                byz_budget: 1,
                proposers: base.proposers[..1].to_vec(),
                lossy: true,
                max_step: 3,
                expect: Expect::Safe {
                    reach: vec![crate::props::DECISION],
                },
                ..base
            },
            "mc2-weighted" => Config {
                block_with_proposal: true,
                weights: vec![1, 1, 2, 3],
                byzantine: vec![2],
                byz_budget: 1,
                proposers: base.proposers[..1].to_vec(),
                lossy: true,
                max_step: 3,
                expect: Expect::Safe {
                    reach: vec![crate::props::DECISION],
                },
                ..base
            },
            "mc3-two-equivocators" => Config {
                block_with_proposal: true,
                byzantine: vec![2, 3],
                byz_budget: 4,
                max_step: 3,
                expect: Expect::Violation(Some(crate::props::AGREEMENT)),
                ..base
            },
            // Rounds <= 2 under bounded asynchrony: timers fire in lockstep (once
            // every message is delivered) except for `early_timers` firings at any
            // moment, which is what makes nodes miss the proposal or the soft
            // quorum and move to round 2 (with or without a value locked). Round 2
            // is explored up to its cert step: a decision there is reachable.
            "mc4-multi-round" => Config {
                block_with_proposal: true,
                byzantine: vec![3],
                byz_budget: 1,
                max_round: 2,
                max_step: 4,
                last_round_max_step: Some(3),
                proposers: base.proposers[..1].to_vec(),
                synchronous: true,
                early_timers: if small { 1 } else { 2 },
                // One Byzantine vote for B, which no honest node proposes, can
                // never complete a quorum (threshold 3, one vote): it changes no
                // honest behaviour, so it is left out.
                byz_values: vec![Val::A, Val::E],
                timeout_secs: Some(300),
                expect: Expect::Safe {
                    reach: vec![
                        crate::props::DECISION,
                        crate::props::DECISION_ROUND_2,
                        crate::props::EMPTY_NEXT_QUORUM,
                    ],
                },
                ..base
            },
            "mc5-crash-restart" => Config {
                max_crashes: 1,
                crashable: vec![2],
                synchronous: true,
                max_step: if small { 3 } else { 4 },
                expect: Expect::Safe {
                    reach: vec![crate::props::DECISION],
                },
                ..base
            },
            // The scope in which a weakened cert threshold is caught: with a cert
            // quorum of 2, one honest cert vote plus the equivocator's certifies A
            // while the other honest nodes, whose cert-step timers fired before
            // the soft votes arrived, next-vote the empty value with the
            // equivocator (value lock, S7, breaks).
            "mc7-mutation-scope" => Config {
                block_with_proposal: true,
                byzantine: vec![3],
                byz_budget: 2,
                proposers: base.proposers[..1].to_vec(),
                max_step: 4,
                synchronous: true,
                early_timers: 2,
                timeout_secs: Some(60),
                expect: Expect::Safe {
                    reach: vec![crate::props::DECISION],
                },
                ..base
            },
            // A Byzantine committee member cert-votes the empty value and then
            // the leader's value A. The machine drops the first and counts the
            // second, so a decision's voters may include it: its cert vote for A
            // must then be what the certificate is assembled from.
            "mc8-cert-votes" => Config {
                byzantine: vec![3],
                byz_budget: 2,
                byz_values: vec![Val::A, Val::E],
                byz_empty_cert: true,
                proposers: base.proposers[..1].to_vec(),
                max_step: 3,
                synchronous: true,
                // Not L1: a node that decides with the Byzantine vote stops, and
                // the model has no catch-up by certificate, so the others can wait
                // at the cert step forever within this scope.
                expect: Expect::Safe {
                    reach: vec![crate::props::DECISION],
                },
                ..base
            },
            // A Byzantine member with no votes to give but every other kind of
            // message: what it sends is refused, held, or names a block it did
            // not build, and the three honest nodes (exactly the quorum) must
            // still all decide.
            "mc9-hostile-blocks" => Config {
                byzantine: vec![3],
                byz_budget: if small { 1 } else { 2 },
                byz_values: vec![],
                byz_blocks: true,
                synchronous: true,
                liveness: true,
                depth_bound: Some(60),
                expect: Expect::Safe {
                    reach: vec![crate::props::DECISION],
                },
                ..base
            },
            // A miner suspended for equivocation is no longer in the committee
            // (roster and total stake) but is still online: it signs votes for
            // A and B in every step in scope and for ⊥ in next steps (so it
            // can equivocate), and proposals of A and B, all with its own valid
            // keys. Honest nodes must refuse all of it (a miner not in the
            // roster); the three of them are the whole committee (quorum 3 of
            // 3) and must all decide. The model records the suspended node's
            // votes with weight 0, so a quorum or a certificate counting one
            // breaks S5 or S10.
            "mc10-suspended" => Config {
                byzantine: vec![3],
                suspended: vec![3],
                byz_budget: if small { 1 } else { 2 },
                byz_proposals: true,
                synchronous: true,
                liveness: true,
                depth_bound: Some(60),
                expect: Expect::Safe {
                    reach: vec![crate::props::DECISION],
                },
                ..base
            },
            "mc6-liveness" => Config {
                synchronous: true,
                liveness: true,
                depth_bound: Some(60),
                expect: Expect::Safe {
                    reach: vec![crate::props::DECISION],
                },
                ..base
            },
            other => {
                let names: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                return Err(format!(
                    "unknown configuration {other:?}; known: {}",
                    names.join(", ")
                ));
            }
        };
        Ok(cfg)
    }

    /// Applies a mutation: the run is then expected to violate safety.
    pub fn mutate(mut self, m: Mutation) -> Config {
        match m {
            Mutation::CertThresholdHalf => {
                self.cert_threshold = Some(self.total_weight() / 2);
                self.name = format!("{}+cert-threshold=half", self.name);
                self.expect = Expect::Violation(None);
                self.liveness = false;
            }
            Mutation::CertVotesByVoter => {
                self.cert_votes_by_voter = true;
                self.name = format!("{}+cert-votes-by-voter", self.name);
                self.expect = Expect::Violation(Some(crate::props::CERTIFIABLE));
                self.liveness = false;
            }
            Mutation::SuspendedInRoster => {
                self.suspended_in_roster = true;
                self.name = format!("{}+suspended-in-roster", self.name);
                self.expect = Expect::Violation(None);
                self.liveness = false;
            }
        }
        self
    }

    /// The committee's total weight: every node's weight but the suspended
    /// nodes'.
    pub fn total_weight(&self) -> u64 {
        (0..self.weights.len())
            .filter(|i| !self.is_suspended(*i))
            .map(|i| self.weights[i])
            .sum()
    }

    /// Node `i`'s weight in the committee (0 for a suspended node).
    pub fn committee_weight(&self, i: usize) -> u64 {
        if self.is_suspended(i) {
            0
        } else {
            self.weights[i]
        }
    }

    /// Fixed-committee parameters (Params::fixed_committee).
    pub fn params(&self) -> Params {
        Params::fixed_committee(1)
    }

    /// Thresholds: `Params::fixed_committee(..).thresholds(total)`, with the
    /// mutation's cert threshold if any.
    pub fn thresholds(&self) -> Thresholds {
        let mut t = self.params().thresholds(self.total_weight());
        if let Some(c) = self.cert_threshold {
            t.cert = c;
        }
        t
    }

    /// Whether node `i` is Byzantine.
    pub fn is_byzantine(&self, i: usize) -> bool {
        self.byzantine.contains(&i)
    }

    /// Whether node `i` is suspended (out of the roster and the total).
    pub fn is_suspended(&self, i: usize) -> bool {
        self.suspended.contains(&i)
    }

    /// Honest node indices.
    pub fn honest(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.weights.len()).filter(|i| !self.is_byzantine(*i))
    }

    /// The symmetry classes: nodes with the same weight, honesty, suspension,
    /// proposer role (value and priority) and crash allowance are
    /// interchangeable.
    pub fn symmetry_classes(&self) -> Classes {
        let keys: Vec<_> = (0..self.weights.len())
            .map(|i| {
                (
                    self.weights[i],
                    self.is_byzantine(i),
                    self.is_suspended(i),
                    self.proposer(i).map(|p| (p.value, p.priority)),
                    self.crashable.contains(&i),
                )
            })
            .collect();
        Classes::from_keys(&keys)
    }

    /// Highest step explored in `round`.
    pub fn max_step_in(&self, round: u32) -> u32 {
        match self.last_round_max_step {
            Some(s) if round == self.max_round => s.min(self.max_step),
            _ => self.max_step,
        }
    }

    /// The proposer entry of node `i`, if it is an honest proposer.
    pub fn proposer(&self, i: usize) -> Option<Proposer> {
        self.proposers
            .iter()
            .copied()
            .find(|p| p.node == i && !self.is_byzantine(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_builds_and_unknown_names_fail() {
        for (name, _) in NAMES {
            let c = Config::named(name, false).expect("known config");
            assert_eq!(c.name, *name);
            assert!(c.byzantine.iter().all(|b| *b < c.weights.len()));
            assert!(c.suspended.iter().all(|s| c.is_byzantine(*s)));
            assert!(c.weights.len() <= crate::symmetry::MAX_NODES);
        }
        assert!(Config::named("nope", false).is_err());
    }

    #[test]
    fn thresholds_and_mutation() {
        let c = Config::named("mc2-weighted", false).expect("known");
        assert_eq!(c.thresholds(), Thresholds::uniform(5));
        let m = Config::named("mc4-multi-round", false)
            .expect("known")
            .mutate(Mutation::CertThresholdHalf);
        assert_eq!(m.thresholds().cert, 2);
        assert_eq!(m.thresholds().soft, 3);
        assert_eq!(m.expect, Expect::Violation(None));
        assert!("cert-threshold=third".parse::<Mutation>().is_err());
        // A suspended node's weight is out of the total and the thresholds.
        let s = Config::named("mc10-suspended", false).expect("known");
        assert_eq!(s.total_weight(), 3);
        assert_eq!(s.committee_weight(3), 0);
        assert_eq!(s.thresholds(), Thresholds::uniform(3));
    }
}
