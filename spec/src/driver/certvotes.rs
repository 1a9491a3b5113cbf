//! The signed cert votes a certificate is assembled from (Kaleido §4.6
//! CertVoteEnough → a block with its certificate).
//!
//! A cert vote is kept **under the value it votes for**, and only once the
//! machine's vote keeper counted it. The keeper counts at most two values per
//! voter and (round, step), so a voter that cert-votes two values has both
//! kept, and the voters the machine lists for a decision always have their
//! vote for exactly that value here. Keeping the first cert vote per (round,
//! voter) instead, whatever its value and before the machine's window checks,
//! let one Byzantine member cert-vote the empty value and then the leader's
//! value: counted for the leader's value, found only with the empty one, and
//! every honest node that decided could not certify (the model checker's
//! `--mutate cert-votes-by-voter` shows it).

use std::collections::BTreeMap;

use crate::codec::VoteMsg;
use crate::machine::Machine;
use crate::types::{Hrs, MinerId, Round, Step, Value};

/// Cert votes of one height, by (round, value), then voter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CertVotes {
    votes: BTreeMap<(Round, Value), BTreeMap<MinerId, VoteMsg>>,
}

impl CertVotes {
    /// Keeps `vote` if it is a cert vote the machine counted (call right after
    /// stepping the machine with it).
    pub fn keep_counted(&mut self, machine: &Machine, vote: &VoteMsg) {
        let hrs = Hrs::new(vote.height, vote.round, vote.step);
        if vote.step == Step::CERT && machine.seen(vote.voter, hrs, vote.value) {
            self.votes
                .entry((vote.round, vote.value))
                .or_default()
                .entry(vote.voter)
                .or_insert(*vote);
        }
    }

    /// A voter's signed cert vote for `value` in `round`.
    pub fn get(&self, round: Round, value: Value, voter: &MinerId) -> Option<VoteMsg> {
        self.votes.get(&(round, value))?.get(voter).copied()
    }

    /// How many cert votes are kept.
    pub fn len(&self) -> usize {
        self.votes.values().map(BTreeMap::len).sum()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.votes.is_empty()
    }

    /// The same store with every voter renamed by `rename` (injective), for
    /// the model checker's symmetry reduction.
    pub fn renamed(&self, rename: &impl Fn(MinerId) -> MinerId) -> CertVotes {
        let votes = self
            .votes
            .iter()
            .map(|(k, by_voter)| {
                let by_voter = by_voter
                    .values()
                    .map(|v| {
                        let voter = rename(v.voter);
                        (voter, VoteMsg { voter, ..*v })
                    })
                    .collect();
                (*k, by_voter)
            })
            .collect();
        CertVotes { votes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::EMPTY_CREDENTIAL;
    use crate::codec::FsSignature;
    use crate::machine::{HeightStart, Input};
    use crate::params::{Params, Thresholds};

    fn vote(voter: u8, step: Step, value: Value) -> VoteMsg {
        VoteMsg {
            height: 1,
            round: 1,
            step,
            value,
            voter: MinerId::from_index(voter),
            credential: EMPTY_CREDENTIAL,
            signature: FsSignature::UNSIGNED,
        }
    }

    fn feed(m: &mut Machine, store: &mut CertVotes, v: &VoteMsg) {
        m.step(
            0,
            Input::Vote {
                voter: v.voter,
                hrs: Hrs::new(v.height, v.round, v.step),
                value: v.value,
                weight: 1,
            },
        );
        store.keep_counted(m, v);
    }

    /// Attack 1 at the store: cert ⊥ (dropped by the machine) then cert A
    /// (counted): the vote for A is what a certificate of A finds.
    #[test]
    fn a_cert_vote_is_kept_under_its_value_once_counted() {
        let parent = Value([0; 32]);
        let mut m = Machine::new(Params::fixed_committee(1));
        m.step(
            0,
            Input::NewHeight(HeightStart {
                height: 1,
                parent,
                thresholds: Thresholds::uniform(3),
            }),
        );
        let a = Value([0xaa; 32]);
        let b = Value([0xbb; 32]);
        let empty = Value::empty(parent, 1);
        let mut store = CertVotes::default();
        let table = [
            (vote(3, Step::CERT, empty), false), // the machine drops cert ⊥
            (vote(3, Step::CERT, a), true),
            (vote(3, Step::CERT, b), true), // an equivocator's second value counts too
            (vote(2, Step::SOFT, a), false), // not a cert vote
            (vote(2, Step::CERT, a), true),
        ];
        for (v, kept) in table {
            feed(&mut m, &mut store, &v);
            assert_eq!(store.get(1, v.value, &v.voter).is_some(), kept, "{v:?}");
        }
        assert_eq!(store.len(), 3);
        // Swapping voters 2 and 3 moves their votes with them.
        let swap = |id: MinerId| {
            let mut b = id.0;
            b[19] ^= 1;
            MinerId(b)
        };
        let renamed = store.renamed(&swap);
        assert_eq!(renamed.len(), 3);
        let (two, three) = (MinerId::from_index(2), MinerId::from_index(3));
        assert_eq!(renamed.get(1, b, &two).map(|v| v.voter), Some(two));
        assert_eq!(renamed.get(1, b, &three), None);
    }
}
