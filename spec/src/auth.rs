//! Vote and proposal authentication, and the signing side (Kaleido §5.6 validation
//! order, §1.3 signatures, §4.3 sortition, §4.4 seed, §4.5 priority).
//!
//! A vote is accepted with weight `j > 0` iff: it decodes (bounded, canonical); its
//! forward-secure signature verifies (master → sub-key certificate for the absolute
//! offset `height / lifespan`, sub-key → message binding chain id, height, round,
//! step and value); and, in sortition mode, its VRF credential verifies for
//! (chain id, height, round, step, seed) and sortition gives `j > 0` seats. In
//! fixed-committee mode the weight is the miner's exact stake, no VRF is involved,
//! and the credential must be all zeros (so a vote has one encoding).
//!
//! The batched path verifies all signatures of a batch with one ed25519 batch
//! verification and falls back to per-vote verification only when the batch fails,
//! to identify the bad votes; it then verifies the VRF credentials of the votes whose
//! signature verified in one batch VRF verification (schnorrkel's batchable proofs,
//! see [`crate::crypto::real`]), with the same per-vote fallback.

use crate::codec::{Credential, DecodeError, ProposalMsg, VRF_PROOF_BYTES, VoteMsg, WireMessage};
use crate::crypto::mock::{MockVoteKey, MockVoteVerifier, MockVrf, MockVrfKey};
use crate::crypto::real::{Ed25519FsVerifier, FsKeySet, SchnorrkelVrf, SchnorrkelVrfKey};
use crate::crypto::{
    CryptoError, SigItem, SignedMessage, VoteSigner, VoteVerifier, VrfHash, VrfInput, VrfItem,
    VrfProver, VrfVerifier, fs_offset,
};
use crate::params::{CommitteeMode, Params};
use crate::sortition::{SortitionError, derive_seed, priority, seats};
use crate::types::{Height, Hrs, MinerId, Round, Step, Value};
use rand_core::{CryptoRng, RngCore};
use thiserror::Error;

/// What the registry (miner contract, Kaleido §3.3) says about a miner at a height.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct MinerRecord {
    /// The miner's VRF public key.
    pub vrf_pk: [u8; 32],
    /// The miner's forward-secure master public key ("vote verifier").
    pub vote_master_pk: [u8; 32],
    /// The miner's stake (Kaleido §3.4) in the parent state, in wei.
    pub stake: u128,
}

/// Why a vote or proposal was not accepted.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    /// The bytes do not decode.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// The bytes decode to another kind of message.
    #[error("not the expected message kind")]
    WrongKind,
    /// The voter is not a registered miner.
    #[error("unknown miner")]
    UnknownMiner,
    /// Votes are cast in steps ≥ 2.
    #[error("votes are cast in steps ≥ 2")]
    BadStep,
    /// A signature, key or VRF check failed.
    #[error("crypto: {0}")]
    Crypto(#[from] CryptoError),
    /// Weight or selection could not be computed.
    #[error("sortition: {0}")]
    Sortition(#[from] SortitionError),
    /// The miner has no seat in this step.
    #[error("not selected")]
    NotSelected,
    /// In fixed-committee mode a vote's credential must be empty.
    #[error("fixed-committee votes carry an empty credential")]
    UnexpectedCredential,
}

/// The credential of fixed-committee votes.
pub const EMPTY_CREDENTIAL: Credential = Credential {
    output: [0; 32],
    proof: [0; VRF_PROOF_BYTES],
};

/// The verifiers authentication uses: a VRF verifier and a vote-signature verifier.
#[derive(Copy, Clone, Debug, Default)]
pub struct Verifiers<V, S> {
    /// Checks VRF credentials: sortition and the block seed.
    pub vrf: V,
    /// Forward-secure signature verifier.
    pub sig: S,
}

/// The production verifiers (schnorrkel, ed25519).
pub type RealVerifiers = Verifiers<SchnorrkelVrf, Ed25519FsVerifier>;
/// The deterministic mock verifiers.
pub type MockVerifiers = Verifiers<MockVrf, MockVoteVerifier>;

/// [`RealVerifiers`] as a value (both verifiers are stateless).
pub const REAL: RealVerifiers = Verifiers {
    vrf: SchnorrkelVrf,
    sig: Ed25519FsVerifier,
};
/// [`MockVerifiers`] as a value (both verifiers are stateless).
pub const MOCK: MockVerifiers = Verifiers {
    vrf: MockVrf,
    sig: MockVoteVerifier,
};

/// A proposal's accepted credentials.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct ProposalAuth {
    /// Proposer seats `j > 0` (Kaleido §4.3 with the proposer committee).
    pub weight: u64,
    /// Priority (Kaleido §4.5): smaller wins.
    pub priority: [u8; 32],
    /// The seed the proposed block carries (Kaleido §4.4).
    pub next_seed: [u8; 32],
}

/// A miner's secret keys: VRF key and forward-secure vote key set.
#[derive(Clone)]
pub struct MinerKeys<P, S> {
    /// The miner's identity (stake owner).
    pub id: MinerId,
    /// VRF secret key: proves sortition credentials and the block seed.
    pub vrf: P,
    /// Forward-secure vote key set.
    pub votes: S,
}

/// Production keys: a schnorrkel VRF key and a forward-secure ed25519 key set.
pub type RealMinerKeys = MinerKeys<SchnorrkelVrfKey, FsKeySet>;
/// Mock keys for the model checker and the simulator.
pub type MockMinerKeys = MinerKeys<MockVrfKey, MockVoteKey>;

impl RealMinerKeys {
    /// `makeminerkey` (Kaleido §2.2): a VRF key and a vote key set covering heights
    /// `[start, end)` of chain `chain_id` with `lifespan` heights per sub-key.
    pub fn generate<R: RngCore + CryptoRng>(
        rng: &mut R,
        id: MinerId,
        chain_id: u64,
        start: Height,
        end: Height,
        lifespan: u64,
    ) -> Result<Self, CryptoError> {
        Ok(MinerKeys {
            id,
            vrf: SchnorrkelVrfKey::generate(rng)?,
            votes: FsKeySet::generate_for_heights(rng, chain_id, start, end, lifespan)?,
        })
    }
}

impl MockMinerKeys {
    /// Mock keys for miner `i` of chain `chain_id`, valid for every height.
    pub fn mock(chain_id: u64, i: u8) -> Self {
        MinerKeys {
            id: MinerId::from_index(i),
            vrf: MockVrfKey([i; 32]),
            votes: MockVoteKey::new(chain_id, [i ^ 0xa5; 32], 0, u64::MAX),
        }
    }
}

fn offset(params: &Params, height: Height) -> Result<u64, AuthError> {
    Ok(fs_offset(height, params.lifespan)?)
}

impl<P: VrfProver, S: VoteSigner> MinerKeys<P, S> {
    /// The registry record of these keys with `stake`.
    pub fn record(&self, stake: u128) -> MinerRecord {
        MinerRecord {
            vrf_pk: self.vrf.vrf_public(),
            vote_master_pk: self.votes.master_public(),
            stake,
        }
    }

    /// Casts a vote for `value` at `hrs` (step ≥ 2): sortition (Kaleido §4.3) with the
    /// previous height's `seed`, then the forward-secure signature (§1.3, §1.4 fixed).
    /// `Ok(None)` when the miner has no seat.
    pub fn cast_vote(
        &self,
        params: &Params,
        hrs: Hrs,
        value: Value,
        seed: &[u8; 32],
        stake: u128,
        total_stake: u128,
    ) -> Result<Option<VoteMsg>, AuthError> {
        if hrs.step.0 < 2 {
            return Err(AuthError::BadStep);
        }
        let credential = match params.mode {
            CommitteeMode::Fixed { .. } => {
                if seats(params, hrs.step, stake, total_stake, &[0; 32])? == 0 {
                    return Ok(None);
                }
                EMPTY_CREDENTIAL
            }
            CommitteeMode::Sortition => {
                let (cred, hash) = self
                    .vrf
                    .prove(&VrfInput::sortition(params.chain_id, hrs, seed));
                if seats(params, hrs.step, stake, total_stake, &hash)? == 0 {
                    return Ok(None);
                }
                cred
            }
        };
        let msg = signed(params, hrs.height, hrs.round, hrs.step, value);
        let signature = self.votes.sign(offset(params, hrs.height)?, &msg)?;
        Ok(Some(VoteMsg {
            height: hrs.height,
            round: hrs.round,
            step: hrs.step,
            value,
            voter: self.id,
            credential,
            signature,
        }))
    }

    /// Proposes `value` in `round` of `height` (Kaleido §4.3 step 1, §4.4, §4.5):
    /// step-1 sortition, the seed VRF over the previous seed, and a signature as
    /// step 1. Returns the proposal and its priority; `Ok(None)` without a seat.
    #[allow(clippy::too_many_arguments)]
    pub fn propose(
        &self,
        params: &Params,
        height: Height,
        round: Round,
        value: Value,
        seed: &[u8; 32],
        stake: u128,
        total_stake: u128,
    ) -> Result<Option<(ProposalMsg, [u8; 32])>, AuthError> {
        let hrs = Hrs::new(height, round, Step::PROPOSAL);
        let (credential, hash) = self
            .vrf
            .prove(&VrfInput::sortition(params.chain_id, hrs, seed));
        let j = proposer_seats(params, stake, total_stake, &hash)?;
        let Some(prio) = priority(&hash, j) else {
            return Ok(None);
        };
        let (seed_cred, _) = derive_seed(&self.vrf, params.chain_id, height, seed);
        let msg = signed(params, height, round, Step::PROPOSAL, value);
        let signature = self.votes.sign(offset(params, height)?, &msg)?;
        Ok(Some((
            ProposalMsg {
                height,
                round,
                value,
                proposer: self.id,
                credential,
                seed: seed_cred,
                signature,
            },
            prio,
        )))
    }
}

fn signed(
    params: &Params,
    height: Height,
    round: Round,
    step: Step,
    value: Value,
) -> SignedMessage {
    SignedMessage {
        chain_id: params.chain_id,
        height,
        round,
        step,
        value,
    }
}

/// Proposer seats: sortition with the proposer committee, or in fixed-committee mode
/// `min(stake, proposer.expected)` tickets (bounded work for the priority).
fn proposer_seats(
    params: &Params,
    stake: u128,
    total_stake: u128,
    hash: &VrfHash,
) -> Result<u64, AuthError> {
    let j = seats(params, Step::PROPOSAL, stake, total_stake, hash)?;
    Ok(match params.mode {
        CommitteeMode::Fixed { .. } => j.min(params.proposer.expected),
        CommitteeMode::Sortition => j,
    })
}

/// Checks that need no signature: step range and offset.
fn vote_item(params: &Params, vote: &VoteMsg) -> Result<(u64, SignedMessage), AuthError> {
    if vote.step.0 < 2 {
        return Err(AuthError::BadStep);
    }
    Ok((
        offset(params, vote.height)?,
        signed(params, vote.height, vote.round, vote.step, vote.value),
    ))
}

/// What a vote's forward-secure signature covers: the sub-key offset of its
/// height and the signed message (chain id, height, round, step, value).
/// Votes are cast in steps ≥ 2 only.
pub fn vote_signature_item(
    params: &Params,
    vote: &VoteMsg,
) -> Result<(u64, SignedMessage), AuthError> {
    vote_item(params, vote)
}

/// The sortition VRF input of a vote.
fn vote_input(params: &Params, vote: &VoteMsg, seed: &[u8; 32]) -> VrfInput {
    let hrs = Hrs::new(vote.height, vote.round, vote.step);
    VrfInput::sortition(params.chain_id, hrs, seed)
}

/// The weight of a vote whose signature and VRF (sortition hash `hash`; all zeros
/// in fixed-committee mode) already verified.
fn seats_of(
    params: &Params,
    vote: &VoteMsg,
    rec: &MinerRecord,
    total_stake: u128,
    hash: &VrfHash,
) -> Result<u64, AuthError> {
    match seats(params, vote.step, rec.stake, total_stake, hash)? {
        0 => Err(AuthError::NotSelected),
        j => Ok(j),
    }
}

/// The fixed-committee weight of a vote whose signature already verified: no VRF,
/// and the credential must be empty.
fn fixed_weight(
    params: &Params,
    vote: &VoteMsg,
    rec: &MinerRecord,
    total_stake: u128,
) -> Result<u64, AuthError> {
    if vote.credential != EMPTY_CREDENTIAL {
        return Err(AuthError::UnexpectedCredential);
    }
    seats_of(params, vote, rec, total_stake, &[0; 32])
}

/// The weight of a vote whose signature already verified: VRF + sortition, or the
/// fixed-committee weight.
fn vote_weight<V: VrfVerifier, S>(
    v: &Verifiers<V, S>,
    params: &Params,
    vote: &VoteMsg,
    rec: &MinerRecord,
    total_stake: u128,
    seed: &[u8; 32],
) -> Result<u64, AuthError> {
    match params.mode {
        CommitteeMode::Fixed { .. } => fixed_weight(params, vote, rec, total_stake),
        CommitteeMode::Sortition => {
            let input = vote_input(params, vote, seed);
            let hash = v.vrf.verify(&rec.vrf_pk, &input, &vote.credential)?;
            seats_of(params, vote, rec, total_stake, &hash)
        }
    }
}

/// Authenticates one vote (Kaleido §5.6): signature, then VRF and sortition.
/// `seed` is the seed of the previous height; `rec` the voter's registry record.
/// Returns the vote's weight `j > 0`.
pub fn authenticate_vote<V: VrfVerifier, S: VoteVerifier>(
    v: &Verifiers<V, S>,
    params: &Params,
    vote: &VoteMsg,
    rec: &MinerRecord,
    total_stake: u128,
    seed: &[u8; 32],
) -> Result<u64, AuthError> {
    let (offset, msg) = vote_item(params, vote)?;
    v.sig.verify(&SigItem {
        master_pk: &rec.vote_master_pk,
        offset,
        msg: &msg,
        sig: &vote.signature,
    })?;
    vote_weight(v, params, vote, rec, total_stake, seed)
}

/// Decodes and authenticates a vote from the wire; `registry` looks the voter up.
pub fn authenticate_vote_bytes<V: VrfVerifier, S: VoteVerifier>(
    v: &Verifiers<V, S>,
    params: &Params,
    bytes: &[u8],
    registry: impl Fn(&MinerId) -> Option<MinerRecord>,
    total_stake: u128,
    seed: &[u8; 32],
) -> Result<(VoteMsg, u64), AuthError> {
    let WireMessage::Vote(vote) = WireMessage::decode(bytes)? else {
        return Err(AuthError::WrongKind);
    };
    let rec = registry(&vote.voter).ok_or(AuthError::UnknownMiner)?;
    let j = authenticate_vote(v, params, &vote, &rec, total_stake, seed)?;
    Ok((vote, j))
}

/// Authenticates many votes of one height at once: all signatures in one batch
/// verification, then (sortition mode) the VRF credentials of the votes whose
/// signature verified in one batch VRF verification, then sortition per vote. When a
/// batch fails, its items are verified one by one to find the bad ones.
/// Fixed-committee votes carry the empty credential and involve no VRF.
/// Result `i` is the outcome of `votes[i]`, equal to what [`authenticate_vote`]
/// would return.
pub fn authenticate_votes<V: VrfVerifier, S: VoteVerifier>(
    v: &Verifiers<V, S>,
    params: &Params,
    votes: &[(&VoteMsg, &MinerRecord)],
    total_stake: u128,
    seed: &[u8; 32],
) -> Vec<Result<u64, AuthError>> {
    let prepared: Vec<Result<(u64, SignedMessage), AuthError>> = votes
        .iter()
        .map(|(vote, _)| vote_item(params, vote))
        .collect();
    let mut idx = Vec::with_capacity(votes.len());
    let mut items = Vec::with_capacity(votes.len());
    for (i, ((vote, rec), p)) in votes.iter().zip(&prepared).enumerate() {
        if let Ok((offset, msg)) = p {
            idx.push(i);
            items.push(SigItem {
                master_pk: &rec.vote_master_pk,
                offset: *offset,
                msg,
                sig: &vote.signature,
            });
        }
    }
    let mut sig_ok: Vec<Result<(), AuthError>> =
        (0..votes.len()).map(|_| Err(AuthError::BadStep)).collect();
    if v.sig.verify_batch(&items).is_ok() {
        for &i in &idx {
            sig_ok[i] = Ok(());
        }
    } else {
        for (&i, item) in idx.iter().zip(&items) {
            sig_ok[i] = v.sig.verify(item).map_err(AuthError::from);
        }
    }
    let mut out: Vec<Result<u64, AuthError>> = Vec::with_capacity(votes.len());
    let mut vrf_idx = Vec::new();
    let mut vrf_items = Vec::new();
    for (i, (((vote, rec), p), s)) in votes.iter().zip(prepared).zip(sig_ok).enumerate() {
        let checked = p.and(s);
        out.push(match (checked, params.mode) {
            (Err(e), _) => Err(e),
            (Ok(()), CommitteeMode::Fixed { .. }) => fixed_weight(params, vote, rec, total_stake),
            (Ok(()), CommitteeMode::Sortition) => {
                vrf_idx.push(i);
                vrf_items.push(VrfItem {
                    pk: &rec.vrf_pk,
                    input: vote_input(params, vote, seed),
                    cred: &vote.credential,
                });
                // Replaced below by the VRF and sortition outcome.
                Err(AuthError::NotSelected)
            }
        });
    }
    for (&i, hash) in vrf_idx.iter().zip(verify_vrfs(&v.vrf, &vrf_items)) {
        let (vote, rec) = votes[i];
        out[i] = hash
            .map_err(AuthError::from)
            .and_then(|h| seats_of(params, vote, rec, total_stake, &h));
    }
    out
}

/// Verifies `items` in one batch; if the batch fails (or an implementation returns
/// the wrong number of hashes), verifies each item alone to find the bad ones.
/// Result `i` is the outcome of `items[i]`.
fn verify_vrfs<V: VrfVerifier>(
    vrf: &V,
    items: &[VrfItem<'_>],
) -> Vec<Result<VrfHash, CryptoError>> {
    if items.is_empty() {
        return Vec::new();
    }
    match vrf.verify_batch(items) {
        Ok(hashes) if hashes.len() == items.len() => hashes.into_iter().map(Ok).collect(),
        _ => items
            .iter()
            .map(|it| vrf.verify(it.pk, &it.input, it.cred))
            .collect(),
    }
}

/// Authenticates a proposal (Kaleido §5.6, §4.3–4.5): signature as step 1, step-1
/// VRF credential and proposer sortition, seed VRF over the previous `seed` (the two
/// VRFs verified in one batch; `next_seed` equals [`crate::sortition::verify_seed`]'s result).
pub fn authenticate_proposal<V: VrfVerifier, S: VoteVerifier>(
    v: &Verifiers<V, S>,
    params: &Params,
    p: &ProposalMsg,
    rec: &MinerRecord,
    total_stake: u128,
    seed: &[u8; 32],
) -> Result<ProposalAuth, AuthError> {
    let msg = signed(params, p.height, p.round, Step::PROPOSAL, p.value);
    v.sig.verify(&SigItem {
        master_pk: &rec.vote_master_pk,
        offset: offset(params, p.height)?,
        msg: &msg,
        sig: &p.signature,
    })?;
    // Both VRFs (step-1 sortition, seed) in one batch; on failure each alone, so the
    // outcome is that of checking the credential, the seats, then the seed.
    let hrs = Hrs::new(p.height, p.round, Step::PROPOSAL);
    let items = [
        VrfItem {
            pk: &rec.vrf_pk,
            input: VrfInput::sortition(params.chain_id, hrs, seed),
            cred: &p.credential,
        },
        VrfItem {
            pk: &rec.vrf_pk,
            input: VrfInput::seed(params.chain_id, p.height, seed),
            cred: &p.seed,
        },
    ];
    let [hash, next_seed]: [Result<VrfHash, CryptoError>; 2] = verify_vrfs(&v.vrf, &items)
        .try_into()
        .map_err(|_| AuthError::Crypto(CryptoError::BatchFailed))?;
    let hash = hash?;
    let j = proposer_seats(params, rec.stake, total_stake, &hash)?;
    let prio = priority(&hash, j).ok_or(AuthError::NotSelected)?;
    let next_seed = next_seed?;
    Ok(ProposalAuth {
        weight: j,
        priority: prio,
        next_seed,
    })
}

/// What a block's header says about the proposal that put it forward: who
/// proposed it, the seed it carries and who is paid its reward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BlockClaims {
    /// The proposer the header names.
    pub proposer: MinerId,
    /// The seed the header carries.
    pub seed: [u8; 32],
    /// The header's beneficiary (the block reward's recipient).
    pub beneficiary: [u8; 20],
}

/// Where a miner's block rewards go: its registered coinbase, or its own
/// address when it registered none.
pub fn reward_address(id: &MinerId, registered: Option<[u8; 20]>) -> [u8; 20] {
    registered.unwrap_or(id.0)
}

/// Whether a block is the one an authenticated proposal put forward: it names
/// the proposal's proposer, carries the seed the proposer's seed VRF derived
/// (Kaleido §4.4, `auth.next_seed` from [`authenticate_proposal`]) and pays the
/// proposer's [`reward_address`] (`coinbase` is what the proposer registered).
/// A block that fails this is never validated, whoever relays it.
pub fn block_matches_proposal(
    claims: &BlockClaims,
    proposal: &ProposalMsg,
    auth: &ProposalAuth,
    coinbase: Option<[u8; 20]>,
) -> bool {
    claims.proposer == proposal.proposer
        && claims.seed == auth.next_seed
        && claims.beneficiary == reward_address(&proposal.proposer, coinbase)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_core::SeedableRng;

    const SEED: [u8; 32] = [0x5e; 32];
    const TOTAL: u128 = 4_000_000_000_000_000_000_000;
    const STAKE: u128 = TOTAL / 4;

    fn miners(n: u8) -> Vec<RealMinerKeys> {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([42; 32]);
        (0..n)
            .map(|i| {
                RealMinerKeys::generate(&mut rng, MinerId::from_index(i), 7, 1, 1000, 100).unwrap()
            })
            .collect()
    }

    fn vote(k: &RealMinerKeys, p: &Params, step: u32) -> VoteMsg {
        k.cast_vote(
            p,
            Hrs::new(150, 1, Step(step)),
            Value([1; 32]),
            &SEED,
            STAKE,
            TOTAL,
        )
        .unwrap()
        .unwrap()
    }

    #[test]
    fn vote_round_trip_and_tampering() {
        let p = Params::new_chain(7);
        let ms = miners(2);
        let rec = ms[0].record(STAKE);
        let v = vote(&ms[0], &p, 2);
        let j = authenticate_vote(&REAL, &p, &v, &rec, TOTAL, &SEED).unwrap();
        // The signer's own sortition gives the same weight, and it is near 2990/4.
        let hash = ms[0]
            .vrf
            .prove(&VrfInput::sortition(7, Hrs::new(150, 1, Step(2)), &SEED))
            .1;
        assert_eq!(j, seats(&p, Step(2), STAKE, TOTAL, &hash).unwrap());
        assert!((600..900).contains(&j), "j = {j}");
        // Wire round trip.
        let bytes = WireMessage::Vote(v).encode();
        let lookup = |id: &MinerId| (*id == ms[0].id).then_some(rec);
        assert_eq!(
            authenticate_vote_bytes(&REAL, &p, &bytes, lookup, TOTAL, &SEED),
            Ok((v, j))
        );
        assert_eq!(
            authenticate_vote_bytes(&REAL, &p, &bytes[1..], lookup, TOTAL, &SEED).map(|x| x.1),
            Err(AuthError::Decode(DecodeError::UnknownTag(bytes[1])))
        );
        // Re-labelled as another step, height, value or chain: rejected.
        let bad = |m: VoteMsg, p: &Params| authenticate_vote(&REAL, p, &m, &rec, TOTAL, &SEED);
        assert!(matches!(
            bad(VoteMsg { step: Step(3), ..v }, &p),
            Err(AuthError::Crypto(_))
        ));
        assert!(matches!(
            bad(VoteMsg { height: 151, ..v }, &p),
            Err(AuthError::Crypto(_))
        ));
        assert!(matches!(
            bad(
                VoteMsg {
                    value: Value([2; 32]),
                    ..v
                },
                &p
            ),
            Err(AuthError::Crypto(_))
        ));
        assert!(matches!(
            bad(v, &Params::new_chain(8)),
            Err(AuthError::Crypto(_))
        ));
        // A valid signature for step 3 with the step-2 credential: the VRF fails.
        let v3 = vote(&ms[0], &p, 3);
        assert_eq!(
            bad(
                VoteMsg {
                    credential: v.credential,
                    ..v3
                },
                &p
            ),
            Err(AuthError::Crypto(CryptoError::BadVrfProof))
        );
        // Wrong VRF key or wrong master key in the registry.
        let wrong_vrf = MinerRecord {
            vrf_pk: ms[1].record(0).vrf_pk,
            ..rec
        };
        assert_eq!(
            authenticate_vote(&REAL, &p, &v, &wrong_vrf, TOTAL, &SEED),
            Err(AuthError::Crypto(CryptoError::BadVrfProof))
        );
        let wrong_master = MinerRecord {
            vote_master_pk: ms[1].record(0).vote_master_pk,
            ..rec
        };
        assert_eq!(
            authenticate_vote(&REAL, &p, &v, &wrong_master, TOTAL, &SEED),
            Err(AuthError::Crypto(CryptoError::BadSubKeyCert))
        );
        // Another seed: VRF input differs.
        assert!(authenticate_vote(&REAL, &p, &v, &rec, TOTAL, &[0; 32]).is_err());
    }

    #[test]
    fn tiny_stake_gets_no_seat() {
        let p = Params::new_chain(7);
        let ms = miners(1);
        let tiny = TOTAL / 1_000_000_000_000;
        let none = ms[0]
            .cast_vote(
                &p,
                Hrs::new(150, 1, Step(3)),
                Value([1; 32]),
                &SEED,
                tiny,
                TOTAL,
            )
            .unwrap();
        assert_eq!(none, None);
        // A vote forged with that credential is refused as not selected.
        let v = vote(&ms[0], &p, 2);
        assert_eq!(
            authenticate_vote(&REAL, &p, &v, &ms[0].record(tiny), TOTAL, &SEED),
            Err(AuthError::NotSelected)
        );
    }

    #[test]
    fn batch_identifies_the_bad_vote() {
        let p = Params::new_chain(7);
        let ms = miners(4);
        let recs: Vec<MinerRecord> = ms.iter().map(|m| m.record(STAKE)).collect();
        let mut votes: Vec<VoteMsg> = ms.iter().map(|m| vote(m, &p, 2)).collect();
        let run = |votes: &[VoteMsg]| {
            let pairs: Vec<(&VoteMsg, &MinerRecord)> = votes.iter().zip(&recs).collect();
            authenticate_votes(&REAL, &p, &pairs, TOTAL, &SEED)
        };
        let good = run(&votes);
        for (i, r) in good.iter().enumerate() {
            assert_eq!(
                *r,
                authenticate_vote(&REAL, &p, &votes[i], &recs[i], TOTAL, &SEED)
            );
            assert!(r.is_ok());
        }
        votes[2].signature.sig[10] ^= 0x40;
        let mixed = run(&votes);
        assert_eq!(mixed[2], Err(AuthError::Crypto(CryptoError::BadSignature)));
        assert!(mixed.iter().enumerate().all(|(i, r)| (i == 2) != r.is_ok()));
        // A vote with a bad step is rejected without spoiling the others.
        votes[2].step = Step(1);
        let step = run(&votes);
        assert_eq!(step[2], Err(AuthError::BadStep));
        assert_eq!(step.iter().filter(|r| r.is_ok()).count(), 3);
    }

    /// Delegates to the real VRF verifier and counts the calls.
    #[derive(Default)]
    struct CountingVrf {
        singles: std::cell::Cell<usize>,
        batches: std::cell::Cell<usize>,
    }

    impl VrfVerifier for CountingVrf {
        fn verify(
            &self,
            pk: &[u8; 32],
            input: &VrfInput,
            cred: &Credential,
        ) -> Result<VrfHash, CryptoError> {
            self.singles.set(self.singles.get() + 1);
            SchnorrkelVrf.verify(pk, input, cred)
        }

        fn verify_batch(&self, items: &[VrfItem<'_>]) -> Result<Vec<VrfHash>, CryptoError> {
            self.batches.set(self.batches.get() + 1);
            SchnorrkelVrf.verify_batch(items)
        }
    }

    #[test]
    fn vrf_batch_identifies_the_forged_credential() {
        let p = Params::new_chain(7);
        let ms = miners(6);
        let recs: Vec<MinerRecord> = ms.iter().map(|m| m.record(STAKE)).collect();
        let mut votes: Vec<VoteMsg> = ms.iter().map(|m| vote(m, &p, 2)).collect();
        let v = Verifiers {
            vrf: CountingVrf::default(),
            sig: Ed25519FsVerifier,
        };
        let run = |votes: &[VoteMsg]| {
            v.vrf.singles.set(0);
            v.vrf.batches.set(0);
            let pairs: Vec<(&VoteMsg, &MinerRecord)> = votes.iter().zip(&recs).collect();
            let out = authenticate_votes(&v, &p, &pairs, TOTAL, &SEED);
            (out, v.vrf.batches.get(), v.vrf.singles.get())
        };
        // All valid: one batch, no single verification, same weights as one by one.
        let (good, batches, singles) = run(&votes);
        assert_eq!((batches, singles), (1, 0));
        for (i, r) in good.iter().enumerate() {
            assert!(r.is_ok());
            assert_eq!(
                *r,
                authenticate_vote(&REAL, &p, &votes[i], &recs[i], TOTAL, &SEED)
            );
        }
        // Vote 4 carries a forged proof (its signature is valid): the batch fails and
        // the fallback names exactly vote 4; the others keep their weights.
        votes[4].credential.proof[64] ^= 1;
        let (mixed, batches, singles) = run(&votes);
        assert_eq!((batches, singles), (1, votes.len()));
        assert_eq!(mixed[4], Err(AuthError::Crypto(CryptoError::BadVrfProof)));
        for (i, r) in mixed.iter().enumerate() {
            if i != 4 {
                assert_eq!(*r, good[i]);
            }
        }
        // Vote 1 carries the valid credential of another step: rejected too.
        votes[1].credential = vote(&ms[1], &p, 3).credential;
        let (two, _, _) = run(&votes);
        let bad: Vec<usize> = (0..votes.len()).filter(|&i| two[i].is_err()).collect();
        assert_eq!(bad, vec![1, 4]);
        assert_eq!(two[1], Err(AuthError::Crypto(CryptoError::BadVrfProof)));
        // A vote whose signature fails never reaches the VRF batch.
        votes[1].signature.sig[3] ^= 1;
        votes[4] = vote(&ms[4], &p, 2);
        let (sig_bad, batches, singles) = run(&votes);
        assert_eq!((batches, singles), (1, 0));
        assert_eq!(
            sig_bad[1],
            Err(AuthError::Crypto(CryptoError::BadSignature))
        );
        assert_eq!(
            sig_bad.iter().filter(|r| r.is_ok()).count(),
            votes.len() - 1
        );
    }

    #[test]
    fn fixed_committee_batch_skips_the_vrf() {
        let p = Params::fixed_committee(7);
        let ms = miners(3);
        let recs: Vec<MinerRecord> = ms.iter().map(|m| m.record(5)).collect();
        let mut votes: Vec<VoteMsg> = ms
            .iter()
            .map(|m| {
                m.cast_vote(&p, Hrs::new(150, 2, Step(4)), Value([1; 32]), &SEED, 5, 20)
                    .unwrap()
                    .unwrap()
            })
            .collect();
        let v = Verifiers {
            vrf: CountingVrf::default(),
            sig: Ed25519FsVerifier,
        };
        let pairs: Vec<(&VoteMsg, &MinerRecord)> = votes.iter().zip(&recs).collect();
        assert_eq!(
            authenticate_votes(&v, &p, &pairs, 20, &SEED),
            vec![Ok(QUARTER), Ok(QUARTER), Ok(QUARTER)]
        );
        assert_eq!((v.vrf.batches.get(), v.vrf.singles.get()), (0, 0));
        votes[1].credential.proof[0] = 1;
        let pairs: Vec<(&VoteMsg, &MinerRecord)> = votes.iter().zip(&recs).collect();
        assert_eq!(
            authenticate_votes(&v, &p, &pairs, 20, &SEED),
            vec![
                Ok(QUARTER),
                Err(AuthError::UnexpectedCredential),
                Ok(QUARTER)
            ]
        );
        assert_eq!((v.vrf.batches.get(), v.vrf.singles.get()), (0, 0));
    }

    #[test]
    fn proposals_and_seed() {
        let p = Params::new_chain(7);
        let ms = miners(4);
        let mut best: Option<[u8; 32]> = None;
        let mut seeds = Vec::new();
        for m in &ms {
            let rec = m.record(STAKE);
            if let Some((prop, prio)) = m
                .propose(&p, 150, 1, Value([3; 32]), &SEED, STAKE, TOTAL)
                .unwrap()
            {
                let auth = authenticate_proposal(&REAL, &p, &prop, &rec, TOTAL, &SEED).unwrap();
                assert_eq!(auth.priority, prio);
                assert!(auth.weight > 0);
                assert_eq!(
                    Ok(auth.next_seed),
                    crate::sortition::verify_seed(
                        &SchnorrkelVrf,
                        &rec.vrf_pk,
                        7,
                        150,
                        &SEED,
                        &prop.seed
                    )
                );
                // A forged seed proof or step-1 proof is named as a bad VRF proof.
                let mut forged = prop;
                forged.seed.proof[64] ^= 1;
                assert_eq!(
                    authenticate_proposal(&REAL, &p, &forged, &rec, TOTAL, &SEED),
                    Err(AuthError::Crypto(CryptoError::BadVrfProof))
                );
                let mut forged = prop;
                forged.credential.proof[40] ^= 1;
                assert_eq!(
                    authenticate_proposal(&REAL, &p, &forged, &rec, TOTAL, &SEED),
                    Err(AuthError::Crypto(CryptoError::BadVrfProof))
                );
                seeds.push(auth.next_seed);
                best = Some(best.map_or(prio, |b| b.min(prio)));
                // Signed as step 1: the same signature does not authenticate a vote.
                let as_vote = VoteMsg {
                    height: 150,
                    round: 1,
                    step: Step(2),
                    value: prop.value,
                    voter: m.id,
                    credential: prop.credential,
                    signature: prop.signature,
                };
                assert!(authenticate_vote(&REAL, &p, &as_vote, &rec, TOTAL, &SEED).is_err());
                // Another value or previous seed is refused.
                let other = ProposalMsg {
                    value: Value([4; 32]),
                    ..prop
                };
                assert!(authenticate_proposal(&REAL, &p, &other, &rec, TOTAL, &SEED).is_err());
                assert!(authenticate_proposal(&REAL, &p, &prop, &rec, TOTAL, &[1; 32]).is_err());
            }
        }
        assert!(best.is_some(), "with 4×5 expected seats someone proposes");
        seeds.sort();
        seeds.dedup();
        assert!(!seeds.is_empty());
    }

    /// A stake of 5 out of 20, normalised to W = 10^10.
    const QUARTER: u64 = 2_500_000_000;

    #[test]
    fn fixed_committee_weights_are_stake_shares() {
        let p = Params::fixed_committee(7);
        let ms = miners(1);
        let rec = ms[0].record(5);
        let v = ms[0]
            .cast_vote(&p, Hrs::new(150, 2, Step(4)), Value([1; 32]), &SEED, 5, 20)
            .unwrap()
            .unwrap();
        assert_eq!(v.credential, EMPTY_CREDENTIAL);
        assert_eq!(
            authenticate_vote(&REAL, &p, &v, &rec, 20, &SEED),
            Ok(QUARTER)
        );
        // Stakes in wei far beyond u64 still give a weight (W-normalised).
        let whale = ms[0].record(10u128.pow(30));
        let big = ms[0]
            .cast_vote(
                &p,
                Hrs::new(150, 2, Step(4)),
                Value([1; 32]),
                &SEED,
                10u128.pow(30),
                4 * 10u128.pow(30),
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            authenticate_vote(&REAL, &p, &big, &whale, 4 * 10u128.pow(30), &SEED),
            Ok(QUARTER)
        );
        let mut forged = v;
        forged.credential.output[0] = 1;
        assert_eq!(
            authenticate_vote(&REAL, &p, &forged, &rec, 20, &SEED),
            Err(AuthError::UnexpectedCredential)
        );
        assert_eq!(
            authenticate_vote(&REAL, &p, &v, &MinerRecord { stake: 0, ..rec }, 20, &SEED),
            Err(AuthError::NotSelected)
        );
        let (prop, _) = ms[0]
            .propose(&p, 150, 2, Value([1; 32]), &SEED, 5, 20)
            .unwrap()
            .unwrap();
        assert_eq!(
            authenticate_proposal(&REAL, &p, &prop, &rec, 20, &SEED).map(|a| a.weight),
            Ok(p.proposer.expected) // seats capped at the proposer committee
        );
    }

    #[test]
    fn mock_keys_follow_the_same_path() {
        let p = Params::new_chain(7);
        let ms: Vec<MockMinerKeys> = (0..4).map(|i| MockMinerKeys::mock(7, i)).collect();
        let recs: Vec<MinerRecord> = ms.iter().map(|m| m.record(STAKE)).collect();
        let votes: Vec<VoteMsg> = ms
            .iter()
            .map(|m| {
                m.cast_vote(
                    &p,
                    Hrs::new(9, 1, Step(3)),
                    Value([1; 32]),
                    &SEED,
                    STAKE,
                    TOTAL,
                )
                .unwrap()
                .unwrap()
            })
            .collect();
        let pairs: Vec<(&VoteMsg, &MinerRecord)> = votes.iter().zip(&recs).collect();
        for (i, r) in authenticate_votes(&MOCK, &p, &pairs, TOTAL, &SEED)
            .into_iter()
            .enumerate()
        {
            assert_eq!(
                r,
                authenticate_vote(&MOCK, &p, &votes[i], &recs[i], TOTAL, &SEED)
            );
            assert!(r.unwrap() > 0);
        }
        let tampered = VoteMsg {
            step: Step(4),
            ..votes[0]
        };
        assert!(authenticate_vote(&MOCK, &p, &tampered, &recs[0], TOTAL, &SEED).is_err());
        // Real verifiers reject mock votes.
        assert!(authenticate_vote(&REAL, &p, &votes[0], &recs[0], TOTAL, &SEED).is_err());
    }

    #[test]
    fn a_block_matches_a_proposal_only_by_proposer_seed_and_reward_address() {
        let proposer = MinerId::from_index(1);
        let other = MinerId::from_index(2);
        let proposal = ProposalMsg {
            height: 5,
            round: 1,
            value: Value([7; 32]),
            proposer,
            credential: Credential {
                output: [0; 32],
                proof: [0; VRF_PROOF_BYTES],
            },
            seed: Credential {
                output: [0; 32],
                proof: [0; VRF_PROOF_BYTES],
            },
            signature: crate::codec::FsSignature::UNSIGNED,
        };
        let auth = ProposalAuth {
            weight: 1,
            priority: [0; 32],
            next_seed: [3; 32],
        };
        let good = BlockClaims {
            proposer,
            seed: [3; 32],
            beneficiary: [9; 20],
        };
        // (claims, registered coinbase, matches)
        let table = [
            (good, Some([9; 20]), true),
            (good, None, false),
            (
                BlockClaims {
                    beneficiary: proposer.0,
                    ..good
                },
                None,
                true,
            ),
            (
                BlockClaims {
                    beneficiary: proposer.0,
                    ..good
                },
                Some([9; 20]),
                false,
            ),
            (
                BlockClaims {
                    proposer: other,
                    ..good
                },
                Some([9; 20]),
                false,
            ),
            (
                BlockClaims {
                    seed: [4; 32],
                    ..good
                },
                Some([9; 20]),
                false,
            ),
        ];
        for (i, (claims, coinbase, want)) in table.into_iter().enumerate() {
            assert_eq!(
                block_matches_proposal(&claims, &proposal, &auth, coinbase),
                want,
                "row {i}"
            );
        }
    }
}
