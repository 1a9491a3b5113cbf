//! Equivocation evidence: two votes one miner signed for different values at
//! the same (height, round, step).
//!
//! An honest miner signs at most one value per (height, round, step) and keeps
//! that promise across crashes (invariant S3, `machine` persists its own votes
//! before sending them). Two such signatures are therefore proof of misbehaviour
//! whatever the miner's seat: the check needs only the forward-secure signatures
//! and the vote key the miner registered for that height, not the VRF
//! credentials or the seed, so anyone holding the two messages can prove it to
//! the miner contract (`reportEquivocation`), which calls [`check_equivocation`].
//!
//! [`Penalty::punish`] is the rule the contract applies to a proven offence:
//! which heights' committees leave the miner out, and which evidence is refused
//! as from the future, stale or already punished.
//!
//! The two messages are wire-encoded votes ([`WireMessage::Vote`]), each at most
//! [`MAX_EVIDENCE_VOTE_BYTES`] long, so a check never decodes more than that.

use thiserror::Error;

use crate::auth::{AuthError, vote_signature_item};
use crate::codec::{DecodeError, VoteMsg, WireMessage};
use crate::crypto::{SigItem, VoteVerifier};
use crate::params::Params;
use crate::types::{Height, Hrs, MinerId, Value};

/// Longest wire-encoded vote accepted as evidence (a vote encodes in about 400
/// bytes: credential with its VRF proof and a forward-secure signature with its
/// sub-key certificate).
pub const MAX_EVIDENCE_VOTE_BYTES: usize = 1024;

/// A proven equivocation.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Offence {
    /// The miner that signed both votes.
    pub voter: MinerId,
    /// Where it signed them.
    pub hrs: Hrs,
    /// The two values, smaller first.
    pub values: [Value; 2],
}

/// Why two messages are not equivocation evidence.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EvidenceError {
    /// One of the messages is longer than [`MAX_EVIDENCE_VOTE_BYTES`].
    #[error("a vote of {0} bytes is longer than {MAX_EVIDENCE_VOTE_BYTES}")]
    TooLong(usize),
    /// One of the messages does not decode.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// One of the messages is not a vote.
    #[error("not a vote")]
    NotAVote,
    /// The votes are by different miners.
    #[error("the votes are by different miners")]
    DifferentVoters,
    /// The votes are for different (height, round, step).
    #[error("the votes are for different (height, round, step)")]
    DifferentPositions,
    /// Both votes are for the same value: not conflicting.
    #[error("both votes are for the same value")]
    SameValue,
    /// The voter has no registered vote key for the votes' height.
    #[error("the voter was not a registered miner at that height")]
    UnknownMiner,
    /// A signature (or the step) does not check.
    #[error("signature: {0}")]
    Signature(AuthError),
}

/// A miner's suspension for equivocation: out of the committees of heights
/// `from..=until`; offences at heights up to `covered_through` are punished.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Suspension {
    /// First height the miner is out of the committee.
    pub from: Height,
    /// Last height the miner is out of the committee (0: never suspended).
    pub until: Height,
    /// Offences at heights up to here are already punished.
    pub covered_through: Height,
}

impl Suspension {
    /// Whether the miner is out of the committee of `height`.
    pub fn excludes(&self, height: Height) -> bool {
        self.until != 0 && (self.from..=self.until).contains(&height)
    }
}

/// Why a proven offence is not punished.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum PunishRefusal {
    /// The offence is at a height after the next block.
    #[error("evidence from height {height} after the next block ({next})")]
    Future {
        /// The offence's height.
        height: Height,
        /// The next block's height.
        next: Height,
    },
    /// The offence is older than the suspension period.
    #[error("evidence from height {height} is older than {window} blocks")]
    Stale {
        /// The offence's height.
        height: Height,
        /// The suspension period.
        window: u64,
    },
    /// A report already covers the offence's height.
    #[error("already punished for offences up to height {covered}")]
    AlreadyPunished {
        /// The last height the miner's last report covers.
        covered: Height,
    },
}

/// The chain's penalty for equivocation (`equivocationSuspension`, and the
/// stake lookback that delays every committee change).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Penalty {
    /// Blocks the miner stays suspended, from the block carrying the report;
    /// also how old evidence may be.
    pub suspension: u64,
    /// The stake lookback `L`: a committee of height `h` is read from the
    /// state after block `h − 1 − L`.
    pub lookback: u64,
}

impl Penalty {
    /// The miner's suspension after a report in `block` of an offence at
    /// `height`, given its suspension `old`. Evidence of the next block's
    /// height (the one in agreement when the report was made) is taken; later
    /// ones, ones older than the period, and ones the last report covers (up
    /// to its block + 1) are refused. The new suspension keeps the miner out
    /// of heights `block + 1 + L` to `block + suspension` (the first height
    /// whose stake sample carries the report); one still in force, or ending
    /// just before, is extended and keeps its first height.
    pub fn punish(
        &self,
        block: Height,
        height: Height,
        old: Suspension,
    ) -> Result<Suspension, PunishRefusal> {
        let next = block.saturating_add(1);
        if height > next {
            return Err(PunishRefusal::Future { height, next });
        }
        if block.saturating_sub(height) > self.suspension {
            return Err(PunishRefusal::Stale {
                height,
                window: self.suspension,
            });
        }
        if height <= old.covered_through {
            return Err(PunishRefusal::AlreadyPunished {
                covered: old.covered_through,
            });
        }
        let starts = next.saturating_add(self.lookback);
        Ok(Suspension {
            from: match old.until != 0 && old.until.saturating_add(1) >= starts {
                true => old.from,
                false => starts,
            },
            until: block.saturating_add(self.suspension).max(old.until),
            covered_through: next,
        })
    }
}

fn decode_vote(bytes: &[u8]) -> Result<VoteMsg, EvidenceError> {
    if bytes.len() > MAX_EVIDENCE_VOTE_BYTES {
        return Err(EvidenceError::TooLong(bytes.len()));
    }
    match WireMessage::decode(bytes)? {
        WireMessage::Vote(v) => Ok(v),
        _ => Err(EvidenceError::NotAVote),
    }
}

/// Checks that `a` and `b` are two votes one miner signed for different values
/// at one (height, round, step). `vote_key(voter, height)` answers the vote
/// master key the miner registered for that height (Kaleido §3.3), or `None`.
/// Cheap checks come first; the two signatures are verified last.
pub fn check_equivocation<S: VoteVerifier>(
    verifier: &S,
    params: &Params,
    a: &[u8],
    b: &[u8],
    vote_key: impl FnOnce(&MinerId, Height) -> Option<[u8; 32]>,
) -> Result<Offence, EvidenceError> {
    let (va, vb) = (decode_vote(a)?, decode_vote(b)?);
    if va.voter != vb.voter {
        return Err(EvidenceError::DifferentVoters);
    }
    let hrs = Hrs::new(va.height, va.round, va.step);
    if hrs != Hrs::new(vb.height, vb.round, vb.step) {
        return Err(EvidenceError::DifferentPositions);
    }
    if va.value == vb.value {
        return Err(EvidenceError::SameValue);
    }
    let key = vote_key(&va.voter, va.height).ok_or(EvidenceError::UnknownMiner)?;
    for v in [&va, &vb] {
        let (offset, msg) = vote_signature_item(params, v).map_err(EvidenceError::Signature)?;
        verifier
            .verify(&SigItem {
                master_pk: &key,
                offset,
                msg: &msg,
                sig: &v.signature,
            })
            .map_err(|e| EvidenceError::Signature(AuthError::Crypto(e)))?;
    }
    let values = match va.value < vb.value {
        true => [va.value, vb.value],
        false => [vb.value, va.value],
    };
    Ok(Offence {
        voter: va.voter,
        hrs,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::RealMinerKeys;
    use crate::crypto::real::Ed25519FsVerifier;
    use crate::types::Step;
    use rand_core::SeedableRng;

    const SEED: [u8; 32] = [0x5e; 32];
    const TOTAL: u128 = 4_000_000_000_000_000_000_000;

    fn miners() -> Vec<RealMinerKeys> {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([9; 32]);
        (0..2)
            .map(|i| {
                RealMinerKeys::generate(&mut rng, MinerId::from_index(i), 7, 1, 1000, 100).unwrap()
            })
            .collect()
    }

    fn vote(k: &RealMinerKeys, p: &Params, hrs: Hrs, value: u8) -> Vec<u8> {
        let v = k
            .cast_vote(p, hrs, Value([value; 32]), &SEED, TOTAL / 2, TOTAL)
            .unwrap()
            .unwrap();
        WireMessage::Vote(v).encode()
    }

    /// A suspension's heights, and each way `punish` refuses or extends.
    #[test]
    fn penalty_table() {
        let s = Suspension {
            from: 7,
            until: 56,
            covered_through: 6,
        };
        for (h, out) in [(0, false), (6, false), (7, true), (56, true), (57, false)] {
            assert_eq!(s.excludes(h), out, "height {h}");
        }
        assert!(!Suspension::default().excludes(0), "never suspended");
        let p = Penalty {
            suspension: 50,
            lookback: 2,
        };
        let none = Suspension::default();
        let first = Suspension {
            from: 9,
            until: 56,
            covered_through: 7,
        };
        // (block, offence height, old) → outcome
        let table = [
            (6, 5, none, Ok(first)),
            (6, 7, none, Ok(first)),
            (
                6,
                8,
                none,
                Err(PunishRefusal::Future { height: 8, next: 7 }),
            ),
            (
                60,
                10,
                none,
                Ok(Suspension {
                    from: 63,
                    until: 110,
                    covered_through: 61,
                }),
            ),
            (
                61,
                10,
                none,
                Err(PunishRefusal::Stale {
                    height: 10,
                    window: 50,
                }),
            ),
            (
                8,
                7,
                first,
                Err(PunishRefusal::AlreadyPunished { covered: 7 }),
            ),
            (
                8,
                8,
                first,
                Ok(Suspension {
                    from: 9,
                    until: 58,
                    covered_through: 9,
                }),
            ),
            // Ended long before the new one starts: a new first height.
            (
                100,
                99,
                first,
                Ok(Suspension {
                    from: 103,
                    until: 150,
                    covered_through: 101,
                }),
            ),
        ];
        for (i, (block, height, old, want)) in table.into_iter().enumerate() {
            assert_eq!(p.punish(block, height, old), want, "row {i}");
        }
    }

    proptest::proptest! {
        /// Arbitrary bytes (and a valid vote next to arbitrary bytes) are
        /// refused with an error, never a panic: the contract runs this on
        /// calldata anyone sends.
        #[test]
        fn arbitrary_bytes_are_refused(
            a in proptest::collection::vec(proptest::num::u8::ANY, 0..1200),
            b in proptest::collection::vec(proptest::num::u8::ANY, 0..1200),
        ) {
            let p = Params::new_chain(7);
            let key = |_: &MinerId, _: Height| Some([3u8; 32]);
            proptest::prop_assert!(check_equivocation(&Ed25519FsVerifier, &p, &a, &b, key).is_err());
            let ms = miners();
            let v = vote(&ms[0], &p, Hrs::new(150, 1, Step(2)), 1);
            proptest::prop_assert!(check_equivocation(&Ed25519FsVerifier, &p, &v, &b, key).is_err());
        }
    }

    /// Every way two messages can fail to prove an equivocation, and the one
    /// way they do (in either order).
    #[test]
    fn evidence_table() {
        let p = Params::new_chain(7);
        let ms = miners();
        let keys = |id: &MinerId| {
            ms.iter()
                .find(|k| k.id == *id)
                .map(|k| k.record(0).vote_master_pk)
        };
        let at = Hrs::new(150, 1, Step(3));
        let a = vote(&ms[0], &p, at, 1);
        let b = vote(&ms[0], &p, at, 2);
        let mut forged = b.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        let proposal_like = vec![0xffu8; 8];
        let long = vec![0u8; MAX_EVIDENCE_VOTE_BYTES + 1];
        let other_voter = vote(&ms[1], &p, at, 2);
        let other_step = vote(&ms[0], &p, Hrs::new(150, 1, Step(2)), 2);
        let other_round = vote(&ms[0], &p, Hrs::new(150, 2, Step(3)), 2);
        let other_height = vote(&ms[0], &p, Hrs::new(151, 1, Step(3)), 2);
        let check =
            |x: &[u8], y: &[u8]| check_equivocation(&Ed25519FsVerifier, &p, x, y, |id, _| keys(id));
        let offence = Offence {
            voter: ms[0].id,
            hrs: at,
            values: [Value([1; 32]), Value([2; 32])],
        };
        assert_eq!(check(&a, &b), Ok(offence));
        assert_eq!(check(&b, &a), Ok(offence));
        assert_eq!(check(&a, &a), Err(EvidenceError::SameValue));
        assert_eq!(check(&a, &other_voter), Err(EvidenceError::DifferentVoters));
        for other in [&other_step, &other_round, &other_height] {
            assert_eq!(check(&a, other), Err(EvidenceError::DifferentPositions));
        }
        assert_eq!(
            check(&a, &long),
            Err(EvidenceError::TooLong(MAX_EVIDENCE_VOTE_BYTES + 1))
        );
        assert!(matches!(
            check(&a, &proposal_like),
            Err(EvidenceError::Decode(_))
        ));
        assert!(matches!(
            check(&a, &forged),
            Err(EvidenceError::Signature(_)) | Err(EvidenceError::Decode(_))
        ));
        // Signed under another miner's registered key: not this miner's votes.
        let wrong_key = check_equivocation(&Ed25519FsVerifier, &p, &a, &b, |_, _| keys(&ms[1].id));
        assert!(matches!(wrong_key, Err(EvidenceError::Signature(_))));
        // Not registered at that height.
        let none = check_equivocation(&Ed25519FsVerifier, &p, &a, &b, |_, _| None);
        assert_eq!(none, Err(EvidenceError::UnknownMiner));
        // Another chain's params: the signatures bind the chain id.
        let other_chain = check_equivocation(
            &Ed25519FsVerifier,
            &Params::new_chain(8),
            &a,
            &b,
            |id, _| keys(id),
        );
        assert!(matches!(other_chain, Err(EvidenceError::Signature(_))));
    }
}
