//! Black box: a single `kalgo` miner set up exactly as a user does it —
//! `makeminerkey`, `genesis --account`, `init`, then `--mine` — on 127.0.0.1 with
//! 2λ = 1000 ms produces a block about every second, erases the vote sub-keys of
//! passed heights from its key file, and after `kill -9` resumes from its stored
//! head.
//!
//! Needs the `kalgo` binary built in the same target dir (`cargo build -p node`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use spec::crypto::real::FsKeySet;
use tests::cluster::{kalgo_bin, run_ok};

const OWNER: &str = "0x00000000000000000000000000000000000000aa";
/// Heights per vote sub-key of the test chain: small, so that sub-keys pass
/// within the test.
const LIFESPAN: u64 = 5;
/// Offset of the vote key set in a plain key file: magic and kind (9), miner,
/// coinbase and four u64 (72), the VRF key (96).
const VOTES_AT: usize = 9 + 72 + 96;

/// `makeminerkey` + `genesis --account` + `init`, as in docs/operators.md ("Mining");
/// returns the key file.
fn set_up(bin: &Path, datadir: &Path) -> PathBuf {
    let lifespan = LIFESPAN.to_string();
    run_ok(
        bin,
        datadir,
        &[
            "makeminerkey",
            "--miner.stakeowner",
            OWNER,
            "--minerkey.start",
            "1",
            "--minerkey.interval",
            "1000",
            "--minerkey.lifespan",
            &lifespan,
            "--chainid",
            "4242",
        ],
    );
    let gpath = datadir.join("genesis.json");
    let gpath = gpath.to_str().expect("utf-8 path");
    run_ok(
        bin,
        datadir,
        &[
            "genesis",
            "--account",
            OWNER,
            "--interval",
            "1000",
            "--lookback",
            "3",
            "--out",
            gpath,
        ],
    );
    run_ok(bin, datadir, &["init", gpath]);
    let keys: Vec<PathBuf> = std::fs::read_dir(datadir.join("kalgo/minerkeys"))
        .expect("key folder")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(keys.len(), 1, "{keys:?}");
    keys.into_iter().next().expect("key file")
}

fn vote_keys(path: &Path) -> FsKeySet {
    let bytes = std::fs::read(path).expect("read key file");
    FsKeySet::from_bytes(bytes.get(VOTES_AT..).expect("key file length")).expect("vote keys")
}

/// Starts the miner; committed heights arrive on the channel with the time seen.
fn start(bin: &Path, datadir: &Path) -> (Child, mpsc::Receiver<(u64, Instant)>) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(38883);
    let mut child = Command::new(bin)
        .arg("--datadir")
        .arg(datadir)
        .args(["--mine", "--miner.stakeowner", OWNER])
        .args(["--listen-addr", "127.0.0.1", "--nodiscover"])
        .args(["--port", &port.to_string()])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn kalgo");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if !line.contains("committed block") {
                continue;
            }
            let height = line
                .split_whitespace()
                .find_map(|w| w.strip_prefix("height="))
                .and_then(|h| h.parse().ok());
            if let Some(h) = height
                && tx.send((h, Instant::now())).is_err()
            {
                break;
            }
        }
    });
    (child, rx)
}

#[test]
fn single_miner_blocks_every_second_and_resumes_after_kill() {
    // `cargo test --workspace` builds the binary (the `node` package has tests of
    // its own); running this crate alone needs `cargo build -p node` first.
    let bin = kalgo_bin();
    let dir = tempfile::tempdir().expect("tempdir");
    let key_file = set_up(&bin, dir.path());
    let fresh = std::fs::read(&key_file).expect("read key file");
    assert_eq!(vote_keys(&key_file).first_offset(), 0);

    // Another owner has no key: a one-line error, not a panic.
    let other = Command::new(&bin)
        .arg("--datadir")
        .arg(dir.path())
        .args(["--mine", "--miner.stakeowner", &OWNER.replace("aa", "bb")])
        .output()
        .expect("run kalgo");
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(!other.status.success());
    assert!(err.contains("error: --mine: no miner key for"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");

    let (mut child, rx) = start(&bin, dir.path());
    let started = Instant::now();
    let mut commits = Vec::new();
    // Up to 11 blocks, or 40 s on a loaded machine; the median is what is judged.
    while commits.len() < 11 && started.elapsed() < Duration::from_secs(40) {
        if let Ok(c) = rx.recv_timeout(Duration::from_millis(200)) {
            commits.push(c);
        }
    }
    child.kill().expect("kill -9");
    let _ = child.wait();
    assert!(commits.len() >= 5, "only {} blocks in 40 s", commits.len());
    let mut gaps: Vec<u128> = commits
        .windows(2)
        .map(|w| w[1].1.duration_since(w[0].1).as_millis())
        .collect();
    gaps.sort_unstable();
    let median = gaps[gaps.len() / 2];
    eprintln!("blocks: {}, median interval: {median} ms", commits.len());
    assert!(
        (500..=2000).contains(&median),
        "median interval {median} ms"
    );
    let last = commits.last().map(|c| c.0).unwrap_or(0);

    let (mut child, rx) = start(&bin, dir.path());
    // Resuming may cost a round or two of timeouts; allow for a loaded machine.
    let next = rx.recv_timeout(Duration::from_secs(60));
    child.kill().expect("kill");
    let _ = child.wait();
    let (h, _) = next.expect("a block after restart");
    assert!(h > last, "resumed at {h}, head was {last}");
    assert!(h <= last + 2, "resumed at {h}, head was {last}");

    // Forward security: the sub-keys of heights the node has passed are gone
    // from the key file (each covers LIFESPAN heights; the one of the head stays).
    let keys = vote_keys(&key_file);
    assert!(last >= 2 * LIFESPAN, "head {last}");
    assert!(
        keys.first_offset() >= last / LIFESPAN,
        "first sub-key {} at head {last}",
        keys.first_offset()
    );
    // Their secrets are not in the file any more (the first sub-key's secret is
    // the 32 bytes after the key set's 60-byte header in the fresh file).
    let now = std::fs::read(&key_file).expect("read key file");
    let old_secret = &fresh[VOTES_AT + 60..VOTES_AT + 92];
    assert!(!now.windows(32).any(|w| w == old_secret));

    // makeminerkey on this initialised datadir refuses a start already passed, in
    // one line, and accepts the next interval's key.
    let late = Command::new(&bin)
        .arg("--datadir")
        .arg(dir.path())
        .args(["makeminerkey", "--miner.stakeowner", OWNER])
        .args(["--minerkey.start", "5", "--minerkey.interval", "1000"])
        .output()
        .expect("run kalgo");
    let err = String::from_utf8_lossy(&late.stderr);
    assert!(!late.status.success());
    assert!(err.contains("is not after the chain head"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let next_interval = [
        "makeminerkey",
        "--miner.stakeowner",
        OWNER,
        "--minerkey.start",
        "1000",
        "--minerkey.interval",
        "1000",
        "--minerkey.lifespan",
        "5",
        "--chainid",
        "4242",
    ];
    run_ok(&bin, dir.path(), &next_interval);
    eprintln!(
        "key file: {} -> {} bytes, first sub-key offset {}",
        fresh.len(),
        now.len(),
        keys.first_offset()
    );
}
