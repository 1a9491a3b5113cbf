//! A token bucket with the time as an argument: `level` tokens at `at`,
//! refilling at a rate up to a burst. Shared by the per-peer request rates
//! ([`super::rate`]) and the transaction-recovery budget ([`super::txbatch`]).

use std::time::Instant;

/// Refill rate and capacity of a [`Bucket`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Refill {
    /// Most tokens held.
    pub burst: f64,
    /// Tokens regained per second.
    pub per_sec: f64,
}

/// Tokens as of an instant (may be negative: a debt paid back by the refill).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bucket {
    left: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket at `now`.
    pub fn full(refill: Refill, now: Instant) -> Self {
        Self {
            left: refill.burst,
            at: now,
        }
    }

    /// The tokens at `now`, refilled since the last change and capped at the burst.
    pub fn level(&self, refill: Refill, now: Instant) -> f64 {
        let regained = now.saturating_duration_since(self.at).as_secs_f64() * refill.per_sec;
        (self.left + regained).min(refill.burst)
    }

    /// Sets the tokens at `now`.
    pub fn set(&mut self, left: f64, now: Instant) {
        self.left = left;
        self.at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_bucket_refills_up_to_its_burst_and_carries_a_debt() {
        let r = Refill {
            burst: 4.0,
            per_sec: 2.0,
        };
        let t = Instant::now();
        let mut b = Bucket::full(r, t);
        assert_eq!(b.level(r, t + Duration::from_secs(9)), 4.0, "capped");
        b.set(-2.0, t);
        assert_eq!(b.level(r, t + Duration::from_secs(1)), 0.0);
        assert_eq!(b.level(r, t + Duration::from_millis(1500)), 1.0);
    }
}
