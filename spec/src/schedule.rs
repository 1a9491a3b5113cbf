//! A byte-driven adversarial schedule over a [`Cluster`] of four drivers, for
//! fuzzers.
//!
//! Where [`crate::sim`] draws delays from a seeded RNG, here every choice comes
//! from the input bytes: which in-flight message is delivered, duplicated or
//! lost, whose timer fires (each honest node has its own clock, advanced to a
//! deadline: mostly the earliest of all, so the clocks run together, sometimes
//! one node's alone, so its clock runs ahead), and what the Byzantine node sends
//! to whom. Every message is
//! real wire bytes signed with mock keys, so a schedule exercises the driver's
//! screening, authentication, proposal/block pairing and certificate assembly.
//! Every invariant of [`crate::invariants`] is checked after every event, so a
//! fuzzer (or a proptest twin) searching the byte space searches schedules.
//!
//! Fixed committee of four nodes of stake 1 (quorum > 2/3, so one Byzantine
//! node is within what the protocol tolerates: no schedule may violate safety).
//! Nodes 0–2 are honest drivers; execution answers builds and validations at
//! once, commits go on to the next height, and a committed node's certificate
//! travels like any message (catch-up sync). Node 3 runs no driver: it signs
//! with its own keys, for the height and parent of an honest node's view:
//! - votes for any (round, step, value), including far rounds and far steps;
//! - a cert vote for the empty value followed by one for a block;
//! - proposals of its own blocks, with or without the block, block first or
//!   proposal first;
//! - junk blocks, a real header with a tampered body, a header with trailing
//!   bytes, a block with trailing bytes after its frame.

use crate::cluster::{Cluster, Out, Role, RunError};
use crate::driver::Topic;
use crate::driver::block::{BlockFormat, PlainBlocks};
use crate::driver::wire::frame_block;
use crate::params::Params;
use crate::roster::Roster;
use crate::types::{Height, Hrs, Round, Step, Value};

/// Nodes in the schedule; the last one is Byzantine.
pub const NODES: usize = 4;
const BYZANTINE: usize = NODES - 1;
const HONEST: usize = BYZANTINE;
const MAX_IN_FLIGHT: usize = 256;
/// The Byzantine node's source id on the wire.
const BYZANTINE_SOURCE: u64 = BYZANTINE as u64;

/// What a schedule run ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleReport {
    /// Events executed.
    pub events: usize,
    /// Honest nodes that committed height 1.
    pub decided: usize,
    /// The highest height an honest node committed.
    pub heights: usize,
}

/// A message on its way to an honest node.
#[derive(Clone)]
enum Flight {
    Wire(Topic, Vec<u8>),
    Certificate(Vec<u8>),
}

struct Schedule {
    cluster: Cluster,
    /// Each honest node's clock.
    now: [u64; HONEST],
    in_flight: Vec<(usize, usize, Flight)>,
}

/// Runs the schedule encoded by `bytes`; `Err` is a safety violation (or a
/// driver that refused an event).
pub fn run_schedule(bytes: &[u8]) -> Result<ScheduleReport, RunError> {
    let mut s = Schedule::new()?;
    let mut bytes = bytes.iter().copied();
    let mut events = 0;
    while let Some(op) = bytes.next() {
        events += 1;
        s.event(Op::of(op), || usize::from(bytes.next().unwrap_or(0)))?;
    }
    let committed: Vec<usize> = (0..HONEST).map(|i| s.cluster.committed(i).len()).collect();
    Ok(ScheduleReport {
        events,
        decided: committed.iter().filter(|c| **c >= 1).count(),
        heights: committed.iter().copied().max().unwrap_or(0),
    })
}

/// What an input byte selects, with its arguments (the bytes that follow).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Op {
    /// (k): deliver in-flight message k.
    Deliver,
    /// (k): deliver in-flight message k and keep it in flight.
    Duplicate,
    /// (k): lose in-flight message k.
    Drop,
    /// (b): the earliest deadline of all honest nodes is reached (b < 192:
    /// their clocks run together), or node b % 3's next deadline alone (its
    /// clock runs ahead of the others'): advance that node's clock and tick.
    Timer,
    /// (to, view, round, step, value): a Byzantine vote.
    Vote,
    /// (to, view, round, body, order): a Byzantine proposal and block.
    Proposal,
    /// (to, view, kind, k): bytes on the blocks topic no driver may keep.
    ForgedBlock,
    /// (to, view, round, value): a Byzantine cert vote for the empty value,
    /// then one for a value.
    CertEmptyThenValue,
}

impl Op {
    /// The byte's value modulo 16; deliveries are the most frequent, so that
    /// random bytes make progress too.
    fn of(byte: u8) -> Op {
        match byte % 16 {
            0..=6 => Op::Deliver,
            7 => Op::Duplicate,
            8 => Op::Drop,
            9 | 10 => Op::Timer,
            11 | 12 => Op::Vote,
            13 => Op::Proposal,
            14 => Op::ForgedBlock,
            _ => Op::CertEmptyThenValue,
        }
    }
}

/// Rounds 1–3 mostly, sometimes one far beyond the machine's look-ahead.
fn pick_round(b: usize) -> Round {
    if b < 224 {
        1 + (b % 3) as Round
    } else {
        (b as Round) * 1_000
    }
}

/// Steps 2–7 mostly, sometimes a far next-vote step.
fn pick_step(b: usize) -> Step {
    if b < 224 {
        Step(2 + (b % 6) as u32)
    } else {
        Step(b as u32 * 100)
    }
}

/// An honest node's view of the chain: what the Byzantine node signs for.
struct View {
    height: Height,
    parent: Value,
    roster: Roster,
}

impl Schedule {
    /// Three honest drivers started on genesis.
    fn new() -> Result<Schedule, RunError> {
        let mut roles = [Role::Honest; NODES];
        roles[BYZANTINE] = Role::Absent;
        let mut s = Schedule {
            cluster: Cluster::new(Params::fixed_committee(7), &[1; NODES], &roles),
            now: [0; HONEST],
            in_flight: Vec::new(),
        };
        for i in 0..HONEST {
            let outs = s.cluster.start(i, 0)?;
            s.dispatch(i, outs)?;
        }
        s.cluster.check()?;
        Ok(s)
    }

    /// One event chosen by `op`, its arguments drawn from `arg`; then every
    /// invariant is checked.
    fn event(&mut self, op: Op, mut arg: impl FnMut() -> usize) -> Result<(), RunError> {
        match op {
            Op::Deliver | Op::Duplicate if !self.in_flight.is_empty() => {
                let k = arg() % self.in_flight.len();
                let (from, to, flight) = if op == Op::Deliver {
                    self.in_flight.swap_remove(k)
                } else {
                    self.in_flight[k].clone() // duplicate: deliver and keep
                };
                self.deliver(from, to, &flight)?;
            }
            Op::Drop if !self.in_flight.is_empty() => {
                let k = arg() % self.in_flight.len();
                self.in_flight.swap_remove(k);
            }
            Op::Timer => {
                let deadline = |i: usize| self.cluster.driver(i).and_then(|d| d.next_deadline());
                let b = arg();
                let node = if b < 192 {
                    (0..HONEST)
                        .filter_map(|i| deadline(i).map(|d| (d, i)))
                        .min()
                        .map(|(_, i)| i)
                } else {
                    Some(b % HONEST)
                };
                if let Some((node, d)) = node.and_then(|i| deadline(i).map(|d| (i, d))) {
                    self.now[node] = self.now[node].max(d);
                    let outs = self.cluster.tick(node, self.now[node])?;
                    self.dispatch(node, outs)?;
                }
            }
            Op::Vote => {
                let (to, view) = (arg() % HONEST, self.view(arg()));
                let hrs = Hrs::new(view.height, pick_round(arg()), pick_step(arg()));
                let value = self.pick_value(&view, arg());
                if let Some(v) = self
                    .cluster
                    .byzantine_vote(BYZANTINE, hrs, value, &view.roster)
                {
                    self.byzantine_send(to, Topic::Votes, v)?;
                }
            }
            Op::Proposal => {
                let (to, view) = (arg() % HONEST, self.view(arg()));
                let (round, body, order) = (pick_round(arg()), arg(), arg() % 3);
                self.byzantine_proposal(to, &view, round, body, order)?;
            }
            Op::ForgedBlock => {
                let (to, view) = (arg() % HONEST, self.view(arg()));
                let (kind, k) = (arg() % 4, arg());
                let block = self.forged_block(&view, kind, k);
                self.byzantine_send(to, Topic::Blocks, block)?;
            }
            Op::CertEmptyThenValue => {
                let (to, view) = (arg() % HONEST, self.view(arg()));
                let round = pick_round(arg());
                let value = self.pick_value(&view, arg());
                let hrs = Hrs::new(view.height, round, Step::CERT);
                let empty = Value::empty(view.parent, view.height);
                for v in [empty, value] {
                    if let Some(v) = self.cluster.byzantine_vote(BYZANTINE, hrs, v, &view.roster) {
                        self.byzantine_send(to, Topic::Votes, v)?;
                    }
                }
            }
            _ => {}
        }
        Ok(self.cluster.check()?)
    }

    fn view(&self, b: usize) -> View {
        let node = b % HONEST;
        match self.cluster.driver(node) {
            Some(d) => View {
                height: d.height(),
                parent: d.parent(),
                roster: d.roster().clone(),
            },
            None => View {
                height: 1,
                parent: crate::cluster::GENESIS,
                roster: self.cluster.roster_after(crate::cluster::GENESIS),
            },
        }
    }

    /// A block of the view's height, its empty value, or a value with no block.
    fn pick_value(&self, view: &View, b: usize) -> Value {
        let mut values = self.cluster.values_at(view.height, view.parent);
        values.push(Value::empty(view.parent, view.height));
        values.push(Value([b as u8; 32]));
        values[b % values.len()]
    }

    /// A signed proposal of a fresh Byzantine block: `order` 0 sends the
    /// proposal alone, 1 the proposal then the block, 2 the block first.
    fn byzantine_proposal(
        &mut self,
        to: usize,
        view: &View,
        round: Round,
        body: usize,
        order: usize,
    ) -> Result<(), RunError> {
        let block = self.cluster.byzantine_block(
            BYZANTINE,
            view.height,
            view.parent,
            &view.roster,
            format!("byzantine {round} {body}").into_bytes(),
        );
        let value = PlainBlocks::info(&block).value;
        let Some((proposal, _)) =
            self.cluster
                .byzantine_proposal(BYZANTINE, view.height, round, value, &view.roster)
        else {
            return Ok(());
        };
        let (header, body) = PlainBlocks::encode(&block);
        let framed = frame_block(&header, &body);
        match order {
            0 => self.byzantine_send(to, Topic::Proposals, proposal),
            1 => {
                self.byzantine_send(to, Topic::Proposals, proposal)?;
                self.byzantine_send(to, Topic::Blocks, framed)
            }
            _ => {
                self.byzantine_send(to, Topic::Blocks, framed)?;
                self.byzantine_send(to, Topic::Proposals, proposal)
            }
        }
    }

    /// Framed bytes on the blocks topic that no driver may keep: junk, a known
    /// header with a tampered body, trailing bytes after the header, or a
    /// Byzantine block with no proposal (held until one comes, bounded).
    fn forged_block(&mut self, view: &View, kind: usize, k: usize) -> Vec<u8> {
        let known = self.cluster.values_at(view.height, view.parent);
        let real = known
            .get(k % known.len().max(1))
            .and_then(|v| self.cluster.block(v))
            .cloned();
        match (kind, real) {
            (1, Some(block)) => {
                let (header, mut body) = PlainBlocks::encode(&block);
                body.push(k as u8);
                frame_block(&header, &body)
            }
            (2, Some(block)) => {
                let (mut header, body) = PlainBlocks::encode(&block);
                header.push(k as u8);
                frame_block(&header, &body)
            }
            (3, _) => {
                let block = self.cluster.byzantine_block(
                    BYZANTINE,
                    view.height,
                    view.parent,
                    &view.roster,
                    format!("unproposed {k}").into_bytes(),
                );
                let (header, body) = PlainBlocks::encode(&block);
                frame_block(&header, &body)
            }
            _ => {
                let mut junk = vec![0, 0, 0, (k % 40) as u8];
                junk.extend((0..k % 64).map(|j| (j * k) as u8));
                junk
            }
        }
    }

    fn byzantine_send(&mut self, to: usize, topic: Topic, bytes: Vec<u8>) -> Result<(), RunError> {
        let now = self.now[to];
        let outs = self
            .cluster
            .deliver(to, now, topic, &bytes, BYZANTINE_SOURCE)?;
        self.dispatch(to, outs)
    }

    fn deliver(&mut self, from: usize, to: usize, flight: &Flight) -> Result<(), RunError> {
        let now = self.now[to];
        let outs = match flight {
            Flight::Wire(topic, bytes) => self.cluster.deliver(to, now, *topic, bytes, from as u64),
            Flight::Certificate(c) => self.cluster.sync(to, now, c),
        }?;
        self.dispatch(to, outs)
    }

    /// Sends node `i`'s messages to the other honest nodes, and answers its
    /// builds and validations at once.
    fn dispatch(&mut self, i: usize, outs: Vec<Out>) -> Result<(), RunError> {
        let mut queue: std::collections::VecDeque<Out> = outs.into();
        while let Some(out) = queue.pop_front() {
            let now = self.now[i];
            match out {
                Out::Broadcast(topic, bytes) => self.send(i, Flight::Wire(topic, bytes)),
                Out::Committed(_, certificate) => self.send(i, Flight::Certificate(certificate)),
                Out::Accepted(..) | Out::Held(..) => {}
                Out::Build(order) => queue.extend(self.cluster.built(i, now, order)?),
                Out::Validate(value, valid) => {
                    queue.extend(self.cluster.validated(i, now, value, valid)?)
                }
            }
        }
        Ok(())
    }

    fn send(&mut self, from: usize, flight: Flight) {
        for to in (0..HONEST).filter(|&to| to != from) {
            if self.in_flight.len() < MAX_IN_FLIGHT {
                self.in_flight.push((from, to, flight.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const DELIVER: u8 = 0;
    const TIMER: u8 = 9;
    const VOTE: u8 = 11;
    const PROPOSAL: u8 = 13;
    const FORGED: u8 = 14;
    const CERT_EMPTY: u8 = 15;

    #[test]
    fn the_op_codes_are_what_the_tests_mean() {
        assert_eq!(Op::of(DELIVER), Op::Deliver);
        assert_eq!(Op::of(TIMER), Op::Timer);
        assert_eq!(Op::of(VOTE), Op::Vote);
        assert_eq!(Op::of(PROPOSAL), Op::Proposal);
        assert_eq!(Op::of(FORGED), Op::ForgedBlock);
        assert_eq!(Op::of(CERT_EMPTY), Op::CertEmptyThenValue);
    }

    /// Fire every honest node's timer, then deliver everything in flight.
    fn friendly(rounds: usize) -> Vec<u8> {
        let mut bytes = Vec::new();
        for _ in 0..rounds {
            for n in 0..HONEST as u8 {
                bytes.extend_from_slice(&[TIMER, n]);
            }
            for _ in 0..60 {
                bytes.extend_from_slice(&[DELIVER, 0]);
            }
        }
        bytes
    }

    #[test]
    fn a_friendly_schedule_decides() {
        let r = run_schedule(&friendly(3)).expect("safe");
        assert_eq!(r.decided, 3, "all honest nodes decide: {r:?}");
    }

    #[test]
    fn a_friendly_schedule_goes_on_to_later_heights() {
        let r = run_schedule(&friendly(12)).expect("safe");
        assert!(r.heights >= 3, "{r:?}");
    }

    #[test]
    fn byzantine_noise_does_not_stop_a_friendly_schedule() {
        // Between the friendly steps, the Byzantine node sends one of each kind.
        let mut bytes = Vec::new();
        for chunk in friendly(4).chunks(2) {
            bytes.extend_from_slice(chunk);
            if chunk[0] == TIMER {
                let n = chunk[1];
                bytes.extend_from_slice(&[VOTE, n, 0, 0, 0, 1]); // a soft vote
                bytes.extend_from_slice(&[PROPOSAL, n, 0, 1, 7, 1]); // proposal then block
                for kind in 0..4 {
                    bytes.extend_from_slice(&[FORGED, n, 0, kind, 5]);
                }
                bytes.extend_from_slice(&[CERT_EMPTY, n, 0, 0, 0]); // cert ⊥ then a value
                bytes.extend_from_slice(&[VOTE, n, 0, 250, 250, 2]); // far round and step
            }
        }
        let r = run_schedule(&bytes).expect("safe");
        assert_eq!(r.decided, 3, "all honest nodes decide: {r:?}");
    }

    /// Arguments for [`Schedule::event`], then zeros.
    fn args(v: &[usize]) -> impl FnMut() -> usize + '_ {
        let mut it = v.iter().copied();
        move || it.next().unwrap_or(0)
    }

    #[test]
    fn byzantine_messages_pass_or_fail_the_drivers_checks_as_they_should() {
        let mut s = Schedule::new().expect("start");
        let byz = s.cluster.id(BYZANTINE);
        let held = |s: &Schedule| s.cluster.driver(0).expect("honest").held();
        // A signed proposal of a Byzantine block, then the block: paired.
        s.event(Op::Proposal, args(&[0, 0, 0, 1, 1])).expect("safe");
        assert_eq!((held(&s).proposals, held(&s).blocks), (1, 1));
        let value = s.cluster.values_at(1, crate::cluster::GENESIS)[0];
        // Its header with a tampered body, or with trailing bytes: refused.
        s.event(Op::ForgedBlock, args(&[0, 0, 1, 0])).expect("safe");
        s.event(Op::ForgedBlock, args(&[0, 0, 2, 0])).expect("safe");
        assert_eq!((held(&s).blocks, held(&s).waiting), (1, 0));
        // A block no proposal named waits; junk is refused.
        s.event(Op::ForgedBlock, args(&[0, 0, 3, 9])).expect("safe");
        s.event(Op::ForgedBlock, args(&[0, 0, 0, 9])).expect("safe");
        assert_eq!((held(&s).blocks, held(&s).waiting), (1, 1));
        // A soft vote for the block is counted; one for a far round is not.
        let machine = |s: &Schedule| s.cluster.driver(0).expect("honest").machine().clone();
        // (`pick_value` 0 is the first block known at the height.)
        let first = s.cluster.values_at(1, crate::cluster::GENESIS)[0];
        s.event(Op::Vote, args(&[0, 0, 0, 0, 0])).expect("safe");
        assert!(machine(&s).seen(byz, Hrs::new(1, 1, Step::SOFT), first));
        s.event(Op::Vote, args(&[0, 0, 230, 0, 0])).expect("safe");
        assert!(!machine(&s).seen(byz, Hrs::new(1, 230_000, Step::SOFT), first));
        // A cert vote for the empty value, then one for the block: the second counts.
        s.event(Op::CertEmptyThenValue, args(&[0, 0, 0, 0]))
            .expect("safe");
        assert!(machine(&s).seen(byz, Hrs::new(1, 1, Step::CERT), first));
        assert_ne!(first, Value::empty(crate::cluster::GENESIS, 1));
        assert!(
            s.cluster
                .values_at(1, crate::cluster::GENESIS)
                .contains(&value)
        );
    }

    /// Schedules as bytes, biased towards progress: timer firings (often of
    /// every node in turn, so their clocks keep close) and bursts of
    /// deliveries, between runs of arbitrary bytes (which may be any event, and
    /// shift how the bytes after them are read).
    fn schedules() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            2 => Just(vec![TIMER, 0, TIMER, 1, TIMER, 2]),
            1 => (0..HONEST as u8).prop_map(|n| vec![TIMER, n]),
            6 => proptest::collection::vec(any::<u8>(), 1..30)
                .prop_map(|ks| ks.into_iter().flat_map(|k| [DELIVER, k]).collect()),
            2 => proptest::collection::vec(any::<u8>(), 1..12),
        ];
        proptest::collection::vec(piece, 0..60).prop_map(|p| p.concat())
    }

    /// The twin searches deciding schedules too: half of the biased ones
    /// decide (the deterministic runner makes this exact).
    #[test]
    fn biased_schedules_decide_often() {
        use proptest::strategy::ValueTree;
        use proptest::test_runner::TestRunner;
        let mut runner = TestRunner::deterministic();
        let mut decided = 0;
        for _ in 0..64 {
            let bytes = schedules()
                .new_tree(&mut runner)
                .expect("a schedule")
                .current();
            let r = run_schedule(&bytes).expect("safe");
            decided += usize::from(r.decided > 0);
        }
        assert!(decided >= 16, "only {decided} of 64 schedules decided");
    }

    proptest! {
        /// The proptest twin of the `machine_schedule` fuzz target: arbitrary
        /// bytes, and bytes biased towards progress.
        #[test]
        fn no_schedule_breaks_safety(
            bytes in prop_oneof![proptest::collection::vec(any::<u8>(), 0..800), schedules()],
        ) {
            if let Err(e) = run_schedule(&bytes) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}
