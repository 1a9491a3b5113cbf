//! `debug_traceTransaction`, `debug_traceBlockByNumber`/`ByHash` and
//! `debug_traceCall` on a real `kalgo --dev`: a small
//! hand-assembled contract is deployed and called (one call that stores a word,
//! one that reverts with `0xdeadbeef`), and the traces are checked against the
//! receipts and against geth's struct-logger format.

use std::time::Duration;

use serde_json::{Value, json};
use tests::devnode::DevNode;

/// Development account #1 ("test … junk" mnemonic), funded by `--dev`.
const KEY1: &str = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
const ADDR1: &str = "0x70997970c51812dc3a010c7d01b50e0d17dc79c8";

/// Runtime: `slot0 = calldata[0..32]`; if that word is zero, revert with
/// `0xdeadbeef`, else stop.
///
/// ```text
/// 00 PUSH1 0  02 CALLDATALOAD  03 DUP1  04 PUSH1 0  06 SSTORE  07 PUSH1 0x17
/// 09 JUMPI    0a PUSH4 deadbeef  0f PUSH1 0  11 MSTORE  12 PUSH1 4  14 PUSH1 28
/// 16 REVERT   17 JUMPDEST  18 STOP
/// ```
const RUNTIME: &str = "6000358060005560175763deadbeef6000526004601cfd5b00";
/// Init code: copy the 25-byte runtime (at offset 11) to memory and return it.
const INIT: &str = "601980600b6000396000f3";

fn ok(node: &DevNode, method: &str, params: Value) -> Value {
    let v = node.call(method, &params.to_string()).expect("HTTP call");
    assert!(v.get("error").is_none(), "{method}: {v}");
    v["result"].clone()
}

fn receipt(node: &DevNode, hash: &Value) -> Value {
    for _ in 0..300 {
        let r = ok(node, "eth_getTransactionReceipt", json!([hash]));
        if !r.is_null() {
            return r;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no receipt for {hash}");
}

fn hex_u64(v: &Value) -> u64 {
    let s = v.as_str().unwrap_or_default();
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or(u64::MAX)
}

fn word(n: u8) -> String {
    format!("0x{}{n:02x}", "00".repeat(31))
}

/// The struct logs of a trace, with checks every trace must pass: the first
/// opcode is at pc 0, depth 1; gas falls by each opcode's cost.
fn checked_logs(trace: &Value) -> Vec<Value> {
    let logs = trace["structLogs"].as_array().cloned().unwrap_or_default();
    assert!(!logs.is_empty(), "{trace}");
    assert_eq!(logs[0]["pc"], 0, "{}", logs[0]);
    assert_eq!(logs[0]["depth"], 1, "{}", logs[0]);
    for w in logs.windows(2) {
        let (gas, cost) = (w[0]["gas"].as_u64(), w[0]["gasCost"].as_u64());
        assert_eq!(
            w[1]["gas"].as_u64(),
            gas.zip(cost).map(|(g, c)| g - c),
            "{} then {}",
            w[0],
            w[1]
        );
    }
    logs
}

#[test]
fn traces_follow_receipts_and_geth_format() {
    let node = DevNode::start(
        "latest",
        300,
        &[
            "--http.api",
            "eth,net,web3,personal,debug",
            "--allow-insecure-unlock",
            "--lightkdf",
        ],
    );
    assert_eq!(
        ok(&node, "rpc_modules", json!([])),
        json!({"eth": "1.0", "net": "1.0", "web3": "1.0", "personal": "1.0", "debug": "1.0"})
    );
    ok(&node, "personal_importRawKey", json!([KEY1, "pw"]));
    ok(&node, "personal_unlockAccount", json!([ADDR1, "pw", 0]));

    let deploy = ok(
        &node,
        "eth_sendTransaction",
        json!([{"from": ADDR1, "data": format!("0x{INIT}{RUNTIME}"), "gas": "0x30000"}]),
    );
    let deployed = receipt(&node, &deploy);
    assert_eq!(deployed["status"], "0x1", "{deployed}");
    let contract = deployed["contractAddress"].clone();
    assert_eq!(
        ok(&node, "eth_getCode", json!([contract, "latest"])),
        json!(format!("0x{RUNTIME}"))
    );

    // A storing call and a reverting one (explicit gas: estimation refuses reverts).
    let store = ok(
        &node,
        "eth_sendTransaction",
        json!([{"from": ADDR1, "to": contract, "data": word(0x2a), "gas": "0x20000"}]),
    );
    let revert = ok(
        &node,
        "eth_sendTransaction",
        json!([{"from": ADDR1, "to": contract, "data": word(0), "gas": "0x20000"}]),
    );
    let stored = receipt(&node, &store);
    let reverted = receipt(&node, &revert);
    assert_eq!(stored["status"], "0x1", "{stored}");
    assert_eq!(reverted["status"], "0x0", "{reverted}");

    // The storing call, default options: stack and storage, no memory.
    let trace = ok(&node, "debug_traceTransaction", json!([store]));
    assert_eq!(trace["gas"].as_u64(), Some(hex_u64(&stored["gasUsed"])));
    assert_eq!(trace["failed"], false);
    assert_eq!(trace["returnValue"], "0x");
    let logs = checked_logs(&trace);
    let ops: Vec<&str> = logs.iter().filter_map(|l| l["op"].as_str()).collect();
    assert_eq!(
        ops,
        [
            "PUSH1",
            "CALLDATALOAD",
            "DUP1",
            "PUSH1",
            "SSTORE",
            "PUSH1",
            "JUMPI",
            "JUMPDEST",
            "STOP"
        ]
    );
    assert_eq!(logs[0]["stack"], json!([]));
    assert_eq!(logs[4]["stack"], json!(["0x2a", "0x2a", "0x0"]));
    assert_eq!(
        logs[4]["storage"],
        json!({ "00".repeat(32): format!("{}2a", "00".repeat(31)) })
    );
    // A fresh slot written from zero (cold): 22,100 gas.
    assert_eq!(logs[4]["gasCost"], 22_100);
    assert!(logs.iter().all(|l| l.get("memory").is_none()));
    assert!(logs[..4].iter().all(|l| l.get("storage").is_none()));

    // The whole block, by number and by hash: one entry per transaction, and the
    // storing call's entry is its debug_traceTransaction answer.
    let block = ok(
        &node,
        "eth_getBlockByNumber",
        json!([stored["blockNumber"], false]),
    );
    let by_number = ok(
        &node,
        "debug_traceBlockByNumber",
        json!([stored["blockNumber"]]),
    );
    let by_hash = ok(&node, "debug_traceBlockByHash", json!([block["hash"]]));
    assert_eq!(by_number, by_hash);
    let entries = by_number.as_array().cloned().unwrap_or_default();
    assert_eq!(
        entries
            .iter()
            .map(|e| e["txHash"].clone())
            .collect::<Vec<_>>(),
        block["transactions"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    );
    let entry = entries
        .iter()
        .find(|e| e["txHash"] == store)
        .unwrap_or_else(|| panic!("{store} not in {by_number}"));
    assert_eq!(entry["result"], trace);

    // Over IPC (always served there) through the console's `debug` object.
    let out = std::process::Command::new(tests::cluster::kalgo_bin())
        .arg("attach")
        .arg(format!("ipc:{}", node.datadir().join("kalgo.ipc").display()))
        .args([
            "--exec",
            &format!("debug.traceTransaction({store}).structLogs.length + ' ' + debug.traceTransaction({store}, {{tracer: 'callTracer'}}).gasUsed"),
        ])
        .output()
        .expect("run kalgo attach");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "\"{} {}\"",
            logs.len(),
            stored["gasUsed"].as_str().unwrap_or_default()
        ),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // disableStack and disableStorage.
    let bare = ok(
        &node,
        "debug_traceTransaction",
        json!([store, {"disableStack": true, "disableStorage": true}]),
    );
    let bare_logs = checked_logs(&bare);
    assert_eq!(bare_logs.len(), logs.len());
    assert!(
        bare_logs
            .iter()
            .all(|l| l.get("stack").is_none() && l.get("storage").is_none()),
        "{bare}"
    );

    // The reverting call, with memory: the revert data is the return value.
    let trace = ok(
        &node,
        "debug_traceTransaction",
        json!([revert, {"enableMemory": true}]),
    );
    assert_eq!(trace["gas"].as_u64(), Some(hex_u64(&reverted["gasUsed"])));
    assert_eq!(trace["failed"], true);
    assert_eq!(trace["returnValue"], "0xdeadbeef");
    let logs = checked_logs(&trace);
    let last = logs.last().cloned().unwrap_or_default();
    assert_eq!(last["op"], "REVERT");
    assert_eq!(
        last["memory"],
        json!([format!("{}deadbeef", "00".repeat(28))])
    );

    // debug_traceCall at the latest block sees the stored word via the same code.
    let call = ok(
        &node,
        "debug_traceCall",
        json!([{"from": ADDR1, "to": contract, "data": word(7)}, "latest"]),
    );
    assert_eq!(call["failed"], false);
    let logs = checked_logs(&call);
    assert_eq!(
        logs[4]["storage"],
        json!({ "00".repeat(32): format!("{}07", "00".repeat(31)) })
    );

    // callTracer: the top frame of each call, with the receipt's gas.
    let frame = ok(
        &node,
        "debug_traceTransaction",
        json!([store, {"tracer": "callTracer"}]),
    );
    assert_eq!(frame["type"], "CALL");
    assert_eq!(frame["from"], ADDR1);
    assert_eq!(frame["to"], contract);
    assert_eq!(frame["value"], "0x0");
    assert_eq!(frame["gas"], "0x20000");
    assert_eq!(frame["gasUsed"], stored["gasUsed"]);
    assert_eq!(frame["input"], json!(word(0x2a)));
    assert!(
        frame.get("error").is_none() && frame.get("calls").is_none(),
        "{frame}"
    );
    let frame = ok(
        &node,
        "debug_traceTransaction",
        json!([revert, {"tracer": "callTracer", "tracerConfig": {"onlyTopCall": true}}]),
    );
    assert_eq!(frame["error"], "execution reverted");
    assert_eq!(frame["output"], "0xdeadbeef");
    assert_eq!(frame["gasUsed"], reverted["gasUsed"]);
    let frames = ok(
        &node,
        "debug_traceBlockByNumber",
        json!([deployed["blockNumber"], {"tracer": "callTracer"}]),
    );
    let create = frames
        .as_array()
        .and_then(|a| a.iter().find(|e| e["txHash"] == deploy))
        .map(|e| e["result"].clone())
        .unwrap_or_default();
    assert_eq!(create["type"], "CREATE", "{frames}");
    assert_eq!(create["to"], contract);
    assert_eq!(create["output"], json!(format!("0x{RUNTIME}")));

    // geth's `limit` truncates.
    let short = ok(
        &node,
        "debug_traceTransaction",
        json!([store, {"limit": 3}]),
    );
    assert_eq!(short["structLogs"].as_array().map(Vec::len), Some(3));

    // Errors: an unknown transaction, another tracer, a misspelt option.
    let missing = node
        .call(
            "debug_traceTransaction",
            &json!([format!("0x{}", "11".repeat(32))]).to_string(),
        )
        .expect("HTTP call");
    assert_eq!(missing["error"]["code"], -32000, "{missing}");
    let tracer = node
        .call(
            "debug_traceTransaction",
            &json!([store, {"tracer": "prestateTracer"}]).to_string(),
        )
        .expect("HTTP call");
    assert_eq!(tracer["error"]["code"], -32602, "{tracer}");
    let overrides = node
        .call(
            "debug_traceTransaction",
            &json!([store, {"stateOverrides": {}}]).to_string(),
        )
        .expect("HTTP call");
    assert_eq!(overrides["error"]["code"], -32602, "{overrides}");
    let typo = node
        .call(
            "debug_traceTransaction",
            &json!([store, {"disablestack": true}]).to_string(),
        )
        .expect("HTTP call");
    assert_eq!(typo["error"]["code"], -32602, "{typo}");
}

#[test]
fn debug_is_not_in_the_default_http_apis() {
    let node = DevNode::start("latest", 300, &[]);
    let v = node
        .call(
            "debug_traceCall",
            &json!([{"to": ADDR1}, "latest"]).to_string(),
        )
        .expect("HTTP call");
    assert_eq!(v["error"]["code"], -32601, "{v}");
}
