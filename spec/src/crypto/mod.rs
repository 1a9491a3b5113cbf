//! Cryptography behind small traits (ARCHITECTURE.md, "crypto behind small traits").
//!
//! Two implementations share the traits:
//! - [`real`]: schnorrkel VRF (Kaleido §1.2, replaced: our wire format is our own) and
//!   ed25519-dalek vote signatures with forward-secure sub-keys (Kaleido §1.3, with
//!   weakness W3 fixed: the certifying message binds the whole sub public key and the
//!   chain id);
//! - [`mock`]: deterministic, cheap and **insecure** stand-ins for the model checker
//!   and the simulator.
//!
//! Every signed or VRF-evaluated message is domain-separated and fixed-length, and
//! binds the chain id (Kaleido §1.4 weaknesses W1/W4 fixed: a signature covers
//! chain id, height, round, step and value; a proposal signs as step 1). The seed VRF
//! input binds chain id, height and the previous seed only (W5 fixed: no parent hash).

pub mod mock;
pub mod real;

use crate::codec::{Credential, FsSignature};
use crate::types::{Height, Hrs, Round, Step, Value};
use thiserror::Error;

/// Domain tag of the sortition VRF input (Kaleido §4.3 step 1).
pub const CTX_SORTITION: &[u8] = b"kalgo/sortition/v1";
/// Domain tag of the seed VRF input (Kaleido §4.4).
pub const CTX_SEED: &[u8] = b"kalgo/seed/v1";
/// Context for deriving the 32-byte sortition hash from a VRF in-out.
pub const OUT_SORTITION: &[u8] = b"kalgo/sortition-hash/v1";
/// Context for deriving the 32-byte seed from a VRF in-out.
pub const OUT_SEED: &[u8] = b"kalgo/seed-out/v1";
/// Domain tag of every vote and proposal signature (Kaleido §1.4, fixed).
pub const CTX_VOTE: &[u8] = b"kalgo/vote/v1";
/// Domain tag of the master key's certificate over a sub-key (Kaleido §1.3, fixed).
pub const CTX_SUBKEY: &[u8] = b"kalgo/subkey/v1";

/// Why a cryptographic check or operation failed.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
pub enum CryptoError {
    /// A public key's bytes are not a valid (or are a weak) curve point.
    #[error("invalid public key")]
    BadPublicKey,
    /// The VRF output or proof is malformed or does not verify.
    #[error("VRF proof does not verify")]
    BadVrfProof,
    /// The master key's certificate over the sub-key does not verify.
    #[error("sub-key certificate does not verify")]
    BadSubKeyCert,
    /// The message signature does not verify.
    #[error("signature does not verify")]
    BadSignature,
    /// A batch did not verify (at least one item is bad).
    #[error("batch verification failed")]
    BatchFailed,
    /// The key set holds no sub-key for this offset because it was erased.
    #[error("sub-key for offset {0} was erased")]
    SubKeyErased(u64),
    /// The offset is beyond the key set's last sub-key.
    #[error("no sub-key for offset {0}: key set has expired")]
    SubKeyExpired(u64),
    /// The key set was generated for another chain.
    #[error("key set is for chain {key} but the message is for chain {msg}")]
    WrongChain {
        /// Chain id the key set certifies.
        key: u64,
        /// Chain id of the message.
        msg: u64,
    },
    /// `lifespan` is zero.
    #[error("lifespan must be positive")]
    ZeroLifespan,
    /// Serialized key material is malformed.
    #[error("malformed key material: {0}")]
    KeyDecode(&'static str),
}

/// The 32-byte value derived from a verified VRF evaluation (sortition hash or seed).
pub type VrfHash = [u8; 32];

/// Longest VRF message: chain id, height, round, step, seed (8 + 8 + 4 + 4 + 32).
const VRF_MSG_MAX: usize = 56;

/// A domain-separated, fixed-length VRF input.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct VrfInput {
    /// Transcript context (domain tag).
    pub context: &'static [u8],
    /// Context used to derive the 32-byte output hash from the VRF in-out.
    pub output_context: &'static [u8],
    msg: [u8; VRF_MSG_MAX],
    len: u8,
}

impl VrfInput {
    /// Sortition input of Kaleido §4.3 step 1, fixed: binds chain id, height, round,
    /// step and the seed of the previous height (instead of Kaleido's RLP of the
    /// miner address, h, r, s, parent seed). The key itself identifies the miner.
    pub fn sortition(chain_id: u64, hrs: Hrs, seed: &[u8; 32]) -> Self {
        let mut msg = [0u8; VRF_MSG_MAX];
        msg[0..8].copy_from_slice(&chain_id.to_be_bytes());
        msg[8..16].copy_from_slice(&hrs.height.to_be_bytes());
        msg[16..20].copy_from_slice(&hrs.round.to_be_bytes());
        msg[20..24].copy_from_slice(&hrs.step.0.to_be_bytes());
        msg[24..56].copy_from_slice(seed);
        VrfInput {
            context: CTX_SORTITION,
            output_context: OUT_SORTITION,
            msg,
            len: 56,
        }
    }

    /// Seed input of Kaleido §4.4, fixed (W5): binds chain id, the height being
    /// proposed and the previous seed only, so the proposer cannot grind it.
    pub fn seed(chain_id: u64, height: Height, prev_seed: &[u8; 32]) -> Self {
        let mut msg = [0u8; VRF_MSG_MAX];
        msg[0..8].copy_from_slice(&chain_id.to_be_bytes());
        msg[8..16].copy_from_slice(&height.to_be_bytes());
        msg[16..48].copy_from_slice(prev_seed);
        VrfInput {
            context: CTX_SEED,
            output_context: OUT_SEED,
            msg,
            len: 48,
        }
    }

    /// The message bytes (without the context).
    pub fn message(&self) -> &[u8] {
        &self.msg[..usize::from(self.len)]
    }
}

/// Length of [`SignedMessage::to_bytes`].
pub const SIGNED_MSG_LEN: usize = 13 + 8 + 8 + 4 + 4 + 32;

/// What a vote or proposal signature covers (Kaleido §1.4, fixed: W1/W4).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct SignedMessage {
    /// The chain id, so a signature never replays on another chain.
    pub chain_id: u64,
    pub height: Height,
    pub round: Round,
    /// Step; proposals sign as step 1.
    pub step: Step,
    /// The value voted for or proposed.
    pub value: Value,
}

impl SignedMessage {
    /// The signed bytes: `"kalgo/vote/v1" ‖ BE64 chain ‖ BE64 h ‖ BE32 r ‖ BE32 s ‖ value`.
    pub fn to_bytes(&self) -> [u8; SIGNED_MSG_LEN] {
        let mut b = [0u8; SIGNED_MSG_LEN];
        b[..13].copy_from_slice(CTX_VOTE);
        b[13..21].copy_from_slice(&self.chain_id.to_be_bytes());
        b[21..29].copy_from_slice(&self.height.to_be_bytes());
        b[29..33].copy_from_slice(&self.round.to_be_bytes());
        b[33..37].copy_from_slice(&self.step.0.to_be_bytes());
        b[37..69].copy_from_slice(&self.value.0);
        b
    }
}

/// Length of [`subkey_cert_message`].
pub const SUBKEY_MSG_LEN: usize = 15 + 8 + 8 + 32;

/// The message a master key signs to certify `sub_key` for `offset` (Kaleido §1.3,
/// fixed: W3). Binds chain id, the absolute offset and all 32 bytes of the sub-key.
pub fn subkey_cert_message(chain_id: u64, offset: u64, sub_key: &[u8; 32]) -> [u8; SUBKEY_MSG_LEN] {
    let mut b = [0u8; SUBKEY_MSG_LEN];
    b[..15].copy_from_slice(CTX_SUBKEY);
    b[15..23].copy_from_slice(&chain_id.to_be_bytes());
    b[23..31].copy_from_slice(&offset.to_be_bytes());
    b[31..63].copy_from_slice(sub_key);
    b
}

/// The absolute forward-secure offset of `height`: `height / lifespan` (Kaleido §1.3).
pub fn fs_offset(height: Height, lifespan: u64) -> Result<u64, CryptoError> {
    height
        .checked_div(lifespan)
        .ok_or(CryptoError::ZeroLifespan)
}

/// The secret side of a VRF (Kaleido §1.2, §4.3 step 2).
pub trait VrfProver {
    /// The public key verifiers check proofs against (registered on chain).
    fn vrf_public(&self) -> [u8; 32];
    /// Evaluates the VRF on `input`: the credential (output and proof) and the
    /// derived 32-byte hash (sortition hash or seed). Deterministic.
    fn prove(&self, input: &VrfInput) -> (Credential, VrfHash);
}

/// One VRF credential to verify, for [`VrfVerifier::verify_batch`].
#[derive(Copy, Clone, Debug)]
pub struct VrfItem<'a> {
    /// The prover's VRF public key.
    pub pk: &'a [u8; 32],
    /// The VRF input the credential claims to evaluate.
    pub input: VrfInput,
    /// The credential (output and proof).
    pub cred: &'a Credential,
}

/// The public side of a VRF.
pub trait VrfVerifier {
    /// Verifies `cred` for `input` under `pk` and returns the derived 32-byte hash.
    fn verify(
        &self,
        pk: &[u8; 32],
        input: &VrfInput,
        cred: &Credential,
    ) -> Result<VrfHash, CryptoError>;

    /// Verifies all items at once; `Ok` iff every item verifies, with the derived
    /// hashes in item order (each equal to what [`VrfVerifier::verify`] returns).
    /// The default runs [`VrfVerifier::verify`] on each; implementations may batch,
    /// in which case an `Err` does not say which item is bad: callers that need to
    /// know re-verify the items one by one.
    fn verify_batch(&self, items: &[VrfItem<'_>]) -> Result<Vec<VrfHash>, CryptoError> {
        items
            .iter()
            .map(|i| self.verify(i.pk, &i.input, i.cred))
            .collect()
    }
}

/// The secret side of forward-secure vote signatures (Kaleido §1.3).
pub trait VoteSigner {
    /// The master public key (the on-chain "vote verifier").
    fn master_public(&self) -> [u8; 32];
    /// Signs `msg` with the sub-key of absolute `offset`.
    fn sign(&self, offset: u64, msg: &SignedMessage) -> Result<FsSignature, CryptoError>;
}

/// One signature to verify, for [`VoteVerifier::verify_batch`].
#[derive(Copy, Clone, Debug)]
pub struct SigItem<'a> {
    /// The signer's master public key.
    pub master_pk: &'a [u8; 32],
    /// Absolute offset of the height signed at.
    pub offset: u64,
    /// The signed message.
    pub msg: &'a SignedMessage,
    /// The forward-secure signature.
    pub sig: &'a FsSignature,
}

/// The public side of forward-secure vote signatures.
pub trait VoteVerifier {
    /// Verifies the sub-key certificate (master over chain id, offset, sub-key) and
    /// the sub-key's signature over `msg`.
    fn verify(&self, item: &SigItem<'_>) -> Result<(), CryptoError>;

    /// Verifies all items at once; `Ok` iff every item verifies. The default runs
    /// [`VoteVerifier::verify`] on each; implementations may batch.
    fn verify_batch(&self, items: &[SigItem<'_>]) -> Result<(), CryptoError> {
        items.iter().try_for_each(|i| self.verify(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_fixed_length_and_distinct() {
        let s = [7u8; 32];
        let a = VrfInput::sortition(1, Hrs::new(5, 1, Step(2)), &s);
        let b = VrfInput::sortition(1, Hrs::new(5, 1, Step(3)), &s);
        let c = VrfInput::seed(1, 5, &s);
        assert_eq!(a.message().len(), 56);
        assert_eq!(c.message().len(), 48);
        assert_ne!(a.message(), b.message());
        assert_ne!(a.context, c.context);
        let m = SignedMessage {
            chain_id: 1,
            height: 2,
            round: 3,
            step: Step(4),
            value: Value([9; 32]),
        };
        let bytes = m.to_bytes();
        assert!(bytes.starts_with(CTX_VOTE));
        assert_eq!(&bytes[37..], &[9u8; 32]);
        assert_eq!(fs_offset(250, 100), Ok(2));
        assert_eq!(fs_offset(250, 0), Err(CryptoError::ZeroLifespan));
        assert_ne!(
            subkey_cert_message(1, 2, &[0; 32]),
            subkey_cert_message(2, 2, &[0; 32])
        );
    }
}
