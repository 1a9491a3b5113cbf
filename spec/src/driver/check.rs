//! A fuzz check of the driver's inbound path: arbitrary bytes, cut into
//! messages on any topic, go through a started driver (mock cryptography,
//! [`PlainBlocks`]); it must never fail, give one verdict per message, and
//! hold no more than its bounds allow. The fuzz target `driver_inbound` and a
//! test run it.

use crate::auth::MockMinerKeys;
use crate::params::Params;
use crate::roster::Roster;
use crate::types::Value;

use super::block::PlainBlocks;
use super::wire::{MAX_FUTURE_BYTES, MAX_FUTURE_MESSAGES, MAX_UNPAIRED, Topic};
use super::{Driver, Effect, Event, Head, Inbound, MockSuite, Resume};

const CHAIN: u64 = 77;

/// Runs `data` through a driver; panics on any broken promise.
pub fn check_inbound(data: &[u8]) {
    let mut roster = Roster {
        seed: [0x5e; 32],
        ..Roster::default()
    };
    for i in 0..4u8 {
        let k = MockMinerKeys::mock(CHAIN, i);
        roster.miners.insert(k.id, k.record(1_000));
        roster.total_stake += 1_000;
    }
    let mut d: Driver<PlainBlocks, MockSuite, MockMinerKeys> = Driver::new(
        Params::fixed_committee(CHAIN),
        MockSuite,
        Some(MockMinerKeys::mock(CHAIN, 0)),
    );
    let head = Head {
        parent: Value([0x11; 32]),
        number: 0,
        roster,
        own_slots: Vec::new(),
    };
    if let Err(e) = d.handle(0, Event::Start(head, Resume::default())) {
        panic!("start: {e}");
    }
    // Messages: topic byte, source byte, BE16 length, bytes.
    let mut msgs = Vec::new();
    let mut rest = data;
    while let [t, s, a, b, tail @ ..] = rest {
        let len = usize::from(u16::from_be_bytes([*a, *b])).min(tail.len());
        let (bytes, next) = tail.split_at(len);
        let topic = match t % 3 {
            0 => Topic::Votes,
            1 => Topic::Proposals,
            _ => Topic::Blocks,
        };
        msgs.push(Inbound {
            topic,
            bytes,
            source: u64::from(*s % 4),
        });
        rest = next;
    }
    let effects = match d.handle(10, Event::Wire(&msgs)) {
        Ok(fx) => fx,
        Err(e) => panic!("inbound: {e}"),
    };
    let verdicts = effects
        .iter()
        .filter(|e| matches!(e, Effect::Verdict { .. }))
        .count();
    assert_eq!(verdicts, msgs.len(), "one verdict per message");
    let held = d.held();
    assert!(held.waiting <= MAX_UNPAIRED, "{held:?}");
    assert!(held.future <= MAX_FUTURE_MESSAGES && held.future_bytes <= MAX_FUTURE_BYTES);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arbitrary_inbound_bytes_are_screened() {
        check_inbound(&[]);
        check_inbound(&[0, 0, 0, 3, 1, 2, 3, 1, 1, 0, 0, 2, 2, 0, 5, 0, 0, 0, 1, 9]);
        let mut rng = 0x1234_5678_u64;
        for _ in 0..200 {
            let data: Vec<u8> = (0..300)
                .map(|_| {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    rng as u8
                })
                .collect();
            check_inbound(&data);
        }
    }
}
