//! Kaleido's additions to the `eth` namespace, with geth-style hex quantities:
//!
//! - `eth_hashrate`: this node's miner's stake normalised to the total weight
//!   W = 10¹⁰ in the committee of the height in progress (Kaleido answers its
//!   "own weight" there); `0x0` when the node does not mine or its miner is not
//!   in that committee.
//! - `eth_mining`: whether that share is above zero (Kaleido: a node that mines
//!   without stake is not mining).
//! - `eth_coinbase`: the registered coinbase of this node's miner; otherwise
//!   `--etherbase` (an address, or an index into the node-held accounts); else
//!   the first node-held account; else geth's error.
//! - `eth_getTxPoolPendingTransactionsCount`: the pool's executable
//!   transactions (`txpool_status().pending`).
//!
//! The answers come from the consensus actor ([`Inspect`]), the chain store and
//! the execution actor; nothing is decided here.

use actors::consensus::views::MemberView;
use actors::execution::query;
use actors::runtime::PoolCounts;
use actors::runtime::inspect::{InspectAnswer, InspectQuery, MinerView};
use alloy_primitives::{Address, U256};
use jsonrpsee::RpcModule;
use serde_json::{Value, json};

use crate::config::Etherbase;
use crate::rpc::{
    consensus::{ask, unexpected},
    context::Ctx,
    error::{RpcError, RpcResult},
    format::qty,
    params::Args,
};

/// geth's answer to `eth_coinbase` when it has nothing to name.
pub const NO_ETHERBASE: &str = "etherbase must be explicitly specified";

/// This node's miner and, if it has an owner, its entry in the committee of the
/// height in progress.
async fn own_member(ctx: &Ctx) -> RpcResult<(MinerView, Option<MemberView>)> {
    let InspectAnswer::Miner(miner) = ask(ctx, InspectQuery::Miner).await? else {
        return Err(unexpected());
    };
    let Some(owner) = miner.owner else {
        return Ok((miner, None));
    };
    let Some(parent_height) = miner.height.checked_sub(1) else {
        return Ok((miner, None));
    };
    let Some(parent) = query::header(&ctx.chain, parent_height)? else {
        return Ok((miner, None));
    };
    let q = InspectQuery::Committee {
        height: miner.height,
        parent: Box::new(parent),
    };
    let InspectAnswer::Committee(c) = ask(ctx, q).await? else {
        return Err(unexpected());
    };
    let member = c.members.into_iter().find(|m| m.address == owner);
    Ok((miner, member))
}

/// Kaleido's hashrate: the miner's share of W when it mines, else 0.
async fn own_share(ctx: &Ctx) -> RpcResult<u64> {
    let (miner, member) = own_member(ctx).await?;
    Ok(match member {
        Some(m) if miner.mining => m.share,
        _ => 0,
    })
}

/// `--etherbase` resolved against the node-held accounts, else the first of them.
fn etherbase(ctx: &Ctx) -> RpcResult<Address> {
    let accounts = || {
        ctx.accounts
            .list()
            .map_err(|e| RpcError::Server(format!("accounts: {e}")))
    };
    match ctx.etherbase {
        Some(Etherbase::Address(a)) => Ok(a),
        Some(Etherbase::Index(i)) => accounts()?.get(i).copied().ok_or_else(|| {
            RpcError::Server(format!(
                "etherbase: no node-held account at index {i} (see personal_listAccounts)"
            ))
        }),
        None => accounts()?
            .first()
            .copied()
            .ok_or_else(|| RpcError::Server(NO_ETHERBASE.into())),
    }
}

/// Registers Kaleido's `eth_*` additions.
pub fn register(m: &mut RpcModule<Ctx>) -> Result<(), jsonrpsee::core::RegisterMethodError> {
    m.register_async_method("eth_hashrate", |p, ctx, _| async move {
        Args::new(&p, 0)?;
        Ok::<Value, RpcError>(qty(U256::from(own_share(&ctx).await?)))
    })?;
    m.register_async_method("eth_mining", |p, ctx, _| async move {
        Args::new(&p, 0)?;
        Ok::<Value, RpcError>(Value::Bool(own_share(&ctx).await? > 0))
    })?;
    m.register_async_method("eth_coinbase", |p, ctx, _| async move {
        Args::new(&p, 0)?;
        if let (_, Some(member)) = own_member(&ctx).await? {
            return Ok::<Value, RpcError>(json!(member.coinbase));
        }
        Ok(json!(etherbase(&ctx)?))
    })?;
    m.register_async_method(
        "eth_getTxPoolPendingTransactionsCount",
        |p, ctx, _| async move {
            Args::new(&p, 0)?;
            let (pending, _) = ctx.exec.send(PoolCounts).await??;
            Ok::<Value, RpcError>(qty(U256::from(pending)))
        },
    )?;
    Ok(())
}
