//! The JSON-RPC flags: geth's names (`--http.*`, `--ws.*`) with Kaleido's older
//! spellings (`--rpc`, `--rpcaddr`, `--rpcport`, `--rpcapi`, `--rpccorsdomain`,
//! `--wsaddr`, `--wsport`, `--wsapi`) as aliases.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use clap::Args;

use crate::rpc::{Endpoint, RpcConfig, RpcStartError, context::Limits, parse_apis};

/// geth's default API set.
pub const DEFAULT_APIS: &str = "eth,net,web3";
/// What `--dev` serves unless `--http.api` says otherwise.
pub const DEV_APIS: &str = "eth,net,web3,txpool";

/// JSON-RPC flags.
#[derive(Args, Debug, Clone)]
pub struct RpcArgs {
    /// Enable the HTTP JSON-RPC server.
    #[arg(long = "http", alias = "rpc")]
    pub http: bool,
    /// HTTP listen address.
    #[arg(long = "http.addr", alias = "rpcaddr", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub http_addr: IpAddr,
    /// HTTP port (0 = any free port).
    #[arg(long = "http.port", alias = "rpcport", default_value_t = 8545)]
    pub http_port: u16,
    /// Namespaces over HTTP (eth, net, web3, txpool, personal, admin, miner, debug) [default: eth,net,web3].
    #[arg(long = "http.api", alias = "rpcapi", value_name = "LIST")]
    pub http_api: Option<String>,
    /// Browser origins allowed to call the HTTP server (comma-separated, `*` = any).
    #[arg(long = "http.corsdomain", alias = "rpccorsdomain", value_name = "LIST")]
    pub cors: Option<String>,
    /// Enable the WebSocket JSON-RPC server.
    #[arg(long = "ws")]
    pub ws: bool,
    /// WebSocket listen address.
    #[arg(long = "ws.addr", alias = "wsaddr", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub ws_addr: IpAddr,
    /// WebSocket port (0 = any free port).
    #[arg(long = "ws.port", alias = "wsport", default_value_t = 8546)]
    pub ws_port: u16,
    /// Namespaces over WebSocket [default: eth,net,web3].
    #[arg(long = "ws.api", alias = "wsapi", value_name = "LIST")]
    pub ws_api: Option<String>,
    /// Most gas one eth_call / eth_estimateGas may use.
    #[arg(long = "rpc.gascap", default_value_t = 50_000_000)]
    pub gas_cap: u64,
    /// Do not open the IPC socket.
    #[arg(long = "ipcdisable")]
    pub ipc_disable: bool,
    /// IPC socket path (relative = inside the data directory).
    #[arg(long = "ipcpath", value_name = "PATH", default_value = "kalgo.ipc")]
    pub ipc_path: std::path::PathBuf,
    /// Most calls in one batch request.
    #[arg(long = "rpc.batch-request-limit", default_value_t = 1000)]
    pub batch_limit: u32,
    /// Serve node-held keys (personal_*, eth_sendTransaction, eth_sign) over HTTP
    /// and WebSocket too: anyone reaching the port can then spend from unlocked
    /// accounts. IPC always serves them.
    #[arg(long = "allow-insecure-unlock")]
    pub allow_insecure_unlock: bool,
    /// Serve Prometheus metrics at http://<metrics.addr>:<metrics.port>/metrics.
    #[arg(long = "metrics")]
    pub metrics: bool,
    /// Metrics listen address.
    #[arg(long = "metrics.addr", default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    pub metrics_addr: IpAddr,
    /// Metrics port (0 = any free port).
    #[arg(long = "metrics.port", default_value_t = 6060)]
    pub metrics_port: u16,
}

impl RpcArgs {
    /// The server settings; `dev` turns HTTP on with every namespace.
    pub fn config(&self, dev: bool) -> Result<RpcConfig, RpcStartError> {
        let default_apis = if dev { DEV_APIS } else { DEFAULT_APIS };
        let http = (self.http || dev)
            .then(|| -> Result<Endpoint, RpcStartError> {
                Ok(Endpoint {
                    addr: SocketAddr::new(self.http_addr, self.http_port),
                    apis: parse_apis(self.http_api.as_deref().unwrap_or(default_apis))?,
                })
            })
            .transpose()?;
        let ws = self
            .ws
            .then(|| -> Result<Endpoint, RpcStartError> {
                Ok(Endpoint {
                    addr: SocketAddr::new(self.ws_addr, self.ws_port),
                    apis: parse_apis(self.ws_api.as_deref().unwrap_or(default_apis))?,
                })
            })
            .transpose()?;
        Ok(RpcConfig {
            http,
            ws,
            cors: self
                .cors
                .as_deref()
                .map(|c| c.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            batch_limit: self.batch_limit,
            ipc: (!self.ipc_disable).then(|| self.ipc_path.clone()),
            allow_insecure_unlock: self.allow_insecure_unlock,
            unlock: Vec::new(),
            light_kdf: false,
            metrics: self
                .metrics
                .then(|| SocketAddr::new(self.metrics_addr, self.metrics_port)),
            limits: Limits {
                gas_cap: self.gas_cap,
                ..Limits::default()
            },
        })
    }
}
