//! The JSON-RPC and metrics flags: geth's names (`--http.*`, `--ws.*`) with
//! Kaleido's older spellings (`--rpc`, `--rpcaddr`, `--rpcport`, `--rpcapi`,
//! `--rpccorsdomain`, `--wsaddr`, `--wsport`, `--wsapi`) as aliases.
//!
//! Every flag has a key in `node.toml`'s `[rpc]` or `[metrics]` section
//! ([`crate::config::RpcSection`], [`crate::config::MetricsSection`]); a flag that
//! is given overrides the file ([`RpcArgs::apply`]), and [`rpc_config`] turns the
//! result into the servers' settings.

use std::net::{IpAddr, SocketAddr};

use clap::Args;

use crate::config::{MetricsSection, RpcSection};
use crate::rpc::{Endpoint, RpcConfig, RpcStartError, context::Limits, parse_apis};

/// geth's default API set.
pub const DEFAULT_APIS: &str = "eth,net,web3";
/// What `--dev` serves unless `--http.api` says otherwise.
pub const DEV_APIS: &str = "eth,net,web3,txpool";

/// JSON-RPC flags (absent = the config file's value, else the default shown).
#[derive(Args, Debug, Clone, Default)]
pub struct RpcArgs {
    /// Enable the HTTP JSON-RPC server.
    #[arg(long = "http", alias = "rpc")]
    pub http: bool,
    /// HTTP listen address [default: 127.0.0.1].
    #[arg(long = "http.addr", alias = "rpcaddr")]
    pub http_addr: Option<IpAddr>,
    /// HTTP port (0 = any free port) [default: 8545].
    #[arg(long = "http.port", alias = "rpcport")]
    pub http_port: Option<u16>,
    /// Namespaces over HTTP (eth, net, web3, txpool, personal, admin, miner, debug, consensus) [default: eth,net,web3].
    #[arg(long = "http.api", alias = "rpcapi", value_name = "LIST")]
    pub http_api: Option<String>,
    /// Browser origins allowed to call the HTTP server (comma-separated, `*` = any).
    #[arg(long = "http.corsdomain", alias = "rpccorsdomain", value_name = "LIST")]
    pub cors: Option<String>,
    /// Host names HTTP requests may use (comma-separated, `*` = any; IP addresses
    /// always pass) [default: localhost].
    #[arg(long = "http.vhosts", alias = "rpcvhosts", value_name = "LIST")]
    pub vhosts: Option<String>,
    /// Enable the WebSocket JSON-RPC server.
    #[arg(long = "ws")]
    pub ws: bool,
    /// WebSocket listen address [default: 127.0.0.1].
    #[arg(long = "ws.addr", alias = "wsaddr")]
    pub ws_addr: Option<IpAddr>,
    /// WebSocket port (0 = any free port) [default: 8546].
    #[arg(long = "ws.port", alias = "wsport")]
    pub ws_port: Option<u16>,
    /// Namespaces over WebSocket [default: eth,net,web3].
    #[arg(long = "ws.api", alias = "wsapi", value_name = "LIST")]
    pub ws_api: Option<String>,
    /// Browser origins allowed over WebSocket (comma-separated, `*` = any)
    /// [default: http://localhost and this host's name].
    #[arg(long = "ws.origins", alias = "wsorigins", value_name = "LIST")]
    pub ws_origins: Option<String>,
    /// Most gas one eth_call / eth_estimateGas / debug_traceCall may use [default: 50000000].
    #[arg(long = "rpc.gascap")]
    pub gas_cap: Option<u64>,
    /// Do not open the IPC socket.
    #[arg(long = "ipcdisable")]
    pub ipc_disable: bool,
    /// IPC socket path (relative = inside the data directory) [default: kalgo.ipc].
    #[arg(long = "ipcpath", value_name = "PATH")]
    pub ipc_path: Option<std::path::PathBuf>,
    /// Most calls in one batch request [default: 1000].
    #[arg(long = "rpc.batch-request-limit")]
    pub batch_limit: Option<u32>,
    /// Most addresses, or alternatives at one topic position, in one log filter [default: 1000].
    #[arg(long = "rpc.logquerylimit")]
    pub log_query_limit: Option<usize>,
    /// Most blocks one eth_getLogs (or log filter poll) scans [default: 10000].
    #[arg(long = "rpc.logblockrange")]
    pub log_block_range: Option<u64>,
    /// Most logs one eth_getLogs returns [default: 20000].
    #[arg(long = "rpc.logmaxresults")]
    pub log_max_results: Option<usize>,
    /// Most polling filters (eth_new*Filter) installed at once [default: 10000].
    #[arg(long = "rpc.filterlimit")]
    pub filter_limit: Option<usize>,
    /// Most subscriptions on one WebSocket connection [default: 256].
    #[arg(long = "ws.maxsubscriptions")]
    pub ws_max_subscriptions: Option<u32>,
    /// Largest response body in bytes [default: 67108864].
    #[arg(long = "rpc.response-max-size")]
    pub response_max_size: Option<u32>,
    /// Serve node-held keys (personal_*, eth_sendTransaction, eth_sign) over HTTP
    /// and WebSocket too: anyone reaching the port can then spend from unlocked
    /// accounts. IPC always serves them.
    #[arg(long = "allow-insecure-unlock")]
    pub allow_insecure_unlock: bool,
    /// Serve Prometheus metrics at http://<metrics.addr>:<metrics.port>/metrics.
    #[arg(long = "metrics")]
    pub metrics: bool,
    /// Metrics listen address [default: 127.0.0.1].
    #[arg(long = "metrics.addr")]
    pub metrics_addr: Option<IpAddr>,
    /// Metrics port (0 = any free port) [default: 6060].
    #[arg(long = "metrics.port")]
    pub metrics_port: Option<u16>,
}

fn list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

impl RpcArgs {
    /// Writes the flags that were given over the file's (or default) settings.
    pub fn apply(&self, rpc: &mut RpcSection, metrics: &mut MetricsSection) {
        rpc.http |= self.http;
        if let Some(a) = self.http_addr {
            rpc.http_addr = a;
        }
        if let Some(p) = self.http_port {
            rpc.http_port = p;
        }
        if let Some(apis) = &self.http_api {
            rpc.http_api = Some(list(apis));
        }
        if let Some(c) = &self.cors {
            rpc.http_corsdomain = list(c);
        }
        if let Some(v) = &self.vhosts {
            rpc.http_vhosts = list(v);
        }
        if let Some(o) = &self.ws_origins {
            rpc.ws_origins = list(o);
        }
        rpc.ws |= self.ws;
        if let Some(a) = self.ws_addr {
            rpc.ws_addr = a;
        }
        if let Some(p) = self.ws_port {
            rpc.ws_port = p;
        }
        if let Some(apis) = &self.ws_api {
            rpc.ws_api = Some(list(apis));
        }
        if let Some(g) = self.gas_cap {
            rpc.gascap = g;
        }
        rpc.ipcdisable |= self.ipc_disable;
        if let Some(p) = &self.ipc_path {
            rpc.ipcpath = p.clone();
        }
        if let Some(b) = self.batch_limit {
            rpc.batch_request_limit = b;
        }
        rpc.allow_insecure_unlock |= self.allow_insecure_unlock;
        let set = |v: Option<usize>, to: &mut usize| {
            if let Some(v) = v {
                *to = v;
            }
        };
        set(self.log_query_limit, &mut rpc.logquerylimit);
        set(self.log_max_results, &mut rpc.logmaxresults);
        set(self.filter_limit, &mut rpc.filterlimit);
        if let Some(v) = self.log_block_range {
            rpc.logblockrange = v;
        }
        if let Some(v) = self.ws_max_subscriptions {
            rpc.ws_maxsubscriptions = v;
        }
        if let Some(v) = self.response_max_size {
            rpc.response_max_size = v;
        }
        metrics.enabled |= self.metrics;
        if let Some(a) = self.metrics_addr {
            metrics.addr = a;
        }
        if let Some(p) = self.metrics_port {
            metrics.port = p;
        }
    }
}

/// The server settings of a configuration; `dev` turns HTTP on and adds `txpool`
/// to the default namespaces.
pub fn rpc_config(
    rpc: &RpcSection,
    metrics: &MetricsSection,
    dev: bool,
) -> Result<RpcConfig, RpcStartError> {
    let default_apis = if dev { DEV_APIS } else { DEFAULT_APIS };
    let apis = |given: &Option<Vec<String>>| match given {
        Some(l) => parse_apis(&l.join(",")),
        None => parse_apis(default_apis),
    };
    let http = (rpc.http || dev)
        .then(|| -> Result<Endpoint, RpcStartError> {
            Ok(Endpoint {
                addr: SocketAddr::new(rpc.http_addr, rpc.http_port),
                apis: apis(&rpc.http_api)?,
            })
        })
        .transpose()?;
    let ws = rpc
        .ws
        .then(|| -> Result<Endpoint, RpcStartError> {
            Ok(Endpoint {
                addr: SocketAddr::new(rpc.ws_addr, rpc.ws_port),
                apis: apis(&rpc.ws_api)?,
            })
        })
        .transpose()?;
    Ok(RpcConfig {
        http,
        ws,
        cors: rpc.http_corsdomain.clone(),
        vhosts: rpc.http_vhosts.clone(),
        ws_origins: rpc.ws_origins.clone(),
        batch_limit: rpc.batch_request_limit,
        max_subscriptions: rpc.ws_maxsubscriptions.max(1),
        response_max_size: rpc.response_max_size,
        filter_limit: rpc.filterlimit,
        ipc: (!rpc.ipcdisable).then(|| rpc.ipcpath.clone()),
        allow_insecure_unlock: rpc.allow_insecure_unlock,
        unlock: Vec::new(),
        light_kdf: false,
        metrics: metrics
            .enabled
            .then(|| SocketAddr::new(metrics.addr, metrics.port)),
        limits: Limits {
            gas_cap: rpc.gascap,
            max_log_blocks: rpc.logblockrange.max(1),
            max_logs: rpc.logmaxresults,
            log_query_limit: rpc.logquerylimit,
            ..Limits::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeConfig;

    #[test]
    fn rpc_settings_round_trip_and_flags_override_the_file() {
        let file = "[rpc]\nhttp = true\nhttp_port = 9000\nhttp_api = [\"eth\", \"debug\"]\n\
                    http_corsdomain = [\"*\"]\nws = true\nws_addr = \"0.0.0.0\"\ngascap = 1000000\n\
                    ipcdisable = true\n\n[metrics]\nenabled = true\nport = 7070\n";
        let mut c = NodeConfig::parse(file).expect("parse");
        assert_eq!(
            NodeConfig::parse(&c.to_toml().expect("toml")),
            Ok(c.clone())
        );
        let args = RpcArgs {
            http_port: Some(9001),
            ws_api: Some("eth,net".into()),
            metrics_addr: Some("0.0.0.0".parse().expect("ip")),
            ..RpcArgs::default()
        };
        args.apply(&mut c.rpc, &mut c.metrics);
        let text = c.to_toml().expect("toml");
        assert_eq!(NodeConfig::parse(&text), Ok(c.clone()));
        assert!(text.contains("http_port = 9001"), "{text}");
        assert!(text.contains("gascap = 1000000"), "{text}");

        let r = rpc_config(&c.rpc, &c.metrics, false).expect("config");
        let http = r.http.expect("http on");
        assert_eq!(http.addr, "127.0.0.1:9001".parse().expect("addr"));
        assert_eq!(http.apis, ["eth", "debug"]);
        let ws = r.ws.expect("ws on");
        assert_eq!(ws.addr, "0.0.0.0:8546".parse().expect("addr"));
        assert_eq!(ws.apis, ["eth", "net"]);
        assert_eq!(r.cors, ["*"]);
        assert_eq!(r.ipc, None);
        assert_eq!(r.limits.gas_cap, 1_000_000);
        assert_eq!(r.metrics, Some("0.0.0.0:7070".parse().expect("addr")));
    }

    #[test]
    fn defaults_match_geth_and_dev() {
        let c = NodeConfig::default();
        let r = rpc_config(&c.rpc, &c.metrics, false).expect("config");
        assert!(r.http.is_none() && r.ws.is_none() && r.metrics.is_none());
        assert_eq!(r.ipc.as_deref(), Some(std::path::Path::new("kalgo.ipc")));
        assert_eq!(r.limits.gas_cap, 50_000_000);
        let dev = rpc_config(&c.rpc, &c.metrics, true).expect("config");
        let http = dev.http.expect("dev serves HTTP");
        assert_eq!(http.addr, "127.0.0.1:8545".parse().expect("addr"));
        // `debug` (traces) is never a default, as in geth.
        assert_eq!(http.apis, ["eth", "net", "web3", "txpool"]);
    }

    #[test]
    fn bad_rpc_settings_are_refused_with_their_key() {
        let e = NodeConfig::parse("[rpc]\nhttp_api = [\"eth\", \"bogus\"]\n").expect_err("api");
        assert!(e.contains("http_api") && e.contains("bogus"), "{e}");
        let e = NodeConfig::parse("[rpc]\nhttpport = 1\n").expect_err("unknown key");
        assert!(e.contains("httpport"), "{e}");
        assert!(NodeConfig::parse("[metrics]\nport = 70000\n").is_err());
        assert!(NodeConfig::parse("[metrics]\nenable = true\n").is_err());
        assert!(NodeConfig::parse("[rpc]\nws_addr = \"localhost:1\"\n").is_err());
    }
}
