//! Transaction gossip in batches (`kalgo/txs/2`).
//!
//! One gossipsub message per transaction costs a signature, a mesh fan-out and a
//! slot in every peer's send queue; under load (thousands of transactions a
//! second) those messages filled gossipsub's queues and crowded out votes and
//! proposals, which stalled a four-validator chain. Own transactions are
//! therefore published as an RLP list of their EIP-2718 encodings, bounded in
//! count and bytes both ways: a transaction arriving after a quiet spell leaves
//! at once, the ones behind it are collected for at most [`FLUSH_AFTER`].
//!
//! A batch is judged as a whole ([`batch_verdict`]): one transaction that could
//! never be valid makes it invalid (the sender is penalised), one accepted
//! transaction makes it worth forwarding.

use std::time::{Duration, Instant};

use alloy_primitives::Bytes;
use alloy_rlp::Decodable;

use super::Verdict;
use crate::execution::pool::MAX_TX_BYTES;

/// Most transactions in one batch.
pub const MAX_BATCH_TXS: usize = 4096;
/// Largest encoded batch.
pub const MAX_BATCH_BYTES: usize = 1024 * 1024;
/// Longest an own transaction waits before its batch is published. Short next
/// to λ (a transaction must reach the proposer before it builds, λ into the
/// round); at 5,000 transactions/s a batch still holds about 100.
pub const FLUSH_AFTER: Duration = Duration::from_millis(20);

/// Why a received batch was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Larger than [`MAX_BATCH_BYTES`].
    #[error("transaction batch of {0} bytes is over the limit")]
    TooLarge(usize),
    /// Not an RLP list of byte strings (the peer sent junk or another
    /// protocol's message).
    #[error("transaction batch does not decode: {0}")]
    Malformed(#[from] alloy_rlp::Error),
    /// A valid list followed by this many stray bytes: not a batch this node
    /// (or any kalgo node) encodes.
    #[error("transaction batch does not decode: {0} bytes after the list")]
    Trailing(usize),
    /// Empty, or more than [`MAX_BATCH_TXS`] transactions.
    #[error("transaction batch holds {0} transactions")]
    Count(usize),
    /// A transaction over [`MAX_TX_BYTES`].
    #[error("a batched transaction of {0} bytes is over the limit")]
    TxTooLarge(usize),
}

/// Most bytes of RLP header one batched transaction adds.
pub const ITEM_OVERHEAD: usize = 4;
/// Most bytes of RLP header the batch's list adds.
pub const LIST_OVERHEAD: usize = 9;

/// Encodes raw transactions as one batch.
pub fn encode(txs: &[Bytes]) -> Vec<u8> {
    let mut out = Vec::with_capacity(txs.iter().map(|t| t.len() + 5).sum::<usize>() + 9);
    alloy_rlp::encode_list::<_, [u8]>(txs, &mut out);
    out
}

/// Encodes as many of `txs` as fit one batch ([`MAX_BATCH_TXS`],
/// [`MAX_BATCH_BYTES`]), in order; `None` when none does.
pub fn encode_bounded(txs: impl IntoIterator<Item = Bytes>) -> Option<Vec<u8>> {
    let mut bytes = LIST_OVERHEAD;
    let mut kept = Vec::new();
    for tx in txs {
        let cost = tx.len() + ITEM_OVERHEAD;
        if kept.len() >= MAX_BATCH_TXS || bytes + cost > MAX_BATCH_BYTES {
            break;
        }
        bytes += cost;
        kept.push(tx);
    }
    (!kept.is_empty()).then(|| encode(&kept))
}

/// Decodes a received batch, checking every bound.
pub fn decode(bytes: &[u8]) -> Result<Vec<Bytes>, BatchError> {
    if bytes.len() > MAX_BATCH_BYTES {
        return Err(BatchError::TooLarge(bytes.len()));
    }
    let mut rest = bytes;
    let txs = Vec::<Bytes>::decode(&mut rest)?;
    if !rest.is_empty() {
        return Err(BatchError::Trailing(rest.len()));
    }
    if txs.is_empty() || txs.len() > MAX_BATCH_TXS {
        return Err(BatchError::Count(txs.len()));
    }
    if let Some(big) = txs.iter().find(|t| t.len() > MAX_TX_BYTES) {
        return Err(BatchError::TxTooLarge(big.len()));
    }
    Ok(txs)
}

/// The verdict on a whole batch from the verdicts on its transactions.
pub fn batch_verdict(verdicts: &[Verdict]) -> Verdict {
    if verdicts.contains(&Verdict::Reject) {
        Verdict::Reject
    } else if verdicts.contains(&Verdict::Accept) {
        Verdict::Accept
    } else {
        Verdict::Ignore
    }
}

/// Own transactions waiting to be published.
#[derive(Debug, Default)]
pub struct Outgoing {
    txs: Vec<Bytes>,
    bytes: usize,
    since: Option<Instant>,
    last_sent: Option<Instant>,
}

impl Outgoing {
    /// Adds a transaction; returns a batch to publish now: the transaction alone
    /// after a quiet spell of [`FLUSH_AFTER`], or the waiting batch when the new
    /// one would not fit (the new one then starts the next batch). A transaction
    /// that could never fit is dropped (the pool admits none that large).
    pub fn push(&mut self, raw: Vec<u8>, now: Instant) -> Option<Vec<u8>> {
        let cost = raw.len() + ITEM_OVERHEAD;
        if raw.len() > MAX_TX_BYTES {
            tracing::debug!(bytes = raw.len(), "transaction too large to gossip");
            return None;
        }
        let quiet = self
            .last_sent
            .is_none_or(|t| now.duration_since(t) >= FLUSH_AFTER);
        if self.txs.is_empty() && quiet {
            self.last_sent = Some(now);
            return Some(encode(&[Bytes::from(raw)]));
        }
        let full =
            self.txs.len() >= MAX_BATCH_TXS || self.bytes + cost + LIST_OVERHEAD > MAX_BATCH_BYTES;
        let ready = if full { self.take(now) } else { None };
        self.txs.push(Bytes::from(raw));
        self.bytes += cost;
        self.since.get_or_insert(now);
        ready
    }

    /// The waiting batch, if its first transaction has waited [`FLUSH_AFTER`].
    pub fn due(&mut self, now: Instant) -> Option<Vec<u8>> {
        match self.since {
            Some(t) if now.duration_since(t) >= FLUSH_AFTER => self.take(now),
            _ => None,
        }
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    fn take(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.txs.is_empty() {
            return None;
        }
        self.last_sent = Some(now);
        let batch = encode(&self.txs);
        self.txs.clear();
        self.bytes = 0;
        self.since = None;
        Some(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tx(n: usize, fill: u8) -> Vec<u8> {
        vec![fill; n]
    }

    #[test]
    fn a_bounded_batch_keeps_what_fits_in_order() {
        assert_eq!(encode_bounded(Vec::new()), None);
        let many = (0..MAX_BATCH_TXS + 5).map(|i| Bytes::from(tx(10, i as u8)));
        let batch = encode_bounded(many).expect("some fit");
        let got = decode(&batch).expect("decodes");
        assert_eq!(got.len(), MAX_BATCH_TXS);
        assert_eq!(got[1], Bytes::from(tx(10, 1)));
        // 100 KiB transactions: ten fit in a MiB with their headers, not eleven.
        let big = (0..20).map(|i| Bytes::from(tx(100 * 1024, i)));
        let batch = encode_bounded(big).expect("some fit");
        assert!(batch.len() <= MAX_BATCH_BYTES);
        assert_eq!(decode(&batch).expect("decodes").len(), 10);
    }

    #[test]
    fn a_batch_round_trips() {
        let txs = vec![
            Bytes::from(tx(1, 1)),
            Bytes::from(tx(300, 2)),
            Bytes::from(tx(60, 3)),
        ];
        assert_eq!(decode(&encode(&txs)), Ok(txs));
    }

    #[test]
    fn bad_batches_are_refused() {
        assert!(matches!(decode(&[0x01]), Err(BatchError::Malformed(_))));
        assert_eq!(decode(&encode(&[])), Err(BatchError::Count(0)));
        let mut trailing = encode(&[Bytes::from(tx(3, 1))]);
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(BatchError::Trailing(1)));
        let many = vec![Bytes::from(tx(1, 1)); MAX_BATCH_TXS + 1];
        assert_eq!(
            decode(&encode(&many)),
            Err(BatchError::Count(MAX_BATCH_TXS + 1))
        );
        let big = vec![Bytes::from(tx(MAX_TX_BYTES + 1, 1))];
        assert_eq!(
            decode(&encode(&big)),
            Err(BatchError::TxTooLarge(MAX_TX_BYTES + 1))
        );
        assert_eq!(
            decode(&vec![0u8; MAX_BATCH_BYTES + 1]),
            Err(BatchError::TooLarge(MAX_BATCH_BYTES + 1))
        );
    }

    #[test]
    fn outgoing_flushes_on_time_and_on_size() {
        let t0 = Instant::now();
        let q = FLUSH_AFTER / 5;
        let mut out = Outgoing::default();
        let first = out
            .push(tx(100, 1), t0)
            .expect("after a quiet spell: at once");
        assert_eq!(decode(&first).map(|b| b.len()), Ok(1));
        assert_eq!(out.push(tx(100, 2), t0 + q), None);
        assert_eq!(out.push(tx(100, 3), t0 + 2 * q), None);
        let due = t0 + q + FLUSH_AFTER;
        assert_eq!(out.due(due - Duration::from_millis(1)), None);
        let batch = out.due(due).expect("due after FLUSH_AFTER");
        assert_eq!(decode(&batch).map(|b| b.len()), Ok(2));
        assert!(out.is_empty());
        assert_eq!(out.due(t0 + Duration::from_secs(1)), None);
        // Not yet quiet again: the next one waits too.
        let t0 = due + 2 * q;
        assert_eq!(out.push(tx(100, 4), t0), None);

        // Large transactions: a batch is handed out before it would exceed the bound.
        let mut published = Vec::new();
        for i in 0..20u8 {
            if let Some(b) = out.push(tx(MAX_TX_BYTES, i), t0) {
                assert!(b.len() <= MAX_BATCH_BYTES, "{} bytes", b.len());
                published.push(decode(&b).expect("own batch decodes").len());
            }
        }
        assert_eq!(
            published,
            vec![8, 7],
            "the waiting small one, then 7 large ones a batch"
        );
        assert_eq!(
            out.push(tx(MAX_TX_BYTES + 1, 0), t0),
            None,
            "never fits: dropped"
        );
    }

    #[test]
    fn one_invalid_transaction_rejects_the_batch() {
        use Verdict::*;
        assert_eq!(batch_verdict(&[Accept, Reject, Ignore]), Reject);
        assert_eq!(batch_verdict(&[Ignore, Accept]), Accept);
        assert_eq!(batch_verdict(&[Ignore, Ignore]), Ignore);
        assert_eq!(batch_verdict(&[]), Ignore);
    }
}
