//! The read side of the chain database: [`ChainReader`], the one handle that
//! JSON-RPC, the consensus committee ([`crate::consensus::committee`]) and tools
//! read the chain through, and [`StoreState`], a consistent snapshot of the head
//! state that revm and the state root read. A reader cannot write: only the
//! execution service holds the [`super::Store`] that commits blocks.

use std::sync::Arc;

use alloy_primitives::{Address, B256, Bytes, U256};
use alloy_trie::EMPTY_ROOT_HASH;
use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition};

use super::tables::{
    ACCOUNTS, BODIES, CANONICAL, CERTIFICATES, CODE, HASH_TO_NUMBER, HEADERS, Head, META,
    META_HEAD, NodeCache, RECEIPTS, SENDERS, STORAGE, TRIE_NODES, TX_INDEX, TxLocation, corrupt,
    storage_key,
};
use crate::execution::state::{AccountRecord, StateReader, StorageError};

/// A read handle on the chain database. Clones share the one open database
/// (redb allows one writer and any number of concurrent readers), and each read
/// is its own read transaction, so a reader never sees half a block.
#[derive(Clone)]
pub struct ChainReader {
    pub(super) db: Arc<Database>,
    pub(super) nodes: Arc<NodeCache>,
}

impl std::fmt::Debug for ChainReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainReader").finish_non_exhaustive()
    }
}

impl ChainReader {
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
