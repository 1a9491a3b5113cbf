//! Per-peer rates of the sync requests this node serves (ARCHITECTURE.md
//! "One block, end to end", step 5): a peer may ask for statuses, blocks,
//! recent consensus messages and peer lists only so often; past its rate it is
//! answered "unavailable" at no cost. Token buckets driven with the time as an
//! argument, so the struct holds no clock; a peer's buckets go when it
//! disconnects.

use std::collections::HashMap;
use std::time::Instant;

use libp2p::PeerId;

use super::bucket::{Bucket, Refill};
use super::codec::SyncRequest;

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
