//! geth-style `genesis.json` with Kaleido's fields (`config.algorand`, `seed`,
//! `totalBalanceOfMiners`): parsing, validation, the genesis state and header.

use std::collections::BTreeMap;

use crate::execution::header::fork_fields;
use alloy_consensus::Header;
use alloy_primitives::{Address, B64, B256, Bytes, U256};
use revm::primitives::hardfork::SpecId;
use serde::Deserialize;

use crate::execution::{
    chain_config::{ChainConfig, ConfigError},
    header::KalgoHeader,
    memory_state::MemoryState,
    state::{ChangeSet, StorageError},
    state_root::state_root,
};

/// EIP-1559 initial base fee (1 gwei), used when London is active at genesis.
pub const INITIAL_BASE_FEE: u64 = 1_000_000_000;
/// Largest `extraData` a header may carry (Kaleido and geth: 32 bytes).
pub const MAX_EXTRA_DATA: usize = 32;

/// What is wrong with a genesis file.
#[derive(Debug, thiserror::Error)]
pub enum GenesisError {
    /// Not valid JSON, or a field is missing or has the wrong JSON type; the
    /// cause gives the line and column to fix.
    #[error("malformed genesis JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The `config` object is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A hex field is not valid hex or has the wrong length.
    #[error("field {field}: invalid hex {value:?}")]
    BadHex {
        /// Field name.
        field: String,
        /// Offending value.
        value: String,
    },
    /// A numeric field is not a number or overflows.
    #[error("field {field}: invalid number {value:?}")]
    BadNumber {
        /// Field name.
        field: String,
        /// Offending value.
        value: String,
    },
    /// `extraData` is longer than [`MAX_EXTRA_DATA`].
    #[error("extraData is {0} bytes, at most 32 allowed")]
    ExtraDataTooLong(usize),
    /// `gasLimit` is zero.
    #[error("gasLimit must be positive")]
    ZeroGasLimit,
}

/// A number written as a JSON number or a decimal / `0x` hex string.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum RawNumber {
    Number(u64),
    Text(String),
}

fn parse_u256(field: &str, raw: &RawNumber) -> Result<U256, GenesisError> {
    let bad = |v: &str| GenesisError::BadNumber {
        field: field.to_string(),
        value: v.to_string(),
    };
    match raw {
        RawNumber::Number(n) => Ok(U256::from(*n)),
        RawNumber::Text(s) => {
            let t = s.trim();
            let parsed = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some("") => Ok(U256::ZERO),
                Some(hex) => U256::from_str_radix(hex, 16),
                None => U256::from_str_radix(t, 10),
            };
            parsed.map_err(|_| bad(s))
        }
    }
}

fn parse_u64(field: &str, raw: &RawNumber) -> Result<u64, GenesisError> {
    let v = parse_u256(field, raw)?;
    u64::try_from(v).map_err(|_| GenesisError::BadNumber {
        field: field.to_string(),
        value: v.to_string(),
    })
}

fn parse_bytes(field: &str, s: &str) -> Result<Bytes, GenesisError> {
    alloy_primitives::hex::decode(s.trim())
        .map(Bytes::from)
        .map_err(|_| GenesisError::BadHex {
            field: field.to_string(),
            value: s.to_string(),
        })
}

fn parse_fixed<const N: usize>(field: &str, s: &str) -> Result<[u8; N], GenesisError> {
    let bytes = parse_bytes(field, s)?;
    <[u8; N]>::try_from(bytes.as_ref()).map_err(|_| GenesisError::BadHex {
        field: field.to_string(),
        value: s.to_string(),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAccount {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    storage: Option<BTreeMap<String, String>>,
    #[serde(default)]
    balance: Option<RawNumber>,
    #[serde(default)]
    nonce: Option<RawNumber>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawGenesis {
    config: ChainConfig,
    #[serde(default)]
    nonce: Option<RawNumber>,
    #[serde(default)]
    timestamp: Option<RawNumber>,
    #[serde(default)]
    extra_data: Option<String>,
    gas_limit: Option<RawNumber>,
    #[serde(default)]
    difficulty: Option<RawNumber>,
    #[serde(default)]
    mix_hash: Option<String>,
    #[serde(default)]
    coinbase: Option<String>,
    #[serde(default)]
    alloc: BTreeMap<String, RawAccount>,
    #[serde(default)]
    base_fee_per_gas: Option<RawNumber>,
    #[serde(default)]
    seed: Option<String>,
    #[serde(default)]
    total_balance_of_miners: Option<RawNumber>,
}

/// One pre-funded account.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GenesisAccount {
    pub nonce: u64,
    /// Balance in wei.
    pub balance: U256,
    /// Code (empty for none).
    pub code: Bytes,
    /// Initial storage, slot to value.
    pub storage: BTreeMap<U256, U256>,
}

/// A validated genesis file: the chain config, the genesis header's fields and
/// the pre-funded accounts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    pub config: ChainConfig,
    /// Header nonce (Kaleido: consensus version).
    pub nonce: u64,
    /// Seconds since the Unix epoch; also picks the forks active at genesis.
    pub timestamp: u64,
    /// Extra data (≤ 32 bytes).
    pub extra_data: Bytes,
    pub gas_limit: u64,
    /// Header difficulty (0 when absent).
    pub difficulty: U256,
    /// Header mix hash (zero when absent).
    pub mix_hash: B256,
    /// The genesis header's beneficiary (zero when absent).
    pub coinbase: Address,
    /// Pre-funded accounts.
    pub alloc: BTreeMap<Address, GenesisAccount>,
    /// Base fee when London is active at genesis.
    pub base_fee_per_gas: Option<u64>,
    /// Kaleido's genesis seed.
    pub seed: B256,
    /// Kaleido's declared genesis total stake of miners.
    pub total_balance_of_miners: U256,
}

impl Genesis {
    /// Parses and validates a genesis file's text.
    pub fn from_json(text: &str) -> Result<Self, GenesisError> {
        let raw: RawGenesis = serde_json::from_str(text)?;
        raw.config.validate()?;
        let num = |field: &str, v: &Option<RawNumber>| -> Result<u64, GenesisError> {
            v.as_ref().map_or(Ok(0), |v| parse_u64(field, v))
        };
        let gas_limit = match &raw.gas_limit {
            Some(v) => parse_u64("gasLimit", v)?,
            None => return Err(GenesisError::ZeroGasLimit),
        };
        if gas_limit == 0 {
            return Err(GenesisError::ZeroGasLimit);
        }
        let extra_data = match &raw.extra_data {
            Some(s) => parse_bytes("extraData", s)?,
            None => Bytes::new(),
        };
        if extra_data.len() > MAX_EXTRA_DATA {
            return Err(GenesisError::ExtraDataTooLong(extra_data.len()));
        }
        let mut alloc = BTreeMap::new();
        for (address, account) in &raw.alloc {
            let field = format!("alloc.{address}");
            let addr = Address::from(parse_fixed::<20>(&field, address)?);
            let mut storage = BTreeMap::new();
            for (k, v) in account.storage.iter().flatten() {
                let key = parse_u256(&format!("{field}.storage"), &RawNumber::Text(k.clone()))?;
                let value = parse_u256(&format!("{field}.storage"), &RawNumber::Text(v.clone()))?;
                if !value.is_zero() {
                    storage.insert(key, value);
                }
            }
            alloc.insert(
                addr,
                GenesisAccount {
                    nonce: num(&format!("{field}.nonce"), &account.nonce)?,
                    balance: account.balance.as_ref().map_or(Ok(U256::ZERO), |b| {
                        parse_u256(&format!("{field}.balance"), b)
                    })?,
                    code: match &account.code {
                        Some(c) => parse_bytes(&format!("{field}.code"), c)?,
                        None => Bytes::new(),
                    },
                    storage,
                },
            );
        }
        let london_at_genesis =
            raw.config.spec_at(0, num("timestamp", &raw.timestamp)?) >= SpecId::LONDON;
        let base_fee_per_gas = match &raw.base_fee_per_gas {
            Some(v) => Some(parse_u64("baseFeePerGas", v)?),
            None if london_at_genesis => Some(INITIAL_BASE_FEE),
            None => None,
        };
        Ok(Self {
            nonce: num("nonce", &raw.nonce)?,
            timestamp: num("timestamp", &raw.timestamp)?,
            extra_data,
            gas_limit,
            difficulty: raw
                .difficulty
                .as_ref()
                .map_or(Ok(U256::ZERO), |d| parse_u256("difficulty", d))?,
            mix_hash: match &raw.mix_hash {
                Some(s) => B256::from(parse_fixed::<32>("mixHash", s)?),
                None => B256::ZERO,
            },
            coinbase: match &raw.coinbase {
                Some(s) => Address::from(parse_fixed::<20>("coinbase", s)?),
                None => Address::ZERO,
            },
            alloc,
            base_fee_per_gas,
            seed: match &raw.seed {
                Some(s) => B256::from(parse_fixed::<32>("seed", s)?),
                None => B256::ZERO,
            },
            total_balance_of_miners: raw
                .total_balance_of_miners
                .as_ref()
                .map_or(Ok(U256::ZERO), |v| parse_u256("totalBalanceOfMiners", v))?,
            config: raw.config,
        })
    }

    /// The genesis state as a change set over an empty state (what the store commits).
    pub fn change_set(&self) -> ChangeSet {
        let mut changes = ChangeSet::default();
        for (address, account) in &self.alloc {
            let code_hash = if account.code.is_empty() {
                revm::primitives::KECCAK_EMPTY
            } else {
                let hash = alloy_primitives::keccak256(&account.code);
                changes.codes.insert(hash, account.code.clone());
                hash
            };
            changes.set_account(*address, account.nonce, account.balance, code_hash);
            if let Some(change) = changes.accounts.get_mut(address) {
                change.storage = account.storage.clone();
            }
        }
        changes
    }

    /// The genesis header for a given state root.
    pub fn header(&self, state_root: B256) -> KalgoHeader {
        let spec = self.config.spec_at(0, self.timestamp);
        let eth = Header {
            number: 0,
            timestamp: self.timestamp,
            extra_data: self.extra_data.clone(),
            gas_limit: self.gas_limit,
            difficulty: self.difficulty,
            mix_hash: self.mix_hash,
            nonce: B64::from(self.nonce),
            beneficiary: self.coinbase,
            state_root,
            base_fee_per_gas: self.base_fee_per_gas,
            ..fork_fields(spec)
        };
        KalgoHeader {
            eth,
            seed: self.seed,
            total_balance_of_miners: self.total_balance_of_miners,
            proposer: Address::ZERO,
        }
    }

    /// The genesis state root and header.
    pub fn build(&self) -> Result<(ChangeSet, B256, KalgoHeader), StorageError> {
        let changes = self.change_set();
        let root = state_root(&MemoryState::default(), &changes)?.root;
        let header = self.header(root);
        Ok((changes, root, header))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_trie::EMPTY_ROOT_HASH;

    const GOOD: &str = r#"{
      "config": { "chainId": 889, "homesteadBlock": 1, "eip150Block": 2, "eip155Block": 3,
                  "eip158Block": 3, "byzantiumBlock": 4,
                  "algorand": { "timeoutTwoLambda": 2000, "totalWeight": 10000000000, "intervalSize": 1000000 } },
      "nonce": "0x1", "timestamp": "0x5d12f4bb", "extraData": "0x6b616c6569646f",
      "gasLimit": "0x3c14dc0", "difficulty": "0x0",
      "mixHash": "0x0000000000000000000000000000000000000000000000000000000000000000",
      "coinbase": "0x0000000000000000000000000000000000000000",
      "seed": "0x3b2cf2c1000000000000000000000000000000000000000000000000000053a1",
      "totalBalanceOfMiners": "100000000000000000000000000",
      "alloc": {
        "0e09768B2B2e7aa534243f8bf9AFdC145DdA8EDa": { "balance": "100000000000000000000000000" },
        "0x0000000000000000000000000000000000000063": { "code": "0x6001", "storage": { "0x01": "0x02" } }
      }
    }"#;

    #[test]
    fn parses_kaleido_style_genesis() {
        let g = Genesis::from_json(GOOD);
        assert!(g.is_ok(), "{g:?}");
        let Ok(g) = g else { return };
        assert_eq!(g.config.chain_id(), 889);
        assert_eq!(g.gas_limit, 63_000_000);
        assert_eq!(g.alloc.len(), 2);
        assert_eq!(g.base_fee_per_gas, None);
        assert_eq!(g.extra_data.as_ref(), b"kaleido");
        let built = g.build();
        assert!(built.is_ok());
        if let Ok((_, root, header)) = built {
            assert_eq!(header.eth.state_root, root);
            assert_ne!(root, EMPTY_ROOT_HASH);
            assert_eq!(header.eth.base_fee_per_gas, None);
        }
    }

    fn err(text: &str) -> Option<GenesisError> {
        Genesis::from_json(text).err()
    }

    #[test]
    fn malformed_genesis_files_are_rejected_with_clear_errors() {
        assert!(matches!(err("{"), Some(GenesisError::Json(_))));
        assert!(matches!(
            err(&GOOD.replace("\"chainId\": 889,", "")),
            Some(GenesisError::Config(ConfigError::MissingChainId))
        ));
        assert!(matches!(
            err(&GOOD.replace("\"byzantiumBlock\": 4", "\"byzantiumBlock\": 2")),
            Some(GenesisError::Config(ConfigError::ForkOrder {
                fork: "byzantiumBlock",
                ..
            }))
        ));
        assert!(matches!(
            err(&GOOD.replace("0x6b616c6569646f", "0xzz")),
            Some(GenesisError::BadHex { .. })
        ));
        assert!(matches!(
            err(&GOOD.replace("\"0x3c14dc0\"", "\"lots\"")),
            Some(GenesisError::BadNumber { .. })
        ));
        assert!(matches!(
            err(&GOOD.replace("\"0x3c14dc0\"", "\"0x0\"")),
            Some(GenesisError::ZeroGasLimit)
        ));
        assert!(matches!(
            err(&GOOD.replace("0e09768B2B2e7aa534243f8bf9AFdC145DdA8EDa", "0e0976")),
            Some(GenesisError::BadHex { .. })
        ));
        assert!(matches!(
            err(&GOOD.replace("0x6b616c6569646f", &format!("0x{}", "ab".repeat(33)))),
            Some(GenesisError::ExtraDataTooLong(33))
        ));
        let no_algorand = GOOD.replace(
            ",\n                  \"algorand\": { \"timeoutTwoLambda\": 2000, \"totalWeight\": 10000000000, \"intervalSize\": 1000000 }",
            "",
        );
        assert!(matches!(
            err(&no_algorand),
            Some(GenesisError::Config(ConfigError::MissingAlgorand))
        ));
    }

    #[test]
    fn london_genesis_gets_initial_base_fee() {
        let text = r#"{ "config": { "chainId": 1337, "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0,
            "eip158Block": 0, "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0,
            "istanbulBlock": 0, "berlinBlock": 0, "londonBlock": 0, "shanghaiTime": 0, "cancunTime": 0,
            "pragueTime": 0, "algorand": { "timeoutTwoLambda": 1000, "totalWeight": 10000000, "intervalSize": 1000,
            "committeeMode": "fixed" } }, "gasLimit": 63000000, "alloc": {} }"#;
        let g = Genesis::from_json(text);
        assert!(g.is_ok(), "{g:?}");
        if let Ok(g) = g {
            assert_eq!(g.base_fee_per_gas, Some(INITIAL_BASE_FEE));
            let header = g.header(EMPTY_ROOT_HASH);
            assert_eq!(header.eth.parent_beacon_block_root, Some(B256::ZERO));
            assert!(header.eth.requests_hash.is_some());
        }
    }
}
