//! Black box: a hostile network. Peers with no stake, and RPC clients, misbehave
//! against a four-validator network (fixed committee, 2λ = 500 ms, 127.0.0.1);
//! the validators keep committing, a node that fell behind catches up, and the
//! abuse gets a clear refusal instead of the node's time or memory.
//!
//! 1. Sync monopoly: a peer (`kalgo fuzzpeer --sync-lie`) claims head 2⁶⁴−1 and
//!    answers every blocks request with "unavailable". A node that always asked
//!    the peer with the highest claimed head asked only the liar, for good; a
//!    follower that knows the liar and one honest validator must still catch up.
//!
//! 2. RPC abuse: `eth_getLogs` / `eth_newFilter` with 100,000 addresses, too
//!    many topic alternatives or positions, too long a range, too many filters:
//!    each refused with a JSON-RPC error naming its limit and flag.
//! 3. Pool snapshot flood: batches of 1,000 `eth_getFilterChanges` on a pending
//!    filter and of 1,000 `txpool_content` once made the execution actor (which
//!    also builds blocks) copy the whole pool per call; pending filters and
//!    subscriptions now read the hashes it publishes, and `txpool_content`
//!    shares one copy per pool change (`kalgo_txpool_copies_total`).
//! 4. Transaction-batch amplification: a peer (`kalgo fuzzpeer --tx-spam`)
//!    publishes batches of 4,095 useless transactions and one valid one; a node
//!    that forwarded a batch for its one good transaction made every node
//!    recover 4,096 senders for one fee. Now only the accepted transaction goes
//!    on, the peer is penalised and its wasted recoveries are budgeted.
//! 5. Ignored-gossip flood: a peer (`kalgo fuzzpeer --far 40000`) publishes
//!    well-formed votes and proposals for heights a billion ahead as fast as
//!    its send queue takes them. The driver ignores them (no gossipsub
//!    penalty), so without a per-peer rate the peer kept the node verifying,
//!    decoding and screening them for free, for as long as it liked. Now each
//!    topic has a per-peer rate (`--p2p.gossiprate`): past it messages are
//!    dropped unread, and a peer far past it is disconnected.
//! 6. Everything at once: the sync liar, the transaction spammer and an RPC
//!    abuser (log queries with 100,000 addresses, filter floods, batches of pool
//!    reads) against four validators and a non-mining RPC node, while a follower
//!    catches up: the chain keeps at least 80% of its unattacked commit rate and
//!    every node's memory stays under twice its unattacked level.
//!
//! Needs `cargo build -p node` in the same target dir.

use std::time::Duration;

use alloy_primitives::Address;
use tests::cluster::{Network, Node, assert_same_chain, free_port};
use tests::faults::qty;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// Starts `kalgo fuzzpeer --sync-lie` with `boot` as bootnode; returns it and
/// its listen address.
fn start_liar(net: &Network, boot: &str) -> (Node, String) {
    let dir = net.extra_datadir("liar");
    let args: Vec<String> = ["--bootnodes", boot, "--nodiscover", "fuzzpeer"]
        .into_iter()
        .chain(["--sync-lie", "--lie-for", "300"])
        .map(String::from)
        .collect();
    let mut liar = Node::start(&net.bin, "liar", &dir, free_port(), &args);
    let addr = liar.listen_addr(secs(30));
    (liar, addr)
}

#[test]
fn a_peer_claiming_a_far_head_cannot_monopolise_sync() {
    let net = Network::fixed(4, 500);
    let (mut nodes, boot) = net.start_all();
    for n in nodes.iter_mut() {
        n.wait_height(10, secs(120));
    }
    let (mut liar, liar_addr) = start_liar(&net, &boot);
    let liar_id = liar_addr
        .rsplit("/p2p/")
        .next()
        .unwrap_or_default()
        .to_string();
    let honest = nodes[1].listen_addr(secs(5));
    // The liar's claim must have reached the follower before the honest head
    // does: list it first, and give it a moment to be dialled.
    let follower_dir = net.extra_datadir("follower");
    let follower_args = vec![
        "--bootnodes".to_string(),
        format!("{liar_addr},{honest}"),
        "--nodiscover".to_string(),
    ];
    let target = nodes[0].height() + 5;
    let mut follower = Node::start(
        &net.bin,
        "follower",
        &follower_dir,
        free_port(),
        &follower_args,
    );
    follower.wait_height(target, secs(90));
    assert!(liar.is_running(), "the liar stopped early: {}", liar.log());
    // The attack was live: the follower did ask the liar (and was refused).
    let log = follower.log();
    assert!(
        log.lines()
            .any(|l| l.contains("sync: requesting blocks") && l.contains(&liar_id)),
        "the follower never asked the liar; its log:\n{log}"
    );
    let mut all: Vec<&Node> = nodes.iter().collect();
    all.push(&follower);
    assert!(assert_same_chain(&all) >= target as usize);
}

fn rpc_error(v: &serde_json::Value) -> (i64, String) {
    let e = &v["error"];
    (
        e["code"].as_i64().unwrap_or_default(),
        e["message"].as_str().unwrap_or_default().to_string(),
    )
}

fn addresses(n: usize) -> String {
    let list: Vec<String> = (0..n).map(|i| format!("\"{:#042x}\"", i + 1)).collect();
    format!("[{}]", list.join(","))
}

/// 2. RPC abuse: log queries and filters with huge address and topic lists, or
///    ranges, are refused with a JSON-RPC error naming the limit (and its flag)
///    before any block is scanned; installed filters are bounded; the node
///    keeps serving and making blocks.
#[test]
fn oversized_log_queries_and_filter_floods_are_refused() {
    use tests::devnode::DevNode;
    let node = DevNode::start(
        "latest",
        200,
        &["--rpc.filterlimit", "5", "--rpc.logblockrange", "3"],
    );
    let head = |n: &DevNode| {
        let v = n.call("eth_blockNumber", "[]").expect("eth_blockNumber");
        let s = v["result"].as_str().unwrap_or("0x0").to_string();
        u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or(0)
    };
    let before = head(&node);

    // 100,000 addresses (4.5 MB of JSON, under the 5 MiB body limit).
    let big = format!(
        "[{{\"fromBlock\":\"0x0\",\"address\":{}}}]",
        addresses(100_000)
    );
    let t = std::time::Instant::now();
    let v = node.call("eth_getLogs", &big).expect("eth_getLogs");
    let took = t.elapsed();
    let (code, msg) = rpc_error(&v);
    assert_eq!(code, -32602, "{v}");
    assert!(
        msg.contains("too many addresses") && msg.contains("--rpc.logquerylimit"),
        "{msg}"
    );
    eprintln!("eth_getLogs with 100,000 addresses refused in {took:?}: {msg}");
    let v = node.call("eth_newFilter", &big).expect("eth_newFilter");
    assert_eq!(rpc_error(&v).0, -32602, "{v}");

    // At the limit is fine; one alternative more at a topic position is not.
    let ok = format!(
        "[{{\"fromBlock\":\"0x0\",\"address\":{}}}]",
        addresses(1000)
    );
    let v = node.call("eth_getLogs", &ok).expect("eth_getLogs");
    assert!(v["result"].is_array(), "{v}");
    let topics: Vec<String> = (0..1001).map(|i| format!("\"{:#066x}\"", i)).collect();
    let v = node
        .call(
            "eth_getLogs",
            &format!("[{{\"topics\":[null,[{}]]}}]", topics.join(",")),
        )
        .expect("eth_getLogs");
    let (code, msg) = rpc_error(&v);
    assert!(code == -32602 && msg.contains("topic 1"), "{v}");
    let v = node
        .call("eth_getLogs", "[{\"topics\":[null,null,null,null,null]}]")
        .expect("eth_getLogs");
    assert!(rpc_error(&v).1.contains("topic positions"), "{v}");

    // The block range (--rpc.logblockrange 3): blocks 0..=3 are four.
    let t = std::time::Instant::now();
    while head(&node) < 3 {
        assert!(t.elapsed() < secs(30), "no block 3");
        std::thread::sleep(Duration::from_millis(100));
    }
    let v = node
        .call(
            "eth_getLogs",
            "[{\"fromBlock\":\"0x1\",\"toBlock\":\"0x3\"}]",
        )
        .expect("eth_getLogs");
    assert!(v["result"].is_array(), "{v}");
    let v = node
        .call(
            "eth_getLogs",
            "[{\"fromBlock\":\"0x0\",\"toBlock\":\"0x3\"}]",
        )
        .expect("eth_getLogs");
    let (code, msg) = rpc_error(&v);
    assert!(code == -32005 && msg.contains("blocks"), "{v}");

    // Five filters (--rpc.filterlimit 5), then a clear refusal.
    for i in 0..5 {
        let v = node.call("eth_newBlockFilter", "[]").expect("filter");
        assert!(v["result"].is_string(), "filter {i}: {v}");
    }
    let v = node.call("eth_newBlockFilter", "[]").expect("filter");
    let (code, msg) = rpc_error(&v);
    assert!(code == -32005 && msg.contains("--rpc.filterlimit"), "{v}");

    // Still serving and making blocks.
    let t = std::time::Instant::now();
    while head(&node) < before + 3 {
        assert!(t.elapsed() < secs(30), "no new blocks after the abuse");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Hardhat's account #1, funded by the `--dev` genesis.
const DEV_KEY: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";

fn batch(
    node: &tests::devnode::DevNode,
    method: &str,
    params: &str,
    n: usize,
) -> Vec<serde_json::Value> {
    let calls: Vec<String> = (0..n)
        .map(|i| format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"{method}","params":{params}}}"#))
        .collect();
    let body = format!("[{}]", calls.join(","));
    let (status, text) = tests::devnode::http_post(node.http, body.as_bytes()).expect("batch");
    assert_eq!(status, 200, "{text}");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v.as_array()
        .cloned()
        .unwrap_or_else(|| panic!("not a batch answer: {text}"))
}

#[test]
fn pool_floods_share_one_copy_and_blocks_keep_coming() {
    use alloy_primitives::{B256, U256};
    use tests::devnode::{DevNode, sample, scrape};
    use tests::faults::Funder;
    let port = free_port();
    let port_s = port.to_string();
    let node = DevNode::start("latest", 300, &["--metrics", "--metrics.port", &port_s]);
    let metrics: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    let chain_id = qty(&node.call("eth_chainId", "[]").expect("chainId")["result"]);
    let price = u128::from(qty(
        &node.call("eth_gasPrice", "[]").expect("gasPrice")["result"],
    )) * 2;
    let key = node::loadtest::sign::Key::from_bytes(&DEV_KEY.parse::<B256>().expect("key"))
        .expect("valid key");
    let funder = Funder::from_parts(key, chain_id, price, 0);
    let nonce = qty(&node
        .call(
            "eth_getTransactionCount",
            &format!(r#"["{:#x}","pending"]"#, funder.address()),
        )
        .expect("nonce")["result"]);
    // 50 transactions behind a nonce gap (a sender may queue 64): they stay
    // queued in the pool.
    let mut hashes = std::collections::HashSet::new();
    for i in 0..50u64 {
        let (hash, raw) = funder.sign_at(
            nonce + 10 + i,
            Address::repeat_byte(7),
            U256::from(1),
            price,
        );
        let v = node
            .call("eth_sendRawTransaction", &format!(r#"["{raw}"]"#))
            .expect("send");
        assert!(v["result"].is_string(), "{v}");
        hashes.insert(format!("{hash:#x}"));
    }
    let filter = node
        .call("eth_newPendingTransactionFilter", "[]")
        .expect("filter")["result"]
        .as_str()
        .expect("filter id")
        .to_string();
    // The published view follows within a republication period.
    let t = std::time::Instant::now();
    let mut reported = std::collections::HashSet::new();
    while reported.len() < hashes.len() {
        assert!(
            t.elapsed() < secs(10),
            "pending filter reported {} of 50",
            reported.len()
        );
        let v = node
            .call("eth_getFilterChanges", &format!(r#"["{filter}"]"#))
            .expect("changes");
        for h in v["result"].as_array().expect("array") {
            reported.insert(h.as_str().expect("hash").to_string());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(reported, hashes);

    let head = |n: &DevNode| qty(&n.call("eth_blockNumber", "[]").expect("head")["result"]);
    let copies = || sample(&scrape(metrics).1, "kalgo_txpool_copies_total");
    let (h0, c0) = (head(&node), copies());
    for _ in 0..3 {
        let answers = batch(
            &node,
            "eth_getFilterChanges",
            &format!(r#"["{filter}"]"#),
            1000,
        );
        assert!(
            answers.iter().all(|a| a["result"].is_array()),
            "a filter poll failed"
        );
        let answers = batch(&node, "txpool_content", "[]", 1000);
        assert!(
            answers.iter().all(|a| a["result"]["queued"].is_object()),
            "a txpool_content failed"
        );
    }
    let (h1, c1) = (head(&node), copies());
    // One copy per pool change at most: the head moved h1 - h0 times (each
    // commit re-sorts pending and queued), the pool itself did not change.
    eprintln!(
        "6,000 pool reads: {} copies of the pool while the head moved {} blocks",
        c1 - c0,
        h1 - h0
    );
    assert!(
        c1 - c0 <= (h1 - h0 + 1) as f64,
        "{} pool copies for 3,000 txpool_content calls over {} blocks",
        c1 - c0,
        h1 - h0
    );
    let t = std::time::Instant::now();
    while head(&node) < h1 + 3 {
        assert!(t.elapsed() < secs(30), "no new blocks after the flood");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `kalgo fuzzpeer --tx-spam batches` against node0 only (one peer: the others
/// may hear of the spam only from node0), its good transfers signed with
/// validator 3's funded key from that key's pending nonce; returns the command,
/// that key's address and the nonce.
fn spammer(c: &tests::faults::Cluster, batches: u32) -> (std::process::Command, Address, u64) {
    let (chain_id, price) = tests::faults::chain_params(c, 0);
    let key_hex =
        std::fs::read_to_string(c.net.datadir(3).join("account.key")).expect("account.key");
    let key: alloy_primitives::B256 = key_hex.trim().parse().expect("key hex");
    let from = node::loadtest::sign::Key::from_bytes(&key)
        .expect("key")
        .address();
    let nonce = qty(&c.call(
        0,
        "eth_getTransactionCount",
        serde_json::json!([from, "pending"]),
    ));
    let mut cmd = std::process::Command::new(&c.net.bin);
    cmd.arg("--datadir")
        .arg(c.net.extra_datadir("spammer"))
        .args(["--bootnodes", &c.addr(0), "--nodiscover", "--maxpeers", "1"])
        .arg("fuzzpeer")
        .args([
            "--tx-spam",
            &batches.to_string(),
            "--spam-key",
            &format!("{key:#x}"),
        ])
        .args(["--spam-nonce", &nonce.to_string()])
        .args(["--spam-chain-id", &chain_id.to_string()])
        .args(["--spam-gas-price", &(price.max(1) * 2).to_string()]);
    (cmd, from, nonce)
}

#[test]
fn a_batch_of_useless_transactions_is_not_relayed_for_one_good_one() {
    use tests::devnode::{sample, scrape};
    use tests::faults::Cluster;
    let metrics: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let ports = metrics.clone();
    let mut c = Cluster::start(4, move |i| {
        vec![
            "--metrics".to_string(),
            "--metrics.port".to_string(),
            ports[i].to_string(),
        ]
    });
    c.wait_all(3, secs(120));
    let recovered = |i: usize| {
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", metrics[i]).parse().expect("addr");
        sample(&scrape(addr).1, "kalgo_txs_recovered_total")
    };
    let before: Vec<f64> = (0..4).map(recovered).collect();
    const BATCHES: u32 = 20;
    let (mut spammer, spam_from, nonce) = spammer(&c, BATCHES);
    let spam_started = std::time::Instant::now();
    let out = spammer.output().expect("run fuzzpeer");
    let spam_secs = spam_started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "fuzzpeer failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("published"), "{stdout}");
    // The first batch's valid transfer was relayed on its own and landed.
    c.wait_nonce(0, spam_from, nonce + 1, secs(60));
    let after = c.max_height() + 3;
    c.wait_all(after, secs(120));
    c.assert_same_chain(after);
    let grew: Vec<f64> = (0..4).map(|i| recovered(i) - before[i]).collect();
    eprintln!("{stdout}senders recovered per node during the spam: {grew:?}");
    // node0 read at most its budget's worth of useless batches (4,096 at once,
    // 1,024 a second); the others only ever saw the relayed good transfers.
    for (i, g) in grew.iter().enumerate().skip(1) {
        assert!(
            *g <= f64::from(BATCHES) + 50.0,
            "node{i} recovered {g} senders: the useless transactions were relayed"
        );
    }
    assert!(grew[0] >= 4095.0, "node0 never read a spam batch: {grew:?}");
    // The budget: a full bucket, one batch of overdraft, the refill while the
    // spammer ran, and its good transfers.
    let bound = 4096.0 + 4095.0 + 1024.0 * (spam_secs + 5.0) + f64::from(BATCHES);
    assert!(
        grew[0] <= bound,
        "node0 recovered {} senders in {spam_secs:.1} s (budget allows {bound})",
        grew[0]
    );
}

/// Heights node0 commits in `window`, and every node's RSS at its end.
#[test]
fn a_peer_flooding_ignored_gossip_is_cut_off() {
    const FLOOD: u32 = 40_000;
    let net = Network::fixed(4, 500);
    // node0's peer rates are set low (64 proposals and 256 votes a second), so a
    // flooder built without optimisations outruns them on a loaded machine too;
    // the honest validators send it about 16 votes and 2 proposals a second.
    let rate = ["--p2p.gossiprate".to_string(), "256".to_string()];
    let mut first = net.start_validator_with(0, free_port(), &[], &rate, false);
    let boot = first.listen_addr(secs(30));
    let mut nodes = vec![first];
    for i in 1..4 {
        nodes.push(net.start_validator(i, free_port(), std::slice::from_ref(&boot)));
    }
    for n in nodes.iter_mut() {
        n.wait_height(3, secs(120));
    }
    let datadir = net.extra_datadir("flooder");
    let started = std::time::Instant::now();
    let out = std::process::Command::new(&net.bin)
        .arg("--datadir")
        .arg(&datadir)
        .args(["--bootnodes", &boot, "--nodiscover", "fuzzpeer"])
        .args([
            "--far",
            &FLOOD.to_string(),
            "--forged",
            "0",
            "--garbage",
            "0",
        ])
        .output()
        .expect("run fuzzpeer");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "fuzzpeer failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let published: u32 = stdout
        .split("messages: ")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no count in {stdout}"));
    println!("flooder: {published} far-future messages in {took:?}: {stdout}");
    // node0 cut the flooder off for its rate. (The other validators learn
    // its address from node0 and dial it; at their default rate they take
    // the rest of the flood and drop it, as before.)
    let log = nodes[0].log();
    assert!(
        log.lines()
            .any(|l| l.contains("disconnecting peer") && l.contains("gossip rate")),
        "node0 did not cut the flooder off for its rate"
    );
    let after = nodes.iter().map(|n| n.height()).max().unwrap_or(0) + 5;
    for n in nodes.iter_mut() {
        n.wait_height(after, secs(120));
        assert!(n.is_running(), "{} exited", n.name);
    }
    assert_same_chain(&nodes.iter().collect::<Vec<_>>());
}

fn commit_window(c: &tests::faults::Cluster, rpc: &Node, window: Duration) -> (f64, Vec<u64>) {
    let h0 = c.nodes[0].height();
    let t = std::time::Instant::now();
    std::thread::sleep(window);
    let heights = c.nodes[0].height().saturating_sub(h0);
    let rate = heights as f64 / t.elapsed().as_secs_f64();
    let rss: Vec<u64> = c
        .nodes
        .iter()
        .chain([rpc])
        .map(|n| n.rss_kib().expect("VmRSS of a running node"))
        .collect();
    (rate, rss)
}

/// The RPC abuser: every request kind of the attacks above, in a loop until
/// `stop`; returns (requests sent, refusals with a JSON-RPC error).
fn abuse_rpc(addr: std::net::SocketAddr, stop: &std::sync::atomic::AtomicBool) -> (u64, u64) {
    use std::sync::atomic::Ordering;
    use tests::devnode::http_post;
    let big_logs = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_getLogs","params":[{{"fromBlock":"0x0","address":{}}}]}}"#,
        addresses(100_000)
    );
    let big_filter = big_logs.replace("eth_getLogs", "eth_newFilter");
    let batch = |method: &str, params: &str| {
        let calls: Vec<String> = (0..1000)
            .map(|i| {
                format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"{method}","params":{params}}}"#)
            })
            .collect();
        format!("[{}]", calls.join(","))
    };
    let pool_reads = batch("txpool_content", "[]");
    let new_filters = batch("eth_newPendingTransactionFilter", "[]");
    let (mut sent, mut refused) = (0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        for body in [&big_logs, &big_filter, &pool_reads, &new_filters] {
            sent += 1;
            if let Ok((_, text)) = http_post(addr, body.as_bytes()) {
                refused += text.matches("\"error\"").count() as u64;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (sent, refused)
}

#[test]
fn every_attack_at_once_keeps_the_chain_committing() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use tests::faults::Cluster;
    let mut c = Cluster::start(4, |_| Vec::new());
    c.wait_all(3, secs(120));
    // A non-mining RPC node behind node0.
    let rpc_http = free_port();
    let rpc_args: Vec<String> = [
        "--bootnodes",
        &c.addr(0),
        "--http",
        "--http.port",
        &rpc_http.to_string(),
        "--http.api",
        "eth,net,txpool",
        "--rpc.filterlimit",
        "2000",
    ]
    .map(String::from)
    .to_vec();
    let rpc_dir = c.net.extra_datadir("rpc");
    let mut rpc = Node::start(&c.net.bin, "rpc", &rpc_dir, free_port(), &rpc_args);
    rpc.wait_height(c.max_height(), secs(60));
    let rpc_addr: std::net::SocketAddr = format!("127.0.0.1:{rpc_http}").parse().expect("addr");

    let (calm_rate, calm_rss) = commit_window(&c, &rpc, secs(20));

    // The attackers.
    let (mut liar, liar_addr) = start_liar(&c.net, &c.addr(1));
    let (mut spammer, ..) = spammer(&c, 100_000);
    let mut spammer = spammer
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn spammer");
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    let abuser = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || abuse_rpc(rpc_addr, &stop))
    };
    // A follower that starts late, knowing the liar first.
    let follower_dir = c.net.extra_datadir("follower");
    let follower_args = vec![
        "--bootnodes".to_string(),
        format!("{liar_addr},{}", c.addr(2)),
        "--nodiscover".to_string(),
    ];
    let mut follower = Node::start(
        &c.net.bin,
        "follower",
        &follower_dir,
        free_port(),
        &follower_args,
    );

    let (rate, rss) = commit_window(&c, &rpc, secs(20));
    let target = c.nodes[0].height();
    follower.wait_height(target, secs(60));
    stop.store(true, Ordering::Relaxed);
    let (sent, refused) = abuser.join().expect("abuser thread");
    let _ = spammer.kill();
    let _ = spammer.wait();
    assert!(liar.is_running(), "the liar stopped early");
    eprintln!(
        "commit rate {calm_rate:.2}/s calm, {rate:.2}/s attacked ({:.0}%); RSS KiB calm {calm_rss:?}, attacked {rss:?}; RPC abuser {sent} requests, {refused} errors",
        100.0 * rate / calm_rate
    );
    assert!(
        rate >= 0.8 * calm_rate,
        "commit rate fell from {calm_rate:.2}/s to {rate:.2}/s"
    );
    for (i, (a, b)) in rss.iter().zip(&calm_rss).enumerate() {
        assert!(*a < 2 * *b, "node {i}: RSS {a} KiB attacked, {b} KiB calm");
    }
    assert!(refused > 0, "the RPC abuser was never refused");
    let mut all: Vec<&Node> = c.nodes.iter().collect();
    all.push(&follower);
    all.push(&rpc);
    assert!(assert_same_chain(&all) >= target as usize);
}
