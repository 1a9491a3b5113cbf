//! Clusters of real `kalgo` processes on 127.0.0.1 for the black-box tests.
//!
//! A network is made the way a user makes one: `kalgo genesis --validators N`
//! (keys, node keys, genesis), `kalgo init` per data directory, then one process
//! per node. Each node's stderr is parsed for its listen address and its
//! committed blocks and appended to `<datadir>/node.log` (kept when a test fails:
//! set `KALGO_KEEP=1` to keep the temporary directory).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `kalgo` binary next to the test executable's directory (built by
/// `cargo build -p node` into the same target dir).
pub fn kalgo_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("kalgo"))
        .expect("target dir");
    assert!(
        bin.exists(),
        "the kalgo binary is not built: run `cargo build -p node` first ({})",
        bin.display()
    );
    bin
}

/// A TCP port free at the time of asking, from 20000–31999: below Linux's
/// ephemeral range (32768–60999 by default), so the kernel cannot hand it to
/// an outgoing connection between this check and the node's bind (a port
/// asked of the kernel with `:0` could be, and a node then failed to start).
/// Each process walks the range from its own offset, so concurrent test
/// processes rarely meet.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const LOW: u32 = 20_000;
    const SPAN: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let base = std::process::id().wrapping_mul(97) % SPAN;
    for _ in 0..SPAN {
        let k = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(LOW + (base + k) % SPAN).expect("below 32000");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {LOW}..{}", LOW + SPAN);
}

/// Runs `kalgo --datadir D args…` to completion and asserts success.
pub fn run_ok(bin: &Path, datadir: &Path, args: &[&str]) -> Output {
    let out = Command::new(bin)
        .arg("--datadir")
        .arg(datadir)
        .args(args)
        .output()
        .expect("run kalgo");
    assert!(
        out.status.success(),
        "kalgo {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// One committed block as a node logged it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Commit {
    /// Block hash, as the log line prints it (`hash=`).
    pub hash: String,
    /// `consensus` or `sync`.
    pub how: String,
}

#[derive(Debug, Default)]
struct Seen {
    listen: Option<String>,
    commits: BTreeMap<u64, Commit>,
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .map(|v| v.trim_matches('"'))
}

/// A running (or stopped) `kalgo` process.
pub struct Node {
    /// Name in messages.
    pub name: String,
    /// Data directory.
    pub datadir: PathBuf,
    /// P2P port.
    pub port: u16,
    child: Option<Child>,
    seen: Arc<Mutex<Seen>>,
    /// The HTTP JSON-RPC address, when started with one ([`Node::start_with_http`]).
    pub http: Option<std::net::SocketAddr>,
}

impl Node {
    /// Starts `kalgo --datadir D --listen-addr 127.0.0.1 --port P args…`.
    pub fn start(bin: &Path, name: &str, datadir: &Path, port: u16, args: &[String]) -> Node {
        let mut child = Command::new(bin)
            .arg("--datadir")
            .arg(datadir)
            .args(["--listen-addr", "127.0.0.1", "--port", &port.to_string()])
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn kalgo");
        let stderr = child.stderr.take().expect("stderr");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = Arc::clone(&seen);
        let log_path = datadir.join("node.log");
        std::thread::spawn(move || {
            let mut log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log_path)
                .ok();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(f) = log.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
                let Ok(mut s) = shared.lock() else { break };
                if line.contains("listening") {
                    if let Some(a) = field(&line, "address=") {
                        s.listen.get_or_insert_with(|| a.to_string());
                    }
                } else if line.contains("committed block") {
                    let height = field(&line, "height=").and_then(|h| h.parse().ok());
                    let hash = field(&line, "hash=");
                    let how = field(&line, "how=").unwrap_or("consensus");
                    if let (Some(h), Some(hash)) = (height, hash) {
                        s.commits.insert(
                            h,
                            Commit {
                                hash: hash.to_string(),
                                how: how.to_string(),
                            },
                        );
                    }
                }
            }
        });
        Node {
            name: name.to_string(),
            datadir: datadir.to_path_buf(),
            port,
            child: Some(child),
            seen,
            http: None,
        }
    }

    /// Like [`Node::start`], with an HTTP JSON-RPC endpoint on a free port serving
    /// `eth,net,consensus` (for [`Node::call`]).
    pub fn start_with_http(
        bin: &Path,
        name: &str,
        datadir: &Path,
        port: u16,
        args: &[String],
    ) -> Node {
        let http_port = free_port();
        let mut all = args.to_vec();
        all.extend(
            [
                "--http",
                "--http.port",
                &http_port.to_string(),
                "--http.api",
                "eth,net,consensus",
            ]
            .map(String::from),
        );
        let mut node = Node::start(bin, name, datadir, port, &all);
        node.http = Some(std::net::SocketAddr::from(([127, 0, 0, 1], http_port)));
        node
    }

    /// The receipt of transaction `tx`, asked over HTTP every 200 ms until it
    /// is mined; fails the test after `timeout`, naming `what` was sent.
    pub fn wait_receipt(&self, tx: &str, what: &str, timeout: Duration) -> serde_json::Value {
        let start = std::time::Instant::now();
        loop {
            let r = self
                .call("eth_getTransactionReceipt", serde_json::json!([tx]))
                .expect("receipt");
            if !r.is_null() {
                return r;
            }
            assert!(
                start.elapsed() < timeout,
                "{what} not included in {} s",
                timeout.as_secs()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// One JSON-RPC call over the node's HTTP endpoint; the `result` (an error
    /// answer is an `Err` with its message). Retries the connection for 30 s
    /// while the server starts.
    pub fn call(
        &self,
        method: &str,
        params: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let addr = self.http.ok_or("started without HTTP")?;
        let body =
            serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
                .to_string();
        let start = Instant::now();
        let text = loop {
            match crate::devnode::http_post(addr, body.as_bytes()) {
                Ok((_, text)) => break text,
                Err(e) if start.elapsed() > Duration::from_secs(30) => {
                    return Err(format!("{}: {e}", self.name));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        };
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("{text:?}: {e}"))?;
        match v.get("error") {
            Some(e) => Err(e.to_string()),
            None => Ok(v.get("result").cloned().unwrap_or(serde_json::Value::Null)),
        }
    }

    /// How many equivocations this node logged as evidence (every run of it:
    /// the log is appended across restarts).
    pub fn equivocations_logged(&self) -> usize {
        self.log().matches("equivocation evidence").count()
    }

    fn with_seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        let s = self.seen.lock().expect("log reader state");
        f(&s)
    }

    /// The listen multiaddr with `/p2p/<peer id>`, waiting up to `timeout`;
    /// a node that exits first fails at once, with the end of its log.
    pub fn listen_addr(&mut self, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            if let Some(a) = self.with_seen(|s| s.listen.clone()) {
                return a;
            }
            if !self.is_running() {
                let log = self.log();
                let tail: Vec<&str> = log.lines().rev().take(15).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                panic!(
                    "{} exited before it logged a listen address; its log ends:\n{}",
                    self.name,
                    tail.join("\n")
                );
            }
            assert!(
                start.elapsed() < timeout,
                "{} logged no listen address in {timeout:?}",
                self.name
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Highest height committed (0 before any commit seen).
    pub fn height(&self) -> u64 {
        self.with_seen(|s| s.commits.keys().next_back().copied().unwrap_or(0))
    }

    /// Every commit seen, by height.
    pub fn commits(&self) -> BTreeMap<u64, Commit> {
        self.with_seen(|s| s.commits.clone())
    }

    /// Waits until the node has committed `height`; panics after `timeout`.
    pub fn wait_height(&mut self, height: u64, timeout: Duration) {
        let start = Instant::now();
        while self.height() < height {
            assert!(
                self.is_running(),
                "{} exited while waiting for height {height} (log: {})",
                self.name,
                self.datadir.join("node.log").display()
            );
            assert!(
                start.elapsed() < timeout,
                "{} reached only height {} of {height} in {timeout:?} (log: {})",
                self.name,
                self.height(),
                self.datadir.join("node.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Whether the process is alive.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Resident memory of the running process, in KiB (Linux `/proc`).
    pub fn rss_kib(&self) -> Option<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// The process id while it has not been killed.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Kills the process with SIGKILL (no clean shutdown) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The node's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.datadir.join("node.log")).unwrap_or_default()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A local network made by `kalgo genesis --validators N`.
pub struct Network {
    /// The `kalgo` binary every node runs.
    pub bin: PathBuf,
    /// The directory holding genesis.json and node0 … nodeN-1.
    pub dir: PathBuf,
    /// Stake-owner address of each validator.
    pub owners: Vec<String>,
    _tmp: Option<tempfile::TempDir>,
}

impl Network {
    /// Makes a fixed-committee network of `n` validators with 2λ = `two_lambda_ms`
    /// in a temporary directory and initialises every data directory.
    pub fn fixed(n: u32, two_lambda_ms: u64) -> Network {
        Network::with_committee(n, two_lambda_ms, "fixed")
    }

    /// Like [`Network::fixed`], with stake-weighted VRF sortition committees.
    pub fn sortition(n: u32, two_lambda_ms: u64) -> Network {
        Network::with_committee(n, two_lambda_ms, "sortition")
    }

    /// A network whose genesis uses committee mode `committee` (`fixed` or
    /// `sortition`, as `kalgo genesis --committee` takes it).
    pub fn with_committee(n: u32, two_lambda_ms: u64, committee: &str) -> Network {
        Network::with_accounts(n, two_lambda_ms, committee, &[])
    }

    /// Like [`Network::with_committee`], with extra accounts funded in genesis:
    /// `(address, balance in wei as a decimal string)` (not miners).
    pub fn with_accounts(
        n: u32,
        two_lambda_ms: u64,
        committee: &str,
        funded: &[(String, String)],
    ) -> Network {
        Network::with_genesis_args(n, two_lambda_ms, committee, &[], funded)
    }

    /// Like [`Network::with_accounts`], with more `kalgo genesis` flags
    /// (e.g. `--dynamicfilter`).
    pub fn with_genesis_args(
        n: u32,
        two_lambda_ms: u64,
        committee: &str,
        genesis_args: &[&str],
        funded: &[(String, String)],
    ) -> Network {
        let bin = kalgo_bin();
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_path_buf();
        let out = Command::new(&bin)
            .args(["genesis", "--validators", &n.to_string(), "--out"])
            .arg(&dir)
            .args([
                "--committee",
                committee,
                "--twolambda",
                &two_lambda_ms.to_string(),
            ])
            .args(genesis_args)
            .output()
            .expect("kalgo genesis");
        assert!(
            out.status.success(),
            "kalgo genesis: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let script = std::fs::read_to_string(dir.join("start.sh")).expect("start.sh");
        let owners: Vec<String> = script
            .lines()
            .filter_map(|l| l.split("--miner.stakeowner ").nth(1))
            .map(|rest| rest.split_whitespace().next().unwrap_or("").to_string())
            .collect();
        assert_eq!(owners.len(), n as usize, "owners in start.sh:\n{script}");
        let genesis = dir.join("genesis.json");
        if !funded.is_empty() {
            let text = std::fs::read_to_string(&genesis).expect("genesis.json");
            let mut g: serde_json::Value = serde_json::from_str(&text).expect("genesis json");
            let alloc = g
                .get_mut("alloc")
                .and_then(|a| a.as_object_mut())
                .expect("genesis alloc");
            for (addr, wei) in funded {
                alloc.insert(addr.clone(), serde_json::json!({ "balance": wei }));
            }
            std::fs::write(&genesis, g.to_string()).expect("write genesis.json");
        }
        let genesis = genesis.to_str().expect("utf-8 path");
        for i in 0..n {
            run_ok(&bin, &dir.join(format!("node{i}")), &["init", genesis]);
        }
        let keep = std::env::var_os("KALGO_KEEP").is_some();
        Network {
            bin,
            dir,
            owners,
            _tmp: if keep {
                let _ = tmp.keep();
                None
            } else {
                Some(tmp)
            },
        }
    }

    /// Data directory of validator `i`.
    pub fn datadir(&self, i: usize) -> PathBuf {
        self.dir.join(format!("node{i}"))
    }

    /// Starts validator `i` mining on `port` with `bootnodes`.
    pub fn start_validator(&self, i: usize, port: u16, bootnodes: &[String]) -> Node {
        let mut args = vec![
            "--mine".to_string(),
            "--miner.stakeowner".to_string(),
            self.owners[i].clone(),
        ];
        if !bootnodes.is_empty() {
            args.push("--bootnodes".into());
            args.push(bootnodes.join(","));
        }
        Node::start(
            &self.bin,
            &format!("node{i}"),
            &self.datadir(i),
            port,
            &args,
        )
    }

    /// Like [`Network::start_validator`], with `extra` arguments, and an HTTP
    /// JSON-RPC endpoint when `http` ([`Node::start_with_http`]).
    pub fn start_validator_with(
        &self,
        i: usize,
        port: u16,
        bootnodes: &[String],
        extra: &[String],
        http: bool,
    ) -> Node {
        let mut args = vec![
            "--mine".to_string(),
            "--miner.stakeowner".to_string(),
            self.owners[i].clone(),
        ];
        if !bootnodes.is_empty() {
            args.push("--bootnodes".into());
            args.push(bootnodes.join(","));
        }
        args.extend(extra.iter().cloned());
        let name = format!("node{i}");
        match http {
            true => Node::start_with_http(&self.bin, &name, &self.datadir(i), port, &args),
            false => Node::start(&self.bin, &name, &self.datadir(i), port, &args),
        }
    }

    /// Starts every validator: node0 first, the others with node0 as bootnode.
    /// Returns the nodes and node0's address.
    pub fn start_all(&self) -> (Vec<Node>, String) {
        let mut first = self.start_validator(0, free_port(), &[]);
        let boot = first.listen_addr(Duration::from_secs(30));
        let mut nodes = vec![first];
        for i in 1..self.owners.len() {
            nodes.push(self.start_validator(i, free_port(), std::slice::from_ref(&boot)));
        }
        (nodes, boot)
    }

    /// A new, initialised data directory for a non-validator (follower, fuzz peer).
    pub fn extra_datadir(&self, name: &str) -> PathBuf {
        let d = self.dir.join(name);
        let genesis = self.dir.join("genesis.json");
        run_ok(
            &self.bin,
            &d,
            &["init", genesis.to_str().expect("utf-8 path")],
        );
        d
    }
}

/// Asserts that every node committed the same hash at every height it committed
/// that another node committed too; returns how many heights were compared.
pub fn assert_same_chain(nodes: &[&Node]) -> usize {
    let all: Vec<(String, BTreeMap<u64, Commit>)> = nodes
        .iter()
        .map(|n| (n.name.clone(), n.commits()))
        .collect();
    let mut compared = std::collections::BTreeSet::new();
    for (a_name, a) in &all {
        for (b_name, b) in &all {
            for (h, ca) in a {
                if let Some(cb) = b.get(h) {
                    assert_eq!(
                        ca.hash, cb.hash,
                        "{a_name} and {b_name} committed different blocks at height {h}"
                    );
                    if a_name != b_name {
                        compared.insert(*h);
                    }
                }
            }
        }
    }
    compared.len()
}

/// The own-vote log of a stopped node (every vote and proposal it signed), read
/// with [`actors::storage::journal::read_vote_log`].
pub fn vote_log(datadir: &Path) -> Vec<actors::storage::journal::OwnMessage> {
    actors::storage::journal::read_vote_log(datadir)
        .unwrap_or_else(|e| panic!("vote log of {}: {e}", datadir.display()))
}

/// Asserts that a stopped node's own-vote log never holds two different values
/// for one (height, round, step), and that every entry is the signed message it
/// claims to be; returns how many messages it holds.
pub fn assert_no_double_vote(name: &str, datadir: &Path) -> usize {
    use spec::codec::WireMessage;
    let log = vote_log(datadir);
    let mut seen: BTreeMap<(u64, u32, u32), [u8; 32]> = BTreeMap::new();
    for m in &log {
        match WireMessage::decode(&m.wire) {
            Ok(WireMessage::Vote(v)) => assert_eq!(
                (v.height, v.round, v.step, v.value),
                (m.height, m.round, m.step, m.value),
                "{name}: a logged vote differs from its key"
            ),
            Ok(WireMessage::Proposal(p)) => assert_eq!(
                (p.height, p.round, p.value),
                (m.height, m.round, m.value),
                "{name}: a logged proposal differs from its key"
            ),
            other => panic!("{name}: unexpected entry in the vote log: {other:?}"),
        }
        let key = (m.height, m.round, m.step.0);
        if let Some(prev) = seen.insert(key, m.value.0) {
            assert_eq!(
                prev, m.value.0,
                "{name} signed two different values at (height, round, step) {key:?}"
            );
        }
    }
    log.len()
}

/// The `MinerKey` calldata `kalgo makeminerkey` printed on `stdout`.
pub fn miner_key_calldata(stdout: &[u8]) -> String {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("MinerKey: "))
        .unwrap_or_else(|| panic!("no MinerKey line in:\n{text}"))
        .trim()
        .to_string()
}

/// A new secp256k1 account: (private key hex with 0x, checksummed address).
pub fn new_account() -> (String, String) {
    let signer = alloy_signer_local::PrivateKeySigner::random();
    (
        format!("0x{}", alloy_primitives::hex::encode(signer.to_bytes())),
        signer.address().to_checksum(None),
    )
}

/// A signed legacy (EIP-155) transaction from `key` calling `to` with `data`:
/// the raw bytes as 0x-hex, for `eth_sendRawTransaction`.
pub fn sign_call(
    key: &str,
    chain_id: u64,
    nonce: u64,
    gas_price: u128,
    gas_limit: u64,
    to: &str,
    data: &str,
) -> String {
    use alloy_consensus::{SignableTransaction, TxEnvelope, TxLegacy};
    use alloy_eips::eip2718::Encodable2718;
    use alloy_primitives::{Address, Bytes, TxKind, U256, hex};
    use alloy_signer::SignerSync;
    let signer: alloy_signer_local::PrivateKeySigner = key.parse().expect("private key");
    let tx = TxLegacy {
        chain_id: Some(chain_id),
        nonce,
        gas_price,
        gas_limit,
        to: TxKind::Call(to.parse::<Address>().expect("address")),
        value: U256::ZERO,
        input: Bytes::from(hex::decode(data).expect("hex data")),
    };
    let sig = signer
        .sign_hash_sync(&tx.signature_hash())
        .expect("signature");
    let env: TxEnvelope = tx.into_signed(sig).into();
    format!("0x{}", hex::encode(env.encoded_2718()))
}
