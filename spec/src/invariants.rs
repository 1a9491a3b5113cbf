//! Safety invariants, shared by the model checker, the simulator and the fuzzers.
//!
//! These predicates are written **independently of the machine's helpers**: they
//! recount quorums from the raw set of votes every node *sent* (honest or not),
//! with their own arithmetic, so a bug in the machine's vote keeper cannot hide a
//! violation (the approach of commonware's fuzz oracle; consensus.md §(c), §(e).5).
//!
//! | check | property (consensus.md §(c)) |
//! |---|---|
//! | [`Observations::weights_consistent`] | S0: a voter's vote for one value at one (height, round, step) has one weight (it follows from the credential) |
//! | [`Observations::agreement`] | S1: honest nodes decide the same value per height |
//! | [`Observations::one_certificate_value`] | S2: cert quorums of one height, over all rounds and all voters, are for one value |
//! | [`Observations::honest_non_equivocation`] | S3: an honest node sends ≤ 1 value per (height, round, step), across restarts |
//! | [`Observations::cert_vote_precondition`] | S5: an honest cert vote follows a soft quorum for its value |
//! | [`Observations::value_lock`] | S7: after cert(r, v), honest nodes enter later rounds with v and no empty next quorum forms |
//! | [`Observations::monotonic`] | S9: each honest node's (height, round, step) never decreases |
//! | [`Observations::certificates_well_formed`] | S10: every commit names distinct cert voters of its value with weight ≥ threshold |

use crate::params::Thresholds;
use crate::types::{Height, Hrs, MinerId, Round, Step, Value};
use std::collections::BTreeSet;
use std::fmt;

/// A vote some node sent.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct SentVote {
    /// The (height, round, step) the vote is for.
    pub hrs: Hrs,
    /// The value voted for: a header hash or the height's empty value.
    pub value: Value,
    pub voter: MinerId,
    /// Weight (seats) of the voter's credential.
    pub weight: u64,
    /// Whether the voter follows the protocol.
    pub honest: bool,
}

/// An honest node's decision.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Decision {
    pub node: MinerId,
    pub height: Height,
    /// Round of the cert quorum.
    pub round: Round,
    pub value: Value,
    /// The certificate's voters and weights.
    pub voters: Vec<(MinerId, u64)>,
}

/// An honest node entered a round with a starting value.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct RoundEntry {
    pub node: MinerId,
    pub height: Height,
    pub round: Round,
    /// The value it starts the round with (S7: the certified value, once there is one).
    pub starting: Value,
    /// The height's empty value.
    pub empty: Value,
}

/// A broken safety property, with the evidence.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Violation {
    /// S0: one vote (voter, value, height, round, step) observed with two
    /// weights. A weight follows from the voter's credential, so this is a
    /// broken harness, not a protocol outcome; both checkers refuse it so that
    /// neither has to guess which weight counts.
    InconsistentWeight {
        node: MinerId,
        /// The (height, round, step) of the vote.
        hrs: Hrs,
        /// The value voted for.
        value: Value,
        /// The two weights, smaller first.
        weights: (u64, u64),
    },
    /// S1: two honest nodes decided different values at one height.
    Agreement {
        height: Height,
        /// One honest node's decision (node, value).
        a: (MinerId, Value),
        /// Another honest node's decision, for a different value.
        b: (MinerId, Value),
    },
    /// S2: cert quorums for two different values at one height.
    TwoCertificates {
        height: Height,
        /// One certified (round, value).
        a: (Round, Value),
        /// Another certified (round, value), for a different value.
        b: (Round, Value),
    },
    /// S3: an honest node sent two values at one (height, round, step).
    HonestEquivocation {
        node: MinerId,
        /// The (height, round, step) it sent both at.
        hrs: Hrs,
        /// The two values.
        values: (Value, Value),
    },
    /// S5: an honest cert vote without a soft quorum for its value in its round.
    CertWithoutSoftQuorum {
        node: MinerId,
        /// The cert vote's (height, round, step).
        hrs: Hrs,
        /// The value cert-voted for.
        value: Value,
    },
    /// S7: after a cert quorum, a later round entered with another value, or an empty next quorum.
    ValueLock {
        height: Height,
        /// The certified round and value.
        certified: (Round, Value),
        /// What broke the lock.
        detail: String,
    },
    /// S9: an honest node's (height, round, step) went backwards.
    NotMonotonic {
        node: MinerId,
        /// Earlier position.
        from: Hrs,
        /// Later, smaller position.
        to: Hrs,
    },
    /// S10: a decision whose certificate repeats voters, names voters without a
    /// matching cert vote, or has too little weight.
    MalformedCertificate {
        node: MinerId,
        height: Height,
        /// What is wrong.
        detail: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::InconsistentWeight {
                node,
                hrs,
                value,
                weights,
            } => write!(
                f,
                "S0 one weight per vote: {node:?} voted {value:?} at {hrs} with weights {} and {}",
                weights.0, weights.1
            ),
            Violation::Agreement { height, a, b } => write!(
                f,
                "S1 agreement: at height {height} {:?} decided {:?} but {:?} decided {:?}",
                a.0, a.1, b.0, b.1
            ),
            Violation::TwoCertificates { height, a, b } => write!(
                f,
                "S2 one certificate value per height: height {height} has cert quorums for {:?} in round {} and {:?} in round {}",
                a.1, a.0, b.1, b.0
            ),
            Violation::HonestEquivocation { node, hrs, values } => write!(
                f,
                "S3 honest non-equivocation: {node:?} voted {:?} and {:?} at {hrs}",
                values.0, values.1
            ),
            Violation::CertWithoutSoftQuorum { node, hrs, value } => write!(
                f,
                "S5 cert-vote precondition: {node:?} cert-voted {value:?} at {hrs} without a soft quorum"
            ),
            Violation::ValueLock {
                height,
                certified,
                detail,
            } => write!(
                f,
                "S7 value lock: height {height}, {:?} certified in round {}: {detail}",
                certified.1, certified.0
            ),
            Violation::NotMonotonic { node, from, to } => {
                write!(f, "S9 monotonicity: {node:?} went from {from} back to {to}")
            }
            Violation::MalformedCertificate {
                node,
                height,
                detail,
            } => write!(
                f,
                "S10 certificate well-formedness: {node:?} at height {height}: {detail}"
            ),
        }
    }
}

/// Everything observed in a run, as order-insensitive sets (so that the model
/// checker does not tell apart states that differ only in arrival order).
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Observations {
    /// Thresholds (one set for every height of the run).
    pub thresholds: Thresholds,
    /// Every vote sent.
    pub votes: BTreeSet<SentVote>,
    /// Every honest decision.
    pub decisions: BTreeSet<Decision>,
    /// Every honest round entry.
    pub entries: BTreeSet<RoundEntry>,
    /// The first monotonicity breach seen, if any.
    pub breach: Option<(MinerId, Hrs, Hrs)>,
}

impl Observations {
    /// Observations of a run whose heights all use `thresholds`.
    pub fn new(thresholds: Thresholds) -> Self {
        Observations {
            thresholds,
            ..Default::default()
        }
    }

    /// Records a vote sent by `voter`.
    pub fn vote(&mut self, voter: MinerId, honest: bool, hrs: Hrs, value: Value, weight: u64) {
        self.votes.insert(SentVote {
            hrs,
            value,
            voter,
            weight,
            honest,
        });
    }

    /// Records a decision.
    pub fn decide(&mut self, d: Decision) {
        self.decisions.insert(d);
    }

    /// Records a round entry.
    pub fn enter(&mut self, e: RoundEntry) {
        self.entries.insert(e);
    }

    /// Records a node moving from position `from` to `to`.
    pub fn moved(&mut self, node: MinerId, from: Hrs, to: Hrs) {
        if to < from && self.breach.is_none() {
            self.breach = Some((node, from, to));
        }
    }

    /// The same observations with every miner id renamed by `rename`, which must
    /// be injective; a decision's voter list is re-sorted (machines emit sorted
    /// lists). Every check is stated over sets of votes, decisions and entries, so
    /// its verdict is unchanged by a renaming; the model checker uses this for
    /// symmetry reduction.
    pub fn renamed(&self, rename: &impl Fn(MinerId) -> MinerId) -> Observations {
        Observations {
            thresholds: self.thresholds,
            votes: self
                .votes
                .iter()
                .map(|v| SentVote {
                    voter: rename(v.voter),
                    ..*v
                })
                .collect(),
            decisions: self
                .decisions
                .iter()
                .map(|d| {
                    let mut voters: Vec<(MinerId, u64)> =
                        d.voters.iter().map(|&(m, w)| (rename(m), w)).collect();
                    voters.sort();
                    Decision {
                        node: rename(d.node),
                        height: d.height,
                        round: d.round,
                        value: d.value,
                        voters,
                    }
                })
                .collect(),
            entries: self
                .entries
                .iter()
                .map(|e| RoundEntry {
                    node: rename(e.node),
                    ..*e
                })
                .collect(),
            breach: self.breach.map(|(m, from, to)| (rename(m), from, to)),
        }
    }

    /// All checks, in table order; the first violation found.
    pub fn check(&self) -> Result<(), Violation> {
        self.weights_consistent()?;
        self.agreement()?;
        self.one_certificate_value()?;
        self.honest_non_equivocation()?;
        self.cert_vote_precondition()?;
        self.value_lock()?;
        self.monotonic()?;
        self.certificates_well_formed()
    }

    /// S0: no vote was observed with two weights. Votes are ordered by
    /// (hrs, value, voter, weight), so two weights of one vote are neighbours.
    pub fn weights_consistent(&self) -> Result<(), Violation> {
        let mut prev: Option<&SentVote> = None;
        for v in &self.votes {
            if let Some(p) = prev
                && (p.hrs, p.value, p.voter) == (v.hrs, v.value, v.voter)
                && p.weight != v.weight
            {
                return Err(Violation::InconsistentWeight {
                    node: v.voter,
                    hrs: v.hrs,
                    value: v.value,
                    weights: (p.weight, v.weight),
                });
            }
            prev = Some(v);
        }
        Ok(())
    }

    /// S1: honest decisions agree per height.
    pub fn agreement(&self) -> Result<(), Violation> {
        // Compare each decision against the first decision seen at its height.
        let mut first_per_height: Vec<&Decision> = Vec::new();
        for d in &self.decisions {
            match first_per_height.iter().find(|f| f.height == d.height) {
                Some(f) if f.value != d.value => {
                    return Err(Violation::Agreement {
                        height: d.height,
                        a: (f.node, f.value),
                        b: (d.node, d.value),
                    });
                }
                Some(_) => {}
                None => first_per_height.push(d),
            }
        }
        Ok(())
    }

    /// Total weight of distinct voters who sent `value` at `hrs`.
    pub fn weight_for(&self, hrs: Hrs, value: Value) -> u64 {
        let mut total = 0u64;
        let mut last: Option<MinerId> = None;
        for v in self.votes_at(hrs) {
            if v.value == value && last != Some(v.voter) {
                total = total.saturating_add(v.weight);
                last = Some(v.voter);
            }
        }
        total
    }

    fn votes_at(&self, hrs: Hrs) -> impl Iterator<Item = &SentVote> {
        let lo = SentVote {
            hrs,
            value: Value([0; 32]),
            voter: MinerId([0; 20]),
            weight: 0,
            honest: false,
        };
        self.votes.range(lo..).take_while(move |v| v.hrs == hrs)
    }

    /// Every (height, round, value) with a cert quorum among the votes sent, an
    /// equivocating voter counting for each value it sent.
    pub fn certified(&self) -> Vec<(Height, Round, Value)> {
        let mut out: Vec<(Height, Round, Value)> = Vec::new();
        let cert_positions: BTreeSet<(Hrs, Value)> = self
            .votes
            .iter()
            .filter(|v| v.hrs.step == Step::CERT)
            .map(|v| (v.hrs, v.value))
            .collect();
        for (hrs, value) in cert_positions {
            if self.weight_for(hrs, value) >= self.thresholds.cert {
                out.push((hrs.height, hrs.round, value));
            }
        }
        out
    }

    /// S2: at most one value has cert quorums in a height, over all its rounds.
    pub fn one_certificate_value(&self) -> Result<(), Violation> {
        let certified = self.certified();
        for (i, a) in certified.iter().enumerate() {
            for b in &certified[i + 1..] {
                if a.0 == b.0 && a.2 != b.2 {
                    return Err(Violation::TwoCertificates {
                        height: a.0,
                        a: (a.1, a.2),
                        b: (b.1, b.2),
                    });
                }
            }
        }
        Ok(())
    }

    /// S3: an honest node sent at most one value per (height, round, step).
    pub fn honest_non_equivocation(&self) -> Result<(), Violation> {
        let mut seen: Vec<(MinerId, Hrs, Value)> = self
            .votes
            .iter()
            .filter(|v| v.honest)
            .map(|v| (v.voter, v.hrs, v.value))
            .collect();
        seen.sort();
        for w in seen.windows(2) {
            if w[0].0 == w[1].0 && w[0].1 == w[1].1 && w[0].2 != w[1].2 {
                return Err(Violation::HonestEquivocation {
                    node: w[0].0,
                    hrs: w[0].1,
                    values: (w[0].2, w[1].2),
                });
            }
        }
        Ok(())
    }

    /// S5: every honest cert vote's value had a soft quorum in its round.
    pub fn cert_vote_precondition(&self) -> Result<(), Violation> {
        for v in self
            .votes
            .iter()
            .filter(|v| v.honest && v.hrs.step == Step::CERT)
        {
            let soft = Hrs::new(v.hrs.height, v.hrs.round, Step::SOFT);
            if self.weight_for(soft, v.value) < self.thresholds.soft {
                return Err(Violation::CertWithoutSoftQuorum {
                    node: v.voter,
                    hrs: v.hrs,
                    value: v.value,
                });
            }
        }
        Ok(())
    }

    /// S7: once `v` is certified in round r, every honest node entering a later
    /// round of the height starts from `v`, and no next quorum for the empty value
    /// forms in round r or later.
    pub fn value_lock(&self) -> Result<(), Violation> {
        for (height, round, value) in self.certified() {
            if let Some(e) = self
                .entries
                .iter()
                .find(|e| e.height == height && e.round > round && e.starting != value)
            {
                return Err(Violation::ValueLock {
                    height,
                    certified: (round, value),
                    detail: format!(
                        "{:?} entered round {} with starting value {:?}",
                        e.node, e.round, e.starting
                    ),
                });
            }
            let empties: BTreeSet<(Hrs, Value)> = self
                .votes
                .iter()
                .filter(|v| v.hrs.height == height && v.hrs.round >= round && v.hrs.step.is_next())
                .map(|v| (v.hrs, v.value))
                .collect();
            for (hrs, v) in empties {
                let is_empty = self
                    .entries
                    .iter()
                    .any(|e| e.height == height && e.empty == v);
                if is_empty && self.weight_for(hrs, v) >= self.thresholds.next {
                    return Err(Violation::ValueLock {
                        height,
                        certified: (round, value),
                        detail: format!("a next quorum formed for the empty value at {hrs}"),
                    });
                }
            }
        }
        Ok(())
    }

    /// S9: no honest node's position went backwards.
    pub fn monotonic(&self) -> Result<(), Violation> {
        match self.breach {
            Some((node, from, to)) => Err(Violation::NotMonotonic { node, from, to }),
            None => Ok(()),
        }
    }

    /// S10: each decision names distinct voters who sent cert votes for its value
    /// in its round, with total weight at or above the cert threshold.
    pub fn certificates_well_formed(&self) -> Result<(), Violation> {
        for d in &self.decisions {
            let bad = |detail: String| {
                Err(Violation::MalformedCertificate {
                    node: d.node,
                    height: d.height,
                    detail,
                })
            };
            if !d.voters.windows(2).all(|w| w[0].0 < w[1].0) {
                return bad("voters not distinct and sorted".into());
            }
            let hrs = Hrs::new(d.height, d.round, Step::CERT);
            let mut total = 0u64;
            for &(voter, weight) in &d.voters {
                let sent = self
                    .votes_at(hrs)
                    .any(|v| v.voter == voter && v.value == d.value && v.weight == weight);
                if !sent {
                    return bad(format!(
                        "{voter:?} sent no cert vote for {:?} in round {}",
                        d.value, d.round
                    ));
                }
                total = total.saturating_add(weight);
            }
            if total < self.thresholds.cert {
                return bad(format!(
                    "weight {total} below the cert threshold {}",
                    self.thresholds.cert
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Value = Value([0xaa; 32]);
    const B: Value = Value([0xbb; 32]);
    const E: Value = Value([0xee; 32]);

    fn m(i: u8) -> MinerId {
        MinerId::from_index(i)
    }

    fn obs() -> Observations {
        Observations::new(Thresholds::uniform(3))
    }

    fn cert(o: &mut Observations, round: Round, value: Value, voters: &[u8]) {
        for &i in voters {
            o.vote(m(i), i < 3, Hrs::new(1, round, Step::SOFT), value, 1);
            o.vote(m(i), i < 3, Hrs::new(1, round, Step::CERT), value, 1);
        }
    }

    fn decision(node: u8, round: Round, value: Value, voters: &[u8]) -> Decision {
        Decision {
            node: m(node),
            height: 1,
            round,
            value,
            voters: voters.iter().map(|&i| (m(i), 1)).collect(),
        }
    }

    #[test]
    fn a_clean_run_passes() {
        let mut o = obs();
        cert(&mut o, 1, A, &[0, 1, 2]);
        o.decide(decision(0, 1, A, &[0, 1, 2]));
        o.decide(decision(1, 1, A, &[0, 1, 2]));
        o.enter(RoundEntry {
            node: m(0),
            height: 1,
            round: 1,
            starting: E,
            empty: E,
        });
        o.moved(m(0), Hrs::new(1, 1, Step(1)), Hrs::new(1, 1, Step(3)));
        assert_eq!(o.check(), Ok(()));
    }

    #[test]
    fn each_violation_is_detected() {
        // S1 + S2: two decided values, both certified (node 3 is Byzantine and
        // counts for both; nodes 0..2 are honest but node 1 equivocates here).
        let mut o = obs();
        cert(&mut o, 1, A, &[0, 1, 3]);
        cert(&mut o, 2, B, &[1, 2, 3]);
        o.decide(decision(0, 1, A, &[0, 1, 3]));
        o.decide(decision(2, 2, B, &[1, 2, 3]));
        assert!(matches!(o.agreement(), Err(Violation::Agreement { .. })));
        assert!(matches!(
            o.one_certificate_value(),
            Err(Violation::TwoCertificates { .. })
        ));

        // S3
        let mut o = obs();
        o.vote(m(0), true, Hrs::new(1, 1, Step(4)), A, 1);
        o.vote(m(0), true, Hrs::new(1, 1, Step(4)), E, 1);
        assert!(matches!(
            o.honest_non_equivocation(),
            Err(Violation::HonestEquivocation { .. })
        ));
        // ... but a Byzantine node may equivocate.
        let mut o = obs();
        o.vote(m(3), false, Hrs::new(1, 1, Step(4)), A, 1);
        o.vote(m(3), false, Hrs::new(1, 1, Step(4)), E, 1);
        assert_eq!(o.honest_non_equivocation(), Ok(()));

        // S5
        let mut o = obs();
        o.vote(m(0), true, Hrs::new(1, 1, Step::CERT), A, 1);
        assert!(matches!(
            o.cert_vote_precondition(),
            Err(Violation::CertWithoutSoftQuorum { .. })
        ));

        // S7: entering round 2 with another value after A was certified in round 1.
        let mut o = obs();
        cert(&mut o, 1, A, &[0, 1, 2]);
        o.enter(RoundEntry {
            node: m(1),
            height: 1,
            round: 2,
            starting: E,
            empty: E,
        });
        assert!(matches!(o.value_lock(), Err(Violation::ValueLock { .. })));
        // S7: an empty next quorum after a certificate.
        let mut o = obs();
        cert(&mut o, 1, A, &[0, 1, 2]);
        o.enter(RoundEntry {
            node: m(1),
            height: 1,
            round: 1,
            starting: E,
            empty: E,
        });
        for i in [0, 1, 3] {
            o.vote(m(i), i < 3, Hrs::new(1, 1, Step(4)), E, 1);
        }
        assert!(matches!(o.value_lock(), Err(Violation::ValueLock { .. })));

        // S9
        let mut o = obs();
        o.moved(m(0), Hrs::new(1, 2, Step(1)), Hrs::new(1, 1, Step(5)));
        assert!(matches!(o.monotonic(), Err(Violation::NotMonotonic { .. })));

        // S10: a certificate naming a voter that sent no cert vote, or too little weight.
        let mut o = obs();
        cert(&mut o, 1, A, &[0, 1]);
        o.decide(decision(0, 1, A, &[0, 1, 2]));
        assert!(matches!(
            o.certificates_well_formed(),
            Err(Violation::MalformedCertificate { .. })
        ));
        let mut o = obs();
        cert(&mut o, 1, A, &[0, 1]);
        o.decide(decision(0, 1, A, &[0, 1]));
        assert!(matches!(
            o.certificates_well_formed(),
            Err(Violation::MalformedCertificate { .. })
        ));
    }

    #[test]
    fn renaming_keeps_every_verdict_and_round_trips() {
        let swap = |id: MinerId| match id.0[19] {
            0 => m(2),
            2 => m(0),
            _ => id,
        };
        // A fork (S1, S2, S7) with a monotonicity breach (S9) and a certificate
        // naming a voter that sent no cert vote (S10), then a clean run.
        let mut bad = obs();
        cert(&mut bad, 1, A, &[0, 1, 3]);
        cert(&mut bad, 2, B, &[1, 2, 3]);
        bad.decide(decision(0, 1, A, &[0, 1, 3]));
        bad.decide(decision(2, 2, B, &[0, 1, 2, 3]));
        bad.moved(m(0), Hrs::new(1, 2, Step(1)), Hrs::new(1, 1, Step(5)));
        let mut good = obs();
        cert(&mut good, 1, A, &[0, 1, 2]);
        good.decide(decision(2, 1, A, &[0, 1, 2]));
        for o in [bad, good] {
            let r = o.renamed(&swap);
            assert_eq!(r.renamed(&swap), o);
            assert_eq!(r.agreement().is_ok(), o.agreement().is_ok());
            assert_eq!(
                r.one_certificate_value().is_ok(),
                o.one_certificate_value().is_ok()
            );
            assert_eq!(
                r.honest_non_equivocation().is_ok(),
                o.honest_non_equivocation().is_ok()
            );
            assert_eq!(
                r.cert_vote_precondition().is_ok(),
                o.cert_vote_precondition().is_ok()
            );
            assert_eq!(r.value_lock().is_ok(), o.value_lock().is_ok());
            assert_eq!(r.monotonic().is_ok(), o.monotonic().is_ok());
            assert_eq!(
                r.certificates_well_formed().is_ok(),
                o.certificates_well_formed().is_ok()
            );
        }
        // The renamed breach names the renamed node; decisions name renamed nodes
        // and keep their voter lists sorted.
        let mut o = obs();
        o.moved(m(0), Hrs::new(1, 2, Step(1)), Hrs::new(1, 1, Step(5)));
        cert(&mut o, 1, A, &[0, 1, 2]);
        o.decide(decision(0, 1, A, &[0, 1, 2]));
        let r = o.renamed(&swap);
        assert_eq!(r.breach.map(|b| b.0), Some(m(2)));
        let d = r.decisions.iter().next().expect("one decision");
        assert_eq!(d.node, m(2));
        assert!(d.voters.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(r.certificates_well_formed(), Ok(()));
    }

    #[test]
    fn equivocators_count_once_per_value() {
        let mut o = obs();
        o.vote(m(3), false, Hrs::new(1, 1, Step::CERT), A, 1);
        o.vote(m(3), false, Hrs::new(1, 1, Step::CERT), B, 1);
        o.vote(m(3), false, Hrs::new(1, 1, Step::CERT), B, 1);
        assert_eq!(o.weight_for(Hrs::new(1, 1, Step::CERT), A), 1);
        assert_eq!(o.weight_for(Hrs::new(1, 1, Step::CERT), B), 1);
    }
}
