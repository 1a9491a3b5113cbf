//! What the driver needs to know of a block, and nothing more: the driver never
//! executes a block, it pairs it with its proposal and asks the host to validate
//! it. The host's block type (an EVM block in the node, an abstract one in tests)
//! plugs in through [`BlockFormat`].

use crate::auth::BlockClaims;
use crate::types::{Height, Value};

/// What a block's header says about where it belongs and who put it forward.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// The header hash: the value agreed on.
    pub value: Value,
    /// The header's number.
    pub height: Height,
    /// The parent's header hash.
    pub parent: Value,
    /// The proposer, seed and reward address the header names.
    pub claims: BlockClaims,
}

/// A block encoding the driver can screen.
pub trait BlockFormat {
    /// The decoded block handed to the host for validation.
    type Block: Clone + std::fmt::Debug;

    /// Decodes a header and a body, each exactly: bytes left over after either
    /// are refused (one block, one encoding, one gossip id). Bounded by the
    /// framing's size limit, which the driver checks first.
    fn decode(header: &[u8], body: &[u8]) -> Option<Self::Block>;

    /// Encodes a block as its header and body bytes.
    fn encode(block: &Self::Block) -> (Vec<u8>, Vec<u8>);

    /// What the header says.
    fn info(block: &Self::Block) -> BlockInfo;

    /// Whether the body is the one the header commits to (the transactions
    /// root). A copy that fails this is a forgery of the relayer: it is dropped
    /// and never poisons the value, whose real body may still arrive.
    fn body_matches_header(block: &Self::Block) -> bool;
}
