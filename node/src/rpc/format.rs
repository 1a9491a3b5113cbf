//! The JSON shapes of geth's answers: blocks, transactions, receipts and logs.
//! Quantities are `0x` hex without leading zeros, data is `0x` hex, unknown
//! values are `null`; fork-dependent header fields appear only when the fork
//! defines them (`baseFeePerGas` from London, `withdrawals` from Shanghai, …).
//!
//! Blocks also carry Kaleido's extra fields: `seed`, `proposer`,
//! `totalBalanceOfMiners` and `version` (the header nonce, Kaleido's consensus
//! version). The block `hash` is kalgo's header hash, which covers those fields.

use actors::execution::query::{FullReceipt, LogEntry, StoredBlock};
use alloy_consensus::{Eip658Value, Transaction, TxEnvelope, TxReceipt};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Address, B256, U256};
use serde_json::{Map, Value, json};

/// `0x`-hex quantity.
pub fn qty(n: impl Into<U256>) -> Value {
    Value::String(format!("{:#x}", n.into()))
}

/// Where a transaction sits (absent for pooled transactions).
#[derive(Clone, Copy, Debug)]
pub struct TxPosition {
    pub block_hash: B256,
    pub block_number: u64,
    /// Index in the block.
    pub index: u64,
    /// The block's base fee.
    pub base_fee: Option<u64>,
}

/// A transaction as `eth_getTransactionByHash` returns it.
pub fn transaction(tx: &TxEnvelope, from: Address, at: Option<TxPosition>) -> Value {
    let sig = tx.signature();
    let mut m = Map::new();
    m.insert("type".into(), qty(U256::from(tx.tx_type() as u8)));
    m.insert("hash".into(), json!(tx.tx_hash()));
    m.insert("nonce".into(), qty(U256::from(tx.nonce())));
    m.insert("from".into(), json!(from));
    m.insert("to".into(), json!(tx.to()));
    m.insert("value".into(), qty(tx.value()));
    m.insert("gas".into(), qty(U256::from(tx.gas_limit())));
    m.insert("input".into(), json!(tx.input()));
    match at {
        Some(p) => {
            m.insert("blockHash".into(), json!(p.block_hash));
            m.insert("blockNumber".into(), qty(U256::from(p.block_number)));
            m.insert("transactionIndex".into(), qty(U256::from(p.index)));
        }
        None => {
            m.insert("blockHash".into(), Value::Null);
            m.insert("blockNumber".into(), Value::Null);
            m.insert("transactionIndex".into(), Value::Null);
        }
    }
    match tx {
        TxEnvelope::Legacy(_) => {
            m.insert("gasPrice".into(), qty(U256::from(tx.max_fee_per_gas())));
            if let Some(id) = tx.chain_id() {
                m.insert("chainId".into(), qty(U256::from(id)));
            }
            let v = alloy_consensus::transaction::to_eip155_value(sig.v(), tx.chain_id());
            m.insert("v".into(), qty(U256::from(v)));
        }
        _ => {
            let price = match at {
                Some(p) => tx.effective_gas_price(p.base_fee),
                None => tx.max_fee_per_gas(),
            };
            m.insert("gasPrice".into(), qty(U256::from(price)));
            if let Some(id) = tx.chain_id() {
                m.insert("chainId".into(), qty(U256::from(id)));
            }
            if let Some(list) = tx.access_list() {
                m.insert("accessList".into(), json!(list));
            }
            if let Some(list) = tx.authorization_list() {
                m.insert("authorizationList".into(), json!(list));
            }
            if !matches!(tx, TxEnvelope::Eip2930(_)) {
                m.insert("maxFeePerGas".into(), qty(U256::from(tx.max_fee_per_gas())));
                m.insert(
                    "maxPriorityFeePerGas".into(),
                    qty(U256::from(tx.max_priority_fee_per_gas().unwrap_or(0))),
                );
            }
            m.insert("v".into(), qty(U256::from(u8::from(sig.v()))));
            m.insert("yParity".into(), qty(U256::from(u8::from(sig.v()))));
        }
    }
    m.insert("r".into(), qty(sig.r()));
    m.insert("s".into(), qty(sig.s()));
    Value::Object(m)
}

/// A block; with `full` its transactions are objects, else hashes.
/// `genesis_difficulty` gives Kaleido's `totalDifficulty` (every later block has
/// difficulty 1).
pub fn block(b: &StoredBlock, full: bool, genesis_difficulty: U256) -> Value {
    let h = &b.block.header;
    let e = &h.eth;
    let mut m = Map::new();
    m.insert("number".into(), qty(U256::from(e.number)));
    m.insert("hash".into(), json!(b.hash));
    m.insert("parentHash".into(), json!(e.parent_hash));
    m.insert("nonce".into(), json!(e.nonce));
    m.insert("mixHash".into(), json!(e.mix_hash));
    m.insert("sha3Uncles".into(), json!(e.ommers_hash));
    m.insert("logsBloom".into(), json!(e.logs_bloom));
    m.insert("transactionsRoot".into(), json!(e.transactions_root));
    m.insert("stateRoot".into(), json!(e.state_root));
    m.insert("receiptsRoot".into(), json!(e.receipts_root));
    m.insert("miner".into(), json!(e.beneficiary));
    m.insert("difficulty".into(), qty(e.difficulty));
    let td = if e.number == 0 {
        genesis_difficulty
    } else {
        genesis_difficulty.saturating_add(U256::from(e.number))
    };
    m.insert("totalDifficulty".into(), qty(td));
    m.insert("extraData".into(), json!(e.extra_data));
    m.insert("size".into(), qty(U256::from(b.size)));
    m.insert("gasLimit".into(), qty(U256::from(e.gas_limit)));
    m.insert("gasUsed".into(), qty(U256::from(e.gas_used)));
    m.insert("timestamp".into(), qty(U256::from(e.timestamp)));
    if let Some(fee) = e.base_fee_per_gas {
        m.insert("baseFeePerGas".into(), qty(U256::from(fee)));
    }
    if let Some(root) = e.withdrawals_root {
        m.insert("withdrawalsRoot".into(), json!(root));
        m.insert("withdrawals".into(), json!([]));
    }
    if let Some(g) = e.blob_gas_used {
        m.insert("blobGasUsed".into(), qty(U256::from(g)));
    }
    if let Some(g) = e.excess_blob_gas {
        m.insert("excessBlobGas".into(), qty(U256::from(g)));
    }
    if let Some(r) = e.parent_beacon_block_root {
        m.insert("parentBeaconBlockRoot".into(), json!(r));
    }
    if let Some(r) = e.requests_hash {
        m.insert("requestsHash".into(), json!(r));
    }
    m.insert("uncles".into(), json!([]));
    let txs: Vec<Value> = if full {
        b.block
            .transactions
            .iter()
            .zip(&b.senders)
            .enumerate()
            .map(|(i, (tx, from))| {
                transaction(
                    tx,
                    *from,
                    Some(TxPosition {
                        block_hash: b.hash,
                        block_number: e.number,
                        index: i as u64,
                        base_fee: e.base_fee_per_gas,
                    }),
                )
            })
            .collect()
    } else {
        b.block
            .transactions
            .iter()
            .map(|t| json!(t.tx_hash()))
            .collect()
    };
    m.insert("transactions".into(), Value::Array(txs));
    // Kaleido's fields.
    m.insert("seed".into(), json!(h.seed));
    m.insert("proposer".into(), json!(h.proposer));
    m.insert(
        "totalBalanceOfMiners".into(),
        qty(h.total_balance_of_miners),
    );
    m.insert("version".into(), qty(U256::from(u64::from(e.nonce))));
    Value::Object(m)
}

/// A log with its position.
pub fn log(l: &LogEntry) -> Value {
    json!({
        "address": l.log.address,
        "topics": l.log.data.topics(),
        "data": l.log.data.data,
        "blockNumber": qty(U256::from(l.block_number)),
        "blockHash": l.block_hash,
        "transactionHash": l.tx_hash,
        "transactionIndex": qty(U256::from(l.tx_index)),
        "logIndex": qty(U256::from(l.log_index)),
        "removed": false,
    })
}

/// A receipt as `eth_getTransactionReceipt` returns it.
pub fn receipt(r: &FullReceipt) -> Value {
    let logs: Vec<Value> = actors::execution::query::receipt_logs(r)
        .iter()
        .map(log)
        .collect();
    let mut m = Map::new();
    m.insert("transactionHash".into(), json!(r.tx_hash));
    m.insert("transactionIndex".into(), qty(U256::from(r.index)));
    m.insert("blockHash".into(), json!(r.block_hash));
    m.insert("blockNumber".into(), qty(U256::from(r.block_number)));
    m.insert("from".into(), json!(r.from));
    m.insert("to".into(), json!(r.to));
    m.insert(
        "cumulativeGasUsed".into(),
        qty(U256::from(r.receipt.cumulative_gas_used())),
    );
    m.insert("gasUsed".into(), qty(U256::from(r.gas_used)));
    m.insert("contractAddress".into(), json!(r.contract_address));
    m.insert("logs".into(), Value::Array(logs));
    m.insert("logsBloom".into(), json!(r.receipt.bloom()));
    m.insert("type".into(), qty(U256::from(r.receipt.tx_type() as u8)));
    m.insert(
        "effectiveGasPrice".into(),
        qty(U256::from(r.effective_gas_price)),
    );
    match r.receipt.status_or_post_state() {
        Eip658Value::Eip658(ok) => {
            m.insert("status".into(), qty(U256::from(u8::from(ok))));
        }
        Eip658Value::PostState(root) => {
            m.insert("root".into(), json!(root));
        }
    }
    Value::Object(m)
}

/// `txpool_inspect`'s one-line summary of a transaction.
pub fn inspect(tx: &TxEnvelope) -> String {
    let price = tx.max_fee_per_gas();
    match tx.to() {
        Some(to) => format!(
            "{}: {} wei + {} gas × {} wei",
            to.to_checksum(None),
            tx.value(),
            tx.gas_limit(),
            price
        ),
        None => format!(
            "contract creation: {} wei + {} gas × {} wei",
            tx.value(),
            tx.gas_limit(),
            price
        ),
    }
}

/// The raw EIP-2718 bytes of a transaction.
pub fn raw(tx: &TxEnvelope) -> Vec<u8> {
    tx.encoded_2718()
}
