//! Black box, a miner joins at run time (issue #6; Kaleido §2, §3.2): four
//! validators of a fixed committee run (2λ = 200 ms); a new node makes a miner key
//! with `kalgo makeminerkey --minerkey.start S` (S in the future: the miner
//! contract wants S ≥ the registering block + 100); its stake owner, funded in
//! genesis, sends the printed `MinerKey` calldata to the miner contract by
//! `eth_sendRawTransaction`; the node runs with `--mine`. From height S the
//! committee has five members, the new miner's cert votes appear in certificates
//! (`consensus_getCertificate`) and it proposes blocks; before S it is in none.
//!
//! Needs `cargo build -p node` in the same target dir.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::cluster::{
    Network, Node, free_port, miner_key_calldata, new_account, run_ok, sign_call,
};
use tests::faults::qty;

const TWO_LAMBDA_MS: u64 = 200;
/// The miner contract (Kaleido §3.1).
const MINER_CONTRACT: &str = "0x1000000000000000000000000000000000000002";
/// `kalgo genesis --validators` chains: chain id 1337, interval 1,000,000.
const CHAIN_ID: u64 = 1337;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn voters(cert: &Value) -> Vec<String> {
    cert["voters"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v["address"].as_str().map(str::to_lowercase))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_miner_registered_by_transaction_votes_and_proposes_from_its_start_height() {
    let (key, owner) = new_account();
    let owner_lc = owner.to_lowercase();
    // As much as each validator: the new miner has a fifth of the stake.
    let wei = format!("100000000{}", "0".repeat(18));
    let net = Network::with_accounts(4, TWO_LAMBDA_MS, "fixed", &[(owner.clone(), wei)]);
    let mut nodes: Vec<Node> = Vec::new();
    let mut addrs: Vec<String> = Vec::new();
    for i in 0..4 {
        let mut n = net.start_validator_with(i, free_port(), &addrs, &[], true);
        addrs.push(n.listen_addr(secs(30)));
        nodes.push(n);
    }
    for n in nodes.iter_mut() {
        n.wait_height(3, secs(60));
    }

    // The new node: its data directory, its key starting well after the head.
    let datadir = net.extra_datadir("newminer");
    let head = nodes[0].height();
    let start = head + 120;
    let out = run_ok(
        &net.bin,
        &datadir,
        &[
            "makeminerkey",
            "--miner.stakeowner",
            &owner,
            "--minerkey.start",
            &start.to_string(),
            "--chainid",
            &CHAIN_ID.to_string(),
        ],
    );
    let calldata = miner_key_calldata(&out.stdout);
    assert!(calldata.starts_with("0x39fb25e9"), "calldata {calldata}");

    // The stake owner registers it.
    let rpc = &nodes[0];
    let gas_price = qty(&rpc.call("eth_gasPrice", json!([])).expect("gas price"));
    let raw = sign_call(
        &key,
        CHAIN_ID,
        0,
        u128::from(gas_price) * 2,
        1_000_000,
        MINER_CONTRACT,
        &calldata,
    );
    let tx = rpc
        .call("eth_sendRawTransaction", json!([raw]))
        .expect("registration accepted");
    let receipt = rpc.wait_receipt(
        tx.as_str().expect("a transaction hash"),
        "registration",
        secs(30),
    );
    assert_eq!(
        receipt["status"],
        json!("0x1"),
        "registration reverted: {receipt}"
    );
    let included = qty(&receipt["blockNumber"]);
    assert!(
        included + 100 <= start,
        "registered at block {included}, too late for start {start}"
    );

    // The new node mines from the start (before S it only follows).
    let args = vec![
        "--mine".to_string(),
        "--miner.stakeowner".to_string(),
        owner.clone(),
        "--bootnodes".to_string(),
        addrs.join(","),
    ];
    let mut miner = Node::start_with_http(&net.bin, "newminer", &datadir, free_port(), &args);
    let status = miner
        .call("consensus_minerStatus", json!([]))
        .expect("status");
    assert_eq!(
        status["owner"].as_str().map(str::to_lowercase),
        Some(owner_lc.clone())
    );
    assert_eq!(status["registered"], json!(false), "{status}");
    assert_eq!(status["keys"][0]["start"], json!(start), "{status}");

    // The committee grows at S, not before.
    miner.wait_height(start, secs(180));
    let before = rpc
        .call("consensus_committee", json!([format!("0x{:x}", start - 1)]))
        .expect("committee");
    let at = rpc
        .call("consensus_committee", json!([format!("0x{:x}", start)]))
        .expect("committee");
    let members = |c: &Value| -> Vec<String> {
        c["members"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["address"].as_str().map(str::to_lowercase))
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(members(&before).len(), 4, "{before}");
    assert!(!members(&before).contains(&owner_lc));
    assert_eq!(members(&at).len(), 5, "{at}");
    assert!(members(&at).contains(&owner_lc));

    // Edges: genesis has no certificate and no committee; an unknown block has
    // no certificate; a far-future committee is refused.
    assert_eq!(
        rpc.call("consensus_getCertificate", json!(["0x0"])),
        Ok(Value::Null)
    );
    let unknown = format!("0x{}", "ab".repeat(32));
    assert_eq!(
        rpc.call("consensus_getCertificate", json!([unknown])),
        Ok(Value::Null)
    );
    assert!(rpc.call("consensus_committee", json!(["0x0"])).is_err());
    assert!(
        rpc.call("consensus_committee", json!(["0xffffffff"]))
            .is_err()
    );
    assert!(rpc.call("consensus_getCertificate", json!([])).is_err());
    let st = miner.call("consensus_status", json!([])).expect("status");
    assert_eq!(st["mode"], json!("fixed"), "{st}");
    assert_eq!(st["committeeSize"], json!(5), "{st}");
    assert_eq!(st["participating"], json!(true), "{st}");

    // Its cert votes are in certificates from S on, never before; it proposes.
    for h in start.saturating_sub(5)..start {
        let c = rpc
            .call("consensus_getCertificate", json!([format!("0x{h:x}")]))
            .expect("certificate");
        assert!(
            !voters(&c).contains(&owner_lc),
            "voted at {h} before its start"
        );
    }
    let t = Instant::now();
    let mut voted_at = None;
    let mut proposed_at = None;
    let mut h = start;
    while voted_at.is_none() || proposed_at.is_none() {
        assert!(
            t.elapsed() < secs(120),
            "in 120 s from height {start}: voted at {voted_at:?}, proposed at {proposed_at:?} (log: {})",
            miner.datadir.join("node.log").display()
        );
        miner.wait_height(h, secs(60));
        let c = rpc
            .call("consensus_getCertificate", json!([format!("0x{h:x}")]))
            .expect("certificate");
        assert!(c["weight"].as_u64() >= c["threshold"].as_u64(), "{c}");
        if voted_at.is_none() && voters(&c).contains(&owner_lc) {
            voted_at = Some(h);
        }
        if proposed_at.is_none()
            && c["proposer"].as_str().map(str::to_lowercase) == Some(owner_lc.clone())
        {
            proposed_at = Some(h);
        }
        h += 1;
    }
    let status = miner
        .call("consensus_minerStatus", json!([]))
        .expect("status");
    assert_eq!(status["registered"], json!(true), "{status}");
    assert_eq!(status["participating"], json!(true), "{status}");
    let mut all: Vec<&Node> = nodes.iter().collect();
    all.push(&miner);
    tests::cluster::assert_same_chain(&all);
    eprintln!(
        "registered at block {included} for start {start}; first certificate vote at {voted_at:?}, first proposal at {proposed_at:?}"
    );
}
