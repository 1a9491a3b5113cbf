//! Questions operators ask the consensus actor (the `consensus_*` RPC methods):
//! one [`Inspect`] message whose answer the actor computes from its host core
//! and the registry ([`crate::consensus::views`]). Read-only.

use actix::prelude::*;
use alloy_primitives::{Address, B256};
use spec::params::FilterTimeout;
use spec::types::{Height, Round};

use super::ConsensusActor;
use crate::consensus::committee::Registry;
use crate::consensus::views::{
    CertificateView, CommitteeView, certificate_view, committee_view, mode_name,
};
use crate::execution::header::KalgoHeader;

/// What is asked.
#[derive(Debug, Clone)]
pub enum InspectQuery {
    /// The machine's position and whether this node votes.
    Status,
    /// The committee of `height`, whose committed parent is `parent`.
    Committee {
        height: Height,
        /// Its parent header (read from the store by the asker).
        parent: Box<KalgoHeader>,
    },
    /// A stored certificate of block `parent.number() + 1`, weighed.
    Certificate {
        /// The certified block's parent header.
        parent: Box<KalgoHeader>,
        /// The certificate as stored.
        bytes: Vec<u8>,
    },
    /// This node's miner: owner, registration, keys, mining switch.
    Miner,
}

/// The machine's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusView {
    /// Height being agreed on.
    pub height: Height,
    /// The machine's round at that height.
    pub round: Round,
    /// Step (1 proposal, 2 soft, 3 cert, ≥ 4 next).
    pub step: u32,
    /// Whether this node proposes and votes.
    pub participating: bool,
    /// The committed head this height builds on.
    pub head: (Height, B256),
    /// `fixed` or `sortition`.
    pub mode: &'static str,
    /// 2λ in milliseconds.
    pub two_lambda_ms: u64,
    /// Whether round 1's filter timer is dynamic (`dynamicFilterTimeout`).
    pub dynamic_filter: bool,
    /// How long round 1's proposal step waits, in ms: 2λ, or the estimate.
    pub filter_timeout_ms: u64,
    /// Members of the current committee.
    pub committee_size: usize,
    /// Registered miners suspended for equivocation at the current height.
    pub suspended: usize,
    /// Registered miners marked absent and out of the current committee.
    pub absent: usize,
    /// Whether this node mines: keys loaded and not stopped (`miner_stop`),
    /// whether or not its miner is in the current committee.
    pub mining: bool,
}

/// This node's miner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinerView {
    /// Stake owner of the loaded keys (`None`: not started with `--mine`).
    pub owner: Option<Address>,
    /// Whether the owner is a member of the committee of the height in progress.
    pub registered: bool,
    /// Its stake there, if registered.
    pub stake: Option<u128>,
    /// `[start, end)` heights of every loaded key.
    pub keys: Vec<(Height, Height)>,
    /// Whether mining is switched on (`--mine` / `miner_start`).
    pub mining: bool,
    /// Whether it actually signs at the height in progress (registered, with a
    /// key matching the registration).
    pub participating: bool,
    /// The height in progress.
    pub height: Height,
}

/// The answer.
#[derive(Debug, Clone)]
pub enum InspectAnswer {
    /// To [`InspectQuery::Status`].
    Status(StatusView),
    /// To [`InspectQuery::Committee`].
    Committee(CommitteeView),
    /// To [`InspectQuery::Certificate`].
    Certificate(CertificateView),
    /// To [`InspectQuery::Miner`].
    Miner(MinerView),
}

/// A question to the consensus actor; the error is a message for the operator.
#[derive(Message, Debug, Clone)]
#[rtype(result = "Result<InspectAnswer, String>")]
pub struct Inspect(pub InspectQuery);

impl<R: Registry + Unpin + 'static> Handler<Inspect> for ConsensusActor<R> {
    type Result = Result<InspectAnswer, String>;
    fn handle(&mut self, msg: Inspect, _: &mut Self::Context) -> Self::Result {
        let core = &self.core;
        let params = core.params();
        match msg.0 {
            InspectQuery::Status => {
                let pos = core.position();
                let parent = core.parent();
                Ok(InspectAnswer::Status(StatusView {
                    height: core.height(),
                    round: pos.map_or(0, |p| p.round),
                    step: pos.map_or(0, |p| p.step.0),
                    participating: core.participating() && core.signs_at_current_height(),
                    head: (parent.number(), parent.hash()),
                    mode: mode_name(params),
                    two_lambda_ms: params.two_lambda_ms,
                    dynamic_filter: params.filter_timeout != FilterTimeout::Fixed,
                    filter_timeout_ms: core.driver().filter_timeout_ms(),
                    committee_size: core.committee().miners.len(),
                    suspended: core.committee().suspended.len(),
                    absent: core.committee().absent.len(),
                    mining: core.participating(),
                }))
            }
            InspectQuery::Committee { height, parent } => {
                committee_view(core.registry(), params, height, &parent)
                    .map(InspectAnswer::Committee)
                    .map_err(|e| e.to_string())
            }
            InspectQuery::Certificate { parent, bytes } => {
                certificate_view(core.registry(), params, &parent, &bytes)
                    .map(InspectAnswer::Certificate)
                    .map_err(|e| e.to_string())
            }
            InspectQuery::Miner => {
                let id = core.miner_id();
                let rec = id.and_then(|id| core.committee().record(&id));
                Ok(InspectAnswer::Miner(MinerView {
                    owner: id.map(|id| Address::from(id.0)),
                    registered: rec.is_some(),
                    stake: rec.map(|r| r.stake),
                    keys: core.key_spans(),
                    mining: core.mining_requested() && id.is_some(),
                    participating: core.participating() && core.signs_at_current_height(),
                    height: core.height(),
                }))
            }
        }
    }
}
