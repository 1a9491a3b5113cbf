//! Symmetry reduction over interchangeable nodes (consensus.md §(b.4), "Symmetry").
//!
//! Two nodes are interchangeable when they have the same weight and the same
//! behaviour in the configuration: both honest or both Byzantine, the same
//! proposer role (value and credential priority) and the same crash allowance.
//! Renaming interchangeable nodes maps a reachable state onto a reachable state
//! with the same verdicts, because `spec`'s machine, vote keeper and invariants
//! use miner ids only as identities (`Machine::renamed`, tested in
//! `spec/tests/machine.rs`).
//!
//! A state's representative is, among all its renamings by the symmetry group
//! (every permutation of nodes within each class), the one with the smallest
//! hash. Every state of an orbit has the same set of renamings, so the choice is
//! canonical (up to hash collisions, which only cost reduction, never soundness:
//! the representative is always a renaming of the state). stateright continues
//! paths with the original state, so counterexample traces stay real executions.
//!
//! The renaming goes through stateright's [`Rewrite`] / [`RewritePlan`] for the
//! model's own types (nodes, messages, budgets) and through `spec`'s `renamed`
//! for the drivers (machine, proposals, cert votes, roster) and the
//! observations. Signatures stay valid under renaming because the model's
//! interchangeable nodes share their keys ([`crate::model`]).

use crate::hashed::{Hashed, hash_of};
use crate::model::{ByVoter, Msg, Node, NodeDriver, State};
use spec::auth::MinerKeys;
use spec::invariants::Observations;
use spec::types::MinerId;
use stateright::util::DenseNatMap;
use stateright::{Representative, Rewrite, RewritePlan};
use std::cell::RefCell;
use std::hash::Hash;

/// Most nodes a configuration may have (the class table is a fixed array).
pub const MAX_NODES: usize = 8;

/// A node index: what the symmetry permutes.
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Nid(pub u8);

impl From<usize> for Nid {
    fn from(i: usize) -> Nid {
        Nid(i as u8)
    }
}

impl From<Nid> for usize {
    fn from(n: Nid) -> usize {
        usize::from(n.0)
    }
}

impl Rewrite<Nid> for Nid {
    fn rewrite<S>(&self, plan: &RewritePlan<Nid, S>) -> Self {
        plan.rewrite(self)
    }
}

/// A permutation of node indices (old index → new index).
pub type Plan = RewritePlan<Nid, DenseNatMap<Nid, Nid>>;

/// The plan of a permutation given as `perm[old] = new`.
pub fn plan(perm: &[u8]) -> Plan {
    let map: DenseNatMap<Nid, Nid> = perm.iter().map(|&p| Nid(p)).collect::<Vec<_>>().into();
    RewritePlan::new(map, |x, m| m.get(*x).copied().unwrap_or(*x))
}

/// The symmetry classes of a configuration: `class[i]` for node i (equal classes
/// are interchangeable), [`Classes::NONE`] past the last node. Part of the state
/// (it is constant), because stateright's representative function sees only the
/// state.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Classes(pub [u8; MAX_NODES]);

impl Classes {
    /// The class of an absent node slot.
    pub const NONE: u8 = u8::MAX;

    /// No symmetry: every node is its own class.
    pub fn trivial(n: usize) -> Classes {
        let mut c = [Self::NONE; MAX_NODES];
        for (i, slot) in c.iter_mut().enumerate().take(n) {
            *slot = i as u8;
        }
        Classes(c)
    }

    /// Classes from one comparable key per node: nodes with equal keys share a class.
    pub fn from_keys<K: PartialEq>(keys: &[K]) -> Classes {
        let mut c = [Self::NONE; MAX_NODES];
        for i in 0..keys.len().min(MAX_NODES) {
            c[i] = (0..i).find(|&j| keys[j] == keys[i]).unwrap_or(i) as u8;
        }
        Classes(c)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.0.iter().take_while(|c| **c != Self::NONE).count()
    }

    /// True when there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Size of the symmetry group (the product of the factorials of the class sizes).
    pub fn group_order(&self) -> usize {
        let n = self.len();
        (0..n)
            .filter(|&i| (0..i).all(|j| self.0[j] != self.0[i]))
            .map(|i| {
                let size = (0..n).filter(|&j| self.0[j] == self.0[i]).count();
                (1..=size).product::<usize>()
            })
            .product()
    }

    /// Every permutation (`perm[old] = new`) that maps each node into its own class,
    /// the identity first.
    pub fn permutations(&self) -> Vec<Vec<u8>> {
        let n = self.len();
        let mut out = vec![(0..n as u8).collect::<Vec<u8>>()];
        for i in 0..n {
            if (0..i).any(|j| self.0[j] == self.0[i]) {
                continue; // class already handled from its first member
            }
            let members: Vec<u8> = (0..n as u8)
                .filter(|&j| self.0[usize::from(j)] == self.0[i])
                .collect();
            if members.len() < 2 {
                continue;
            }
            let arrangements = arrangements(&members);
            let mut next = Vec::with_capacity(out.len() * arrangements.len());
            for base in &out {
                for arr in &arrangements {
                    let mut p = base.clone();
                    for (k, &m) in members.iter().enumerate() {
                        p[usize::from(m)] = arr[k];
                    }
                    next.push(p);
                }
            }
            out = next;
        }
        out
    }
}

/// All orderings of `items`, the given order first.
fn arrangements(items: &[u8]) -> Vec<Vec<u8>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut tail in arrangements(&rest) {
            tail.insert(0, first);
            out.push(tail);
        }
    }
    out
}

/// The miner id renaming of a plan (ids of the model are `MinerId::from_index`).
fn rename_id<S>(plan: &RewritePlan<Nid, S>, id: MinerId) -> MinerId {
    if id.0[..19].iter().any(|b| *b != 0) {
        return id;
    }
    MinerId::from_index(plan.rewrite(&Nid(id.0[19])).0)
}

impl Rewrite<Nid> for Msg {
    fn rewrite<S>(&self, plan: &RewritePlan<Nid, S>) -> Self {
        Msg {
            to: plan.rewrite(&Nid(self.to)).0,
            from: plan.rewrite(&Nid(self.from)).0,
            payload: self.payload,
        }
    }
}

/// A permutation as a number: 4 bits per node index (the cache key of a renaming).
fn perm_code<S>(plan: &RewritePlan<Nid, S>) -> u32 {
    (0..MAX_NODES as u8).fold(0, |acc, k| {
        acc | (u32::from(plan.rewrite(&Nid(k)).0 & 0xf) << (4 * u32::from(k)))
    })
}

/// A direct-mapped cache of renamings. In a depth-first search a state's
/// successors share most machines (and often the observations) with it, so the
/// same renaming of the same value is asked for again and again; a hit costs a
/// pointer comparison instead of a copy, a re-sort and a rehash.
struct RenameCache<T> {
    slots: Vec<Option<CacheEntry<T>>>,
}

/// A permutation code, a value and its renaming by that permutation.
type CacheEntry<T> = (u32, Hashed<T>, Hashed<T>);

const CACHE_SLOTS: usize = 1 << 10;

impl<T: Hash + Clone + PartialEq> RenameCache<T> {
    fn new() -> Self {
        RenameCache {
            slots: vec![None; CACHE_SLOTS],
        }
    }

    /// `rename(value)` for the permutation `code`, from the cache if there.
    fn get(&mut self, code: u32, value: &Hashed<T>, rename: impl FnOnce(&T) -> T) -> Hashed<T> {
        let slot = (value.content_hash() ^ u64::from(code).wrapping_mul(0x9e37_79b9_7f4a_7c15))
            as usize
            % CACHE_SLOTS;
        if let Some((c, original, renamed)) = &self.slots[slot]
            && *c == code
            && original == value
        {
            return renamed.clone();
        }
        let renamed = Hashed::new(rename(value));
        self.slots[slot] = Some((code, value.clone(), renamed.clone()));
        renamed
    }
}

thread_local! {
    static DRIVERS: RefCell<RenameCache<NodeDriver>> = RefCell::new(RenameCache::new());
    static OBSERVATIONS: RefCell<RenameCache<Observations>> = RefCell::new(RenameCache::new());
    static BY_VOTER: RefCell<RenameCache<ByVoter>> = RefCell::new(RenameCache::new());
}

/// A driver renamed by `plan`: miner ids, the sources of held blocks (node
/// indices), and its keys (interchangeable nodes share their key material, so
/// only the identity changes).
fn rename_driver<S>(plan: &RewritePlan<Nid, S>, d: &NodeDriver) -> NodeDriver {
    let rename = |id| rename_id(plan, id);
    let source = |s: u64| match u8::try_from(s) {
        Ok(i) if usize::from(i) < MAX_NODES => u64::from(plan.rewrite(&Nid(i)).0),
        _ => s,
    };
    let keys = d.0.keys().map(|k| MinerKeys {
        id: rename(k.id),
        ..k.clone()
    });
    NodeDriver(d.0.renamed(&rename, &source, keys))
}

impl Rewrite<Nid> for Node {
    fn rewrite<S>(&self, plan: &RewritePlan<Nid, S>) -> Self {
        let code = perm_code(plan);
        let rename = |id| rename_id(plan, id);
        Node {
            driver: self
                .driver
                .as_ref()
                .map(|d| DRIVERS.with_borrow_mut(|c| c.get(code, d, |d| rename_driver(plan, d)))),
            // What a node stores names no other node (interchangeable nodes
            // never propose: their own proposal is empty).
            stored: self.stored.clone(),
            crashes: self.crashes,
            crashed_at: self.crashed_at,
            by_voter: self.by_voter.as_ref().map(|b| {
                BY_VOTER.with_borrow_mut(|c| {
                    c.get(code, b, |b| {
                        b.iter()
                            .map(|((r, id), v)| ((*r, rename(*id)), *v))
                            .collect()
                    })
                })
            }),
            clock: self.clock,
        }
    }
}

impl State {
    /// This state with its nodes renamed by `plan`.
    pub fn renamed(&self, plan: &Plan) -> State {
        let code = perm_code(plan);
        let rename = |id| rename_id(plan, id);
        let mut net: Vec<(Msg, u8)> = self
            .net
            .iter()
            .map(|(m, count)| (m.rewrite(plan), *count))
            .collect();
        net.sort();
        State {
            nodes: plan.reindex(&self.nodes),
            net,
            budget: plan.reindex(&self.budget),
            obs: OBSERVATIONS.with_borrow_mut(|c| c.get(code, &self.obs, |o| o.renamed(&rename))),
            violated: self.violated,
            early: self.early,
            classes: self.classes,
            uncertifiable: self.uncertifiable,
            left_to_sync: self.left_to_sync,
        }
    }
}

/// What each node looks like without naming any other node: invariant under every
/// renaming (`key(π·s)[π(i)] = key(s)[i]`), so sorting interchangeable nodes by it
/// is a canonical first cut. Computed only for the nodes marked in `wanted`.
fn node_keys(s: &State, wanted: &[bool]) -> Vec<u64> {
    // Messages to and from each node, by content (sums: order-free).
    let mut to = [0u64; MAX_NODES];
    let mut from = [0u64; MAX_NODES];
    for (m, count) in &s.net {
        let (t, f) = (usize::from(m.to), usize::from(m.from));
        if wanted[t] || wanted[f] {
            let c = hash_of(&(m.payload, *count));
            to[t] = to[t].wrapping_add(c);
            from[f] = from[f].wrapping_add(c);
        }
    }
    (0..wanted.len())
        .map(|i| {
            if !wanted[i] {
                return 0;
            }
            let node = s.nodes[i].as_ref().map(|n| {
                // What a node stores, its timer and position hold no miner ids.
                let machine = n.driver().map(|d| {
                    let m = d.machine();
                    (
                        m.position(),
                        m.starting_value(),
                        m.decided(),
                        m.cast_votes(),
                        m.keeper().len(),
                        m.keeper().evidence().len(),
                        d.armed_timer().map(|(_, hrs)| hrs),
                        d.held(),
                    )
                });
                (&n.stored, n.crashes, n.crashed_at, machine)
            });
            hash_of(&(s.budget[i], node, to[i], from[i]))
        })
        .collect()
}

fn is_identity(perm: &[u8]) -> bool {
    perm.iter().enumerate().all(|(i, &p)| usize::from(p) == i)
}

impl Representative for State {
    /// The canonical renaming (see the module docs): the members of each class are
    /// sorted by their renaming-invariant [`node_keys`] onto the class's indices;
    /// when keys tie, every assignment of the tied nodes is tried and the renamed
    /// state with the smallest hash wins.
    fn representative(&self) -> Self {
        let n = self.classes.len();
        let class = &self.classes.0[..n];
        let wanted: Vec<bool> = (0..n)
            .map(|i| class.iter().filter(|c| **c == class[i]).count() > 1)
            .collect();
        if !wanted.contains(&true) {
            return self.clone();
        }
        let keys = node_keys(self, &wanted);
        // perm[old] = new. Tied runs: nodes with equal keys in one class.
        let mut perm: Vec<u8> = (0..n as u8).collect();
        let mut ties: Vec<Vec<u8>> = Vec::new();
        for i in 0..n {
            if !wanted[i] || class[..i].contains(&class[i]) {
                continue; // a singleton, or a class handled from its first member
            }
            let members: Vec<usize> = (0..n).filter(|&j| class[j] == class[i]).collect();
            let mut by_key = members.clone();
            by_key.sort_by_key(|&j| (keys[j], j));
            for (&slot, &node) in members.iter().zip(&by_key) {
                perm[node] = slot as u8;
            }
            for run in by_key.chunk_by(|a, b| keys[*a] == keys[*b]) {
                if run.len() > 1 {
                    ties.push(run.iter().map(|&j| j as u8).collect());
                }
            }
        }
        if ties.is_empty() {
            return if is_identity(&perm) {
                self.clone()
            } else {
                self.renamed(&plan(&perm))
            };
        }
        // Every assignment of tied nodes to their run's slots.
        let mut candidates = vec![perm];
        for run in &ties {
            let slots: Vec<u8> = run.iter().map(|&j| candidates[0][usize::from(j)]).collect();
            let mut next = Vec::new();
            for base in &candidates {
                for arr in arrangements(&slots) {
                    let mut p = base.clone();
                    for (&node, &slot) in run.iter().zip(&arr) {
                        p[usize::from(node)] = slot;
                    }
                    next.push(p);
                }
            }
            candidates = next;
        }
        candidates
            .iter()
            .map(|p| {
                let c = if is_identity(p) {
                    self.clone()
                } else {
                    self.renamed(&plan(p))
                };
                (hash_of(&c), c)
            })
            .min_by_key(|(h, _)| *h)
            .map(|(_, c)| c)
            .unwrap_or_else(|| self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_and_permutations() {
        // Nodes 1 and 2 alike, 0 and 3 distinct: the group is {id, (1 2)}.
        let c = Classes::from_keys(&["p", "h", "h", "b"]);
        assert_eq!(c.len(), 4);
        assert_eq!(c.group_order(), 2);
        assert_eq!(c.permutations(), vec![vec![0, 1, 2, 3], vec![0, 2, 1, 3]]);
        // Two classes of two and a class of three: 2 · 2 · 6 = 24 permutations, all
        // distinct and class-preserving.
        let c = Classes::from_keys(&[1, 2, 1, 3, 2, 3, 3]);
        let perms = c.permutations();
        assert_eq!(c.group_order(), 24);
        assert_eq!(perms.len(), 24);
        let mut sorted = perms.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 24);
        for p in &perms {
            for (i, &to) in p.iter().enumerate() {
                assert_eq!(c.0[i], c.0[usize::from(to)]);
            }
        }
        assert_eq!(Classes::trivial(4).group_order(), 1);
        assert_eq!(Classes::trivial(4).permutations().len(), 1);
    }

    #[test]
    fn plan_maps_indices_and_ids() {
        let p = plan(&[0, 2, 1, 3]);
        assert_eq!(p.rewrite(&Nid(1)), Nid(2));
        assert_eq!(p.rewrite(&Nid(3)), Nid(3));
        assert_eq!(
            rename_id(&p, MinerId::from_index(2)),
            MinerId::from_index(1)
        );
        assert_eq!(
            p.reindex(&vec!['a', 'b', 'c', 'd']),
            vec!['a', 'c', 'b', 'd']
        );
    }
}
