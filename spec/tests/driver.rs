//! The driver end to end, with mock cryptography and plain blocks: four
//! drivers on a virtual clock, every effect carried out the way a host does
//! (broadcasts to the others, builds, validation, commits), with and without a
//! stream of hostile messages from a peer. Hostile input never stops the chain,
//! never forks it, and never grows what a driver holds past its bounds.

use proptest::prelude::*;
use spec::auth::{BlockClaims, MockMinerKeys};
use spec::driver::block::{BlockFormat, PlainBlock, PlainBlocks, PlainHeader};
use spec::driver::wire::{self, MAX_FUTURE_MESSAGES, MAX_UNPAIRED, Topic};
use spec::driver::{Driver, Effect, Event, Head, Inbound, MockSuite, Resume};
use spec::params::Params;
use spec::roster::Roster;
use spec::types::{Height, MinerId, Value};
use std::collections::VecDeque;

const CHAIN: u64 = 77;
const NODES: usize = 4;
const GENESIS: Value = Value([0x11; 32]);

type D = Driver<PlainBlocks, MockSuite, MockMinerKeys>;

fn roster() -> Roster {
    let mut r = Roster {
        seed: [0x5e; 32],
        ..Roster::default()
    };
    for i in 0..NODES as u8 {
        let k = MockMinerKeys::mock(CHAIN, i);
        r.miners.insert(k.id, k.record(1_000));
        r.total_stake += 1_000;
    }
    r
}

fn head(parent: Value, number: Height) -> Head {
    Head {
        parent,
        number,
        roster: roster(),
        own_slots: Vec::new(),
    }
}

struct Net {
    drivers: Vec<D>,
    /// (to, topic, bytes): every broadcast goes to every other node.
    inflight: VecDeque<(usize, Topic, Vec<u8>)>,
    /// Answers to builds and validations, delivered like messages.
    answers: VecDeque<(usize, Answer)>,
    committed: Vec<Vec<Value>>,
    now: u64,
}

enum Answer {
    Built(Height, u32, PlainBlock),
    Validated(Value, bool),
}

impl Net {
    fn new() -> Net {
        let mut net = Net {
            drivers: Vec::new(),
            inflight: VecDeque::new(),
            answers: VecDeque::new(),
            committed: vec![Vec::new(); NODES],
            now: 0,
        };
        for i in 0..NODES as u8 {
            let d = Driver::new(
                Params::fixed_committee(CHAIN),
                MockSuite,
                Some(MockMinerKeys::mock(CHAIN, i)),
            );
            net.drivers.push(d);
        }
        for i in 0..NODES {
            let fx = net.drivers[i]
                .handle(0, Event::Start(head(GENESIS, 0), Resume::default()))
                .expect("start");
            net.carry_out(i, fx);
        }
        net
    }

    fn carry_out(&mut self, i: usize, effects: Vec<Effect<PlainBlock>>) {
        for e in effects {
            match e {
                Effect::Broadcast(topic, bytes) => {
                    for to in (0..NODES).filter(|to| *to != i) {
                        self.inflight.push_back((to, topic, bytes.clone()));
                    }
                }
                Effect::Build(order) => {
                    let parent = self.drivers[i].parent();
                    let claims = BlockClaims {
                        proposer: order.proposer,
                        seed: order.seed,
                        beneficiary: order.coinbase,
                    };
                    let body = format!("block {} {} {i}", order.height, order.round).into_bytes();
                    let block = PlainBlock::new(order.height, parent, claims, body);
                    self.answers
                        .push_back((i, Answer::Built(order.height, order.round, block)));
                }
                Effect::Validate(block) => {
                    let ok = PlainBlocks::body_matches_header(&block);
                    let value = PlainBlocks::info(&block).value;
                    self.answers.push_back((i, Answer::Validated(value, ok)));
                }
                Effect::Commit { value, .. } => {
                    let number = self.drivers[i].height();
                    self.committed[i].push(value);
                    let fx = self.drivers[i]
                        .handle(self.now, Event::Committed(head(value, number)))
                        .expect("committed");
                    self.carry_out(i, fx);
                }
                Effect::Evidence(e) => panic!("honest drivers equivocated: {e:?}"),
                Effect::CannotCertify { error, .. } => {
                    panic!("a decision without a certificate: {error}")
                }
                Effect::Persist(_) | Effect::Verdict { .. } | Effect::Abstained { .. } => {}
            }
        }
    }

    /// One step: a message, an answer, or the clock to the next deadline.
    fn step(&mut self) -> bool {
        if let Some((to, topic, bytes)) = self.inflight.pop_front() {
            let msgs = [Inbound {
                topic,
                bytes: &bytes,
                source: 0,
            }];
            let fx = self.drivers[to]
                .handle(self.now, Event::Wire(&msgs))
                .expect("wire");
            self.carry_out(to, fx);
            return true;
        }
        if let Some((i, a)) = self.answers.pop_front() {
            let event = match a {
                Answer::Built(height, round, block) => Event::Built {
                    height,
                    round,
                    block,
                },
                Answer::Validated(value, valid) => Event::Validated { value, valid },
            };
            let fx = self.drivers[i].handle(self.now, event).expect("answer");
            self.carry_out(i, fx);
            return true;
        }
        let Some(next) = self.drivers.iter().filter_map(D::next_deadline).min() else {
            return false;
        };
        self.now = self.now.max(next);
        for i in 0..NODES {
            let fx = self.drivers[i].handle(self.now, Event::Tick).expect("tick");
            self.carry_out(i, fx);
        }
        true
    }

    /// Messages a peer with no stake sends to node `to`.
    fn inject(&mut self, to: usize, topic: Topic, bytes: Vec<u8>) {
        self.inflight.push_front((to, topic, bytes));
    }

    fn check_bounds(&self) {
        for d in &self.drivers {
            let held = d.held();
            assert!(held.waiting <= MAX_UNPAIRED, "{held:?}");
            assert!(held.future <= MAX_FUTURE_MESSAGES, "{held:?}");
            assert!(held.proposals <= 64, "{held:?}");
        }
    }

    fn run_until(&mut self, heights: usize, max_steps: usize) {
        for _ in 0..max_steps {
            if self.committed.iter().all(|c| c.len() >= heights) {
                return;
            }
            if !self.step() {
                break;
            }
        }
    }

    fn assert_one_chain(&self, heights: usize) {
        for c in &self.committed {
            assert!(c.len() >= heights, "committed only {} heights", c.len());
            assert_eq!(c[..heights], self.committed[0][..heights], "fork");
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
        while net.committed.iter().any(|c| c.len() < 3) && steps < 300_000 {
            steps += 1;
            if steps.is_multiple_of(7)
                && let Some((kind, to, bytes, k)) = pending.pop_front()
            {
                let to = usize::from(to);
                let parent = net.drivers[to].parent();
                let h = net.drivers[to].height();
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
