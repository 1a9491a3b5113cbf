//! The world state as the executor sees it: a read-only [`StateReader`] (memory or
//! redb), a [`ChangeSet`] of what executed transactions changed, and a
//! [`StateOverlay`] that layers the change set on a reader and is the revm database.
//!
//! revm reads through [`StateOverlay`] ([`revm::Database`] / [`revm::DatabaseRef`]),
//! and commits each transaction's state diff into its change set
//! ([`revm::DatabaseCommit`]). The base reader is never written during execution:
//! the change set is persisted later in one write transaction (see
//! [`crate::storage`]).
//!
//! A reader also exposes its state root and its stored trie nodes, from which
//! [`crate::execution::state_root::state_root`] updates the tries incrementally.

use std::collections::{BTreeMap, HashMap};

use alloy_primitives::{Address, B256, Bytes, U256, keccak256};
use alloy_trie::EMPTY_ROOT_HASH;
use revm::primitives::KECCAK_EMPTY;

use revm::{
    DatabaseCommit, DatabaseRef,
    bytecode::Bytecode,
    database_interface::DBErrorMarker,
    primitives::{AddressMap, hardfork::SpecId},
    state::{Account, AccountInfo},
};

/// Errors from reading or writing state.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The redb database failed.
    #[error("database error: {0}")]
    Database(String),
    /// A stored record could not be decoded (corruption or a format change).
    #[error("corrupt record in table {table}: {reason}")]
    Corrupt {
        /// Table the record came from.
        table: &'static str,
        /// What was wrong with it.
        reason: String,
    },
    /// Code referenced by an account is missing.
    #[error("missing code for hash {0}")]
    MissingCode(B256),
    /// A trie node referenced by a root is not stored.
    #[error("missing trie node {0}")]
    MissingTrieNode(B256),
    /// The trie library failed (bad node encoding, lock poisoning).
    #[error("trie error: {0}")]
    Trie(String),
    /// The store has no chain yet (no genesis committed).
    #[error("store is empty: no genesis committed")]
    Empty,
    /// A block to commit does not extend the current head.
    #[error("block {number} does not extend head {head}")]
    NotNextBlock {
        /// Number of the block offered.
        number: u64,
        /// Current head number.
        head: u64,
    },
}

impl DBErrorMarker for StorageError {}

/// An account as stored: the four fields of the Ethereum account trie leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountRecord {
    /// Transaction count / creation nonce.
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// keccak256 of the code ([`KECCAK_EMPTY`] for none).
    pub code_hash: B256,
    /// Root of the account's storage trie (kept so untouched accounts need no rehash).
    pub storage_root: B256,
}

impl Default for AccountRecord {
    fn default() -> Self {
        Self {
            nonce: 0,
            balance: U256::ZERO,
            code_hash: KECCAK_EMPTY,
            storage_root: EMPTY_ROOT_HASH,
        }
    }
}

impl AccountRecord {
    /// Encoded size: nonce (8) + balance (32) + code hash (32) + storage root (32).
    pub const ENCODED_LEN: usize = 104;

    /// Fixed-width big-endian encoding.
    pub fn encode(&self) -> [u8; Self::ENCODED_LEN] {
        let mut out = [0u8; Self::ENCODED_LEN];
        out[..8].copy_from_slice(&self.nonce.to_be_bytes());
        out[8..40].copy_from_slice(&self.balance.to_be_bytes::<32>());
        out[40..72].copy_from_slice(self.code_hash.as_slice());
        out[72..].copy_from_slice(self.storage_root.as_slice());
        out
    }

    /// Decodes [`Self::encode`]'s output.
    pub fn decode(bytes: &[u8]) -> Result<Self, StorageError> {
        if bytes.len() != Self::ENCODED_LEN {
            return Err(StorageError::Corrupt {
                table: "accounts",
                reason: format!("account record of {} bytes", bytes.len()),
            });
        }
        let mut nonce = [0u8; 8];
        nonce.copy_from_slice(&bytes[..8]);
        Ok(Self {
            nonce: u64::from_be_bytes(nonce),
            balance: U256::from_be_slice(&bytes[8..40]),
            code_hash: B256::from_slice(&bytes[40..72]),
            storage_root: B256::from_slice(&bytes[72..]),
        })
    }

    /// The revm view of this account (code is loaded separately by hash).
    pub fn info(&self) -> AccountInfo {
        AccountInfo {
            balance: self.balance,
            nonce: self.nonce,
            code_hash: self.code_hash,
            // `None` makes revm load the code by hash (the default is empty code).
            code: None,
            ..Default::default()
        }
    }
}

/// Read access to a committed state (the head of a store, or a genesis in memory).
///
/// `Sync` because the trie adapter ([`crate::execution::state_root::NodeDb`]) is
/// shared behind an `Arc` as eth_trie requires.
pub trait StateReader: Sync {
    /// The account at `address`, if it exists.
    fn account(&self, address: &Address) -> Result<Option<AccountRecord>, StorageError>;
    /// One storage slot (zero if unset).
    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StorageError>;
    /// All non-zero storage slots of an account, in any order.
    fn storage_slots(&self, address: &Address) -> Result<Vec<(U256, U256)>, StorageError>;
    /// Code by its keccak256 hash.
    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StorageError>;
    /// Hash of canonical block `number`, if known (for `BLOCKHASH`).
    fn block_hash(&self, number: u64) -> Result<Option<B256>, StorageError>;
    /// Every existing account (for from-scratch checks, not for block roots).
    fn accounts(&self) -> Result<Vec<(Address, AccountRecord)>, StorageError>;
    /// The root of the account trie (the state root of this state).
    fn state_root(&self) -> Result<B256, StorageError>;
    /// A stored trie node by its hash (account or storage trie).
    fn trie_node(&self, hash: &B256) -> Result<Option<Vec<u8>>, StorageError>;
}

/// What happened to one account in a block.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AccountChange {
    /// New nonce/balance/code hash; `None` means the account was deleted.
    pub info: Option<(u64, U256, B256)>,
    /// The account's previous storage is gone (self-destruct or re-creation).
    pub storage_wiped: bool,
    /// Slots written (a zero value deletes the slot).
    pub storage: BTreeMap<U256, U256>,
}

/// All state changes of a block (or of a single state test transaction).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// Changed accounts.
    pub accounts: BTreeMap<Address, AccountChange>,
    /// New code, by hash.
    pub codes: HashMap<B256, Bytes>,
}

impl ChangeSet {
    /// Sets an account's nonce/balance/code hash (creating it if needed).
    pub fn set_account(&mut self, address: Address, nonce: u64, balance: U256, code_hash: B256) {
        self.accounts.entry(address).or_default().info = Some((nonce, balance, code_hash));
    }
}

/// Where revm gets `BLOCKHASH` answers that the base state does not know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnknownBlockHash {
    /// Return zero (a real chain: unknown blocks have no hash).
    #[default]
    Zero,
    /// Return `keccak256(decimal(number))`, as the Ethereum state test harness does.
    StateTestConvention,
}

/// A [`ChangeSet`] layered over a [`StateReader`]: the database revm executes on.
pub struct StateOverlay<'a, S: StateReader + ?Sized> {
    base: &'a S,
    changes: ChangeSet,
    spec: SpecId,
    unknown_block_hash: UnknownBlockHash,
}

impl<'a, S: StateReader + ?Sized> StateOverlay<'a, S> {
    /// An empty overlay over `base` for a block executed under `spec`.
    pub fn new(base: &'a S, spec: SpecId) -> Self {
        Self {
            base,
            changes: ChangeSet::default(),
            spec,
            unknown_block_hash: UnknownBlockHash::Zero,
        }
    }

    /// Chooses what `BLOCKHASH` returns for blocks the base does not know.
    pub fn with_unknown_block_hash(mut self, policy: UnknownBlockHash) -> Self {
        self.unknown_block_hash = policy;
        self
    }

    /// The base state.
    pub fn base(&self) -> &'a S {
        self.base
    }

    /// Changes accumulated so far.
    pub fn changes(&self) -> &ChangeSet {
        &self.changes
    }

    /// Mutable access to the changes (block reward, system writes).
    pub fn changes_mut(&mut self) -> &mut ChangeSet {
        &mut self.changes
    }

    /// Consumes the overlay, returning its changes.
    pub fn into_changes(self) -> ChangeSet {
        self.changes
    }

    /// Current view of an account (change set first, then base).
    pub fn account(&self, address: &Address) -> Result<Option<AccountRecord>, StorageError> {
        match self.changes.accounts.get(address) {
            Some(change) => Ok(change
                .info
                .map(|(nonce, balance, code_hash)| AccountRecord {
                    nonce,
                    balance,
                    code_hash,
                    // Not meaningful until the state root is computed.
                    storage_root: EMPTY_ROOT_HASH,
                })),
            None => self.base.account(address),
        }
    }

    /// Adds `amount` wei to `address` (creating the account), e.g. a block reward.
    pub fn add_balance(&mut self, address: Address, amount: U256) -> Result<(), StorageError> {
        let current = self.account(&address)?.unwrap_or_default();
        self.changes.set_account(
            address,
            current.nonce,
            current.balance.saturating_add(amount),
            current.code_hash,
        );
        Ok(())
    }

    /// Writes one storage slot of `address` (an existing account keeps its
    /// nonce, balance and code), e.g. the miner contract's system writes.
    pub fn set_storage(
        &mut self,
        address: Address,
        slot: U256,
        value: U256,
    ) -> Result<(), StorageError> {
        let current = self.account(&address)?.unwrap_or_default();
        let change = self.changes.accounts.entry(address).or_default();
        if change.info.is_none() {
            change.info = Some((current.nonce, current.balance, current.code_hash));
        }
        change.storage.insert(slot, value);
        Ok(())
    }

    fn commit_account(&mut self, address: Address, account: Account) {
        if !account.is_touched() {
            return;
        }
        let state_clear = self.spec.is_enabled_in(SpecId::SPURIOUS_DRAGON);
        if account.is_selfdestructed() || (state_clear && account.is_empty()) {
            // Deleted: EIP-6780/SELFDESTRUCT, or a touched empty account (EIP-161).
            self.changes.accounts.insert(
                address,
                AccountChange {
                    info: None,
                    storage_wiped: true,
                    storage: BTreeMap::new(),
                },
            );
            return;
        }
        let change = self.changes.accounts.entry(address).or_default();
        if account.is_created() {
            change.storage_wiped = true;
            change.storage.clear();
        }
        let info = &account.info;
        if let Some(code) = &info.code
            && info.code_hash != KECCAK_EMPTY
        {
            self.changes
                .codes
                .entry(info.code_hash)
                .or_insert_with(|| code.original_bytes());
        }
        change.info = Some((info.nonce, info.balance, info.code_hash));
        for (slot, value) in account.storage {
            if value.is_changed() || change.storage_wiped {
                change.storage.insert(slot, value.present_value());
            }
        }
    }
}

impl<S: StateReader + ?Sized> DatabaseRef for StateOverlay<'_, S> {
    type Error = StorageError;

    fn basic_ref(&self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        Ok(self.account(&address)?.map(|record| record.info()))
    }

    fn code_by_hash_ref(&self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        if code_hash == KECCAK_EMPTY || code_hash == B256::ZERO {
            return Ok(Bytecode::default());
        }
        let bytes = match self.changes.codes.get(&code_hash) {
            Some(bytes) => bytes.clone(),
            None => self
                .base
                .code(&code_hash)?
                .ok_or(StorageError::MissingCode(code_hash))?,
        };
        Ok(bytecode_from_bytes(bytes))
    }

    fn storage_ref(&self, address: Address, index: U256) -> Result<U256, Self::Error> {
        if let Some(change) = self.changes.accounts.get(&address) {
            if let Some(value) = change.storage.get(&index) {
                return Ok(*value);
            }
            if change.storage_wiped || change.info.is_none() {
                return Ok(U256::ZERO);
            }
        }
        self.base.storage(&address, &index)
    }

    fn block_hash_ref(&self, number: u64) -> Result<B256, Self::Error> {
        if let Some(hash) = self.base.block_hash(number)? {
            return Ok(hash);
        }
        Ok(match self.unknown_block_hash {
            UnknownBlockHash::Zero => B256::ZERO,
            UnknownBlockHash::StateTestConvention => keccak256(number.to_string().as_bytes()),
        })
    }
}

impl<S: StateReader + ?Sized> revm::Database for StateOverlay<'_, S> {
    type Error = StorageError;

    fn basic(&mut self, address: Address) -> Result<Option<AccountInfo>, Self::Error> {
        self.basic_ref(address)
    }

    fn code_by_hash(&mut self, code_hash: B256) -> Result<Bytecode, Self::Error> {
        self.code_by_hash_ref(code_hash)
    }

    fn storage(&mut self, address: Address, index: U256) -> Result<U256, Self::Error> {
        self.storage_ref(address, index)
    }

    fn block_hash(&mut self, number: u64) -> Result<B256, Self::Error> {
        self.block_hash_ref(number)
    }
}

impl<S: StateReader + ?Sized> DatabaseCommit for StateOverlay<'_, S> {
    fn commit(&mut self, changes: AddressMap<Account>) {
        for (address, account) in changes {
            self.commit_account(address, account);
        }
    }
}

/// Analyses raw code bytes into revm bytecode (legacy code or an EIP-7702 delegation).
pub fn bytecode_from_bytes(bytes: Bytes) -> Bytecode {
    match Bytecode::new_raw_checked(bytes.clone()) {
        Ok(code) => code,
        Err(_) => Bytecode::new_legacy(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::execution::memory_state::MemoryState;

    #[test]
    fn account_record_roundtrip_and_bad_length() {
        let record = AccountRecord {
            nonce: 7,
            balance: U256::from(12345u64),
            code_hash: B256::repeat_byte(3),
            storage_root: B256::repeat_byte(4),
        };
        assert_eq!(AccountRecord::decode(&record.encode()).ok(), Some(record));
        assert!(matches!(
            AccountRecord::decode(&[0u8; 5]),
            Err(StorageError::Corrupt { .. })
        ));
    }

    #[test]
    fn overlay_reads_changes_before_base() -> Result<(), StorageError> {
        let mut base = MemoryState::default();
        let a = Address::repeat_byte(1);
        base.insert_account(
            a,
            1,
            U256::from(10),
            Bytes::new(),
            [(U256::from(1), U256::from(5))],
        )?;
        let mut overlay = StateOverlay::new(&base, SpecId::CANCUN);
        assert_eq!(
            overlay.storage_ref(a, U256::from(1)).ok(),
            Some(U256::from(5))
        );
        overlay.changes_mut().accounts.insert(
            a,
            AccountChange {
                info: Some((2, U256::from(3), KECCAK_EMPTY)),
                storage_wiped: true,
                storage: BTreeMap::new(),
            },
        );
        assert_eq!(overlay.storage_ref(a, U256::from(1)).ok(), Some(U256::ZERO));
        assert_eq!(
            overlay.basic_ref(a).ok().flatten().map(|i| i.nonce),
            Some(2)
        );
        Ok(())
    }
}
