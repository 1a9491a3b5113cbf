//! The consensus driver: everything between the wire and the [`Machine`] that is
//! not I/O, as one serialized step — an [`Event`] goes in, a list of [`Effect`]s
//! comes out (go-algorand's `agreement` player driven by `submitTop`, malachite's
//! `core-driver`). Production, tests and fuzzing drive this one type; the host
//! only turns effects into fsyncs, messages, timers and execution requests.
//!
//! What it owns, by module:
//! - [`wire`]: the topics, the block framing, every size limit, verdicts;
//! - [`book`]: authenticated proposals, the blocks they name (a block is kept
//!   only once a proposal names its hash and its header is what that proposal
//!   put forward), and blocks waiting for their proposal;
//! - [`certvotes`]: cert votes, kept under the value they vote for once the
//!   machine counted them;
//! - [`future`]: the one bounded buffer for the next height;
//! - here: inbound screening, the own-vote slots (never a second value for a
//!   (round, step) — Kaleido §4.12), signing, timers, the deferred build
//!   (spec [`Params::assembly_delay_ms`]) and certificate assembly.
//!
//! Inbound order (Kaleido §5.6, fixed for B1/W9): size → decode (exact, no
//! trailing bytes) → height (the next height is held raw, bounded) → the
//! machine's round/step windows and dedup → registry lookup → authentication
//! (votes in one batch per event) → the machine. Nothing is stored or relayed
//! before it passed every check that comes before it.
//!
//! Crash safety: every effect list that holds something to make durable starts
//! with [`Effect::Persist`]. The host must make it durable before acting on
//! any later effect of the list; if it cannot, it must act on none of them.

pub mod block;
pub mod book;
pub mod certvotes;
pub mod check;
pub mod filter_timeout;
pub mod future;
pub mod proofs;
pub mod wire;

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::auth::{
    AuthError, MinerKeys, MinerRecord, REAL, RealVerifiers, Verifiers, authenticate_proposal,
    authenticate_vote, authenticate_votes,
};
use crate::certificate::{CertError, assemble};
use crate::codec::{ProposalMsg, VoteMsg, WireMessage};
use crate::crypto::{VoteSigner, VoteVerifier, VrfProver, VrfVerifier};
use crate::keeper::Equivocation;
use crate::machine::{HeightStart, Input, Journal, Machine, Output, ProposeKind};
use crate::params::{FilterTimeout, Params, Thresholds};
use crate::roster::Roster;
use crate::sortition::derive_seed;
use crate::types::{Height, Hrs, MinerId, Round, Step, Value};

use block::{BlockFormat, BlockInfo};
use book::{Book, KnownProposal, Source};
use certvotes::CertVotes;
use filter_timeout::FilterEstimator;
use future::FutureBuffer;
pub use wire::{Topic, WireError};

/// The source id the driver gives this node's own messages.
pub const OWN_SOURCE: Source = u64::MAX;

/// The cryptography a driver verifies with and its keys sign with.
pub trait Suite {
    /// Checks the VRF credentials of proposals and votes (sortition and the block seed).
    type Vrf: VrfVerifier;
    /// Checks forward-secure vote and proposal signatures against registered master keys.
    type Sig: VoteVerifier;
    /// VRF prover of this node's keys.
    type Prover: VrfProver;
    /// Vote signer of this node's keys.
    type Signer: VoteSigner;
    fn verifiers(&self) -> &Verifiers<Self::Vrf, Self::Sig>;
}

/// The signing keys of a suite.
pub type SuiteKeys<C> = MinerKeys<<C as Suite>::Prover, <C as Suite>::Signer>;

/// Production cryptography: schnorrkel VRF, forward-secure ed25519 votes.
#[derive(Copy, Clone, Debug, Default)]
pub struct RealSuite;

impl Suite for RealSuite {
    type Vrf = crate::crypto::real::SchnorrkelVrf;
    type Sig = crate::crypto::real::Ed25519FsVerifier;
    type Prover = crate::crypto::real::SchnorrkelVrfKey;
    type Signer = crate::crypto::real::FsKeySet;
    fn verifiers(&self) -> &RealVerifiers {
        &REAL
    }
}

/// Deterministic mock cryptography, for the simulator, tests and fuzzing.
#[derive(Copy, Clone, Debug, Default)]
pub struct MockSuite;

impl Suite for MockSuite {
    type Vrf = crate::crypto::mock::MockVrf;
    type Sig = crate::crypto::mock::MockVoteVerifier;
    type Prover = crate::crypto::mock::MockVrfKey;
    type Signer = crate::crypto::mock::MockVoteKey;
    fn verifiers(&self) -> &crate::auth::MockVerifiers {
        &crate::auth::MOCK
    }
}

/// One key set held in memory signs wherever its public keys are the
/// registration in force.
impl<P: VrfProver, S: VoteSigner> Keyring<P, S> for MinerKeys<P, S> {
    fn id(&self) -> MinerId {
        self.id
    }

    fn keys_for(&self, _height: Height, record: &MinerRecord) -> Option<&MinerKeys<P, S>> {
        (self.vrf.vrf_public() == record.vrf_pk
            && self.votes.master_public() == record.vote_master_pk)
            .then_some(self)
    }
}

/// This node's signing keys, as the host holds them (files, forward-secure
/// erasure): the driver only asks which keys sign at a height.
pub trait Keyring<P, S> {
    /// The miner identity (stake owner) of these keys.
    fn id(&self) -> MinerId;
    /// The keys that sign at `height` for the registration in force (`record`),
    /// if any.
    fn keys_for(&self, height: Height, record: &MinerRecord) -> Option<&MinerKeys<P, S>>;
}

/// **Test only**: misbehaviour a node can be switched into, for the attack and
/// fault tests (`kalgo --test.*`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct TestAttacks {
    /// Every own vote is followed by a second one of the same step for the
    /// bit-flipped value (equivocation).
    pub equivocate: bool,
    /// Every own cert vote is preceded by a cert vote for the empty value
    /// (which the machine drops; a host that kept the first cert vote per voter
    /// could then not certify the decision).
    pub cert_empty_first: bool,
    /// Every own vote is followed by a burst of [`FAR_BURST`] signed votes the
    /// machine must never keep: rounds past the round look-ahead, steps past the
    /// step look-ahead of the current round, and far next steps of past rounds
    /// (a new set of steps every burst, so a node that kept them would grow
    /// without bound). An authenticated member can sign all of these; only the
    /// receivers' windows bound what they store.
    pub far_votes: bool,
}

/// **Test only**: votes in each burst of [`TestAttacks::far_votes`].
pub const FAR_BURST: usize = 24;

/// **Test only**: at most one burst of [`TestAttacks::far_votes`] per this many
/// milliseconds of host time (about 500 far votes a second). Unpaced, at short
/// periods the attacker signs and sends so much that its own links jam and it
/// falls behind, and the stream the honest nodes must withstand dries up.
pub const FAR_EVERY_MS: u64 = 50;

/// A committed head and the committee of the height after it.
#[derive(Clone, Debug)]
pub struct Head {
    /// The committed block's header hash.
    pub parent: Value,
    /// The committed block's number: agreement runs on `number + 1`.
    pub number: Height,
    /// The committee of `number + 1`.
    pub roster: Roster,
    /// What this node's own-vote log holds for `number + 1`: (round, step,
    /// value) of every message it signed there before (a node whose chain data
    /// was wiped meets its old heights again).
    pub own_slots: Vec<(Round, Step, Value)>,
}

/// What a restarted node resumes from (the durable part of [`Effect::Persist`]).
#[derive(Clone, Debug, Default)]
pub struct Resume {
    /// The machine's journal, if one was written.
    pub journal: Option<Journal>,
    /// This node's own proposal and block, if one was written.
    pub own: Option<OwnProposal>,
}

/// One inbound network message.
#[derive(Copy, Clone, Debug)]
pub struct Inbound<'a> {
    /// The topic it arrived on.
    pub topic: Topic,
    /// The raw message as received, not yet decoded (screened for size first).
    pub bytes: &'a [u8],
    /// Who sent it (for fair shares of bounded buffers).
    pub source: Source,
}

/// Everything the driver reacts to. Built once per call and consumed at once,
/// so the size of the start event does not matter.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum Event<'a, B> {
    /// Start on a committed head, resuming from what was made durable when it
    /// is for the height after this head.
    Start(Head, Resume),
    /// A block was committed (ours, or one synced with its certificate): agree
    /// on the height after it.
    Committed(Head),
    /// Messages from the network, screened in order; one verdict each.
    Wire(&'a [Inbound<'a>]),
    /// The clock reached [`Driver::next_deadline`].
    Tick,
    /// Execution built the block asked for by [`Effect::Build`].
    Built {
        /// Height asked for.
        height: Height,
        /// Round asked for.
        round: Round,
        block: B,
    },
    /// Execution's answer to [`Effect::Validate`].
    Validated {
        /// The block's header hash.
        value: Value,
        /// Whether it executed and matched its header.
        valid: bool,
    },
}

/// A signed message of this node, for the own-vote log.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnMessage {
    pub height: Height,
    pub round: Round,
    /// Step (1 for a proposal).
    pub step: Step,
    /// The value signed: a block's header hash, or the empty value.
    pub value: Value,
    /// The signed message as encoded for the wire ([`WireMessage::encode`]).
    pub wire: Vec<u8>,
}

/// This node's own proposal and block of a height (so a restarted node still
/// has the block its own votes may certify).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OwnProposal {
    pub height: Height,
    /// This node's proposal, encoded as a [`WireMessage`].
    pub proposal: Vec<u8>,
    /// Its block, framed by [`wire::frame_block`] as on the wire.
    pub block: Vec<u8>,
}

/// What must be durable before anything that follows it leaves the node.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Durable {
    /// The machine's latest journal.
    pub journal: Option<Journal>,
    /// This node's own proposal and block.
    pub own: Option<OwnProposal>,
    /// Messages this node signed, for the own-vote log.
    pub messages: Vec<OwnMessage>,
}

impl Durable {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.journal.is_none() && self.own.is_none() && self.messages.is_empty()
    }
}

/// What execution is asked to build (spec decides who, for whom, and how long).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BuildOrder {
    pub height: Height,
    pub round: Round,
    /// The seed the block carries (this node's seed VRF over the parent's seed).
    pub seed: [u8; 32],
    /// The proposer: this node's miner id, which signs the proposal.
    pub proposer: MinerId,
    /// Where the block reward goes.
    pub coinbase: [u8; 20],
    /// The committee's total stake.
    pub total_stake: u128,
    /// How long building may take ([`Params::build_budget_ms`]).
    pub budget_ms: u64,
}

/// What the driver asks its host to do, in order.
#[derive(Debug)]
pub enum Effect<B> {
    /// Make this durable before acting on any later effect of the same list.
    Persist(Box<Durable>),
    /// The verdict on message `index` of an [`Event::Wire`].
    Verdict {
        /// Index into the event's messages.
        index: usize,
        /// `Ok`: use and relay it.
        verdict: Result<(), WireError>,
    },
    /// Publish on a topic.
    Broadcast(Topic, Vec<u8>),
    /// Ask execution to build a block; answer with [`Event::Built`].
    Build(BuildOrder),
    /// Ask execution to fully validate a block; answer with [`Event::Validated`].
    Validate(B),
    /// Commit the validated block of `value` with this certificate
    /// (`WireMessage::Certificate`); answer with [`Event::Committed`].
    Commit {
        /// The header hash.
        value: Value,
        /// The round of the cert quorum.
        round: Round,
        certificate: Vec<u8>,
    },
    /// A voter signed two values in one (round, step): what the vote keeper
    /// noticed (every conflicting vote), for the host to log and count.
    Evidence(Equivocation),
    /// The two signed votes proving an equivocation, once per voter and
    /// (round, step), for the host to submit on chain; only while the host
    /// asked for proofs ([`Driver::keep_equivocation_proofs`]).
    EquivocationProof(Box<[VoteMsg; 2]>),
    /// This node decided a value it cannot certify (its block or proposal never
    /// arrived, e.g. after a restart): the height is left to sync.
    CannotCertify {
        height: Height,
        round: Round,
        /// Why the certificate could not be assembled.
        error: CertError,
    },
    /// This node did not sign at `hrs`: it signed `signed` there before and
    /// was now asked for `asked`.
    Abstained {
        /// The (height, round, step) slot in question.
        hrs: Hrs,
        /// The value signed before.
        signed: Value,
        /// The value asked for.
        asked: Value,
    },
}

/// How much the height in progress holds ([`Driver::held`]).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Held {
    /// Authenticated proposals.
    pub proposals: usize,
    /// Blocks paired with their proposal.
    pub blocks: usize,
    /// Blocks waiting for their proposal.
    pub waiting: usize,
    /// Cert votes kept.
    pub cert_votes: usize,
    /// Messages held for the next height.
    pub future: usize,
    /// Total encoded size of the messages held for the next height.
    pub future_bytes: usize,
}

/// Failures that stop consensus.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DriverError {
    /// This node's keys could not sign a vote or proposal, or a vote they signed
    /// failed authentication.
    #[error("signing: {0}")]
    Sign(AuthError),
    /// An event before [`Event::Start`].
    #[error("the driver has not started")]
    NotStarted,
}

/// **Test only** ([`TestAttacks::far_votes`]): where burst number `n` after an
/// own vote at `hrs` goes: [`FAR_BURST`] positions at `hrs.height`, all outside
/// the windows of [`Machine::accepts_vote`] for a node at `hrs`:
/// - 4 rounds beyond `round + round_lookahead`;
/// - 16 next steps beyond twice the step look-ahead, 4 in each of the last four
///   past rounds (in the current round where there are fewer past rounds).
///
/// Every burst uses rounds and steps no earlier burst used.
fn far_targets(params: &Params, hrs: Hrs, n: u32) -> Vec<Hrs> {
    let burst = FAR_BURST as u32;
    let fresh = n.saturating_mul(burst);
    let mut out = Vec::with_capacity(FAR_BURST);
    let far_round = hrs
        .round
        .saturating_add(params.round_lookahead)
        .saturating_add(1)
        .saturating_add(fresh);
    for k in 0..4 {
        out.push(Hrs::new(
            hrs.height,
            far_round.saturating_add(k),
            Step::FIRST_NEXT,
        ));
    }
    let far_step = hrs
        .step
        .0
        .max(Step::FIRST_NEXT.0)
        .saturating_add(params.step_lookahead.saturating_mul(2))
        .saturating_add(fresh);
    let past = (1..hrs.round).rev().take(4);
    let rounds = past.chain(std::iter::repeat(hrs.round)).take(4);
    for (j, round) in (0u32..).zip(rounds) {
        for i in 0..4 {
            let step = far_step.saturating_add(4 * j + i);
            out.push(Hrs::new(hrs.height, round, Step(step)));
        }
    }
    out
}

/// The consensus driver of one node.
#[derive(Clone)]
pub struct Driver<F: BlockFormat, C: Suite, K> {
    params: Params,
    suite: C,
    machine: Machine,
    keys: Option<K>,
    participating: bool,
    attacks: TestAttacks,
    /// Bursts sent so far under [`TestAttacks::far_votes`] (each uses new steps).
    far_bursts: u32,
    /// When the last of them was sent (host milliseconds).
    far_last_at: Option<u64>,
    started: bool,
    /// The height after the head: the one `Input::NewHeight` starts.
    next: Height,
    parent: Value,
    /// Shared, not copied, by a cloned driver: it changes only with the head.
    roster: std::sync::Arc<Roster>,
    book: Book<F>,
    cert_votes: CertVotes,
    wanted: BTreeSet<Value>,
    validating: BTreeSet<Value>,
    future: FutureBuffer,
    own: BTreeMap<(Round, Step), Value>,
    /// The machine's step timer: only the latest one matters, since the machine
    /// sets one for every waiting step it enters and ignores any other.
    timer: Option<(u64, Hrs)>,
    deferred: Option<(u64, Height, Round, ProposeKind)>,
    /// Arrival times of the best round-1 proposals ([`FilterTimeout::Dynamic`]).
    /// Only timers depend on it, so it is not part of the protocol state.
    filter: FilterEstimator,
    pending: Durable,
    /// Quorum thresholds in force instead of the parameters' (a model
    /// checker's mutation; `None` on every real node).
    thresholds: Option<Thresholds>,
    /// Inbound votes whose credential and signature this driver checked
    /// ([`Driver::votes_verified`]). A figure for the host, not part of the
    /// protocol state.
    votes_verified: u64,
    /// Signed votes kept for equivocation proofs when the host asks for them;
    /// not part of the protocol state.
    proofs: proofs::Proofs,
}

/// The protocol state of a driver, what its `Hash` and `Eq` compare: whose
/// it is (the keys' miner), what it has seen, kept and signed, and which timer
/// and build are pending, but not their deadlines (values of the host's
/// clock) and not the configuration it was made with (parameters, suite, key
/// material). A model checker that fires timers by choice, not by the clock,
/// identifies states with it.
type ProtocolState<'a, F> = (
    (Option<MinerId>, &'a Machine, bool, bool, Height, Value),
    (
        &'a Roster,
        &'a Book<F>,
        &'a CertVotes,
        &'a BTreeSet<Value>,
        &'a BTreeSet<Value>,
    ),
    (
        &'a FutureBuffer,
        &'a BTreeMap<(Round, Step), Value>,
        Option<Hrs>,
    ),
    (Option<(Height, Round, ProposeKind)>, &'a Durable),
);

impl<F: BlockFormat, C: Suite, K: Keyring<C::Prover, C::Signer>> Driver<F, C, K> {
    fn protocol_state(&self) -> ProtocolState<'_, F> {
        (
            (
                self.keys.as_ref().map(Keyring::id),
                &self.machine,
                self.participating,
                self.started,
                self.next,
                self.parent,
            ),
            (
                &self.roster,
                &self.book,
                &self.cert_votes,
                &self.wanted,
                &self.validating,
            ),
            (&self.future, &self.own, self.timer.map(|(_, hrs)| hrs)),
            (self.deferred.map(|(_, h, r, k)| (h, r, k)), &self.pending),
        )
    }
}

/// Hashes the protocol state (see [`ProtocolState`]).
impl<F: BlockFormat, C: Suite, K: Keyring<C::Prover, C::Signer>> std::hash::Hash for Driver<F, C, K>
where
    F::Block: std::hash::Hash,
{
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.protocol_state().hash(state);
    }
}

/// Equal protocol states (see [`ProtocolState`]).
impl<F: BlockFormat, C: Suite, K: Keyring<C::Prover, C::Signer>> PartialEq for Driver<F, C, K>
where
    F::Block: PartialEq,
{
    fn eq(&self, o: &Self) -> bool {
        self.protocol_state() == o.protocol_state()
    }
}

impl<F: BlockFormat, C: Suite, K: Keyring<C::Prover, C::Signer>> Eq for Driver<F, C, K> where
    F::Block: Eq
{
}

impl<F, C, K> Driver<F, C, K>
where
    F: BlockFormat,
    C: Suite,
    K: Keyring<C::Prover, C::Signer>,
{
    /// A driver that has not started; the first event must be [`Event::Start`].
    pub fn new(params: Params, suite: C, keys: Option<K>) -> Self {
        Driver {
            params,
            suite,
            machine: Machine::new(params),
            keys,
            participating: true,
            attacks: TestAttacks::default(),
            far_bursts: 0,
            far_last_at: None,
            started: false,
            next: 0,
            parent: Value([0; 32]),
            roster: std::sync::Arc::default(),
            book: Book::default(),
            cert_votes: CertVotes::default(),
            wanted: BTreeSet::new(),
            validating: BTreeSet::new(),
            future: FutureBuffer::default(),
            own: BTreeMap::new(),
            timer: None,
            deferred: None,
            filter: FilterEstimator::default(),
            pending: Durable::default(),
            thresholds: None,
            votes_verified: 0,
            proofs: proofs::Proofs::default(),
        }
    }

    /// **Model checking only**: agree with these quorum thresholds instead of
    /// the parameters' from the next height on (the checker's mutations show
    /// it catches a weakened threshold).
    pub fn mutate_thresholds(&mut self, thresholds: Thresholds) {
        self.thresholds = Some(thresholds);
    }

    /// The same driver with every miner renamed (symmetry reduction in the
    /// model checker: `renamed(π).handle(π(e)) = π(handle(e))`), holding
    /// `keys`. Message signatures and credentials are kept as they are: the
    /// model's interchangeable miners share their keys. Messages held raw for
    /// the next height are kept as they are (the model has none).
    pub fn renamed(
        &self,
        rename: &impl Fn(MinerId) -> MinerId,
        source: &impl Fn(Source) -> Source,
        keys: Option<K>,
    ) -> Self
    where
        C: Clone,
    {
        let roster = Roster {
            miners: self
                .roster
                .miners
                .iter()
                .map(|(id, rec)| (rename(*id), *rec))
                .collect(),
            coinbases: self
                .roster
                .coinbases
                .iter()
                .map(|(id, c)| (rename(*id), *c))
                .collect(),
            ..(*self.roster).clone()
        };
        Driver {
            params: self.params,
            suite: self.suite.clone(),
            machine: self.machine.renamed(rename),
            keys,
            participating: self.participating,
            attacks: self.attacks,
            started: self.started,
            next: self.next,
            parent: self.parent,
            roster: std::sync::Arc::new(roster),
            book: self.book.renamed(rename, source),
            cert_votes: self.cert_votes.renamed(rename),
            wanted: self.wanted.clone(),
            validating: self.validating.clone(),
            future: self.future.clone(),
            own: self.own.clone(),
            timer: self.timer,
            deferred: self.deferred,
            filter: self.filter.clone(),
            pending: self.pending.clone(),
            thresholds: self.thresholds,
            far_bursts: self.far_bursts,
            far_last_at: self.far_last_at,
            votes_verified: self.votes_verified,
            proofs: proofs::Proofs::default(),
        }
    }

    // ----- queries -------------------------------------------------------------

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The machine (read-only).
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// The height being agreed on.
    pub fn height(&self) -> Height {
        self.machine.height()
    }

    /// The machine's position.
    pub fn position(&self) -> Option<Hrs> {
        self.machine.position()
    }

    /// The committee of the height being agreed on.
    pub fn roster(&self) -> &Roster {
        &self.roster
    }

    /// The head this height builds on.
    pub fn parent(&self) -> Value {
        self.parent
    }

    /// The keys (the host advances them at every commit: forward security).
    pub fn keys_mut(&mut self) -> Option<&mut K> {
        self.keys.as_mut()
    }

    pub fn keys(&self) -> Option<&K> {
        self.keys.as_ref()
    }

    /// Whether mining was requested, keys or not.
    pub fn mining_requested(&self) -> bool {
        self.participating
    }

    /// Whether this node proposes and votes (it has keys and was not stopped).
    pub fn participating(&self) -> bool {
        self.keys.is_some() && self.participating
    }

    /// Starts (`true`) or stops proposing and voting from the next own message on.
    pub fn set_participating(&mut self, on: bool) {
        self.participating = on;
    }

    /// **Test only** (`kalgo --test.*`): switches this node into the
    /// misbehaviour the attack and fault tests need. Never on a real network:
    /// the extra votes are evidence against this node's miner.
    pub fn set_test_attacks(&mut self, attacks: TestAttacks) {
        self.attacks = attacks;
    }

    /// The earliest pending deadline: a step timer or the deferred build.
    pub fn next_deadline(&self) -> Option<u64> {
        let build = self.deferred.map(|(at, ..)| at);
        self.timer.map(|(d, _)| d).into_iter().chain(build).min()
    }

    /// How many step timers are due at `now` (the deferred build is not one).
    pub fn due_step_timers(&self, now: u64) -> u64 {
        self.timer.filter(|(d, _)| *d <= now).map_or(0, |_| 1)
    }

    /// The armed step timer: its deadline and the position it is for.
    pub fn armed_timer(&self) -> Option<(u64, Hrs)> {
        self.timer
    }

    /// How long round 1's proposal step waits (ms): 2λ, or with
    /// [`FilterTimeout::Dynamic`] the estimate from recent heights
    /// ([`filter_timeout`]). Later rounds always wait their fixed timers.
    pub fn filter_timeout_ms(&self) -> u64 {
        let fixed = self.params.timeout_ms(1, Step::PROPOSAL);
        match self.params.filter_timeout {
            FilterTimeout::Fixed => fixed,
            FilterTimeout::Dynamic { min_ms } => self.filter.timeout_ms(min_ms, fixed),
        }
    }

    /// When the deferred build of a new block is due, if one is pending.
    pub fn build_due_at(&self) -> Option<u64> {
        self.deferred.map(|(at, ..)| at)
    }

    /// Whether this node holds keys that sign at `height` for the registration
    /// in force.
    pub fn signs_at(&self, height: Height) -> bool {
        self.signing_keys(height).is_some()
    }

    /// Whether the block of `value` is held, paired with its proposal or
    /// waiting for it.
    pub fn knows_block(&self, value: &Value) -> bool {
        self.book.knows_block(value)
    }

    /// The proposal of `value` its paired block matches, if both are known.
    pub fn matching_proposal(&self, value: &Value) -> Option<KnownProposal> {
        self.book.matching_proposal(value, &self.roster)
    }

    /// How many inbound votes this driver authenticated (VRF credential and
    /// forward-secure signature, [`authenticate_votes`]) since it was made,
    /// replayed held votes included, whether they verified or not. Screened
    /// out votes (duplicates, outside the window, held) are not counted until
    /// they are authenticated. The simulator's verification rate divides it by
    /// CPU time.
    pub fn votes_verified(&self) -> u64 {
        self.votes_verified
    }

    /// Sizes of what the height in progress holds (for tests and metrics).
    pub fn held(&self) -> Held {
        Held {
            proposals: self.book.proposal_count(),
            blocks: self.book.block_values().len(),
            waiting: self.book.waiting_blocks(),
            cert_votes: self.cert_votes.len(),
            future: self.future.len(),
            future_bytes: self.future.bytes(),
        }
    }

    // ----- the step ------------------------------------------------------------

    /// Feeds one event at `now` (milliseconds on the host clock); returns what
    /// the host must do, in order.
    pub fn handle(
        &mut self,
        now: u64,
        event: Event<'_, F::Block>,
    ) -> Result<Vec<Effect<F::Block>>, DriverError> {
        if !self.started && !matches!(event, Event::Start(..)) {
            return Err(DriverError::NotStarted);
        }
        let mut out = Vec::new();
        let before = self.position();
        let result = match event {
            Event::Start(head, resume) => self.on_start(now, head, resume, &mut out),
            Event::Committed(head) => self.on_committed(now, head, &mut out),
            Event::Wire(msgs) => self.on_wire(now, msgs, &mut out),
            Event::Tick => self.on_tick(now, &mut out),
            Event::Built {
                height,
                round,
                block,
            } => self.on_built(now, height, round, block, &mut out),
            Event::Validated { value, valid } => self.on_validated(now, value, valid, &mut out),
        };
        let result = result.and_then(|()| self.relay_round_quorum(before, &mut out));
        let pending = std::mem::take(&mut self.pending);
        result?;
        if !pending.is_empty() {
            out.insert(0, Effect::Persist(Box::new(pending)));
        }
        Ok(out)
    }

    fn on_start(
        &mut self,
        now: u64,
        head: Head,
        resume: Resume,
        out: &mut Vec<Effect<F::Block>>,
    ) -> Result<(), DriverError> {
        self.started = true;
        let height = head.number + 1;
        let parent = head.parent;
        self.enter_head(head);
        match resume.journal {
            Some(j) if j.start.height == height && j.start.parent == parent => {
                let (machine, outputs) = Machine::restore(self.params, &j, now);
                self.machine = machine;
                if let Some(own) = resume.own.filter(|o| o.height == height) {
                    // Take our own proposal and block in as if received, and have
                    // execution re-execute the block before the restored outputs
                    // (which may commit it) are acted on.
                    let msgs = [
                        Inbound {
                            topic: Topic::Proposals,
                            bytes: &own.proposal,
                            source: OWN_SOURCE,
                        },
                        Inbound {
                            topic: Topic::Blocks,
                            bytes: &own.block,
                            source: OWN_SOURCE,
                        },
                    ];
                    let mut ignored = Vec::new();
                    self.on_wire(now, &msgs, &mut ignored)?;
                    out.extend(
                        ignored
                            .into_iter()
                            .filter(|e| !matches!(e, Effect::Verdict { .. })),
                    );
                    for value in self.book.block_values() {
                        self.wanted.insert(value);
                        self.try_validate(value, out);
                    }
                }
                self.act(now, outputs, out)
            }
            _ => {
                let start = self.height_start();
                let outputs = self.machine.step(now, Input::NewHeight(start));
                self.act(now, outputs, out)
            }
        }
    }

    fn on_committed(
        &mut self,
        now: u64,
        head: Head,
        out: &mut Vec<Effect<F::Block>>,
    ) -> Result<(), DriverError> {
        if head.number < self.height() {
            return Ok(()); // already past it
        }
        self.enter_head(head);
        let start = self.height_start();
        let outputs = self.machine.step(now, Input::NewHeight(start));
        self.act(now, outputs, out)?;
        let held = self.future.take();
        let msgs: Vec<Inbound<'_>> = held
            .iter()
            .map(|(topic, bytes, source)| Inbound {
                topic: *topic,
                bytes,
                source: *source,
            })
            .collect();
        let mut replayed = Vec::new();
        let r = self.on_wire(now, &msgs, &mut replayed);
        // The verdicts were given when the messages were held.
        out.extend(
            replayed
                .into_iter()
                .filter(|e| !matches!(e, Effect::Verdict { .. })),
        );
        r
    }

    /// Resets everything per height for the height after `head`.
    fn enter_head(&mut self, head: Head) {
        self.parent = head.parent;
        self.roster = std::sync::Arc::new(head.roster);
        self.book = Book::default();
        self.cert_votes = CertVotes::default();
        self.proofs.clear();
        self.wanted.clear();
        self.validating.clear();
        self.timer = None;
        self.deferred = None;
        self.own = head
            .own_slots
            .into_iter()
            .map(|(r, s, v)| ((r, s), v))
            .collect();
        self.next = head.number + 1;
    }

    fn height_start(&self) -> HeightStart {
        HeightStart {
            height: self.next,
            parent: self.parent,
            thresholds: self
                .thresholds
                .unwrap_or_else(|| self.params.stake_thresholds()),
        }
    }

    // ----- inbound -------------------------------------------------------------

    fn on_wire(
        &mut self,
        now: u64,
        msgs: &[Inbound<'_>],
        out: &mut Vec<Effect<F::Block>>,
    ) -> Result<(), DriverError> {
        let mut verdicts: Vec<Result<(), WireError>> = msgs.iter().map(|_| Ok(())).collect();
        let mut votes: Vec<(usize, VoteMsg, MinerRecord)> = Vec::new();
        let mut inputs: Vec<Fed> = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            match self.screen(m) {
                Err(e) => verdicts[i] = Err(e),
                Ok(Screened::Vote(v, rec)) => votes.push((i, v, rec)),
                Ok(Screened::Proposal(p, rec)) => match self.authenticate_proposal(&p, &rec) {
                    Ok(auth) => {
                        if let Some(paired) = self
                            .book
                            .add_proposal(KnownProposal { msg: p, auth }, &self.roster)
                        {
                            self.relay_paired(paired, out);
                            self.try_validate(paired, out);
                        }
                        inputs.push(Fed::Proposal(p, auth.priority));
                    }
                    Err(e) => verdicts[i] = Err(WireError::Auth(e)),
                },
                Ok(Screened::Block(info, block)) => {
                    match self.book.add_block(m.source, info, *block, &self.roster) {
                        Ok(()) => self.try_validate(info.value, out),
                        Err(e) => verdicts[i] = Err(e),
                    }
                }
            }
        }
        // One batch for every vote's signature and credential.
        let refs: Vec<(&VoteMsg, &MinerRecord)> = votes.iter().map(|(_, v, r)| (v, r)).collect();
        self.votes_verified = self.votes_verified.saturating_add(refs.len() as u64);
        let results = authenticate_votes(
            self.suite.verifiers(),
            &self.params,
            &refs,
            self.roster.total_stake,
            &self.roster.seed,
        );
        for ((i, v, _), r) in votes.iter().zip(results) {
            match r {
                Ok(weight) => inputs.push(Fed::Vote(*v, weight)),
                Err(e) => verdicts[*i] = Err(WireError::Auth(e)),
            }
        }
        out.extend(
            verdicts
                .into_iter()
                .enumerate()
                .map(|(index, verdict)| Effect::Verdict { index, verdict }),
        );
        for fed in inputs {
            if let Fed::Proposal(p, priority) = &fed {
                self.filter.proposal(p.height, p.round, *priority, now);
            }
            let outputs = match fed {
                Fed::Vote(v, weight) => {
                    if let Some(pair) = self.proofs.observe(&v) {
                        out.push(Effect::EquivocationProof(Box::new(pair)));
                    }
                    self.feed_vote(now, &v, weight)
                }
                Fed::Proposal(p, priority) => self.machine.step(
                    now,
                    Input::Proposal {
                        height: p.height,
                        round: p.round,
                        value: p.value,
                        proposer: p.proposer,
                        priority,
                    },
                ),
            };
            self.act(now, outputs, out)?;
        }
        Ok(())
    }

    /// Everything before any signature check: size, exact decoding, height
    /// (the next height is held raw), the machine's windows, dedup, registry.
    fn screen(&mut self, m: &Inbound<'_>) -> Result<Screened<F::Block>, WireError> {
        if m.bytes.len() > m.topic.max_bytes() {
            return Err(WireError::TooLarge(m.bytes.len()));
        }
        let current = self.height();
        let hold_for_next = |height: Height| height == current.saturating_add(1);
        match m.topic {
            Topic::Blocks => {
                let (h, b) = wire::unframe_block(m.bytes).ok_or(WireError::BadBlock)?;
                let block = F::decode(h, b).ok_or(WireError::BadBlock)?;
                let info = F::info(&block);
                if hold_for_next(info.height) {
                    return self.hold(m);
                }
                if info.height != current
                    || info.parent != self.parent
                    || self.machine.decided().is_some()
                {
                    return Err(WireError::OutOfWindow(info.height));
                }
                Ok(Screened::Block(info, Box::new(block)))
            }
            Topic::Votes => {
                let WireMessage::Vote(v) = WireMessage::decode(m.bytes)? else {
                    return Err(WireError::WrongKind);
                };
                if hold_for_next(v.height) {
                    return self.hold(m);
                }
                let hrs = Hrs::new(v.height, v.round, v.step);
                if self.machine.seen(v.voter, hrs, v.value) {
                    return Err(WireError::Duplicate);
                }
                // An equivocator's third value would be ignored: not worth a
                // signature check (nor, if forged, a penalty for the relay).
                if self.machine.vote_saturated(v.voter, hrs) {
                    return Err(WireError::Excess);
                }
                if !self.machine.accepts_vote(hrs, v.value) {
                    return Err(WireError::OutOfWindow(v.height));
                }
                let rec = self
                    .roster
                    .record(&v.voter)
                    .ok_or(WireError::UnknownMiner)?;
                Ok(Screened::Vote(v, rec))
            }
            Topic::Proposals => {
                let WireMessage::Proposal(p) = WireMessage::decode(m.bytes)? else {
                    return Err(WireError::WrongKind);
                };
                if hold_for_next(p.height) {
                    return self.hold(m);
                }
                if self.book.knows_proposal(&p) {
                    return Err(WireError::Duplicate);
                }
                if !self.keeps_proposal(&p) {
                    return Err(WireError::OutOfWindow(p.height));
                }
                if !self.book.has_room_for(&p) {
                    return Err(WireError::Excess);
                }
                let rec = self
                    .roster
                    .record(&p.proposer)
                    .ok_or(WireError::UnknownMiner)?;
                Ok(Screened::Proposal(p, rec))
            }
        }
    }

    /// Whether a proposal is kept for pairing: any round of the height in
    /// progress up to the machine's look-ahead, not only the rounds where the
    /// machine still picks a leader. A value can be soft- or cert-certified
    /// after its proposal step (or before a restarted node reached it again),
    /// and its block is validated and certified with the proposal that named it.
    fn keeps_proposal(&self, p: &ProposalMsg) -> bool {
        let round = self.position().map_or(0, |hrs| hrs.round);
        p.height == self.height()
            && self.machine.decided().is_none()
            && p.value != self.machine.empty_value()
            && p.round >= 1
            && p.round <= round.saturating_add(self.params.round_lookahead)
    }

    fn hold(&mut self, m: &Inbound<'_>) -> Result<Screened<F::Block>, WireError> {
        if self.future.hold(m.topic, m.bytes, m.source) {
            Err(WireError::Buffered)
        } else {
            Err(WireError::Excess)
        }
    }

    fn authenticate_proposal(
        &self,
        p: &ProposalMsg,
        rec: &MinerRecord,
    ) -> Result<crate::auth::ProposalAuth, AuthError> {
        authenticate_proposal(
            self.suite.verifiers(),
            &self.params,
            p,
            rec,
            self.roster.total_stake,
            &self.roster.seed,
        )
    }

    /// Steps the machine with an authenticated vote, and keeps a cert vote the
    /// machine counted under the value it votes for (what a certificate of that
    /// value is assembled from).
    fn feed_vote(&mut self, now: u64, v: &VoteMsg, weight: u64) -> Vec<Output> {
        let hrs = Hrs::new(v.height, v.round, v.step);
        let outputs = self.machine.step(
            now,
            Input::Vote {
                voter: v.voter,
                hrs,
                value: v.value,
                weight,
            },
        );
        self.cert_votes.keep_counted(&self.machine, v);
        outputs
    }

    /// Starts (`true`) or stops keeping signed votes for equivocation proofs
    /// ([`Effect::EquivocationProof`]): a node that submits evidence on chain
    /// turns it on.
    pub fn keep_equivocation_proofs(&mut self, on: bool) {
        self.proofs.set_enabled(on);
    }

    // ----- timers, execution's answers ----------------------------------------

    fn on_tick(&mut self, now: u64, out: &mut Vec<Effect<F::Block>>) -> Result<(), DriverError> {
        if let Some((at, height, round, kind)) = self.deferred
            && at <= now
        {
            self.deferred = None;
            let current = self.position().map(|p| (p.height, p.round));
            if current == Some((height, round)) && self.machine.decided().is_none() {
                let mut queue = VecDeque::new();
                self.propose(now, height, round, kind, out, &mut queue)?;
                self.act(now, queue.into(), out)?;
            }
        }
        if let Some((deadline, hrs)) = self.timer
            && deadline <= now
        {
            self.timer = None;
            let outputs = self.machine.step(now, Input::Timeout(hrs));
            self.act(now, outputs, out)?;
        }
        Ok(())
    }

    fn on_validated(
        &mut self,
        now: u64,
        value: Value,
        valid: bool,
        out: &mut Vec<Effect<F::Block>>,
    ) -> Result<(), DriverError> {
        if !self.validating.remove(&value) && !self.wanted.contains(&value) {
            return Ok(());
        }
        self.wanted.remove(&value);
        let outputs = self.machine.step(
            now,
            Input::BlockValidated {
                height: self.height(),
                value,
                valid,
            },
        );
        self.act(now, outputs, out)
    }

    /// Execution built the block asked for: sign and send the proposal and the
    /// block, keep both durable first, and count the proposal.
    fn on_built(
        &mut self,
        now: u64,
        height: Height,
        round: Round,
        block: F::Block,
        out: &mut Vec<Effect<F::Block>>,
    ) -> Result<(), DriverError> {
        if height != self.height() || self.machine.decided().is_some() {
            return Ok(());
        }
        let info = F::info(&block);
        if info.height != height || info.parent != self.parent {
            return Ok(());
        }
        let value = info.value;
        let Some((msg, auth)) = self.sign_proposal(height, round, value, out)? else {
            return Ok(());
        };
        let (header, body) = F::encode(&block);
        let own = OwnProposal {
            height,
            proposal: WireMessage::Proposal(msg).encode(),
            block: wire::frame_block(&header, &body),
        };
        self.log_own(height, round, Step::PROPOSAL, value, own.proposal.clone());
        out.push(Effect::Broadcast(Topic::Proposals, own.proposal.clone()));
        out.push(Effect::Broadcast(Topic::Blocks, own.block.clone()));
        self.pending.own = Some(own);
        self.book
            .add_proposal(KnownProposal { msg, auth }, &self.roster);
        self.book.add_own_block(value, block);
        self.filter.proposal(height, round, auth.priority, now);
        let outputs = self.machine.step(
            now,
            Input::Proposal {
                height,
                round,
                value,
                proposer: msg.proposer,
                priority: auth.priority,
            },
        );
        self.act(now, outputs, out)
    }

    // ----- the machine's outputs ----------------------------------------------

    /// Acts on the machine's outputs in order; own votes and proposals are fed
    /// back as inputs.
    fn act(
        &mut self,
        now: u64,
        outputs: Vec<Output>,
        out: &mut Vec<Effect<F::Block>>,
    ) -> Result<(), DriverError> {
        let mut queue: VecDeque<Output> = outputs.into();
        while let Some(output) = queue.pop_front() {
            if let Output::Commit { height, .. } = output {
                self.filter.decided(height);
            }
            let output = self.filter_build(now, output);
            match output {
                Output::Persist(j) => self.pending.journal = Some(j),
                Output::SetTimer { hrs, deadline_ms } => {
                    let deadline_ms = self.filter_timer(now, hrs, deadline_ms);
                    self.timer = Some((deadline_ms, hrs));
                }
                Output::Vote { hrs, value } => {
                    if let Some((vote, weight)) = self.cast_vote(now, hrs, value, out)? {
                        queue.extend(self.feed_vote(now, &vote, weight));
                    }
                }
                Output::Propose {
                    height,
                    round,
                    kind,
                    at_ms,
                } if at_ms > now => self.deferred = Some((at_ms, height, round, kind)),
                Output::Propose {
                    height,
                    round,
                    kind,
                    ..
                } => self.propose(now, height, round, kind, out, &mut queue)?,
                Output::ValidateBlock { value, .. } => {
                    self.wanted.insert(value);
                    self.try_validate(value, out);
                }
                Output::Commit {
                    height,
                    round,
                    value,
                    voters,
                } => match self.certificate(height, round, value, &voters) {
                    Ok(certificate) => out.push(Effect::Commit {
                        value,
                        round,
                        certificate,
                    }),
                    Err(error) => out.push(Effect::CannotCertify {
                        height,
                        round,
                        error,
                    }),
                },
                Output::Evidence(e) => out.push(Effect::Evidence(e)),
            }
        }
        Ok(())
    }

    /// The deadline of a timer the machine set: as set, except round 1's
    /// proposal step (the filter timer), which starts the round's observation
    /// and, with [`FilterTimeout::Dynamic`], waits [`Self::filter_timeout_ms`].
    fn filter_timer(&mut self, now: u64, hrs: Hrs, deadline_ms: u64) -> u64 {
        if hrs.round != 1 || hrs.step != Step::PROPOSAL {
            return deadline_ms;
        }
        let dynamic = self.dynamic_filter_in_use();
        let build_delay = match dynamic {
            true => 0,
            false => self.params.assembly_delay_ms(1),
        };
        self.filter.round_started(hrs.height, now, build_delay);
        match dynamic {
            true => deadline_ms.min(now.saturating_add(self.filter_timeout_ms())),
            false => deadline_ms,
        }
    }

    /// Round 1's new block is built at once while the dynamic filter timeout's
    /// estimate is in use (go-algorand's proposers propose at the period's
    /// start); any other proposal as the machine asked.
    fn filter_build(&self, now: u64, output: Output) -> Output {
        match output {
            Output::Propose {
                height,
                round: 1,
                kind: kind @ ProposeKind::NewBlock,
                ..
            } if self.dynamic_filter_in_use() => Output::Propose {
                height,
                round: 1,
                kind,
                at_ms: now,
            },
            other => other,
        }
    }

    /// Whether round 1's timer and build follow the estimate: the chain has
    /// [`FilterTimeout::Dynamic`] and the estimator is warm.
    fn dynamic_filter_in_use(&self) -> bool {
        self.params.filter_timeout != FilterTimeout::Fixed && self.filter.is_warm()
    }

    /// The certificate of a decision: the proposal the block matches and the
    /// counted voters' cert votes for exactly this value.
    fn certificate(
        &self,
        height: Height,
        round: Round,
        value: Value,
        voters: &[(MinerId, u64)],
    ) -> Result<Vec<u8>, CertError> {
        let proposal = self
            .book
            .matching_proposal(&value, &self.roster)
            .ok_or(CertError::ProposalMismatch)?;
        let cert = assemble(height, round, value, proposal.msg, voters, |id| {
            self.cert_votes.get(round, value, id)
        })?;
        Ok(WireMessage::Certificate(cert).encode())
    }

    /// A block that came before its proposal was held, not relayed (nothing
    /// vouched for it yet); now that an authenticated proposal names it, it
    /// is sent on like any paired block. Without this, a block that reached
    /// only some nodes ahead of its proposal never reaches the others, who
    /// can then never validate a value the committee soft-voted.
    fn relay_paired(&self, value: Value, out: &mut Vec<Effect<F::Block>>) {
        if let Some(block) = self.book.block(&value) {
            let (header, body) = F::encode(block);
            out.push(Effect::Broadcast(
                Topic::Blocks,
                wire::frame_block(&header, &body),
            ));
        }
    }

    /// Sends a wanted block to execution once it is paired with its proposal.
    fn try_validate(&mut self, value: Value, out: &mut Vec<Effect<F::Block>>) {
        if !self.wanted.contains(&value) || self.validating.contains(&value) {
            return;
        }
        let Some(block) = self.book.block(&value) else {
            return;
        };
        self.validating.insert(value);
        out.push(Effect::Validate(block.clone()));
    }

    // ----- own messages --------------------------------------------------------

    /// Round catch-up (Kaleido §4.8 NextVoteEnough; go-algorand sends the
    /// bundle that ended a period for the same reason): when this step moved
    /// the node from round `before` into a later round of the same height,
    /// it sends again its own next votes of the rounds it left that are part
    /// of a next quorum. A validator that came back after a long stall starts
    /// the round from its first steps, and drops next votes of steps far
    /// beyond its own: without these, the votes that let the others leave
    /// the round were sent before it could receive them, and it would stay
    /// in that round while they move on. Re-signed, not logged: the same
    /// votes were logged when first cast.
    fn relay_round_quorum(
        &mut self,
        before: Option<Hrs>,
        out: &mut Vec<Effect<F::Block>>,
    ) -> Result<(), DriverError> {
        let (Some(before), Some(after)) = (before, self.position()) else {
            return Ok(());
        };
        if after.height != before.height || after.round <= before.round {
            return Ok(());
        }
        let threshold = self
            .thresholds
            .unwrap_or_else(|| self.params.stake_thresholds())
            .next;
        let keeper = self.machine.keeper();
        let quorum: Vec<(Hrs, Value)> = self
            .own
            .range((before.round, Step(0))..(after.round, Step(0)))
            .filter(|((round, step), value)| {
                step.is_next()
                    && keeper
                        .quorums(*round, *step, threshold)
                        .any(|v| v == **value)
            })
            .map(|((round, step), value)| (Hrs::new(after.height, *round, *step), *value))
            .collect();
        let Some((keys, rec)) = self.signing_keys(after.height) else {
            return Ok(());
        };
        for (hrs, value) in quorum {
            let vote = keys
                .cast_vote(
                    &self.params,
                    hrs,
                    value,
                    &self.roster.seed,
                    rec.stake,
                    self.roster.total_stake,
                )
                .map_err(DriverError::Sign)?;
            if let Some(vote) = vote {
                out.push(Effect::Broadcast(
                    Topic::Votes,
                    WireMessage::Vote(vote).encode(),
                ));
            }
        }
        Ok(())
    }

    /// Whether this node signed another value at (round, step) of the height in
    /// progress: then it abstains (never a second vote, Kaleido §4.12).
    fn signed_other(&self, hrs: Hrs, value: Value, out: &mut Vec<Effect<F::Block>>) -> bool {
        match self.own.get(&(hrs.round, hrs.step)) {
            Some(signed) if *signed != value => {
                out.push(Effect::Abstained {
                    hrs,
                    signed: *signed,
                    asked: value,
                });
                true
            }
            _ => false,
        }
    }

    fn log_own(&mut self, height: Height, round: Round, step: Step, value: Value, wire: Vec<u8>) {
        self.own.insert((round, step), value);
        self.pending.messages.push(OwnMessage {
            height,
            round,
            step,
            value,
            wire,
        });
    }

    fn signing_keys(&self, height: Height) -> Option<(&SuiteKeys<C>, MinerRecord)> {
        if !self.participating {
            return None;
        }
        let keys = self.keys.as_ref()?;
        let record = self.roster.record(&keys.id())?;
        Some((keys.keys_for(height, &record)?, record))
    }

    /// Sortition and signature for an own vote; `None` without a seat. Sent,
    /// logged, and returned with its weight to be counted.
    fn cast_vote(
        &mut self,
        now: u64,
        hrs: Hrs,
        value: Value,
        out: &mut Vec<Effect<F::Block>>,
    ) -> Result<Option<(VoteMsg, u64)>, DriverError> {
        if self.signed_other(hrs, value, out) {
            return Ok(None);
        }
        let due = self
            .far_last_at
            .is_none_or(|at| now >= at.saturating_add(FAR_EVERY_MS));
        let far = match self.attacks.far_votes && due {
            true => far_targets(&self.params, hrs, self.far_bursts),
            false => Vec::new(),
        };
        let Some((keys, rec)) = self.signing_keys(hrs.height) else {
            return Ok(None);
        };
        let total = self.roster.total_stake;
        let seed = self.roster.seed;
        let Some(vote) = keys
            .cast_vote(&self.params, hrs, value, &seed, rec.stake, total)
            .map_err(DriverError::Sign)?
        else {
            return Ok(None);
        };
        let weight = authenticate_vote(
            self.suite.verifiers(),
            &self.params,
            &vote,
            &rec,
            total,
            &seed,
        )
        .map_err(DriverError::Sign)?;
        // Test-only votes, deliberately kept out of the own-vote log (which
        // would refuse them) and not counted here.
        let sign_at = |at: Hrs, v: Value| {
            keys.cast_vote(&self.params, at, v, &seed, rec.stake, total)
                .map_err(DriverError::Sign)
        };
        let sign = |v: Value| sign_at(hrs, v);
        let before = match self.attacks.cert_empty_first && hrs.step == Step::CERT {
            true => sign(self.machine.empty_value())?,
            false => None,
        };
        let twin = match self.attacks.equivocate {
            true => sign(Value(value.0.map(|b| !b)))?,
            false => None,
        };
        let mut burst = Vec::with_capacity(far.len());
        for at in far {
            burst.extend(sign_at(at, self.machine.empty_value())?);
        }
        if !burst.is_empty() {
            self.far_bursts = self.far_bursts.wrapping_add(1);
            self.far_last_at = Some(now);
        }
        if let Some(v) = before {
            out.push(Effect::Broadcast(
                Topic::Votes,
                WireMessage::Vote(v).encode(),
            ));
        }
        let wire = WireMessage::Vote(vote).encode();
        self.log_own(hrs.height, hrs.round, hrs.step, value, wire.clone());
        out.push(Effect::Broadcast(Topic::Votes, wire));
        if let Some(twin) = twin {
            out.push(Effect::Broadcast(
                Topic::Votes,
                WireMessage::Vote(twin).encode(),
            ));
        }
        for v in burst {
            out.push(Effect::Broadcast(
                Topic::Votes,
                WireMessage::Vote(v).encode(),
            ));
        }
        Ok(Some((vote, weight)))
    }

    /// Signs this node's proposal of `value`, authenticated exactly as a peer
    /// would; `None` when not a miner here or without a proposer seat.
    fn sign_proposal(
        &self,
        height: Height,
        round: Round,
        value: Value,
        out: &mut Vec<Effect<F::Block>>,
    ) -> Result<Option<(ProposalMsg, crate::auth::ProposalAuth)>, DriverError> {
        if self.signed_other(Hrs::new(height, round, Step::PROPOSAL), value, out) {
            return Ok(None);
        }
        let Some((keys, rec)) = self.signing_keys(height) else {
            return Ok(None);
        };
        let total = self.roster.total_stake;
        let seed = &self.roster.seed;
        let proposed = keys
            .propose(&self.params, height, round, value, seed, rec.stake, total)
            .map_err(DriverError::Sign)?;
        let Some((msg, _)) = proposed else {
            return Ok(None);
        };
        let auth = authenticate_proposal(
            self.suite.verifiers(),
            &self.params,
            &msg,
            &rec,
            total,
            seed,
        )
        .map_err(DriverError::Sign)?;
        Ok(Some((msg, auth)))
    }

    /// A proposal request: a new block is asked of execution (the proposal is
    /// signed when it is built); a re-proposal is signed now.
    fn propose(
        &mut self,
        now: u64,
        height: Height,
        round: Round,
        kind: ProposeKind,
        out: &mut Vec<Effect<F::Block>>,
        queue: &mut VecDeque<Output>,
    ) -> Result<(), DriverError> {
        let Some((keys, _)) = self.signing_keys(height) else {
            return Ok(());
        };
        match kind {
            ProposeKind::NewBlock => {
                let (_, seed) =
                    derive_seed(&keys.vrf, self.params.chain_id, height, &self.roster.seed);
                let proposer = keys.id;
                out.push(Effect::Build(BuildOrder {
                    height,
                    round,
                    seed,
                    proposer,
                    coinbase: self.roster.reward_address(&proposer),
                    total_stake: self.roster.total_stake,
                    budget_ms: self.params.build_budget_ms(round),
                }));
            }
            ProposeKind::Repropose(value) => {
                if let Some((msg, auth)) = self.sign_proposal(height, round, value, out)? {
                    let wire = WireMessage::Proposal(msg).encode();
                    self.log_own(height, round, Step::PROPOSAL, value, wire.clone());
                    out.push(Effect::Broadcast(Topic::Proposals, wire));
                    self.book
                        .add_proposal(KnownProposal { msg, auth }, &self.roster);
                    queue.extend(self.machine.step(
                        now,
                        Input::Proposal {
                            height,
                            round,
                            value,
                            proposer: msg.proposer,
                            priority: auth.priority,
                        },
                    ));
                }
            }
        }
        Ok(())
    }
}

enum Screened<B> {
    Vote(VoteMsg, MinerRecord),
    Proposal(ProposalMsg, MinerRecord),
    Block(BlockInfo, Box<B>),
}

enum Fed {
    Vote(VoteMsg, u64),
    Proposal(ProposalMsg, [u8; 32]),
}
