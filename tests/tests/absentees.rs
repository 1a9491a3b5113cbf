//! Absent miners (#19 part 1, `spec::absence`) on 7 real validators on
//! 127.0.0.1, in both committee modes.
//!
//! With the absentee rule, validators are stopped one at a time, each after
//! the previous one was marked absent and left the committee; the chain keeps
//! committing with 3 of 7 online in a fixed committee, and with 4 of 7 under
//! sortition (whose soft-vote threshold, 75.8 % of the expected seats, 3 of 4
//! does not reach). A stopped validator started again sends a heartbeat
//! (`--miner.heartbeat`) and is back in the committee. Without the rule
//! (`kalgo genesis --noabsentees`) the committee keeps all 7, and the chain
//! halts at 4 of 7 online (fixed) or 5 of 7 (sortition).
//!
//! Genesis: 2λ = 500 ms, stake lookback 2, `absenteeFactor` 3, so a silent
//! validator of 7 equal ones is marked after 2 + 3 × 7 = 23 blocks.
//!
//! `cargo build -p node && cargo test -p tests --test absentees -- --nocapture --test-threads=1`

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::cluster::{Network, run_ok};
use tests::faults::{Cluster, TWO_LAMBDA_MS};

/// One network at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const VALIDATORS: usize = 7;

/// A 7-validator network of `committee` mode with `extra` genesis flags.
fn network(committee: &str, extra: &[&str]) -> Network {
    let mut args = vec!["--lookback", "2", "--absentfactor", "3"];
    args.extend_from_slice(extra);
    Network::with_genesis_args(VALIDATORS as u32, TWO_LAMBDA_MS, committee, &args, &[])
}

/// Starts every validator with its stake owner imported, unlocked and
/// sending heartbeats.
fn start_with_heartbeats(net: Network) -> Cluster {
    let password = net.dir.join("password.txt");
    std::fs::write(&password, "owner\n").expect("password file");
    let password = password.to_str().expect("utf-8 path").to_string();
    for i in 0..VALIDATORS {
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
    Cluster::start_on(net, VALIDATORS, |i| {
        [
            "--unlock",
            &owners[i],
            "--password",
            &password,
            "--miner.heartbeat",
        ]
        .map(String::from)
        .to_vec()
    })
}

/// Lower-case addresses listed under `key` of a `consensus_committee` answer.
fn listed(committee: &Value, key: &str) -> Vec<String> {
    committee[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|m| m["address"].as_str())
                .map(str::to_lowercase)
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until node `via`'s committee of the next height is exactly the
/// owners of `online` and lists every owner of `marked` as absent; returns
/// that height.
fn wait_committee(
    c: &Cluster,
    via: usize,
    online: &[usize],
    marked: &[usize],
    timeout: Duration,
) -> u64 {
    let owner = |i: &usize| c.net.owners[*i].to_lowercase();
    let mut want: Vec<String> = online.iter().map(owner).collect();
    want.sort();
    let deadline = Instant::now() + timeout;
    loop {
        let committee = c.call(via, "consensus_committee", json!([]));
        let mut members = listed(&committee, "members");
        members.sort();
        let absent = listed(&committee, "absent");
        if members == want && marked.iter().map(owner).all(|m| absent.contains(&m)) {
            return committee["height"].as_u64().expect("height");
        }
        assert!(
            Instant::now() < deadline,
            "the committee never became {online:?} with {marked:?} absent: {committee}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Waits until node `via`'s head reaches `height`.
fn wait_head(c: &Cluster, via: usize, height: u64, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while c.head(via) < height {
        assert!(
            Instant::now() < deadline,
            "node{via} stuck at {} below {height}",
            c.head(via)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Asserts that the nodes `online` hold the same block hash at every height
/// up to the lowest head among them (at least `min`); returns that height.
fn assert_same_chain(c: &Cluster, online: &[usize], min: u64) -> u64 {
    let upto = online.iter().map(|&i| c.head(i)).min().unwrap_or(0);
    assert!(upto >= min, "the lowest head is {upto}, wanted {min}");
    let reference = c.hashes(online[0], upto);
    for &i in &online[1..] {
        assert_eq!(
            c.hashes(i, upto),
            reference,
            "node{} and node{i} differ",
            online[0]
        );
    }
    upto
}

/// The fewest validators of 7 that can keep committing once the absent are
/// out of the committee: BA* needs more than two thirds of a fixed
/// committee's weight (3 of 3 when 4 are out), while sortition's soft-vote
/// threshold (2,267 of 2,990 expected seats, 75.8 %) needs 4 of 4 (3 of 4 is
/// 75 %).
fn fewest_online(committee: &str) -> usize {
    match committee {
        "fixed" => 3,
        _ => 4,
    }
}

fn stops_until_the_fewest_are_left_and_one_comes_back(committee: &str) {
    let _g = serial();
    let t0 = Instant::now();
    let mut c = start_with_heartbeats(network(committee, &[]));
    let fewest = fewest_online(committee);
    let mut online: Vec<usize> = (0..VALIDATORS).collect();
    let mut marked = Vec::new();
    wait_head(&c, 0, 3, Duration::from_secs(60));
    // Stop 6, 5, … in turn, each once the previous one is out.
    for gone in (fewest..VALIDATORS).rev() {
        c.stop(gone);
        online.retain(|&i| i != gone);
        marked.push(gone);
        let at = wait_committee(&c, 0, &online, &marked, Duration::from_secs(180));
        eprintln!(
            "{committee}: node{gone} out of the committee from height {at} ({} online, {:.1} s)",
            online.len(),
            t0.elapsed().as_secs_f64()
        );
    }
    // The fewest of seven online: still committing, one chain.
    let goal = c.max_height() + 5;
    for &i in &online {
        c.nodes[i].wait_height(goal, Duration::from_secs(60));
    }
    let upto = assert_same_chain(&c, &online, goal);
    // Node 6 starts again: it sends a heartbeat and is back. (Its log runs
    // on across restarts: count the heartbeats sent before.)
    let heartbeats = |c: &Cluster| c.nodes[6].log().matches("sent a heartbeat").count();
    let before = heartbeats(&c);
    c.restart(6);
    online.push(6);
    marked.retain(|&i| i != 6);
    let back = wait_committee(&c, 0, &online, &marked, Duration::from_secs(180));
    assert!(
        heartbeats(&c) > before,
        "node6 sent no heartbeat after its restart"
    );
    let goal = back + 3;
    for &i in &online {
        c.nodes[i].wait_height(goal, Duration::from_secs(60));
    }
    assert_same_chain(&c, &online, goal);
    let status = c.call(0, "consensus_status", json!([]));
    assert_eq!(status["absentMiners"], json!(marked.len()), "{status}");
    eprintln!(
        "{committee}: {fewest} of 7 committed through {upto}; node6 back from height {back}; {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

/// Without the rule the committee keeps all 7, so the chain halts as soon as
/// the online weight falls below the mode's bound: 4 of 7 in a fixed
/// committee, 5 of 7 (71 %) under sortition.
fn without_the_rule_the_chain_halts(committee: &str) {
    let _g = serial();
    let t0 = Instant::now();
    let mut c = start_with_heartbeats(network(committee, &["--noabsentees"]));
    let halts_at = fewest_online(committee) + 1;
    wait_head(&c, 0, 3, Duration::from_secs(60));
    // Down to one above the bound: still committing.
    for gone in (halts_at + 1..VALIDATORS).rev() {
        c.stop(gone);
        let goal = c.head(0) + 5;
        wait_head(&c, 0, goal, Duration::from_secs(60));
    }
    // Long enough for the rule to have marked them, were it there.
    let goal = c.head(0) + 30;
    wait_head(&c, 0, goal, Duration::from_secs(120));
    let committee_now = c.call(0, "consensus_committee", json!([]));
    assert_eq!(listed(&committee_now, "members").len(), VALIDATORS);
    assert!(listed(&committee_now, "absent").is_empty());
    // One more down: below the bound, nothing more is certified.
    c.stop(halts_at);
    std::thread::sleep(Duration::from_secs(3));
    let stuck = c.head(0);
    std::thread::sleep(Duration::from_secs(15));
    let online: Vec<usize> = (0..halts_at).collect();
    for &i in &online {
        assert!(
            c.head(i) <= stuck + 1,
            "node{i} went on from {stuck} to {} with {halts_at} of 7 online",
            c.head(i)
        );
    }
    let upto = assert_same_chain(&c, &online, stuck);
    eprintln!(
        "{committee} without the rule: halted at {stuck} with {halts_at} of 7 online (same chain through {upto}); {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

#[test]
fn a_fixed_committee_goes_on_with_3_of_7_once_the_absent_are_marked() {
    stops_until_the_fewest_are_left_and_one_comes_back("fixed");
}

#[test]
fn sortition_goes_on_with_4_of_7_once_the_absent_are_marked() {
    stops_until_the_fewest_are_left_and_one_comes_back("sortition");
}

#[test]
fn a_fixed_committee_without_the_rule_halts_at_4_of_7() {
    without_the_rule_the_chain_halts("fixed");
}

#[test]
fn sortition_without_the_rule_halts_at_5_of_7() {
    without_the_rule_the_chain_halts("sortition");
}
