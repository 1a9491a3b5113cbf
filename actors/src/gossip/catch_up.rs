//! When and from whom to catch up (ARCHITECTURE.md "One block, end to end", step
//! 5): the peers' announced heads, this node's head, and at most one blocks
//! request in flight. A plain struct driven by the swarm task with the time as an
//! argument, so it holds no clock and no I/O.
//!
//! A peer one block ahead is normal (it committed a moment earlier; gossip brings
//! the block here too), so sync starts only when a peer is at least two blocks
//! ahead, or has stayed ahead for `lag`.
//!
//! A head is only a claim until blocks prove it, so no single peer can hold sync:
//! - requests rotate among the peers ahead of us (the one asked longest ago goes
//!   first), not always to the highest claim;
//! - a request that brings no block (refused, unanswered, empty, or blocks of
//!   other numbers) is a strike: the peer is skipped for a backoff that doubles
//!   with each strike in a row, and [`Served::NoProgress`] answers whether it
//!   has now struck out (the swarm then disconnects it);
//! - a claim not refreshed by the peer's status within `claim_ttl` expires.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

use super::codec::MAX_SYNC_BLOCKS;

/// Strikes in a row after which a peer is reported as struck out.
pub const STRIKES_OUT: u32 = 6;
/// The longest backoff, as a multiple of the first.
const MAX_BACKOFF_FACTOR: u32 = 32;
/// Peers with strikes remembered (past it, the oldest expired entries go).
const MAX_STRUCK: usize = 1024;

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

/// What a blocks request to a peer came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// At least one block was committed from its answer.
    Progress,
    /// Nothing committed: refused, unanswered, empty, or blocks of other heights.
    NoProgress,
    /// A block or certificate did not verify: the peer lied with data.
    Invalid,
    /// This node could not process the answer (its own fault): no judgement.
    Unjudged,
}

/// The timers of [`SyncState`].
#[derive(Clone, Copy, Debug)]
pub struct SyncTimers {
    /// A peer one block ahead for this long triggers sync.
    pub lag: Duration,
    /// The skip after a first strike; it doubles with each strike in a row.
    pub backoff: Duration,
    /// A request unanswered for this long is given up (and is a strike).
    pub stale: Duration,
    /// A claimed head not refreshed for this long is ignored.
    pub claim_ttl: Duration,
}

#[derive(Clone, Copy, Debug)]
struct PeerHead {
    head: u64,
    announced: Instant,
    ahead_since: Option<Instant>,
    last_asked: Option<Instant>,
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    peer: PeerId,
    sent: Instant,
}

/// Strikes in a row of one peer (kept across reconnections).
#[derive(Clone, Copy, Debug)]
struct Strikes {
    count: u32,
    until: Instant,
}

/// The sync bookkeeping of one node.
#[derive(Debug)]
pub struct SyncState {
    local: u64,
    peers: HashMap<PeerId, PeerHead>,
    in_flight: Option<InFlight>,
    struck: HashMap<PeerId, Strikes>,
    timers: SyncTimers,
}

impl SyncState {
    /// Starts at head `local`.
    pub fn new(local: u64, timers: SyncTimers) -> Self {
        Self {
            local,
            peers: HashMap::new(),
            in_flight: None,
            struck: HashMap::new(),
            timers,
        }
    }

    /// This node's head.
    pub fn local(&self) -> u64 {
        self.local
    }

    /// The highest head announced by a peer with no strike (a claim its
    /// blocks have not disproved).
    pub fn best_peer_head(&self) -> Option<u64> {
        self.peers
            .iter()
            .filter(|(id, _)| !self.struck.contains_key(id))
            .map(|(_, p)| p.head)
            .max()
    }

    /// A peer announced its head.
    pub fn on_peer_head(&mut self, peer: PeerId, head: u64, now: Instant) {
        let entry = self.peers.entry(peer).or_insert(PeerHead {
            head,
            announced: now,
            ahead_since: None,
            last_asked: None,
        });
        entry.head = head;
        entry.announced = now;
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

    /// Forgets `peer`'s head; a request in flight to it is dropped (its
    /// strikes stay).
    pub fn on_disconnected(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
        if self.in_flight.is_some_and(|f| f.peer == *peer) {
            self.in_flight = None;
        }
    }

    /// Whether `peer` is skipped for its strikes at `now`.
    fn backing_off(&self, peer: &PeerId, now: Instant) -> bool {
        self.struck.get(peer).is_some_and(|s| s.until > now)
    }

    /// The next blocks request to send, if one is due; it is then in flight.
    pub fn next_request(&mut self, now: Instant) -> Option<BlocksWanted> {
        if let Some(f) = self.in_flight {
            if now.saturating_duration_since(f.sent) < self.timers.stale {
                return None;
            }
            self.in_flight = None;
            self.strike(f.peer, now);
        }
        let local = self.local;
        let SyncTimers { lag, claim_ttl, .. } = self.timers;
        let (peer, head) = self
            .peers
            .iter()
            .filter(|(id, _)| !self.backing_off(id, now))
            .filter(|(_, p)| now.saturating_duration_since(p.announced) < claim_ttl)
            .filter(|(_, p)| {
                p.head >= local.saturating_add(2)
                    || (p.head > local
                        && p.ahead_since
                            .is_some_and(|t| now.saturating_duration_since(t) >= lag))
            })
            // Asked longest ago (never asked first), then the higher claim.
            .min_by_key(|(id, p)| (p.last_asked, std::cmp::Reverse((p.head, **id))))
            .map(|(id, p)| (*id, p.head))?;
        if let Some(p) = self.peers.get_mut(&peer) {
            p.last_asked = Some(now);
        }
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

    /// Records a strike against `peer`; returns its strikes in a row.
    fn strike(&mut self, peer: PeerId, now: Instant) -> u32 {
        if self.struck.len() >= MAX_STRUCK && !self.struck.contains_key(&peer) {
            self.struck.retain(|_, s| s.until > now);
            if self.struck.len() >= MAX_STRUCK {
                return 0;
            }
        }
        let s = self.struck.entry(peer).or_insert(Strikes {
            count: 0,
            until: now,
        });
        s.count = s.count.saturating_add(1);
        let factor = 1u32 << (s.count - 1).min(MAX_BACKOFF_FACTOR.trailing_zeros());
        s.until = now + self.timers.backoff * factor;
        s.count
    }

    /// The answer of `peer` to its blocks request came to `served`. Returns
    /// true when the peer has now struck out ([`STRIKES_OUT`] strikes in a row,
    /// or invalid data at once): the caller disconnects it.
    pub fn on_done(&mut self, peer: PeerId, served: Served, now: Instant) -> bool {
        if self.is_in_flight(&peer) {
            self.in_flight = None;
        }
        match served {
            Served::Progress => {
                self.struck.remove(&peer);
                false
            }
            Served::Unjudged => false,
            Served::NoProgress => self.strike(peer, now) >= STRIKES_OUT,
            Served::Invalid => {
                for _ in 0..STRIKES_OUT {
                    self.strike(peer, now);
                }
                true
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAG: Duration = Duration::from_secs(3);
    const BACKOFF: Duration = Duration::from_secs(2);
    const STALE: Duration = Duration::from_secs(60);
    const TTL: Duration = Duration::from_secs(10);

    fn state(local: u64) -> SyncState {
        SyncState::new(
            local,
            SyncTimers {
                lag: LAG,
                backoff: BACKOFF,
                stale: STALE,
                claim_ttl: TTL,
            },
        )
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
        assert!(!s.on_done(p, Served::Progress, t));
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
    fn the_range_is_capped_and_the_higher_claim_goes_first() {
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
    fn requests_rotate_among_the_peers_ahead() {
        let t = Instant::now();
        let mut s = state(0);
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        s.on_peer_head(a, 900, t);
        s.on_peer_head(b, 800, t);
        s.on_peer_head(c, 700, t);
        let mut asked = Vec::new();
        for k in 0..6u32 {
            let now = t + Duration::from_millis(u64::from(k));
            let w = s.next_request(now).expect("request");
            asked.push(w.peer);
            assert!(!s.on_done(w.peer, Served::Progress, now));
        }
        assert_eq!(asked, vec![a, b, c, a, b, c]);
    }

    /// The sync monopoly: a peer claiming head 2⁶⁴−1 that never serves a block
    /// must not keep an honest peer from being asked.
    #[test]
    fn a_liar_with_the_highest_claim_cannot_hold_sync() {
        let t = Instant::now();
        let mut s = state(0);
        let (liar, honest) = (PeerId::random(), PeerId::random());
        s.on_peer_head(liar, u64::MAX, t);
        s.on_peer_head(honest, 50, t);
        let mut asked_honest = 0;
        let mut now = t;
        for _ in 0..40 {
            now += Duration::from_millis(250);
            s.on_peer_head(liar, u64::MAX, now);
            s.on_peer_head(honest, 50, now);
            let Some(w) = s.next_request(now) else {
                continue;
            };
            if w.peer == liar {
                s.on_done(liar, Served::NoProgress, now);
            } else {
                asked_honest += 1;
                s.on_done(honest, Served::Progress, now);
            }
        }
        assert!(
            asked_honest >= 30,
            "honest peer asked {asked_honest} times of 40"
        );
        assert_eq!(
            s.best_peer_head(),
            Some(50),
            "the disproved claim is not the best"
        );
    }

    #[test]
    fn strikes_back_off_doubling_and_strike_out() {
        let t = Instant::now();
        let mut s = state(0);
        let p = PeerId::random();
        let mut now = t;
        let mut gaps = Vec::new();
        for k in 1..=STRIKES_OUT {
            s.on_peer_head(p, 100, now);
            let w = s.next_request(now).expect("due once the backoff passed");
            assert_eq!(w.peer, p);
            assert_eq!(s.on_done(p, Served::NoProgress, now), k >= STRIKES_OUT);
            // Not asked again before the backoff has passed.
            let mut wait = Duration::ZERO;
            while s.next_request(now + wait).is_none() {
                wait += Duration::from_millis(500);
                s.on_peer_head(p, 100, now + wait);
            }
            gaps.push(wait.as_secs());
            now += wait;
            s.on_done(p, Served::Unjudged, now);
        }
        assert_eq!(gaps, vec![2, 4, 8, 16, 32, 64]);
    }

    #[test]
    fn progress_clears_strikes_and_invalid_data_strikes_out_at_once() {
        let t = Instant::now();
        let mut s = state(0);
        let (a, b) = (PeerId::random(), PeerId::random());
        s.on_peer_head(a, 50, t);
        s.next_request(t).expect("request");
        s.on_done(a, Served::NoProgress, t);
        s.on_peer_head(a, 50, t + BACKOFF);
        s.next_request(t + BACKOFF)
            .expect("asked again after the backoff");
        s.on_done(a, Served::Progress, t + BACKOFF);
        assert!(
            s.next_request(t + BACKOFF).is_some(),
            "no backoff after progress"
        );
        s.on_done(a, Served::Unjudged, t + BACKOFF);
        s.on_peer_head(b, 40, t);
        assert!(s.on_done(b, Served::Invalid, t), "invalid data strikes out");
        assert!(s.backing_off(&b, t + BACKOFF * 16));
    }

    #[test]
    fn an_unrefreshed_claim_expires() {
        let t = Instant::now();
        let mut s = state(0);
        let p = PeerId::random();
        s.on_peer_head(p, 50, t);
        assert_eq!(s.next_request(t + TTL), None, "claim expired");
        s.on_peer_head(p, 50, t + TTL);
        assert!(s.next_request(t + TTL).is_some(), "refreshed claim");
    }

    #[test]
    fn a_stale_or_disconnected_request_is_given_up() {
        let t = Instant::now();
        let mut s = state(0);
        let (a, b) = (PeerId::random(), PeerId::random());
        s.on_peer_head(a, 50, t);
        assert!(s.next_request(t).is_some());
        assert_eq!(s.next_request(t + STALE / 2), None);
        s.on_peer_head(a, 50, t + STALE);
        // Stale: a strike, so `a` backs off.
        assert_eq!(s.next_request(t + STALE), None);
        s.on_peer_head(a, 50, t + STALE + BACKOFF);
        assert!(s.next_request(t + STALE + BACKOFF).is_some(), "retried");
        s.on_disconnected(&a);
        s.on_peer_head(b, 9, t + STALE + BACKOFF);
        assert_eq!(s.next_request(t + STALE + BACKOFF).map(|w| w.peer), Some(b));
    }
}
