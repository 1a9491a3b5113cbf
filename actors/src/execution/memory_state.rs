//! [`MemoryState`]: a whole state held in memory, for genesis building, state
//! tests, call overrides and benchmarks. It keeps its trie nodes like the store
//! does, so state roots over it are incremental too.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::EMPTY_ROOT_HASH;
use revm::primitives::KECCAK_EMPTY;

use crate::execution::state::{AccountChange, AccountRecord, ChangeSet, StateReader, StorageError};
use crate::execution::state_root::{StateRootOutput, TrieNodes};

/// A state held in memory: genesis building, state tests, benchmarks. It keeps
/// its trie nodes like the store does, so roots over it are incremental too.
#[derive(Clone, Debug)]
pub struct MemoryState {
    accounts: BTreeMap<Address, AccountRecord>,
    storage: HashMap<Address, BTreeMap<U256, U256>>,
    codes: HashMap<B256, Bytes>,
    block_hashes: BTreeMap<u64, B256>,
    trie_nodes: TrieNodes,
    state_root: B256,
}

impl Default for MemoryState {
    fn default() -> Self {
        Self {
            accounts: BTreeMap::new(),
            storage: HashMap::new(),
            codes: HashMap::new(),
            block_hashes: BTreeMap::new(),
            trie_nodes: TrieNodes::new(),
            state_root: EMPTY_ROOT_HASH,
        }
    }
}

impl MemoryState {
    /// Inserts or replaces an account with its code and storage, updating the
    /// tries incrementally. Zero-valued slots are ignored.
    pub fn insert_account(
        &mut self,
        address: Address,
        nonce: u64,
        balance: U256,
        code: Bytes,
        storage: impl IntoIterator<Item = (U256, U256)>,
    ) -> Result<(), StorageError> {
        let mut changes = ChangeSet::default();
        let code_hash = if code.is_empty() {
            KECCAK_EMPTY
        } else {
            let hash = keccak256(&code);
            changes.codes.insert(hash, code);
            hash
        };
        changes.accounts.insert(
            address,
            AccountChange {
                info: Some((nonce, balance, code_hash)),
                storage_wiped: true,
                storage: storage.into_iter().filter(|(_, v)| !v.is_zero()).collect(),
            },
        );
        let out = crate::execution::state_root::state_root(self, &changes)?;
        self.apply(&changes, &out);
        Ok(())
    }

    /// Records a canonical block hash.
    pub fn set_block_hash(&mut self, number: u64, hash: B256) {
        self.block_hashes.insert(number, hash);
    }

    /// Applies a change set with the output of
    /// [`state_root`](crate::execution::state_root::state_root) over this state:
    /// the new records, trie nodes and root.
    pub fn apply(&mut self, changes: &ChangeSet, out: &StateRootOutput) {
        let records = &out.records;
        self.trie_nodes
            .extend(out.nodes.iter().map(|(h, n)| (*h, n.clone())));
        self.state_root = out.root;
        for (hash, code) in &changes.codes {
            self.codes.insert(*hash, code.clone());
        }
        for (address, change) in &changes.accounts {
            if change.storage_wiped {
                self.storage.remove(address);
            }
            if !change.storage.is_empty() {
                let slots = self.storage.entry(*address).or_default();
                for (slot, value) in &change.storage {
                    if value.is_zero() {
                        slots.remove(slot);
                    } else {
                        slots.insert(*slot, *value);
                    }
                }
                if slots.is_empty() {
                    self.storage.remove(address);
                }
            }
        }
        for (address, record) in records {
            match record {
                Some(record) => {
                    self.accounts.insert(*address, *record);
                }
                None => {
                    self.accounts.remove(address);
                    self.storage.remove(address);
                }
            }
        }
    }

    /// Number of existing accounts.
    pub fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Whether there are no accounts.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

impl StateReader for MemoryState {
    fn account(&self, address: &Address) -> Result<Option<AccountRecord>, StorageError> {
        Ok(self.accounts.get(address).copied())
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StorageError> {
        Ok(self
            .storage
            .get(address)
            .and_then(|slots| slots.get(slot))
            .copied()
            .unwrap_or_default())
    }

    fn storage_slots(&self, address: &Address) -> Result<Vec<(U256, U256)>, StorageError> {
        Ok(self
            .storage
            .get(address)
            .map(|slots| slots.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default())
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StorageError> {
        Ok(self.codes.get(code_hash).cloned())
    }

    fn block_hash(&self, number: u64) -> Result<Option<B256>, StorageError> {
        Ok(self.block_hashes.get(&number).copied())
    }

    fn accounts(&self) -> Result<Vec<(Address, AccountRecord)>, StorageError> {
        Ok(self.accounts.iter().map(|(a, r)| (*a, *r)).collect())
    }

    fn state_root(&self) -> Result<B256, StorageError> {
        Ok(self.state_root)
    }

    fn trie_node(&self, hash: &B256) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.trie_nodes.get(hash).cloned())
    }
}
