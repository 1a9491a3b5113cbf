//! `kalgo --dev`: a one-command development chain.
//!
//! - a data directory: `--datadir D`, or a temporary one removed on exit;
//! - a fresh miner identity and its real miner key file (`makeminerkey`), and a
//!   genesis that registers that key in the miner contract (`kalgo genesis`), with
//!   2λ = `--dev.period` (default 1000 ms: one block about every second) and the
//!   EVM schedule of `--dev.fork` (default latest);
//! - the ten well-known development accounts of the mnemonic "test test test test
//!   test test test test test test test junk" (anvil's, hardhat's and reth's) funded
//!   with 10,000 ETH each, so tool tutorials work unchanged;
//! - mining on, HTTP JSON-RPC on 127.0.0.1:8545 with eth, net, web3 and txpool.
//!
//! Restarting with the same `--datadir` continues that chain (the miner is
//! recorded in `D/kalgo/dev-miner`).

use std::path::{Path, PathBuf};

use alloy_primitives::Address;
use clap::Args;

use crate::cmd::genesis::{self, Committee, Fork, GenesisArgs};
use crate::cmd::makeminerkey::{self, DEFAULT_INTERVAL, MakeMinerKeyArgs};
use crate::keys::keyfile;

/// The dev chain's id (geth's `--dev` uses the same).
pub const DEV_CHAIN_ID: u64 = 1337;
/// Balance of each development account: 10,000 ETH.
pub const DEV_BALANCE_ETH: u64 = 10_000;

/// The first ten accounts of the "test … junk" mnemonic (BIP-44 path
/// m/44'/60'/0'/0/i), as (address, private key). These keys are public: never
/// use them on a real chain. `dev_keys_match_addresses` checks each pair; the
/// client suite checks the derivation from the mnemonic with eth-account.
pub const DEV_ACCOUNTS: [(&str, &str); 10] = [
    (
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
        "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    ),
    (
        "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
        "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    ),
    (
        "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
        "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    ),
    (
        "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
        "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    ),
    (
        "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
        "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    ),
    (
        "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc",
        "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    ),
    (
        "0x976EA74026E726554dB657fA54763abd0C3a0aa9",
        "0x92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    ),
    (
        "0x14dC79964da2C08b23698B3D3cc7Ca32193d9955",
        "0x4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    ),
    (
        "0x23618e81E3f5cdF7f54C3d65f7FBc0aBf5B21E8f",
        "0xdbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    ),
    (
        "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720",
        "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
    ),
];

/// `--dev` flags.
#[derive(Args, Debug, Clone)]
pub struct DevArgs {
    /// Run a one-command development chain (see `kalgo --help`): temporary data
    /// directory unless --datadir, funded dev accounts, mining, HTTP RPC on :8545.
    #[arg(long = "dev")]
    pub dev: bool,
    /// Block period of --dev in milliseconds (2λ of BA*).
    #[arg(long = "dev.period", value_name = "MS", default_value_t = 1000)]
    pub period: u64,
    /// EVM fork schedule of a new --dev chain.
    #[arg(long = "dev.fork", value_enum, default_value = "latest")]
    pub fork: Fork,
    /// Block gas limit of a new --dev chain (raise it for load tests: a plain
    /// transfer takes 21,000).
    #[arg(
        long = "dev.gaslimit",
        value_name = "GAS",
        default_value_t = 63_000_000
    )]
    pub gas_limit: u64,
    /// A new --dev chain waits for round-1 proposals as long as recent ones
    /// took (`dynamicFilterTimeout`), not the whole period.
    #[arg(long = "dev.dynamicfilter")]
    pub dynamic_filter: bool,
}

/// Why the dev chain could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum DevError {
    /// Bad flag.
    #[error("{0}")]
    Usage(String),
    /// File access.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The `kalgo/dev-miner` marker of an existing dev chain does not hold an
    /// address (edited or truncated): fix it or start from a new `--datadir`.
    #[error("{}: {source}", path.display())]
    Marker {
        /// The marker file.
        path: PathBuf,
        /// Why its text is not an address.
        source: alloy_primitives::hex::FromHexError,
    },
    /// The dev miner's key could not be made.
    #[error("{0}")]
    MinerKey(#[from] makeminerkey::MakeKeyError),
    /// The dev miner's key file could not be read back.
    #[error("{0}")]
    KeyFile(#[from] keyfile::KeyFileError),
    /// The dev genesis could not be generated.
    #[error("{0}")]
    Genesis(#[from] genesis::GenesisCmdError),
    /// `kalgo init` of the dev chain failed (its data directory: room,
    /// permissions, a lock held by another node).
    #[error("{0}")]
    Init(#[from] crate::run::RunError),
}

/// A prepared dev chain: where it lives and who mines.
pub struct DevChain {
    pub datadir: PathBuf,
    /// The miner (stake owner).
    pub miner: Address,
    /// Keeps a temporary data directory alive (removed when dropped).
    pub _temp: Option<tempfile::TempDir>,
}

fn marker(datadir: &Path) -> PathBuf {
    datadir.join("kalgo").join("dev-miner")
}

/// Creates (or reopens) the dev chain in `datadir` or a temporary directory.
pub fn prepare(datadir: Option<&Path>, args: &DevArgs) -> Result<DevChain, DevError> {
    if !(100..=60_000).contains(&args.period) {
        return Err(DevError::Usage(
            "--dev.period must be between 100 and 60000 ms".into(),
        ));
    }
    let (dir, temp) = match datadir {
        Some(d) => (d.to_path_buf(), None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("kalgo-dev-")
                .tempdir()
                .map_err(|e| DevError::Io(std::env::temp_dir(), e))?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let mark = marker(&dir);
    if dir.join("kalgo").join("genesis.json").exists() {
        let text = std::fs::read_to_string(&mark).map_err(|_| {
            DevError::Usage(format!(
                "{} holds a chain that --dev did not create (no {})",
                dir.display(),
                mark.display()
            ))
        })?;
        let miner = text
            .trim()
            .parse::<Address>()
            .map_err(|source| DevError::Marker {
                path: mark.clone(),
                source,
            })?;
        tracing::info!(datadir = %dir.display(), miner = %miner, "reopening the dev chain");
        return Ok(DevChain {
            datadir: dir,
            miner,
            _temp: temp,
        });
    }
    let miner = alloy_signer_local::PrivateKeySigner::random().address();
    let mk = MakeMinerKeyArgs {
        stake_owner: Some(miner.to_string()),
        coinbase: None,
        start: Some(1),
        lifespan: spec::registration::DEFAULT_LIFESPAN,
        interval: DEFAULT_INTERVAL,
        chain_id: DEV_CHAIN_ID,
        password: None,
    };
    makeminerkey::run(&dir, &mk).map_err(|(_, e)| e)?;
    let key = keyfile::read_key_file(&keyfile::key_path(&dir, &miner, 0, DEFAULT_INTERVAL), None)?;
    let gargs = GenesisArgs {
        account: None,
        chain_id: Some(DEV_CHAIN_ID),
        two_lambda: args.period,
        interval: DEFAULT_INTERVAL,
        committee: Committee::Fixed,
        fork: args.fork,
        balance: 100_000_000,
        // The development accounts, beside the miner (which is never one of them).
        alloc: DEV_ACCOUNTS
            .iter()
            .map(|(address, _)| format!("{address}={DEV_BALANCE_ETH}"))
            .collect(),
        lookback: 16,
        dynamic_filter: args.dynamic_filter,
        filter_min: None,
        absent_factor: spec::absence::DEFAULT_ABSENTEE_FACTOR,
        no_absentees: false,
        gas_limit: args.gas_limit,
        password: None,
        validators: None,
        out: None,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    let text = genesis::genesis_json(&gargs, DEV_CHAIN_ID, &[key], now)?;
    let gpath = dir.join("dev-genesis.json");
    std::fs::write(&gpath, &text).map_err(|e| DevError::Io(gpath.clone(), e))?;
    crate::run::init(&dir, &gpath)?;
    std::fs::write(&mark, format!("{miner}\n")).map_err(|e| DevError::Io(mark.clone(), e))?;
    tracing::info!(datadir = %dir.display(), miner = %miner, period_ms = args.period, fork = ?args.fork, "created a dev chain");
    Ok(DevChain {
        datadir: dir,
        miner,
        _temp: temp,
    })
}

/// Prints where the dev chain is and how to use it.
pub fn banner(chain: &DevChain, http: Option<std::net::SocketAddr>) -> String {
    let mut out = String::from("kalgo --dev: development chain\n");
    out += &format!("  chain id   {DEV_CHAIN_ID}\n");
    out += &format!("  datadir    {}\n", chain.datadir.display());
    if let Some(a) = http {
        out += &format!("  JSON-RPC   http://{a}\n");
    }
    out += &format!(
        "  accounts   {DEV_ACCOUNTS_COUNT} funded with {DEV_BALANCE_ETH} ETH each (mnemonic \"test test test test test test test test test test test junk\"):\n"
    );
    for (i, (address, key)) in DEV_ACCOUNTS.iter().enumerate() {
        out += &format!("    ({i}) {address}  key {key}\n");
    }
    out
}

const DEV_ACCOUNTS_COUNT: usize = DEV_ACCOUNTS.len();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_keys_match_addresses() {
        for (address, key) in DEV_ACCOUNTS {
            let signer: alloy_signer_local::PrivateKeySigner =
                key.parse().unwrap_or_else(|_| panic!("key {key}"));
            let expected = Address::parse_checksummed(address, None)
                .unwrap_or_else(|_| panic!("checksum of {address}"));
            assert_eq!(signer.address(), expected, "{key}");
        }
    }

    #[test]
    fn dev_dynamicfilter_writes_the_chain_config_key() {
        for on in [false, true] {
            let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
            let args = DevArgs {
                dev: true,
                period: 500,
                fork: Fork::Latest,
                gas_limit: 63_000_000,
                dynamic_filter: on,
            };
            let chain = prepare(Some(dir.path()), &args).unwrap_or_else(|e| panic!("{e}"));
            let text = std::fs::read_to_string(chain.datadir.join("dev-genesis.json"))
                .unwrap_or_else(|e| panic!("{e}"));
            let g: serde_json::Value =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
            let a = &g["config"]["algorand"];
            assert_eq!(a["timeoutTwoLambda"], serde_json::json!(500), "{a}");
            match on {
                true => assert_eq!(a["dynamicFilterTimeout"], serde_json::json!(true), "{a}"),
                false => assert!(a.get("dynamicFilterTimeout").is_none(), "{a}"),
            }
        }
    }
}
