//! The incremental, persistent state trie:
//!
//! - over random sequences of blocks (account creations, updates, deletions,
//!   storage writes, slot deletions and storage wipes) the incremental root equals
//!   a from-scratch alloy-trie root of an independent model, both in memory and
//!   through the redb store (whose stored nodes then re-verify);
//! - with 10,000 accounts, a block touching 10 accounts reads and hashes
//!   O(10 × depth) trie nodes, and likewise for 10 slots of a 10,000-slot storage.

use std::collections::{BTreeMap, HashMap};

use actors::execution::{
    memory_state::MemoryState,
    state::{AccountChange, ChangeSet, StateReader, StorageError},
    state_root::{StateRootOutput, TrieStats, rebuild_state_root, state_root, verify_stored_tries},
};
use actors::storage::{BlockCommit, Store};
use alloy_primitives::{Address, B256, U256};
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount, root};
use proptest::prelude::*;
use revm::primitives::KECCAK_EMPTY;

/// A plain model of the state: address → (nonce, balance, non-zero slots).
type Model = BTreeMap<Address, (u64, U256, BTreeMap<U256, U256>)>;

fn model_root(model: &Model) -> B256 {
    root::state_root_unhashed(model.iter().map(|(address, (nonce, balance, slots))| {
        let storage_root =
            root::storage_root_unhashed(slots.iter().map(|(k, v)| (B256::from(*k), *v)));
        (
            *address,
            TrieAccount {
                nonce: *nonce,
                balance: *balance,
                storage_root,
                code_hash: KECCAK_EMPTY,
            },
        )
    }))
}

fn apply_model(model: &mut Model, changes: &ChangeSet) {
    for (address, change) in &changes.accounts {
        let Some((nonce, balance, _)) = change.info else {
            model.remove(address);
            continue;
        };
        let entry = model.entry(*address).or_default();
        entry.0 = nonce;
        entry.1 = balance;
        if change.storage_wiped {
            entry.2.clear();
        }
        for (slot, value) in &change.storage {
            if value.is_zero() {
                entry.2.remove(slot);
            } else {
                entry.2.insert(*slot, *value);
            }
        }
    }
}

fn commit(
    store: &Store,
    number: u64,
    changes: &ChangeSet,
) -> Result<StateRootOutput, StorageError> {
    let state = store.state()?;
    let out = state_root(&state, changes)?;
    drop(state);
    store.commit_block(&BlockCommit {
        number,
        hash: B256::from(U256::from(number + 1)),
        header: b"h",
        body: b"b",
        certificate: b"c",
        receipts: b"r",
        tx_hashes: &[],
        senders: &[],
        changes,
        records: &out.records,
        trie_nodes: &out.nodes,
        state_root: out.root,
    })?;
    Ok(out)
}

/// One random account change: (address index, kind, nonce, balance, wipe, slot writes).
type RawChange = (u8, u8, u64, u64, bool, Vec<(u8, u8)>);

fn change_strategy() -> impl Strategy<Value = RawChange> {
    (
        0u8..16,
        0u8..10,
        0u64..4,
        0u64..1000,
        prop::bool::weighted(0.15),
        prop::collection::vec((0u8..12, 0u8..4), 0..6),
    )
}

fn to_change_set(raw: &[RawChange]) -> ChangeSet {
    let mut changes = ChangeSet::default();
    for (who, kind, nonce, balance, wipe, slots) in raw {
        let address = Address::with_last_byte(*who);
        let change = if *kind == 0 {
            // Deleted (self-destruct or EIP-161).
            AccountChange {
                info: None,
                storage_wiped: true,
                storage: BTreeMap::new(),
            }
        } else {
            AccountChange {
                info: Some((*nonce, U256::from(*balance), KECCAK_EMPTY)),
                storage_wiped: *wipe,
                // Value 0 deletes the slot.
                storage: slots
                    .iter()
                    .map(|(s, v)| (U256::from(*s), U256::from(*v)))
                    .collect(),
            }
        };
        changes.accounts.insert(address, change);
    }
    changes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn incremental_root_equals_from_scratch_root(
        blocks in prop::collection::vec(prop::collection::vec(change_strategy(), 0..10), 1..7)
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let store = Store::open(&dir.path().join("trie.redb"))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut memory = MemoryState::default();
        let mut model = Model::new();
        for (number, raw) in blocks.iter().enumerate() {
            let changes = to_change_set(raw);
            apply_model(&mut model, &changes);
            let expected = model_root(&model);
            let out = state_root(&memory, &changes)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(out.root, expected, "memory, block {}", number);
            memory.apply(&changes, &out);
            let stored = commit(&store, number as u64, &changes)
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(stored.root, expected, "store, block {}", number);
        }
        let state = store.state().map_err(|e| TestCaseError::fail(e.to_string()))?;
        verify_stored_tries(&state).map_err(|e| TestCaseError::fail(e.to_string()))?;
        verify_stored_tries(&memory).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(
            rebuild_state_root(&state).map_err(|e| TestCaseError::fail(e.to_string()))?,
            model_root(&model)
        );
    }
}

/// Trie nodes on one key's path in a trie of `n` uniformly hashed keys: about
/// log16(n) branches plus a leaf; a generous bound per touched key.
const NODES_PER_PATH: u64 = 6;

fn assert_bounded(stats: TrieStats, touched: u64, what: &str) {
    println!(
        "{what}: {} node reads, {} node writes for {touched} touched keys",
        stats.node_reads, stats.node_writes
    );
    assert!(
        stats.node_reads <= touched * NODES_PER_PATH,
        "{what}: {} node reads",
        stats.node_reads
    );
    assert!(
        stats.node_writes <= touched * NODES_PER_PATH,
        "{what}: {} node writes",
        stats.node_writes
    );
}

#[test]
fn block_touching_ten_of_ten_thousand_accounts_reads_only_their_paths() -> Result<(), StorageError>
{
    let dir = tempfile::tempdir().map_err(|e| StorageError::Database(e.to_string()))?;
    let store = Store::open(&dir.path().join("big.redb"))?;
    let address = |i: u64| Address::from_word(B256::from(U256::from(i + 1)));
    let mut genesis = ChangeSet::default();
    for i in 0..10_000u64 {
        genesis.set_account(address(i), 0, U256::from(1_000 + i), KECCAK_EMPTY);
    }
    // One contract with 10,000 storage slots.
    let contract = Address::repeat_byte(0xc0);
    genesis.set_account(contract, 1, U256::ZERO, KECCAK_EMPTY);
    if let Some(change) = genesis.accounts.get_mut(&contract) {
        change.storage = (0..10_000u64)
            .map(|s| (U256::from(s), U256::from(s + 1)))
            .collect();
    }
    let out = commit(&store, 0, &genesis)?;
    assert!(out.nodes.len() > 10_000 / 16);

    // Block 1: 10 accounts change balance (5 existing and 5 new ones).
    let mut changes = ChangeSet::default();
    for i in 0..5u64 {
        changes.set_account(address(i * 1_999), 1, U256::from(7u64), KECCAK_EMPTY);
        changes.set_account(address(20_000 + i), 0, U256::from(9u64), KECCAK_EMPTY);
    }
    let out = commit(&store, 1, &changes)?;
    assert_bounded(out.stats, 10, "10 of 10,000 accounts");

    // Block 2: 10 slots of the 10,000-slot contract (plus the contract's leaf).
    let mut changes = ChangeSet::default();
    changes.set_account(contract, 2, U256::ZERO, KECCAK_EMPTY);
    if let Some(change) = changes.accounts.get_mut(&contract) {
        change.storage = (0..10u64)
            .map(|s| (U256::from(s * 997), U256::from(s + 77)))
            .collect();
    }
    let out = commit(&store, 2, &changes)?;
    assert_bounded(out.stats, 11, "10 of 10,000 slots");

    // The head still re-verifies from scratch.
    let state = store.state()?;
    assert_eq!(rebuild_state_root(&state)?, out.root);
    assert_eq!(state.state_root()?, out.root);
    let record = state.account(&contract)?.map(|r| r.storage_root);
    assert!(record.is_some_and(|r| r != EMPTY_ROOT_HASH));
    let slots: HashMap<U256, U256> = state.storage_slots(&contract)?.into_iter().collect();
    assert_eq!(slots.get(&U256::from(997)), Some(&U256::from(78)));
    Ok(())
}
