//! `--miner.reportequivocation ADDR`: submits the equivocation proofs the
//! consensus actor finds (`actors::runtime::EquivocationProof`) to the miner
//! contract's `reportEquivocation`, as `eth_sendTransaction` from the unlocked
//! node-held account `ADDR` would (nonce from the pool, gas by estimation).
//!
//! Estimation runs the call against the head: evidence the chain already
//! punished, or that the contract refuses for any other reason, fails there
//! and is never sent, so the account pays only for reports that land. A miner
//! reported by this node is not reported again for [`RESUBMIT_AFTER`], which
//! covers the blocks until its first report lands (every later vote of an
//! equivocator until then is a new proof of the same offence).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::execution::miner::{MINER_CONTRACT, abi::IMiner};
use actors::metrics::Metrics;
use actors::runtime::EquivocationProof;
use alloy_primitives::{Address, Bytes};
use alloy_sol_types::SolCall;
use tokio::sync::mpsc::Receiver;

use super::context::Ctx;
use super::params::CallObject;

/// How long a reported miner is not reported again.
pub const RESUBMIT_AFTER: Duration = Duration::from_secs(30);

/// The reporter's settings and inputs.
pub struct Reporter {
    /// The node-held account that signs and pays.
    pub from: Address,
    /// Proofs from the consensus actor.
    pub proofs: Receiver<EquivocationProof>,
    /// Where submissions are counted.
    pub metrics: Arc<Metrics>,
}

/// The calldata of `reportEquivocation(first, second)`.
pub fn calldata(p: &EquivocationProof) -> Bytes {
    IMiner::reportEquivocationCall {
        first: p.first.clone().into(),
        second: p.second.clone().into(),
    }
    .abi_encode()
    .into()
}

/// Runs until the consensus actor drops its sender.
pub async fn run(ctx: Arc<Ctx>, mut r: Reporter) {
    let mut reported: HashMap<Address, Instant> = HashMap::new();
    while let Some(proof) = r.proofs.recv().await {
        if reported
            .get(&proof.voter)
            .is_some_and(|at| at.elapsed() < RESUBMIT_AFTER)
        {
            continue;
        }
        let signer = match ctx.accounts.signer(&r.from) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(account = %r.from, error = %e, "cannot report an equivocation: the account is locked");
                continue;
            }
        };
        let tx = CallObject {
            from: Some(r.from),
            to: Some(MINER_CONTRACT),
            input: Some(calldata(&proof)),
            ..CallObject::default()
        };
        match super::personal::send(&ctx, tx, signer).await {
            Ok(hash) => {
                reported.insert(proof.voter, Instant::now());
                Metrics::add(&r.metrics.equivocation_reports, 1);
                tracing::warn!(
                    miner = %proof.voter,
                    height = proof.height,
                    tx = %hash,
                    "reported an equivocation to the miner contract"
                );
            }
            Err(e) => tracing::info!(
                miner = %proof.voter,
                height = proof.height,
                error = %e,
                "equivocation not reported (already punished, or refused)"
            ),
        }
    }
}
