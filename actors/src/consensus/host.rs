//! The consensus host core: spec's BA* [`Machine`] with everything around it that
//! is not protocol — keys, the registry, authentication, the journal, timers,
//! certificates — as a plain struct with no runtime (the consensus actor drives it;
//! tests drive it with a loop).
//!
//! Inbound order (Kaleido §5.6, fixed for B1/W9): size → decode → height window
//! (past and far-future heights are dropped before any registry lookup; the next
//! height is buffered as raw bytes, bounded) → `Machine::seen` dedup → registry lookup
//! → authentication (one batch per call, [`spec::auth::authenticate_votes`]) →
//! `Machine::step`.
//!
//! Outputs of the machine become [`Effect`]s for the caller: broadcasts, requests to
//! the execution resource (build, validate, commit) and evidence. `Persist` is
//! handled here, synchronously and durably (Kaleido §4.6 "journal first"): the
//! journal snapshot, the own proposal and every vote or proposal signed while
//! acting on one batch of outputs are written by one fsynced
//! [`JournalStore::commit`] before any effect of that batch is handed to the
//! caller, so nothing leaves the node before it is on disk, and a second,
//! different vote for a (height, round, step) is refused there (fatal). Timers are deadlines the caller asks for
//! with [`HostCore::next_deadline`] and fires with [`HostCore::on_timer`].

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::Duration;

use alloy_primitives::{Address, B256, U256};
use spec::auth::{
    AuthError, BlockClaims, MinerRecord, ProposalAuth, REAL, RealMinerKeys, authenticate_proposal,
    authenticate_vote, authenticate_votes, block_matches_proposal,
};
use spec::certificate::{CertError, assemble};
use spec::codec::{DecodeError, MAX_MESSAGE_BYTES, ProposalMsg, VoteMsg, WireMessage};
use spec::keeper::Equivocation;
use spec::machine::{HeightStart, Input, Machine, Output, ProposeKind};
use spec::params::Params;
use spec::sortition::derive_seed;
use spec::types::{Height, Hrs, MinerId, Round, Step, Value};

use crate::consensus::journal::{JournalError, JournalStore, OwnMessage, OwnProposal, Pending};
use crate::consensus::keys::KeySource;
use crate::consensus::registry::{Committee, Registry, RegistryError};
use crate::execution::{
    block::{Block, unix_now_secs},
    header::KalgoHeader,
    service::BuildRequest,
};

/// Largest gossiped block accepted (header + body).
pub const MAX_BLOCK_BYTES: usize = 8 * 1024 * 1024;
/// Most raw messages buffered for the next height.
const MAX_NEXT_HEIGHT: usize = 4096;
/// Most blocks kept per height.
const MAX_BLOCKS: usize = 64;

/// The gossip topics consensus publishes on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    /// `kalgo/votes/1`.
    Votes,
    /// `kalgo/proposals/1`.
    Proposals,
    /// `kalgo/blocks/1`.
    Blocks,
}

impl Topic {
    /// The gossipsub topic name.
    pub fn name(self) -> &'static str {
        match self {
            Topic::Votes => "kalgo/votes/1",
            Topic::Proposals => "kalgo/proposals/1",
            Topic::Blocks => "kalgo/blocks/1",
        }
    }
}

/// What the host asks its caller to do.
#[derive(Clone, Debug)]
pub enum Effect {
    /// Publish on a topic.
    Broadcast(Topic, Vec<u8>),
    /// Ask execution to build a block; answer with [`HostCore::on_built`].
    Build {
        /// Height.
        height: Height,
        /// Round.
        round: Round,
        /// The block's attributes.
        request: BuildRequest,
    },
    /// Ask execution to fully validate; answer with [`HostCore::on_validated`].
    Validate(Box<Block>),
    /// Ask execution to commit the executed block with its certificate; answer with
    /// [`HostCore::on_committed`].
    Commit {
        /// Header hash.
        hash: B256,
        /// Encoded certificate (`WireMessage::Certificate`).
        certificate: Vec<u8>,
        /// The round of the cert quorum (for logs).
        round: Round,
    },
    /// A voter equivocated.
    Evidence(Equivocation),
}

/// Why an inbound message was not used. `Ignore` kinds are harmless (stale,
/// duplicate, buffered); the others mean the sender misbehaved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// Larger than allowed.
    #[error("message of {0} bytes is too large")]
    TooLarge(usize),
    /// Does not decode.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// A block does not decode.
    #[error("block does not decode")]
    BadBlock,
    /// For a height already decided or too far ahead.
    #[error("height {0} outside the window")]
    OutOfWindow(Height),
    /// For the next height: kept until it starts.
    #[error("buffered for the next height")]
    Buffered,
    /// Already counted.
    #[error("duplicate")]
    Duplicate,
    /// Not a kind this topic carries.
    #[error("unexpected message kind")]
    WrongKind,
    /// The sender is not a registered miner.
    #[error("unknown miner")]
    UnknownMiner,
    /// Authentication failed.
    #[error("authentication: {0}")]
    Auth(#[from] AuthError),
}

impl WireError {
    /// Whether the message was merely not useful (gossip: ignore, do not penalise).
    pub fn is_ignore(&self) -> bool {
        matches!(
            self,
            WireError::OutOfWindow(_) | WireError::Buffered | WireError::Duplicate
        )
    }
}

/// Host failures that stop consensus.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The journal could not be made durable: voting must stop.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// No committee.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A certificate could not be assembled.
    #[error("certificate: {0}")]
    Certificate(#[from] CertError),
    /// Signing failed.
    #[error("signing: {0}")]
    Sign(AuthError),
}

/// Encodes a block for the blocks topic: BE32 header length ‖ header ‖ body.
pub fn encode_block(block: &Block) -> Vec<u8> {
    encode_block_parts(&block.header.encode_to_vec(), &block.encode_body())
}

/// [`encode_block`] from an encoded header and body (as stored).
pub fn encode_block_parts(header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + header.len() + body.len());
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(body);
    out
}

/// What a header says of the proposal that put it forward (spec's [`BlockClaims`]).
pub fn block_claims(header: &KalgoHeader) -> BlockClaims {
    BlockClaims {
        proposer: MinerId(header.proposer.0.0),
        seed: header.seed.0,
        beneficiary: header.eth.beneficiary.0.0,
    }
}

/// Decodes [`encode_block`].
pub fn decode_block(bytes: &[u8]) -> Option<Block> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*len) as usize;
    if len > rest.len() {
        return None;
    }
    let (h, body) = rest.split_at(len);
    let header = KalgoHeader::decode_bytes(h).ok()?;
    let transactions = Block::decode_body(body).ok()?;
    Some(Block {
        header,
        transactions,
    })
}

#[derive(Clone, Debug)]
struct KnownProposal {
    msg: ProposalMsg,
    auth: ProposalAuth,
}

/// The consensus host of one node.
pub struct HostCore<R> {
    params: Params,
    machine: Machine,
    keys: Option<Box<dyn KeySource>>,
    /// Whether the keys are used (`miner_start` / `miner_stop`); when false the
    /// node follows like a non-miner.
    participating: bool,
    /// Test only (`kalgo --test.equivocate`): every own vote is followed by a
    /// second, conflicting one. See [`Self::set_equivocate_for_tests`].
    equivocate: bool,
    registry: R,
    journal: JournalStore,
    committee: Committee,
    parent: KalgoHeader,
    cert_votes: HashMap<(Round, MinerId), VoteMsg>,
    proposals: HashMap<Value, Vec<KnownProposal>>,
    blocks: HashMap<Value, Block>,
    wanted: BTreeSet<Value>,
    validating: BTreeSet<Value>,
    next_height: Vec<(Topic, Vec<u8>)>,
    timers: Vec<(u64, Hrs)>,
    /// A proposal request waiting for its `at_ms` (the machine's assembly delay):
    /// `(at_ms, height, round, kind)`.
    deferred_propose: Option<(u64, Height, Round, ProposeKind)>,
    /// What the next [`JournalStore::commit`] makes durable.
    pending: Pending,
    /// A fatal failure met where the caller cannot be told at once
    /// ([`Self::on_wire_batch`]); see [`Self::take_failure`].
    failure: Option<HostError>,
}

impl<R> std::fmt::Debug for HostCore<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostCore")
            .field("position", &self.machine.position())
            .finish_non_exhaustive()
    }
}

impl<R: Registry> HostCore<R> {
    /// Starts on the committed head `parent`: resumes from the journal when it is
    /// for the next height on this parent, else starts the next height afresh.
    /// `keys` (a miner's) are advanced to the head first (forward security).
    pub fn start(
        params: Params,
        mut keys: Option<Box<dyn KeySource>>,
        registry: R,
        journal: JournalStore,
        parent: KalgoHeader,
        now: u64,
    ) -> Result<(Self, Vec<Effect>), HostError> {
        let height = parent.number() + 1;
        let committee = registry.committee(height, &parent)?;
        advance_keys(&mut keys, parent.number());
        let mut host = HostCore {
            params,
            machine: Machine::new(params),
            keys,
            participating: true,
            equivocate: false,
            registry,
            journal,
            committee,
            parent,
            cert_votes: HashMap::new(),
            proposals: HashMap::new(),
            blocks: HashMap::new(),
            wanted: BTreeSet::new(),
            validating: BTreeSet::new(),
            next_height: Vec::new(),
            timers: Vec::new(),
            deferred_propose: None,
            pending: Pending::default(),
            failure: None,
        };
        let parent_value = Value(host.parent.hash().0);
        host.check_keys();
        let mut effects = Vec::new();
        match host.journal.read()? {
            Some(j) if j.start.height == height && j.start.parent == parent_value => {
                let (machine, outputs) = Machine::restore(params, &j, now);
                host.machine = machine;
                host.reload_own_proposal(height, now, &mut effects)?;
                host.apply(now, outputs, &mut effects)?;
                host.check_failure()?;
            }
            _ => {
                let start = host.height_start();
                let outputs = host.machine.step(now, Input::NewHeight(start));
                host.apply(now, outputs, &mut effects)?;
            }
        }
        Ok((host, effects))
    }

    fn height_start(&self) -> HeightStart {
        HeightStart {
            height: self.parent.number() + 1,
            parent: Value(self.parent.hash().0),
            thresholds: self.committee.thresholds(&self.params),
        }
    }

    /// The height being agreed on.
    pub fn height(&self) -> Height {
        self.machine.height()
    }

    /// The machine's position.
    pub fn position(&self) -> Option<Hrs> {
        self.machine.position()
    }

    /// The machine (read-only, for tests and status).
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The protocol parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The committee of the height being agreed on (from the parent state).
    pub fn committee(&self) -> &Committee {
        &self.committee
    }

    /// The head this height builds on.
    pub fn parent(&self) -> &KalgoHeader {
        &self.parent
    }

    /// The registry committees are read from.
    pub fn registry(&self) -> &R {
        &self.registry
    }

    /// The miner identity (stake owner) of this node's keys, if it has any.
    pub fn miner_id(&self) -> Option<MinerId> {
        self.keys.as_deref().map(|k| k.id())
    }

    /// The heights each loaded miner key can sign (`[start, end)`).
    pub fn key_spans(&self) -> Vec<(Height, Height)> {
        self.keys
            .as_deref()
            .map(|k| k.key_spans())
            .unwrap_or_default()
    }

    /// Whether this node holds a key that signs at the height in progress for
    /// the registration in force (it is a member of the committee).
    pub fn signs_at_current_height(&self) -> bool {
        self.signing_keys(self.height()).is_some()
    }

    /// Whether mining was requested (`--mine`, `miner_start`), keys or not.
    pub fn mining_requested(&self) -> bool {
        self.participating
    }

    /// Whether this node proposes and votes (it has keys and was not stopped).
    pub fn participating(&self) -> bool {
        self.keys.is_some() && self.participating
    }

    /// Starts (`true`) or stops proposing and voting from the next own message
    /// on. Stopped, the node signs nothing and follows the chain like a
    /// non-miner; its keys still advance at every commit (forward security).
    pub fn set_participating(&mut self, on: bool) {
        self.participating = on;
    }

    /// **Test only** (the hidden `kalgo --test.equivocate`, for the fault tests):
    /// from now on, every vote this node casts is followed by a second vote of
    /// the same step for a different value (the real one with every bit
    /// flipped), signed with the same keys and broadcast but not counted here.
    /// This is the equivocation the vote keeper detects (Kaleido §4.4; spec
    /// `keeper`): honest nodes must report it and stay safe. Never use it on a
    /// real network: the votes are evidence against this node's miner.
    pub fn set_equivocate_for_tests(&mut self, on: bool) {
        self.equivocate = on;
    }

    /// The earliest pending deadline: a step timer or a deferred proposal.
    pub fn next_deadline(&self) -> Option<u64> {
        let propose = self.deferred_propose.map(|(at, ..)| at);
        self.timers.iter().map(|(d, _)| *d).chain(propose).min()
    }

    /// How many step timers are due at `now` (a deferred proposal request is
    /// not a step timer): what `kalgo_consensus_timeouts_total` counts.
    pub fn due_step_timers(&self, now: u64) -> u64 {
        self.timers.iter().filter(|(d, _)| *d <= now).count() as u64
    }

    /// Fires every timer due at `now`, and a deferred proposal request whose
    /// time has come.
    pub fn on_timer(&mut self, now: u64) -> Result<Vec<Effect>, HostError> {
        let mut effects = Vec::new();
        if let Some((at, height, round, kind)) = self.deferred_propose
            && at <= now
        {
            self.deferred_propose = None;
            let current = self.machine.position().map(|p| (p.height, p.round));
            if current == Some((height, round)) && self.machine.decided().is_none() {
                tracing::debug!(height, round, late_ms = now - at, "assembly delay over");
                let mut queue = VecDeque::new();
                self.propose(height, round, kind, now, &mut effects, &mut queue)?;
                self.apply(now, queue.into(), &mut effects)?;
            }
        }
        let (due, keep): (Vec<_>, Vec<_>) = self.timers.iter().partition(|(d, _)| *d <= now);
        self.timers = keep;
        for (_, hrs) in due {
            let out = self.machine.step(now, Input::Timeout(hrs));
            self.apply(now, out, &mut effects)?;
        }
        Ok(effects)
    }

    /// A fatal failure met while handling network messages
    /// ([`Self::on_wire_batch`] cannot return one): the caller must stop
    /// consensus when this is `Some`. The effects of the failed step were dropped.
    pub fn take_failure(&mut self) -> Option<HostError> {
        self.failure.take()
    }

    fn check_failure(&mut self) -> Result<(), HostError> {
        match self.failure.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// One message from a topic. See [`Self::on_wire_batch`].
    pub fn on_wire(
        &mut self,
        topic: Topic,
        bytes: &[u8],
        now: u64,
    ) -> (Result<(), WireError>, Vec<Effect>) {
        let (mut verdicts, effects) = self.on_wire_batch(&[(topic, bytes)], now);
        (verdicts.pop().unwrap_or(Ok(())), effects)
    }

    /// Messages from the network, validated in order (module docs); votes are
    /// authenticated in one batch. Returns a verdict per message (for gossip
    /// validation) and the effects.
    pub fn on_wire_batch(
        &mut self,
        msgs: &[(Topic, &[u8])],
        now: u64,
    ) -> (Vec<Result<(), WireError>>, Vec<Effect>) {
        let mut verdicts: Vec<Result<(), WireError>> = Vec::with_capacity(msgs.len());
        let mut votes: Vec<(usize, VoteMsg)> = Vec::new();
        let mut inputs: Vec<Input> = Vec::new();
        let mut effects = Vec::new();
        for (i, (topic, bytes)) in msgs.iter().enumerate() {
            verdicts.push(Ok(()));
            let r = self.screen(*topic, bytes);
            match r {
                Err(e) => verdicts[i] = Err(e),
                Ok(Screened::Vote(v)) => votes.push((i, v)),
                Ok(Screened::Proposal(p)) => match self.authenticate_proposal(p) {
                    Ok(input) => inputs.push(input),
                    Err(e) => verdicts[i] = Err(e),
                },
                Ok(Screened::Block(b)) => self.on_block(*b, &mut effects),
            }
        }
        // Registry lookup, then one batch for every vote's signature and credential.
        let mut with_rec = Vec::new();
        for (i, v) in votes {
            match self.committee.record(&v.voter) {
                Some(rec) => with_rec.push((i, v, rec)),
                None => verdicts[i] = Err(WireError::UnknownMiner),
            }
        }
        let refs: Vec<_> = with_rec.iter().map(|(_, v, r)| (v, r)).collect();
        let results = authenticate_votes(
            &REAL,
            &self.params,
            &refs,
            self.committee.total_stake,
            &self.committee.seed,
        );
        for ((i, v, _), r) in with_rec.iter().zip(results) {
            match r {
                Ok(weight) => inputs.push(self.accept_vote(v, weight)),
                Err(e) => verdicts[*i] = Err(WireError::Auth(e)),
            }
        }
        for input in inputs {
            if self.failure.is_some() {
                break; // consensus is stopping: act on nothing more
            }
            let out = self.machine.step(now, input);
            if let Err(e) = self.apply(now, out, &mut effects) {
                tracing::error!(error = %e, "consensus host failed");
                self.failure.get_or_insert(e);
            }
        }
        (verdicts, effects)
    }

    /// Size, decode, height window and dedup: everything before any crypto.
    fn screen(&mut self, topic: Topic, bytes: &[u8]) -> Result<Screened, WireError> {
        let limit = match topic {
            Topic::Blocks => MAX_BLOCK_BYTES,
            Topic::Votes | Topic::Proposals => MAX_MESSAGE_BYTES,
        };
        if bytes.len() > limit {
            return Err(WireError::TooLarge(bytes.len()));
        }
        let (height, screened) = match topic {
            Topic::Blocks => {
                let b = decode_block(bytes).ok_or(WireError::BadBlock)?;
                (b.header.number(), Screened::Block(Box::new(b)))
            }
            Topic::Votes | Topic::Proposals => match (topic, WireMessage::decode(bytes)?) {
                (Topic::Votes, WireMessage::Vote(v)) => (v.height, Screened::Vote(v)),
                (Topic::Proposals, WireMessage::Proposal(p)) => (p.height, Screened::Proposal(p)),
                _ => return Err(WireError::WrongKind),
            },
        };
        let current = self.height();
        if height == current + 1 {
            if self.next_height.len() < MAX_NEXT_HEIGHT {
                self.next_height.push((topic, bytes.to_vec()));
            }
            return Err(WireError::Buffered);
        }
        if height != current || self.machine.decided().is_some() {
            return Err(WireError::OutOfWindow(height));
        }
        if let Screened::Vote(v) = &screened {
            let hrs = Hrs::new(v.height, v.round, v.step);
            if self.machine.seen(v.voter, hrs, v.value) {
                return Err(WireError::Duplicate);
            }
        }
        Ok(screened)
    }

    fn accept_vote(&mut self, v: &VoteMsg, weight: u64) -> Input {
        if v.step == Step::CERT {
            self.cert_votes.entry((v.round, v.voter)).or_insert(*v);
        }
        Input::Vote {
            voter: v.voter,
            hrs: Hrs::new(v.height, v.round, v.step),
            value: v.value,
            weight,
        }
    }

    fn authenticate_proposal(&mut self, p: ProposalMsg) -> Result<Input, WireError> {
        let rec = self
            .committee
            .record(&p.proposer)
            .ok_or(WireError::UnknownMiner)?;
        let auth = authenticate_proposal(
            &REAL,
            &self.params,
            &p,
            &rec,
            self.committee.total_stake,
            &self.committee.seed,
        )?;
        Ok(self.accept_proposal(p, auth))
    }

    fn accept_proposal(&mut self, p: ProposalMsg, auth: ProposalAuth) -> Input {
        let known = self.proposals.entry(p.value).or_default();
        if known.len() < 8 && !known.iter().any(|k| k.msg.proposer == p.proposer) {
            known.push(KnownProposal { msg: p, auth });
        }
        Input::Proposal {
            height: p.height,
            round: p.round,
            value: p.value,
            proposer: p.proposer,
            priority: auth.priority,
        }
    }

    fn on_block(&mut self, block: Block, effects: &mut Vec<Effect>) {
        let value = Value(block.header.hash().0);
        if self.blocks.len() < MAX_BLOCKS {
            self.blocks.entry(value).or_insert(block);
        }
        self.try_validate(value, effects);
    }

    /// The proposal a block header matches (spec's [`block_matches_proposal`]:
    /// proposer, seed — Kaleido §5.6 "proposal blocks additionally require a
    /// valid seed VRF" — and reward address).
    fn matching_proposal(&self, value: Value) -> Option<&KnownProposal> {
        let claims = block_claims(&self.blocks.get(&value)?.header);
        self.proposals.get(&value)?.iter().find(|k| {
            let coinbase = self.committee.registered_coinbase(&k.msg.proposer);
            block_matches_proposal(&claims, &k.msg, &k.auth, coinbase)
        })
    }

    /// Sends a wanted block to execution once both the block and a matching
    /// proposal are known and its header extends the head.
    fn try_validate(&mut self, value: Value, effects: &mut Vec<Effect>) {
        if !self.wanted.contains(&value) || self.validating.contains(&value) {
            return;
        }
        let Some(block) = self.blocks.get(&value) else {
            return;
        };
        if block.header.number() != self.height()
            || block.header.eth.parent_hash != self.parent.hash()
        {
            return;
        }
        if self.matching_proposal(value).is_none() {
            return;
        }
        self.validating.insert(value);
        effects.push(Effect::Validate(Box::new(block.clone())));
    }

    /// Execution built the block asked for by [`Effect::Build`]: sign and
    /// broadcast the proposal and the block, and count the proposal.
    pub fn on_built(
        &mut self,
        height: Height,
        round: Round,
        block: Block,
        now: u64,
    ) -> Result<Vec<Effect>, HostError> {
        let mut effects = Vec::new();
        if height != self.height() || self.machine.decided().is_some() {
            return Ok(effects);
        }
        let value = Value(block.header.hash().0);
        let Some((msg, auth)) = self.sign_proposal(height, round, value)? else {
            return Ok(effects);
        };
        let own = OwnProposal {
            height,
            proposal: WireMessage::Proposal(msg).encode(),
            block: encode_block(&block),
        };
        // Durable before it leaves the node (written by `apply` below, before
        // these effects are returned): after a crash, the block our own votes
        // may certify must still be here (see `start`).
        self.log_own(height, round, Step::PROPOSAL, value, own.proposal.clone());
        let mut sends = vec![
            Effect::Broadcast(Topic::Proposals, own.proposal.clone()),
            Effect::Broadcast(Topic::Blocks, own.block.clone()),
        ];
        self.pending.own = Some(own);
        self.blocks.insert(value, block);
        let input = self.accept_proposal(msg, auth);
        let out = self.machine.step(now, input);
        self.apply(now, out, &mut sends)?;
        effects.extend(sends);
        Ok(effects)
    }

    /// After a restart: re-reads this node's own proposal and block of `height`
    /// from the journal and takes them in as if received, and has execution
    /// re-execute the block, before the restored machine's outputs (which may
    /// commit it) are acted on.
    fn reload_own_proposal(
        &mut self,
        height: Height,
        now: u64,
        effects: &mut Vec<Effect>,
    ) -> Result<(), HostError> {
        let Some(own) = self.journal.read_own()? else {
            return Ok(());
        };
        if own.height != height {
            return Ok(());
        }
        let (_, fx) = self.on_wire_batch(
            &[
                (Topic::Blocks, own.block.as_slice()),
                (Topic::Proposals, own.proposal.as_slice()),
            ],
            now,
        );
        self.check_failure()?;
        effects.extend(fx);
        let values: Vec<Value> = self.blocks.keys().copied().collect();
        for value in values {
            self.wanted.insert(value);
            self.try_validate(value, effects);
        }
        Ok(())
    }

    /// Execution's answer to [`Effect::Validate`].
    pub fn on_validated(
        &mut self,
        hash: B256,
        valid: bool,
        now: u64,
    ) -> Result<Vec<Effect>, HostError> {
        let mut effects = Vec::new();
        let value = Value(hash.0);
        if !self.validating.remove(&value) && !self.wanted.contains(&value) {
            return Ok(effects);
        }
        self.wanted.remove(&value);
        let out = self.machine.step(
            now,
            Input::BlockValidated {
                height: self.height(),
                value,
                valid,
            },
        );
        self.apply(now, out, &mut effects)?;
        Ok(effects)
    }

    /// A block was committed (ours, or later one synced with its certificate):
    /// start the next height and replay what was buffered for it.
    pub fn on_committed(
        &mut self,
        header: KalgoHeader,
        now: u64,
    ) -> Result<Vec<Effect>, HostError> {
        let mut effects = Vec::new();
        if header.number() < self.height() {
            return Ok(effects);
        }
        let height = header.number() + 1;
        self.committee = self.registry.committee(height, &header)?;
        advance_keys(&mut self.keys, header.number());
        self.parent = header;
        self.check_keys();
        self.cert_votes.clear();
        self.proposals.clear();
        self.blocks.clear();
        self.wanted.clear();
        self.validating.clear();
        self.timers.clear();
        self.deferred_propose = None;
        let start = self.height_start();
        let out = self.machine.step(now, Input::NewHeight(start));
        self.apply(now, out, &mut effects)?;
        let buffered = std::mem::take(&mut self.next_height);
        let refs: Vec<(Topic, &[u8])> = buffered.iter().map(|(t, b)| (*t, b.as_slice())).collect();
        let (_, more) = self.on_wire_batch(&refs, now);
        self.check_failure()?;
        effects.extend(more);
        Ok(effects)
    }

    /// Acts on the machine's outputs in order; own votes and proposals are fed
    /// back. Then makes everything pending durable in one write and only then
    /// hands the effects (the sends among them) to `effects`; on any failure none
    /// of them is handed out.
    fn apply(
        &mut self,
        now: u64,
        outputs: Vec<Output>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), HostError> {
        let mut local = Vec::new();
        let r = self.act(now, outputs, &mut local);
        let pending = std::mem::take(&mut self.pending);
        r?;
        self.journal.commit(&pending)?;
        effects.append(&mut local);
        Ok(())
    }

    /// Queues a signed message for the own-vote log (written by [`Self::apply`]).
    /// Whether this node already signed a *different* value at (height, round,
    /// step), per its own-vote log or this batch's unwritten messages. Then it
    /// abstains (Kaleido §4.12: never a second vote), rather than leave the
    /// journal to refuse the write and stop consensus: a node whose chain data
    /// was wiped but whose journal was kept meets its old heights again.
    fn signed_other(
        &self,
        height: Height,
        round: Round,
        step: Step,
        value: Value,
    ) -> Result<bool, HostError> {
        let same_slot = |m: &OwnMessage| (m.round, m.step) == (round, step) && m.value != value;
        let recorded = self.journal.own_messages(height, height)?;
        let other = self
            .pending
            .messages
            .iter()
            .filter(|m| m.height == height)
            .chain(&recorded)
            .find(|m| same_slot(m));
        if let Some(m) = other {
            tracing::warn!(
                height,
                round,
                ?step,
                signed = %B256::from(m.value.0),
                asked = %B256::from(value.0),
                "not signing: this node signed another value here before"
            );
            return Ok(true);
        }
        Ok(false)
    }

    fn log_own(&mut self, height: Height, round: Round, step: Step, value: Value, wire: Vec<u8>) {
        self.pending.messages.push(OwnMessage {
            height,
            round,
            step,
            value,
            wire,
        });
    }

    fn act(
        &mut self,
        now: u64,
        outputs: Vec<Output>,
        effects: &mut Vec<Effect>,
    ) -> Result<(), HostError> {
        let mut queue: VecDeque<Output> = outputs.into();
        while let Some(output) = queue.pop_front() {
            match output {
                // Durable before anything that follows it leaves the node: the
                // latest snapshot is written by `apply` before any effect is out.
                Output::Persist(j) => self.pending.journal = Some(j),
                Output::SetTimer { hrs, deadline_ms } => {
                    self.timers
                        .retain(|(_, h)| h.height == hrs.height && *h != hrs);
                    self.timers.push((deadline_ms, hrs));
                }
                Output::Vote { hrs, value } => {
                    if let Some(input) = self.cast_vote(hrs, value, effects)? {
                        queue.extend(self.machine.step(now, input));
                    }
                }
                Output::Propose {
                    height,
                    round,
                    kind,
                    at_ms,
                } if at_ms > now => {
                    self.deferred_propose = Some((at_ms, height, round, kind));
                }
                Output::Propose {
                    height,
                    round,
                    kind,
                    ..
                } => self.propose(height, round, kind, now, effects, &mut queue)?,
                Output::ValidateBlock { value, .. } => {
                    self.wanted.insert(value);
                    self.try_validate(value, effects);
                }
                Output::Commit {
                    height,
                    round,
                    value,
                    voters,
                } => {
                    // The certificate carries the proposal the block matches (what
                    // `verify_certificate` checks the header against). Normally it is
                    // known: a block is validated only with one (`try_validate`). A
                    // machine restored from its journal holds its soft-certified
                    // values as valid without their blocks, though; deciding one of
                    // those here, this node cannot store it and catches up by sync.
                    let cert = self
                        .matching_proposal(value)
                        .map(|k| k.msg)
                        .ok_or(CertError::ProposalMismatch)
                        .and_then(|proposal| {
                            assemble(height, round, value, proposal, &voters, |id| {
                                self.cert_votes.get(&(round, *id)).copied()
                            })
                        });
                    match cert {
                        Ok(cert) => effects.push(Effect::Commit {
                            hash: B256::from(value.0),
                            certificate: WireMessage::Certificate(cert).encode(),
                            round,
                        }),
                        Err(e) => tracing::warn!(
                            height,
                            round,
                            error = %e,
                            "decided a block this node cannot certify (block or votes missing); catching up by sync"
                        ),
                    }
                }
                Output::Evidence(e) => effects.push(Effect::Evidence(e)),
            }
        }
        Ok(())
    }

    /// Sortition and signature for an own vote (`None`: no seat); broadcast it
    /// and return it as an input.
    fn cast_vote(
        &mut self,
        hrs: Hrs,
        value: Value,
        effects: &mut Vec<Effect>,
    ) -> Result<Option<Input>, HostError> {
        if self.signed_other(hrs.height, hrs.round, hrs.step, value)? {
            return Ok(None);
        }
        let Some((keys, rec)) = self.signing_keys(hrs.height) else {
            return Ok(None);
        };
        let total = self.committee.total_stake;
        let seed = self.committee.seed;
        let Some(vote) = keys
            .cast_vote(&self.params, hrs, value, &seed, rec.stake, total)
            .map_err(HostError::Sign)?
        else {
            return Ok(None);
        };
        let weight = authenticate_vote(&REAL, &self.params, &vote, &rec, total, &seed)
            .map_err(HostError::Sign)?;
        // Test-only (`--test.equivocate`): a conflicting twin, deliberately kept
        // out of the own-vote log, which would refuse it.
        let twin = if self.equivocate {
            let other = Value(value.0.map(|b| !b));
            keys.cast_vote(&self.params, hrs, other, &seed, rec.stake, total)
                .map_err(HostError::Sign)?
        } else {
            None
        };
        let wire = WireMessage::Vote(vote).encode();
        self.log_own(hrs.height, hrs.round, hrs.step, value, wire.clone());
        effects.push(Effect::Broadcast(Topic::Votes, wire));
        if let Some(twin) = twin {
            effects.push(Effect::Broadcast(
                Topic::Votes,
                WireMessage::Vote(twin).encode(),
            ));
        }
        Ok(Some(self.accept_vote(&vote, weight)))
    }

    /// Signs this node's proposal of `value` (`None`: not a miner here, or no
    /// proposer seat) and authenticates it exactly as a peer would, for the
    /// priority and next seed the host keeps.
    fn sign_proposal(
        &self,
        height: Height,
        round: Round,
        value: Value,
    ) -> Result<Option<(ProposalMsg, ProposalAuth)>, HostError> {
        if self.signed_other(height, round, Step::PROPOSAL, value)? {
            return Ok(None);
        }
        let Some((keys, rec)) = self.signing_keys(height) else {
            return Ok(None);
        };
        let total = self.committee.total_stake;
        let seed = &self.committee.seed;
        let proposed = keys
            .propose(&self.params, height, round, value, seed, rec.stake, total)
            .map_err(HostError::Sign)?;
        let Some((msg, _)) = proposed else {
            return Ok(None);
        };
        let auth = authenticate_proposal(&REAL, &self.params, &msg, &rec, total, seed)
            .map_err(HostError::Sign)?;
        Ok(Some((msg, auth)))
    }

    /// This node's keys for `height` and its registry record there: `None` when it
    /// is not mining, not a registered miner at `height`, or holds no key matching
    /// the registration in force.
    fn signing_keys(&self, height: Height) -> Option<(&RealMinerKeys, MinerRecord)> {
        if !self.participating {
            return None;
        }
        let source = self.keys.as_deref()?;
        let record = self.committee.record(&source.id())?;
        Some((source.keys_for(height, &record)?, record))
    }

    /// Logs, once per height, a miner that is registered but holds no matching key.
    fn check_keys(&self) {
        let Some(source) = self.keys.as_deref() else {
            return;
        };
        if !self.participating {
            return;
        }
        let height = self.parent.number() + 1;
        match self.committee.record(&source.id()) {
            None => tracing::debug!(height, "not a registered miner at this height"),
            Some(_) if self.signing_keys(height).is_none() => tracing::warn!(
                height,
                "registered miner, but no loaded key of the registration in force can sign here"
            ),
            Some(_) => {}
        }
    }

    /// A proposal request: a new block goes to execution first (the proposal is
    /// signed in [`Self::on_built`]); a re-proposal is signed now.
    fn propose(
        &mut self,
        height: Height,
        round: Round,
        kind: ProposeKind,
        now: u64,
        effects: &mut Vec<Effect>,
        queue: &mut VecDeque<Output>,
    ) -> Result<(), HostError> {
        let Some((keys, _)) = self.signing_keys(height) else {
            return Ok(()); // not a miner at this height
        };
        match kind {
            ProposeKind::NewBlock => {
                let (_, seed) = derive_seed(
                    &keys.vrf,
                    self.params.chain_id,
                    height,
                    &self.committee.seed,
                );
                let id = Address::from(keys.id.0);
                let coinbase = self.committee.coinbase(&keys.id);
                effects.push(Effect::Build {
                    height,
                    round,
                    request: BuildRequest {
                        seed: B256::from(seed),
                        proposer: id,
                        coinbase,
                        total_balance_of_miners: U256::from(self.committee.total_stake),
                        now_secs: unix_now_secs(),
                        budget: Duration::from_millis(self.params.build_budget_ms(round)),
                    },
                });
            }
            ProposeKind::Repropose(value) => {
                if let Some((msg, auth)) = self.sign_proposal(height, round, value)? {
                    let wire = WireMessage::Proposal(msg).encode();
                    self.log_own(height, round, Step::PROPOSAL, value, wire.clone());
                    effects.push(Effect::Broadcast(Topic::Proposals, wire));
                    let input = self.accept_proposal(msg, auth);
                    queue.extend(self.machine.step(now, input));
                }
            }
        }
        Ok(())
    }
}

/// Forward security on every committed head; a failure (e.g. the key file could
/// not be rewritten) is logged and mining continues with the keys in memory, whose
/// past sub-keys are already erased.
fn advance_keys(keys: &mut Option<Box<dyn KeySource>>, head: Height) {
    if let Some(k) = keys.as_deref_mut()
        && let Err(e) = k.advance(head)
    {
        tracing::error!(error = %e, head, "forward-secure key update failed");
    }
}

enum Screened {
    Vote(VoteMsg),
    Proposal(ProposalMsg),
    Block(Box<Block>),
}
