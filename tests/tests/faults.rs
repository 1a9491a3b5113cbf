//! Black box, issue #9's fault scenarios on four validators of a fixed committee
//! (2λ = 500 ms) on 127.0.0.1, with the harness of [`tests::faults`]:
//!
//! 1. rolling restart: each validator in turn is killed, restarted on its data
//!    directory, and must commit by consensus again before the next one goes;
//! 2. one validator down (killed, or paused with SIGSTOP) and back: the others
//!    keep committing, it catches up and rejoins consensus;
//! 3. a 2–2 partition (operator bans): no node commits while it lasts; healed,
//!    the chain resumes without a fork;
//! 4. a node's chain database wiped and re-synced from a single peer;
//! 5. a burst of transfers from many senders with nonce gaps (filled later) and
//!    replacements (same nonce, higher price): every valid transaction lands
//!    exactly once, no replaced one ever does (block contents, receipts,
//!    balances);
//! 6. an equivocating validator (hidden `--test.equivocate`): honest nodes log
//!    the evidence, and the chain stays safe and live; with
//!    `--miner.reportequivocation` they report it to the miner contract, which
//!    suspends it, and the other three go on as the whole committee;
//! 7. transactions sent to a node cut off from its peers that does not propose
//!    (`miner_stop`): gossip carried them nowhere; reconnected, its peers take
//!    them from its pool and they land.
//!
//! Every scenario ends with the same block hash at every height on every node
//! and, where transactions were sent, their receipts in the same blocks on
//! every node. The scenarios run one at a time (a lock), since each starts four
//! nodes on a shared machine. The default versions are short; the full ones
//! (one validator down 60 s, 20,000 transactions from 200 senders) are ignored:
//! `cargo test -p tests --test faults -- --ignored --test-threads=1`.
//!
//! Needs `cargo build -p node` in the same target dir.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, U256};
use node::loadtest::sign::{TRANSFER_GAS, sender_key};
use serde_json::{Value, json};
use tests::cluster::{Network, run_ok};
use tests::faults::{Cluster, Funder, TWO_LAMBDA_MS, chain_params, qty, qty256};

/// One scenario at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Where test transfers go.
const SINK: Address = Address::repeat_byte(0x5a);

/// Waits until node `i` has committed, by consensus, a block above `above`:
/// it takes part in agreement again.
fn wait_rejoined(c: &mut Cluster, i: usize, above: u64, timeout: Duration) -> u64 {
    let start = Instant::now();
    loop {
        let live = c.nodes[i]
            .commits()
            .into_iter()
            .find(|(h, commit)| *h > above && commit.how == "consensus")
            .map(|(h, _)| h);
        if let Some(h) = live {
            return h;
        }
        assert!(c.nodes[i].is_running(), "node{i} exited");
        assert!(
            start.elapsed() < timeout,
            "node{i} did not commit by consensus above {above} in {timeout:?} (height {})",
            c.nodes[i].height()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Scenario 1.
#[test]
fn rolling_restart_of_every_validator() {
    let _g = serial();
    let t0 = Instant::now();
    let mut c = Cluster::start(4, |_| Vec::new());
    c.wait_all(3, secs(120));
    let mut funder = c.funder(0);
    let mut sent = funder.send(&c, 0, SINK, 10);
    // A transaction only in the pool of a node killed at once is not committed,
    // so may be lost (as in geth): let these land before the first kill.
    c.wait_landed(&sent, secs(60));
    for i in 0..c.len() {
        c.stop(i);
        let others: Vec<usize> = (0..c.len()).filter(|j| *j != i).collect();
        // Three of four keep committing while it is down.
        let goal = c.max_height() + 2;
        for &j in &others {
            c.nodes[j].wait_height(goal, secs(60));
        }
        sent.extend(funder.send(&c, others[0], SINK, 5));
        c.restart(i);
        let back = wait_rejoined(&mut c, i, goal, secs(90));
        eprintln!("node{i}: restarted, committing by consensus again at height {back}");
    }
    let goal = c.max_height() + 3;
    c.wait_all(goal, secs(60));
    let upto = c.assert_same_chain(goal);
    c.wait_landed(&sent, secs(60));
    let votes = c.stop_and_check_votes();
    eprintln!("own-vote logs: {votes} signed messages, no (height, round, step) with two values");
    eprintln!(
        "rolling restart: {} transfers landed, all agree up to {upto}, {:.1} s",
        sent.len(),
        t0.elapsed().as_secs_f64()
    );
}

#[derive(Clone, Copy, Debug)]
enum Down {
    /// SIGKILL, then a restart on the same data directory.
    Kill,
    /// SIGSTOP, then SIGCONT.
    Pause,
}

/// Scenario 2: validator 3 down for `down` while the others commit and take
/// transactions; back, it catches up and votes again.
fn one_down_then_back(how: Down, down: Duration) {
    let _g = serial();
    let t0 = Instant::now();
    let mut c = Cluster::start(4, |_| Vec::new());
    c.wait_all(3, secs(120));
    let mut funder = c.funder(0);
    let mut sent = funder.send(&c, 0, SINK, 10);
    match how {
        Down::Kill => c.stop(3),
        Down::Pause => c.pause(3),
    }
    let at = c.nodes[3].height();
    let gone = Instant::now();
    while gone.elapsed() < down {
        sent.extend(funder.send(&c, 1, SINK, 5));
        std::thread::sleep(Duration::from_millis(500));
    }
    let reached = c.nodes[0].height();
    assert!(
        reached >= at + down.as_secs(),
        "three validators committed only {at}..{reached} in {down:?}"
    );
    match how {
        Down::Kill => c.restart(3),
        Down::Pause => c.resume(3),
    }
    let back = wait_rejoined(&mut c, 3, reached, secs(120));
    let goal = c.max_height() + 3;
    c.wait_all(goal, secs(60));
    let upto = c.assert_same_chain(goal);
    c.wait_landed(&sent, secs(60));
    let votes = c.stop_and_check_votes();
    eprintln!("own-vote logs: {votes} signed messages, no (height, round, step) with two values");
    eprintln!(
        "{how:?} {down:?}: down at {at}, others reached {reached}, back by consensus at {back}; {} transfers landed; all agree up to {upto}; {:.1} s",
        sent.len(),
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn one_validator_killed_for_10_s_then_back() {
    one_down_then_back(Down::Kill, secs(10));
}

#[test]
fn one_validator_paused_for_10_s_then_back() {
    one_down_then_back(Down::Pause, secs(10));
}

#[test]
#[ignore = "long: a validator down for 60 s"]
fn one_validator_killed_for_60_s_then_back() {
    one_down_then_back(Down::Kill, secs(60));
}

#[test]
#[ignore = "long: a validator paused for 60 s"]
fn one_validator_paused_for_60_s_then_back() {
    one_down_then_back(Down::Pause, secs(60));
}

/// Scenario 3: a 2–2 partition; neither half holds more than 2/3 of the weight.
fn two_two_partition(frozen: Duration) {
    let _g = serial();
    let t0 = Instant::now();
    let mut c = Cluster::start(4, |_| Vec::new());
    c.wait_all(3, secs(120));
    let mut funder = c.funder(0);
    let mut sent = funder.send(&c, 0, SINK, 10);
    c.isolate(&[0, 1]);
    // A height whose votes were already out may still finish: let it settle.
    std::thread::sleep(secs(2));
    let before: Vec<u64> = (0..4).map(|i| c.head(i)).collect();
    // Transactions still enter both halves' pools.
    sent.extend(funder.send(&c, 0, SINK, 5));
    std::thread::sleep(frozen);
    let during: Vec<u64> = (0..4).map(|i| c.head(i)).collect();
    assert_eq!(before, during, "a node committed during the 2-2 partition");
    assert!(c.nodes.iter_mut().all(|n| n.is_running()), "a node exited");
    c.heal();
    let healed = Instant::now();
    let goal = before.iter().max().copied().unwrap_or(0) + 5;
    c.wait_all(goal, secs(180));
    let resumed = healed.elapsed();
    let upto = c.assert_same_chain(goal);
    // The transfers sent during the partition reached nodes 0 and 1 only (gossip
    // does not replay them after the heal): they land in the first block one of
    // those two proposes, which need not be among the `goal` heights.
    c.wait_landed(&sent, secs(60));
    let votes = c.stop_and_check_votes();
    eprintln!("own-vote logs: {votes} signed messages, no (height, round, step) with two values");
    eprintln!(
        "2-2 partition: heights {before:?} frozen for {frozen:?}; healed, all reached {goal} in {:.1} s; {} transfers landed; all agree up to {upto}; {:.1} s",
        resumed.as_secs_f64(),
        sent.len(),
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn a_two_two_partition_halts_and_heals_without_a_fork() {
    two_two_partition(secs(8));
}

#[test]
#[ignore = "long: a 60 s partition"]
fn a_two_two_partition_of_60_s() {
    two_two_partition(secs(60));
}

/// Scenario 4: node 3's chain database is deleted; it re-syncs from node 1 only.
#[test]
fn a_wiped_node_resyncs_from_one_peer_and_votes_again() {
    let _g = serial();
    let t0 = Instant::now();
    let mut c = Cluster::start(4, |_| Vec::new());
    c.wait_all(3, secs(120));
    let mut funder = c.funder(0);
    let sent = funder.send(&c, 0, SINK, 20);
    c.wait_all(15, secs(120));
    c.wipe_and_resync_from(3, 1);
    let wiped_at = c.max_height();
    let back = wait_rejoined(&mut c, 3, wiped_at, secs(120));
    let log = c.nodes[3].log();
    let sync_peers: HashSet<&str> = log
        .lines()
        .filter(|l| l.contains(" synced") && l.contains("blocks="))
        .filter_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("peer=")))
        .collect();
    assert_eq!(
        sync_peers,
        HashSet::from([c.ids[1].as_str()]),
        "node3 synced from other peers than node1"
    );
    let synced = c.nodes[3]
        .commits()
        .values()
        .filter(|x| x.how == "sync")
        .count();
    assert!(synced as u64 >= 10, "node3 synced only {synced} blocks");
    let goal = c.max_height() + 3;
    c.wait_all(goal, secs(60));
    let upto = c.assert_same_chain(goal);
    c.wait_landed(&sent, secs(60));
    let votes = c.stop_and_check_votes();
    eprintln!("own-vote logs: {votes} signed messages, no (height, round, step) with two values");
    eprintln!(
        "wiped at {wiped_at}: node3 synced {synced} blocks from node1 only, votes again from {back}; all agree up to {upto}; {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

/// Scenario 6: node 3 signs two values in every step it votes in.
#[test]
fn an_equivocating_validator_is_detected_and_the_chain_stays_safe() {
    let _g = serial();
    let t0 = Instant::now();
    let mut c = Cluster::start(4, |i| match i {
        3 => vec!["--test.equivocate".to_string()],
        _ => Vec::new(),
    });
    c.wait_all(10, secs(120));
    let mut funder = c.funder(0);
    let sent = funder.send(&c, 1, SINK, 10);
    let goal = c.max_height() + 5;
    c.wait_all(goal, secs(60));
    for i in 0..3 {
        let log = c.nodes[i].log();
        let reports = log.lines().filter(|l| l.contains("equivocation")).count();
        assert!(reports > 0, "node{i} never reported the equivocation");
        eprintln!("node{i}: {reports} equivocation reports");
    }
    assert!(
        c.nodes[3].log().contains("--test.equivocate"),
        "node3 did not run in equivocation mode"
    );
    let upto = c.assert_same_chain(goal);
    c.wait_landed(&sent, secs(60));
    let votes = c.stop_and_check_votes();
    eprintln!("own-vote logs: {votes} signed messages, no (height, round, step) with two values");
    eprintln!(
        "equivocator: honest nodes detected it; all agree up to {upto}; {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

/// Scenario 6, penalised (issue #19): node 3 signs two values in every step;
/// nodes 0–2 run with `--miner.reportequivocation` and their stake owner's
/// account (imported into their keystore, unlocked). A proof reaches the miner
/// contract (an `Equivocated` log), the committee of the following heights
/// leaves node 3 out (`consensus_committee`'s `suspended`, `consensus_status`'s
/// `suspendedMiners`), and nodes 0–2 go on committing the same chain.
#[test]
fn an_equivocating_validator_is_reported_and_suspended_on_chain() {
    let _g = serial();
    let t0 = Instant::now();
    let net = Network::fixed(4, TWO_LAMBDA_MS);
    let password = net.dir.join("password.txt");
    std::fs::write(&password, "reporter\n").expect("password file");
    let password = password.to_str().expect("utf-8 path").to_string();
    for i in 0..3 {
        let key = net.datadir(i).join("account.key");
        let key = key.to_str().expect("utf-8 path");
        let args = [
            "--lightkdf",
            "account",
            "import",
            key,
            "--password",
            &password,
        ];
        run_ok(&net.bin, &net.datadir(i), &args);
    }
    let owners = net.owners.clone();
    let mut c = Cluster::start_on(net, 4, |i| match i {
        3 => vec!["--test.equivocate".to_string()],
        _ => [
            "--unlock",
            &owners[i],
            "--password",
            &password,
            "--miner.reportequivocation",
            &owners[i],
        ]
        .map(String::from)
        .to_vec(),
    });
    let offender = owners[3].to_lowercase();
    let addresses = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["address"].as_str())
                    .map(str::to_lowercase)
                    .collect()
            })
            .unwrap_or_default()
    };
    let deadline = Instant::now() + secs(120);
    let suspended_from = loop {
        let committee = c.call(0, "consensus_committee", json!([]));
        if addresses(&committee["suspended"]).contains(&offender) {
            assert!(
                !addresses(&committee["members"]).contains(&offender),
                "a suspended miner is still a member: {committee}"
            );
            assert_eq!(addresses(&committee["members"]).len(), 3, "{committee}");
            break committee["height"].as_u64().expect("height");
        }
        assert!(
            Instant::now() < deadline,
            "node 3 was never suspended: {committee}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let status = c.call(0, "consensus_status", json!([]));
    assert_eq!(status["suspendedMiners"], json!(1), "{status}");
    // The report on chain: the miner contract's `Equivocated(address indexed
    // miner, …)` log names node 3.
    let topic = alloy_primitives::keccak256("Equivocated(address,uint64,uint32,uint32,uint64)");
    let logs = c.call(
        0,
        "eth_getLogs",
        json!([{
            "fromBlock": "0x0",
            "toBlock": "latest",
            "address": "0x1000000000000000000000000000000000000002",
            "topics": [topic],
        }]),
    );
    let logs = logs.as_array().cloned().unwrap_or_default();
    assert!(!logs.is_empty(), "no Equivocated log");
    let named = logs[0]["topics"][1]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        named.ends_with(offender.trim_start_matches("0x")),
        "the log names {named}, not node 3 ({offender})"
    );
    // The committee leaves it out from the report's block + 1 + the stake
    // lookback (16 from `kalgo genesis`) on.
    let reported_in = qty(&logs[0]["blockNumber"]);
    assert!(
        suspended_from > reported_in + 16,
        "out at {suspended_from}, before the lookback from block {reported_in} passed"
    );
    let reporters = (0..3)
        .filter(|&i| {
            c.nodes[i]
                .log()
                .contains("reported an equivocation to the miner contract")
        })
        .count();
    assert!(reporters >= 1, "no node says it reported");
    // The other three go on, as the whole committee.
    let goal = c.max_height() + 5;
    for i in 0..3 {
        c.nodes[i].wait_height(goal, secs(60));
    }
    let upto = c.assert_same_chain(goal);
    eprintln!(
        "equivocator reported in block {reported_in}, out of the committee at height {suspended_from} ({} Equivocated log(s), {reporters} reporter(s)); nodes agree up to {upto}; {:.1} s",
        logs.len(),
        t0.elapsed().as_secs_f64()
    );
}

/// Scenario 7: node 3 stops proposing and voting (`miner_stop`) and is cut off;
/// transfers sent to it are pooled there only. The other three (3/4 of the
/// weight) keep committing without them. Once node 3 is reconnected, its peers
/// ask for its pending transactions (`SyncRequest::Pool`) and the transfers
/// land, though node 3 never proposes.
#[test]
fn transactions_sent_to_a_cut_off_node_land_after_it_reconnects() {
    let _g = serial();
    let t0 = Instant::now();
    let mut c = Cluster::start(4, |_| Vec::new());
    c.wait_all(3, secs(120));
    assert_eq!(c.call(3, "miner_stop", json!([])), Value::Null);
    c.isolate(&[3]);
    let mut funder = c.funder(3);
    let sent = funder.send(&c, 3, SINK, 5);
    let later = c.max_height() + 4;
    for i in 0..3 {
        c.nodes[i].wait_height(later, secs(60));
    }
    for i in 0..3 {
        for h in &sent {
            let seen = c.call(i, "eth_getTransactionByHash", json!([h]));
            assert_eq!(seen, Value::Null, "node{i} got {h} while node3 was cut off");
        }
    }
    c.heal();
    let took = c.wait_landed(&sent, secs(60));
    let goal = c.max_height() + 2;
    c.wait_all(goal, secs(60));
    let upto = c.assert_same_chain(goal);
    let votes = c.stop_and_check_votes();
    eprintln!("own-vote logs: {votes} signed messages, no (height, round, step) with two values");
    eprintln!(
        "cut-off node: {} transfers unseen by the others up to height {later}; landed {:.1} s after the heal; all agree up to {upto}; {:.1} s",
        sent.len(),
        took.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}

/// Scenario 5: `senders` senders with `per` transfers each (nonces 0..per).
/// Nonces 20..25 are held back (a gap) and sent later; nonces 30 and 45 are
/// first sent cheap and then replaced (same nonce, twice the price, another
/// value) while the gap still holds them: only the replacements may land.
fn burst_with_gaps_and_replacements(senders: usize, per: u64) {
    const GAP: std::ops::Range<u64> = 20..25;
    const REPLACED: [u64; 2] = [30, 45];
    const WAVE_A: u64 = 50;
    const FUNDS: u128 = 1_000_000_000_000_000_000;
    let _g = serial();
    let t0 = Instant::now();
    let mut c = Cluster::start(4, |_| Vec::new());
    c.wait_all(2, secs(120));
    let (chain_id, base_price) = chain_params(&c, 0);
    let price = base_price.max(1) * 4;
    let keys: Vec<_> = (0..senders)
        .map(|i| sender_key(i).expect("sender key"))
        .collect();
    // Funding: validator j pays senders j, j+4, …, submitted through node j.
    let mut fund_hashes = Vec::new();
    for j in 0..c.len() {
        let mut f = c.funder(j);
        let mut raws = Vec::new();
        for k in (j..senders).step_by(c.len()) {
            let (h, raw) = f.sign(keys[k].address(), U256::from(FUNDS));
            fund_hashes.push(h);
            raws.push(raw);
        }
        submit_all(&c, j, raws);
    }
    let signers: Vec<Funder> = keys
        .into_iter()
        .map(|k| Funder::from_parts(k, chain_id, price, 0))
        .collect();
    c.wait_landed(&fund_hashes, secs(120));

    let mut expected: HashSet<B256> = HashSet::new();
    let mut originals: Vec<B256> = Vec::new();
    let sign =
        |s: &Funder, n: u64, value: u64, price: u128| s.sign_at(n, SINK, U256::from(value), price);
    // Wave A: nonces 0..50 without the gap; the to-be-replaced ones cheap.
    let mut per_node: Vec<Vec<String>> = vec![Vec::new(); c.len()];
    for (k, s) in signers.iter().enumerate() {
        for n in (0..WAVE_A.min(per)).filter(|n| !GAP.contains(n)) {
            let (h, raw) = if REPLACED.contains(&n) {
                let (h, raw) = sign(s, n, 1_000_000, price);
                originals.push(h);
                (h, raw)
            } else {
                let (h, raw) = sign(s, n, 1, price);
                expected.insert(h);
                (h, raw)
            };
            let _ = h;
            per_node[k % c.len()].push(raw);
        }
    }
    let submitted_a: usize = per_node.iter().map(Vec::len).sum();
    for (i, raws) in per_node.into_iter().enumerate() {
        submit_all(&c, i, raws);
    }
    eprintln!(
        "wave A: {submitted_a} submitted in {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    std::thread::sleep(secs(2));
    // Replacements (behind the gap, so the cheap ones cannot have landed), then
    // the gap, through another node than wave A.
    let mut per_node: Vec<Vec<String>> = vec![Vec::new(); c.len()];
    for (k, s) in signers.iter().enumerate() {
        for n in REPLACED {
            let (h, raw) = sign(s, n, 2, price * 2);
            expected.insert(h);
            per_node[(k + 1) % c.len()].push(raw);
        }
    }
    for (i, raws) in per_node.into_iter().enumerate() {
        submit_all(&c, i, raws);
    }
    let mut per_node: Vec<Vec<String>> = vec![Vec::new(); c.len()];
    for (k, s) in signers.iter().enumerate() {
        for n in GAP {
            let (h, raw) = sign(s, n, 1, price);
            expected.insert(h);
            per_node[(k + 2) % c.len()].push(raw);
        }
    }
    for (i, raws) in per_node.into_iter().enumerate() {
        submit_all(&c, i, raws);
    }
    // Wave B: the rest, as the pool's per-sender limit lets them in.
    let mut per_node: Vec<Vec<String>> = vec![Vec::new(); c.len()];
    for (k, s) in signers.iter().enumerate() {
        for n in WAVE_A..per {
            let (h, raw) = sign(s, n, 1, price);
            expected.insert(h);
            per_node[k % c.len()].push(raw);
        }
    }
    for (i, raws) in per_node.into_iter().enumerate() {
        submit_all(&c, i, raws);
    }
    let submitted = t0.elapsed();
    let targets: Vec<(Address, u64)> = signers.iter().map(|s| (s.address(), per)).collect();
    c.wait_nonce_all(&targets, secs(600));
    let all_in = t0.elapsed();

    // Exactly the expected transactions are in the chain, each once, each
    // successful, in the same blocks on every node.
    let head = c.assert_same_chain(1);
    let in_chain = c.chain_receipts(0, head);
    for i in 1..c.len() {
        assert!(
            c.chain_receipts(i, head) == in_chain,
            "node{i} has other receipts"
        );
    }
    for h in expected.iter().chain(&fund_hashes) {
        let (_, status) = in_chain
            .get(h)
            .unwrap_or_else(|| panic!("{h} never landed"));
        assert_eq!(status, "0x1", "{h} failed");
    }
    for h in &originals {
        assert!(!in_chain.contains_key(h), "replaced {h} landed");
    }
    assert_eq!(
        in_chain.len(),
        expected.len() + fund_hashes.len(),
        "other transactions landed"
    );
    let checked = t0.elapsed();
    // Every node: no receipt and no transaction for the replaced ones, balances
    // as computed, an empty pool.
    let sink_value = U256::from(senders as u64 * (per - REPLACED.len() as u64 + 4));
    let normal = U256::from(TRANSFER_GAS as u128 * price + 1);
    let replacement = U256::from(TRANSFER_GAS as u128 * price * 2 + 2);
    let spent =
        normal * U256::from(per - REPLACED.len() as u64) + replacement * U256::from(REPLACED.len());
    for i in 0..c.len() {
        for chunk in originals.chunks(500) {
            let calls: Vec<(&str, Value)> = chunk
                .iter()
                .flat_map(|h| {
                    [
                        ("eth_getTransactionReceipt", json!([h])),
                        ("eth_getTransactionByHash", json!([h])),
                    ]
                })
                .collect();
            for r in c.batch(i, &calls) {
                assert_eq!(r, Ok(Value::Null), "node{i} knows a replaced transaction");
            }
        }
        let sink = qty256(&c.call(i, "eth_getBalance", json!([SINK, "latest"])));
        assert_eq!(sink, sink_value, "node{i}: sink balance");
        let calls: Vec<(&str, Value)> = signers
            .iter()
            .map(|s| ("eth_getBalance", json!([s.address(), "latest"])))
            .collect();
        for (s, r) in signers.iter().zip(c.batch(i, &calls)) {
            let bal = qty256(&r.expect("balance"));
            assert_eq!(
                bal,
                U256::from(FUNDS) - spent,
                "node{i}: balance of {}",
                s.address()
            );
        }
        let status = c.call(i, "txpool_status", json!([]));
        assert_eq!(
            (qty(&status["pending"]), qty(&status["queued"])),
            (0, 0),
            "node{i}: pool not empty: {status}"
        );
    }
    eprintln!(
        "burst: {} transfers from {senders} senders ({} replaced, {} gap fillers) submitted by {:.1} s, all landed by {:.1} s, chain head {head}; exactly once, replaced never (checked by {:.1} s); {:.1} s",
        expected.len(),
        originals.len(),
        senders * GAP.count(),
        submitted.as_secs_f64(),
        all_in.as_secs_f64(),
        checked.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
}

/// Submits raw transactions to node `i` in batches until each is accepted (or
/// already known): refusals for the pool's per-sender or total limits are
/// retried after a pause, as a wallet would.
fn submit_all(c: &Cluster, i: usize, raws: Vec<String>) {
    let mut left = raws;
    let start = Instant::now();
    while !left.is_empty() {
        let mut again = Vec::new();
        for chunk in left.chunks(500) {
            let calls: Vec<(&str, Value)> = chunk
                .iter()
                .map(|r| ("eth_sendRawTransaction", json!([r])))
                .collect();
            for (raw, r) in chunk.iter().zip(c.batch(i, &calls)) {
                match r {
                    Ok(_) => {}
                    Err(e) if e.contains("already known") => {}
                    Err(e) if e.contains("limit") || e.contains("full") => again.push(raw.clone()),
                    Err(e) => panic!("node{i} refused a transaction: {e}"),
                }
            }
        }
        if !again.is_empty() {
            assert!(
                start.elapsed() < secs(300),
                "node{i} still refuses {} transactions",
                again.len()
            );
            std::thread::sleep(Duration::from_millis(300));
        }
        left = again;
    }
}

#[test]
fn a_burst_with_nonce_gaps_and_replacements_lands_exactly_once() {
    burst_with_gaps_and_replacements(20, 100);
}

#[test]
#[ignore = "long: 20,000 transactions from 200 senders"]
fn a_burst_of_20000_transactions_from_200_senders() {
    burst_with_gaps_and_replacements(200, 100);
}
