//! Per-peer rates, as token buckets driven with the time as an argument (the
//! structs hold no clock); a peer's buckets go when it disconnects.
//!
//! - [`RequestRates`]: the sync requests this node serves (ARCHITECTURE.md "One
//!   block, end to end", step 5). A peer may ask for statuses, blocks, recent
//!   consensus messages and peer lists only so often; past its rate it is
//!   answered "unavailable" at no cost.
//! - [`GossipRates`]: the gossip messages a peer hands this node, per topic.
//!   Gossipsub scores invalid messages, but a message the driver merely cannot
//!   use (far ahead, stale, a duplicate after the seen-cache expired) is ignored
//!   without a penalty, so without a rate a peer could make this node decode and
//!   screen any number of them for free. Past its rate a message is dropped
//!   unread (ignored); a peer that keeps well above its rate is disconnected.

use std::collections::HashMap;
use std::time::Instant;

use libp2p::PeerId;

use super::behaviour::NetTopic;
use super::bucket::{Bucket, Refill};
use super::codec::SyncRequest;
use spec::driver::Topic;

/// The kinds of request with a rate (the pool is served once per connection).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// [`SyncRequest::Status`].
    Status,
    /// [`SyncRequest::Blocks`].
    Blocks,
    /// [`SyncRequest::Recent`] (answers of up to 4 MiB).
    Recent,
    /// [`SyncRequest::Peers`].
    Peers,
}

impl Kind {
    /// The kind of `req`; `None` for the pool.
    pub fn of(req: &SyncRequest) -> Option<Kind> {
        match req {
            SyncRequest::Status => Some(Kind::Status),
            SyncRequest::Blocks { .. } => Some(Kind::Blocks),
            SyncRequest::Recent => Some(Kind::Recent),
            SyncRequest::Peers => Some(Kind::Peers),
            SyncRequest::Pool => None,
        }
    }

    /// Burst and rate. Statuses are polled once a second, blocks asked one
    /// request at a time, recent messages on connecting and after a sync.
    fn refill(self) -> Refill {
        let (burst, per_sec) = match self {
            Kind::Status => (8.0, 4.0),
            Kind::Blocks => (16.0, 8.0),
            Kind::Recent => (3.0, 0.5),
            Kind::Peers => (3.0, 0.5),
        };
        Refill { burst, per_sec }
    }
}

/// Each connected peer's request buckets.
#[derive(Debug, Default)]
pub struct RequestRates {
    buckets: HashMap<(PeerId, Kind), Bucket>,
}

impl RequestRates {
    /// Whether `peer` may have a request of `kind` served now; takes a token.
    pub fn allow(&mut self, peer: PeerId, kind: Kind, now: Instant) -> bool {
        let refill = kind.refill();
        let bucket = self
            .buckets
            .entry((peer, kind))
            .or_insert(Bucket::full(refill, now));
        let level = bucket.level(refill, now);
        let allowed = level >= 1.0;
        bucket.set(if allowed { level - 1.0 } else { level }, now);
        allowed
    }

    /// Forgets a disconnected peer.
    pub fn forget(&mut self, peer: &PeerId) {
        self.buckets.retain(|(p, _), _| p != peer);
    }
}

/// The default of `--p2p.gossiprate`: votes a second one peer may hand this
/// node. Honest traffic stays far below it: a peer relays each valid message
/// once, and a height brings a vote per committee member and step (four
/// validators at 2λ = 1 ms, whose rounds pass in milliseconds, send a few
/// thousand a second).
pub const DEFAULT_GOSSIP_RATE: u32 = 8192;

/// Burst and rate of the gossip messages one peer may hand this node on a
/// topic, for a vote rate of `votes_per_sec`: proposals and blocks (one per
/// proposer and round) get a quarter of it, transaction batches (one leaves a
/// node every few milliseconds at most) a thirty-second; each burst is two
/// seconds' worth.
pub fn topic_refill(topic: NetTopic, votes_per_sec: u32) -> Refill {
    let votes = f64::from(votes_per_sec.max(32));
    let per_sec = match topic {
        NetTopic::Consensus(Topic::Votes) => votes,
        NetTopic::Consensus(Topic::Proposals | Topic::Blocks) => votes / 4.0,
        NetTopic::Transactions => votes / 32.0,
    };
    Refill {
        burst: 2.0 * per_sec,
        per_sec,
    }
}

/// How much past its rate a peer may go before it is disconnected: an
/// allowance of [`OVERFLOW_BURSTS`] bursts of dropped messages, regained at
/// a quarter of the topic's rate. A peer sending at up to 1.25 times its rate
/// is only trimmed; one sending twice its rate is cut off within about 13 s
/// (two seconds of burst, then an allowance of eight seconds' worth drained
/// at three quarters of the rate), a faster one sooner.
pub const OVERFLOW_BURSTS: f64 = 4.0;

/// What to do with a gossip message, by its sender's rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intake {
    /// Within the rate: hand it over.
    Take,
    /// Over the rate: ignore it unread.
    Drop,
    /// Over the rate for too long: ignore it and disconnect the peer.
    Cut,
}

/// One peer's buckets on one topic.
#[derive(Clone, Copy, Debug)]
struct TopicBuckets {
    intake: Bucket,
    overflow: Bucket,
}

/// Each connected peer's gossip rate per topic.
#[derive(Debug)]
pub struct GossipRates {
    votes_per_sec: u32,
    buckets: HashMap<(PeerId, NetTopic), TopicBuckets>,
}

impl GossipRates {
    /// Rates for a vote rate of `votes_per_sec` (`--p2p.gossiprate`; see
    /// [`topic_refill`]).
    pub fn new(votes_per_sec: u32) -> Self {
        Self {
            votes_per_sec,
            buckets: HashMap::new(),
        }
    }

    /// Books a message from `peer` on `topic` at `now`.
    pub fn intake(&mut self, peer: PeerId, topic: NetTopic, now: Instant) -> Intake {
        let refill = topic_refill(topic, self.votes_per_sec);
        let overflow_refill = Refill {
            burst: refill.burst * OVERFLOW_BURSTS,
            per_sec: refill.per_sec / 4.0,
        };
        let b = self.buckets.entry((peer, topic)).or_insert(TopicBuckets {
            intake: Bucket::full(refill, now),
            overflow: Bucket::full(overflow_refill, now),
        });
        let level = b.intake.level(refill, now);
        if level >= 1.0 {
            b.intake.set(level - 1.0, now);
            return Intake::Take;
        }
        let allowance = b.overflow.level(overflow_refill, now);
        if allowance >= 1.0 {
            b.overflow.set(allowance - 1.0, now);
            Intake::Drop
        } else {
            Intake::Cut
        }
    }

    /// Forgets a disconnected peer.
    pub fn forget(&mut self, peer: &PeerId) {
        self.buckets.retain(|(p, _), _| p != peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Feeds `per_sec` messages a second for `secs` seconds, evenly spaced, at
    /// a vote rate of 1,024; returns how many were taken, dropped, and when
    /// (seconds) the peer was first cut off.
    fn feed(topic: NetTopic, per_sec: u32, secs: u32) -> (u32, u32, Option<f64>) {
        let t = Instant::now();
        let mut r = GossipRates::new(1024);
        let p = PeerId::random();
        let (mut taken, mut dropped) = (0, 0);
        for i in 0..per_sec * secs {
            let at = f64::from(i) / f64::from(per_sec);
            match r.intake(p, topic, t + Duration::from_secs_f64(at)) {
                Intake::Take => taken += 1,
                Intake::Drop => dropped += 1,
                Intake::Cut => return (taken, dropped, Some(at)),
            }
        }
        (taken, dropped, None)
    }

    #[test]
    fn gossip_rates_trim_then_cut_off_a_flooding_peer() {
        let votes = NetTopic::Consensus(Topic::Votes);
        let proposals = NetTopic::Consensus(Topic::Proposals);
        let txs = NetTopic::Transactions;
        // At a vote rate of 1,024: proposals 256/s, transaction batches 32/s.
        // (topic, sent per second, seconds, taken at least, dropped at least, cut off)
        let table = [
            // At the rate, forever: nothing dropped.
            (votes, 1024, 60, 1024 * 60, 0, false),
            (proposals, 256, 60, 256 * 60, 0, false),
            (txs, 32, 60, 32 * 60, 0, false),
            // 1.2 times the rate: trimmed, never cut off.
            (votes, 1228, 60, 1024 * 60, 1, false),
            // Twice the rate and more: cut off after the burst and the allowance.
            (votes, 2048, 60, 2048, 1, true),
            (proposals, 700, 60, 512, 1, true),
            (txs, 1000, 60, 64, 1, true),
        ];
        for (topic, rate, secs, taken_min, dropped_min, cut) in table {
            let (taken, dropped, cut_at) = feed(topic, rate, secs);
            let what = format!(
                "{topic:?} at {rate}/s for {secs} s: {taken} taken, {dropped} dropped, cut at {cut_at:?}"
            );
            assert!(taken >= taken_min, "{what}");
            assert!(dropped >= dropped_min, "{what}");
            assert_eq!(cut_at.is_some(), cut, "{what}");
            if dropped_min == 0 {
                assert_eq!(dropped, 0, "{what}");
            }
        }
        // Twice the vote rate: the burst (2,048) lasts 2 s, then the allowance
        // (8,192) drains at 768 a second net: cut off near 12.7 s.
        let (_, _, at) = feed(votes, 2048, 60);
        let at = at.unwrap_or(f64::MAX);
        assert!((12.0..13.5).contains(&at), "cut at {at} s");
    }

    #[test]
    fn gossip_rates_are_per_peer_and_topic_and_forgotten() {
        let t = Instant::now();
        let mut r = GossipRates::new(DEFAULT_GOSSIP_RATE);
        let (p, q) = (PeerId::random(), PeerId::random());
        let votes = NetTopic::Consensus(Topic::Votes);
        let blocks = NetTopic::Consensus(Topic::Blocks);
        while r.intake(p, votes, t) == Intake::Take {}
        assert_eq!(r.intake(p, votes, t), Intake::Drop);
        assert_eq!(r.intake(q, votes, t), Intake::Take, "another peer");
        assert_eq!(r.intake(p, blocks, t), Intake::Take, "another topic");
        r.forget(&p);
        assert!(r.buckets.keys().all(|(peer, _)| *peer != p));
        assert_eq!(r.intake(p, votes, t), Intake::Take, "a fresh start");
    }

    #[test]
    fn a_peer_is_served_its_burst_then_at_its_rate() {
        let t = Instant::now();
        let mut r = RequestRates::default();
        let (p, q) = (PeerId::random(), PeerId::random());
        let served = (0..10).filter(|_| r.allow(p, Kind::Recent, t)).count();
        assert_eq!(served, 3, "the burst");
        assert!(!r.allow(p, Kind::Recent, t + Duration::from_millis(1500)));
        assert!(
            r.allow(p, Kind::Recent, t + Duration::from_millis(2000)),
            "refilled"
        );
        // Per peer and per kind.
        assert!(r.allow(q, Kind::Recent, t));
        assert!(r.allow(p, Kind::Status, t));
        // A status a second, as polled, is always served.
        let mut s = RequestRates::default();
        assert!((0..100).all(|i| s.allow(p, Kind::Status, t + Duration::from_secs(i))));
        r.forget(&p);
        assert!(r.buckets.keys().all(|(peer, _)| *peer != p));
    }
}
