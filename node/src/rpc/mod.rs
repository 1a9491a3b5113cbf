//! kalgo's JSON-RPC server (geth's API over jsonrpsee): HTTP (`--http`, default
//! 127.0.0.1:8545) and WebSocket (`--ws`, default 127.0.0.1:8546).
//!
//! Namespaces (`--http.api`, `--ws.api`): `eth`, `net`, `web3`, `txpool`,
//! `personal` (node-held keys: see [`personal`]), `admin` and `miner`
//! (operators: see [`admin`]), `debug` (traces: see [`debug`]), `consensus`
//! (the BA* consensus: see [`consensus`]); IPC serves every namespace, HTTP/WS
//! only those listed. Reads go
//! straight to the redb store (consistent snapshots, concurrent with block
//! commits); transaction submission and pool queries are messages to the
//! execution actor, which owns the pool. Limits: request body
//! [`MAX_REQUEST_BYTES`], response `--rpc.response-max-size`, batch
//! `--rpc.batch-request-limit` calls, subscriptions per WebSocket connection
//! `--ws.maxsubscriptions`, polling filters `--rpc.filterlimit`; see
//! [`context::Limits`] for per-call limits (log queries among them).
//!
//! Modules: [`params`] (argument parsing), [`format`] (geth's JSON shapes),
//! [`error`] (codes), [`eth`], [`chain`], [`filters`], [`subs`] (WebSocket
//! subscriptions), [`misc`] (net, web3, txpool), [`cors`], [`cli`] (flags).

pub mod admin;
pub mod batch;
pub mod chain;
pub mod cli;
pub mod consensus;
pub mod context;
pub mod cors;
pub mod debug;
pub mod error;
pub mod eth;
pub mod filter_shape;
pub mod filter_store;
pub mod filters;
pub mod format;
pub mod fuzz_checks;
pub mod guard;
pub mod heartbeat;
pub mod ipc;
pub mod kaleido;
pub mod misc;
pub mod nonce_lock;
pub mod overrides;
pub mod params;
pub mod personal;
pub mod report;
pub mod subs;

use std::net::SocketAddr;
use std::sync::{Arc, atomic::AtomicU64};

use actix::Addr;
use actors::execution::{chain_config::ChainConfig, query};
use actors::runtime::ExecutionActor;
use actors::storage::ChainReader;
use jsonrpsee::RpcModule;
use jsonrpsee::server::{BatchRequestConfig, Server, ServerConfig, ServerHandle};

use crate::rpc::context::{Ctx, Limits};

/// Largest request body (geth: 5 MiB).
pub const MAX_REQUEST_BYTES: u32 = 5 * 1024 * 1024;
/// Most simultaneous connections per endpoint.
pub const MAX_CONNECTIONS: u32 = 1000;
/// Every namespace a server can serve: `--http.api` / `--ws.api` pick among them; IPC
/// serves all.
pub const NAMESPACES: [&str; 9] = [
    "eth",
    "net",
    "web3",
    "txpool",
    "personal",
    "admin",
    "miner",
    "debug",
    "consensus",
];

/// One endpoint's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// Listen address.
    pub addr: SocketAddr,
    /// Namespaces served on this endpoint (each one of [`NAMESPACES`]).
    pub apis: Vec<String>,
}

/// Settings of the RPC servers.
#[derive(Clone, Debug, Default)]
pub struct RpcConfig {
    /// HTTP endpoint, if enabled.
    pub http: Option<Endpoint>,
    /// WebSocket endpoint, if enabled.
    pub ws: Option<Endpoint>,
    /// Allowed browser origins for HTTP (`--http.corsdomain`).
    pub cors: Vec<String>,
    /// Host names HTTP requests may use (`--http.vhosts`).
    pub vhosts: Vec<String>,
    /// Browser origins allowed over WebSocket (`--ws.origins`; empty = geth's default).
    pub ws_origins: Vec<String>,
    /// Most calls in one batch.
    pub batch_limit: u32,
    /// Most subscriptions on one WebSocket connection.
    pub max_subscriptions: u32,
    /// Largest response body in bytes.
    pub response_max_size: u32,
    /// Most polling filters installed at once.
    pub filter_limit: usize,
    /// Per-call limits.
    pub limits: Limits,
    /// IPC socket (relative paths are inside the data directory); `None` = off.
    pub ipc: Option<std::path::PathBuf>,
    /// Serve node-held keys (`personal_*`, `eth_sendTransaction`, `eth_sign`) over
    /// HTTP and WebSocket too (`--allow-insecure-unlock`); IPC always serves them.
    pub allow_insecure_unlock: bool,
    /// Keystore accounts to unlock at start (`--unlock`; set by `main`).
    pub unlock: Vec<alloy_primitives::Address>,
    /// New key files use light scrypt (`--lightkdf`; set by `main`).
    pub light_kdf: bool,
    /// Prometheus endpoint (`--metrics`), see [`crate::metrics`]; `None` = off.
    pub metrics: Option<SocketAddr>,
}

impl RpcConfig {
    /// Makes a relative IPC path absolute under `datadir` (geth's rule).
    pub fn resolve_ipc(&mut self, datadir: &std::path::Path) {
        if let Some(p) = &self.ipc
            && p.is_relative()
        {
            self.ipc = Some(datadir.join(p));
        }
    }
}

/// Why the RPC server could not start.
#[derive(Debug, thiserror::Error)]
pub enum RpcStartError {
    /// Unknown namespace in `--http.api` / `--ws.api`.
    #[error(
        "unknown API namespace {0:?} (available: eth, net, web3, txpool, personal, admin, miner, debug, consensus)"
    )]
    UnknownApi(String),
    /// The IPC socket could not be created.
    #[error("cannot listen on {path}: {source}")]
    Ipc {
        /// The socket path.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The genesis header could not be read from the chain store (a storage
    /// error or a corrupt header).
    #[error("{0}")]
    Chain(#[from] actors::execution::query::QueryError),
    /// The chain store holds no block 0 (not initialised: `kalgo init`).
    #[error("the store has no genesis")]
    NoGenesis,
    /// A method or subscription name was registered twice or conflicts with
    /// another (a bug: report it).
    #[error("{0}")]
    Register(#[from] jsonrpsee::core::RegisterMethodError),
}

/// Parses a comma-separated namespace list (`eth,net,web3`).
pub fn parse_apis(list: &str) -> Result<Vec<String>, RpcStartError> {
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let name = name.to_ascii_lowercase();
        if !NAMESPACES.contains(&name.as_str()) {
            return Err(RpcStartError::UnknownApi(name));
        }
        if !out.contains(&name) {
            out.push(name);
        }
    }
    Ok(out)
}

/// The handles the servers need from the node.
pub struct NodeHandles {
    /// A read handle on the chain database (each read is its own snapshot).
    pub chain: ChainReader,
    pub config: ChainConfig,
    /// The execution actor.
    pub exec: Addr<ExecutionActor>,
    /// Its published pooled hashes ([`ExecutionActor::pool_view`]).
    pub pool_view: tokio::sync::watch::Receiver<actors::runtime::PoolHashes>,
    /// The connected-peer count the network keeps (0 without one).
    pub peers: Arc<AtomicU64>,
    /// Node-held accounts.
    pub accounts: Arc<crate::keys::accounts::Accounts>,
    /// The gossip actor; `None` without a network.
    pub gossip: Option<actix::Addr<actors::gossip::actor::GossipActor>>,
    /// The consensus actor's mining switch.
    pub miner: actix::Recipient<actors::runtime::SetMining>,
    /// The consensus actor's read-only questions.
    pub consensus: actix::Recipient<actors::runtime::inspect::Inspect>,
    /// `--etherbase` (see [`Ctx::etherbase`]).
    pub etherbase: Option<crate::config::Etherbase>,
    /// `--miner.reportequivocation`: the equivocation reporter's account and inputs.
    pub reporter: Option<report::Reporter>,
    /// `--miner.heartbeat`: the heartbeat sender's settings.
    pub heartbeats: Option<heartbeat::Heartbeats>,
}

/// The running servers; dropping them does not stop them, [`RpcServers::stop`] does.
pub struct RpcServers {
    handles: Vec<ServerHandle>,
    ipc: Vec<ipc::IpcServer>,
    /// Bound HTTP address.
    pub http: Option<SocketAddr>,
    /// Bound WebSocket address.
    pub ws: Option<SocketAddr>,
}

impl RpcServers {
    /// Stops every server.
    pub fn stop(self) {
        for h in self.handles {
            let _ = h.stop();
        }
        for i in self.ipc {
            i.stop();
        }
    }
}

/// The methods of the given namespaces over one shared context; `ws` adds the
/// subscriptions; `keys` serves node-held keys (else those methods answer
/// [`personal::FORBIDDEN`]).
pub fn module(
    ctx: Arc<Ctx>,
    apis: &[String],
    ws: bool,
    keys: bool,
) -> Result<RpcModule<Ctx>, RpcStartError> {
    let has_1559 = ctx.has_1559();
    let mut m = RpcModule::from_arc(ctx);
    let reg = RpcStartError::Register;
    for api in apis {
        match api.as_str() {
            "eth" => {
                eth::register(&mut m, has_1559).map_err(reg)?;
                chain::register(&mut m).map_err(reg)?;
                filters::register(&mut m).map_err(reg)?;
                personal::register_eth(&mut m, keys).map_err(reg)?;
                kaleido::register(&mut m).map_err(reg)?;
                if ws {
                    subs::register(&mut m).map_err(reg)?;
                }
            }
            "net" => misc::register_net(&mut m).map_err(reg)?,
            "web3" => misc::register_web3(&mut m).map_err(reg)?,
            "txpool" => misc::register_txpool(&mut m).map_err(reg)?,
            "personal" => personal::register_personal(&mut m, keys).map_err(reg)?,
            "admin" => admin::register_admin(&mut m).map_err(reg)?,
            "miner" => admin::register_miner(&mut m).map_err(reg)?,
            "consensus" => consensus::register(&mut m).map_err(reg)?,
            "debug" => debug::register(&mut m).map_err(reg)?,
            other => return Err(RpcStartError::UnknownApi(other.to_string())),
        }
    }
    // geth's `rpc_modules`: the namespaces this endpoint serves (consoles ask).
    let modules: serde_json::Map<String, serde_json::Value> = apis
        .iter()
        .map(|a| (a.clone(), serde_json::Value::from("1.0")))
        .collect();
    let mut listing = RpcModule::new(());
    listing
        .register_method(
            "rpc_modules",
            move |p, _, _| -> error::RpcResult<serde_json::Value> {
                params::Args::new(&p, 0)?;
                Ok(serde_json::Value::Object(modules.clone()))
            },
        )
        .map_err(reg)?;
    m.merge(listing).map_err(reg)?;
    // `web3_sha3` lives with the chain methods; serve it whenever `web3` is on.
    if apis.iter().any(|a| a == "web3") && !apis.iter().any(|a| a == "eth") {
        let mut extra = RpcModule::new(());
        extra
            .register_method(
                "web3_sha3",
                |p, _, _| -> error::RpcResult<serde_json::Value> {
                    let a = params::Args::new(&p, 1)?;
                    let data: alloy_primitives::Bytes = a.required(0)?;
                    Ok(serde_json::json!(alloy_primitives::keccak256(&data)))
                },
            )
            .map_err(reg)?;
        m.merge(extra).map_err(reg)?;
    }
    Ok(m)
}

fn server_config(cfg: &RpcConfig, http_only: bool) -> ServerConfig {
    let b = ServerConfig::builder()
        .max_request_body_size(MAX_REQUEST_BYTES)
        .max_response_body_size(cfg.response_max_size)
        .max_subscriptions_per_connection(cfg.max_subscriptions)
        .max_connections(MAX_CONNECTIONS)
        .set_batch_request_config(BatchRequestConfig::Limit(cfg.batch_limit.max(1)));
    if http_only {
        b.http_only()
    } else {
        b.ws_only().set_id_provider(subs::HexIds)
    }
    .build()
}

/// Batches whose transaction submissions run together ([`batch`]).
fn batch_middleware(
    cfg: &RpcConfig,
) -> jsonrpsee::server::middleware::rpc::RpcServiceBuilder<
    tower::layer::util::Stack<batch::ConcurrentSubmissionsLayer, tower::layer::util::Identity>,
> {
    jsonrpsee::server::middleware::rpc::RpcServiceBuilder::new().layer(
        batch::ConcurrentSubmissionsLayer::new(cfg.response_max_size as usize),
    )
}

/// Starts the enabled endpoints (call inside the node's tokio runtime).
pub async fn start(cfg: &RpcConfig, node: NodeHandles) -> Result<RpcServers, RpcStartError> {
    let genesis = query::header(&node.chain, 0)?.ok_or(RpcStartError::NoGenesis)?;
    let ctx = Arc::new(Ctx {
        chain: node.chain,
        config: node.config,
        intake: actors::runtime::intake::TxIntake::start(node.exec.clone()),
        exec: node.exec,
        pool_view: node.pool_view,
        genesis_difficulty: genesis.eth.difficulty,
        limits: cfg.limits.clone(),
        filters: filter_store::Filters::new(cfg.filter_limit),
        peers: node.peers,
        client_version: client_version(),
        accounts: node.accounts,
        nonce_locks: nonce_lock::NonceLocks::default(),
        gossip: node.gossip,
        miner: node.miner,
        consensus: node.consensus,
        etherbase: node.etherbase,
    });
    if let Some(reporter) = node.reporter {
        tracing::info!(account = %reporter.from, "reporting equivocations to the miner contract");
        tokio::spawn(report::run(Arc::clone(&ctx), reporter));
    }
    if let Some(h) = node.heartbeats {
        if h.send {
            tracing::info!(miner = %h.miner, "sending heartbeats for this node's miner");
        }
        tokio::spawn(heartbeat::run(Arc::clone(&ctx), h));
    }
    let mut servers = RpcServers {
        handles: Vec::new(),
        ipc: Vec::new(),
        http: None,
        ws: None,
    };
    if let Some(ep) = &cfg.http {
        let methods = module(Arc::clone(&ctx), &ep.apis, false, cfg.allow_insecure_unlock)?;
        let server = Server::builder()
            .set_config(server_config(cfg, true))
            .set_rpc_middleware(batch_middleware(cfg))
            .set_http_middleware(
                tower::ServiceBuilder::new()
                    .layer(guard::GuardLayer::virtual_hosts(&cfg.vhosts))
                    .layer(cors::CorsLayer::new(&cfg.cors)),
            )
            .build(ep.addr)
            .await
            .map_err(|source| RpcStartError::Bind {
                addr: ep.addr,
                source,
            })?;
        let addr = server.local_addr().unwrap_or(ep.addr);
        servers.handles.push(server.start(methods));
        servers.http = Some(addr);
        tracing::info!(url = %format!("http://{addr}"), apis = %ep.apis.join(","), "HTTP JSON-RPC server started");
    }
    if let Some(ep) = &cfg.ws {
        let methods = module(Arc::clone(&ctx), &ep.apis, true, cfg.allow_insecure_unlock)?;
        let server = Server::builder()
            .set_config(server_config(cfg, false))
            .set_rpc_middleware(batch_middleware(cfg))
            .set_http_middleware(
                tower::ServiceBuilder::new().layer(guard::GuardLayer::origins(&cfg.ws_origins)),
            )
            .build(ep.addr)
            .await
            .map_err(|source| RpcStartError::Bind {
                addr: ep.addr,
                source,
            })?;
        let addr = server.local_addr().unwrap_or(ep.addr);
        servers.handles.push(server.start(methods));
        servers.ws = Some(addr);
        tracing::info!(url = %format!("ws://{addr}"), apis = %ep.apis.join(","), "WebSocket JSON-RPC server started");
    }
    if let Some(path) = &cfg.ipc {
        let all: Vec<String> = NAMESPACES.iter().map(|s| s.to_string()).collect();
        let methods: jsonrpsee::Methods = module(Arc::clone(&ctx), &all, true, true)?.into();
        // The default socket also answers at Kaleido's name, beside it.
        let kaleido = (path.file_name() == Some(std::ffi::OsStr::new(ipc::DEFAULT_NAME)))
            .then(|| path.with_file_name(ipc::KALEIDO_NAME));
        for path in std::iter::once(path.clone()).chain(kaleido) {
            let server = ipc::start(&path, methods.clone())
                .map_err(|source| RpcStartError::Ipc { path, source })?;
            tracing::info!(path = %server.path().display(), "IPC JSON-RPC endpoint opened");
            servers.ipc.push(server);
        }
    }
    Ok(servers)
}

/// `web3_clientVersion`: `kalgo/v<version>/<os>-<arch>/rust`.
pub fn client_version() -> String {
    format!(
        "kalgo/v{}/{}-{}/rust",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}
