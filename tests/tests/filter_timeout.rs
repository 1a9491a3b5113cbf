//! Black box: the dynamic filter timeout (`kalgo genesis --dynamicfilter`).
//! Four validators on 127.0.0.1 at 2λ = 1000 ms run twice in one test, once
//! with the fixed filter timer and once with the dynamic one. Each run sends
//! the same number of transfers, one at a time at spread-out moments, and
//! measures each one's finality: from `eth_sendRawTransaction` to its receipt
//! (polled every 10 ms). With the dynamic timeout the median must be clearly
//! below the fixed one's, and `consensus_status` must report a round-1 wait
//! below 2λ; both chains stay one chain.
//!
//! `cargo build -p node && cargo test -p tests --test filter_timeout -- --nocapture`

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::cluster::{Network, Node, assert_same_chain, free_port, new_account, sign_call};
use tests::faults::qty;

const TWO_LAMBDA_MS: u64 = 1000;
const VALIDATORS: usize = 4;
const CHAIN_ID: u64 = 1337;
/// Transfers measured per run.
const TRANSFERS: u64 = 16;
/// Where the dynamic run's median must be, at most, as a fraction of the
/// fixed run's.
const MOST_OF_FIXED: f64 = 0.75;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// What one run measured.
struct Run {
    /// Finality of each transfer, in ms, sorted.
    finality_ms: Vec<u64>,
    /// node0's `consensus_status` after the transfers.
    status: Value,
}

impl Run {
    fn median_ms(&self) -> u64 {
        self.finality_ms[self.finality_ms.len() / 2]
    }
}

/// Starts a network (with `--dynamicfilter` when `dynamic`), waits until it
/// runs (and, when dynamic, until node0 uses an estimate), then measures.
fn run(dynamic: bool) -> Run {
    let (key, sender) = new_account();
    let funded = [(sender, "1000000000000000000000".to_string())];
    let flags: &[&str] = if dynamic { &["--dynamicfilter"] } else { &[] };
    let net = Network::with_genesis_args(VALIDATORS as u32, TWO_LAMBDA_MS, "fixed", flags, &funded);
    let mut first = net.start_validator_with(0, free_port(), &[], &[], true);
    let boot = first.listen_addr(secs(30));
    let mut nodes = vec![first];
    for i in 1..VALIDATORS {
        nodes.push(net.start_validator(i, free_port(), std::slice::from_ref(&boot)));
    }
    for n in nodes.iter_mut() {
        n.wait_height(2, secs(60));
    }
    let rpc = &nodes[0];
    let status = || rpc.call("consensus_status", json!([])).expect("status");
    let st = status();
    assert_eq!(st["dynamicFilterTimeout"], json!(dynamic), "{st}");
    if dynamic {
        // Warm-up: 2λ until a few heights were observed.
        let start = Instant::now();
        while status()["filterTimeoutMs"]
            .as_u64()
            .unwrap_or(TWO_LAMBDA_MS)
            >= TWO_LAMBDA_MS
        {
            assert!(
                start.elapsed() < secs(60),
                "the dynamic filter timeout never dropped below 2λ: {}",
                status()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let gas_price = u128::from(qty(&rpc
        .call("eth_gasPrice", json!([]))
        .expect("gas price")));
    let to = format!("0x{}", "42".repeat(20));
    let mut finality_ms = Vec::new();
    for nonce in 0..TRANSFERS {
        // Spread the submissions over the block period, the same way in both runs.
        std::thread::sleep(Duration::from_millis((nonce * 173) % 500));
        let raw = sign_call(&key, CHAIN_ID, nonce, gas_price * 2, 21_000, &to, "");
        let t = Instant::now();
        let tx = rpc
            .call("eth_sendRawTransaction", json!([raw]))
            .expect("transfer accepted");
        let tx = tx.as_str().expect("a transaction hash").to_string();
        loop {
            let r = rpc
                .call("eth_getTransactionReceipt", json!([tx]))
                .expect("receipt");
            if !r.is_null() {
                assert_eq!(r["status"], json!("0x1"), "{r}");
                break;
            }
            assert!(
                t.elapsed() < secs(30),
                "transfer {nonce} not included in 30 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        finality_ms.push(u64::try_from(t.elapsed().as_millis()).unwrap_or(u64::MAX));
    }
    finality_ms.sort_unstable();
    let status = status();
    let refs: Vec<&Node> = nodes.iter().collect();
    assert!(
        assert_same_chain(&refs) >= 2,
        "the nodes compared no heights"
    );
    Run {
        finality_ms,
        status,
    }
}

#[test]
fn four_validators_finalise_faster_with_the_dynamic_filter_timeout() {
    let fixed = run(false);
    let dynamic = run(true);
    println!(
        "median finality at 2λ = {TWO_LAMBDA_MS} ms, {VALIDATORS} validators, {TRANSFERS} transfers: \
         fixed {} ms {:?}, dynamic {} ms {:?}; round-1 wait fixed {} ms, dynamic {} ms",
        fixed.median_ms(),
        fixed.finality_ms,
        dynamic.median_ms(),
        dynamic.finality_ms,
        fixed.status["filterTimeoutMs"],
        dynamic.status["filterTimeoutMs"],
    );
    assert_eq!(
        fixed.status["filterTimeoutMs"],
        json!(TWO_LAMBDA_MS),
        "{}",
        fixed.status
    );
    let wait = dynamic.status["filterTimeoutMs"]
        .as_u64()
        .unwrap_or(u64::MAX);
    assert!(wait < TWO_LAMBDA_MS, "{}", dynamic.status);
    assert!(
        (dynamic.median_ms() as f64) <= MOST_OF_FIXED * fixed.median_ms() as f64,
        "dynamic median {} ms is not at most {MOST_OF_FIXED} × the fixed median {} ms",
        dynamic.median_ms(),
        fixed.median_ms()
    );
}
