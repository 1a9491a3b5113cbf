//! What the network brings to the actors (routed by [`crate::gossip::actor`]):
//!
//! - consensus messages → [`HostCore::on_wire_from`](crate::consensus::host::HostCore::on_wire_from),
//!   whose verdicts decide gossip forwarding;
//! - synced blocks → verified ([`verify_synced`]), executed, committed one by one,
//!   each restarting consensus at the new head;
//! - transactions → the pool (locally submitted ones, [`super::SubmitRawTx`], go out
//!   to the network);
//! - block requests → the store; pending-transaction requests → the pool.

use std::collections::VecDeque;

use actix::prelude::*;
use alloy_primitives::{B256, keccak256};

use super::{Commit, ConsensusActor, ExecutionActor, Validate};
use crate::consensus::committee::Registry;
use crate::consensus::host::{Topic, WireError, encode_block_parts};
use crate::consensus::synced_block::verify_synced;
use crate::execution::{
    pool::{MAX_TX_BYTES, PoolError, RecoveredTx},
    service::ServiceError,
};
use crate::gossip::Verdict;
use crate::gossip::actor::{
    Admitted, ConsensusInbound, ReadBlocks, ReadPool, RemoteTxs, SyncBlocks, SyncOutcome,
};
use crate::gossip::codec::{SOFT_RESPONSE_BYTES, SyncBlock, SyncResponse};
use crate::gossip::txbatch::{self, TxVerdict};
use crate::metrics::Metrics;
use spec::driver::book::Source;

/// The gossip verdict on a consensus message.
pub fn wire_verdict(r: &Result<(), WireError>) -> Verdict {
    match r {
        Ok(()) => Verdict::Accept,
        Err(e) if e.is_ignore() => Verdict::Ignore,
        Err(_) => Verdict::Reject,
    }
}

/// What the pool made of a transaction from the network: malformed or
/// never-valid ones are the sender's fault; state-dependent misses (nonce,
/// funds, fees, pool full) are useless here now; known ones cost nothing.
pub fn tx_verdict(r: &Result<B256, ServiceError>) -> TxVerdict {
    match r {
        Ok(_) => TxVerdict::Accepted,
        Err(ServiceError::Pool(PoolError::AlreadyKnown)) => TxVerdict::Known,
        Err(ServiceError::Pool(
            PoolError::Malformed(_)
            | PoolError::UnsupportedType(_)
            | PoolError::BlobUnsupported
            | PoolError::EmptyAuthorizationList
            | PoolError::Oversize { .. }
            | PoolError::BadSignature
            | PoolError::WrongChainId { .. }
            | PoolError::IntrinsicGas { .. }
            | PoolError::GasLimitTooHigh { .. },
        )) => TxVerdict::Invalid,
        Err(_) => TxVerdict::Useless,
    }
}

impl Handler<RemoteTxs> for ExecutionActor {
    type Result = ResponseActFuture<Self, Admitted>;
    /// Decoding and sender recovery run on a blocking thread, so the execution
    /// thread keeps building, validating and committing meanwhile; only the
    /// stateful admission runs here. A transaction already pooled (its hash is
    /// that of its bytes) is ignored without recovering its sender.
    fn handle(&mut self, msg: RemoteTxs, _: &mut Self::Context) -> Self::Result {
        let chain_id = self.svc.config().chain_id();
        let count = msg.0.len();
        let known: Vec<bool> = msg
            .0
            .iter()
            .map(|raw| self.svc.pool_contains(&keccak256(raw)))
            .collect();
        let fresh = known.iter().filter(|k| !**k).count();
        Metrics::add(&self.metrics.txs_recovered, fresh as u64);
        let recovered = tokio::task::spawn_blocking(move || {
            let list = msg
                .0
                .iter()
                .zip(known)
                .map(|(raw, known)| {
                    if known {
                        Err(PoolError::AlreadyKnown)
                    } else {
                        RecoveredTx::from_raw(raw, chain_id, MAX_TX_BYTES)
                    }
                })
                .collect::<Vec<_>>();
            (list, msg.0)
        });
        Box::pin(recovered.into_actor(self).map(move |res, act, _| {
            let Ok((list, raws)) = res else {
                // The recovery task died: judge nothing (as if known).
                return Admitted {
                    verdicts: vec![TxVerdict::Known; count],
                    raws: Vec::new(),
                };
            };
            let verdicts = list
                .into_iter()
                .map(|r| {
                    let added = r
                        .map_err(ServiceError::from)
                        .and_then(|tx| act.svc.add_recovered_tx(tx));
                    tx_verdict(&added)
                })
                .collect();
            act.record_pool();
            Admitted { verdicts, raws }
        }))
    }
}

impl Handler<ReadBlocks> for ExecutionActor {
    type Result = MessageResult<ReadBlocks>;
    fn handle(&mut self, msg: ReadBlocks, _: &mut Self::Context) -> Self::Result {
        let response =
            match self
                .svc
                .blocks_with_certificates(msg.from, msg.count, SOFT_RESPONSE_BYTES)
            {
                Ok(blocks) if !blocks.is_empty() => SyncResponse::Blocks(
                    blocks
                        .into_iter()
                        .map(|b| SyncBlock {
                            block: encode_block_parts(&b.header, &b.body),
                            certificate: b.certificate,
                        })
                        .collect(),
                ),
                Ok(_) => SyncResponse::Unavailable,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read blocks for a peer");
                    SyncResponse::Unavailable
                }
            };
        MessageResult(response)
    }
}

impl Handler<ReadPool> for ExecutionActor {
    type Result = MessageResult<ReadPool>;
    fn handle(&mut self, _: ReadPool, _: &mut Self::Context) -> Self::Result {
        // Bounded by the batch size before encoding; `encode_bounded` trims the
        // few whose RLP headers no longer fit.
        let budget = txbatch::MAX_BATCH_BYTES - txbatch::LIST_OVERHEAD;
        let response = match self.svc.pending_encoded(txbatch::MAX_BATCH_TXS, budget) {
            Ok(txs) => {
                txbatch::encode_bounded(txs).map_or(SyncResponse::Unavailable, SyncResponse::Pool)
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the pool for a peer");
                SyncResponse::Unavailable
            }
        };
        MessageResult(response)
    }
}

/// Whether the pool holds a transaction.
#[derive(Message, Debug)]
#[rtype(result = "bool")]
pub struct PoolHas(pub B256);

impl Handler<PoolHas> for ExecutionActor {
    type Result = bool;
    fn handle(&mut self, msg: PoolHas, _: &mut Self::Context) -> bool {
        self.svc.pool_contains(&msg.0)
    }
}

impl<R: Registry + Unpin + 'static> Handler<ConsensusInbound> for ConsensusActor<R> {
    type Result = MessageResult<ConsensusInbound>;
    fn handle(&mut self, msg: ConsensusInbound, ctx: &mut Self::Context) -> Self::Result {
        let refs: Vec<(Topic, &[u8], Source)> = msg
            .0
            .iter()
            .map(|(t, b, s)| (*t, b.as_slice(), *s))
            .collect();
        let now = self.now();
        let (verdicts, effects) = self.core.on_wire_from(&refs, now);
        let accepted = verdicts.iter().filter(|r| r.is_ok()).count() as u64;
        let m = self.metrics();
        Metrics::add(&m.votes_received, verdicts.len() as u64);
        Metrics::add(&m.votes_verified, accepted);
        Metrics::add(&m.votes_dropped, verdicts.len() as u64 - accepted);
        for (topic, bytes, _) in &refs {
            m.votes_received_by_step.add_wire(*topic, bytes);
        }
        for (r, (topic, ..)) in verdicts.iter().zip(&refs) {
            match r {
                Err(e) if !e.is_ignore() => {
                    tracing::debug!(topic = topic.name(), error = %e, "rejected message");
                }
                Err(e) => tracing::trace!(topic = topic.name(), error = %e, "ignored message"),
                Ok(()) => tracing::trace!(topic = topic.name(), "accepted message"),
            }
        }
        self.handle_effects(effects, ctx);
        if let Some(e) = self.core.take_failure() {
            self.after::<crate::consensus::host::HostError>(Err(e), ctx);
        }
        MessageResult(verdicts.iter().map(wire_verdict).collect())
    }
}

/// Why one synced block stopped the batch.
#[derive(Debug, thiserror::Error)]
enum StepError {
    /// The block is invalid although certified: the peer is at fault.
    #[error("{0}")]
    Invalid(ServiceError),
    /// Execution refused for a local reason (it moved past this height, its
    /// store failed): stop, blame nobody.
    #[error("{0}")]
    Local(ServiceError),
    /// The execution actor's mailbox is gone or full.
    #[error("execution mailbox: {0}")]
    Mailbox(#[from] actix::MailboxError),
}

impl<R: Registry + Unpin + 'static> ConsensusActor<R> {
    /// Verifies, executes and commits the next synced block, then the rest.
    fn sync_next(
        &mut self,
        mut blocks: VecDeque<SyncBlock>,
        mut outcome: SyncOutcome,
    ) -> ResponseActFuture<Self, SyncOutcome> {
        let Some(next) = blocks.pop_front() else {
            return Box::pin(actix::fut::ready(outcome));
        };
        let (block, round) = match verify_synced(&self.core, &next.block, &next.certificate) {
            Ok(v) => v,
            Err(e) if e.is_invalid() => {
                tracing::warn!(error = %e, "synced block refused");
                outcome.invalid = true;
                return Box::pin(actix::fut::ready(outcome));
            }
            Err(e) => {
                // Already committed here (consensus was quicker): skip it.
                if blocks.is_empty() {
                    tracing::debug!(error = %e, "synced block skipped");
                }
                return self.sync_next(blocks, outcome);
            }
        };
        let hash = block.header.hash();
        let exec = self.exec.clone();
        let certificate = next.certificate;
        let work = async move {
            let validate = Validate {
                block: Box::new(block),
                proposed: false,
            };
            match exec.send(validate).await {
                Ok(Ok(_)) => {}
                // Execution moved on meanwhile (our own commit of this height).
                Ok(Err(e @ ServiceError::NotOnHead { .. })) => return Err(StepError::Local(e)),
                Ok(Err(e)) => return Err(StepError::Invalid(e)),
                Err(e) => return Err(e.into()),
            }
            match exec.send(Commit { hash, certificate }).await {
                Ok(Ok(done)) => Ok(done),
                Ok(Err(e)) => Err(StepError::Local(e)),
                Err(e) => Err(e.into()),
            }
        };
        Box::pin(work.into_actor(self).then(move |res, act, ctx| {
            match res {
                Ok((head, header, txs)) => {
                    outcome.committed += 1;
                    act.committed(head, header, txs, round, "sync", ctx);
                    return act.sync_next(blocks, outcome);
                }
                Err(StepError::Invalid(e)) => {
                    tracing::warn!(error = %e, "certified block does not execute");
                    outcome.invalid = true;
                }
                Err(e) => tracing::warn!(error = %e, "sync stopped"),
            }
            Box::pin(actix::fut::ready(outcome)) as ResponseActFuture<Self, SyncOutcome>
        }))
    }
}

impl<R: Registry + Unpin + 'static> Handler<SyncBlocks> for ConsensusActor<R> {
    type Result = AtomicResponse<Self, SyncOutcome>;
    fn handle(&mut self, msg: SyncBlocks, _: &mut Self::Context) -> Self::Result {
        AtomicResponse::new(self.sync_next(msg.0.into(), SyncOutcome::default()))
    }
}

#[cfg(test)]
pub(crate) mod tests;
