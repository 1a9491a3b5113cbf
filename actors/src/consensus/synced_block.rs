//! Checking a block received by catch-up sync before it is executed
//! (ARCHITECTURE.md "One block, end to end", step 5; Kaleido §4.12 recovery).
//!
//! A synced block must be the next block on this node's head, and its certificate
//! must verify ([`spec::certificate::verify_certificate`]) against the header it
//! comes with and the committee of its parent — the committee the consensus host
//! holds for the height it is agreeing on. Cheap checks come first: size bound,
//! decoding, number and parent hash, then the certificate's signatures. Execution
//! validates the block afterwards, as for a gossiped one.

use spec::auth::REAL;
use spec::certificate::{CertContext, CertError, verify_certificate};
use spec::codec::{DecodeError, WireMessage};
use spec::types::{Height, Round, Value};

use super::committee::Registry;
use super::host::{HostCore, MAX_BLOCK_BYTES, block_claims, decode_block};
use crate::execution::block::Block;

/// Why a synced block was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SyncError {
    /// The block bytes are too large or do not decode.
    #[error("block does not decode")]
    BadBlock,
    /// Not the next block on the head.
    #[error("block {number} is not the next block (expected {expected})")]
    NotNext {
        /// The block's number.
        number: Height,
        /// The height being agreed on.
        expected: Height,
    },
    /// The block does not extend the head.
    #[error("block {0} does not extend the head")]
    WrongParent(Height),
    /// The certificate does not decode.
    #[error("certificate: {0}")]
    Decode(#[from] DecodeError),
    /// The bytes are another kind of message.
    #[error("not a certificate")]
    NotACertificate,
    /// The certificate does not verify.
    #[error("certificate: {0}")]
    Certificate(#[from] CertError),
}

impl SyncError {
    /// Whether the serving peer is at fault (rather than this node being elsewhere).
    pub fn is_invalid(&self) -> bool {
        !matches!(self, SyncError::NotNext { .. })
    }
}

/// Decodes a synced block and checks it against `host`'s head and committee;
/// returns the block and the round of its certificate.
pub fn verify_synced<R: Registry>(
    host: &HostCore<R>,
    block: &[u8],
    certificate: &[u8],
) -> Result<(Block, Round), SyncError> {
    if block.len() > MAX_BLOCK_BYTES {
        return Err(SyncError::BadBlock);
    }
    let block = decode_block(block).ok_or(SyncError::BadBlock)?;
    let number = block.header.number();
    let expected = host.height();
    if number != expected {
        return Err(SyncError::NotNext { number, expected });
    }
    if block.header.eth.parent_hash != host.parent().hash() {
        return Err(SyncError::WrongParent(number));
    }
    let WireMessage::Certificate(cert) = WireMessage::decode(certificate)? else {
        return Err(SyncError::NotACertificate);
    };
    let committee = host.committee();
    let params = host.params();
    let header_claims = block_claims(&block.header);
    let ctx = CertContext {
        params,
        header_height: number,
        header_hash: Value(block.header.hash().0),
        header_claims,
        coinbase: committee.registered_coinbase(&header_claims.proposer),
        registry: |id: &spec::types::MinerId| committee.record(id),
        total_stake: committee.total_stake,
        seed: &committee.seed,
        thresholds: committee.thresholds(params),
    };
    verify_certificate(&REAL, &cert, &ctx)?;
    Ok((block, cert.round))
}
