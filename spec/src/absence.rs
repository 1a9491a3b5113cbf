//! Absent miners: the rule that takes a registered miner that has stopped
//! taking part out of the committees, and the record it reads.
//!
//! BA* needs more than two thirds of the committee's weight online. A miner
//! whose node is gone still counts in the total every committee is measured
//! against, so a chain whose absent stake passes a third halts, and Kaleido
//! keeps such a miner until its registration ends. kalgo marks it *absent*
//! instead, as go-algorand's consensus v40 suspends absent accounts:
//!
//! - Every block records its proposer as seen at that block (block execution,
//!   `actors::execution::block`), and so does a `heartbeat()` transaction the
//!   miner sends to the miner contract.
//! - After its transactions, block `B` marks absent every registered miner
//!   with stake whose last sign of life is more than [`AbsenceRule::bound`]
//!   blocks old: the stake lookback plus `factor` times the blocks it would
//!   take on average to propose one (`total / stake`). At most
//!   [`MAX_ABSENT_MARKS_PER_BLOCK`] miners are marked per block.
//! - A miner marked absent in the state a height's committee is read from
//!   (`registration::stake_sample_block`) is out of that committee and of its
//!   total. A heartbeat or a proposal clears the mark; the miner is back in the
//!   committees from `B + 1 + L` on, as any change to the registry is.
//!
//! Safety: only certified blocks mark anyone, and every node reads the same
//! committed state, so a halted chain suspends no one and the two sides of a
//! partition cannot suspend each other (at most one side certifies blocks).
//! What marking changes is the committee a height is measured against, and
//! that change comes through the registry exactly as a registration or an
//! equivocation suspension does (model-check configuration `mc10-suspended`).

use crate::types::Height;

/// Most miners one block marks absent (go-algorand v40 marks at most 32 per
/// block too): bounds the writes one block makes.
pub const MAX_ABSENT_MARKS_PER_BLOCK: usize = 32;

/// New chains' `absenteeFactor` (go-algorand's is 20 as well): a miner is
/// absent after twenty times the blocks it takes on average to propose one.
pub const DEFAULT_ABSENTEE_FACTOR: u64 = 20;

/// A miner's liveness record in the miner contract.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub struct Liveness {
    /// The last block it proposed or that carried its heartbeat (0: none).
    pub last_seen: Height,
    /// The block that marked it absent (0: not absent).
    pub absent_since: Height,
}

impl Liveness {
    /// Whether it is marked absent.
    pub fn is_absent(&self) -> bool {
        self.absent_since != 0
    }

    /// Whether the mark keeps the miner out of the committee of `height`
    /// with stake lookback `lookback`: the mark was made at a block the
    /// committee of `height` reads (`height ≥ absent_since + 1 + lookback`).
    pub fn excludes(&self, height: Height, lookback: u64) -> bool {
        self.is_absent() && height >= self.absent_since.saturating_add(1).saturating_add(lookback)
    }

    /// The record after the miner was seen at `block` (a proposal or a
    /// heartbeat): present again.
    pub fn seen(block: Height) -> Liveness {
        Liveness {
            last_seen: block,
            absent_since: 0,
        }
    }
}

/// The absence rule of one chain (chain config `absenteeRulesBlock`,
/// `absenteeFactor` and `stakeLookback`).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct AbsenceRule {
    /// First block the rule applies to: before it no one is seen or marked.
    pub from: Height,
    /// Multiple of a miner's expected blocks per proposal it may stay silent.
    pub factor: u64,
    /// The stake lookback `L`: a miner back from a heartbeat at block `B`
    /// can propose again from `B + 1 + L`, so that much is added to the bound.
    pub lookback: u64,
}

impl AbsenceRule {
    /// Whether the rule applies to block `block`.
    pub fn active(&self, block: Height) -> bool {
        block >= self.from
    }

    /// How many blocks a miner with `stake` out of `total` may go unseen:
    /// `lookback + factor × total / stake` (saturating; `None` for a miner
    /// without stake, which is never in a committee).
    pub fn bound(&self, stake: u128, total: u128) -> Option<u64> {
        if stake == 0 {
            return None;
        }
        let expected = total.div_ceil(stake);
        let silent = u128::from(self.factor).saturating_mul(expected);
        let silent = u64::try_from(silent).unwrap_or(u64::MAX);
        Some(silent.saturating_add(self.lookback))
    }

    /// The block a miner's silence counts from: its last sign of life, its
    /// registration's start, or the rule's first block, whichever is latest.
    pub fn counted_from(&self, record: &Liveness, registered_from: Height) -> Height {
        record.last_seen.max(registered_from).max(self.from)
    }

    /// Whether block `block` marks the miner absent: it is not yet, it has
    /// stake, and more than [`Self::bound`] blocks passed since
    /// [`Self::counted_from`].
    pub fn marks_absent(
        &self,
        block: Height,
        record: &Liveness,
        registered_from: Height,
        stake: u128,
        total: u128,
    ) -> bool {
        if !self.active(block) || record.is_absent() {
            return false;
        }
        let Some(bound) = self.bound(stake, total) else {
            return false;
        };
        block.saturating_sub(self.counted_from(record, registered_from)) > bound
    }

    /// Whether a node should send its miner's heartbeat after block `head`:
    /// it is marked absent, or more than half its bound passed unseen (go-algorand
    /// nodes heartbeat before they are at risk the same way).
    pub fn heartbeat_due(
        &self,
        head: Height,
        record: &Liveness,
        registered_from: Height,
        stake: u128,
        total: u128,
    ) -> bool {
        if !self.active(head.saturating_add(1)) {
            return false;
        }
        if record.is_absent() {
            return true;
        }
        let Some(bound) = self.bound(stake, total) else {
            return false;
        };
        let half = self
            .lookback
            .saturating_add(bound.saturating_sub(self.lookback) / 2);
        head.saturating_sub(self.counted_from(record, registered_from)) > half
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: AbsenceRule = AbsenceRule {
        from: 10,
        factor: 2,
        lookback: 4,
    };

    #[test]
    fn bound_table() {
        // (stake, total, bound)
        let table: [(u128, u128, Option<u64>); 6] = [
            (1, 7, Some(4 + 14)),
            (1, 1, Some(4 + 2)),
            (2, 7, Some(4 + 8)), // ceil(7 / 2) = 4
            (7, 7, Some(4 + 2)),
            (0, 7, None),
            (1, u128::MAX, Some(u64::MAX)),
        ];
        for (stake, total, bound) in table {
            assert_eq!(RULE.bound(stake, total), bound, "{stake} of {total}");
        }
    }

    #[test]
    fn marks_absent_table() {
        let seen_at = |b| Liveness::seen(b);
        let absent = Liveness {
            last_seen: 12,
            absent_since: 40,
        };
        // (block, record, registered from, stake, total, marked)
        let table: [(u64, Liveness, u64, u128, u128, bool); 10] = [
            // bound 18 for 1 of 7: silent through block 30 is fine, 31 is not
            (30, seen_at(12), 1, 1, 7, false),
            (31, seen_at(12), 1, 1, 7, true),
            // never seen: counted from the rule's first block (10)
            (28, Liveness::default(), 1, 1, 7, false),
            (29, Liveness::default(), 1, 1, 7, true),
            // registered after the rule: counted from its start
            (29, Liveness::default(), 20, 1, 7, false),
            // before the rule's first block no one is marked
            (9, Liveness::default(), 0, 1, 1_000, false),
            // already absent: not marked again
            (100, absent, 1, 1, 7, false),
            // no stake: never marked
            (100, seen_at(12), 1, 0, 7, false),
            // a large share is seen as absent sooner
            (23, seen_at(12), 1, 7, 7, true),
            (18, seen_at(12), 1, 7, 7, false),
        ];
        for (block, record, from, stake, total, marked) in table {
            assert_eq!(
                RULE.marks_absent(block, &record, from, stake, total),
                marked,
                "block {block}, {record:?}, registered from {from}, {stake} of {total}"
            );
        }
    }

    #[test]
    fn a_heartbeat_is_due_before_the_mark() {
        // bound 18 (lookback 4 + 14): due after 4 + 7 = 11 silent blocks.
        assert!(!RULE.heartbeat_due(23, &Liveness::seen(12), 1, 1, 7));
        assert!(RULE.heartbeat_due(24, &Liveness::seen(12), 1, 1, 7));
        assert!(!RULE.marks_absent(24, &Liveness::seen(12), 1, 1, 7));
        // marked absent: always due
        let absent = Liveness {
            last_seen: 12,
            absent_since: 40,
        };
        assert!(RULE.heartbeat_due(41, &absent, 1, 1, 7));
        // before the rule: never
        assert!(!RULE.heartbeat_due(5, &absent, 1, 1, 7));
        // without stake: never
        assert!(!RULE.heartbeat_due(100, &Liveness::seen(12), 1, 0, 7));
    }

    #[test]
    fn a_mark_counts_from_the_lookback() {
        let absent = Liveness {
            last_seen: 12,
            absent_since: 40,
        };
        assert!(!absent.excludes(44, 4));
        assert!(absent.excludes(45, 4));
        assert!(!Liveness::seen(40).excludes(1_000, 4));
    }

    #[test]
    fn being_seen_clears_the_mark() {
        let r = Liveness::seen(50);
        assert!(!r.is_absent());
        assert_eq!(r.last_seen, 50);
        assert!(!RULE.marks_absent(50 + 18, &r, 1, 1, 7));
        assert!(RULE.marks_absent(50 + 19, &r, 1, 1, 7));
    }
}
