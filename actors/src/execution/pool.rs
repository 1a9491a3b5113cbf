//! The transaction pool: admission checks, per-sender nonce ordering, pending
//! (executable now) and queued (nonce gap) transactions, replacement by a higher
//! fee, size and per-sender limits, eviction of the cheapest, and the order in
//! which a block builder takes transactions (by fee, then nonce).

use std::collections::{BTreeMap, BinaryHeap, HashMap};

use alloy_consensus::{Transaction, TxEnvelope, transaction::SignerRecoverable};
use alloy_eips::eip2718::{Decodable2718, Encodable2718};
use alloy_evm::FromRecoveredTx;
use alloy_primitives::{Address, B256, Bytes, U256};
use revm::{
    context::TxEnv, context_interface::cfg::gas::calculate_initial_tx_gas_for_tx,
    primitives::hardfork::SpecId,
};

use crate::execution::state::{StateReader, StorageError};

/// Why a transaction was not admitted. A rejected transaction leaves the pool unchanged.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PoolError {
    /// The bytes are not a valid EIP-2718 transaction.
    #[error("malformed transaction: {0}")]
    Malformed(String),
    /// The transaction type is not accepted (set-code transactions before Prague).
    #[error("unsupported transaction type {0}")]
    UnsupportedType(u8),
    /// A blob (EIP-4844, type 3) transaction: kalgo chains carry no blobs.
    #[error("blob transactions are not supported on this chain")]
    BlobUnsupported,
    /// A set-code (EIP-7702) transaction without authorizations.
    #[error("set code tx must have at least one authorization tuple")]
    EmptyAuthorizationList,
    /// The sender is delegated (EIP-7702) or an authority of a pooled set-code
    /// transaction, and already has a transaction in flight.
    #[error("in-flight transaction limit reached for delegated accounts")]
    InflightLimit,
    /// An authority of this set-code transaction has more than one pooled transaction.
    #[error("authority already reserved")]
    AuthorityReserved,
    /// The encoded transaction is larger than allowed.
    #[error("transaction of {size} bytes exceeds {max}")]
    Oversize {
        /// Size in bytes.
        size: usize,
        /// Limit.
        max: usize,
    },
    /// The signature does not recover a sender.
    #[error("bad signature")]
    BadSignature,
    /// The chain id is missing (pre-EIP-155 legacy) or wrong.
    #[error("wrong chain id: expected {expected}, got {got:?}")]
    WrongChainId {
        /// This chain's id.
        expected: u64,
        /// The transaction's.
        got: Option<u64>,
    },
    /// The nonce is below the sender's account nonce.
    #[error("nonce too low: account nonce {account}, transaction nonce {tx}")]
    NonceTooLow {
        /// Account nonce.
        account: u64,
        /// Transaction nonce.
        tx: u64,
    },
    /// The sender cannot pay `gas_limit * max fee + value`.
    #[error("insufficient funds: need {needed}, have {available}")]
    InsufficientFunds {
        /// Maximum cost.
        needed: U256,
        /// Balance.
        available: U256,
    },
    /// The gas limit is below the intrinsic gas.
    #[error("intrinsic gas too low: need {needed}, limit {limit}")]
    IntrinsicGas {
        /// Intrinsic gas.
        needed: u64,
        /// Transaction gas limit.
        limit: u64,
    },
    /// The gas limit exceeds the block gas limit.
    #[error("gas limit {limit} exceeds block gas limit {block}")]
    GasLimitTooHigh {
        /// Transaction gas limit.
        limit: u64,
        /// Block gas limit.
        block: u64,
    },
    /// The fee is below the pool's minimum.
    #[error("fee too low: minimum {min}, got {got}")]
    FeeTooLow {
        /// Minimum gas price.
        min: u128,
        /// The transaction's max fee per gas.
        got: u128,
    },
    /// A transaction with the same sender and nonce exists and this one does not
    /// pay enough more to replace it.
    #[error("replacement underpriced: need at least {min}, got {got}")]
    ReplacementUnderpriced {
        /// Minimum fee for a replacement.
        min: u128,
        /// Offered fee.
        got: u128,
    },
    /// The same transaction is already pooled.
    #[error("already known")]
    AlreadyKnown,
    /// The sender has too many pooled transactions.
    #[error("sender has {0} pooled transactions (limit)")]
    SenderLimit(usize),
    /// The pool is full and the transaction is not better than the cheapest one.
    #[error("pool is full")]
    PoolFull,
    /// Reading the sender's account failed.
    #[error("state: {0}")]
    Storage(String),
}

impl From<StorageError> for PoolError {
    fn from(e: StorageError) -> Self {
        PoolError::Storage(e.to_string())
    }
}

/// Largest encoded transaction: what a default pool admits (geth's 128 KiB) and
/// what a gossiped transaction batch may carry.
pub const MAX_TX_BYTES: usize = 128 * 1024;

/// Pool limits and chain parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolConfig {
    /// Chain id transactions must carry.
    pub chain_id: u64,
    /// Spec used for intrinsic gas.
    pub spec: SpecId,
    /// Block gas limit (the service sets the head's at start); a transaction asking
    /// for more is refused.
    pub block_gas_limit: u64,
    /// Most transactions in the pool.
    pub max_transactions: usize,
    /// Most transactions per sender.
    pub max_per_sender: usize,
    /// Largest encoded transaction.
    pub max_tx_size: usize,
    /// Minimum max-fee-per-gas.
    pub min_gas_price: u128,
    /// A replacement must pay this many percent more (fee and tip).
    pub price_bump_percent: u128,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            chain_id: 1,
            spec: SpecId::PRAGUE,
            block_gas_limit: 63_000_000,
            max_transactions: 20_000,
            max_per_sender: 64,
            max_tx_size: MAX_TX_BYTES,
            min_gas_price: 1,
            price_bump_percent: 10,
        }
    }
}

#[derive(Clone, Debug)]
struct PooledTx {
    tx: TxEnvelope,
    sender: Address,
    hash: B256,
    /// The authorities of a set-code transaction (valid signatures only).
    authorities: Vec<Address>,
}

impl PooledTx {
    fn max_fee(&self) -> u128 {
        self.tx.max_fee_per_gas()
    }
}

/// The pool's transactions as (sender, nonce, transaction), see [`TxPool::content`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolContent {
    /// Executable now: nonces contiguous from the sender's account nonce.
    pub pending: Vec<(Address, u64, TxEnvelope)>,
    /// Waiting behind a nonce gap.
    pub queued: Vec<(Address, u64, TxEnvelope)>,
}

/// A decoded transaction with its recovered sender: the stateless part of
/// admission (decoding, type, size, chain id, signature), done once, possibly away
/// from the pool's thread. Only this module constructs one, always by recovering
/// the sender from the signature, so [`TxPool::add_recovered`] can trust it.
#[derive(Clone, Debug)]
pub struct RecoveredTx {
    tx: TxEnvelope,
    sender: Address,
    hash: B256,
    /// The authorities of a set-code transaction whose signatures recover (the
    /// others are skipped at execution, as EIP-7702 says).
    authorities: Vec<Address>,
}

impl RecoveredTx {
    /// Decodes raw EIP-2718 bytes (no trailing bytes) and recovers the sender,
    /// checking type, size and `chain_id` first.
    pub fn from_raw(raw: &[u8], chain_id: u64, max_size: usize) -> Result<Self, PoolError> {
        // Judged by its type byte before its size: a blob transaction with its
        // sidecar is usually larger than any pool admits.
        if raw.first() == Some(&EIP4844_TX_TYPE) {
            return Err(PoolError::BlobUnsupported);
        }
        if raw.len() > max_size {
            return Err(PoolError::Oversize {
                size: raw.len(),
                max: max_size,
            });
        }
        let mut buf = raw;
        let tx =
            TxEnvelope::decode_2718(&mut buf).map_err(|e| PoolError::Malformed(e.to_string()))?;
        if !buf.is_empty() {
            return Err(PoolError::Malformed("trailing bytes".to_string()));
        }
        Self::new(tx, chain_id, max_size)
    }

    /// Checks type, size and `chain_id` of a decoded transaction and recovers its
    /// sender.
    pub fn new(tx: TxEnvelope, chain_id: u64, max_size: usize) -> Result<Self, PoolError> {
        check_stateless(&tx, chain_id, max_size)?;
        let sender = tx.recover_signer().map_err(|_| PoolError::BadSignature)?;
        let hash = *tx.tx_hash();
        let authorities = tx
            .authorization_list()
            .unwrap_or_default()
            .iter()
            .filter_map(|a| a.recover_authority().ok())
            .collect();
        Ok(Self {
            tx,
            sender,
            hash,
            authorities,
        })
    }

    pub fn hash(&self) -> B256 {
        self.hash
    }

    /// The recovered sender.
    pub fn sender(&self) -> Address {
        self.sender
    }
}

/// The EIP-2718 type byte of blob transactions.
const EIP4844_TX_TYPE: u8 = 3;

/// The admission checks that need neither state nor signature recovery.
fn check_stateless(tx: &TxEnvelope, chain_id: u64, max_size: usize) -> Result<(), PoolError> {
    if matches!(tx, TxEnvelope::Eip4844(_)) {
        return Err(PoolError::BlobUnsupported);
    }
    if let TxEnvelope::Eip7702(t) = tx
        && t.tx().authorization_list.is_empty()
    {
        return Err(PoolError::EmptyAuthorizationList);
    }
    let size = tx.encode_2718_len();
    if size > max_size {
        return Err(PoolError::Oversize {
            size,
            max: max_size,
        });
    }
    if tx.chain_id() != Some(chain_id) {
        return Err(PoolError::WrongChainId {
            expected: chain_id,
            got: tx.chain_id(),
        });
    }
    Ok(())
}

/// Counts one pooled transaction less for each of `authorities`.
fn forget_authorities(counts: &mut HashMap<Address, usize>, authorities: &[Address]) {
    for a in authorities {
        if let Some(n) = counts.get_mut(a) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(a);
            }
        }
    }
}

/// Pooled transactions by sender and nonce, with their hash index; see the
/// module docs for the rules.
#[derive(Debug)]
pub struct TxPool {
    config: PoolConfig,
    by_sender: HashMap<Address, BTreeMap<u64, PooledTx>>,
    by_hash: HashMap<B256, (Address, u64)>,
    /// Each pooled sender's account nonce as last read (at admission, refreshed by
    /// [`TxPool::prune`] after every block): tells pending from queued without a
    /// state read.
    base_nonce: HashMap<Address, u64>,
    /// How many pooled set-code transactions name each authority.
    authorities: HashMap<Address, usize>,
}

impl TxPool {
    pub fn new(config: PoolConfig) -> Self {
        Self {
            config,
            by_sender: HashMap::new(),
            by_hash: HashMap::new(),
            base_nonce: HashMap::new(),
            authorities: HashMap::new(),
        }
    }

    /// The fork the next block runs (set-code transactions need Prague); the
    /// execution service sets it after every commit.
    pub fn set_spec(&mut self, spec: SpecId) {
        self.config.spec = spec;
    }

    /// Number of pooled transactions.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Every pooled transaction's hash (no particular order).
    pub fn hashes(&self) -> Vec<B256> {
        self.by_hash.keys().copied().collect()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }

    /// Whether `hash` is pooled.
    pub fn contains(&self, hash: &B256) -> bool {
        self.by_hash.contains_key(hash)
    }

    /// Decodes and admits a raw (EIP-2718) transaction.
    pub fn add_raw<S: StateReader + ?Sized>(
        &mut self,
        raw: &[u8],
        state: &S,
    ) -> Result<B256, PoolError> {
        let tx = RecoveredTx::from_raw(raw, self.config.chain_id, self.config.max_tx_size)?;
        self.add_recovered(tx, state)
    }

    /// Checks and admits a transaction against the head state.
    pub fn add<S: StateReader + ?Sized>(
        &mut self,
        tx: TxEnvelope,
        state: &S,
    ) -> Result<B256, PoolError> {
        let tx = RecoveredTx::new(tx, self.config.chain_id, self.config.max_tx_size)?;
        self.add_recovered(tx, state)
    }

    /// Admits a transaction whose sender was recovered by [`RecoveredTx`] (which
    /// may run on any thread: recovery is the expensive part of admission). The
    /// stateless checks are repeated against this pool's own limits.
    pub fn add_recovered<S: StateReader + ?Sized>(
        &mut self,
        recovered: RecoveredTx,
        state: &S,
    ) -> Result<B256, PoolError> {
        let RecoveredTx {
            tx,
            sender,
            hash,
            authorities,
        } = recovered;
        if self.by_hash.contains_key(&hash) {
            return Err(PoolError::AlreadyKnown);
        }
        check_stateless(&tx, self.config.chain_id, self.config.max_tx_size)?;
        if matches!(tx, TxEnvelope::Eip7702(_)) && !self.config.spec.is_enabled_in(SpecId::PRAGUE) {
            return Err(PoolError::UnsupportedType(tx.tx_type() as u8));
        }
        let gas_limit = tx.gas_limit();
        if gas_limit > self.config.block_gas_limit {
            return Err(PoolError::GasLimitTooHigh {
                limit: gas_limit,
                block: self.config.block_gas_limit,
            });
        }
        let intrinsic = calculate_initial_tx_gas_for_tx(
            TxEnv::from_recovered_tx(&tx, sender),
            self.config.spec,
            None,
        );
        let needed = intrinsic
            .initial_regular_gas
            .saturating_add(intrinsic.initial_state_gas)
            .max(intrinsic.floor_gas);
        if gas_limit < needed {
            return Err(PoolError::IntrinsicGas {
                needed,
                limit: gas_limit,
            });
        }
        let fee = tx.max_fee_per_gas();
        if fee < self.config.min_gas_price {
            return Err(PoolError::FeeTooLow {
                min: self.config.min_gas_price,
                got: fee,
            });
        }
        let account = state.account(&sender)?.unwrap_or_default();
        if tx.nonce() < account.nonce {
            return Err(PoolError::NonceTooLow {
                account: account.nonce,
                tx: tx.nonce(),
            });
        }
        let cost = U256::from(gas_limit)
            .saturating_mul(U256::from(fee))
            .saturating_add(tx.value());
        if cost > account.balance {
            return Err(PoolError::InsufficientFunds {
                needed: cost,
                available: account.balance,
            });
        }
        let nonce = tx.nonce();
        self.check_delegation(sender, nonce, &account, &authorities)?;
        let existing = self.by_sender.get(&sender);
        let replaced = existing.and_then(|txs| txs.get(&nonce));
        if let Some(old) = replaced {
            let bump =
                |v: u128| v.saturating_add(v.saturating_mul(self.config.price_bump_percent) / 100);
            let min_fee = bump(old.max_fee());
            let old_tip = old.tx.max_priority_fee_per_gas().unwrap_or(old.max_fee());
            let new_tip = tx.max_priority_fee_per_gas().unwrap_or(fee);
            if fee < min_fee || new_tip < bump(old_tip) {
                return Err(PoolError::ReplacementUnderpriced {
                    min: min_fee,
                    got: fee,
                });
            }
        } else {
            let count = existing.map_or(0, |t| t.len());
            if count >= self.config.max_per_sender {
                return Err(PoolError::SenderLimit(count));
            }
            if self.by_hash.len() >= self.config.max_transactions {
                // A full pool makes room for an executable transaction by dropping
                // one stuck behind a nonce gap first (a pool full of gapped
                // transactions would otherwise stall every sender), then by price.
                // A transaction that would itself wait behind a gap gets no room.
                let gapped = self.first_gap(&sender, account.nonce) < nonce;
                if gapped || !(self.evict_queued(sender) || self.evict_cheaper_than(fee, sender)) {
                    return Err(PoolError::PoolFull);
                }
            }
        }
        self.base_nonce.insert(sender, account.nonce);
        for a in &authorities {
            *self.authorities.entry(*a).or_default() += 1;
        }
        let entry = PooledTx {
            tx,
            sender,
            hash,
            authorities,
        };
        if let Some(old) = self
            .by_sender
            .entry(sender)
            .or_default()
            .insert(nonce, entry)
        {
            self.by_hash.remove(&old.hash);
            forget_authorities(&mut self.authorities, &old.authorities);
        }
        self.by_hash.insert(hash, (sender, nonce));
        Ok(hash)
    }

    /// geth's EIP-7702 pool rules. A delegated sender, or one that a pooled
    /// set-code transaction names as authority (its nonce and code may change
    /// under its pooled transactions), keeps at most one transaction in flight
    /// (replacing it is allowed). An authority of a new set-code transaction
    /// may not have more than one pooled transaction.
    fn check_delegation(
        &self,
        sender: Address,
        nonce: u64,
        account: &crate::execution::state::AccountRecord,
        authorities: &[Address],
    ) -> Result<(), PoolError> {
        let pooled = self.by_sender.get(&sender);
        let delegated = account.code_hash != revm::primitives::KECCAK_EMPTY
            || self.authorities.contains_key(&sender);
        if delegated {
            let count = pooled.map_or(0, BTreeMap::len);
            let replaces = pooled.is_some_and(|t| t.contains_key(&nonce));
            if count >= 1 && !replaces {
                return Err(PoolError::InflightLimit);
            }
        }
        for a in authorities {
            if self.by_sender.get(a).map_or(0, BTreeMap::len) > 1 {
                return Err(PoolError::AuthorityReserved);
            }
        }
        Ok(())
    }

    /// The first nonce from `base` on that `sender` has no pooled transaction for.
    fn first_gap(&self, sender: &Address, base: u64) -> u64 {
        let mut n = base;
        if let Some(txs) = self.by_sender.get(sender) {
            while txs.contains_key(&n) {
                n += 1;
            }
        }
        n
    }

    /// Evicts the last queued (behind a nonce gap) transaction of another sender,
    /// the cheapest such one. Returns whether one was evicted.
    fn evict_queued(&mut self, sender: Address) -> bool {
        let victim = self
            .by_sender
            .iter()
            .filter(|(s, _)| **s != sender)
            .filter_map(|(s, txs)| {
                let (last, t) = txs.iter().next_back()?;
                let base = self.base_nonce.get(s).copied().unwrap_or(0);
                (*last >= self.first_gap(s, base)).then(|| (t.max_fee(), *s, *last))
            })
            .min();
        match victim {
            Some((_, s, n)) => {
                self.remove(&s, n);
                true
            }
            None => false,
        }
    }

    /// Evicts the cheapest last-nonce transaction of another sender if it pays less
    /// than `fee`. Evicting the highest nonce of a sender never opens a gap.
    fn evict_cheaper_than(&mut self, fee: u128, sender: Address) -> bool {
        let victim = self
            .by_sender
            .iter()
            .filter(|(s, _)| **s != sender)
            .filter_map(|(s, txs)| txs.iter().next_back().map(|(n, t)| (t.max_fee(), *s, *n)))
            .min();
        match victim {
            Some((victim_fee, s, n)) if victim_fee < fee => {
                self.remove(&s, n);
                true
            }
            _ => false,
        }
    }

    fn remove(&mut self, sender: &Address, nonce: u64) {
        if let Some(txs) = self.by_sender.get_mut(sender) {
            if let Some(t) = txs.remove(&nonce) {
                self.by_hash.remove(&t.hash);
                forget_authorities(&mut self.authorities, &t.authorities);
            }
            if txs.is_empty() {
                self.by_sender.remove(sender);
                self.base_nonce.remove(sender);
            }
        }
    }

    /// The next nonce `sender` should use: the account nonce followed by the
    /// sender's consecutive pooled nonces.
    pub fn pending_nonce<S: StateReader + ?Sized>(
        &self,
        sender: &Address,
        state: &S,
    ) -> Result<u64, PoolError> {
        let mut nonce = state.account(sender)?.map_or(0, |a| a.nonce);
        if let Some(txs) = self.by_sender.get(sender) {
            while txs.contains_key(&nonce) {
                nonce += 1;
            }
        }
        Ok(nonce)
    }

    /// The sender of pooled transaction `hash` (recovered at admission).
    pub fn sender_of(&self, hash: &B256) -> Option<Address> {
        self.by_hash.get(hash).map(|(sender, _)| *sender)
    }

    /// A pooled transaction and its sender.
    pub fn get(&self, hash: &B256) -> Option<(TxEnvelope, Address)> {
        let (sender, nonce) = self.by_hash.get(hash)?;
        let t = self.by_sender.get(sender)?.get(nonce)?;
        Some((t.tx.clone(), t.sender))
    }

    /// Every pooled transaction, split as `txpool_content` shows them: pending
    /// (the sender's consecutive nonces from its account nonce on) and queued
    /// (behind a nonce gap); each list ordered by sender, then nonce.
    pub fn content<S: StateReader + ?Sized>(&self, state: &S) -> Result<PoolContent, PoolError> {
        let mut content = PoolContent::default();
        let mut senders: Vec<&Address> = self.by_sender.keys().collect();
        senders.sort_unstable();
        for sender in senders {
            let next = self.pending_nonce(sender, state)?;
            for (nonce, t) in &self.by_sender[sender] {
                let entry = (*sender, *nonce, t.tx.clone());
                if *nonce < next {
                    content.pending.push(entry);
                } else {
                    content.queued.push(entry);
                }
            }
        }
        Ok(content)
    }

    /// Pending transactions (each sender's consecutive nonces from its account
    /// nonce on), EIP-2718 encoded, sender by sender (ascending address) in nonce
    /// order, until `max_txs` of them or `max_bytes` of encodings: what this node
    /// offers a newly connected peer, so a transaction pooled while the node had
    /// no peers still gets out. Queued transactions (behind a nonce gap) are not
    /// offered: they cannot run yet.
    pub fn pending_encoded<S: StateReader + ?Sized>(
        &self,
        state: &S,
        max_txs: usize,
        max_bytes: usize,
    ) -> Result<Vec<Bytes>, PoolError> {
        let mut senders: Vec<&Address> = self.by_sender.keys().collect();
        senders.sort_unstable();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for sender in senders {
            let txs = &self.by_sender[sender];
            let mut nonce = state.account(sender)?.map_or(0, |a| a.nonce);
            while let Some(t) = txs.get(&nonce) {
                let len = t.tx.encode_2718_len();
                if out.len() >= max_txs || bytes.saturating_add(len) > max_bytes {
                    return Ok(out);
                }
                bytes += len;
                out.push(Bytes::from(t.tx.encoded_2718()));
                let Some(next) = nonce.checked_add(1) else {
                    break;
                };
                nonce = next;
            }
        }
        Ok(out)
    }

    /// (pending, queued) counts: executable now vs. waiting behind a nonce gap.
    pub fn counts<S: StateReader + ?Sized>(&self, state: &S) -> Result<(usize, usize), PoolError> {
        let mut pending = 0;
        for sender in self.by_sender.keys() {
            let account_nonce = state.account(sender)?.map_or(0, |a| a.nonce);
            pending += (self.pending_nonce(sender, state)? - account_nonce) as usize;
        }
        Ok((pending, self.len() - pending))
    }

    /// Pending transactions in block-building order: at each step the sender
    /// whose next transaction pays the highest effective tip at `base_fee`; each
    /// sender's transactions stay in nonce order.
    pub fn best<S: StateReader + ?Sized>(
        &self,
        state: &S,
        base_fee: Option<u64>,
    ) -> Result<Vec<(TxEnvelope, Address)>, PoolError> {
        let tip = |t: &PooledTx| match base_fee {
            Some(b) => t.tx.effective_tip_per_gas(b).unwrap_or(0),
            None => t.tx.max_fee_per_gas(),
        };
        let mut queues: HashMap<Address, Vec<&PooledTx>> = HashMap::new();
        for (sender, txs) in &self.by_sender {
            let mut nonce = state.account(sender)?.map_or(0, |a| a.nonce);
            let mut seq = Vec::new();
            while let Some(t) = txs.get(&nonce) {
                seq.push(t);
                nonce += 1;
            }
            seq.reverse();
            if !seq.is_empty() {
                queues.insert(*sender, seq);
            }
        }
        let mut heap: BinaryHeap<(u128, std::cmp::Reverse<Address>)> = queues
            .iter()
            .filter_map(|(s, q)| q.last().map(|t| (tip(t), std::cmp::Reverse(*s))))
            .collect();
        let mut out = Vec::new();
        while let Some((_, std::cmp::Reverse(sender))) = heap.pop() {
            let Some(queue) = queues.get_mut(&sender) else {
                continue;
            };
            if let Some(t) = queue.pop() {
                if base_fee.is_some_and(|b| t.tx.max_fee_per_gas() < u128::from(b)) {
                    continue; // cannot pay the base fee; later nonces cannot run either
                }
                out.push((t.tx.clone(), t.sender));
                if let Some(next) = queue.last() {
                    heap.push((tip(next), std::cmp::Reverse(sender)));
                }
            }
        }
        Ok(out)
    }

    /// Drops transactions made stale by a committed block (nonce below the
    /// account nonce), for every sender in the pool.
    pub fn prune<S: StateReader + ?Sized>(&mut self, state: &S) -> Result<usize, PoolError> {
        let mut removed = 0;
        let senders: Vec<Address> = self.by_sender.keys().copied().collect();
        for sender in senders {
            let nonce = state.account(&sender)?.map_or(0, |a| a.nonce);
            self.base_nonce.insert(sender, nonce);
            let stale: Vec<u64> = self
                .by_sender
                .get(&sender)
                .map(|t| t.range(..nonce).map(|(n, _)| *n).collect())
                .unwrap_or_default();
            for n in stale {
                self.remove(&sender, n);
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::memory_state::MemoryState;
    use alloy_consensus::{SignableTransaction, TxEip1559, TxLegacy};
    use alloy_primitives::{Bytes, TxKind};
    use alloy_signer::SignerSync;
    use alloy_signer_local::PrivateKeySigner;

    fn key(n: u8) -> PrivateKeySigner {
        PrivateKeySigner::from_bytes(&B256::repeat_byte(n))
            .unwrap_or_else(|_| PrivateKeySigner::random())
    }

    fn tx(k: &PrivateKeySigner, chain_id: u64, nonce: u64, fee: u128, gas: u64) -> TxEnvelope {
        let t = TxEip1559 {
            chain_id,
            nonce,
            gas_limit: gas,
            max_fee_per_gas: fee,
            max_priority_fee_per_gas: fee,
            to: TxKind::Call(Address::repeat_byte(9)),
            value: U256::from(1),
            access_list: Default::default(),
            input: Bytes::new(),
        };
        let sig = k
            .sign_hash_sync(&t.signature_hash())
            .unwrap_or_else(|_| unreachable!());
        t.into_signed(sig).into()
    }

    fn setup(keys: &[&PrivateKeySigner]) -> (TxPool, MemoryState) {
        let mut state = MemoryState::default();
        for k in keys {
            let inserted =
                state.insert_account(k.address(), 0, U256::from(10u128.pow(20)), Bytes::new(), []);
            assert!(inserted.is_ok());
        }
        let pool = TxPool::new(PoolConfig {
            chain_id: 7,
            max_transactions: 4,
            max_per_sender: 3,
            ..Default::default()
        });
        (pool, state)
    }

    #[test]
    fn rejections_leave_the_pool_unchanged() {
        let a = key(1);
        let poor = key(2);
        let (mut pool, state) = setup(&[&a]);
        assert!(matches!(
            pool.add_raw(&[0x02, 0xff], &state),
            Err(PoolError::Malformed(_))
        ));
        assert!(matches!(
            pool.add_raw(&[], &state),
            Err(PoolError::Malformed(_))
        ));
        assert!(matches!(
            pool.add_raw(&vec![0u8; 200_000], &state),
            Err(PoolError::Oversize { .. })
        ));
        assert!(matches!(
            pool.add(tx(&a, 8, 0, 10, 21_000), &state),
            Err(PoolError::WrongChainId { .. })
        ));
        assert!(matches!(
            pool.add(tx(&a, 7, 0, 10, 20_000), &state),
            Err(PoolError::IntrinsicGas { needed: 21_000, .. })
        ));
        assert!(matches!(
            pool.add(tx(&poor, 7, 0, 10, 21_000), &state),
            Err(PoolError::InsufficientFunds { .. })
        ));
        assert!(matches!(
            pool.add(tx(&a, 7, 0, 0, 21_000), &state),
            Err(PoolError::FeeTooLow { .. })
        ));
        assert!(matches!(
            pool.add(tx(&a, 7, 0, 10, 100_000_000), &state),
            Err(PoolError::GasLimitTooHigh { .. })
        ));
        // A legacy transaction without EIP-155 chain id.
        let legacy = TxLegacy {
            chain_id: None,
            nonce: 0,
            gas_price: 10,
            gas_limit: 21_000,
            to: TxKind::Call(Address::ZERO),
            value: U256::ZERO,
            input: Bytes::new(),
        };
        let sig = a
            .sign_hash_sync(&legacy.signature_hash())
            .unwrap_or_else(|_| unreachable!());
        let legacy: TxEnvelope = legacy.into_signed(sig).into();
        assert!(matches!(
            pool.add(legacy, &state),
            Err(PoolError::WrongChainId { got: None, .. })
        ));
        // Corrupt the signature of a valid raw transaction.
        let mut raw = tx(&a, 7, 0, 10, 21_000).encoded_2718();
        let last = raw.len() - 1;
        raw[last] ^= 0xff;
        raw[last - 33] ^= 0xff;
        assert!(pool.add_raw(&raw, &state).is_err());
        assert!(pool.is_empty());
    }

    #[test]
    fn blob_transactions_are_refused_as_such() {
        let a = key(1);
        let state = MemoryState::default();
        let mut pool = TxPool::new(PoolConfig {
            chain_id: 7,
            ..PoolConfig::default()
        });
        let blob = alloy_consensus::TxEip4844 {
            chain_id: 7,
            gas_limit: 21_000,
            max_fee_per_gas: 10,
            max_fee_per_blob_gas: 10,
            to: Address::repeat_byte(9),
            blob_versioned_hashes: vec![B256::repeat_byte(1)],
            ..Default::default()
        };
        let sig = a
            .sign_hash_sync(&blob.signature_hash())
            .unwrap_or_else(|_| unreachable!());
        let blob: TxEnvelope = blob.into_signed(sig).into();
        assert_eq!(
            pool.add(blob.clone(), &state),
            Err(PoolError::BlobUnsupported)
        );
        assert_eq!(
            pool.add_raw(&blob.encoded_2718(), &state),
            Err(PoolError::BlobUnsupported)
        );
        // With a sidecar, larger than any pool admits: still named for what it is.
        let mut big = vec![3u8];
        big.resize(MAX_TX_BYTES * 2, 0);
        assert_eq!(pool.add_raw(&big, &state), Err(PoolError::BlobUnsupported));
        assert!(pool.is_empty());
    }

    /// A set-code transaction from `k` (nonce `nonce`) carrying one authorization
    /// by each of `authorities` (their nonce 0) delegating to 0x…dd.
    fn set_code(
        k: &PrivateKeySigner,
        nonce: u64,
        fee: u128,
        authorities: &[&PrivateKeySigner],
    ) -> TxEnvelope {
        let authorization_list = authorities
            .iter()
            .map(|a| {
                let auth = alloy_eips::eip7702::Authorization {
                    chain_id: U256::from(7),
                    address: Address::repeat_byte(0xdd),
                    nonce: 0,
                };
                let sig = a
                    .sign_hash_sync(&auth.signature_hash())
                    .unwrap_or_else(|_| unreachable!());
                auth.into_signed(sig)
            })
            .collect();
        let t = alloy_consensus::TxEip7702 {
            chain_id: 7,
            nonce,
            gas_limit: 100_000,
            max_fee_per_gas: fee,
            max_priority_fee_per_gas: fee,
            to: Address::repeat_byte(9),
            authorization_list,
            ..Default::default()
        };
        let sig = k
            .sign_hash_sync(&t.signature_hash())
            .unwrap_or_else(|_| unreachable!());
        t.into_signed(sig).into()
    }

    #[test]
    fn set_code_transactions_follow_geths_pool_rules() -> Result<(), PoolError> {
        let (a, b, c) = (key(1), key(3), key(4));
        let (mut pool, mut state) = setup(&[&a, &b, &c]);
        // Before Prague: not this chain's type yet.
        pool.set_spec(SpecId::CANCUN);
        assert_eq!(
            pool.add(set_code(&a, 0, 10, &[&b]), &state),
            Err(PoolError::UnsupportedType(4))
        );
        pool.set_spec(SpecId::PRAGUE);
        assert_eq!(
            pool.add(set_code(&a, 0, 10, &[]), &state),
            Err(PoolError::EmptyAuthorizationList)
        );
        assert!(pool.is_empty());
        // b authorizes; b then keeps one transaction in flight (a replacement is fine).
        pool.add(set_code(&a, 0, 10, &[&b]), &state)?;
        pool.add(tx(&b, 7, 0, 10, 21_000), &state)?;
        assert_eq!(
            pool.add(tx(&b, 7, 1, 10, 21_000), &state),
            Err(PoolError::InflightLimit)
        );
        pool.add(tx(&b, 7, 0, 20, 21_000), &state)?;
        assert_eq!(pool.len(), 2);
        // An authority with more than one pooled transaction cannot be named.
        pool.add(tx(&c, 7, 0, 10, 21_000), &state)?;
        pool.add(tx(&c, 7, 1, 10, 21_000), &state)?;
        assert_eq!(
            pool.add(set_code(&a, 1, 10, &[&c]), &state),
            Err(PoolError::AuthorityReserved)
        );
        assert_eq!(pool.len(), 4);
        // Once the set-code transaction is gone, b is free again.
        let a_nonce = |state: &mut MemoryState, n: u64| {
            state.insert_account(a.address(), n, U256::from(10u128.pow(20)), Bytes::new(), [])
        };
        a_nonce(&mut state, 1).map_err(PoolError::from)?;
        pool.prune(&state)?;
        pool.add(tx(&b, 7, 1, 10, 21_000), &state)?;
        // A delegated account (its code is 0xef0100 || address) keeps one in flight.
        let (mut pool, mut state) = setup(&[&a]);
        let mut designator = vec![0xef, 0x01, 0x00];
        designator.extend_from_slice(Address::repeat_byte(0xdd).as_slice());
        state
            .insert_account(
                b.address(),
                0,
                U256::from(10u128.pow(20)),
                designator.into(),
                [],
            )
            .map_err(PoolError::from)?;
        pool.add(tx(&b, 7, 0, 10, 21_000), &state)?;
        assert_eq!(
            pool.add(tx(&b, 7, 1, 10, 21_000), &state),
            Err(PoolError::InflightLimit)
        );
        assert_eq!(pool.len(), 1);
        Ok(())
    }

    #[test]
    fn only_pending_transactions_are_offered_to_peers() -> Result<(), PoolError> {
        let a = key(1);
        let b = key(3);
        let (mut pool, state) = setup(&[&a, &b]);
        let a0 = tx(&a, 7, 0, 10, 21_000);
        let a1 = tx(&a, 7, 1, 10, 21_000);
        pool.add(a0.clone(), &state)?;
        pool.add(a1.clone(), &state)?;
        pool.add(tx(&b, 7, 1, 10, 21_000), &state)?; // b's nonce 0 is missing: queued
        let offered = pool.pending_encoded(&state, 10, 1 << 20)?;
        let expected: Vec<Bytes> = [a0, a1]
            .iter()
            .map(|t| Bytes::from(t.encoded_2718()))
            .collect();
        assert_eq!(offered, expected);
        // A transaction's hash is that of its encoding: gossip skips pooled
        // ones by it before recovering a sender.
        assert!(pool.contains(&alloy_primitives::keccak256(&offered[1])));
        // Either bound stops the list (a sender's run is cut, not skipped).
        assert_eq!(
            pool.pending_encoded(&state, 1, 1 << 20)?,
            expected[..1].to_vec()
        );
        let one = expected[0].len();
        assert_eq!(
            pool.pending_encoded(&state, 10, one)?,
            expected[..1].to_vec()
        );
        assert!(pool.pending_encoded(&state, 0, 1 << 20)?.is_empty());
        assert!(pool.pending_encoded(&state, 10, one - 1)?.is_empty());
        Ok(())
    }

    #[test]
    fn nonce_order_replacement_pending_and_queued() -> Result<(), PoolError> {
        let a = key(1);
        let b = key(3);
        let (mut pool, state) = setup(&[&a, &b]);
        pool.add(tx(&a, 7, 0, 10, 21_000), &state)?;
        pool.add(tx(&a, 7, 2, 10, 21_000), &state)?; // gap: queued
        assert_eq!(pool.counts(&state)?, (1, 1));
        assert_eq!(pool.pending_nonce(&a.address(), &state)?, 1);
        pool.add(tx(&a, 7, 1, 10, 21_000), &state)?;
        assert_eq!(pool.counts(&state)?, (3, 0));
        assert_eq!(pool.pending_nonce(&a.address(), &state)?, 3);
        // Replacement needs +10 %.
        assert!(matches!(
            pool.add(tx(&a, 7, 1, 10, 21_001), &state),
            Err(PoolError::ReplacementUnderpriced { .. })
        ));
        let replacement = pool.add(tx(&a, 7, 1, 11, 21_000), &state)?;
        assert!(pool.contains(&replacement));
        assert_eq!(pool.len(), 3);
        assert_eq!(
            pool.add(tx(&a, 7, 3, 10, 21_000), &state),
            Err(PoolError::SenderLimit(3))
        );
        // b pays more: its transaction comes first; a's stay in nonce order.
        pool.add(tx(&b, 7, 0, 50, 21_000), &state)?;
        let best = pool.best(&state, None)?;
        assert_eq!(best.len(), 4);
        assert_eq!(best[0].1, b.address());
        let a_nonces: Vec<u64> = best
            .iter()
            .filter(|(_, s)| *s == a.address())
            .map(|(t, _)| t.nonce())
            .collect();
        assert_eq!(a_nonces, vec![0, 1, 2]);
        // Full (4): a cheaper newcomer is refused, a richer one evicts the cheapest tail.
        let c = key(4);
        let (_, mut st2) = setup(&[&c]);
        for (addr, rec) in state.accounts()? {
            st2.insert_account(addr, rec.nonce, rec.balance, Bytes::new(), [])?;
        }
        assert_eq!(
            pool.add(tx(&c, 7, 0, 5, 21_000), &st2),
            Err(PoolError::PoolFull)
        );
        pool.add(tx(&c, 7, 0, 100, 21_000), &st2)?;
        assert_eq!(pool.len(), 4);
        assert_eq!(pool.pending_nonce(&a.address(), &st2)?, 2);
        // After a block with a's nonces 0 and 1, they are pruned.
        let mut after = st2.clone();
        after.insert_account(a.address(), 2, U256::from(10u128.pow(20)), Bytes::new(), [])?;
        assert_eq!(pool.prune(&after)?, 2);
        assert_eq!(pool.len(), 2);
        Ok(())
    }

    #[test]
    fn a_pool_full_of_gapped_transactions_still_admits_executable_ones() -> Result<(), PoolError> {
        let (a, b, c) = (key(1), key(3), key(4));
        let (mut pool, state) = setup(&[&a, &b, &c]);
        // a and b fill the pool (4) with transactions behind nonce gaps.
        for n in [1, 2] {
            pool.add(tx(&a, 7, n, 50, 21_000), &state)?;
            pool.add(tx(&b, 7, n, 50, 21_000), &state)?;
        }
        assert_eq!(pool.counts(&state)?, (0, 4));
        // Another gapped transaction gets no room, whatever it pays.
        assert_eq!(
            pool.add(tx(&c, 7, 1, 1_000, 21_000), &state),
            Err(PoolError::PoolFull)
        );
        // An executable one evicts a gapped tail (never opening a new gap), even
        // when it pays less.
        let h = pool.add(tx(&c, 7, 0, 10, 21_000), &state)?;
        assert!(pool.contains(&h));
        assert_eq!(pool.len(), 4);
        assert_eq!(pool.counts(&state)?, (1, 3));
        assert_eq!(pool.best(&state, None)?.len(), 1);
        // Filling a's gap makes a's queue executable.
        pool.add(tx(&c, 7, 1, 10, 21_000), &state)?;
        pool.add(tx(&a, 7, 0, 60, 21_000), &state)?;
        let (pending, _) = pool.counts(&state)?;
        assert!(pending >= 3, "a's nonces 0.. and c's are executable");
        Ok(())
    }
}
