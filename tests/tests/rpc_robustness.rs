//! The JSON-RPC server under bad input, against a real `kalgo --dev`: every bad
//! request gets the right JSON-RPC error (or HTTP status), and the node keeps
//! serving and making blocks afterwards.

use serde_json::Value;
use tests::devnode::{DevNode, http_post, http_request};

fn error_code(v: &Value) -> Option<i64> {
    v.get("error")?.get("code")?.as_i64()
}

fn post(node: &DevNode, body: &[u8]) -> (u16, Value) {
    let (status, text) = http_post(node.http, body).expect("HTTP request");
    let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
    (status, v)
}

fn head(node: &DevNode) -> u64 {
    let v = node.call("eth_blockNumber", "[]").expect("eth_blockNumber");
    let s = v["result"].as_str().expect("result");
    u64::from_str_radix(s.trim_start_matches("0x"), 16).expect("quantity")
}

#[test]
fn bad_requests_get_json_rpc_errors_and_the_node_keeps_serving() {
    let mut node = DevNode::start(
        "latest",
        500,
        &[
            "--http.corsdomain",
            "http://good.test",
            "--rpc.batch-request-limit",
            "50",
        ],
    );
    let before = head(&node);

    // Parse errors: truncated JSON, non-UTF-8 bytes, nothing, and (jsonrpsee's
    // choice) JSON that is neither an object nor an array.
    for body in [
        &b"{\"jsonrpc\":\"2.0\","[..],
        b"\xff\xfe\x00garbage",
        b"",
        b"42",
    ] {
        let (_, v) = post(&node, body);
        assert_eq!(error_code(&v), Some(-32700), "{body:?} → {v}");
    }
    // Invalid requests: no method, empty batch, wrong types.
    for body in [
        r#"{"jsonrpc":"2.0","id":1}"#,
        "[]",
        r#"{"jsonrpc":"2.0","id":1,"method":5}"#,
    ] {
        let (_, v) = post(&node, body.as_bytes());
        assert_eq!(error_code(&v), Some(-32600), "{body} → {v}");
    }
    // Unknown methods, including namespaces not enabled over HTTP.
    for method in [
        "eth_foo",
        "debug_traceTransaction",
        "admin_peers",
        "personal_unlockAccount",
    ] {
        let v = node.call(method, "[]").expect("call");
        assert_eq!(error_code(&v), Some(-32601), "{method} → {v}");
    }
    // Bad params.
    let zero_addr = format!("\"0x{}\"", "00".repeat(20));
    for (method, params) in [
        ("eth_getBalance", r#"["0xzz"]"#.to_string()),
        ("eth_getBalance", "[]".to_string()),
        ("eth_getBalance", format!("[{zero_addr}, \"0x01\"]")),
        ("eth_getBalance", format!("[{zero_addr}, \"newest\"]")),
        ("eth_getBalance", r#"{"address":1}"#.to_string()),
        ("eth_chainId", "[1]".to_string()),
        ("eth_getBlockByNumber", r#"["0x1", "yes"]"#.to_string()),
        ("eth_call", r#"[{"to":"0x00","bogus":1}]"#.to_string()),
        (
            "eth_call",
            format!(r#"[{{"to":{zero_addr},"data":"0x12","input":"0x34"}}]"#),
        ),
        (
            "eth_getLogs",
            r#"[{"fromBlock":"0x5","toBlock":"0x1"}]"#.to_string(),
        ),
        ("eth_getLogs", r#"[{"topics":"x"}]"#.to_string()),
        ("eth_getTransactionReceipt", r#"["0x1234"]"#.to_string()),
        (
            "eth_feeHistory",
            r#"["0x2", "latest", [90, 10]]"#.to_string(),
        ),
        ("eth_getFilterChanges", "[]".to_string()),
    ] {
        let v = node.call(method, &params).expect("call");
        assert_eq!(error_code(&v), Some(-32602), "{method}({params}) → {v}");
    }
    // Well-formed but wrong: server errors with geth's messages.
    let v = node
        .call("eth_sendRawTransaction", r#"["0x1234"]"#)
        .expect("call");
    assert_eq!(error_code(&v), Some(-32000), "{v}");
    let v = node
        .call("eth_getFilterChanges", r#"["0x1"]"#)
        .expect("call");
    assert_eq!(v["error"]["message"], "filter not found", "{v}");
    let v = node
        .call("eth_getBalance", &format!("[{zero_addr}, \"0xffffff\"]"))
        .expect("call");
    assert_eq!(v["error"]["message"], "header not found", "{v}");
    // Unknown things are null, not errors.
    let v = node
        .call(
            "eth_getTransactionByHash",
            &format!("[\"0x{}\"]", "ab".repeat(32)),
        )
        .expect("call");
    assert_eq!(v["result"], Value::Null, "{v}");
    let v = node
        .call("eth_getBlockByNumber", r#"["0xffffff", false]"#)
        .expect("call");
    assert_eq!(v["result"], Value::Null, "{v}");

    // A batch at the limit works and keeps ids; one over it is refused.
    let batch = |n: usize| {
        let calls: Vec<String> = (0..n)
            .map(|i| format!(r#"{{"jsonrpc":"2.0","id":{i},"method":"eth_chainId"}}"#))
            .collect();
        format!("[{}]", calls.join(","))
    };
    let (_, v) = post(&node, batch(50).as_bytes());
    let answers = v.as_array().expect("batch answer");
    assert_eq!(answers.len(), 50);
    assert!(answers.iter().all(|a| a["result"] == "0x539"), "{v}");
    let (_, v) = post(&node, batch(51).as_bytes());
    assert_eq!(error_code(&v), Some(-32010), "{v}");
    // A mixed batch answers each entry on its own.
    let (_, v) = post(
        &node,
        br#"[{"jsonrpc":"2.0","id":1,"method":"eth_chainId"},{"jsonrpc":"2.0","id":2,"method":"nope"},{"jsonrpc":"2.0","id":3}]"#,
    );
    let codes: Vec<Option<i64>> = v
        .as_array()
        .expect("batch")
        .iter()
        .map(error_code)
        .collect();
    assert!(
        codes.contains(&None) && codes.contains(&Some(-32601)) && codes.contains(&Some(-32600)),
        "{v}"
    );

    // Submissions in a batch run together, every other call as before: each
    // entry keeps its place and id, and gets its own verdict.
    let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    let to = "0x00000000000000000000000000000000000000aa";
    let tx = |nonce| tests::cluster::sign_call(key, 1337, nonce, 2_000_000_000, 21_000, to, "");
    let (tx0, tx1) = (tx(0), tx(1));
    let entry = |id: u32, method: &str, params: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#)
    };
    let send = "eth_sendRawTransaction";
    let body = format!(
        "[{}]",
        [
            entry(10, send, &format!(r#"["{tx0}"]"#)),
            entry(11, send, &format!(r#"["{tx0}"]"#)),
            entry(12, "eth_chainId", "[]"),
            entry(13, send, r#"["0x02c0"]"#),
            entry(14, send, &format!(r#"["{tx1}"]"#)),
        ]
        .join(",")
    );
    let (_, v) = post(&node, body.as_bytes());
    let answers = v.as_array().expect("batch answer");
    let ids: Vec<i64> = answers.iter().filter_map(|a| a["id"].as_i64()).collect();
    assert_eq!(ids, [10, 11, 12, 13, 14], "{v}");
    let hash0 = answers[0]["result"]
        .as_str()
        .expect("tx0 pooled")
        .to_string();
    assert!(
        answers[1]["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("already known")),
        "{v}"
    );
    assert_eq!(answers[2]["result"], "0x539", "{v}");
    assert!(error_code(&answers[3]).is_some(), "{v}");
    let hash1 = answers[4]["result"]
        .as_str()
        .expect("tx1 pooled")
        .to_string();
    assert_ne!(hash0, hash1);
    for hash in [&hash0, &hash1] {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let r = node
                .call("eth_getTransactionReceipt", &format!(r#"["{hash}"]"#))
                .expect("receipt");
            if r["result"]["status"] == "0x1" {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{hash} not mined: {r}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    // An oversize body (> 5 MiB) is refused with 413 and -32007.
    let big = vec![b'a'; 6 * 1024 * 1024];
    let (status, text) = http_post(node.http, &big).expect("big request");
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("-32007"), "{text}");

    // GET is not JSON-RPC; CORS preflights follow --http.corsdomain.
    let (status, _, _) = http_request(node.http, "GET", &[], b"").expect("GET");
    assert_eq!(status, 405);
    let (status, head_text, _) = http_request(
        node.http,
        "OPTIONS",
        &[
            "Origin: http://good.test",
            "Access-Control-Request-Method: POST",
        ],
        b"",
    )
    .expect("preflight");
    assert_eq!(status, 204);
    assert!(
        head_text.contains("access-control-allow-origin: http://good.test"),
        "{head_text}"
    );
    let (status, _, _) =
        http_request(node.http, "OPTIONS", &["Origin: http://evil.test"], b"").expect("preflight");
    assert_eq!(status, 403);

    // Still alive, still serving, still making blocks.
    assert!(node.alive(), "kalgo exited");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while head(&node) <= before {
        assert!(
            std::time::Instant::now() < deadline,
            "no new block after the bad requests"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
