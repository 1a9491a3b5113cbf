//! `kalgo genesis` (Kaleido's `cmd/genesis`, §6.2): writes a `genesis.json` whose
//! miner contract already holds the account's key (read from its key file), funds
//! the account, and sets the seed and the total stake. With `--validators N` it
//! makes a whole local network: N accounts, N miner keys, N node keys, one genesis
//! and a start command per node (node0 is every other node's bootnode).

use crate::cmd::makeminerkey::{
    self, DEFAULT_INTERVAL, MakeMinerKeyArgs, parse_address, read_password, registration_of,
};
use crate::keys::keyfile::{self, MinerKeyFile};
use actors::execution::{
    chain_config::{ChainConfig, CommitteeMode},
    genesis::Genesis,
    miner::{MINER_CONTRACT, MINER_CONTRACT_CODE, layout::genesis_storage},
};
use alloy_primitives::{Address, B256, U256, hex, keccak256};
use clap::{Args, ValueEnum};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

/// EVM fork schedule of the new chain.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Fork {
    /// Kaleido's schedule (Homestead 1, EIP-150 2, EIP-155/158 3, Byzantium 4).
    Byzantium,
    /// Up to Petersburg from genesis.
    Petersburg,
    /// Up to Istanbul.
    Istanbul,
    /// Up to Berlin.
    Berlin,
    /// Up to London (EIP-1559).
    London,
    /// Up to Shanghai.
    Shanghai,
    /// Up to Cancun.
    Cancun,
    /// Everything kalgo supports (Prague).
    Latest,
}

/// Committee mode flag.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Committee {
    /// Algorand sortition.
    Sortition,
    /// Fixed committee of all miners.
    Fixed,
}

/// Flags of `kalgo genesis`.
#[derive(Args, Debug)]
pub struct GenesisArgs {
    /// The miner account; its key file `D/kalgo/minerkeys/A-0-<interval>.bin` must exist
    /// (made with `makeminerkey --minerkey.start 1`).
    #[arg(long, value_name = "A")]
    pub account: Option<String>,
    /// Chain id (default: the one the key is bound to).
    #[arg(long = "chainid")]
    pub chain_id: Option<u64>,
    /// 2λ in milliseconds.
    #[arg(long = "twolambda", default_value_t = 1000)]
    pub two_lambda: u64,
    /// Round 1's proposal wait follows the arrival times of recent best
    /// proposals (`config.algorand.dynamicFilterTimeout`) instead of 2λ.
    #[arg(long = "dynamicfilter")]
    pub dynamic_filter: bool,
    /// Least round-1 proposal wait in ms with `--dynamicfilter`
    /// (`filterTimeoutMin`; 1 to 2λ, default 2λ/10).
    #[arg(long = "filtermin", value_name = "MS")]
    pub filter_min: Option<u64>,
    /// Miner registration interval.
    #[arg(long, default_value_t = DEFAULT_INTERVAL)]
    pub interval: u64,
    /// Committee mode.
    #[arg(long, value_enum, default_value = "sortition")]
    pub committee: Committee,
    /// EVM fork schedule.
    #[arg(long, value_enum, default_value = "latest")]
    pub fork: Fork,
    /// Balance of each miner account, in KAL.
    #[arg(long, default_value_t = 100_000_000)]
    pub balance: u64,
    /// Fund another account at genesis: `ADDR=KAL`, or `ADDR` for `--balance`
    /// KAL (repeatable; not a miner account, not the miner contract).
    #[arg(long = "alloc", value_name = "ADDR[=KAL]")]
    pub alloc: Vec<String>,
    /// Stake lookback in blocks (must be < 100).
    #[arg(long, default_value_t = 16)]
    pub lookback: u64,
    /// Absentee rule: a miner silent for the lookback plus this many times
    /// its expected blocks per proposal is marked absent
    /// (`config.algorand.absenteeFactor`, at least 1).
    #[arg(long = "absentfactor", value_name = "N", default_value_t = spec::absence::DEFAULT_ABSENTEE_FACTOR)]
    pub absent_factor: u64,
    /// A chain without the absentee rule (no `absenteeRulesBlock`): absent
    /// miners stay in the committees, as on Kaleido.
    #[arg(long = "noabsentees")]
    pub no_absentees: bool,
    /// Block gas limit (63,000,000 holds 3,000 plain transfers).
    #[arg(long = "gaslimit", default_value_t = 63_000_000)]
    pub gas_limit: u64,
    /// Password file of encrypted key files.
    #[arg(long, value_name = "FILE")]
    pub password: Option<PathBuf>,
    /// Make a local network of N validators in `--out DIR`.
    #[arg(long, value_name = "N")]
    pub validators: Option<u32>,
    /// Output file (or directory with `--validators`); default stdout.
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
}

/// Why `kalgo genesis` failed.
#[derive(Debug, thiserror::Error)]
pub enum GenesisCmdError {
    /// Bad flags.
    #[error("{0}")]
    Usage(String),
    /// Key file problem.
    #[error(transparent)]
    Key(#[from] keyfile::KeyFileError),
    /// Key generation for `--validators` failed.
    #[error(transparent)]
    MakeKey(#[from] makeminerkey::MakeKeyError),
    /// A node key for `--validators` could not be made.
    #[error(transparent)]
    NodeKey(#[from] crate::keys::nodekey::NodeKeyError),
    /// Writing output failed.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The `--password` file could not be read.
    #[error("{0}")]
    Password(#[from] crate::cmd::account::PasswordError),
    /// The generated genesis could not be serialised to JSON (a bug: report it).
    #[error("generated genesis does not load: {0}")]
    Json(#[from] serde_json::Error),
    /// The generated genesis does not pass the node's own validation (a bug:
    /// report it with the flags used).
    #[error("generated genesis does not load: {0}")]
    Invalid(#[from] actors::execution::genesis::GenesisError),
}

fn chain_config(args: &GenesisArgs, chain_id: u64) -> ChainConfig {
    let mut c = match args.fork {
        Fork::Byzantium => ChainConfig::kaleido(chain_id),
        _ => ChainConfig::new_chain(chain_id),
    };
    let order = [
        Fork::Petersburg,
        Fork::Istanbul,
        Fork::Berlin,
        Fork::London,
        Fork::Shanghai,
        Fork::Cancun,
        Fork::Latest,
    ];
    let rank = order
        .iter()
        .position(|f| std::mem::discriminant(f) == std::mem::discriminant(&args.fork));
    if let Some(rank) = rank {
        if rank < 1 {
            c.istanbul_block = None;
        }
        if rank < 2 {
            c.berlin_block = None;
        }
        if rank < 3 {
            c.london_block = None;
        }
        if rank < 4 {
            c.shanghai_time = None;
        }
        if rank < 5 {
            c.cancun_time = None;
        }
        if rank < 6 {
            c.prague_time = None;
        }
    }
    if let Some(a) = c.algorand.as_mut() {
        a.timeout_two_lambda = args.two_lambda;
        a.interval_size = args.interval;
        a.stake_lookback = args.lookback;
        a.dynamic_filter_timeout = args.dynamic_filter;
        a.filter_timeout_min = args.filter_min;
        a.absentee_factor = args.absent_factor;
        if args.no_absentees {
            a.absentee_rules_block = None;
        }
        a.committee_mode = match args.committee {
            Committee::Sortition => CommitteeMode::Sortition,
            Committee::Fixed => CommitteeMode::Fixed,
        };
    }
    c
}

fn strip_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| !x.is_null());
        m.values_mut().for_each(strip_nulls);
    }
}

/// Builds the genesis JSON for `keys` (all with start 1), each funded with `balance` KAL.
/// The chain's sub-key lifespan (`config.algorand.lifespan`) is the keys' lifespan,
/// which must be the same for all of them.
pub fn genesis_json(
    args: &GenesisArgs,
    chain_id: u64,
    keys: &[MinerKeyFile],
    timestamp: u64,
) -> Result<String, GenesisCmdError> {
    let lifespan = keys
        .first()
        .map_or(spec::registration::DEFAULT_LIFESPAN, |k| k.lifespan);
    if keys.iter().any(|k| k.lifespan != lifespan) {
        return Err(GenesisCmdError::Usage(
            "all miner keys of a genesis must have the same lifespan".into(),
        ));
    }
    let wei = kal(args.balance);
    let mut alloc = Map::new();
    let mut miners = Vec::new();
    for k in keys {
        alloc.insert(
            k.miner.to_checksum(None),
            json!({ "balance": wei.to_string() }),
        );
        miners.push((k.miner, registration_of(k)));
    }
    for (address, balance) in extra_accounts(args)? {
        let key = address.to_checksum(None);
        if alloc.contains_key(&key) {
            return Err(GenesisCmdError::Usage(format!(
                "--alloc {address}: that is a miner account, whose balance is its stake (--balance)"
            )));
        }
        alloc.insert(key, json!({ "balance": balance.to_string() }));
    }
    let storage: Map<String, Value> = genesis_storage(&miners, args.interval)
        .into_iter()
        .map(|(s, v)| {
            (
                B256::from(s).to_string(),
                Value::String(B256::from(v).to_string()),
            )
        })
        .collect();
    alloc.insert(
        MINER_CONTRACT.to_checksum(None),
        json!({ "balance": "0", "code": format!("0x{}", hex::encode(MINER_CONTRACT_CODE)), "storage": storage }),
    );
    let mut seed_input = format!("kalgo/genesis-seed/v1/{chain_id}/{timestamp}").into_bytes();
    miners
        .iter()
        .for_each(|(m, _)| seed_input.extend_from_slice(m.as_slice()));
    let seed = keccak256(&seed_input);
    let total = wei * U256::from(keys.len());
    let mut chain = chain_config(args, chain_id);
    if let Some(a) = chain.algorand.as_mut() {
        a.lifespan = lifespan;
    }
    let mut config = serde_json::to_value(chain)?;
    strip_nulls(&mut config);
    let g = json!({
        "config": config,
        "nonce": "0x1",
        "timestamp": format!("{timestamp:#x}"),
        "extraData": format!("0x{}", hex::encode("kalgo")),
        "gasLimit": format!("{:#x}", args.gas_limit),
        "difficulty": "0x0",
        "mixHash": seed.to_string(),
        "coinbase": Address::ZERO.to_string(),
        "seed": seed.to_string(),
        "totalBalanceOfMiners": total.to_string(),
        "alloc": alloc,
    });
    let text = serde_json::to_string_pretty(&g)?;
    Genesis::from_json(&text)?;
    Ok(text + "\n")
}

/// `amount` KAL in wei.
fn kal(amount: u64) -> U256 {
    U256::from(amount) * U256::from(10u64).pow(U256::from(18))
}

/// The `--alloc ADDR[=KAL]` accounts with their balances in wei (checked
/// before anything is written: no miner contract, no account twice).
fn extra_accounts(args: &GenesisArgs) -> Result<Vec<(Address, U256)>, GenesisCmdError> {
    let mut seen = std::collections::HashSet::new();
    args.alloc
        .iter()
        .map(|item| {
            let (address, amount) = match item.split_once('=') {
                Some((a, k)) => (a, Some(k)),
                None => (item.as_str(), None),
            };
            let address = parse_address("--alloc", address)?;
            if address == MINER_CONTRACT {
                return Err(GenesisCmdError::Usage(format!(
                    "--alloc {item}: that is the miner contract"
                )));
            }
            if !seen.insert(address) {
                return Err(GenesisCmdError::Usage(format!(
                    "--alloc {item}: that account is given twice"
                )));
            }
            let balance = match amount {
                None => args.balance,
                Some(k) => k.trim().parse::<u64>().map_err(|_| {
                    GenesisCmdError::Usage(format!(
                        "--alloc {item}: the balance must be a whole number of KAL (at most {})",
                        u64::MAX
                    ))
                })?,
            };
            Ok((address, kal(balance)))
        })
        .collect()
}

/// The timing flags, checked before anything is written.
fn check_timing(args: &GenesisArgs) -> Result<(), GenesisCmdError> {
    if args.two_lambda == 0 {
        return Err(GenesisCmdError::Usage(
            "--twolambda must be positive".into(),
        ));
    }
    if args.absent_factor == 0 {
        return Err(GenesisCmdError::Usage(
            "--absentfactor must be at least 1".into(),
        ));
    }
    match args.filter_min {
        Some(_) if !args.dynamic_filter => Err(GenesisCmdError::Usage(
            "--filtermin needs --dynamicfilter".into(),
        )),
        Some(ms) if ms == 0 || ms > args.two_lambda => Err(GenesisCmdError::Usage(format!(
            "--filtermin must be between 1 and --twolambda ({} ms)",
            args.two_lambda
        ))),
        _ => Ok(()),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

fn write(path: &Path, text: &str) -> Result<(), GenesisCmdError> {
    std::fs::write(path, text).map_err(|e| GenesisCmdError::Io(path.to_path_buf(), e))
}

/// Runs `kalgo genesis`; returns what to print on stdout.
/// `datadir` holds the account's key file (`--datadir`, or the default).
pub fn run(datadir: &Path, args: &GenesisArgs) -> Result<String, GenesisCmdError> {
    check_timing(args)?;
    extra_accounts(args)?;
    if let Some(n) = args.validators {
        return validators(n, args);
    }
    let account = args
        .account
        .as_deref()
        .ok_or_else(|| GenesisCmdError::Usage("--account A is required".into()))?;
    let account = parse_address("--account", account)?;
    let password = args.password.as_deref().map(read_password).transpose()?;
    let path = keyfile::key_path(datadir, &account, 0, args.interval);
    if !path.exists() {
        return Err(GenesisCmdError::Usage(format!(
            "no key file {}: run `kalgo --datadir {} makeminerkey --miner.stakeowner {} --minerkey.start 1` first",
            path.display(),
            datadir.display(),
            account.to_checksum(None)
        )));
    }
    let key = keyfile::read_key_file(&path, password.as_ref().map(|p| p.as_slice()))?;
    let chain_id = args.chain_id.unwrap_or(key.keys.votes.chain_id());
    if key.start != 1 || key.keys.votes.chain_id() != chain_id || key.interval != args.interval {
        return Err(GenesisCmdError::Usage(format!(
            "{}: key has start {}, chain id {}, interval {}; genesis needs start 1, chain id {chain_id}, interval {}",
            path.display(),
            key.start,
            key.keys.votes.chain_id(),
            key.interval,
            args.interval
        )));
    }
    let text = genesis_json(args, chain_id, &[key], now())?;
    match &args.out {
        Some(out) => {
            write(out, &text)?;
            Ok(format!("wrote {}\n", out.display()))
        }
        None => Ok(text),
    }
}

fn validators(n: u32, args: &GenesisArgs) -> Result<String, GenesisCmdError> {
    if n == 0 || n > 100 {
        return Err(GenesisCmdError::Usage(
            "--validators must be between 1 and 100".into(),
        ));
    }
    let dir = args
        .out
        .as_deref()
        .ok_or_else(|| GenesisCmdError::Usage("--validators needs --out DIR".into()))?;
    let chain_id = args.chain_id.unwrap_or(1337);
    std::fs::create_dir_all(dir).map_err(|e| GenesisCmdError::Io(dir.to_path_buf(), e))?;
    // Absolute paths in start.sh: it runs from any directory.
    let dir = &std::fs::canonicalize(dir).map_err(|e| GenesisCmdError::Io(dir.to_path_buf(), e))?;
    let mut keys = Vec::new();
    let mut bootnode: Option<String> = None;
    let mut script =
        String::from("#!/bin/sh\n# kalgo local network: one data directory per node\nset -e\n");
    for i in 0..n {
        let node = dir.join(format!("node{i}"));
        let signer = alloy_signer_local::PrivateKeySigner::random();
        let addr = signer.address();
        std::fs::create_dir_all(&node).map_err(|e| GenesisCmdError::Io(node.clone(), e))?;
        keyfile::write_atomic(
            &node.join("account.key"),
            format!("0x{}\n", hex::encode(signer.to_bytes())).as_bytes(),
            false,
        )?;
        let mk = MakeMinerKeyArgs {
            stake_owner: Some(addr.to_string()),
            coinbase: None,
            start: Some(1),
            lifespan: spec::registration::DEFAULT_LIFESPAN,
            interval: args.interval,
            chain_id,
            password: args.password.clone(),
        };
        makeminerkey::run(&node, &mk).map_err(|(_, e)| e)?;
        let password = args.password.as_deref().map(read_password).transpose()?;
        let path = keyfile::key_path(&node, &addr, 0, args.interval);
        keys.push(keyfile::read_key_file(
            &path,
            password.as_ref().map(|p| p.as_slice()),
        )?);
        // A network identity per node, so start.sh can name node0 as everyone's
        // bootnode.
        let port = 38883 + i;
        let peer = crate::keys::nodekey::load_or_create(&node.join("kalgo").join("nodekey"))?
            .public()
            .to_peer_id();
        let boot = match &bootnode {
            Some(b) => format!(" --bootnodes {b}"),
            None => {
                bootnode = Some(format!("/ip4/127.0.0.1/tcp/{port}/p2p/{peer}"));
                String::new()
            }
        };
        script += &format!(
            "kalgo --datadir {d} init {g}\nkalgo --datadir {d} --listen-addr 127.0.0.1 --port {port}{boot} --mine --miner.stakeowner {a} &\n",
            d = node.display(),
            g = dir.join("genesis.json").display(),
            a = addr.to_checksum(None),
        );
    }
    let text = genesis_json(args, chain_id, &keys, now())?;
    write(&dir.join("genesis.json"), &text)?;
    write(&dir.join("start.sh"), &script)?;
    Ok(format!(
        "wrote {n} validators, genesis.json and start.sh to {}\n{script}",
        dir.display()
    ))
}
