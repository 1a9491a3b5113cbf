//! A byte-driven adversarial schedule over four machines, for fuzzers.
//!
//! Where [`crate::sim`] draws delays from a seeded RNG, here every choice comes
//! from the input bytes: which in-flight message is delivered, duplicated or lost,
//! whose timer fires, and what the Byzantine node (node 3, weight 1 of 4) sends to
//! whom. Every invariant of [`crate::invariants`] is checked after every event, so
//! a fuzzer (or a proptest twin) searching the byte space searches schedules.
//!
//! Fixed committee of four nodes of weight 1 (threshold 3, so one Byzantine node
//! is within what the protocol tolerates: no schedule may violate safety).
//! Nodes 0 and 1 propose blocks A and B; one height is agreed upon.

use crate::invariants::{Decision, Observations, RoundEntry, Violation};
use crate::machine::{HeightStart, Input, Machine, Output, ProposeKind};
use crate::params::{Params, Thresholds};
use crate::types::{Hrs, MinerId, Step, Value};

/// Nodes in the schedule; the last one is Byzantine.
pub const NODES: usize = 4;
const BYZANTINE: usize = NODES - 1;
/// Block values proposed by nodes 0 and 1.
pub const A: Value = Value([0xaa; 32]);
/// See [`A`].
pub const B: Value = Value([0xbb; 32]);
const PARENT: Value = Value([0; 32]);
const MAX_IN_FLIGHT: usize = 256;

/// What a schedule run ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleReport {
    /// Events executed.
    pub events: usize,
    /// Honest nodes that decided.
    pub decided: usize,
}

struct Net {
    machines: Vec<Machine>,
    timers: Vec<Option<Hrs>>,
    in_flight: Vec<(usize, Input)>,
    obs: Observations,
}

/// Runs the schedule encoded by `bytes`; `Err` is a safety violation.
pub fn run_schedule(bytes: &[u8]) -> Result<ScheduleReport, Violation> {
    let params = Params::fixed_committee(7);
    let thresholds = params.thresholds(NODES as u64);
    let mut net = Net {
        machines: vec![Machine::new(params); NODES],
        timers: vec![None; NODES],
        in_flight: Vec::new(),
        obs: Observations::new(thresholds),
    };
    for i in 0..BYZANTINE {
        net.apply(i, start_input(thresholds))?;
    }
    let mut bytes = bytes.iter().copied();
    let mut events = 0;
    while let Some(op) = bytes.next() {
        events += 1;
        let mut arg = || usize::from(bytes.next().unwrap_or(0));
        match op % 5 {
            0 | 1 if !net.in_flight.is_empty() => {
                let k = arg() % net.in_flight.len();
                let (to, input) = if op % 5 == 0 {
                    net.in_flight.swap_remove(k)
                } else {
                    net.in_flight[k] // duplicate: deliver and keep
                };
                net.apply(to, input)?;
            }
            2 if !net.in_flight.is_empty() => {
                let k = arg() % net.in_flight.len();
                net.in_flight.swap_remove(k);
            }
            3 => {
                let node = arg() % BYZANTINE;
                if let Some(hrs) = net.timers[node] {
                    net.apply(node, Input::Timeout(hrs))?;
                }
            }
            4 => {
                let (to, round, step, v) =
                    (arg() % BYZANTINE, 1 + arg() % 2, 2 + arg() % 4, arg() % 3);
                let hrs = Hrs::new(1, round as u32, Step(step as u32));
                let value = [A, B, Value::empty(PARENT, 1)][v];
                net.obs
                    .vote(MinerId::from_index(BYZANTINE as u8), false, hrs, value, 1);
                net.apply(
                    to,
                    Input::Vote {
                        voter: MinerId::from_index(BYZANTINE as u8),
                        hrs,
                        value,
                        weight: 1,
                    },
                )?;
            }
            _ => {}
        }
    }
    let decided = net.machines[..BYZANTINE]
        .iter()
        .filter(|m| m.decided().is_some())
        .count();
    Ok(ScheduleReport { events, decided })
}

fn start_input(thresholds: Thresholds) -> Input {
    Input::NewHeight(HeightStart {
        height: 1,
        parent: PARENT,
        thresholds,
    })
}

impl Net {
    fn apply(&mut self, node: usize, input: Input) -> Result<(), Violation> {
        let id = MinerId::from_index(node as u8);
        let mut queue = vec![input];
        while let Some(input) = queue.pop() {
            let before = self.machines[node].position();
            let outs = self.machines[node].step(0, input);
            let m = &self.machines[node];
            let after = m.position();
            if let (Some(b), Some(a)) = (before, after) {
                self.obs.moved(id, b, a);
            }
            if let Some(a) = after
                && before.map(|b| (b.height, b.round)) != Some((a.height, a.round))
            {
                self.obs.enter(RoundEntry {
                    node: id,
                    height: a.height,
                    round: a.round,
                    starting: m.starting_value(),
                    empty: m.empty_value(),
                });
            }
            for out in outs {
                match out {
                    Output::Persist(_) | Output::Evidence(_) => {}
                    Output::SetTimer { hrs, .. } => self.timers[node] = Some(hrs),
                    Output::ValidateBlock { height, value } => queue.push(Input::BlockValidated {
                        height,
                        value,
                        valid: value == A || value == B,
                    }),
                    Output::Propose {
                        height,
                        round,
                        kind,
                        ..
                    } => {
                        let value = match (kind, node) {
                            (ProposeKind::Repropose(v), _) => v,
                            (ProposeKind::NewBlock, 0) => A,
                            (ProposeKind::NewBlock, 1) => B,
                            (ProposeKind::NewBlock, _) => continue,
                        };
                        let p = Input::Proposal {
                            height,
                            round,
                            value,
                            proposer: id,
                            priority: [node as u8; 32],
                        };
                        self.broadcast(node, p);
                        queue.push(p);
                    }
                    Output::Vote { hrs, value } => {
                        self.obs.vote(id, true, hrs, value, 1);
                        let v = Input::Vote {
                            voter: id,
                            hrs,
                            value,
                            weight: 1,
                        };
                        self.broadcast(node, v);
                        queue.push(v);
                    }
                    Output::Commit {
                        height,
                        round,
                        value,
                        voters,
                    } => self.obs.decide(Decision {
                        node: id,
                        height,
                        round,
                        value,
                        voters,
                    }),
                }
            }
            self.obs.check()?;
        }
        Ok(())
    }

    fn broadcast(&mut self, from: usize, input: Input) {
        for to in (0..BYZANTINE).filter(|&to| to != from) {
            if self.in_flight.len() < MAX_IN_FLIGHT {
                self.in_flight.push((to, input));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_friendly_schedule_decides() {
        // Fire proposal timers, then deliver everything in order, repeatedly.
        let mut bytes = Vec::new();
        for _ in 0..3 {
            for n in 0..3u8 {
                bytes.extend_from_slice(&[3, n]);
            }
            for _ in 0..60 {
                bytes.extend_from_slice(&[0, 0]);
            }
        }
        let r = run_schedule(&bytes).expect("safe");
        assert_eq!(r.decided, 3, "all honest nodes decide: {r:?}");
    }

    proptest! {
        /// The proptest twin of the `machine_schedule` fuzz target.
        #[test]
        fn no_schedule_breaks_safety(bytes in proptest::collection::vec(any::<u8>(), 0..800)) {
            if let Err(v) = run_schedule(&bytes) {
                prop_assert!(false, "{}", v);
            }
        }
    }
}
