//! Fault injection on a cluster of real `kalgo` validators on 127.0.0.1 (issue #9).
//!
//! A [`Cluster`] is a [`Network`] made by `kalgo genesis --validators N` whose
//! nodes each also serve JSON-RPC over HTTP (`eth,net,admin,miner,txpool,consensus`) on a free
//! port. Faults:
//! - [`Cluster::stop`] (SIGKILL) and [`Cluster::restart`] on the same data
//!   directory and P2P port;
//! - [`Cluster::pause`] / [`Cluster::resume`] (SIGSTOP / SIGCONT);
//! - [`Cluster::wipe`]: the chain database is deleted, the keys, node key and
//!   consensus journal kept, and the data directory initialised again;
//! - [`Cluster::isolate`] / [`Cluster::heal`]: a partition made by the operator
//!   API (`admin_banPeer` on both sides of every cut link: connections are
//!   refused both ways, redials included) and lifted by `admin_unbanPeer`.
//!
//! Checks: [`Cluster::assert_same_chain`] compares the block hash at every
//! height on every node (by JSON-RPC, so it includes blocks a node synced before
//! a restart); [`Cluster::assert_landed`] checks that transactions have receipts
//! in the same blocks on every node. [`Funder`] signs plain transfers with the
//! load generator's signing code (`node::loadtest::sign`).

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use alloy_primitives::{Address, B256, U256};
use node::loadtest::sign::{Key, Signer, TransferParams, transfer};
use serde_json::{Value, json};

use crate::cluster::{Network, Node, free_port, run_ok};
use crate::devnode::http_post;

/// 2λ of the fault-test chains: short, so tens of heights take seconds.
pub const TWO_LAMBDA_MS: u64 = 500;

/// A JSON-RPC error or transport failure, as text.
pub type RpcResult = Result<Value, String>;

/// N validators with JSON-RPC, and the faults applied to them.
pub struct Cluster {
    /// The network (genesis, data directories, stake owners).
    pub net: Network,
    /// The running (or stopped) nodes, by index.
    pub nodes: Vec<Node>,
    /// P2P port of each node.
    pub ports: Vec<u16>,
    /// Libp2p peer id of each node.
    pub ids: Vec<String>,
    http: Vec<u16>,
    extra: Vec<Vec<String>>,
    bans: BTreeSet<(usize, usize)>,
    /// Every port handed out (a port free when asked is not reserved: without
    /// this, a node's HTTP port could be another's P2P port not yet bound).
    used: BTreeSet<u16>,
}

/// A free port not in `used` (then added to it).
fn fresh_port(used: &mut BTreeSet<u16>) -> u16 {
    loop {
        let p = free_port();
        if used.insert(p) {
            return p;
        }
    }
}

/// `0x…` quantity as u64.
pub fn qty(v: &Value) -> u64 {
    v.as_str()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("not a quantity: {v}"))
}

/// `0x…` quantity as U256.
pub fn qty256(v: &Value) -> U256 {
    v.as_str()
        .and_then(|s| U256::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or_else(|| panic!("not a quantity: {v}"))
}

impl Cluster {
    /// Starts a fixed committee of `n` validators (2λ = [`TWO_LAMBDA_MS`]);
    /// `extra(i)` are more flags for node `i`. Waits for every RPC server.
    pub fn start(n: u32, extra: impl Fn(usize) -> Vec<String>) -> Cluster {
        Cluster::start_some(n, n as usize, TWO_LAMBDA_MS, extra)
    }

    /// A fixed committee of `n` validators with 2λ = `two_lambda_ms` of which
    /// only validators `0..running` are started (the others hold their stake
    /// but are offline until [`Self::join`]); waits for their RPC servers.
    pub fn start_some(
        n: u32,
        running: usize,
        two_lambda_ms: u64,
        extra: impl Fn(usize) -> Vec<String>,
    ) -> Cluster {
        Cluster::start_on(Network::fixed(n, two_lambda_ms), running, extra)
    }

    /// Starts validators `0..running` of a network already made (and
    /// prepared, e.g. with accounts imported); `extra(i)` are more flags for
    /// node `i`. Waits for their RPC servers.
    pub fn start_on(net: Network, running: usize, extra: impl Fn(usize) -> Vec<String>) -> Cluster {
        let n = net.owners.len();
        let mut used = BTreeSet::new();
        let ports = (0..n).map(|_| fresh_port(&mut used)).collect();
        let mut c = Cluster {
            net,
            nodes: Vec::with_capacity(n),
            ports,
            ids: Vec::with_capacity(n),
            http: vec![0; n],
            extra: (0..n).map(extra).collect(),
            bans: BTreeSet::new(),
            used,
        };
        for _ in 0..running.min(n) {
            c.spawn_next();
        }
        for i in 0..c.len() {
            c.wait_rpc(i);
        }
        c
    }

    /// Starts the next validator not yet started (the first of those left out
    /// by [`Self::start_some`]), with node 0 as bootnode; waits for its RPC
    /// server. Returns its index.
    pub fn join(&mut self) -> usize {
        let i = self.spawn_next();
        self.wait_rpc(i);
        i
    }

    /// Launches validator `self.len()` and learns its peer id.
    fn spawn_next(&mut self) -> usize {
        let i = self.nodes.len();
        assert!(i < self.ports.len(), "every validator is already started");
        let boot = match i {
            0 => Vec::new(),
            _ => vec![self.addr(0)],
        };
        let mut node = self.launch(i, &boot);
        let listen = node.listen_addr(Duration::from_secs(60));
        let id = listen
            .rsplit("/p2p/")
            .next()
            .unwrap_or_default()
            .to_string();
        self.ids.push(id);
        self.nodes.push(node);
        i
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no nodes.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Node `i`'s P2P multiaddr with `/p2p/<peer id>`.
    pub fn addr(&self, i: usize) -> String {
        format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", self.ports[i], self.ids[i])
    }

    /// Every other node's address (the bootnodes of a restarted node).
    fn others(&self, i: usize) -> Vec<String> {
        (0..self.len())
            .filter(|j| *j != i)
            .map(|j| self.addr(j))
            .collect()
    }

    /// Starts validator `i` on its P2P port, a fresh HTTP port and `bootnodes`.
    fn launch(&mut self, i: usize, bootnodes: &[String]) -> Node {
        self.http[i] = fresh_port(&mut self.used);
        let mut args = vec![
            "--mine".to_string(),
            "--miner.stakeowner".into(),
            self.net.owners[i].clone(),
            "--http".into(),
            "--http.port".into(),
            self.http[i].to_string(),
            "--http.api".into(),
            "eth,net,admin,miner,txpool,consensus".into(),
        ];
        if !bootnodes.is_empty() {
            args.push("--bootnodes".into());
            args.push(bootnodes.join(","));
        }
        args.extend(self.extra[i].iter().cloned());
        Node::start(
            &self.net.bin,
            &format!("node{i}"),
            &self.net.datadir(i),
            self.ports[i],
            &args,
        )
    }

    /// Waits until node `i` answers JSON-RPC.
    pub fn wait_rpc(&mut self, i: usize) {
        let start = Instant::now();
        while self.rpc(i, "eth_blockNumber", json!([])).is_err() {
            if !self.nodes[i].is_running() {
                let log = self.nodes[i].log();
                let mut tail: Vec<&str> = log.lines().rev().take(15).collect();
                tail.reverse();
                panic!(
                    "node{i} exited at start; its log ends:\n{}",
                    tail.join("\n")
                );
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "node{i}'s RPC server never answered"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn http_addr(&self, i: usize) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.http[i]))
    }

    /// One JSON-RPC call to node `i`: its result, or its error as text.
    pub fn rpc(&self, i: usize, method: &str, params: Value) -> RpcResult {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let (status, text) =
            http_post(self.http_addr(i), body.to_string().as_bytes()).map_err(|e| e.to_string())?;
        let v: Value =
            serde_json::from_str(&text).map_err(|e| format!("HTTP {status} {text:?}: {e}"))?;
        one_result(&v)
    }

    /// A JSON-RPC call that must succeed.
    pub fn call(&self, i: usize, method: &str, params: Value) -> Value {
        self.rpc(i, method, params)
            .unwrap_or_else(|e| panic!("node{i} {method}: {e}"))
    }

    /// One batch of calls to node `i`; a result per call, in order.
    pub fn batch(&self, i: usize, calls: &[(&str, Value)]) -> Vec<RpcResult> {
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(id, (m, p))| json!({"jsonrpc": "2.0", "id": id, "method": m, "params": p}))
            .collect();
        let body = Value::Array(body).to_string();
        let (status, text) = http_post(self.http_addr(i), body.as_bytes())
            .unwrap_or_else(|e| panic!("node{i} batch: {e}"));
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("node{i} batch: HTTP {status} {text:.300}: {e}"));
        let items = v
            .as_array()
            .unwrap_or_else(|| panic!("node{i} batch answer is not an array: {text:.300}"));
        let mut out: Vec<RpcResult> = vec![Err("no answer".into()); calls.len()];
        for item in items {
            if let Some(id) = item.get("id").and_then(Value::as_u64)
                && let Some(slot) = out.get_mut(id as usize)
            {
                *slot = one_result(item);
            }
        }
        out
    }

    /// Node `i`'s consensus position (`consensus_status`): (height, round,
    /// step), or `None` while it does not answer.
    pub fn position(&self, i: usize) -> Option<(u64, u64, u64)> {
        let v = self.rpc(i, "consensus_status", json!([])).ok()?;
        let field = |k: &str| v.get(k).and_then(Value::as_u64);
        Some((field("height")?, field("round")?, field("step")?))
    }

    /// Node `i`'s head by JSON-RPC.
    pub fn head(&self, i: usize) -> u64 {
        qty(&self.call(i, "eth_blockNumber", json!([])))
    }

    /// Stops every node (SIGKILL) and asserts that no node's own-vote log holds
    /// two different values for one (height, round, step) (the journal check of
    /// "no node double-voted"); returns how many signed messages were checked.
    pub fn stop_and_check_votes(&mut self) -> usize {
        for node in &mut self.nodes {
            node.kill();
        }
        (0..self.len())
            .map(|i| {
                crate::cluster::assert_no_double_vote(&format!("node{i}"), &self.net.datadir(i))
            })
            .sum()
    }

    /// SIGKILL node `i`.
    pub fn stop(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Starts node `i` again on its data directory and P2P port, with every
    /// other node as bootnode; waits for its RPC server.
    pub fn restart(&mut self, i: usize) {
        self.nodes[i].kill();
        let boot = self.others(i);
        self.nodes[i] = self.launch(i, &boot);
        self.wait_rpc(i);
    }

    /// SIGSTOP node `i`: it stays connected but does nothing.
    pub fn pause(&mut self, i: usize) {
        self.signal(i, "-STOP");
    }

    /// SIGCONT node `i`.
    pub fn resume(&mut self, i: usize) {
        self.signal(i, "-CONT");
    }

    fn signal(&mut self, i: usize, sig: &str) {
        let pid = self.nodes[i].pid().expect("a running node");
        let st = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("run kill");
        assert!(st.success(), "kill {sig} {pid} failed");
    }

    /// Kills node `i`, deletes its chain database (keys, node key, genesis and
    /// consensus journal stay), initialises the data directory again from the
    /// genesis file and starts it on a new P2P port with `--nodiscover` and
    /// `--bootnodes <node from>` only: the others still know its old address, so
    /// `from` is its only peer and the one it syncs from.
    pub fn wipe_and_resync_from(&mut self, i: usize, from: usize) {
        self.nodes[i].kill();
        let dir = self.net.datadir(i);
        let chaindata: PathBuf = dir.join("kalgo").join("chaindata.redb");
        std::fs::remove_file(&chaindata)
            .unwrap_or_else(|e| panic!("remove {}: {e}", chaindata.display()));
        let genesis = self.net.dir.join("genesis.json");
        run_ok(
            &self.net.bin,
            &dir,
            &["init", genesis.to_str().expect("utf-8 path")],
        );
        self.ports[i] = fresh_port(&mut self.used);
        self.extra[i].push("--nodiscover".into());
        let boot = vec![self.addr(from)];
        self.nodes[i] = self.launch(i, &boot);
        self.extra[i].retain(|a| a != "--nodiscover");
        self.wait_rpc(i);
    }

    /// Cuts every link between `group` and the other nodes: each side bans the
    /// other (`admin_banPeer`), then waits until no such connection is left.
    pub fn isolate(&mut self, group: &[usize]) {
        let rest: Vec<usize> = (0..self.len()).filter(|i| !group.contains(i)).collect();
        for &a in group {
            for &b in &rest {
                for (x, y) in [(a, b), (b, a)] {
                    let r = self.call(x, "admin_banPeer", json!([self.ids[y]]));
                    assert_eq!(r, Value::Bool(true), "node{x} admin_banPeer node{y}");
                    self.bans.insert((x, y));
                }
            }
        }
        let start = Instant::now();
        loop {
            let linked: Vec<(usize, usize)> = self
                .bans
                .iter()
                .copied()
                .filter(|(x, y)| self.peers(*x).contains(&self.ids[*y]))
                .collect();
            if linked.is_empty() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "still connected after the bans: {linked:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Lifts every ban [`Self::isolate`] made.
    pub fn heal(&mut self) {
        for (x, y) in std::mem::take(&mut self.bans) {
            let r = self.call(x, "admin_unbanPeer", json!([self.ids[y]]));
            assert_eq!(r, Value::Bool(true), "node{x} admin_unbanPeer node{y}");
        }
    }

    /// Peer ids node `i` is connected to (`admin_peers`).
    pub fn peers(&self, i: usize) -> Vec<String> {
        let v = self.call(i, "admin_peers", json!([]));
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.get("id").and_then(Value::as_str).map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits until every running node has committed `height`.
    pub fn wait_all(&mut self, height: u64, timeout: Duration) {
        let start = Instant::now();
        for i in 0..self.len() {
            let left = timeout.saturating_sub(start.elapsed());
            self.nodes[i].wait_height(height, left.max(Duration::from_secs(1)));
        }
    }

    /// Highest height any node logged.
    pub fn max_height(&self) -> u64 {
        self.nodes.iter().map(Node::height).max().unwrap_or(0)
    }

    /// Block hashes of node `i` at heights `1..=upto` (JSON-RPC).
    pub fn hashes(&self, i: usize, upto: u64) -> Vec<String> {
        let mut out = Vec::new();
        let heights: Vec<u64> = (1..=upto).collect();
        for chunk in heights.chunks(200) {
            let calls: Vec<(&str, Value)> = chunk
                .iter()
                .map(|h| ("eth_getBlockByNumber", json!([format!("0x{h:x}"), false])))
                .collect();
            for (h, r) in chunk.iter().zip(self.batch(i, &calls)) {
                let block = r.unwrap_or_else(|e| panic!("node{i} block {h}: {e}"));
                let hash = block
                    .get("hash")
                    .and_then(Value::as_str)
                    .unwrap_or_else(|| panic!("node{i} has no block {h}: {block}"));
                out.push(hash.to_string());
            }
        }
        out
    }

    /// Asserts that every node holds the same block hash at every height up to
    /// the lowest head among them (at least `min` heights); returns that height.
    pub fn assert_same_chain(&self, min: u64) -> u64 {
        let upto = (0..self.len()).map(|i| self.head(i)).min().unwrap_or(0);
        assert!(upto >= min, "the lowest head is {upto}, wanted {min}");
        let reference = self.hashes(0, upto);
        for i in 1..self.len() {
            let mine = self.hashes(i, upto);
            for (h, (a, b)) in reference.iter().zip(&mine).enumerate() {
                assert_eq!(a, b, "node0 and node{i} differ at height {}", h + 1);
            }
        }
        let logged: Vec<&Node> = self.nodes.iter().collect();
        crate::cluster::assert_same_chain(&logged);
        upto
    }

    /// Asserts that every transaction in `hashes` has a successful receipt on
    /// every node, in the same block everywhere.
    pub fn assert_landed(&self, hashes: &[B256]) {
        let mut blocks: HashMap<B256, String> = HashMap::new();
        for i in 0..self.len() {
            for chunk in hashes.chunks(500) {
                let calls: Vec<(&str, Value)> = chunk
                    .iter()
                    .map(|h| ("eth_getTransactionReceipt", json!([h])))
                    .collect();
                for (h, r) in chunk.iter().zip(self.batch(i, &calls)) {
                    let rc = r.unwrap_or_else(|e| panic!("node{i} receipt {h}: {e}"));
                    let block = rc
                        .get("blockHash")
                        .and_then(Value::as_str)
                        .unwrap_or_else(|| panic!("node{i}: transaction {h} was lost: {rc}"));
                    assert_eq!(
                        rc.get("status").and_then(Value::as_str),
                        Some("0x1"),
                        "node{i}: {h} failed"
                    );
                    let first = blocks.entry(*h).or_insert_with(|| block.to_string());
                    assert_eq!(first, block, "node{i} has {h} in another block");
                }
            }
        }
    }

    /// Every transaction in node `i`'s blocks `1..=upto` with its block number
    /// and receipt status, from `eth_getBlockReceipts` (one call per block:
    /// looking receipts up one by one decodes the whole block each time). Panics
    /// if a transaction appears twice.
    pub fn chain_receipts(&self, i: usize, upto: u64) -> HashMap<B256, (u64, String)> {
        let mut out = HashMap::new();
        let heights: Vec<u64> = (1..=upto).collect();
        for chunk in heights.chunks(2) {
            let calls: Vec<(&str, Value)> = chunk
                .iter()
                .map(|h| ("eth_getBlockReceipts", json!([format!("0x{h:x}")])))
                .collect();
            for (h, r) in chunk.iter().zip(self.batch(i, &calls)) {
                let list = r.unwrap_or_else(|e| panic!("node{i} receipts of {h}: {e}"));
                for rc in list.as_array().cloned().unwrap_or_default() {
                    let hash: B256 =
                        serde_json::from_value(rc["transactionHash"].clone()).expect("tx hash");
                    let status = rc["status"].as_str().unwrap_or("none").to_string();
                    if let Some((prev, _)) = out.insert(hash, (*h, status)) {
                        panic!("node{i}: {hash} is in block {prev} and in block {h}");
                    }
                }
            }
        }
        out
    }

    /// Waits until every node has a receipt for every transaction in `hashes`,
    /// then [`Self::assert_landed`]; returns how long it took.
    pub fn wait_landed(&self, hashes: &[B256], timeout: Duration) -> Duration {
        let start = Instant::now();
        for i in 0..self.len() {
            let mut left: Vec<B256> = hashes.to_vec();
            while !left.is_empty() {
                let mut missing = Vec::new();
                for chunk in left.chunks(500) {
                    let calls: Vec<(&str, Value)> = chunk
                        .iter()
                        .map(|h| ("eth_getTransactionReceipt", json!([h])))
                        .collect();
                    for (h, r) in chunk.iter().zip(self.batch(i, &calls)) {
                        if matches!(r, Ok(Value::Null) | Err(_)) {
                            missing.push(*h);
                        }
                    }
                }
                assert!(
                    start.elapsed() < timeout || missing.is_empty(),
                    "node{i}: {} of {} transactions not in a block after {timeout:?}",
                    missing.len(),
                    hashes.len()
                );
                if !missing.is_empty() {
                    std::thread::sleep(Duration::from_millis(300));
                }
                left = missing;
            }
        }
        self.assert_landed(hashes);
        start.elapsed()
    }

    /// Waits until, on every node, each `(address, nonce)` has reached that
    /// nonce (latest state).
    pub fn wait_nonce_all(&self, targets: &[(Address, u64)], timeout: Duration) {
        let start = Instant::now();
        for i in 0..self.len() {
            loop {
                let calls: Vec<(&str, Value)> = targets
                    .iter()
                    .map(|(a, _)| ("eth_getTransactionCount", json!([a, "latest"])))
                    .collect();
                let behind = targets
                    .iter()
                    .zip(self.batch(i, &calls))
                    .filter(|((_, want), r)| r.as_ref().map_or(true, |v| qty(v) < *want))
                    .count();
                if behind == 0 {
                    break;
                }
                assert!(
                    start.elapsed() < timeout,
                    "node{i}: {behind} of {} senders behind after {timeout:?}",
                    targets.len()
                );
                std::thread::sleep(Duration::from_millis(300));
            }
        }
    }

    /// A sender funded in genesis: validator `i`'s account (`account.key`).
    pub fn funder(&self, i: usize) -> Funder {
        let text =
            std::fs::read_to_string(self.net.datadir(i).join("account.key")).expect("account.key");
        let bytes: B256 = text.trim().parse().expect("account.key hex");
        let key = Key::from_bytes(&bytes).expect("a valid key");
        Funder::new(self, 0, key)
    }

    /// Waits until `address`'s nonce (latest) is `nonce` on node `i`.
    pub fn wait_nonce(&self, i: usize, address: Address, nonce: u64, timeout: Duration) {
        let start = Instant::now();
        loop {
            let n = qty(&self.call(i, "eth_getTransactionCount", json!([address, "latest"])));
            if n >= nonce {
                return;
            }
            assert!(
                start.elapsed() < timeout,
                "node{i}: {address} reached nonce {n} of {nonce} in {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

fn one_result(v: &Value) -> RpcResult {
    if let Some(e) = v.get("error") {
        return Err(e
            .get("message")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| e.to_string()));
    }
    v.get("result")
        .cloned()
        .ok_or_else(|| format!("neither result nor error: {v}"))
}

/// Chain id and gas price as the node reports them.
pub fn chain_params(c: &Cluster, i: usize) -> (u64, u128) {
    let chain_id = qty(&c.call(i, "eth_chainId", json!([])));
    let price = qty(&c.call(i, "eth_gasPrice", json!([]))) as u128;
    (chain_id, price)
}

/// Signs plain transfers from one key with consecutive nonces.
pub struct Funder {
    key: Key,
    signer: Signer,
    /// Nonce of the next transaction this sender signs.
    pub nonce: u64,
    chain_id: u64,
    gas_price: u128,
}

impl Funder {
    /// `key` on `c`'s chain, its next nonce read from node `via`.
    pub fn new(c: &Cluster, via: usize, key: Key) -> Funder {
        let (chain_id, price) = chain_params(c, via);
        let nonce = qty(&c.call(
            via,
            "eth_getTransactionCount",
            json!([key.address(), "pending"]),
        ));
        Funder {
            key,
            signer: Signer::default(),
            nonce,
            chain_id,
            gas_price: price.max(1) * 2,
        }
    }

    /// `key` with known chain parameters and next nonce (no RPC).
    pub fn from_parts(key: Key, chain_id: u64, gas_price: u128, nonce: u64) -> Funder {
        Funder {
            key,
            signer: Signer::default(),
            nonce,
            chain_id,
            gas_price,
        }
    }

    /// Its address.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The gas price it signs with by default.
    pub fn gas_price(&self) -> u128 {
        self.gas_price
    }

    /// Signs a transfer with an explicit nonce and gas price (the next nonce is
    /// left alone): (hash, raw hex).
    pub fn sign_at(&self, nonce: u64, to: Address, value: U256, gas_price: u128) -> (B256, String) {
        let p = TransferParams {
            chain_id: self.chain_id,
            gas_price,
            to,
            value,
        };
        let (hash, raw) = transfer(&self.signer, &self.key, nonce, &p).expect("sign");
        (hash, format!("{raw}"))
    }

    /// Signs a transfer of `value` wei to `to` with the next nonce: (hash, raw hex).
    pub fn sign(&mut self, to: Address, value: U256) -> (B256, String) {
        let signed = self.sign_at(self.nonce, to, value, self.gas_price);
        self.nonce += 1;
        signed
    }

    /// Signs and submits `count` transfers to node `via` (one batch); returns
    /// their hashes. Every one must be accepted.
    pub fn send(&mut self, c: &Cluster, via: usize, to: Address, count: usize) -> Vec<B256> {
        let signed: Vec<(B256, String)> = (0..count)
            .map(|_| self.sign(to, U256::from(1_000u64)))
            .collect();
        let calls: Vec<(&str, Value)> = signed
            .iter()
            .map(|(_, raw)| ("eth_sendRawTransaction", json!([raw])))
            .collect();
        for (r, (h, _)) in c.batch(via, &calls).into_iter().zip(&signed) {
            let got = r.unwrap_or_else(|e| panic!("node{via} refused {h}: {e}"));
            assert_eq!(got, json!(h), "node{via} answered another hash");
        }
        signed.into_iter().map(|(h, _)| h).collect()
    }
}
