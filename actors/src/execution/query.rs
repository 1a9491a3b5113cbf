//! Reads of the committed chain for JSON-RPC and tools: blocks with their senders,
//! transactions by hash, receipts with the derived fields Ethereum clients expect
//! (gas used, contract address, effective gas price, log positions) and log
//! filtering with the header bloom.
//!
//! Plain functions over a [`Store`]: redb lets any number of readers take
//! snapshots while the execution actor commits, so none of this goes through the
//! actor's mailbox.

use alloy_consensus::{ReceiptEnvelope, Transaction, TxEnvelope};
use alloy_primitives::{Address, B256, Bloom, BloomInput, Log};

use crate::execution::{
    block::Block,
    header::KalgoHeader,
    state::StorageError,
    storage::{Store, TxLocation},
};

/// Why a chain read failed: the store failed or holds a record that does not decode.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored record does not decode.
    #[error("stored {what} of block {number} is corrupt")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// Block number.
        number: u64,
    },
    /// A log query covers too many blocks or matches too many logs.
    #[error("query exceeds the limit of {limit} {what}")]
    TooLarge {
        /// Blocks or logs.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
}

/// A committed block with its hash and the recovered sender of each transaction.
#[derive(Clone, Debug)]
pub struct StoredBlock {
    /// The block hash (covers Kaleido's extra header fields).
    pub hash: B256,
    /// Header and transactions.
    pub block: Block,
    /// Sender of each transaction.
    pub senders: Vec<Address>,
    /// Size in bytes of the stored header and body.
    pub size: u64,
}

/// A transaction of a committed block.
#[derive(Clone, Debug)]
pub struct IncludedTx {
    /// The signed transaction.
    pub tx: TxEnvelope,
    /// Its sender.
    pub sender: Address,
    /// Block hash.
    pub block_hash: B256,
    /// Block number.
    pub block_number: u64,
    /// Position in the block.
    pub index: u64,
    /// The block's base fee (London and later).
    pub base_fee: Option<u64>,
}

/// A receipt with everything `eth_getTransactionReceipt` shows.
#[derive(Clone, Debug)]
pub struct FullReceipt {
    /// The stored receipt (status or post-state root, cumulative gas, logs, bloom, type).
    pub receipt: ReceiptEnvelope,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Position in the block.
    pub index: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Block number.
    pub block_number: u64,
    /// Sender.
    pub from: Address,
    /// Recipient (`None` for a contract creation).
    pub to: Option<Address>,
    /// The created contract, for a creation.
    pub contract_address: Option<Address>,
    /// Gas used by this transaction alone.
    pub gas_used: u64,
    /// Price paid per gas.
    pub effective_gas_price: u128,
    /// Block-wide index of this receipt's first log.
    pub first_log_index: u64,
}

/// A log with its position in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Emitter, topics and data.
    pub log: Log,
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Transaction position in the block.
    pub tx_index: u64,
    /// Log position in the block.
    pub log_index: u64,
}

/// A log filter (`eth_getLogs`, `eth_newFilter`): an inclusive block range, any of
/// `addresses` (empty = any), and per topic position any of the given values
/// (`None` or an empty list = any).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogFilter {
    /// First block.
    pub from: u64,
    /// Last block (inclusive).
    pub to: u64,
    /// Emitters.
    pub addresses: Vec<Address>,
    /// Topic alternatives per position.
    pub topics: Vec<Option<Vec<B256>>>,
}

impl LogFilter {
    /// Whether `log` matches the address and topic criteria.
    pub fn matches(&self, log: &Log) -> bool {
        if !self.addresses.is_empty() && !self.addresses.contains(&log.address) {
            return false;
        }
        let topics = log.data.topics();
        for (i, want) in self.topics.iter().enumerate() {
            let Some(want) = want.as_ref().filter(|w| !w.is_empty()) else {
                continue;
            };
            match topics.get(i) {
                Some(t) if want.contains(t) => {}
                _ => return false,
            }
        }
        true
    }

    /// Whether a block with `bloom` may hold a matching log.
    pub fn may_match(&self, bloom: &Bloom) -> bool {
        let any = |items: &mut dyn Iterator<Item = &[u8]>| {
            let mut empty = true;
            for item in items {
                empty = false;
                if bloom.contains_input(BloomInput::Raw(item)) {
                    return true;
                }
            }
            empty
        };
        if !any(&mut self.addresses.iter().map(|a| a.as_slice())) {
            return false;
        }
        self.topics.iter().all(|want| match want {
            Some(list) => any(&mut list.iter().map(|t| t.as_slice())),
            None => true,
        })
    }
}

/// The header of canonical block `number`.
pub fn header(store: &Store, number: u64) -> Result<Option<KalgoHeader>, QueryError> {
    let Some(bytes) = store.header(number)? else {
        return Ok(None);
    };
    KalgoHeader::decode_bytes(&bytes)
        .map(Some)
        .map_err(|_| QueryError::Corrupt {
            what: "header",
            number,
        })
}

/// The number of the canonical block with `hash`.
pub fn number_of(store: &Store, hash: &B256) -> Result<Option<u64>, QueryError> {
    Ok(store.block_number(hash)?)
}

fn body(store: &Store, number: u64) -> Result<Option<(Vec<TxEnvelope>, u64)>, QueryError> {
    let Some(bytes) = store.body(number)? else {
        return Ok(None);
    };
    let txs = Block::decode_body(&bytes).map_err(|_| QueryError::Corrupt {
        what: "body",
        number,
    })?;
    Ok(Some((txs, bytes.len() as u64)))
}

fn recover(txs: &[TxEnvelope], number: u64) -> Result<Vec<Address>, QueryError> {
    use alloy_consensus::transaction::SignerRecoverable;
    txs.iter()
        .map(|t| {
            t.recover_signer().map_err(|_| QueryError::Corrupt {
                what: "transaction signature",
                number,
            })
        })
        .collect()
}

/// Canonical block `number` with its senders.
pub fn block(store: &Store, number: u64) -> Result<Option<StoredBlock>, QueryError> {
    let Some(header_bytes) = store.header(number)? else {
        return Ok(None);
    };
    let header = KalgoHeader::decode_bytes(&header_bytes).map_err(|_| QueryError::Corrupt {
        what: "header",
        number,
    })?;
    let (transactions, body_len) = body(store, number)?.unwrap_or_default();
    let senders = match store.senders(number)? {
        Some(s) if s.len() == transactions.len() => s,
        Some(_) => {
            return Err(QueryError::Corrupt {
                what: "senders count",
                number,
            });
        }
        // Stored before senders were kept: recover them.
        None => recover(&transactions, number)?,
    };
    Ok(Some(StoredBlock {
        hash: header.hash(),
        size: header_bytes.len() as u64 + body_len,
        block: Block {
            header,
            transactions,
        },
        senders,
    }))
}

/// A committed transaction by hash.
pub fn transaction(store: &Store, hash: &B256) -> Result<Option<IncludedTx>, QueryError> {
    let Some(TxLocation { block, index }) = store.tx_location(hash)? else {
        return Ok(None);
    };
    let Some(h) = header(store, block)? else {
        return Ok(None);
    };
    let Some((txs, _)) = body(store, block)? else {
        return Ok(None);
    };
    let Some(tx) = txs.into_iter().nth(index as usize) else {
        return Err(QueryError::Corrupt {
            what: "transaction index",
            number: block,
        });
    };
    let sender = match store.senders(block)? {
        Some(s) => *s.get(index as usize).ok_or(QueryError::Corrupt {
            what: "senders count",
            number: block,
        })?,
        None => recover(std::slice::from_ref(&tx), block)?[0],
    };
    Ok(Some(IncludedTx {
        tx,
        sender,
        block_hash: h.hash(),
        block_number: block,
        index: u64::from(index),
        base_fee: h.eth.base_fee_per_gas,
    }))
}

fn stored_receipts(store: &Store, number: u64) -> Result<Vec<ReceiptEnvelope>, QueryError> {
    let bytes = store.receipts(number)?.unwrap_or_default();
    if bytes.is_empty() {
        return Ok(Vec::new());
    }
    <Vec<ReceiptEnvelope> as alloy_rlp::Decodable>::decode(&mut bytes.as_slice()).map_err(|_| {
        QueryError::Corrupt {
            what: "receipts",
            number,
        }
    })
}

/// Every receipt of canonical block `number`, with derived fields.
pub fn block_receipts(store: &Store, number: u64) -> Result<Option<Vec<FullReceipt>>, QueryError> {
    let Some(stored) = block(store, number)? else {
        return Ok(None);
    };
    let receipts = stored_receipts(store, number)?;
    if receipts.len() != stored.block.transactions.len() {
        return Err(QueryError::Corrupt {
            what: "receipts count",
            number,
        });
    }
    let base_fee = stored.block.header.eth.base_fee_per_gas;
    let mut out = Vec::with_capacity(receipts.len());
    let mut previous_cumulative = 0u64;
    let mut log_index = 0u64;
    for (i, ((tx, sender), receipt)) in stored
        .block
        .transactions
        .iter()
        .zip(&stored.senders)
        .zip(receipts)
        .enumerate()
    {
        let cumulative = receipt.cumulative_gas_used();
        let logs = receipt.logs().len() as u64;
        out.push(FullReceipt {
            tx_hash: *tx.tx_hash(),
            index: i as u64,
            block_hash: stored.hash,
            block_number: number,
            from: *sender,
            to: tx.to(),
            contract_address: tx.is_create().then(|| sender.create(tx.nonce())),
            gas_used: cumulative.saturating_sub(previous_cumulative),
            effective_gas_price: tx.effective_gas_price(base_fee),
            first_log_index: log_index,
            receipt,
        });
        previous_cumulative = cumulative;
        log_index += logs;
    }
    Ok(Some(out))
}

/// The receipt of a committed transaction.
pub fn receipt(store: &Store, hash: &B256) -> Result<Option<FullReceipt>, QueryError> {
    let Some(loc) = store.tx_location(hash)? else {
        return Ok(None);
    };
    Ok(block_receipts(store, loc.block)?.and_then(|r| r.into_iter().nth(loc.index as usize)))
}

/// The logs of one receipt, positioned in the chain.
pub fn receipt_logs(r: &FullReceipt) -> Vec<LogEntry> {
    r.receipt
        .logs()
        .iter()
        .enumerate()
        .map(|(i, log)| LogEntry {
            log: log.clone(),
            block_number: r.block_number,
            block_hash: r.block_hash,
            tx_hash: r.tx_hash,
            tx_index: r.index,
            log_index: r.first_log_index + i as u64,
        })
        .collect()
}

/// Logs matching `filter`, in chain order. Blocks whose bloom excludes the filter
/// are skipped without reading their receipts. Fails if the range spans more
/// than `max_blocks` blocks or more than `max_logs` logs match.
pub fn logs(
    store: &Store,
    filter: &LogFilter,
    max_blocks: u64,
    max_logs: usize,
) -> Result<Vec<LogEntry>, QueryError> {
    if filter.to < filter.from {
        return Ok(Vec::new());
    }
    if filter.to - filter.from >= max_blocks {
        return Err(QueryError::TooLarge {
            what: "blocks",
            limit: max_blocks,
        });
    }
    let mut out = Vec::new();
    for number in filter.from..=filter.to {
        let Some(h) = header(store, number)? else {
            break;
        };
        if !filter.may_match(&h.eth.logs_bloom) {
            continue;
        }
        for r in block_receipts(store, number)?.unwrap_or_default() {
            for entry in receipt_logs(&r) {
                if filter.matches(&entry.log) {
                    if out.len() >= max_logs {
                        return Err(QueryError::TooLarge {
                            what: "logs",
                            limit: max_logs as u64,
                        });
                    }
                    out.push(entry);
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::{Bytes, LogData};

    fn log(address: u8, topics: &[u8]) -> Log {
        Log {
            address: Address::repeat_byte(address),
            data: LogData::new_unchecked(
                topics.iter().map(|t| B256::repeat_byte(*t)).collect(),
                Bytes::new(),
            ),
        }
    }

    #[test]
    fn filter_matches_addresses_and_topic_positions() {
        let l = log(1, &[7, 8]);
        let mut bloom = Bloom::default();
        bloom.accrue_log(&l);
        let any = LogFilter::default();
        assert!(any.matches(&l) && any.may_match(&bloom));
        let by_address = LogFilter {
            addresses: vec![Address::repeat_byte(2), Address::repeat_byte(1)],
            ..Default::default()
        };
        assert!(by_address.matches(&l) && by_address.may_match(&bloom));
        let other = LogFilter {
            addresses: vec![Address::repeat_byte(2)],
            ..Default::default()
        };
        assert!(!other.matches(&l) && !other.may_match(&bloom));
        let second_topic = LogFilter {
            topics: vec![None, Some(vec![B256::repeat_byte(9), B256::repeat_byte(8)])],
            ..Default::default()
        };
        assert!(second_topic.matches(&l) && second_topic.may_match(&bloom));
        let third_topic = LogFilter {
            topics: vec![None, None, Some(vec![B256::repeat_byte(8)])],
            ..Default::default()
        };
        assert!(!third_topic.matches(&l));
        let wrong_first = LogFilter {
            topics: vec![Some(vec![B256::repeat_byte(8)])],
            ..Default::default()
        };
        assert!(!wrong_first.matches(&l));
    }
}
