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

use crate::execution::{block::Block, header::KalgoHeader, state::StorageError};
use crate::storage::{ChainReader, TxLocation};

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
    pub tx: TxEnvelope,
    /// Its sender, recovered from the signature.
    pub sender: Address,
    pub block_hash: B256,
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
    pub tx_hash: B256,
    /// Position in the block.
    pub index: u64,
    pub block_hash: B256,
    pub block_number: u64,
    /// Sender, recovered from the signature.
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
    pub block_number: u64,
    pub block_hash: B256,
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
    /// First block (inclusive).
    pub from: u64,
    /// Last block (inclusive).
    pub to: u64,
    /// Emitting contracts to match; empty matches any.
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
        self.bloom_probe().may_match(bloom)
    }

    /// The filter's criteria hashed for bloom tests, once per query rather than
    /// once per block scanned.
    pub fn bloom_probe(&self) -> BloomProbe {
        let hash = |b: &[u8]| alloy_primitives::keccak256(b);
        BloomProbe {
            addresses: self.addresses.iter().map(|a| hash(a.as_slice())).collect(),
            topics: self
                .topics
                .iter()
                .map(|t| {
                    t.as_ref()
                        .map(|list| list.iter().map(|x| hash(x.as_slice())).collect())
                })
                .collect(),
        }
    }
}

/// A [`LogFilter`]'s addresses and topics, keccak-hashed as a bloom filter
/// wants them (a block's `logsBloom` is tested with these, no hashing per block).
#[derive(Clone, Debug)]
pub struct BloomProbe {
    addresses: Vec<B256>,
    topics: Vec<Option<Vec<B256>>>,
}

impl BloomProbe {
    /// Whether a block with `bloom` may hold a matching log.
    pub fn may_match(&self, bloom: &Bloom) -> bool {
        let any = |items: &[B256]| {
            items.is_empty()
                || items
                    .iter()
                    .any(|h| bloom.contains_input(BloomInput::Hash(*h)))
        };
        any(&self.addresses)
            && self.topics.iter().all(|want| match want {
                Some(list) => any(list),
                None => true,
            })
    }
}

/// The header of canonical block `number`.
pub fn header(store: &ChainReader, number: u64) -> Result<Option<KalgoHeader>, QueryError> {
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
pub fn number_of(store: &ChainReader, hash: &B256) -> Result<Option<u64>, QueryError> {
    Ok(store.block_number(hash)?)
}

fn body(store: &ChainReader, number: u64) -> Result<Option<(Vec<TxEnvelope>, u64)>, QueryError> {
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
pub fn block(store: &ChainReader, number: u64) -> Result<Option<StoredBlock>, QueryError> {
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

/// A committed transaction by hash. Only that transaction is decoded: the ones
/// before it in the body are skipped by their RLP headers.
pub fn transaction(store: &ChainReader, hash: &B256) -> Result<Option<IncludedTx>, QueryError> {
    let Some(TxLocation { block, index }) = store.tx_location(hash)? else {
        return Ok(None);
    };
    let Some(h) = header(store, block)? else {
        return Ok(None);
    };
    let Some(body) = store.body(block)? else {
        return Ok(None);
    };
    let corrupt = |what| QueryError::Corrupt {
        what,
        number: block,
    };
    let tx = list_item::<TxEnvelope>(&body, index as usize)
        .map_err(|_| corrupt("body"))?
        .ok_or(corrupt("transaction index"))?;
    let sender = match store.senders(block)? {
        Some(s) => *s.get(index as usize).ok_or(corrupt("senders count"))?,
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

/// Item `index` of the RLP list `bytes`, decoded; the items before it are only
/// stepped over (header and length), not decoded. `None` past the end.
fn list_item<T: alloy_rlp::Decodable>(
    bytes: &[u8],
    index: usize,
) -> Result<Option<T>, alloy_rlp::Error> {
    let mut items = list_payload(bytes)?;
    for _ in 0..index {
        if items.is_empty() {
            return Ok(None);
        }
        let mut rest = items;
        let item = alloy_rlp::Header::decode(&mut rest)?;
        items = rest
            .get(item.payload_length..)
            .ok_or(alloy_rlp::Error::InputTooShort)?;
    }
    if items.is_empty() {
        return Ok(None);
    }
    T::decode(&mut items).map(Some)
}

/// The items of the RLP list `bytes` (its payload), checked to be a list whose
/// declared length fits the input.
fn list_payload(mut bytes: &[u8]) -> Result<&[u8], alloy_rlp::Error> {
    let list = alloy_rlp::Header::decode(&mut bytes)?;
    if !list.list {
        return Err(alloy_rlp::Error::UnexpectedString);
    }
    bytes
        .get(..list.payload_length)
        .ok_or(alloy_rlp::Error::InputTooShort)
}

fn stored_receipts(store: &ChainReader, number: u64) -> Result<Vec<ReceiptEnvelope>, QueryError> {
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
pub fn block_receipts(
    store: &ChainReader,
    number: u64,
) -> Result<Option<Vec<FullReceipt>>, QueryError> {
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
        let at = ReceiptPosition {
            block_hash: stored.hash,
            block_number: number,
            index: i as u64,
            base_fee,
            previous_cumulative,
            first_log_index: log_index,
        };
        out.push(full_receipt(tx, *sender, receipt, &at));
        previous_cumulative = cumulative;
        log_index += logs;
    }
    Ok(Some(out))
}

/// The receipt of a committed transaction. Decodes that transaction and the
/// receipts up to it (its gas used and first log index depend on those before
/// it), not the whole block: wallets poll this once per pending transaction.
pub fn receipt(store: &ChainReader, hash: &B256) -> Result<Option<FullReceipt>, QueryError> {
    let Some(included) = transaction(store, hash)? else {
        return Ok(None);
    };
    let number = included.block_number;
    let corrupt = |what| QueryError::Corrupt { what, number };
    let bytes = store.receipts(number)?.unwrap_or_default();
    let mut items = list_payload(&bytes).map_err(|_| corrupt("receipts"))?;
    let mut previous_cumulative = 0u64;
    let mut log_index = 0u64;
    for _ in 0..included.index {
        let r = <ReceiptEnvelope as alloy_rlp::Decodable>::decode(&mut items)
            .map_err(|_| corrupt("receipts"))?;
        previous_cumulative = r.cumulative_gas_used();
        log_index += r.logs().len() as u64;
    }
    let receipt = <ReceiptEnvelope as alloy_rlp::Decodable>::decode(&mut items)
        .map_err(|_| corrupt("receipts count"))?;
    let at = ReceiptPosition {
        block_hash: included.block_hash,
        block_number: number,
        index: included.index,
        base_fee: included.base_fee,
        previous_cumulative,
        first_log_index: log_index,
    };
    Ok(Some(full_receipt(
        &included.tx,
        included.sender,
        receipt,
        &at,
    )))
}

/// Where a receipt sits: its block, its index, and what the receipts before it
/// add up to.
struct ReceiptPosition {
    block_hash: B256,
    block_number: u64,
    index: u64,
    base_fee: Option<u64>,
    previous_cumulative: u64,
    first_log_index: u64,
}

/// A stored receipt with the fields derived from its transaction and position
/// (one rule for `eth_getTransactionReceipt` and `eth_getBlockReceipts`).
fn full_receipt(
    tx: &TxEnvelope,
    sender: Address,
    receipt: ReceiptEnvelope,
    at: &ReceiptPosition,
) -> FullReceipt {
    FullReceipt {
        tx_hash: *tx.tx_hash(),
        index: at.index,
        block_hash: at.block_hash,
        block_number: at.block_number,
        from: sender,
        to: tx.to(),
        contract_address: tx.is_create().then(|| sender.create(tx.nonce())),
        gas_used: receipt
            .cumulative_gas_used()
            .saturating_sub(at.previous_cumulative),
        effective_gas_price: tx.effective_gas_price(at.base_fee),
        first_log_index: at.first_log_index,
        receipt,
    }
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
    store: &ChainReader,
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
    let probe = filter.bloom_probe();
    let mut out = Vec::new();
    for number in filter.from..=filter.to {
        let Some(h) = header(store, number)? else {
            break;
        };
        if !probe.may_match(&h.eth.logs_bloom) {
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
    use crate::storage::Store;
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

    /// A committed block of five transactions: transfers, and two creations whose
    /// init code emits two logs each (so receipts carry block-wide log indexes).
    fn store_with_one_block() -> (tempfile::TempDir, Store, Vec<B256>) {
        use crate::execution::block::tests::{attrs, funded_store, signer, transfer};
        use crate::execution::block::{build_block, commit_block};
        use alloy_consensus::{SignableTransaction, TxLegacy};
        use alloy_primitives::{TxKind, U256};
        use alloy_signer::SignerSync;

        let key = signer(9);
        let (dir, store, config, parent) = funded_store(&key);
        let create = |nonce| -> TxEnvelope {
            // PUSH1 0 PUSH1 0 LOG0, twice; deploys empty code.
            let tx = TxLegacy {
                chain_id: Some(1337),
                nonce,
                gas_price: 2_000_000_000,
                gas_limit: 100_000,
                to: TxKind::Create,
                value: U256::ZERO,
                input: Bytes::from(vec![0x60, 0, 0x60, 0, 0xa0, 0x60, 0, 0x60, 0, 0xa0]),
            };
            let sig = key.sign_hash_sync(&tx.signature_hash()).expect("sign");
            tx.into_signed(sig).into()
        };
        let to = Address::repeat_byte(2);
        let txs = vec![
            transfer(&key, 1337, 0, to, true),
            create(1),
            transfer(&key, 1337, 2, to, false),
            create(3),
            transfer(&key, 1337, 4, to, true),
        ];
        let hashes = txs.iter().map(|t| *t.tx_hash()).collect();
        let state = store.state().expect("state");
        let candidates = txs.into_iter().map(|t| (t, key.address()));
        let (executed, rejected) = build_block(
            &config,
            &state,
            &parent,
            &attrs(12),
            candidates,
            std::time::Duration::from_secs(5),
        )
        .expect("build");
        assert!(rejected.is_empty(), "{rejected:?}");
        commit_block(&store, &executed, b"cert").expect("commit");
        (dir, store, hashes)
    }

    #[test]
    fn one_receipt_or_transaction_by_hash_equals_its_entry_in_the_whole_block() {
        let (_dir, store, hashes) = store_with_one_block();
        let all = block_receipts(&store, 1).expect("read").expect("block 1");
        let block = block(&store, 1).expect("read").expect("block 1");
        assert_eq!(all.len(), 5);
        for (i, hash) in hashes.iter().enumerate() {
            let one = receipt(&store, hash).expect("read").expect("known");
            assert_eq!(format!("{one:?}"), format!("{:?}", all[i]), "receipt {i}");
            let tx = transaction(&store, hash).expect("read").expect("known");
            assert_eq!(tx.tx, block.block.transactions[i]);
            assert_eq!((tx.index, tx.block_number), (i as u64, 1));
            assert_eq!(tx.block_hash, block.hash);
        }
        // Derived fields, written out: creations emit two logs each.
        let firsts: Vec<u64> = all.iter().map(|r| r.first_log_index).collect();
        assert_eq!(firsts, vec![0, 0, 2, 2, 4]);
        assert_eq!(all[0].gas_used, 21_000);
        assert_eq!(all[2].gas_used, 21_000);
        assert!(all[1].gas_used > 53_000 && all[1].contract_address.is_some());
        assert!(
            receipt(&store, &B256::repeat_byte(1))
                .expect("read")
                .is_none()
        );
    }

    #[test]
    fn list_items_are_reached_by_skipping_and_bounds_are_checked() {
        let items: Vec<Bytes> = (0u8..4)
            .map(|i| Bytes::from(vec![i; i as usize * 30]))
            .collect();
        let encoded = alloy_rlp::encode(&items);
        for (i, item) in items.iter().enumerate() {
            assert_eq!(list_item::<Bytes>(&encoded, i), Ok(Some(item.clone())));
        }
        assert_eq!(list_item::<Bytes>(&encoded, 4), Ok(None));
        // Not a list; a list whose declared length runs past the input; an item
        // whose length runs past the list.
        assert!(list_item::<Bytes>(&alloy_rlp::encode(Bytes::from_static(b"abc")), 0).is_err());
        assert!(list_item::<Bytes>(&encoded[..encoded.len() - 1], 0).is_err());
        let mut cut = encoded.clone();
        cut[0] = 0xc1; // list of one byte: the first item's header claims more
        assert!(list_item::<Bytes>(&cut[..2], 1).is_err());
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
