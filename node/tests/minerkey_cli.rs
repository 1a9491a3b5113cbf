//! `kalgo makeminerkey` and `kalgo genesis` as a new user runs them: the built
//! binary, each bad input giving a one-line error, a non-zero status and no file.

use std::path::Path;
use std::process::{Command, Output};

const KALGO: &str = env!("CARGO_BIN_EXE_kalgo");
const ADDR: &str = "0x0e09768B2B2e7aa534243f8bf9AFdC145DdA8EDa";

fn kalgo(args: &[&str]) -> Output {
    Command::new(KALGO)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kalgo: {e}"))
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"))
}

fn files_under(dir: &Path) -> usize {
    fn walk(d: &Path, n: &mut usize) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, n);
            } else {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(dir, &mut n);
    n
}

/// Asserts a failed run: status ≠ 0, exactly one line on stderr mentioning `needle`.
fn assert_one_line_error(out: &Output, needle: &str) {
    assert!(!out.status.success(), "expected failure");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one-line error, got: {err}"
    );
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "{err:?} should mention {needle:?}");
}

#[test]
fn makeminerkey_bad_inputs_fail_cleanly_and_write_nothing() {
    let d = tmp();
    let dd = d.path().to_str().unwrap_or_default();
    let cases: [(&[&str], &str); 6] = [
        (&["--minerkey.start", "1"], "--miner.stakeowner"),
        (
            &["--miner.stakeowner", ADDR, "--minerkey.start", "0"],
            "--minerkey.start",
        ),
        (
            &[
                "--miner.stakeowner",
                ADDR,
                "--minerkey.start",
                "1",
                "--minerkey.lifespan",
                "0",
            ],
            "lifespan",
        ),
        (
            &[
                "--miner.stakeowner",
                ADDR,
                "--minerkey.start",
                "1",
                "--minerkey.lifespan",
                "101",
            ],
            "lifespan",
        ),
        (
            &[
                "--miner.stakeowner",
                "0x0000000000000000000000000000000000000000",
                "--minerkey.start",
                "1",
            ],
            "zero address",
        ),
        (
            &[
                "--miner.stakeowner",
                "0x0E09768B2B2e7aa534243f8bf9AFdC145DdA8EDa",
                "--minerkey.start",
                "1",
            ],
            "EIP-55",
        ),
    ];
    for (args, needle) in cases {
        let mut all = vec!["--datadir", dd, "makeminerkey"];
        all.extend_from_slice(args);
        assert_one_line_error(&kalgo(&all), needle);
        assert_eq!(files_under(d.path()), 0, "nothing written for {args:?}");
    }
}

#[test]
fn makeminerkey_without_datadir_writes_to_kalgo_home_else_dot_kalgo() {
    let args = [
        "makeminerkey",
        "--miner.stakeowner",
        ADDR,
        "--minerkey.start",
        "1",
        "--minerkey.interval",
        "1000",
    ];
    let key = format!("{ADDR}-0-1000.bin");
    // As geth's ~/.ethereum and Kaleido's ~/.kaleido: ~/.kalgo.
    let home = tmp();
    let out = Command::new(KALGO)
        .env("HOME", home.path())
        .env_remove("KALGO_HOME")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kalgo: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made = home.path().join(".kalgo").join("kalgo").join("minerkeys");
    assert!(made.join(&key).is_file(), "no {key} in {}", made.display());
    assert_eq!(files_under(home.path()), 1);
    // $KALGO_HOME wins over HOME.
    let kalgo_home = tmp();
    let other_home = tmp();
    let out = Command::new(KALGO)
        .env("HOME", other_home.path())
        .env("KALGO_HOME", kalgo_home.path())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kalgo: {e}"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made = kalgo_home.path().join("kalgo").join("minerkeys");
    assert!(made.join(&key).is_file(), "no {key} in {}", made.display());
    assert_eq!(files_under(other_home.path()), 0);
}

#[test]
fn makeminerkey_unwritable_datadir() {
    let d = tmp();
    let file = d.path().join("not-a-dir");
    std::fs::write(&file, b"x").unwrap_or_else(|e| panic!("{e}"));
    let out = kalgo(&[
        "--datadir",
        file.to_str().unwrap_or_default(),
        "makeminerkey",
        "--miner.stakeowner",
        ADDR,
        "--minerkey.start",
        "1",
    ]);
    assert_one_line_error(&out, "not-a-dir");
    assert_eq!(files_under(d.path()), 1);
}

#[test]
fn makeminerkey_writes_once_prints_again_and_feeds_genesis() {
    let d = tmp();
    let dd = d.path().to_str().unwrap_or_default();
    let pw = d.path().join("pw.txt");
    std::fs::write(&pw, b"s3cret\n").unwrap_or_else(|e| panic!("{e}"));
    let pws = pw.to_str().unwrap_or_default();
    // --datadir after the subcommand, interval 1000 to keep the key small.
    let args = [
        "makeminerkey",
        "--datadir",
        dd,
        "--miner.stakeowner",
        ADDR,
        "--minerkey.start",
        "1",
        "--minerkey.interval",
        "1000",
        "--chainid",
        "1337",
        "--password",
        pws,
    ];
    let first = kalgo(&args);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let text = String::from_utf8_lossy(&first.stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("MinerKey: 0x39fb25e9"));
    assert_eq!(lines[0].len() - "MinerKey: 0x".len(), 2 * 164);
    assert_eq!(lines[1], "Details:");
    assert!(text.contains(&format!("  miner: {ADDR}\n")));
    assert!(text.contains("  start: 1\n  end: 1000\n  lifespan: 100\n"));
    assert!(text.contains("GenesisStorage:\n  0x82f1831a162a7f3e29811d2195e3e69849199225cd98cdaac26cbc717f24fcaf = 0x0e09768b2b2e7aa534243f8bf9afdc145dda8eda000000640000000000000001\n"));
    let key = d.path().join(format!("kalgo/minerkeys/{ADDR}-0-1000.bin"));
    let meta = std::fs::metadata(&key).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o600
    );
    let before = std::fs::read(&key).unwrap_or_default();

    // Again: printed, not overwritten, non-zero with one line.
    let again = kalgo(&args);
    assert_one_line_error(&again, "already exists");
    assert_eq!(String::from_utf8_lossy(&again.stdout), text);
    assert_eq!(std::fs::read(&key).unwrap_or_default(), before);

    // Wrong password for genesis: clear error.
    let bad = d.path().join("bad.txt");
    std::fs::write(&bad, b"nope\n").unwrap_or_else(|e| panic!("{e}"));
    let g = [
        "--datadir",
        dd,
        "genesis",
        "--account",
        ADDR,
        "--interval",
        "1000",
    ];
    let mut wrong = g.to_vec();
    wrong.extend_from_slice(&["--password", bad.to_str().unwrap_or_default()]);
    assert_one_line_error(&kalgo(&wrong), "wrong password");
    // Genesis from the key: loads with Genesis::from_json (checked inside) and holds the slots.
    let mut ok = g.to_vec();
    ok.extend_from_slice(&["--password", pws, "--fork", "byzantium"]);
    let out = kalgo(&ok);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8_lossy(&out.stdout);
    assert!(json.contains("\"chainId\": 1337"));
    assert!(json.contains("\"byzantiumBlock\": 4"));
    assert!(json.contains("0x82f1831a162a7f3e29811d2195e3e69849199225cd98cdaac26cbc717f24fcaf"));
    assert!(json.contains("\"totalBalanceOfMiners\": \"100000000000000000000000000\""));
    registry_of_genesis(&json, ADDR);
}

/// The genesis loads, and the registry read from its state has the account as the
/// only miner, with stake = balance = the declared total (also what the header rule
/// computes with the configured lookback).
fn registry_of_genesis(json: &str, addr: &str) {
    use actors::execution::{
        genesis::Genesis,
        memory_state::MemoryState,
        miner::snapshot::{header_total_stake, miner_registry, total_stake_of_miners},
        state_root::state_root,
    };
    let g = Genesis::from_json(json).unwrap_or_else(|e| panic!("{e}"));
    let changes = g.change_set();
    let out = state_root(&MemoryState::default(), &changes).unwrap_or_else(|e| panic!("{e}"));
    let mut state = MemoryState::default();
    state.apply(&changes, &out);
    let interval = g
        .config
        .miner_contract()
        .map(|m| m.interval)
        .unwrap_or_default();
    let miners = miner_registry(&state, 1, interval).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(miners.len(), 1);
    assert_eq!(format!("{}", miners[0].coinbase), addr);
    let total = total_stake_of_miners(&state, 1, interval).unwrap_or_default();
    assert_eq!(
        alloy_primitives::U256::from(total),
        g.total_balance_of_miners
    );
    let header =
        header_total_stake(&state, 0, g.config.stake_lookback(), interval).unwrap_or_default();
    assert_eq!(header, g.total_balance_of_miners);
}

#[test]
fn genesis_for_a_local_network() {
    let d = tmp();
    let out_dir = d.path().join("net");
    let out = kalgo(&[
        "genesis",
        "--validators",
        "3",
        "--out",
        out_dir.to_str().unwrap_or_default(),
        "--interval",
        "1000",
        "--committee",
        "fixed",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = std::fs::read_to_string(out_dir.join("start.sh")).unwrap_or_default();
    assert_eq!(script.matches(" --mine ").count(), 3);
    let json = std::fs::read_to_string(out_dir.join("genesis.json")).unwrap_or_default();
    assert!(json.contains("\"committeeMode\": \"fixed\""));
    assert!(json.contains("\"totalBalanceOfMiners\": \"300000000000000000000000000\""));
    for i in 0..3 {
        let keys = out_dir.join(format!("node{i}/kalgo/minerkeys"));
        assert_eq!(std::fs::read_dir(&keys).map(|r| r.count()).unwrap_or(0), 1);
        assert!(out_dir.join(format!("node{i}/account.key")).exists());
    }
}

#[test]
fn genesis_writes_the_dynamic_filter_timeout_and_refuses_bad_flags() {
    let d = tmp();
    let net = |name: &str| d.path().join(name);
    let run = |dir: &Path, extra: &[&str]| {
        let mut args = vec![
            "genesis",
            "--validators",
            "1",
            "--out",
            dir.to_str().unwrap_or_default(),
            "--twolambda",
            "800",
        ];
        args.extend_from_slice(extra);
        kalgo(&args)
    };
    let config = |dir: &Path| -> serde_json::Value {
        let text = std::fs::read_to_string(dir.join("genesis.json")).unwrap_or_default();
        let g: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        g["config"]["algorand"].clone()
    };
    let off = net("off");
    assert!(run(&off, &[]).status.success());
    let a = config(&off);
    assert!(a.get("dynamicFilterTimeout").is_none(), "{a}");
    assert!(a.get("filterTimeoutMin").is_none(), "{a}");
    let on = net("on");
    let out = run(&on, &["--dynamicfilter", "--filtermin", "150"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = config(&on);
    assert_eq!(a["dynamicFilterTimeout"], serde_json::json!(true), "{a}");
    assert_eq!(a["filterTimeoutMin"], serde_json::json!(150), "{a}");
    let cases: [(&[&str], &str); 3] = [
        (&["--filtermin", "150"], "--filtermin needs --dynamicfilter"),
        (
            &["--dynamicfilter", "--filtermin", "0"],
            "--filtermin must be between 1",
        ),
        (
            &["--dynamicfilter", "--filtermin", "801"],
            "--filtermin must be between 1",
        ),
    ];
    for (i, (extra, needle)) in cases.iter().enumerate() {
        let dir = net(&format!("bad{i}"));
        assert_one_line_error(&run(&dir, extra), needle);
        assert!(!dir.exists(), "{extra:?} wrote {}", dir.display());
    }
}

/// `--alloc ADDR[=KAL]` funds other accounts without touching the stake: the
/// genesis loads, the accounts hold what was asked, the total stake is the
/// miners' alone; a bad `--alloc` is a one-line error and writes nothing.
#[test]
fn genesis_alloc_funds_accounts_and_refuses_bad_ones() {
    const DEV0: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
    const OTHER: &str = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
    let d = tmp();
    let dir = d.path().join("net");
    let run = |dir: &Path, extra: &[&str]| {
        let mut args = vec![
            "genesis",
            "--validators",
            "2",
            "--out",
            dir.to_str().unwrap_or_default(),
        ];
        args.extend_from_slice(extra);
        kalgo(&args)
    };
    let out = run(
        &dir,
        &["--alloc", &format!("{DEV0}=1000000000"), "--alloc", OTHER],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.join("genesis.json")).unwrap_or_default();
    let g = actors::execution::genesis::Genesis::from_json(&text)
        .unwrap_or_else(|e| panic!("{e}: {text}"));
    let balance = |a: &str| {
        let a: alloy_primitives::Address = a.parse().unwrap_or_default();
        g.alloc.get(&a).map(|acc| acc.balance)
    };
    let kal = |n: u64| {
        alloy_primitives::U256::from(n)
            * alloy_primitives::U256::from(10u64).pow(alloy_primitives::U256::from(18))
    };
    assert_eq!(balance(DEV0), Some(kal(1_000_000_000)));
    assert_eq!(
        balance(OTHER),
        Some(kal(100_000_000)),
        "--balance by default"
    );
    assert_eq!(g.total_balance_of_miners, kal(2 * 100_000_000));

    let cases: [(&[&str], &str); 4] = [
        (&["--alloc", "0x12"], "--alloc"),
        (&["--alloc", &format!("{DEV0}=lots")], "whole number of KAL"),
        (&["--alloc", DEV0, "--alloc", DEV0], "given twice"),
        (
            &["--alloc", "0x1000000000000000000000000000000000000002=1"],
            "miner contract",
        ),
    ];
    for (i, (extra, needle)) in cases.iter().enumerate() {
        let bad = d.path().join(format!("bad{i}"));
        assert_one_line_error(&run(&bad, extra), needle);
        assert!(!bad.exists(), "{extra:?} wrote {}", bad.display());
    }
}
