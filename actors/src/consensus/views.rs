//! Read-only views of consensus for operators (the `consensus_*` RPC methods):
//! the committee of a height and the voters of a stored certificate with their
//! weights. Every number comes from spec's functions over the committee the
//! registry reads from committed state: nothing is decided here.

use alloy_primitives::{Address, B256};
use spec::auth::{MinerRecord, REAL, authenticate_votes};
use spec::codec::{DecodeError, VoteMsg, WireMessage};
use spec::params::{CommitteeMode, Params};
use spec::sortition::{SortitionError, seats, weight};
use spec::types::{Height, Round, Step};

use super::committee::{Committee, Registry, RegistryError};
use crate::execution::header::KalgoHeader;

/// Why a view could not be made.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The committee could not be read.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The stored certificate does not decode.
    #[error("stored certificate: {0}")]
    Decode(#[from] DecodeError),
    /// The stored bytes are not a certificate.
    #[error("the stored bytes are not a certificate")]
    NotACertificate,
    /// A weight could not be computed.
    #[error("weight: {0}")]
    Weight(#[from] SortitionError),
}

/// The committee mode's name: `fixed` or `sortition`.
pub fn mode_name(params: &Params) -> &'static str {
    match params.mode {
        CommitteeMode::Fixed { .. } => "fixed",
        CommitteeMode::Sortition => "sortition",
    }
}

/// One member of a committee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    /// The miner's stake owner (its miner id).
    pub address: Address,
    /// Stake in wei (Kaleido §3.4).
    pub stake: u128,
    /// Weight: in fixed mode the exact weight of each of its votes; in sortition
    /// mode its stake normalised to the total weight (Kaleido §3.6), from which
    /// the seats of each step are drawn.
    pub weight: u64,
    /// Where its block rewards go.
    pub coinbase: Address,
    /// Its stake normalised to the total weight W, rounded down, in either
    /// mode: Kaleido's `eth_hashrate` of a node whose miner this is.
    pub share: u64,
}

/// The committee of one height.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitteeView {
    pub height: Height,
    /// `fixed` or `sortition`.
    pub mode: &'static str,
    /// Members, by address.
    pub members: Vec<MemberView>,
    /// Sum of the members' stakes.
    pub total_stake: u128,
    /// The total weight W all weights are normalised to.
    pub total_weight: u64,
    /// Soft, cert and next quorum thresholds (weight strictly needed).
    pub thresholds: (u64, u64, u64),
    /// Registered miners suspended for equivocation at this height, with the
    /// last height of their suspension.
    pub suspended: Vec<(Address, Height)>,
    /// Registered miners marked absent and so out of this height's committee,
    /// with the block that marked them.
    pub absent: Vec<(Address, Height)>,
}

/// The committee of `height` (parent `parent` committed), as a view.
pub fn committee_view<R: Registry>(
    registry: &R,
    params: &Params,
    height: Height,
    parent: &KalgoHeader,
) -> Result<CommitteeView, InspectError> {
    let c = registry.committee(height, parent)?;
    view_of(params, height, &c)
}

fn member_weight(params: &Params, rec: &MinerRecord, total: u128) -> Result<u64, SortitionError> {
    match params.mode {
        CommitteeMode::Fixed { .. } => seats(params, Step::CERT, rec.stake, total, &[0; 32]),
        CommitteeMode::Sortition => weight(params.total_weight, rec.stake, total, &[0; 32]),
    }
}

/// The view of a committee already read.
pub fn view_of(
    params: &Params,
    height: Height,
    c: &Committee,
) -> Result<CommitteeView, InspectError> {
    let mut members = Vec::with_capacity(c.miners.len());
    for (id, rec) in &c.miners {
        members.push(MemberView {
            address: Address::from(id.0),
            stake: rec.stake,
            weight: member_weight(params, rec, c.total_stake)?,
            coinbase: c.coinbase(id),
            share: weight(params.total_weight, rec.stake, c.total_stake, &[0; 32])?,
        });
    }
    let t = c.thresholds(params);
    Ok(CommitteeView {
        height,
        mode: mode_name(params),
        members,
        total_stake: c.total_stake,
        total_weight: params.total_weight,
        thresholds: (t.soft, t.cert, t.next),
        suspended: c
            .suspended
            .iter()
            .map(|(id, until)| (Address::from(id.0), *until))
            .collect(),
        absent: c
            .absent
            .iter()
            .map(|(id, since)| (Address::from(id.0), *since))
            .collect(),
    })
}

/// One cert vote of a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VoterView {
    /// The voter (stake owner).
    pub address: Address,
    /// The weight its vote counted for; `None` if it does not verify against the
    /// committee (a stored certificate was verified before it was stored, so
    /// this does not happen on an honest store).
    pub weight: Option<u64>,
}

/// A stored certificate, decoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateView {
    pub height: Height,
    /// The round of the cert quorum.
    pub round: Round,
    /// The step of its votes (cert).
    pub step: Step,
    /// The certified value: the block header hash.
    pub value: B256,
    /// The proposer of the certified block.
    pub proposer: Address,
    /// The cert voters.
    pub voters: Vec<VoterView>,
    /// Sum of the voters' weights.
    pub weight: u64,
    /// The cert threshold of the height.
    pub threshold: u64,
    /// `fixed` or `sortition`.
    pub mode: &'static str,
}

/// Decodes the stored certificate `bytes` of block `parent.number() + 1` and
/// weighs each vote against the committee of that height (spec's
/// authentication, as when the votes were counted).
pub fn certificate_view<R: Registry>(
    registry: &R,
    params: &Params,
    parent: &KalgoHeader,
    bytes: &[u8],
) -> Result<CertificateView, InspectError> {
    let WireMessage::Certificate(cert) = WireMessage::decode(bytes)? else {
        return Err(InspectError::NotACertificate);
    };
    let committee = registry.committee(cert.height, parent)?;
    let votes: Vec<(VoteMsg, Option<MinerRecord>)> = cert
        .votes
        .iter()
        .map(|cv| (cert.vote(cv), committee.record(&cv.voter)))
        .collect();
    let known: Vec<(&VoteMsg, &MinerRecord)> = votes
        .iter()
        .filter_map(|(v, r)| r.as_ref().map(|r| (v, r)))
        .collect();
    let mut results = authenticate_votes(
        &REAL,
        params,
        &known,
        committee.total_stake,
        &committee.seed,
    )
    .into_iter();
    let mut voters = Vec::with_capacity(votes.len());
    let mut total = 0u64;
    for (v, rec) in &votes {
        let w = match rec {
            Some(_) => results.next().and_then(Result::ok),
            None => None,
        };
        total = total.saturating_add(w.unwrap_or(0));
        voters.push(VoterView {
            address: Address::from(v.voter.0),
            weight: w,
        });
    }
    Ok(CertificateView {
        height: cert.height,
        round: cert.round,
        step: Step::CERT,
        value: B256::from(cert.value.0),
        proposer: Address::from(cert.proposal.proposer.0),
        voters,
        weight: total,
        threshold: committee.thresholds(params).cert,
        mode: mode_name(params),
    })
}
