//! The state after any stored block, read through the persistent tries.
//!
//! The store keeps flat account and storage tables for the head only, but trie
//! nodes are never deleted (see [`crate::execution::state_root`]): the account trie
//! of every committed block is still complete in `trie_nodes`. [`StateAt`] answers
//! account and storage reads from the tries at a given state root, so JSON-RPC can
//! read balances, nonces, code and storage "at block N" (an archive node, for free)
//! and execute `eth_call` there.
//!
//! Reads cost one node lookup per trie level (the store's node cache keeps the hot
//! upper levels). Whole-state iteration ([`StateReader::accounts`],
//! [`StateReader::storage_slots`]) is not offered: it is only needed to recompute a
//! root from scratch.

use std::sync::Arc;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_rlp::Decodable;
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
use eth_trie::Trie;

use crate::execution::state::{AccountRecord, StateReader, StorageError};
use crate::execution::state_root::{NodeDb, open, slot_key, trie_error};

/// A read-only view of the state with root `root`, over the nodes, code and
/// canonical hashes of `base` (any reader whose node table holds that root).
/// The one view of a past state: JSON-RPC reads "at block N" through it and the
/// consensus registry reads a sampled block's stakes through it.
pub struct StateAt<'a, S: StateReader + ?Sized> {
    base: &'a S,
    root: B256,
    /// One node adapter for every read of this view.
    db: Arc<NodeDb<'a, S>>,
}

impl<'a, S: StateReader + ?Sized> StateAt<'a, S> {
    /// The state whose account trie root is `root`; a root that is not stored
    /// fails on the first read.
    pub fn new(base: &'a S, root: B256) -> Self {
        Self {
            base,
            root,
            db: Arc::new(NodeDb::new(base)),
        }
    }

    /// The state whose account trie root is `root`, checked up front: fails with
    /// [`StorageError::MissingTrieNode`] if the root is not stored.
    pub fn open(base: &'a S, root: B256) -> Result<Self, StorageError> {
        let view = Self::new(base, root);
        open(&view.db, root)?;
        Ok(view)
    }

    fn get(&self, root: B256, key: &B256) -> Result<Option<Vec<u8>>, StorageError> {
        if root == EMPTY_ROOT_HASH {
            return Ok(None);
        }
        let trie = open(&self.db, root)?;
        trie.get(key.as_slice()).map_err(trie_error)
    }
}

fn corrupt(reason: &str) -> StorageError {
    StorageError::Corrupt {
        table: "trie_nodes",
        reason: reason.to_string(),
    }
}

impl<S: StateReader + ?Sized> StateReader for StateAt<'_, S> {
    fn account(&self, address: &Address) -> Result<Option<AccountRecord>, StorageError> {
        let Some(leaf) = self.get(self.root, &keccak256(address))? else {
            return Ok(None);
        };
        let account = TrieAccount::decode(&mut leaf.as_slice())
            .map_err(|_| corrupt("account leaf does not decode"))?;
        Ok(Some(AccountRecord {
            nonce: account.nonce,
            balance: account.balance,
            code_hash: account.code_hash,
            storage_root: account.storage_root,
        }))
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StorageError> {
        let Some(account) = self.account(address)? else {
            return Ok(U256::ZERO);
        };
        match self.get(account.storage_root, &slot_key(slot))? {
            Some(leaf) => U256::decode(&mut leaf.as_slice())
                .map_err(|_| corrupt("storage leaf does not decode")),
            None => Ok(U256::ZERO),
        }
    }

    fn storage_slots(&self, _address: &Address) -> Result<Vec<(U256, U256)>, StorageError> {
        Err(StorageError::Trie(
            "storage iteration is not available on a historical state".into(),
        ))
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StorageError> {
        self.base.code(code_hash)
    }

    fn block_hash(&self, number: u64) -> Result<Option<B256>, StorageError> {
        self.base.block_hash(number)
    }

    fn accounts(&self) -> Result<Vec<(Address, AccountRecord)>, StorageError> {
        Err(StorageError::Trie(
            "account iteration is not available on a historical state".into(),
        ))
    }

    fn state_root(&self) -> Result<B256, StorageError> {
        Ok(self.root)
    }

    fn trie_node(&self, hash: &B256) -> Result<Option<Vec<u8>>, StorageError> {
        self.base.trie_node(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::memory_state::MemoryState;
    use crate::execution::state_root::state_root;

    #[test]
    fn reads_every_past_state_from_the_tries() -> Result<(), StorageError> {
        let a = Address::repeat_byte(1);
        let b = Address::repeat_byte(2);
        let mut mem = MemoryState::default();
        mem.insert_account(
            a,
            1,
            U256::from(100),
            Bytes::new(),
            [(U256::from(7), U256::from(9))],
        )?;
        let root0 = mem.state_root()?;
        // Block 1: a's slot changes, b appears.
        let mut changes = crate::execution::state::ChangeSet::default();
        changes.set_account(a, 2, U256::from(50), revm::primitives::KECCAK_EMPTY);
        changes
            .accounts
            .entry(a)
            .or_default()
            .storage
            .insert(U256::from(7), U256::from(10));
        changes.set_account(b, 0, U256::from(5), revm::primitives::KECCAK_EMPTY);
        let out = state_root(&mem, &changes)?;
        mem.apply(&changes, &out);
        let root1 = out.root;

        let past = StateAt::new(&mem, root0);
        assert_eq!(
            past.account(&a)?.map(|r| (r.nonce, r.balance)),
            Some((1, U256::from(100)))
        );
        assert_eq!(past.storage(&a, &U256::from(7))?, U256::from(9));
        assert_eq!(past.account(&b)?, None);
        let now = StateAt::new(&mem, root1);
        assert_eq!(now.account(&a)?, mem.account(&a)?);
        assert_eq!(now.storage(&a, &U256::from(7))?, U256::from(10));
        assert_eq!(now.account(&b)?.map(|r| r.balance), Some(U256::from(5)));
        assert_eq!(now.storage(&b, &U256::from(1))?, U256::ZERO);
        // A root whose nodes are not stored is an error, not a wrong answer.
        assert!(
            StateAt::new(&mem, B256::repeat_byte(3))
                .account(&a)
                .is_err()
        );
        Ok(())
    }
}
