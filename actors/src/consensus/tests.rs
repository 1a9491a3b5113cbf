//! In-process clusters of host cores wired by a loop (no sockets, virtual clock,
//! real crypto, real execution over temporary stores).

use std::collections::VecDeque;

use alloy_primitives::{Address, B256, U256};
use rand_core::SeedableRng;
use spec::auth::RealMinerKeys;
use spec::codec::WireMessage;
use spec::crypto::{VoteSigner, VrfProver};
use spec::registration::Registration;
use spec::types::{MinerId, Round, Step, Value};

use super::committee::{Registry, StoreRegistry};
use super::host::{Effect, HostCore, Topic};
use super::keys::{KeySource, MemoryKeys};
use super::params_from_config;
use crate::execution::{
    block::init_genesis,
    chain_config::{ChainConfig, CommitteeMode},
    genesis::Genesis,
    miner::{MINER_CONTRACT, MINER_CONTRACT_CODE, layout::genesis_storage},
    service::{ExecutionService, read_header},
};
use crate::storage::journal::JournalStore;
use crate::storage::{ChainReader, Store};

/// Stake lookback of the test chain: committees of height ≥ 4 are read from a
/// past (non-head) state through the stored tries.
const LOOKBACK: u64 = 2;
const INTERVAL: u64 = 1_000_000;

struct Node {
    host: Option<HostCore<StoreRegistry>>,
    exec: ExecutionService,
    store: ChainReader,
    committed: Vec<(B256, Round)>,
    dir: tempfile::TempDir,
}

/// A chain whose miner contract holds every key's registration (start 1), each
/// miner funded with 1000 coins: the real registry reads them.
fn genesis(keys: &[RealMinerKeys], coinbase: fn(MinerId) -> Address) -> Genesis {
    genesis_in(keys, coinbase, CommitteeMode::Sortition)
}

fn genesis_in(
    keys: &[RealMinerKeys],
    coinbase: fn(MinerId) -> Address,
    mode: CommitteeMode,
) -> Genesis {
    let mut config = ChainConfig::new_chain(4242);
    if let Some(a) = config.algorand.as_mut() {
        a.timeout_two_lambda = 1000;
        a.stake_lookback = LOOKBACK;
        a.interval_size = INTERVAL;
        a.committee_mode = mode;
    }
    let miners: Vec<(Address, Registration)> = keys
        .iter()
        .map(|k| {
            (
                Address::from(k.id.0),
                Registration {
                    start: 1,
                    lifespan: 100,
                    coinbase: coinbase(k.id).0.0,
                    vrf_pk: k.vrf.vrf_public(),
                    vote_pk: k.votes.master_public(),
                },
            )
        })
        .collect();
    let mut alloc: Vec<String> = miners
        .iter()
        .map(|(a, _)| format!(r#""{a}": {{"balance": "1000000000000000000000"}}"#))
        .collect();
    let storage: Vec<String> = genesis_storage(&miners, INTERVAL)
        .into_iter()
        .map(|(k, v)| format!(r#""{}": "{}""#, B256::from(k), B256::from(v)))
        .collect();
    alloc.push(format!(
        r#""{MINER_CONTRACT}": {{"balance": "0", "code": "0x{}", "storage": {{{}}}}}"#,
        alloy_primitives::hex::encode(MINER_CONTRACT_CODE),
        storage.join(",")
    ));
    let text = format!(
        r#"{{"config": {}, "gasLimit": "0x3c14dc0", "seed": "0x{}", "alloc": {{{}}}}}"#,
        serde_json::to_string(&config).unwrap_or_default(),
        "11".repeat(32),
        alloc.join(",")
    );
    Genesis::from_json(&text).expect("genesis")
}

/// A registered coinbase that is the miner itself (rewards add to its stake).
fn own_address(id: MinerId) -> Address {
    Address::from(id.0)
}

/// A registered coinbase of its own, so a test sees rewards go to the
/// registration's coinbase, not to the miner.
fn coinbase_of(id: MinerId) -> Address {
    let mut a = id.0;
    a[0] ^= 0xc0;
    Address::from(a)
}

fn keys(n: u8) -> Vec<RealMinerKeys> {
    let mut rng = rand_chacha::ChaCha20Rng::from_seed([5; 32]);
    (0..n)
        .map(|i| {
            RealMinerKeys::generate(&mut rng, MinerId::from_index(i + 1), 4242, 1, 300, 100)
                .expect("keys")
        })
        .collect()
}

fn start_host(
    dir: &std::path::Path,
    g: &Genesis,
    store: &ChainReader,
    exec: &ExecutionService,
    key: RealMinerKeys,
    now: u64,
) -> (HostCore<StoreRegistry>, Vec<Effect>) {
    let journal = JournalStore::open(&dir.join("consensus.redb")).expect("journal");
    let registry = StoreRegistry::new(store.clone(), INTERVAL, LOOKBACK);
    let (_, head) = exec.head();
    let keys: Box<dyn KeySource> = Box::new(MemoryKeys::new(key, 100));
    HostCore::start(
        params_from_config(&g.config),
        Some(keys),
        registry,
        journal,
        head.clone(),
        now,
    )
    .expect("host")
}

type Cluster = (Vec<Node>, Vec<(usize, Effect)>, Genesis);

fn cluster(n: u8) -> Cluster {
    cluster_paying(n, own_address)
}

/// A cluster whose miners registered `coinbase(id)` as their reward address.
fn cluster_paying(n: u8, coinbase: fn(MinerId) -> Address) -> Cluster {
    let ks = keys(n);
    let g = genesis(&ks, coinbase);
    cluster_of(ks, g)
}

/// A cluster of a fixed committee: any three of four miners hold a quorum.
fn cluster_fixed(n: u8) -> Cluster {
    let ks = keys(n);
    let g = genesis_in(&ks, own_address, CommitteeMode::Fixed);
    cluster_of(ks, g)
}

fn cluster_of(ks: Vec<RealMinerKeys>, g: Genesis) -> Cluster {
    let mut nodes = Vec::new();
    let mut queue = Vec::new();
    for (i, key) in ks.into_iter().enumerate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("chain.redb")).expect("store");
        init_genesis(&store, &g).expect("genesis");
        let exec = ExecutionService::new(store, g.config.clone()).expect("exec");
        let store = exec.store().reader();
        let (host, effects) = start_host(dir.path(), &g, &store, &exec, key, 0);
        queue.extend(effects.into_iter().map(|e| (i, e)));
        nodes.push(Node {
            host: Some(host),
            exec,
            store,
            committed: Vec::new(),
            dir,
        });
    }
    (nodes, queue, g)
}

/// Delivers effects (broadcasts to every other node) and fires timers on a
/// virtual clock until `done` holds or `max_ms` passes. Returns the clock.
fn run(
    nodes: &mut [Node],
    pending: Vec<(usize, Effect)>,
    now: u64,
    max_ms: u64,
    done: impl Fn(&[Node]) -> bool,
) -> u64 {
    run_keeping(nodes, pending, now, max_ms, done).0
}

/// [`run`], also returning the effects not yet delivered when `done` held.
fn run_keeping(
    nodes: &mut [Node],
    pending: Vec<(usize, Effect)>,
    now: u64,
    max_ms: u64,
    done: impl Fn(&[Node]) -> bool,
) -> (u64, Vec<(usize, Effect)>) {
    run_attacked(nodes, pending, now, max_ms, done, |_, _, _| Vec::new())
}

fn dispatch(nodes: &mut [Node], i: usize, effect: Effect, now: u64) -> Vec<(usize, Effect)> {
    let mut out = Vec::new();
    match effect {
        Effect::Broadcast(topic, bytes) => {
            for (j, n) in nodes.iter_mut().enumerate() {
                if j == i {
                    continue;
                }
                if let Some(h) = n.host.as_mut() {
                    let (_, effects) = h.on_wire(topic, &bytes, now);
                    out.extend(effects.into_iter().map(|e| (j, e)));
                }
            }
        }
        Effect::Build {
            height,
            round,
            request,
        } => {
            let n = &mut nodes[i];
            let block = n.exec.build(&request).expect("build");
            if let Some(h) = n.host.as_mut() {
                let effects = h.on_built(height, round, block, now).expect("built");
                out.extend(effects.into_iter().map(|e| (i, e)));
            }
        }
        Effect::Validate(block) => {
            let n = &mut nodes[i];
            let (hash, ok) = match n.exec.validate_proposed(&block) {
                Ok(h) => (h, true),
                Err(_) => (block.header.hash(), false),
            };
            if let Some(h) = n.host.as_mut() {
                let effects = h.on_validated(hash, ok, now).expect("validated");
                out.extend(effects.into_iter().map(|e| (i, e)));
            }
        }
        Effect::Commit {
            hash,
            certificate,
            round,
        } => {
            let n = &mut nodes[i];
            n.exec.commit(hash, &certificate).expect("commit");
            n.committed.push((hash, round));
            let (head, header) = n.exec.head();
            assert_eq!(head.hash, hash);
            let header = header.clone();
            if let Some(h) = n.host.as_mut() {
                let effects = h.on_committed(header, now).expect("committed");
                out.extend(effects.into_iter().map(|e| (i, e)));
            }
        }
        Effect::Evidence(e) => panic!("honest nodes equivocated: {e:?}"),
        Effect::EquivocationProof(p) => panic!("honest nodes equivocated: {p:?}"),
    }
    out
}

/// A miner asks execution for its new block λ into the round (spec's assembly
/// delay), with spec's build budget, and not when the round starts; the
/// deferred request is not counted as a step timer.
#[test]
fn a_new_block_is_asked_for_lambda_into_the_round() {
    let (mut nodes, queue, _) = cluster(1);
    assert!(
        !queue.iter().any(|(_, e)| matches!(e, Effect::Build { .. })),
        "asked to build when the round started"
    );
    let host = nodes[0].host.as_mut().expect("host");
    let params = *host.params();
    let at = params.assembly_delay_ms(1);
    let filter = params.timeout_ms(1, Step::PROPOSAL);
    assert!(at > 0 && at < filter);
    assert_eq!(host.next_deadline(), Some(at));
    assert_eq!(host.due_step_timers(at), 0);
    let effects = host.on_timer(at).expect("timer");
    let builds: Vec<_> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::Build {
                height,
                round,
                request,
            } => Some((*height, *round, request.budget)),
            _ => None,
        })
        .collect();
    let budget = std::time::Duration::from_millis(params.build_budget_ms(1));
    assert_eq!(builds, vec![(1, 1, budget)]);
    // The filter timer still ends the proposal step at 2λ.
    assert_eq!(host.next_deadline(), Some(filter));
    assert_eq!(host.due_step_timers(filter), 1);
}

#[test]
fn single_host_commits_one_block_per_two_lambda() {
    let (mut nodes, queue, _) = cluster(1);
    let now = run(&mut nodes, queue, 0, 60_000, |n| n[0].committed.len() >= 5);
    assert_eq!(nodes[0].committed.len(), 5);
    assert!(nodes[0].committed.iter().all(|(_, r)| *r == 1));
    // One proposal timeout (2λ) per height, nothing else waits.
    assert_eq!(now, 5 * 1000, "virtual ms for 5 blocks");
    // The stored certificate verifies as a certificate of the stored header.
    let cert = nodes[0].exec.certificate(3).expect("read").expect("cert");
    assert!(matches!(
        spec::codec::WireMessage::decode(&cert),
        Ok(spec::codec::WireMessage::Certificate(c)) if c.height == 3
    ));
}

#[test]
fn four_hosts_commit_the_same_blocks() {
    let (mut nodes, queue, _) = cluster_paying(4, coinbase_of);
    run(&mut nodes, queue, 0, 120_000, |n| {
        n.iter().all(|x| x.committed.len() >= 4)
    });
    for n in &nodes {
        assert!(n.committed.len() >= 4, "committed {}", n.committed.len());
    }
    for h in 0..4 {
        let first = nodes[0].committed[h].0;
        assert!(
            nodes.iter().all(|n| n.committed[h].0 == first),
            "height {h}"
        );
    }
    // Every block pays its proposer's registered coinbase.
    let miners: Vec<Address> = keys(4).iter().map(|k| coinbase_of(k.id)).collect();
    for number in 1..=4 {
        let header = read_header(&nodes[0].store, number).expect("header");
        assert_eq!(
            header.eth.beneficiary,
            coinbase_of(MinerId(header.proposer.0.0)),
            "block {number}"
        );
        assert!(miners.contains(&header.eth.beneficiary));
    }
}

#[test]
fn restarted_host_never_casts_a_different_vote() {
    let (mut nodes, queue, g) = cluster(1);
    let now = run(&mut nodes, queue, 0, 60_000, |n| n[0].committed.len() >= 2);
    // Advance into height 3 until the soft vote is cast, then crash.
    let now = run(&mut nodes, Vec::new(), now, 60_000, |n| {
        n[0].host
            .as_ref()
            .is_some_and(|h| !h.machine().cast_votes().is_empty())
    });
    let before: Vec<(Round, Step, Value)> = nodes[0]
        .host
        .as_ref()
        .map(|h| h.machine().cast_votes().to_vec())
        .unwrap_or_default();
    assert!(!before.is_empty());
    nodes[0].host = None; // crash: drops the journal handle
    let key = keys(1).pop().expect("key");
    let n0 = &nodes[0];
    let (host, effects) = start_host(n0.dir.path(), &g, &n0.store, &n0.exec, key, now);
    assert_eq!(host.height(), 3);
    assert_eq!(host.machine().cast_votes(), before.as_slice());
    nodes[0].host = Some(host);
    let queue = effects.into_iter().map(|e| (0, e)).collect();
    run(&mut nodes, queue, now, 60_000, |n| {
        n[0].committed.len() >= 4
    });
    assert_eq!(nodes[0].committed.len(), 4);
    let (head, _) = nodes[0].exec.head();
    assert_eq!(head.number, 4);
    assert!(
        read_header(
            &Store::open(&nodes[0].dir.path().join("other.redb")).expect("store"),
            0
        )
        .is_err()
    );
}

/// The own-vote log holds every vote and proposal the host signed, and a host
/// about to sign a vote that differs from what the log holds for its (height,
/// round, step) stops with an error instead of sending it.
#[test]
fn own_vote_log_records_signed_votes_and_the_host_abstains_where_it_signed_before() {
    use crate::storage::journal::{OwnMessage, Pending};
    let (mut nodes, queue, g) = cluster(1);
    let mut now = run(&mut nodes, queue, 0, 60_000, |n| n[0].committed.len() >= 2);
    // Height 3's block is never built (every effect is dropped), so round 1 cannot
    // decide: the lone miner soft-votes nothing and next-votes the empty value.
    let host = nodes[0].host.as_mut().expect("host");
    while host.machine().cast_votes().is_empty() {
        now = host.next_deadline().expect("a pending timer");
        host.on_timer(now).expect("timer");
    }
    let cast = nodes[0]
        .host
        .as_ref()
        .map(|h| h.machine().cast_votes().to_vec())
        .unwrap_or_default();
    nodes[0].host = None; // crash
    let path = nodes[0].dir.path().join("consensus.redb");
    let journal = JournalStore::open(&path).expect("journal");
    let logged = journal.own_messages(1, 3).expect("log");
    // Heights 1 and 2: a proposal, a soft and a cert vote each; height 3 so far:
    // the proposal and every vote the machine cast.
    for h in 1..=2 {
        let steps: Vec<Step> = logged
            .iter()
            .filter(|m| m.height == h)
            .map(|m| m.step)
            .collect();
        assert_eq!(
            steps,
            vec![Step::PROPOSAL, Step::SOFT, Step::CERT],
            "height {h}"
        );
    }
    for (r, s, v) in &cast {
        assert!(
            logged
                .iter()
                .any(|m| m.height == 3 && (m.round, m.step, m.value) == (*r, *s, *v)),
            "vote {r}/{s} not logged: {logged:?}"
        );
    }
    for m in &logged {
        let wire = spec::codec::WireMessage::decode(&m.wire).expect("wire");
        match wire {
            spec::codec::WireMessage::Vote(v) => {
                assert_eq!(
                    (v.height, v.round, v.step, v.value),
                    (m.height, m.round, m.step, m.value)
                );
            }
            spec::codec::WireMessage::Proposal(p) => {
                assert_eq!((p.height, p.round, p.value), (m.height, m.round, m.value));
                assert_eq!(m.step, Step::PROPOSAL);
            }
            other => panic!("unexpected message in the log: {other:?}"),
        }
    }
    // Plant different messages for every other (round, step) of height 3 (as if
    // signed before): whatever the host signs next there conflicts.
    let planted = Value([0xee; 32]);
    let taken: Vec<(Round, Step)> = logged
        .iter()
        .filter(|m| m.height == 3)
        .map(|m| (m.round, m.step))
        .collect();
    let messages = (1..=3)
        .flat_map(|round| (1..=20).map(move |step| (round, Step(step))))
        .filter(|rs| !taken.contains(rs))
        .map(|(round, step)| OwnMessage {
            height: 3,
            round,
            step,
            value: planted,
            wire: Vec::new(),
        })
        .collect();
    journal
        .commit(&Pending {
            messages,
            ..Pending::default()
        })
        .expect("plant");
    drop(journal);
    let key = keys(1).pop().expect("key");
    let n0 = &nodes[0];
    let (mut host, _) = start_host(n0.dir.path(), &g, &n0.store, &n0.exec, key, now);
    // The host abstains wherever it signed another value before (no error, no
    // second vote), and votes again once it reaches a slot it never signed.
    let planted_slot = |h: u64, r: Round, st: Step| {
        h == 3 && r <= 3 && (1..=20).contains(&st.0) && !taken.contains(&(r, st))
    };
    let mut voted_on = false;
    for _ in 0..200 {
        let Some(t) = host.next_deadline() else { break };
        let fx = host.on_timer(t).expect("abstaining is not an error");
        for e in fx {
            if let Effect::Broadcast(_, bytes) = e
                && let spec::codec::WireMessage::Vote(v) =
                    spec::codec::WireMessage::decode(&bytes).expect("wire")
            {
                assert!(
                    !planted_slot(v.height, v.round, v.step),
                    "a second vote left the node: {v:?}"
                );
                if v.height == 3 && taken.contains(&(v.round, v.step)) {
                    assert!(cast.contains(&(v.round, v.step, v.value)), "new vote sent");
                } else {
                    voted_on = true;
                }
            }
        }
        if voted_on {
            break;
        }
    }
    assert!(
        voted_on,
        "the host never voted again after the planted slots"
    );
    drop(host);
    let journal = JournalStore::open(&path).expect("journal");
    for m in journal.own_messages(3, 3).expect("log") {
        if planted_slot(m.height, m.round, m.step) {
            assert_eq!(m.value, planted, "a second value was logged: {m:?}");
        }
    }
}

/// A lone miner killed after its own cert vote but before the commit: on restart
/// its journal still holds its proposal and block, so it commits that very block
/// (before the fix it had lost them and could never finish the height).
#[test]
fn lone_miner_crashed_between_cert_vote_and_commit_finishes_the_height() {
    let (mut nodes, queue, g) = cluster(1);
    let now = run(&mut nodes, queue, 0, 60_000, |n| n[0].committed.len() >= 2);
    let now = run(&mut nodes, Vec::new(), now, 60_000, |n| {
        n[0].host.as_ref().is_some_and(|h| {
            h.machine()
                .cast_votes()
                .iter()
                .any(|(_, s, _)| *s == Step::CERT)
        })
    });
    let certified = nodes[0]
        .host
        .as_ref()
        .and_then(|h| {
            h.machine()
                .cast_votes()
                .iter()
                .find(|(_, s, _)| *s == Step::CERT)
                .map(|(_, _, v)| *v)
        })
        .expect("cert vote");
    assert_eq!(nodes[0].committed.len(), 2, "crash before the commit");
    // Crash: the host, its in-memory proposals and blocks and the queued commit
    // are gone. (The execution service is kept; the black-box single-miner test
    // restarts the whole process.)
    nodes[0].host = None;
    let key = keys(1).pop().expect("key");
    let n0 = &nodes[0];
    let (host, effects) = start_host(n0.dir.path(), &g, &n0.store, &n0.exec, key, now);
    assert_eq!(host.height(), 3);
    nodes[0].host = Some(host);
    let queue = effects.into_iter().map(|e| (0, e)).collect();
    run(&mut nodes, queue, now, 60_000, |n| {
        n[0].committed.len() >= 3
    });
    assert_eq!(nodes[0].committed.len(), 3);
    assert_eq!(nodes[0].committed[2].0, B256::from(certified.0));
}

/// A host restored from its journal holds the values it soft-certified as
/// valid, but not their blocks or proposals. When the cert votes of such a
/// value arrive it decides it, cannot certify a block it never received, and
/// leaves the height to sync: a warning, not a stop (consensus errors are fatal).
#[test]
fn a_restored_host_deciding_a_block_it_never_received_waits_for_sync() {
    let (mut nodes, queue, g) = cluster_fixed(4);
    let now = run(&mut nodes, queue, 0, 60_000, |n| {
        n.iter().all(|x| x.committed.len() >= 2)
    });
    let cert_voted = |n: &[Node]| {
        n[3].host.as_ref().and_then(|h| {
            h.machine()
                .cast_votes()
                .iter()
                .find(|(_, s, _)| *s == Step::CERT)
                .map(|(_, _, v)| *v)
        })
    };
    let (now, in_flight) = run_keeping(&mut nodes, Vec::new(), now, 60_000, |n| {
        cert_voted(n).is_some()
    });
    let certified = cert_voted(&nodes).expect("node3 cert-voted at height 3");
    // Node 3 crashes (what it had queued is lost); the other three (3/4 > 2/3)
    // commit height 3 without it.
    nodes[3].host = None;
    let in_flight = in_flight.into_iter().filter(|(i, _)| *i != 3).collect();
    let now = run(&mut nodes, in_flight, now, 60_000, |n| {
        n[..3].iter().all(|x| x.committed.len() >= 3)
    });
    let lens: Vec<usize> = nodes.iter().map(|x| x.committed.len()).collect();
    assert_eq!(
        lens[..3],
        [3, 3, 3],
        "the other three did not commit height 3 ({lens:?}, t = {now})"
    );
    let bytes = nodes[0]
        .exec
        .certificate(3)
        .expect("read")
        .expect("certificate of block 3");
    let Ok(WireMessage::Certificate(cert)) = WireMessage::decode(&bytes) else {
        panic!("stored certificate does not decode");
    };
    assert_eq!(cert.value, certified, "the others committed another value");
    let key = keys(4).pop().expect("key");
    assert_ne!(
        cert.proposal.proposer, key.id,
        "node3 proposed the block: its own proposal is reloaded"
    );
    let n3 = &nodes[3];
    let (mut host, _) = start_host(n3.dir.path(), &g, &n3.store, &n3.exec, key, now);
    assert_eq!(host.height(), 3);
    let mut effects = Vec::new();
    for cv in &cert.votes {
        let wire = WireMessage::Vote(cert.vote(cv)).encode();
        let (_, more) = host.on_wire(Topic::Votes, &wire, now);
        effects.extend(more);
    }
    assert!(host.machine().decided().is_some(), "the cert votes decided");
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::Commit { .. })),
        "a commit without the block"
    );
    assert!(host.take_failure().is_none(), "consensus stopped");
    assert_eq!(host.height(), 3, "still at height 3, for sync to finish");
}

/// The registry reads a past block's state through the stored tries: the total
/// stake it reads for height `s + 1 + L` from block `s` equals the total block
/// execution wrote into header `s` at the time, and the stakes change from block
/// to block (the proposer is paid), so a read of the wrong state would differ.
#[test]
fn registry_reads_the_sampled_past_state_not_the_head() {
    use crate::execution::miner::snapshot::registry_snapshot;
    use crate::execution::state::StateReader;
    use crate::storage::state_at::StateAt;

    let (mut nodes, queue, _) = cluster(1);
    run(&mut nodes, queue, 0, 60_000, |n| n[0].committed.len() >= 6);
    let n0 = &nodes[0];
    let (head, head_header) = n0.exec.head();
    assert_eq!(head.number, 6);
    let registry = StoreRegistry::new(n0.store.clone(), INTERVAL, LOOKBACK);
    let mut totals = Vec::new();
    for s in 1..=head.number {
        let h = s + 1 + LOOKBACK;
        let (sample, header, snap) = registry.snapshot(h, head_header).expect("snapshot");
        assert_eq!(sample, s);
        assert_eq!(header.total_balance_of_miners, U256::from(snap.total_stake));
        totals.push(snap.total_stake);
    }
    totals.dedup();
    assert_eq!(
        totals.len(),
        head.number as usize,
        "stake grows every block"
    );
    // The committee of the next height is the one the host uses; the head's flat
    // tables and its tries agree.
    let next = registry
        .committee(head.number + 1, head_header)
        .expect("committee");
    assert_eq!(next.seed, head_header.seed.0);
    let state = n0.store.state().expect("state");
    let flat = registry_snapshot(&state, 9, INTERVAL).expect("flat");
    let root = state.state_root().expect("root");
    let tries = registry_snapshot(&StateAt::open(&state, root).expect("open"), 9, INTERVAL);
    assert_eq!(tries.expect("tries"), flat);
    assert_eq!(flat.miners.len(), 1);
}

/// Catch-up sync, consensus side: a fresh node takes the committed blocks of
/// another, each with its stored certificate, verifies each against the committee
/// of its parent (`verify_synced`), executes and commits it. A tampered
/// certificate, a certificate of another block and a block that is not next are
/// refused; only the first two blame the peer.
#[test]
fn synced_blocks_verify_against_the_parent_committee_and_forgeries_are_refused() {
    use super::synced_block::{SyncError, verify_synced};
    use crate::consensus::host::encode_block_parts;
    use spec::certificate::CertError;

    let (mut nodes, queue, g) = cluster(4);
    run(&mut nodes, queue, 0, 120_000, |n| n[0].committed.len() >= 3);
    let served = nodes[0]
        .exec
        .blocks_with_certificates(1, 3, usize::MAX)
        .expect("read");
    assert_eq!(served.len(), 3);
    let blocks: Vec<(Vec<u8>, Vec<u8>)> = served
        .iter()
        .map(|b| {
            (
                encode_block_parts(&b.header, &b.body),
                b.certificate.clone(),
            )
        })
        .collect();

    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(&dir.path().join("chain.redb")).expect("store");
    init_genesis(&store, &g).expect("genesis");
    let mut exec = ExecutionService::new(store, g.config.clone()).expect("exec");
    let journal = JournalStore::open(&dir.path().join("consensus.redb")).expect("journal");
    let registry = StoreRegistry::new(exec.store().reader(), INTERVAL, LOOKBACK);
    let (_, head) = exec.head();
    let (mut host, _) = HostCore::start(
        params_from_config(&g.config),
        None,
        registry,
        journal,
        head.clone(),
        0,
    )
    .expect("observer host");

    // Block 2 before block 1: not next, not the peer's fault.
    let e = verify_synced(&host, &blocks[1].0, &blocks[1].1).expect_err("not next");
    assert_eq!(
        e,
        SyncError::NotNext {
            number: 2,
            expected: 1
        }
    );
    assert!(!e.is_invalid());
    // Block 1 with block 2's certificate.
    let e = verify_synced(&host, &blocks[0].0, &blocks[1].1).expect_err("other cert");
    assert!(matches!(
        e,
        SyncError::Certificate(CertError::WrongValue { .. })
    ));
    assert!(e.is_invalid());
    // Block 1 with one byte of a vote signature flipped.
    let mut forged = blocks[0].1.clone();
    let at = forged.len() - 10;
    forged[at] ^= 1;
    let e = verify_synced(&host, &blocks[0].0, &forged).expect_err("forged");
    assert!(e.is_invalid(), "{e}");
    // Garbage.
    assert_eq!(
        verify_synced(&host, &[1, 2, 3], &blocks[0].1),
        Err(SyncError::BadBlock)
    );

    for (i, (block, cert)) in blocks.iter().enumerate() {
        let (b, round) = verify_synced(&host, block, cert).expect("verifies");
        assert_eq!(b.header.number(), i as u64 + 1);
        assert!(round >= 1);
        let hash = exec.validate(&b).expect("executes");
        exec.commit(hash, cert).expect("commits");
        let (_, header) = exec.head();
        host.on_committed(header.clone(), 0).expect("next height");
        assert_eq!(hash, nodes[0].committed[i].0);
    }
    assert_eq!(host.height(), 4);
}

/// Node 0 of a two-node cluster, and node 1's signed votes for `values` at
/// (node 0's height, round 1, `step`), wire-encoded: an equivocating voter.
struct EquivocatingVotes {
    node: Node,
    voter: MinerId,
    hrs: spec::types::Hrs,
    votes: Vec<Vec<u8>>,
}

fn equivocating_votes(step: Step, values: &[u8]) -> EquivocatingVotes {
    let (mut nodes, _, _) = cluster(2);
    let other = keys(2).pop().expect("key");
    let node = nodes.remove(0);
    let host = node.host.as_ref().expect("host");
    let c = host.committee();
    let rec = c.record(&other.id).expect("registered");
    let hrs = spec::types::Hrs::new(host.height(), 1, step);
    let votes = values
        .iter()
        .map(|&v| {
            let vote = other
                .cast_vote(
                    host.params(),
                    hrs,
                    Value([v; 32]),
                    &c.seed,
                    rec.stake,
                    c.total_stake,
                )
                .expect("sign")
                .expect("a fixed committee member always has a seat");
            WireMessage::Vote(vote).encode()
        })
        .collect();
    EquivocatingVotes {
        node,
        voter: other.id,
        hrs,
        votes,
    }
}

/// Starts a consensus actor on `host` (handing proofs to `proofs`, if given)
/// and delivers `votes` to it in one batch, as gossip does; its metrics and
/// the verdicts.
fn deliver_votes(
    host: HostCore<StoreRegistry>,
    exec: ExecutionService,
    votes: Vec<Vec<u8>>,
    proofs: Option<tokio::sync::mpsc::Sender<crate::runtime::EquivocationProof>>,
) -> (
    std::sync::Arc<crate::metrics::Metrics>,
    Vec<crate::gossip::Verdict>,
) {
    use crate::gossip::actor::ConsensusInbound;
    use crate::runtime::{ConsensusActor, ExecutionActor};
    use actix::Actor;

    actix::System::new().block_on(async move {
        let exec = ExecutionActor::new(exec).start();
        let mut actor = ConsensusActor::new(host, Vec::new(), exec, std::time::Instant::now());
        if let Some(sink) = proofs {
            actor = actor.with_equivocation_proofs(sink);
        }
        let metrics = actor.metrics().clone();
        let addr = actor.start();
        let msgs = votes
            .into_iter()
            .map(|v| (super::host::Topic::Votes, v, 1))
            .collect();
        let verdicts = addr.send(ConsensusInbound(msgs)).await.expect("mailbox");
        (metrics, verdicts)
    })
}

/// A voter's two different votes for one (height, round, step), as gossip hands
/// them to the consensus actor: the host reports the evidence and the actor
/// counts it (`kalgo_equivocations_total`).
#[test]
fn equivocation_evidence_is_counted_by_the_consensus_actor() {
    let e = equivocating_votes(Step::SOFT, &[1, 2]);
    let host = e.node.host.expect("host");
    let (metrics, verdicts) = deliver_votes(host, e.node.exec, e.votes, None);
    assert_eq!(verdicts.len(), 2);
    assert_eq!(
        metrics
            .equivocations
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    assert!(metrics.render().contains("kalgo_equivocations_total 1\n"));
    // Both are soft votes received from the network.
    assert_eq!(metrics.votes_received_by_step.values(), [0, 2, 0, 0]);
    drop(e.node.dir);
}

/// With `--miner.reportequivocation` the actor also hands its reporter the
/// two signed votes, once per voter and (round, step): a third value of the
/// same voter makes no second proof. The proof is what the miner contract
/// accepts (`spec::evidence::check_equivocation` against the voter's key).
#[test]
fn an_equivocation_proof_reaches_the_reporter_once() {
    let e = equivocating_votes(Step::CERT, &[1, 2, 3]);
    let host = e.node.host.expect("host");
    let params = *host.params();
    let committee = host.committee().clone();
    let (sink, mut proofs) = tokio::sync::mpsc::channel(8);
    let (metrics, _) = deliver_votes(host, e.node.exec, e.votes.clone(), Some(sink));
    let mut got = Vec::new();
    while let Ok(p) = proofs.try_recv() {
        got.push(p);
    }
    assert_eq!(got.len(), 1, "one proof per voter and (round, step)");
    let p = &got[0];
    assert_eq!(p.voter, Address::from(e.voter.0));
    assert_eq!(p.height, e.hrs.height);
    assert_eq!((&p.first, &p.second), (&e.votes[0], &e.votes[1]));
    let offence = spec::evidence::check_equivocation(
        &spec::crypto::real::Ed25519FsVerifier,
        &params,
        &p.first,
        &p.second,
        |id, _| committee.record(id).map(|r| r.vote_master_pk),
    )
    .expect("the contract's check accepts the proof");
    assert_eq!((offence.voter, offence.hrs), (e.voter, e.hrs));
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(load(&metrics.equivocation_proofs), 1);
    assert!(
        load(&metrics.equivocations) >= 1,
        "the evidence is counted too"
    );
    drop(e.node.dir);
}

/// [`run_keeping`] with an attacker: after each effect is delivered, `attack`
/// may answer with messages the attacker broadcasts at once (to every host),
/// before anything else is delivered.
fn run_attacked(
    nodes: &mut [Node],
    pending: Vec<(usize, Effect)>,
    mut now: u64,
    max_ms: u64,
    done: impl Fn(&[Node]) -> bool,
    mut attack: impl FnMut(&[Node], usize, &Effect) -> Vec<(Topic, Vec<u8>)>,
) -> (u64, Vec<(usize, Effect)>) {
    let mut queue: VecDeque<(usize, Effect)> = pending.into();
    let end = now + max_ms;
    while !done(nodes) && now < end {
        while let Some((i, effect)) = queue.pop_front() {
            let injected = attack(nodes, i, &effect);
            queue.extend(dispatch(nodes, i, effect, now));
            for (topic, bytes) in injected {
                for (j, n) in nodes.iter_mut().enumerate() {
                    if let Some(h) = n.host.as_mut() {
                        let (_, effects) = h.on_wire(topic, &bytes, now);
                        queue.extend(effects.into_iter().map(|e| (j, e)));
                    }
                }
            }
            if done(nodes) {
                return (now, queue.into());
            }
        }
        let Some(next) = nodes
            .iter()
            .filter_map(|n| n.host.as_ref()?.next_deadline())
            .min()
        else {
            break;
        };
        now = now.max(next);
        for (i, n) in nodes.iter_mut().enumerate() {
            if let Some(h) = n.host.as_mut() {
                queue.extend(h.on_timer(now).expect("timer").into_iter().map(|e| (i, e)));
            }
        }
    }
    (now, queue.into())
}

/// The proposal a broadcast carries, if it is one.
fn proposal_of(effect: &Effect) -> Option<spec::codec::ProposalMsg> {
    match effect {
        Effect::Broadcast(Topic::Proposals, bytes) => match WireMessage::decode(bytes) {
            Ok(WireMessage::Proposal(p)) => Some(p),
            _ => None,
        },
        _ => None,
    }
}

fn same_chain(nodes: &[Node], honest: usize, heights: usize) {
    for n in &nodes[..honest] {
        assert!(
            n.committed.len() >= heights,
            "an honest node committed only {} heights",
            n.committed.len()
        );
        let hashes: Vec<B256> = n.committed.iter().map(|(h, _)| *h).take(heights).collect();
        let first: Vec<B256> = nodes[0]
            .committed
            .iter()
            .map(|(h, _)| *h)
            .take(heights)
            .collect();
        assert_eq!(hashes, first, "fork");
    }
}

/// Attack 1 (a Byzantine committee member): with every proposal, node 3
/// cert-votes the empty value and then the leader's value. The keeper counts
/// its vote for the leader's value; a host that kept the first cert vote per
/// voter found only the empty one when assembling the certificate and halted
/// for good. Honest nodes must keep committing.
#[test]
fn a_member_cert_voting_empty_then_the_leaders_value_cannot_halt_the_chain() {
    let (mut nodes, queue, _) = cluster_fixed(4);
    let attacker = keys(4).pop().expect("node 3's keys");
    nodes[3].host = None;
    let queue: Vec<_> = queue.into_iter().filter(|(i, _)| *i != 3).collect();
    let mut sent = std::collections::BTreeSet::new();
    run_attacked(
        &mut nodes,
        queue,
        0,
        60_000,
        |n| n[..3].iter().all(|n| n.committed.len() >= 3),
        |nodes, i, effect| {
            let Some(p) = proposal_of(effect) else {
                return Vec::new();
            };
            let Some(host) = nodes[i].host.as_ref() else {
                return Vec::new();
            };
            if host.height() != p.height || !sent.insert((p.height, p.round)) {
                return Vec::new();
            }
            let c = host.committee();
            let rec = c.record(&attacker.id).expect("registered");
            let empty = Value::empty(Value(host.parent().hash().0), p.height);
            let hrs = spec::types::Hrs::new(p.height, p.round, Step::CERT);
            [empty, p.value]
                .into_iter()
                .map(|value| {
                    let vote = attacker
                        .cast_vote(host.params(), hrs, value, &c.seed, rec.stake, c.total_stake)
                        .expect("sign")
                        .expect("a fixed committee member always has a seat");
                    (Topic::Votes, WireMessage::Vote(vote).encode())
                })
                .collect()
        },
    );
    same_chain(&nodes, 3, 3);
}

/// Attack 2 (any peer, no stake): with every proposal, a peer floods 80 junk
/// blocks for the current height and 80 for the next one. A host that stored
/// blocks first-come in a 64-slot map never kept the leader's block again, and
/// every round of the height failed. Honest nodes must keep committing.
#[test]
fn a_flood_of_junk_blocks_cannot_halt_the_chain() {
    use crate::consensus::host::encode_block;
    use crate::execution::{block::Block, header::KalgoHeader};

    let (mut nodes, queue, _) = cluster(4);
    let mut junk = 0u64;
    run_attacked(
        &mut nodes,
        queue,
        0,
        60_000,
        |n| n.iter().all(|n| n.committed.len() >= 3),
        |nodes, i, effect| {
            let Some(p) = proposal_of(effect) else {
                return Vec::new();
            };
            let Some(host) = nodes[i].host.as_ref() else {
                return Vec::new();
            };
            let parent = host.parent().hash();
            (0..160)
                .map(|k| {
                    junk += 1;
                    let mut header = KalgoHeader::default();
                    header.eth.number = p.height + k / 80;
                    header.eth.parent_hash = parent;
                    header.eth.nonce = junk.to_be_bytes().into();
                    let block = Block {
                        header,
                        transactions: Vec::new(),
                    };
                    (Topic::Blocks, encode_block(&block))
                })
                .collect()
        },
    );
    same_chain(&nodes, 4, 3);
}

#[test]
fn the_chain_config_switches_the_dynamic_filter_timeout() {
    use spec::params::FilterTimeout;
    let mut config = ChainConfig::new_chain(4242);
    assert_eq!(
        params_from_config(&config).filter_timeout,
        FilterTimeout::Fixed
    );
    let Some(a) = config.algorand.as_mut() else {
        panic!("new chains have config.algorand");
    };
    a.timeout_two_lambda = 1000;
    a.dynamic_filter_timeout = true;
    assert_eq!(
        params_from_config(&config).filter_timeout,
        FilterTimeout::Dynamic { min_ms: 100 }
    );
    if let Some(a) = config.algorand.as_mut() {
        a.filter_timeout_min = Some(300);
    }
    let p = params_from_config(&config);
    assert_eq!(p.filter_timeout, FilterTimeout::Dynamic { min_ms: 300 });
    assert_eq!(p.two_lambda_ms, 1000);
}
