//! The stateright [`Model`]: every honest node runs `spec`'s consensus
//! [`Driver`] itself — the code production runs, with its wire encoding, mock
//! signatures, inbound screening, proposal/block pairing, cert-vote store,
//! certificate assembly, own-vote slots and timers. The network, the Byzantine
//! adversary, timers and crashes are nondeterministic actions (consensus.md
//! §(c), "Fault and adversary models").
//!
//! The model is a host, like the actors host: it carries out the driver's
//! effects. `Persist` keeps the latest journal, own proposal and own-vote
//! slots (what survives a crash); `Broadcast` puts a message in flight to the
//! other honest nodes; `Build` is answered at once by the configured
//! proposers with their block (A or B) and by nobody else; `Validate` is
//! answered at once (a block is valid when its body matches its header); a
//! deferred build is run at once; `Commit` ends the height for that node (it
//! stops; messages to it are discarded); `CannotCertify` breaks S11.
//!
//! Messages in flight are small `Copy` descriptions (sender, recipient, what);
//! their wire bytes are made when delivered, signed with the sender's mock
//! keys. Interchangeable nodes share their keys (the vote key of every node,
//! the VRF key of every node of one role), so renaming them keeps every
//! signature valid (symmetry reduction, [`crate::symmetry`]).
//!
//! Time: a node's clock is not part of the state. A timer fires by choice (the
//! `Timer` action, at its deadline); the driver hashes which timer is armed,
//! not when it ends.
//!
//! State size: drivers, durable records and the observations sit behind `Arc`s
//! that carry their content hash ([`Hashed`]), so a transition clones and
//! rehashes only what it changes; the network is a sorted multiset of small
//! `Copy` messages; nothing order-dependent is stored.

use crate::config::{Config, Val};
use crate::hashed::Hashed;
use crate::props;
use crate::symmetry::Classes;
use spec::auth::{BlockClaims, MinerKeys, MockMinerKeys};
use spec::certificate::CertError;
use spec::codec::WireMessage;
use spec::crypto::mock::{MockVoteKey, MockVrfKey};
use spec::driver::block::{BlockFormat, PlainBlock, PlainBlocks};
use spec::driver::wire::{frame_block, unframe_block};
use spec::driver::{Driver, Effect, Event, Head, Inbound, MockSuite, OwnProposal, Resume, Topic};
use spec::invariants::{Decision, Observations, RoundEntry};
use spec::machine::Journal;
use spec::params::{Params, Thresholds};
use spec::roster::Roster;
use spec::sortition::derive_seed;
use spec::types::{Hrs, MinerId, Round, Step, Value};
use stateright::{Model, Property};
use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The height being agreed on.
pub const HEIGHT: u64 = 1;
/// The chain id of the model's parameters.
const CHAIN: u64 = 1;
/// The roster's seed (the parent's seed).
const SEED: [u8; 32] = [0x5e; 32];
/// The vote master key every node shares (see the module docs).
const SHARED_VOTE_KEY: [u8; 32] = [0x4d; 32];
/// The VRF key of honest nodes that propose nothing.
const FOLLOWER_VRF: [u8; 32] = [0xf0; 32];
/// The VRF key of Byzantine nodes.
const BYZANTINE_VRF: [u8; 32] = [0xb0; 32];
/// A round beyond every node's look-ahead (a far vote).
const FAR_ROUND: u32 = 200;
/// A step beyond every node's look-ahead (a far vote).
const FAR_STEP: u32 = 200;

/// The driver of one model node.
pub type ModelDriver = Driver<PlainBlocks, MockSuite, MockMinerKeys>;

/// What a message from an honest node carries.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Payload {
    /// A vote of the sender at (round, step).
    Vote {
        round: u8,
        /// Step number, as [`spec::types::Step`]: 2 soft, 3 cert, 4 and up next.
        step: u8,
        val: Val,
    },
    /// A proposal of the sender for a round.
    Proposal {
        round: u8,
        val: Val,
        /// The block travels with it (configurations with
        /// `Config::block_with_proposal`): delivered as the proposal, then
        /// the block, in one event.
        block: bool,
    },
    /// The sender's block.
    Block {
        /// Which block: A or B.
        val: Val,
    },
}

/// A message in flight from one honest node to another.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Msg {
    /// Index of the receiving node in [`State::nodes`].
    pub to: u8,
    /// Index of the sending node.
    pub from: u8,
    pub payload: Payload,
}

/// What a Byzantine node sends (signed with its own keys where signed).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Attack {
    /// A vote for (round, step, val).
    Vote {
        round: u8,
        /// Step number, as [`spec::types::Step`]: 2 soft, 3 cert, 4 and up next.
        step: u8,
        val: Val,
    },
    /// A proposal of an honest proposer's value in `round`: it names the value
    /// but did not put its header forward.
    Proposal {
        /// Round.
        round: u8,
        /// Value.
        val: Val,
    },
    /// A vote for a round far beyond the look-ahead.
    FarRound,
    /// A next vote for a step far beyond the look-ahead.
    FarStep,
    /// A block of the height that no proposal names.
    JunkBlock,
    /// An honest proposer's header with a body it does not commit to.
    TamperedBlock(Val),
    /// An honest proposer's block whose header has a trailing byte.
    TrailingBytes(Val),
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Attack::Vote { round, step, val } => {
                write!(f, "vote r{round} {} {val}", step_name(*step))
            }
            Attack::Proposal { round, val } => write!(f, "proposal r{round} {val}"),
            Attack::FarRound => write!(f, "vote r{FAR_ROUND} (far round)"),
            Attack::FarStep => write!(f, "next vote r1 s{FAR_STEP} (far step)"),
            Attack::JunkBlock => write!(f, "junk block"),
            Attack::TamperedBlock(v) => write!(f, "block {v} with a tampered body"),
            Attack::TrailingBytes(v) => write!(f, "block {v} with trailing bytes"),
        }
    }
}

/// One nondeterministic step of the system.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Action {
    /// Deliver a message (in a duplicating network it stays in flight).
    Deliver(Msg),
    /// Lose a message.
    Drop(Msg),
    /// Fire node i's current timer.
    Timer(u8),
    /// Fire node i's current timer early, although lockstep would not allow it yet
    /// (spends one of `Config::early_timers`).
    EarlyTimer(u8),
    /// Byzantine node `from` sends `attack` to node `to`.
    Byzantine {
        /// Byzantine sender.
        from: u8,
        /// Honest recipient.
        to: u8,
        /// What it sends.
        attack: Attack,
    },
    /// Crash node i (it loses everything but what it made durable).
    Crash(u8),
    /// Restart node i from what it made durable.
    Restart(u8),
}

fn step_name(step: u8) -> String {
    Step(u32::from(step)).to_string()
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let payload = |f: &mut fmt::Formatter<'_>, m: &Msg| match m.payload {
            Payload::Vote { round, step, val } => {
                write!(f, "vote M{} r{round} {} {val}", m.from, step_name(step))
            }
            Payload::Proposal { round, val, block } => {
                write!(f, "proposal M{} r{round} {val}", m.from)?;
                if block {
                    write!(f, " with its block")?;
                }
                Ok(())
            }
            Payload::Block { val } => write!(f, "block {val} from M{}", m.from),
        };
        match self {
            Action::Deliver(m) => {
                write!(f, "n{} <- ", m.to)?;
                payload(f, m)
            }
            Action::Drop(m) => {
                write!(f, "drop n{} <- ", m.to)?;
                payload(f, m)
            }
            Action::Timer(i) => write!(f, "n{i} timer"),
            Action::EarlyTimer(i) => write!(f, "n{i} timer (early: messages still in flight)"),
            Action::Byzantine { from, to, attack } => {
                write!(f, "n{to} <- {attack} from M{from} (byzantine)")
            }
            Action::Crash(i) => write!(f, "n{i} crash"),
            Action::Restart(i) => write!(f, "n{i} restart from what it made durable"),
        }
    }
}

/// A node's driver, compared and hashed by its protocol state (see
/// `Driver`'s `Hash`).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct NodeDriver(pub ModelDriver);

impl fmt::Debug for NodeDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Driver {{ position: {:?}, decided: {:?} }}",
            self.0.position(),
            self.0.machine().decided()
        )
    }
}

/// What a node made durable: the machine's journal, its own proposal and
/// block, and the (round, step, value) of every message it signed (its
/// own-vote log). None of it names another node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stored {
    pub journal: Option<Journal>,
    /// Its own proposal and block.
    pub own: Option<OwnProposal>,
    /// Its own-vote slots.
    pub slots: Vec<(Round, Step, Value)>,
}

/// The cert votes a host of the old design kept: the first per (round, voter),
/// whatever its value, before the machine saw it (the mutation
/// `cert-votes-by-voter`; `None` otherwise).
pub type ByVoter = BTreeMap<(u32, MinerId), Value>;

/// One honest node.
#[derive(Clone, Debug)]
pub struct Node {
    /// The driver, or `None` while crashed.
    pub driver: Option<Hashed<NodeDriver>>,
    /// What it made durable.
    pub stored: Hashed<Stored>,
    /// Crashes so far.
    pub crashes: u8,
    /// Position at the time of the crash (for S9 across restarts), while crashed.
    pub crashed_at: Option<Hrs>,
    /// The mutation `cert-votes-by-voter`'s store (lost in a crash).
    pub by_voter: Option<Hashed<ByVoter>>,
    /// The node's clock (ms). Not part of the state: nothing the model does
    /// depends on it (timers fire by choice).
    pub clock: u64,
}

impl PartialEq for Node {
    fn eq(&self, o: &Self) -> bool {
        self.driver == o.driver
            && self.stored == o.stored
            && self.crashes == o.crashes
            && self.crashed_at == o.crashed_at
            && self.by_voter == o.by_voter
    }
}

impl Eq for Node {}

impl Hash for Node {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.driver.hash(state);
        self.stored.hash(state);
        self.crashes.hash(state);
        self.crashed_at.hash(state);
        self.by_voter.hash(state);
    }
}

impl Node {
    /// The driver, while running.
    pub fn driver(&self) -> Option<&ModelDriver> {
        self.driver.as_deref().map(|d| &d.0)
    }

    /// The decision of this node, if any.
    pub fn decided(&self) -> Option<(u32, Value)> {
        self.driver().and_then(|d| d.machine().decided())
    }

    /// The node's position, while running.
    pub fn position(&self) -> Option<Hrs> {
        self.driver().and_then(|d| d.position())
    }
}

/// One state of the explored system: the nodes, the messages in flight, and
/// what was observed.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct State {
    /// Honest nodes by index; `None` for Byzantine slots.
    pub nodes: Vec<Option<Node>>,
    /// In-flight messages with their multiplicity, sorted.
    pub net: Vec<(Msg, u8)>,
    /// Attacks left per Byzantine node (indexed like `nodes`; 0 for honest).
    pub budget: Vec<u8>,
    /// Early timer firings left (`Config::early_timers`).
    pub early: u8,
    /// What was observed (spec::invariants), fed from the drivers' effects.
    pub obs: Hashed<Observations>,
    /// Safety properties currently violated (bit per property, props::SAFETY order),
    /// recomputed whenever `obs` changes; a function of `obs`.
    pub violated: u16,
    /// The configuration's symmetry classes (constant; see [`crate::symmetry`]).
    pub classes: Classes,
    /// Some node decided a value it cannot certify (S11).
    pub uncertifiable: bool,
    /// Some node that crashed decided a value whose block or proposal it no
    /// longer held: it leaves the height to sync (allowed; reported).
    pub left_to_sync: bool,
}

/// An event for a node's driver, owned (the driver's [`Event`] borrows).
enum Ev {
    Wire(Vec<(Topic, Arc<[u8]>)>, u64),
    Tick(u64),
    Built(Round, PlainBlock),
    Validated(Value, bool),
}

/// The BA* model of one configuration.
pub struct BaModel {
    pub cfg: Config,
    params: Params,
    thresholds: Thresholds,
    roster: Roster,
    empty: Value,
    /// Each node's keys.
    keys: Vec<MockMinerKeys>,
    /// The blocks A and B of their proposers (if proposed).
    blocks: BTreeMap<Val, PlainBlock>,
    /// Header hashes of A and B.
    values: BTreeMap<Val, Value>,
    /// Wire bytes of every honest message in scope, made once.
    wire: BTreeMap<(u8, Payload), Arc<[u8]>>,
    /// Set when the run's time limit passes: every further state is then out of
    /// bounds, which ends the search (stateright's own timeout is not checked by
    /// a single-threaded DFS).
    stop: Arc<AtomicBool>,
}

/// The keys of node `i` with VRF key `vrf`.
fn node_keys(i: usize, vrf: [u8; 32]) -> MockMinerKeys {
    MinerKeys {
        id: MinerId::from_index(i as u8),
        vrf: MockVrfKey(vrf),
        votes: MockVoteKey::new(CHAIN, SHARED_VOTE_KEY, 0, u64::MAX),
    }
}

impl BaModel {
    /// A model of `cfg`.
    pub fn new(cfg: Config) -> Self {
        let params = Params {
            total_weight: cfg.total_weight(),
            ..cfg.params()
        };
        let thresholds = cfg.thresholds();
        let n = cfg.weights.len();
        let total = u128::from(cfg.total_weight());
        // VRF keys by role; configured proposers get keys whose priorities keep
        // the configured order in every round in scope.
        let mut keys: Vec<MockMinerKeys> = (0..n)
            .map(|i| {
                let vrf = if cfg.is_byzantine(i) {
                    BYZANTINE_VRF
                } else {
                    FOLLOWER_VRF
                };
                node_keys(i, vrf)
            })
            .collect();
        let mut proposers = cfg.proposers.clone();
        proposers.retain(|p| !cfg.is_byzantine(p.node));
        proposers.sort_by_key(|p| p.priority);
        let priority = |k: &MockMinerKeys, stake: u64, round: u32| -> [u8; 32] {
            k.propose(
                &params,
                HEIGHT,
                round,
                Value::default(),
                &SEED,
                stake.into(),
                total,
            )
            .ok()
            .flatten()
            .map_or([0xff; 32], |(_, prio)| prio)
        };
        let rounds = 1..=cfg.max_round + 1;
        let mut chosen: Vec<(MockMinerKeys, u64)> = Vec::new();
        for p in &proposers {
            let stake = cfg.weights[p.node];
            let key = (1u8..=0xe0)
                .map(|b| node_keys(p.node, [b; 32]))
                .find(|k| {
                    chosen.iter().all(|(prev, prev_stake)| {
                        rounds
                            .clone()
                            .all(|r| priority(prev, *prev_stake, r) < priority(k, stake, r))
                    })
                })
                .unwrap_or_else(|| node_keys(p.node, [0xe1; 32]));
            chosen.push((key.clone(), stake));
            keys[p.node] = key;
        }
        let mut roster = Roster {
            seed: SEED,
            total_stake: total,
            ..Roster::default()
        };
        // Suspended nodes keep their keys (they still sign what they send)
        // but are not in the roster, as their weight is not in the total
        // (unless the mutation `suspended-in-roster` keeps them).
        for (i, k) in keys.iter().enumerate() {
            if cfg.is_suspended(i) && !cfg.suspended_in_roster {
                continue;
            }
            roster
                .miners
                .insert(k.id, k.record(u128::from(cfg.weights[i])));
        }
        let genesis = Value::default();
        let mut blocks = BTreeMap::new();
        let mut values = BTreeMap::new();
        for p in &proposers {
            let k = &keys[p.node];
            let (_, seed) = derive_seed(&k.vrf, params.chain_id, HEIGHT, &SEED);
            let claims = BlockClaims {
                proposer: k.id,
                seed,
                beneficiary: roster.reward_address(&k.id),
            };
            let block = PlainBlock::new(HEIGHT, genesis, claims, p.value.to_string().into_bytes());
            values.insert(p.value, PlainBlocks::info(&block).value);
            blocks.insert(p.value, block);
        }
        let mut model = BaModel {
            params,
            thresholds,
            roster,
            empty: Value::empty(genesis, HEIGHT),
            keys,
            blocks,
            values,
            wire: BTreeMap::new(),
            stop: Arc::new(AtomicBool::new(false)),
            cfg,
        };
        model.wire = model.make_wire();
        model
    }

    /// The wire bytes of every message an honest node may send within scope.
    fn make_wire(&self) -> BTreeMap<(u8, Payload), Arc<[u8]>> {
        let mut out = BTreeMap::new();
        let vals = [Val::A, Val::B, Val::E];
        for i in self.cfg.honest() {
            let from = i as u8;
            for round in 1..=self.cfg.max_round + 1 {
                for step in 2..=self.cfg.max_step + 2 {
                    for val in vals {
                        let p = Payload::Vote {
                            round: round as u8,
                            step: step as u8,
                            val,
                        };
                        if let Some(b) = self.sign(i, p) {
                            out.insert((from, p), b);
                        }
                    }
                }
                for val in [Val::A, Val::B] {
                    let p = Payload::Proposal {
                        round: round as u8,
                        val,
                        block: false,
                    };
                    if let Some(b) = self.sign(i, p) {
                        out.insert((from, p), b);
                    }
                }
            }
            for val in [Val::A, Val::B] {
                let p = Payload::Block { val };
                if let Some(b) = self.sign(i, p) {
                    out.insert((from, p), b);
                }
            }
        }
        out
    }

    /// The wire bytes of `payload` sent by node `i` (`None` when it cannot be
    /// made: a value with no block, no seat).
    fn sign(&self, i: usize, payload: Payload) -> Option<Arc<[u8]>> {
        let keys = &self.keys[i];
        let stake = u128::from(self.weight(i));
        let total = self.roster.total_stake;
        let bytes = match payload {
            Payload::Vote { round, step, val } => {
                let hrs = Hrs::new(HEIGHT, u32::from(round), Step(u32::from(step)));
                let vote = keys
                    .cast_vote(&self.params, hrs, self.value(val)?, &SEED, stake, total)
                    .ok()??;
                WireMessage::Vote(vote).encode()
            }
            Payload::Proposal { round, val, .. } => {
                let (msg, _) = keys
                    .propose(
                        &self.params,
                        HEIGHT,
                        u32::from(round),
                        self.value(val)?,
                        &SEED,
                        stake,
                        total,
                    )
                    .ok()??;
                WireMessage::Proposal(msg).encode()
            }
            Payload::Block { val } => {
                let (h, b) = PlainBlocks::encode(self.blocks.get(&val)?);
                frame_block(&h, &b)
            }
        };
        Some(bytes.into())
    }

    /// The bytes and topic of an attack by Byzantine node `b`.
    fn attack_bytes(&self, b: usize, attack: Attack) -> Option<(Topic, Arc<[u8]>)> {
        let vote = |round: u32, step: Step, val: Val| {
            let payload = Payload::Vote {
                round: u8::try_from(round).ok()?,
                step: u8::try_from(step.0).ok()?,
                val,
            };
            Some((Topic::Votes, self.sign(b, payload)?))
        };
        let block = |val: Val| self.blocks.get(&val).map(PlainBlocks::encode);
        let framed =
            |h: Vec<u8>, body: Vec<u8>| Some((Topic::Blocks, frame_block(&h, &body).into()));
        match attack {
            Attack::Vote { round, step, val } => vote(u32::from(round), Step(u32::from(step)), val),
            Attack::Proposal { round, val } => {
                let payload = Payload::Proposal {
                    round,
                    val,
                    block: false,
                };
                Some((Topic::Proposals, self.sign(b, payload)?))
            }
            Attack::FarRound => vote(FAR_ROUND, Step::CERT, Val::A),
            Attack::FarStep => vote(1, Step(FAR_STEP), Val::E),
            Attack::JunkBlock => {
                let claims = BlockClaims {
                    proposer: self.keys[b].id,
                    seed: [0x33; 32],
                    beneficiary: [0x33; 20],
                };
                let junk = PlainBlock::new(HEIGHT, Value::default(), claims, b"junk".to_vec());
                let (h, body) = PlainBlocks::encode(&junk);
                framed(h, body)
            }
            Attack::TamperedBlock(val) => {
                let (h, mut body) = block(val)?;
                body.push(0x99);
                framed(h, body)
            }
            Attack::TrailingBytes(val) => {
                let (mut h, body) = block(val)?;
                h.push(0x00);
                framed(h, body)
            }
        }
    }

    /// The flag that stops the search (see [`BaModel::stopped`]).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.stop)
    }

    /// Whether the search was stopped before it was exhaustive.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// The height's empty value.
    pub fn empty(&self) -> Value {
        self.empty
    }

    /// The thresholds in force.
    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// A model value as a protocol value (`None` for a block nobody proposes).
    pub fn value(&self, v: Val) -> Option<Value> {
        match v {
            Val::E => Some(self.empty),
            v => self.values.get(&v).copied(),
        }
    }

    /// A protocol value as a model value. Drivers only ever see A, B and ⊥.
    pub fn val(&self, v: Value) -> Val {
        if v == self.empty {
            Val::E
        } else if let Some((val, _)) = self.values.iter().find(|(_, x)| **x == v) {
            *val
        } else {
            panic!("a driver produced a value outside the model's scope: {v:?}")
        }
    }

    /// Node `i`'s keys (the symmetry reduction gives a renamed driver the
    /// keys of its new index).
    pub fn keys_of(&self, i: usize) -> MockMinerKeys {
        self.keys[i].clone()
    }

    fn id(i: usize) -> MinerId {
        MinerId::from_index(i as u8)
    }

    fn weight(&self, i: usize) -> u64 {
        self.cfg.weights[i]
    }

    fn head(&self, slots: Vec<(Round, Step, Value)>) -> Head {
        Head {
            parent: Value::default(),
            number: HEIGHT - 1,
            roster: self.roster.clone(),
            own_slots: slots,
        }
    }

    fn new_driver(&self, i: usize) -> ModelDriver {
        let mut d = Driver::new(self.params, MockSuite, Some(self.keys[i].clone()));
        if self.cfg.cert_threshold.is_some() {
            d.mutate_thresholds(self.thresholds);
        }
        d
    }

    /// Whether node `i`'s driver may still act (alive and undecided).
    fn active(state: &State, i: usize) -> bool {
        matches!(&state.nodes[i], Some(n) if n.driver().is_some_and(|d| d.machine().decided().is_none()))
    }

    fn send(&self, state: &mut State, from: usize, payload: Payload) {
        for to in self.cfg.honest() {
            if to == from
                || !Self::recipient_open(state, to)
                || self.redundant(state, to, from, payload)
            {
                continue;
            }
            let msg = Msg {
                to: to as u8,
                from: from as u8,
                payload,
            };
            add_msg(&mut state.net, msg);
        }
    }

    /// Whether a copy of `payload` sent again (a round catch-up relay, a
    /// paired block sent on) changes nothing node `to` can do, so it is not
    /// put in flight: a vote of `from` or a block that `to` already holds
    /// (the driver refuses or ignores it before anything else), unless `to`
    /// may still crash (a restarted node has forgotten it); or, where no
    /// message is lost or duplicated, the same block already in flight to `to`.
    fn redundant(&self, state: &State, to: usize, from: usize, payload: Payload) -> bool {
        let node = state.nodes[to].as_ref();
        let driver = node.and_then(Node::driver);
        let remembered = !self.cfg.crashable.contains(&to)
            || node.is_some_and(|n| n.crashes >= self.cfg.max_crashes);
        match payload {
            Payload::Vote { round, step, val } => {
                remembered
                    && driver.zip(self.value(val)).is_some_and(|(d, value)| {
                        let hrs = Hrs::new(HEIGHT, u32::from(round), Step(u32::from(step)));
                        d.machine().seen(Self::id(from), hrs, value)
                    })
            }
            Payload::Block { val } => {
                let held = remembered
                    && driver
                        .zip(self.value(val))
                        .is_some_and(|(d, value)| d.knows_block(&value));
                let in_flight = !self.cfg.lossy
                    && !self.cfg.duplicating
                    && state
                        .net
                        .iter()
                        .any(|(m, _)| usize::from(m.to) == to && m.payload == payload);
                held || in_flight
            }
            Payload::Proposal { .. } => false,
        }
    }

    /// Messages to a node that decided are never useful: it has stopped.
    fn recipient_open(state: &State, to: usize) -> bool {
        matches!(&state.nodes[to], Some(n) if n.decided().is_none())
    }

    fn obs_mut(state: &mut State) -> &mut Observations {
        // Rehashed once per transition, at the end of `next_state`.
        state.obs.make_mut_stale()
    }

    /// Feeds `first` to node `i`'s driver and carries out every effect, the
    /// way a host does, until nothing follows.
    fn run(&self, state: &mut State, i: usize, first: Ev) {
        let mut queue = VecDeque::from([first]);
        while let Some(ev) = queue.pop_front() {
            let Some(node) = state.nodes[i].as_mut() else {
                return;
            };
            let clock = node.clock;
            let Some(driver) = node.driver.as_mut() else {
                return;
            };
            let d = &mut driver.make_mut_stale().0;
            let before = d.position();
            let (now, effects) = match ev {
                Ev::Wire(parts, source) => {
                    if let Some(shadow) = node.by_voter.as_mut() {
                        for (_, bytes) in parts.iter().filter(|(t, _)| *t == Topic::Votes) {
                            keep_by_voter(shadow, bytes);
                        }
                    }
                    let msgs: Vec<Inbound<'_>> = parts
                        .iter()
                        .map(|(topic, bytes)| Inbound {
                            topic: *topic,
                            bytes,
                            source,
                        })
                        .collect();
                    (clock, d.handle(clock, Event::Wire(&msgs)))
                }
                Ev::Tick(at) => {
                    let now = clock.max(at);
                    (now, d.handle(now, Event::Tick))
                }
                Ev::Built(round, block) => (
                    clock,
                    d.handle(
                        clock,
                        Event::Built {
                            height: HEIGHT,
                            round,
                            block,
                        },
                    ),
                ),
                Ev::Validated(value, valid) => {
                    (clock, d.handle(clock, Event::Validated { value, valid }))
                }
            };
            node.clock = now;
            let effects = effects.expect("the model's drivers are started and hold their keys");
            self.observe(state, i, before);
            self.carry_out(state, i, effects, &mut queue);
            if let Some(at) = state.nodes[i]
                .as_ref()
                .and_then(Node::driver)
                .and_then(ModelDriver::build_due_at)
            {
                queue.push_front(Ev::Tick(at));
            }
        }
        if let Some(Some(d)) = state.nodes[i].as_mut().map(|n| n.driver.as_mut()) {
            d.rehash();
        }
    }

    /// Records node `i`'s move from `before` (S9) and its entry into a new
    /// round (S7).
    fn observe(&self, state: &mut State, i: usize, before: Option<Hrs>) {
        let Some(d) = state.nodes[i].as_ref().and_then(Node::driver) else {
            return;
        };
        let Some(after) = d.position() else { return };
        let m = d.machine();
        let entry = RoundEntry {
            node: Self::id(i),
            height: HEIGHT,
            round: after.round,
            starting: m.starting_value(),
            empty: m.empty_value(),
        };
        if let Some(before) = before
            && after < before
            && state.obs.breach.is_none()
        {
            Self::obs_mut(state).moved(Self::id(i), before, after);
        }
        if before.is_none_or(|b| b.round != after.round) && !state.obs.entries.contains(&entry) {
            Self::obs_mut(state).enter(entry);
        }
    }

    fn carry_out(
        &self,
        state: &mut State,
        i: usize,
        effects: Vec<Effect<PlainBlock>>,
        queue: &mut VecDeque<Ev>,
    ) {
        for effect in effects {
            match effect {
                Effect::Persist(d) => {
                    if let Some(n) = state.nodes[i].as_mut() {
                        n.stored.update(|s| {
                            if let Some(j) = d.journal {
                                s.journal = Some(j);
                            }
                            if let Some(own) = d.own {
                                s.own = Some(own);
                            }
                            s.slots
                                .extend(d.messages.iter().map(|m| (m.round, m.step, m.value)));
                        });
                    }
                }
                Effect::Verdict { .. }
                | Effect::Evidence(_)
                | Effect::EquivocationProof(_)
                | Effect::Abstained { .. } => {}
                Effect::Broadcast(Topic::Blocks, _) if self.cfg.block_with_proposal => {
                    // Sent with the proposal that goes out with it.
                }
                Effect::Broadcast(topic, bytes) => self.broadcast(state, i, topic, &bytes),
                Effect::Build(order) => {
                    if let Some(p) = self.cfg.proposer(i)
                        && order.round <= self.cfg.max_round
                        && let Some(block) = self.blocks.get(&p.value)
                    {
                        queue.push_back(Ev::Built(order.round, block.clone()));
                    }
                }
                Effect::Validate(block) => {
                    let valid = PlainBlocks::body_matches_header(&block);
                    queue.push_back(Ev::Validated(PlainBlocks::info(&block).value, valid));
                }
                Effect::Commit {
                    value,
                    round,
                    certificate,
                } => self.commit(state, i, round, value, &certificate),
                Effect::CannotCertify { error, .. } => {
                    // A node that lost the decided block or its proposal in a
                    // crash (neither is durable unless its own) leaves the
                    // height to sync, as in production; any other failure,
                    // and this one without a crash, breaks S11.
                    let crashed = state.nodes[i].as_ref().is_some_and(|n| n.crashes > 0);
                    if error == CertError::ProposalMismatch && crashed {
                        state.left_to_sync = true;
                    } else {
                        state.uncertifiable = true;
                    }
                }
            }
        }
    }

    /// An honest node's message: observed (votes, S3) and put in flight to
    /// the other honest nodes. Only the configured proposers' proposals are
    /// sent (the scope: other nodes' re-proposals stay local).
    fn broadcast(&self, state: &mut State, i: usize, topic: Topic, bytes: &[u8]) {
        let payload = match topic {
            Topic::Blocks => {
                let Some(block) = unframe_block(bytes).and_then(|(h, b)| PlainBlocks::decode(h, b))
                else {
                    return;
                };
                Payload::Block {
                    val: self.val(PlainBlocks::info(&block).value),
                }
            }
            Topic::Votes | Topic::Proposals => match WireMessage::decode(bytes) {
                Ok(WireMessage::Vote(v)) => {
                    let weight = self.weight(i);
                    let sent = spec::invariants::SentVote {
                        hrs: Hrs::new(v.height, v.round, v.step),
                        value: v.value,
                        voter: v.voter,
                        weight,
                        honest: true,
                    };
                    if !state.obs.votes.contains(&sent) {
                        Self::obs_mut(state).vote(v.voter, true, sent.hrs, v.value, weight);
                    }
                    Payload::Vote {
                        round: v.round as u8,
                        step: v.step.0 as u8,
                        val: self.val(v.value),
                    }
                }
                Ok(WireMessage::Proposal(p)) if self.cfg.proposer(i).is_some() => {
                    let val = self.val(p.value);
                    Payload::Proposal {
                        round: p.round as u8,
                        val,
                        // A new block goes out with its proposal.
                        block: self.cfg.block_with_proposal
                            && self.cfg.proposer(i).is_some_and(|c| c.value == val),
                    }
                }
                _ => return,
            },
        };
        self.send(state, i, payload);
    }

    /// Node `i` decided: observed with its certificate's voters, and S11 for
    /// the mutation's store. The node stops at height 1: its inbox is dropped.
    fn commit(&self, state: &mut State, i: usize, round: Round, value: Value, certificate: &[u8]) {
        let voters: Vec<(MinerId, u64)> = match WireMessage::decode(certificate) {
            Ok(WireMessage::Certificate(c)) => c
                .votes
                .iter()
                .map(|cv| (cv.voter, self.weight(usize::from(cv.voter.0[19]))))
                .collect(),
            _ => Vec::new(),
        };
        if let Some(shadow) = state.nodes[i].as_ref().and_then(|n| n.by_voter.as_ref()) {
            // The old design assembled certificates from what it kept per voter.
            let certifiable = voters
                .iter()
                .all(|(id, _)| shadow.get(&(round, *id)) == Some(&value));
            if !certifiable {
                state.uncertifiable = true;
            }
        }
        Self::obs_mut(state).decide(Decision {
            node: Self::id(i),
            height: HEIGHT,
            round,
            value,
            voters,
        });
        state.net.retain(|(m, _)| usize::from(m.to) != i);
    }

    /// The wire messages a message in flight is delivered as.
    fn input_bytes(&self, m: &Msg) -> Option<Vec<(Topic, Arc<[u8]>)>> {
        let bytes = |payload: Payload| match self.wire.get(&(m.from, payload)) {
            Some(b) => Some(Arc::clone(b)),
            None => self.sign(usize::from(m.from), payload),
        };
        Some(match m.payload {
            Payload::Vote { .. } => vec![(Topic::Votes, bytes(m.payload)?)],
            Payload::Block { .. } => vec![(Topic::Blocks, bytes(m.payload)?)],
            Payload::Proposal { round, val, block } => {
                let proposal = Payload::Proposal {
                    round,
                    val,
                    block: false,
                };
                let mut parts = vec![(Topic::Proposals, bytes(proposal)?)];
                if block {
                    parts.push((Topic::Blocks, bytes(Payload::Block { val })?));
                }
                parts
            }
        })
    }

    /// Whether firing a timer at `hrs` keeps the node within the configured scope:
    /// the vote it casts (soft at step 2 from step 1, next at s + 1 from a waiting
    /// step s ≥ 3) is at most `max_step`.
    fn timer_in_scope(&self, hrs: Hrs) -> bool {
        let vote_step = hrs.step.0 + 1;
        hrs.round <= self.cfg.max_round && vote_step <= self.cfg.max_step_in(hrs.round)
    }

    fn recompute_violations(&self, state: &mut State) {
        state.violated = props::violations(&state.obs);
    }

    /// Whether no action is enabled (used by the bounded liveness check).
    pub fn quiescent(&self, state: &State) -> bool {
        let mut acts = Vec::new();
        self.actions(state, &mut acts);
        acts.is_empty()
    }

    /// Starts node `i`'s driver from what it made durable.
    fn start(&self, state: &mut State, i: usize) {
        let Some(node) = state.nodes[i].as_mut() else {
            return;
        };
        let stored: Stored = (*node.stored).clone();
        let mut d = self.new_driver(i);
        let resume = Resume {
            journal: stored.journal,
            own: stored.own,
        };
        let effects = d
            .handle(node.clock, Event::Start(self.head(stored.slots), resume))
            .expect("a fresh driver starts");
        node.driver = Some(Hashed::new(NodeDriver(d)));
        let mut queue = VecDeque::new();
        self.carry_out(state, i, effects, &mut queue);
        if let Some(at) = state.nodes[i]
            .as_ref()
            .and_then(Node::driver)
            .and_then(ModelDriver::build_due_at)
        {
            queue.push_front(Ev::Tick(at));
        }
        while let Some(ev) = queue.pop_front() {
            self.run(state, i, ev);
        }
        if let Some(Some(d)) = state.nodes[i].as_mut().map(|n| n.driver.as_mut()) {
            d.rehash();
        }
    }

    /// The attacks a Byzantine node may send to node `to` in this state.
    fn attacks(&self, d: &ModelDriver, b: usize, out: &mut Vec<Attack>) {
        let m = d.machine();
        for round in 1..=self.cfg.max_round {
            for step in 2..=self.cfg.max_step_in(round) {
                // ⊥ only in next votes (the machine drops soft and cert
                // votes for the empty value), and in cert votes where
                // the configuration tests what hosts keep of them.
                let empty_ok = step >= 4 || (step == 3 && self.cfg.byz_empty_cert);
                for val in self.cfg.byz_values.iter().copied() {
                    if !empty_ok && val == Val::E {
                        continue;
                    }
                    let Some(value) = self.value(val) else {
                        continue;
                    };
                    if m.seen(Self::id(b), Hrs::new(HEIGHT, round, Step(step)), value) {
                        continue;
                    }
                    out.push(Attack::Vote {
                        round: round as u8,
                        step: step as u8,
                        val,
                    });
                }
            }
        }
        let blocks = self.cfg.byz_blocks;
        if !blocks && !self.cfg.byz_proposals {
            return;
        }
        if blocks {
            out.extend([Attack::FarRound, Attack::FarStep, Attack::JunkBlock]);
        }
        for val in [Val::A, Val::B] {
            if self.value(val).is_none() {
                continue;
            }
            if blocks {
                out.extend([Attack::TamperedBlock(val), Attack::TrailingBytes(val)]);
            }
            for round in 1..=self.cfg.max_round {
                out.push(Attack::Proposal {
                    round: round as u8,
                    val,
                });
            }
        }
    }
}

/// The old design's cert-vote store: the first cert vote per (round, voter),
/// kept before any check.
fn keep_by_voter(shadow: &mut Hashed<ByVoter>, bytes: &[u8]) {
    if let Ok(WireMessage::Vote(v)) = WireMessage::decode(bytes)
        && v.step == Step::CERT
        && !shadow.contains_key(&(v.round, v.voter))
    {
        shadow.update(|s| {
            s.insert((v.round, v.voter), v.value);
        });
    }
}

fn add_msg(net: &mut Vec<(Msg, u8)>, msg: Msg) {
    match net.binary_search_by(|(m, _)| m.cmp(&msg)) {
        Ok(i) => net[i].1 = net[i].1.saturating_add(1),
        Err(i) => net.insert(i, (msg, 1)),
    }
}

fn remove_msg(net: &mut Vec<(Msg, u8)>, msg: &Msg) {
    if let Ok(i) = net.binary_search_by(|(m, _)| m.cmp(msg)) {
        if net[i].1 > 1 {
            net[i].1 -= 1;
        } else {
            net.remove(i);
        }
    }
}

impl Model for BaModel {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        let n = self.cfg.weights.len();
        let mut state = State {
            nodes: (0..n)
                .map(|i| {
                    (!self.cfg.is_byzantine(i)).then(|| Node {
                        driver: None,
                        stored: Hashed::new(Stored::default()),
                        crashes: 0,
                        crashed_at: None,
                        by_voter: self
                            .cfg
                            .cert_votes_by_voter
                            .then(|| Hashed::new(ByVoter::new())),
                        clock: 0,
                    })
                })
                .collect(),
            net: Vec::new(),
            budget: (0..n)
                .map(|i| {
                    if self.cfg.is_byzantine(i) {
                        self.cfg.byz_budget
                    } else {
                        0
                    }
                })
                .collect(),
            obs: Hashed::new(Observations::new(self.thresholds)),
            violated: 0,
            early: self.cfg.early_timers,
            classes: self.cfg.symmetry_classes(),
            uncertifiable: false,
            left_to_sync: false,
        };
        for i in self.cfg.honest().collect::<Vec<_>>() {
            self.start(&mut state, i);
        }
        state.obs.rehash();
        self.recompute_violations(&mut state);
        vec![state]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        // Deliveries and losses; a crashed recipient cannot receive.
        for (msg, _) in &state.net {
            let to = usize::from(msg.to);
            if Self::active(state, to) {
                if self.cfg.duplicating
                    && let Payload::Vote { round, step, val } = msg.payload
                    && let Some(d) = state.nodes[to].as_ref().and_then(Node::driver)
                    && self.value(val).is_some_and(|value| {
                        d.machine().seen(
                            Self::id(usize::from(msg.from)),
                            Hrs::new(HEIGHT, u32::from(round), Step(u32::from(step))),
                            value,
                        )
                    })
                {
                    // Re-delivering a counted vote is refused as a duplicate.
                } else {
                    actions.push(Action::Deliver(*msg));
                }
            }
            if self.cfg.lossy || self.cfg.duplicating {
                actions.push(Action::Drop(*msg));
            }
        }
        // Timers fire at any moment, or (MC-6, "deliver before timeout") only once
        // the network is empty and no active node is behind the timer's position.
        let quiet = state.net.is_empty();
        let slowest = self
            .cfg
            .honest()
            .filter(|i| Self::active(state, *i))
            .filter_map(|i| state.nodes[i].as_ref()?.position())
            .min();
        for i in self.cfg.honest() {
            let Some(d) = state.nodes[i].as_ref().and_then(Node::driver) else {
                continue;
            };
            if d.machine().decided().is_none()
                && let Some((_, t)) = d.armed_timer()
                && d.position() == Some(t)
                && self.timer_in_scope(t)
            {
                if !self.cfg.synchronous || (quiet && slowest.is_none_or(|p| p >= t)) {
                    actions.push(Action::Timer(i as u8));
                } else if state.early > 0 {
                    actions.push(Action::EarlyTimer(i as u8));
                }
            }
        }
        // The adversary: any in-scope attack on any active honest node.
        let mut attacks = Vec::new();
        for b in self.cfg.byzantine.iter().copied() {
            if state.budget[b] == 0 {
                continue;
            }
            for to in self.cfg.honest() {
                let Some(d) = state.nodes[to].as_ref().and_then(Node::driver) else {
                    continue;
                };
                if d.machine().decided().is_some() {
                    continue;
                }
                attacks.clear();
                self.attacks(d, b, &mut attacks);
                actions.extend(attacks.iter().map(|&attack| Action::Byzantine {
                    from: b as u8,
                    to: to as u8,
                    attack,
                }));
            }
        }
        // Crash and restart.
        for i in self.cfg.honest() {
            let Some(node) = state.nodes[i].as_ref() else {
                continue;
            };
            match node.driver() {
                Some(d)
                    if d.machine().decided().is_none()
                        && node.crashes < self.cfg.max_crashes
                        && self.cfg.crashable.contains(&i) =>
                {
                    actions.push(Action::Crash(i as u8))
                }
                None => actions.push(Action::Restart(i as u8)),
                _ => {}
            }
        }
    }

    fn next_state(&self, last: &State, action: Action) -> Option<State> {
        let mut state = last.clone();
        let obs_before = state.obs.clone();
        match action {
            Action::Deliver(msg) => {
                if !self.cfg.duplicating {
                    remove_msg(&mut state.net, &msg);
                }
                let parts = self.input_bytes(&msg)?;
                let ev = Ev::Wire(parts, u64::from(msg.from));
                self.run(&mut state, usize::from(msg.to), ev);
            }
            Action::Drop(msg) => remove_msg(&mut state.net, &msg),
            Action::Timer(i) | Action::EarlyTimer(i) => {
                if matches!(action, Action::EarlyTimer(_)) {
                    state.early = state.early.checked_sub(1)?;
                }
                let i = usize::from(i);
                let (deadline, _) = state.nodes[i].as_ref()?.driver()?.armed_timer()?;
                self.run(&mut state, i, Ev::Tick(deadline));
            }
            Action::Byzantine { from, to, attack } => {
                let b = usize::from(from);
                state.budget[b] = state.budget[b].saturating_sub(1);
                let (topic, bytes) = self.attack_bytes(b, attack)?;
                if let Ok(WireMessage::Vote(v)) = WireMessage::decode(&bytes) {
                    let hrs = Hrs::new(v.height, v.round, v.step);
                    // A suspended node's vote weighs nothing: a certificate
                    // or quorum counting it breaks S10 (or S5, S7).
                    let weight = self.cfg.committee_weight(b);
                    Self::obs_mut(&mut state).vote(v.voter, false, hrs, v.value, weight);
                }
                let ev = Ev::Wire(vec![(topic, bytes)], u64::from(from));
                self.run(&mut state, usize::from(to), ev);
            }
            Action::Crash(i) => {
                let node = state.nodes[usize::from(i)].as_mut()?;
                node.crashed_at = node.position();
                node.driver = None;
                node.crashes += 1;
                if let Some(shadow) = node.by_voter.as_mut() {
                    *shadow = Hashed::new(ByVoter::new());
                }
            }
            Action::Restart(i) => {
                let i = usize::from(i);
                let before = state.nodes[i].as_mut()?.crashed_at.take();
                self.start(&mut state, i);
                self.observe(&mut state, i, before);
            }
        }
        if !Hashed::ptr_eq(&obs_before, &state.obs) {
            state.obs.rehash();
            self.recompute_violations(&mut state);
        }
        if matches!(action, Action::Deliver(_) | Action::Byzantine { .. }) && state == *last {
            // Nothing changed (a refused or duplicate message).
            return None;
        }
        Some(state)
    }

    fn format_action(&self, action: &Action) -> String {
        action.to_string()
    }

    fn properties(&self) -> Vec<Property<Self>> {
        props::properties(&self.cfg)
    }

    /// The scope (consensus.md §(b.4)): height 1, honest positions at most
    /// (max_round + 1, proposal step), and steps at most `max_step + 1` (the waiting
    /// step after the last vote step) in earlier rounds.
    fn within_boundary(&self, state: &State) -> bool {
        if self.stopped() {
            return false;
        }
        state.nodes.iter().flatten().all(|n| {
            n.position().is_none_or(|p| {
                p.height == HEIGHT
                    && (p.round <= self.cfg.max_round
                        && p.step.0 <= self.cfg.max_step_in(p.round) + 1
                        || p.round == self.cfg.max_round + 1 && p.step == Step::PROPOSAL)
            })
        })
    }
}
