//! The execution resource as one value: the chain store, the chain config, the
//! transaction pool and the blocks executed but not yet committed. The execution
//! actor owns one; the consensus host asks it (by message) to build, validate and
//! commit blocks (ARCHITECTURE.md "One block, end to end", steps 2–4).
//!
//! A block is executed once: building or validating keeps the [`ExecutedBlock`] in a
//! small cache keyed by header hash, and committing a certified hash writes that
//! cached execution with its certificate in one store transaction.

use std::{collections::HashMap, time::Duration};

use alloy_consensus::TxEnvelope;
use alloy_primitives::{Address, B256, Bytes, U256};

use crate::execution::{
    block::{
        Block, BlockAttributes, BlockError, ExecutedBlock, build_block, check_timestamp_not_future,
        commit_block, unix_now_secs,
    },
    chain_config::ChainConfig,
    header::KalgoHeader,
    pool::{PoolConfig, PoolContent, PoolError, RecoveredTx, TxPool},
    state::StorageError,
};
use crate::storage::{ChainReader, Head, Store, StoreState};

/// Most executed-but-uncommitted blocks kept (proposals of the current height).
const MAX_CACHED: usize = 64;

/// Why an execution request failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store has no genesis: run `kalgo init` first.
    #[error("the store has no genesis block (run `kalgo init genesis.json` first)")]
    NoGenesis,
    /// A stored header does not decode.
    #[error("stored header {0} is corrupt")]
    CorruptHeader(u64),
    /// A block does not extend the current head.
    #[error("block {number} does not extend the head {head}")]
    NotOnHead {
        /// The block's number.
        number: u64,
        /// The head number.
        head: u64,
    },
    /// Commit of a hash that was never executed here.
    #[error("block {0} was not executed here")]
    UnknownBlock(B256),
    /// Execution or storage failed.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The pool failed.
    #[error(transparent)]
    Pool(#[from] PoolError),
}

/// A committed block as stored: encoded header and body, and its certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBlock {
    /// Encoded header.
    pub header: Vec<u8>,
    /// Encoded body.
    pub body: Vec<u8>,
    /// Encoded certificate (`WireMessage::Certificate`).
    pub certificate: Vec<u8>,
}

/// What consensus decides about a block it proposes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildRequest {
    /// The block's seed (from the proposer's seed VRF, Kaleido §4.4).
    pub seed: B256,
    /// The proposer's address (its miner id).
    pub proposer: Address,
    /// The reward recipient.
    pub coinbase: Address,
    /// Total stake of miners (Kaleido's TBM).
    pub total_balance_of_miners: U256,
    /// Wall-clock seconds now.
    pub now_secs: u64,
    /// Most time spent executing transactions (`spec::Params::build_budget_ms`).
    pub budget: Duration,
}

/// The chain store, chain config, transaction pool and executed-block cache
/// as one value (see the module docs).
#[derive(Debug)]
pub struct ExecutionService {
    store: Store,
    config: ChainConfig,
    pool: TxPool,
    head: Head,
    head_header: KalgoHeader,
    cache: HashMap<B256, ExecutedBlock>,
    last_txs: usize,
    /// A read snapshot of the head state for pool admission, opened on the first
    /// admission after a commit and dropped by the next commit (one redb read
    /// transaction per block instead of one per transaction).
    admission_state: Option<StoreState>,
}

impl ExecutionService {
    /// Opens the service over a store that holds genesis.
    pub fn new(store: Store, config: ChainConfig) -> Result<Self, ServiceError> {
        let head = store.head()?.ok_or(ServiceError::NoGenesis)?;
        let head_header = read_header(&store, head.number)?;
        let spec = config.spec_at(head.number, head_header.eth.timestamp);
        let pool = TxPool::new(PoolConfig {
            chain_id: config.chain_id(),
            spec,
            block_gas_limit: head_header.eth.gas_limit,
            ..PoolConfig::default()
        });
        Ok(Self {
            store,
            config,
            pool,
            head,
            head_header,
            cache: HashMap::new(),
            last_txs: 0,
            admission_state: None,
        })
    }

    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The canonical head and its header.
    pub fn head(&self) -> (Head, &KalgoHeader) {
        (self.head, &self.head_header)
    }

    /// The stored certificate of block `number` (empty for genesis).
    pub fn certificate(&self, number: u64) -> Result<Option<Vec<u8>>, ServiceError> {
        Ok(self.store.certificate(number)?)
    }

    /// Committed blocks from `from` with their certificates, as stored (encoded
    /// header, body, certificate), for a peer catching up: at most `count`, and no
    /// more once `max_bytes` are reached (but at least the first one that exists).
    pub fn blocks_with_certificates(
        &self,
        from: u64,
        count: u32,
        max_bytes: usize,
    ) -> Result<Vec<StoredBlock>, ServiceError> {
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let last = from.saturating_add(u64::from(count).saturating_sub(1));
        for number in from..=last.min(self.head.number) {
            let (Some(header), Some(body), Some(certificate)) = (
                self.store.header(number)?,
                self.store.body(number)?,
                self.store.certificate(number)?,
            ) else {
                break;
            };
            let size = header.len() + body.len() + certificate.len();
            if !out.is_empty() && bytes + size > max_bytes {
                break;
            }
            bytes += size;
            out.push(StoredBlock {
                header,
                body,
                certificate,
            });
        }
        Ok(out)
    }

    /// Number of pooled transactions (pending and queued).
    pub fn pool_len(&self) -> usize {
        self.pool.len()
    }

    /// Every pooled transaction's hash.
    pub fn pool_hashes(&self) -> Vec<B256> {
        self.pool.hashes()
    }

    /// Whether the pool holds the transaction `hash`.
    pub fn pool_contains(&self, hash: &B256) -> bool {
        self.pool.contains(hash)
    }

    /// Admits a raw transaction into the pool; returns its hash.
    pub fn add_raw_tx(&mut self, raw: &[u8]) -> Result<B256, ServiceError> {
        let state = admission_snapshot(&mut self.admission_state, &self.store)?;
        Ok(self.pool.add_raw(raw, state)?)
    }

    /// Admits a transaction whose sender was already recovered (see
    /// [`RecoveredTx`]); returns its hash.
    pub fn add_recovered_tx(&mut self, tx: RecoveredTx) -> Result<B256, ServiceError> {
        let state = admission_snapshot(&mut self.admission_state, &self.store)?;
        Ok(self.pool.add_recovered(tx, state)?)
    }

    /// The chain store (cheap to clone; readers such as JSON-RPC take their own
    /// snapshots of it).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The next nonce of `sender` counting its pooled transactions
    /// (`eth_getTransactionCount(…, "pending")`).
    pub fn pending_nonce(&self, sender: &Address) -> Result<u64, ServiceError> {
        let state = self.store.state()?;
        Ok(self.pool.pending_nonce(sender, &state)?)
    }

    /// A pooled transaction and its sender.
    pub fn pooled(&self, hash: &B256) -> Option<(TxEnvelope, Address)> {
        self.pool.get(hash)
    }

    /// Pending transactions, encoded, up to `max_txs` and `max_bytes` (see
    /// [`crate::execution::pool::TxPool::pending_encoded`]).
    pub fn pending_encoded(
        &self,
        max_txs: usize,
        max_bytes: usize,
    ) -> Result<Vec<Bytes>, ServiceError> {
        let state = self.store.state()?;
        Ok(self.pool.pending_encoded(&state, max_txs, max_bytes)?)
    }

    /// How many pooled transactions are executable on the head (pending) and how
    /// many wait behind a nonce gap (queued), without copying the pool.
    pub fn pool_counts(&self) -> Result<(usize, usize), ServiceError> {
        let state = self.store.state()?;
        Ok(self.pool.counts(&state)?)
    }

    /// Every pooled transaction, pending and queued.
    pub fn pool_content(&self) -> Result<PoolContent, ServiceError> {
        let state = self.store.state()?;
        Ok(self.pool.content(&state)?)
    }

    /// Builds a block on the head from the pool (Kaleido §4.9 NewBlock, but
    /// `time = max(now, parent.time)`: see
    /// [`crate::execution::block::check_header_attributes`]),
    /// with the parent's gas limit.
    pub fn build(&mut self, req: &BuildRequest) -> Result<Block, ServiceError> {
        let parent = &self.head_header;
        let attrs = BlockAttributes {
            timestamp: req.now_secs.max(parent.eth.timestamp),
            coinbase: req.coinbase,
            gas_limit: parent.eth.gas_limit,
            seed: req.seed,
            proposer: req.proposer,
            total_balance_of_miners: req.total_balance_of_miners,
            extra_data: Bytes::new(),
        };
        let state = self.store.state()?;
        let spec = self.config.spec_at(parent.number() + 1, attrs.timestamp);
        let base_fee = crate::execution::block::next_base_fee(&parent.eth, spec);
        let started = std::time::Instant::now();
        let candidates = self.pool.best(&state, base_fee)?;
        let (executed, _rejected) =
            build_block(&self.config, &state, parent, &attrs, candidates, req.budget)?;
        let block = executed.block.clone();
        tracing::debug!(
            number = block.header.number(),
            txs = block.transactions.len(),
            ms = started.elapsed().as_millis() as u64,
            "executed new block"
        );
        self.remember(executed);
        Ok(block)
    }

    /// [`Self::validate`] for a block proposed in consensus (not yet certified):
    /// its timestamp is also checked against this node's clock
    /// ([`check_timestamp_not_future`]).
    pub fn validate_proposed(&mut self, block: &Block) -> Result<B256, ServiceError> {
        self.validate_at(block, Some(unix_now_secs()))
    }

    /// Fully executes a received block on the head and checks its header.
    pub fn validate(&mut self, block: &Block) -> Result<B256, ServiceError> {
        self.validate_at(block, None)
    }

    /// [`Self::validate`], checking the timestamp against the clock `now` if given.
    fn validate_at(&mut self, block: &Block, now: Option<u64>) -> Result<B256, ServiceError> {
        let hash = block.header.hash();
        if self.cache.contains_key(&hash) {
            return Ok(hash);
        }
        let number = block.header.number();
        if number != self.head.number + 1 || block.header.eth.parent_hash != self.head.hash {
            return Err(ServiceError::NotOnHead {
                number,
                head: self.head.number,
            });
        }
        if let Some(now) = now {
            check_timestamp_not_future(&self.head_header, &block.header, now)?;
        }
        let started = std::time::Instant::now();
        let state = self.store.state()?;
        let pool = &self.pool;
        let executed = crate::execution::block::validate_block_with_senders(
            &self.config,
            &state,
            &self.head_header,
            block,
            |hash| pool.sender_of(hash),
        )?;
        tracing::debug!(
            number,
            txs = block.transactions.len(),
            ms = started.elapsed().as_millis() as u64,
            "validated block"
        );
        self.remember(executed);
        Ok(hash)
    }

    /// Commits the executed block `hash` with its certificate (one store
    /// transaction), prunes the pool and returns the new head.
    pub fn commit(&mut self, hash: B256, certificate: &[u8]) -> Result<Head, ServiceError> {
        let executed = self
            .cache
            .get(&hash)
            .ok_or(ServiceError::UnknownBlock(hash))?;
        if executed.block.header.eth.parent_hash != self.head.hash {
            return Err(ServiceError::NotOnHead {
                number: executed.block.header.number(),
                head: self.head.number,
            });
        }
        // The admission snapshot would be stale after this commit.
        self.admission_state = None;
        let started = std::time::Instant::now();
        let head = commit_block(&self.store, executed, certificate)?;
        tracing::debug!(
            number = head.number,
            ms = started.elapsed().as_millis() as u64,
            "stored block"
        );
        self.last_txs = executed.block.transactions.len();
        self.head_header = executed.block.header.clone();
        self.head = head;
        self.cache.clear();
        let spec = self.config.spec_at(
            head.number.saturating_add(1),
            self.head_header.eth.timestamp,
        );
        self.pool.set_spec(spec);
        let state = self.store.state()?;
        self.pool.prune(&state)?;
        Ok(head)
    }

    /// Transactions in the last committed block.
    pub fn last_committed_txs(&self) -> usize {
        self.last_txs
    }

    fn remember(&mut self, executed: ExecutedBlock) {
        if self.cache.len() >= MAX_CACHED {
            self.cache.clear();
        }
        self.cache.insert(executed.hash(), executed);
    }
}

/// The head-state snapshot kept in `slot` for pool admission, opened if absent.
fn admission_snapshot<'a>(
    slot: &'a mut Option<StoreState>,
    store: &Store,
) -> Result<&'a StoreState, StorageError> {
    let state = match slot.take() {
        Some(state) => state,
        None => store.state()?,
    };
    Ok(slot.insert(state))
}

/// Reads and decodes the stored header of block `number`.
pub fn read_header(store: &ChainReader, number: u64) -> Result<KalgoHeader, ServiceError> {
    let bytes = store
        .header(number)?
        .ok_or(ServiceError::CorruptHeader(number))?;
    KalgoHeader::decode_bytes(&bytes).map_err(|_| ServiceError::CorruptHeader(number))
}
