//! JSON-RPC over the IPC socket `D/kalgo.ipc` of a real `kalgo --dev`: single
//! calls, batches, namespaces that HTTP does not serve by default, a newHeads
//! subscription, and a parse error that closes only that connection.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::Value;
use tests::devnode::DevNode;

fn line(reader: &mut BufReader<UnixStream>) -> Value {
    let mut l = String::new();
    reader.read_line(&mut l).expect("read a line");
    serde_json::from_str(&l).unwrap_or_else(|e| panic!("{l:?}: {e}"))
}

#[test]
fn ipc_serves_calls_batches_and_subscriptions() {
    let node = DevNode::start("latest", 500, &["--http.api", "eth"]);
    let path = node.datadir().join("kalgo.ipc");
    let stream = UnixStream::connect(&path).expect("connect to kalgo.ipc");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);

    // Two requests in one write, split across values: answered in order.
    writer
        .write_all(br#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]} {"jsonrpc":"2.0","id":2,"#)
        .expect("write");
    writer
        .write_all(br#""method":"txpool_status","params":[]}"#)
        .expect("write");
    let a = line(&mut reader);
    assert_eq!(a["result"], "0x539", "{a}");
    let b = line(&mut reader);
    assert_eq!(b["result"]["pending"], "0x0", "txpool over IPC: {b}");

    // A batch gets an array; a non-request gets -32600.
    writer
        .write_all(br#"[{"jsonrpc":"2.0","id":3,"method":"net_version"},{"jsonrpc":"2.0","id":4,"method":"web3_clientVersion"}] {"x":1}"#)
        .expect("write");
    let batch = line(&mut reader);
    assert_eq!(batch[0]["result"], "1337", "{batch}");
    assert!(
        batch[1]["result"]
            .as_str()
            .is_some_and(|v| v.starts_with("kalgo/")),
        "{batch}"
    );
    let bad = line(&mut reader);
    assert_eq!(bad["error"]["code"], -32600, "{bad}");

    // newHeads: the subscription id, then a header per block.
    writer
        .write_all(br#"{"jsonrpc":"2.0","id":5,"method":"eth_subscribe","params":["newHeads"]}"#)
        .expect("write");
    let sub = line(&mut reader);
    let id = sub["result"].clone();
    assert!(!id.is_null(), "{sub}");
    let note = line(&mut reader);
    assert_eq!(note["method"], "eth_subscription", "{note}");
    assert_eq!(note["params"]["subscription"], id, "{note}");
    assert!(
        note["params"]["result"]["number"].as_str().is_some(),
        "{note}"
    );

    // Garbage: a parse error, then this connection closes; others still work.
    writer.write_all(b"}}not json").expect("write");
    let mut saw_parse_error = false;
    for _ in 0..10 {
        let v = line(&mut reader);
        if v["error"]["code"] == -32700 {
            saw_parse_error = true;
            break;
        }
    }
    assert!(saw_parse_error, "no parse error");
    let other = UnixStream::connect(&path).expect("reconnect");
    let mut w2 = other.try_clone().expect("clone");
    let mut r2 = BufReader::new(other);
    w2.write_all(br#"{"jsonrpc":"2.0","id":9,"method":"eth_blockNumber","params":[]}"#)
        .expect("write");
    let v = line(&mut r2);
    assert!(v["result"].as_str().is_some(), "{v}");
}
