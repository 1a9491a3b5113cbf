//! The `eth` namespace: chain id and head, account state, calls, gas estimates,
//! fees and transaction submission. Blocks, transactions, receipts and logs are
//! in [`crate::rpc::chain`]; filters in [`crate::rpc::filters`].

use actors::execution::{
    access_list,
    block::next_base_fee,
    call::{self, CallOutcome},
    pool::{MAX_TX_BYTES, RecoveredTx},
    proof, query,
};
use actors::runtime::PendingNonce;
use alloy_consensus::Transaction;
use alloy_primitives::{Address, B256, Bytes, U256};
use jsonrpsee::RpcModule;
use serde_json::{Value, json};

use crate::rpc::{
    context::{Ctx, header_not_found},
    error::{RpcError, RpcResult, pool_message},
    format::qty,
    overrides::{Overridden, StateOverrides},
    params::{Args, BlockId, BlockTag, CallObject, block_id_arg, block_tag_arg},
};

/// The tip kalgo suggests (`eth_maxPriorityFeePerGas`, and `eth_gasPrice` on top
/// of the base fee): 1 gwei. Blocks are built by tip, and the pool admits any
/// price of at least 1 wei.
pub const SUGGESTED_TIP: u64 = 1_000_000_000;

/// Most storage keys one `eth_getProof` may ask for.
pub const MAX_PROOF_KEYS: usize = 1024;

/// Registers the `eth` state, call and fee methods; the EIP-1559 fee methods only
/// on a chain that schedules London (Kaleido's Byzantium chains have none, and
/// tools then fall back to legacy transactions).
pub fn register(
    m: &mut RpcModule<Ctx>,
    has_1559: bool,
) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_method("eth_chainId", |p, ctx, _| -> RpcResult<Value> {
        Args::new(&p, 0)?;
        Ok(qty(U256::from(ctx.config.chain_id())))
    })?;
    m.register_method("eth_blockNumber", |p, ctx, _| -> RpcResult<Value> {
        Args::new(&p, 0)?;
        Ok(qty(U256::from(ctx.head_number()?)))
    })?;
    m.register_method("eth_syncing", |p, _, _| -> RpcResult<Value> {
        Args::new(&p, 0)?;
        Ok(Value::Bool(false))
    })?;
    m.register_method("eth_getBalance", |p, ctx, _| -> RpcResult<Value> {
        let a = Args::new(&p, 2)?;
        let address: Address = a.required(0)?;
        ctx.with_state(block_id_arg(&a, 1)?, |state, _| {
            Ok(qty(state
                .account(&address)?
                .map_or(U256::ZERO, |r| r.balance)))
        })
    })?;
    m.register_method("eth_getCode", |p, ctx, _| -> RpcResult<Value> {
        let a = Args::new(&p, 2)?;
        let address: Address = a.required(0)?;
        ctx.with_state(block_id_arg(&a, 1)?, |state, _| {
            let code = match state.account(&address)? {
                Some(r) if r.code_hash != revm_empty_code_hash() => {
                    state.code(&r.code_hash)?.unwrap_or_default()
                }
                _ => Bytes::new(),
            };
            Ok(json!(code))
        })
    })?;
    m.register_method("eth_getStorageAt", |p, ctx, _| -> RpcResult<Value> {
        let a = Args::new(&p, 3)?;
        let address: Address = a.required(0)?;
        let slot = storage_slot(a.raw(1))?;
        ctx.with_state(block_id_arg(&a, 2)?, |state, _| {
            Ok(json!(B256::from(state.storage(&address, &slot)?)))
        })
    })?;
    m.register_blocking_method("eth_getProof", |p, ctx, _| -> RpcResult<Value> {
        let a = Args::new(&p, 3)?;
        let address: Address = a.required(0)?;
        let keys: Vec<Value> = a.required(1)?;
        if keys.len() > MAX_PROOF_KEYS {
            return Err(RpcError::Limit(format!(
                "too many storage keys: {} (at most {MAX_PROOF_KEYS})",
                keys.len()
            )));
        }
        let slots = keys
            .iter()
            .map(|k| storage_slot(Some(k)))
            .collect::<RpcResult<Vec<U256>>>()?;
        ctx.with_state(block_id_arg(&a, 2)?, |state, header| {
            let p = proof::account_proof(state, header.eth.state_root, &address, &slots)?;
            let (nonce, balance, code_hash, storage_hash) = p.reported();
            let storage: Vec<Value> = p
                .storage
                .iter()
                .zip(&keys)
                .map(|(s, key)| json!({"key": key, "value": qty(s.value), "proof": s.proof}))
                .collect();
            Ok(json!({
                "address": address,
                "accountProof": p.proof,
                "balance": qty(balance),
                "codeHash": code_hash,
                "nonce": qty(U256::from(nonce)),
                "storageHash": storage_hash,
                "storageProof": storage,
            }))
        })
    })?;
    m.register_async_method("eth_getTransactionCount", |p, ctx, _| async move {
        let a = Args::new(&p, 2)?;
        let address: Address = a.required(0)?;
        let id = block_id_arg(&a, 1)?;
        if id == BlockId::Tag(BlockTag::Pending) {
            let nonce = ctx.exec.send(PendingNonce(address)).await??;
            return Ok::<Value, RpcError>(qty(U256::from(nonce)));
        }
        ctx.with_state(id, |state, _| {
            Ok(qty(U256::from(
                state.account(&address)?.map_or(0, |r| r.nonce),
            )))
        })
    })?;
    m.register_blocking_method("eth_call", |p, ctx, _| -> RpcResult<Value> {
        let a = Args::new(&p, 3)?;
        let req = a
            .required::<CallObject>(0)?
            .into_request(ctx.config.chain_id())?;
        let overrides = StateOverrides::from_arg(a.raw(2), 2)?;
        let gas_cap = ctx.limits.gas_cap;
        ctx.with_state(block_id_arg(&a, 1)?, |state, header| {
            let state = Overridden::new(state, &overrides);
            match call::call(&ctx.config, &state, header, &req, gas_cap)? {
                CallOutcome::Success { output, .. } => Ok(json!(output)),
                CallOutcome::Revert { output, .. } => Err(RpcError::reverted(output)),
                CallOutcome::Halt { reason, .. } => {
                    Err(RpcError::Server(call::halt_message(&reason)))
                }
            }
        })
    })?;
    m.register_blocking_method("eth_createAccessList", |p, ctx, _| -> RpcResult<Value> {
        let a = Args::new(&p, 3)?;
        let req = a
            .required::<CallObject>(0)?
            .into_request(ctx.config.chain_id())?;
        let overrides = StateOverrides::from_arg(a.raw(2), 2)?;
        let gas_cap = ctx.limits.gas_cap;
        ctx.with_state(block_id_arg(&a, 1)?, |state, header| {
            let state = Overridden::new(state, &overrides);
            let r = access_list::create_access_list(&ctx.config, &state, header, &req, gas_cap)?;
            let mut out = json!({
                "accessList": r.access_list,
                "gasUsed": qty(U256::from(r.gas_used)),
            });
            if let (Some(e), Some(o)) = (r.error, out.as_object_mut()) {
                o.insert("error".into(), json!(e));
            }
            Ok(out)
        })
    })?;
    m.register_blocking_method("eth_estimateGas", |p, ctx, _| -> RpcResult<Value> {
        let a = Args::new(&p, 3)?;
        let req = a
            .required::<CallObject>(0)?
            .into_request(ctx.config.chain_id())?;
        let overrides = StateOverrides::from_arg(a.raw(2), 2)?;
        let gas_cap = ctx.limits.gas_cap;
        ctx.with_state(block_id_arg(&a, 1)?, |state, header| {
            let state = Overridden::new(state, &overrides);
            let gas = call::estimate_gas(&ctx.config, &state, header, &req, gas_cap)?;
            Ok(qty(U256::from(gas)))
        })
    })?;
    m.register_method("eth_blobBaseFee", |p, ctx, _| -> RpcResult<Value> {
        Args::new(&p, 0)?;
        blob_base_fee_at_head(ctx)
    })?;
    m.register_method("eth_gasPrice", |p, ctx, _| -> RpcResult<Value> {
        Args::new(&p, 0)?;
        let base = next_base_fee_at_head(ctx)?.unwrap_or(0);
        Ok(qty(U256::from(base) + U256::from(SUGGESTED_TIP)))
    })?;
    if has_1559 {
        m.register_method("eth_maxPriorityFeePerGas", |p, _, _| -> RpcResult<Value> {
            Args::new(&p, 0)?;
            Ok(qty(U256::from(SUGGESTED_TIP)))
        })?;
        m.register_blocking_method("eth_feeHistory", |p, ctx, _| fee_history(&p, &ctx))?;
    }
    m.register_async_method("eth_sendRawTransaction", |p, ctx, _| async move {
        let a = Args::new(&p, 1)?;
        let raw: Bytes = a.required(0)?;
        // Decoding and sender recovery happen here, on the RPC server's threads
        // (in parallel across requests); the execution actor only does the
        // stateful checks, for a batch of submissions at a time.
        let tx = RecoveredTx::from_raw(&raw, ctx.config.chain_id(), MAX_TX_BYTES)
            .map_err(|e| RpcError::Server(pool_message(&e)))?;
        let hash = ctx.intake.submit(tx, raw.to_vec()).await??;
        Ok::<Value, RpcError>(json!(hash))
    })?;
    Ok(())
}

fn revm_empty_code_hash() -> B256 {
    alloy_primitives::KECCAK256_EMPTY
}

/// geth accepts a storage slot as any hex up to 32 bytes (leading zeros allowed).
fn storage_slot(v: Option<&Value>) -> RpcResult<U256> {
    let Some(Value::String(s)) = v else {
        return Err(RpcError::InvalidParams(
            "invalid argument 1: storage slot must be a hex string".into(),
        ));
    };
    let digits = s.strip_prefix("0x").unwrap_or(s);
    if digits.is_empty() || digits.len() > 64 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(RpcError::InvalidParams(format!(
            "invalid argument 1: invalid storage slot {s:?}"
        )));
    }
    U256::from_str_radix(digits, 16)
        .map_err(|e| RpcError::InvalidParams(format!("invalid argument 1: {e}")))
}

/// The base fee of the block after the head (None before London).
pub fn next_base_fee_at_head(ctx: &Ctx) -> RpcResult<Option<u64>> {
    let head = ctx.head_number()?;
    let header = query::header(&ctx.chain, head)?.ok_or_else(header_not_found)?;
    let spec = ctx
        .config
        .spec_at(head + 1, header.eth.timestamp.saturating_add(1));
    Ok(next_base_fee(&header.eth, spec))
}

/// `eth_blobBaseFee`, as geth: the blob base fee of the head from its excess blob
/// gas (from Cancun on; kalgo chains carry no blobs, so the excess stays 0 and the
/// fee 1 wei), `null` before Cancun.
fn blob_base_fee_at_head(ctx: &Ctx) -> RpcResult<Value> {
    let head = ctx.head_number()?;
    let header = query::header(&ctx.chain, head)?.ok_or_else(header_not_found)?;
    let Some(excess) = header.eth.excess_blob_gas else {
        return Ok(Value::Null);
    };
    let prague = ctx
        .config
        .prague_time
        .is_some_and(|t| header.eth.timestamp >= t);
    let fee = if prague {
        alloy_eips::eip7691::calc_blob_gasprice(excess)
    } else {
        alloy_eips::eip4844::calc_blob_gasprice(excess)
    };
    Ok(qty(U256::from(fee)))
}

/// Block count of `eth_feeHistory`: a hex quantity or a plain number (web3.py).
fn block_count(v: Option<&Value>) -> RpcResult<u64> {
    match v {
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| RpcError::InvalidParams("invalid argument 0: block count".into())),
        Some(Value::String(s)) => crate::rpc::params::quantity_u64(s)
            .or_else(|_| s.parse::<u64>().map_err(|e| e.to_string()))
            .map_err(|e| RpcError::InvalidParams(format!("invalid argument 0: {e}"))),
        _ => Err(RpcError::InvalidParams(
            "missing value for required argument 0".into(),
        )),
    }
}

/// `eth_feeHistory(blockCount, newestBlock, rewardPercentiles)`, as geth: base
/// fees of the range plus the next block, gas used ratios, and per block the
/// tips at the given percentiles of gas used (transactions sorted by tip).
fn fee_history(p: &jsonrpsee::types::Params<'_>, ctx: &Ctx) -> RpcResult<Value> {
    let a = Args::new(p, 3)?;
    let count = block_count(a.raw(0))?.min(ctx.limits.max_fee_history);
    let newest = ctx
        .resolve_tag(block_tag_arg(&a, 1)?)?
        .ok_or_else(|| RpcError::InvalidParams("invalid argument 1: block beyond head".into()))?;
    let percentiles: Option<Vec<f64>> = a.optional(2)?;
    if let Some(ps) = &percentiles {
        if ps.len() > 100 {
            return Err(RpcError::InvalidParams(
                "too many reward percentiles".into(),
            ));
        }
        let mut last = -1.0;
        for q in ps {
            if !(0.0..=100.0).contains(q) || *q < last {
                return Err(RpcError::InvalidParams(format!(
                    "invalid reward percentile: {q}"
                )));
            }
            last = *q;
        }
    }
    if count == 0 {
        return Ok(
            json!({"oldestBlock": qty(U256::ZERO), "baseFeePerGas": [], "gasUsedRatio": []}),
        );
    }
    let oldest = newest.saturating_sub(count - 1);
    let mut base_fees = Vec::new();
    let mut ratios = Vec::new();
    let mut rewards = Vec::new();
    let mut last_header = None;
    for n in oldest..=newest {
        let header = query::header(&ctx.chain, n)?.ok_or_else(header_not_found)?;
        base_fees.push(qty(U256::from(header.eth.base_fee_per_gas.unwrap_or(0))));
        let ratio = if header.eth.gas_limit == 0 {
            0.0
        } else {
            header.eth.gas_used as f64 / header.eth.gas_limit as f64
        };
        ratios.push(json!(ratio));
        if let Some(ps) = &percentiles {
            rewards.push(block_rewards(ctx, n, header.eth.gas_used, ps)?);
        }
        last_header = Some(header);
    }
    if let Some(h) = last_header {
        let spec = ctx
            .config
            .spec_at(newest + 1, h.eth.timestamp.saturating_add(1));
        base_fees.push(qty(U256::from(next_base_fee(&h.eth, spec).unwrap_or(0))));
    }
    let mut out = json!({
        "oldestBlock": qty(U256::from(oldest)),
        "baseFeePerGas": base_fees,
        "gasUsedRatio": ratios,
    });
    if percentiles.is_some()
        && let Some(o) = out.as_object_mut()
    {
        o.insert("reward".into(), Value::Array(rewards));
    }
    Ok(out)
}

fn block_rewards(ctx: &Ctx, number: u64, gas_used: u64, percentiles: &[f64]) -> RpcResult<Value> {
    let receipts = query::block_receipts(&ctx.chain, number)?.unwrap_or_default();
    if receipts.is_empty() || gas_used == 0 {
        return Ok(json!(
            percentiles
                .iter()
                .map(|_| qty(U256::ZERO))
                .collect::<Vec<_>>()
        ));
    }
    let block = query::block(&ctx.chain, number)?.ok_or_else(header_not_found)?;
    let base_fee = block.block.header.eth.base_fee_per_gas.unwrap_or(0);
    let mut tips: Vec<(u128, u64)> = block
        .block
        .transactions
        .iter()
        .zip(&receipts)
        .map(|(tx, r)| (tx.effective_tip_per_gas(base_fee).unwrap_or(0), r.gas_used))
        .collect();
    tips.sort_unstable();
    let mut out = Vec::with_capacity(percentiles.len());
    let mut i = 0usize;
    let mut sum = tips[0].1;
    for p in percentiles {
        let threshold = (gas_used as f64 * p / 100.0) as u64;
        while sum < threshold && i + 1 < tips.len() {
            i += 1;
            sum += tips[i].1;
        }
        out.push(qty(U256::from(tips[i].0)));
    }
    Ok(Value::Array(out))
}
