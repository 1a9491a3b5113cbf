//! A cluster of consensus [`Driver`]s hosted in one process, with mock
//! cryptography ([`MockSuite`], [`MockMinerKeys::mock`]) and [`PlainBlocks`]: the
//! host side of every driver that [`crate::sim`], [`crate::schedule`] and the
//! driver tests share. It carries out each driver's effects the way the node's
//! consensus host does, and observes what happened for [`crate::invariants`].
//!
//! What it owns:
//! - the committee: one fixed roster of every member's mock keys, stake from
//!   the configured weights; each height's seed is the committed block's seed
//!   (Kaleido §4.4), so proposer sortition changes with every height;
//! - execution: [`Effect::Build`] makes a [`PlainBlock`] from the build order,
//!   [`Effect::Validate`] checks the body against its header
//!   ([`BlockFormat::body_matches_header`]); both answers are handed to the
//!   scheduler ([`Out`]), which decides when they arrive;
//! - commits: [`Effect::Commit`] is carried out at once (the block store holds
//!   every block built) and answered with [`Event::Committed`]; a certificate
//!   received from a peer is verified with
//!   [`crate::certificate::verify_certificate`] against the block's header and
//!   committed the same way (catch-up sync, Kaleido §4.12);
//! - observation: every member's position change, round entry, honest vote sent
//!   (decoded from its own [`Topic::Votes`] broadcast), vote signed for an
//!   adversary, and decision (from the certificate), kept per height;
//!   [`Cluster::check`] runs the invariants on the heights touched since the
//!   last check.
//!
//! A scheduler owns the network and the clock: it delivers what [`Out`] asks
//! to send, fires timers at [`Driver::next_deadline`], and answers builds and
//! validations. An honest driver reporting evidence against an honest voter,
//! or deciding a value it cannot certify, is a violation (S3, S10).
//!
//! Observation granularity: positions are read before and after each event a
//! driver handles, so a driver that passes through several rounds within one
//! event is seen entering only the last of them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use sha2::{Digest, Sha512_256};

use crate::auth::{BlockClaims, MinerRecord, MockMinerKeys, RealMinerKeys, authenticate_vote};
use crate::certificate::{CertContext, verify_certificate};
use crate::codec::WireMessage;
use crate::driver::block::{BlockFormat, PlainBlock, PlainBlocks};
use crate::driver::{
    BuildOrder, Driver, DriverError, Effect, Event, Head, Inbound, MockSuite, RealSuite, Resume,
    Suite, SuiteKeys, Topic, WireError,
};
use crate::invariants::{Decision, Observations, RoundEntry, Violation};
use crate::monitor::Monitor;
use crate::params::{Params, Thresholds};
use crate::roster::Roster;
use crate::sortition::derive_seed;
use crate::types::{Height, Hrs, MinerId, Round, Step, Value};

/// The driver every member runs, with the cryptography of suite `C`.
pub type NodeDriver<C = MockSuite> = Driver<PlainBlocks, C, SuiteKeys<C>>;

/// A cryptography suite a cluster can run: how member `i`'s keys are made.
pub trait ClusterSuite: Suite + Copy + Default {
    /// Member `i`'s keys on chain `chain_id`; the same keys every call.
    fn member_keys(chain_id: u64, i: usize) -> SuiteKeys<Self>;
}

impl ClusterSuite for MockSuite {
    /// [`MockMinerKeys::mock`]; members past 255 share the last mock identity,
    /// so a cluster has at most 256 members.
    fn member_keys(chain_id: u64, i: usize) -> MockMinerKeys {
        MockMinerKeys::mock(chain_id, u8::try_from(i).unwrap_or(u8::MAX))
    }
}

impl ClusterSuite for RealSuite {
    /// schnorrkel VRF and forward-secure ed25519 keys from a seed of `i`,
    /// covering heights 0..10 000 (the identity is the mock one of `i`).
    fn member_keys(chain_id: u64, i: usize) -> RealMinerKeys {
        use rand_chacha::ChaCha20Rng;
        use rand_core::SeedableRng;
        let id = MockSuite::member_keys(chain_id, i).id;
        let mut rng = ChaCha20Rng::seed_from_u64(0x6b61_6c67_6f00_0000 ^ i as u64);
        let lifespan = crate::params::Params::new_chain(chain_id).lifespan;
        match RealMinerKeys::generate(&mut rng, id, chain_id, 0, 10_000, lifespan) {
            Ok(keys) => keys,
            // Key generation fails only for an empty or overflowing height
            // range, which the constants above rule out.
            Err(e) => unreachable!("real key generation: {e}"),
        }
    }
}

/// The parent of height 1.
pub const GENESIS: Value = Value([0; 32]);
/// The seed of genesis: sortition's input at height 1.
pub const GENESIS_SEED: [u8; 32] = [0x5e; 32];

/// What a member of the cluster is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Role {
    /// Runs a driver and follows the protocol: its votes and decisions are
    /// observed as honest.
    Honest,
    /// Runs a driver (for its clock and its view of the chain) whose own
    /// messages the scheduler replaces: nothing it sends is observed as honest.
    Byzantine,
    /// Runs no driver; its keys may still sign for an adversary.
    Absent,
}

/// What a member's host must hand to the scheduler.
#[derive(Debug)]
pub enum Out {
    /// The member's own message, for every other member.
    Broadcast(Topic, Vec<u8>),
    /// An inbound message that passed every check: gossip relays it.
    Accepted(Topic, Vec<u8>),
    /// An inbound message held until it can be used (the next height's, or a
    /// block waiting for its proposal): the node's gossip does not relay it.
    Held(Topic, Vec<u8>),
    /// Execution must build; answer with [`Cluster::built`].
    Build(BuildOrder),
    /// Execution's verdict on a block; deliver it with [`Cluster::validated`].
    Validate(Value, bool),
    /// The member committed `height`: the certificate sync serves to peers.
    Committed(Height, Vec<u8>),
}

/// How [`Cluster::check`] checks the invariants.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum Checking {
    /// The full recount of [`Observations::check`] on every height touched
    /// since the last check (cost grows with what the height has seen).
    #[default]
    Recount,
    /// The incremental [`Monitor`] (cost per observation independent of the
    /// number of votes seen).
    Incremental,
    /// Both; a disagreement between them is reported as a violation.
    Both,
}

/// What stops a run.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RunError {
    /// A safety invariant broke.
    #[error("{0}")]
    Violation(Violation),
    /// A driver refused an event.
    #[error("driver of node {node}: {error}")]
    Driver {
        /// Index of the member whose driver failed.
        node: usize,
        /// The error its driver returned.
        error: DriverError,
    },
}

impl From<Violation> for RunError {
    fn from(v: Violation) -> Self {
        RunError::Violation(v)
    }
}

struct Member<C: Suite> {
    role: Role,
    id: MinerId,
    /// The same keys the driver holds, for an adversary's own signatures.
    keys: SuiteKeys<C>,
    driver: Option<NodeDriver<C>>,
    committed: Vec<Value>,
    /// Certificates received for heights this member has not reached.
    certificates: BTreeMap<Height, Vec<u8>>,
}

/// N drivers and their host, with the cryptography of suite `C` (mock unless
/// chosen otherwise).
pub struct Cluster<C: ClusterSuite = MockSuite> {
    suite: C,
    params: Params,
    thresholds: Thresholds,
    members: Vec<Member<C>>,
    index: BTreeMap<MinerId, usize>,
    miners: BTreeMap<MinerId, MinerRecord>,
    total_stake: u128,
    /// Every block built, honestly or by an adversary: what sync fetches.
    blocks: BTreeMap<Value, PlainBlock>,
    checking: Checking,
    /// The recount's observations (kept unless checking is incremental).
    obs: BTreeMap<Height, Observations>,
    monotonic: Observations,
    monitor: Monitor,
    touched: BTreeSet<Height>,
    trace: Sha512_256,
    /// Cert votes of the certificates synced from peers that were checked
    /// (see [`Cluster::votes_verified`]).
    certificate_votes_verified: u64,
}

impl Cluster<MockSuite> {
    /// A cluster of `roles.len()` members of chain `params.chain_id` with mock
    /// cryptography; member `i` has the keys [`MockMinerKeys::mock`]`(chain, i)`
    /// and stake `weights[i]`. Nothing runs until [`Cluster::start`].
    pub fn new(params: Params, weights: &[u64], roles: &[Role]) -> Self {
        Self::with_suite(params, weights, roles)
    }
}

impl<C: ClusterSuite> Cluster<C> {
    /// A cluster like [`Cluster::new`] whose members sign and verify with suite
    /// `C`; member `i` has the keys [`ClusterSuite::member_keys`]`(chain, i)`.
    pub fn with_suite(params: Params, weights: &[u64], roles: &[Role]) -> Self {
        let mut members = Vec::new();
        let mut miners = BTreeMap::new();
        let mut index = BTreeMap::new();
        let mut total_stake = 0u128;
        for (i, (&weight, &role)) in weights.iter().zip(roles).enumerate() {
            let keys = C::member_keys(params.chain_id, i);
            miners.insert(keys.id, keys.record(u128::from(weight)));
            index.insert(keys.id, i);
            total_stake += u128::from(weight);
            let driver = (role != Role::Absent).then(|| {
                Driver::new(
                    params,
                    C::default(),
                    Some(C::member_keys(params.chain_id, i)),
                )
            });
            members.push(Member {
                role,
                id: keys.id,
                keys,
                driver,
                committed: Vec::new(),
                certificates: BTreeMap::new(),
            });
        }
        let thresholds = params.stake_thresholds();
        Cluster {
            suite: C::default(),
            params,
            thresholds,
            members,
            index,
            miners,
            total_stake,
            blocks: BTreeMap::new(),
            checking: Checking::default(),
            obs: BTreeMap::new(),
            monotonic: Observations::new(thresholds),
            monitor: Monitor::new(thresholds),
            touched: BTreeSet::new(),
            trace: Sha512_256::new(),
            certificate_votes_verified: 0,
        }
    }

    // ----- queries -------------------------------------------------------------

    /// How many members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Member `i`'s role.
    pub fn role(&self, i: usize) -> Role {
        self.members[i].role
    }

    /// Member `i`'s miner identity.
    pub fn id(&self, i: usize) -> MinerId {
        self.members[i].id
    }

    /// Votes authenticated by every member: the inbound votes of each driver
    /// ([`Driver::votes_verified`]) and the cert votes of the certificates
    /// checked on catch-up.
    pub fn votes_verified(&self) -> u64 {
        self.members
            .iter()
            .filter_map(|m| m.driver.as_ref())
            .map(Driver::votes_verified)
            .fold(self.certificate_votes_verified, u64::saturating_add)
    }

    /// Member `i`'s driver, unless it is [`Role::Absent`].
    pub fn driver(&self, i: usize) -> Option<&NodeDriver<C>> {
        self.members[i].driver.as_ref()
    }

    /// The values member `i` committed, by height (index 0 = height 1).
    pub fn committed(&self, i: usize) -> &[Value] {
        &self.members[i].committed
    }

    /// The committee of the height after the block of `value` (genesis: height 1).
    pub fn roster_after(&self, value: Value) -> Roster {
        let seed = self
            .blocks
            .get(&value)
            .map_or(GENESIS_SEED, |b| b.header.seed);
        Roster {
            miners: self.miners.clone(),
            coinbases: BTreeMap::new(),
            total_stake: self.total_stake,
            seed,
        }
    }

    /// A block built in this cluster.
    pub fn block(&self, value: &Value) -> Option<&PlainBlock> {
        self.blocks.get(value)
    }

    /// The values of the blocks built for `height` on `parent`.
    pub fn values_at(&self, height: Height, parent: Value) -> Vec<Value> {
        self.blocks
            .iter()
            .filter(|(_, b)| b.header.height == height && Value(b.header.parent) == parent)
            .map(|(v, _)| *v)
            .collect()
    }

    /// A hash of every effect of every driver, in order (the trace of a run).
    pub fn trace_hash(&self) -> [u8; 32] {
        self.trace.clone().finalize().into()
    }

    // ----- the invariants ------------------------------------------------------

    /// Chooses how [`Cluster::check`] checks the invariants (before the run).
    pub fn set_checking(&mut self, checking: Checking) {
        self.checking = checking;
    }

    fn recounts(&self) -> bool {
        self.checking != Checking::Incremental
    }

    /// Runs every invariant: the recount on the heights touched since the last
    /// check, and/or the incremental monitor (see [`Checking`]).
    pub fn check(&mut self) -> Result<(), Violation> {
        let touched = std::mem::take(&mut self.touched);
        let incremental = match self.checking {
            Checking::Recount => Ok(()),
            Checking::Incremental | Checking::Both => self.monitor.check(),
        };
        let recount = match self.checking {
            Checking::Incremental => Ok(()),
            Checking::Recount | Checking::Both => self.monotonic.monotonic().and_then(|()| {
                touched
                    .iter()
                    .filter_map(|h| self.obs.get(h))
                    .try_for_each(Observations::check)
            }),
        };
        match (recount, incremental) {
            (Err(v), _) | (Ok(()), Err(v)) => Err(v),
            (Ok(()), Ok(())) => Ok(()),
        }
    }

    fn observe(&mut self, height: Height) -> Option<&mut Observations> {
        if !self.recounts() {
            return None;
        }
        self.touched.insert(height);
        let thresholds = self.thresholds;
        Some(
            self.obs
                .entry(height)
                .or_insert_with(|| Observations::new(thresholds)),
        )
    }

    /// Observes a vote signed by member `i` (its own broadcast, or an
    /// adversary's), with the weight its committee gives it.
    fn observe_vote(&mut self, i: usize, bytes: &[u8], roster: &Roster, honest: bool) {
        let Ok(WireMessage::Vote(v)) = WireMessage::decode(bytes) else {
            return;
        };
        let Some(rec) = roster.record(&v.voter) else {
            return;
        };
        let weight = authenticate_vote(
            self.suite.verifiers(),
            &self.params,
            &v,
            &rec,
            roster.total_stake,
            &roster.seed,
        )
        .unwrap_or(0);
        let hrs = Hrs::new(v.height, v.round, v.step);
        let id = self.members[i].id;
        self.monitor.vote(id, honest, hrs, v.value, weight);
        if let Some(o) = self.observe(v.height) {
            o.vote(id, honest, hrs, v.value, weight);
        }
    }

    fn is_honest(&self, id: &MinerId) -> bool {
        self.index
            .get(id)
            .is_some_and(|&i| self.members[i].role == Role::Honest)
    }

    // ----- the step ------------------------------------------------------------

    /// Hands `event` to member `i`'s driver and observes how its position moved.
    fn step(
        &mut self,
        i: usize,
        now: u64,
        event: Event<'_, PlainBlock>,
    ) -> Result<Vec<Effect<PlainBlock>>, RunError> {
        let m = &mut self.members[i];
        let Some(driver) = m.driver.as_mut() else {
            return Ok(Vec::new());
        };
        let before = driver.position();
        let effects = driver
            .handle(now, event)
            .map_err(|error| RunError::Driver { node: i, error })?;
        let machine = driver.machine();
        let Some(after) = machine.position() else {
            return Ok(effects);
        };
        let (id, honest) = (m.id, m.role == Role::Honest);
        let entry = RoundEntry {
            node: id,
            height: after.height,
            round: after.round,
            starting: machine.starting_value(),
            empty: machine.empty_value(),
        };
        if let Some(before) = before {
            self.monotonic.moved(id, before, after);
            self.monitor.moved(id, before, after);
        }
        if honest && before.is_none_or(|b| (b.height, b.round) != (after.height, after.round)) {
            self.monitor.enter(entry);
            if let Some(o) = self.observe(after.height) {
                o.enter(entry);
            }
        }
        Ok(effects)
    }

    /// Starts member `i` on genesis.
    pub fn start(&mut self, i: usize, now: u64) -> Result<Vec<Out>, RunError> {
        let head = Head {
            parent: GENESIS,
            number: 0,
            roster: self.roster_after(GENESIS),
            own_slots: Vec::new(),
        };
        let effects = self.step(i, now, Event::Start(head, Resume::default()))?;
        self.finish(i, now, effects, Vec::new())
    }

    /// Delivers one message from `source` to member `i`; an accepted message
    /// comes back as [`Out::Accepted`].
    pub fn deliver(
        &mut self,
        i: usize,
        now: u64,
        topic: Topic,
        bytes: &[u8],
        source: u64,
    ) -> Result<Vec<Out>, RunError> {
        let msgs = [Inbound {
            topic,
            bytes,
            source,
        }];
        let effects = self.step(i, now, Event::Wire(&msgs))?;
        let mut out = Vec::new();
        for e in &effects {
            match e {
                Effect::Verdict {
                    verdict: Ok(()), ..
                } => out.push(Out::Accepted(topic, bytes.to_vec())),
                Effect::Verdict {
                    verdict: Err(WireError::Buffered),
                    ..
                } => out.push(Out::Held(topic, bytes.to_vec())),
                _ => {}
            }
        }
        self.finish(i, now, effects, out)
    }

    /// Member `i`'s clock reached its next deadline.
    pub fn tick(&mut self, i: usize, now: u64) -> Result<Vec<Out>, RunError> {
        let effects = self.step(i, now, Event::Tick)?;
        self.finish(i, now, effects, Vec::new())
    }

    /// Execution built what member `i` asked for in `order`: the block carries
    /// the order's claims and a body naming the member, height and round.
    pub fn built(&mut self, i: usize, now: u64, order: BuildOrder) -> Result<Vec<Out>, RunError> {
        let Some(parent) = self.driver(i).map(Driver::parent) else {
            return Ok(Vec::new());
        };
        let claims = BlockClaims {
            proposer: order.proposer,
            seed: order.seed,
            beneficiary: order.coinbase,
        };
        let body = format!("block {} {} {i}", order.height, order.round).into_bytes();
        let block = PlainBlock::new(order.height, parent, claims, body);
        self.blocks
            .insert(PlainBlocks::info(&block).value, block.clone());
        let event = Event::Built {
            height: order.height,
            round: order.round,
            block,
        };
        let effects = self.step(i, now, event)?;
        self.finish(i, now, effects, Vec::new())
    }

    /// Execution's verdict on the block of `value`, for member `i`.
    pub fn validated(
        &mut self,
        i: usize,
        now: u64,
        value: Value,
        valid: bool,
    ) -> Result<Vec<Out>, RunError> {
        let effects = self.step(i, now, Event::Validated { value, valid })?;
        self.finish(i, now, effects, Vec::new())
    }

    /// A certificate from a peer (catch-up sync): kept if it is for a later
    /// height, committed once it is for member `i`'s height and verifies
    /// against the block it names. Anything else is ignored.
    pub fn sync(&mut self, i: usize, now: u64, certificate: &[u8]) -> Result<Vec<Out>, RunError> {
        let Some(height) = self.driver(i).map(Driver::height) else {
            return Ok(Vec::new());
        };
        let Ok(WireMessage::Certificate(cert)) = WireMessage::decode(certificate) else {
            return Ok(Vec::new());
        };
        if cert.height > height {
            self.members[i]
                .certificates
                .entry(cert.height)
                .or_insert_with(|| certificate.to_vec());
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        if cert.height == height {
            self.apply_certificate(i, now, certificate, &mut out)?;
        }
        self.catch_up(i, now, &mut out)?;
        Ok(out)
    }

    // ----- an adversary's own messages -------------------------------------------

    /// Signs member `i`'s vote for `value` at `hrs` under `roster`'s committee,
    /// and observes it as sent by a Byzantine voter. `None` without a seat.
    pub fn byzantine_vote(
        &mut self,
        i: usize,
        hrs: Hrs,
        value: Value,
        roster: &Roster,
    ) -> Option<Vec<u8>> {
        let m = &self.members[i];
        let rec = roster.record(&m.id)?;
        let vote = m
            .keys
            .cast_vote(
                &self.params,
                hrs,
                value,
                &roster.seed,
                rec.stake,
                roster.total_stake,
            )
            .ok()
            .flatten()?;
        let bytes = WireMessage::Vote(vote).encode();
        self.observe_vote(i, &bytes, roster, false);
        Some(bytes)
    }

    /// Signs member `i`'s proposal of `value` in `round` of `height`; with its
    /// priority. `None` without a proposer seat.
    pub fn byzantine_proposal(
        &self,
        i: usize,
        height: Height,
        round: Round,
        value: Value,
        roster: &Roster,
    ) -> Option<(Vec<u8>, [u8; 32])> {
        let m = &self.members[i];
        let rec = roster.record(&m.id)?;
        let (msg, priority) = m
            .keys
            .propose(
                &self.params,
                height,
                round,
                value,
                &roster.seed,
                rec.stake,
                roster.total_stake,
            )
            .ok()
            .flatten()?;
        Some((WireMessage::Proposal(msg).encode(), priority))
    }

    /// A block of `height` on `parent` proposed by member `i` (the claims its
    /// proposal puts forward) with `body`; kept in the block store.
    pub fn byzantine_block(
        &mut self,
        i: usize,
        height: Height,
        parent: Value,
        roster: &Roster,
        body: Vec<u8>,
    ) -> PlainBlock {
        let m = &self.members[i];
        let (_, seed) = derive_seed(&m.keys.vrf, self.params.chain_id, height, &roster.seed);
        let claims = BlockClaims {
            proposer: m.id,
            seed,
            beneficiary: roster.reward_address(&m.id),
        };
        let block = PlainBlock::new(height, parent, claims, body);
        self.blocks
            .insert(PlainBlocks::info(&block).value, block.clone());
        block
    }

    // ----- carrying out effects --------------------------------------------------

    fn finish(
        &mut self,
        i: usize,
        now: u64,
        effects: Vec<Effect<PlainBlock>>,
        mut out: Vec<Out>,
    ) -> Result<Vec<Out>, RunError> {
        self.carry_out(i, now, effects, &mut out)?;
        self.catch_up(i, now, &mut out)?;
        Ok(out)
    }

    /// Carries out member `i`'s effects in order, as a host does.
    fn carry_out(
        &mut self,
        i: usize,
        now: u64,
        effects: Vec<Effect<PlainBlock>>,
        out: &mut Vec<Out>,
    ) -> Result<(), RunError> {
        let mut queue: VecDeque<_> = effects.into();
        while let Some(effect) = queue.pop_front() {
            self.trace(i, &effect);
            let honest = self.members[i].role == Role::Honest;
            match effect {
                Effect::Persist(_)
                | Effect::Verdict { .. }
                | Effect::Abstained { .. }
                | Effect::EquivocationProof(_) => {}
                Effect::Broadcast(topic, bytes) => {
                    if honest
                        && topic == Topic::Votes
                        && let Some(roster) = self.driver(i).map(|d| d.roster().clone())
                    {
                        self.observe_vote(i, &bytes, &roster, true);
                    }
                    out.push(Out::Broadcast(topic, bytes));
                }
                Effect::Build(order) => out.push(Out::Build(order)),
                Effect::Validate(block) => out.push(Out::Validate(
                    PlainBlocks::info(&block).value,
                    PlainBlocks::body_matches_header(&block),
                )),
                Effect::Commit {
                    value, certificate, ..
                } => {
                    queue.extend(self.commit(i, now, value, &certificate)?);
                    out.push(Out::Committed(
                        self.members[i].committed.len() as Height,
                        certificate,
                    ));
                }
                Effect::Evidence(e) => {
                    if self.is_honest(&e.voter) {
                        let height = self.driver(i).map_or(0, Driver::height);
                        return Err(Violation::HonestEquivocation {
                            node: e.voter,
                            hrs: Hrs::new(height, e.round, e.step),
                            values: (e.first, e.second),
                        }
                        .into());
                    }
                }
                Effect::CannotCertify {
                    height,
                    round,
                    error,
                } => {
                    // A Byzantine member never receives its own attack proposals:
                    // it is left to sync, as the driver intends.
                    if honest {
                        return Err(Violation::MalformedCertificate {
                            node: self.members[i].id,
                            height,
                            detail: format!("round {round}: cannot certify: {error}"),
                        }
                        .into());
                    }
                }
            }
        }
        Ok(())
    }

    /// Commits the block of `value` at member `i`'s height with `certificate`:
    /// an honest member's decision is observed with the certificate's voters.
    fn commit(
        &mut self,
        i: usize,
        now: u64,
        value: Value,
        certificate: &[u8],
    ) -> Result<Vec<Effect<PlainBlock>>, RunError> {
        let Some(height) = self.driver(i).map(Driver::height) else {
            return Ok(Vec::new());
        };
        let m = &self.members[i];
        let (id, honest) = (m.id, m.role == Role::Honest);
        let malformed = |detail: &str| Violation::MalformedCertificate {
            node: id,
            height,
            detail: detail.to_string(),
        };
        let Ok(WireMessage::Certificate(cert)) = WireMessage::decode(certificate) else {
            return Err(malformed("the certificate does not decode").into());
        };
        if cert.value != value || cert.height != height {
            return Err(malformed("the certificate is for another value or height").into());
        }
        if honest {
            let hrs = Hrs::new(height, cert.round, Step::CERT);
            let voters = cert
                .votes
                .iter()
                .map(|cv| {
                    let weight = self.monitor.weight_of(hrs, value, cv.voter).unwrap_or(0);
                    (cv.voter, weight)
                })
                .collect();
            let decision = Decision {
                node: id,
                height,
                round: cert.round,
                value,
                voters,
            };
            if let Some(o) = self.observe(height) {
                o.decide(decision.clone());
            }
            self.monitor.decide(decision);
        }
        self.members[i].committed.push(value);
        let head = Head {
            parent: value,
            number: height,
            roster: self.roster_after(value),
            own_slots: Vec::new(),
        };
        self.step(i, now, Event::Committed(head))
    }

    /// Commits a certificate of member `i`'s height that verifies against the
    /// header of the block it names.
    fn apply_certificate(
        &mut self,
        i: usize,
        now: u64,
        certificate: &[u8],
        out: &mut Vec<Out>,
    ) -> Result<(), RunError> {
        let Some(driver) = self.members[i].driver.as_ref() else {
            return Ok(());
        };
        let Ok(WireMessage::Certificate(cert)) = WireMessage::decode(certificate) else {
            return Ok(());
        };
        let Some(block) = self.blocks.get(&cert.value) else {
            return Ok(());
        };
        let info = PlainBlocks::info(block);
        if cert.height != driver.height() || info.parent != driver.parent() {
            return Ok(());
        }
        let roster = driver.roster();
        let ctx = CertContext {
            params: &self.params,
            header_height: info.height,
            header_hash: info.value,
            header_claims: info.claims,
            coinbase: roster.registered_coinbase(&info.claims.proposer),
            registry: |id: &MinerId| roster.record(id),
            total_stake: roster.total_stake,
            seed: &roster.seed,
            thresholds: self.thresholds,
        };
        self.certificate_votes_verified = self
            .certificate_votes_verified
            .saturating_add(cert.votes.len() as u64);
        if verify_certificate(self.suite.verifiers(), &cert, &ctx).is_err() {
            return Ok(());
        }
        let effects = self.commit(i, now, cert.value, certificate)?;
        out.push(Out::Committed(cert.height, certificate.to_vec()));
        self.carry_out(i, now, effects, out)
    }

    /// Applies certificates kept for the height member `i` has reached.
    fn catch_up(&mut self, i: usize, now: u64, out: &mut Vec<Out>) -> Result<(), RunError> {
        loop {
            let Some(height) = self.driver(i).map(Driver::height) else {
                return Ok(());
            };
            let m = &mut self.members[i];
            m.certificates.retain(|h, _| *h >= height);
            let Some(certificate) = m.certificates.remove(&height) else {
                return Ok(());
            };
            self.apply_certificate(i, now, &certificate, out)?;
            if self.driver(i).map(Driver::height) == Some(height) {
                return Ok(());
            }
        }
    }

    fn trace(&mut self, i: usize, effect: &Effect<PlainBlock>) {
        let t = &mut self.trace;
        t.update((i as u64).to_be_bytes());
        match effect {
            Effect::Persist(_) => {}
            Effect::Broadcast(topic, bytes) => {
                t.update(topic.name());
                t.update(bytes);
            }
            Effect::Validate(block) => t.update(PlainBlocks::info(block).value.0),
            Effect::Commit {
                value,
                round,
                certificate,
            } => {
                t.update(value.0);
                t.update(round.to_be_bytes());
                t.update(certificate);
            }
            other => t.update(format!("{other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Certificate;
    use std::collections::VecDeque;

    /// Runs nodes 0–2 of four (node 3 hears nothing) on a first-in first-out
    /// network until node 0 commits height 1; returns the certificate.
    fn certificate_of_height_one(c: &mut Cluster) -> Vec<u8> {
        let mut queue: VecDeque<(usize, Out)> = VecDeque::new();
        for i in 0..4 {
            let outs = c.start(i, 0).expect("start");
            queue.extend(outs.into_iter().map(|o| (i, o)));
        }
        let mut now = 0;
        for _ in 0..10_000 {
            let Some((i, out)) = queue.pop_front() else {
                now = (0..3)
                    .filter_map(|i| c.driver(i).and_then(|d| d.next_deadline()))
                    .min()
                    .expect("a timer");
                for i in 0..3 {
                    let outs = c.tick(i, now).expect("tick");
                    queue.extend(outs.into_iter().map(|o| (i, o)));
                }
                continue;
            };
            let outs = match out {
                Out::Broadcast(topic, bytes) => {
                    let mut outs = Vec::new();
                    for to in (0..3).filter(|to| *to != i) {
                        let o = c.deliver(to, now, topic, &bytes, i as u64).expect("wire");
                        outs.extend(o.into_iter().map(|o| (to, o)));
                    }
                    outs
                }
                Out::Build(order) => tagged(i, c.built(i, now, order)),
                Out::Validate(v, ok) => tagged(i, c.validated(i, now, v, ok)),
                Out::Committed(1, certificate) if i == 0 => return certificate,
                Out::Accepted(..) | Out::Held(..) | Out::Committed(..) => Vec::new(),
            };
            queue.extend(outs);
            c.check().expect("no invariant breaks");
        }
        panic!("node 0 did not commit height 1");
    }

    fn tagged(i: usize, outs: Result<Vec<Out>, RunError>) -> Vec<(usize, Out)> {
        outs.expect("answer").into_iter().map(|o| (i, o)).collect()
    }

    fn decode(bytes: &[u8]) -> Certificate {
        match WireMessage::decode(bytes) {
            Ok(WireMessage::Certificate(c)) => c,
            other => panic!("not a certificate: {other:?}"),
        }
    }

    #[test]
    fn a_lagging_node_commits_a_certificate_only_if_it_verifies() {
        let mut c = Cluster::new(Params::fixed_committee(5), &[1; 4], &[Role::Honest; 4]);
        let certificate = certificate_of_height_one(&mut c);
        let cert = decode(&certificate);
        assert_eq!(c.committed(0), &[cert.value]);
        // One cert vote short of the quorum: refused.
        let mut short = cert.clone();
        short.votes.truncate(short.votes.len() - 1);
        let short = WireMessage::Certificate(short).encode();
        assert!(c.sync(3, 0, &short).expect("sync").is_empty());
        // Another round than the votes were cast in: refused.
        let mut moved = cert.clone();
        moved.round += 1;
        let moved = WireMessage::Certificate(moved).encode();
        assert!(c.sync(3, 0, &moved).expect("sync").is_empty());
        assert!(c.committed(3).is_empty());
        // The real one commits, and the lagging node starts height 2.
        let outs = c.sync(3, 0, &certificate).expect("sync");
        assert!(matches!(outs.first(), Some(Out::Committed(1, _))));
        assert_eq!(c.committed(3), &[cert.value]);
        assert_eq!(c.driver(3).map(Driver::height), Some(2));
        c.check().expect("the lagging node's decision agrees");
    }

    #[test]
    fn a_certificate_of_a_later_height_waits_until_it_is_reached() {
        let mut c = Cluster::new(Params::fixed_committee(5), &[1; 4], &[Role::Honest; 4]);
        let certificate = certificate_of_height_one(&mut c);
        let mut later = decode(&certificate);
        later.height = 2;
        let later = WireMessage::Certificate(later).encode();
        assert!(c.sync(3, 0, &later).expect("sync").is_empty());
        assert!(c.committed(3).is_empty());
        c.sync(3, 0, &certificate).expect("sync");
        // Height 2 reached: the kept certificate is tried, and does not verify.
        assert_eq!(c.committed(3).len(), 1);
        assert_eq!(c.driver(3).map(Driver::height), Some(2));
    }
}
