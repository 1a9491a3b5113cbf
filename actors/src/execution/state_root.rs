//! The Ethereum Merkle-Patricia state root, computed **incrementally** over a
//! persistent trie.
//!
//! Every state (the redb store's head, or a [`MemoryState`](crate::execution::memory_state::MemoryState))
//! keeps the nodes of its account trie and of every account's storage trie,
//! content-addressed by `keccak256(rlp(node))`, and the current account trie root
//! ([`StateReader::state_root`]). A block's root is computed with
//! [`eth_trie::EthTrie`] opened at the parent's root over a [`NodeDb`] adapter:
//!
//! - for each account whose storage changed, its storage trie is opened at the
//!   account's stored storage root (or empty if the storage was wiped) and only
//!   the changed slots are inserted or removed (`keccak256(slot) → rlp(value)`);
//! - then only the changed accounts are inserted or removed in the account trie
//!   (`keccak256(address) → rlp(TrieAccount)`).
//!
//! Only the nodes on the paths of changed keys are read (lazily, from the base
//! state) and re-hashed: O(changes × depth), independent of the number of
//! accounts or slots. The new nodes are collected in memory in
//! [`StateRootOutput::nodes`]; nothing is written to the base. The caller persists
//! them with the block (the store writes them in the block's single write
//! transaction, see [`crate::storage`]).
//!
//! No pruning: nodes no longer referenced by the head's tries are kept (eth_trie's
//! removal hints are ignored). This is also what makes content addressing safe
//! when two tries share a node. A node table only grows; pruning (reference
//! counting or a reachability sweep) is future work.
//!
//! [`rebuild_state_root`] recomputes the root from scratch with alloy-trie over the
//! flat account and storage tables, and [`verify_stored_tries`] walks every stored
//! node of a state: both serve as independent checks (crash recovery, tests).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{
        Arc, RwLock,
        atomic::{AtomicU64, Ordering},
    },
};

use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount, root};
use eth_trie::{EthTrie, Trie, TrieError};

use crate::execution::state::{AccountRecord, ChangeSet, StateReader, StorageError};

/// New trie nodes by hash (`keccak256(node) → node`), to be persisted with a block.
pub type TrieNodes = HashMap<B256, Vec<u8>>;

/// How much trie work a root computation did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TrieStats {
    /// Nodes read from the base state (each is one stored-node lookup).
    pub node_reads: u64,
    /// Nodes hashed and written (new nodes of at least 32 bytes, and roots).
    pub node_writes: u64,
}

/// The result of hashing a state: its root, the new record of every changed
/// account, and the new trie nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateRootOutput {
    /// The state root after the change set.
    pub root: B256,
    /// New records of changed accounts (`None` = deleted), with fresh storage roots.
    pub records: BTreeMap<Address, Option<AccountRecord>>,
    /// Trie nodes created by the change set (account and storage tries).
    pub nodes: TrieNodes,
    /// Nodes read and written.
    pub stats: TrieStats,
}

/// An [`eth_trie::DB`] over a [`StateReader`]: reads stored nodes from the base
/// state, keeps new nodes in memory, never deletes (no pruning).
pub struct NodeDb<'a, S: StateReader + ?Sized> {
    base: &'a S,
    fresh: RwLock<TrieNodes>,
    reads: AtomicU64,
    writes: AtomicU64,
}

impl<'a, S: StateReader + ?Sized> NodeDb<'a, S> {
    /// An adapter over `base` with no new nodes yet.
    pub fn new(base: &'a S) -> Self {
        Self {
            base,
            fresh: RwLock::new(TrieNodes::new()),
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> TrieStats {
        TrieStats {
            node_reads: self.reads.load(Ordering::Relaxed),
            node_writes: self.writes.load(Ordering::Relaxed),
        }
    }

    /// Takes the new nodes.
    pub fn take_nodes(&self) -> Result<TrieNodes, StorageError> {
        let mut fresh = self.fresh.write().map_err(|_| poisoned())?;
        Ok(std::mem::take(&mut *fresh))
    }
}

fn poisoned() -> StorageError {
    StorageError::Trie("node cache lock poisoned".to_string())
}

impl<S: StateReader + ?Sized> eth_trie::DB for NodeDb<'_, S> {
    type Error = StorageError;

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, Self::Error> {
        let hash = B256::try_from(key).map_err(|_| StorageError::Corrupt {
            table: "trie_nodes",
            reason: format!("node key of {} bytes", key.len()),
        })?;
        if let Some(node) = self.fresh.read().map_err(|_| poisoned())?.get(&hash) {
            return Ok(Some(node.clone()));
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.base.trie_node(&hash)
    }

    fn insert(&self, key: &[u8], value: Vec<u8>) -> Result<(), Self::Error> {
        let hash = B256::try_from(key)
            .map_err(|_| StorageError::Trie(format!("node key of {} bytes", key.len())))?;
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.fresh
            .write()
            .map_err(|_| poisoned())?
            .insert(hash, value);
        Ok(())
    }

    fn remove(&self, _key: &[u8]) -> Result<(), Self::Error> {
        // No pruning: an old node may still be referenced by another trie or a
        // previous head.
        Ok(())
    }

    fn flush(&self) -> Result<(), Self::Error> {
        Ok(())
    }
}

pub(crate) fn trie_error(e: TrieError) -> StorageError {
    match e {
        TrieError::MissingTrieNode { node_hash, .. } => StorageError::MissingTrieNode(node_hash),
        other => StorageError::Trie(other.to_string()),
    }
}

/// Opens the trie with root `root` (the empty trie needs no stored node).
pub(crate) fn open<'a, S: StateReader + ?Sized>(
    db: &Arc<NodeDb<'a, S>>,
    root: B256,
) -> Result<EthTrie<NodeDb<'a, S>>, StorageError> {
    if root == EMPTY_ROOT_HASH {
        return Ok(EthTrie::new(Arc::clone(db)));
    }
    EthTrie::from(Arc::clone(db), root).map_err(|e| match e {
        TrieError::InvalidStateRoot => StorageError::MissingTrieNode(root),
        other => trie_error(other),
    })
}

// `..Default::default()` keeps this compiling if alloy-trie's `account-ext` feature
// (an extra field) is switched on by another crate.
#[allow(clippy::needless_update)]
pub(crate) fn trie_account(record: &AccountRecord) -> TrieAccount {
    TrieAccount {
        nonce: record.nonce,
        balance: record.balance,
        storage_root: record.storage_root,
        code_hash: record.code_hash,
        ..Default::default()
    }
}

/// Key of a slot in a storage trie.
pub(crate) fn slot_key(slot: &U256) -> B256 {
    keccak256(slot.to_be_bytes::<32>())
}

/// Storage trie root of non-zero slots, from scratch (alloy-trie).
pub fn storage_root(slots: &BTreeMap<U256, U256>) -> B256 {
    root::storage_root_unhashed(
        slots
            .iter()
            .filter(|(_, v)| !v.is_zero())
            .map(|(k, v)| (B256::from(*k), *v)),
    )
}

/// The state root of `base` with `changes` applied, the changed accounts'
/// records and the new trie nodes: incremental, see the module docs.
pub fn state_root<S: StateReader + ?Sized>(
    base: &S,
    changes: &ChangeSet,
) -> Result<StateRootOutput, StorageError> {
    let db = Arc::new(NodeDb::new(base));
    let mut records = BTreeMap::new();
    for (address, change) in &changes.accounts {
        let Some((nonce, balance, code_hash)) = change.info else {
            records.insert(*address, None);
            continue;
        };
        let previous = base.account(address)?;
        let old_root = match previous {
            Some(p) if !change.storage_wiped => p.storage_root,
            _ => EMPTY_ROOT_HASH,
        };
        let storage_root = if change.storage.is_empty() {
            old_root
        } else {
            let mut trie = open(&db, old_root)?;
            for (slot, value) in &change.storage {
                let key = slot_key(slot);
                if value.is_zero() {
                    trie.remove(key.as_slice()).map_err(trie_error)?;
                } else {
                    trie.insert(key.as_slice(), &alloy_rlp::encode(value))
                        .map_err(trie_error)?;
                }
            }
            trie.root_hash().map_err(trie_error)?
        };
        records.insert(
            *address,
            Some(AccountRecord {
                nonce,
                balance,
                code_hash,
                storage_root,
            }),
        );
    }
    let root = {
        let mut trie = open(&db, base.state_root()?)?;
        for (address, record) in &records {
            let key = keccak256(address);
            match record {
                Some(record) => trie
                    .insert(key.as_slice(), &alloy_rlp::encode(trie_account(record)))
                    .map_err(trie_error)?,
                None => {
                    trie.remove(key.as_slice()).map_err(trie_error)?;
                }
            }
        }
        trie.root_hash().map_err(trie_error)?
    };
    let nodes = db.take_nodes()?;
    let stats = db.stats();
    Ok(StateRootOutput {
        root,
        records,
        nodes,
        stats,
    })
}

/// The state root recomputed from scratch with alloy-trie over every account and
/// slot of `state` (O(state)); an independent check of the stored tries.
pub fn rebuild_state_root<S: StateReader + ?Sized>(state: &S) -> Result<B256, StorageError> {
    let mut accounts = Vec::new();
    for (address, record) in state.accounts()? {
        let slots: BTreeMap<U256, U256> = state.storage_slots(&address)?.into_iter().collect();
        let record = AccountRecord {
            storage_root: storage_root(&slots),
            ..record
        };
        accounts.push((address, trie_account(&record)));
    }
    Ok(root::state_root_unhashed(accounts))
}

/// Walks every stored node of `state`'s account trie and storage tries and checks
/// that they hold exactly the flat account and storage tables. Returns the number
/// of leaves visited. Fails with [`StorageError::MissingTrieNode`] if a node is
/// missing, or [`StorageError::Trie`] on any mismatch.
pub fn verify_stored_tries<S: StateReader + ?Sized>(state: &S) -> Result<usize, StorageError> {
    let db = Arc::new(NodeDb::new(state));
    let mut expected: HashMap<B256, AccountRecord> = state
        .accounts()?
        .into_iter()
        .map(|(a, r)| (keccak256(a), r))
        .collect();
    let by_key: HashMap<B256, Address> = state
        .accounts()?
        .into_iter()
        .map(|(a, _)| (keccak256(a), a))
        .collect();
    let mismatch = |what: String| StorageError::Trie(format!("stored trie mismatch: {what}"));
    let trie = open(&db, state.state_root()?)?;
    let mut leaves = 0usize;
    for item in trie.iter() {
        let (key, value) = item.map_err(trie_error)?;
        let key = B256::try_from(key.as_slice()).map_err(|_| mismatch("key length".into()))?;
        let account: TrieAccount = alloy_rlp::Decodable::decode(&mut value.as_slice())
            .map_err(|e| mismatch(e.to_string()))?;
        let record = expected
            .remove(&key)
            .ok_or_else(|| mismatch(format!("account leaf {key} not in table")))?;
        if trie_account(&record) != account {
            return Err(mismatch(format!("account {key}")));
        }
        let address = by_key
            .get(&key)
            .ok_or_else(|| mismatch(format!("account {key}")))?;
        let mut slots: HashMap<B256, U256> = state
            .storage_slots(address)?
            .into_iter()
            .map(|(k, v)| (slot_key(&k), v))
            .collect();
        let storage = open(&db, account.storage_root)?;
        for item in storage.iter() {
            let (key, value) = item.map_err(trie_error)?;
            let key = B256::try_from(key.as_slice()).map_err(|_| mismatch("slot key".into()))?;
            let value: U256 = alloy_rlp::Decodable::decode(&mut value.as_slice())
                .map_err(|e| mismatch(e.to_string()))?;
            if slots.remove(&key) != Some(value) {
                return Err(mismatch(format!("slot {key} of {address}")));
            }
            leaves += 1;
        }
        if !slots.is_empty() {
            return Err(mismatch(format!(
                "{} slots of {address} not in trie",
                slots.len()
            )));
        }
        leaves += 1;
    }
    if !expected.is_empty() {
        return Err(mismatch(format!("{} accounts not in trie", expected.len())));
    }
    Ok(leaves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::memory_state::MemoryState;
    use alloy_primitives::Bytes;

    #[test]
    fn empty_state_has_empty_root() {
        let out = state_root(&MemoryState::default(), &ChangeSet::default()).ok();
        assert_eq!(out.map(|o| o.root), Some(EMPTY_ROOT_HASH));
    }

    #[test]
    fn single_account_root_matches_known_value() -> Result<(), StorageError> {
        // One account 0x00..01 with balance 1 wei (cross-checked with geth's trie).
        let mut state = MemoryState::default();
        state.insert_account(
            Address::with_last_byte(1),
            0,
            U256::from(1),
            Bytes::new(),
            [],
        )?;
        let root = state_root(&state, &ChangeSet::default())?.root;
        let mut changes = ChangeSet::default();
        changes.set_account(
            Address::with_last_byte(1),
            0,
            U256::from(1),
            revm::primitives::KECCAK_EMPTY,
        );
        let again = state_root(&MemoryState::default(), &changes)?.root;
        assert_eq!(root, again);
        assert_ne!(root, EMPTY_ROOT_HASH);
        assert_eq!(rebuild_state_root(&state)?, root);
        assert_eq!(verify_stored_tries(&state)?, 1);
        Ok(())
    }
}
