//! Table-driven transition tests of the BA* machine: every step and every global
//! handler of Kaleido §4.6, plus determinism and crash-restore properties.
//!
//! Setting: four nodes of weight 1 (fixed committee, every threshold 3); the
//! machine under test is node M0 at height 1 whose parent is the zero hash.

use proptest::prelude::*;
use spec::machine::{HeightStart, Input, Machine, Output, ProposeKind};
use spec::params::{Params, Thresholds};
use spec::types::{Hrs, MinerId, Step, Value};
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

const A: Value = Value([0xaa; 32]);
const B: Value = Value([0xbb; 32]);
const PARENT: Value = Value([0; 32]);

fn empty() -> Value {
    Value::empty(PARENT, 1)
}

fn params() -> Params {
    Params::fixed_committee(1)
}

fn start(height: u64) -> Input {
    Input::NewHeight(HeightStart {
        height,
        parent: PARENT,
        thresholds: Thresholds::uniform(3),
    })
}

fn m(i: u8) -> MinerId {
    MinerId::from_index(i)
}

fn hrs(round: u32, step: u32) -> Hrs {
    Hrs::new(1, round, Step(step))
}

fn vote(voter: u8, round: u32, step: u32, value: Value) -> Input {
    Input::Vote {
        voter: m(voter),
        hrs: hrs(round, step),
        value,
        weight: 1,
    }
}

/// Votes from voters 1, 2, 3 (a quorum without M0).
fn quorum(round: u32, step: u32, value: Value) -> Vec<Input> {
    (1..=3).map(|v| vote(v, round, step, value)).collect()
}

fn proposal(round: u32, value: Value, prio: u8) -> Input {
    Input::Proposal {
        height: 1,
        round,
        value,
        proposer: m(9),
        priority: [prio; 32],
    }
}

fn valid(value: Value) -> Input {
    Input::BlockValidated {
        height: 1,
        value,
        valid: true,
    }
}

fn timeout(round: u32, step: u32) -> Input {
    Input::Timeout(hrs(round, step))
}

fn out_vote(round: u32, step: u32, value: Value) -> Output {
    Output::Vote {
        hrs: hrs(round, step),
        value,
    }
}

fn timer(round: u32, step: u32, at: u64) -> Output {
    Output::SetTimer {
        hrs: hrs(round, step),
        deadline_ms: at,
    }
}

fn validate(value: Value) -> Output {
    Output::ValidateBlock { height: 1, value }
}

/// A proposal request made at time 0, acted on at `at_ms` (a new block in round
/// 1 after half the proposal timer; later new blocks and re-proposals at once).
fn propose(round: u32, kind: ProposeKind, at_ms: u64) -> Output {
    Output::Propose {
        height: 1,
        round,
        kind,
        at_ms,
    }
}

/// Runs `setup` then `input` at time 0; returns the outputs of `input` without
/// `Persist`, after checking that every vote and proposal output is preceded by a
/// `Persist` that already records it.
fn run(setup: &[Input], input: Input) -> (Machine, Vec<Output>) {
    let mut machine = Machine::new(params());
    for i in setup {
        check_persist_first(&machine.step(0, *i));
    }
    let outs = machine.step(0, input);
    check_persist_first(&outs);
    let outs = outs
        .into_iter()
        .filter(|o| !matches!(o, Output::Persist(_)))
        .collect();
    (machine, outs)
}

fn check_persist_first(outs: &[Output]) {
    for (i, o) in outs.iter().enumerate() {
        match o {
            Output::Vote { hrs, value } => {
                let Some(Output::Persist(j)) = outs[..i]
                    .iter()
                    .rev()
                    .find(|o| matches!(o, Output::Persist(_)))
                else {
                    panic!("vote {o:?} without a preceding persist");
                };
                assert!(
                    j.cast.contains(&(hrs.round, hrs.step, *value)),
                    "persisted journal does not hold {o:?}"
                );
            }
            Output::Propose { round, .. } => {
                let Some(Output::Persist(j)) = outs[..i]
                    .iter()
                    .rev()
                    .find(|o| matches!(o, Output::Persist(_)))
                else {
                    panic!("proposal {o:?} without a preceding persist");
                };
                assert!(j.proposed.contains(round));
            }
            _ => {}
        }
    }
}

fn concat(parts: &[&[Input]]) -> Vec<Input> {
    parts.iter().flat_map(|p| p.iter().copied()).collect()
}

struct Case {
    desc: &'static str,
    setup: Vec<Input>,
    input: Input,
    expected: Vec<Output>,
    /// (round, step) after the input.
    position: (u32, u32),
}

#[test]
fn transitions() {
    let e = empty();
    let started = vec![start(1)];
    let led_a = concat(&[&started, &[proposal(1, A, 5), valid(A)]]);
    let in_cert = concat(&[&led_a, &[timeout(1, 1)]]);
    let soft_a = concat(&[&in_cert, &quorum(1, 2, A)[..2]]);
    let in_second = concat(&[&started, &[timeout(1, 1), timeout(1, 3)]]);
    let round2_empty = concat(&[&started, &quorum(1, 4, e)]);
    let cases = vec![
        Case {
            desc: "NewHeight enters Proposal(1, empty): propose a new block, 2λ timer",
            setup: vec![],
            input: start(1),
            expected: vec![propose(1, ProposeKind::NewBlock, 500), timer(1, 1, 1000)],
            position: (1, 1),
        },
        Case {
            desc: "NewHeight for the current or a lower height is ignored",
            setup: started.clone(),
            input: start(1),
            expected: vec![],
            position: (1, 1),
        },
        Case {
            desc: "a proposal in step 1 becomes the leader and its block is validated",
            setup: started.clone(),
            input: proposal(1, A, 5),
            expected: vec![validate(A)],
            position: (1, 1),
        },
        Case {
            desc: "Filtering soft-votes the best-priority leader, then Certifying waits",
            setup: concat(&[
                &started,
                &[proposal(1, A, 5), proposal(1, B, 3), proposal(1, A, 9)],
            ]),
            input: timeout(1, 1),
            expected: vec![out_vote(1, 2, B), timer(1, 3, 1000)],
            position: (1, 3),
        },
        Case {
            desc: "Filtering without a leader casts no soft vote",
            setup: started.clone(),
            input: timeout(1, 1),
            expected: vec![timer(1, 3, 1000)],
            position: (1, 3),
        },
        Case {
            desc: "a proposal for the current round after step 1 is ignored",
            setup: concat(&[&started, &[timeout(1, 1)]]),
            input: proposal(1, A, 1),
            expected: vec![],
            position: (1, 3),
        },
        Case {
            desc: "Certifying cert-votes a soft-certified valid value",
            setup: soft_a.clone(),
            input: quorum(1, 2, A)[2],
            expected: vec![out_vote(1, 3, A)],
            position: (1, 3),
        },
        Case {
            desc: "Certifying waits for validation of a soft-certified block",
            setup: concat(&[&started, &[timeout(1, 1)], &quorum(1, 2, B)[..2]]),
            input: quorum(1, 2, B)[2],
            expected: vec![validate(B)],
            position: (1, 3),
        },
        Case {
            desc: "... and cert-votes once the block validates",
            setup: concat(&[&started, &[timeout(1, 1)], &quorum(1, 2, B)]),
            input: valid(B),
            expected: vec![out_vote(1, 3, B)],
            position: (1, 3),
        },
        Case {
            desc: "an invalid block is never cert-voted",
            setup: concat(&[&started, &[timeout(1, 1)], &quorum(1, 2, B)]),
            input: Input::BlockValidated {
                height: 1,
                value: B,
                valid: false,
            },
            expected: vec![],
            position: (1, 3),
        },
        Case {
            desc: "FirstFinishing next-votes the soft-certified value; SecondFinishing too",
            setup: concat(&[&in_cert, &quorum(1, 2, A)]),
            input: timeout(1, 3),
            expected: vec![out_vote(1, 4, A), timer(1, 5, 1000), out_vote(1, 5, A)],
            position: (1, 5),
        },
        Case {
            desc: "FirstFinishing without a soft quorum next-votes the starting (empty) value",
            setup: in_cert.clone(),
            input: timeout(1, 3),
            expected: vec![out_vote(1, 4, e), timer(1, 5, 1000)],
            position: (1, 5),
        },
        Case {
            desc: "SecondFinishing next-votes a value as soon as it is soft-certified",
            setup: concat(&[&in_second, &[valid(A)], &quorum(1, 2, A)[..2]]),
            input: quorum(1, 2, A)[2],
            expected: vec![out_vote(1, 5, A)],
            position: (1, 5),
        },
        Case {
            desc: "SecondFinishing timeout goes to the next FirstFinishing/SecondFinishing pair",
            setup: in_second.clone(),
            input: timeout(1, 5),
            expected: vec![out_vote(1, 6, e), timer(1, 7, 1000)],
            position: (1, 7),
        },
        Case {
            desc: "step factor grows the timer from step 8 on (step 9: ×1, step 11: ×2)",
            setup: concat(&[&in_second, &[timeout(1, 5), timeout(1, 7), timeout(1, 9)]]),
            input: timeout(1, 11),
            expected: vec![out_vote(1, 12, e), timer(1, 13, 3000)],
            position: (1, 13),
        },
        Case {
            desc: "a stale timer is ignored",
            setup: in_cert.clone(),
            input: timeout(1, 1),
            expected: vec![],
            position: (1, 3),
        },
        Case {
            desc: "CertVoteEnough with a valid block commits the height",
            setup: concat(&[&led_a, &quorum(1, 3, A)[..2]]),
            input: quorum(1, 3, A)[2],
            expected: vec![Output::Commit {
                height: 1,
                round: 1,
                value: A,
                voters: vec![(m(1), 1), (m(2), 1), (m(3), 1)],
            }],
            position: (1, 1),
        },
        Case {
            desc: "CertVoteEnough for an unknown block asks for it first",
            setup: concat(&[&started, &quorum(1, 3, B)[..2]]),
            input: quorum(1, 3, B)[2],
            expected: vec![validate(B)],
            position: (1, 1),
        },
        Case {
            desc: "CertVoteEnough in an earlier round commits too (any round of the height)",
            setup: concat(&[&round2_empty, &quorum(1, 3, A)]),
            input: valid(A),
            expected: vec![Output::Commit {
                height: 1,
                round: 1,
                value: A,
                voters: vec![(m(1), 1), (m(2), 1), (m(3), 1)],
            }],
            position: (2, 1),
        },
        Case {
            desc: "after the commit, the height ignores everything",
            setup: concat(&[&led_a, &quorum(1, 3, A)]),
            input: timeout(1, 1),
            expected: vec![],
            position: (1, 1),
        },
        Case {
            desc: "NextVoteEnough(empty, r) starts round r+1 with a new block",
            setup: concat(&[&started, &quorum(1, 4, e)[..2]]),
            input: quorum(1, 4, e)[2],
            expected: vec![propose(2, ProposeKind::NewBlock, 0), timer(2, 1, 1000)],
            position: (2, 1),
        },
        Case {
            desc: "NextVoteEnough(A, r) starts round r+1 re-proposing A",
            setup: concat(&[&started, &quorum(1, 5, A)[..2]]),
            input: quorum(1, 5, A)[2],
            expected: vec![propose(2, ProposeKind::Repropose(A), 0), timer(2, 1, 1000)],
            position: (2, 1),
        },
        Case {
            desc: "a round started from A soft-votes A whatever the leader",
            setup: concat(&[&started, &quorum(1, 5, A), &[proposal(2, B, 0)]]),
            input: timeout(2, 1),
            expected: vec![validate(A), out_vote(2, 2, A), timer(2, 3, 1000)],
            position: (2, 3),
        },
        Case {
            desc: "catch-up: a next quorum of a later round jumps past it",
            setup: concat(&[&started, &quorum(3, 4, e)[..2]]),
            input: quorum(3, 4, e)[2],
            expected: vec![propose(4, ProposeKind::NewBlock, 0), timer(4, 1, 4000)],
            position: (4, 1),
        },
        Case {
            desc: "SecondFinishing next-votes empty on an empty next quorum of the previous round",
            setup: concat(&[&round2_empty, &[timeout(2, 1)]]),
            input: timeout(2, 3),
            expected: vec![out_vote(2, 4, e), timer(2, 5, 1000), out_vote(2, 5, e)],
            position: (2, 5),
        },
        Case {
            desc: "a soft vote for the empty value is invalid and not counted",
            setup: concat(&[&in_cert, &quorum(1, 2, e)[..2]]),
            input: quorum(1, 2, e)[2],
            expected: vec![],
            position: (1, 3),
        },
        Case {
            desc: "a vote beyond the round look-ahead is dropped",
            setup: concat(&[&started, &[vote(1, 6, 4, e), vote(2, 6, 4, e)]]),
            input: vote(3, 6, 4, e),
            expected: vec![],
            position: (1, 1),
        },
        Case {
            desc: "an equivocating voter is reported",
            setup: concat(&[&started, &[vote(1, 1, 4, A)]]),
            input: vote(1, 1, 4, B),
            expected: vec![Output::Evidence(spec::keeper::Equivocation {
                voter: m(1),
                round: 1,
                step: Step(4),
                first: A,
                second: B,
            })],
            position: (1, 1),
        },
    ];
    for case in cases {
        let (machine, outs) = run(&case.setup, case.input);
        assert_eq!(outs, case.expected, "{}", case.desc);
        let p = machine.position().expect("started");
        assert_eq!(
            (p.round, p.step.0),
            case.position,
            "{}: position",
            case.desc
        );
    }
}

#[test]
fn votes_for_the_next_height_are_replayed_when_it_starts() {
    let mut machine = Machine::new(params());
    machine.step(0, start(1));
    let next = |voter| Input::Vote {
        voter: m(voter),
        hrs: Hrs::new(2, 1, Step(4)),
        value: A,
        weight: 1,
    };
    for v in 1..=3 {
        assert!(machine.step(0, next(v)).is_empty());
    }
    let outs = machine.step(
        0,
        Input::NewHeight(HeightStart {
            height: 2,
            parent: PARENT,
            thresholds: Thresholds::uniform(3),
        }),
    );
    // Round 1 of height 2 starts, and the buffered next quorum moves it to round 2.
    assert!(outs.contains(&Output::Propose {
        height: 2,
        round: 2,
        kind: ProposeKind::Repropose(A),
        at_ms: 0,
    }));
    assert_eq!(machine.position(), Some(Hrs::new(2, 2, Step(1))));
}

#[test]
fn restore_never_votes_differently_and_resumes_forward() {
    let e = empty();
    // The node cert-voted A in round 1 and crashed in Certifying.
    let mut machine = Machine::new(params());
    for i in concat(&[
        &[start(1), proposal(1, A, 1), valid(A), timeout(1, 1)],
        &quorum(1, 2, A),
    ]) {
        machine.step(0, i);
    }
    assert!(machine.cast_votes().contains(&(1, Step(3), A)));
    let journal = machine.journal().expect("started");
    let (mut restored, outs) = Machine::restore(params(), &journal, 500);
    // It re-sends exactly the votes it cast, and waits in Certifying again.
    assert!(outs.contains(&out_vote(1, 3, A)));
    assert!(outs.contains(&timer(1, 3, 1500)));
    assert_eq!(restored.position(), Some(hrs(1, 3)));
    // Its memory of the soft quorum survived: it next-votes A, not the empty value.
    let outs = restored.step(1500, timeout(1, 3));
    assert!(outs.contains(&out_vote(1, 4, A)), "{outs:?}");
    assert!(!outs.contains(&out_vote(1, 4, e)));
    // A journal written right after an instant step resumes in the next waiting step.
    let mut j = journal.clone();
    j.step = Step(4);
    let (r, _) = Machine::restore(params(), &j, 0);
    assert_eq!(r.position(), Some(hrs(1, 5)));
}

fn state_hash(m: &Machine) -> u64 {
    let mut h = DefaultHasher::new();
    m.hash(&mut h);
    h.finish()
}

fn arb_input() -> impl Strategy<Value = Input> {
    let value = prop_oneof![Just(A), Just(B), Just(empty())];
    prop_oneof![
        (1u8..5, 1u32..4, 2u32..8, value.clone(), 1u64..3).prop_map(|(v, r, s, val, w)| {
            Input::Vote {
                voter: m(v),
                hrs: hrs(r, s),
                value: val,
                weight: w,
            }
        }),
        (1u32..4, value.clone(), any::<u8>()).prop_map(|(r, v, p)| proposal(r, v, p)),
        (1u32..4, 1u32..8).prop_map(|(r, s)| timeout(r, s)),
        (value, any::<bool>()).prop_map(|(v, ok)| Input::BlockValidated {
            height: 1,
            value: v,
            valid: ok
        }),
    ]
}

proptest! {
    /// Same inputs → same outputs and same state hash (S11), and the position never
    /// goes backwards (S9), whatever the input sequence.
    #[test]
    fn deterministic_and_monotonic(inputs in proptest::collection::vec(arb_input(), 0..60)) {
        let runs: Vec<(Vec<Vec<Output>>, u64)> = (0..2)
            .map(|_| {
                let mut machine = Machine::new(params());
                let mut outs = vec![machine.step(0, start(1))];
                let mut last = machine.position();
                for (t, i) in inputs.iter().enumerate() {
                    outs.push(machine.step(t as u64, *i));
                    let now = machine.position();
                    assert!(now >= last, "position went from {last:?} to {now:?}");
                    last = now;
                }
                (outs, state_hash(&machine))
            })
            .collect();
        prop_assert_eq!(&runs[0], &runs[1]);
    }

    /// The machine never casts two different votes in one (round, step).
    #[test]
    fn at_most_one_vote_per_step(inputs in proptest::collection::vec(arb_input(), 0..80)) {
        let mut machine = Machine::new(params());
        let mut cast: Vec<(Hrs, Value)> = Vec::new();
        let mut all = vec![start(1)];
        all.extend(inputs);
        for i in all {
            for o in machine.step(0, i) {
                if let Output::Vote { hrs, value } = o {
                    if let Some((_, v)) = cast.iter().find(|(h, _)| *h == hrs) {
                        prop_assert_eq!(*v, value, "two votes at {:?}", hrs);
                    }
                    cast.push((hrs, value));
                }
            }
        }
    }
}

#[test]
fn every_waiting_step_is_journaled_before_its_timer() {
    // Step 1 times out with no leader: no vote is cast, but the node now waits in
    // step 3, and a restart must resume there, not back in step 1 (S9).
    let mut machine = Machine::new(params());
    machine.step(0, start(1));
    let outs = machine.step(1000, timeout(1, 1));
    let journal = outs
        .iter()
        .find_map(|o| match o {
            Output::Persist(j) => Some(j.clone()),
            _ => None,
        })
        .expect("entering step 3 persists");
    assert_eq!((journal.round, journal.step), (1, Step::CERT));
    let (restored, _) = Machine::restore(params(), &journal, 1000);
    assert_eq!(restored.position(), Some(hrs(1, 3)));
}

/// A permutation of the miner ids 0..=9 used by the renaming test: a cycle
/// 1 → 2 → 3 → 1, a swap 4 ↔ 9, the rest fixed.
fn perm(id: MinerId) -> MinerId {
    let i = id.0[19];
    let to = match i {
        1 => 2,
        2 => 3,
        3 => 1,
        4 => 9,
        9 => 4,
        other => other,
    };
    MinerId::from_index(to)
}

fn perm_inverse(id: MinerId) -> MinerId {
    let i = id.0[19];
    let to = match i {
        2 => 1,
        3 => 2,
        1 => 3,
        9 => 4,
        4 => 9,
        other => other,
    };
    MinerId::from_index(to)
}

fn rename_output(o: Output) -> Output {
    match o {
        Output::Commit {
            height,
            round,
            value,
            mut voters,
        } => {
            for v in &mut voters {
                v.0 = perm(v.0);
            }
            voters.sort();
            Output::Commit {
                height,
                round,
                value,
                voters,
            }
        }
        Output::Evidence(e) => Output::Evidence(spec::keeper::Equivocation {
            voter: perm(e.voter),
            ..e
        }),
        other => other,
    }
}

proptest! {
    /// Renaming miner ids commutes with stepping (what the model checker's
    /// symmetry reduction relies on): from any point of any input sequence, the
    /// renamed machine fed renamed inputs gives the renamed outputs and ends in the
    /// renamed state; renaming back restores the original.
    #[test]
    fn renaming_commutes_with_step(
        inputs in proptest::collection::vec(arb_input(), 0..60),
        split in 0usize..60,
    ) {
        let mut machine = Machine::new(params());
        machine.step(0, start(1));
        let split = split.min(inputs.len());
        for (t, i) in inputs[..split].iter().enumerate() {
            machine.step(t as u64, *i);
        }
        prop_assert_eq!(&machine.renamed(&|id| id), &machine);
        let mut renamed = machine.renamed(&perm);
        prop_assert_eq!(&renamed.renamed(&perm_inverse), &machine);
        for (t, i) in inputs[split..].iter().enumerate() {
            let out = machine.step(t as u64, *i);
            let out_renamed = renamed.step(t as u64, spec::machine::rename_input(*i, &perm));
            let expected: Vec<Output> = out.into_iter().map(rename_output).collect();
            prop_assert_eq!(out_renamed, expected);
        }
        prop_assert_eq!(renamed, machine.renamed(&perm));
    }
}

/// Attack 4 (a member spraying far steps of past rounds): once in round 2,
/// only cert votes of past rounds and round 1's next votes up to its highest
/// next quorum step plus the look-ahead are kept; anything else of a past round
/// is dropped before it reaches the keeper, so memory stays bounded.
#[test]
fn past_rounds_keep_only_cert_votes_and_the_previous_rounds_next_votes() {
    let mut setup = vec![start(1)];
    setup.extend(quorum(1, 4, empty())); // round 1 ends on empty: round 2 starts
    let (m, _) = run(&setup, timeout(9, 9));
    assert_eq!(m.position().map(|p| p.round), Some(2));
    let lookahead = params().step_lookahead;
    let table: &[(u32, u32, Value, bool)] = &[
        (1, 3, A, true),              // cert votes of any past round still commit
        (1, 4, A, true),              // the next quorum's own step
        (1, 4 + lookahead, A, true),  // up to the look-ahead past it
        (1, 5 + lookahead, A, false), // beyond it
        (1, 1_000_000, A, false),     // far steps
        (1, 2, A, false),             // soft votes of a past round are unused
        (2, 3, A, true),              // the current round
    ];
    for &(round, step, value, kept) in table {
        assert_eq!(
            m.accepts_vote(hrs(round, step), value),
            kept,
            "round {round} step {step}"
        );
        let mut fed = m.clone();
        let before = fed.keeper().clone();
        fed.step(0, vote(1, round, step, value));
        assert_eq!(
            fed.keeper() != &before,
            kept,
            "round {round} step {step}: keeper"
        );
    }
    // Spraying many far steps of round 1 leaves the keeper as it was.
    let mut fed = m.clone();
    let before = fed.keeper().clone();
    for step in 100..2100u32 {
        fed.step(0, vote(2, 1, step, B));
    }
    assert_eq!(fed.keeper(), &before);
}
