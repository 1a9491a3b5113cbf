//! Black box: the operator surface of real `kalgo` processes.
//!
//! - two validators of `kalgo genesis --validators 2`, started without
//!   bootnodes and with `--nodiscover`, are joined by `admin_addPeer` over IPC:
//!   `admin_nodeInfo` gives the `/p2p/` address, `admin_peers` shows each side,
//!   both then commit, and `admin_removePeer` disconnects them; malformed
//!   addresses are invalid-params errors;
//! - a `--dev` node: `--metrics` serves Prometheus text whose height gauge grows;
//!   `admin_*` answers without a network; `miner_stop` halts the single miner's
//!   chain and `miner_start` resumes it.
//! - the Grafana dashboard (`docs/grafana/kalgo.json`) reads only metrics a
//!   `--dev` node exports, and the finality, votes-by-step and process metrics
//!   have values after a few blocks.
//!
//! Needs `cargo build -p node` in the same target dir.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::cluster::{Network, free_port};
use tests::devnode::{DevNode, ipc_call, sample, scrape};

/// One JSON-RPC call over the IPC socket of `datadir` (`D/kalgo.ipc`).
fn ipc(datadir: &Path, method: &str, params: Value) -> Value {
    ipc_call(&datadir.join("kalgo.ipc"), method, params)
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn peer_ids(datadir: &Path) -> Vec<String> {
    let r = ipc(datadir, "admin_peers", json!([]));
    r["result"]
        .as_array()
        .unwrap_or_else(|| panic!("admin_peers: {r}"))
        .iter()
        .map(|p| p["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn admin_add_peers_and_remove_peer_between_two_validators() {
    let net = Network::fixed(2, 500);
    let mut a = net.start_validator(0, free_port(), &[]);
    let mut b = net.start_validator(1, free_port(), &[]);
    // No discovery: only admin_addPeer connects them, and nothing redials after removal.
    a.listen_addr(Duration::from_secs(30));
    b.listen_addr(Duration::from_secs(30));
    let (da, db) = (net.datadir(0), net.datadir(1));

    let info = ipc(&da, "admin_nodeInfo", json!([]));
    let id_a = info["result"]["id"].as_str().expect("id").to_string();
    let addrs = info["result"]["listenAddrs"]
        .as_array()
        .expect("listenAddrs");
    let addr_a = addrs[0].as_str().expect("addr").to_string();
    assert!(addr_a.ends_with(&format!("/p2p/{id_a}")), "{info}");
    assert!(addr_a.starts_with("/ip4/127.0.0.1/tcp/"), "{info}");
    assert_eq!(
        info["result"]["protocols"]["kalgo"]["chainId"],
        json!(net_chain_id(&da)),
        "{info}"
    );
    // A new node's key is secp256k1: it has a real enode URL (geth's form).
    let enode_a = info["result"]["enode"].as_str().expect("enode").to_string();
    let node_id_a = enode_a
        .strip_prefix("enode://")
        .and_then(|r| r.split_once('@'))
        .map(|(id, _)| id.to_string())
        .unwrap_or_else(|| panic!("not an enode URL: {info}"));
    assert_eq!(node_id_a.len(), 128, "{info}");
    assert!(node_id_a.chars().all(|c| c.is_ascii_hexdigit()), "{info}");
    let port_a = addr_a
        .split("/tcp/")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .expect("tcp port");
    assert!(
        enode_a.ends_with(&format!("@127.0.0.1:{port_a}?discport=0")),
        "{info}"
    );
    let info_b = ipc(&db, "admin_nodeInfo", json!([]));
    let id_b = info_b["result"]["id"].as_str().expect("id").to_string();
    let node_id_b = info_b["result"]["enode"]
        .as_str()
        .and_then(|e| e.strip_prefix("enode://"))
        .and_then(|r| r.split_once('@'))
        .map(|(id, _)| id.to_string())
        .unwrap_or_else(|| panic!("not an enode URL: {info_b}"));
    assert!(peer_ids(&db).is_empty(), "b has peers before admin_addPeer");

    // Malformed and id-less addresses: invalid params, nothing changes.
    for bad in [
        json!(["not a multiaddr"]),
        json!(["/ip4/127.0.0.1/tcp/1"]),
        json!(["enode://abc@127.0.0.1:1"]),
        json!([format!("enode://{node_id_a}@host.example:1")]),
        json!([]),
    ] {
        let r = ipc(&db, "admin_addPeer", bad.clone());
        assert_eq!(r["error"]["code"], -32602, "{bad}: {r}");
    }

    // Kaleido's walkthrough: admin.addPeer("enode://…@ip:port?discport=0").
    let r = ipc(&db, "admin_addPeer", json!([enode_a]));
    assert_eq!(r["result"], true, "{r}");
    wait_until("b to list a", Duration::from_secs(30), || {
        peer_ids(&db).contains(&id_a)
    });
    wait_until("a to list b", Duration::from_secs(30), || {
        peer_ids(&da).contains(&id_b)
    });
    let peers_a = ipc(&da, "admin_peers", json!([]));
    assert_eq!(
        peers_a["result"][0]["network"]["inbound"], true,
        "{peers_a}"
    );
    assert!(
        peers_a["result"][0]["enode"]
            .as_str()
            .is_some_and(|e| e.starts_with(&format!("enode://{node_id_b}@"))),
        "{peers_a}"
    );

    // Two equal validators commit only together: the connection is real.
    a.wait_height(2, Duration::from_secs(120));
    b.wait_height(2, Duration::from_secs(120));

    let r = ipc(&db, "admin_removePeer", json!([addr_a]));
    assert_eq!(r["result"], true, "{r}");
    wait_until("b to drop a", Duration::from_secs(30), || {
        peer_ids(&db).is_empty()
    });
    assert!(a.is_running() && b.is_running());
}

/// The chain id of the network's genesis.json (next to the node directories).
fn net_chain_id(datadir: &Path) -> u64 {
    let g = datadir.parent().expect("parent").join("genesis.json");
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(g).expect("genesis")).expect("json");
    v["config"]["chainId"].as_u64().expect("chainId")
}

fn block_number(node: &DevNode) -> u64 {
    let v = node.call("eth_blockNumber", "[]").expect("eth_blockNumber");
    u64::from_str_radix(
        v["result"].as_str().expect("hex").trim_start_matches("0x"),
        16,
    )
    .expect("quantity")
}

#[test]
fn dev_node_metrics_admin_without_network_and_miner_toggle() {
    let port = free_port();
    let port_s = port.to_string();
    let node = DevNode::start("latest", 300, &["--metrics", "--metrics.port", &port_s]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");

    let (head, first) = scrape(addr);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    assert!(
        first.contains("# TYPE kalgo_consensus_height gauge"),
        "{first}"
    );
    let h0 = sample(&first, "kalgo_consensus_height");
    wait_until("the height gauge to grow", Duration::from_secs(60), || {
        sample(&scrape(addr).1, "kalgo_consensus_height") >= h0 + 2.0
    });
    let (_, later) = scrape(addr);
    assert!(
        sample(&later, "kalgo_blocks_committed_total") >= 2.0,
        "{later}"
    );
    assert!(
        sample(&later, "kalgo_block_commit_seconds") > 0.0,
        "{later}"
    );
    assert_eq!(sample(&later, "kalgo_p2p_peers"), 0.0, "{later}");

    // admin over IPC without a network: empty peers, addPeer refused, no panic.
    let d = node.datadir();
    assert_eq!(ipc(d, "admin_peers", json!([]))["result"], json!([]));
    let info = ipc(d, "admin_nodeInfo", json!([]));
    assert!(info["result"]["id"].is_null(), "{info}");
    assert_eq!(
        info["result"]["protocols"]["kalgo"]["chainId"], 1337,
        "{info}"
    );
    let valid = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
    let r = ipc(d, "admin_addPeer", json!([valid]));
    assert_eq!(r["error"]["code"], -32000, "{r}");
    // admin is not on HTTP unless listed.
    let r = node.call("admin_peers", "[]").expect("http");
    assert_eq!(r["error"]["code"], -32601, "{r}");

    // miner_stop: the single miner stops, so does the chain; miner_start resumes.
    assert_eq!(ipc(d, "miner_stop", json!([]))["result"], Value::Null);
    std::thread::sleep(Duration::from_millis(600));
    let stopped = block_number(&node);
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        block_number(&node) <= stopped + 1,
        "blocks were made while stopped"
    );
    let r = ipc(d, "miner_start", json!([]));
    assert_eq!(r["result"], Value::Null, "{r}");
    wait_until("blocks after miner_start", Duration::from_secs(60), || {
        block_number(&node) >= stopped + 3
    });
}

/// The metric names a PromQL expression reads: identifiers outside label
/// matchers `{…}`, ranges `[…]` and strings that are not functions (followed
/// by `(`), aggregation or set keywords, or the label lists of `by (…)`,
/// `without (…)`, `on (…)`, `ignoring (…)` and `group_left/right (…)`.
fn promql_metric_names(expr: &str) -> Vec<String> {
    const KEYWORDS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "group",
        "stddev",
        "stdvar",
        "count",
        "count_values",
        "bottomk",
        "topk",
        "quantile",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan",
    ];
    const GROUPING: &[&str] = &[
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
    ];
    let c: Vec<char> = expr.chars().collect();
    let mut names = Vec::new();
    let (mut i, mut labels_next) = (0, false);
    // Index after the matching `close`, skipping quoted strings on the way.
    let skip = |mut i: usize, close: char| {
        let mut quote = None;
        while i < c.len() {
            match (quote, c[i]) {
                (Some(q), '\\') if q != '`' => i += 1,
                (Some(q), ch) if ch == q => quote = None,
                (None, '"' | '\'' | '`') => quote = Some(c[i]),
                (None, ch) if ch == close => return i + 1,
                _ => {}
            }
            i += 1;
        }
        i
    };
    while i < c.len() {
        match c[i] {
            '{' => i = skip(i + 1, '}'),
            '[' => i = skip(i + 1, ']'),
            q @ ('"' | '\'' | '`') => i = skip(i + 1, q),
            '(' if labels_next => {
                labels_next = false;
                i = skip(i + 1, ')');
            }
            ch if ch.is_ascii_alphabetic() || ch == '_' || ch == ':' => {
                let start = i;
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '_' || c[i] == ':') {
                    i += 1;
                }
                let word: String = c[start..i].iter().collect();
                let next = c[i..].iter().find(|ch| !ch.is_whitespace());
                if GROUPING.contains(&word.as_str()) {
                    labels_next = true;
                    continue;
                }
                labels_next = false;
                if next != Some(&'(') && !KEYWORDS.contains(&word.to_lowercase().as_str()) {
                    names.push(word);
                }
            }
            ch if ch.is_ascii_digit() || ch == '.' => {
                while i < c.len() && (c[i].is_ascii_alphanumeric() || c[i] == '.') {
                    i += 1;
                }
            }
            _ => i += 1,
        }
    }
    names
}

/// Every PromQL string of a Grafana dashboard: each `expr`, and the metric of
/// each `label_values(metric, label)` variable query.
fn dashboard_queries(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    ("definition", Value::String(d)) => {
                        if let Some(args) = d.trim().strip_prefix("label_values(") {
                            let metric = args.rsplit_once(',').map_or(args, |(m, _)| m);
                            out.push(metric.trim().to_string());
                        }
                    }
                    _ => dashboard_queries(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| dashboard_queries(v, out)),
        _ => {}
    }
}

#[test]
fn grafana_dashboard_reads_only_exported_metrics() {
    assert_eq!(
        promql_metric_names(
            r#"histogram_quantile(0.99, sum by (instance, le) (rate(a_bucket{i=~"$i}"}[$__rate_interval]))) + on (x) group_left (y) b offset 5m - time() - c"#
        ),
        ["a_bucket", "b", "c"]
    );
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/grafana/kalgo.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dashboard: Value = serde_json::from_str(&text).expect("dashboard JSON");
    let mut queries = Vec::new();
    dashboard_queries(&dashboard, &mut queries);
    assert!(queries.len() >= 16, "too few queries found: {queries:?}");
    let mut names: Vec<String> = queries
        .iter()
        .flat_map(|q| promql_metric_names(q))
        .collect();
    names.sort();
    names.dedup();

    let port = free_port();
    let port_s = port.to_string();
    let _node = DevNode::start("latest", 300, &["--metrics", "--metrics.port", &port_s]);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
    wait_until("three committed blocks", Duration::from_secs(60), || {
        sample(&scrape(addr).1, "kalgo_blocks_committed_total") >= 3.0
    });
    let (_, body) = scrape(addr);
    let exported = |name: &str| {
        body.lines().any(|l| {
            l.strip_prefix(name)
                .is_some_and(|r| r.starts_with([' ', '{']))
        })
    };
    let missing: Vec<&String> = names.iter().filter(|n| !exported(n)).collect();
    assert!(
        missing.is_empty(),
        "the dashboard queries {missing:?}, not in /metrics:\n{body}"
    );
    for want in [
        "kalgo_finality_seconds_bucket",
        "kalgo_finality_last_seconds",
        "kalgo_votes_sent_total",
        "kalgo_votes_received_by_step_total",
        "kalgo_p2p_peers",
        "process_start_time_seconds",
    ] {
        assert!(names.iter().any(|n| n == want), "no panel reads {want}");
    }

    // The new metrics have values once a few heights were decided here.
    assert!(
        sample(&body, "kalgo_finality_seconds_count") >= 2.0,
        "{body}"
    );
    assert!(sample(&body, "kalgo_finality_seconds_sum") > 0.0, "{body}");
    assert!(
        sample(&body, "kalgo_finality_seconds_bucket{le=\"+Inf\"}")
            == sample(&body, "kalgo_finality_seconds_count"),
        "{body}"
    );
    assert!(sample(&body, "kalgo_finality_last_seconds") > 0.0, "{body}");
    // The lone validator proposes, soft-votes and cert-votes every height; it
    // receives nothing.
    for step in ["proposal", "soft", "cert"] {
        let n = sample(&body, &format!("kalgo_votes_sent_total{{step=\"{step}\"}}"));
        assert!(n >= 2.0, "{step}: {n}\n{body}");
    }
    assert_eq!(
        sample(&body, "kalgo_votes_received_by_step_total{step=\"soft\"}"),
        0.0
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let started = sample(&body, "process_start_time_seconds");
    assert!(
        started <= now + 1.0 && started > now - 600.0,
        "{started} vs {now}"
    );
    if cfg!(target_os = "linux") {
        assert!(
            sample(&body, "process_resident_memory_bytes") > 1e6,
            "{body}"
        );
        // A node that decided heights has used some CPU (whole ticks of 10 ms).
        assert!(sample(&body, "process_cpu_seconds_total") > 0.0, "{body}");
    }
}
