//! The small namespaces: `net`, `web3` (but `web3_sha3`, in `chain`) and `txpool`.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use actors::runtime::{PoolCounts, PoolSnapshot};
use alloy_consensus::TxEnvelope;
use alloy_primitives::{Address, U256};
use jsonrpsee::RpcModule;
use serde_json::{Map, Value, json};

use crate::rpc::{
    context::Ctx,
    error::{RpcError, RpcResult},
    format::{self, qty},
    params::Args,
};

/// Registers `net_*`.
pub fn register_net(m: &mut RpcModule<Ctx>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_method("net_version", |p, ctx, _| -> RpcResult<Value> {
        Args::new(&p, 0)?;
        Ok(Value::String(ctx.config.chain_id().to_string()))
    })?;
    m.register_method("net_listening", |p, _, _| -> RpcResult<Value> {
        Args::new(&p, 0)?;
        Ok(Value::Bool(true))
    })?;
    m.register_method("net_peerCount", |p, ctx, _| -> RpcResult<Value> {
        Args::new(&p, 0)?;
        Ok(qty(U256::from(ctx.peers.load(Ordering::Relaxed))))
    })?;
    Ok(())
}

/// Registers `web3_clientVersion` (`web3_sha3` is registered with the chain methods).
pub fn register_web3(m: &mut RpcModule<Ctx>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_method("web3_clientVersion", |p, ctx, _| -> RpcResult<Value> {
        Args::new(&p, 0)?;
        Ok(Value::String(ctx.client_version.clone()))
    })?;
    Ok(())
}

type BySender = BTreeMap<Address, BTreeMap<u64, Value>>;

fn group(list: &[(Address, u64, TxEnvelope)], f: impl Fn(&TxEnvelope, Address) -> Value) -> Value {
    let mut by: BySender = BTreeMap::new();
    for (sender, nonce, tx) in list {
        by.entry(*sender)
            .or_default()
            .insert(*nonce, f(tx, *sender));
    }
    let mut out = Map::new();
    for (sender, txs) in by {
        let inner: Map<String, Value> = txs.into_iter().map(|(n, v)| (n.to_string(), v)).collect();
        out.insert(sender.to_checksum(None), Value::Object(inner));
    }
    Value::Object(out)
}

/// Registers `txpool_status`, `txpool_content` and `txpool_inspect` (geth's shapes).
pub fn register_txpool(m: &mut RpcModule<Ctx>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_async_method("txpool_status", |p, ctx, _| async move {
        Args::new(&p, 0)?;
        let (pending, queued) = ctx.exec.send(PoolCounts).await??;
        Ok::<Value, RpcError>(json!({
            "pending": qty(U256::from(pending)),
            "queued": qty(U256::from(queued)),
        }))
    })?;
    m.register_async_method("txpool_content", |p, ctx, _| async move {
        Args::new(&p, 0)?;
        let c = ctx.exec.send(PoolSnapshot).await??;
        let full = |tx: &TxEnvelope, from: Address| format::transaction(tx, from, None);
        Ok::<Value, RpcError>(json!({
            "pending": group(&c.pending, full),
            "queued": group(&c.queued, full),
        }))
    })?;
    m.register_async_method("txpool_inspect", |p, ctx, _| async move {
        Args::new(&p, 0)?;
        let c = ctx.exec.send(PoolSnapshot).await??;
        let line = |tx: &TxEnvelope, _: Address| Value::String(format::inspect(tx));
        Ok::<Value, RpcError>(json!({
            "pending": group(&c.pending, line),
            "queued": group(&c.queued, line),
        }))
    })?;
    Ok(())
}
