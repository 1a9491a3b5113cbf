//! Vote counting for one height: weight per (round, step, value).
//!
//! Kaleido reference §4.8, with two differences that fix its weakness W9:
//! - every vote is remembered as *seen* even after its step reached a quorum, so a
//!   re-sent copy is recognised by [`VoteKeeper::seen`] and never re-verified;
//! - a second, different vote by the same voter in the same (round, step) is kept as
//!   [`Equivocation`] evidence (and counted, see below).
//!
//! A voter counts once per (round, step) and value: a copy of a vote adds nothing.
//! An equivocator — a voter seen with two values in one (round, step) — is kept as
//! evidence and, as in go-algorand (`agreement/vote.go`), counts toward both values:
//! it could have sent either, and the thresholds already assume Byzantine weight
//! may stand on both sides (safety needs `2t − n > b`). Without this, an equivocator
//! that shows different values to different honest nodes can stall them (seen in
//! the simulator). Values beyond the second are ignored, so a voter can never grow
//! the keeper by more than two entries per (round, step).
//!
//! The quorum test is `weight >= threshold` (go-algorand `reachesQuorum`).
//!
//! Storage is ordered, not hashed: iteration order is deterministic (the model
//! checker hashes every state). Tallies are a sorted vector of (round, step), each
//! holding its votes in an ordered map keyed by (voter, value) and a running total
//! per value, so adding or looking up a vote costs a logarithm of the votes
//! already counted at its step, and a quorum test reads a total, never a recount.

use std::collections::BTreeMap;

use crate::types::{MinerId, Round, Step, Value};

/// Evidence that `voter` voted two different values in one (round, step).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Equivocation {
    /// The equivocating voter.
    pub voter: MinerId,
    pub round: Round,
    pub step: Step,
    /// The smaller of the voter's two counted values (by byte order).
    pub first: Value,
    /// The conflicting value (not counted).
    pub second: Value,
}

/// What [`VoteKeeper::add`] did with a vote.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Added {
    /// Counted; the value's weight in this (round, step) is now `total`.
    Counted {
        /// The value's new total weight.
        total: u64,
    },
    /// The same vote was already counted.
    Duplicate,
    /// The voter already voted another value here: evidence. `counted` tells
    /// whether the vote was counted (the voter's second value) or ignored (third
    /// and later values).
    Equivocation {
        evidence: Equivocation,
        /// Whether this vote changed a value's weight.
        counted: bool,
    },
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct StepTally {
    round: Round,
    step: Step,
    /// Votes counted, by (voter, value), with their weights; at most two values
    /// per voter. Ordered, so a voter's values are adjacent and every lookup is
    /// logarithmic in the votes of the step.
    votes: BTreeMap<(MinerId, Value), u64>,
    /// Running total weight per value, sorted by value (a step sees a handful of
    /// values, so the sorted vector stays short).
    totals: Vec<(Value, u64)>,
}

impl StepTally {
    /// The values `voter` was counted for here, in value order (at most two).
    fn of_voter(&self, voter: MinerId) -> impl Iterator<Item = (Value, u64)> + '_ {
        self.votes
            .range((voter, Value([0; 32]))..=(voter, Value([0xff; 32])))
            .map(|(&(_, value), &weight)| (value, weight))
    }
}

/// Vote counts of one height.
#[derive(Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct VoteKeeper {
    /// Sorted by (round, step).
    tallies: Vec<StepTally>,
    /// Sorted and distinct.
    evidence: Vec<Equivocation>,
    /// Votes counted over every tally.
    counted: usize,
}

impl VoteKeeper {
    pub fn new() -> Self {
        Self::default()
    }

    fn tally(&self, round: Round, step: Step) -> Option<&StepTally> {
        self.tallies
            .binary_search_by(|t| (t.round, t.step).cmp(&(round, step)))
            .ok()
            .map(|i| &self.tallies[i])
    }

    /// Counts `voter`'s vote for `value` at (round, step) with `weight` seats.
    /// Logarithmic in the votes already counted at that step.
    pub fn add(
        &mut self,
        voter: MinerId,
        round: Round,
        step: Step,
        value: Value,
        weight: u64,
    ) -> Added {
        let idx = match self
            .tallies
            .binary_search_by(|t| (t.round, t.step).cmp(&(round, step)))
        {
            Ok(i) => i,
            Err(i) => {
                self.tallies.insert(
                    i,
                    StepTally {
                        round,
                        step,
                        votes: BTreeMap::new(),
                        totals: Vec::new(),
                    },
                );
                i
            }
        };
        let tally = &mut self.tallies[idx];
        if tally.votes.contains_key(&(voter, value)) {
            return Added::Duplicate;
        }
        let mut mine = tally.of_voter(voter);
        let first = mine.next().map(|(v, _)| v);
        let already = first.map_or(0, |_| 1 + mine.count());
        let evidence = first.map(|first| Equivocation {
            voter,
            round,
            step,
            first,
            second: value,
        });
        if let Some(e) = evidence {
            if let Err(j) = self.evidence.binary_search(&e) {
                self.evidence.insert(j, e);
            }
            if already >= 2 {
                return Added::Equivocation {
                    evidence: e,
                    counted: false,
                };
            }
        }
        tally.votes.insert((voter, value), weight);
        self.counted += 1;
        let total = match tally.totals.binary_search_by(|t| t.0.cmp(&value)) {
            Ok(j) => {
                tally.totals[j].1 = tally.totals[j].1.saturating_add(weight);
                tally.totals[j].1
            }
            Err(j) => {
                tally.totals.insert(j, (value, weight));
                weight
            }
        };
        match evidence {
            Some(evidence) => Added::Equivocation {
                evidence,
                counted: true,
            },
            None => Added::Counted { total },
        }
    }

    /// Whether `voter` already has two values counted at (round, step): any
    /// further value is ignored by [`VoteKeeper::add`], so hosts drop it before
    /// verifying it (an equivocator's third and later values cost nothing).
    pub fn saturated(&self, voter: MinerId, round: Round, step: Step) -> bool {
        self.tally(round, step)
            .is_some_and(|t| t.of_voter(voter).nth(1).is_some())
    }

    /// The smallest value `voter` was counted for at (round, step), if any.
    pub fn seen(&self, voter: MinerId, round: Round, step: Step) -> Option<Value> {
        self.tally(round, step)?
            .of_voter(voter)
            .next()
            .map(|(v, _)| v)
    }

    /// Whether this exact vote is already known. Hosts ask this before verifying a
    /// vote, so a copy costs no verification (fixes Kaleido W9).
    pub fn contains(&self, voter: MinerId, round: Round, step: Step, value: Value) -> bool {
        self.tally(round, step)
            .is_some_and(|t| t.votes.contains_key(&(voter, value)))
    }

    /// Total weight counted for `value` at (round, step).
    pub fn weight(&self, round: Round, step: Step, value: Value) -> u64 {
        self.tally(round, step)
            .and_then(|t| {
                t.totals
                    .binary_search_by(|x| x.0.cmp(&value))
                    .ok()
                    .map(|i| t.totals[i].1)
            })
            .unwrap_or(0)
    }

    /// Values whose weight at (round, step) reaches `threshold`, in value order.
    pub fn quorums(
        &self,
        round: Round,
        step: Step,
        threshold: u64,
    ) -> impl Iterator<Item = Value> + '_ {
        self.tally(round, step)
            .into_iter()
            .flat_map(|t| t.totals.iter())
            .filter(move |(_, w)| *w >= threshold)
            .map(|(v, _)| *v)
    }

    /// Every (round, step, value) with a quorum, where `threshold` gives the
    /// threshold of each step, in (round, step, value) order.
    pub fn all_quorums<'a>(
        &'a self,
        threshold: impl Fn(Step) -> u64 + 'a,
    ) -> impl Iterator<Item = (Round, Step, Value)> + 'a {
        self.tallies.iter().flat_map(move |t| {
            let th = threshold(t.step);
            t.totals
                .iter()
                .filter(move |(_, w)| *w >= th)
                .map(move |(v, _)| (t.round, t.step, *v))
        })
    }

    /// The voters counted for `value` at (round, step), sorted, with their weights.
    pub fn voters(&self, round: Round, step: Step, value: Value) -> Vec<(MinerId, u64)> {
        self.tally(round, step)
            .map(|t| {
                t.votes
                    .iter()
                    .filter(|((_, v), _)| *v == value)
                    .map(|(&(voter, _), &w)| (voter, w))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Equivocation evidence gathered so far, sorted.
    pub fn evidence(&self) -> &[Equivocation] {
        &self.evidence
    }

    /// Number of distinct (voter, round, step) votes counted.
    pub fn len(&self) -> usize {
        self.counted
    }

    /// True when no vote was counted.
    pub fn is_empty(&self) -> bool {
        self.tallies.is_empty()
    }

    /// The same counts with every voter renamed by `rename`, which must be
    /// injective (a permutation of miner ids). Counting depends on voters only
    /// through their identity, so renaming commutes with [`VoteKeeper::add`]; the
    /// model checker uses this to map a state onto a symmetric one.
    pub fn renamed(&self, rename: &impl Fn(MinerId) -> MinerId) -> VoteKeeper {
        let tallies = self
            .tallies
            .iter()
            .map(|t| StepTally {
                round: t.round,
                step: t.step,
                votes: t
                    .votes
                    .iter()
                    .map(|(&(voter, value), &weight)| ((rename(voter), value), weight))
                    .collect(),
                totals: t.totals.clone(),
            })
            .collect();
        let mut evidence: Vec<Equivocation> = self
            .evidence
            .iter()
            .map(|e| Equivocation {
                voter: rename(e.voter),
                ..*e
            })
            .collect();
        evidence.sort();
        VoteKeeper {
            tallies,
            evidence,
            counted: self.counted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Value = Value([0xaa; 32]);
    const B: Value = Value([0xbb; 32]);
    const C: Value = Value([0xcc; 32]);

    fn m(i: u8) -> MinerId {
        MinerId::from_index(i)
    }

    #[test]
    fn table() {
        // (voter, round, step, value, weight, expected result, weight of A at (1,2) after)
        #[allow(clippy::type_complexity)]
        let table: &[(u8, Round, u32, Value, u64, Added, u64)] = &[
            (1, 1, 2, A, 2, Added::Counted { total: 2 }, 2),
            (1, 1, 2, A, 2, Added::Duplicate, 2),
            (
                1,
                1,
                2,
                B,
                2,
                Added::Equivocation {
                    evidence: Equivocation {
                        voter: m(1),
                        round: 1,
                        step: Step(2),
                        first: A,
                        second: B,
                    },
                    counted: true,
                },
                2,
            ),
            (
                1,
                1,
                2,
                C,
                2,
                Added::Equivocation {
                    evidence: Equivocation {
                        voter: m(1),
                        round: 1,
                        step: Step(2),
                        first: A,
                        second: C,
                    },
                    counted: false,
                },
                2,
            ),
            (2, 1, 2, B, 1, Added::Counted { total: 3 }, 2),
            (3, 1, 2, A, 3, Added::Counted { total: 5 }, 5),
            (3, 1, 3, B, 3, Added::Counted { total: 3 }, 5),
            (3, 2, 2, A, 3, Added::Counted { total: 3 }, 5),
        ];
        let mut k = VoteKeeper::new();
        for (i, &(voter, round, step, value, weight, expected, a_weight)) in
            table.iter().enumerate()
        {
            assert_eq!(
                k.add(m(voter), round, Step(step), value, weight),
                expected,
                "row {i}"
            );
            assert_eq!(k.weight(1, Step(2), A), a_weight, "row {i}");
        }
        assert_eq!(k.seen(m(1), 1, Step(2)), Some(A));
        assert_eq!(k.seen(m(1), 1, Step(3)), None);
        assert!(k.contains(m(1), 1, Step(2), B));
        assert!(!k.contains(m(1), 1, Step(2), C));
        assert!(k.saturated(m(1), 1, Step(2)), "A and B counted");
        assert!(!k.saturated(m(3), 1, Step(2)), "one value");
        assert!(!k.saturated(m(1), 1, Step(3)), "no vote");
        assert_eq!(k.evidence().len(), 2);
        assert_eq!(k.evidence()[0].second, B);
        assert_eq!(k.voters(1, Step(2), A), vec![(m(1), 2), (m(3), 3)]);
        assert_eq!(k.voters(1, Step(2), B), vec![(m(1), 2), (m(2), 1)]);
        assert_eq!(k.quorums(1, Step(2), 5).collect::<Vec<_>>(), vec![A]);
        assert_eq!(k.quorums(1, Step(2), 6).count(), 0);
        assert_eq!(k.len(), 6);
    }

    #[test]
    fn votes_after_quorum_are_still_seen() {
        let mut k = VoteKeeper::new();
        for i in 0..5 {
            k.add(m(i), 1, Step(3), A, 1);
        }
        assert_eq!(k.quorums(1, Step(3), 3).count(), 1);
        assert_eq!(k.seen(m(4), 1, Step(3)), Some(A));
        assert_eq!(k.add(m(4), 1, Step(3), A, 1), Added::Duplicate);
    }

    #[test]
    fn all_quorums_use_per_step_thresholds() {
        let mut k = VoteKeeper::new();
        k.add(m(1), 1, Step(2), A, 2);
        k.add(m(2), 1, Step(4), B, 2);
        let q: Vec<_> = k
            .all_quorums(|s| if s == Step(2) { 2 } else { 3 })
            .collect();
        assert_eq!(q, vec![(1, Step(2), A)]);
    }

    /// The keeper against a brute-force recount over the raw vote sequence, on
    /// random sequences with repeats and equivocations: every answer agrees.
    #[test]
    fn running_totals_agree_with_a_recount() {
        use rand_chacha::ChaCha8Rng;
        use rand_core::{RngCore, SeedableRng};
        const VALUES: [Value; 3] = [A, B, C];
        for seed in 0..200u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut k = VoteKeeper::new();
            // What the keeper must have counted: (voter, round, step) -> values in
            // arrival order with weights, at most two values kept.
            let mut raw: Vec<(u8, Round, Step, Value, u64)> = Vec::new();
            let voters = 2 + rng.next_u64() % 30;
            for _ in 0..(rng.next_u64() % 300) {
                let voter = (rng.next_u64() % voters) as u8;
                let round = 1 + (rng.next_u64() % 2) as Round;
                let step = Step(2 + (rng.next_u64() % 3) as u32);
                let value = VALUES[(rng.next_u64() % 3) as usize];
                let weight = 1 + voter as u64 % 4;
                let prior: Vec<Value> = raw
                    .iter()
                    .filter(|r| (r.0, r.1, r.2) == (voter, round, step))
                    .map(|r| r.3)
                    .collect();
                let expected = if prior.contains(&value) {
                    None
                } else if prior.len() >= 2 {
                    Some(false)
                } else {
                    Some(true)
                };
                let added = k.add(m(voter), round, step, value, weight);
                match (expected, added) {
                    (None, Added::Duplicate) => {}
                    (Some(false), Added::Equivocation { counted: false, .. }) => {}
                    (Some(true), Added::Counted { .. }) if prior.is_empty() => {}
                    (Some(true), Added::Equivocation { counted: true, .. })
                        if !prior.is_empty() => {}
                    other => panic!("seed {seed}: unexpected {other:?}"),
                }
                if expected == Some(true) {
                    raw.push((voter, round, step, value, weight));
                }
                // Recount the touched step from scratch.
                for v in VALUES {
                    let recount: u64 = raw
                        .iter()
                        .filter(|r| (r.1, r.2, r.3) == (round, step, v))
                        .map(|r| r.4)
                        .sum();
                    assert_eq!(k.weight(round, step, v), recount, "seed {seed}");
                }
            }
            assert_eq!(k.len(), raw.len(), "seed {seed}");
            for round in 1..=2 {
                for s in 2..=4 {
                    let step = Step(s);
                    for v in VALUES {
                        let mut voters: Vec<(MinerId, u64)> = raw
                            .iter()
                            .filter(|r| (r.1, r.2, r.3) == (round, step, v))
                            .map(|r| (m(r.0), r.4))
                            .collect();
                        voters.sort();
                        assert_eq!(k.voters(round, step, v), voters, "seed {seed}");
                        for th in [1, 5, 20] {
                            let q = k.quorums(round, step, th).any(|x| x == v);
                            let w: u64 = voters.iter().map(|x| x.1).sum();
                            assert_eq!(q, w >= th, "seed {seed}");
                        }
                    }
                    for voter in 0..voters as u8 {
                        let first = raw
                            .iter()
                            .filter(|r| (r.0, r.1, r.2) == (voter, round, step))
                            .map(|r| r.3)
                            .min();
                        assert_eq!(k.seen(m(voter), round, step), first, "seed {seed}");
                    }
                }
            }
            let renamed = k.renamed(&|id: MinerId| id);
            assert_eq!(renamed, k);
        }
    }
}
