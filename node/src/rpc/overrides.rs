//! geth's state overrides: the third argument of `eth_call` and `eth_estimateGas`
//! (and `stateOverrides` of `debug_traceCall`): per address a replacement
//! `balance`, `nonce`, `code`, and either `state` (the whole storage: slots not
//! listed read as zero) or `stateDiff` (only the slots listed). The call then runs
//! on [`Overridden`], a read-only view of the block's state with the overrides on
//! top; nothing is written.
//!
//! Bounded beyond the request size limit: at most [`MAX_ACCOUNTS`] addresses and
//! [`MAX_SLOTS`] slots in all. Unknown fields (`movePrecompileToAddress`) are
//! refused, as is an account with both `state` and `stateDiff` (geth's rule).

use std::collections::{BTreeMap, HashMap};

use actors::execution::state::{AccountRecord, StateReader, StorageError};
use alloy_primitives::{Address, B256, Bytes, U256, keccak256};

use crate::rpc::{
    error::{RpcError, RpcResult},
    params::{Quantity, Quantity256},
};

/// Most overridden accounts in one call.
pub const MAX_ACCOUNTS: usize = 1024;
/// Most overridden slots (`state` plus `stateDiff`, all accounts) in one call.
pub const MAX_SLOTS: usize = 16_384;

/// One account's override, as geth's `OverrideAccount`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccountOverride {
    /// Replacement balance.
    pub balance: Option<Quantity256>,
    /// Replacement nonce.
    pub nonce: Option<Quantity>,
    /// Replacement code.
    pub code: Option<Bytes>,
    /// Replaces the whole storage: slots not listed read as zero.
    pub state: Option<BTreeMap<B256, B256>>,
    /// Replaces the listed slots only (not with `state`).
    pub state_diff: Option<BTreeMap<B256, B256>>,
}

/// Checked overrides, ready to lay over a state.
#[derive(Clone, Debug, Default)]
pub struct StateOverrides {
    accounts: HashMap<Address, AccountOverride>,
    codes: HashMap<B256, Bytes>,
}

impl StateOverrides {
    /// Parses and checks argument `i` (absent or null = no overrides).
    pub fn from_arg(v: Option<&serde_json::Value>, i: usize) -> RpcResult<Self> {
        let Some(v) = v else {
            return Ok(Self::default());
        };
        let map: HashMap<Address, AccountOverride> = serde_json::from_value(v.clone())
            .map_err(|e| RpcError::InvalidParams(format!("invalid argument {i}: {e}")))?;
        Self::new(map)
    }

    /// Checks `accounts` against geth's rules and the bounds.
    pub fn new(accounts: HashMap<Address, AccountOverride>) -> RpcResult<Self> {
        if accounts.len() > MAX_ACCOUNTS {
            return Err(RpcError::Limit(format!(
                "too many state overrides: {} accounts (at most {MAX_ACCOUNTS})",
                accounts.len()
            )));
        }
        let mut slots = 0usize;
        let mut codes = HashMap::new();
        for (address, o) in &accounts {
            if o.state.is_some() && o.state_diff.is_some() {
                return Err(RpcError::InvalidParams(format!(
                    "account {address} has both 'state' and 'stateDiff'"
                )));
            }
            slots += o.state.as_ref().map_or(0, BTreeMap::len);
            slots += o.state_diff.as_ref().map_or(0, BTreeMap::len);
            if let Some(code) = &o.code {
                codes.insert(keccak256(code), code.clone());
            }
        }
        if slots > MAX_SLOTS {
            return Err(RpcError::Limit(format!(
                "too many state overrides: {slots} slots (at most {MAX_SLOTS})"
            )));
        }
        Ok(Self { accounts, codes })
    }

    /// Whether there is nothing to override.
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
    }
}

/// A state with overrides on top.
pub struct Overridden<'a> {
    base: &'a dyn StateReader,
    overrides: &'a StateOverrides,
}

impl<'a> Overridden<'a> {
    /// `base` seen through `overrides`.
    pub fn new(base: &'a dyn StateReader, overrides: &'a StateOverrides) -> Self {
        Self { base, overrides }
    }
}

fn not_offered(what: &str) -> StorageError {
    StorageError::Trie(format!("{what} is not available on an overridden state"))
}

impl StateReader for Overridden<'_> {
    fn account(&self, address: &Address) -> Result<Option<AccountRecord>, StorageError> {
        let base = self.base.account(address)?;
        let Some(o) = self.overrides.accounts.get(address) else {
            return Ok(base);
        };
        let mut record = base.unwrap_or_default();
        if let Some(b) = o.balance {
            record.balance = b.0;
        }
        if let Some(n) = o.nonce {
            record.nonce = n.0;
        }
        if let Some(code) = &o.code {
            record.code_hash = if code.is_empty() {
                alloy_primitives::KECCAK256_EMPTY
            } else {
                keccak256(code)
            };
        }
        Ok(Some(record))
    }

    fn storage(&self, address: &Address, slot: &U256) -> Result<U256, StorageError> {
        let key = B256::from(*slot);
        match self.overrides.accounts.get(address) {
            Some(AccountOverride {
                state: Some(all), ..
            }) => Ok(all
                .get(&key)
                .map_or(U256::ZERO, |v| U256::from_be_bytes(v.0))),
            Some(AccountOverride {
                state_diff: Some(diff),
                ..
            }) if diff.contains_key(&key) => Ok(diff
                .get(&key)
                .map_or(U256::ZERO, |v| U256::from_be_bytes(v.0))),
            _ => self.base.storage(address, slot),
        }
    }

    fn storage_slots(&self, _address: &Address) -> Result<Vec<(U256, U256)>, StorageError> {
        Err(not_offered("storage iteration"))
    }

    fn code(&self, code_hash: &B256) -> Result<Option<Bytes>, StorageError> {
        if let Some(code) = self.overrides.codes.get(code_hash) {
            return Ok(Some(code.clone()));
        }
        self.base.code(code_hash)
    }

    fn block_hash(&self, number: u64) -> Result<Option<B256>, StorageError> {
        self.base.block_hash(number)
    }

    fn accounts(&self) -> Result<Vec<(Address, AccountRecord)>, StorageError> {
        Err(not_offered("account iteration"))
    }

    fn state_root(&self) -> Result<B256, StorageError> {
        Err(not_offered("a state root"))
    }

    fn trie_node(&self, hash: &B256) -> Result<Option<Vec<u8>>, StorageError> {
        self.base.trie_node(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actors::execution::memory_state::MemoryState;
    use serde_json::json;

    #[test]
    fn overrides_replace_fields_and_storage() -> Result<(), Box<dyn std::error::Error>> {
        let a = Address::repeat_byte(1);
        let mut mem = MemoryState::default();
        mem.insert_account(
            a,
            3,
            U256::from(100),
            Bytes::new(),
            [
                (U256::from(1), U256::from(11)),
                (U256::from(2), U256::from(22)),
            ],
        )?;
        let one = format!("0x{:064x}", 1);
        let two = format!("0x{:064x}", 2);
        let nine = format!("0x{:064x}", 9);
        let diff = StateOverrides::from_arg(
            Some(
                &json!({ a.to_string(): {"balance": "0x5", "stateDiff": {one.clone(): nine.clone()}},
                          "0x0202020202020202020202020202020202020202": {"code": "0x6001", "nonce": "0x7"} }),
            ),
            2,
        )?;
        let view = Overridden::new(&mem, &diff);
        let rec = view.account(&a)?.ok_or("account")?;
        assert_eq!((rec.nonce, rec.balance), (3, U256::from(5)));
        assert_eq!(view.storage(&a, &U256::from(1))?, U256::from(9));
        assert_eq!(view.storage(&a, &U256::from(2))?, U256::from(22));
        let b = view
            .account(&Address::repeat_byte(2))?
            .ok_or("new account")?;
        assert_eq!(b.nonce, 7);
        assert_eq!(
            view.code(&b.code_hash)?.map(|c| c.to_vec()),
            Some(vec![0x60, 0x01])
        );

        let all =
            StateOverrides::from_arg(Some(&json!({ a.to_string(): {"state": {two: nine}} })), 2)?;
        let view = Overridden::new(&mem, &all);
        assert_eq!(view.storage(&a, &U256::from(1))?, U256::ZERO);
        assert_eq!(view.storage(&a, &U256::from(2))?, U256::from(9));
        Ok(())
    }

    #[test]
    fn bad_overrides_are_refused() {
        let a = Address::repeat_byte(1).to_string();
        let slot = format!("0x{:064x}", 1);
        for bad in [
            json!({ a.clone(): {"state": {slot.clone(): slot.clone()}, "stateDiff": {}} }),
            json!({ a.clone(): {"movePrecompileToAddress": a.clone()} }),
            json!({ a.clone(): {"state": {"0x1": slot.clone()}} }),
            json!({ "0x12": {} }),
            json!([]),
        ] {
            assert!(
                matches!(
                    StateOverrides::from_arg(Some(&bad), 2),
                    Err(RpcError::InvalidParams(_))
                ),
                "{bad}"
            );
        }
        let many: serde_json::Map<String, serde_json::Value> = (0..=MAX_ACCOUNTS)
            .map(|i| (format!("0x{i:040x}"), json!({})))
            .collect();
        assert!(matches!(
            StateOverrides::from_arg(Some(&serde_json::Value::Object(many)), 2),
            Err(RpcError::Limit(_))
        ));
    }
}
