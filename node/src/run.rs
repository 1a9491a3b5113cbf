//! `kalgo init` and running a node (Kaleido §6.1 flags, §6.5 data directory).
//!
//! Layout under `<datadir>/kalgo/`: `chaindata.redb` (the chain store),
//! `consensus.redb` (the consensus journal), `genesis.json` (a copy, for the chain
//! config), `minerkeys/` (miner key files, [`crate::keyfile`]; the running miner's
//! keys are a [`crate::keyring::KeyRing`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use ::actors::consensus::{
    host::HostCore, journal::JournalStore, keys::KeySource, params_from_config,
    registry::StoreRegistry,
};
use ::actors::execution::{
    block::init_genesis, genesis::Genesis, service::ExecutionService, storage::Store,
};
use ::actors::runtime::{ConsensusActor, ExecutionActor};
use actix::{Actor, System};

use crate::keyring::{ChainKeyParams, KeyRing, KeyRingError};
use crate::makeminerkey::read_password;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Reading or writing a file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The genesis file is invalid.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// The datadir was never initialised.
    #[error("{0} has no genesis: run `kalgo --datadir D init genesis.json` first")]
    NotInitialised(PathBuf),
    /// Store, execution or consensus failure.
    #[error("{0}")]
    Node(String),
    /// Miner keys.
    #[error(transparent)]
    Keys(#[from] KeyRingError),
    /// The password file.
    #[error("{0}")]
    Password(String),
    /// The JSON-RPC server could not start.
    #[error(transparent)]
    Rpc(#[from] crate::rpc::RpcStartError),
    /// `--unlock` failed.
    #[error("--unlock {0}: {1}")]
    Unlock(alloy_primitives::Address, crate::accounts::AccountError),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn node_dir(datadir: &Path) -> PathBuf {
    datadir.join("kalgo")
}

/// `kalgo init genesis.json`: validates the file and writes its block 0.
pub fn init(datadir: &Path, genesis_path: &Path) -> Result<String, RunError> {
    let text = std::fs::read_to_string(genesis_path).map_err(io(genesis_path))?;
    let genesis = Genesis::from_json(&text).map_err(|e| RunError::Genesis(e.to_string()))?;
    let dir = node_dir(datadir);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let store =
        Store::open(&dir.join("chaindata.redb")).map_err(|e| RunError::Node(e.to_string()))?;
    let (head, _) = init_genesis(&store, &genesis).map_err(|e| RunError::Node(e.to_string()))?;
    let copy = dir.join("genesis.json");
    std::fs::write(&copy, text).map_err(io(&copy))?;
    Ok(format!(
        "wrote genesis block {} (hash {})",
        head.number, head.hash
    ))
}

/// Options of a running node.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Data directory.
    pub datadir: PathBuf,
    /// Propose and vote.
    pub mine: bool,
    /// The miner identity.
    pub stakeowner: Option<alloy_primitives::Address>,
    /// Password file of encrypted miner key files.
    pub password: Option<PathBuf>,
    /// JSON-RPC servers.
    pub rpc: crate::rpc::RpcConfig,
    /// Keystore accounts to unlock at start (`--unlock`, passwords from `--password`).
    pub unlock: Vec<alloy_primitives::Address>,
    /// New key files use geth's light scrypt (`--lightkdf`).
    pub light_kdf: bool,
}

/// Runs the node until SIGINT or SIGTERM.
pub fn run(opts: &RunOptions) -> Result<(), RunError> {
    let dir = node_dir(&opts.datadir);
    let gpath = dir.join("genesis.json");
    if !gpath.exists() {
        return Err(RunError::NotInitialised(opts.datadir.clone()));
    }
    let text = std::fs::read_to_string(&gpath).map_err(io(&gpath))?;
    let genesis = Genesis::from_json(&text).map_err(|e| RunError::Genesis(e.to_string()))?;
    let store =
        Store::open(&dir.join("chaindata.redb")).map_err(|e| RunError::Node(e.to_string()))?;
    // The registry reads committees from the committed chain through its own
    // handle on the store the execution actor writes.
    let registry = StoreRegistry::new(
        store.clone(),
        genesis.config.miner_contract().map_or(0, |m| m.interval),
        genesis.config.stake_lookback(),
    );
    let exec = ExecutionService::new(store, genesis.config.clone())
        .map_err(|e| RunError::Node(e.to_string()))?;
    let rpc_store = exec.store().clone();
    let params = params_from_config(&genesis.config);
    let (head, header) = exec.head();
    let keys: Option<Box<dyn KeySource>> = match (opts.mine, opts.stakeowner) {
        (true, Some(owner)) => {
            let password = opts
                .password
                .as_deref()
                .map(read_password)
                .transpose()
                .map_err(|e| RunError::Password(e.to_string()))?;
            let ring = KeyRing::open(
                &opts.datadir,
                owner,
                password,
                ChainKeyParams::from(&params),
                head.number,
            )?;
            Some(Box::new(ring))
        }
        (true, None) => return Err(RunError::Node("--mine needs --miner.stakeowner".into())),
        (false, _) => None,
    };
    let accounts = std::sync::Arc::new(crate::account_cmd::open_accounts(
        &opts.datadir,
        opts.light_kdf,
    ));
    if !opts.unlock.is_empty() {
        let passwords = match &opts.password {
            Some(p) => crate::account_cmd::read_password_lines(p)
                .map_err(|e| RunError::Password(e.to_string()))?,
            None => Vec::new(),
        };
        for (i, address) in opts.unlock.iter().enumerate() {
            let pw = match passwords.get(i).or(passwords.last()) {
                Some(p) => p.clone(),
                None => {
                    crate::account_cmd::prompt(&format!("Unlocking account {address}\nPassword: "))
                        .map_err(|e| RunError::Password(e.to_string()))?
                }
            };
            accounts
                .unlock(address, &pw, None)
                .map_err(|e| RunError::Unlock(*address, e))?;
            tracing::info!(%address, "unlocked account");
        }
    }
    let journal = JournalStore::open(&dir.join("consensus.redb"))
        .map_err(|e| RunError::Node(e.to_string()))?;
    tracing::info!(head = head.number, hash = %head.hash, mining = keys.is_some(), "starting");
    let header = header.clone();
    let epoch = Instant::now();
    let (core, initial) = HostCore::start(params, keys, registry, journal, header, 0)
        .map_err(|e| RunError::Node(e.to_string()))?;

    let sys = actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot build the tokio runtime: {e}"))
    });
    let mut rpc_config = opts.rpc.clone();
    rpc_config.resolve_ipc(&opts.datadir);
    let chain_config = genesis.config.clone();
    sys.block_on(async move {
        let exec_addr = ExecutionActor::new(exec).start();
        let servers = crate::rpc::start(
            &rpc_config,
            crate::rpc::NodeHandles {
                store: rpc_store,
                config: chain_config,
                exec: exec_addr.clone(),
                peers: Default::default(),
                accounts,
            },
        )
        .await;
        let servers = match servers {
            Ok(s) => s,
            Err(e) => {
                System::current().stop();
                return Err(RunError::from(e));
            }
        };
        let _consensus = ConsensusActor::new(core, initial, exec_addr, epoch).start();
        shutdown_signal().await;
        tracing::info!("shutting down");
        servers.stop();
        System::current().stop();
        Ok(())
    })
}

/// Set by [`request_shutdown`] (the `kalgo console` that started the node exits).
static STOP: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Asks a node running in this process to shut down as on SIGTERM.
pub fn request_shutdown() {
    STOP.notify_one();
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                    _ = STOP.notified() => {}
                }
            }
            Err(_) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = STOP.notified() => {}
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
