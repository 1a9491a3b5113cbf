//! The wire messages of the protocol and their one canonical binary encoding.
//!
//! Encoding: one tag byte naming the message kind, then the message as RLP
//! (via `alloy-rlp`, whose decoder rejects non-canonical integers and lengths).
//! Decoding is bounded: the whole input is capped at [`MAX_MESSAGE_BYTES`] before
//! any parsing, every list is capped by count, step 0 and round 0 are rejected, and
//! trailing bytes are an error. Decoding never panics; `decode(encode(m)) == m`.

use crate::types::{Height, MinerId, Round, Step, Value};
use alloy_rlp::{Decodable, Encodable, RlpDecodable, RlpEncodable};
use thiserror::Error;

/// Largest encoded message accepted (a certificate with [`MAX_CERT_VOTES`] votes fits).
pub const MAX_MESSAGE_BYTES: usize = 2 * 1024 * 1024;
/// Most votes a certificate may carry.
pub const MAX_CERT_VOTES: usize = 4096;

/// Length of a VRF proof on the wire: schnorrkel's batchable proof `(R, Hr, s)`.
pub const VRF_PROOF_BYTES: usize = 96;

/// A VRF credential: the VRF output and its proof (schnorrkel: 32 + 96 bytes).
///
/// The proof is the 96-byte *batchable* form, so a receiver can verify many
/// credentials with one batch verification (`crate::crypto::VrfVerifier::verify_batch`);
/// single verification recomputes the 64-byte short proof from it.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, RlpEncodable, RlpDecodable)]
pub struct Credential {
    /// VRF pre-output (the sortition hash is derived from it).
    pub output: [u8; 32],
    /// VRF proof (batchable form).
    pub proof: [u8; VRF_PROOF_BYTES],
}

/// A forward-secure vote signature: the sub-key, the master key's signature over
/// the whole sub-key and its offset, and the sub-key's signature over the message.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, RlpEncodable, RlpDecodable)]
pub struct FsSignature {
    /// The ed25519 sub public key for this offset.
    pub sub_key: [u8; 32],
    /// The master key's signature certifying `(offset, sub_key)`.
    pub sub_key_sig: [u8; 64],
    /// The sub-key's signature over the domain-separated message.
    pub sig: [u8; 64],
}

#[cfg(test)]
impl FsSignature {
    /// All zeros: a placeholder for tests that never verify signatures.
    pub(crate) const UNSIGNED: FsSignature = FsSignature {
        sub_key: [0; 32],
        sub_key_sig: [0; 64],
        sig: [0; 64],
    };
}

/// A vote: `voter` votes `value` at (height, round, step).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, RlpEncodable, RlpDecodable)]
pub struct VoteMsg {
    pub height: Height,
    pub round: Round,
    /// Step (2 = soft, 3 = cert, ≥ 4 = next).
    pub step: Step,
    /// The value voted for.
    pub value: Value,
    /// The voter's identity (stake owner).
    pub voter: MinerId,
    /// Sortition credential for (height, round, step).
    pub credential: Credential,
    /// Signature binding chain id, height, round, step and value.
    pub signature: FsSignature,
}

/// A leader proposal (Kaleido's ProposalLeader): the proposer's credential for
/// step 1 of `round`, the value it proposes and its seed for the next height.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, RlpEncodable, RlpDecodable)]
pub struct ProposalMsg {
    pub height: Height,
    pub round: Round,
    /// The proposed value (block header hash).
    pub value: Value,
    /// The proposer's identity (stake owner).
    pub proposer: MinerId,
    /// Step-1 sortition credential.
    pub credential: Credential,
    /// The proposer's VRF over the previous seed: the seed of this block.
    pub seed: Credential,
    /// Signature binding chain id, height, round, step 1 and value.
    pub signature: FsSignature,
}

/// One cert vote inside a certificate (height, round, step and value are the
/// certificate's).
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, RlpEncodable, RlpDecodable)]
pub struct CertVote {
    pub voter: MinerId,
    /// Sortition credential for step 3 of the certificate's round.
    pub credential: Credential,
    /// Signature over the cert vote.
    pub signature: FsSignature,
}

/// A certificate: a cert quorum for `value` in `round` of `height`, with the
/// proposal of that value. It binds the header hash (`value`).
///
/// Decoded only through [`WireMessage::decode`], which bounds the vote count.
#[derive(Clone, PartialEq, Eq, Hash, Debug, RlpEncodable)]
pub struct Certificate {
    pub height: Height,
    /// The round whose cert votes form the quorum.
    pub round: Round,
    /// The certified value: the block header hash.
    pub value: Value,
    /// The proposal of the value.
    pub proposal: ProposalMsg,
    /// Cert votes, sorted by voter, distinct voters.
    pub votes: Vec<CertVote>,
}

impl Certificate {
    /// The cert vote `cv` as the vote it was when counted: step 3 (cert) of the
    /// certificate's round, for its value (Kaleido §4.10: votes in a certificate
    /// carry none of these of their own).
    pub fn vote(&self, cv: &CertVote) -> VoteMsg {
        VoteMsg {
            height: self.height,
            round: self.round,
            step: Step::CERT,
            value: self.value,
            voter: cv.voter,
            credential: cv.credential,
            signature: cv.signature,
        }
    }
}

/// A node's position, announced so peers can help it catch up.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug, RlpEncodable, RlpDecodable)]
pub struct StatusMsg {
    pub height: Height,
    pub round: Round,
}

/// Every consensus message that crosses the network.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum WireMessage {
    /// A soft, cert or next vote.
    Vote(VoteMsg),
    /// A leader proposal (step 1); its block travels separately, on the blocks topic.
    Proposal(ProposalMsg),
    /// A certificate (catch-up, block announcements).
    Certificate(Certificate),
    /// A node's (height, round), for catch-up.
    Status(StatusMsg),
}

const TAG_VOTE: u8 = 1;
const TAG_PROPOSAL: u8 = 2;
const TAG_CERTIFICATE: u8 = 3;
const TAG_STATUS: u8 = 4;

/// Why bytes did not decode into a message.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The input is empty.
    #[error("empty message")]
    Empty,
    /// The input exceeds [`MAX_MESSAGE_BYTES`].
    #[error("message of {0} bytes exceeds the limit of {MAX_MESSAGE_BYTES}")]
    TooLarge(usize),
    /// The tag byte names no message kind.
    #[error("unknown message tag {0}")]
    UnknownTag(u8),
    /// The RLP body is malformed or not canonical.
    #[error("malformed message body: {0}")]
    Rlp(String),
    /// Bytes remain after the message.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    /// A field is out of its allowed range.
    #[error("invalid field: {0}")]
    Invalid(&'static str),
}

impl From<alloy_rlp::Error> for DecodeError {
    fn from(e: alloy_rlp::Error) -> Self {
        DecodeError::Rlp(e.to_string())
    }
}

impl WireMessage {
    /// The canonical encoding: a tag byte, then the RLP body. [`WireMessage::decode`]
    /// accepts nothing else.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        match self {
            WireMessage::Vote(m) => {
                out.push(TAG_VOTE);
                m.encode(&mut out);
            }
            WireMessage::Proposal(m) => {
                out.push(TAG_PROPOSAL);
                m.encode(&mut out);
            }
            WireMessage::Certificate(m) => {
                out.push(TAG_CERTIFICATE);
                m.encode(&mut out);
            }
            WireMessage::Status(m) => {
                out.push(TAG_STATUS);
                m.encode(&mut out);
            }
        }
        out
    }

    /// Decodes one message occupying the whole of `bytes`.
    pub fn decode(bytes: &[u8]) -> Result<WireMessage, DecodeError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        let (&tag, mut body) = bytes.split_first().ok_or(DecodeError::Empty)?;
        let msg = match tag {
            TAG_VOTE => WireMessage::Vote(VoteMsg::decode(&mut body)?),
            TAG_PROPOSAL => WireMessage::Proposal(ProposalMsg::decode(&mut body)?),
            TAG_CERTIFICATE => WireMessage::Certificate(decode_certificate(&mut body)?),
            TAG_STATUS => WireMessage::Status(StatusMsg::decode(&mut body)?),
            other => return Err(DecodeError::UnknownTag(other)),
        };
        if !body.is_empty() {
            return Err(DecodeError::Trailing(body.len()));
        }
        msg.check_ranges()?;
        Ok(msg)
    }

    /// Field ranges the RLP layer cannot express.
    fn check_ranges(&self) -> Result<(), DecodeError> {
        let check_hr = |h: Height, r: Round| {
            if h == 0 {
                Err(DecodeError::Invalid("height 0 is genesis, not agreed upon"))
            } else if r == 0 {
                Err(DecodeError::Invalid("round 0 does not exist"))
            } else {
                Ok(())
            }
        };
        match self {
            WireMessage::Vote(v) => {
                check_hr(v.height, v.round)?;
                if v.step.0 < 2 {
                    return Err(DecodeError::Invalid("votes are cast in steps ≥ 2"));
                }
                Ok(())
            }
            WireMessage::Proposal(p) => check_hr(p.height, p.round),
            WireMessage::Certificate(c) => {
                check_hr(c.height, c.round)?;
                if c.proposal.height != c.height {
                    return Err(DecodeError::Invalid(
                        "proposal height differs from certificate",
                    ));
                }
                if c.proposal.value != c.value {
                    return Err(DecodeError::Invalid(
                        "proposal value differs from certificate",
                    ));
                }
                if c.votes.is_empty() {
                    return Err(DecodeError::Invalid("certificate without votes"));
                }
                if !c.votes.windows(2).all(|w| w[0].voter < w[1].voter) {
                    return Err(DecodeError::Invalid(
                        "certificate voters not sorted and distinct",
                    ));
                }
                Ok(())
            }
            WireMessage::Status(s) => check_hr(s.height, s.round),
        }
    }
}

/// Decodes a certificate, refusing more than [`MAX_CERT_VOTES`] votes before
/// decoding them.
fn decode_certificate(buf: &mut &[u8]) -> Result<Certificate, DecodeError> {
    let header = alloy_rlp::Header::decode(buf)?;
    if !header.list {
        return Err(DecodeError::Rlp("certificate is not a list".into()));
    }
    if header.payload_length > buf.len() {
        return Err(DecodeError::Rlp(
            "certificate shorter than its header".into(),
        ));
    }
    let (mut payload, rest) = buf.split_at(header.payload_length);
    let height = Height::decode(&mut payload)?;
    let round = Round::decode(&mut payload)?;
    let value = Value::decode(&mut payload)?;
    let proposal = ProposalMsg::decode(&mut payload)?;
    let votes_header = alloy_rlp::Header::decode(&mut payload)?;
    if !votes_header.list || votes_header.payload_length > payload.len() {
        return Err(DecodeError::Rlp("certificate votes are not a list".into()));
    }
    let (mut votes_buf, after) = payload.split_at(votes_header.payload_length);
    let mut votes = Vec::new();
    while !votes_buf.is_empty() {
        if votes.len() == MAX_CERT_VOTES {
            return Err(DecodeError::Invalid("certificate has too many votes"));
        }
        votes.push(CertVote::decode(&mut votes_buf)?);
    }
    if !after.is_empty() {
        return Err(DecodeError::Trailing(after.len()));
    }
    *buf = rest;
    Ok(Certificate {
        height,
        round,
        value,
        proposal,
        votes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn arb_bytes<const N: usize>() -> impl Strategy<Value = [u8; N]> {
        proptest::collection::vec(any::<u8>(), N).prop_map(|v| {
            let mut a = [0u8; N];
            a.copy_from_slice(&v);
            a
        })
    }

    fn arb_cred() -> impl Strategy<Value = Credential> {
        (arb_bytes::<32>(), arb_bytes::<VRF_PROOF_BYTES>())
            .prop_map(|(output, proof)| Credential { output, proof })
    }

    fn arb_sig() -> impl Strategy<Value = FsSignature> {
        (arb_bytes::<32>(), arb_bytes::<64>(), arb_bytes::<64>()).prop_map(
            |(sub_key, sub_key_sig, sig)| FsSignature {
                sub_key,
                sub_key_sig,
                sig,
            },
        )
    }

    fn arb_vote() -> impl Strategy<Value = VoteMsg> {
        (
            1..u64::MAX,
            1..u32::MAX,
            2..u32::MAX,
            arb_bytes::<32>(),
            arb_bytes::<20>(),
            arb_cred(),
            arb_sig(),
        )
            .prop_map(
                |(height, round, step, v, id, credential, signature)| VoteMsg {
                    height,
                    round,
                    step: Step(step),
                    value: Value(v),
                    voter: MinerId(id),
                    credential,
                    signature,
                },
            )
    }

    fn arb_proposal() -> impl Strategy<Value = ProposalMsg> {
        (
            1..u64::MAX,
            1..u32::MAX,
            arb_bytes::<32>(),
            arb_bytes::<20>(),
            arb_cred(),
            arb_cred(),
            arb_sig(),
        )
            .prop_map(
                |(height, round, v, id, credential, seed, signature)| ProposalMsg {
                    height,
                    round,
                    value: Value(v),
                    proposer: MinerId(id),
                    credential,
                    seed,
                    signature,
                },
            )
    }

    fn arb_message() -> impl Strategy<Value = WireMessage> {
        prop_oneof![
            arb_vote().prop_map(WireMessage::Vote),
            arb_proposal().prop_map(WireMessage::Proposal),
            (1..u64::MAX, 1..u32::MAX)
                .prop_map(|(height, round)| WireMessage::Status(StatusMsg { height, round })),
            (
                arb_proposal(),
                1..u32::MAX,
                proptest::collection::btree_map(arb_bytes::<20>(), (arb_cred(), arb_sig()), 1..6)
            )
                .prop_map(|(proposal, round, votes)| {
                    WireMessage::Certificate(Certificate {
                        height: proposal.height,
                        round,
                        value: proposal.value,
                        proposal,
                        votes: votes
                            .into_iter()
                            .map(|(id, (credential, signature))| CertVote {
                                voter: MinerId(id),
                                credential,
                                signature,
                            })
                            .collect(),
                    })
                }),
        ]
    }

    proptest! {
        #[test]
        fn encode_decode_is_identity(m in arb_message()) {
            let bytes = m.encode();
            prop_assert_eq!(WireMessage::decode(&bytes), Ok(m.clone()));
            // Canonical: re-encoding the decoded message gives the same bytes.
            prop_assert_eq!(WireMessage::decode(&bytes).map(|d| d.encode()), Ok(bytes));
        }

        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = WireMessage::decode(&bytes);
        }

        #[test]
        fn truncated_or_extended_messages_are_rejected(m in arb_message(), cut in 1usize..64, extra in any::<u8>()) {
            let bytes = m.encode();
            let cut = cut.min(bytes.len() - 1);
            prop_assert!(WireMessage::decode(&bytes[..bytes.len() - cut]).is_err());
            let mut longer = bytes.clone();
            longer.push(extra);
            prop_assert!(WireMessage::decode(&longer).is_err());
        }
    }

    #[test]
    fn rejects_bad_inputs_with_reasons() {
        assert_eq!(WireMessage::decode(&[]), Err(DecodeError::Empty));
        assert_eq!(
            WireMessage::decode(&[9, 0xc0]),
            Err(DecodeError::UnknownTag(9))
        );
        let big = vec![1u8; MAX_MESSAGE_BYTES + 1];
        assert_eq!(
            WireMessage::decode(&big),
            Err(DecodeError::TooLarge(MAX_MESSAGE_BYTES + 1))
        );
        let status = WireMessage::Status(StatusMsg {
            height: 0,
            round: 1,
        })
        .encode();
        assert!(matches!(
            WireMessage::decode(&status),
            Err(DecodeError::Invalid(_))
        ));
        // A non-canonical integer (leading zero byte) is refused.
        let mut body = Vec::new();
        alloy_rlp::Header {
            list: true,
            payload_length: 4,
        }
        .encode(&mut body);
        body.extend_from_slice(&[0x82, 0x00, 0x05, 0x01]);
        let mut msg = vec![TAG_STATUS];
        msg.extend_from_slice(&body);
        assert!(matches!(
            WireMessage::decode(&msg),
            Err(DecodeError::Rlp(_))
        ));
    }

    #[test]
    fn certificate_vote_count_is_bounded() {
        let p = ProposalMsg {
            height: 1,
            round: 1,
            value: Value([1; 32]),
            proposer: MinerId::from_index(1),
            credential: Credential {
                output: [0; 32],
                proof: [0; VRF_PROOF_BYTES],
            },
            seed: Credential {
                output: [0; 32],
                proof: [0; VRF_PROOF_BYTES],
            },
            signature: FsSignature::UNSIGNED,
        };
        let votes = (0..=MAX_CERT_VOTES as u32)
            .map(|i| {
                let mut id = [0u8; 20];
                id[16..].copy_from_slice(&i.to_be_bytes());
                CertVote {
                    voter: MinerId(id),
                    credential: p.credential,
                    signature: p.signature,
                }
            })
            .collect();
        let c = Certificate {
            height: 1,
            round: 1,
            value: p.value,
            proposal: p,
            votes,
        };
        let bytes = WireMessage::Certificate(c).encode();
        assert!(bytes.len() <= MAX_MESSAGE_BYTES);
        assert_eq!(
            WireMessage::decode(&bytes),
            Err(DecodeError::Invalid("certificate has too many votes"))
        );
    }
}
