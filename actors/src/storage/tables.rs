//! The chain database's layout: every redb table and its key and value
//! encoding, the head record, and the in-memory cache of trie nodes in front of
//! `trie_nodes`. Shared by the writer ([`super::Store`]) and the read handle
//! ([`super::ChainReader`]); nothing outside the storage room sees a table.

use std::{
    collections::HashMap,
    sync::{
        Arc, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use alloy_primitives::{Address, B256, U256};
use redb::TableDefinition;

use crate::execution::state::StorageError;

pub(super) const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
pub(super) const BODIES: TableDefinition<u64, &[u8]> = TableDefinition::new("bodies");
pub(super) const CERTIFICATES: TableDefinition<u64, &[u8]> = TableDefinition::new("certificates");
pub(super) const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
/// block number → the senders of its transactions, 20 bytes each, in block order.
/// Blocks committed before this table existed have no entry (readers recover).
pub(super) const SENDERS: TableDefinition<u64, &[u8]> = TableDefinition::new("senders");
pub(super) const CANONICAL: TableDefinition<u64, &[u8]> = TableDefinition::new("canonical");
pub(super) const HASH_TO_NUMBER: TableDefinition<&[u8], u64> =
    TableDefinition::new("hash_to_number");
/// tx hash → block number (8 bytes BE) ‖ index in block (4 bytes BE).
pub(super) const TX_INDEX: TableDefinition<&[u8], &[u8]> = TableDefinition::new("tx_index");
pub(super) const ACCOUNTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("accounts");
/// address (20) ‖ slot (32 BE) → value (32 BE); zero values are never stored.
pub(super) const STORAGE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("storage");
pub(super) const CODE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("code");
/// node hash (32) → RLP-encoded trie node (account and storage tries).
pub(super) const TRIE_NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("trie_nodes");
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

pub(super) const META_HEAD: &str = "head";

crate::storage::redb_error::redb_errors_into!(StorageError::Database);

/// The canonical head of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub number: u64,
    pub hash: B256,
    /// State root after the block.
    pub state_root: B256,
}

impl Head {
    pub(super) fn encode(&self) -> [u8; 72] {
        let mut out = [0u8; 72];
        out[..8].copy_from_slice(&self.number.to_be_bytes());
        out[8..40].copy_from_slice(self.hash.as_slice());
        out[40..].copy_from_slice(self.state_root.as_slice());
        out
    }

    pub(super) fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
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

pub(super) fn corrupt(table: &'static str, reason: &str) -> StorageError {
    StorageError::Corrupt {
        table,
        reason: reason.to_string(),
    }
}

/// Where a transaction was included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxLocation {
    /// Number of the block that includes it.
    pub block: u64,
    /// Index within the block.
    pub index: u32,
}

pub(super) fn storage_key(address: &Address, slot: &U256) -> [u8; 52] {
    let mut key = [0u8; 52];
    key[..20].copy_from_slice(address.as_slice());
    key[20..].copy_from_slice(&slot.to_be_bytes::<32>());
    key
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
pub(super) struct NodeCache {
    map: RwLock<HashMap<B256, Arc<[u8]>>>,
    bytes: AtomicUsize,
}

impl NodeCache {
    pub(super) fn get(&self, hash: &B256) -> Option<Vec<u8>> {
        let map = self.map.read().ok()?;
        map.get(hash).map(|n| n.to_vec())
    }

    pub(super) fn insert_many<'a>(&self, nodes: impl IntoIterator<Item = (&'a B256, &'a [u8])>) {
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
