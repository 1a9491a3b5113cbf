//! An incremental monitor of the safety invariants of [`crate::invariants`].
//!
//! [`Observations::check`](crate::invariants::Observations::check) recounts every
//! predicate from the raw sets of votes, decisions and round entries; run after
//! every event of a simulation, its cost grows with everything seen so far. The
//! [`Monitor`] takes the same observations one at a time and updates each
//! predicate at the moment its inputs change, so one observation costs a
//! logarithm of what was seen (a quorum forming or a round entry is compared
//! with the certified values of its height, which are one or two).
//!
//! It states the same properties, with its own bookkeeping:
//! - running weight per (height, round, step, value) over distinct voters, and
//!   the moment it reaches a threshold (S2, S5, S7);
//! - each honest voter's first value per (height, round, step) (S3);
//! - the first decided value per height (S1), the certified values, empty values
//!   and next quorums per height (S7);
//! - the first position breach (S9).
//!
//! Two properties can turn true again as more is observed: an honest cert vote
//! whose soft quorum had not been observed yet (S5) and a decision whose cert
//! votes had not all been observed yet (S10). Those wait in a pending list that
//! [`Monitor::check`] re-examines, so that at every check the monitor and the
//! recount agree on whether a violation exists (the unit tests drive both with
//! random observation streams). Every other violation is final once seen.
//!
//! A voter's weight is a function of its vote; one (height, round, step,
//! value, voter) observed with two weights is violation S0 for the monitor as
//! for the recount, so that no total ever goes down.

use std::collections::{BTreeMap, BTreeSet};

use crate::invariants::{Decision, RoundEntry, Violation};
use crate::params::Thresholds;
use crate::types::{Height, Hrs, MinerId, Round, Step, Value};

/// The incrementally maintained safety predicates of one run.
#[derive(Clone, Debug, Default)]
pub struct Monitor {
    thresholds: Thresholds,
    /// Weight of each distinct (hrs, value, voter) sent.
    sent: BTreeMap<(Hrs, Value, MinerId), u64>,
    /// Running weight per (hrs, value).
    totals: BTreeMap<(Hrs, Value), u64>,
    /// Each honest voter's first value per (hrs).
    honest: BTreeMap<(MinerId, Hrs), Value>,
    /// The first decision per height: (node, value).
    decided: BTreeMap<Height, (MinerId, Value)>,
    /// Cert quorums per height: (round, value).
    certified: BTreeMap<Height, Vec<(Round, Value)>>,
    /// Next quorums per height: (hrs, value).
    next_quorums: BTreeMap<Height, Vec<(Hrs, Value)>>,
    /// Empty values named by round entries, per height.
    empties: BTreeMap<Height, BTreeSet<Value>>,
    /// Honest round entries per height, for a certificate that forms later.
    entries: BTreeMap<Height, Vec<RoundEntry>>,
    /// Honest cert votes whose soft quorum was not observed when they were.
    pending_cert: Vec<(MinerId, Hrs, Value)>,
    /// Decisions naming a cert vote not observed when they were.
    pending_decisions: Vec<Decision>,
    /// The first final violation seen.
    violation: Option<Violation>,
    /// Observations taken.
    events: u64,
}

impl Monitor {
    /// A monitor of a run whose heights all use `thresholds`.
    pub fn new(thresholds: Thresholds) -> Self {
        Monitor {
            thresholds,
            ..Default::default()
        }
    }

    fn fail(&mut self, v: Violation) {
        if self.violation.is_none() {
            self.violation = Some(v);
        }
    }

    /// Observations taken so far.
    pub fn events(&self) -> u64 {
        self.events
    }

    /// The weight `voter` was observed sending `value` with at `hrs`.
    pub fn weight_of(&self, hrs: Hrs, value: Value, voter: MinerId) -> Option<u64> {
        self.sent.get(&(hrs, value, voter)).copied()
    }

    /// Total weight of distinct voters who sent `value` at `hrs`.
    pub fn weight_for(&self, hrs: Hrs, value: Value) -> u64 {
        self.totals.get(&(hrs, value)).copied().unwrap_or(0)
    }

    /// Records a vote sent by `voter`.
    pub fn vote(&mut self, voter: MinerId, honest: bool, hrs: Hrs, value: Value, weight: u64) {
        self.events += 1;
        if honest {
            match self.honest.get(&(voter, hrs)) {
                Some(&first) if first != value => self.fail(Violation::HonestEquivocation {
                    node: voter,
                    hrs,
                    values: (first.min(value), first.max(value)),
                }),
                Some(_) => {}
                None => {
                    self.honest.insert((voter, hrs), value);
                }
            }
        }
        let before = self.weight_for(hrs, value);
        let after = match self.sent.get(&(hrs, value, voter)).copied() {
            None => {
                self.sent.insert((hrs, value, voter), weight);
                before.saturating_add(weight)
            }
            Some(w) if w != weight => {
                // S0: the recount refuses this too; the first weight stays.
                self.fail(Violation::InconsistentWeight {
                    node: voter,
                    hrs,
                    value,
                    weights: (w.min(weight), w.max(weight)),
                });
                before
            }
            Some(_) => before,
        };
        self.totals.insert((hrs, value), after);
        let t = self.thresholds;
        if hrs.step == Step::CERT && before < t.cert && after >= t.cert {
            self.cert_quorum(hrs.height, hrs.round, value);
        }
        if hrs.step.is_next() && before < t.next && after >= t.next {
            self.next_quorum(hrs, value);
        }
        if honest && hrs.step == Step::CERT {
            let soft = Hrs::new(hrs.height, hrs.round, Step::SOFT);
            if self.weight_for(soft, value) < t.soft {
                self.pending_cert.push((voter, hrs, value));
            }
        }
    }

    /// A cert quorum formed for `value` in `round` of `height`.
    fn cert_quorum(&mut self, height: Height, round: Round, value: Value) {
        let certified = self.certified.entry(height).or_default();
        let conflict = certified.iter().find(|(_, v)| *v != value).copied();
        certified.push((round, value));
        if let Some((r, other)) = conflict {
            let (a, b) = if (r, other) < (round, value) {
                ((r, other), (round, value))
            } else {
                ((round, value), (r, other))
            };
            self.fail(Violation::TwoCertificates { height, a, b });
        }
        // S7: entries already seen in later rounds, next quorums already formed.
        let late = self.entries.get(&height).and_then(|es| {
            es.iter()
                .find(|e| e.round > round && e.starting != value)
                .copied()
        });
        if let Some(e) = late {
            self.fail(value_lock_entry(height, round, value, &e));
        }
        let empties = self.empties.get(&height);
        let empty_quorum = self.next_quorums.get(&height).and_then(|qs| {
            qs.iter()
                .find(|(hrs, v)| hrs.round >= round && empties.is_some_and(|es| es.contains(v)))
                .copied()
        });
        if let Some((hrs, _)) = empty_quorum {
            self.fail(value_lock_empty(height, round, value, hrs));
        }
    }

    /// A next quorum formed for `value` at `hrs`.
    fn next_quorum(&mut self, hrs: Hrs, value: Value) {
        self.next_quorums
            .entry(hrs.height)
            .or_default()
            .push((hrs, value));
        if !self
            .empties
            .get(&hrs.height)
            .is_some_and(|es| es.contains(&value))
        {
            return;
        }
        let lock = self
            .certified
            .get(&hrs.height)
            .and_then(|cs| cs.iter().find(|(r, _)| *r <= hrs.round).copied());
        if let Some((round, certified)) = lock {
            self.fail(value_lock_empty(hrs.height, round, certified, hrs));
        }
    }

    /// Records a round entry.
    pub fn enter(&mut self, e: RoundEntry) {
        self.events += 1;
        let certified = self.certified.get(&e.height).cloned().unwrap_or_default();
        if let Some(&(round, value)) = certified
            .iter()
            .find(|(r, v)| e.round > *r && e.starting != *v)
        {
            self.fail(value_lock_entry(e.height, round, value, &e));
        }
        if self.empties.entry(e.height).or_default().insert(e.empty) {
            let quorum = self.next_quorums.get(&e.height).and_then(|qs| {
                qs.iter()
                    .filter(|(_, v)| *v == e.empty)
                    .find_map(|(hrs, _)| {
                        certified
                            .iter()
                            .find(|(r, _)| *r <= hrs.round)
                            .map(|c| (*hrs, *c))
                    })
            });
            if let Some((hrs, (round, value))) = quorum {
                self.fail(value_lock_empty(e.height, round, value, hrs));
            }
        }
        self.entries.entry(e.height).or_default().push(e);
    }

    /// Records a decision.
    pub fn decide(&mut self, d: Decision) {
        self.events += 1;
        match self.decided.get(&d.height) {
            Some(&(node, value)) if value != d.value => self.fail(Violation::Agreement {
                height: d.height,
                a: (node, value),
                b: (d.node, d.value),
            }),
            Some(_) => {}
            None => {
                self.decided.insert(d.height, (d.node, d.value));
            }
        }
        let malformed = |detail: String| Violation::MalformedCertificate {
            node: d.node,
            height: d.height,
            detail,
        };
        if !d.voters.windows(2).all(|w| w[0].0 < w[1].0) {
            self.fail(malformed("voters not distinct and sorted".into()));
            return;
        }
        let total = d.voters.iter().fold(0u64, |t, &(_, w)| t.saturating_add(w));
        if total < self.thresholds.cert {
            self.fail(malformed(format!(
                "weight {total} below the cert threshold {}",
                self.thresholds.cert
            )));
            return;
        }
        if self.unsent_voter(&d).is_some() {
            self.pending_decisions.push(d);
        }
    }

    /// A voter of `d` without a matching observed cert vote.
    fn unsent_voter(&self, d: &Decision) -> Option<MinerId> {
        let hrs = Hrs::new(d.height, d.round, Step::CERT);
        d.voters
            .iter()
            .find(|&&(voter, weight)| self.weight_of(hrs, d.value, voter) != Some(weight))
            .map(|&(voter, _)| voter)
    }

    /// Records a node moving from position `from` to `to`.
    pub fn moved(&mut self, node: MinerId, from: Hrs, to: Hrs) {
        self.events += 1;
        if to < from {
            self.fail(Violation::NotMonotonic { node, from, to });
        }
    }

    /// The first violation, if the observations so far break an invariant.
    pub fn check(&mut self) -> Result<(), Violation> {
        if let Some(v) = &self.violation {
            return Err(v.clone());
        }
        let soft = self.thresholds.soft;
        let totals = &self.totals;
        self.pending_cert.retain(|(_, hrs, value)| {
            let s = Hrs::new(hrs.height, hrs.round, Step::SOFT);
            totals.get(&(s, *value)).copied().unwrap_or(0) < soft
        });
        if let Some(&(node, hrs, value)) = self.pending_cert.first() {
            return Err(Violation::CertWithoutSoftQuorum { node, hrs, value });
        }
        let pending = std::mem::take(&mut self.pending_decisions);
        let still: Vec<Decision> = pending
            .into_iter()
            .filter(|d| self.unsent_voter(d).is_some())
            .collect();
        self.pending_decisions = still;
        if let Some(d) = self.pending_decisions.first() {
            let voter = self.unsent_voter(d);
            return Err(Violation::MalformedCertificate {
                node: d.node,
                height: d.height,
                detail: format!(
                    "{voter:?} sent no cert vote for {:?} in round {}",
                    d.value, d.round
                ),
            });
        }
        Ok(())
    }
}

fn value_lock_entry(height: Height, round: Round, value: Value, e: &RoundEntry) -> Violation {
    Violation::ValueLock {
        height,
        certified: (round, value),
        detail: format!(
            "{:?} entered round {} with starting value {:?}",
            e.node, e.round, e.starting
        ),
    }
}

fn value_lock_empty(height: Height, round: Round, value: Value, hrs: Hrs) -> Violation {
    Violation::ValueLock {
        height,
        certified: (round, value),
        detail: format!("a next quorum formed for the empty value at {hrs}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invariants::Observations;
    use rand_chacha::ChaCha8Rng;
    use rand_core::{RngCore, SeedableRng};

    const VALUES: [Value; 3] = [Value([0xaa; 32]), Value([0xbb; 32]), Value([0xee; 32])];

    fn m(i: u8) -> MinerId {
        MinerId::from_index(i)
    }

    /// Feeds one random observation to both the recount and the monitor.
    fn random_step(rng: &mut ChaCha8Rng, o: &mut Observations, mon: &mut Monitor, nodes: u8) {
        let r = |rng: &mut ChaCha8Rng, n: u64| rng.next_u64() % n;
        let node = r(rng, u64::from(nodes)) as u8;
        // Node 0 is Byzantine; honest nodes mostly behave, sometimes not.
        let honest = node != 0;
        let height = 1 + r(rng, 2);
        let round = 1 + r(rng, 2) as Round;
        // Honest nodes mostly agree on one value per round, so quorums form.
        let value = if honest && r(rng, 50) != 0 {
            VALUES[(height as usize + round as usize) % 3]
        } else {
            VALUES[r(rng, 3) as usize]
        };
        match r(rng, 20) {
            0..=13 => {
                let mut step = Step(2 + r(rng, 4) as u32);
                // An honest cert vote mostly follows a soft quorum: otherwise
                // the vote is a soft vote.
                let soft = Hrs::new(height, round, Step::SOFT);
                if honest && step == Step::CERT && mon.weight_for(soft, value) < mon.thresholds.soft
                {
                    step = Step::SOFT;
                }
                let hrs = Hrs::new(height, round, step);
                // Honest nodes repeat their first value at a position most of
                // the time, so S3 does not end every run at once.
                let weight = 1 + u64::from(node) % 2;
                o.vote(m(node), honest, hrs, value, weight);
                mon.vote(m(node), honest, hrs, value, weight);
            }
            14..=16 => {
                let e = RoundEntry {
                    node: m(node),
                    height,
                    round,
                    starting: value,
                    empty: VALUES[2],
                };
                o.enter(e);
                mon.enter(e);
            }
            17..=18 => {
                // Mostly the voters that did send cert votes for the value.
                let cert = Hrs::new(height, round, Step::CERT);
                let sent_only = r(rng, 5) != 0;
                let mut voters: Vec<(MinerId, u64)> = (0..nodes)
                    .filter(|&i| {
                        if sent_only {
                            mon.weight_of(cert, value, m(i)).is_some()
                        } else {
                            r(rng, 3) != 0
                        }
                    })
                    .map(|i| (m(i), 1 + u64::from(i) % 2))
                    .collect();
                if r(rng, 10) == 0 {
                    voters.reverse();
                }
                let d = Decision {
                    node: m(node),
                    height,
                    round,
                    value,
                    voters,
                };
                o.decide(d.clone());
                mon.decide(d);
            }
            _ => {
                let from = Hrs::new(height, round, Step(2 + r(rng, 3) as u32));
                let to = Hrs::new(
                    height,
                    round + r(rng, 2) as Round,
                    Step(2 + r(rng, 3) as u32),
                );
                // Backwards moves are rare, so other violations get their turn.
                if to >= from || r(rng, 5) == 0 {
                    o.moved(m(node), from, to);
                    mon.moved(m(node), from, to);
                }
            }
        }
    }

    #[test]
    fn agrees_with_the_recount_on_random_observations() {
        let mut verdicts = [0u32; 2];
        let mut kinds = std::collections::HashSet::new();
        for seed in 0..400u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let nodes = 4 + (rng.next_u64() % 4) as u8;
            let th = Thresholds::uniform(3 + rng.next_u64() % 3);
            let mut o = Observations::new(th);
            let mut mon = Monitor::new(th);
            for step in 0..(rng.next_u64() % 120) {
                random_step(&mut rng, &mut o, &mut mon, nodes);
                let (full, inc) = (o.check(), mon.check());
                assert_eq!(
                    full.is_ok(),
                    inc.is_ok(),
                    "seed {seed} step {step}: recount {full:?} monitor {inc:?}"
                );
                verdicts[usize::from(full.is_ok())] += 1;
                if let Err(v) = full {
                    kinds.insert(format!("{v:?}").split([' ', '{']).next().map(String::from));
                    break;
                }
            }
        }
        // Both verdicts occurred, and violations of several kinds.
        assert!(verdicts[0] > 50 && verdicts[1] > 500, "{verdicts:?}");
        assert!(kinds.len() >= 4, "{kinds:?}");
    }

    #[test]
    fn weights_and_pending_checks() {
        let th = Thresholds::uniform(2);
        let mut mon = Monitor::new(th);
        let a = VALUES[0];
        let cert = Hrs::new(1, 1, Step::CERT);
        let soft = Hrs::new(1, 1, Step::SOFT);
        mon.vote(m(1), true, cert, a, 1);
        assert!(matches!(
            mon.check(),
            Err(Violation::CertWithoutSoftQuorum { .. })
        ));
        mon.vote(m(1), true, soft, a, 1);
        mon.vote(m(2), true, soft, a, 1);
        mon.vote(m(2), true, soft, a, 1);
        assert_eq!(mon.weight_for(soft, a), 2);
        assert_eq!(mon.check(), Ok(()));
        mon.decide(Decision {
            node: m(1),
            height: 1,
            round: 1,
            value: a,
            voters: vec![(m(1), 1), (m(2), 1)],
        });
        assert!(matches!(
            mon.check(),
            Err(Violation::MalformedCertificate { .. })
        ));
        mon.vote(m(2), true, cert, a, 1);
        assert_eq!(mon.weight_of(cert, a, m(2)), Some(1));
        assert_eq!(mon.check(), Ok(()));
        assert_eq!(mon.events(), 6);
    }

    #[test]
    fn a_vote_seen_with_two_weights_is_refused_by_both_checkers() {
        // The soft quorum (2) stands on voter 1's weight 2; a lighter copy of the
        // same vote must not quietly lower it (the cert vote depends on it).
        let th = Thresholds::uniform(2);
        let a = VALUES[0];
        let soft = Hrs::new(1, 1, Step::SOFT);
        let cert = Hrs::new(1, 1, Step::CERT);
        let mut mon = Monitor::new(th);
        let mut o = Observations::new(th);
        for (voter, hrs, weight) in [(1, soft, 2), (1, cert, 2), (1, soft, 1)] {
            mon.vote(m(voter), true, hrs, a, weight);
            o.vote(m(voter), true, hrs, a, weight);
        }
        let want = Violation::InconsistentWeight {
            node: m(1),
            hrs: soft,
            value: a,
            weights: (1, 2),
        };
        assert_eq!(mon.check(), Err(want.clone()));
        assert_eq!(o.check(), Err(want));
        assert_eq!(mon.weight_for(soft, a), 2, "the first weight stays");
    }

    #[test]
    fn detects_forks() {
        let th = Thresholds::uniform(3);
        let (a, b) = (VALUES[0], VALUES[1]);
        let mut mon = Monitor::new(th);
        let mut o = Observations::new(th);
        for (round, value, voters) in [(1, a, [0u8, 1, 3]), (2, b, [1, 2, 3])] {
            for i in voters {
                for step in [Step::SOFT, Step::CERT] {
                    mon.vote(m(i), i == 3, Hrs::new(1, round, step), value, 1);
                    o.vote(m(i), i == 3, Hrs::new(1, round, step), value, 1);
                }
            }
        }
        assert!(matches!(
            mon.check(),
            Err(Violation::TwoCertificates { height: 1, .. })
        ));
        assert!(o.check().is_err());
        let mut mon = Monitor::new(th);
        let d = |node: u8, value| Decision {
            node: m(node),
            height: 1,
            round: 1,
            value,
            voters: vec![(m(0), 1), (m(1), 1), (m(2), 1)],
        };
        mon.decide(d(0, a));
        mon.decide(d(1, a));
        assert!(!matches!(mon.check(), Err(Violation::Agreement { .. })));
        mon.decide(d(2, b));
        assert!(matches!(mon.check(), Err(Violation::Agreement { .. })));
    }
}
