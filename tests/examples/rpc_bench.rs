//! JSON-RPC throughput of a real `kalgo --dev` over HTTP: requests per second for
//! `eth_blockNumber`, `eth_getBalance`, and `eth_getTransactionReceipt` and
//! `eth_getTransactionByHash` of the last transaction of a block of about 2,000
//! transfers (filled by `kalgo loadtest`), with 1 and 4 keep-alive connections,
//! 3 s each. Bounded: it only talks to the node it starts on 127.0.0.1.
//!
//! ```text
//! cargo build --release -p node && cargo run --release -p tests --example rpc_bench
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use tests::cluster::kalgo_bin;
use tests::devnode::DevNode;

const RUN: Duration = Duration::from_secs(3);

/// Sends `body` repeatedly on one keep-alive connection until `RUN` passes;
/// returns the number of answered requests (each checked to hold a result).
fn hammer(addr: SocketAddr, body: &str) -> u64 {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).ok();
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let started = Instant::now();
    let mut n = 0u64;
    while started.elapsed() < RUN {
        stream.write_all(request.as_bytes()).expect("write");
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read");
            let l = line.to_ascii_lowercase();
            if let Some(v) = l.strip_prefix("content-length:") {
                length = v.trim().parse().expect("length");
            }
            if line == "\r\n" {
                break;
            }
        }
        let mut buf = vec![0u8; length];
        reader.read_exact(&mut buf).expect("body");
        assert!(
            buf.windows(8).any(|w| w == b"\"result\""),
            "{}",
            String::from_utf8_lossy(&buf)
        );
        n += 1;
    }
    n
}

/// Fills blocks with `kalgo loadtest` (2,000 transfers/s, 1 s blocks) and returns
/// the hash of the last transaction of the largest block, and that block's size.
fn tx_in_a_full_block(node: &DevNode) -> (String, usize) {
    let status = std::process::Command::new(kalgo_bin())
        .args(["loadtest", "--rpc", &node.url()])
        .args(["--senders", "200", "--rate", "2000", "--duration", "3"])
        .args(["--settle", "5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run kalgo loadtest");
    assert!(status.success(), "loadtest failed");
    let head = node.call("eth_blockNumber", "[]").expect("blockNumber");
    let head = u64::from_str_radix(
        head["result"]
            .as_str()
            .expect("number")
            .trim_start_matches("0x"),
        16,
    )
    .expect("hex");
    let mut best = (String::new(), 0usize);
    for n in 1..=head {
        let b = node
            .call("eth_getBlockByNumber", &format!(r#"["0x{n:x}", false]"#))
            .expect("block");
        let txs = b["result"]["transactions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if txs.len() > best.1 {
            let last = txs.last().and_then(|t| t.as_str()).unwrap_or_default();
            best = (last.to_string(), txs.len());
        }
    }
    assert!(best.1 > 0, "no transaction landed");
    best
}

fn main() {
    let node = DevNode::start("latest", 1000, &[]);
    let (tx, size) = tx_in_a_full_block(&node);
    let receipt = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_getTransactionReceipt","params":["{tx}"]}}"#
    );
    let by_hash = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"eth_getTransactionByHash","params":["{tx}"]}}"#
    );
    let methods = [
        (
            "eth_blockNumber".to_string(),
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","params":[]}"#.to_string(),
        ),
        (
            "eth_getBalance".to_string(),
            r#"{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":["0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","latest"]}"#.to_string(),
        ),
        (
            format!("eth_getTransactionReceipt (last of {size})"),
            receipt,
        ),
        (format!("eth_getTransactionByHash (last of {size})"), by_hash),
    ];
    println!("| method | connections | requests/s |");
    println!("|---|---|---|");
    for (name, body) in methods {
        for conns in [1usize, 4] {
            let handles: Vec<_> = (0..conns)
                .map(|_| {
                    let addr = node.http;
                    let body = body.clone();
                    std::thread::spawn(move || hammer(addr, &body))
                })
                .collect();
            let total: u64 = handles.into_iter().map(|h| h.join().expect("thread")).sum();
            println!(
                "| {name} | {conns} | {:.0} |",
                total as f64 / RUN.as_secs_f64()
            );
        }
    }
}
