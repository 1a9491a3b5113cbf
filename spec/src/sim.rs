//! An in-process, seeded, deterministic network simulator over [`Machine`].
//!
//! N nodes run the real machine; a discrete-event loop delivers their messages
//! with random delays (so with reordering), optional duplication and loss, fires
//! their timers, answers block validation, and lets Byzantine nodes attack. Every
//! invariant of [`crate::invariants`] is checked after **every** event, on the
//! height the event touched. The same seed gives the same run, event for event.
//!
//! Committees are fixed (each node votes with its weight). Blocks are abstract: a
//! proposal's value is a hash of (height, round, proposer), and a node validates a
//! value once some proposer has produced it.
//!
//! Catch-up: a node that commits announces its certificate; a node that receives
//! the certificate of its current height applies it (as a block with certificate
//! synced from a peer).

use crate::invariants::{Decision, Observations, RoundEntry, Violation};
use crate::machine::{HeightStart, Input, Machine, Output, ProposeKind};
use crate::params::{Params, Thresholds};
use crate::types::{Height, Hrs, MinerId, Round, Value};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use sha2::{Digest, Sha512_256};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// How a simulated node behaves.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Behaviour {
    /// Follows the protocol.
    Honest,
    /// Sends nothing (crashed for good, or offline).
    Silent,
    /// Byzantine: equivocates in coordination with the other equivocators, showing
    /// value A to even-numbered nodes and value B to odd-numbered ones in every
    /// proposal and vote, with the best possible proposal priority.
    Equivocator,
}

/// A simulation to run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// RNG seed: the run is a function of it.
    pub seed: u64,
    /// Protocol parameters (fixed-committee mode is assumed).
    pub params: Params,
    /// Weight of each node.
    pub weights: Vec<u64>,
    /// Behaviour of each node.
    pub behaviours: Vec<Behaviour>,
    /// Stop once every honest node committed this many heights.
    pub heights: Height,
    /// Message delay range in ms (uniform).
    pub delay_ms: (u64, u64),
    /// Percent of messages delivered twice.
    pub duplicate_pct: u64,
    /// Percent of messages lost.
    pub drop_pct: u64,
    /// Honest nodes relay each vote and proposal the first time they see it, as a
    /// gossip network does.
    pub relay: bool,
    /// Give up after this many events.
    pub max_events: u64,
}

impl SimConfig {
    /// `n` honest nodes of weight 1, 2λ = 1000 ms, delays 5–200 ms, 10% duplicates.
    pub fn honest(n: usize, heights: Height, seed: u64) -> Self {
        SimConfig {
            seed,
            params: Params::fixed_committee(1337),
            weights: vec![1; n],
            behaviours: vec![Behaviour::Honest; n],
            heights,
            delay_ms: (5, 200),
            duplicate_pct: 10,
            drop_pct: 0,
            relay: true,
            max_events: 2_000_000,
        }
    }
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct SimReport {
    /// Committed values of each node, by height (index 0 = height 1).
    pub committed: Vec<Vec<Value>>,
    /// The first violated invariant, if any (the run stops there).
    pub violation: Option<Violation>,
    /// Events processed.
    pub events: u64,
    /// Simulated time at the end, ms.
    pub sim_ms: u64,
    /// A hash of every output of every node, in order: equal for equal seeds.
    pub trace_hash: [u8; 32],
}

impl SimReport {
    /// Heights committed by the slowest of the given nodes.
    pub fn min_committed(&self, nodes: impl IntoIterator<Item = usize>) -> usize {
        nodes
            .into_iter()
            .map(|i| self.committed[i].len())
            .min()
            .unwrap_or(0)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Msg {
    Vote {
        voter: MinerId,
        hrs: Hrs,
        value: Value,
        weight: u64,
    },
    Proposal {
        height: Height,
        round: Round,
        value: Value,
        proposer: MinerId,
        priority: [u8; 32],
    },
    Certificate(Decision),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Event {
    Deliver {
        to: usize,
        msg: Msg,
    },
    Timer {
        node: usize,
        hrs: Hrs,
    },
    /// A proposal whose assembly delay ([`Output::Propose`]'s `at_ms`) is over.
    Propose {
        node: usize,
        height: Height,
        out: Output,
    },
    Validated {
        node: usize,
        height: Height,
        value: Value,
    },
}

struct Node {
    machine: Machine,
    behaviour: Behaviour,
    id: MinerId,
    weight: u64,
    committed: Vec<Value>,
    certificates: BTreeMap<Height, Decision>,
    /// Votes and proposals already relayed: (sender, position, value).
    relayed: BTreeSet<(MinerId, Hrs, Value)>,
}

/// The simulator.
pub struct Sim {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: Vec<Option<Event>>,
    nodes: Vec<Node>,
    thresholds: Thresholds,
    /// Values some proposer produced: they validate.
    blocks: BTreeSet<Value>,
    obs: BTreeMap<Height, Observations>,
    monotonic: Observations,
    trace: Sha512_256,
}

impl Sim {
    /// Builds a simulation; nothing runs until [`Sim::run`].
    pub fn new(cfg: SimConfig) -> Self {
        let total: u64 = cfg.weights.iter().sum();
        let thresholds = cfg.params.thresholds(total);
        let nodes = cfg
            .weights
            .iter()
            .zip(&cfg.behaviours)
            .enumerate()
            .map(|(i, (&weight, &behaviour))| Node {
                machine: Machine::new(cfg.params),
                behaviour,
                id: MinerId::from_index(u8::try_from(i).unwrap_or(u8::MAX)),
                weight,
                committed: Vec::new(),
                certificates: BTreeMap::new(),
                relayed: BTreeSet::new(),
            })
            .collect();
        Sim {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            cfg,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: Vec::new(),
            nodes,
            thresholds,
            blocks: BTreeSet::new(),
            obs: BTreeMap::new(),
            monotonic: Observations::new(thresholds),
            trace: Sha512_256::new(),
        }
    }

    /// Runs to completion: every honest node committed `heights` heights, an
    /// invariant broke, or the event budget ran out.
    pub fn run(mut self) -> SimReport {
        let genesis = Value([0; 32]);
        for i in 0..self.nodes.len() {
            let start = HeightStart {
                height: 1,
                parent: genesis,
                thresholds: self.thresholds,
            };
            self.apply(i, Input::NewHeight(start));
        }
        let mut events = 0u64;
        let mut violation = self.monotonic.monotonic().err();
        while violation.is_none() && events < self.cfg.max_events && !self.done() {
            let Some(Reverse((at, _, slot))) = self.queue.pop() else {
                break;
            };
            let Some(event) = self.events.get_mut(slot).and_then(Option::take) else {
                continue;
            };
            self.now = at;
            events += 1;
            let touched = self.handle(event);
            violation = self
                .monotonic
                .monotonic()
                .err()
                .or_else(|| self.obs.get(&touched).and_then(|o| o.check().err()));
        }
        SimReport {
            committed: self.nodes.iter().map(|n| n.committed.clone()).collect(),
            violation,
            events,
            sim_ms: self.now,
            trace_hash: self.trace.finalize().into(),
        }
    }

    fn done(&self) -> bool {
        self.nodes
            .iter()
            .filter(|n| n.behaviour == Behaviour::Honest)
            .all(|n| n.committed.len() as u64 >= self.cfg.heights)
    }

    fn rand(&mut self, below: u64) -> u64 {
        if below == 0 {
            0
        } else {
            self.rng.next_u64() % below
        }
    }

    fn schedule(&mut self, delay: u64, event: Event) {
        self.seq += 1;
        self.events.push(Some(event));
        let slot = self.events.len() - 1;
        self.queue.push(Reverse((self.now + delay, self.seq, slot)));
    }

    fn send(&mut self, to: usize, msg: Msg) {
        if self.rand(100) < self.cfg.drop_pct {
            return;
        }
        let (lo, hi) = self.cfg.delay_ms;
        let d = lo + self.rand(hi.saturating_sub(lo) + 1);
        if self.rand(100) < self.cfg.duplicate_pct {
            let d2 = lo + self.rand(hi.saturating_sub(lo) + 1);
            self.schedule(
                d2,
                Event::Deliver {
                    to,
                    msg: msg.clone(),
                },
            );
        }
        self.schedule(d, Event::Deliver { to, msg });
    }

    fn broadcast_others(&mut self, from: usize, msg: &Msg) {
        for to in 0..self.nodes.len() {
            if to != from {
                self.send(to, msg.clone());
            }
        }
    }

    /// Handles one event; returns the height it concerned.
    fn handle(&mut self, event: Event) -> Height {
        match event {
            Event::Timer { node, hrs } => {
                self.apply(node, Input::Timeout(hrs));
                hrs.height
            }
            Event::Validated {
                node,
                height,
                value,
            } => {
                let valid = self.blocks.contains(&value);
                self.apply(
                    node,
                    Input::BlockValidated {
                        height,
                        value,
                        valid,
                    },
                );
                height
            }
            Event::Deliver { to, msg } => {
                self.relay(to, &msg);
                self.deliver(to, msg)
            }
            Event::Propose { node, height, out } => {
                let mut inputs = Vec::new();
                self.output(node, out, &mut inputs);
                for input in inputs {
                    self.apply(node, input);
                }
                height
            }
        }
    }

    /// Gossip: an honest node forwards a vote or proposal of its current or next
    /// height the first time it sees it.
    fn relay(&mut self, i: usize, msg: &Msg) {
        let node = &self.nodes[i];
        if !self.cfg.relay || node.behaviour != Behaviour::Honest {
            return;
        }
        let key = match *msg {
            Msg::Vote {
                voter, hrs, value, ..
            } => (voter, hrs, value),
            Msg::Proposal {
                height,
                round,
                value,
                proposer,
                ..
            } => (
                proposer,
                Hrs::new(height, round, crate::types::Step::PROPOSAL),
                value,
            ),
            Msg::Certificate(_) => return,
        };
        let h = node.machine.height();
        if key.1.height < h || key.1.height > h + 1 {
            return;
        }
        if self.nodes[i].relayed.insert(key) {
            self.broadcast_others(i, msg);
        }
    }

    fn deliver(&mut self, to: usize, msg: Msg) -> Height {
        {
            match msg {
                Msg::Vote {
                    voter,
                    hrs,
                    value,
                    weight,
                } => {
                    self.apply(
                        to,
                        Input::Vote {
                            voter,
                            hrs,
                            value,
                            weight,
                        },
                    );
                    hrs.height
                }
                Msg::Proposal {
                    height,
                    round,
                    value,
                    proposer,
                    priority,
                } => {
                    self.apply(
                        to,
                        Input::Proposal {
                            height,
                            round,
                            value,
                            proposer,
                            priority,
                        },
                    );
                    height
                }
                Msg::Certificate(d) => {
                    let h = d.height;
                    self.nodes[to].certificates.entry(h).or_insert(d);
                    self.catch_up(to);
                    h
                }
            }
        }
    }

    /// Applies certificates of the node's current height it received from peers.
    fn catch_up(&mut self, i: usize) {
        loop {
            let node = &self.nodes[i];
            if node.behaviour != Behaviour::Honest || node.machine.decided().is_some() {
                return;
            }
            let h = node.machine.height();
            let Some(cert) = node.certificates.get(&h).cloned() else {
                return;
            };
            self.commit(i, cert);
        }
    }

    /// Commits a certified value at node `i` and starts the next height.
    fn commit(&mut self, i: usize, cert: Decision) {
        let h = cert.height;
        let node = &mut self.nodes[i];
        if node.committed.len() as u64 != h - 1 {
            return;
        }
        node.committed.push(cert.value);
        let decision = Decision {
            node: node.id,
            ..cert
        };
        self.obs
            .entry(h)
            .or_insert_with(|| Observations::new(self.thresholds))
            .decide(decision.clone());
        self.broadcast_others(i, &Msg::Certificate(decision.clone()));
        let start = HeightStart {
            height: h + 1,
            parent: decision.value,
            thresholds: self.thresholds,
        };
        self.apply(i, Input::NewHeight(start));
    }

    /// Steps node `i`'s machine and carries out its outputs.
    fn apply(&mut self, i: usize, input: Input) {
        if self.nodes[i].behaviour == Behaviour::Silent {
            return;
        }
        let mut inputs = vec![input];
        while let Some(input) = inputs.pop() {
            let before = self.nodes[i].machine.position();
            let outputs = self.nodes[i].machine.step(self.now, input);
            self.observe_position(i, before);
            for out in outputs {
                if !matches!(out, Output::Persist(_)) {
                    self.trace.update(format!("{i}:{out:?}").as_bytes());
                }
                self.output(i, out, &mut inputs);
            }
        }
    }

    fn observe_position(&mut self, i: usize, before: Option<Hrs>) {
        let node = &self.nodes[i];
        let m = &node.machine;
        let Some(after) = m.position() else { return };
        if let Some(before) = before {
            self.monotonic.moved(node.id, before, after);
        }
        if node.behaviour == Behaviour::Honest
            && before.is_none_or(|b| (b.height, b.round) != (after.height, after.round))
        {
            let entry = RoundEntry {
                node: node.id,
                height: after.height,
                round: after.round,
                starting: m.starting_value(),
                empty: m.empty_value(),
            };
            self.obs
                .entry(after.height)
                .or_insert_with(|| Observations::new(self.thresholds))
                .enter(entry);
        }
    }

    fn block_value(height: Height, round: Round, proposer: MinerId, variant: u8) -> Value {
        let mut h = Sha512_256::new();
        h.update(b"sim/block");
        h.update(height.to_be_bytes());
        h.update(round.to_be_bytes());
        h.update(proposer.0);
        h.update([variant]);
        Value(h.finalize().into())
    }

    fn priority(&self, height: Height, round: Round, proposer: MinerId) -> [u8; 32] {
        let mut h = Sha512_256::new();
        h.update(b"sim/priority");
        h.update(self.cfg.seed.to_be_bytes());
        h.update(height.to_be_bytes());
        h.update(round.to_be_bytes());
        h.update(proposer.0);
        h.finalize().into()
    }

    fn output(&mut self, i: usize, out: Output, inputs: &mut Vec<Input>) {
        let (id, weight, behaviour) = {
            let n = &self.nodes[i];
            (n.id, n.weight, n.behaviour)
        };
        if let Output::Propose { at_ms, height, .. } = out
            && at_ms > self.now
        {
            self.schedule(
                at_ms - self.now,
                Event::Propose {
                    node: i,
                    height,
                    out,
                },
            );
            return;
        }
        match out {
            Output::Persist(_) | Output::Evidence(_) => {}
            Output::SetTimer { hrs, deadline_ms } => {
                self.schedule(
                    deadline_ms.saturating_sub(self.now),
                    Event::Timer { node: i, hrs },
                );
            }
            Output::ValidateBlock { height, value } => {
                let d = 1 + self.rand(20);
                self.schedule(
                    d,
                    Event::Validated {
                        node: i,
                        height,
                        value,
                    },
                );
            }
            Output::Commit {
                height,
                round,
                value,
                voters,
            } => {
                self.commit(
                    i,
                    Decision {
                        node: id,
                        height,
                        round,
                        value,
                        voters,
                    },
                );
            }
            Output::Propose {
                height,
                round,
                kind,
                ..
            } => {
                if behaviour == Behaviour::Equivocator {
                    for (variant, parity) in [(0u8, 0usize), (1, 1)] {
                        let value =
                            Self::block_value(height, round, MinerId::from_index(0xee), variant);
                        self.blocks.insert(value);
                        let msg = Msg::Proposal {
                            height,
                            round,
                            value,
                            proposer: id,
                            priority: [0; 32],
                        };
                        for to in (0..self.nodes.len()).filter(|to| to % 2 == parity && *to != i) {
                            self.send(to, msg.clone());
                        }
                    }
                    return;
                }
                let value = match kind {
                    ProposeKind::NewBlock => Self::block_value(height, round, id, 0),
                    ProposeKind::Repropose(v) => v,
                };
                self.blocks.insert(value);
                let msg = Msg::Proposal {
                    height,
                    round,
                    value,
                    proposer: id,
                    priority: self.priority(height, round, id),
                };
                self.broadcast_others(i, &msg);
                if let Msg::Proposal {
                    height,
                    round,
                    value,
                    proposer,
                    priority,
                } = msg
                {
                    inputs.push(Input::Proposal {
                        height,
                        round,
                        value,
                        proposer,
                        priority,
                    });
                }
            }
            Output::Vote { hrs, value } => {
                let obs = self
                    .obs
                    .entry(hrs.height)
                    .or_insert_with(|| Observations::new(self.thresholds));
                if behaviour == Behaviour::Equivocator {
                    // Soft and cert votes go out together: the attacker does not
                    // wait for a quorum it is trying to fake.
                    let steps: &[crate::types::Step] = if hrs.step == crate::types::Step::SOFT {
                        &[crate::types::Step::SOFT, crate::types::Step::CERT]
                    } else {
                        &[hrs.step]
                    };
                    for &step in steps {
                        self.equivocate(i, Hrs { step, ..hrs }, weight);
                    }
                    return;
                }
                obs.vote(id, true, hrs, value, weight);
                let msg = Msg::Vote {
                    voter: id,
                    hrs,
                    value,
                    weight,
                };
                self.broadcast_others(i, &msg);
                inputs.push(Input::Vote {
                    voter: id,
                    hrs,
                    value,
                    weight,
                });
            }
        }
    }
}

impl Sim {
    /// The coordinated equivocation attack: value A to even nodes, B to odd ones.
    fn equivocate(&mut self, i: usize, hrs: Hrs, weight: u64) {
        let id = self.nodes[i].id;
        for (variant, parity) in [(0u8, 0usize), (1, 1)] {
            let value =
                Self::block_value(hrs.height, hrs.round, MinerId::from_index(0xee), variant);
            self.obs
                .entry(hrs.height)
                .or_insert_with(|| Observations::new(self.thresholds))
                .vote(id, false, hrs, value, weight);
            let msg = Msg::Vote {
                voter: id,
                hrs,
                value,
                weight,
            };
            for to in (0..self.nodes.len()).filter(|to| to % 2 == parity && *to != i) {
                self.send(to, msg.clone());
            }
        }
    }
}

/// Runs one simulation.
pub fn run(cfg: SimConfig) -> SimReport {
    Sim::new(cfg).run()
}
