//! `eth_subscribe` / `eth_unsubscribe` over WebSocket (geth's pub/sub):
//! `newHeads` (one header per committed block), `logs` (one notification per
//! matching log, with an optional `{address, topics}` filter) and
//! `newPendingTransactions` (hashes of transactions entering the pool).
//!
//! `newHeads` and `logs` poll the store every [`POLL`]; `newPendingTransactions`
//! wakes when the execution actor republishes the pooled hashes. Each ends when
//! the client unsubscribes or disconnects. Subscription ids are random 128-bit
//! hex strings, as geth's.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use actors::execution::query::{self, LogFilter};
use alloy_primitives::B256;
use jsonrpsee::core::traits::IdProvider;
use jsonrpsee::types::SubscriptionId;
use jsonrpsee::{PendingSubscriptionSink, RpcModule, SubscriptionSink};
use rand_core::{OsRng, RngCore};
use serde_json::Value;

use crate::rpc::{
    chain::check_log_query,
    context::Ctx,
    error::RpcError,
    filter_shape::check_filter_text,
    format,
    params::{Args, FilterObject},
};

/// How often a subscription looks for news.
pub const POLL: Duration = Duration::from_millis(100);

/// geth-style subscription ids (`0x` + 32 hex digits).
#[derive(Debug, Clone, Copy)]
pub struct HexIds;

impl IdProvider for HexIds {
    fn next_id(&self) -> SubscriptionId<'static> {
        let mut bytes = [0u8; 16];
        OsRng.fill_bytes(&mut bytes);
        SubscriptionId::Str(format!("{:#034x}", u128::from_be_bytes(bytes)).into())
    }
}

async fn send(sink: &SubscriptionSink, v: &Value) -> bool {
    match serde_json::value::to_raw_value(v) {
        Ok(raw) => sink.send(raw).await.is_ok(),
        Err(_) => false,
    }
}

/// Sleeps one poll period; false once the subscriber is gone.
async fn tick(sink: &SubscriptionSink) -> bool {
    tokio::select! {
        _ = sink.closed() => false,
        _ = tokio::time::sleep(POLL) => true,
    }
}

fn header_json(ctx: &Ctx, number: u64) -> Option<Value> {
    let b = query::block(&ctx.chain, number).ok()??;
    let mut v = format::block(&b, false, ctx.genesis_difficulty);
    if let Some(m) = v.as_object_mut() {
        for k in [
            "transactions",
            "uncles",
            "size",
            "totalDifficulty",
            "withdrawals",
        ] {
            m.remove(k);
        }
    }
    Some(v)
}

async fn new_heads(ctx: Arc<Ctx>, sink: SubscriptionSink) {
    let Ok(mut next) = ctx.head_number().map(|h| h + 1) else {
        return;
    };
    while tick(&sink).await {
        let Ok(head) = ctx.head_number() else { return };
        while next <= head {
            match header_json(&ctx, next) {
                Some(h) if send(&sink, &h).await => next += 1,
                _ => return,
            }
        }
    }
}

async fn logs(ctx: Arc<Ctx>, sink: SubscriptionSink, mut filter: LogFilter) {
    let Ok(mut next) = ctx.head_number().map(|h| h + 1) else {
        return;
    };
    while tick(&sink).await {
        let Ok(head) = ctx.head_number() else { return };
        if next > head {
            continue;
        }
        filter.from = next;
        filter.to = head;
        let Ok(found) = query::logs(
            &ctx.chain,
            &filter,
            ctx.limits.max_log_blocks,
            ctx.limits.max_logs,
        ) else {
            return;
        };
        for l in &found {
            if !send(&sink, &format::log(l)).await {
                return;
            }
        }
        next = head + 1;
    }
}

/// Hashes entering the pool, from the execution actor's published view: woken
/// by each republication (at most every [`actors::runtime::POOL_VIEW_EVERY`]),
/// never a request to the actor.
async fn pending_txs(ctx: Arc<Ctx>, sink: SubscriptionSink) {
    let mut view = ctx.pool_view.clone();
    let mut seen: HashSet<B256> = view.borrow_and_update().iter().copied().collect();
    loop {
        tokio::select! {
            _ = sink.closed() => return,
            changed = view.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
        let now: HashSet<B256> = view.borrow_and_update().iter().copied().collect();
        for h in now.difference(&seen) {
            if !send(&sink, &serde_json::json!(h)).await {
                return;
            }
        }
        seen = now;
    }
}

/// Registers `eth_subscribe` / `eth_unsubscribe` (WebSocket only).
pub fn register(m: &mut RpcModule<Ctx>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_subscription(
        "eth_subscribe",
        "eth_subscription",
        "eth_unsubscribe",
        |params, pending: PendingSubscriptionSink, ctx, _| async move {
            let parsed = (|| {
                check_filter_text(params.as_str(), 1, ctx.limits.log_query_limit)?;
                let a = Args::new(&params, 2)?;
                let kind: String = a.required(0)?;
                let filter = match kind.as_str() {
                    "newHeads" | "newPendingTransactions" => None,
                    "logs" => {
                        let f: FilterObject = a.optional(1)?.unwrap_or_default();
                        let filter = LogFilter {
                            from: 0,
                            to: 0,
                            addresses: f.address.clone().map(|a| a.into_vec()).unwrap_or_default(),
                            topics: f.topic_sets(),
                        };
                        check_log_query(&filter, ctx.limits.log_query_limit)?;
                        Some(filter)
                    }
                    other => {
                        return Err(RpcError::InvalidParams(format!(
                            "no \"{other}\" subscription in eth namespace"
                        )));
                    }
                };
                Ok((kind, filter))
            })();
            let (kind, filter) = match parsed {
                Ok(p) => p,
                Err(e) => {
                    pending.reject(e).await;
                    return;
                }
            };
            let Ok(sink) = pending.accept().await else {
                return;
            };
            match (kind.as_str(), filter) {
                ("logs", Some(f)) => logs(ctx, sink, f).await,
                ("newPendingTransactions", _) => pending_txs(ctx, sink).await,
                _ => new_heads(ctx, sink).await,
            }
        },
    )?;
    Ok(())
}
