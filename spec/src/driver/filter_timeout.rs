//! The dynamic filter timeout: how long round 1's proposal step waits for
//! proposals, estimated from how late the best proposal arrived at recent
//! heights (go-algorand consensus v39, `agreement/dynamicFilterTimeoutParams.go`:
//! the 95th percentile of the last 40 lowest-credential arrival times plus a
//! 50 ms grace, clamped).
//!
//! In BA* the proposal step ends with the filter timer: the node then soft-votes
//! the best-priority proposal it holds (Kaleido §4.6, step 2 "filtering"). A
//! fixed 2λ wait is sized for the worst network the chain expects; on a fast
//! network every proposal has long arrived while the node still waits. The
//! estimator lets each node wait about as long as the best proposal actually
//! took to arrive over the last [`WINDOW`] heights, within `[min, 2λ]`.
//!
//! What is sampled: go-algorand's proposers propose at the period's start, so
//! its samples are times since then. A kalgo proposer builds round 1's block
//! halfway through the fixed wait ([`crate::params::Params::assembly_delay_ms`])
//! to take in more transactions; with the estimate in use it builds at once
//! instead (a short wait gains little by building later, and a build delay
//! tied to the estimate would feed back into it). A sample is therefore the
//! arrival delay past the moment proposers built: the round's start plus the
//! build delay in force at this node. Warm-up heights (built halfway) and
//! later ones (built at once) then measure the same thing: how long building
//! and propagating the best proposal took.
//!
//! Only round 1 uses the estimate; later rounds, and every other step, keep the
//! fixed timers of [`crate::params::Params::timeout_ms`]: a round after the first
//! starts because round 1 failed, and then the conservative wait is wanted.
//!
//! Timers never decide safety: the machine is safe whenever its timers fire
//! (the model checker fires them at any moment), so a bad estimate costs at most
//! a failed round 1, never agreement. The estimator is pure and deterministic:
//! time arrives as arguments.
//!
//! Crash and restart: the window is not made durable. A restarted node starts
//! with an empty window and waits the full 2λ until it has [`WARM_UP`] samples
//! again; it is only a timer, so nothing else depends on it.

use std::collections::VecDeque;

use crate::types::{Height, Round};

/// Heights whose best-proposal arrival delay is kept (go-algorand: 40).
pub const WINDOW: usize = 40;

/// Percentile of the window that is waited for (go-algorand: 95, the order
/// statistic at index 37 of 40).
pub const PERCENTILE: usize = 95;

/// Added to the percentile, in milliseconds (go-algorand's 50 ms grace).
pub const MARGIN_MS: u64 = 50;

/// Samples needed before the estimate is used; until then round 1 waits 2λ.
pub const WARM_UP: usize = 5;

/// The estimate from `samples` (arrival delays in ms, in any order): the
/// [`PERCENTILE`]th percentile (nearest rank) plus [`MARGIN_MS`], clamped to
/// `[min_ms, two_lambda_ms]`; `two_lambda_ms` while there are fewer than
/// [`WARM_UP`] samples. A `min_ms` above `two_lambda_ms` yields `two_lambda_ms`.
pub fn estimate(samples: &[u64], min_ms: u64, two_lambda_ms: u64) -> u64 {
    if samples.len() < WARM_UP {
        return two_lambda_ms;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    // Nearest rank: the smallest sample with at least PERCENTILE % at or below it.
    let rank = (sorted.len() * PERCENTILE).div_ceil(100).max(1);
    let p = sorted[rank - 1];
    p.saturating_add(MARGIN_MS).max(min_ms).min(two_lambda_ms)
}

/// The best round-1 proposal seen at the height in progress.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Best {
    priority: [u8; 32],
    /// Milliseconds after round 1 started.
    delay_ms: u64,
}

/// The estimator one driver owns: the window of past heights and what the
/// height in progress has seen so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FilterEstimator {
    /// Arrival delays of the best round-1 proposal of the last decided heights,
    /// oldest first.
    window: VecDeque<u64>,
    /// The height whose round 1 is being observed, and when its proposers
    /// built: the round's start plus the build delay in force (host ms).
    started: Option<(Height, u64)>,
    best: Option<Best>,
}

impl FilterEstimator {
    /// The round-1 filter timer now, in ms (see [`estimate`]).
    pub fn timeout_ms(&self, min_ms: u64, two_lambda_ms: u64) -> u64 {
        let samples: Vec<u64> = self.window.iter().copied().collect();
        estimate(&samples, min_ms, two_lambda_ms)
    }

    /// Whether the estimate is in use: [`WARM_UP`] samples or more.
    pub fn is_warm(&self) -> bool {
        self.window.len() >= WARM_UP
    }

    /// The samples in the window, oldest first.
    pub fn samples(&self) -> impl Iterator<Item = u64> + '_ {
        self.window.iter().copied()
    }

    /// Round 1 of `height` started at `now` (host ms), and its new blocks are
    /// built `build_delay_ms` later.
    pub fn round_started(&mut self, height: Height, now: u64, build_delay_ms: u64) {
        if self.started.map(|(h, _)| h) != Some(height) {
            self.best = None;
        }
        self.started = Some((height, now.saturating_add(build_delay_ms)));
    }

    /// A proposal for (`height`, `round`) with `priority` (smaller is better)
    /// arrived at `now`, authenticated. Only round 1 of the observed height
    /// counts; a better one replaces the best so far and its arrival time
    /// (past the build moment; 0 if it came earlier).
    pub fn proposal(&mut self, height: Height, round: Round, priority: [u8; 32], now: u64) {
        let Some((h, start)) = self.started else {
            return;
        };
        if h != height || round != 1 {
            return;
        }
        if self.best.is_some_and(|b| b.priority <= priority) {
            return;
        }
        self.best = Some(Best {
            priority,
            delay_ms: now.saturating_sub(start),
        });
    }

    /// This node decided `height` (in any round): the best round-1 proposal's
    /// arrival delay, if one arrived, becomes a sample. A height with no
    /// round-1 proposal leaves the window as it is.
    pub fn decided(&mut self, height: Height) {
        if self.started.map(|(h, _)| h) != Some(height) {
            return;
        }
        if let Some(b) = self.best.take() {
            self.push(b.delay_ms);
        }
        self.started = None;
    }

    /// Adds one sample, dropping the oldest beyond [`WINDOW`].
    pub fn push(&mut self, delay_ms: u64) {
        if self.window.len() == WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(delay_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_table() {
        let ramp: Vec<u64> = (1..=40).map(|i| i * 10).collect(); // 10 … 400
        let mut outliers = vec![100u64; 38];
        outliers.extend([5_000, 9_000]);
        let mut three_outliers = vec![100u64; 37];
        three_outliers.extend([700, 800, 900]);
        // (case, samples, min, 2λ, expected)
        let table: [(&str, Vec<u64>, u64, u64, u64); 10] = [
            ("empty window waits 2λ", vec![], 100, 1000, 1000),
            ("warm-up waits 2λ", vec![10; WARM_UP - 1], 100, 1000, 1000),
            (
                "warm once WARM_UP samples",
                vec![200; WARM_UP],
                100,
                1000,
                250,
            ),
            // Nearest rank 38 of 40 (index 37, as go-algorand): 380 + 50.
            ("p95 of a ramp", ramp.clone(), 100, 1000, 430),
            (
                "p95 of a shuffled ramp",
                ramp.iter().rev().copied().collect(),
                100,
                1000,
                430,
            ),
            ("two outliers in 40 are ignored", outliers, 100, 1000, 150),
            ("three outliers in 40 count", three_outliers, 100, 1000, 750),
            ("clamped up to min", vec![5; 40], 300, 1000, 300),
            ("clamped down to 2λ", vec![1_500; 40], 100, 1000, 1000),
            ("min above 2λ yields 2λ", vec![5; 40], 3000, 1000, 1000),
        ];
        for (case, samples, min, two_lambda, want) in table {
            assert_eq!(estimate(&samples, min, two_lambda), want, "{case}");
        }
    }

    #[test]
    fn window_rolls_over_the_last_forty_heights() {
        let mut e = FilterEstimator::default();
        for _ in 0..WINDOW {
            e.push(900);
        }
        assert_eq!(e.timeout_ms(100, 1000), 950);
        // 37 fast heights: three slow samples remain, the p95 is still slow.
        for _ in 0..WINDOW - 3 {
            e.push(100);
        }
        assert_eq!(e.samples().count(), WINDOW);
        assert_eq!(e.timeout_ms(100, 1000), 950);
        // One more: only two slow ones left, below the 95th percentile.
        e.push(100);
        assert_eq!(e.timeout_ms(100, 1000), 150);
        assert_eq!(e.samples().count(), WINDOW);
    }

    #[test]
    fn the_best_round_one_proposal_of_a_decided_height_is_the_sample() {
        let mut e = FilterEstimator::default();
        e.round_started(7, 1_000, 0);
        e.proposal(7, 1, [5; 32], 1_040); // best so far, 40 ms
        e.proposal(7, 1, [9; 32], 1_010); // worse priority: ignored
        e.proposal(7, 2, [1; 32], 1_020); // round 2: ignored
        e.proposal(8, 1, [1; 32], 1_020); // another height: ignored
        e.proposal(7, 1, [2; 32], 1_090); // better priority, later: 90 ms
        e.decided(6); // not the observed height
        assert_eq!(e.samples().count(), 0);
        e.decided(7);
        assert_eq!(e.samples().collect::<Vec<_>>(), vec![90]);
        // A height without any round-1 proposal adds nothing.
        e.round_started(8, 2_000, 0);
        e.decided(8);
        assert_eq!(e.samples().collect::<Vec<_>>(), vec![90]);
        // A proposal before any round started is not timed.
        let mut fresh = FilterEstimator::default();
        fresh.proposal(1, 1, [0; 32], 5);
        fresh.decided(1);
        assert_eq!(fresh.samples().count(), 0);
    }

    #[test]
    fn a_new_height_forgets_the_best_proposal_of_the_last() {
        let mut e = FilterEstimator::default();
        e.round_started(3, 0, 0);
        e.proposal(3, 1, [4; 32], 30);
        // A proposal of the old height never counts for the next.
        e.round_started(4, 100, 0);
        e.proposal(4, 1, [6; 32], 160);
        e.decided(4);
        assert_eq!(e.samples().collect::<Vec<_>>(), vec![60]);
    }

    #[test]
    fn samples_run_from_the_build_moment_and_warm_up_takes_five() {
        let mut e = FilterEstimator::default();
        for h in 1..=WARM_UP as u64 {
            assert!(!e.is_warm());
            assert_eq!(e.timeout_ms(100, 1000), 1000);
            // Warm-up: built halfway (500 ms in), arrived 530 ms in.
            e.round_started(h, h * 10_000, 500);
            e.proposal(h, 1, [1; 32], h * 10_000 + 530);
            e.decided(h);
        }
        assert!(e.is_warm());
        assert_eq!(e.samples().collect::<Vec<_>>(), vec![30; WARM_UP]);
        assert_eq!(e.timeout_ms(100, 1000), 100); // 30 + 50, up to the floor
        assert_eq!(e.timeout_ms(20, 1000), 80);
        // A proposal that came before the build moment (a peer built earlier)
        // counts as arriving at it.
        e.round_started(9, 1_000, 500);
        e.proposal(9, 1, [1; 32], 1_200);
        e.decided(9);
        assert_eq!(e.samples().last(), Some(0));
    }
}
