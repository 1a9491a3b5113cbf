//! kalgo's block header: the Ethereum header plus Kaleido's extra fields, kept
//! outside the Ethereum fields so Ethereum tools see a normal header.

use alloy_consensus::Header;
use alloy_primitives::{Address, B256, U256, keccak256};
use alloy_rlp::{RlpDecodable, RlpEncodable};
use alloy_trie::EMPTY_ROOT_HASH;
use revm::primitives::hardfork::SpecId;

/// A header holding only the fields that exist from a fork on, with their values on
/// a kalgo chain: no withdrawals (Shanghai), no blobs and a zero beacon root
/// (Cancun), no requests (Prague). Block building and genesis both start from it.
pub fn fork_fields(spec: SpecId) -> Header {
    Header {
        withdrawals_root: spec
            .is_enabled_in(SpecId::SHANGHAI)
            .then_some(EMPTY_ROOT_HASH),
        blob_gas_used: spec.is_enabled_in(SpecId::CANCUN).then_some(0),
        excess_blob_gas: spec.is_enabled_in(SpecId::CANCUN).then_some(0),
        parent_beacon_block_root: spec.is_enabled_in(SpecId::CANCUN).then_some(B256::ZERO),
        requests_hash: spec
            .is_enabled_in(SpecId::PRAGUE)
            .then_some(alloy_eips::eip7685::EMPTY_REQUESTS_HASH),
        ..Default::default()
    }
}

/// A header: Ethereum fields and Kaleido's consensus extras.
///
/// `hash()` commits to all of them (RLP list `[eth_header, seed, tbm, proposer]`),
/// so a certificate over the hash binds the extras too. `eth.hash_slow()` is the
/// Ethereum-only view.
#[derive(Clone, Debug, Default, PartialEq, Eq, RlpEncodable, RlpDecodable)]
pub struct KalgoHeader {
    /// The Ethereum header (its `mix_hash` carries the seed, as in Kaleido).
    pub eth: Header,
    /// The block's sortition seed.
    pub seed: B256,
    /// Total stake of the miners eligible at the next height (Kaleido's TBM).
    pub total_balance_of_miners: U256,
    /// The miner that proposed the block.
    pub proposer: Address,
}

impl KalgoHeader {
    /// The block hash (covers the extras).
    pub fn hash(&self) -> B256 {
        keccak256(alloy_rlp::encode(self))
    }

    pub fn number(&self) -> u64 {
        self.eth.number
    }

    /// RLP encoding (what the store keeps).
    pub fn encode_to_vec(&self) -> Vec<u8> {
        alloy_rlp::encode(self)
    }

    /// Decodes [`Self::encode_to_vec`] exactly: bytes after the header are
    /// refused, so one header has one encoding.
    pub fn decode_bytes(bytes: &[u8]) -> Result<Self, alloy_rlp::Error> {
        alloy_rlp::decode_exact(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip_and_hash_covers_extras() {
        let mut h = KalgoHeader {
            seed: B256::repeat_byte(9),
            total_balance_of_miners: U256::from(5),
            ..Default::default()
        };
        h.eth.number = 3;
        let bytes = h.encode_to_vec();
        assert_eq!(KalgoHeader::decode_bytes(&bytes).ok(), Some(h.clone()));
        let before = h.hash();
        h.total_balance_of_miners = U256::from(6);
        assert_ne!(before, h.hash());
        assert!(KalgoHeader::decode_bytes(&[0xc0]).is_err());
    }
}
