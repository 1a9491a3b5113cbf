//! Polling filters (`eth_newFilter`, `eth_newBlockFilter`,
//! `eth_newPendingTransactionFilter`, `eth_getFilterChanges`, `eth_getFilterLogs`,
//! `eth_uninstallFilter`), with geth's rules: a filter not polled for 5 minutes
//! is removed; ids are random 128-bit hex; an unknown id is "filter not found".
//!
//! Block and log filters remember the next block to report and read the store
//! when polled. A pending-transaction filter remembers the pooled hashes it has
//! already reported.

use std::collections::HashSet;
use std::time::Instant;

use actors::execution::query::LogFilter;
use alloy_primitives::B256;
use jsonrpsee::RpcModule;
use serde_json::{Value, json};

use crate::rpc::{
    chain::{log_filter, logs_json},
    context::Ctx,
    error::{RpcError, RpcResult},
    filter_shape::check_filter_text,
    filter_store::{FILTER_TIMEOUT, Kind, not_found, poisoned},
    params::{Args, FilterObject},
};

fn id_arg(a: &Args) -> RpcResult<String> {
    let id: String = a.required(0)?;
    Ok(id.to_ascii_lowercase())
}

/// What `eth_getFilterChanges` must do next, decided under the lock.
enum Poll {
    Ready(Value),
    Pending,
}

fn poll_store(ctx: &Ctx, id: &str) -> RpcResult<Poll> {
    let head = ctx.head_number()?;
    let mut map = ctx.filters.map.lock().map_err(|_| poisoned())?;
    map.retain(|_, f| f.polled.elapsed() < FILTER_TIMEOUT);
    let f = map.get_mut(id).ok_or_else(not_found)?;
    f.polled = Instant::now();
    match &mut f.kind {
        Kind::Blocks { next } => {
            let mut hashes = Vec::new();
            while *next <= head {
                if let Some(h) = ctx.chain.canonical_hash(*next)? {
                    hashes.push(json!(h));
                }
                *next += 1;
            }
            Ok(Poll::Ready(Value::Array(hashes)))
        }
        Kind::Logs {
            filter,
            open_end,
            next,
        } => {
            let last = if *open_end { head } else { filter.to.min(head) };
            if *next > last {
                return Ok(Poll::Ready(json!([])));
            }
            let range = LogFilter {
                from: *next,
                to: last,
                ..filter.clone()
            };
            let logs = logs_json(ctx, &range)?;
            *next = last + 1;
            Ok(Poll::Ready(logs))
        }
        Kind::Pending { .. } => Ok(Poll::Pending),
    }
}

/// Registers the filter methods.
pub fn register(m: &mut RpcModule<Ctx>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_method("eth_newBlockFilter", |p, ctx, _| -> RpcResult<Value> {
        Args::new(&p, 0)?;
        let next = ctx.head_number()? + 1;
        Ok(json!(ctx.filters.install(Kind::Blocks { next })?))
    })?;
    m.register_method("eth_newFilter", |p, ctx, _| -> RpcResult<Value> {
        check_filter_text(p.as_str(), 0, ctx.limits.log_query_limit)?;
        let a = Args::new(&p, 1)?;
        let f: FilterObject = a.required(0)?;
        let filter = log_filter(ctx, &f)?;
        let open_end = f.block_hash.is_none()
            && f.to_block.as_ref().is_none_or(|v| {
                matches!(
                    v.as_str(),
                    Some("latest" | "pending" | "safe" | "finalized")
                )
            });
        // Changes start after the head (geth: logs of blocks mined from now on).
        let next = (ctx.head_number()? + 1).max(filter.from);
        Ok(json!(ctx.filters.install(Kind::Logs {
            filter,
            open_end,
            next
        })?))
    })?;
    m.register_method(
        "eth_newPendingTransactionFilter",
        |p, ctx, _| -> RpcResult<Value> {
            let a = Args::new(&p, 1)?;
            let _full: Option<bool> = a.optional(0)?;
            Ok(json!(ctx.filters.install(Kind::Pending {
                seen: HashSet::new()
            })?))
        },
    )?;
    m.register_method("eth_uninstallFilter", |p, ctx, _| -> RpcResult<Value> {
        let a = Args::new(&p, 1)?;
        Ok(Value::Bool(ctx.filters.uninstall(&id_arg(&a)?)?))
    })?;
    m.register_async_method("eth_getFilterChanges", |p, ctx, _| async move {
        let a = Args::new(&p, 1)?;
        let id = id_arg(&a)?;
        let poll = poll_store(&ctx, &id)?;
        match poll {
            Poll::Ready(v) => Ok::<Value, RpcError>(v),
            Poll::Pending => {
                // The execution actor's published hashes: no request to it.
                let pooled = ctx.pool_view.borrow().clone();
                let mut map = ctx.filters.map.lock().map_err(|_| poisoned())?;
                let f = map.get_mut(&id).ok_or_else(not_found)?;
                let Kind::Pending { seen } = &mut f.kind else {
                    return Err(not_found());
                };
                let now: HashSet<B256> = pooled.iter().copied().collect();
                let fresh: Vec<Value> = now.difference(seen).map(|h| json!(h)).collect();
                *seen = now;
                Ok(Value::Array(fresh))
            }
        }
    })?;
    m.register_blocking_method("eth_getFilterLogs", |p, ctx, _| -> RpcResult<Value> {
        let a = Args::new(&p, 1)?;
        let id = id_arg(&a)?;
        let filter = {
            let mut map = ctx.filters.map.lock().map_err(|_| poisoned())?;
            let f = map.get_mut(&id).ok_or_else(not_found)?;
            f.polled = Instant::now();
            match &f.kind {
                Kind::Logs {
                    filter, open_end, ..
                } => {
                    let mut filter = filter.clone();
                    if *open_end {
                        filter.to = ctx.head_number()?;
                    }
                    filter
                }
                _ => return Err(not_found()),
            }
        };
        logs_json(&ctx, &filter)
    })?;
    Ok(())
}
