//! Soundness of the symmetry reduction, checked on reachable states of real
//! configurations: renaming interchangeable nodes commutes with the model's
//! transitions and keeps every property verdict, and the representative is the
//! same for a state and for any of its renamings.

use model_check::config::Config;
use model_check::hashed::hash_of;
use model_check::model::{BaModel, State};
use model_check::symmetry::plan;
use stateright::{Model, Representative};
use std::collections::BTreeSet;

/// Up to `limit` distinct reachable states, breadth-first.
fn reachable(model: &BaModel, limit: usize) -> Vec<State> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    let mut queue: std::collections::VecDeque<State> = model.init_states().into();
    let mut actions = Vec::new();
    while let Some(s) = queue.pop_front() {
        if out.len() >= limit {
            break;
        }
        if !seen.insert(hash_of(&s)) {
            continue;
        }
        actions.clear();
        model.actions(&s, &mut actions);
        for a in actions.drain(..) {
            if let Some(n) = model.next_state(&s, a)
                && model.within_boundary(&n)
            {
                queue.push_back(n);
            }
        }
        out.push(s);
    }
    out
}

/// States along `walks` pseudo-random executions (a fixed-seed generator), to
/// reach deep states: later rounds, decisions.
fn walked(model: &BaModel, walks: usize) -> Vec<State> {
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut out = Vec::new();
    let mut actions = Vec::new();
    for _ in 0..walks {
        let mut s = model.init_states().remove(0);
        for _ in 0..80 {
            actions.clear();
            model.actions(&s, &mut actions);
            let next: Vec<State> = actions
                .drain(..)
                .filter_map(|a| model.next_state(&s, a))
                .filter(|n| model.within_boundary(n))
                .collect();
            if next.is_empty() {
                break;
            }
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            s = next[(seed % next.len() as u64) as usize].clone();
            out.push(s.clone());
        }
    }
    out
}

/// Hashes of the successors of `s`, as a set.
fn successors(model: &BaModel, s: &State) -> BTreeSet<u64> {
    let mut actions = Vec::new();
    model.actions(s, &mut actions);
    actions
        .into_iter()
        .filter_map(|a| model.next_state(s, a))
        .map(|n| hash_of(&n))
        .collect()
}

/// Whether renaming by `perm` commutes with the transitions at `s` and keeps the
/// verdicts: succ(π·s) = π·succ(s).
fn commutes(model: &BaModel, s: &State, perm: &[u8]) -> bool {
    let p = plan(perm);
    let renamed = s.renamed(&p);
    let mut actions = Vec::new();
    model.actions(s, &mut actions);
    let expected: BTreeSet<u64> = actions
        .into_iter()
        .filter_map(|a| model.next_state(s, a))
        .map(|n| hash_of(&n.renamed(&p)))
        .collect();
    let properties = model.properties();
    let verdicts = |x: &State| -> Vec<bool> {
        properties
            .iter()
            .map(|prop| (prop.condition)(model, x))
            .collect()
    };
    successors(model, &renamed) == expected && verdicts(s) == verdicts(&renamed)
}

#[test]
fn renaming_interchangeable_nodes_is_sound_and_canonical() {
    let mut decided = false;
    for name in ["mc1-equivocator", "mc4-multi-round"] {
        let cfg = Config::named(name, true).expect("known configuration");
        let classes = cfg.symmetry_classes();
        let perms = classes.permutations();
        assert_eq!(perms.len(), 2, "{name}: nodes 1 and 2 are interchangeable");
        let model = BaModel::new(cfg);
        let mut states = reachable(&model, 1000);
        assert_eq!(states.len(), 1000, "{name}: enough reachable states");
        states.extend(walked(&model, 100));
        decided |= states
            .iter()
            .any(|s| s.nodes.iter().flatten().any(|n| n.decided().is_some()));
        let mut moved = 0;
        for s in &states {
            let rep = s.representative();
            for perm in &perms {
                let renamed = s.renamed(&plan(perm));
                // The same orbit gives the same representative.
                assert_eq!(hash_of(&renamed.representative()), hash_of(&rep), "{name}");
                assert!(commutes(&model, s, perm), "{name}: {s:?}");
            }
            // The representative is a renaming of the state.
            assert!(
                perms
                    .iter()
                    .any(|p| hash_of(&s.renamed(&plan(p))) == hash_of(&rep)),
                "{name}"
            );
            moved += usize::from(hash_of(&rep) != hash_of(s));
        }
        assert!(moved > 0, "{name}: some states are renamed");
    }
    assert!(decided, "the walks reach decisions");
}

#[test]
fn a_proposer_is_not_interchangeable() {
    // Node 0 proposes in mc1: swapping it with node 1 changes what can happen,
    // which the commutation check must notice.
    let cfg = Config::named("mc1-equivocator", true).expect("known configuration");
    let model = BaModel::new(cfg);
    let states = reachable(&model, 300);
    assert!(states.iter().any(|s| !commutes(&model, s, &[1, 0, 2, 3])));
}
