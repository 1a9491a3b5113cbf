//! Catching up on a round after a long stall (go-algorand's period bundles):
//! half the stake is offline while the other half next-votes step after step;
//! when the offline validators come back they start the round from its first
//! steps, far behind in steps. The online half reaches a next quorum with
//! their early next votes and moves on; the returning half must be able to
//! follow, although the online half's votes of those steps were sent long
//! before they came back.

use spec::auth::{BlockClaims, MockMinerKeys};
use spec::driver::block::{BlockFormat, PlainBlock, PlainBlocks};
use spec::driver::{Driver, Effect, Event, Head, Inbound, MockSuite, Resume, Topic};
use spec::params::Params;
use spec::roster::Roster;
use spec::types::{Height, Value};
use std::collections::VecDeque;

const CHAIN: u64 = 78;
const NODES: usize = 4;
const GENESIS: Value = Value([0x12; 32]);

type D = Driver<PlainBlocks, MockSuite, MockMinerKeys>;

fn roster() -> Roster {
    let mut r = Roster {
        seed: [0x5f; 32],
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

/// Four drivers on a virtual clock; a node that is not running neither sends
/// nor receives.
struct Net {
    drivers: Vec<Option<D>>,
    inflight: VecDeque<(usize, Topic, Vec<u8>)>,
    answers: VecDeque<(usize, Event<'static, PlainBlock>)>,
    committed: Vec<Vec<Value>>,
    now: u64,
}

impl Net {
    fn new() -> Net {
        Net {
            drivers: (0..NODES).map(|_| None).collect(),
            inflight: VecDeque::new(),
            answers: VecDeque::new(),
            committed: vec![Vec::new(); NODES],
            now: 0,
        }
    }

    fn start(&mut self, i: usize) {
        let mut d = Driver::new(
            Params::fixed_committee(CHAIN),
            MockSuite,
            Some(MockMinerKeys::mock(CHAIN, i as u8)),
        );
        let fx = d
            .handle(self.now, Event::Start(head(GENESIS, 0), Resume::default()))
            .expect("start");
        self.drivers[i] = Some(d);
        self.carry_out(i, fx);
    }

    fn handle(&mut self, i: usize, event: Event<'_, PlainBlock>) {
        let Some(d) = self.drivers[i].as_mut() else {
            return;
        };
        let fx = d.handle(self.now, event).expect("handle");
        self.carry_out(i, fx);
    }

    fn carry_out(&mut self, i: usize, effects: Vec<Effect<PlainBlock>>) {
        for e in effects {
            match e {
                Effect::Broadcast(topic, bytes) => {
                    for to in (0..NODES).filter(|to| *to != i && self.drivers[*to].is_some()) {
                        self.inflight.push_back((to, topic, bytes.clone()));
                    }
                }
                Effect::Build(order) => {
                    let Some(d) = self.drivers[i].as_ref() else {
                        continue;
                    };
                    let claims = BlockClaims {
                        proposer: order.proposer,
                        seed: order.seed,
                        beneficiary: order.coinbase,
                    };
                    let body = format!("{} {} {i}", order.height, order.round).into_bytes();
                    let block = PlainBlock::new(order.height, d.parent(), claims, body);
                    self.answers.push_back((
                        i,
                        Event::Built {
                            height: order.height,
                            round: order.round,
                            block,
                        },
                    ));
                }
                Effect::Validate(block) => {
                    let valid = PlainBlocks::body_matches_header(&block);
                    let value = PlainBlocks::info(&block).value;
                    self.answers
                        .push_back((i, Event::Validated { value, valid }));
                }
                Effect::Commit { value, .. } => {
                    self.committed[i].push(value);
                    let number = self.committed[i].len() as Height;
                    self.handle(i, Event::Committed(head(value, number)));
                }
                Effect::CannotCertify { error, .. } => panic!("cannot certify: {error}"),
                _ => {}
            }
        }
    }

    /// One message, one answer, or the clock to the next deadline.
    fn step(&mut self) -> bool {
        if let Some((to, topic, bytes)) = self.inflight.pop_front() {
            let msgs = [Inbound {
                topic,
                bytes: &bytes,
                source: 0,
            }];
            self.handle(to, Event::Wire(&msgs));
            return true;
        }
        if let Some((i, event)) = self.answers.pop_front() {
            self.handle(i, event);
            return true;
        }
        let Some(next) = self
            .drivers
            .iter()
            .flatten()
            .filter_map(D::next_deadline)
            .min()
        else {
            return false;
        };
        self.now = self.now.max(next);
        for i in 0..NODES {
            self.handle(i, Event::Tick);
        }
        true
    }

    fn step_of(&self, i: usize) -> u32 {
        self.drivers[i]
            .as_ref()
            .and_then(D::position)
            .map_or(0, |p| p.step.0)
    }
}

#[test]
fn validators_back_from_a_long_stall_catch_up_on_the_round() {
    let mut net = Net::new();
    net.start(0);
    net.start(1);
    // Half the stake next-votes alone, far past the step look-ahead.
    let far = 4 * Params::fixed_committee(CHAIN).step_lookahead;
    let mut steps = 0;
    while net.step_of(0) < far || net.step_of(1) < far {
        assert!(net.step(), "the online half keeps stepping");
        steps += 1;
        assert!(steps < 1_000_000, "stalled at step {}", net.step_of(0));
    }
    assert!(
        net.committed.iter().all(Vec::is_empty),
        "half the stake committed"
    );
    // The other half comes back, at the round's first steps.
    net.start(2);
    net.start(3);
    for _ in 0..200_000 {
        if net.committed.iter().all(|c| !c.is_empty()) {
            break;
        }
        if !net.step() {
            break;
        }
    }
    let first: Vec<Option<&Value>> = net.committed.iter().map(|c| c.first()).collect();
    assert!(
        first.iter().all(Option::is_some),
        "every validator commits height 1 after the stall: {first:?}, steps {:?}",
        (0..NODES)
            .map(|i| net.drivers[i].as_ref().and_then(D::position))
            .collect::<Vec<_>>()
    );
    assert!(first.windows(2).all(|w| w[0] == w[1]), "one chain");
}
