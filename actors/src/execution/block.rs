//! Block execution, building and commit: signed transactions (legacy/EIP-155,
//! EIP-2930, EIP-1559, EIP-7702 from Prague; blob transactions are invalid)
//! through revm, receipts, logs bloom, gas, transaction and receipt roots, the
//! block reward, the state root, and the header.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use alloy_consensus::{
    Eip658Value, Header, Receipt, ReceiptEnvelope, Transaction, TxEnvelope, TxReceipt,
    proofs::{calculate_receipt_root, calculate_transaction_root},
    transaction::SignerRecoverable,
};
use alloy_eips::eip1559::BaseFeeParams;
use alloy_evm::FromRecoveredTx;
use alloy_primitives::{Address, B256, Bloom, Bytes, U256};
use revm::{
    context::{BlockEnv, CfgEnv, TxEnv, result::EVMError},
    primitives::hardfork::SpecId,
};

use crate::execution::{
    chain_config::ChainConfig,
    executor::TxExecutor,
    genesis::{Genesis, INITIAL_BASE_FEE, MAX_EXTRA_DATA},
    header::{KalgoHeader, fork_fields},
    miner::snapshot::{OverlayView, header_total_stake, record_liveness, suspension},
    state::{AccountRecord, ChangeSet, StateOverlay, StateReader, StorageError},
    state_root::{TrieNodes, state_root},
};
use crate::storage::{BlockCommit, Head, Store};

/// Why a block could not be executed, built or committed.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    /// A transaction's signature does not recover.
    #[error("transaction {index}: bad signature")]
    BadSignature {
        /// Position in the block.
        index: usize,
    },
    /// A transaction is invalid in this block (nonce, funds, gas, chain id, type…).
    #[error("transaction {index}: invalid: {reason}")]
    InvalidTransaction {
        /// Position in the block.
        index: usize,
        /// revm's reason.
        reason: String,
    },
    /// The transactions use more gas than the block allows.
    #[error("block gas used {used} exceeds limit {limit}")]
    GasLimitExceeded {
        /// Gas used.
        used: u64,
        /// Gas limit.
        limit: u64,
    },
    /// A re-executed block does not match its header.
    #[error("header field {0} does not match execution")]
    HeaderMismatch(&'static str),
    /// The timestamp is earlier than the parent's.
    #[error("timestamp {timestamp} is before the parent's {parent}")]
    TimestampBeforeParent {
        /// The block's timestamp.
        timestamp: u64,
        /// The parent's.
        parent: u64,
    },
    /// The timestamp is more than [`MAX_FUTURE_SECS`] ahead of this node's clock.
    #[error("timestamp {timestamp} is more than {MAX_FUTURE_SECS} s ahead of the clock ({now})")]
    TimestampInFuture {
        /// The block's timestamp.
        timestamp: u64,
        /// This node's clock, in seconds.
        now: u64,
    },
    /// The gas limit moved by parent/1024 or more, or is below [`MIN_GAS_LIMIT`].
    #[error("gas limit {limit} is out of bounds for a parent limit of {parent}")]
    GasLimitOutOfBounds {
        /// The block's gas limit.
        limit: u64,
        /// The parent's.
        parent: u64,
    },
    /// `extraData` is longer than [`MAX_EXTRA_DATA`].
    #[error("extraData is {0} bytes, at most {MAX_EXTRA_DATA} allowed")]
    ExtraDataTooLong(usize),
    /// Reading or writing state failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A block: header and transactions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    pub header: KalgoHeader,
    /// In block order; the header's transactions root commits to them.
    pub transactions: Vec<TxEnvelope>,
}

impl Block {
    /// Encoded body: an RLP list of the transactions (network encoding).
    pub fn encode_body(&self) -> Vec<u8> {
        alloy_rlp::encode(&self.transactions)
    }

    /// Decodes [`Self::encode_body`] exactly: bytes after the list are refused,
    /// so one body has one encoding.
    pub fn decode_body(bytes: &[u8]) -> Result<Vec<TxEnvelope>, alloy_rlp::Error> {
        alloy_rlp::decode_exact(bytes)
    }

    /// Whether the transactions are the ones the header commits to.
    pub fn body_matches_header(&self) -> bool {
        calculate_transaction_root(&self.transactions) == self.header.eth.transactions_root
    }
}

/// What the consensus layer decides about the next block (everything that is not
/// derived from executing its transactions).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockAttributes {
    /// Timestamp (seconds).
    pub timestamp: u64,
    /// Reward recipient (the proposer's registered coinbase).
    pub coinbase: Address,
    pub gas_limit: u64,
    /// The block's sortition seed (also the header's mix hash and PREVRANDAO).
    pub seed: B256,
    /// The proposer's address (its miner id).
    pub proposer: Address,
    /// Total balance of miners (Kaleido's TBM). Ignored when the chain has a miner
    /// contract (`config.algorand`): the header's value is then computed from the
    /// post-state (see `miner::snapshot::header_total_stake`).
    pub total_balance_of_miners: U256,
    /// Extra data (≤ 32 bytes).
    pub extra_data: Bytes,
}

/// A block after execution, ready to commit.
#[derive(Clone, Debug)]
pub struct ExecutedBlock {
    /// The block, with a header filled from execution.
    pub block: Block,
    /// Recovered senders, per transaction.
    pub senders: Vec<Address>,
    /// Receipts, per transaction.
    pub receipts: Vec<ReceiptEnvelope>,
    pub changes: ChangeSet,
    /// New account records with storage roots.
    pub records: BTreeMap<Address, Option<AccountRecord>>,
    /// New trie nodes (persisted with the block).
    pub trie_nodes: TrieNodes,
}

impl ExecutedBlock {
    /// The header hash (Kaleido's extra header fields included).
    pub fn hash(&self) -> B256 {
        self.block.header.hash()
    }

    /// The block's state transition as [`MemoryState::apply`] takes it: new
    /// records, new trie nodes and the post-state root.
    ///
    /// [`MemoryState::apply`]: crate::execution::memory_state::MemoryState::apply
    pub fn state_root_output(&self) -> crate::execution::state_root::StateRootOutput {
        crate::execution::state_root::StateRootOutput {
            root: self.block.header.eth.state_root,
            records: self.records.clone(),
            nodes: self.trie_nodes.clone(),
            stats: Default::default(),
        }
    }
}

/// The EVM configuration for a block.
pub fn cfg_env(config: &ChainConfig, spec: SpecId) -> CfgEnv {
    let mut cfg = CfgEnv::default();
    cfg.set_spec_and_mainnet_gas_params(spec);
    cfg.chain_id = config.chain_id();
    cfg
}

/// Base fee of a child of `parent` at `spec`.
pub fn next_base_fee(parent: &Header, spec: SpecId) -> Option<u64> {
    if !spec.is_enabled_in(SpecId::LONDON) {
        return None;
    }
    match parent.base_fee_per_gas {
        None => Some(INITIAL_BASE_FEE),
        Some(_) => parent.next_block_base_fee(BaseFeeParams::ethereum()),
    }
}

/// The revm block environment of block `number` with `attrs`.
pub(crate) fn block_env(
    number: u64,
    attrs: &BlockAttributes,
    base_fee: Option<u64>,
    spec: SpecId,
) -> BlockEnv {
    let mut block = BlockEnv {
        number: U256::from(number),
        beneficiary: attrs.coinbase,
        timestamp: U256::from(attrs.timestamp),
        gas_limit: attrs.gas_limit,
        basefee: base_fee.unwrap_or_default(),
        difficulty: U256::from(1),
        prevrandao: spec.is_enabled_in(SpecId::MERGE).then_some(attrs.seed),
        ..Default::default()
    };
    if spec.is_enabled_in(SpecId::CANCUN) {
        block.set_blob_excess_gas_and_price(
            0,
            revm::primitives::eip4844::BLOB_BASE_FEE_UPDATE_FRACTION_CANCUN,
        );
    }
    block
}

/// Executes transactions on top of `parent` and assembles the block.
struct BlockRun<'a, S: StateReader + ?Sized> {
    config: &'a ChainConfig,
    parent: &'a KalgoHeader,
    attrs: &'a BlockAttributes,
    spec: SpecId,
    base_fee: Option<u64>,
    executor: TxExecutor<'a, S>,
    transactions: Vec<TxEnvelope>,
    senders: Vec<Address>,
    receipts: Vec<ReceiptEnvelope>,
    gas_used: u64,
}

impl<'a, S: StateReader + ?Sized> BlockRun<'a, S> {
    fn new(
        config: &'a ChainConfig,
        state: &'a S,
        parent: &'a KalgoHeader,
        attrs: &'a BlockAttributes,
    ) -> Self {
        let number = parent.number().saturating_add(1);
        let spec = config.spec_at(number, attrs.timestamp);
        let base_fee = next_base_fee(&parent.eth, spec);
        let executor = TxExecutor::new(
            StateOverlay::new(state, spec),
            cfg_env(config, spec),
            block_env(number, attrs, base_fee, spec),
            config.miner_contract(),
        );
        Self {
            config,
            parent,
            attrs,
            spec,
            base_fee,
            executor,
            transactions: Vec::new(),
            senders: Vec::new(),
            receipts: Vec::new(),
            gas_used: 0,
        }
    }

    /// Executes one transaction; on error the state is unchanged.
    fn push(&mut self, tx: TxEnvelope, sender: Address) -> Result<(), BlockError> {
        let index = self.transactions.len();
        if matches!(tx, TxEnvelope::Eip4844(_)) {
            return Err(BlockError::InvalidTransaction {
                index,
                reason: "blob transactions are not supported on this chain".into(),
            });
        }
        if self.gas_used.saturating_add(tx.gas_limit()) > self.attrs.gas_limit {
            return Err(BlockError::GasLimitExceeded {
                used: self.gas_used.saturating_add(tx.gas_limit()),
                limit: self.attrs.gas_limit,
            });
        }
        let result = self
            .executor
            .execute(TxEnv::from_recovered_tx(&tx, sender))
            .map_err(|e| match e {
                EVMError::Database(e) => BlockError::Storage(e),
                other => BlockError::InvalidTransaction {
                    index,
                    reason: other.to_string(),
                },
            })?;
        self.gas_used = self.gas_used.saturating_add(result.tx_gas_used());
        let status = if self.spec.is_enabled_in(SpecId::BYZANTIUM) {
            Eip658Value::Eip658(result.is_success())
        } else {
            let overlay = self.executor.overlay();
            Eip658Value::PostState(state_root(overlay.base(), overlay.changes())?.root)
        };
        let receipt = Receipt {
            status,
            cumulative_gas_used: self.gas_used,
            logs: result.into_logs(),
        }
        .with_bloom();
        self.receipts
            .push(ReceiptEnvelope::from_typed(tx.tx_type(), receipt));
        self.transactions.push(tx);
        self.senders.push(sender);
        Ok(())
    }

    fn finish(mut self) -> Result<ExecutedBlock, BlockError> {
        let number = self.parent.number().saturating_add(1);
        // A proposer suspended for equivocation forfeits its block reward
        // (the parent's committee may still hold it for `stakeLookback` blocks).
        let forfeited = match self.config.miner_contract() {
            Some(_) => suspension(&OverlayView(self.executor.overlay()), self.attrs.proposer)?
                .excludes(number),
            None => false,
        };
        // `spec::absence`: the proposer is seen; miners silent for too long
        // are marked absent (out of the committees from `number + 1 + L`).
        if let Some(m) = self.config.miner_contract()
            && let Some(rule) = m.absence
        {
            record_liveness(
                self.executor.overlay_mut(),
                &rule,
                m.interval,
                number,
                self.attrs.proposer,
            )?;
        }
        let reward = match forfeited {
            true => U256::ZERO,
            false => self.config.block_reward(number),
        };
        self.executor
            .overlay_mut()
            .add_balance(self.attrs.coinbase, reward)?;
        let overlay = self.executor.into_overlay();
        // Kaleido §3.5: the header's TBM is computed from the post-state, never
        // taken from the proposer, so `validate_block` checks it via the hash.
        let total_balance_of_miners = match self.config.miner_contract() {
            Some(m) => header_total_stake(
                &OverlayView(&overlay),
                number,
                self.config.stake_lookback(),
                m.interval,
            )?,
            None => self.attrs.total_balance_of_miners,
        };
        let out = state_root(overlay.base(), overlay.changes())?;
        let mut logs_bloom = Bloom::default();
        for r in &self.receipts {
            logs_bloom.accrue_bloom(&r.bloom());
        }
        let spec = self.spec;
        let eth = Header {
            parent_hash: self.parent.hash(),
            ommers_hash: alloy_consensus::EMPTY_OMMER_ROOT_HASH,
            beneficiary: self.attrs.coinbase,
            state_root: out.root,
            transactions_root: calculate_transaction_root(&self.transactions),
            receipts_root: calculate_receipt_root(&self.receipts),
            logs_bloom,
            difficulty: U256::from(1),
            number,
            gas_limit: self.attrs.gas_limit,
            gas_used: self.gas_used,
            timestamp: self.attrs.timestamp,
            extra_data: self.attrs.extra_data.clone(),
            mix_hash: self.attrs.seed,
            nonce: alloy_primitives::B64::from(1u64),
            base_fee_per_gas: self.base_fee,
            ..fork_fields(spec)
        };
        Ok(ExecutedBlock {
            block: Block {
                header: KalgoHeader {
                    eth,
                    seed: self.attrs.seed,
                    total_balance_of_miners,
                    proposer: self.attrs.proposer,
                },
                transactions: self.transactions,
            },
            senders: self.senders,
            receipts: self.receipts,
            changes: overlay.into_changes(),
            records: out.records,
            trie_nodes: out.nodes,
        })
    }
}

/// Executes a block's transactions (all must be valid) on the parent state.
pub fn execute_block<S: StateReader + ?Sized>(
    config: &ChainConfig,
    state: &S,
    parent: &KalgoHeader,
    attrs: &BlockAttributes,
    transactions: Vec<TxEnvelope>,
) -> Result<ExecutedBlock, BlockError> {
    execute_block_with_senders(config, state, parent, attrs, transactions, |_| None)
}

/// [`execute_block`] taking the senders `known` by transaction hash (for example
/// from the pool, which recovered them at admission; a hash commits to the
/// signature, so the sender is the one recovery would find) and recovering the
/// others.
pub fn execute_block_with_senders<S: StateReader + ?Sized>(
    config: &ChainConfig,
    state: &S,
    parent: &KalgoHeader,
    attrs: &BlockAttributes,
    transactions: Vec<TxEnvelope>,
    known: impl Fn(&B256) -> Option<Address>,
) -> Result<ExecutedBlock, BlockError> {
    let mut run = BlockRun::new(config, state, parent, attrs);
    for (index, tx) in transactions.into_iter().enumerate() {
        let sender = match known(tx.tx_hash()) {
            Some(sender) => sender,
            None => tx
                .recover_signer()
                .map_err(|_| BlockError::BadSignature { index })?,
        };
        run.push(tx, sender)?;
    }
    run.finish()
}

/// This node's clock in whole seconds since the Unix epoch (0 if it is set
/// before 1970): what a proposer stamps and a proposal is checked against.
pub fn unix_now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Furthest a header's timestamp may be ahead of the validating node's clock
/// (Kaleido's `VerifyHeader`, as geth: 15 s).
pub const MAX_FUTURE_SECS: u64 = 15;
/// Smallest gas limit a block may have (Ethereum's).
pub const MIN_GAS_LIMIT: u64 = 5_000;

/// The header rules that need no execution, checked against the parent
/// (Kaleido §4.9 `VerifyHeader`): the timestamp does not go back, the gas limit
/// is the parent's or moves by less than parent/1024 and stays at least
/// [`MIN_GAS_LIMIT`], and
/// `extraData` is at most [`MAX_EXTRA_DATA`] bytes.
///
/// Unlike Kaleido, equal timestamps are allowed: with 2λ below a second blocks
/// come faster than one a second, and a strictly increasing timestamp would run
/// ahead of the clock (and, with the check below, stall the chain).
pub fn check_header_attributes(
    parent: &KalgoHeader,
    header: &KalgoHeader,
) -> Result<(), BlockError> {
    let (p, h) = (&parent.eth, &header.eth);
    if h.timestamp < p.timestamp {
        return Err(BlockError::TimestampBeforeParent {
            timestamp: h.timestamp,
            parent: p.timestamp,
        });
    }
    // The parent's own limit is always allowed (genesis sets the first one).
    let moved_within = h.gas_limit.abs_diff(p.gas_limit) < p.gas_limit / 1024;
    if h.gas_limit != p.gas_limit && !(moved_within && h.gas_limit >= MIN_GAS_LIMIT) {
        return Err(BlockError::GasLimitOutOfBounds {
            limit: h.gas_limit,
            parent: p.gas_limit,
        });
    }
    if h.extra_data.len() > MAX_EXTRA_DATA {
        return Err(BlockError::ExtraDataTooLong(h.extra_data.len()));
    }
    Ok(())
}

/// Checks a proposed block's timestamp against this node's clock `now`
/// (seconds): at most [`MAX_FUTURE_SECS`] ahead, unless it only repeats its
/// parent's. An honest proposer stamps `max(now, parent)`, which always passes;
/// a chain whose timestamps already ran ahead of the clock (kalgo before this
/// rule stamped parent + 1, about 4 s per second at 5 blocks/s) keeps
/// committing at its parent's timestamp until the clock catches up, instead of
/// halting. Certified blocks (sync) are not checked against the clock.
pub fn check_timestamp_not_future(
    parent: &KalgoHeader,
    header: &KalgoHeader,
    now: u64,
) -> Result<(), BlockError> {
    let timestamp = header.eth.timestamp;
    let limit = now
        .saturating_add(MAX_FUTURE_SECS)
        .max(parent.eth.timestamp);
    if timestamp > limit {
        return Err(BlockError::TimestampInFuture { timestamp, now });
    }
    Ok(())
}

/// Re-executes a received block and checks its header against the result.
pub fn validate_block<S: StateReader + ?Sized>(
    config: &ChainConfig,
    state: &S,
    parent: &KalgoHeader,
    block: &Block,
) -> Result<ExecutedBlock, BlockError> {
    validate_block_with_senders(config, state, parent, block, |_| None)
}

/// [`validate_block`] with the senders `known` by transaction hash, see
/// [`execute_block_with_senders`].
pub fn validate_block_with_senders<S: StateReader + ?Sized>(
    config: &ChainConfig,
    state: &S,
    parent: &KalgoHeader,
    block: &Block,
    known: impl Fn(&B256) -> Option<Address>,
) -> Result<ExecutedBlock, BlockError> {
    let h = &block.header;
    check_header_attributes(parent, h)?;
    let attrs = BlockAttributes {
        timestamp: h.eth.timestamp,
        coinbase: h.eth.beneficiary,
        gas_limit: h.eth.gas_limit,
        seed: h.seed,
        proposer: h.proposer,
        total_balance_of_miners: h.total_balance_of_miners,
        extra_data: h.eth.extra_data.clone(),
    };
    let executed = execute_block_with_senders(
        config,
        state,
        parent,
        &attrs,
        block.transactions.clone(),
        known,
    )?;
    let e = &executed.block.header.eth;
    let checks: [(&'static str, bool); 6] = [
        ("stateRoot", e.state_root == h.eth.state_root),
        ("receiptsRoot", e.receipts_root == h.eth.receipts_root),
        (
            "transactionsRoot",
            e.transactions_root == h.eth.transactions_root,
        ),
        ("gasUsed", e.gas_used == h.eth.gas_used),
        ("logsBloom", e.logs_bloom == h.eth.logs_bloom),
        ("hash", executed.block.header == *h),
    ];
    if let Some((field, _)) = checks.iter().find(|(_, ok)| !ok) {
        return Err(BlockError::HeaderMismatch(field));
    }
    Ok(executed)
}

/// Builds a block from candidate transactions (already ordered by the pool),
/// skipping those that do not fit or fail, until the gas limit or `time_budget`.
pub fn build_block<S: StateReader + ?Sized>(
    config: &ChainConfig,
    state: &S,
    parent: &KalgoHeader,
    attrs: &BlockAttributes,
    candidates: impl IntoIterator<Item = (TxEnvelope, Address)>,
    time_budget: Duration,
) -> Result<(ExecutedBlock, Vec<(B256, BlockError)>), BlockError> {
    let started = Instant::now();
    let mut run = BlockRun::new(config, state, parent, attrs);
    let mut rejected = Vec::new();
    for (tx, sender) in candidates {
        if started.elapsed() >= time_budget {
            break;
        }
        if run.gas_used.saturating_add(21_000) > attrs.gas_limit {
            break;
        }
        let hash = *tx.tx_hash();
        match run.push(tx, sender) {
            Ok(()) => {}
            Err(BlockError::Storage(e)) => return Err(BlockError::Storage(e)),
            Err(e) => rejected.push((hash, e)),
        }
    }
    Ok((run.finish()?, rejected))
}

/// Commits an executed block with its certificate in one store transaction.
pub fn commit_block(
    store: &Store,
    executed: &ExecutedBlock,
    certificate: &[u8],
) -> Result<Head, BlockError> {
    let header = executed.block.header.encode_to_vec();
    let body = executed.block.encode_body();
    let receipts = alloy_rlp::encode(&executed.receipts);
    let tx_hashes: Vec<B256> = executed
        .block
        .transactions
        .iter()
        .map(|t| *t.tx_hash())
        .collect();
    let hash = executed.hash();
    let head = Head {
        number: executed.block.header.number(),
        hash,
        state_root: executed.block.header.eth.state_root,
    };
    store.commit_block(&BlockCommit {
        number: head.number,
        hash,
        header: &header,
        body: &body,
        certificate,
        receipts: &receipts,
        tx_hashes: &tx_hashes,
        senders: &executed.senders,
        changes: &executed.changes,
        records: &executed.records,
        trie_nodes: &executed.trie_nodes,
        state_root: head.state_root,
    })?;
    Ok(head)
}

/// Writes the genesis block into an empty store (or checks it matches a stored one).
pub fn init_genesis(store: &Store, genesis: &Genesis) -> Result<(Head, KalgoHeader), BlockError> {
    let (changes, root, header) = genesis.build()?;
    let hash = header.hash();
    if let Some(head) = store.head()? {
        return match store.canonical_hash(0)? {
            Some(h) if h == hash => Ok((head, header)),
            _ => Err(BlockError::HeaderMismatch("genesis hash")),
        };
    }
    let out = state_root(
        &crate::execution::memory_state::MemoryState::default(),
        &changes,
    )?;
    if out.root != root {
        return Err(BlockError::HeaderMismatch("genesis state root"));
    }
    let encoded = header.encode_to_vec();
    let head = Head {
        number: 0,
        hash,
        state_root: root,
    };
    store.commit_block(&BlockCommit {
        number: 0,
        hash,
        header: &encoded,
        body: &alloy_rlp::encode(Vec::<TxEnvelope>::new()),
        certificate: &[],
        receipts: &alloy_rlp::encode(Vec::<ReceiptEnvelope>::new()),
        tx_hashes: &[],
        senders: &[],
        changes: &changes,
        records: &out.records,
        trie_nodes: &out.nodes,
        state_root: root,
    })?;
    Ok((head, header))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::execution::memory_state::MemoryState;
    use alloy_consensus::{SignableTransaction, TxEip1559, TxLegacy};
    use alloy_primitives::TxKind;
    use alloy_signer::SignerSync;
    use alloy_signer_local::PrivateKeySigner;

    pub(crate) fn signer(n: u8) -> PrivateKeySigner {
        PrivateKeySigner::from_bytes(&B256::repeat_byte(n))
            .unwrap_or_else(|_| PrivateKeySigner::random())
    }

    pub(crate) fn transfer(
        key: &PrivateKeySigner,
        chain_id: u64,
        nonce: u64,
        to: Address,
        legacy: bool,
    ) -> TxEnvelope {
        if legacy {
            let tx = TxLegacy {
                chain_id: Some(chain_id),
                nonce,
                gas_price: 2_000_000_000,
                gas_limit: 21_000,
                to: TxKind::Call(to),
                value: U256::from(1000),
                input: Bytes::new(),
            };
            let sig = key
                .sign_hash_sync(&tx.signature_hash())
                .unwrap_or_else(|_| unreachable!());
            tx.into_signed(sig).into()
        } else {
            let tx = TxEip1559 {
                chain_id,
                nonce,
                gas_limit: 21_000,
                max_fee_per_gas: 3_000_000_000,
                max_priority_fee_per_gas: 1_000_000_000,
                to: TxKind::Call(to),
                value: U256::from(1000),
                access_list: Default::default(),
                input: Bytes::new(),
            };
            let sig = key
                .sign_hash_sync(&tx.signature_hash())
                .unwrap_or_else(|_| unreachable!());
            tx.into_signed(sig).into()
        }
    }

    /// A store holding the genesis of a new chain (id 1337) that funds `key`.
    pub(crate) fn funded_store(
        key: &PrivateKeySigner,
    ) -> (tempfile::TempDir, Store, ChainConfig, KalgoHeader) {
        let config = ChainConfig::new_chain(1337);
        let text = format!(
            r#"{{"config": {}, "gasLimit": "0x3c14dc0", "alloc": {{"{}": {{"balance": "0x56bc75e2d63100000"}}}}}}"#,
            serde_json::to_string(&config).expect("config"),
            key.address()
        );
        let genesis = Genesis::from_json(&text).expect("genesis");
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("db")).expect("store");
        let (_, header) = init_genesis(&store, &genesis).expect("init");
        // Idempotent.
        init_genesis(&store, &genesis).expect("init again");
        (dir, store, config, header)
    }

    pub(crate) fn attrs(ts: u64) -> BlockAttributes {
        BlockAttributes {
            timestamp: ts,
            coinbase: Address::repeat_byte(0xcb),
            gas_limit: 63_000_000,
            seed: B256::repeat_byte(5),
            proposer: Address::repeat_byte(0xcc),
            total_balance_of_miners: U256::from(1),
            extra_data: Bytes::new(),
        }
    }

    #[test]
    fn executes_validates_and_commits_blocks() -> Result<(), BlockError> {
        for config in [ChainConfig::new_chain(1337), ChainConfig::kaleido(888)] {
            let key = signer(1);
            let mut genesis_state = MemoryState::default();
            genesis_state.insert_account(
                key.address(),
                0,
                U256::from(10u128.pow(20)),
                Bytes::new(),
                [],
            )?;
            let mut parent = KalgoHeader::default();
            parent.eth.gas_limit = attrs(10).gas_limit;
            let legacy_only = config.spec_at(1, 10) < SpecId::LONDON;
            let txs = vec![
                transfer(&key, config.chain_id(), 0, Address::repeat_byte(2), true),
                transfer(
                    &key,
                    config.chain_id(),
                    1,
                    Address::repeat_byte(3),
                    legacy_only,
                ),
            ];
            let executed =
                execute_block(&config, &genesis_state, &parent, &attrs(10), txs.clone())?;
            assert_eq!(executed.receipts.len(), 2);
            assert_eq!(executed.block.header.eth.gas_used, 42_000);
            let validated = validate_block(&config, &genesis_state, &parent, &executed.block)?;
            assert_eq!(validated.hash(), executed.hash());
            // A tampered header is rejected.
            let mut bad = executed.block.clone();
            bad.header.eth.gas_used += 1;
            assert!(matches!(
                validate_block(&config, &genesis_state, &parent, &bad),
                Err(BlockError::HeaderMismatch("gasUsed"))
            ));
            // Replaying nonce 0 is invalid.
            assert!(matches!(
                execute_block(
                    &config,
                    &genesis_state,
                    &parent,
                    &attrs(10),
                    vec![txs[0].clone(), txs[0].clone()]
                ),
                Err(BlockError::InvalidTransaction { index: 1, .. })
            ));
            // Wrong chain id.
            let wrong = transfer(&key, 5, 0, Address::repeat_byte(2), true);
            assert!(
                execute_block(&config, &genesis_state, &parent, &attrs(10), vec![wrong]).is_err()
            );
        }
        Ok(())
    }

    #[test]
    fn blocks_with_blob_transactions_are_invalid() -> Result<(), BlockError> {
        let config = ChainConfig::new_chain(1337);
        let key = signer(1);
        let mut state = MemoryState::default();
        state.insert_account(
            key.address(),
            0,
            U256::from(10u128.pow(20)),
            Bytes::new(),
            [],
        )?;
        let mut parent = KalgoHeader::default();
        parent.eth.gas_limit = attrs(10).gas_limit;
        let blob = alloy_consensus::TxEip4844 {
            chain_id: 1337,
            gas_limit: 21_000,
            max_fee_per_gas: 3_000_000_000,
            max_fee_per_blob_gas: 1,
            to: Address::repeat_byte(2),
            blob_versioned_hashes: vec![B256::repeat_byte(1)],
            ..Default::default()
        };
        let sig = key
            .sign_hash_sync(&blob.signature_hash())
            .unwrap_or_else(|_| unreachable!());
        let err = execute_block(
            &config,
            &state,
            &parent,
            &attrs(10),
            vec![blob.into_signed(sig).into()],
        )
        .err();
        assert!(
            matches!(&err, Some(BlockError::InvalidTransaction { index: 0, reason })
                if reason.contains("blob transactions are not supported")),
            "{err:?}"
        );
        Ok(())
    }

    #[test]
    fn header_attributes_are_checked_against_the_parent_and_the_clock() {
        let mut parent = KalgoHeader::default();
        parent.eth.timestamp = 1_000;
        parent.eth.gas_limit = 63_000_000;
        let step = 63_000_000 / 1024;
        let with = |f: &dyn Fn(&mut KalgoHeader)| {
            let mut h = parent.clone();
            f(&mut h);
            check_header_attributes(&parent, &h)
        };
        // (what changes, accepted)
        type Change<'a> = &'a dyn Fn(&mut KalgoHeader);
        let table: [(&str, Change, bool); 10] = [
            ("same timestamp", &|_| {}, true),
            ("a later timestamp", &|h| h.eth.timestamp = 1_001, true),
            ("an earlier timestamp", &|h| h.eth.timestamp = 999, false),
            (
                "gas limit up by less than 1/1024",
                &|h| h.eth.gas_limit += step - 1,
                true,
            ),
            (
                "gas limit down by less than 1/1024",
                &|h| h.eth.gas_limit -= step - 1,
                true,
            ),
            (
                "gas limit up by 1/1024",
                &|h| h.eth.gas_limit += step,
                false,
            ),
            (
                "gas limit down by 1/1024",
                &|h| h.eth.gas_limit -= step,
                false,
            ),
            (
                "gas limit of 2^64 - 1",
                &|h| h.eth.gas_limit = u64::MAX,
                false,
            ),
            (
                "32 bytes of extraData",
                &|h| h.eth.extra_data = Bytes::from(vec![1; 32]),
                true,
            ),
            (
                "33 bytes of extraData",
                &|h| h.eth.extra_data = Bytes::from(vec![1; 33]),
                false,
            ),
        ];
        for (what, change, ok) in table {
            assert_eq!(with(change).is_ok(), ok, "{what}");
        }
        // A parent below the minimum may be kept, never moved towards zero.
        let mut tiny = parent.clone();
        tiny.eth.gas_limit = 4_000;
        assert!(check_header_attributes(&tiny, &tiny).is_ok());
        let mut lower = tiny.clone();
        lower.eth.gas_limit = 3_999;
        assert!(check_header_attributes(&tiny, &lower).is_err());
        // The clock: 15 s of skew are tolerated, not more; a parent already
        // ahead of the clock may be repeated, not passed.
        let mut child = parent.clone();
        child.eth.timestamp = 1_100;
        let clock = |now| check_timestamp_not_future(&parent, &child, now);
        assert!(clock(1_100 - MAX_FUTURE_SECS).is_ok());
        assert!(matches!(
            clock(1_100 - MAX_FUTURE_SECS - 1),
            Err(BlockError::TimestampInFuture {
                timestamp: 1_100,
                ..
            })
        ));
        let mut ahead = parent.clone();
        ahead.eth.timestamp = 5_000;
        let mut same = ahead.clone();
        same.eth.timestamp = 5_000;
        assert!(check_timestamp_not_future(&ahead, &same, 1_000).is_ok());
        same.eth.timestamp = 5_001;
        assert!(check_timestamp_not_future(&ahead, &same, 1_000).is_err());
    }

    #[test]
    fn builder_skips_bad_transactions_and_commit_roundtrips() -> Result<(), BlockError> {
        let key = signer(7);
        let (_dir, store, config, genesis_header) = funded_store(&key);
        let sender = key.address();
        let candidates = vec![
            (
                transfer(&key, 1337, 0, Address::repeat_byte(2), false),
                sender,
            ),
            (
                transfer(&key, 1337, 5, Address::repeat_byte(2), false),
                sender,
            ), // nonce gap
            (
                transfer(&key, 1337, 1, Address::repeat_byte(2), false),
                sender,
            ),
        ];
        let state = store.state()?;
        let (executed, rejected) = build_block(
            &config,
            &state,
            &genesis_header,
            &attrs(12),
            candidates,
            Duration::from_secs(5),
        )?;
        assert_eq!(executed.block.transactions.len(), 2);
        assert_eq!(rejected.len(), 1);
        let head = commit_block(&store, &executed, b"cert")?;
        assert_eq!(store.head()?, Some(head));
        // The store's state re-hashes to the header's root.
        let state = store.state()?;
        assert_eq!(
            state_root(&state, &ChangeSet::default())?.root,
            head.state_root
        );
        let reward = config.block_reward(1);
        assert_eq!(
            state
                .account(&Address::repeat_byte(0xcb))?
                .map(|a| a.balance),
            Some(reward + U256::from(2 * 21_000 * 1_000_000_000u64))
        );
        let body = store.body(1)?.unwrap_or_default();
        assert_eq!(
            Block::decode_body(&body).ok(),
            Some(executed.block.transactions.clone())
        );
        Ok(())
    }
}
