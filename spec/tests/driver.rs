//! The driver end to end, with mock cryptography and plain blocks: four
//! drivers of a [`spec::cluster::Cluster`] on a virtual clock, every effect
//! carried out the way a host does (broadcasts to the others, builds,
//! validation, commits), with and without a stream of hostile messages from a
//! peer. Hostile input never stops the chain, never forks it, never breaks an
//! invariant, and never grows what a driver holds past its bounds.

use proptest::prelude::*;
use spec::auth::BlockClaims;
use spec::cluster::{Cluster, Out, Role};
use spec::driver::BuildOrder;
use spec::driver::block::{BlockFormat, PlainBlock, PlainBlocks, PlainHeader};
use spec::driver::wire::{self, MAX_FUTURE_MESSAGES, MAX_UNPAIRED, Topic};
use spec::params::{FilterTimeout, Params};
use spec::types::{Height, MinerId, Step, Value};
use std::collections::VecDeque;

const CHAIN: u64 = 77;
const NODES: usize = 4;
const GENESIS: Value = spec::cluster::GENESIS;
/// The source id of a peer with no stake.
const STRANGER: u64 = 99;

/// Four drivers of a [`Cluster`] on a virtual clock, with a first-in first-out
/// network that carries every broadcast to every other node (no relaying, no
/// loss) and answers builds and validations in order. The invariants are
/// checked after every step.
struct Net {
    cluster: Cluster,
    /// (from, to, topic, bytes).
    inflight: VecDeque<(u64, usize, Topic, Vec<u8>)>,
    /// Answers to builds and validations, delivered like messages.
    answers: VecDeque<(usize, Answer)>,
    now: u64,
    /// Proposals and blocks are lost while set.
    lose_proposals: bool,
}

enum Answer {
    Build(BuildOrder),
    Validated(Value, bool),
}

impl Net {
    fn new() -> Net {
        Net::with_params(Params::fixed_committee(CHAIN))
    }

    fn with_params(params: Params) -> Net {
        let mut net = Net {
            cluster: Cluster::new(params, &[1_000; NODES], &[Role::Honest; NODES]),
            inflight: VecDeque::new(),
            answers: VecDeque::new(),
            now: 0,
            lose_proposals: false,
        };
        for i in 0..NODES {
            let outs = net.cluster.start(i, 0).expect("start");
            net.carry_out(i, outs);
        }
        net
    }

    fn committed(&self, i: usize) -> &[Value] {
        self.cluster.committed(i)
    }

    fn parent_and_height(&self, i: usize) -> (Value, Height) {
        let d = self.cluster.driver(i).expect("every node runs a driver");
        (d.parent(), d.height())
    }

    fn carry_out(&mut self, i: usize, outs: Vec<Out>) {
        for out in outs {
            match out {
                Out::Broadcast(topic, bytes) => {
                    for to in (0..NODES).filter(|to| *to != i) {
                        self.inflight
                            .push_back((i as u64, to, topic, bytes.clone()));
                    }
                }
                Out::Build(order) => self.answers.push_back((i, Answer::Build(order))),
                Out::Validate(value, ok) => {
                    self.answers.push_back((i, Answer::Validated(value, ok)))
                }
                Out::Accepted(..) | Out::Held(..) | Out::Committed(..) => {}
            }
        }
    }

    /// One step: a message, an answer, or the clock to the next deadline.
    fn step(&mut self) -> bool {
        let progressed = self.step_once();
        self.cluster.check().expect("no invariant breaks");
        progressed
    }

    fn step_once(&mut self) -> bool {
        if let Some((from, to, topic, bytes)) = self.inflight.pop_front() {
            if self.lose_proposals && topic != Topic::Votes {
                return true;
            }
            let outs = self
                .cluster
                .deliver(to, self.now, topic, &bytes, from)
                .expect("wire");
            self.carry_out(to, outs);
            return true;
        }
        if let Some((i, a)) = self.answers.pop_front() {
            let outs = match a {
                Answer::Build(order) => self.cluster.built(i, self.now, order),
                Answer::Validated(value, valid) => {
                    self.cluster.validated(i, self.now, value, valid)
                }
            }
            .expect("answer");
            self.carry_out(i, outs);
            return true;
        }
        let Some(next) = (0..NODES)
            .filter_map(|i| self.cluster.driver(i).and_then(|d| d.next_deadline()))
            .min()
        else {
            return false;
        };
        self.now = self.now.max(next);
        for i in 0..NODES {
            let outs = self.cluster.tick(i, self.now).expect("tick");
            self.carry_out(i, outs);
        }
        true
    }

    /// Messages a peer with no stake sends to node `to`.
    fn inject(&mut self, to: usize, topic: Topic, bytes: Vec<u8>) {
        self.inflight.push_front((STRANGER, to, topic, bytes));
    }

    fn check_bounds(&self) {
        for i in 0..NODES {
            let held = self.cluster.driver(i).expect("driver").held();
            assert!(held.waiting <= MAX_UNPAIRED, "{held:?}");
            assert!(held.future <= MAX_FUTURE_MESSAGES, "{held:?}");
            assert!(held.proposals <= 64, "{held:?}");
        }
    }

    fn run_until(&mut self, heights: usize, max_steps: usize) {
        for _ in 0..max_steps {
            if (0..NODES).all(|i| self.committed(i).len() >= heights) {
                return;
            }
            if !self.step() {
                break;
            }
        }
    }

    fn assert_one_chain(&self, heights: usize) {
        for i in 0..NODES {
            let c = self.committed(i);
            assert!(c.len() >= heights, "committed only {} heights", c.len());
            assert_eq!(c[..heights], self.committed(0)[..heights], "fork");
        }
    }
}

#[test]
fn four_drivers_commit_one_chain() {
    let mut net = Net::new();
    net.run_until(5, 200_000);
    net.assert_one_chain(5);
    // One proposal timer (2λ) per height, nothing else waits.
    assert!(
        net.now <= 5 * Params::fixed_committee(CHAIN).two_lambda_ms + 1_000,
        "{} ms",
        net.now
    );
}

/// Node 0's armed filter timer, as a duration from `now`, when it waits in
/// the proposal step of `round`.
fn proposal_wait(net: &Net, round: u32) -> Option<u64> {
    let d = net.cluster.driver(0)?;
    let (deadline, hrs) = d.armed_timer()?;
    (hrs.round == round && hrs.step == Step::PROPOSAL).then(|| deadline - net.now)
}

/// Steps until node 0 waits in the proposal step of `round`; that wait.
fn next_proposal_wait(net: &mut Net, round: u32) -> u64 {
    for _ in 0..200_000 {
        if let Some(w) = proposal_wait(net, round) {
            return w;
        }
        assert!(net.step(), "stalled before round {round}");
    }
    panic!("never reached round {round}");
}

#[test]
fn the_dynamic_filter_timeout_shortens_round_one_only() {
    use spec::driver::filter_timeout::{MARGIN_MS, WARM_UP};
    let fixed = Params::fixed_committee(CHAIN);
    let two_lambda = fixed.two_lambda_ms;
    let min_ms = 120;
    let params = Params {
        filter_timeout: FilterTimeout::Dynamic { min_ms },
        ..fixed
    };
    // Proposals arrive at once on this network: the estimate is 0 + margin,
    // raised to the floor.
    let estimate = MARGIN_MS.max(min_ms);
    assert!(estimate < two_lambda);
    let mut off = Net::new();
    let mut on = Net::with_params(params);
    let build_due = |net: &Net| {
        let d = net.cluster.driver(0).expect("driver");
        d.build_due_at().map(|at| at - net.now)
    };
    // Until WARM_UP heights are decided, round 1 waits 2λ either way and
    // builds halfway.
    for net in [&mut off, &mut on] {
        assert_eq!(next_proposal_wait(net, 1), two_lambda);
        assert_eq!(build_due(net), Some(two_lambda / 2));
        net.run_until(WARM_UP, 200_000);
        net.assert_one_chain(WARM_UP);
    }
    assert_eq!(next_proposal_wait(&mut off, 1), two_lambda);
    assert_eq!(build_due(&off), Some(two_lambda / 2));
    // Then the dynamic one waits the estimate and has built at once.
    assert_eq!(next_proposal_wait(&mut on, 1), estimate);
    assert_eq!(build_due(&on), None);
    let d = on.cluster.driver(0).expect("driver");
    assert_eq!(d.filter_timeout_ms(), estimate);
    assert_eq!(
        off.cluster.driver(0).expect("driver").filter_timeout_ms(),
        two_lambda
    );
    // Lose the proposals of this height: round 1 fails, and round 2 waits the
    // fixed 2λ of its proposal step, dynamic or not.
    for net in [&mut off, &mut on] {
        net.lose_proposals = true;
        assert_eq!(
            next_proposal_wait(net, 2),
            fixed.timeout_ms(2, Step::PROPOSAL)
        );
        net.lose_proposals = false;
        net.run_until(WARM_UP + 2, 200_000);
        net.assert_one_chain(WARM_UP + 2);
    }
    // Round 1 of the next height is dynamic again.
    assert_eq!(next_proposal_wait(&mut on, 1), estimate);
    // Both chains ran WARM_UP + 2 heights; the dynamic one in far less time.
    assert!(on.now < off.now, "on {} ms, off {} ms", on.now, off.now);
}

/// A junk block of `height` on `parent` with distinct contents `k`.
fn junk_block(height: Height, parent: Value, k: u64, body_matches: bool) -> Vec<u8> {
    let mut block = PlainBlock::new(
        height,
        parent,
        BlockClaims {
            proposer: MinerId::from_index(9),
            seed: [k as u8; 32],
            beneficiary: [9; 20],
        },
        k.to_be_bytes().to_vec(),
    );
    if !body_matches {
        block.body.push(0);
    }
    let (h, b) = PlainBlocks::encode(&block);
    wire::frame_block(&h, &b)
}

/// Arbitrary hostile input: raw bytes on any topic, or junk blocks for the
/// current or next height, some with bodies that do not match their headers.
fn hostile() -> impl Strategy<Value = (u8, u8, Vec<u8>, u64)> {
    (
        0u8..5,
        0u8..NODES as u8,
        proptest::collection::vec(any::<u8>(), 0..200),
        any::<u64>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn hostile_messages_never_stop_or_fork_the_chain(
        attacks in proptest::collection::vec(hostile(), 1..120),
    ) {
        let mut net = Net::new();
        let mut pending: VecDeque<_> = attacks.into();
        let mut steps = 0usize;
        while (0..NODES).any(|i| net.committed(i).len() < 3) && steps < 300_000 {
            steps += 1;
            if steps.is_multiple_of(7)
                && let Some((kind, to, bytes, k)) = pending.pop_front()
            {
                let to = usize::from(to);
                let (parent, h) = net.parent_and_height(to);
                let (topic, msg) = match kind {
                    0 => (Topic::Votes, bytes),
                    1 => (Topic::Proposals, bytes),
                    2 => (Topic::Blocks, bytes),
                    3 => (Topic::Blocks, junk_block(h, parent, k, k % 2 == 0)),
                    _ => (Topic::Blocks, junk_block(h + 1, Value([k as u8; 32]), k, true)),
                };
                net.inject(to, topic, msg);
            }
            if !net.step() {
                break;
            }
            net.check_bounds();
        }
        net.assert_one_chain(3);
    }
}

#[test]
fn a_header_with_trailing_bytes_is_refused() {
    let block = PlainBlock::new(
        1,
        GENESIS,
        BlockClaims {
            proposer: MinerId::from_index(1),
            seed: [0; 32],
            beneficiary: [0; 20],
        },
        vec![1, 2, 3],
    );
    let (mut h, b) = PlainBlocks::encode(&block);
    assert!(PlainBlocks::decode(&h, &b).is_some());
    h.push(0);
    assert!(PlainBlocks::decode(&h, &b).is_none());
    let _: PlainHeader = block.header;
}

/// One voter's values in one step: the first two are authenticated and counted
/// (an equivocator counts for both), a third is dropped before its signature is
/// checked, so a voter cannot make a node verify an unbounded stream of values.
#[test]
fn an_equivocators_third_value_is_dropped_unverified() {
    use spec::types::Hrs;
    let mut cluster = Cluster::new(
        Params::fixed_committee(CHAIN),
        &[1_000; NODES],
        &[Role::Honest, Role::Honest, Role::Honest, Role::Absent],
    );
    for i in 0..NODES - 1 {
        cluster.start(i, 0).expect("start");
    }
    let roster = cluster.roster_after(GENESIS);
    let hrs = Hrs::new(1, 1, Step::SOFT);
    let mut verdicts = Vec::new();
    for k in 1..=4u8 {
        let bytes = cluster
            .byzantine_vote(3, hrs, Value([k; 32]), &roster)
            .expect("member 3 has a seat");
        let before = cluster.votes_verified();
        let outs = cluster
            .deliver(0, 1, Topic::Votes, &bytes, STRANGER)
            .expect("deliver");
        let accepted = outs.iter().any(|o| matches!(o, Out::Accepted(..)));
        verdicts.push((accepted, cluster.votes_verified() - before));
    }
    assert_eq!(
        verdicts,
        vec![(true, 1), (true, 1), (false, 0), (false, 0)],
        "(accepted, votes verified) per value"
    );
}
