//! Node-held keys: the `personal` namespace (`personal_importRawKey`,
//! `personal_newAccount`, `personal_unlockAccount`, `personal_lockAccount`,
//! `personal_listAccounts`, `personal_sendTransaction`, `personal_sign`) and
//! `eth_accounts`, `eth_sendTransaction`, `eth_sign`.
//!
//! As geth did before it removed them: over IPC they are always served; over
//! HTTP and WebSocket the methods that use or unlock a key answer an error unless
//! the node runs with `--allow-insecure-unlock` (anyone who can reach the port
//! could otherwise spend from an unlocked account). `eth_accounts` only lists
//! addresses and is served everywhere.

use std::sync::Arc;
use std::time::Duration;

use actors::execution::call;
use actors::runtime::{PendingNonce, SubmitRawTx};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEip7702, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256};
use alloy_signer::SignerSync;
use alloy_signer_local::PrivateKeySigner;
use jsonrpsee::RpcModule;
use serde_json::{Value, json};

use crate::keys::accounts::{AccountError, DEFAULT_UNLOCK};
use crate::rpc::{
    context::Ctx,
    error::{RpcError, RpcResult},
    eth::{SUGGESTED_TIP, next_base_fee_at_head},
    params::{Args, BlockId, BlockTag, CallObject},
};

/// The answer over HTTP/WS without `--allow-insecure-unlock` (geth's words for
/// unlocking; the same for every key-using method).
pub const FORBIDDEN: &str = "account unlock with HTTP access is forbidden";

type Reg = Result<(), jsonrpsee::core::RegisterMethodError>;

impl From<AccountError> for RpcError {
    fn from(e: AccountError) -> Self {
        RpcError::Server(e.to_string())
    }
}

fn check(allowed: bool) -> RpcResult<()> {
    if allowed {
        Ok(())
    } else {
        Err(RpcError::Server(FORBIDDEN.into()))
    }
}

/// Runs slow key work (scrypt, gas estimation) on the blocking pool.
async fn blocking<T: Send + 'static>(
    ctx: &Arc<Ctx>,
    f: impl FnOnce(&Ctx) -> RpcResult<T> + Send + 'static,
) -> RpcResult<T> {
    let ctx = Arc::clone(ctx);
    tokio::task::spawn_blocking(move || f(&ctx))
        .await
        .map_err(|e| RpcError::Server(format!("internal error: {e}")))?
}

fn password(a: &Args, i: usize) -> RpcResult<String> {
    a.required::<String>(i)
}

/// Registers `eth_accounts`, `eth_sendTransaction` and `eth_sign`.
pub fn register_eth(m: &mut RpcModule<Ctx>, allowed: bool) -> Reg {
    m.register_method("eth_accounts", |p, ctx, _| -> RpcResult<Value> {
        Args::new(&p, 0)?;
        Ok(json!(ctx.accounts.list()?))
    })?;
    m.register_async_method("eth_sendTransaction", move |p, ctx, _| async move {
        check(allowed)?;
        let a = Args::new(&p, 1)?;
        let tx: CallObject = a.required(0)?;
        let from = tx
            .from
            .ok_or_else(|| RpcError::InvalidParams("missing \"from\"".into()))?;
        let signer = ctx.accounts.signer(&from)?;
        send(&ctx, tx, signer).await
    })?;
    m.register_method("eth_sign", move |p, ctx, _| -> RpcResult<Value> {
        check(allowed)?;
        let a = Args::new(&p, 2)?;
        let address: Address = a.required(0)?;
        let data: Bytes = a.required(1)?;
        let signer = ctx.accounts.signer(&address)?;
        sign_message(&signer, &data)
    })?;
    Ok(())
}

/// Registers the `personal` namespace.
pub fn register_personal(m: &mut RpcModule<Ctx>, allowed: bool) -> Reg {
    m.register_method("personal_listAccounts", |p, ctx, _| -> RpcResult<Value> {
        Args::new(&p, 0)?;
        Ok(json!(ctx.accounts.list()?))
    })?;
    m.register_async_method("personal_newAccount", move |p, ctx, _| async move {
        check(allowed)?;
        let a = Args::new(&p, 1)?;
        let pw = password(&a, 0)?;
        blocking(&ctx, move |ctx| {
            Ok(json!(ctx.accounts.new_account(pw.as_bytes())?))
        })
        .await
    })?;
    m.register_async_method("personal_importRawKey", move |p, ctx, _| async move {
        check(allowed)?;
        let a = Args::new(&p, 2)?;
        let key: String = a.required(0)?;
        let pw = password(&a, 1)?;
        let hex = key.strip_prefix("0x").unwrap_or(&key);
        let secret: B256 = if hex.len() == 64 {
            hex.parse()
                .map_err(|_| RpcError::InvalidParams("invalid hex key".into()))?
        } else {
            return Err(RpcError::InvalidParams(
                "invalid key: want 32 bytes of hex".into(),
            ));
        };
        blocking(&ctx, move |ctx| {
            Ok(json!(ctx.accounts.import_raw(&secret, pw.as_bytes())?))
        })
        .await
    })?;
    m.register_async_method("personal_unlockAccount", move |p, ctx, _| async move {
        check(allowed)?;
        let a = Args::new(&p, 3)?;
        let address: Address = a.required(0)?;
        let pw = password(&a, 1)?;
        let duration = match a.raw(2) {
            None => Some(DEFAULT_UNLOCK),
            Some(v) => match seconds(v)? {
                0 => None,
                s => Some(Duration::from_secs(s)),
            },
        };
        blocking(&ctx, move |ctx| {
            ctx.accounts.unlock(&address, pw.as_bytes(), duration)?;
            Ok(Value::Bool(true))
        })
        .await
    })?;
    m.register_method(
        "personal_lockAccount",
        move |p, ctx, _| -> RpcResult<Value> {
            check(allowed)?;
            let a = Args::new(&p, 1)?;
            let address: Address = a.required(0)?;
            ctx.accounts.lock(&address);
            Ok(Value::Bool(true))
        },
    )?;
    m.register_async_method("personal_sendTransaction", move |p, ctx, _| async move {
        check(allowed)?;
        let a = Args::new(&p, 2)?;
        let tx: CallObject = a.required(0)?;
        let pw = password(&a, 1)?;
        let from = tx
            .from
            .ok_or_else(|| RpcError::InvalidParams("missing \"from\"".into()))?;
        let signer = blocking(&ctx, move |ctx| {
            Ok(ctx.accounts.decrypt(&from, pw.as_bytes())?)
        })
        .await?;
        send(&ctx, tx, signer).await
    })?;
    m.register_async_method("personal_sign", move |p, ctx, _| async move {
        check(allowed)?;
        let a = Args::new(&p, 3)?;
        let data: Bytes = a.required(0)?;
        let address: Address = a.required(1)?;
        let pw = password(&a, 2)?;
        let signer = blocking(&ctx, move |ctx| {
            Ok(ctx.accounts.decrypt(&address, pw.as_bytes())?)
        })
        .await?;
        sign_message(&signer, &data)
    })?;
    Ok(())
}

/// A duration in seconds: a number or a hex quantity.
fn seconds(v: &Value) -> RpcResult<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => crate::rpc::params::quantity_u64(s).ok(),
        _ => None,
    }
    .ok_or_else(|| RpcError::InvalidParams("invalid argument 2: duration in seconds".into()))
}

/// EIP-191 personal-message signature, 65 bytes with v = 27/28 (geth's `eth_sign`).
fn sign_message(signer: &PrivateKeySigner, data: &[u8]) -> RpcResult<Value> {
    let sig = signer
        .sign_message_sync(data)
        .map_err(|e| RpcError::Server(e.to_string()))?;
    Ok(json!(Bytes::from(sig.as_bytes().to_vec())))
}

fn fee(q: Option<crate::rpc::params::Quantity256>, name: &str) -> RpcResult<Option<u128>> {
    q.map(|q| u128::try_from(q.0).map_err(|_| RpcError::InvalidParams(format!("{name} too large"))))
        .transpose()
}

/// Fills in what the caller left out (nonce from the pool, gas by estimation,
/// the fee fields of the chain's fork, the chain id), signs with `signer` and
/// submits to the pool; the transaction hash. The account's nonce lock is held
/// throughout, so overlapping sends of one account get consecutive nonces.
pub(crate) async fn send(
    ctx: &Arc<Ctx>,
    tx: CallObject,
    signer: PrivateKeySigner,
) -> RpcResult<Value> {
    let chain_id = ctx.config.chain_id();
    let from = signer.address();
    let _held = ctx.nonce_locks.lock(from).await;
    let nonce = match tx.nonce {
        Some(n) => n.0,
        None => ctx.exec.send(PendingNonce(from)).await??,
    };
    let gas_price = fee(tx.gas_price, "gasPrice")?;
    let max_fee = fee(tx.max_fee_per_gas, "maxFeePerGas")?;
    let max_tip = fee(tx.max_priority_fee_per_gas, "maxPriorityFeePerGas")?;
    let to = tx.to;
    let value = tx.value.map_or(U256::ZERO, |v| v.0);
    let mut req = tx.clone().into_request(chain_id)?;
    req.from = Some(from);
    let authorization_list = req.authorization_list.clone();
    let gas = match tx.gas {
        Some(g) => g.0,
        None => {
            blocking(ctx, move |ctx| {
                let cap = ctx.limits.gas_cap;
                ctx.with_state(BlockId::Tag(BlockTag::Latest), |state, header| {
                    Ok(call::estimate_gas(&ctx.config, state, header, &req, cap)?)
                })
            })
            .await?
        }
    };
    let input = tx.input.clone().or(tx.data.clone()).unwrap_or_default();
    let kind = to.map_or(TxKind::Create, TxKind::Call);
    let base_fee = next_base_fee_at_head(ctx)?;
    let envelope: TxEnvelope = match (base_fee, gas_price) {
        // EIP-7702: authorizations make a set-code transaction (`to` is required,
        // checked when parsing); the pool refuses it before Prague.
        (Some(base), price) if !authorization_list.is_empty() => {
            let tip = max_tip.or(price).unwrap_or(u128::from(SUGGESTED_TIP));
            let tx = TxEip7702 {
                chain_id,
                nonce,
                gas_limit: gas,
                max_fee_per_gas: max_fee.or(price).unwrap_or(2 * u128::from(base) + tip),
                max_priority_fee_per_gas: tip,
                to: to.unwrap_or_default(),
                value,
                access_list: Default::default(),
                authorization_list,
                input,
            };
            let sig = signer
                .sign_hash_sync(&tx.signature_hash())
                .map_err(|e| RpcError::Server(e.to_string()))?;
            tx.into_signed(sig).into()
        }
        (None, _) if !authorization_list.is_empty() => {
            return Err(RpcError::Server(
                call::PRE_PRAGUE_AUTHORIZATIONS.to_string(),
            ));
        }
        (Some(base), None) => {
            let tip = max_tip.unwrap_or(u128::from(SUGGESTED_TIP));
            let tx = TxEip1559 {
                chain_id,
                nonce,
                gas_limit: gas,
                max_fee_per_gas: max_fee.unwrap_or(2 * u128::from(base) + tip),
                max_priority_fee_per_gas: tip,
                to: kind,
                value,
                access_list: Default::default(),
                input,
            };
            let sig = signer
                .sign_hash_sync(&tx.signature_hash())
                .map_err(|e| RpcError::Server(e.to_string()))?;
            tx.into_signed(sig).into()
        }
        (base, price) => {
            let price = price.unwrap_or(u128::from(base.unwrap_or(0)) + u128::from(SUGGESTED_TIP));
            let tx = TxLegacy {
                chain_id: Some(chain_id),
                nonce,
                gas_price: price,
                gas_limit: gas,
                to: kind,
                value,
                input,
            };
            let sig = signer
                .sign_hash_sync(&tx.signature_hash())
                .map_err(|e| RpcError::Server(e.to_string()))?;
            tx.into_signed(sig).into()
        }
    };
    let hash = ctx
        .exec
        .send(SubmitRawTx(envelope.encoded_2718()))
        .await??;
    Ok(json!(hash))
}
