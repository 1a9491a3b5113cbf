//! What every method handler shares: the chain store (read directly: redb
//! snapshots), the chain config, the execution actor's address (the pool lives
//! there), the installed filters and the limits.

use std::sync::{Arc, atomic::AtomicU64};

use actix::Addr;
use actors::execution::{
    chain_config::ChainConfig, header::KalgoHeader, query, state::StateReader,
};
use actors::runtime::ExecutionActor;
use actors::storage::{ChainReader, state_at::StateAt};
use alloy_primitives::U256;

use crate::rpc::{
    error::{RpcError, RpcResult},
    filter_store::Filters,
    params::{BlockId, BlockTag},
};

/// Limits on what one request may cost.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Most gas an `eth_call` / `eth_estimateGas` may use (geth's `--rpc.gascap`).
    pub gas_cap: u64,
    /// Most blocks one `eth_getLogs` may scan (`--rpc.logblockrange`).
    pub max_log_blocks: u64,
    /// Most logs one `eth_getLogs` may return (`--rpc.logmaxresults`).
    pub max_logs: usize,
    /// Most addresses, and most alternatives at one topic position, in one log
    /// filter (`--rpc.logquerylimit`, geth's name and default).
    pub log_query_limit: usize,
    /// Most blocks one `eth_feeHistory` may cover.
    pub max_fee_history: u64,
    /// Most struct logs in one `debug_trace*` answer (a longer trace is refused).
    pub max_trace_logs: usize,
    /// Most estimated JSON bytes of one trace's struct logs.
    pub max_trace_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            gas_cap: 50_000_000,
            max_log_blocks: 10_000,
            max_logs: 20_000,
            log_query_limit: crate::config::DEFAULT_LOG_QUERY_LIMIT,
            max_fee_history: 1024,
            max_trace_logs: 500_000,
            max_trace_bytes: 48 * 1024 * 1024,
        }
    }
}

/// Shared state of the RPC handlers.
pub struct Ctx {
    /// A read handle on the chain database (each read is its own snapshot).
    pub chain: ChainReader,
    pub config: ChainConfig,
    /// The execution actor (transaction pool).
    pub exec: Addr<ExecutionActor>,
    /// Submitted transactions go to the pool through this, in batches.
    pub intake: actors::runtime::intake::TxIntake,
    /// The pooled hashes the execution actor publishes (pending-transaction
    /// filters and subscriptions read these, never the actor).
    pub pool_view: tokio::sync::watch::Receiver<actors::runtime::PoolHashes>,
    /// Genesis difficulty (for `totalDifficulty`).
    pub genesis_difficulty: U256,
    /// What one request may cost (gas cap, log ranges, ...).
    pub limits: Limits,
    /// Filters installed by `eth_new*Filter`, polled by `eth_getFilterChanges`.
    pub filters: Filters,
    /// Connected peers (`net_peerCount`), set by the network when there is one.
    pub peers: Arc<AtomicU64>,
    /// `web3_clientVersion`.
    pub client_version: String,
    /// Node-held accounts (keystore and unlocked keys).
    pub accounts: Arc<crate::keys::accounts::Accounts>,
    /// One send at a time per node-held account (nonce filled from the pool).
    pub nonce_locks: super::nonce_lock::NonceLocks,
    /// The gossip actor (`admin_*`); `None` without a network (`--dev`).
    pub gossip: Option<Addr<actors::gossip::actor::GossipActor>>,
    /// The consensus actor's mining switch (`miner_start` / `miner_stop`).
    pub miner: actix::Recipient<actors::runtime::SetMining>,
    /// The consensus actor's read-only questions (`consensus_*`).
    pub consensus: actix::Recipient<actors::runtime::inspect::Inspect>,
    /// `--etherbase`: what `eth_coinbase` names when this node's miner is not
    /// registered.
    pub etherbase: Option<crate::config::Etherbase>,
}

/// "header not found", geth's answer for a block it does not have.
pub fn header_not_found() -> RpcError {
    RpcError::Server("header not found".into())
}

impl Ctx {
    /// The head's block number.
    pub fn head_number(&self) -> RpcResult<u64> {
        Ok(self.chain.head()?.map_or(0, |h| h.number))
    }

    /// The block number a tag names, `None` if it is beyond the head.
    pub fn resolve_tag(&self, tag: BlockTag) -> RpcResult<Option<u64>> {
        let head = self.head_number()?;
        Ok(match tag {
            BlockTag::Latest | BlockTag::Pending => Some(head),
            BlockTag::Earliest => Some(0),
            BlockTag::Number(n) => (n <= head).then_some(n),
        })
    }

    /// The block number a tag, number or hash names, `None` if unknown.
    pub fn resolve(&self, id: BlockId) -> RpcResult<Option<u64>> {
        match id {
            BlockId::Tag(t) => self.resolve_tag(t),
            BlockId::Hash(h) => Ok(query::number_of(&self.chain, &h)?),
        }
    }

    /// Runs `f` over the state after block `id` and its header: the head's flat
    /// tables when `id` is the head, otherwise the tries at the block's state root
    /// (every block's state stays readable: nodes are never pruned).
    pub fn with_state<R>(
        &self,
        id: BlockId,
        f: impl FnOnce(&dyn StateReader, &KalgoHeader) -> RpcResult<R>,
    ) -> RpcResult<R> {
        let number = self.resolve(id)?.ok_or_else(header_not_found)?;
        let header = query::header(&self.chain, number)?.ok_or_else(header_not_found)?;
        // Taken after the header: the snapshot holds that block or a later one,
        // and a later one still holds every node of the earlier tries.
        let snapshot = self.chain.state()?;
        if snapshot.state_root()? == header.eth.state_root {
            f(&snapshot, &header)
        } else {
            f(&StateAt::new(&snapshot, header.eth.state_root), &header)
        }
    }

    /// Whether EIP-1559 fees are active at the head (or will be: a London block
    /// is scheduled).
    pub fn has_1559(&self) -> bool {
        self.config.london_block.is_some()
    }
}
