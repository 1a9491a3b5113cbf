//! What one height has seen besides votes: authenticated proposals, the blocks
//! they name, and blocks waiting for their proposal (cert votes are kept in
//! [`super::certvotes`]).
//!
//! Every collection is bounded by something an attacker cannot grow for free:
//! proposals by authenticated proposers and rounds in the machine's window,
//! blocks by the proposals that name them, and waiting blocks per source.

use std::collections::{BTreeMap, VecDeque};

use crate::auth::{ProposalAuth, block_matches_proposal};
use crate::codec::ProposalMsg;
use crate::roster::Roster;
use crate::types::{MinerId, Round, Value};

use super::block::{BlockFormat, BlockInfo};
use super::wire::{
    MAX_PROPOSALS_PER_VALUE, MAX_UNPAIRED, MAX_UNPAIRED_PER_SOURCE, MAX_VALUES_PER_PROPOSER_ROUND,
    WireError,
};

/// Where an inbound message came from, as the host names it (a peer, or this
/// node itself): used only to share bounded buffers fairly.
pub type Source = u64;

/// An authenticated proposal.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct KnownProposal {
    /// The signed proposal.
    pub msg: ProposalMsg,
    /// What authentication established (priority, the seed the block must carry).
    pub auth: ProposalAuth,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Waiting<B> {
    source: Source,
    info: BlockInfo,
    block: B,
}

/// Proposals and blocks of one height.
pub struct Book<F: BlockFormat> {
    proposals: BTreeMap<Value, Vec<KnownProposal>>,
    values_of: BTreeMap<(Round, MinerId), Vec<Value>>,
    blocks: BTreeMap<Value, F::Block>,
    waiting: VecDeque<Waiting<F::Block>>,
}

impl<F: BlockFormat> Clone for Book<F> {
    fn clone(&self) -> Self {
        Book {
            proposals: self.proposals.clone(),
            values_of: self.values_of.clone(),
            blocks: self.blocks.clone(),
            waiting: self.waiting.clone(),
        }
    }
}

impl<F: BlockFormat> PartialEq for Book<F>
where
    F::Block: PartialEq,
{
    fn eq(&self, other: &Self) -> bool {
        self.proposals == other.proposals
            && self.values_of == other.values_of
            && self.blocks == other.blocks
            && self.waiting == other.waiting
    }
}

impl<F: BlockFormat> Eq for Book<F> where F::Block: Eq {}

impl<F: BlockFormat> std::hash::Hash for Book<F>
where
    F::Block: std::hash::Hash,
{
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.proposals.hash(state);
        self.values_of.hash(state);
        self.blocks.hash(state);
        self.waiting.hash(state);
    }
}

impl<F: BlockFormat> Default for Book<F> {
    fn default() -> Self {
        Book {
            proposals: BTreeMap::new(),
            values_of: BTreeMap::new(),
            blocks: BTreeMap::new(),
            waiting: VecDeque::new(),
        }
    }
}

impl<F: BlockFormat> Book<F> {
    /// Whether this proposer's proposal of this value in this round is already
    /// known (a re-proposal of the same value in a later round is not: the
    /// machine needs it to pick that round's leader).
    pub fn knows_proposal(&self, p: &ProposalMsg) -> bool {
        self.values_of
            .get(&(p.round, p.proposer))
            .is_some_and(|v| v.contains(&p.value))
    }

    /// Whether one more value of this proposer in this round is kept.
    pub fn has_room_for(&self, p: &ProposalMsg) -> bool {
        let values = self.values_of.get(&(p.round, p.proposer));
        values.is_none_or(|v| v.contains(&p.value) || v.len() < MAX_VALUES_PER_PROPOSER_ROUND)
    }

    /// Keeps an authenticated proposal (within the bounds above). Returns the
    /// block it names if that block was waiting for it and matches it.
    pub fn add_proposal(&mut self, known: KnownProposal, roster: &Roster) -> Option<Value> {
        let p = known.msg;
        if self.knows_proposal(&p) || !self.has_room_for(&p) {
            return None;
        }
        let values = self.values_of.entry((p.round, p.proposer)).or_default();
        if !values.contains(&p.value) {
            values.push(p.value);
        }
        let list = self.proposals.entry(p.value).or_default();
        if list.len() < MAX_PROPOSALS_PER_VALUE
            && !list.iter().any(|k| k.msg.proposer == p.proposer)
        {
            list.push(known);
        }
        // A block that arrived first pairs now, if its header is what this
        // proposal put forward; otherwise it keeps waiting for its own.
        let at = self
            .waiting
            .iter()
            .position(|w| w.info.value == p.value && matches(&w.info, &known, roster))?;
        let w = self.waiting.remove(at)?;
        if self.blocks.contains_key(&p.value) {
            return None;
        }
        self.blocks.insert(p.value, w.block);
        Some(p.value)
    }

    /// A block, screened (decoded, the current height and parent): refused when
    /// its body is not the one its header commits to; stored when an
    /// authenticated proposal names it and its header is what that proposal put
    /// forward; otherwise held (bounded, per source) until such a proposal comes.
    pub fn add_block(
        &mut self,
        source: Source,
        info: BlockInfo,
        block: F::Block,
        roster: &Roster,
    ) -> Result<(), WireError> {
        if self.blocks.contains_key(&info.value) {
            return Err(WireError::Duplicate);
        }
        // Checked before the block is kept or held: a forged copy never takes
        // the place of the real one.
        if !F::body_matches_header(&block) {
            return Err(WireError::BodyMismatch);
        }
        let named = self
            .proposals
            .get(&info.value)
            .is_some_and(|list| matches_any(&info, list, roster));
        if named {
            self.blocks.insert(info.value, block);
            return Ok(());
        }
        // No proposal, or only ones that did not put this header forward (a
        // re-proposal names the value too): wait for the one that did.
        self.hold(source, info, block);
        Err(WireError::Buffered)
    }

    /// This node's own block, named by its own proposal: kept as built.
    pub fn add_own_block(&mut self, value: Value, block: F::Block) {
        self.waiting.retain(|w| w.info.value != value);
        self.blocks.insert(value, block);
    }

    fn hold(&mut self, source: Source, info: BlockInfo, block: F::Block) {
        if self.waiting.iter().any(|w| w.info.value == info.value) {
            return;
        }
        let mine = self.waiting.iter().filter(|w| w.source == source).count();
        if mine >= MAX_UNPAIRED_PER_SOURCE {
            if let Some(oldest) = self.waiting.iter().position(|w| w.source == source) {
                self.waiting.remove(oldest);
            }
        } else if self.waiting.len() >= MAX_UNPAIRED {
            return;
        }
        self.waiting.push_back(Waiting {
            source,
            info,
            block,
        });
    }

    /// The paired block of a value.
    pub fn block(&self, value: &Value) -> Option<&F::Block> {
        self.blocks.get(value)
    }

    /// Values with a paired block.
    pub fn block_values(&self) -> Vec<Value> {
        self.blocks.keys().copied().collect()
    }

    /// The proposal a paired block matches (the one a certificate carries).
    pub fn matching_proposal(&self, value: &Value, roster: &Roster) -> Option<KnownProposal> {
        let info = F::info(self.blocks.get(value)?);
        self.proposals
            .get(value)?
            .iter()
            .find(|k| matches(&info, k, roster))
            .copied()
    }

    /// Whether the block of `value` is held, paired or waiting.
    pub fn knows_block(&self, value: &Value) -> bool {
        self.blocks.contains_key(value) || self.waiting.iter().any(|w| w.info.value == *value)
    }

    /// How many blocks wait for their proposal.
    pub fn waiting_blocks(&self) -> usize {
        self.waiting.len()
    }

    /// How many proposals are kept.
    pub fn proposal_count(&self) -> usize {
        self.proposals.values().map(Vec::len).sum()
    }

    /// The same book with every proposer renamed, and the sources of waiting
    /// blocks mapped by `source` (symmetry reduction in the model checker).
    /// Proposal signatures and credentials are kept as they are: the model's
    /// interchangeable miners share their keys, so they stay valid.
    pub fn renamed(
        &self,
        rename: &impl Fn(MinerId) -> MinerId,
        source: &impl Fn(Source) -> Source,
    ) -> Self {
        let rename_known = |k: &KnownProposal| KnownProposal {
            msg: ProposalMsg {
                proposer: rename(k.msg.proposer),
                ..k.msg
            },
            auth: k.auth,
        };
        Book {
            proposals: self
                .proposals
                .iter()
                .map(|(v, list)| (*v, list.iter().map(rename_known).collect()))
                .collect(),
            values_of: self
                .values_of
                .iter()
                .map(|((r, id), values)| ((*r, rename(*id)), values.clone()))
                .collect(),
            blocks: self.blocks.clone(),
            waiting: self
                .waiting
                .iter()
                .map(|w| Waiting {
                    source: source(w.source),
                    ..w.clone()
                })
                .collect(),
        }
    }
}

fn matches(info: &BlockInfo, k: &KnownProposal, roster: &Roster) -> bool {
    let coinbase = roster.registered_coinbase(&k.msg.proposer);
    block_matches_proposal(&info.claims, &k.msg, &k.auth, coinbase)
}

fn matches_any(info: &BlockInfo, list: &[KnownProposal], roster: &Roster) -> bool {
    list.iter().any(|k| matches(info, k, roster))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{BlockClaims, EMPTY_CREDENTIAL, reward_address};
    use crate::codec::FsSignature;

    /// Blocks reduced to what the book looks at: the header's info, and
    /// whether the body matches it.
    struct Fake;

    #[derive(Clone, Debug)]
    struct FakeBlock {
        info: BlockInfo,
        body_ok: bool,
    }

    impl BlockFormat for Fake {
        type Block = FakeBlock;
        fn decode(_: &[u8], _: &[u8]) -> Option<FakeBlock> {
            None
        }
        fn encode(_: &FakeBlock) -> (Vec<u8>, Vec<u8>) {
            (Vec::new(), Vec::new())
        }
        fn info(b: &FakeBlock) -> BlockInfo {
            b.info
        }
        fn body_matches_header(b: &FakeBlock) -> bool {
            b.body_ok
        }
    }

    const SEED: [u8; 32] = [7; 32];

    fn proposal(proposer: u8, round: Round, value: u8) -> KnownProposal {
        KnownProposal {
            msg: ProposalMsg {
                height: 5,
                round,
                value: Value([value; 32]),
                proposer: MinerId::from_index(proposer),
                credential: EMPTY_CREDENTIAL,
                seed: EMPTY_CREDENTIAL,
                signature: FsSignature::UNSIGNED,
            },
            auth: ProposalAuth {
                weight: 1,
                priority: [value; 32],
                next_seed: SEED,
            },
        }
    }

    /// The block a proposal of `value` by `proposer` puts forward (`body_ok`:
    /// its body is the one its header commits to).
    fn block(proposer: u8, value: u8, body_ok: bool) -> (BlockInfo, FakeBlock) {
        let id = MinerId::from_index(proposer);
        let info = BlockInfo {
            value: Value([value; 32]),
            height: 5,
            parent: Value([0; 32]),
            claims: BlockClaims {
                proposer: id,
                seed: SEED,
                beneficiary: reward_address(&id, None),
            },
        };
        (info, FakeBlock { info, body_ok })
    }

    fn roster() -> Roster {
        Roster::default()
    }

    #[test]
    fn a_block_is_kept_only_once_a_proposal_names_it() {
        let mut book = Book::<Fake>::default();
        let (info, b) = block(1, 0xaa, true);
        assert_eq!(
            book.add_block(9, info, b, &roster()),
            Err(WireError::Buffered)
        );
        assert!(
            book.block(&info.value).is_none(),
            "stored before its proposal"
        );
        assert_eq!(
            book.add_proposal(proposal(1, 1, 0xaa), &roster()),
            Some(info.value)
        );
        assert!(book.block(&info.value).is_some());
        assert_eq!(book.waiting_blocks(), 0);
    }

    /// Attack: junk blocks (no proposal names them) from one peer, at most
    /// two held per source, so they never crowd out the leader's block.
    #[test]
    fn junk_blocks_from_one_source_never_crowd_out_the_leaders_block() {
        let mut book = Book::<Fake>::default();
        for junk in 0..200u8 {
            let (info, b) = block(2, junk, true);
            assert_eq!(
                book.add_block(66, info, b, &roster()),
                Err(WireError::Buffered)
            );
        }
        assert_eq!(book.waiting_blocks(), MAX_UNPAIRED_PER_SOURCE);
        assert!(book.block_values().is_empty());
        let (info, b) = block(1, 0xee, true);
        book.add_block(1, info, b, &roster())
            .expect_err("waits for its proposal");
        assert_eq!(
            book.add_proposal(proposal(1, 1, 0xee), &roster()),
            Some(info.value)
        );
        assert_eq!(book.block_values(), vec![info.value]);
    }

    /// Attack: a copy with the real header and a tampered body is refused and
    /// does not stop the real copy from being kept afterwards.
    #[test]
    fn a_tampered_body_is_refused_and_the_real_copy_still_counts() {
        let mut book = Book::<Fake>::default();
        book.add_proposal(proposal(1, 1, 0xaa), &roster());
        let (info, forged) = block(1, 0xaa, false);
        assert_eq!(
            book.add_block(66, info, forged, &roster()),
            Err(WireError::BodyMismatch)
        );
        assert!(book.block(&info.value).is_none());
        let (info, real) = block(1, 0xaa, true);
        assert_eq!(book.add_block(1, info, real, &roster()), Ok(()));
        assert_eq!(
            book.add_block(2, info, block(1, 0xaa, true).1, &roster()),
            Err(WireError::Duplicate)
        );
        // A tampered copy that arrives before the proposal is refused too.
        let mut book = Book::<Fake>::default();
        let (info, forged) = block(1, 0xbb, false);
        assert_eq!(
            book.add_block(66, info, forged, &roster()),
            Err(WireError::BodyMismatch)
        );
        assert_eq!(book.add_proposal(proposal(1, 1, 0xbb), &roster()), None);
        assert!(book.block(&info.value).is_none());
    }

    /// A proposal naming a value whose header it did not put forward (a
    /// re-proposal, or a Byzantine proposer) neither stores the block nor
    /// takes it from the waiting list: the real proposal still pairs it.
    #[test]
    fn a_block_waits_for_the_proposal_that_put_it_forward() {
        let mut book = Book::<Fake>::default();
        // The header names proposer 1; proposer 2 proposes the same value first.
        let (info, b) = block(1, 0xaa, true);
        assert_eq!(book.add_proposal(proposal(2, 1, 0xaa), &roster()), None);
        assert_eq!(
            book.add_block(3, info, b, &roster()),
            Err(WireError::Buffered)
        );
        assert!(book.block(&info.value).is_none());
        // And the other order: the block waits, a non-matching proposal comes.
        let mut book = Book::<Fake>::default();
        let (info, b) = block(1, 0xbb, true);
        book.add_block(3, info, b, &roster()).expect_err("held");
        assert_eq!(book.add_proposal(proposal(2, 2, 0xbb), &roster()), None);
        assert_eq!(book.waiting_blocks(), 1);
        assert_eq!(
            book.add_proposal(proposal(1, 1, 0xbb), &roster()),
            Some(info.value)
        );
        assert!(book.block(&info.value).is_some());
    }

    /// A forged copy arriving before the proposal is refused at once, so the
    /// real copy after it is held and pairs.
    #[test]
    fn a_forged_copy_never_takes_the_real_ones_place_while_waiting() {
        let mut book = Book::<Fake>::default();
        let (info, forged) = block(1, 0xcc, false);
        assert_eq!(
            book.add_block(66, info, forged, &roster()),
            Err(WireError::BodyMismatch)
        );
        let (info, real) = block(1, 0xcc, true);
        assert_eq!(
            book.add_block(1, info, real, &roster()),
            Err(WireError::Buffered)
        );
        assert_eq!(
            book.add_proposal(proposal(1, 1, 0xcc), &roster()),
            Some(info.value)
        );
    }

    /// The same proposer re-proposing the same value in a later round is a new
    /// proposal (the machine picks each round's leader); the same round is not.
    #[test]
    fn a_re_proposal_in_a_later_round_is_not_a_duplicate() {
        let mut book = Book::<Fake>::default();
        book.add_proposal(proposal(1, 1, 0xaa), &roster());
        assert!(book.knows_proposal(&proposal(1, 1, 0xaa).msg));
        assert!(!book.knows_proposal(&proposal(1, 2, 0xaa).msg));
        book.add_proposal(proposal(1, 2, 0xaa), &roster());
        assert!(book.knows_proposal(&proposal(1, 2, 0xaa).msg));
        assert_eq!(book.proposal_count(), 1, "one entry per (value, proposer)");
    }

    #[test]
    fn one_proposer_keeps_at_most_two_values_per_round() {
        let mut book = Book::<Fake>::default();
        for v in 1..=5u8 {
            let p = proposal(1, 1, v);
            let room = book.has_room_for(&p.msg);
            assert_eq!(
                room,
                usize::from(v) <= MAX_VALUES_PER_PROPOSER_ROUND,
                "value {v}"
            );
            book.add_proposal(p, &roster());
        }
        assert_eq!(book.proposal_count(), MAX_VALUES_PER_PROPOSER_ROUND);
        // Another round is another slot.
        assert!(book.has_room_for(&proposal(1, 2, 9).msg));
    }
}
