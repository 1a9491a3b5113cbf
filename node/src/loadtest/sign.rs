//! Senders and signed transfers for the load generator.
//!
//! Sender keys are derived deterministically (`keccak256("kalgo-loadtest" ‖ i)`), so a
//! run can be repeated and its senders funded once. Transfers are legacy EIP-155
//! transactions (accepted by every fork, Byzantium included), signed with alloy's
//! local signer.

use alloy_consensus::{SignableTransaction, TxEnvelope, TxLegacy};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::Signature;
use alloy_primitives::{Address, B256, Bytes, TxKind, U256, keccak256};
use alloy_signer_local::PrivateKeySigner;
use secp256k1::{Message, Secp256k1, SecretKey, SignOnly};

/// Gas of a plain transfer.
pub const TRANSFER_GAS: u64 = 21_000;

/// Why a transaction could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// A derived key was not a valid secp256k1 scalar (probability ~2^-128).
    #[error("derived sender key {0} is invalid")]
    BadKey(usize),
}

/// A signing key with its address.
pub struct Key {
    secret: SecretKey,
    address: Address,
}

impl Key {
    /// The key of 32 secret bytes.
    pub fn from_bytes(bytes: &B256) -> Option<Self> {
        let secret = SecretKey::from_byte_array(bytes.0).ok()?;
        let address = PrivateKeySigner::from_bytes(bytes).ok()?.address();
        Some(Self { secret, address })
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.address
    }
}

/// A libsecp256k1 signing context (build one per thread; building it is slow).
pub struct Signer(Secp256k1<SignOnly>);

impl Default for Signer {
    fn default() -> Self {
        Self(Secp256k1::signing_only())
    }
}

/// The `i`-th load-test sender key.
pub fn sender_key(i: usize) -> Result<Key, SignError> {
    let mut seed = b"kalgo-loadtest".to_vec();
    seed.extend_from_slice(&(i as u64).to_be_bytes());
    Key::from_bytes(&keccak256(&seed)).ok_or(SignError::BadKey(i))
}

/// What every transfer of a run shares.
#[derive(Copy, Clone, Debug)]
pub struct TransferParams {
    /// Chain id (EIP-155).
    pub chain_id: u64,
    /// Gas price offered.
    pub gas_price: u128,
    /// Recipient of every transfer.
    pub to: Address,
    /// Value per transfer (wei).
    pub value: U256,
}

/// A signed transfer from `key` with `nonce`: its hash and raw EIP-2718 bytes.
pub fn transfer(
    signer: &Signer,
    key: &Key,
    nonce: u64,
    p: &TransferParams,
) -> Result<(B256, Bytes), SignError> {
    let tx = TxLegacy {
        chain_id: Some(p.chain_id),
        nonce,
        gas_price: p.gas_price,
        gas_limit: TRANSFER_GAS,
        to: TxKind::Call(p.to),
        value: p.value,
        input: Bytes::new(),
    };
    let digest = Message::from_digest(tx.signature_hash().0);
    let (recid, rs) = signer
        .0
        .sign_ecdsa_recoverable(digest, &key.secret)
        .serialize_compact();
    let odd = i32::from(recid) == 1;
    let sig = Signature::from_bytes_and_parity(&rs, odd);
    let env: TxEnvelope = tx.into_signed(sig).into();
    Ok((*env.tx_hash(), Bytes::from(env.encoded_2718())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_consensus::transaction::SignerRecoverable;
    use alloy_eips::eip2718::Decodable2718;

    #[test]
    fn transfers_decode_and_recover_to_their_sender() -> Result<(), Box<dyn std::error::Error>> {
        let key = sender_key(3)?;
        let signer = Signer::default();
        assert_ne!(key.address(), sender_key(4)?.address());
        let p = TransferParams {
            chain_id: 1337,
            gas_price: 7,
            to: Address::repeat_byte(9),
            value: U256::from(1),
        };
        let (hash, raw) = transfer(&signer, &key, 5, &p)?;
        let tx = TxEnvelope::decode_2718(&mut raw.as_ref())?;
        assert_eq!(*tx.tx_hash(), hash);
        assert_eq!(tx.recover_signer().ok(), Some(key.address()));
        assert_eq!(alloy_consensus::Transaction::nonce(&tx), 5);
        assert_eq!(alloy_consensus::Transaction::chain_id(&tx), Some(1337));
        // The same transaction signed by alloy's signer recovers to the same sender.
        let alloy_key = PrivateKeySigner::from_bytes(&keccak256({
            let mut seed = b"kalgo-loadtest".to_vec();
            seed.extend_from_slice(&3u64.to_be_bytes());
            seed
        }))?;
        assert_eq!(alloy_key.address(), key.address());
        Ok(())
    }
}
