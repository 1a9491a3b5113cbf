//! geth 1.8's configuration file (`geth dumpconfig`, the `geth.toml` Kaleido's
//! walkthrough passes to `--config`), read into kalgo's [`NodeConfig`] and
//! printed back by `kalgo dumpconfig --geth`.
//!
//! A file is in geth's layout when it has one of geth's capitalised sections
//! (`[Eth]`, `[Node]`, `[Node.P2P]`, `[Shh]`, `[Dashboard]`). Every key with a
//! kalgo meaning is mapped (table below); every other key is reported once, by
//! its dotted path, as ignored; a value of the wrong type, or one kalgo cannot
//! honour (`SyncMode = "light"`), is an error naming the key.
//!
//! | geth key | kalgo |
//! |---|---|
//! | `Eth.NetworkId` | `p2p.networkid` |
//! | `Eth.SyncMode` | full only (`fast` is read as full, with a warning) |
//! | `Eth.NoPruning` | kalgo keeps every state (`false` gets a warning) |
//! | `Eth.Etherbase` | `miner.etherbase` |
//! | `Node.DataDir` | `node.datadir` |
//! | `Node.IPCPath` | `rpc.ipcpath` (`""`: `rpc.ipcdisable`) |
//! | `Node.HTTPHost`, `HTTPPort`, `HTTPCors`, `HTTPVirtualHosts`, `HTTPModules` | `rpc.http*` (`HTTPHost = ""`: no HTTP) |
//! | `Node.WSHost`, `WSPort`, `WSOrigins`, `WSModules` | `rpc.ws*` (`WSHost = ""`: no WebSocket) |
//! | `Node.P2P.MaxPeers`, `NoDiscovery`, `ListenAddr` | `p2p.maxpeers`, `nodiscover`, `listen_addr` and `port` |
//! | `Node.P2P.BootstrapNodes`, `StaticNodes`, `TrustedNodes` | `p2p.bootnodes` (enode URLs or multiaddrs) |
//!
//! Namespaces geth has and kalgo has not (`shh`, `les`, `db`, …) are dropped from
//! the module lists with a warning.

use std::net::IpAddr;
use std::path::PathBuf;

use toml::{Table, Value};

use crate::config::{Etherbase, NodeConfig};
use crate::geth_flags::{SyncMode, sync_mode};
use crate::rpc::NAMESPACES;

/// geth's top-level sections; one of them makes a file geth's.
const GETH_SECTIONS: [&str; 5] = ["Eth", "Node", "Shh", "Dashboard", "Metrics"];

/// Why a geth configuration cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GethConfigError {
    /// Not TOML.
    #[error("not TOML: {0}")]
    Toml(String),
    /// A key has a value of another type or shape.
    #[error("{key}: {want}")]
    Value {
        /// The dotted key.
        key: String,
        /// What it should be.
        want: &'static str,
    },
    /// `Eth.SyncMode = "light"` (or unknown).
    #[error("Eth.SyncMode {0:?}: kalgo runs full nodes only")]
    SyncMode(String),
}

/// Whether `text` is in geth's layout (parsed as TOML, it has a geth section).
pub fn is_geth_layout(text: &str) -> bool {
    text.parse::<Table>()
        .map(|t| GETH_SECTIONS.iter().any(|s| t.contains_key(*s)))
        .unwrap_or(false)
}

fn bad(key: &str, want: &'static str) -> GethConfigError {
    GethConfigError::Value {
        key: key.to_string(),
        want,
    }
}

fn string(v: &Value, key: &str) -> Result<String, GethConfigError> {
    v.as_str()
        .map(String::from)
        .ok_or_else(|| bad(key, "want a string"))
}

fn strings(v: &Value, key: &str) -> Result<Vec<String>, GethConfigError> {
    v.as_array()
        .ok_or_else(|| bad(key, "want an array of strings"))?
        .iter()
        .map(|s| string(s, key))
        .collect()
}

fn int<T: TryFrom<i64>>(v: &Value, key: &str) -> Result<T, GethConfigError> {
    v.as_integer()
        .and_then(|i| T::try_from(i).ok())
        .ok_or_else(|| bad(key, "want a non-negative integer in range"))
}

fn boolean(v: &Value, key: &str) -> Result<bool, GethConfigError> {
    v.as_bool().ok_or_else(|| bad(key, "want true or false"))
}

/// A geth host setting: `""` = off, `localhost` = 127.0.0.1, else an IP.
fn host(v: &Value, key: &str) -> Result<Option<IpAddr>, GethConfigError> {
    match string(v, key)?.as_str() {
        "" => Ok(None),
        "localhost" => Ok(Some(IpAddr::from([127, 0, 0, 1]))),
        other => other
            .parse()
            .map(Some)
            .map_err(|_| bad(key, "want an IP address, localhost or \"\"")),
    }
}

/// geth's module list, without the namespaces kalgo does not have.
fn modules(
    v: &Value,
    key: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, GethConfigError> {
    let mut out = Vec::new();
    for m in strings(v, key)? {
        let m = m.to_ascii_lowercase();
        if NAMESPACES.contains(&m.as_str()) {
            out.push(m);
        } else {
            warnings.push(format!("{key}: namespace {m:?} is not served by kalgo"));
        }
    }
    Ok(out)
}

/// `:30303`, `0.0.0.0:30303` or `[::]:30303` as (address, port).
fn listen_addr(v: &Value, key: &str) -> Result<(Option<IpAddr>, u16), GethConfigError> {
    let text = string(v, key)?;
    let (ip, port) = text
        .rsplit_once(':')
        .ok_or_else(|| bad(key, "want [ip]:port"))?;
    let port = port.parse().map_err(|_| bad(key, "want [ip]:port"))?;
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    let ip = match ip {
        "" => None,
        ip => Some(ip.parse().map_err(|_| bad(key, "want [ip]:port"))?),
    };
    Ok((ip, port))
}

/// Reads geth's layout over kalgo's defaults: the configuration and one warning
/// per ignored key.
pub fn from_geth(text: &str) -> Result<(NodeConfig, Vec<String>), GethConfigError> {
    let table: Table = text
        .parse()
        .map_err(|e: toml::de::Error| GethConfigError::Toml(e.to_string()))?;
    let mut cfg = NodeConfig::default();
    let mut warnings = Vec::new();
    let mut walk = Vec::new();
    flatten("", &table, &mut walk);
    for (key, v) in walk {
        let k = key.as_str();
        match k {
            "Eth.NetworkId" => cfg.p2p.networkid = int(v, k)?,
            "Eth.SyncMode" => {
                let mode = string(v, k)?;
                match sync_mode(&mode) {
                    SyncMode::Full => {}
                    SyncMode::FullInstead(note) => warnings.push(format!("{k}: {note}")),
                    SyncMode::Refused => return Err(GethConfigError::SyncMode(mode)),
                }
            }
            "Eth.NoPruning" => {
                if !boolean(v, k)? {
                    warnings.push(format!("{k}: kalgo keeps the state of every block"));
                }
            }
            "Eth.Etherbase" => {
                let e: Etherbase = string(v, k)?
                    .parse()
                    .map_err(|_| bad(k, "want an address"))?;
                cfg.miner.etherbase = Some(e);
            }
            "Node.DataDir" => cfg.node.datadir = PathBuf::from(string(v, k)?),
            "Node.IPCPath" => match string(v, k)?.as_str() {
                "" => cfg.rpc.ipcdisable = true,
                p => cfg.rpc.ipcpath = PathBuf::from(p),
            },
            "Node.HTTPHost" => match host(v, k)? {
                Some(ip) => {
                    cfg.rpc.http = true;
                    cfg.rpc.http_addr = ip;
                }
                None => cfg.rpc.http = false,
            },
            "Node.HTTPPort" => cfg.rpc.http_port = int(v, k)?,
            "Node.HTTPCors" => cfg.rpc.http_corsdomain = strings(v, k)?,
            "Node.HTTPVirtualHosts" => cfg.rpc.http_vhosts = strings(v, k)?,
            "Node.HTTPModules" => cfg.rpc.http_api = Some(modules(v, k, &mut warnings)?),
            "Node.WSHost" => match host(v, k)? {
                Some(ip) => {
                    cfg.rpc.ws = true;
                    cfg.rpc.ws_addr = ip;
                }
                None => cfg.rpc.ws = false,
            },
            "Node.WSPort" => cfg.rpc.ws_port = int(v, k)?,
            "Node.WSOrigins" => cfg.rpc.ws_origins = strings(v, k)?,
            "Node.WSModules" => cfg.rpc.ws_api = Some(modules(v, k, &mut warnings)?),
            "Node.P2P.MaxPeers" => cfg.p2p.maxpeers = int(v, k)?,
            "Node.P2P.NoDiscovery" => cfg.p2p.nodiscover = boolean(v, k)?,
            "Node.P2P.ListenAddr" => {
                let (ip, port) = listen_addr(v, k)?;
                if let Some(ip) = ip {
                    cfg.p2p.listen_addr = ip;
                }
                cfg.p2p.port = port;
            }
            "Node.P2P.BootstrapNodes" | "Node.P2P.StaticNodes" | "Node.P2P.TrustedNodes" => {
                for node in strings(v, k)? {
                    if !cfg.p2p.bootnodes.contains(&node) {
                        cfg.p2p.bootnodes.push(node);
                    }
                }
            }
            // Meaningless here and harmless: no warning.
            "Node.NoUSB" => {}
            _ => warnings.push(format!("{k}: ignored (no kalgo setting)")),
        }
    }
    Ok((cfg, warnings))
}

/// Every leaf of `table` with its dotted path, in file order of the tables.
fn flatten<'a>(prefix: &str, table: &'a Table, out: &mut Vec<(String, &'a Value)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Table(t) => flatten(&key, t, out),
            v => out.push((key, v)),
        }
    }
}

/// `cfg` in geth's layout (`kalgo dumpconfig --geth`): the keys of the table
/// above; kalgo settings geth has no key for (mining, metrics, limits) are left
/// out and named in a leading comment.
pub fn to_geth(cfg: &NodeConfig) -> Result<String, toml::ser::Error> {
    let list = |v: &[String]| Value::Array(v.iter().cloned().map(Value::String).collect());
    let mut eth = Table::new();
    eth.insert("NetworkId".into(), Value::Integer(cfg.p2p.networkid as i64));
    eth.insert("SyncMode".into(), Value::String("full".into()));
    eth.insert("NoPruning".into(), Value::Boolean(true));
    if let Some(e) = cfg.miner.etherbase {
        eth.insert("Etherbase".into(), Value::String(String::from(e)));
    }
    let mut node = Table::new();
    let path = |p: &std::path::Path| Value::String(p.display().to_string());
    node.insert("DataDir".into(), path(&cfg.node.datadir));
    let ipc = match cfg.rpc.ipcdisable {
        true => Value::String(String::new()),
        false => path(&cfg.rpc.ipcpath),
    };
    node.insert("IPCPath".into(), ipc);
    let on = |enabled: bool, ip: IpAddr| match enabled {
        true => Value::String(ip.to_string()),
        false => Value::String(String::new()),
    };
    let apis = |given: &Option<Vec<String>>| match given {
        Some(l) => list(l),
        None => list(&["eth".into(), "net".into(), "web3".into()]),
    };
    node.insert("HTTPHost".into(), on(cfg.rpc.http, cfg.rpc.http_addr));
    node.insert("HTTPPort".into(), Value::Integer(cfg.rpc.http_port.into()));
    node.insert("HTTPCors".into(), list(&cfg.rpc.http_corsdomain));
    node.insert("HTTPVirtualHosts".into(), list(&cfg.rpc.http_vhosts));
    node.insert("HTTPModules".into(), apis(&cfg.rpc.http_api));
    node.insert("WSHost".into(), on(cfg.rpc.ws, cfg.rpc.ws_addr));
    node.insert("WSPort".into(), Value::Integer(cfg.rpc.ws_port.into()));
    node.insert("WSOrigins".into(), list(&cfg.rpc.ws_origins));
    node.insert("WSModules".into(), apis(&cfg.rpc.ws_api));
    let mut p2p = Table::new();
    p2p.insert("MaxPeers".into(), Value::Integer(cfg.p2p.maxpeers.into()));
    p2p.insert("NoDiscovery".into(), Value::Boolean(cfg.p2p.nodiscover));
    p2p.insert("BootstrapNodes".into(), list(&cfg.p2p.bootnodes));
    let listen = match cfg.p2p.listen_addr {
        IpAddr::V6(a) => format!("[{a}]:{}", cfg.p2p.port),
        IpAddr::V4(a) => format!("{a}:{}", cfg.p2p.port),
    };
    p2p.insert("ListenAddr".into(), Value::String(listen));
    node.insert("P2P".into(), Value::Table(p2p));
    let mut root = Table::new();
    root.insert("Eth".into(), Value::Table(eth));
    root.insert("Node".into(), Value::Table(node));
    let body = toml::to_string(&root)?;
    Ok(format!(
        "# geth 1.8 layout. Not expressible here, set by flags or kalgo's own TOML:\n\
         # [miner] (--mine, --miner.stakeowner, --password), [metrics], --rpc.gascap,\n\
         # --rpc.batch-request-limit, --allow-insecure-unlock, --nodekey, --verbosity.\n\n{body}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of Kaleido's walkthrough `geth.toml` (geth 1.8 `dumpconfig`).
    const WALKTHROUGH: &str = r#"
[Eth]
NetworkId = 1001
SyncMode = "full"
NoPruning = false
LightPeers = 100
DatabaseCache = 768
MinerGasPrice = 18000000000

[Eth.TxPool]
PriceLimit = 1

[Shh]
MaxMessageSize = 1048576

[Node]
DataDir = "./data"
IPCPath = "geth.ipc"
HTTPHost = "0.0.0.0"
HTTPPort = 8545
HTTPCors = ["*"]
HTTPVirtualHosts = ["*"]
HTTPModules = ["net", "web3", "eth", "shh"]
WSHost = ""
WSPort = 8546
WSModules = ["net", "web3", "eth"]
NoUSB = true

[Node.P2P]
MaxPeers = 50
NoDiscovery = true
BootstrapNodes = []
StaticNodes = ["/ip4/127.0.0.1/tcp/1/p2p/16Uiu2HAm1"]
ListenAddr = ":32668"
"#;

    #[test]
    fn the_walkthrough_file_maps_and_reports_what_it_ignores() {
        assert!(is_geth_layout(WALKTHROUGH));
        assert!(!is_geth_layout("[p2p]\nport = 1\n"));
        assert!(!is_geth_layout("not toml ["));
        let (c, warnings) = from_geth(WALKTHROUGH).expect("maps");
        assert_eq!(c.p2p.networkid, 1001);
        assert_eq!(c.node.datadir, PathBuf::from("./data"));
        assert_eq!(c.rpc.ipcpath, PathBuf::from("geth.ipc"));
        assert!(c.rpc.http && !c.rpc.ws);
        assert_eq!(c.rpc.http_addr, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(c.rpc.http_corsdomain, ["*"]);
        assert_eq!(c.rpc.http_vhosts, ["*"]);
        assert_eq!(
            c.rpc.http_api.as_deref(),
            Some(&["net".to_string(), "web3".into(), "eth".into()][..])
        );
        assert_eq!(c.p2p.maxpeers, 50);
        assert!(c.p2p.nodiscover);
        assert_eq!(c.p2p.port, 32668);
        assert_eq!(c.p2p.bootnodes, ["/ip4/127.0.0.1/tcp/1/p2p/16Uiu2HAm1"]);
        let mut ignored: Vec<&str> = warnings
            .iter()
            .map(|w| w.split(':').next().unwrap_or(""))
            .collect();
        ignored.sort_unstable();
        let mut want = [
            "Eth.NoPruning",
            "Eth.LightPeers",
            "Eth.DatabaseCache",
            "Eth.MinerGasPrice",
            "Eth.TxPool.PriceLimit",
            "Shh.MaxMessageSize",
            "Node.HTTPModules",
        ];
        want.sort_unstable();
        assert_eq!(ignored, want, "{warnings:?}");
    }

    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("[Eth]\nNetworkId = \"one\"\n", "Eth.NetworkId"),
            ("[Eth]\nNetworkId = -1\n", "Eth.NetworkId"),
            ("[Node]\nHTTPPort = 70000\n", "Node.HTTPPort"),
            ("[Node]\nHTTPHost = \"my.host\"\n", "Node.HTTPHost"),
            (
                "[Node.P2P]\nListenAddr = \"30303\"\n",
                "Node.P2P.ListenAddr",
            ),
            (
                "[Node.P2P]\nBootstrapNodes = \"enode://x\"\n",
                "Node.P2P.BootstrapNodes",
            ),
        ] {
            let e = from_geth(text).expect_err(text).to_string();
            assert!(e.starts_with(key), "{text}: {e}");
        }
        assert_eq!(
            from_geth("[Eth]\nSyncMode = \"light\"\n").map(|_| ()),
            Err(GethConfigError::SyncMode("light".into()))
        );
    }

    #[test]
    fn dumpconfig_geth_reads_back_to_the_same_settings() {
        let (c, _) = from_geth(WALKTHROUGH).expect("maps");
        let text = to_geth(&c).expect("prints");
        let (back, warnings) = from_geth(&text).expect("reads back");
        assert_eq!(back, c, "{text}");
        assert!(warnings.is_empty(), "{warnings:?}");
    }
}
