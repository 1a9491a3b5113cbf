//! The stateright [`Model`]: honest nodes run `spec`'s [`Machine`] itself (not a
//! copy); the network, Byzantine voters, timers and crashes are nondeterministic
//! actions (consensus.md §(c), "Fault and adversary models").
//!
//! The host logic mirrors `spec::sim`: own votes are fed back as `Input::Vote`,
//! `ValidateBlock` is answered synchronously with `BlockValidated { valid: true }`
//! (A and B are valid blocks), `Persist` keeps the latest journal, and `Commit` ends
//! the height for that node (it stops; messages to it are discarded).
//!
//! Cert votes are kept with `spec::driver::certvotes::CertVotes`, the driver's own
//! store, and every decision is assembled into a certificate with
//! `spec::certificate::assemble` (S11); `--mutate cert-votes-by-voter` swaps in
//! the consensus host's former store to show the checker catches it.
//!
//! State size: machines, journals and the observations sit behind `Arc`s that
//! carry their content hash ([`Hashed`]), so a transition clones and rehashes only
//! what it changes; the network is a sorted multiset of
//! small `Copy` messages; nothing order-dependent is stored.

use crate::config::{Config, Val};
use crate::hashed::Hashed;
use crate::props;
use crate::symmetry::Classes;
use spec::auth::EMPTY_CREDENTIAL;
use spec::certificate::assemble;
use spec::codec::{FsSignature, ProposalMsg, VoteMsg};
use spec::driver::certvotes::CertVotes;
use spec::invariants::{Decision, Observations, RoundEntry};
use spec::machine::{HeightStart, Input, Journal, Machine, Output, ProposeKind};
use spec::params::{Params, Thresholds};
use spec::types::{Hrs, MinerId, Step, Value};
use stateright::{Model, Property};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Block A's header hash.
pub const VALUE_A: Value = Value([0xaa; 32]);
/// Block B's header hash.
pub const VALUE_B: Value = Value([0xbb; 32]);
/// The height being agreed on.
pub const HEIGHT: u64 = 1;

/// What a message carries.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum Payload {
    /// A vote of the sender at (round, step).
    Vote {
        /// Round.
        round: u8,
        /// Step.
        step: u8,
        /// Value.
        val: Val,
    },
    /// A leader proposal of the sender for a round.
    Proposal {
        /// Round.
        round: u8,
        /// Value.
        val: Val,
    },
}

/// A message in flight from one honest node to another.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Msg {
    /// Recipient.
    pub to: u8,
    /// Sender.
    pub from: u8,
    /// Content.
    pub payload: Payload,
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
    /// Byzantine node `from` sends a vote for (round, step, val) to node `to`.
    Byzantine {
        /// Byzantine sender.
        from: u8,
        /// Honest recipient.
        to: u8,
        /// Round.
        round: u8,
        /// Step.
        step: u8,
        /// Value.
        val: Val,
    },
    /// Crash node i (it loses everything but its last persisted journal).
    Crash(u8),
    /// Restart node i from its journal (`Machine::restore`).
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
            Payload::Proposal { round, val } => {
                write!(f, "proposal M{} r{round} {val}", m.from)
            }
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
            Action::Byzantine {
                from,
                to,
                round,
                step,
                val,
            } => write!(
                f,
                "n{to} <- vote M{from} r{round} {} {val} (byzantine)",
                step_name(*step)
            ),
            Action::Crash(i) => write!(f, "n{i} crash"),
            Action::Restart(i) => write!(f, "n{i} restart from journal"),
        }
    }
}

/// One honest node: its machine (None while crashed), its latest persisted journal,
/// its pending timer, and its crash count.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Node {
    /// The machine, or `None` while crashed.
    pub machine: Option<Hashed<Machine>>,
    /// The latest `Output::Persist` journal.
    pub journal: Option<Hashed<Journal>>,
    /// The last timer set (the machine ignores stale ones).
    pub timer: Option<Hrs>,
    /// Crashes so far.
    pub crashes: u8,
    /// Position at the time of the crash (for S9 across restarts), while crashed.
    pub crashed_at: Option<Hrs>,
    /// The signed cert votes kept for certificates (lost in a crash); shared
    /// between states until a cert vote is kept.
    pub cert_votes: Hashed<CertStore>,
}

/// Where a node keeps the cert votes its certificates are assembled from.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum CertStore {
    /// As `spec::driver` keeps them: under their value, once counted.
    ByValue(CertVotes),
    /// The mutation `cert-votes-by-voter`: the first cert vote per (round,
    /// voter), whatever its value, kept before the machine sees it.
    ByVoter(BTreeMap<(u32, MinerId), Value>),
}

impl CertStore {
    fn new(by_voter: bool) -> Self {
        if by_voter {
            CertStore::ByVoter(BTreeMap::new())
        } else {
            CertStore::ByValue(CertVotes::default())
        }
    }

    /// The cert vote of `voter` for `value` in `round`, as kept.
    fn vote(&self, round: u32, value: Value, voter: MinerId) -> Option<VoteMsg> {
        match self {
            CertStore::ByValue(c) => c.get(round, value, &voter),
            CertStore::ByVoter(m) => m
                .get(&(round, voter))
                .map(|v| model_vote(voter, Hrs::new(HEIGHT, round, Step::CERT), *v)),
        }
    }

    /// Whether no cert vote is kept.
    pub fn is_empty(&self) -> bool {
        match self {
            CertStore::ByValue(c) => c.is_empty(),
            CertStore::ByVoter(m) => m.is_empty(),
        }
    }

    /// The same store with every voter renamed (symmetry reduction).
    pub fn renamed(&self, rename: &impl Fn(MinerId) -> MinerId) -> CertStore {
        match self {
            CertStore::ByValue(c) => CertStore::ByValue(c.renamed(rename)),
            CertStore::ByVoter(m) => CertStore::ByVoter(
                m.iter()
                    .map(|((r, id), v)| ((*r, rename(*id)), *v))
                    .collect(),
            ),
        }
    }
}

/// The proposal a model certificate carries (only its height and value are
/// checked when assembling).
fn model_proposal(height: u64, round: u32, value: Value) -> ProposalMsg {
    let v = model_vote(
        MinerId::from_index(0),
        Hrs::new(height, round, Step::PROPOSAL),
        value,
    );
    ProposalMsg {
        height,
        round,
        value,
        proposer: v.voter,
        credential: EMPTY_CREDENTIAL,
        seed: EMPTY_CREDENTIAL,
        signature: v.signature,
    }
}

/// A vote as the model's hosts keep it: signatures are not modelled.
fn model_vote(voter: MinerId, hrs: Hrs, value: Value) -> VoteMsg {
    VoteMsg {
        height: hrs.height,
        round: hrs.round,
        step: hrs.step,
        value,
        voter,
        credential: EMPTY_CREDENTIAL,
        signature: FsSignature {
            sub_key: [0; 32],
            sub_key_sig: [0; 64],
            sig: [0; 64],
        },
    }
}

impl Node {
    /// The decision of this node, if any.
    pub fn decided(&self) -> Option<(u32, Value)> {
        self.machine.as_ref().and_then(|m| m.decided())
    }
}

/// The model state.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct State {
    /// Honest nodes by index; `None` for Byzantine slots.
    pub nodes: Vec<Option<Node>>,
    /// In-flight messages with their multiplicity, sorted.
    pub net: Vec<(Msg, u8)>,
    /// Votes left per Byzantine node (indexed like `nodes`; 0 for honest).
    pub budget: Vec<u8>,
    /// Early timer firings left (`Config::early_timers`).
    pub early: u8,
    /// What was observed (spec::invariants), fed from the machines' outputs.
    pub obs: Hashed<Observations>,
    /// Safety properties currently violated (bit per property, props::SAFETY order),
    /// recomputed whenever `obs` changes; a function of `obs`.
    pub violated: u16,
    /// The configuration's symmetry classes (constant; see [`crate::symmetry`]).
    pub classes: Classes,
    /// Some node decided a value it cannot certify (S11).
    pub uncertifiable: bool,
}

/// The BA* model of one configuration.
pub struct BaModel {
    /// The configuration.
    pub cfg: Config,
    params: Params,
    thresholds: Thresholds,
    empty: Value,
    /// Set when the run's time limit passes: every further state is then out of
    /// bounds, which ends the search (stateright's own timeout is not checked by
    /// a single-threaded DFS).
    stop: Arc<AtomicBool>,
}

impl BaModel {
    /// A model of `cfg`.
    pub fn new(cfg: Config) -> Self {
        let params = cfg.params();
        let thresholds = cfg.thresholds();
        BaModel {
            cfg,
            params,
            thresholds,
            empty: Value::empty(Value::default(), HEIGHT),
            stop: Arc::new(AtomicBool::new(false)),
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

    /// A model value as a protocol value.
    pub fn value(&self, v: Val) -> Value {
        match v {
            Val::A => VALUE_A,
            Val::B => VALUE_B,
            Val::E => self.empty,
        }
    }

    /// A protocol value as a model value. Machines only ever see A, B and ⊥.
    pub fn val(&self, v: Value) -> Val {
        if v == VALUE_A {
            Val::A
        } else if v == VALUE_B {
            Val::B
        } else if v == self.empty {
            Val::E
        } else {
            panic!("machine produced a value outside the model's scope: {v:?}")
        }
    }

    fn id(i: usize) -> MinerId {
        MinerId::from_index(i as u8)
    }

    fn weight(&self, i: usize) -> u64 {
        self.cfg.weights[i]
    }

    /// Whether node `i`'s machine may still act (alive and undecided).
    fn active(state: &State, i: usize) -> bool {
        matches!(&state.nodes[i], Some(n) if n.machine.as_ref().is_some_and(|m| m.decided().is_none()))
    }

    fn send(&self, state: &mut State, from: usize, payload: Payload) {
        for to in self.cfg.honest() {
            if to == from || !Self::recipient_open(state, to) {
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

    /// Messages to a node that decided are never useful: it has stopped.
    fn recipient_open(state: &State, to: usize) -> bool {
        matches!(&state.nodes[to], Some(n) if n.decided().is_none())
    }

    fn obs_mut(state: &mut State) -> &mut Observations {
        // Rehashed once per transition, at the end of `next_state`.
        state.obs.make_mut_stale()
    }

    /// Steps node `i`'s machine with `input` and carries out every output, the
    /// way a host does (see `spec::sim`).
    fn apply(&self, state: &mut State, i: usize, input: Input) {
        self.apply_inputs(state, i, input);
        if let Some(Some(m)) = state.nodes[i].as_mut().map(|n| n.machine.as_mut()) {
            m.rehash();
        }
    }

    /// [`BaModel::apply`] without the final rehash of the machine.
    fn apply_inputs(&self, state: &mut State, i: usize, input: Input) {
        let mut inputs = vec![input];
        while let Some(input) = inputs.pop() {
            let Some(node) = state.nodes[i].as_mut() else {
                return;
            };
            let Some(machine) = node.machine.as_mut() else {
                return;
            };
            let m = machine.make_mut_stale();
            let cert_vote = match input {
                Input::Vote {
                    voter, hrs, value, ..
                } if hrs.step == Step::CERT => Some(model_vote(voter, hrs, value)),
                _ => None,
            };
            if let (Some(v), CertStore::ByVoter(kept)) = (&cert_vote, &*node.cert_votes)
                && !kept.contains_key(&(v.round, v.voter))
            {
                node.cert_votes.update(|c| {
                    if let CertStore::ByVoter(kept) = c {
                        kept.insert((v.round, v.voter), v.value);
                    }
                });
            }
            let before = m.position();
            let outputs = m.step(0, input);
            if let (Some(v), CertStore::ByValue(kept)) = (&cert_vote, &*node.cert_votes)
                && kept.get(v.round, v.value, &v.voter).is_none()
                && m.seen(v.voter, Hrs::new(v.height, v.round, v.step), v.value)
            {
                node.cert_votes.update(|c| {
                    if let CertStore::ByValue(kept) = c {
                        kept.keep_counted(m, v);
                    }
                });
            }
            let after = m.position();
            let entry = RoundEntry {
                node: Self::id(i),
                height: HEIGHT,
                round: after.map(|p| p.round).unwrap_or(0),
                starting: m.starting_value(),
                empty: m.empty_value(),
            };
            self.observe_move(state, i, before, after, entry);
            for out in outputs {
                self.output(state, i, out, &mut inputs);
            }
        }
    }

    fn observe_move(
        &self,
        state: &mut State,
        i: usize,
        before: Option<Hrs>,
        after: Option<Hrs>,
        entry: RoundEntry,
    ) {
        let Some(after) = after else { return };
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

    fn output(&self, state: &mut State, i: usize, out: Output, inputs: &mut Vec<Input>) {
        match out {
            Output::Persist(j) => {
                if let Some(n) = state.nodes[i].as_mut() {
                    n.journal = Some(Hashed::new(j));
                }
            }
            Output::Evidence(_) => {}
            Output::SetTimer { hrs, .. } => {
                if let Some(n) = state.nodes[i].as_mut() {
                    n.timer = Some(hrs);
                }
            }
            Output::ValidateBlock { height, value } => inputs.push(Input::BlockValidated {
                height,
                value,
                valid: value == VALUE_A || value == VALUE_B,
            }),
            Output::Commit {
                height,
                round,
                value,
                voters,
            } => {
                if let Some(n) = state.nodes[i].as_ref() {
                    let proposal = model_proposal(height, round, value);
                    let cert = assemble(height, round, value, proposal, &voters, |id| {
                        n.cert_votes.vote(round, value, *id)
                    });
                    if cert.is_err() {
                        state.uncertifiable = true;
                    }
                }
                Self::obs_mut(state).decide(Decision {
                    node: Self::id(i),
                    height,
                    round,
                    value,
                    voters,
                });
                // The node stops at height 1: drop its timer and its inbox.
                if let Some(n) = state.nodes[i].as_mut() {
                    n.timer = None;
                }
                state.net.retain(|(m, _)| usize::from(m.to) != i);
            }
            Output::Propose { round, kind, .. } => {
                let Some(p) = self.cfg.proposer(i) else {
                    return;
                };
                if round > self.cfg.max_round {
                    return;
                }
                let value = match kind {
                    ProposeKind::NewBlock => self.value(p.value),
                    ProposeKind::Repropose(v) => v,
                };
                let payload = Payload::Proposal {
                    round: round as u8,
                    val: self.val(value),
                };
                self.send(state, i, payload);
                inputs.push(Input::Proposal {
                    height: HEIGHT,
                    round,
                    value,
                    proposer: Self::id(i),
                    priority: [p.priority; 32],
                });
            }
            Output::Vote { hrs, value } => {
                let weight = self.weight(i);
                let sent = spec::invariants::SentVote {
                    hrs,
                    value,
                    voter: Self::id(i),
                    weight,
                    honest: true,
                };
                if !state.obs.votes.contains(&sent) {
                    Self::obs_mut(state).vote(Self::id(i), true, hrs, value, weight);
                }
                let payload = Payload::Vote {
                    round: hrs.round as u8,
                    step: hrs.step.0 as u8,
                    val: self.val(value),
                };
                self.send(state, i, payload);
                inputs.push(Input::Vote {
                    voter: Self::id(i),
                    hrs,
                    value,
                    weight,
                });
            }
        }
    }

    fn input_of(&self, m: &Msg) -> Input {
        match m.payload {
            Payload::Vote { round, step, val } => Input::Vote {
                voter: Self::id(usize::from(m.from)),
                hrs: Hrs::new(HEIGHT, u32::from(round), Step(u32::from(step))),
                value: self.value(val),
                weight: self.weight(usize::from(m.from)),
            },
            Payload::Proposal { round, val } => Input::Proposal {
                height: HEIGHT,
                round: u32::from(round),
                value: self.value(val),
                proposer: Self::id(usize::from(m.from)),
                priority: [self
                    .cfg
                    .proposer(usize::from(m.from))
                    .map(|p| p.priority)
                    .unwrap_or(u8::MAX); 32],
            },
        }
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
                        machine: Some(Hashed::new(Machine::new(self.params))),
                        journal: None,
                        timer: None,
                        crashes: 0,
                        crashed_at: None,
                        cert_votes: Hashed::new(CertStore::new(self.cfg.cert_votes_by_voter)),
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
        };
        let start = HeightStart {
            height: HEIGHT,
            parent: Value::default(),
            thresholds: self.thresholds,
        };
        for i in self.cfg.honest().collect::<Vec<_>>() {
            self.apply(&mut state, i, Input::NewHeight(start));
        }
        self.recompute_violations(&mut state);
        state.obs.rehash();
        vec![state]
    }

    fn actions(&self, state: &State, actions: &mut Vec<Action>) {
        // Deliveries and losses; a crashed recipient cannot receive.
        for (msg, _) in &state.net {
            let to = usize::from(msg.to);
            if Self::active(state, to) {
                if self.cfg.duplicating
                    && let Payload::Vote { round, step, val } = msg.payload
                    && let Some(Some(m)) = state.nodes[to].as_ref().map(|n| n.machine.as_ref())
                    && m.seen(
                        Self::id(usize::from(msg.from)),
                        Hrs::new(HEIGHT, u32::from(round), Step(u32::from(step))),
                        self.value(val),
                    )
                {
                    // Re-delivering a counted vote is a no-op for the machine.
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
            .filter_map(|i| state.nodes[i].as_ref()?.machine.as_ref()?.position())
            .min();
        for i in self.cfg.honest() {
            let Some(node) = state.nodes[i].as_ref() else {
                continue;
            };
            if let Some(m) = node.machine.as_ref()
                && m.decided().is_none()
                && let Some(t) = node.timer
                && m.position() == Some(t)
                && self.timer_in_scope(t)
            {
                if !self.cfg.synchronous || (quiet && slowest.is_none_or(|p| p >= t)) {
                    actions.push(Action::Timer(i as u8));
                } else if state.early > 0 {
                    actions.push(Action::EarlyTimer(i as u8));
                }
            }
        }
        // The adversary: any in-scope vote to any active honest node.
        for b in self.cfg.byzantine.iter().copied() {
            if state.budget[b] == 0 {
                continue;
            }
            for to in self.cfg.honest() {
                let Some(Some(m)) = state.nodes[to].as_ref().map(|n| n.machine.as_ref()) else {
                    continue;
                };
                if m.decided().is_some() {
                    continue;
                }
                for round in 1..=self.cfg.max_round {
                    for step in 2..=self.cfg.max_step_in(round) {
                        // ⊥ only in next votes (the machine drops soft and cert
                        // votes for the empty value), and in cert votes where
                        // the configuration tests what hosts keep of them.
                        let empty_ok = step >= 4 || (step == 3 && self.cfg.byz_empty_cert);
                        let vals = self
                            .cfg
                            .byz_values
                            .iter()
                            .copied()
                            .filter(|v| empty_ok || *v != Val::E);
                        for val in vals {
                            let hrs = Hrs::new(HEIGHT, round, Step(step));
                            if m.seen(Self::id(b), hrs, self.value(val)) {
                                continue;
                            }
                            actions.push(Action::Byzantine {
                                from: b as u8,
                                to: to as u8,
                                round: round as u8,
                                step: step as u8,
                                val,
                            });
                        }
                    }
                }
            }
        }
        // Crash and restart.
        for i in self.cfg.honest() {
            let Some(node) = state.nodes[i].as_ref() else {
                continue;
            };
            match &node.machine {
                Some(m)
                    if m.decided().is_none()
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
                let input = self.input_of(&msg);
                self.apply(&mut state, usize::from(msg.to), input);
            }
            Action::Drop(msg) => remove_msg(&mut state.net, &msg),
            Action::Timer(i) | Action::EarlyTimer(i) => {
                if matches!(action, Action::EarlyTimer(_)) {
                    state.early = state.early.checked_sub(1)?;
                }
                let i = usize::from(i);
                let hrs = state.nodes[i].as_ref()?.timer?;
                self.apply(&mut state, i, Input::Timeout(hrs));
            }
            Action::Byzantine {
                from,
                to,
                round,
                step,
                val,
            } => {
                let b = usize::from(from);
                state.budget[b] = state.budget[b].saturating_sub(1);
                let hrs = Hrs::new(HEIGHT, u32::from(round), Step(u32::from(step)));
                let value = self.value(val);
                let weight = self.weight(b);
                Self::obs_mut(&mut state).vote(Self::id(b), false, hrs, value, weight);
                self.apply(
                    &mut state,
                    usize::from(to),
                    Input::Vote {
                        voter: Self::id(b),
                        hrs,
                        value,
                        weight,
                    },
                );
            }
            Action::Crash(i) => {
                let node = state.nodes[usize::from(i)].as_mut()?;
                node.crashed_at = node.machine.as_ref().and_then(|m| m.position());
                node.machine = None;
                node.timer = None;
                node.crashes += 1;
                node.cert_votes = Hashed::new(CertStore::new(self.cfg.cert_votes_by_voter));
            }
            Action::Restart(i) => {
                let i = usize::from(i);
                let node = state.nodes[i].as_mut()?;
                let before = node.crashed_at.take();
                let (m, outputs) = match node.journal.as_deref() {
                    Some(j) => Machine::restore(self.params, j, 0),
                    None => (Machine::new(self.params), Vec::new()),
                };
                let after = m.position();
                let entry = RoundEntry {
                    node: Self::id(i),
                    height: HEIGHT,
                    round: after.map(|p| p.round).unwrap_or(0),
                    starting: m.starting_value(),
                    empty: m.empty_value(),
                };
                node.machine = Some(Hashed::new(m));
                self.observe_move(&mut state, i, before, after, entry);
                let mut inputs = Vec::new();
                for out in outputs {
                    self.output(&mut state, i, out, &mut inputs);
                }
                while let Some(input) = inputs.pop() {
                    self.apply(&mut state, i, input);
                }
            }
        }
        if !Hashed::ptr_eq(&obs_before, &state.obs) {
            state.obs.rehash();
            self.recompute_violations(&mut state);
        }
        if self.cfg.duplicating && matches!(action, Action::Deliver(_)) && state == *last {
            // Re-delivering a copy changed nothing.
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
            n.machine
                .as_ref()
                .and_then(|m| m.position())
                .is_none_or(|p| {
                    p.height == HEIGHT
                        && (p.round <= self.cfg.max_round
                            && p.step.0 <= self.cfg.max_step_in(p.round) + 1
                            || p.round == self.cfg.max_round + 1 && p.step == Step::PROPOSAL)
                })
        })
    }
}
