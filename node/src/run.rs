//! `kalgo init` and running a node (Kaleido §6.1 flags, §6.5 data directory).
//!
//! Layout under `<datadir>/kalgo/`: `chaindata.redb` (the chain store),
//! `consensus.redb` (the consensus journal), `genesis.json` (a copy, for the chain
//! config), `minerkeys/` (miner key files, [`crate::keys::keyfile`]; the running miner's
//! keys are a [`crate::keys::keyring::KeyRing`]), `nodekey` (the network identity, see
//! [`crate::keys::nodekey`]).

use std::path::{Path, PathBuf};
use std::time::Instant;

use ::actors::consensus::{
    committee::StoreRegistry, host::HostCore, keys::KeySource, params_from_config,
};
use ::actors::execution::{block::init_genesis, genesis::Genesis, service::ExecutionService};
use ::actors::gossip::{
    BootnodeError, GossipConfig,
    actor::{GossipActor, Routes},
    parse_bootnodes, swarm,
};
use ::actors::runtime::{ConsensusActor, ExecutionActor};
use ::actors::storage::Store;
use ::actors::storage::journal::JournalStore;
use actix::{Actor, System};
use libp2p::{Multiaddr, multiaddr::Protocol};
use std::time::Duration;

use crate::cmd::account::PasswordError;
use crate::cmd::makeminerkey::read_password;
use crate::config::NodeConfig;
use crate::keys::keyring::{ChainKeyParams, KeyRing, KeyRingError};
use crate::keys::nodekey;

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
    Genesis(#[from] actors::execution::genesis::GenesisError),
    /// The datadir was never initialised.
    #[error("{0} has no genesis: run `kalgo --datadir D init genesis.json` first")]
    NotInitialised(PathBuf),
    /// The chain store could not be opened or read.
    #[error("chain store: {0}")]
    Store(#[from] actors::execution::state::StorageError),
    /// Block 0 could not be written.
    #[error("genesis block: {0}")]
    GenesisBlock(#[from] actors::execution::block::BlockError),
    /// The execution service could not start on the store.
    #[error("execution: {0}")]
    Execution(#[from] actors::execution::service::ServiceError),
    /// The consensus journal could not be opened.
    #[error(transparent)]
    Journal(#[from] actors::storage::journal::JournalError),
    /// Consensus could not start on the stored head.
    #[error("consensus: {0}")]
    Consensus(#[from] actors::consensus::host::HostError),
    /// `--mine` without `--miner.stakeowner`.
    #[error("--mine needs --miner.stakeowner")]
    MineWithoutOwner,
    /// Consensus stopped on a fatal error while running.
    #[error("consensus stopped on a fatal error (see the log above)")]
    ConsensusStopped,
    /// Miner keys.
    #[error(transparent)]
    Keys(#[from] KeyRingError),
    /// The `--password` file (or the terminal prompt of `--unlock`) gave no
    /// password.
    #[error("{0}")]
    Password(#[from] PasswordError),
    /// Node (network) key.
    #[error(transparent)]
    NodeKey(#[from] nodekey::NodeKeyError),
    /// A `--bootnodes` entry (or `p2p.bootnodes` in the file) is invalid.
    #[error("{0}")]
    Bootnode(#[from] BootnodeError),
    /// `static-nodes.json` or `trusted-nodes.json` is invalid.
    #[error("{0}")]
    NodeList(#[from] NodeListError),
    /// The network could not start (the listen address is taken or invalid).
    #[error("network: {0}")]
    Network(#[from] swarm::StartError),
    /// The JSON-RPC server could not start.
    #[error(transparent)]
    Rpc(#[from] crate::rpc::RpcStartError),
    /// `--miner.reportequivocation` names an account that is not node-held
    /// and unlocked.
    #[error("--miner.reportequivocation {0}: unlock it with --unlock ({1})")]
    ReporterLocked(
        alloy_primitives::Address,
        crate::keys::accounts::AccountError,
    ),
    /// `--miner.heartbeat` without `--mine`, or with a stake owner that is not
    /// node-held and unlocked.
    #[error("--miner.heartbeat: {0}")]
    Heartbeat(String),
    /// `--unlock` failed.
    #[error("--unlock {0}: {1}")]
    Unlock(
        alloy_primitives::Address,
        crate::keys::accounts::AccountError,
    ),
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
    let genesis = Genesis::from_json(&text)?;
    let dir = node_dir(datadir);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let store = Store::open(&dir.join("chaindata.redb"))?;
    let (head, _) = init_genesis(&store, &genesis)?;
    let copy = dir.join("genesis.json");
    std::fs::write(&copy, text).map_err(io(&copy))?;
    Ok(format!(
        "wrote genesis block {} (hash {})",
        head.number, head.hash
    ))
}

/// geth's `--etherbase` does not choose where a kalgo miner's rewards go (its
/// registered coinbase does): say so when a mining node's `--etherbase` address
/// differs from the coinbase its miner registered.
fn warn_on_etherbase<R: ::actors::consensus::committee::Registry>(
    cfg: &NodeConfig,
    registry: &R,
    head: u64,
    header: &::actors::execution::header::KalgoHeader,
) {
    let (true, Some(owner), Some(crate::config::Etherbase::Address(etherbase))) =
        (cfg.miner.mine, cfg.miner.stakeowner, cfg.miner.etherbase)
    else {
        return;
    };
    let id = spec::types::MinerId(owner.0.0);
    let Ok(committee) = registry.committee(head + 1, header) else {
        return;
    };
    if let Some(registered) = committee.registered_coinbase(&id)
        && registered != etherbase.0.0
    {
        tracing::warn!(
            %etherbase,
            registered = %alloy_primitives::Address::from(registered),
            "--etherbase differs from the miner's registered coinbase, which receives its rewards"
        );
    }
}

/// geth's list of peers to keep connected, in the node directory (`D/kalgo`).
pub const STATIC_NODES: &str = "static-nodes.json";
/// geth's list of trusted peers; kalgo dials them as it dials static nodes.
pub const TRUSTED_NODES: &str = "trusted-nodes.json";
/// Largest peer list file read.
const MAX_NODE_LIST_BYTES: u64 = 1 << 20;

/// Why a geth peer list file (`static-nodes.json`, `trusted-nodes.json`) cannot
/// be used; the node does not start until it is fixed or removed.
#[derive(Debug, thiserror::Error)]
pub enum NodeListError {
    /// The file exists but cannot be read.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// Larger than [`MAX_NODE_LIST_BYTES`].
    #[error("{0}: larger than {MAX_NODE_LIST_BYTES} bytes")]
    TooLarge(PathBuf),
    /// Not a JSON array of strings.
    #[error("{0}: want a JSON array of enode URLs or multiaddrs ({1})")]
    Json(PathBuf, serde_json::Error),
    /// An entry names no peer.
    #[error("{0}: {1}")]
    Address(PathBuf, actors::gossip::enode::PeerAddressError),
}

/// The peers of a geth peer list file (a JSON array of enode URLs or
/// multiaddrs); none when the file is absent.
pub fn node_list(path: &Path) -> Result<Vec<Multiaddr>, NodeListError> {
    let at = || path.to_path_buf();
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(NodeListError::Io(at(), e)),
    };
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(file, MAX_NODE_LIST_BYTES + 1),
        &mut text,
    )
    .map_err(|e| NodeListError::Io(at(), e))?;
    if text.len() as u64 > MAX_NODE_LIST_BYTES {
        return Err(NodeListError::TooLarge(at()));
    }
    let list: Vec<String> =
        serde_json::from_str(&text).map_err(|e| NodeListError::Json(at(), e))?;
    list.iter()
        .map(|entry| {
            actors::gossip::enode::parse_peer_address(entry)
                .map_err(|e| NodeListError::Address(at(), e))
        })
        .collect()
}

/// The network settings of `cfg` for a node whose chain starts at `genesis` and
/// whose head is `head`.
fn gossip_config(
    cfg: &NodeConfig,
    genesis: [u8; 32],
    head: (u64, [u8; 32]),
    two_lambda_ms: u64,
) -> Result<GossipConfig, RunError> {
    let ip = match cfg.p2p.listen_addr {
        std::net::IpAddr::V4(a) => Protocol::Ip4(a),
        std::net::IpAddr::V6(a) => Protocol::Ip6(a),
    };
    let listen = Multiaddr::empty()
        .with(ip)
        .with(Protocol::Tcp(cfg.p2p.port));
    let mut bootnodes = parse_bootnodes(&cfg.p2p.bootnodes.join(","))?;
    let dir = node_dir(&cfg.node.datadir);
    for file in [STATIC_NODES, TRUSTED_NODES] {
        for addr in node_list(&dir.join(file))? {
            if !bootnodes.contains(&addr) {
                bootnodes.push(addr);
            }
        }
    }
    Ok(GossipConfig {
        listen,
        bootnodes,
        max_peers: cfg.p2p.maxpeers,
        network_id: cfg.p2p.networkid,
        genesis,
        head,
        discover: !cfg.p2p.nodiscover,
        // A peer one block ahead for three 2λ is more than a commit race.
        sync_lag: Duration::from_millis(two_lambda_ms.saturating_mul(3).max(1000)),
        peer_count: None,
        metrics: None,
        gossip_rate: cfg.p2p.gossiprate,
    })
}

/// Runs the node until SIGINT or SIGTERM: with the network when `network` (a
/// `--dev` chain runs alone), with the JSON-RPC servers of `rpc`.
pub fn run(cfg: &NodeConfig, rpc: crate::rpc::RpcConfig, network: bool) -> Result<(), RunError> {
    let datadir = &cfg.node.datadir;
    let dir = node_dir(datadir);
    let gpath = dir.join("genesis.json");
    if !gpath.exists() {
        return Err(RunError::NotInitialised(datadir.clone()));
    }
    let text = std::fs::read_to_string(&gpath).map_err(io(&gpath))?;
    let genesis = Genesis::from_json(&text)?;
    let store = Store::open(&dir.join("chaindata.redb"))?;
    let genesis_hash = store
        .canonical_hash(0)?
        .ok_or_else(|| RunError::NotInitialised(datadir.clone()))?;
    // The registry reads committees from the committed chain through its own
    // read handle on the database the execution actor writes.
    let registry = StoreRegistry::new(
        store.reader(),
        genesis.config.miner_contract().map_or(0, |m| m.interval),
        genesis.config.stake_lookback(),
    );
    let exec = ExecutionService::new(store, genesis.config.clone())?;
    let rpc_chain = exec.store().reader();
    let params = params_from_config(&genesis.config);
    let (head, header) = exec.head();
    let key_path = cfg
        .p2p
        .nodekey
        .clone()
        .unwrap_or_else(|| dir.join("nodekey"));
    let node_key = match network {
        true => Some(nodekey::load_or_create(&key_path)?),
        false => None,
    };
    if let Some(k) = &node_key
        && k.public().try_into_secp256k1().is_err()
    {
        tracing::warn!(
            path = %key_path.display(),
            "the node key is ed25519: this node has no enode URL and peers reach it by multiaddr; \
             remove the file to make a secp256k1 key (the peer id changes)"
        );
    }
    warn_on_etherbase(cfg, &registry, header.number(), header);
    let keys: Option<Box<dyn KeySource>> = match (cfg.miner.mine, cfg.miner.stakeowner) {
        (true, Some(owner)) => {
            let password = cfg
                .miner
                .password
                .as_deref()
                .map(read_password)
                .transpose()?;
            let ring = KeyRing::open(
                datadir,
                owner,
                password,
                ChainKeyParams::from(&params),
                head.number,
            )?;
            Some(Box::new(ring))
        }
        (true, None) => return Err(RunError::MineWithoutOwner),
        (false, _) => None,
    };
    let accounts = std::sync::Arc::new(crate::cmd::account::open_accounts(datadir, rpc.light_kdf));
    unlock_accounts(&accounts, &rpc.unlock, cfg.miner.password.as_deref())?;
    if let Some(from) = cfg.miner.reportequivocation {
        accounts
            .signer(&from)
            .map_err(|e| RunError::ReporterLocked(from, e))?;
    }
    // A mining node watches its miner's liveness record; with
    // `--miner.heartbeat` it also sends heartbeats.
    let heartbeat_miner = match (cfg.miner.heartbeat, cfg.miner.mine, cfg.miner.stakeowner) {
        (false, true, Some(owner)) => Some((owner, false)),
        (false, _, _) => None,
        (true, true, Some(owner)) => {
            accounts.signer(&owner).map_err(|e| {
                RunError::Heartbeat(format!(
                    "the stake owner {owner} must be unlocked with --unlock ({e})"
                ))
            })?;
            Some((owner, true))
        }
        (true, _, _) => {
            return Err(RunError::Heartbeat(
                "needs --mine and --miner.stakeowner".into(),
            ));
        }
    };
    let journal = JournalStore::open(&dir.join("consensus.redb"))?;
    tracing::info!(head = head.number, hash = %head.hash, mining = keys.is_some(), "starting");
    let header = header.clone();
    let net = match network {
        true => Some(gossip_config(
            cfg,
            genesis_hash.0,
            (head.number, head.hash.0),
            params.two_lambda_ms,
        )?),
        false => None,
    };
    let epoch = Instant::now();
    let (mut core, initial) = HostCore::start(params, keys, registry, journal, header, 0)?;
    let m = &cfg.miner;
    if m.test_equivocate || m.test_cert_empty_first || m.test_junk_blocks || m.test_far_votes {
        tracing::warn!(
            equivocate = m.test_equivocate,
            cert_empty_first = m.test_cert_empty_first,
            junk_blocks = m.test_junk_blocks,
            far_votes = m.test_far_votes,
            "--test.* attack switches on (tests only)"
        );
        if m.test_equivocate {
            tracing::warn!(
                "--test.equivocate: this node signs two values in every vote (tests only)"
            );
        }
        let attacks = spec::driver::TestAttacks {
            equivocate: m.test_equivocate,
            cert_empty_first: m.test_cert_empty_first,
            far_votes: m.test_far_votes,
        };
        core.set_test_attacks(attacks, m.test_junk_blocks);
    }

    let sys = actix::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("cannot build the tokio runtime: {e}"))
    });
    let mut rpc_config = rpc;
    rpc_config.resolve_ipc(datadir);
    let chain_config = genesis.config.clone();
    sys.block_on(async move {
        let exec_actor = ExecutionActor::new(exec);
        let peers = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let metrics = std::sync::Arc::new(::actors::metrics::Metrics::default());
        let (exec_actor, network) = match (net, node_key) {
            (Some(mut net), Some(node_key)) => {
                net.peer_count = Some(peers.clone());
                net.metrics = Some(metrics.clone());
                let (gossip, events) = match swarm::spawn(node_key, net) {
                    Ok(v) => v,
                    Err(e) => {
                        System::current().stop();
                        return Err(RunError::Network(e));
                    }
                };
                (
                    exec_actor.with_gossip(gossip.clone()),
                    Some((gossip, events)),
                )
            }
            _ => (exec_actor, None),
        };
        // Execution gets a thread of its own: building, committing and admitting
        // transactions never delay the consensus actor's timers and messages.
        let exec_actor = exec_actor.with_metrics(metrics.clone());
        let pool_view = exec_actor.pool_view();
        let exec_addr =
            ExecutionActor::start_in_arbiter(&actix::Arbiter::new().handle(), |_| exec_actor);
        let mut consensus = ConsensusActor::new(core, initial, exec_addr.clone(), epoch)
            .with_metrics(metrics.clone());
        let reporter = match cfg.miner.reportequivocation {
            Some(from) => {
                let (sink, proofs) = tokio::sync::mpsc::channel(64);
                consensus = consensus.with_equivocation_proofs(sink);
                Some(crate::rpc::report::Reporter {
                    from,
                    proofs,
                    metrics: metrics.clone(),
                })
            }
            None => None,
        };
        let rule = chain_config.miner_contract().and_then(|m| m.absence);
        if rule.is_none() && cfg.miner.heartbeat {
            tracing::warn!("--miner.heartbeat: this chain has no absentee rule (absenteeRulesBlock); no heartbeat is sent");
        }
        let heartbeats = heartbeat_miner.and_then(|(miner, send)| {
            let rule = rule?;
            let every = chain_config
                .algorand
                .as_ref()
                .map_or(1000, |a| a.timeout_two_lambda);
            Some(crate::rpc::heartbeat::Heartbeats {
                miner,
                rule,
                every: std::time::Duration::from_millis(every.max(100)),
                send,
                metrics: metrics.clone(),
            })
        });
        // The actors first, then the servers that ask them.
        let (consensus, gossip_addr) = match network {
            Some((gossip, events)) => {
                let consensus = consensus.with_gossip(gossip.clone()).start();
                let routes = Routes {
                    consensus: consensus.clone().recipient(),
                    sync: consensus.clone().recipient(),
                    txs: exec_addr.clone().recipient(),
                    blocks: exec_addr.clone().recipient(),
                    pool: exec_addr.clone().recipient(),
                };
                let g = GossipActor::new(gossip, events, routes).start();
                (consensus, Some(g))
            }
            None => (consensus.start(), None),
        };
        let (miner, inspect) = (consensus.clone().recipient(), consensus.recipient());
        if let Some(addr) = rpc_config.metrics {
            let source = crate::metrics::Source {
                metrics,
                peers: peers.clone(),
            };
            match crate::metrics::start(addr, source).await {
                Ok(bound) => {
                    tracing::info!(url = %format!("http://{bound}/metrics"), "metrics server started");
                }
                Err(source) => {
                    System::current().stop();
                    return Err(RunError::Rpc(crate::rpc::RpcStartError::Bind { addr, source }));
                }
            }
        }
        let servers = crate::rpc::start(
            &rpc_config,
            crate::rpc::NodeHandles {
                chain: rpc_chain,
                config: chain_config,
                exec: exec_addr,
                pool_view,
                peers,
                accounts,
                gossip: gossip_addr,
                miner,
                consensus: inspect,
                etherbase: cfg.miner.etherbase,
                reporter,
                heartbeats,
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
        let fatal = shutdown_signal().await;
        tracing::info!("shutting down");
        servers.stop();
        System::current().stop();
        if fatal {
            return Err(RunError::ConsensusStopped);
        }
        Ok(())
    })
}

/// `--unlock ADDR,…`: decrypts each key with its line of the password file
/// (geth: line i for account i, the last line for the rest) or a prompt, and
/// keeps it unlocked until the node exits.
fn unlock_accounts(
    accounts: &crate::keys::accounts::Accounts,
    unlock: &[alloy_primitives::Address],
    password: Option<&Path>,
) -> Result<(), RunError> {
    if unlock.is_empty() {
        return Ok(());
    }
    let passwords = match password {
        Some(p) => crate::cmd::account::read_password_lines(p)?,
        None => Vec::new(),
    };
    for (i, address) in unlock.iter().enumerate() {
        let pw = match passwords.get(i).or(passwords.last()) {
            Some(p) => p.clone(),
            None => {
                crate::cmd::account::prompt(&format!("Unlocking account {address}\nPassword: "))?
            }
        };
        accounts
            .unlock(address, &pw, None)
            .map_err(|e| RunError::Unlock(*address, e))?;
        tracing::info!(%address, "unlocked account");
    }
    Ok(())
}

/// Set by [`request_shutdown`] (the `kalgo console` that started the node exits).
static STOP: tokio::sync::Notify = tokio::sync::Notify::const_new();

/// Asks a node running in this process to shut down as on SIGTERM.
pub fn request_shutdown() {
    STOP.notify_one();
}

/// Waits for SIGINT, SIGTERM, [`request_shutdown`] or a fatal consensus error;
/// returns whether it was the latter.
async fn shutdown_signal() -> bool {
    let fatal = ::actors::runtime::FATAL.notified();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => false,
                    _ = term.recv() => false,
                    _ = STOP.notified() => false,
                    _ = fatal => true,
                }
            }
            Err(_) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => false,
                    _ = STOP.notified() => false,
                    _ = fatal => true,
                }
            }
        }
    }
    #[cfg(not(unix))]
    {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => false,
            _ = fatal => true,
        }
    }
}
