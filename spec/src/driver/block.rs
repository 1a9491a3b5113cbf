//! What the driver needs to know of a block, and nothing more: the driver never
//! executes a block, it pairs it with its proposal and asks the host to validate
//! it. The host's block type (an EVM block in the node, an abstract one in tests)
//! plugs in through [`BlockFormat`].

use alloy_rlp::{RlpDecodable, RlpEncodable};
use sha2::{Digest, Sha512_256};

use crate::auth::BlockClaims;
use crate::types::{Height, MinerId, Value};

/// What a block's header says about where it belongs and who put it forward.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
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

/// The header of a [`PlainBlocks`] block.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, RlpEncodable, RlpDecodable)]
pub struct PlainHeader {
    pub height: Height,
    /// The parent's value.
    pub parent: [u8; 32],
    /// The proposer's miner id (a 20-byte address).
    pub proposer: [u8; 20],
    /// The seed the proposal derived.
    pub seed: [u8; 32],
    /// Who is paid the reward.
    pub beneficiary: [u8; 20],
    /// SHA-512/256 of the body.
    pub body_hash: [u8; 32],
}

/// A [`PlainBlocks`] block: a header and opaque body bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PlainBlock {
    pub header: PlainHeader,
    /// Opaque bytes; `header.body_hash` commits to them.
    pub body: Vec<u8>,
}

impl PlainBlock {
    /// A block whose header commits to `body`.
    pub fn new(height: Height, parent: Value, claims: BlockClaims, body: Vec<u8>) -> Self {
        PlainBlock {
            header: PlainHeader {
                height,
                parent: parent.0,
                proposer: claims.proposer.0,
                seed: claims.seed,
                beneficiary: claims.beneficiary,
                body_hash: Sha512_256::digest(&body).into(),
            },
            body,
        }
    }
}

/// A minimal block format with no execution behind it, for the simulator,
/// tests and fuzzing: the value is SHA-512/256 of the RLP header, and the body
/// is whatever bytes the header's body hash commits to.
#[derive(Copy, Clone, Debug, Default)]
pub struct PlainBlocks;

impl BlockFormat for PlainBlocks {
    type Block = PlainBlock;

    fn decode(header: &[u8], body: &[u8]) -> Option<PlainBlock> {
        Some(PlainBlock {
            header: alloy_rlp::decode_exact(header).ok()?,
            body: body.to_vec(),
        })
    }

    fn encode(block: &PlainBlock) -> (Vec<u8>, Vec<u8>) {
        (alloy_rlp::encode(block.header), block.body.clone())
    }

    fn info(block: &PlainBlock) -> BlockInfo {
        let h = &block.header;
        BlockInfo {
            value: Value(Sha512_256::digest(alloy_rlp::encode(h)).into()),
            height: h.height,
            parent: Value(h.parent),
            claims: BlockClaims {
                proposer: MinerId(h.proposer),
                seed: h.seed,
                beneficiary: h.beneficiary,
            },
        }
    }

    fn body_matches_header(block: &PlainBlock) -> bool {
        <[u8; 32]>::from(Sha512_256::digest(&block.body)) == block.header.body_hash
    }
}
