//! The consensus messages this node published or accepted most recently, kept by
//! the swarm task to answer `Recent` requests (see [`super::codec`]): a node that
//! reaches the network's height after the height's proposal and block were
//! gossiped asks a peer for them instead of waiting for the next height.
//!
//! Bounded per topic by count and in total by bytes; the oldest go first.

use std::collections::VecDeque;

use spec::driver::Topic;

/// Votes kept (a few rounds of a few hundred voters).
pub const KEEP_VOTES: usize = 512;
/// Proposals kept.
pub const KEEP_PROPOSALS: usize = 32;
/// Blocks kept.
pub const KEEP_BLOCKS: usize = 8;
/// Bytes kept in all.
pub const KEEP_BYTES: usize = 24 * 1024 * 1024;

/// Recent consensus messages, per topic, oldest first.
#[derive(Debug, Default)]
pub struct Recent {
    votes: VecDeque<Vec<u8>>,
    proposals: VecDeque<Vec<u8>>,
    blocks: VecDeque<Vec<u8>>,
    bytes: usize,
}

impl Recent {
    fn queue(&mut self, topic: Topic) -> (&mut VecDeque<Vec<u8>>, usize) {
        match topic {
            Topic::Votes => (&mut self.votes, KEEP_VOTES),
            Topic::Proposals => (&mut self.proposals, KEEP_PROPOSALS),
            Topic::Blocks => (&mut self.blocks, KEEP_BLOCKS),
        }
    }

    /// Keeps a message, evicting the oldest of its topic (and of the largest topic
    /// while over the byte bound).
    pub fn push(&mut self, topic: Topic, data: Vec<u8>) {
        if data.len() > KEEP_BYTES {
            return;
        }
        let len = data.len();
        let (q, keep) = self.queue(topic);
        if q.iter().any(|m| *m == data) {
            return;
        }
        q.push_back(data);
        let mut freed = 0;
        while q.len() > keep {
            freed += q.pop_front().map_or(0, |m| m.len());
        }
        self.bytes = self.bytes + len - freed;
        while self.bytes > KEEP_BYTES {
            let q = [&mut self.blocks, &mut self.proposals, &mut self.votes]
                .into_iter()
                .find(|q| !q.is_empty());
            match q.and_then(|q| q.pop_front()) {
                Some(m) => self.bytes -= m.len(),
                None => break,
            }
        }
    }

    /// Messages newest first — proposals, then blocks, then votes — up to
    /// `max_bytes` and `max_count`.
    pub fn snapshot(&self, max_bytes: usize, max_count: usize) -> Vec<(Topic, Vec<u8>)> {
        let mut out = Vec::new();
        let mut bytes = 0;
        let all = [
            (Topic::Proposals, &self.proposals),
            (Topic::Blocks, &self.blocks),
            (Topic::Votes, &self.votes),
        ];
        for (topic, q) in all {
            for m in q.iter().rev() {
                if out.len() >= max_count || bytes + m.len() > max_bytes {
                    continue;
                }
                bytes += m.len();
                out.push((topic, m.clone()));
            }
        }
        out
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_per_topic_newest_kept_and_served_first() {
        let mut r = Recent::default();
        for i in 0..(KEEP_VOTES + 10) {
            r.push(Topic::Votes, (i as u32).to_be_bytes().to_vec());
        }
        r.push(Topic::Proposals, b"p1".to_vec());
        r.push(Topic::Proposals, b"p1".to_vec());
        r.push(Topic::Blocks, b"b1".to_vec());
        let snap = r.snapshot(usize::MAX, usize::MAX);
        assert_eq!(
            snap.len(),
            KEEP_VOTES + 2,
            "duplicates kept once, votes capped"
        );
        assert_eq!(snap[0], (Topic::Proposals, b"p1".to_vec()));
        assert_eq!(snap[1], (Topic::Blocks, b"b1".to_vec()));
        let newest = ((KEEP_VOTES + 9) as u32).to_be_bytes().to_vec();
        assert_eq!(snap[2], (Topic::Votes, newest));
        assert_eq!(r.bytes(), KEEP_VOTES * 4 + 4);
        assert_eq!(r.snapshot(8, 10).len(), 3, "byte bound: p1, b1, one vote");
        assert_eq!(r.snapshot(usize::MAX, 5).len(), 5, "count bound");
    }

    #[test]
    fn the_byte_bound_evicts_the_oldest_blocks_first() {
        let mut r = Recent::default();
        let big = KEEP_BYTES / 3 + 1;
        for i in 0..3u8 {
            r.push(Topic::Blocks, vec![i; big]);
        }
        assert!(r.bytes() <= KEEP_BYTES);
        let snap = r.snapshot(usize::MAX, usize::MAX);
        assert_eq!(snap.len(), 2);
        assert_eq!(snap[0].1[0], 2, "the newest block stays");
    }
}
