//! Certificates (Kaleido reference §4.10, fixed for W1/W2): building one from a
//! cert quorum, and verifying one received with a block (catch-up sync, §4.12).
//!
//! A certificate proves that `value` — the header hash of block `height` — reached a
//! cert quorum (step 3) in `round`. Unlike Kaleido's `VerifySeal`, verification here
//! binds the certificate to the header it comes with: `cert.value` must equal the
//! header hash and `cert.height` the header's number (Kaleido leaves both unchecked,
//! §4.10 "Not checked"). Votes carry no height, round, step or value of their own:
//! each is rebuilt as the step-3 vote of the certificate's (height, round, value), so
//! a vote from another step, round or value fails its signature.
//!
//! Verification order: binding (value, height) → shape (vote count, distinct voters
//! in ascending order) → registry lookups → every vote authenticated in one batch
//! ([`crate::auth::authenticate_votes`]) → total weight against the cert threshold →
//! the proposal of the value authenticated ([`crate::auth::authenticate_proposal`])
//! → the header is the block that proposal put forward
//! ([`crate::auth::block_matches_proposal`]: proposer, seed, reward address).

use crate::auth::{
    AuthError, BlockClaims, MinerRecord, Verifiers, authenticate_proposal, authenticate_votes,
    block_matches_proposal,
};
use crate::codec::{CertVote, Certificate, MAX_CERT_VOTES, ProposalMsg, VoteMsg};
use crate::crypto::{VoteVerifier, VrfVerifier};
use crate::params::{Params, Thresholds};
use crate::types::{Height, MinerId, Round, Step, Value};
use thiserror::Error;

/// Why a certificate could not be built or was rejected.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CertError {
    /// The certified value is not the hash of the header it comes with.
    #[error("certificate value {cert:?} is not the header hash {header:?}")]
    WrongValue {
        /// `cert.value`.
        cert: Value,
        /// The header hash.
        header: Value,
    },
    /// The certificate is for another height than the header.
    #[error("certificate height {cert} is not the header number {header}")]
    WrongHeight {
        /// `cert.height`.
        cert: Height,
        /// The header's number.
        header: Height,
    },
    /// No votes at all.
    #[error("certificate has no votes")]
    NoVotes,
    /// More votes than a certificate may hold.
    #[error("certificate has {0} votes, more than {MAX_CERT_VOTES}")]
    TooManyVotes(usize),
    /// Voters are not strictly ascending: a voter appears twice (or the order is not
    /// canonical).
    #[error("voter {0:?} appears twice or out of order")]
    DuplicateVoter(MinerId),
    /// A voter is not a registered miner at this height.
    #[error("voter {0:?} is not a registered miner")]
    UnknownVoter(MinerId),
    /// A vote does not authenticate as a step-3 vote of the certificate.
    #[error("cert vote of {voter:?} rejected: {reason}")]
    BadVote {
        voter: MinerId,
        /// Why its vote did not authenticate.
        reason: AuthError,
    },
    /// The votes' total weight is below the cert threshold.
    #[error("certificate weight {weight} is below the cert threshold {threshold}")]
    InsufficientWeight {
        /// Sum of the votes' weights.
        weight: u64,
        /// The cert threshold at this height.
        threshold: u64,
    },
    /// The proposal is for another height or value than the certificate.
    #[error("the proposal is for another height or value")]
    ProposalMismatch,
    /// The proposer is not a registered miner at this height.
    #[error("proposer {0:?} is not a registered miner")]
    UnknownProposer(MinerId),
    /// The proposal does not authenticate.
    #[error("proposal rejected: {0}")]
    BadProposal(AuthError),
    /// The header's proposer, seed or beneficiary is not what the certificate's
    /// proposal put forward.
    #[error("the header is not the block the certificate's proposal put forward")]
    HeaderNotOfProposal,
    /// Building: a listed voter's signed cert vote is not available.
    #[error("the signed cert vote of {0:?} is missing")]
    MissingVote(MinerId),
}

/// Builds the certificate of a commit (the machine's `Output::Commit`).
///
/// `voters` are the cert voters the machine counted (sorted, distinct); `vote_of`
/// returns the signed step-3 vote a voter cast for (`height`, `round`, `value`), as
/// the host stored it when it authenticated the vote; `proposal` is the proposal of
/// `value`. Votes are emitted sorted by voter, one per voter.
pub fn assemble(
    height: Height,
    round: Round,
    value: Value,
    proposal: ProposalMsg,
    voters: &[(MinerId, u64)],
    vote_of: impl Fn(&MinerId) -> Option<VoteMsg>,
) -> Result<Certificate, CertError> {
    if proposal.height != height || proposal.value != value {
        return Err(CertError::ProposalMismatch);
    }
    let mut ids: Vec<MinerId> = voters.iter().map(|(id, _)| *id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut votes = Vec::with_capacity(ids.len());
    for id in ids {
        let v = vote_of(&id)
            .filter(|v| {
                v.voter == id
                    && v.height == height
                    && v.round == round
                    && v.step == Step::CERT
                    && v.value == value
            })
            .ok_or(CertError::MissingVote(id))?;
        votes.push(CertVote {
            voter: id,
            credential: v.credential,
            signature: v.signature,
        });
    }
    if votes.is_empty() {
        return Err(CertError::NoVotes);
    }
    Ok(Certificate {
        height,
        round,
        value,
        proposal,
        votes,
    })
}

/// What a certificate is checked against: the header it comes with and the
/// committee of the parent state.
#[derive(Copy, Clone, Debug)]
pub struct CertContext<'a, F> {
    pub params: &'a Params,
    /// The header's number.
    pub header_height: Height,
    pub header_hash: Value,
    /// What the header says of its proposal (proposer, seed, beneficiary).
    pub header_claims: BlockClaims,
    /// The coinbase registered by the proposer the header names, if any.
    pub coinbase: Option<[u8; 20]>,
    /// Registry lookup at this height (Kaleido §3.3, parent state).
    pub registry: F,
    /// Total stake of the eligible miners (parent state).
    pub total_stake: u128,
    /// The parent block's seed (Kaleido §4.4).
    pub seed: &'a [u8; 32],
    /// Quorum thresholds at this height.
    pub thresholds: Thresholds,
}

/// Verifies a certificate against its header and the parent's committee; returns
/// the certificate's total cert weight.
pub fn verify_certificate<V, S, F>(
    verifiers: &Verifiers<V, S>,
    cert: &Certificate,
    ctx: &CertContext<'_, F>,
) -> Result<u64, CertError>
where
    V: VrfVerifier,
    S: VoteVerifier,
    F: Fn(&MinerId) -> Option<MinerRecord>,
{
    if cert.value != ctx.header_hash {
        return Err(CertError::WrongValue {
            cert: cert.value,
            header: ctx.header_hash,
        });
    }
    if cert.height != ctx.header_height {
        return Err(CertError::WrongHeight {
            cert: cert.height,
            header: ctx.header_height,
        });
    }
    if cert.votes.is_empty() {
        return Err(CertError::NoVotes);
    }
    if cert.votes.len() > MAX_CERT_VOTES {
        return Err(CertError::TooManyVotes(cert.votes.len()));
    }
    for pair in cert.votes.windows(2) {
        if pair[0].voter >= pair[1].voter {
            return Err(CertError::DuplicateVoter(pair[1].voter));
        }
    }
    let mut rebuilt = Vec::with_capacity(cert.votes.len());
    for cv in &cert.votes {
        let rec = (ctx.registry)(&cv.voter).ok_or(CertError::UnknownVoter(cv.voter))?;
        rebuilt.push((cert.vote(cv), rec));
    }
    let refs: Vec<(&VoteMsg, &MinerRecord)> = rebuilt.iter().map(|(v, r)| (v, r)).collect();
    let results = authenticate_votes(verifiers, ctx.params, &refs, ctx.total_stake, ctx.seed);
    let mut weight: u64 = 0;
    for ((vote, _), r) in rebuilt.iter().zip(results) {
        match r {
            Ok(j) => weight = weight.saturating_add(j),
            Err(reason) => {
                return Err(CertError::BadVote {
                    voter: vote.voter,
                    reason,
                });
            }
        }
    }
    let threshold = ctx.thresholds.cert;
    if weight < threshold {
        return Err(CertError::InsufficientWeight { weight, threshold });
    }
    let p = &cert.proposal;
    if p.height != cert.height || p.value != cert.value {
        return Err(CertError::ProposalMismatch);
    }
    let rec = (ctx.registry)(&p.proposer).ok_or(CertError::UnknownProposer(p.proposer))?;
    let auth = authenticate_proposal(verifiers, ctx.params, p, &rec, ctx.total_stake, ctx.seed)
        .map_err(CertError::BadProposal)?;
    if !block_matches_proposal(&ctx.header_claims, p, &auth, ctx.coinbase) {
        return Err(CertError::HeaderNotOfProposal);
    }
    Ok(weight)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{REAL, RealMinerKeys};
    use crate::types::Hrs;
    use rand_core::SeedableRng;

    const SEED: [u8; 32] = [0x5e; 32];
    const H: Height = 12;
    const R: Round = 2;

    struct Fixture {
        params: Params,
        keys: Vec<RealMinerKeys>,
        value: Value,
        proposal: ProposalMsg,
        /// What a header proposed by `keys[1]` claims (its seed is the proposal's).
        claims: BlockClaims,
        votes: Vec<VoteMsg>,
    }

    /// Four miners of equal stake in fixed-committee mode: each weighs W/4 and the
    /// quorum is strictly more than 2/3 of W.
    fn fixture() -> Fixture {
        let params = Params::fixed_committee(7);
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([9; 32]);
        let keys: Vec<RealMinerKeys> = (0..4)
            .map(|i| {
                RealMinerKeys::generate(&mut rng, MinerId::from_index(i), 7, 1, 200, 100)
                    .expect("keys")
            })
            .collect();
        let value = Value([0xab; 32]);
        let (proposal, _) = keys[1]
            .propose(&params, H, 1, value, &SEED, 1, 4)
            .expect("propose")
            .expect("fixed mode always proposes");
        let recs: Vec<MinerRecord> = keys.iter().map(|k| k.record(1)).collect();
        let auth = authenticate_proposal(&REAL, &params, &proposal, &recs[1], 4, &SEED)
            .expect("own proposal authenticates");
        let claims = BlockClaims {
            proposer: keys[1].id,
            seed: auth.next_seed,
            beneficiary: keys[1].id.0,
        };
        let votes = keys
            .iter()
            .map(|k| {
                k.cast_vote(&params, Hrs::new(H, R, Step::CERT), value, &SEED, 1, 4)
                    .expect("vote")
                    .expect("fixed mode always votes")
            })
            .collect();
        Fixture {
            params,
            keys,
            value,
            proposal,
            claims,
            votes,
        }
    }

    fn check(
        f: &Fixture,
        cert: &Certificate,
        hash: Value,
        height: Height,
    ) -> Result<u64, CertError> {
        check_header(f, cert, hash, height, f.claims)
    }

    fn check_header(
        f: &Fixture,
        cert: &Certificate,
        hash: Value,
        height: Height,
        header_claims: BlockClaims,
    ) -> Result<u64, CertError> {
        let recs: Vec<(MinerId, MinerRecord)> =
            f.keys.iter().map(|k| (k.id, k.record(1))).collect();
        let ctx = CertContext {
            params: &f.params,
            header_height: height,
            header_hash: hash,
            header_claims,
            coinbase: None,
            registry: |id: &MinerId| recs.iter().find(|(m, _)| m == id).map(|(_, r)| *r),
            total_stake: 4,
            seed: &SEED,
            thresholds: f.params.stake_thresholds(),
        };
        verify_certificate(&REAL, cert, &ctx)
    }

    fn cert_of(f: &Fixture, voters: &[usize]) -> Certificate {
        let list: Vec<(MinerId, u64)> = voters.iter().map(|&i| (f.keys[i].id, 1)).collect();
        assemble(H, R, f.value, f.proposal, &list, |id| {
            f.votes.iter().find(|v| v.voter == *id).copied()
        })
        .expect("assemble")
    }

    #[test]
    fn valid_certificate_passes() {
        let f = fixture();
        // Voters given unsorted: the certificate sorts them.
        let cert = cert_of(&f, &[3, 0, 2]);
        assert!(cert.votes.windows(2).all(|w| w[0].voter < w[1].voter));
        assert_eq!(check(&f, &cert, f.value, H), Ok(7_500_000_000));
        assert_eq!(
            check(&f, &cert_of(&f, &[0, 1, 2, 3]), f.value, H),
            Ok(10_000_000_000)
        );
    }

    #[test]
    fn wrong_binding_is_rejected() {
        let f = fixture();
        let cert = cert_of(&f, &[0, 1, 2]);
        let other = Value([1; 32]);
        assert_eq!(
            check(&f, &cert, other, H),
            Err(CertError::WrongValue {
                cert: f.value,
                header: other
            })
        );
        assert_eq!(
            check(&f, &cert, f.value, H + 1),
            Err(CertError::WrongHeight {
                cert: H,
                header: H + 1
            })
        );
    }

    #[test]
    fn duplicate_voter_is_rejected() {
        let f = fixture();
        let mut cert = cert_of(&f, &[0, 1, 2]);
        cert.votes.push(cert.votes[2]);
        assert_eq!(
            check(&f, &cert, f.value, H),
            Err(CertError::DuplicateVoter(f.keys[2].id))
        );
    }

    #[test]
    fn too_little_weight_is_rejected() {
        let f = fixture();
        let cert = cert_of(&f, &[0, 1]);
        assert_eq!(
            check(&f, &cert, f.value, H),
            Err(CertError::InsufficientWeight {
                weight: 5_000_000_000,
                threshold: 6_666_666_667
            })
        );
    }

    #[test]
    fn forged_or_relabelled_votes_are_rejected() {
        let f = fixture();
        let mut cert = cert_of(&f, &[0, 1, 2]);
        cert.votes[1].signature.sig[0] ^= 1;
        assert!(matches!(
            check(&f, &cert, f.value, H),
            Err(CertError::BadVote { voter, reason: AuthError::Crypto(_) }) if voter == f.keys[1].id
        ));
        // A step-3 vote of another round does not count for this round.
        let mut cert = cert_of(&f, &[0, 1, 2]);
        cert.round = R + 1;
        assert!(matches!(
            check(&f, &cert, f.value, H),
            Err(CertError::BadVote { .. })
        ));
        // An unregistered voter.
        let mut cert = cert_of(&f, &[0, 1, 2]);
        cert.votes[2].voter = MinerId::from_index(9);
        assert_eq!(
            check(&f, &cert, f.value, H),
            Err(CertError::UnknownVoter(MinerId::from_index(9)))
        );
    }

    #[test]
    fn bad_proposal_is_rejected_and_assembly_needs_every_vote() {
        let f = fixture();
        let mut cert = cert_of(&f, &[0, 1, 2]);
        cert.proposal.signature.sig[3] ^= 1;
        assert!(matches!(
            check(&f, &cert, f.value, H),
            Err(CertError::BadProposal(_))
        ));
        let list = [(f.keys[0].id, 1), (f.keys[1].id, 1)];
        assert_eq!(
            assemble(H, R, f.value, f.proposal, &list, |_| None),
            Err(CertError::MissingVote(f.keys[0].id))
        );
        assert_eq!(
            assemble(H, R, Value([2; 32]), f.proposal, &list, |_| None),
            Err(CertError::ProposalMismatch)
        );
    }

    #[test]
    fn header_must_be_the_block_of_the_proposal() {
        let f = fixture();
        let cert = cert_of(&f, &[0, 1, 2]);
        let other = f.keys[2].id;
        let table = [
            (
                "another proposer",
                BlockClaims {
                    proposer: other,
                    ..f.claims
                },
            ),
            (
                "another seed",
                BlockClaims {
                    seed: [7; 32],
                    ..f.claims
                },
            ),
            (
                "another beneficiary",
                BlockClaims {
                    beneficiary: other.0,
                    ..f.claims
                },
            ),
        ];
        for (what, claims) in table {
            assert_eq!(
                check_header(&f, &cert, f.value, H, claims),
                Err(CertError::HeaderNotOfProposal),
                "{what}"
            );
        }
        assert_eq!(
            check_header(&f, &cert, f.value, H, f.claims),
            Ok(7_500_000_000)
        );
    }
}
