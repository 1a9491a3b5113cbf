//! Equivocation proofs for the host to submit on chain (`reportEquivocation`
//! of the miner contract; checked there by [`crate::evidence`]).
//!
//! The vote keeper ([`crate::keeper`]) notices a voter signing two values in
//! one (round, step) but keeps weights, not signatures. When the host asks for
//! proofs, the driver also keeps the first authenticated vote of every voter in
//! every (round, step) of the current height, and hands the host the first two
//! signed votes with different values once, per voter and (round, step). The
//! store is cleared with every new height; it holds at most one vote per voter
//! and (round, step), like the keeper. It is not protocol state: nothing the
//! driver decides depends on it.

use std::collections::{BTreeMap, BTreeSet};

use crate::codec::VoteMsg;
use crate::types::{MinerId, Round, Step};

/// The signed votes equivocation proofs are made of, for one height.
#[derive(Clone, Debug, Default)]
pub struct Proofs {
    enabled: bool,
    first: BTreeMap<(MinerId, Round, Step), VoteMsg>,
    proven: BTreeSet<(MinerId, Round, Step)>,
}

impl Proofs {
    /// Starts (`true`) or stops keeping votes for proofs.
    pub fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
        if !on {
            self.clear();
        }
    }

    /// Whether votes are kept.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Takes an authenticated vote of the current height; answers the two
    /// conflicting signed votes the first time the voter is seen with a second
    /// value in this (round, step).
    pub fn observe(&mut self, vote: &VoteMsg) -> Option<[VoteMsg; 2]> {
        if !self.enabled {
            return None;
        }
        let key = (vote.voter, vote.round, vote.step);
        match self.first.get(&key) {
            None => {
                self.first.insert(key, *vote);
                None
            }
            Some(first) if first.value == vote.value => None,
            Some(first) => self.proven.insert(key).then_some([*first, *vote]),
        }
    }

    /// Forgets the height's votes.
    pub fn clear(&mut self) {
        self.first.clear();
        self.proven.clear();
    }

    /// How many votes are kept.
    pub fn len(&self) -> usize {
        self.first.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.first.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::EMPTY_CREDENTIAL;
    use crate::codec::FsSignature;
    use crate::types::Value;

    fn vote(voter: u8, round: Round, step: u32, value: u8) -> VoteMsg {
        VoteMsg {
            height: 5,
            round,
            step: Step(step),
            value: Value([value; 32]),
            voter: MinerId::from_index(voter),
            credential: EMPTY_CREDENTIAL,
            signature: FsSignature::UNSIGNED,
        }
    }

    /// (vote, proof expected) in order: repeats and other positions give none,
    /// the first conflicting value gives one, later values none.
    #[test]
    fn one_proof_per_voter_and_position() {
        let mut p = Proofs::default();
        assert_eq!(p.observe(&vote(1, 1, 2, 1)), None, "off by default");
        assert!(p.is_empty());
        p.set_enabled(true);
        let table = [
            (vote(1, 1, 2, 1), None),
            (vote(1, 1, 2, 1), None),
            (vote(2, 1, 2, 2), None),
            (vote(1, 1, 3, 2), None),
            (vote(1, 2, 2, 2), None),
            (vote(1, 1, 2, 2), Some([vote(1, 1, 2, 1), vote(1, 1, 2, 2)])),
            (vote(1, 1, 2, 3), None),
            (vote(1, 1, 2, 2), None),
            (vote(2, 1, 2, 9), Some([vote(2, 1, 2, 2), vote(2, 1, 2, 9)])),
        ];
        for (i, (v, want)) in table.into_iter().enumerate() {
            assert_eq!(p.observe(&v), want, "row {i}");
        }
        assert_eq!(p.len(), 4);
        p.clear();
        assert!(p.is_empty());
        assert!(
            p.observe(&vote(1, 1, 2, 2)).is_none(),
            "a new height starts over"
        );
        p.set_enabled(false);
        assert!(p.is_empty() && !p.enabled());
    }
}
