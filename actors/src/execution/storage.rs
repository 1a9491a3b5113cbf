//! Persistent chain storage in redb.
//!
//! Tables: headers, bodies, certificates, receipts (opaque encoded bytes, by
//! block number), the recovered senders of each block's transactions (so that
//! readers never recover signatures again), the canonical chain (number → hash, hash → number), the
//! transaction index (tx hash → block number and position), the state (accounts,
//! storage, code), the trie nodes of the account trie and of every storage trie
//! (`trie_nodes`: `keccak256(node) → node`, shared by all tries, content-addressed)
//! and metadata (the head, whose state root is the account trie's root).
//!
//! [`Store::commit_block`] writes a block, its certificate, its receipts, its
//! state changes and its new trie nodes in **one** redb write transaction,
//! committed with fsync: after a crash the store holds either the previous head or
//! the new one, never half a block, and the head's root resolves from stored nodes.
//!
//! Trie nodes are never deleted (no pruning): superseded nodes stay in
//! `trie_nodes`. Stores written before the trie table existed have no nodes and
//! must be re-synced from genesis.

use std::{
    collections::{BTreeMap, HashMap},
    path::Path,
    sync::{
        Arc, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use alloy_primitives::{Address, B256, Bytes, U256};
use redb::{Database, Durability, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition};

use alloy_trie::EMPTY_ROOT_HASH;

use crate::execution::state::{AccountRecord, ChangeSet, StateReader, StorageError};
use crate::execution::state_root::TrieNodes;

const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
const BODIES: TableDefinition<u64, &[u8]> = TableDefinition::new("bodies");
const CERTIFICATES: TableDefinition<u64, &[u8]> = TableDefinition::new("certificates");
const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
/// block number → the senders of its transactions, 20 bytes each, in block order.
/// Blocks committed before this table existed have no entry (readers recover).
const SENDERS: TableDefinition<u64, &[u8]> = TableDefinition::new("senders");
const CANONICAL: TableDefinition<u64, &[u8]> = TableDefinition::new("canonical");
const HASH_TO_NUMBER: TableDefinition<&[u8], u64> = TableDefinition::new("hash_to_number");
/// tx hash → block number (8 bytes BE) ‖ index in block (4 bytes BE).
const TX_INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tx_index");
const ACCOUNTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("accounts");
/// address (20) ‖ slot (32 BE) → value (32 BE); zero values are never stored.
const STORAGE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("storage");
const CODE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("code");
/// node hash (32) → RLP-encoded trie node (account and storage tries).
const TRIE_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("trie_nodes");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

const META_HEAD: &str = "head";

crate::redb_error::redb_errors_into!(StorageError::Database);

/// The canonical head of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// State root after the block.
    pub state_root: B256,
}

impl Head {
    fn encode(&self) -> [u8; 72] {
        let mut out = [0u8; 72];
        out[..8].copy_from_slice(&self.number.to_be_bytes());
        out[8..40].copy_from_slice(self.hash.as_slice());
        out[40..].copy_from_slice(self.state_root.as_slice());
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        if bytes.len() != 72 {
            return Err(corrupt("meta", "head record length"));
        }
        let mut number = [0u8; 8];
        number.copy_from_slice(&bytes[..8]);
        Ok(Self {
            number: u64::from_be_bytes(number),
            hash: B256::from_slice(&bytes[8..40]),
            state_root: B256::from_slice(&bytes[40..]),
        })
    }
}

fn corrupt(table: &'static str, reason: &str) -> StorageError {
    StorageError::Corrupt {
        table,
        reason: reason.to_string(),
    }
}

/// Everything one committed block writes.
#[derive(Clone, Debug)]
pub struct BlockCommit<'a> {
    /// Block number (must be head + 1, or 0 for genesis on an empty store).
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Encoded header.
    pub header: &'a [u8],
    /// Encoded body (transactions).
    pub body: &'a [u8],
    /// The certificate, opaque bytes from consensus (empty for genesis).
    pub certificate: &'a [u8],
    /// Encoded receipts.
    pub receipts: &'a [u8],
    /// Hashes of the block's transactions, in order.
    pub tx_hashes: &'a [B256],
    /// Recovered senders of the block's transactions, in order.
    pub senders: &'a [Address],
    /// State changes of the block.
    pub changes: &'a ChangeSet,
    /// New account records (with storage roots) from the state root computation.
    pub records: &'a BTreeMap<Address, Option<AccountRecord>>,
    /// New trie nodes from the state root computation.
    pub trie_nodes: &'a TrieNodes,
    /// State root after the block.
    pub state_root: B256,
}

/// Where a transaction was included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    /// Block number.
    pub block: u64,
    /// Index within the block.
    pub index: u32,
}

fn storage_key(address: &Address, slot: &U256) -> [u8; 52] {
    let mut key = [0u8; 52];
    key[..20].copy_from_slice(address.as_slice());
    key[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    key
}

/// A redb-backed chain store. Clones share the one open database (redb allows one
/// writer and any number of concurrent readers): the execution resource writes
/// through its handle, readers such as the consensus registry and JSON-RPC read through theirs.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    nodes: Arc<NodeCache>,
}

/// Bytes of trie nodes kept in memory by [`NodeCache`] before it is emptied.
/// Superseded nodes stay until then, so under load the cache fills steadily: the
/// bound is part of the node's memory budget (docs/design.md, "Storage").
pub const NODE_CACHE_BYTES: usize = 64 << 20;

/// redb's page cache (its default, 1 GiB, would let the store alone grow past
/// the node's memory budget under sustained load; the OS page cache is behind it).
pub const STORE_CACHE_BYTES: usize = 64 << 20;

/// An in-memory cache of trie nodes in front of the `trie_nodes` table.
///
/// Nodes are immutable and keyed by their hash, so a cached node can never be
/// stale and the cache needs no invalidation. It is filled with the nodes of
/// committed blocks (only after their transaction committed) and with nodes read
/// from redb; when it exceeds [`NODE_CACHE_BYTES`] it is emptied (crude, but the
/// hot upper levels of the tries are re-read on the next block).
#[derive(Debug, Default)]
struct NodeCache {
    map: RwLock<HashMap<B256, Arc<[u8]>>>,
    bytes: AtomicUsize,
}

impl NodeCache {
    fn get(&self, hash: &B256) -> Option<Vec<u8>> {
        let map = self.map.read().ok()?;
        map.get(hash).map(|n| n.to_vec())
    }

    fn insert_many<'a>(&self, nodes: impl IntoIterator<Item = (&'a B256, &'a [u8])>) {
        let Ok(mut map) = self.map.write() else {
            return; // A poisoned cache is only a missed optimisation.
        };
        let mut added = 0usize;
        for (hash, node) in nodes {
            if map.insert(*hash, Arc::from(node)).is_none() {
                added += node.len() + 64;
            }
        }
        let total = self.bytes.fetch_add(added, Ordering::Relaxed) + added;
        if total > NODE_CACHE_BYTES {
            map.clear();
            self.bytes.store(0, Ordering::Relaxed);
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Store {
    /// Opens (or creates) the store at `path` and makes sure every table exists.
    pub fn open(path: &Path) -> Result<Self, StorageError> {
        let db = redb::Builder::new()
            .set_cache_size(STORE_CACHE_BYTES)
            .create(path)?;
        let tx = db.begin_write()?;
        tx.open_table(HEADERS)?;
        tx.open_table(BODIES)?;
        tx.open_table(CERTIFICATES)?;
        tx.open_table(RECEIPTS)?;
        tx.open_table(SENDERS)?;
        tx.open_table(CANONICAL)?;
        tx.open_table(HASH_TO_NUMBER)?;
        tx.open_table(TX_INDEX)?;
        tx.open_table(ACCOUNTS)?;
        tx.open_table(STORAGE)?;
        tx.open_table(CODE)?;
        tx.open_table(TRIE_NODES)?;
        tx.open_table(META)?;
        tx.commit()?;
        Ok(Self {
            db: Arc::new(db),
            nodes: Arc::new(NodeCache::default()),
        })
    }

    /// The canonical head, or `None` before genesis is committed.
    pub fn head(&self) -> Result<Option<Head>, StorageError> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(META)?;
        match meta.get(META_HEAD)? {
            Some(v) => Ok(Some(Head::decode(v.value())?)),
            None => Ok(None),
        }
    }

    /// A consistent snapshot of the head state (a redb read transaction).
    pub fn state(&self) -> Result<StoreState, StorageError> {
        let tx = self.db.begin_read()?;
        let state_root = match tx.open_table(META)?.get(META_HEAD)? {
            Some(v) => Head::decode(v.value())?.state_root,
            None => EMPTY_ROOT_HASH,
        };
        Ok(StoreState {
            state_root,
            cache: Arc::clone(&self.nodes),
            trie_nodes: tx.open_table(TRIE_NODES)?,
            accounts: tx.open_table(ACCOUNTS)?,
            storage: tx.open_table(STORAGE)?,
            code: tx.open_table(CODE)?,
            canonical: tx.open_table(CANONICAL)?,
        })
    }

    /// Writes a block with its certificate, receipts and state in one transaction.
    pub fn commit_block(&self, block: &BlockCommit<'_>) -> Result<(), StorageError> {
        let mut tx = self.db.begin_write()?;
        tx.set_durability(Durability::Immediate)?;
        {
            let mut meta = tx.open_table(META)?;
            let head = match meta.get(META_HEAD)? {
                Some(v) => Some(Head::decode(v.value())?),
                None => None,
            };
            match head {
                Some(h) if block.number != h.number.saturating_add(1) => {
                    return Err(StorageError::NotNextBlock {
                        number: block.number,
                        head: h.number,
                    });
                }
                None if block.number != 0 => return Err(StorageError::Empty),
                _ => {}
            }
            let n = block.number;
            tx.open_table(HEADERS)?.insert(n, block.header)?;
            tx.open_table(BODIES)?.insert(n, block.body)?;
            tx.open_table(CERTIFICATES)?.insert(n, block.certificate)?;
            tx.open_table(RECEIPTS)?.insert(n, block.receipts)?;
            let senders: Vec<u8> = block.senders.iter().flat_map(|a| a.into_array()).collect();
            tx.open_table(SENDERS)?.insert(n, senders.as_slice())?;
            tx.open_table(CANONICAL)?.insert(n, block.hash.as_slice())?;
            tx.open_table(HASH_TO_NUMBER)?
                .insert(block.hash.as_slice(), n)?;
            {
                // In key order, like the trie nodes below.
                let mut sorted: Vec<(&B256, u32)> = block.tx_hashes.iter().zip(0u32..).collect();
                sorted.sort_unstable_by_key(|(hash, _)| *hash);
                let mut index = tx.open_table(TX_INDEX)?;
                for (hash, i) in sorted {
                    let mut loc = [0u8; 12];
                    loc[..8].copy_from_slice(&n.to_be_bytes());
                    loc[8..].copy_from_slice(&i.to_be_bytes());
                    index.insert(hash.as_slice(), loc.as_slice())?;
                }
            }
            {
                let mut code = tx.open_table(CODE)?;
                for (hash, bytes) in &block.changes.codes {
                    code.insert(hash.as_slice(), bytes.as_ref())?;
                }
            }
            {
                // In key order: far fewer B-tree pages touched than hash-map order.
                let mut sorted: Vec<(&B256, &Vec<u8>)> = block.trie_nodes.iter().collect();
                sorted.sort_unstable_by_key(|(hash, _)| *hash);
                let mut nodes = tx.open_table(TRIE_NODES)?;
                for (hash, node) in sorted {
                    nodes.insert(hash.as_slice(), node.as_slice())?;
                }
            }
            {
                let mut storage = tx.open_table(STORAGE)?;
                for (address, change) in &block.changes.accounts {
                    if change.storage_wiped || change.info.is_none() {
                        let start = storage_key(address, &U256::ZERO);
                        let end = storage_key(address, &U256::MAX);
                        storage.retain_in(start.as_slice()..=end.as_slice(), |_, _| false)?;
                    }
                    if change.info.is_none() {
                        continue;
                    }
                    for (slot, value) in &change.storage {
                        let key = storage_key(address, slot);
                        if value.is_zero() {
                            storage.remove(key.as_slice())?;
                        } else {
                            storage.insert(key.as_slice(), value.to_be_bytes::<32>().as_slice())?;
                        }
                    }
                }
            }
            {
                let mut accounts = tx.open_table(ACCOUNTS)?;
                for (address, record) in block.records {
                    match record {
                        Some(r) => {
                            accounts.insert(address.as_slice(), r.encode().as_slice())?;
                        }
                        None => {
                            accounts.remove(address.as_slice())?;
                        }
                    }
                }
            }
            let new_head = Head {
                number: n,
                hash: block.hash,
                state_root: block.state_root,
            };
            meta.insert(META_HEAD, new_head.encode().as_slice())?;
        }
        tx.commit()?;
        self.nodes.insert_many(
            block
                .trie_nodes
                .iter()
                .map(|(hash, node)| (hash, node.as_slice())),
        );
        Ok(())
    }

    fn get_bytes(
        &self,
        table: TableDefinition<u64, &[u8]>,
        number: u64,
    ) -> Result<Option<Vec<u8>>, StorageError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(table)?;
        Ok(t.get(number)?.map(|v| v.value().to_vec()))
    }

    /// Encoded header of canonical block `number`.
    pub fn header(&self, number: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_bytes(HEADERS, number)
    }

    /// Encoded body of canonical block `number`.
    pub fn body(&self, number: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_bytes(BODIES, number)
    }

    /// Certificate of canonical block `number`.
    pub fn certificate(&self, number: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_bytes(CERTIFICATES, number)
    }

    /// Encoded receipts of canonical block `number`.
    pub fn receipts(&self, number: u64) -> Result<Option<Vec<u8>>, StorageError> {
        self.get_bytes(RECEIPTS, number)
    }

    /// Recovered senders of canonical block `number`'s transactions, in order;
    /// `None` for a block stored before senders were kept.
    pub fn senders(&self, number: u64) -> Result<Option<Vec<Address>>, StorageError> {
        let Some(bytes) = self.get_bytes(SENDERS, number)? else {
            return Ok(None);
        };
        if bytes.len() % 20 != 0 {
            return Err(corrupt("senders", "length not a multiple of 20"));
        }
        Ok(Some(
            bytes.chunks_exact(20).map(Address::from_slice).collect(),
        ))
    }

    /// Hash of canonical block `number`.
    pub fn canonical_hash(&self, number: u64) -> Result<Option<B256>, StorageError> {
        Ok(self
            .get_bytes(CANONICAL, number)?
            .filter(|b| b.len() == 32)
            .map(|b| B256::from_slice(&b)))
    }

    /// Number of the block with hash `hash`.
    pub fn block_number(&self, hash: &B256) -> Result<Option<u64>, StorageError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(HASH_TO_NUMBER)?;
        Ok(t.get(hash.as_slice())?.map(|v| v.value()))
    }

    /// Where transaction `hash` was included.
    pub fn tx_location(&self, hash: &B256) -> Result<Option<TxLocation>, StorageError> {
        let tx = self.db.begin_read()?;
        let t = tx.open_table(TX_INDEX)?;
        let Some(v) = t.get(hash.as_slice())? else {
            return Ok(None);
        };
        let bytes = v.value();
        if bytes.len() != 12 {
            return Err(corrupt("tx_index", "location length"));
        }
        let mut block = [0u8; 8];
        block.copy_from_slice(&bytes[..8]);
        let mut index = [0u8; 4];
        index.copy_from_slice(&bytes[8..]);
        Ok(Some(TxLocation {
            block: u64::from_be_bytes(block),
            index: u32::from_be_bytes(index),
        }))
    }
}

/// A read snapshot of the store's state; the revm database reads through it.
pub struct StoreState {
    state_root: B256,
    cache: Arc<NodeCache>,
    trie_nodes: ReadOnlyTable<&'static [u8], &'static [u8]>,
    accounts: ReadOnlyTable<&'static [u8], &'static [u8]>,
    storage: ReadOnlyTable<&'static [u8], &'static [u8]>,
    code: ReadOnlyTable<&'static [u8], &'static [u8]>,
    canonical: ReadOnlyTable<u64, &'static [u8]>,
}

impl std::fmt::Debug for StoreState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreState")
            .field("state_root", &self.state_root)
            .finish_non_exhaustive()
    }
}

impl StateReader for StoreState {
    fn account(&self, address: &Address) -> Result<Option<AccountRecord>, StorageError> {
        match self.accounts.get(address.as_slice())? {
            Some(v) => Ok(Some(AccountRecord::decode(v.value())?)),
            None => Ok(None),
        }
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StorageError> {
        let key = storage_key(address, slot);
        Ok(self
            .storage
            .get(key.as_slice())?
            .map(|v| U256::from_be_slice(v.value()))
            .unwrap_or_default())
    }

    fn storage_slots(&self, address: &Address) -> Result<Vec<(U256, U256)>, StorageError> {
        let start = storage_key(address, &U256::ZERO);
        let end = storage_key(address, &U256::MAX);
        let mut out = Vec::new();
        for entry in self.storage.range(start.as_slice()..=end.as_slice())? {
            let (k, v) = entry?;
            let key = k.value();
            if key.len() != 52 {
                return Err(corrupt("storage", "key length"));
            }
            out.push((
                U256::from_be_slice(&key[20..]),
                U256::from_be_slice(v.value()),
            ));
        }
        Ok(out)
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StorageError> {
        Ok(self
            .code
            .get(code_hash.as_slice())?
            .map(|v| Bytes::copy_from_slice(v.value())))
    }

    fn block_hash(&self, number: u64) -> Result<Option<B256>, StorageError> {
        Ok(self
            .canonical
            .get(number)?
            .map(|v| v.value().to_vec())
            .filter(|b| b.len() == 32)
            .map(|b| B256::from_slice(&b)))
    }

    fn accounts(&self) -> Result<Vec<(Address, AccountRecord)>, StorageError> {
        let mut out = Vec::new();
        for entry in self.accounts.iter()? {
            let (k, v) = entry?;
            let key = k.value();
            if key.len() != 20 {
                return Err(corrupt("accounts", "key length"));
            }
            out.push((Address::from_slice(key), AccountRecord::decode(v.value())?));
        }
        Ok(out)
    }

    fn state_root(&self) -> Result<B256, StorageError> {
        Ok(self.state_root)
    }

    fn trie_node(&self, hash: &B256) -> Result<Option<Vec<u8>>, StorageError> {
        if let Some(node) = self.cache.get(hash) {
            return Ok(Some(node));
        }
        let Some(guard) = self.trie_nodes.get(hash.as_slice())? else {
            return Ok(None);
        };
        let node = guard.value();
        self.cache.insert_many([(hash, node)]);
        Ok(Some(node.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::memory_state::MemoryState;
    use crate::execution::state::AccountChange;
    use crate::execution::state_root::state_root;
    use revm::primitives::KECCAK_EMPTY;

    fn commit(store: &Store, number: u64, changes: &ChangeSet) -> Result<B256, StorageError> {
        let state = store.state()?;
        let out = state_root(&state, changes)?;
        store.commit_block(&BlockCommit {
            number,
            hash: B256::with_last_byte(number as u8 + 1),
            header: b"h",
            body: b"b",
            certificate: b"c",
            receipts: b"r",
            tx_hashes: &[B256::repeat_byte(0xaa)],
            senders: &[Address::repeat_byte(0xbb)],
            changes,
            records: &out.records,
            trie_nodes: &out.nodes,
            state_root: out.root,
        })?;
        Ok(out.root)
    }

    #[test]
    fn store_matches_memory_state_root_and_rejects_gaps() -> Result<(), StorageError> {
        let dir = tempfile::tempdir().map_err(|e| StorageError::Database(e.to_string()))?;
        let store = Store::open(&dir.path().join("chain.redb"))?;
        assert_eq!(store.head()?, None);
        let a = Address::repeat_byte(1);
        let mut changes = ChangeSet::default();
        changes.set_account(a, 1, U256::from(100), KECCAK_EMPTY);
        changes
            .accounts
            .entry(a)
            .or_default()
            .storage
            .insert(U256::from(7), U256::from(9));
        let root0 = commit(&store, 0, &changes)?;

        let mut mem = MemoryState::default();
        mem.insert_account(
            a,
            1,
            U256::from(100),
            Bytes::new(),
            [(U256::from(7), U256::from(9))],
        )?;
        assert_eq!(state_root(&mem, &ChangeSet::default())?.root, root0);

        // Block 1 wipes the storage by deleting and re-creating the account.
        let mut changes = ChangeSet::default();
        changes.accounts.insert(
            a,
            AccountChange {
                info: Some((2, U256::from(5), KECCAK_EMPTY)),
                storage_wiped: true,
                storage: BTreeMap::new(),
            },
        );
        commit(&store, 1, &changes)?;
        let state = store.state()?;
        assert_eq!(state.storage(&a, &U256::from(7))?, U256::ZERO);
        assert_eq!(state.account(&a)?.map(|r| r.nonce), Some(2));
        assert_eq!(store.head()?.map(|h| h.number), Some(1));
        assert_eq!(
            store.tx_location(&B256::repeat_byte(0xaa))?,
            Some(TxLocation { block: 1, index: 0 })
        );
        assert!(matches!(
            commit(&store, 5, &ChangeSet::default()),
            Err(StorageError::NotNextBlock { number: 5, head: 1 })
        ));
        assert_eq!(store.certificate(1)?.as_deref(), Some(b"c".as_slice()));
        assert_eq!(store.senders(1)?, Some(vec![Address::repeat_byte(0xbb)]));
        assert_eq!(store.senders(7)?, None);
        Ok(())
    }
}
