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
//! A received batch is judged by its transactions ([`judge`]) and never
//! forwarded for the sake of one good transaction among useless ones: a batch
//! is forwarded as it came only when every transaction in it was new to the pool
//! or already there; otherwise only its accepted transactions go on, re-batched
//! by this node. A batch with a transaction that could never be valid, or mostly
//! useless (unfunded, stale nonce, underpriced), costs its sender gossip score;
//! and each peer has a budget of such wasted sender recoveries
//! ([`RecoveryBudget`]): past it, its batches are dropped unread until the
//! budget refills.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

use alloy_primitives::Bytes;
use alloy_rlp::Decodable;

use super::Verdict;
use super::bucket::{Bucket, Refill};
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

/// What the pool made of one transaction from the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TxVerdict {
    /// New, admitted into the pool.
    Accepted,
    /// Already pooled (no sender recovered for it).
    Known,
    /// Well formed but of no use here now: unfunded, stale nonce, underpriced,
    /// pool full. Its sender was recovered for nothing.
    Useless,
    /// Could never be valid (malformed, bad signature, wrong chain, ...).
    Invalid,
}

impl TxVerdict {
    /// Whether admitting it cost a sender recovery that brought nothing.
    pub fn wasted(self) -> bool {
        matches!(self, TxVerdict::Useless | TxVerdict::Invalid)
    }
}

/// Below this many useless transactions a batch is not scored for them.
pub const USELESS_FLOOR: usize = 16;

/// What to do with a received batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Judgement {
    /// gossipsub's verdict on the batch as it came: `Accept` forwards it.
    pub verdict: Verdict,
    /// Re-publish the accepted transactions in this node's own batches.
    pub relay_accepted: bool,
}

/// Judges a batch by its transactions' verdicts: forwarded as it came only
/// when none was useless or invalid; otherwise its accepted transactions are
/// relayed on their own, and the batch is rejected (its sender penalised) when
/// one is invalid, or when most are useless and at least [`USELESS_FLOOR`].
pub fn judge(verdicts: &[TxVerdict]) -> Judgement {
    let useless = verdicts
        .iter()
        .filter(|v| **v == TxVerdict::Useless)
        .count();
    let invalid = verdicts.contains(&TxVerdict::Invalid);
    let accepted = verdicts.contains(&TxVerdict::Accepted);
    if !invalid && useless == 0 {
        return Judgement {
            verdict: if accepted {
                Verdict::Accept
            } else {
                Verdict::Ignore
            },
            relay_accepted: false,
        };
    }
    let mostly_useless = useless >= USELESS_FLOOR && useless * 2 > verdicts.len();
    Judgement {
        verdict: if invalid || mostly_useless {
            Verdict::Reject
        } else {
            Verdict::Ignore
        },
        relay_accepted: accepted,
    }
}

/// Wasted sender recoveries a peer may cause at once.
pub const RECOVERY_BURST: f64 = 4096.0;
/// Wasted sender recoveries a peer's budget regains per second.
pub const RECOVERY_PER_SECOND: f64 = 1024.0;
/// Peers whose budgets are remembered (past it, the full ones are forgotten).
const MAX_BUDGETS: usize = 4096;

/// Per-peer token buckets of wasted sender recoveries (useless or invalid
/// transactions): a peer whose bucket is empty has its batches dropped without
/// decoding until it refills at [`RECOVERY_PER_SECOND`]. Accepted and known
/// transactions cost nothing, so honest relaying is never throttled.
#[derive(Debug, Default)]
pub struct RecoveryBudget {
    peers: HashMap<PeerId, Bucket>,
}

/// The refill of each peer's budget.
const RECOVERY_REFILL: Refill = Refill {
    burst: RECOVERY_BURST,
    per_sec: RECOVERY_PER_SECOND,
};

impl RecoveryBudget {
    fn level(&self, peer: &PeerId, now: Instant) -> f64 {
        self.peers
            .get(peer)
            .map_or(RECOVERY_BURST, |b| b.level(RECOVERY_REFILL, now))
    }

    /// Whether `peer` may have a batch read now.
    pub fn allows(&self, peer: &PeerId, now: Instant) -> bool {
        self.level(peer, now) > 0.0
    }

    /// Charges `peer` for `wasted` recoveries (the bucket may go below zero:
    /// a batch is read whole, and the debt is paid back before the next). A
    /// batch is charged in full when it is read, before its verdicts are known,
    /// so that batches arriving together cannot all pass on one full bucket.
    pub fn charge(&mut self, peer: PeerId, wasted: usize, now: Instant) {
        if wasted == 0 {
            return;
        }
        if self.peers.len() >= MAX_BUDGETS && !self.peers.contains_key(&peer) {
            self.peers
                .retain(|_, b| b.level(RECOVERY_REFILL, now) < RECOVERY_BURST);
        }
        let left = self.level(&peer, now) - wasted as f64;
        self.peers
            .entry(peer)
            .or_insert(Bucket::full(RECOVERY_REFILL, now))
            .set(left, now);
    }

    /// Gives back `n` recoveries charged in advance that were not wasted
    /// (accepted or known transactions).
    pub fn refund(&mut self, peer: PeerId, n: usize, now: Instant) {
        if n == 0 {
            return;
        }
        if let Some(b) = self.peers.get_mut(&peer) {
            let left = (b.level(RECOVERY_REFILL, now) + n as f64).min(RECOVERY_BURST);
            b.set(left, now);
        }
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

    use TxVerdict::{Accepted as A, Invalid as X, Known as K, Useless as U};

    #[test]
    fn batches_are_judged_by_their_transactions() {
        let j = |v: &[TxVerdict]| {
            let j = judge(v);
            (j.verdict, j.relay_accepted)
        };
        // Clean batches go on as they came.
        assert_eq!(j(&[A, A, K]), (Verdict::Accept, false));
        assert_eq!(j(&[K, K]), (Verdict::Ignore, false));
        // One useless transaction: not forwarded; the good one is relayed alone.
        assert_eq!(j(&[A, U]), (Verdict::Ignore, true));
        assert_eq!(j(&[U]), (Verdict::Ignore, false));
        // One invalid transaction: rejected, the good ones still relayed.
        assert_eq!(j(&[A, A, X]), (Verdict::Reject, true));
        // The amplification: 4,095 useless and one good.
        let mut spam = vec![U; 4095];
        spam.push(A);
        assert_eq!(j(&spam), (Verdict::Reject, true));
        // Mostly useless but under the floor: not scored.
        assert_eq!(j(&[U; USELESS_FLOOR - 1]), (Verdict::Ignore, false));
        let mut half = vec![U; USELESS_FLOOR];
        half.extend([A; USELESS_FLOOR]);
        assert_eq!(
            j(&half),
            (Verdict::Ignore, true),
            "half useless is not most"
        );
    }

    #[test]
    fn the_recovery_budget_drains_and_refills() {
        let t = Instant::now();
        let mut b = RecoveryBudget::default();
        let (p, q) = (PeerId::random(), PeerId::random());
        assert!(b.allows(&p, t));
        b.charge(p, 4096, t);
        assert!(!b.allows(&p, t), "spent");
        assert!(b.allows(&q, t), "per peer");
        assert!(b.allows(&p, t + Duration::from_millis(10)), "refills");
        // A debt is paid back before the next batch.
        b.charge(p, 4096 * 2, t);
        assert!(!b.allows(&p, t + Duration::from_secs(7)));
        assert!(b.allows(&p, t + Duration::from_secs(9)));
        // Nothing wasted, nothing charged; a refund is capped at the burst.
        b.charge(q, 0, t);
        assert!(!b.peers.contains_key(&q));
        b.charge(q, 4096, t);
        b.refund(q, 10_000, t);
        assert_eq!(b.level(&q, t), RECOVERY_BURST);
    }

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
}
