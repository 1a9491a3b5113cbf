//! Every protocol constant, in one [`Params`] value passed in at construction.
//!
//! Defaults follow Kaleido (reference §4.1) and go-algorand's committee table
//! (consensus.md §b.1). Thresholds are **weights** (seats), never fractions, so the
//! sortition mode and the fixed-committee mode share one machine.

use crate::types::{Round, Step, StepKind};

/// Cap of [`Params::build_budget_ms`]: a block's execution never takes longer,
/// however long λ is.
pub const MAX_BUILD_BUDGET_MS: u64 = 300;

/// Expected committee size and quorum threshold of one step, in seats.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Committee {
    /// Expected number of seats selected by sortition.
    pub expected: u64,
    /// Weight a value needs to reach a quorum (`weight >= threshold`).
    pub threshold: u64,
}

/// How committees are formed.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum CommitteeMode {
    /// Algorand's: stake-weighted VRF sortition selects seats per step
    /// (Kaleido §4.3). Thresholds are the `Committee` thresholds.
    Sortition,
    /// Every registered miner votes in every step with its exact weight. A quorum is
    /// strictly more than `num/den` of the total weight (2/3 by default). Tolerates
    /// just under 1/3 faulty or offline weight.
    Fixed {
        /// Numerator of the quorum fraction.
        num: u64,
        /// Denominator of the quorum fraction.
        den: u64,
    },
}

impl CommitteeMode {
    /// The fixed-committee mode with the default quorum: strictly more than 2/3 of
    /// the registered weight (what `committeeMode: "fixed"` in a chain config means).
    pub const FIXED_TWO_THIRDS: CommitteeMode = CommitteeMode::Fixed { num: 2, den: 3 };
}

/// Quorum thresholds in force at one height, in weight units.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Thresholds {
    /// Soft votes (step 2).
    pub soft: u64,
    /// Cert votes (step 3).
    pub cert: u64,
    /// Next votes (steps ≥ 4).
    pub next: u64,
}

impl Thresholds {
    /// The threshold of the committee voting at `step`.
    pub fn for_step(&self, step: Step) -> u64 {
        match step.kind() {
            StepKind::Proposal => 1,
            StepKind::Soft => self.soft,
            StepKind::Cert => self.cert,
            StepKind::Next => self.next,
        }
    }

    /// The same threshold for every voting step (fixed committees, model checking).
    pub fn uniform(t: u64) -> Self {
        Thresholds {
            soft: t,
            cert: t,
            next: t,
        }
    }
}

/// How long round 1's proposal step (the filter timer) waits for proposals.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, Default)]
pub enum FilterTimeout {
    /// 2λ, like every other step's timer (chains without `dynamicFilterTimeout`).
    #[default]
    Fixed,
    /// Set by each node from the arrival times of the best round-1 proposals
    /// of recent heights (go-algorand consensus v39's dynamic filter timeout;
    /// [`crate::driver::filter_timeout`]), within `[min_ms, 2λ]`. While the
    /// estimate is in use, round 1's new block is built at once, as
    /// go-algorand's proposers propose at the period's start.
    Dynamic {
        /// Lower bound of the round-1 filter timer (`filterTimeoutMin`), in ms.
        min_ms: u64,
    },
}

/// Protocol parameters. One value, passed to every constructor; no globals.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Params {
    /// Chain id, bound into every signed message and every sortition input.
    pub chain_id: u64,
    /// Sortition or fixed committee.
    pub mode: CommitteeMode,
    /// Proposer committee: 20 expected seats, threshold 1.
    pub proposer: Committee,
    /// Soft-vote committee: 2990 / 2267.
    pub soft: Committee,
    /// Cert-vote committee: 1500 / 1112.
    pub cert: Committee,
    /// Next-vote committee: 5000 / 3838.
    pub next: Committee,
    /// Total weight W that stake is normalised to (10^10).
    pub total_weight: u64,
    /// 2λ in milliseconds: 1000 for new chains, 2000 on Kaleido's mainnet.
    pub two_lambda_ms: u64,
    /// Round 1's filter timer: fixed at 2λ or dynamic (later rounds: always fixed).
    pub filter_timeout: FilterTimeout,
    /// Cap of the per-round timer factor (×2 per round from round 3, capped at 30).
    pub round_factor_cap: u64,
    /// Cap of the per-step timer factor (capped at 10).
    pub step_factor_cap: u64,
    /// Miner registration interval, in heights (10^6).
    pub interval_size: u64,
    /// Heights covered by one forward-secure vote sub-key (100).
    pub lifespan: u64,
    /// Votes for rounds beyond `current + round_lookahead` are dropped (bounds memory).
    pub round_lookahead: u32,
    /// Next votes for steps beyond `current + step_lookahead` are dropped.
    pub step_lookahead: u32,
    /// At most this many votes for the next height are buffered.
    pub max_future_votes: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params::new_chain(1)
    }
}

impl Params {
    /// Defaults for a new chain: Kaleido's committees, sortition mode, 2λ = 1000 ms.
    pub fn new_chain(chain_id: u64) -> Self {
        Params {
            chain_id,
            mode: CommitteeMode::Sortition,
            proposer: Committee {
                expected: 20,
                threshold: 1,
            },
            soft: Committee {
                expected: 2990,
                threshold: 2267,
            },
            cert: Committee {
                expected: 1500,
                threshold: 1112,
            },
            next: Committee {
                expected: 5000,
                threshold: 3838,
            },
            total_weight: 10_000_000_000,
            two_lambda_ms: 1000,
            filter_timeout: FilterTimeout::Fixed,
            round_factor_cap: 30,
            step_factor_cap: 10,
            interval_size: 1_000_000,
            lifespan: 100,
            round_lookahead: 4,
            step_lookahead: 16,
            max_future_votes: 16_384,
        }
    }

    /// Kaleido mainnet's timing: 2λ = 2000 ms.
    pub fn kaleido_mainnet(chain_id: u64) -> Self {
        Params {
            two_lambda_ms: 2000,
            ..Params::new_chain(chain_id)
        }
    }

    /// The fixed-committee mode with the default quorum (strictly more than 2/3).
    pub fn fixed_committee(chain_id: u64) -> Self {
        Params {
            mode: CommitteeMode::FIXED_TWO_THIRDS,
            ..Params::new_chain(chain_id)
        }
    }

    /// The committee that votes at `step`.
    pub fn committee(&self, step: Step) -> Committee {
        match step.kind() {
            StepKind::Proposal => self.proposer,
            StepKind::Soft => self.soft,
            StepKind::Cert => self.cert,
            StepKind::Next => self.next,
        }
    }

    /// Quorum thresholds at a height.
    ///
    /// In sortition mode they are the committee thresholds. In fixed-committee mode
    /// `fixed_total` is the sum of the registered miners' weights and the threshold
    /// is the smallest weight strictly above `num/den` of it.
    pub fn thresholds(&self, fixed_total: u64) -> Thresholds {
        match self.mode {
            CommitteeMode::Sortition => Thresholds {
                soft: self.soft.threshold,
                cert: self.cert.threshold,
                next: self.next.threshold,
            },
            CommitteeMode::Fixed { num, den } => {
                let t = fixed_quorum(fixed_total, num, den);
                Thresholds::uniform(t)
            }
        }
    }

    /// Quorum thresholds for committees whose weights come from stake
    /// (`sortition::seats`): in fixed-committee mode a miner's weight is its stake
    /// share normalised to W, so the quorum is taken over W.
    pub fn stake_thresholds(&self) -> Thresholds {
        self.thresholds(self.total_weight)
    }

    /// Timer duration of a waiting step (Kaleido §4.7):
    /// How long after a round starts a proposer builds its new block: half the
    /// proposal step's timer (λ) in round 1, at once in later rounds.
    ///
    /// The proposal step waits 2λ (the filter timer) for proposals in any case;
    /// building at its start would freeze the block's contents for the whole wait,
    /// so a transaction would wait on average 1.5 block periods. Building halfway
    /// takes in what arrived during the first half, and leaves the second half
    /// for [`Self::build_budget_ms`] of execution and for the proposal to reach
    /// the committee (λ bounds a small message's propagation, Kaleido §4.7) before
    /// their filter timers end.
    ///
    /// A round after round 1 starts from an empty next quorum: round 1 failed,
    /// typically because proposals came too late, and the pool has only grown.
    /// Then the whole proposal timer goes to building and propagating.
    ///
    /// With [`FilterTimeout::Dynamic`] the driver builds round 1's block at
    /// once as soon as its estimate is in use ([`crate::driver::filter_timeout`]).
    pub fn assembly_delay_ms(&self, round: Round) -> u64 {
        if round <= 1 {
            self.timeout_ms(round, Step::PROPOSAL) / 2
        } else {
            0
        }
    }

    /// Most time a proposer spends executing transactions into a new block: a
    /// quarter of the proposal step's timer (λ/2 in rounds 1 and 2), at most
    /// [`MAX_BUILD_BUDGET_MS`]. Built at [`Self::assembly_delay_ms`], the block is
    /// complete with λ/2 of the filter wait to spare.
    pub fn build_budget_ms(&self, round: Round) -> u64 {
        (self.timeout_ms(round, Step::PROPOSAL) / 4).min(MAX_BUILD_BUDGET_MS)
    }

    /// `2λ · fR · fS`, with `fR = 1` for rounds 1–2 and `min(2^(r−2), cap)` from
    /// round 3, and `fS = 1` for steps < 8 and `min((s−8)/2 + 1, cap)` from step 8.
    pub fn timeout_ms(&self, round: Round, step: Step) -> u64 {
        let fr = if round <= 2 {
            1
        } else {
            let exp = (round - 2).min(63);
            (1u64 << exp).min(self.round_factor_cap)
        };
        let fs = if step.0 < 8 {
            1
        } else {
            (u64::from(step.0 - 8) / 2 + 1).min(self.step_factor_cap)
        };
        self.two_lambda_ms.saturating_mul(fr).saturating_mul(fs)
    }
}

/// The smallest integer weight strictly greater than `total · num / den`.
pub fn fixed_quorum(total: u64, num: u64, den: u64) -> u64 {
    let den = den.max(1);
    let scaled = u128::from(total) * u128::from(num) / u128::from(den);
    u64::try_from(scaled).unwrap_or(u64::MAX).saturating_add(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_block_is_built_halfway_through_round_one_and_at_once_later() {
        // (2λ, round, assembly delay, build budget)
        let table: [(u64, Round, u64, u64); 5] = [
            (1000, 1, 500, 250),
            (1000, 2, 0, 250), // after a failed round: build at once
            (1000, 3, 0, 300), // timer ×2 from round 3; budget capped
            (200, 1, 100, 50),
            (2000, 1, 1000, 300),
        ];
        for (two_lambda_ms, round, delay, budget) in table {
            let p = Params {
                two_lambda_ms,
                ..Params::default()
            };
            assert_eq!(
                p.assembly_delay_ms(round),
                delay,
                "2λ {two_lambda_ms} r {round}"
            );
            assert_eq!(
                p.build_budget_ms(round),
                budget,
                "2λ {two_lambda_ms} r {round}"
            );
            assert!(delay + budget < p.timeout_ms(round, Step::PROPOSAL));
        }
    }

    #[test]
    fn a_dynamic_filter_keeps_the_parameters_timers() {
        let fixed = Params::default();
        let dynamic = Params {
            filter_timeout: FilterTimeout::Dynamic { min_ms: 100 },
            ..fixed
        };
        for round in [1, 2, 3] {
            // The driver shortens round 1's filter timer and build delay; the
            // parameters' are the fixed ones.
            assert_eq!(
                dynamic.assembly_delay_ms(round),
                fixed.assembly_delay_ms(round)
            );
            for step in [1, 3, 5, 8, 12] {
                assert_eq!(
                    dynamic.timeout_ms(round, Step(step)),
                    fixed.timeout_ms(round, Step(step))
                );
            }
            assert_eq!(dynamic.build_budget_ms(round), fixed.build_budget_ms(round));
        }
    }

    #[test]
    fn kaleido_defaults() {
        let p = Params::default();
        assert_eq!(
            p.proposer,
            Committee {
                expected: 20,
                threshold: 1
            }
        );
        assert_eq!(
            p.soft,
            Committee {
                expected: 2990,
                threshold: 2267
            }
        );
        assert_eq!(
            p.cert,
            Committee {
                expected: 1500,
                threshold: 1112
            }
        );
        assert_eq!(
            p.next,
            Committee {
                expected: 5000,
                threshold: 3838
            }
        );
        assert_eq!(p.total_weight, 10_000_000_000);
        assert_eq!(p.two_lambda_ms, 1000);
        assert_eq!(Params::kaleido_mainnet(1).two_lambda_ms, 2000);
        assert_eq!(p.interval_size, 1_000_000);
        assert_eq!(p.lifespan, 100);
    }

    #[test]
    fn timer_growth_table() {
        let p = Params::kaleido_mainnet(1);
        // (round, step, expected ms)
        let table = [
            (1, 1, 2000),
            (2, 3, 2000),
            (3, 1, 4000),
            (4, 1, 8000),
            (5, 1, 16000),
            (6, 1, 32000),
            (7, 1, 60000),
            (40, 1, 60000),
            (1, 7, 2000),
            (1, 8, 2000),
            (1, 9, 2000),
            (1, 10, 4000),
            (1, 27, 20000),
            (1, 28, 20000),
            (1, 1000, 20000),
            (100, 1000, 600_000),
        ];
        for (r, s, ms) in table {
            assert_eq!(p.timeout_ms(r, Step(s)), ms, "round {r} step {s}");
        }
    }

    #[test]
    fn fixed_thresholds_are_strict_two_thirds() {
        let p = Params::fixed_committee(1);
        assert_eq!(p.thresholds(4), Thresholds::uniform(3));
        assert_eq!(p.thresholds(7), Thresholds::uniform(5));
        assert_eq!(p.thresholds(3), Thresholds::uniform(3));
        assert_eq!(p.thresholds(6), Thresholds::uniform(5));
        assert_eq!(p.thresholds(100), Thresholds::uniform(67));
        assert_eq!(fixed_quorum(u64::MAX, 2, 3), u64::MAX / 3 * 2 + 1);
        let s = Params::default();
        assert_eq!(s.thresholds(0).cert, 1112);
    }
}
