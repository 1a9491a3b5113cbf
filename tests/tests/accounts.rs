//! Node-held accounts on a real `kalgo --dev`: over IPC a raw key is imported,
//! listed, unlocked, and `eth_sendTransaction` lands a transfer; over HTTP (with
//! `personal` in `--http.api` but without `--allow-insecure-unlock`) every
//! key-using method is refused and nothing changes.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::{Value, json};
use tests::devnode::DevNode;

/// Development account #1 ("test … junk" mnemonic), funded by `--dev`.
const KEY1: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const ADDR1: &str = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";
const TO: &str = "0x00000000000000000000000000000000000000aa";

struct Ipc {
    w: UnixStream,
    r: BufReader<UnixStream>,
    id: u64,
}

impl Ipc {
    fn connect(node: &DevNode) -> Self {
        let s = UnixStream::connect(node.datadir().join("kalgo.ipc")).expect("connect IPC");
        s.set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        Self {
            w: s.try_clone().expect("clone"),
            r: BufReader::new(s),
            id: 0,
        }
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.id += 1;
        let req = json!({"jsonrpc": "2.0", "id": self.id, "method": method, "params": params});
        self.w.write_all(req.to_string().as_bytes()).expect("write");
        let mut line = String::new();
        self.r.read_line(&mut line).expect("read");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
    }

    fn ok(&mut self, method: &str, params: Value) -> Value {
        let v = self.call(method, params);
        assert!(v.get("error").is_none(), "{method}: {v}");
        v["result"].clone()
    }

    /// The receipt of `hash` once mined (null after 30 s).
    fn receipt(&mut self, hash: &Value) -> Value {
        for _ in 0..300 {
            let receipt = self.ok("eth_getTransactionReceipt", json!([hash]));
            if !receipt.is_null() {
                return receipt;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Value::Null
    }
}

#[test]
fn import_unlock_send_over_ipc_and_http_refuses_keys() {
    let node = DevNode::start(
        "latest",
        300,
        &["--http.api", "eth,net,web3,personal", "--lightkdf"],
    );

    // HTTP without --allow-insecure-unlock: refused, nothing imported.
    for (method, params) in [
        ("personal_importRawKey", json!([KEY1, "pw"])),
        ("personal_newAccount", json!(["pw"])),
        ("personal_unlockAccount", json!([ADDR1, "pw", 0])),
        (
            "eth_sendTransaction",
            json!([{"from": ADDR1, "to": TO, "value": "0x1"}]),
        ),
        ("eth_sign", json!([ADDR1, "0x1234"])),
    ] {
        let v = node.call(method, &params.to_string()).expect("HTTP call");
        assert_eq!(v["error"]["code"], -32000, "{method}: {v}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("forbidden")),
            "{method}: {v}"
        );
    }
    let listed = node.call("eth_accounts", "[]").expect("HTTP call");
    assert_eq!(listed["result"], json!([]), "{listed}");

    // IPC: import, list, unlock until exit, send, sign.
    let mut ipc = Ipc::connect(&node);
    let imported = ipc.ok("personal_importRawKey", json!([KEY1, "secret"]));
    assert_eq!(
        imported.as_str().map(str::to_lowercase).as_deref(),
        Some(ADDR1)
    );
    let again = ipc.call("personal_importRawKey", json!([KEY1, "secret"]));
    assert!(
        again["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already exists")),
        "{again}"
    );
    let accounts = ipc.ok("eth_accounts", json!([]));
    assert_eq!(accounts.as_array().map(Vec::len), Some(1), "{accounts}");
    assert_eq!(ipc.ok("personal_listAccounts", json!([])), accounts);
    // Locked: sending needs an unlock; a wrong password does not unlock.
    let locked = ipc.call(
        "eth_sendTransaction",
        json!([{"from": ADDR1, "to": TO, "value": "0x1"}]),
    );
    assert!(
        locked["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("authentication needed")),
        "{locked}"
    );
    let wrong = ipc.call("personal_unlockAccount", json!([ADDR1, "nope", 0]));
    assert!(
        wrong["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("could not decrypt")),
        "{wrong}"
    );
    assert_eq!(
        ipc.ok("personal_unlockAccount", json!([ADDR1, "secret", 0])),
        json!(true)
    );

    let before = ipc.ok("eth_getBalance", json!([TO, "latest"]));
    assert_eq!(before, json!("0x0"));
    // 25 ether, as the console session does.
    let hash = ipc.ok(
        "eth_sendTransaction",
        json!([{"from": ADDR1, "to": TO, "value": "0x15af1d78b58c400000"}]),
    );
    let receipt = ipc.receipt(&hash);
    assert_eq!(receipt["status"], "0x1", "{receipt}");
    assert_eq!(
        receipt["from"].as_str().map(str::to_lowercase).as_deref(),
        Some(ADDR1)
    );
    let after = ipc.ok("eth_getBalance", json!([TO, "latest"]));
    assert_eq!(after, json!("0x15af1d78b58c400000"));

    // eth_sign: 65 bytes, v = 27 or 28.
    let sig = ipc.ok("eth_sign", json!([ADDR1, "0xdeadbeef"]));
    let sig = sig.as_str().unwrap_or_default();
    assert_eq!(sig.len(), 2 + 130, "{sig}");
    assert!(sig.ends_with("1b") || sig.ends_with("1c"), "{sig}");

    // Locked again: refused.
    assert_eq!(ipc.ok("personal_lockAccount", json!([ADDR1])), json!(true));
    let relocked = ipc.call(
        "eth_sendTransaction",
        json!([{"from": ADDR1, "to": TO, "value": "0x1"}]),
    );
    assert!(relocked.get("error").is_some(), "{relocked}");

    // HTTP still lists the account (addresses only) and still refuses to send.
    let listed = node.call("eth_accounts", "[]").expect("HTTP call");
    assert_eq!(listed["result"], accounts, "{listed}");
}

/// Concurrent `eth_sendTransaction`s from one node-held account, none giving a
/// nonce (what `Promise.all` over a JSON-RPC signer does, or the node's own
/// heartbeat and equivocation reporter sharing the stake owner): each gets its
/// own nonce, as geth's per-account nonce lock gives, so every one is pooled
/// and mined. Filling the nonce from the pool and submitting without holding
/// the account let two sends read the same pending nonce, and one was refused.
#[test]
fn concurrent_sends_from_one_account_each_get_their_own_nonce() {
    const SENDS: usize = 8;
    let node = DevNode::start("latest", 300, &["--lightkdf"]);
    let mut ipc = Ipc::connect(&node);
    ipc.ok("personal_importRawKey", json!([KEY1, "secret"]));
    ipc.ok("personal_unlockAccount", json!([ADDR1, "secret", 0]));
    let start = std::sync::Barrier::new(SENDS);
    let answers: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..SENDS)
            .map(|i| {
                let (node, start) = (&node, &start);
                s.spawn(move || {
                    let mut conn = Ipc::connect(node);
                    start.wait();
                    // Distinct values: distinct transactions even at one nonce.
                    conn.call(
                        "eth_sendTransaction",
                        json!([{"from": ADDR1, "to": TO, "value": format!("{:#x}", i + 1)}]),
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("sender thread"))
            .collect()
    });
    let hashes: Vec<Value> = answers
        .iter()
        .map(|a| {
            assert!(
                a.get("error").is_none(),
                "a concurrent send was refused: {a}"
            );
            a["result"].clone()
        })
        .collect();
    let mut nonces = Vec::new();
    for hash in &hashes {
        let receipt = ipc.receipt(hash);
        assert_eq!(receipt["status"], "0x1", "{hash}: {receipt}");
        let tx = ipc.ok("eth_getTransactionByHash", json!([hash]));
        nonces.push(tx["nonce"].as_str().unwrap_or_default().to_string());
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), SENDS, "nonces: {nonces:?}");
    // 1 + 2 + … + 8 wei.
    let total = (1..=SENDS as u64).sum::<u64>();
    assert_eq!(
        ipc.ok("eth_getBalance", json!([TO, "latest"])),
        json!(format!("{total:#x}"))
    );
}
