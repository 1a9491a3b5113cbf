//! Deterministic, cheap, **insecure** stand-ins for the model checker and simulator.
//!
//! They implement the same traits as [`super::real`] and keep the same *interface*
//! guarantees (binding of every input, offsets, erasure), so protocol code exercised
//! against them behaves as against the real ones; but anyone who knows a public key
//! can forge, since "public" and "secret" keys coincide. Never use outside tests.
//!
//! - VRF: hash = SHA-512/256(`"mock-vrf"` ‖ pk ‖ context ‖ message ‖ output context),
//!   output = SHA-512/256(`"mock-vrf-out"` ‖ pk ‖ context ‖ message), proof = zeros
//!   except the hash in its first 32 bytes (96 bytes, like the real batchable proof).
//!   Batch verification is the trait's default: one by one.
//! - Signatures: sub-key = H(master ‖ offset), certificate = H(master ‖ chain ‖ offset ‖
//!   sub-key), signature = H(sub-key ‖ message), each padded with zeros to 64 bytes.

use super::{
    CryptoError, SigItem, SignedMessage, VoteSigner, VoteVerifier, VrfHash, VrfInput, VrfProver,
    VrfVerifier, subkey_cert_message,
};
use crate::codec::{Credential, FsSignature};
use sha2::{Digest, Sha512_256};

fn h(parts: &[&[u8]]) -> [u8; 32] {
    let mut d = Sha512_256::new();
    for p in parts {
        d.update((p.len() as u32).to_be_bytes());
        d.update(p);
    }
    d.finalize().into()
}

fn pad<const N: usize>(a: [u8; 32]) -> [u8; N] {
    let mut b = [0u8; N];
    b[..32].copy_from_slice(&a);
    b
}

fn pad64(a: [u8; 32]) -> [u8; 64] {
    pad(a)
}

/// Mock VRF key: the "public key" is the key id itself.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct MockVrfKey(pub [u8; 32]);

fn mock_eval(pk: &[u8; 32], input: &VrfInput) -> (Credential, VrfHash) {
    let output = h(&[b"mock-vrf-out", pk, input.context, input.message()]);
    let hash = h(&[
        b"mock-vrf",
        pk,
        input.context,
        input.message(),
        input.output_context,
    ]);
    (
        Credential {
            output,
            proof: pad(hash),
        },
        hash,
    )
}

impl VrfProver for MockVrfKey {
    fn vrf_public(&self) -> [u8; 32] {
        self.0
    }

    fn prove(&self, input: &VrfInput) -> (Credential, VrfHash) {
        mock_eval(&self.0, input)
    }
}

/// Verifier of [`MockVrfKey`] credentials (recomputes them).
#[derive(Copy, Clone, Debug, Default)]
pub struct MockVrf;

impl VrfVerifier for MockVrf {
    fn verify(
        &self,
        pk: &[u8; 32],
        input: &VrfInput,
        cred: &Credential,
    ) -> Result<VrfHash, CryptoError> {
        let (expect, hash) = mock_eval(pk, input);
        if &expect == cred {
            Ok(hash)
        } else {
            Err(CryptoError::BadVrfProof)
        }
    }
}

/// Mock forward-secure key set: master id and the live offset range.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct MockVoteKey {
    /// Chain id the "certificates" bind.
    pub chain_id: u64,
    /// Master key id (also the "public key").
    pub master: [u8; 32],
    /// First offset not yet erased.
    pub first_offset: u64,
    /// One past the last offset.
    pub end_offset: u64,
}

impl MockVoteKey {
    /// A key set for offsets `[first_offset, end_offset)`.
    pub fn new(chain_id: u64, master: [u8; 32], first_offset: u64, end_offset: u64) -> Self {
        MockVoteKey {
            chain_id,
            master,
            first_offset,
            end_offset,
        }
    }

    /// Drops the sub-keys below `offset` (Kaleido §1.3 "Update").
    pub fn erase_before(&mut self, offset: u64) {
        self.first_offset = self.first_offset.max(offset);
    }
}

fn mock_sub_key(master: &[u8; 32], offset: u64) -> [u8; 32] {
    h(&[b"mock-sub", master, &offset.to_be_bytes()])
}

impl VoteSigner for MockVoteKey {
    fn master_public(&self) -> [u8; 32] {
        self.master
    }

    fn sign(&self, offset: u64, msg: &SignedMessage) -> Result<FsSignature, CryptoError> {
        if msg.chain_id != self.chain_id {
            return Err(CryptoError::WrongChain {
                key: self.chain_id,
                msg: msg.chain_id,
            });
        }
        if offset < self.first_offset {
            return Err(CryptoError::SubKeyErased(offset));
        }
        if offset >= self.end_offset {
            return Err(CryptoError::SubKeyExpired(offset));
        }
        let sub_key = mock_sub_key(&self.master, offset);
        Ok(FsSignature {
            sub_key,
            sub_key_sig: pad64(h(&[
                b"mock-cert",
                &self.master,
                &subkey_cert_message(msg.chain_id, offset, &sub_key),
            ])),
            sig: pad64(h(&[b"mock-sig", &sub_key, &msg.to_bytes()])),
        })
    }
}

/// Verifier of [`MockVoteKey`] signatures (recomputes them).
#[derive(Copy, Clone, Debug, Default)]
pub struct MockVoteVerifier;

impl VoteVerifier for MockVoteVerifier {
    fn verify(&self, item: &SigItem<'_>) -> Result<(), CryptoError> {
        let sub_key = &item.sig.sub_key;
        let cert = pad64(h(&[
            b"mock-cert",
            item.master_pk,
            &subkey_cert_message(item.msg.chain_id, item.offset, sub_key),
        ]));
        if cert != item.sig.sub_key_sig {
            return Err(CryptoError::BadSubKeyCert);
        }
        if pad64(h(&[b"mock-sig", sub_key, &item.msg.to_bytes()])) != item.sig.sig {
            return Err(CryptoError::BadSignature);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Hrs, Step, Value};

    #[test]
    fn mock_vrf_and_signatures_bind_their_inputs() {
        let k = MockVrfKey([1; 32]);
        let input = VrfInput::sortition(1, Hrs::new(3, 1, Step(2)), &[0; 32]);
        let (cred, hash) = k.prove(&input);
        assert_eq!(MockVrf.verify(&[1; 32], &input, &cred), Ok(hash));
        assert!(MockVrf.verify(&[2; 32], &input, &cred).is_err());
        let other = VrfInput::sortition(1, Hrs::new(3, 1, Step(3)), &[0; 32]);
        assert!(MockVrf.verify(&[1; 32], &other, &cred).is_err());

        let mut vk = MockVoteKey::new(1, [9; 32], 0, 10);
        let m = SignedMessage {
            chain_id: 1,
            height: 3,
            round: 1,
            step: Step(2),
            value: Value([4; 32]),
        };
        let sig = vk.sign(0, &m).unwrap();
        let item = |msg: &SignedMessage, offset| {
            MockVoteVerifier.verify(&SigItem {
                master_pk: &[9; 32],
                offset,
                msg,
                sig: &sig,
            })
        };
        assert_eq!(item(&m, 0), Ok(()));
        assert_eq!(
            item(&SignedMessage { step: Step(3), ..m }, 0),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(item(&m, 1), Err(CryptoError::BadSubKeyCert));
        vk.erase_before(1);
        assert_eq!(vk.sign(0, &m), Err(CryptoError::SubKeyErased(0)));
        assert_eq!(vk.sign(10, &m), Err(CryptoError::SubKeyExpired(10)));
    }
}
