//! The one buffer for messages of the next height: a node one block behind its
//! peers keeps what it will need as soon as it commits, and nothing more.
//! Bounded in count and in bytes, and in blocks per source, so that no sender
//! can crowd out the others' votes or the next leader's block.

use std::collections::VecDeque;

use super::book::Source;
use super::wire::{MAX_FUTURE_BYTES, MAX_FUTURE_MESSAGES, MAX_UNPAIRED_PER_SOURCE, Topic};

/// Raw messages held for the next height, in arrival order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FutureBuffer {
    held: VecDeque<(Topic, Vec<u8>, Source)>,
    bytes: usize,
}

impl FutureBuffer {
    /// Holds a message; `false` when it does not fit (dropped).
    pub fn hold(&mut self, topic: Topic, bytes: &[u8], source: Source) -> bool {
        if topic == Topic::Blocks {
            let mine = self
                .held
                .iter()
                .filter(|(t, _, s)| *t == Topic::Blocks && *s == source)
                .count();
            if mine >= MAX_UNPAIRED_PER_SOURCE {
                let oldest = self
                    .held
                    .iter()
                    .position(|(t, _, s)| *t == Topic::Blocks && *s == source);
                if let Some((_, b, _)) = oldest.and_then(|i| self.held.remove(i)) {
                    self.bytes -= b.len();
                }
            }
        }
        if self.held.len() >= MAX_FUTURE_MESSAGES
            || self.bytes.saturating_add(bytes.len()) > MAX_FUTURE_BYTES
        {
            return false;
        }
        self.bytes += bytes.len();
        self.held.push_back((topic, bytes.to_vec(), source));
        true
    }

    /// Everything held, emptying the buffer.
    pub fn take(&mut self) -> Vec<(Topic, Vec<u8>, Source)> {
        self.bytes = 0;
        std::mem::take(&mut self.held).into()
    }

    /// How many messages are held.
    pub fn len(&self) -> usize {
        self.held.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// How many bytes are held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}
