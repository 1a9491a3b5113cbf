//! What crosses the wire for consensus: the gossip topics, the block framing,
//! every size limit, and the verdict on each inbound message.
//!
//! Limits live here and nowhere else: the gossip layer, sync and the driver all
//! read them from this module.

use crate::auth::AuthError;
use crate::codec::DecodeError;
use crate::types::Height;

/// Largest vote or proposal message (the codec's own bound).
pub use crate::codec::MAX_MESSAGE_BYTES;

/// Largest gossiped or synced block, framing included (header + body).
pub const MAX_BLOCK_BYTES: usize = 8 * 1024 * 1024;

/// Most messages held for the next height (votes, proposals and blocks together).
pub const MAX_FUTURE_MESSAGES: usize = 4096;

/// Most bytes held for the next height. Blocks dominate: a few full blocks fit,
/// a flood of them does not.
pub const MAX_FUTURE_BYTES: usize = 4 * MAX_BLOCK_BYTES;

/// Most blocks one source may have waiting for their proposal, at one height or
/// the next. A further block from that source replaces its oldest.
pub const MAX_UNPAIRED_PER_SOURCE: usize = 2;

/// Most blocks waiting for their proposal, from all sources together.
pub const MAX_UNPAIRED: usize = 64;

/// Most distinct values one proposer may put forward in one round: an honest
/// proposer puts forward one; a second is kept as evidence of equivocation, any
/// further one is ignored.
pub const MAX_VALUES_PER_PROPOSER_ROUND: usize = 2;

/// Most proposers kept for one value (a re-proposed value is carried by many).
pub const MAX_PROPOSALS_PER_VALUE: usize = 8;

/// The gossip topics consensus publishes on.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Signed votes (`kalgo/votes/1`).
    Votes,
    /// Signed proposals (`kalgo/proposals/1`).
    Proposals,
    /// Framed blocks (`kalgo/blocks/1`), see [`frame_block`].
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

    /// The largest message this topic carries.
    pub fn max_bytes(self) -> usize {
        match self {
            Topic::Blocks => MAX_BLOCK_BYTES,
            Topic::Votes | Topic::Proposals => MAX_MESSAGE_BYTES,
        }
    }
}

/// Frames a block for the blocks topic and for sync: BE32 header length ‖
/// header ‖ body.
pub fn frame_block(header: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + header.len() + body.len());
    out.extend_from_slice(&(header.len() as u32).to_be_bytes());
    out.extend_from_slice(header);
    out.extend_from_slice(body);
    out
}

/// Splits [`frame_block`] into header and body bytes; `None` when the length
/// prefix is missing or runs past the end.
pub fn unframe_block(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = u32::from_be_bytes(*len) as usize;
    (len <= rest.len()).then(|| rest.split_at(len))
}

/// Why an inbound message was not used. Some kinds are harmless (stale,
/// duplicate, held for later: [`WireError::is_ignore`]); the others mean the
/// sender misbehaved and gossip penalises it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// Larger than its topic allows.
    #[error("message of {0} bytes is too large")]
    TooLarge(usize),
    /// A vote or proposal does not decode.
    #[error("decode: {0}")]
    Decode(#[from] DecodeError),
    /// A block does not decode, or carries bytes after its header or body.
    #[error("block does not decode")]
    BadBlock,
    /// A block whose body is not the one its header commits to.
    #[error("block body does not match its header")]
    BodyMismatch,
    /// For a height already decided, too far ahead, or outside the machine's
    /// round and step windows.
    #[error("height {0} outside the window")]
    OutOfWindow(Height),
    /// Kept until it can be used: a message for the next height, or a block
    /// whose proposal has not arrived. Not relayed.
    #[error("held until it can be used")]
    Buffered,
    /// Already seen: dropped, not relayed.
    #[error("duplicate")]
    Duplicate,
    /// Beyond what one sender may have kept (a third value of one proposer in
    /// one round or of one voter in one step, a full buffer).
    #[error("beyond what is kept")]
    Excess,
    /// Not a kind this topic carries.
    #[error("unexpected message kind")]
    WrongKind,
    /// The sender is not a registered miner.
    #[error("unknown miner")]
    UnknownMiner,
    /// Did not authenticate (bad signature, key or VRF credential, no seat, ...).
    #[error("authentication: {0}")]
    Auth(#[from] AuthError),
}

impl WireError {
    /// Whether the message was merely not useful (gossip: ignore, do not penalise).
    pub fn is_ignore(&self) -> bool {
        matches!(
            self,
            WireError::OutOfWindow(_)
                | WireError::Buffered
                | WireError::Duplicate
                | WireError::Excess
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_round_trips_and_refuses_short_prefixes() {
        let framed = frame_block(b"head", b"body");
        assert_eq!(unframe_block(&framed), Some((&b"head"[..], &b"body"[..])));
        assert_eq!(unframe_block(&[0, 0, 0]), None);
        assert_eq!(unframe_block(&[0, 0, 0, 9, 1, 2]), None);
        assert_eq!(unframe_block(&[0, 0, 0, 0]), Some((&[][..], &[][..])));
    }
}
