//! An in-process, seeded, deterministic network simulator over a [`Cluster`] of
//! consensus drivers.
//!
//! N nodes run the production [`crate::driver::Driver`] with mock or real
//! cryptography ([`SimConfig::crypto`]) and plain blocks; a discrete-event loop delivers their wire messages with
//! random delays (so with reordering), optional duplication and loss, fires
//! their timers at [`crate::driver::Driver::next_deadline`], answers builds and
//! validations after a short execution delay, and lets Byzantine nodes attack.
//! Every invariant of [`crate::invariants`] is checked after **every** event, on
//! the heights the event touched. The same seed gives the same run, event for
//! event.
//!
//! Each node's stake is its configured weight; the parameters choose the
//! committee mode (fixed committees, or VRF sortition). With
//! relaying on, an honest node forwards every message its driver accepted, as
//! gossip does (and, with [`SimConfig::relay_held`], also what it held for
//! later, which the node's gossip does not).
//!
//! Catch-up: a node that commits announces its certificate; a node that
//! receives the certificate of its current height verifies it against the
//! block's header and commits it (a block with certificate synced from a peer,
//! Kaleido §4.12).

use crate::cluster::{Checking, Cluster, ClusterSuite, Out, Role, RunError};
use crate::codec::WireMessage;
use crate::driver::block::{BlockFormat, PlainBlocks};
use crate::driver::wire::frame_block;
use crate::driver::{BuildOrder, Topic};
use crate::driver::{MockSuite, RealSuite};
use crate::invariants::Violation;
use crate::params::Params;
use crate::types::{Height, Hrs, Round, Step, Value};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

/// How a simulated node behaves.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Behaviour {
    /// Follows the protocol.
    Honest,
    /// Sends nothing (crashed for good, or offline).
    Silent,
    /// Byzantine: equivocates in coordination with the other equivocators, showing
    /// block A to even-numbered nodes and block B to odd-numbered ones in every
    /// proposal and vote. Every message is signed with its own keys; the blocks
    /// are proposed by the equivocator whose proposal sortition gives the best
    /// priority in that round (it cannot forge a better one).
    Equivocator,
}

/// A simulation to run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// RNG seed: the run is a function of it.
    pub seed: u64,
    /// Protocol parameters (fixed committee or sortition).
    pub params: Params,
    /// Weight (stake) of each node.
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
    /// Honest nodes relay every message their driver accepted, as a gossip
    /// network does.
    pub relay: bool,
    /// With [`SimConfig::relay`], honest nodes also relay what their driver
    /// held for later: the next height's messages and blocks waiting for their
    /// proposal. Off by default, as in the node's gossip (it ignores them; the
    /// driver sends a held block on itself once its proposal pairs it).
    pub relay_held: bool,
    /// Give up after this many events.
    pub max_events: u64,
    /// How the invariants are checked after every event.
    pub checking: Checking,
    /// How messages spread (see [`Gossip`]).
    pub gossip: Gossip,
    /// The cryptography every node signs and verifies with.
    pub crypto: Crypto,
}

/// The cryptography of a simulation.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Crypto {
    /// Deterministic mock signatures and VRF (cheap).
    Mock,
    /// The production suite: schnorrkel VRF and forward-secure ed25519, so
    /// the run's wall time includes every verification a node performs.
    Real,
}

/// How a node's message and its relays reach the others.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum Gossip {
    /// Every send goes to every other node.
    Flood,
    /// gossipsub's shape: a node publishes its own message to every peer
    /// (gossipsub's `flood_publish`, on by default), and forwards a message it
    /// accepts for the first time to `degree` peers drawn at random for that
    /// message (the mesh of degree D). A message reaches everyone in one hop
    /// from its author, the relays cover losses, and each node sends about D
    /// copies of every message instead of N. Certificates of catch-up go to D
    /// peers.
    Mesh {
        /// Peers per send (gossipsub's D).
        degree: usize,
    },
}

/// Figures of a run for [`SimReport`]: what the network carried and when
/// honest nodes committed.
#[derive(Clone, Debug, Default)]
pub struct NetStats {
    /// Messages sent (each copy to each peer, duplicates included).
    pub messages: u64,
    /// Bytes of those messages.
    pub bytes: u64,
    /// Per honest node and height: ms from the node's previous commit (or the
    /// start) to its commit of the height, by its own commit or a synced
    /// certificate.
    pub finality_ms: Vec<u64>,
    /// Encoded size of each certificate an honest node committed with.
    pub certificate_bytes: Vec<usize>,
    /// Votes whose credential and signature the nodes checked
    /// ([`Cluster::votes_verified`]).
    pub votes_verified: u64,
}

impl NetStats {
    /// The `q`-quantile (0..=1) of the finality times, nearest rank.
    pub fn finality_quantile(&self, q: f64) -> Option<u64> {
        quantile(&self.finality_ms, q)
    }
}

/// Nearest-rank quantile of `xs`.
pub fn quantile(xs: &[u64], q: f64) -> Option<u64> {
    let mut v = xs.to_vec();
    v.sort_unstable();
    let n = v.len();
    if n == 0 {
        return None;
    }
    let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n);
    v.get(rank - 1).copied()
}

impl SimConfig {
    /// `n` honest nodes of weight 1, 2λ = 1000 ms, delays 5–200 ms, 10% duplicates,
    /// the invariants checked by the monitor and the recount.
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
            relay_held: false,
            max_events: 2_000_000,
            // Both checkers, so every test run also holds the monitor to the
            // recount; `kalgo simulate` picks one with `--invariants`.
            checking: Checking::Both,
            gossip: Gossip::Flood,
            crypto: Crypto::Mock,
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
    /// A driver that refused an event (the run stops there), as text.
    pub driver_error: Option<String>,
    /// Events processed.
    pub events: u64,
    /// Simulated time at the end, ms.
    pub sim_ms: u64,
    /// A hash of every effect of every node, in order: equal for equal seeds.
    pub trace_hash: [u8; 32],
    /// Network and finality figures.
    pub stats: NetStats,
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

#[derive(Debug)]
enum SimEvent {
    Deliver {
        from: usize,
        to: usize,
        topic: Topic,
        bytes: Arc<[u8]>,
    },
    Certificate {
        to: usize,
        bytes: Arc<[u8]>,
    },
    Tick {
        node: usize,
    },
    Built {
        node: usize,
        order: BuildOrder,
    },
    Validated {
        node: usize,
        value: Value,
        valid: bool,
    },
}

impl SimEvent {
    fn node(&self) -> usize {
        match *self {
            SimEvent::Deliver { to, .. } | SimEvent::Certificate { to, .. } => to,
            SimEvent::Tick { node } | SimEvent::Built { node, .. } => node,
            SimEvent::Validated { node, .. } => node,
        }
    }
}

/// An event due at `at`; `seq` orders events due at the same time.
struct Scheduled {
    at: u64,
    seq: u64,
    event: SimEvent,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Scheduled {}

impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// The equivocators' two blocks of one (height, round).
#[derive(Copy, Clone)]
struct Attack {
    values: [Value; 2],
}

/// A seeded run: the cluster, the event queue and the network's state (see the
/// module docs).
pub struct Sim<C: ClusterSuite = MockSuite> {
    cfg: SimConfig,
    rng: ChaCha8Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Scheduled>>,
    cluster: Cluster<C>,
    /// The tick armed for each node.
    armed: Vec<Option<u64>>,
    attacks: BTreeMap<(Height, Round), Attack>,
    stats: NetStats,
    /// When each node last committed (or started).
    last_commit: Vec<u64>,
}

impl Sim<MockSuite> {
    /// Builds a simulation with mock cryptography; nothing runs until
    /// [`Sim::run`].
    pub fn new(cfg: SimConfig) -> Self {
        Self::with_suite(cfg)
    }
}

impl<C: ClusterSuite> Sim<C> {
    /// Builds a simulation whose nodes use suite `C` (whatever
    /// [`SimConfig::crypto`] says); nothing runs until [`Sim::run`].
    pub fn with_suite(cfg: SimConfig) -> Self {
        let roles: Vec<Role> = cfg
            .behaviours
            .iter()
            .map(|b| match b {
                Behaviour::Honest => Role::Honest,
                Behaviour::Silent => Role::Absent,
                Behaviour::Equivocator => Role::Byzantine,
            })
            .collect();
        let mut cluster = Cluster::<C>::with_suite(cfg.params, &cfg.weights, &roles);
        cluster.set_checking(cfg.checking);
        Sim {
            stats: NetStats::default(),
            last_commit: vec![0; cluster.len()],
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            armed: vec![None; cluster.len()],
            cfg,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            cluster,
            attacks: BTreeMap::new(),
        }
    }

    /// Runs to completion: every honest node committed `heights` heights, an
    /// invariant broke, or the event budget ran out.
    pub fn run(mut self) -> SimReport {
        let mut events = 0u64;
        let mut failure = self.start().err();
        while failure.is_none() && events < self.cfg.max_events && !self.done() {
            let Some(Reverse(next)) = self.queue.pop() else {
                break;
            };
            self.now = next.at;
            events += 1;
            failure = self.handle(next.event).err();
        }
        let (violation, driver_error) = match failure {
            Some(RunError::Violation(v)) => (Some(v), None),
            Some(e @ RunError::Driver { .. }) => (None, Some(e.to_string())),
            None => (None, None),
        };
        SimReport {
            committed: (0..self.cluster.len())
                .map(|i| self.cluster.committed(i).to_vec())
                .collect(),
            violation,
            driver_error,
            events,
            sim_ms: self.now,
            trace_hash: self.cluster.trace_hash(),
            stats: NetStats {
                votes_verified: self.cluster.votes_verified(),
                ..self.stats
            },
        }
    }

    fn start(&mut self) -> Result<(), RunError> {
        for i in 0..self.cluster.len() {
            let outs = self.cluster.start(i, 0)?;
            self.dispatch(i, outs);
            self.arm(i);
        }
        Ok(self.cluster.check()?)
    }

    fn done(&self) -> bool {
        (0..self.cluster.len())
            .filter(|&i| self.cluster.role(i) == Role::Honest)
            .all(|i| self.cluster.committed(i).len() as u64 >= self.cfg.heights)
    }

    /// Handles one event, then checks the invariants.
    fn handle(&mut self, event: SimEvent) -> Result<(), RunError> {
        let now = self.now;
        let node = event.node();
        let outs = match event {
            SimEvent::Deliver {
                from,
                to,
                topic,
                bytes,
            } => self.cluster.deliver(to, now, topic, &bytes, from as u64)?,
            SimEvent::Certificate { to, bytes } => self.cluster.sync(to, now, &bytes)?,
            SimEvent::Tick { node } => {
                if self.armed[node].is_some_and(|at| at <= now) {
                    self.armed[node] = None;
                }
                self.cluster.tick(node, now)?
            }
            SimEvent::Built { node, order } => self.cluster.built(node, now, order)?,
            SimEvent::Validated { node, value, valid } => {
                self.cluster.validated(node, now, value, valid)?
            }
        };
        self.dispatch(node, outs);
        self.arm(node);
        Ok(self.cluster.check()?)
    }

    /// Schedules a tick at node `i`'s next deadline, unless one is armed for it.
    fn arm(&mut self, i: usize) {
        let Some(at) = self.cluster.driver(i).and_then(|d| d.next_deadline()) else {
            return;
        };
        if self.armed[i] != Some(at) {
            self.armed[i] = Some(at);
            self.schedule(at.saturating_sub(self.now), SimEvent::Tick { node: i });
        }
    }

    fn rand(&mut self, below: u64) -> u64 {
        if below == 0 {
            0
        } else {
            self.rng.next_u64() % below
        }
    }

    fn schedule(&mut self, delay: u64, event: SimEvent) {
        self.seq += 1;
        self.queue.push(Reverse(Scheduled {
            at: self.now + delay,
            seq: self.seq,
            event,
        }));
    }

    fn delay(&mut self) -> u64 {
        let (lo, hi) = self.cfg.delay_ms;
        lo + self.rand(hi.saturating_sub(lo) + 1)
    }

    /// Sends over the network: maybe lost, maybe duplicated, delayed.
    fn send(&mut self, make: impl Fn() -> SimEvent) {
        if self.rand(100) < self.cfg.drop_pct {
            return;
        }
        let d = self.delay();
        if self.rand(100) < self.cfg.duplicate_pct {
            let d2 = self.delay();
            self.schedule(d2, make());
        }
        self.schedule(d, make());
    }

    fn send_wire(&mut self, from: usize, to: usize, topic: Topic, bytes: &Arc<[u8]>) {
        self.stats.messages += 1;
        self.stats.bytes += bytes.len() as u64;
        self.send(|| SimEvent::Deliver {
            from,
            to,
            topic,
            bytes: bytes.clone(),
        });
    }

    /// The peers a send of node `from` goes to: everyone else, or a random
    /// mesh of [`Gossip::Mesh`]'s degree.
    fn peers(&mut self, from: usize) -> Vec<usize> {
        let n = self.cluster.len();
        match self.cfg.gossip {
            Gossip::Mesh { degree } if degree + 1 < n => {
                // A partial Fisher–Yates shuffle of the other nodes.
                let mut others: Vec<usize> = (0..n).filter(|&to| to != from).collect();
                for k in 0..degree {
                    let j = k + self.rand((others.len() - k) as u64) as usize;
                    others.swap(k, j);
                }
                others.truncate(degree);
                others
            }
            _ => (0..n).filter(|&to| to != from).collect(),
        }
    }

    /// Sends node `from`'s message: its own to everyone, a relay to its
    /// peers ([`Sim::peers`]).
    fn broadcast(&mut self, from: usize, topic: Topic, bytes: Vec<u8>, own: bool) {
        let bytes: Arc<[u8]> = bytes.into();
        let peers = if own {
            (0..self.cluster.len()).filter(|&to| to != from).collect()
        } else {
            self.peers(from)
        };
        for to in peers {
            self.send_wire(from, to, topic, &bytes);
        }
    }

    /// Carries node `i`'s outputs onto the network and to execution.
    fn dispatch(&mut self, i: usize, outs: Vec<Out>) {
        let role = self.cluster.role(i);
        for out in outs {
            match out {
                Out::Broadcast(topic, bytes) if role == Role::Byzantine => {
                    self.equivocate(i, topic, &bytes);
                }
                Out::Broadcast(topic, bytes) => self.broadcast(i, topic, bytes, true),
                Out::Accepted(topic, bytes) => {
                    if self.cfg.relay && role == Role::Honest {
                        self.broadcast(i, topic, bytes, false);
                    }
                }
                Out::Held(topic, bytes) => {
                    if self.cfg.relay && self.cfg.relay_held && role == Role::Honest {
                        self.broadcast(i, topic, bytes, false);
                    }
                }
                Out::Build(order) if role == Role::Byzantine => {
                    self.attack(i, order.height, order.round);
                }
                Out::Build(order) => {
                    let d = 1 + self.rand(20);
                    self.schedule(d, SimEvent::Built { node: i, order });
                }
                Out::Validate(value, valid) => {
                    let d = 1 + self.rand(20);
                    let event = SimEvent::Validated {
                        node: i,
                        value,
                        valid,
                    };
                    self.schedule(d, event);
                }
                Out::Committed(_, certificate) if role == Role::Honest => {
                    self.stats
                        .finality_ms
                        .push(self.now.saturating_sub(self.last_commit[i]));
                    self.last_commit[i] = self.now;
                    self.stats.certificate_bytes.push(certificate.len());
                    let bytes: Arc<[u8]> = certificate.into();
                    for to in self.peers(i) {
                        self.stats.messages += 1;
                        self.stats.bytes += bytes.len() as u64;
                        self.send(|| SimEvent::Certificate {
                            to,
                            bytes: bytes.clone(),
                        });
                    }
                }
                Out::Committed(..) => {}
            }
        }
    }

    // ----- the coordinated equivocation attack --------------------------------

    /// The equivocators' blocks A and B of (`height`, `round`) as seen by
    /// equivocator `i`: made, proposed and sent (A to even nodes, B to odd ones)
    /// the first time any equivocator needs them.
    fn attack(&mut self, i: usize, height: Height, round: Round) -> Option<Attack> {
        if let Some(a) = self.attacks.get(&(height, round)) {
            return Some(*a);
        }
        let driver = self.cluster.driver(i)?;
        if driver.height() != height {
            return None;
        }
        let (parent, roster) = (driver.parent(), driver.roster().clone());
        let proposer = (0..self.cluster.len())
            .filter(|&e| self.cluster.role(e) == Role::Byzantine)
            .filter_map(|e| {
                let (_, priority) =
                    self.cluster
                        .byzantine_proposal(e, height, round, Value::default(), &roster)?;
                Some((priority, e))
            })
            .min()?
            .1;
        let mut values = [Value::default(); 2];
        for (parity, slot) in values.iter_mut().enumerate() {
            let body = format!("equivocation {height} {round} {parity}").into_bytes();
            let block = self
                .cluster
                .byzantine_block(proposer, height, parent, &roster, body);
            let value = PlainBlocks::info(&block).value;
            *slot = value;
            let Some((proposal, _)) = self
                .cluster
                .byzantine_proposal(proposer, height, round, value, &roster)
            else {
                continue;
            };
            let (header, body) = PlainBlocks::encode(&block);
            let proposal: Arc<[u8]> = proposal.into();
            let block: Arc<[u8]> = frame_block(&header, &body).into();
            for to in (0..self.cluster.len()).filter(|to| to % 2 == parity && *to != i) {
                self.send_wire(i, to, Topic::Proposals, &proposal);
                self.send_wire(i, to, Topic::Blocks, &block);
            }
        }
        let attack = Attack { values };
        self.attacks.insert((height, round), attack);
        Some(attack)
    }

    /// Replaces equivocator `i`'s own vote by votes for A to even nodes and B
    /// to odd ones; a soft vote goes out with the cert votes (the attacker does
    /// not wait for a quorum it is trying to fake). Its proposals are replaced
    /// by [`Sim::attack`]'s.
    fn equivocate(&mut self, i: usize, topic: Topic, bytes: &[u8]) {
        if topic != Topic::Votes {
            return;
        }
        let Ok(WireMessage::Vote(v)) = WireMessage::decode(bytes) else {
            return;
        };
        let Some(attack) = self.attack(i, v.height, v.round) else {
            return;
        };
        let Some(roster) = self.cluster.driver(i).map(|d| d.roster().clone()) else {
            return;
        };
        let steps: &[Step] = if v.step == Step::SOFT {
            &[Step::SOFT, Step::CERT]
        } else {
            &[v.step]
        };
        for &step in steps {
            for (parity, value) in attack.values.into_iter().enumerate() {
                let hrs = Hrs::new(v.height, v.round, step);
                let Some(vote) = self.cluster.byzantine_vote(i, hrs, value, &roster) else {
                    continue;
                };
                let vote: Arc<[u8]> = vote.into();
                for to in (0..self.cluster.len()).filter(|to| to % 2 == parity && *to != i) {
                    self.send_wire(i, to, Topic::Votes, &vote);
                }
            }
        }
    }
}

/// Runs one simulation with the cryptography [`SimConfig::crypto`] names.
pub fn run(cfg: SimConfig) -> SimReport {
    match cfg.crypto {
        Crypto::Mock => Sim::new(cfg).run(),
        Crypto::Real => Sim::<RealSuite>::with_suite(cfg).run(),
    }
}
