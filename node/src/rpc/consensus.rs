//! The `consensus` namespace: what the BA* consensus of this node is doing and
//! what it decided. Served on IPC always, on HTTP and WebSocket when listed in
//! `--http.api` / `--ws.api`. The answers come from the consensus actor
//! ([`Inspect`]) and the chain store; nothing is decided here.
//!
//! - `consensus_status()`: `{height, round, step, participating, head, headHash,
//!   mode, twoLambdaMs, dynamicFilterTimeout, filterTimeoutMs, committeeSize,
//!   suspendedMiners, absentMiners}` — the machine's position; `filterTimeoutMs`
//!   is how long round 1's proposal step waits (2λ, or the dynamic filter
//!   timeout's estimate); `suspendedMiners` counts the registered miners an
//!   equivocation suspension keeps out of the current committee, `absentMiners`
//!   those an absence mark keeps out.
//! - `consensus_committee(height?)`: the committee of a height (default: the
//!   height in progress; a tag names that block's height): `{height, mode,
//!   members: [{address, stake, weight, coinbase}], totalStake, totalWeight,
//!   thresholds: {soft, cert, next}, suspended: [{address, until}], absent:
//!   [{address, since}]}`; `suspended` lists registered miners an equivocation
//!   suspension keeps out of that committee, with the suspension's last height;
//!   `absent` those marked absent, with the block that marked them.
//! - `consensus_getCertificate(blockNumberOrHash)`: the block's stored
//!   certificate, decoded and weighed: `{number, hash, round, step, value,
//!   proposer, voters: [{address, weight}], weight, threshold, mode}`; `null` for
//!   an unknown block or genesis.
//! - `consensus_minerStatus()`: `{owner, registered, stake, keys: [{start, end}],
//!   mining, participating, height}`.
//!
//! Heights, rounds, steps and weights are JSON numbers; stakes are hex quantities
//! in wei (as `eth_getBalance`).

use actors::execution::query;
use actors::runtime::inspect::{Inspect, InspectAnswer, InspectQuery};
use alloy_primitives::U256;
use jsonrpsee::RpcModule;
use serde_json::{Value, json};

use crate::rpc::{
    context::Ctx,
    error::{RpcError, RpcResult},
    params::{Args, BlockId, BlockTag, block_id_arg},
};

fn unavailable(e: impl std::fmt::Display) -> RpcError {
    RpcError::Server(format!("consensus unavailable: {e}"))
}

/// One read-only question to the consensus actor.
pub(crate) async fn ask(ctx: &Ctx, q: InspectQuery) -> RpcResult<InspectAnswer> {
    ctx.consensus
        .send(Inspect(q))
        .await
        .map_err(unavailable)?
        .map_err(RpcError::Server)
}

fn stake(v: u128) -> Value {
    json!(U256::from(v))
}

/// The consensus actor answered with another kind of answer than asked (a bug).
pub(crate) fn unexpected() -> RpcError {
    RpcError::Server("consensus answered another question".into())
}

/// Registers the `consensus_*` methods.
pub fn register(m: &mut RpcModule<Ctx>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_async_method("consensus_status", |p, ctx, _| async move {
        Args::new(&p, 0)?;
        let InspectAnswer::Status(s) = ask(&ctx, InspectQuery::Status).await? else {
            return Err(unexpected());
        };
        Ok::<Value, RpcError>(json!({
            "height": s.height,
            "round": s.round,
            "step": s.step,
            "participating": s.participating,
            "head": s.head.0,
            "headHash": s.head.1,
            "mode": s.mode,
            "twoLambdaMs": s.two_lambda_ms,
            "dynamicFilterTimeout": s.dynamic_filter,
            "filterTimeoutMs": s.filter_timeout_ms,
            "committeeSize": s.committee_size,
            "suspendedMiners": s.suspended,
            "absentMiners": s.absent,
        }))
    })?;
    m.register_async_method("consensus_committee", |p, ctx, _| async move {
        let a = Args::new(&p, 1)?;
        let head = ctx.head_number()?;
        let height = match a.raw(0) {
            None | Some(Value::Null) => head + 1,
            Some(_) => match block_id_arg(&a, 0)? {
                BlockId::Tag(BlockTag::Pending) => head + 1,
                BlockId::Tag(BlockTag::Number(n)) => n,
                id => ctx
                    .resolve(id)?
                    .ok_or_else(|| RpcError::InvalidParams("unknown block".into()))?,
            },
        };
        if height > head + 1 {
            return Err(RpcError::InvalidParams(format!(
                "no committee known for height {height} yet (head is {head})"
            )));
        }
        if height == 0 {
            return Err(RpcError::InvalidParams(
                "genesis has no committee: ask for height 1 or more".into(),
            ));
        }
        let parent = query::header(&ctx.chain, height - 1)?.ok_or_else(|| {
            RpcError::InvalidParams(format!(
                "no committee known for height {height} yet (head is {head})"
            ))
        })?;
        let q = InspectQuery::Committee {
            height,
            parent: Box::new(parent),
        };
        let InspectAnswer::Committee(c) = ask(&ctx, q).await? else {
            return Err(unexpected());
        };
        let members: Vec<Value> = c
            .members
            .iter()
            .map(|m| {
                json!({
                    "address": m.address,
                    "stake": stake(m.stake),
                    "weight": m.weight,
                    "coinbase": m.coinbase,
                })
            })
            .collect();
        Ok::<Value, RpcError>(json!({
            "height": c.height,
            "mode": c.mode,
            "members": members,
            "totalStake": stake(c.total_stake),
            "totalWeight": c.total_weight,
            "thresholds": {
                "soft": c.thresholds.0,
                "cert": c.thresholds.1,
                "next": c.thresholds.2,
            },
            "suspended": c
                .suspended
                .iter()
                .map(|(address, until)| json!({"address": address, "until": until}))
                .collect::<Vec<Value>>(),
            "absent": c
                .absent
                .iter()
                .map(|(address, since)| json!({"address": address, "since": since}))
                .collect::<Vec<Value>>(),
        }))
    })?;
    m.register_async_method("consensus_getCertificate", |p, ctx, _| async move {
        let a = Args::new(&p, 1)?;
        if a.raw(0).is_none() {
            return Err(RpcError::InvalidParams(
                "missing value for required argument 0".into(),
            ));
        }
        let id = block_id_arg(&a, 0)?;
        let Some(number) = ctx.resolve(id)? else {
            return Ok::<Value, RpcError>(Value::Null);
        };
        if number == 0 {
            return Ok(Value::Null);
        }
        let (Some(parent), Some(bytes)) = (
            query::header(&ctx.chain, number - 1)?,
            ctx.chain.certificate(number)?,
        ) else {
            return Ok(Value::Null);
        };
        let hash = query::header(&ctx.chain, number)?.map(|h| h.hash());
        let q = InspectQuery::Certificate {
            parent: Box::new(parent),
            bytes,
        };
        let InspectAnswer::Certificate(c) = ask(&ctx, q).await? else {
            return Err(unexpected());
        };
        let voters: Vec<Value> = c
            .voters
            .iter()
            .map(|v| json!({"address": v.address, "weight": v.weight}))
            .collect();
        Ok(json!({
            "number": number,
            "hash": hash,
            "height": c.height,
            "round": c.round,
            "step": c.step.0,
            "value": c.value,
            "proposer": c.proposer,
            "voters": voters,
            "weight": c.weight,
            "threshold": c.threshold,
            "mode": c.mode,
        }))
    })?;
    m.register_async_method("consensus_minerStatus", |p, ctx, _| async move {
        Args::new(&p, 0)?;
        let InspectAnswer::Miner(s) = ask(&ctx, InspectQuery::Miner).await? else {
            return Err(unexpected());
        };
        let keys: Vec<Value> = s
            .keys
            .iter()
            .map(|(start, end)| json!({"start": start, "end": end}))
            .collect();
        Ok::<Value, RpcError>(json!({
            "owner": s.owner,
            "registered": s.registered,
            "stake": s.stake.map(stake),
            "keys": keys,
            "mining": s.mining,
            "participating": s.participating,
            "height": s.height,
        }))
    })?;
    Ok(())
}
