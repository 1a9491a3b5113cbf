//! The protocol's vocabulary: heights, rounds, steps, values and miner identities.
//!
//! Kaleido reference §4.2 (values) and §4.6 (steps). Every type here is small and
//! `Copy`, so the machine's state stays cheap to clone and hash (the model checker
//! clones it once per explored transition).

use alloy_rlp::{RlpDecodableWrapper, RlpEncodableWrapper};
use sha2::{Digest, Sha512_256};
use std::fmt;

/// Block height. Height 0 is genesis; agreement runs for heights ≥ 1.
pub type Height = u64;

/// Round within a height. Rounds start at 1 (Kaleido §4.6).
pub type Round = u32;

/// A step within a round.
///
/// Step numbers follow Kaleido §4.6: 1 = Proposal, 2 = Filtering (soft vote),
/// 3 = Certifying (cert vote), and 4, 5, 6, … = Finishing (next votes; even steps are
/// "first finishing", odd steps "second finishing").
#[derive(
    Copy,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Debug,
    Default,
    RlpEncodableWrapper,
    RlpDecodableWrapper,
)]
pub struct Step(pub u32);

/// What a step's votes are for; selects the committee and its threshold.
#[derive(Copy, Clone, PartialEq, Eq, Debug, Hash)]
pub enum StepKind {
    /// Step 1: leader proposals.
    Proposal,
    /// Step 2: soft votes.
    Soft,
    /// Step 3: cert votes.
    Cert,
    /// Steps ≥ 4: next votes.
    Next,
}

impl Step {
    /// Step 1, the proposal step.
    pub const PROPOSAL: Step = Step(1);
    /// Step 2, filtering: soft votes.
    pub const SOFT: Step = Step(2);
    /// Step 3, certifying: cert votes.
    pub const CERT: Step = Step(3);
    /// Step 4, the first next-vote step.
    pub const FIRST_NEXT: Step = Step(4);

    /// The committee this step's votes belong to. Step 0 is not a voting step and
    /// is reported as `Proposal`; decoders reject it before it gets here.
    pub fn kind(self) -> StepKind {
        match self.0 {
            0 | 1 => StepKind::Proposal,
            2 => StepKind::Soft,
            3 => StepKind::Cert,
            _ => StepKind::Next,
        }
    }

    /// True for the next-vote steps (≥ 4).
    pub fn is_next(self) -> bool {
        self.0 >= 4
    }

    /// FirstFinishing: even next-vote steps (4, 6, …), instant.
    pub fn is_first_finishing(self) -> bool {
        self.is_next() && self.0.is_multiple_of(2)
    }

    /// SecondFinishing: odd next-vote steps (5, 7, …), which wait with a timer.
    pub fn is_second_finishing(self) -> bool {
        self.is_next() && !self.0.is_multiple_of(2)
    }

    /// The step after this one.
    pub fn succ(self) -> Step {
        Step(self.0.saturating_add(1))
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind() {
            StepKind::Proposal => write!(f, "propose"),
            StepKind::Soft => write!(f, "soft"),
            StepKind::Cert => write!(f, "cert"),
            StepKind::Next => write!(f, "next{}", self.0 - 4),
        }
    }
}

/// A position in the protocol: (height, round, step), ordered lexicographically.
/// A node's position never goes backwards (invariant S9).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Hrs {
    pub height: Height,
    pub round: Round,
    pub step: Step,
}

impl Hrs {
    /// Builds a position.
    pub fn new(height: Height, round: Round, step: Step) -> Self {
        Hrs {
            height,
            round,
            step,
        }
    }
}

impl fmt::Display for Hrs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "h{}/r{}/{}", self.height, self.round, self.step)
    }
}

/// A value agreed upon: the 32-byte hash of a block header, or the per-height empty
/// value ("no agreement in this round", Kaleido §4.2).
#[derive(
    Copy,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    RlpEncodableWrapper,
    RlpDecodableWrapper,
)]
pub struct Value(pub [u8; 32]);

impl Value {
    /// The empty value of `height` whose parent block is `parent`.
    ///
    /// Kaleido uses keccak256(rlp([parent, h])); our wire format is our own
    /// (ARCHITECTURE.md, Decisions), so we use a domain-separated SHA-512/256 that is
    /// distinct per height and per parent and can never collide with a header hash
    /// by construction of the domain tag.
    pub fn empty(parent: Value, height: Height) -> Value {
        let mut h = Sha512_256::new();
        h.update(b"kalgo/empty-value/v1");
        h.update(parent.0);
        h.update(height.to_be_bytes());
        Value(h.finalize().into())
    }

    /// A short hex prefix, for logs and traces.
    pub fn short(&self) -> String {
        hex4(&self.0)
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Value({})", self.short())
    }
}

/// A miner's identity: its stake-owner address (20 bytes, as on Ethereum).
#[derive(
    Copy,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    RlpEncodableWrapper,
    RlpDecodableWrapper,
)]
pub struct MinerId(pub [u8; 20]);

impl MinerId {
    /// A test/model identity whose last byte is `i` (all other bytes zero).
    pub fn from_index(i: u8) -> MinerId {
        let mut b = [0u8; 20];
        b[19] = i;
        MinerId(b)
    }
}

impl fmt::Debug for MinerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0[..19].iter().all(|b| *b == 0) {
            write!(f, "M{}", self.0[19])
        } else {
            write!(f, "M0x{}", hex4(&self.0))
        }
    }
}

fn hex4(bytes: &[u8]) -> String {
    bytes.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_order_and_kinds() {
        assert!(Step::PROPOSAL < Step::SOFT && Step::SOFT < Step::CERT);
        assert_eq!(Step(5).kind(), StepKind::Next);
        assert_eq!(Step::CERT.kind(), StepKind::Cert);
        assert!(Hrs::new(1, 2, Step(1)) > Hrs::new(1, 1, Step(9)));
        assert!(Hrs::new(2, 1, Step(1)) > Hrs::new(1, 9, Step(9)));
        assert_eq!(Step(6).to_string(), "next2");
    }

    #[test]
    fn empty_value_is_per_height_and_parent() {
        let p = Value([7; 32]);
        assert_ne!(Value::empty(p, 1), Value::empty(p, 2));
        assert_ne!(Value::empty(p, 1), Value::empty(Value([8; 32]), 1));
        assert_eq!(Value::empty(p, 1), Value::empty(p, 1));
    }
}
