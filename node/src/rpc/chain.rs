//! The `eth` methods over committed blocks: blocks by number or hash,
//! transactions (committed or pooled), receipts and logs.

use actors::execution::query::{self, LogFilter};
use actors::runtime::PooledTx;
use alloy_primitives::{B256, U256, keccak256};
use jsonrpsee::RpcModule;
use serde_json::{Value, json};

use crate::rpc::{
    context::Ctx,
    error::{RpcError, RpcResult},
    filter_shape::check_filter_text,
    format::{self, TxPosition, qty},
    params::{Args, BlockTag, FilterObject, Quantity, block_id, block_tag},
};

fn block_json(ctx: &Ctx, number: Option<u64>, full: bool) -> RpcResult<Value> {
    let Some(n) = number else {
        return Ok(Value::Null);
    };
    Ok(match query::block(&ctx.chain, n)? {
        Some(b) => format::block(&b, full, ctx.genesis_difficulty),
        None => Value::Null,
    })
}

fn tx_in_block(ctx: &Ctx, number: Option<u64>, index: u64) -> RpcResult<Value> {
    let Some(n) = number else {
        return Ok(Value::Null);
    };
    let Some(b) = query::block(&ctx.chain, n)? else {
        return Ok(Value::Null);
    };
    let i = usize::try_from(index).unwrap_or(usize::MAX);
    Ok(match (b.block.transactions.get(i), b.senders.get(i)) {
        (Some(tx), Some(from)) => format::transaction(
            tx,
            *from,
            Some(TxPosition {
                block_hash: b.hash,
                block_number: n,
                index,
                base_fee: b.block.header.eth.base_fee_per_gas,
            }),
        ),
        _ => Value::Null,
    })
}

fn tx_count(ctx: &Ctx, number: Option<u64>) -> RpcResult<Value> {
    let Some(n) = number else {
        return Ok(Value::Null);
    };
    Ok(match query::block(&ctx.chain, n)? {
        Some(b) => qty(U256::from(b.block.transactions.len())),
        None => Value::Null,
    })
}

/// A block tag/number argument resolved to a stored number (`None` = beyond head).
fn number_arg(ctx: &Ctx, a: &Args, i: usize) -> RpcResult<Option<u64>> {
    let tag = match a.raw(i) {
        Some(v) => block_tag(v)
            .map_err(|e| RpcError::InvalidParams(format!("invalid argument {i}: {e}")))?,
        None => {
            return Err(RpcError::InvalidParams(format!(
                "missing value for required argument {i}"
            )));
        }
    };
    ctx.resolve_tag(tag)
}

fn hash_arg(ctx: &Ctx, a: &Args, i: usize) -> RpcResult<Option<u64>> {
    let hash: B256 = a.required(i)?;
    Ok(query::number_of(&ctx.chain, &hash)?)
}

/// The logs `filter` matches, within the node's block and log limits, as JSON
/// (`eth_getLogs`, `eth_getFilterLogs`, `eth_getFilterChanges`).
pub fn logs_json(ctx: &Ctx, filter: &LogFilter) -> RpcResult<Value> {
    let logs = query::logs(
        &ctx.chain,
        filter,
        ctx.limits.max_log_blocks,
        ctx.limits.max_logs,
    )?;
    Ok(Value::Array(logs.iter().map(format::log).collect()))
}

/// Resolves a filter object to a block range over the chain (`latest` = head;
/// a `toBlock` beyond the head is clamped to it).
pub fn log_filter(ctx: &Ctx, f: &FilterObject) -> RpcResult<LogFilter> {
    let head = ctx.head_number()?;
    let (from, to) = match f.block_hash {
        Some(hash) => {
            if f.from_block.is_some() || f.to_block.is_some() {
                return Err(RpcError::InvalidParams(
                    "cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other"
                        .into(),
                ));
            }
            let n = query::number_of(&ctx.chain, &hash)?
                .ok_or_else(|| RpcError::Server("unknown block".into()))?;
            (n, n)
        }
        None => {
            let bound = |v: &Option<Value>| -> RpcResult<u64> {
                Ok(match v {
                    None => head,
                    Some(v) => match block_tag(v).map_err(RpcError::InvalidParams)? {
                        BlockTag::Latest | BlockTag::Pending => head,
                        BlockTag::Earliest => 0,
                        BlockTag::Number(n) => n,
                    },
                })
            };
            let from = bound(&f.from_block)?;
            let to = bound(&f.to_block)?;
            if from > to {
                return Err(RpcError::InvalidParams("invalid block range params".into()));
            }
            (from, to.min(head))
        }
    };
    let filter = LogFilter {
        from,
        to,
        addresses: f.address.clone().map(|a| a.into_vec()).unwrap_or_default(),
        topics: f.topic_sets(),
    };
    check_log_query(&filter, ctx.limits.log_query_limit)?;
    Ok(filter)
}

pub(crate) fn too_many_positions(n: usize) -> RpcError {
    RpcError::InvalidParams(format!(
        "too many topic positions: {n} (a log has at most {MAX_TOPIC_POSITIONS})"
    ))
}

pub(crate) fn too_many_addresses(n: usize, limit: usize) -> RpcError {
    RpcError::InvalidParams(format!(
        "too many addresses in the filter: {n} (limit {limit}, --rpc.logquerylimit)"
    ))
}

pub(crate) fn too_many_alternatives(i: usize, n: usize, limit: usize) -> RpcError {
    RpcError::InvalidParams(format!(
        "too many alternatives for topic {i}: {n} (limit {limit}, --rpc.logquerylimit)"
    ))
}

/// Most topic positions a log has (LOG0..LOG4).
pub const MAX_TOPIC_POSITIONS: usize = 4;

/// Refuses a filter with more than `limit` addresses, or more than `limit`
/// alternatives at one topic position, or more than four topic positions
/// (geth's `--rpc.logquerylimit` rules): each is tested against every block's
/// bloom and every log scanned.
pub fn check_log_query(filter: &LogFilter, limit: usize) -> RpcResult<()> {
    if filter.topics.len() > MAX_TOPIC_POSITIONS {
        return Err(too_many_positions(filter.topics.len()));
    }
    if filter.addresses.len() > limit {
        return Err(too_many_addresses(filter.addresses.len(), limit));
    }
    for (i, t) in filter.topics.iter().enumerate() {
        let n = t.as_ref().map_or(0, Vec::len);
        if n > limit {
            return Err(too_many_alternatives(i, n, limit));
        }
    }
    Ok(())
}

/// Registers the block, transaction, receipt and log methods.
pub fn register(m: &mut RpcModule<Ctx>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_blocking_method("eth_getBlockByNumber", |p, ctx, _| -> RpcResult<Value> {
        let a = Args::new(&p, 2)?;
        let n = number_arg(&ctx, &a, 0)?;
        let full: bool = a.optional(1)?.unwrap_or(false);
        block_json(&ctx, n, full)
    })?;
    m.register_blocking_method("eth_getBlockByHash", |p, ctx, _| -> RpcResult<Value> {
        let a = Args::new(&p, 2)?;
        let n = hash_arg(&ctx, &a, 0)?;
        let full: bool = a.optional(1)?.unwrap_or(false);
        block_json(&ctx, n, full)
    })?;
    m.register_blocking_method(
        "eth_getBlockTransactionCountByNumber",
        |p, ctx, _| -> RpcResult<Value> {
            let a = Args::new(&p, 1)?;
            let n = number_arg(&ctx, &a, 0)?;
            tx_count(&ctx, n)
        },
    )?;
    m.register_blocking_method(
        "eth_getBlockTransactionCountByHash",
        |p, ctx, _| -> RpcResult<Value> {
            let a = Args::new(&p, 1)?;
            let n = hash_arg(&ctx, &a, 0)?;
            tx_count(&ctx, n)
        },
    )?;
    m.register_blocking_method(
        "eth_getTransactionByBlockNumberAndIndex",
        |p, ctx, _| -> RpcResult<Value> {
            let a = Args::new(&p, 2)?;
            let n = number_arg(&ctx, &a, 0)?;
            let i: Quantity = a.required(1)?;
            tx_in_block(&ctx, n, i.0)
        },
    )?;
    m.register_blocking_method(
        "eth_getTransactionByBlockHashAndIndex",
        |p, ctx, _| -> RpcResult<Value> {
            let a = Args::new(&p, 2)?;
            let n = hash_arg(&ctx, &a, 0)?;
            let i: Quantity = a.required(1)?;
            tx_in_block(&ctx, n, i.0)
        },
    )?;
    m.register_method(
        "eth_getUncleCountByBlockNumber",
        |p, ctx, _| -> RpcResult<Value> {
            let a = Args::new(&p, 1)?;
            Ok(match number_arg(ctx, &a, 0)? {
                Some(_) => qty(U256::ZERO),
                None => Value::Null,
            })
        },
    )?;
    m.register_method(
        "eth_getUncleCountByBlockHash",
        |p, ctx, _| -> RpcResult<Value> {
            let a = Args::new(&p, 1)?;
            Ok(match hash_arg(ctx, &a, 0)? {
                Some(_) => qty(U256::ZERO),
                None => Value::Null,
            })
        },
    )?;
    m.register_async_method("eth_getTransactionByHash", |p, ctx, _| async move {
        let a = Args::new(&p, 1)?;
        let hash: B256 = a.required(0)?;
        if let Some(t) = query::transaction(&ctx.chain, &hash)? {
            return Ok::<Value, RpcError>(format::transaction(
                &t.tx,
                t.sender,
                Some(TxPosition {
                    block_hash: t.block_hash,
                    block_number: t.block_number,
                    index: t.index,
                    base_fee: t.base_fee,
                }),
            ));
        }
        Ok(match ctx.exec.send(PooledTx(hash)).await? {
            Some((tx, from)) => format::transaction(&tx, from, None),
            None => Value::Null,
        })
    })?;
    m.register_blocking_method(
        "eth_getRawTransactionByHash",
        |p, ctx, _| -> RpcResult<Value> {
            let a = Args::new(&p, 1)?;
            let hash: B256 = a.required(0)?;
            Ok(match query::transaction(&ctx.chain, &hash)? {
                Some(t) => json!(alloy_primitives::Bytes::from(format::raw(&t.tx))),
                None => Value::Null,
            })
        },
    )?;
    m.register_blocking_method(
        "eth_getTransactionReceipt",
        |p, ctx, _| -> RpcResult<Value> {
            let a = Args::new(&p, 1)?;
            let hash: B256 = a.required(0)?;
            Ok(match query::receipt(&ctx.chain, &hash)? {
                Some(r) => format::receipt(&r),
                None => Value::Null,
            })
        },
    )?;
    m.register_blocking_method("eth_getBlockReceipts", |p, ctx, _| -> RpcResult<Value> {
        let a = Args::new(&p, 1)?;
        let id = match a.raw(0) {
            Some(v) => block_id(v)
                .map_err(|e| RpcError::InvalidParams(format!("invalid argument 0: {e}")))?,
            None => {
                return Err(RpcError::InvalidParams(
                    "missing value for required argument 0".into(),
                ));
            }
        };
        let Some(n) = ctx.resolve(id)? else {
            return Ok(Value::Null);
        };
        Ok(match query::block_receipts(&ctx.chain, n)? {
            Some(rs) => Value::Array(rs.iter().map(format::receipt).collect()),
            None => Value::Null,
        })
    })?;
    m.register_blocking_method("eth_getLogs", |p, ctx, _| -> RpcResult<Value> {
        check_filter_text(p.as_str(), 0, ctx.limits.log_query_limit)?;
        let a = Args::new(&p, 1)?;
        let f: FilterObject = a.required(0)?;
        logs_json(&ctx, &log_filter(&ctx, &f)?)
    })?;
    m.register_method("web3_sha3", |p, _, _| -> RpcResult<Value> {
        let a = Args::new(&p, 1)?;
        let data: alloy_primitives::Bytes = a.required(0)?;
        Ok(json!(keccak256(&data)))
    })?;
    Ok(())
}
