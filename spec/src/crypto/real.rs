//! The production cryptography: schnorrkel VRF and ed25519 forward-secure vote keys.
//!
//! - VRF (Kaleido §1.2, our own format): schnorrkel 0.11 on Ristretto255. The
//!   credential is the 32-byte VRF pre-output and the 96-byte *batchable* proof
//!   `(R, Hr, s)` (`VRFProofBatchable`), which schnorrkel's batch verification
//!   (`dleq_verify_batch`) needs. The 32-byte hash used by sortition (or as the next
//!   seed) is `VRFInOut::make_bytes(output_context)`. Proving is deterministic: the
//!   proof's witness is derived from the transcript, the secret nonce and a fixed-seed
//!   ChaCha20 stream (schnorrkel's documented `attach_rng` trick), so a miner's
//!   credential is a pure function of its key and the input.
//!   Single verification recomputes the short proof `(c, s)` from the batchable one
//!   (`shorten_dleq`: `c` is the challenge over `R` and `Hr`), checks it with
//!   `dleq_verify`, and requires the `(R, Hr, s)` that check reconstructs to equal the
//!   wire bytes, so exactly one 96-byte encoding of a proof is accepted. Batch
//!   verification checks both DLEQ equations of all items with random 128-bit
//!   coefficients (schnorrkel draws them from a transcript of the items and the OS
//!   RNG); Ristretto has no torsion, so batch and single verification agree except
//!   with negligible probability.
//! - Vote signatures (Kaleido §1.3, fixed for W3): a master ed25519 key certifies one
//!   sub-key per absolute offset `height / lifespan`; the certifying message is
//!   [`subkey_cert_message`] (chain id, offset, all 32 sub-key bytes). The master
//!   secret is dropped (and zeroized by ed25519-dalek) right after generation;
//!   [`FsKeySet::erase_before`] drops used sub-keys, whose secrets are zeroized on drop.
//!
//! Verification is cofactorless (`verify`, the same equation as `verify_batch`), and
//! weak (small-order) public keys are rejected. A Byzantine signer can craft a
//! signature with a torsion component that a random-coefficient batch accepts with
//! probability ≤ 1/8 while single verification rejects it; this only decides whether
//! *that signer's own* vote counts at a given node, which is indistinguishable from
//! the signer sending its vote to some nodes only, and BA* tolerates that.

use super::{
    CryptoError, SIGNED_MSG_LEN, SUBKEY_MSG_LEN, SigItem, SignedMessage, VoteSigner, VoteVerifier,
    VrfHash, VrfInput, VrfItem, VrfProver, VrfVerifier, subkey_cert_message,
};
use crate::codec::{Credential, FsSignature};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rand_core::{CryptoRng, RngCore, SeedableRng};
use schnorrkel::vrf::{KUSAMA_VRF, VRFInOut, VRFPreOut, VRFProofBatchable, dleq_verify_batch};
use schnorrkel::{ExpansionMode, Keypair, MiniSecretKey, PublicKey, signing_context};
use std::collections::VecDeque;
use zeroize::{Zeroize, Zeroizing};

/// A schnorrkel VRF key pair (long-lived, not forward-secure; Kaleido §2.2).
pub struct SchnorrkelVrfKey {
    kp: Keypair,
}

impl SchnorrkelVrfKey {
    /// Length of [`SchnorrkelVrfKey::to_bytes`].
    pub const BYTES: usize = 96;

    /// Generates a key from the caller's RNG.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Result<Self, CryptoError> {
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        Self::from_seed(&seed)
    }

    /// Derives a key from a 32-byte seed (ed25519-style expansion).
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, CryptoError> {
        let mini =
            MiniSecretKey::from_bytes(seed).map_err(|_| CryptoError::KeyDecode("bad VRF seed"))?;
        Ok(SchnorrkelVrfKey {
            kp: mini.expand_to_keypair(ExpansionMode::Ed25519),
        })
    }

    /// Secret and public key bytes (96), to be stored by the node; zeroized on drop.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 96]> {
        Zeroizing::new(self.kp.to_bytes())
    }

    /// Restores a key from [`SchnorrkelVrfKey::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let kp =
            Keypair::from_bytes(bytes).map_err(|_| CryptoError::KeyDecode("bad VRF key pair"))?;
        Ok(SchnorrkelVrfKey { kp })
    }
}

impl VrfProver for SchnorrkelVrfKey {
    fn vrf_public(&self) -> [u8; 32] {
        self.kp.public.to_bytes()
    }

    fn prove(&self, input: &VrfInput) -> (Credential, VrfHash) {
        let t = signing_context(input.context).bytes(input.message());
        let extra = schnorrkel::context::attach_rng(
            merlin::Transcript::new(b"VRF"),
            rand_chacha::ChaCha20Rng::from_seed([0u8; 32]),
        );
        let (inout, _, batchable) = self.kp.vrf_sign_extra(t, extra);
        let hash: [u8; 32] = inout.make_bytes(input.output_context);
        (
            Credential {
                output: inout.to_preout().to_bytes(),
                proof: batchable.to_bytes(),
            },
            hash,
        )
    }
}

/// Verifier of schnorrkel VRF credentials.
#[derive(Copy, Clone, Debug, Default)]
pub struct SchnorrkelVrf;

impl VrfVerifier for SchnorrkelVrf {
    fn verify(
        &self,
        pk: &[u8; 32],
        input: &VrfInput,
        cred: &Credential,
    ) -> Result<VrfHash, CryptoError> {
        let (pk, inout, proof) = parse_vrf(pk, input, cred)?;
        let t = || merlin::Transcript::new(b"VRF");
        let short = proof.shorten_dleq(t(), &pk, &inout, KUSAMA_VRF);
        let rebuilt = pk
            .dleq_verify(t(), &inout, &short, KUSAMA_VRF)
            .map_err(|_| CryptoError::BadVrfProof)?;
        if rebuilt != proof {
            return Err(CryptoError::BadVrfProof);
        }
        Ok(inout.make_bytes(input.output_context))
    }

    /// One `dleq_verify_batch` over all items (a single item is verified alone).
    /// A malformed item fails the whole call with its own error.
    fn verify_batch(&self, items: &[VrfItem<'_>]) -> Result<Vec<VrfHash>, CryptoError> {
        if let [one] = items {
            return self.verify(one.pk, &one.input, one.cred).map(|h| vec![h]);
        }
        let n = items.len();
        let (mut pks, mut inouts, mut proofs) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for it in items {
            let (pk, inout, proof) = parse_vrf(it.pk, &it.input, it.cred)?;
            pks.push(pk);
            inouts.push(inout);
            proofs.push(proof);
        }
        dleq_verify_batch(&inouts, &proofs, &pks, KUSAMA_VRF)
            .map_err(|_| CryptoError::BatchFailed)?;
        Ok(inouts
            .iter()
            .zip(items)
            .map(|(io, it)| io.make_bytes(it.input.output_context))
            .collect())
    }
}

/// Parses a credential for `input` under `pk`: the public key, the VRF in-out (the
/// hashed input point and the decompressed, non-identity output point) and the
/// batchable proof (canonical scalar `s`; `R` and `Hr` are checked by verification).
fn parse_vrf(
    pk: &[u8; 32],
    input: &VrfInput,
    cred: &Credential,
) -> Result<(PublicKey, VRFInOut, VRFProofBatchable), CryptoError> {
    let pk = PublicKey::from_bytes(pk).map_err(|_| CryptoError::BadPublicKey)?;
    let proof = VRFProofBatchable::from_bytes(&cred.proof).map_err(|_| CryptoError::BadVrfProof)?;
    let t = signing_context(input.context).bytes(input.message());
    let inout = VRFPreOut(cred.output)
        .attach_input_hash(&pk, t)
        .map_err(|_| CryptoError::BadVrfProof)?;
    Ok((pk, inout, proof))
}

struct SubKey {
    sk: SigningKey,
    cert: [u8; 64],
}

/// Most sub-keys a key set may hold (bounds decoding; 10^6 heights / lifespan 1 fits).
pub const MAX_SUBKEYS: usize = 1 << 20;
const KEYSET_MAGIC: &[u8; 8] = b"kalgoFS1";
const KEYSET_HEADER: usize = 8 + 8 + 32 + 8 + 4;
const SUBKEY_BYTES: usize = 32 + 64;

/// A forward-secure vote key set (Kaleido §1.3, §2.2): the master public key and one
/// certified sub-key per absolute offset in `[first_offset, end_offset)`.
pub struct FsKeySet {
    chain_id: u64,
    master_pk: [u8; 32],
    first_offset: u64,
    subkeys: VecDeque<SubKey>,
}

impl FsKeySet {
    /// `GenerateForwardSecureKey(offset0, count)` (Kaleido §1.3): a fresh master key
    /// certifies `count` fresh sub-keys for offsets `first_offset..first_offset+count`
    /// of chain `chain_id`; the master secret is then dropped (zeroized).
    pub fn generate<R: RngCore + CryptoRng>(
        rng: &mut R,
        chain_id: u64,
        first_offset: u64,
        count: usize,
    ) -> Result<Self, CryptoError> {
        if count == 0 || count > MAX_SUBKEYS {
            return Err(CryptoError::KeyDecode("sub-key count out of range"));
        }
        if first_offset.checked_add(count as u64).is_none() {
            return Err(CryptoError::KeyDecode("offsets overflow"));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(seed.as_mut());
        let master = SigningKey::from_bytes(&seed);
        let master_pk = master.verifying_key().to_bytes();
        let mut subkeys = VecDeque::with_capacity(count);
        for i in 0..count as u64 {
            rng.fill_bytes(seed.as_mut());
            let sk = SigningKey::from_bytes(&seed);
            let cert_msg =
                subkey_cert_message(chain_id, first_offset + i, &sk.verifying_key().to_bytes());
            let cert = master.sign(&cert_msg).to_bytes();
            subkeys.push_back(SubKey { sk, cert });
        }
        drop(master);
        Ok(FsKeySet {
            chain_id,
            master_pk,
            first_offset,
            subkeys,
        })
    }

    /// Key set covering heights `[start, end)` with `lifespan` heights per sub-key
    /// (Kaleido §2.2, `generateMinerKey`; fixed: the last partial lifespan of the
    /// interval also gets a sub-key).
    pub fn generate_for_heights<R: RngCore + CryptoRng>(
        rng: &mut R,
        chain_id: u64,
        start: u64,
        end: u64,
        lifespan: u64,
    ) -> Result<Self, CryptoError> {
        let first = super::fs_offset(start, lifespan)?;
        let last = super::fs_offset(end.saturating_sub(1), lifespan)?;
        if end <= start {
            return Err(CryptoError::KeyDecode("empty height range"));
        }
        let count = usize::try_from(last - first + 1)
            .map_err(|_| CryptoError::KeyDecode("too many sub-keys"))?;
        Self::generate(rng, chain_id, first, count)
    }

    /// Chain id the sub-key certificates bind.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The first offset that still has a sub-key.
    pub fn first_offset(&self) -> u64 {
        self.first_offset
    }

    /// One past the last offset with a sub-key.
    pub fn end_offset(&self) -> u64 {
        self.first_offset + self.subkeys.len() as u64
    }

    /// Forward security (Kaleido §1.3 "Update"): drops every sub-key whose offset is
    /// below `offset`; their secrets are zeroized as they are dropped.
    pub fn erase_before(&mut self, offset: u64) {
        while self.first_offset < offset && !self.subkeys.is_empty() {
            self.subkeys.pop_front();
            self.first_offset += 1;
        }
        if self.subkeys.is_empty() {
            self.first_offset = self.first_offset.max(offset);
        }
    }

    /// Serializes the key set: `"kalgoFS1" ‖ BE64 chain ‖ master pk ‖ BE64 first offset
    /// ‖ BE32 count ‖ count × (sub secret 32 ‖ certificate 64)`. Zeroized on drop.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(
            KEYSET_HEADER + self.subkeys.len() * SUBKEY_BYTES,
        ));
        out.extend_from_slice(KEYSET_MAGIC);
        out.extend_from_slice(&self.chain_id.to_be_bytes());
        out.extend_from_slice(&self.master_pk);
        out.extend_from_slice(&self.first_offset.to_be_bytes());
        out.extend_from_slice(&(self.subkeys.len() as u32).to_be_bytes());
        for k in &self.subkeys {
            let mut sk = k.sk.to_bytes();
            out.extend_from_slice(&sk);
            sk.zeroize();
            out.extend_from_slice(&k.cert);
        }
        out
    }

    /// Restores a key set from [`FsKeySet::to_bytes`]. Bounded: the length must match
    /// the declared count exactly and the count is at most [`MAX_SUBKEYS`]. Never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let header = bytes
            .get(..KEYSET_HEADER)
            .ok_or(CryptoError::KeyDecode("truncated header"))?;
        if &header[..8] != KEYSET_MAGIC {
            return Err(CryptoError::KeyDecode("bad magic"));
        }
        let chain_id = u64::from_be_bytes(arr(&header[8..16])?);
        let master_pk: [u8; 32] = arr(&header[16..48])?;
        let first_offset = u64::from_be_bytes(arr(&header[48..56])?);
        let count = u32::from_be_bytes(arr(&header[56..60])?) as usize;
        if count > MAX_SUBKEYS {
            return Err(CryptoError::KeyDecode("too many sub-keys"));
        }
        let body = &bytes[KEYSET_HEADER..];
        if body.len() != count * SUBKEY_BYTES {
            return Err(CryptoError::KeyDecode(
                "length does not match sub-key count",
            ));
        }
        if first_offset.checked_add(count as u64).is_none() {
            return Err(CryptoError::KeyDecode("offsets overflow"));
        }
        VerifyingKey::from_bytes(&master_pk)
            .map_err(|_| CryptoError::KeyDecode("bad master public key"))?;
        let mut subkeys = VecDeque::with_capacity(count);
        for chunk in body.chunks_exact(SUBKEY_BYTES) {
            let mut sk: [u8; 32] = arr(&chunk[..32])?;
            let cert: [u8; 64] = arr(&chunk[32..])?;
            subkeys.push_back(SubKey {
                sk: SigningKey::from_bytes(&sk),
                cert,
            });
            sk.zeroize();
        }
        Ok(FsKeySet {
            chain_id,
            master_pk,
            first_offset,
            subkeys,
        })
    }
}

fn arr<const N: usize>(s: &[u8]) -> Result<[u8; N], CryptoError> {
    s.try_into()
        .map_err(|_| CryptoError::KeyDecode("bad field length"))
}

impl VoteSigner for FsKeySet {
    fn master_public(&self) -> [u8; 32] {
        self.master_pk
    }

    /// Kaleido §1.3 "Signing at offset", over the domain-separated message of §1.4.
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
        let idx = usize::try_from(offset - self.first_offset)
            .map_err(|_| CryptoError::SubKeyExpired(offset))?;
        let k = self
            .subkeys
            .get(idx)
            .ok_or(CryptoError::SubKeyExpired(offset))?;
        Ok(FsSignature {
            sub_key: k.sk.verifying_key().to_bytes(),
            sub_key_sig: k.cert,
            sig: k.sk.sign(&msg.to_bytes()).to_bytes(),
        })
    }
}

/// Verifier of forward-secure ed25519 vote signatures; batches with
/// `ed25519_dalek::verify_batch` (2 signatures per item).
#[derive(Copy, Clone, Debug, Default)]
pub struct Ed25519FsVerifier;

fn strong_key(bytes: &[u8; 32]) -> Result<VerifyingKey, CryptoError> {
    let vk = VerifyingKey::from_bytes(bytes).map_err(|_| CryptoError::BadPublicKey)?;
    if vk.is_weak() {
        return Err(CryptoError::BadPublicKey);
    }
    Ok(vk)
}

impl VoteVerifier for Ed25519FsVerifier {
    /// Kaleido §1.3 "Verifying": master over (chain, offset, sub-key), then sub-key
    /// over the message.
    fn verify(&self, item: &SigItem<'_>) -> Result<(), CryptoError> {
        let master = strong_key(item.master_pk)?;
        let sub = strong_key(&item.sig.sub_key)?;
        let cert_msg = subkey_cert_message(item.msg.chain_id, item.offset, &item.sig.sub_key);
        master
            .verify(&cert_msg, &Signature::from_bytes(&item.sig.sub_key_sig))
            .map_err(|_| CryptoError::BadSubKeyCert)?;
        sub.verify(&item.msg.to_bytes(), &Signature::from_bytes(&item.sig.sig))
            .map_err(|_| CryptoError::BadSignature)
    }

    fn verify_batch(&self, items: &[SigItem<'_>]) -> Result<(), CryptoError> {
        let n = items.len();
        let mut certs: Vec<[u8; SUBKEY_MSG_LEN]> = Vec::with_capacity(n);
        let mut msgs: Vec<[u8; SIGNED_MSG_LEN]> = Vec::with_capacity(n);
        let mut sigs = Vec::with_capacity(2 * n);
        let mut keys = Vec::with_capacity(2 * n);
        for it in items {
            certs.push(subkey_cert_message(
                it.msg.chain_id,
                it.offset,
                &it.sig.sub_key,
            ));
            msgs.push(it.msg.to_bytes());
            keys.push(strong_key(it.master_pk)?);
            sigs.push(Signature::from_bytes(&it.sig.sub_key_sig));
            keys.push(strong_key(&it.sig.sub_key)?);
            sigs.push(Signature::from_bytes(&it.sig.sig));
        }
        let mut refs: Vec<&[u8]> = Vec::with_capacity(2 * n);
        for (c, m) in certs.iter().zip(&msgs) {
            refs.push(c);
            refs.push(m);
        }
        ed25519_dalek::verify_batch(&refs, &sigs, &keys).map_err(|_| CryptoError::BatchFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Hrs, Step, Value};

    fn rng(seed: u8) -> rand_chacha::ChaCha20Rng {
        rand_chacha::ChaCha20Rng::from_seed([seed; 32])
    }

    fn msg(step: u32) -> SignedMessage {
        SignedMessage {
            chain_id: 7,
            height: 1234,
            round: 1,
            step: Step(step),
            value: Value([5; 32]),
        }
    }

    #[test]
    fn vrf_round_trip_and_binding() {
        let k = SchnorrkelVrfKey::generate(&mut rng(1)).unwrap();
        let other = SchnorrkelVrfKey::generate(&mut rng(2)).unwrap();
        let seed = [3u8; 32];
        let input = VrfInput::sortition(7, Hrs::new(10, 1, Step(2)), &seed);
        let (cred, hash) = k.prove(&input);
        // Deterministic proving.
        assert_eq!(k.prove(&input), (cred, hash));
        assert_eq!(
            SchnorrkelVrf.verify(&k.vrf_public(), &input, &cred),
            Ok(hash)
        );
        // Wrong key, other step, other chain, other seed: rejected.
        assert_eq!(
            SchnorrkelVrf.verify(&other.vrf_public(), &input, &cred),
            Err(CryptoError::BadVrfProof)
        );
        for bad in [
            VrfInput::sortition(7, Hrs::new(10, 1, Step(3)), &seed),
            VrfInput::sortition(8, Hrs::new(10, 1, Step(2)), &seed),
            VrfInput::sortition(7, Hrs::new(10, 1, Step(2)), &[4; 32]),
            VrfInput::seed(7, 10, &seed),
        ] {
            assert!(SchnorrkelVrf.verify(&k.vrf_public(), &bad, &cred).is_err());
        }
        let mut tampered = cred;
        tampered.output[0] ^= 1;
        assert!(
            SchnorrkelVrf
                .verify(&k.vrf_public(), &input, &tampered)
                .is_err()
        );
        // Key round trip.
        let k2 = SchnorrkelVrfKey::from_bytes(k.to_bytes().as_ref()).unwrap();
        assert_eq!(k2.prove(&input), (cred, hash));
        assert!(SchnorrkelVrfKey::from_bytes(&[1u8; 95]).is_err());
    }

    /// Eight keys, each proving a distinct sortition input (and one a seed input).
    fn vrf_batch_fixture() -> Vec<([u8; 32], VrfInput, Credential, VrfHash)> {
        (0..8u8)
            .map(|i| {
                let k = SchnorrkelVrfKey::generate(&mut rng(40 + i)).unwrap();
                let input = if i == 7 {
                    VrfInput::seed(7, 10, &[i; 32])
                } else {
                    VrfInput::sortition(7, Hrs::new(10, 1, Step(2 + u32::from(i))), &[3; 32])
                };
                let (cred, hash) = k.prove(&input);
                (k.vrf_public(), input, cred, hash)
            })
            .collect()
    }

    fn items(f: &[([u8; 32], VrfInput, Credential, VrfHash)]) -> Vec<VrfItem<'_>> {
        f.iter()
            .map(|(pk, input, cred, _)| VrfItem {
                pk,
                input: *input,
                cred,
            })
            .collect()
    }

    #[test]
    fn vrf_batch_of_valid_credentials_passes() {
        let f = vrf_batch_fixture();
        let expect: Vec<VrfHash> = f.iter().map(|x| x.3).collect();
        assert_eq!(SchnorrkelVrf.verify_batch(&items(&f)), Ok(expect.clone()));
        // Every prefix, including a single item and the empty batch.
        for n in 0..f.len() {
            assert_eq!(
                SchnorrkelVrf.verify_batch(&items(&f[..n])),
                Ok(expect[..n].to_vec())
            );
        }
        // The default (one by one) agrees.
        struct OneByOne;
        impl VrfVerifier for OneByOne {
            fn verify(
                &self,
                pk: &[u8; 32],
                input: &VrfInput,
                cred: &Credential,
            ) -> Result<VrfHash, CryptoError> {
                SchnorrkelVrf.verify(pk, input, cred)
            }
        }
        assert_eq!(OneByOne.verify_batch(&items(&f)), Ok(expect));
    }

    #[test]
    fn vrf_batch_with_one_forged_proof_fails_and_single_checks_name_it() {
        let base = vrf_batch_fixture();
        let forgeries: [fn(&mut Credential, &Credential); 4] = [
            // s changed (still a canonical scalar).
            |c, _| c.proof[64] ^= 1,
            // R replaced by another valid point (the output point).
            |c, _| c.proof[..32].copy_from_slice(&c.output),
            // Hr replaced by another valid point.
            |c, _| c.proof[32..64].copy_from_slice(&c.output),
            // A valid proof, but of another key for another input.
            |c, other| c.proof = other.proof,
        ];
        for forge in forgeries {
            let mut f = base.clone();
            let other = f[1].2;
            forge(&mut f[5].2, &other);
            let its = items(&f);
            assert_eq!(
                SchnorrkelVrf.verify_batch(&its),
                Err(CryptoError::BatchFailed)
            );
            let single: Vec<_> = its
                .iter()
                .map(|i| SchnorrkelVrf.verify(i.pk, &i.input, i.cred))
                .collect();
            for (i, r) in single.iter().enumerate() {
                if i == 5 {
                    assert_eq!(*r, Err(CryptoError::BadVrfProof));
                } else {
                    assert_eq!(*r, Ok(f[i].3));
                }
            }
        }
    }

    #[test]
    fn vrf_proof_for_another_input_or_key_fails_in_batch() {
        let f = vrf_batch_fixture();
        // Item 3 checked against item 4's key, then against item 4's input.
        let mut wrong_key = items(&f);
        wrong_key[3].pk = &f[4].0;
        assert!(SchnorrkelVrf.verify_batch(&wrong_key).is_err());
        let mut wrong_input = items(&f);
        wrong_input[3].input = f[4].1;
        assert!(SchnorrkelVrf.verify_batch(&wrong_input).is_err());
        // A whole credential (output and proof) of another key or input.
        let mut swapped = items(&f);
        swapped[3].cred = &f[4].2;
        assert!(SchnorrkelVrf.verify_batch(&swapped).is_err());
        for its in [&wrong_key, &wrong_input, &swapped] {
            let i = &its[3];
            assert_eq!(
                SchnorrkelVrf.verify(i.pk, &i.input, i.cred),
                Err(CryptoError::BadVrfProof)
            );
        }
    }

    #[test]
    fn malformed_vrf_proof_bytes_are_errors() {
        let f = vrf_batch_fixture();
        let (pk, input, good, _) = f[0];
        let mut bad_points = [0xffu8; 96];
        bad_points[64..].copy_from_slice(&good.proof[64..]);
        let mut non_canonical_r = good.proof;
        non_canonical_r[31] |= 0x80;
        let mut zero_s = good.proof;
        zero_s[64..].fill(0);
        let cases: Vec<Credential> = [
            [0u8; 96],
            [0xff; 96], // s is not a canonical scalar
            bad_points, // R and Hr are not Ristretto encodings
            non_canonical_r,
            zero_s,
        ]
        .into_iter()
        .map(|proof| Credential {
            output: good.output,
            proof,
        })
        .chain([
            Credential {
                output: [0; 32], // identity output
                ..good
            },
            Credential {
                output: [0xff; 32], // not a point
                ..good
            },
            crate::auth::EMPTY_CREDENTIAL,
        ])
        .collect();
        for c in &cases {
            assert_eq!(
                SchnorrkelVrf.verify(&pk, &input, c),
                Err(CryptoError::BadVrfProof),
                "{c:?}"
            );
            let mut batch = items(&f);
            batch[2].cred = c;
            assert!(SchnorrkelVrf.verify_batch(&batch).is_err());
        }
        assert_eq!(
            SchnorrkelVrf.verify(&[0xff; 32], &input, &good),
            Err(CryptoError::BadPublicKey)
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
        /// Any 96 bytes (and any output) give an error unless they are the proof, and
        /// never a panic, singly or in a batch.
        #[test]
        fn arbitrary_vrf_bytes_never_panic(
            proof in proptest::collection::vec(proptest::prelude::any::<u8>(), 96),
            output in proptest::prelude::any::<[u8; 32]>(),
            keep_output in proptest::prelude::any::<bool>(),
        ) {
            let k = SchnorrkelVrfKey::from_seed(&[1; 32]).unwrap();
            let input = VrfInput::sortition(7, Hrs::new(10, 1, Step(2)), &[3; 32]);
            let (good, _) = k.prove(&input);
            let cred = Credential {
                output: if keep_output { good.output } else { output },
                proof: proof.try_into().unwrap(),
            };
            proptest::prop_assume!(cred != good);
            let pk = k.vrf_public();
            proptest::prop_assert!(SchnorrkelVrf.verify(&pk, &input, &cred).is_err());
            let batch = [
                VrfItem { pk: &pk, input, cred: &good },
                VrfItem { pk: &pk, input, cred: &cred },
            ];
            proptest::prop_assert!(SchnorrkelVrf.verify_batch(&batch).is_err());
        }
    }

    #[test]
    fn forward_secure_signatures() {
        let mut ks = FsKeySet::generate(&mut rng(9), 7, 10, 5).unwrap();
        let m = msg(2);
        let pk = ks.master_public();
        let sig = ks.sign(12, &m).unwrap();
        let item = |offset, msg: &SignedMessage, sig| {
            Ed25519FsVerifier.verify(&SigItem {
                master_pk: &pk,
                offset,
                msg,
                sig,
            })
        };
        assert_eq!(item(12, &m, &sig), Ok(()));
        // Another step, height, chain id or value does not verify.
        assert_eq!(item(12, &msg(3), &sig), Err(CryptoError::BadSignature));
        assert_eq!(
            item(12, &SignedMessage { height: 1235, ..m }, &sig),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            item(
                12,
                &SignedMessage {
                    value: Value([6; 32]),
                    ..m
                },
                &sig
            ),
            Err(CryptoError::BadSignature)
        );
        assert_eq!(
            item(12, &SignedMessage { chain_id: 8, ..m }, &sig),
            Err(CryptoError::BadSubKeyCert)
        );
        // The certificate binds the offset and the whole sub-key.
        assert_eq!(item(13, &m, &sig), Err(CryptoError::BadSubKeyCert));
        let sig13 = ks.sign(13, &m).unwrap();
        let swapped = FsSignature {
            sub_key: sig13.sub_key,
            ..sig
        };
        assert_eq!(item(12, &m, &swapped), Err(CryptoError::BadSubKeyCert));
        let mut last_byte = sig;
        last_byte.sub_key[31] ^= 1;
        assert!(item(12, &m, &last_byte).is_err());
        // Wrong chain, expired, erased.
        assert!(matches!(
            ks.sign(12, &SignedMessage { chain_id: 8, ..m }),
            Err(CryptoError::WrongChain { .. })
        ));
        assert_eq!(ks.sign(15, &m), Err(CryptoError::SubKeyExpired(15)));
        ks.erase_before(13);
        assert_eq!(ks.first_offset(), 13);
        assert_eq!(ks.sign(12, &m), Err(CryptoError::SubKeyErased(12)));
        assert_eq!(ks.sign(13, &m), Ok(sig13));
        // Serialisation round trip keeps signing identically.
        let bytes = ks.to_bytes();
        let back = FsKeySet::from_bytes(&bytes).unwrap();
        assert_eq!(back.first_offset(), 13);
        assert_eq!(back.end_offset(), 15);
        assert_eq!(back.sign(14, &m), ks.sign(14, &m));
        assert_eq!(back.master_public(), pk);
        ks.erase_before(100);
        assert_eq!(ks.sign(14, &m), Err(CryptoError::SubKeyErased(14)));
    }

    #[test]
    fn keyset_decoding_is_bounded() {
        let ks = FsKeySet::generate(&mut rng(1), 1, 0, 2).unwrap();
        let bytes = ks.to_bytes();
        for cut in 0..bytes.len() {
            assert!(FsKeySet::from_bytes(&bytes[..cut]).is_err());
        }
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(FsKeySet::from_bytes(&longer).is_err());
        let mut huge = bytes[..KEYSET_HEADER].to_vec();
        huge[56..60].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(FsKeySet::from_bytes(&huge).is_err());
        assert!(FsKeySet::generate(&mut rng(1), 1, u64::MAX, 2).is_err());
        let ranged = FsKeySet::generate_for_heights(&mut rng(1), 1, 1, 1_050, 100).unwrap();
        assert_eq!((ranged.first_offset(), ranged.end_offset()), (0, 11));
    }

    #[test]
    fn batch_rejects_one_bad_signature() {
        let keys: Vec<FsKeySet> = (0..8)
            .map(|i| FsKeySet::generate(&mut rng(i), 7, 12, 1).unwrap())
            .collect();
        let m = msg(2);
        let pks: Vec<[u8; 32]> = keys.iter().map(|k| k.master_public()).collect();
        let mut sigs: Vec<FsSignature> = keys.iter().map(|k| k.sign(12, &m).unwrap()).collect();
        let items = |sigs: &[FsSignature]| -> Vec<(usize, FsSignature)> {
            sigs.iter().copied().enumerate().collect()
        };
        let check = |sigs: &[FsSignature]| {
            let owned = items(sigs);
            let v: Vec<SigItem<'_>> = owned
                .iter()
                .map(|(i, s)| SigItem {
                    master_pk: &pks[*i],
                    offset: 12,
                    msg: &m,
                    sig: s,
                })
                .collect();
            (
                Ed25519FsVerifier.verify_batch(&v),
                v.iter()
                    .map(|i| Ed25519FsVerifier.verify(i).is_ok())
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(check(&sigs).0, Ok(()));
        sigs[5].sig[0] ^= 1;
        let (batch, single) = check(&sigs);
        assert_eq!(batch, Err(CryptoError::BatchFailed));
        assert_eq!(single.iter().filter(|ok| !**ok).count(), 1);
        assert!(!single[5]);
    }
}
