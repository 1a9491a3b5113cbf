//! The EVM block as spec's driver sees it ([`BlockFormat`]): exact decoding
//! of header and body, the framing of the blocks topic and sync, and what a
//! header claims about the proposal that put it forward.

use spec::auth::BlockClaims;
use spec::driver::block::{BlockFormat, BlockInfo};
use spec::driver::wire::{frame_block, unframe_block};
use spec::types::{MinerId, Value};

use crate::execution::{block::Block, header::KalgoHeader};

/// The EVM block as the driver sees it.
#[derive(Copy, Clone, Debug)]
pub struct KalgoBlocks;

impl BlockFormat for KalgoBlocks {
    type Block = Block;

    fn decode(header: &[u8], body: &[u8]) -> Option<Block> {
        Some(Block {
            header: KalgoHeader::decode_bytes(header).ok()?,
            transactions: Block::decode_body(body).ok()?,
        })
    }

    fn encode(block: &Block) -> (Vec<u8>, Vec<u8>) {
        (block.header.encode_to_vec(), block.encode_body())
    }

    fn info(block: &Block) -> BlockInfo {
        BlockInfo {
            value: Value(block.header.hash().0),
            height: block.header.number(),
            parent: Value(block.header.eth.parent_hash.0),
            claims: block_claims(&block.header),
        }
    }

    fn body_matches_header(block: &Block) -> bool {
        block.body_matches_header()
    }
}

/// Encodes a block for the blocks topic and sync (spec's framing).
pub fn encode_block(block: &Block) -> Vec<u8> {
    let (header, body) = KalgoBlocks::encode(block);
    frame_block(&header, &body)
}

/// [`encode_block`] from an encoded header and body (as stored).
pub fn encode_block_parts(header: &[u8], body: &[u8]) -> Vec<u8> {
    frame_block(header, body)
}

/// Decodes [`encode_block`] exactly (no trailing bytes in header or body).
pub fn decode_block(bytes: &[u8]) -> Option<Block> {
    let (header, body) = unframe_block(bytes)?;
    KalgoBlocks::decode(header, body)
}

/// What a header says of the proposal that put it forward (spec's [`BlockClaims`]).
pub fn block_claims(header: &KalgoHeader) -> BlockClaims {
    BlockClaims {
        proposer: MinerId(header.proposer.0.0),
        seed: header.seed.0,
        beneficiary: header.eth.beneficiary.0.0,
    }
}

/// Junk blocks per height of `--test.junk-blocks` (more than the 64 a host
/// once kept per height, first come).
pub const JUNK_PER_HEIGHT: usize = 80;

/// **Test only** (`--test.junk-blocks`): `count` framed blocks for the height
/// after `head` and `count` for the one after that, each distinct, none named
/// by any proposal: what any peer, without stake, can send.
pub fn junk_blocks(head: &KalgoHeader, count: usize) -> Vec<Vec<u8>> {
    let next = head.number() + 1;
    (0..2 * count)
        .map(|k| {
            let mut header = KalgoHeader::default();
            header.eth.number = next + (k / count.max(1)) as u64;
            header.eth.parent_hash = head.hash();
            header.eth.nonce = (k as u64).to_be_bytes().into();
            header.eth.timestamp = head.eth.timestamp;
            let block = Block {
                header,
                transactions: Vec::new(),
            };
            encode_block(&block)
        })
        .collect()
}
