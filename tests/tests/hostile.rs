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
//! Needs `cargo build -p node` in the same target dir.

use std::time::Duration;

use tests::cluster::{Network, Node, assert_same_chain, free_port};

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn a_peer_claiming_a_far_head_cannot_monopolise_sync() {
    let net = Network::fixed(4, 500);
    let (mut nodes, boot) = net.start_all();
    for n in nodes.iter_mut() {
        n.wait_height(10, secs(120));
    }
    let liar_dir = net.extra_datadir("liar");
    let liar_args: Vec<String> = ["--bootnodes", &boot, "--nodiscover", "fuzzpeer"]
        .into_iter()
        .chain(["--sync-lie", "--lie-for", "300"])
        .map(String::from)
        .collect();
    let mut liar = Node::start(&net.bin, "liar", &liar_dir, free_port(), &liar_args);
    let liar_addr = liar.listen_addr(secs(30));
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
