//! `--miner.heartbeat`: keeps this node's miner in the committees on a chain
//! with the absentee rule (`spec::absence`).
//!
//! A miner that neither proposes nor sends a heartbeat for its bound is marked
//! absent by block execution and leaves the committees. An online miner with a
//! small share of the stake can go that long without proposing, so every 2λ
//! this task reads the miner's liveness record at the head and, when
//! `spec::absence::AbsenceRule::heartbeat_due` says so (half its bound passed
//! unseen, or it is marked absent), sends `heartbeat()` to the miner contract
//! from the stake owner's account, as `eth_sendTransaction` would. The stake
//! owner must be node-held and unlocked (`--unlock`): the contract takes a
//! heartbeat only from the miner itself. A heartbeat is not sent again until
//! the record changes or [`RESEND_AFTER`] passed.
//!
//! A heartbeat is sent only while this node mines (keys loaded, not stopped by
//! `miner_stop`: the heartbeat says the miner takes part, so a node that does
//! not must not send it) and its head is recent (a node still syncing reads
//! an old record and would send heartbeats the chain does not need).
//!
//! A mining node without `--miner.heartbeat` runs the same watch but sends
//! nothing: while its miner is marked absent it warns every
//! [`RESEND_AFTER`], saying how to come back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actors::execution::miner::{
    MINER_CONTRACT,
    abi::IMiner,
    snapshot::{liveness, stake, suspension},
};
use actors::metrics::Metrics;
use actors::runtime::inspect::{InspectAnswer, InspectQuery};
use alloy_primitives::Address;
use alloy_sol_types::SolCall;
use spec::absence::{AbsenceRule, Liveness};

use super::context::Ctx;
use super::params::{BlockId, BlockTag, CallObject};

/// How long a heartbeat that changed nothing waits before it is sent again.
pub const RESEND_AFTER: Duration = Duration::from_secs(30);

/// The heartbeat sender's settings.
pub struct Heartbeats {
    /// The miner (stake owner), node-held and unlocked.
    pub miner: Address,
    /// The chain's absentee rule.
    pub rule: AbsenceRule,
    /// How often the head is looked at (2λ).
    pub every: Duration,
    /// Whether to send heartbeats (`--miner.heartbeat`), or only warn.
    pub send: bool,
    /// Where heartbeats are counted.
    pub metrics: Arc<Metrics>,
}

/// What the head says about the miner.
struct Reading {
    head: u64,
    /// The head's timestamp (seconds).
    timestamp: u64,
    record: Liveness,
    due: bool,
}

/// Seconds since the Unix epoch (0 if the clock is before it).
fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn read(ctx: &Ctx, h: &Heartbeats) -> Result<Reading, String> {
    ctx.with_state(BlockId::Tag(BlockTag::Latest), |state, header| {
        let record = liveness(state, h.miner)?;
        let stake = stake(state, &h.miner)?;
        let total = u128::try_from(header.total_balance_of_miners).unwrap_or(u128::MAX);
        let head = header.number();
        // Eligible from the end of an equivocation suspension, if any. A
        // registration's start is not read: a miner never seen counts from
        // the rule's first block, so a late registration heartbeats early
        // (refused while it has not started, then once).
        let from = suspension(state, h.miner)?.until;
        let due = h.rule.heartbeat_due(head, &record, from, stake, total);
        Ok(Reading {
            head,
            timestamp: header.eth.timestamp,
            record,
            due,
        })
    })
    .map_err(|e| e.to_string())
}

/// Runs for the life of the node.
pub async fn run(ctx: Arc<Ctx>, h: Heartbeats) {
    let mut sent: Option<(Instant, Liveness)> = None;
    let mut warned: Option<Instant> = None;
    loop {
        tokio::time::sleep(h.every).await;
        let reading = match read(&ctx, &h) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "heartbeat: cannot read the head");
                continue;
            }
        };
        if !reading.record.is_absent() {
            warned = None;
        } else if warned.is_none_or(|at| at.elapsed() >= RESEND_AFTER) {
            warned = Some(Instant::now());
            match h.send {
                true => tracing::warn!(
                    miner = %h.miner,
                    since = reading.record.absent_since,
                    "this node's miner is marked absent and out of the committees; sending a heartbeat"
                ),
                false => tracing::warn!(
                    miner = %h.miner,
                    since = reading.record.absent_since,
                    "this node's miner is marked absent and out of the committees: send heartbeat() to the miner contract from the stake owner, or run with --unlock OWNER --miner.heartbeat"
                ),
            }
        }
        if !reading.due || !h.send {
            continue;
        }
        let recent = Duration::from_secs(60).max(h.every * 20).as_secs();
        if now_secs().saturating_sub(reading.timestamp) > recent {
            tracing::debug!(head = reading.head, "heartbeat: the head is old (syncing?)");
            continue;
        }
        let mining = matches!(
            super::consensus::ask(&ctx, InspectQuery::Status).await,
            Ok(InspectAnswer::Status(s)) if s.mining
        );
        if !mining {
            continue;
        }
        if sent.is_some_and(|(at, record)| record == reading.record && at.elapsed() < RESEND_AFTER)
        {
            continue;
        }
        let signer = match ctx.accounts.signer(&h.miner) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(account = %h.miner, error = %e, "cannot send a heartbeat: the stake owner is locked");
                continue;
            }
        };
        let tx = CallObject {
            from: Some(h.miner),
            to: Some(MINER_CONTRACT),
            input: Some(IMiner::heartbeatCall {}.abi_encode().into()),
            ..CallObject::default()
        };
        match super::personal::send(&ctx, tx, signer).await {
            Ok(hash) => {
                sent = Some((Instant::now(), reading.record));
                Metrics::add(&h.metrics.heartbeats, 1);
                tracing::info!(
                    miner = %h.miner,
                    head = reading.head,
                    last_seen = reading.record.last_seen,
                    tx = %hash,
                    "sent a heartbeat to the miner contract"
                );
            }
            Err(e) => {
                sent = Some((Instant::now(), reading.record));
                tracing::info!(miner = %h.miner, error = %e, "heartbeat refused (not a registered miner yet?)");
            }
        }
    }
}
