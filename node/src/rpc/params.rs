//! Parsing method arguments the way geth accepts them: positional arguments,
//! optional trailing ones, `0x` hex quantities without leading zeros, block tags
//! and EIP-1898 block objects, call and filter objects. Every failure is an
//! `invalid params` error naming the argument; nothing here panics on input.

use alloy_primitives::{Address, B256, Bytes, U256};
use jsonrpsee::types::Params;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde_json::Value;

use crate::rpc::error::{RpcError, RpcResult};

/// Positional arguments of one call.
pub struct Args(Vec<Value>);

impl Args {
    /// Reads the arguments, refusing more than `max`.
    pub fn new(params: &Params<'_>, max: usize) -> RpcResult<Self> {
        let values = match params.as_str() {
            None => Vec::new(),
            Some(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Array(v)) => v,
                Ok(Value::Null) => Vec::new(),
                Ok(_) => return Err(RpcError::InvalidParams("non-array args".into())),
                Err(e) => return Err(RpcError::InvalidParams(e.to_string())),
            },
        };
        if values.len() > max {
            return Err(RpcError::InvalidParams(format!(
                "too many arguments, want at most {max}"
            )));
        }
        Ok(Self(values))
    }

    /// Argument `i`, which must be present and not null.
    pub fn required<T: DeserializeOwned>(&self, i: usize) -> RpcResult<T> {
        match self.0.get(i) {
            None | Some(Value::Null) => Err(RpcError::InvalidParams(format!(
                "missing value for required argument {i}"
            ))),
            Some(v) => parse(i, v),
        }
    }

    /// Argument `i` if present and not null.
    pub fn optional<T: DeserializeOwned>(&self, i: usize) -> RpcResult<Option<T>> {
        match self.0.get(i) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => parse(i, v).map(Some),
        }
    }

    /// Raw argument `i`.
    pub fn raw(&self, i: usize) -> Option<&Value> {
        self.0.get(i).filter(|v| !v.is_null())
    }
}

fn parse<T: DeserializeOwned>(i: usize, v: &Value) -> RpcResult<T> {
    T::deserialize(v).map_err(|e| RpcError::InvalidParams(format!("invalid argument {i}: {e}")))
}

/// A hex quantity (`0x0`, `0x1f`): no leading zeros, at most 64 bits.
pub fn quantity_u64(s: &str) -> Result<u64, String> {
    let digits = hex_digits(s)?;
    if digits.len() > 16 {
        return Err("hex number > 64 bits".into());
    }
    u64::from_str_radix(digits, 16).map_err(|e| e.to_string())
}

fn hex_digits(s: &str) -> Result<&str, String> {
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .ok_or_else(|| "hex string without 0x prefix".to_string())?;
    if digits.is_empty() {
        return Err("hex string \"0x\"".into());
    }
    if digits.len() > 1 && digits.starts_with('0') {
        return Err("hex number with leading zero digits".into());
    }
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("invalid hex string".into());
    }
    Ok(digits)
}

/// A 256-bit hex quantity.
pub fn quantity_u256(s: &str) -> Result<U256, String> {
    let digits = hex_digits(s)?;
    if digits.len() > 64 {
        return Err("hex number > 256 bits".into());
    }
    U256::from_str_radix(digits, 16).map_err(|e| e.to_string())
}

/// A u64 quantity argument (serde adapter).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity(pub u64);

impl<'de> serde::Deserialize<'de> for Quantity {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        quantity_u64(&s)
            .map(Quantity)
            .map_err(serde::de::Error::custom)
    }
}

/// A U256 quantity argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quantity256(pub U256);

impl<'de> serde::Deserialize<'de> for Quantity256 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        quantity_u256(&s)
            .map(Quantity256)
            .map_err(serde::de::Error::custom)
    }
}

/// A block named by tag or number (`eth_getBlockByNumber` and state queries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockTag {
    /// `latest`, and `finalized`/`safe` (every committed block is final: BA* certified).
    Latest,
    /// `pending`: state queries add the pool where it matters (nonces).
    Pending,
    /// `earliest`: genesis.
    Earliest,
    Number(u64),
}

/// A block by tag, number or hash (EIP-1898).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockId {
    /// Tag or number.
    Tag(BlockTag),
    Hash(B256),
}

/// Parses a tag or a number.
pub fn block_tag(v: &Value) -> Result<BlockTag, String> {
    let Value::String(s) = v else {
        return Err("block number or tag must be a string".into());
    };
    Ok(match s.as_str() {
        "latest" | "finalized" | "safe" => BlockTag::Latest,
        "pending" => BlockTag::Pending,
        "earliest" => BlockTag::Earliest,
        other => BlockTag::Number(quantity_u64(other)?),
    })
}

/// Parses a tag, a number, a hash, or an EIP-1898 object.
pub fn block_id(v: &Value) -> Result<BlockId, String> {
    match v {
        Value::String(s) if s.len() == 66 => s
            .parse::<B256>()
            .map(BlockId::Hash)
            .map_err(|e| e.to_string()),
        Value::String(_) => block_tag(v).map(BlockId::Tag),
        Value::Object(m) => match (m.get("blockHash"), m.get("blockNumber")) {
            (Some(Value::String(h)), None) => h
                .parse::<B256>()
                .map(BlockId::Hash)
                .map_err(|e| e.to_string()),
            (None, Some(n)) => block_tag(n).map(BlockId::Tag),
            _ => Err("block object must have exactly one of blockHash, blockNumber".into()),
        },
        _ => Err("invalid block identifier".into()),
    }
}

/// Argument `i` as a block id, `latest` if absent.
pub fn block_id_arg(args: &Args, i: usize) -> RpcResult<BlockId> {
    match args.raw(i) {
        None => Ok(BlockId::Tag(BlockTag::Latest)),
        Some(v) => {
            block_id(v).map_err(|e| RpcError::InvalidParams(format!("invalid argument {i}: {e}")))
        }
    }
}

/// Argument `i` as a block tag or number (required).
pub fn block_tag_arg(args: &Args, i: usize) -> RpcResult<BlockTag> {
    match args.raw(i) {
        None => Err(RpcError::InvalidParams(format!(
            "missing value for required argument {i}"
        ))),
        Some(v) => {
            block_tag(v).map_err(|e| RpcError::InvalidParams(format!("invalid argument {i}: {e}")))
        }
    }
}

/// Most addresses plus storage keys in a call's access list.
pub const MAX_ACCESS_LIST_ENTRIES: usize = 16_384;

/// Most authorizations in a call's `authorizationList` (each costs a signature
/// recovery).
pub const MAX_AUTHORIZATIONS: usize = 1_024;

/// The transaction object of `eth_call` / `eth_estimateGas`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CallObject {
    /// Sender (the zero address if absent).
    pub from: Option<Address>,
    /// Recipient; absent: `input` runs as init code.
    pub to: Option<Address>,
    /// Gas limit (the block gas limit if absent; capped by `--rpc.gascap`).
    pub gas: Option<Quantity>,
    /// Legacy gas price.
    pub gas_price: Option<Quantity256>,
    /// EIP-1559 fee cap.
    pub max_fee_per_gas: Option<Quantity256>,
    /// EIP-1559 tip cap.
    pub max_priority_fee_per_gas: Option<Quantity256>,
    /// Wei sent (zero if absent).
    pub value: Option<Quantity256>,
    /// Calldata (`input` is the newer name; if both are given they must match).
    pub data: Option<Bytes>,
    /// Calldata or init code; preferred over `data`.
    pub input: Option<Bytes>,
    /// Nonce (not checked).
    pub nonce: Option<Quantity>,
    /// Transaction type (accepted, derived from the other fields; 3 runs as 2).
    #[serde(rename = "type")]
    pub tx_type: Option<Quantity>,
    /// Chain id (checked when given).
    pub chain_id: Option<Quantity>,
    /// EIP-2930 access list (used from Berlin on).
    pub access_list: Option<Value>,
    /// EIP-7702 authorizations (from Prague on; the call needs a `to`).
    pub authorization_list: Option<Value>,
    /// EIP-4844 blob fields, accepted as geth's `TransactionArgs` does and ignored:
    /// kalgo chains carry no blobs.
    pub blob_versioned_hashes: Option<IgnoredAny>,
    /// Ignored (no blobs).
    pub max_fee_per_blob_gas: Option<IgnoredAny>,
    /// Ignored (no blobs).
    pub blobs: Option<IgnoredAny>,
    /// Ignored (no blobs).
    pub commitments: Option<IgnoredAny>,
    /// Ignored (no blobs).
    pub proofs: Option<IgnoredAny>,
}

fn fee(q: Option<Quantity256>, name: &str) -> RpcResult<Option<u128>> {
    q.map(|q| u128::try_from(q.0).map_err(|_| RpcError::InvalidParams(format!("{name} too large"))))
        .transpose()
}

impl CallObject {
    /// The execution-layer request.
    pub fn into_request(self, chain_id: u64) -> RpcResult<actors::execution::call::CallRequest> {
        if let (Some(d), Some(i)) = (&self.data, &self.input)
            && d != i
        {
            return Err(RpcError::InvalidParams(
                "both \"data\" and \"input\" are set and not equal. Please use \"input\" to pass transaction call data".into(),
            ));
        }
        if let Some(id) = self.chain_id
            && id.0 != chain_id
        {
            return Err(RpcError::InvalidParams(format!(
                "invalid chain id: have {} want {chain_id}",
                id.0
            )));
        }
        if let Some(t) = self.tx_type
            && t.0 > 4
        {
            return Err(RpcError::InvalidParams(format!(
                "transaction type {:#x} not supported by calls",
                t.0
            )));
        }
        let access_list: alloy_eips::eip2930::AccessList = match self.access_list {
            None | Some(Value::Null) => Default::default(),
            Some(l) => serde_json::from_value(l)
                .map_err(|e| RpcError::InvalidParams(format!("invalid accessList: {e}")))?,
        };
        let slots: usize = access_list.iter().map(|i| i.storage_keys.len() + 1).sum();
        if slots > MAX_ACCESS_LIST_ENTRIES {
            return Err(RpcError::Limit(format!(
                "accessList too long: {slots} entries (at most {MAX_ACCESS_LIST_ENTRIES})"
            )));
        }
        let authorization_list: Vec<alloy_eips::eip7702::SignedAuthorization> = match self
            .authorization_list
        {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(l)) if l.len() > MAX_AUTHORIZATIONS => {
                return Err(RpcError::Limit(format!(
                    "authorizationList too long: {} entries (at most {MAX_AUTHORIZATIONS})",
                    l.len()
                )));
            }
            Some(l) => serde_json::from_value(l)
                .map_err(|e| RpcError::InvalidParams(format!("invalid authorizationList: {e}")))?,
        };
        if !authorization_list.is_empty() && self.to.is_none() {
            return Err(RpcError::InvalidParams(
                "EIP-7702 transaction cannot be used to create contract".into(),
            ));
        }
        if self.gas_price.is_some()
            && (self.max_fee_per_gas.is_some() || self.max_priority_fee_per_gas.is_some())
        {
            return Err(RpcError::InvalidParams(
                "both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified".into(),
            ));
        }
        Ok(actors::execution::call::CallRequest {
            from: self.from,
            to: self.to,
            gas: self.gas.map(|g| g.0),
            gas_price: fee(self.gas_price, "gasPrice")?,
            max_fee_per_gas: fee(self.max_fee_per_gas, "maxFeePerGas")?,
            max_priority_fee_per_gas: fee(self.max_priority_fee_per_gas, "maxPriorityFeePerGas")?,
            value: self.value.map(|v| v.0),
            input: self.input.or(self.data).unwrap_or_default(),
            nonce: self.nonce.map(|n| n.0),
            access_list,
            authorization_list,
        })
    }
}

/// One address or a list (filter `address`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// As a list.
    pub fn into_vec(self) -> Vec<T> {
        match self {
            Self::One(t) => vec![t],
            Self::Many(v) => v,
        }
    }
}

/// The filter object of `eth_getLogs` / `eth_newFilter`.
#[derive(Clone, Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FilterObject {
    /// First block (tag or number).
    pub from_block: Option<Value>,
    /// Last block (tag or number).
    pub to_block: Option<Value>,
    /// A single block by hash (excludes the range).
    pub block_hash: Option<B256>,
    /// Emitting contracts to match (one or a list); absent or empty matches any.
    pub address: Option<OneOrMany<Address>>,
    /// Topics: per position null, a topic, or a list of alternatives.
    pub topics: Option<Vec<Option<OneOrMany<Option<B256>>>>>,
}

impl FilterObject {
    /// Topic alternatives per position (`None` = any).
    pub fn topic_sets(&self) -> Vec<Option<Vec<B256>>> {
        self.topics
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                t.and_then(|t| {
                    let list: Vec<Option<B256>> = t.into_vec();
                    // A null inside a list means "any" for that position.
                    if list.iter().any(Option::is_none) {
                        None
                    } else {
                        Some(list.into_iter().flatten().collect())
                    }
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities_follow_geth() {
        assert_eq!(quantity_u64("0x0"), Ok(0));
        assert_eq!(quantity_u64("0x1f"), Ok(31));
        assert!(quantity_u64("0x01").is_err());
        assert!(quantity_u64("12").is_err());
        assert!(quantity_u64("0x").is_err());
        assert!(quantity_u64("0xzz").is_err());
        assert!(quantity_u64("0x10000000000000000").is_err());
        assert_eq!(quantity_u256("0xff"), Ok(U256::from(255)));
        assert!(quantity_u256(&format!("0x1{}", "0".repeat(64))).is_err());
    }

    #[test]
    fn block_ids() {
        assert_eq!(
            block_id(&json!("latest")),
            Ok(BlockId::Tag(BlockTag::Latest))
        );
        assert_eq!(block_id(&json!("safe")), Ok(BlockId::Tag(BlockTag::Latest)));
        assert_eq!(
            block_id(&json!("0x2")),
            Ok(BlockId::Tag(BlockTag::Number(2)))
        );
        let h = format!("0x{}", "ab".repeat(32));
        assert_eq!(
            block_id(&json!(h)),
            Ok(BlockId::Hash(B256::repeat_byte(0xab)))
        );
        assert_eq!(
            block_id(&json!({"blockHash": h})),
            Ok(BlockId::Hash(B256::repeat_byte(0xab)))
        );
        assert_eq!(
            block_id(&json!({"blockNumber": "earliest"})),
            Ok(BlockId::Tag(BlockTag::Earliest))
        );
        assert!(block_id(&json!(5)).is_err());
        assert!(block_id(&json!("newest")).is_err());
    }

    #[test]
    fn call_objects() {
        let c: CallObject = serde_json::from_value(
            json!({"to": format!("0x{}", "11".repeat(20)), "data": "0x1234", "gas": "0x5208"}),
        )
        .unwrap_or_default();
        let r = c.into_request(1).ok();
        assert_eq!(r.as_ref().map(|r| r.input.len()), Some(2));
        assert_eq!(r.and_then(|r| r.gas), Some(21000));
        assert!(serde_json::from_value::<CallObject>(json!({"bogus": 1})).is_err());
        let both: CallObject =
            serde_json::from_value(json!({"data": "0x12", "input": "0x34"})).unwrap_or_default();
        assert!(both.into_request(1).is_err());
        // Every field of geth's TransactionArgs is accepted; blob fields are ignored.
        let blobby: CallObject = serde_json::from_value(json!({
            "to": format!("0x{}", "11".repeat(20)),
            "input": "0x12", "type": "0x3", "chainId": "0x1",
            "blobVersionedHashes": [format!("0x01{}", "00".repeat(31))],
            "maxFeePerBlobGas": "0x1", "blobs": ["0x00"], "commitments": [], "proofs": [],
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let r = blobby.into_request(1).ok();
        assert_eq!(r.map(|r| r.input.len()), Some(1));
    }
}
