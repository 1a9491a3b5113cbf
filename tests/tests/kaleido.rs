//! Black box: what a Kaleido user types and sees, on a real `kalgo --dev` node.
//!
//! - Kaleido's `eth_*` additions: `eth_hashrate` is the sole miner's whole
//!   weight W = 10¹⁰ (`0x2540be400`, as Kaleido answers for a sole miner) and
//!   `eth_mining` is true while it mines; after `miner_stop` both say it does not
//!   mine; `eth_coinbase` names the coinbase the blocks pay;
//!   `eth_getTxPoolPendingTransactionsCount` counts executable pooled
//!   transactions only (a transaction behind a nonce gap is not counted), as
//!   `txpool_status` does.
//! - the IPC socket answers at Kaleido's name too: `kalgo attach ipc:D/geth.ipc`.
//! - geth-1.8 flags of Kaleido's walkthrough start the node (`--nousb --syncmode
//!   full --gcmode archive --targetgaslimit`); `--syncmode light` is refused with
//!   a clear error; HTTP requests naming a host that is not listed in
//!   `--http.vhosts` (default `localhost`) and WebSocket upgrades from a page
//!   whose origin is not in `--ws.origins` get 403, as geth answers.
//! - two validators joined by geth's `static-nodes.json`, listing the first one's
//!   enode URL (`admin_nodeInfo().enode`), commit together; a miner whose
//!   `--etherbase` is not its registered coinbase is warned at start.
//!
//! Needs `cargo build -p node` in the same target dir.

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::cluster::{kalgo_bin, sign_call};
use tests::devnode::{DevNode, ipc_call};

fn result(node: &DevNode, method: &str, params: &str) -> Value {
    let r = node
        .call(method, params)
        .unwrap_or_else(|e| panic!("{method}: {e}"));
    assert!(r.get("error").is_none(), "{method}: {r}");
    r["result"].clone()
}

fn block_number(node: &DevNode) -> u64 {
    let v = result(node, "eth_blockNumber", "[]");
    u64::from_str_radix(v.as_str().unwrap_or("0x0").trim_start_matches("0x"), 16)
        .unwrap_or_else(|e| panic!("eth_blockNumber {v}: {e}"))
}

/// The first development account of the "test … junk" mnemonic (funded by `--dev`).
const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const DEV_ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

/// Sends a signed call with no data from the first dev account with `nonce`.
fn send(node: &DevNode, nonce: u64) {
    let raw = sign_call(DEV_KEY, 1337, nonce, 2_000_000_000, 21_000, DEV_ADDRESS, "");
    result(node, "eth_sendRawTransaction", &json!([raw]).to_string());
}

#[test]
fn kaleido_eth_additions_report_the_miner_and_the_pool() {
    let node = DevNode::start(
        "latest",
        500,
        &[
            "--ws",
            "--nousb",
            "--syncmode",
            "full",
            "--gcmode",
            "archive",
            "--targetgaslimit",
            "8000000",
        ],
    );
    let ipc = node.datadir().join("kalgo.ipc");

    assert_eq!(result(&node, "eth_hashrate", "[]"), json!("0x2540be400"));
    assert_eq!(result(&node, "eth_mining", "[]"), json!(true));
    let head = result(&node, "eth_getBlockByNumber", r#"["latest", false]"#);
    assert_eq!(
        result(&node, "eth_coinbase", "[]"),
        head["miner"],
        "eth_coinbase names the coinbase blocks pay"
    );
    assert_eq!(
        result(&node, "eth_getTxPoolPendingTransactionsCount", "[]"),
        json!("0x0")
    );

    // Stop the only miner: the chain stops, the pool keeps what is sent.
    assert_eq!(
        ipc_call(&ipc, "miner_stop", json!([]))["result"],
        Value::Null
    );
    let start = Instant::now();
    let mut last = block_number(&node);
    loop {
        std::thread::sleep(Duration::from_millis(1500));
        let now = block_number(&node);
        if now == last {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the chain still grows 30 s after miner_stop"
        );
        last = now;
    }
    assert_eq!(result(&node, "eth_hashrate", "[]"), json!("0x0"));
    assert_eq!(result(&node, "eth_mining", "[]"), json!(false));
    assert_eq!(result(&node, "eth_coinbase", "[]"), head["miner"]);

    let nonce = result(
        &node,
        "eth_getTransactionCount",
        &json!([DEV_ADDRESS, "latest"]).to_string(),
    );
    let nonce = u64::from_str_radix(nonce.as_str().expect("nonce").trim_start_matches("0x"), 16)
        .expect("hex nonce");
    send(&node, nonce);
    send(&node, nonce + 1);
    send(&node, nonce + 5); // behind a gap: queued, not pending
    assert_eq!(
        result(&node, "eth_getTxPoolPendingTransactionsCount", "[]"),
        json!("0x2")
    );
    let status = result(&node, "txpool_status", "[]");
    assert_eq!(status, json!({"pending": "0x2", "queued": "0x1"}));
    assert_eq!(block_number(&node), last, "nothing was mined while stopped");

    // Kaleido users attach to D/geth.ipc: the same endpoint answers there.
    let geth_ipc = node.datadir().join("geth.ipc");
    let out = Command::new(kalgo_bin())
        .arg("attach")
        .arg(format!("ipc:{}", geth_ipc.display()))
        .args(["--exec", "eth.getTxPoolPendingTransactionsCount()"])
        .output()
        .expect("run kalgo attach");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "attach geth.ipc: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), "2", "the console's pending count");
    assert_eq!(
        ipc_call(&geth_ipc, "eth_blockNumber", json!([]))["result"],
        json!(format!("0x{last:x}"))
    );
}

/// The status code of one raw HTTP/1.1 request `head` (ending in a blank line).
fn status_of(addr: std::net::SocketAddr, head: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(head.as_bytes()).expect("write");
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).expect("read");
    let text = String::from_utf8_lossy(&buf[..n]);
    text.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"))
}

#[test]
fn hosts_and_origins_are_checked_as_geth_does() {
    let node = DevNode::start("latest", 500, &["--ws"]);
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    let post = |host: &str| {
        format!(
            "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    assert_eq!(status_of(node.http, &post("localhost:8545")), 200);
    assert_eq!(status_of(node.http, &post(&node.http.to_string())), 200);
    assert_eq!(status_of(node.http, &post("rebind.example:8545")), 403);

    let ws = node.ws.expect("ws endpoint");
    let upgrade = |origin: &str| {
        format!(
            "GET / HTTP/1.1\r\nHost: {ws}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{origin}\r\n"
        )
    };
    assert_eq!(
        status_of(ws, &upgrade("")),
        101,
        "a program sends no Origin"
    );
    assert_eq!(status_of(ws, &upgrade("Origin: http://localhost\r\n")), 101);
    assert_eq!(
        status_of(ws, &upgrade("Origin: https://page.example\r\n")),
        403
    );
}

#[test]
fn syncmode_light_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(kalgo_bin())
        .arg("--datadir")
        .arg(dir.path())
        .args(["--syncmode", "light", "dumpconfig"])
        .output()
        .expect("run kalgo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "accepted: {stderr}");
    assert!(
        stderr.contains("--syncmode light") && stderr.contains("full"),
        "{stderr}"
    );
}

#[test]
fn a_static_nodes_file_with_an_enode_url_joins_two_validators() {
    let net = tests::cluster::Network::fixed(2, 500);
    // geth's --etherbase does not redirect a kalgo miner's rewards: a warning says so.
    let other = "0x00000000000000000000000000000000000000aa".to_string();
    let mut a = net.start_validator_with(
        0,
        tests::cluster::free_port(),
        &[],
        &["--etherbase".to_string(), other],
        false,
    );
    a.listen_addr(Duration::from_secs(30));
    let log = std::fs::read_to_string(net.datadir(0).join("node.log")).expect("node0's log");
    assert!(
        log.contains("--etherbase differs from the miner's registered coinbase"),
        "{log}"
    );
    let info = ipc_call(
        &net.datadir(0).join("kalgo.ipc"),
        "admin_nodeInfo",
        json!([]),
    );
    let enode = info["result"]["enode"].as_str().expect("enode").to_string();
    assert!(enode.starts_with("enode://"), "{info}");
    let list = net.datadir(1).join("kalgo").join("static-nodes.json");
    std::fs::write(&list, json!([enode]).to_string()).expect("write static-nodes.json");
    let mut b = net.start_validator(1, tests::cluster::free_port(), &[]);
    // Two equal validators commit only together.
    a.wait_height(2, Duration::from_secs(120));
    b.wait_height(2, Duration::from_secs(120));

    // A malformed list is a clear start error, not a node without peers.
    drop(a);
    drop(b);
    let bad = net.datadir(0).join("kalgo").join("static-nodes.json");
    std::fs::write(&bad, r#"["enode://00@127.0.0.1:1"]"#).expect("write");
    let out = Command::new(kalgo_bin())
        .arg("--datadir")
        .arg(net.datadir(0))
        .args(["--port", &tests::cluster::free_port().to_string()])
        .output()
        .expect("run kalgo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started with a bad list: {stderr}");
    assert!(
        stderr.contains("static-nodes.json") && stderr.contains("node id"),
        "{stderr}"
    );
}
