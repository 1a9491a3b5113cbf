//! When and from whom to catch up (ARCHITECTURE.md "One block, end to end", step
//! 5): the peers' announced heads, this node's head, and at most one blocks
//! request in flight. A plain struct driven by the swarm task with the time as an
//! argument, so it holds no clock and no I/O.
//!
//! A peer one block ahead is normal (it committed a moment earlier; gossip brings
//! the block here too), so sync starts only when a peer is at least two blocks
//! ahead, or has stayed ahead for `lag`. A peer whose blocks fail verification,
//! or whose request fails, is not asked again for `ban`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

use super::codec::MAX_SYNC_BLOCKS;

/// A request the swarm task should send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlocksWanted {
    /// The peer to ask.
    pub peer: PeerId,
    /// First block number.
    pub from: u64,
    /// How many blocks (at most [`MAX_SYNC_BLOCKS`]).
    pub count: u32,
}

#[derive(Clone, Copy, Debug)]
struct PeerHead {
    head: u64,
    ahead_since: Option<Instant>,
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    peer: PeerId,
    sent: Instant,
}

/// The sync bookkeeping of one node.
#[derive(Debug)]
pub struct SyncState {
    local: u64,
    peers: HashMap<PeerId, PeerHead>,
    in_flight: Option<InFlight>,
    banned: HashMap<PeerId, Instant>,
    lag: Duration,
    ban: Duration,
    stale: Duration,
}

impl SyncState {
    /// Starts at head `local`. A peer ahead by one block for `lag` triggers sync; a
    /// bad peer is skipped for `ban`; a request unanswered for `stale` is given up.
    pub fn new(local: u64, lag: Duration, ban: Duration, stale: Duration) -> Self {
        Self {
            local,
            peers: HashMap::new(),
            in_flight: None,
            banned: HashMap::new(),
            lag,
            ban,
            stale,
        }
    }

    /// This node's head.
    pub fn local(&self) -> u64 {
        self.local
    }

    /// The highest head a peer announced.
    pub fn best_peer_head(&self) -> Option<u64> {
        self.peers.values().map(|p| p.head).max()
    }

    /// A peer announced its head.
    pub fn on_peer_head(&mut self, peer: PeerId, head: u64, now: Instant) {
        let entry = self.peers.entry(peer).or_insert(PeerHead {
            head,
            ahead_since: None,
        });
        entry.head = head;
        if head > self.local {
            entry.ahead_since.get_or_insert(now);
        } else {
            entry.ahead_since = None;
        }
    }

    /// This node committed up to `head` (by consensus or by sync).
    pub fn on_local_head(&mut self, head: u64) {
        if head <= self.local {
            return;
        }
        self.local = head;
        for p in self.peers.values_mut() {
            if p.head <= head {
                p.ahead_since = None;
            }
        }
    }

    /// Forgets `peer`'s head; a request in flight to it is dropped.
    pub fn on_disconnected(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
        if self.in_flight.is_some_and(|f| f.peer == *peer) {
            self.in_flight = None;
        }
    }

    /// The next blocks request to send, if one is due; it is then in flight.
    pub fn next_request(&mut self, now: Instant) -> Option<BlocksWanted> {
        if let Some(f) = self.in_flight {
            if now.saturating_duration_since(f.sent) < self.stale {
                return None;
            }
            self.in_flight = None;
        }
        self.banned.retain(|_, until| *until > now);
        let local = self.local;
        let lag = self.lag;
        let (peer, head) = self
            .peers
            .iter()
            .filter(|(id, _)| !self.banned.contains_key(id))
            .filter(|(_, p)| {
                p.head >= local.saturating_add(2)
                    || (p.head > local
                        && p.ahead_since
                            .is_some_and(|t| now.saturating_duration_since(t) >= lag))
            })
            .max_by_key(|(id, p)| (p.head, **id))
            .map(|(id, p)| (*id, p.head))?;
        let count = (head - local).min(u64::from(MAX_SYNC_BLOCKS)) as u32;
        self.in_flight = Some(InFlight { peer, sent: now });
        Some(BlocksWanted {
            peer,
            from: local + 1,
            count,
        })
    }

    /// Whether a blocks request to `peer` is in flight.
    pub fn is_in_flight(&self, peer: &PeerId) -> bool {
        self.in_flight.is_some_and(|f| f.peer == *peer)
    }

    /// The blocks from `peer` were processed; `ok` false bans the peer for a while.
    pub fn on_done(&mut self, peer: PeerId, ok: bool, now: Instant) {
        if self.is_in_flight(&peer) {
            self.in_flight = None;
        }
        if !ok {
            self.banned.insert(peer, now + self.ban);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAG: Duration = Duration::from_secs(3);
    const BAN: Duration = Duration::from_secs(30);
    const STALE: Duration = Duration::from_secs(60);

    fn state(local: u64) -> SyncState {
        SyncState::new(local, LAG, BAN, STALE)
    }

    #[test]
    fn a_peer_two_ahead_is_asked_at_once_for_the_missing_range() {
        let t = Instant::now();
        let mut s = state(10);
        let p = PeerId::random();
        s.on_peer_head(p, 12, t);
        assert_eq!(
            s.next_request(t),
            Some(BlocksWanted {
                peer: p,
                from: 11,
                count: 2
            })
        );
        // One request at a time.
        assert_eq!(s.next_request(t), None);
        s.on_local_head(12);
        s.on_done(p, true, t);
        assert_eq!(s.next_request(t), None, "caught up");
    }

    #[test]
    fn a_peer_one_ahead_is_asked_only_after_the_lag() {
        let t = Instant::now();
        let mut s = state(10);
        let p = PeerId::random();
        s.on_peer_head(p, 11, t);
        assert_eq!(s.next_request(t + LAG / 2), None);
        s.on_peer_head(p, 11, t + LAG / 2);
        let w = s.next_request(t + LAG).expect("due after the lag");
        assert_eq!((w.from, w.count), (11, 1));
    }

    #[test]
    fn catching_up_locally_resets_the_lag() {
        let t = Instant::now();
        let mut s = state(10);
        let p = PeerId::random();
        s.on_peer_head(p, 11, t);
        s.on_local_head(11);
        s.on_peer_head(p, 12, t + LAG);
        assert_eq!(s.next_request(t + LAG + LAG / 2), None);
    }

    #[test]
    fn the_range_is_capped_and_the_best_peer_chosen() {
        let t = Instant::now();
        let mut s = state(0);
        let (a, b) = (PeerId::random(), PeerId::random());
        s.on_peer_head(a, 5, t);
        s.on_peer_head(b, 1000, t);
        let w = s.next_request(t).expect("request");
        assert_eq!(w.peer, b);
        assert_eq!((w.from, w.count), (1, MAX_SYNC_BLOCKS));
    }

    #[test]
    fn a_bad_peer_is_banned_and_another_is_tried() {
        let t = Instant::now();
        let mut s = state(0);
        let (a, b) = (PeerId::random(), PeerId::random());
        s.on_peer_head(a, 50, t);
        s.on_peer_head(b, 40, t);
        let w = s.next_request(t).expect("request");
        assert_eq!(w.peer, a);
        s.on_done(a, false, t);
        assert_eq!(s.next_request(t).map(|w| w.peer), Some(b));
        s.on_done(b, false, t);
        assert_eq!(s.next_request(t), None, "both banned");
        assert_eq!(s.next_request(t + BAN).map(|w| w.peer), Some(a));
    }

    #[test]
    fn a_stale_or_disconnected_request_is_given_up() {
        let t = Instant::now();
        let mut s = state(0);
        let (a, b) = (PeerId::random(), PeerId::random());
        s.on_peer_head(a, 50, t);
        assert!(s.next_request(t).is_some());
        assert_eq!(s.next_request(t + STALE / 2), None);
        assert!(s.next_request(t + STALE).is_some(), "stale request retried");
        s.on_disconnected(&a);
        s.on_peer_head(b, 9, t);
        assert_eq!(s.next_request(t + STALE).map(|w| w.peer), Some(b));
    }
}
