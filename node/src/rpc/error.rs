//! JSON-RPC errors with geth's codes and messages.
//!
//! - `-32700` parse error, `-32600` invalid request, `-32601` method not found:
//!   produced by the jsonrpsee server itself;
//! - `-32602` invalid params: a missing, extra or malformed argument;
//! - `3` execution reverted, with the revert data in `data` (geth's
//!   `internal/ethapi/errors.go`);
//! - `-32000` every other server-side failure (geth's default code), with geth's
//!   message where tools match on it ("nonce too low", "already known", …).

use actors::execution::{
    call::{CallError, revert_message},
    pool::PoolError,
    query::QueryError,
    service::ServiceError,
    state::StorageError,
};
use alloy_primitives::Bytes;
use jsonrpsee::types::ErrorObjectOwned;

/// geth's code for a failed request that is not the caller's syntax.
pub const SERVER_ERROR: i32 = -32000;
/// Invalid method parameters.
pub const INVALID_PARAMS: i32 = -32602;
/// Error code of a reverted call (geth's; the revert data goes in `data`).
pub const REVERTED: i32 = 3;
/// A limit (log range, filter count) was exceeded.
pub const LIMIT_EXCEEDED: i32 = -32005;

/// An error answered to a JSON-RPC call.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// A bad argument.
    #[error("{0}")]
    InvalidParams(String),
    /// The call reverted; the data is the revert output.
    #[error("{message}")]
    Reverted {
        /// geth's message (`execution reverted[: reason]`).
        message: String,
        /// The revert data.
        data: Bytes,
    },
    /// A server-side failure (code -32000).
    #[error("{0}")]
    Server(String),
    /// A limit was exceeded (code -32005).
    #[error("{0}")]
    Limit(String),
}

impl RpcError {
    /// The revert error of `data`.
    pub fn reverted(data: Bytes) -> Self {
        Self::Reverted {
            message: revert_message(&data),
            data,
        }
    }
}

impl From<RpcError> for ErrorObjectOwned {
    fn from(e: RpcError) -> Self {
        match e {
            RpcError::InvalidParams(m) => ErrorObjectOwned::owned(INVALID_PARAMS, m, None::<()>),
            RpcError::Reverted { message, data } => {
                ErrorObjectOwned::owned(REVERTED, message, Some(data.to_string()))
            }
            RpcError::Server(m) => ErrorObjectOwned::owned(SERVER_ERROR, m, None::<()>),
            RpcError::Limit(m) => ErrorObjectOwned::owned(LIMIT_EXCEEDED, m, None::<()>),
        }
    }
}

impl From<StorageError> for RpcError {
    fn from(e: StorageError) -> Self {
        Self::Server(e.to_string())
    }
}

impl From<QueryError> for RpcError {
    fn from(e: QueryError) -> Self {
        match e {
            QueryError::TooLarge { .. } => Self::Limit(e.to_string()),
            other => Self::Server(other.to_string()),
        }
    }
}

impl From<CallError> for RpcError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::Reverted(data) => Self::reverted(data),
            other => Self::Server(other.to_string()),
        }
    }
}

/// geth's message for a rejected transaction (ethers and viem match on these).
pub fn pool_message(e: &PoolError) -> String {
    match e {
        PoolError::Malformed(m) => format!("rlp: {m}"),
        PoolError::UnsupportedType(_) => "transaction type not supported".into(),
        PoolError::BlobUnsupported => "blob transactions are not supported on this chain".into(),
        PoolError::EmptyAuthorizationList
        | PoolError::InflightLimit
        | PoolError::AuthorityReserved => e.to_string(),
        PoolError::Oversize { .. } => "oversized data".into(),
        PoolError::BadSignature => "invalid sender".into(),
        PoolError::WrongChainId { expected, got } => match got {
            None => "only replay-protected (EIP-155) transactions allowed over RPC".into(),
            Some(g) => format!("invalid chain id: have {g} want {expected}"),
        },
        PoolError::NonceTooLow { account, tx } => {
            format!("nonce too low: next nonce {account}, tx nonce {tx}")
        }
        PoolError::InsufficientFunds { needed, available } => {
            format!("insufficient funds for gas * price + value: have {available} want {needed}")
        }
        PoolError::IntrinsicGas { needed, limit } => {
            format!("intrinsic gas too low: gas {limit}, minimum needed {needed}")
        }
        PoolError::GasLimitTooHigh { .. } => "exceeds block gas limit".into(),
        PoolError::FeeTooLow { min, got } => {
            format!("transaction underpriced: gas tip cap {got}, minimum needed {min}")
        }
        PoolError::ReplacementUnderpriced { .. } => "replacement transaction underpriced".into(),
        PoolError::AlreadyKnown => "already known".into(),
        PoolError::SenderLimit(_) | PoolError::PoolFull => "txpool is full".into(),
        PoolError::Storage(m) => m.clone(),
    }
}

impl From<ServiceError> for RpcError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Pool(p) => Self::Server(pool_message(&p)),
            other => Self::Server(other.to_string()),
        }
    }
}

impl From<actix::MailboxError> for RpcError {
    fn from(e: actix::MailboxError) -> Self {
        Self::Server(format!("execution unavailable: {e}"))
    }
}

/// Result of a method.
pub type RpcResult<T> = Result<T, RpcError>;
