//! Real Ethereum clients against real `kalgo --dev` nodes: ethers v6, viem 2 and
//! web3.py + eth-account, with a contract compiled by solc-js, on a Byzantium
//! chain (Kaleido's EVM) and on a latest-fork chain (EIP-1559).
//!
//! Each client deploys the contract, sends transactions, waits for receipts,
//! calls, reads logs (eth_getLogs and polling filters), estimates gas and checks
//! geth-style revert errors (code 3 with the revert data); ethers also uses
//! `eth_subscribe` over WebSocket (newHeads, logs). On the latest-fork chain each
//! also estimates a transfer carrying an access list (EIP-2930), delegates a fresh
//! account to the contract and calls through it (EIP-7702, signed by the client),
//! and has a signed blob transaction refused. See `tests/clients/*_suite.*`.
//!
//! Needs Node.js (npm) and Python 3 (venv). Their packages are pinned in
//! `tests/clients/package-lock.json` and `tests/clients/requirements.txt` and
//! installed by this test when missing: `npm ci` into `tests/clients/node_modules`
//! (gitignored), a venv at `<target>/client-venv`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tests::devnode::{DevNode, target_dir};

/// Dev account private keys used by the suites (accounts 1, 2 and 3 of the
/// mnemonic; each client has its own, so they can run at the same time).
const KEYS: [&str; 3] = [
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
];

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("clients")
}

fn run(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start ({e}); is it installed?"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `npm ci` unless node_modules matches package-lock.json.
fn install_npm() {
    let dir = clients_dir();
    let lock = std::fs::read(dir.join("package-lock.json")).expect("package-lock.json");
    let stamp = dir.join("node_modules").join(".kalgo-lock-copy");
    if std::fs::read(&stamp).ok().as_deref() == Some(lock.as_slice()) {
        return;
    }
    let started = Instant::now();
    run(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir),
        "npm ci (tests/clients)",
    );
    std::fs::write(&stamp, &lock).expect("write npm stamp");
    eprintln!("npm ci: {:.1} s", started.elapsed().as_secs_f64());
}

/// A venv with requirements.txt installed; returns its python.
fn install_python() -> PathBuf {
    let venv = target_dir().join("client-venv");
    let python = venv.join("bin").join("python");
    let reqs = std::fs::read(clients_dir().join("requirements.txt")).expect("requirements.txt");
    let stamp = venv.join("kalgo-requirements.txt");
    if python.exists() && std::fs::read(&stamp).ok().as_deref() == Some(reqs.as_slice()) {
        return python;
    }
    let started = Instant::now();
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    );
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(clients_dir().join("requirements.txt")),
        "pip install -r tests/clients/requirements.txt",
    );
    std::fs::write(&stamp, &reqs).expect("write venv stamp");
    eprintln!("venv: {:.1} s", started.elapsed().as_secs_f64());
    python
}

fn spawn(cmd: &mut Command) -> Child {
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn client suite")
}

/// Waits for a suite (killing it after `limit`); returns (success, output).
fn finish(mut child: Child, limit: Duration) -> (bool, String) {
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(_) => break,
        }
    }
    match child.wait_with_output() {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (false, format!("wait: {e}")),
    }
}

/// First block of Kaleido's schedule with Byzantium's rules (EIP-658 receipts).
const BYZANTIUM_BLOCK: u64 = 4;

/// Waits until `node`'s head is at least `number`.
fn wait_for_block(node: &DevNode, number: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let head = node
            .call("eth_blockNumber", "[]")
            .ok()
            .and_then(|v| v["result"].as_str().map(str::to_string))
            .and_then(|h| u64::from_str_radix(h.trim_start_matches("0x"), 16).ok());
        if head.is_some_and(|h| h >= number) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no block {number} within 60 s (head {head:?})"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ethers_viem_and_web3py_work_against_kalgo_dev() {
    install_npm();
    let python = install_python();
    let dir = clients_dir();
    let work = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for (fork, evm) in [("byzantium", "byzantium"), ("latest", "prague")] {
        let artifact = work.path().join(format!("store-{fork}.json"));
        run(
            Command::new("node")
                .arg(dir.join("compile.mjs"))
                .arg(evm)
                .arg(&artifact),
            "solc-js compile",
        );
        let node = DevNode::start(fork, 500, &["--ws"]);
        // Kaleido's schedule (`--dev.fork byzantium`) reaches Byzantium at block 4;
        // a receipt of an earlier block rightly has a state root, not `status`.
        wait_for_block(&node, BYZANTIUM_BLOCK);
        let url = node.url();
        let ws = format!("ws://{}", node.ws.expect("ws address"));
        let started = Instant::now();
        let suites = [
            (
                "ethers",
                spawn(
                    Command::new("node")
                        .arg(dir.join("ethers_suite.mjs"))
                        .args([
                            &url,
                            artifact.to_str().expect("utf-8 path"),
                            KEYS[0],
                            fork,
                            &ws,
                        ]),
                ),
            ),
            (
                "viem",
                spawn(Command::new("node").arg(dir.join("viem_suite.mjs")).args([
                    &url,
                    artifact.to_str().expect("utf-8 path"),
                    KEYS[1],
                    fork,
                ])),
            ),
            (
                "web3py",
                spawn(Command::new(&python).arg(dir.join("web3_suite.py")).args([
                    &url,
                    artifact.to_str().expect("utf-8 path"),
                    KEYS[2],
                    fork,
                ])),
            ),
        ];
        for (name, child) in suites {
            let (ok, output) = finish(child, Duration::from_secs(180));
            eprintln!("{output}");
            let last = output
                .lines()
                .rev()
                .find(|l| l.contains(" passed, "))
                .unwrap_or("no summary")
                .to_string();
            summary.push(format!("{name}/{fork}: {last}"));
            if !ok {
                failures.push(format!("{name}/{fork}"));
            }
        }
        eprintln!(
            "{fork}: clients ran in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    eprintln!("{}", summary.join("\n"));
    assert!(failures.is_empty(), "failed suites: {failures:?}");
}
