//! The chain database's writer: [`Store`] opens the redb file and commits blocks.
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

use std::{collections::BTreeMap, ops::Deref, path::Path, sync::Arc};

use alloy_primitives::{Address, B256, U256};
use redb::{Durability, ReadableTable};

use super::reader::ChainReader;
use super::tables::{
    ACCOUNTS, BODIES, CANONICAL, CERTIFICATES, CODE, HASH_TO_NUMBER, HEADERS, Head, META,
    META_HEAD, NodeCache, RECEIPTS, SENDERS, STORAGE, STORE_CACHE_BYTES, TRIE_NODES, TX_INDEX,
    storage_key,
};
use crate::execution::state::{AccountRecord, ChangeSet, StorageError};
use crate::execution::state_root::TrieNodes;

/// Everything one committed block writes.
#[derive(Clone, Debug)]
pub struct BlockCommit<'a> {
    /// Block number (must be head + 1, or 0 for genesis on an empty store).
    pub number: u64,
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

/// The chain database's one writer, held by the execution service. It derefs to
/// its [`ChainReader`], so the writer reads like any reader; [`Store::reader`]
/// hands out read handles for JSON-RPC and the consensus committee.
pub struct Store {
    reader: ChainReader,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

impl Deref for Store {
    type Target = ChainReader;

    fn deref(&self) -> &ChainReader {
        &self.reader
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
            reader: ChainReader {
                db: Arc::new(db),
                nodes: Arc::new(NodeCache::default()),
            },
        })
    }

    /// A read handle on this database, for readers that outlive a borrow.
    pub fn reader(&self) -> ChainReader {
        self.reader.clone()
    }

    /// Writes a block with its certificate, receipts and state in one transaction.
    pub fn commit_block(&self, block: &BlockCommit<'_>) -> Result<(), StorageError> {
        let mut tx = self.reader.db.begin_write()?;
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
        self.reader.nodes.insert_many(
            block
                .trie_nodes
                .iter()
                .map(|(hash, node)| (hash, node.as_slice())),
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::memory_state::MemoryState;
    use crate::execution::state::AccountChange;
    use crate::execution::state::StateReader;
    use crate::execution::state_root::state_root;
    use crate::storage::TxLocation;
    use alloy_primitives::Bytes;
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
