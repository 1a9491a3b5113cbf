//! Black box: Kaleido's deployment walkthrough, its lines typed as a Kaleido user
//! types them, against real `kalgo` processes (two nodes, 2λ = 200 ms).
//!
//! 1. A running chain: one genesis miner (`kalgo genesis --validators 1 --chainid
//!    888`), the new miner's stake owner funded with as much stake.
//! 2. `kalgo --datadir ./data init genesis.json`, `kalgo --datadir ./data account
//!    import` of A's key.
//! 3. `kalgo makeminerkey --miner.stakeowner A --minerkey.coinbase A
//!    --minerkey.start S` with no `--datadir`: the key goes to `~/.kalgo` (a
//!    temporary `HOME`), and is copied to `./data/kalgo/minerkeys/` as Kaleido
//!    users copy theirs from `~/.kaleido`; a geth-1.8 `geth.toml` (`[Eth]`,
//!    `[Node]`, `[Node.P2P]`).
//! 4. `kalgo --config geth.toml --networkid 1001 --unlock A --password ./password
//!    --mine --miner.stakeowner A --nodiscover --etherbase 0 --verbosity 4`.
//! 5. `kalgo attach ipc:./data/geth.ipc`: `admin.addPeer("enode://…")` with the
//!    first node's enode URL, then `eth.sendTransaction` of the `MinerKey`
//!    calldata to the miner contract.
//! 6. From S the committee has both miners, certificates carry A's votes, and the
//!    new node reports Kaleido's `eth.mining` / `eth.hashrate` (about half of W).
//!
//! Needs `cargo build -p node` in the same target dir.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tests::cluster::{Node, free_port, kalgo_bin, miner_key_calldata, new_account, run_ok};
use tests::devnode::ipc_call;
use tests::faults::qty;

const MINER_CONTRACT: &str = "0x1000000000000000000000000000000000000002";

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

/// `kalgo <line>` run in `cwd` with `HOME=home`; the output, asserted successful.
fn typed(cwd: &Path, home: &Path, line: &[&str]) -> Output {
    let out = Command::new(kalgo_bin())
        .current_dir(cwd)
        .env("HOME", home)
        .env_remove("KALGO_HOME")
        .args(line)
        .output()
        .expect("run kalgo");
    assert!(
        out.status.success(),
        "kalgo {}: {}\n{}",
        line.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `kalgo attach ipc:./data/geth.ipc --exec <js>` in `cwd`; its stdout.
fn console(cwd: &Path, home: &Path, js: &str) -> String {
    let out = typed(cwd, home, &["attach", "ipc:./data/geth.ipc", "--exec", js]);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn kaleidos_walkthrough_runs_as_typed() {
    let bin = kalgo_bin();
    let tmp = tempfile::tempdir().expect("tempdir");
    let root = tmp.path();
    let home = root.join("home");
    let work = root.join("work");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::create_dir_all(&work).expect("work");

    // 1. The running chain, with A funded as much as the genesis miner's stake.
    let (key, owner) = new_account();
    let net = root.join("net");
    let out = Command::new(&bin)
        .args(["genesis", "--validators", "1", "--chainid", "888"])
        .args(["--committee", "fixed", "--twolambda", "200", "--out"])
        .arg(&net)
        .output()
        .expect("kalgo genesis");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let genesis_path = net.join("genesis.json");
    let mut genesis: Value =
        serde_json::from_str(&std::fs::read_to_string(&genesis_path).expect("genesis"))
            .expect("json");
    genesis["alloc"][&owner] = json!({ "balance": format!("100000001{}", "0".repeat(18)) });
    std::fs::write(work.join("genesis.json"), genesis.to_string()).expect("genesis.json");
    let script = std::fs::read_to_string(net.join("start.sh")).expect("start.sh");
    let miner0 = script
        .split("--miner.stakeowner ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("the genesis miner")
        .to_string();
    let node0_dir = net.join("node0");
    let genesis_arg = work.join("genesis.json");
    let genesis_arg = genesis_arg.to_str().expect("utf-8");
    run_ok(&bin, &node0_dir, &["init", genesis_arg]);
    let args = [
        "--mine",
        "--miner.stakeowner",
        &miner0,
        "--networkid",
        "1001",
    ]
    .map(String::from);
    let mut node0 = Node::start_with_http(&bin, "node0", &node0_dir, free_port(), &args);
    node0.listen_addr(secs(30));
    node0.wait_height(2, secs(60));
    let enode0 =
        ipc_call(&node0_dir.join("kalgo.ipc"), "admin_nodeInfo", json!([]))["result"]["enode"]
            .as_str()
            .expect("node0's enode")
            .to_string();
    assert!(enode0.starts_with("enode://"), "{enode0}");

    // 2. init, the account (light scrypt: a debug build is slow at the standard one)
    // and the password file, before the key, whose start height is a deadline.
    typed(
        &work,
        &home,
        &["--datadir", "./data", "init", "genesis.json"],
    );
    std::fs::write(work.join("password"), "walkthrough\n").expect("password");
    std::fs::write(work.join("key"), key.trim_start_matches("0x")).expect("key");
    typed(
        &work,
        &home,
        &[
            "--datadir",
            "./data",
            "--lightkdf",
            "account",
            "import",
            "key",
            "--password",
            "./password",
        ],
    );
    // 3. makeminerkey without --datadir: into ~/.kalgo, then copied as from ~/.kaleido.
    // 200 blocks (40 s at 2λ = 200 ms): the contract wants S ≥ the registering
    // block + 100, and the node still has to start and be told its peer.
    let start = node0.height() + 200;
    let out = typed(
        &work,
        &home,
        &[
            "makeminerkey",
            "--miner.stakeowner",
            &owner,
            "--minerkey.coinbase",
            &owner,
            "--minerkey.start",
            &start.to_string(),
        ],
    );
    let calldata = miner_key_calldata(&out.stdout);
    let made = home.join(".kalgo").join("kalgo").join("minerkeys");
    let files: Vec<_> = std::fs::read_dir(&made)
        .unwrap_or_else(|e| panic!("{}: {e}", made.display()))
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().expect("file name").to_owned();
    assert_eq!(
        name.to_string_lossy(),
        format!("{owner}-0-1000000.bin"),
        "Kaleido's key file name"
    );
    let keys = work.join("data").join("kalgo").join("minerkeys");
    std::fs::create_dir_all(&keys).expect("minerkeys");
    std::fs::copy(&files[0], keys.join(&name)).expect("copy the key file");

    let p2p_port = free_port();
    std::fs::write(
        work.join("geth.toml"),
        format!(
            "[Eth]\nNetworkId = 1001\nSyncMode = \"full\"\nNoPruning = true\nDatabaseCache = 768\n\n\
             [Node]\nDataDir = \"./data\"\nIPCPath = \"geth.ipc\"\nHTTPHost = \"\"\nHTTPPort = 8545\n\
             HTTPModules = [\"net\", \"web3\", \"eth\", \"shh\"]\nWSHost = \"\"\n\n\
             [Node.P2P]\nMaxPeers = 25\nNoDiscovery = true\nBootstrapNodes = []\n\
             ListenAddr = \"127.0.0.1:{p2p_port}\"\n"
        ),
    )
    .expect("geth.toml");

    // 4. The node, started with the walkthrough's line.
    let log = std::fs::File::create(root.join("node1.log")).expect("log");
    let mut node1 = Command::new(&bin)
        .current_dir(&work)
        .env("HOME", &home)
        .env_remove("KALGO_HOME")
        .args([
            "--config",
            "geth.toml",
            "--networkid",
            "1001",
            "--unlock",
            &owner,
        ])
        .args([
            "--password",
            "./password",
            "--mine",
            "--miner.stakeowner",
            &owner,
        ])
        .args(["--nodiscover", "--etherbase", "0", "--verbosity", "4"])
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("start the walkthrough node");
    let ipc = work.join("data").join("geth.ipc");
    let _kill = KillOnDrop(&mut node1);
    // Waits (up to 60 s) for the node's socket.
    let first = ipc_call(&ipc, "eth_blockNumber", json!([]));
    assert!(first["result"].is_string(), "{first}");

    // 5. The console: addPeer by enode URL, then the registration.
    assert_eq!(
        console(&work, &home, &format!("admin.addPeer({enode0:?})")),
        "true"
    );
    let t = Instant::now();
    while ipc_call(&ipc, "net_peerCount", json!([]))["result"] != json!("0x1") {
        assert!(t.elapsed() < secs(30), "no peer 30 s after admin.addPeer");
        std::thread::sleep(Duration::from_millis(200));
    }
    let sent = console(
        &work,
        &home,
        &format!(
            "eth.sendTransaction({{from: {owner:?}, to: {MINER_CONTRACT:?}, data: {calldata:?}, gas: 1000000}})"
        ),
    );
    let tx = sent.trim_matches('"').to_string();
    assert!(tx.starts_with("0x") && tx.len() == 66, "{sent}");
    let receipt = node0.wait_receipt(&tx, "registration", secs(30));
    assert_eq!(receipt["status"], json!("0x1"), "{receipt}");
    assert!(qty(&receipt["blockNumber"]) + 100 <= start, "{receipt}");

    // 6. From S both miners certify: with equal stakes the chain needs A's votes.
    node0.wait_height(start + 5, secs(180));
    let committee = node0
        .call("consensus_committee", json!([format!("0x{start:x}")]))
        .expect("committee");
    assert_eq!(
        committee["members"].as_array().map(Vec::len),
        Some(2),
        "{committee}"
    );
    let owner_lc = owner.to_lowercase();
    let voted = (start..start + 5).any(|h| {
        let c = node0
            .call("consensus_getCertificate", json!([format!("0x{h:x}")]))
            .expect("certificate");
        c["voters"].as_array().is_some_and(|v| {
            v.iter()
                .any(|x| x["address"].as_str().map(str::to_lowercase) == Some(owner_lc.clone()))
        })
    });
    assert!(
        voted,
        "no certificate from {start} on carries the new miner's vote"
    );
    assert_eq!(console(&work, &home, "eth.mining"), "true");
    // About half of W = 10¹⁰: the stakes are equal but for fees and rewards.
    let hashrate: u64 = console(&work, &home, "eth.hashrate")
        .parse()
        .expect("a number");
    assert!(
        (4_900_000_000..5_100_000_000).contains(&hashrate),
        "hashrate {hashrate}"
    );
    assert_eq!(
        console(&work, &home, "eth.coinbase")
            .trim_matches('"')
            .to_lowercase(),
        owner_lc
    );
}

/// Kills the walkthrough node when the test ends, however it ends.
struct KillOnDrop<'a>(&'a mut std::process::Child);

impl Drop for KillOnDrop<'_> {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
