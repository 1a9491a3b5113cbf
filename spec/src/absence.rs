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
//! - The bound is taken with the stakes of the marking block and, when the
//!   miner was seen in the committee, with those of the block it was seen in
//!   ([`Liveness::deadline`]); both must have passed. Moving balances around
//!   for one block (a large holder emptying its account to shrink every
//!   total, or funds sent to a miner to shrink its own bound) therefore never
//!   marks a miner sooner than the stakes it was last seen under allowed.
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
    /// The last block of its bound as the stakes stood when it was last
    /// seen (`last_seen + bound`; 0: not known, e.g. never seen in a
    /// committee): no block up to this one marks it.
    pub deadline: Height,
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
            deadline: 0,
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

    /// The block a miner's silence counts from: its last sign of life, the
    /// block it became eligible from (`eligible_from`: its registration's
    /// start, or the end of an equivocation suspension), or the rule's first
    /// block, whichever is latest.
    pub fn counted_from(&self, record: &Liveness, eligible_from: Height) -> Height {
        record.last_seen.max(eligible_from).max(self.from)
    }

    /// Whether block `block` marks the miner absent: it is not yet, it has
    /// stake, more than [`Self::bound`] blocks passed since
    /// [`Self::counted_from`], and its [`Liveness::deadline`] passed.
    pub fn marks_absent(
        &self,
        block: Height,
        record: &Liveness,
        eligible_from: Height,
        stake: u128,
        total: u128,
    ) -> bool {
        if !self.active(block) || record.is_absent() || block <= record.deadline {
            return false;
        }
        let Some(bound) = self.bound(stake, total) else {
            return false;
        };
        block.saturating_sub(self.counted_from(record, eligible_from)) > bound
    }

    /// Whether a node should send its miner's heartbeat after block `head`:
    /// it is marked absent, or more than the lookback plus half the rest of
    /// its bound (the smaller of today's and the one its deadline was set
    /// with) passed unseen (go-algorand nodes heartbeat before they are at
    /// risk the same way).
    pub fn heartbeat_due(
        &self,
        head: Height,
        record: &Liveness,
        eligible_from: Height,
        stake: u128,
        total: u128,
    ) -> bool {
        if !self.active(head.saturating_add(1)) {
            return false;
        }
        if record.is_absent() {
            return true;
        }
        let Some(mut bound) = self.bound(stake, total) else {
            return false;
        };
        if record.deadline > record.last_seen {
            bound = bound.min(record.deadline - record.last_seen);
        }
        let half = self
            .lookback
            .saturating_add(bound.saturating_sub(self.lookback) / 2);
        head.saturating_sub(self.counted_from(record, eligible_from)) > half
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
            deadline: 0,
        };
        // (block, record, registered from, stake, total, marked)
        let table: [(u64, Liveness, u64, u128, u128, bool); 9] = [
            // bound 18 for 1 of 7: silent through block 30 is fine, 31 is not
            (30, seen_at(12), 1, 1, 7, false),
            (31, seen_at(12), 1, 1, 7, true),
            // never seen: counted from the rule's first block (10)
            (28, Liveness::default(), 1, 1, 7, false),
            (29, Liveness::default(), 1, 1, 7, true),
            // registered after the rule: counted from its start
            (29, Liveness::default(), 20, 1, 7, false),
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
            deadline: 0,
        };
        assert!(RULE.heartbeat_due(41, &absent, 1, 1, 7));
        // before the rule: never
        assert!(!RULE.heartbeat_due(5, &absent, 1, 1, 7));
        // without stake: never
        assert!(!RULE.heartbeat_due(100, &Liveness::seen(12), 1, 0, 7));
    }

    #[test]
    fn nobody_is_marked_before_the_rule_or_before_the_deadline() {
        // Silent since genesis, but the rule starts at block 10.
        let never = Liveness::default();
        assert!(!RULE.active(9));
        assert!(!RULE.marks_absent(9, &never, 0, 1, 1_000));
        let early = AbsenceRule { from: 0, ..RULE };
        assert!(early.marks_absent(9, &never, 0, 1, 2), "bound 4 + 4 = 8");
        // Seen at 12 with a bound of 18 (deadline 30): a total shrunk at
        // block 20 gives a bound of 6, yet the deadline holds until 30.
        let seen = Liveness {
            deadline: 30,
            ..Liveness::seen(12)
        };
        assert!(!RULE.marks_absent(20, &seen, 1, 1, 1));
        assert!(!RULE.marks_absent(30, &seen, 1, 1, 1));
        assert!(RULE.marks_absent(31, &seen, 1, 1, 1));
        // A stake grown at block 20 (bound 6 again) does not hurry it either.
        assert!(!RULE.marks_absent(25, &seen, 1, 7, 7));
        // Today's bound counts too: a total grown since holds it longer.
        assert!(!RULE.marks_absent(31, &seen, 1, 1, 14), "bound 4 + 28");
        // The heartbeat is due by the smaller bound: 12 + 4 + (6 - 4) / 2.
        assert!(RULE.heartbeat_due(18, &seen, 1, 1, 1));
        assert!(!RULE.heartbeat_due(17, &seen, 1, 1, 1));
    }

    #[test]
    fn a_suspension_end_restarts_the_count() {
        // Out of the committees until 100 for equivocation, seen last at 12:
        // counted from 100, not marked at 101.
        let r = Liveness::seen(12);
        assert!(!RULE.marks_absent(101, &r, 100, 1, 7));
        assert!(RULE.marks_absent(119, &r, 100, 1, 7));
    }

    #[test]
    fn a_mark_counts_from_the_lookback() {
        let absent = Liveness {
            last_seen: 12,
            absent_since: 40,
            deadline: 0,
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
