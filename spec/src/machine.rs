//! The BA* round/step machine (Kaleido reference §4.6).
//!
//! One serialized step, as in go-algorand's `agreement` player: an [`Input`] goes
//! in, a list of [`Output`]s comes out, and nothing else happens. Time is the `now`
//! argument (milliseconds on the host's clock, used only to turn timer durations into
//! deadlines); randomness lives in the credentials the host verified. The machine
//! never signs, verifies, hashes blocks or touches a disk.
//!
//! Steps (Kaleido §4.6): 1 Proposal → 2 Filtering (soft vote, instant) →
//! 3 Certifying (cert vote) → 4 FirstFinishing (next vote, instant) →
//! 5 SecondFinishing (next vote) → 6 FirstFinishing → 7 SecondFinishing → …
//! The machine rests (and runs a timer) only in steps 1, 3 and odd steps ≥ 5.
//!
//! Global handlers, active in every step:
//! - a cert quorum for a value in *any* round of the height commits it (once its
//!   block is known valid);
//! - a next quorum for a value in a round ≥ the current one starts the following
//!   round with that value as starting value (catch-up);
//!
//! Own votes are not counted directly: the machine emits [`Output::Vote`], the host
//! runs sortition and signs (a miner with zero seats sends nothing) and feeds the
//! signed vote back as [`Input::Vote`] like any other.
//!
//! Crash safety: before every `Vote` or `Propose` output the machine emits
//! [`Output::Persist`] with its [`Journal`]; the host must make it durable before
//! the vote leaves the node. [`Machine::restore`] resumes from a journal and never
//! casts a different vote for a (round, step) it voted in before.

use crate::keeper::{Added, Equivocation, VoteKeeper};
use crate::params::{Params, Thresholds};
use crate::types::{Height, Hrs, MinerId, Round, Step, Value};

/// Starts agreement on a height.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct HeightStart {
    /// The height to agree on.
    pub height: Height,
    /// The hash of the committed block at `height − 1`.
    pub parent: Value,
    /// The quorum thresholds at this height (from the committee of the parent state).
    pub thresholds: Thresholds,
}

/// Everything the machine reacts to.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum Input {
    /// Begin agreement on a height: at start-up and after every committed block,
    /// including blocks synced from peers ("NewHeight", Kaleido §4.6).
    NewHeight(HeightStart),
    /// A timer set by [`Output::SetTimer`] expired.
    Timeout(Hrs),
    /// A verified leader proposal (ProposalLeader). `priority` is the credential's
    /// priority: smaller is better (Kaleido §4.5).
    Proposal {
        height: Height,
        round: Round,
        /// The proposed block's header hash.
        value: Value,
        proposer: MinerId,
        /// Credential priority, compared as bytes.
        priority: [u8; 32],
    },
    /// A verified vote with its weight in seats.
    Vote {
        voter: MinerId,
        /// Where the vote was cast.
        hrs: Hrs,
        /// The value voted for.
        value: Value,
        /// Seats won by the voter's credential (or its fixed weight).
        weight: u64,
    },
    /// Answer to [`Output::ValidateBlock`]: the block of `value` was received and
    /// fully executed (`valid`), or found invalid.
    BlockValidated {
        height: Height,
        /// The block's header hash.
        value: Value,
        /// Whether the block is valid.
        valid: bool,
    },
}

/// What a proposer is asked to propose at the start of a round.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub enum ProposeKind {
    /// Build a new block (round 1, or the previous round agreed on "empty").
    NewBlock,
    /// Re-propose the value carried from the previous round.
    Repropose(Value),
}

/// Everything the machine asks its host to do.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Output {
    /// Make this journal durable before acting on any later output.
    Persist(Journal),
    /// If this node's step-1 sortition selects it, propose (Kaleido §4.6 Proposal 4–6).
    Propose {
        height: Height,
        round: Round,
        /// New block or re-proposal.
        kind: ProposeKind,
        /// When to act, on the host clock: a new block is built at the round's
        /// start plus [`Params::assembly_delay_ms`] (transactions arriving in the
        /// meantime make it into the block), a re-proposal is sent at once.
        at_ms: u64,
    },
    /// Cast this node's vote: run sortition for `hrs`; if selected, sign, broadcast
    /// and feed the vote back as [`Input::Vote`].
    Vote {
        /// The (height, round, step) to vote at.
        hrs: Hrs,
        /// The value to vote for: a header hash or the height's empty value.
        value: Value,
    },
    /// Deliver [`Input::Timeout`] for `hrs` at `deadline_ms` on the host clock.
    SetTimer {
        /// The step the timer belongs to.
        hrs: Hrs,
        /// When it fires: host-clock milliseconds, not a duration.
        deadline_ms: u64,
    },
    /// Obtain and fully validate the block of `value`; answer with
    /// [`Input::BlockValidated`].
    ValidateBlock {
        height: Height,
        /// The block's header hash.
        value: Value,
    },
    /// `value` is certified: commit its block with a certificate made of the listed
    /// voters' cert votes of `round`. The height is over.
    Commit {
        height: Height,
        /// The round of the cert quorum.
        round: Round,
        value: Value,
        /// The cert voters (sorted) with their weights.
        voters: Vec<(MinerId, u64)>,
    },
    /// A voter equivocated; the host may report or penalise it.
    Evidence(Equivocation),
}

/// The durable part of the machine: enough to resume after a crash without ever
/// voting differently in a (round, step) voted in before.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Journal {
    /// The height being agreed on.
    pub start: HeightStart,
    /// Round at the time of writing.
    pub round: Round,
    /// Step at the time of writing.
    pub step: Step,
    /// The round's starting value.
    pub starting: Value,
    /// Every vote cast at this height, sorted by (round, step).
    pub cast: Vec<(Round, Step, Value)>,
    /// Rounds in which this node was asked to propose.
    pub proposed: Vec<Round>,
    /// Soft-certified values this node acted on, by round.
    pub soft_certified: Vec<(Round, Value)>,
}

#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
enum BlockState {
    Requested,
    Valid,
    Invalid,
}

#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
struct Leader {
    round: Round,
    priority: [u8; 32],
    value: Value,
    proposer: MinerId,
}

/// The BA* machine of one node.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Machine {
    params: Params,
    /// `None` until the first [`Input::NewHeight`].
    start: Option<HeightStart>,
    empty: Value,
    round: Round,
    step: Step,
    starting: Value,
    /// Best proposal per round, sorted by round.
    leaders: Vec<Leader>,
    /// Validation state per value, sorted by value.
    blocks: Vec<(Value, BlockState)>,
    keeper: VoteKeeper,
    cast: Vec<(Round, Step, Value)>,
    proposed: Vec<Round>,
    soft_certified: Vec<(Round, Value)>,
    decided: Option<(Round, Value)>,
    /// Inputs for the next height, replayed when it starts.
    future: Vec<Input>,
}

impl Machine {
    /// A machine waiting for its first [`Input::NewHeight`].
    pub fn new(params: Params) -> Self {
        Machine {
            params,
            start: None,
            empty: Value::default(),
            round: 0,
            step: Step(0),
            starting: Value::default(),
            leaders: Vec::new(),
            blocks: Vec::new(),
            keeper: VoteKeeper::new(),
            cast: Vec::new(),
            proposed: Vec::new(),
            soft_certified: Vec::new(),
            decided: None,
            future: Vec::new(),
        }
    }

    /// Resumes from a journal after a crash. Returns the machine and the outputs
    /// to act on: the current step's timer and the re-broadcast of every vote
    /// already cast at this height (same values: re-sending is not equivocation).
    pub fn restore(params: Params, journal: &Journal, now: u64) -> (Self, Vec<Output>) {
        let mut m = Machine::new(params);
        let start = journal.start;
        m.start = Some(start);
        m.empty = Value::empty(start.parent, start.height);
        m.round = journal.round.max(1);
        m.step = journal.step.max(Step::PROPOSAL);
        m.starting = journal.starting;
        m.cast = journal.cast.clone();
        m.proposed = journal.proposed.clone();
        m.soft_certified = journal.soft_certified.clone();
        for &(_, v) in &journal.soft_certified {
            m.set_block(v, BlockState::Valid);
        }
        let mut out = Vec::new();
        for &(round, step, value) in &m.cast {
            out.push(Output::Vote {
                hrs: Hrs::new(start.height, round, step),
                value,
            });
        }
        // Journals are written in waiting steps or right after an instant step's
        // vote; an instant step resumes in the waiting step that follows it, so the
        // position never goes backwards across a restart.
        let step = m.step;
        if step == Step::SOFT || step.is_first_finishing() {
            m.step = step.succ();
        }
        m.set_timer(now, &mut out);
        (m, out)
    }

    /// The protocol position, or `None` before the first height.
    pub fn position(&self) -> Option<Hrs> {
        self.start
            .map(|s| Hrs::new(s.height, self.round, self.step))
    }

    /// The height being agreed on (0 before the first height).
    pub fn height(&self) -> Height {
        self.start.map(|s| s.height).unwrap_or(0)
    }

    /// The current round's starting value.
    pub fn starting_value(&self) -> Value {
        self.starting
    }

    /// The empty value of the current height.
    pub fn empty_value(&self) -> Value {
        self.empty
    }

    /// The decision of the current height, once certified and committed.
    pub fn decided(&self) -> Option<(Round, Value)> {
        self.decided
    }

    /// The votes counted at this height.
    pub fn keeper(&self) -> &VoteKeeper {
        &self.keeper
    }

    /// Whether this exact vote was already counted: hosts ask before verifying a
    /// vote so that copies are never re-verified (fixes Kaleido W9).
    pub fn seen(&self, voter: MinerId, hrs: Hrs, value: Value) -> bool {
        hrs.height == self.height() && self.keeper.contains(voter, hrs.round, hrs.step, value)
    }

    /// Whether `voter` already has two values counted at `hrs` of the height in
    /// progress: a further value would be ignored (see
    /// [`VoteKeeper::saturated`]), so hosts drop it unverified.
    pub fn vote_saturated(&self, voter: MinerId, hrs: Hrs) -> bool {
        hrs.height == self.height() && self.keeper.saturated(voter, hrs.round, hrs.step)
    }

    /// Whether a vote would be kept if it authenticates with some weight: for the
    /// height in progress, not yet decided, and inside the round and step windows.
    /// Hosts ask before any signature check, so a vote the machine would drop
    /// costs nothing and is stored nowhere.
    pub fn accepts_vote(&self, hrs: Hrs, value: Value) -> bool {
        hrs.height == self.height() && self.decided.is_none() && self.vote_in_window(hrs, value, 1)
    }

    /// The journal as it would be persisted now.
    pub fn journal(&self) -> Option<Journal> {
        self.start.map(|start| Journal {
            start,
            round: self.round,
            step: self.step,
            starting: self.starting,
            cast: self.cast.clone(),
            proposed: self.proposed.clone(),
            soft_certified: self.soft_certified.clone(),
        })
    }

    /// Votes this node cast at this height.
    pub fn cast_votes(&self) -> &[(Round, Step, Value)] {
        &self.cast
    }

    /// The same machine with every miner id it holds (voters, leaders' proposers,
    /// buffered next-height inputs) renamed by `rename`, which must be injective.
    ///
    /// The machine treats miner ids only as identities (never as a tie-break), so
    /// for a permutation π: `m.renamed(π).step(now, π(input)) = π(m.step(now, input))`
    /// (outputs renamed, the certificate's voter list re-sorted). The model checker
    /// relies on this for symmetry reduction over interchangeable nodes.
    pub fn renamed(&self, rename: &impl Fn(MinerId) -> MinerId) -> Machine {
        Machine {
            leaders: self
                .leaders
                .iter()
                .map(|l| Leader {
                    proposer: rename(l.proposer),
                    ..*l
                })
                .collect(),
            keeper: self.keeper.renamed(rename),
            future: self
                .future
                .iter()
                .map(|i| rename_input(*i, rename))
                .collect(),
            params: self.params,
            start: self.start,
            empty: self.empty,
            round: self.round,
            step: self.step,
            starting: self.starting,
            blocks: self.blocks.clone(),
            cast: self.cast.clone(),
            proposed: self.proposed.clone(),
            soft_certified: self.soft_certified.clone(),
            decided: self.decided,
        }
    }

    /// Feeds one input; returns what the host must do, in order.
    pub fn step(&mut self, now: u64, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::NewHeight(start) => self.on_new_height(now, start, &mut out),
            Input::Timeout(hrs) => self.on_timeout(now, hrs, &mut out),
            Input::Proposal { .. } | Input::Vote { .. } | Input::BlockValidated { .. } => {
                self.on_message(now, input, &mut out)
            }
        }
        out
    }

    // ----- NewHeight ----------------------------------------------------------

    fn on_new_height(&mut self, now: u64, start: HeightStart, out: &mut Vec<Output>) {
        if start.height == 0 || self.start.is_some_and(|s| start.height <= s.height) {
            return; // (height, round, step) never goes backwards
        }
        let future = std::mem::take(&mut self.future);
        *self = Machine {
            start: Some(start),
            empty: Value::empty(start.parent, start.height),
            ..Machine::new(self.params)
        };
        self.enter_round(now, 1, self.empty, out);
        for input in future {
            if input_height(&input) == start.height {
                self.on_message(now, input, out);
            }
        }
        self.progress(now, out);
    }

    // ----- messages -----------------------------------------------------------

    fn on_message(&mut self, now: u64, input: Input, out: &mut Vec<Output>) {
        let Some(start) = self.start else { return };
        let h = input_height(&input);
        if h == start.height + 1 {
            if self.future.len() < self.params.max_future_votes {
                self.future.push(input);
            }
            return;
        }
        if h != start.height || self.decided.is_some() {
            return;
        }
        match input {
            Input::Vote {
                voter,
                hrs,
                value,
                weight,
            } => {
                if !self.vote_in_window(hrs, value, weight) {
                    return;
                }
                match self.keeper.add(voter, hrs.round, hrs.step, value, weight) {
                    Added::Counted { .. } => self.progress(now, out),
                    Added::Duplicate => {}
                    Added::Equivocation { evidence, counted } => {
                        out.push(Output::Evidence(evidence));
                        if counted {
                            self.progress(now, out);
                        }
                    }
                }
            }
            Input::Proposal {
                round,
                value,
                proposer,
                priority,
                ..
            } => self.on_proposal(now, round, value, proposer, priority, out),
            Input::BlockValidated { value, valid, .. } => {
                let state = if valid {
                    BlockState::Valid
                } else {
                    BlockState::Invalid
                };
                self.set_block(value, state);
                self.progress(now, out);
            }
            Input::NewHeight(_) | Input::Timeout(_) => {}
        }
    }

    /// Votes the machine keeps: steps ≥ 2, no soft or cert vote for the empty value
    /// (Kaleido §4.2), rounds and steps within the look-ahead windows (bounds memory
    /// against a Byzantine voter spraying far-future rounds).
    fn vote_in_window(&self, hrs: Hrs, value: Value, weight: u64) -> bool {
        if weight == 0 || hrs.round == 0 || hrs.step < Step::SOFT {
            return false;
        }
        if !hrs.step.is_next() && value == self.empty {
            return false;
        }
        if hrs.round > self.round.saturating_add(self.params.round_lookahead) {
            return false;
        }
        let base = if hrs.round < self.round {
            // Of a past round only two things are still used: a cert quorum (it
            // commits in any round) and the previous round's next votes (whether
            // it ended on the empty value). Their steps are bounded by the highest
            // next quorum that round reached, which honest weight alone makes, so
            // a Byzantine voter cannot open ever further steps of a past round.
            if hrs.step == Step::CERT {
                return true;
            }
            if !hrs.step.is_next() || hrs.round.saturating_add(1) != self.round {
                return false;
            }
            self.highest_next_quorum_step(hrs.round)
                .max(Step::FIRST_NEXT.0)
        } else if hrs.round == self.round {
            self.step.0.max(Step::FIRST_NEXT.0)
        } else {
            Step::FIRST_NEXT.0
        };
        hrs.step.0 <= base.saturating_add(self.params.step_lookahead)
    }

    /// ProposalLeaderReceived (Kaleido §4.6 global handlers): accepted for future
    /// rounds, or for the current round while in the Proposal step; the best
    /// (smallest) priority per round is kept.
    fn on_proposal(
        &mut self,
        now: u64,
        round: Round,
        value: Value,
        proposer: MinerId,
        priority: [u8; 32],
        out: &mut Vec<Output>,
    ) {
        if value == self.empty || round == 0 {
            return;
        }
        let current_ok = round == self.round && self.step == Step::PROPOSAL;
        let future_ok =
            round > self.round && round <= self.round.saturating_add(self.params.round_lookahead);
        if !(current_ok || future_ok) {
            return;
        }
        let new = Leader {
            round,
            priority,
            value,
            proposer,
        };
        match self.leaders.binary_search_by(|l| l.round.cmp(&round)) {
            Ok(i) => {
                if (priority, value) >= (self.leaders[i].priority, self.leaders[i].value) {
                    return;
                }
                self.leaders[i] = new;
            }
            Err(i) => self.leaders.insert(i, new),
        }
        self.request_validation(value, out);
        self.progress(now, out);
    }

    // ----- timers -------------------------------------------------------------

    fn on_timeout(&mut self, now: u64, hrs: Hrs, out: &mut Vec<Output>) {
        if self.position() != Some(hrs) || self.decided.is_some() {
            return; // stale timer
        }
        match hrs.step {
            Step::PROPOSAL => {
                self.filtering(out);
                self.certifying(now, out);
            }
            Step::CERT => self.finishing(now, Step::FIRST_NEXT, out),
            s if s.is_second_finishing() => self.finishing(now, s.succ(), out),
            _ => {}
        }
        self.progress(now, out);
    }

    // ----- steps --------------------------------------------------------------

    /// Proposal(r, V), Kaleido §4.6: step 1, timer, and a proposal request: a new
    /// block if the round starts from the empty value, else a re-proposal of V.
    fn enter_round(&mut self, now: u64, round: Round, starting: Value, out: &mut Vec<Output>) {
        self.round = round;
        self.step = Step::PROPOSAL;
        self.starting = starting;
        let propose = !self.proposed.contains(&round);
        if propose {
            self.proposed.push(round);
        }
        // One journal write covers both the new position and the proposal.
        self.persist(out);
        if propose {
            let (kind, at_ms) = if starting == self.empty {
                let delay = self.params.assembly_delay_ms(round);
                (ProposeKind::NewBlock, now.saturating_add(delay))
            } else {
                (ProposeKind::Repropose(starting), now)
            };
            out.push(Output::Propose {
                height: self.height(),
                round,
                kind,
                at_ms,
            });
        }
        self.set_timer(now, out);
    }

    /// Filtering (step 2, instant): soft-vote the round leader's value when the
    /// round started from the empty value, else the starting value.
    fn filtering(&mut self, out: &mut Vec<Output>) {
        self.step = Step::SOFT;
        let value = if self.starting == self.empty {
            self.leaders
                .iter()
                .find(|l| l.round == self.round)
                .map(|l| l.value)
        } else {
            Some(self.starting)
        };
        if let Some(v) = value {
            self.request_validation(v, out);
            self.cast_vote(v, out);
        }
    }

    /// Certifying (step 3): wait, with a timer, for a soft quorum on a valid block.
    fn certifying(&mut self, now: u64, out: &mut Vec<Output>) {
        self.step = Step::CERT;
        self.wait(now, out);
    }

    /// FirstFinishing (even step, instant) then SecondFinishing (odd step, waits).
    ///
    /// FirstFinishing next-votes the round's soft-certified valid value; else the
    /// empty value if the round started from an empty next quorum (r ≥ 2); else the
    /// starting value.
    fn finishing(&mut self, now: u64, first: Step, out: &mut Vec<Output>) {
        self.step = first;
        let value = match self.soft_certified_valid(self.round) {
            Some(v) => v,
            None => self.starting, // equals `empty` when the round started from empty
        };
        self.cast_vote(value, out);
        self.step = first.succ();
        self.wait(now, out);
    }

    /// The step-local reactions that depend on what has been seen, re-evaluated
    /// after every input, and the global handlers.
    fn progress(&mut self, now: u64, out: &mut Vec<Output>) {
        loop {
            if self.decided.is_some() || self.start.is_none() {
                return;
            }
            // CertVoteEnough, any round of the height.
            if self.try_commit(out) {
                return;
            }
            // NextVoteEnough(v, r ≥ current): start round r + 1 with v.
            if let Some((round, value)) = self.next_quorum_at_or_after(self.round) {
                self.enter_round(now, round + 1, value, out);
                continue;
            }
            break;
        }
        let round = self.round;
        if let Some(v) = self.soft_certified(round) {
            self.request_validation(v, out);
        }
        if self.step == Step::CERT
            && !self.has_cast(round, Step::CERT)
            && let Some(v) = self.soft_certified_valid(round)
        {
            self.cast_vote(v, out);
        }
        if self.step.is_second_finishing() && !self.has_cast(round, self.step) {
            if let Some(v) = self.soft_certified_valid(round) {
                self.cast_vote(v, out);
            } else if round >= 2 && self.next_quorum(round - 1, self.empty) {
                let empty = self.empty;
                self.cast_vote(empty, out);
            }
        }
    }

    fn try_commit(&mut self, out: &mut Vec<Output>) -> bool {
        let Some(start) = self.start else {
            return false;
        };
        let cert = start.thresholds.cert;
        let certified: Vec<(Round, Value)> = self
            .keeper
            .all_quorums(|s| if s == Step::CERT { cert } else { u64::MAX })
            .filter(|&(_, s, v)| s == Step::CERT && v != self.empty)
            .map(|(r, _, v)| (r, v))
            .collect();
        for (round, value) in certified {
            match self.block(value) {
                Some(BlockState::Valid) => {
                    self.decided = Some((round, value));
                    out.push(Output::Commit {
                        height: start.height,
                        round,
                        value,
                        voters: self.keeper.voters(round, Step::CERT, value),
                    });
                    return true;
                }
                None => self.request_validation(value, out),
                Some(_) => {}
            }
        }
        false
    }

    // ----- queries ------------------------------------------------------------

    /// The non-empty value with a soft quorum in `round` (smallest if several),
    /// or one this node acted on before a crash.
    fn soft_certified(&self, round: Round) -> Option<Value> {
        let t = self.start?.thresholds.soft;
        self.keeper
            .quorums(round, Step::SOFT, t)
            .find(|v| *v != self.empty)
            .or_else(|| {
                self.soft_certified
                    .iter()
                    .find(|(r, _)| *r == round)
                    .map(|(_, v)| *v)
            })
    }

    fn soft_certified_valid(&self, round: Round) -> Option<Value> {
        self.soft_certified(round)
            .filter(|v| self.block(*v) == Some(BlockState::Valid))
    }

    /// Whether `value` has a next quorum at any next step of `round`.
    fn next_quorum(&self, round: Round, value: Value) -> bool {
        let Some(start) = self.start else {
            return false;
        };
        let t = start.thresholds.next;
        self.keeper
            .all_quorums(|s| if s.is_next() { t } else { u64::MAX })
            .any(|(r, _, v)| r == round && v == value)
    }

    /// The highest round ≥ `from` with a next quorum, and its value (a non-empty
    /// value is preferred over the empty value in the same round).
    fn next_quorum_at_or_after(&self, from: Round) -> Option<(Round, Value)> {
        let t = self.start?.thresholds.next;
        let empty = self.empty;
        self.keeper
            .all_quorums(|s| if s.is_next() { t } else { u64::MAX })
            .filter(|&(r, _, _)| r >= from)
            .map(|(r, _, v)| (r, v))
            .max_by_key(|&(r, v)| (r, v != empty, std::cmp::Reverse(v)))
    }

    /// The highest next step of `round` at which some value reached a next quorum.
    fn highest_next_quorum_step(&self, round: Round) -> u32 {
        let Some(start) = self.start else { return 0 };
        let t = start.thresholds.next;
        self.keeper
            .all_quorums(|s| if s.is_next() { t } else { u64::MAX })
            .filter(|&(r, _, _)| r == round)
            .map(|(_, s, _)| s.0)
            .max()
            .unwrap_or(0)
    }

    fn has_cast(&self, round: Round, step: Step) -> bool {
        self.cast.iter().any(|&(r, s, _)| r == round && s == step)
    }

    fn block(&self, value: Value) -> Option<BlockState> {
        self.blocks
            .binary_search_by(|b| b.0.cmp(&value))
            .ok()
            .map(|i| self.blocks[i].1)
    }

    // ----- effects ------------------------------------------------------------

    fn set_block(&mut self, value: Value, state: BlockState) {
        match self.blocks.binary_search_by(|b| b.0.cmp(&value)) {
            Ok(i) => {
                if self.blocks[i].1 != BlockState::Valid {
                    self.blocks[i].1 = state;
                }
            }
            Err(i) => self.blocks.insert(i, (value, state)),
        }
    }

    fn request_validation(&mut self, value: Value, out: &mut Vec<Output>) {
        if value == self.empty || self.block(value).is_some() {
            return;
        }
        self.set_block(value, BlockState::Requested);
        out.push(Output::ValidateBlock {
            height: self.height(),
            value,
        });
    }

    /// Casts this node's vote at the current (round, step), at most once, after
    /// persisting it (honest non-equivocation across crashes, invariant S3).
    fn cast_vote(&mut self, value: Value, out: &mut Vec<Output>) {
        let (round, step) = (self.round, self.step);
        if self.has_cast(round, step) {
            return;
        }
        // Remember the soft-certified value this vote acts on, so that after a crash
        // the node keeps next-voting it (value lock, invariant S7).
        if step >= Step::CERT
            && Some(value) == self.soft_certified(round)
            && !self.soft_certified.iter().any(|&(r, _)| r == round)
        {
            self.soft_certified.push((round, value));
        }
        let at = self
            .cast
            .partition_point(|&(r, s, _)| (r, s) < (round, step));
        self.cast.insert(at, (round, step, value));
        self.persist(out);
        out.push(Output::Vote {
            hrs: Hrs::new(self.height(), round, step),
            value,
        });
    }

    fn persist(&self, out: &mut Vec<Output>) {
        if let Some(j) = self.journal() {
            out.push(Output::Persist(j));
        }
    }

    /// Enters a waiting step: persists the position first, so that a restart resumes
    /// here and never at an earlier step (S9 across crashes), then sets its timer.
    fn wait(&self, now: u64, out: &mut Vec<Output>) {
        self.persist(out);
        self.set_timer(now, out);
    }

    fn set_timer(&self, now: u64, out: &mut Vec<Output>) {
        let duration = self.params.timeout_ms(self.round, self.step);
        out.push(Output::SetTimer {
            hrs: Hrs::new(self.height(), self.round, self.step),
            deadline_ms: now.saturating_add(duration),
        });
    }
}

fn input_height(input: &Input) -> Height {
    match input {
        Input::NewHeight(s) => s.height,
        Input::Timeout(hrs) => hrs.height,
        Input::Proposal { height, .. } | Input::BlockValidated { height, .. } => *height,
        Input::Vote { hrs, .. } => hrs.height,
    }
}

/// `input` with its voter or proposer renamed (see [`Machine::renamed`]).
pub fn rename_input(input: Input, rename: &impl Fn(MinerId) -> MinerId) -> Input {
    match input {
        Input::Vote {
            voter,
            hrs,
            value,
            weight,
        } => Input::Vote {
            voter: rename(voter),
            hrs,
            value,
            weight,
        },
        Input::Proposal {
            height,
            round,
            value,
            proposer,
            priority,
        } => Input::Proposal {
            height,
            round,
            value,
            proposer: rename(proposer),
            priority,
        },
        other => other,
    }
}
