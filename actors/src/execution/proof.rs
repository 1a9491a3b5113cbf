//! Merkle proofs of accounts and storage slots (EIP-1186, `eth_getProof`) from the
//! stored tries.
//!
//! Every committed block's account trie and storage tries stay complete in the
//! node table (see [`crate::execution::state_root`]), so a proof is one walk from
//! the block's state root to the account's leaf (or to where it would be) and, per
//! slot, one walk of the account's storage trie. As in geth, a proof lists the
//! RLP of every node on the path that is referenced by hash (the root, and nodes
//! of 32 bytes or more); smaller nodes are embedded in their parent. A proof of
//! absence ends where the path leaves the trie.

use std::sync::Arc;

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::{EMPTY_ROOT_HASH, TrieAccount};
use eth_trie::Trie;

use crate::execution::{
    state::{StateReader, StorageError},
    state_root::{NodeDb, open, slot_key, trie_error},
};

/// The proof of one storage slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageProof {
    pub slot: U256,
    /// Its value (zero if unset).
    pub value: U256,
    /// Nodes from the storage root to the slot's leaf (or to where it would be).
    pub proof: Vec<Bytes>,
}

/// An account and some of its slots, with proofs against a state root.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountProof {
    /// The account, `None` if it does not exist.
    pub account: Option<TrieAccount>,
    /// Nodes from the state root to the account's leaf (or to where it would be).
    pub proof: Vec<Bytes>,
    /// One proof per requested slot, in request order.
    pub storage: Vec<StorageProof>,
}

impl AccountProof {
    /// Nonce, balance, code hash and storage root as `eth_getProof` reports them;
    /// an absent account has zeros, the empty code hash and the empty trie root.
    pub fn reported(&self) -> (u64, U256, B256, B256) {
        match &self.account {
            Some(a) => (a.nonce, a.balance, a.code_hash, a.storage_root),
            None => (
                0,
                U256::ZERO,
                alloy_primitives::KECCAK256_EMPTY,
                EMPTY_ROOT_HASH,
            ),
        }
    }
}

/// The path of `key` in the trie with root `root`, as geth lists it.
fn prove<S: StateReader + ?Sized>(
    db: &Arc<NodeDb<'_, S>>,
    root: B256,
    key: &B256,
) -> Result<(Option<Vec<u8>>, Vec<Bytes>), StorageError> {
    if root == EMPTY_ROOT_HASH {
        return Ok((None, Vec::new()));
    }
    let mut trie = open(db, root)?;
    let value = trie.get(key.as_slice()).map_err(trie_error)?;
    let nodes = trie.get_proof(key.as_slice()).map_err(trie_error)?;
    let proof = nodes
        .into_iter()
        .enumerate()
        .filter(|(i, node)| *i == 0 || node.len() >= 32)
        .map(|(_, node)| Bytes::from(node))
        .collect();
    Ok((value, proof))
}

fn decode<T: alloy_rlp::Decodable>(bytes: &[u8], what: &str) -> Result<T, StorageError> {
    T::decode(&mut &bytes[..]).map_err(|e| StorageError::Corrupt {
        table: "trie_nodes",
        reason: format!("{what} leaf does not decode: {e}"),
    })
}

/// The proof of `address` and its `slots` in the state with root `state_root`,
/// whose nodes `base` holds.
pub fn account_proof<S: StateReader + ?Sized>(
    base: &S,
    state_root: B256,
    address: &Address,
    slots: &[U256],
) -> Result<AccountProof, StorageError> {
    let db = Arc::new(NodeDb::new(base));
    let (leaf, proof) = prove(&db, state_root, &keccak256(address))?;
    let account: Option<TrieAccount> = leaf.map(|l| decode(&l, "account")).transpose()?;
    let storage_root = account.map_or(EMPTY_ROOT_HASH, |a| a.storage_root);
    let mut storage = Vec::with_capacity(slots.len());
    for slot in slots {
        let (leaf, proof) = prove(&db, storage_root, &slot_key(slot))?;
        let value = leaf
            .map(|l| decode::<U256>(&l, "storage"))
            .transpose()?
            .unwrap_or_default();
        storage.push(StorageProof {
            slot: *slot,
            value,
            proof,
        });
    }
    Ok(AccountProof {
        account,
        proof,
        storage,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::memory_state::MemoryState;
    use alloy_trie::{Nibbles, proof::verify_proof};

    #[test]
    fn proofs_verify_against_the_state_root() -> Result<(), StorageError> {
        let mut mem = MemoryState::default();
        // Many accounts and slots so that paths have branches, extensions and
        // embedded nodes (small storage leaves).
        for i in 0..200u64 {
            let slots: Vec<(U256, U256)> = (0..(i % 7))
                .map(|s| (U256::from(s), U256::from(i * 10 + s + 1)))
                .collect();
            mem.insert_account(
                Address::with_last_byte((i % 256) as u8).create(i),
                i,
                U256::from(i * 1000),
                Bytes::new(),
                slots,
            )?;
        }
        let root = mem.state_root()?;
        let check = |address: Address, slots: &[U256]| -> Result<(), StorageError> {
            let p = account_proof(&mem, root, &address, slots)?;
            let expected = p.account.map(alloy_rlp::encode);
            verify_proof(
                root,
                Nibbles::unpack(keccak256(address)),
                expected,
                p.proof.iter(),
            )
            .map_err(|e| StorageError::Trie(format!("account proof: {e}")))?;
            let storage_root = p.account.map_or(EMPTY_ROOT_HASH, |a| a.storage_root);
            for s in &p.storage {
                let expected = (!s.value.is_zero()).then(|| alloy_rlp::encode(s.value));
                verify_proof(
                    storage_root,
                    Nibbles::unpack(slot_key(&s.slot)),
                    expected,
                    s.proof.iter(),
                )
                .map_err(|e| StorageError::Trie(format!("slot {}: {e}", s.slot)))?;
            }
            Ok(())
        };
        for i in [0u64, 6, 13, 199] {
            let address = Address::with_last_byte((i % 256) as u8).create(i);
            let p = account_proof(&mem, root, &address, &[U256::from(0), U256::from(5)])?;
            assert_eq!(p.account.map(|a| a.nonce), Some(i));
            check(
                address,
                &[U256::from(0), U256::from(3), U256::from(5), U256::from(99)],
            )?;
        }
        // An absent account: a proof of absence, zero values, empty storage proofs.
        let absent = Address::repeat_byte(0xee);
        let p = account_proof(&mem, root, &absent, &[U256::from(1)])?;
        assert_eq!(p.account, None);
        assert!(!p.proof.is_empty());
        assert_eq!(p.storage[0].value, U256::ZERO);
        check(absent, &[U256::from(1)])?;
        // A wrong value does not verify.
        let address = Address::with_last_byte(13).create(13);
        let p = account_proof(&mem, root, &address, &[])?;
        let mut forged = p.account.unwrap_or_default();
        forged.balance += U256::from(1);
        assert!(
            verify_proof(
                root,
                Nibbles::unpack(keccak256(address)),
                Some(alloy_rlp::encode(forged)),
                p.proof.iter()
            )
            .is_err()
        );
        Ok(())
    }
}
