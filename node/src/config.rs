//! The node's configuration (Kaleido §6.1 flags): defaults, then a TOML file
//! (`--config node.toml`), then command-line flags, each overriding the one before.
//! `kalgo dumpconfig` prints the result as TOML, which `--config` reads back.
//! Sections: `[node]`, `[miner]`, `[p2p]`, `[rpc]` (HTTP, WebSocket, IPC, CORS,
//! namespaces, limits) and `[metrics]`. Unknown keys and unknown API namespaces
//! are errors.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use alloy_primitives::Address;
use serde::{Deserialize, Serialize};

/// Default P2P port (Kaleido's).
pub const DEFAULT_PORT: u16 = 38883;
/// Default network id (Kaleido's mainnet).
pub const DEFAULT_NETWORK_ID: u64 = 888;
/// Default peer limit.
pub const DEFAULT_MAX_PEERS: u32 = 25;
/// Default log level (info).
pub const DEFAULT_VERBOSITY: u8 = 3;

/// Everything a running node is configured with.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct NodeConfig {
    /// Data directory and logging.
    pub node: NodeSection,
    /// Mining.
    pub miner: MinerSection,
    /// Networking.
    pub p2p: P2pSection,
    /// JSON-RPC servers (the `--http.*`, `--ws.*`, `--ipc*`, `--rpc.*` flags).
    pub rpc: RpcSection,
    /// The Prometheus endpoint (`--metrics*`).
    pub metrics: MetricsSection,
}

/// Default HTTP JSON-RPC port.
pub const DEFAULT_HTTP_PORT: u16 = 8545;
/// Default WebSocket JSON-RPC port.
pub const DEFAULT_WS_PORT: u16 = 8546;
/// Default metrics port.
pub const DEFAULT_METRICS_PORT: u16 = 6060;
/// Default `eth_call` gas cap.
pub const DEFAULT_GAS_CAP: u64 = 50_000_000;
/// Default batch size limit.
pub const DEFAULT_BATCH_LIMIT: u32 = 1000;
/// Default most addresses, or alternatives per topic position, in a log filter
/// (geth's `--rpc.logquerylimit`).
pub const DEFAULT_LOG_QUERY_LIMIT: usize = 1000;
/// Default most blocks one `eth_getLogs` scans.
pub const DEFAULT_LOG_BLOCK_RANGE: u64 = 10_000;
/// Default most logs one `eth_getLogs` returns.
pub const DEFAULT_LOG_MAX_RESULTS: usize = 20_000;
/// Default most polling filters installed at once (all clients together).
pub const DEFAULT_FILTER_LIMIT: usize = 10_000;
/// Default most subscriptions on one WebSocket connection.
pub const DEFAULT_WS_MAX_SUBSCRIPTIONS: u32 = 256;
/// Default largest response body, in bytes (a `debug_trace*` answer may be tens
/// of MiB).
pub const DEFAULT_RESPONSE_MAX_SIZE: u32 = 64 * 1024 * 1024;

/// `[rpc]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpcSection {
    /// Serve HTTP (`--http`).
    pub http: bool,
    /// HTTP listen address (`--http.addr`).
    pub http_addr: IpAddr,
    /// HTTP port, 0 = any free port (`--http.port`).
    pub http_port: u16,
    /// Namespaces over HTTP (`--http.api`); absent = `eth, net, web3` (`--dev`: `+ txpool`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_api: Option<Vec<String>>,
    /// Browser origins allowed over HTTP, `*` = any (`--http.corsdomain`).
    pub http_corsdomain: Vec<String>,
    /// Host names HTTP requests may name in `Host`, `*` = any; IP addresses
    /// always pass (`--http.vhosts`, geth's DNS-rebinding guard).
    pub http_vhosts: Vec<String>,
    /// Serve WebSocket (`--ws`).
    pub ws: bool,
    /// WebSocket listen address (`--ws.addr`).
    pub ws_addr: IpAddr,
    /// WebSocket port, 0 = any free port (`--ws.port`).
    pub ws_port: u16,
    /// Namespaces over WebSocket (`--ws.api`); absent as for `http_api`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ws_api: Option<Vec<String>>,
    /// Browser origins allowed over WebSocket, `*` = any; empty = geth's default
    /// (`http://localhost` and this host's name); requests without `Origin`
    /// always pass (`--ws.origins`).
    pub ws_origins: Vec<String>,
    /// Most gas of one `eth_call`/`eth_estimateGas`/`debug_traceCall` (`--rpc.gascap`).
    pub gascap: u64,
    /// Most calls in one batch (`--rpc.batch-request-limit`).
    pub batch_request_limit: u32,
    /// IPC socket path, relative = inside the data directory (`--ipcpath`).
    pub ipcpath: PathBuf,
    /// No IPC socket (`--ipcdisable`).
    pub ipcdisable: bool,
    /// Serve node-held keys over HTTP/WebSocket too (`--allow-insecure-unlock`).
    pub allow_insecure_unlock: bool,
    /// Most addresses, or alternatives at one topic position, in one log filter
    /// (`--rpc.logquerylimit`).
    pub logquerylimit: usize,
    /// Most blocks one `eth_getLogs` / log filter poll scans (`--rpc.logblockrange`).
    pub logblockrange: u64,
    /// Most logs one `eth_getLogs` returns (`--rpc.logmaxresults`).
    pub logmaxresults: usize,
    /// Most polling filters installed at once, all clients together (`--rpc.filterlimit`).
    pub filterlimit: usize,
    /// Most subscriptions on one WebSocket connection (`--ws.maxsubscriptions`).
    pub ws_maxsubscriptions: u32,
    /// Largest response body in bytes (`--rpc.response-max-size`).
    pub response_max_size: u32,
}

impl Default for RpcSection {
    fn default() -> Self {
        let local = IpAddr::from([127, 0, 0, 1]);
        Self {
            http: false,
            http_addr: local,
            http_port: DEFAULT_HTTP_PORT,
            http_api: None,
            http_corsdomain: Vec::new(),
            http_vhosts: vec![crate::rpc::guard::DEFAULT_VHOSTS.to_string()],
            ws: false,
            ws_addr: local,
            ws_port: DEFAULT_WS_PORT,
            ws_api: None,
            ws_origins: Vec::new(),
            gascap: DEFAULT_GAS_CAP,
            batch_request_limit: DEFAULT_BATCH_LIMIT,
            ipcpath: PathBuf::from(crate::rpc::ipc::DEFAULT_NAME),
            ipcdisable: false,
            allow_insecure_unlock: false,
            logquerylimit: DEFAULT_LOG_QUERY_LIMIT,
            logblockrange: DEFAULT_LOG_BLOCK_RANGE,
            logmaxresults: DEFAULT_LOG_MAX_RESULTS,
            filterlimit: DEFAULT_FILTER_LIMIT,
            ws_maxsubscriptions: DEFAULT_WS_MAX_SUBSCRIPTIONS,
            response_max_size: DEFAULT_RESPONSE_MAX_SIZE,
        }
    }
}

/// `[metrics]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsSection {
    /// Serve Prometheus metrics (`--metrics`).
    pub enabled: bool,
    /// Listen address (`--metrics.addr`).
    pub addr: IpAddr,
    /// Port, 0 = any free port (`--metrics.port`).
    pub port: u16,
}

impl Default for MetricsSection {
    fn default() -> Self {
        Self {
            enabled: false,
            addr: IpAddr::from([127, 0, 0, 1]),
            port: DEFAULT_METRICS_PORT,
        }
    }
}

/// `[node]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NodeSection {
    /// Data directory.
    pub datadir: PathBuf,
    /// Log level 0–5 (error … trace).
    pub verbosity: u8,
}

/// The data directory every command uses without `--datadir` (as geth's
/// `~/.ethereum` and Kaleido's `~/.kaleido`): `$KALGO_HOME` when set, else
/// `~/.kalgo`, else (no home directory) `.kalgo`.
pub fn default_datadir() -> PathBuf {
    datadir_from(
        std::env::var_os("KALGO_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

fn datadir_from(kalgo_home: Option<PathBuf>, home: Option<PathBuf>) -> PathBuf {
    match (kalgo_home, home) {
        (Some(d), _) if !d.as_os_str().is_empty() => d,
        (_, Some(h)) if !h.as_os_str().is_empty() => h.join(".kalgo"),
        _ => PathBuf::from(".kalgo"),
    }
}

impl Default for NodeSection {
    fn default() -> Self {
        Self {
            datadir: default_datadir(),
            verbosity: DEFAULT_VERBOSITY,
        }
    }
}

/// `[miner]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct MinerSection {
    /// Propose and vote.
    pub mine: bool,
    /// The miner identity (stake owner).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stakeowner: Option<Address>,
    /// File whose first line is the password of encrypted miner key files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<PathBuf>,
    /// What `eth_coinbase` answers when this node's miner is not registered
    /// (geth's `--etherbase`): an address, or the index of a node-held account.
    /// A registered miner's rewards go to its registered coinbase whatever this says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etherbase: Option<Etherbase>,
    /// A node-held, unlocked account (`--unlock`) that signs and pays for
    /// `reportEquivocation` transactions: with it, every equivocation this
    /// node observes is submitted to the miner contract.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reportequivocation: Option<Address>,
    /// Send `heartbeat()` for this node's miner before the absentee rule
    /// marks it absent, and after it did (`spec::absence`): signed and paid
    /// by the stake owner, which must be node-held and unlocked (`--unlock`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub heartbeat: bool,
    /// Test only (hidden `--test.equivocate`): sign two values in every voting
    /// step. Never read from or written to a configuration file.
    #[serde(skip)]
    pub test_equivocate: bool,
    /// Test only (hidden `--test.cert-empty-first`): every cert vote is preceded
    /// by a cert vote for the empty value. Never read from or written to a file.
    #[serde(skip)]
    pub test_cert_empty_first: bool,
    /// Test only (hidden `--test.junk-blocks`): at every new height, publish
    /// blocks no proposal names. Never read from or written to a file.
    #[serde(skip)]
    pub test_junk_blocks: bool,
    /// Test only (hidden `--test.far-votes`): every own vote is followed by a
    /// burst of votes for far rounds and steps and far steps of past rounds,
    /// neither logged nor counted. Never read from or written to a file.
    #[serde(skip)]
    pub test_far_votes: bool,
}

/// geth's `--etherbase` value: `0x…` (an address) or a decimal index into the
/// node-held accounts (`0` is the first, as `personal_listAccounts` orders them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Etherbase {
    /// This address.
    Address(Address),
    /// The node-held account at this index.
    Index(usize),
}

impl std::str::FromStr for Etherbase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.starts_with("0x") || s.starts_with("0X") {
            return s
                .parse::<Address>()
                .map(Etherbase::Address)
                .map_err(|e| format!("etherbase {s:?}: not an address ({e})"));
        }
        s.parse::<usize>().map(Etherbase::Index).map_err(|_| {
            format!("etherbase {s:?}: want an address (0x…) or an account index (0, 1, …)")
        })
    }
}

impl TryFrom<String> for Etherbase {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Etherbase> for String {
    fn from(e: Etherbase) -> String {
        match e {
            Etherbase::Address(a) => a.to_checksum(None),
            Etherbase::Index(i) => i.to_string(),
        }
    }
}

/// `[p2p]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct P2pSection {
    /// Listen IP address.
    pub listen_addr: IpAddr,
    /// Listen TCP port (0: any free port).
    pub port: u16,
    /// Multiaddrs with `/p2p/<peer id>`.
    pub bootnodes: Vec<String>,
    /// The libp2p identity key file (default `<datadir>/kalgo/nodekey`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodekey: Option<PathBuf>,
    /// Dial only bootnodes (no peers learned from others).
    pub nodiscover: bool,
    /// Most connected peers.
    pub maxpeers: u32,
    /// Votes a second one peer may hand this node; proposals and blocks get a
    /// quarter, transaction batches a thirty-second (at least 32).
    pub gossiprate: u32,
    /// Network id: peers on another network are refused.
    pub networkid: u64,
}

impl Default for P2pSection {
    fn default() -> Self {
        Self {
            listen_addr: IpAddr::from([0, 0, 0, 0]),
            port: DEFAULT_PORT,
            bootnodes: Vec::new(),
            nodekey: None,
            nodiscover: false,
            maxpeers: DEFAULT_MAX_PEERS,
            gossiprate: actors::gossip::rate::DEFAULT_GOSSIP_RATE,
            networkid: DEFAULT_NETWORK_ID,
        }
    }
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The file is not valid TOML for this configuration.
    #[error("{0}: {1}")]
    Parse(PathBuf, String),
    /// The file is in geth's layout and a key's value cannot be used.
    #[error("{0} (geth layout): {1}")]
    Geth(PathBuf, crate::geth_config::GethConfigError),
    /// The configuration cannot be serialised as TOML (a bug: report it with
    /// the flags and file used).
    #[error("cannot print the configuration: {0}")]
    Print(#[from] toml::ser::Error),
}

/// Command-line values that override the file (None / false: not given).
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// `--datadir`.
    pub datadir: Option<PathBuf>,
    /// `--verbosity`.
    pub verbosity: Option<u8>,
    /// `--mine`.
    pub mine: bool,
    /// `--miner.stakeowner`.
    pub stakeowner: Option<Address>,
    /// `--password`.
    pub password: Option<PathBuf>,
    /// `--etherbase`.
    pub etherbase: Option<Etherbase>,
    /// `--miner.reportequivocation`.
    pub reportequivocation: Option<Address>,
    /// `--miner.heartbeat`.
    pub heartbeat: bool,
    /// `--listen-addr`.
    pub listen_addr: Option<IpAddr>,
    /// `--port`.
    pub port: Option<u16>,
    /// `--bootnodes` (comma-separated).
    pub bootnodes: Option<String>,
    /// `--nodekey`.
    pub nodekey: Option<PathBuf>,
    /// `--nodiscover`.
    pub nodiscover: bool,
    /// `--maxpeers`.
    pub maxpeers: Option<u32>,
    /// `--p2p.gossiprate`.
    pub gossiprate: Option<u32>,
    /// `--networkid`.
    pub networkid: Option<u64>,
}

impl NodeConfig {
    /// Reads a TOML file: kalgo's own layout, or geth 1.8's (see
    /// [`crate::geth_config`]), with one warning per geth key it ignores.
    pub fn load(path: &Path) -> Result<(Self, Vec<String>), ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| ConfigError::Io(path.to_path_buf(), e))?;
        if crate::geth_config::is_geth_layout(&text) {
            return crate::geth_config::from_geth(&text)
                .map_err(|e| ConfigError::Geth(path.to_path_buf(), e));
        }
        let c = Self::parse(&text).map_err(|e| ConfigError::Parse(path.to_path_buf(), e))?;
        Ok((c, Vec::new()))
    }

    /// Parses TOML text; unknown keys and unknown API namespaces are errors.
    pub fn parse(text: &str) -> Result<Self, String> {
        let c: Self = toml::from_str(text).map_err(|e| e.to_string())?;
        for (key, list) in [("http_api", &c.rpc.http_api), ("ws_api", &c.rpc.ws_api)] {
            if let Some(list) = list {
                crate::rpc::parse_apis(&list.join(",")).map_err(|e| format!("[rpc] {key}: {e}"))?;
            }
        }
        Ok(c)
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        Ok(toml::to_string(self)?)
    }

    /// Applies command-line flags over the file's values.
    pub fn apply(&mut self, o: &Overrides) {
        if let Some(d) = &o.datadir {
            self.node.datadir = d.clone();
        }
        if let Some(v) = o.verbosity {
            self.node.verbosity = v;
        }
        self.miner.mine |= o.mine;
        if o.stakeowner.is_some() {
            self.miner.stakeowner = o.stakeowner;
        }
        if o.password.is_some() {
            self.miner.password = o.password.clone();
        }
        if o.reportequivocation.is_some() {
            self.miner.reportequivocation = o.reportequivocation;
        }
        if o.heartbeat {
            self.miner.heartbeat = true;
        }
        if o.etherbase.is_some() {
            self.miner.etherbase = o.etherbase;
        }
        if let Some(a) = o.listen_addr {
            self.p2p.listen_addr = a;
        }
        if let Some(p) = o.port {
            self.p2p.port = p;
        }
        if let Some(list) = &o.bootnodes {
            self.p2p.bootnodes = list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
        }
        if o.nodekey.is_some() {
            self.p2p.nodekey = o.nodekey.clone();
        }
        self.p2p.nodiscover |= o.nodiscover;
        if let Some(m) = o.maxpeers {
            self.p2p.maxpeers = m;
        }
        if let Some(r) = o.gossiprate {
            self.p2p.gossiprate = r;
        }
        if let Some(n) = o.networkid {
            self.p2p.networkid = n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_datadir_is_kalgo_home_else_dot_kalgo_in_home() {
        let p = PathBuf::from;
        assert_eq!(datadir_from(Some(p("/k")), Some(p("/h"))), p("/k"));
        assert_eq!(datadir_from(None, Some(p("/h"))), p("/h/.kalgo"));
        assert_eq!(datadir_from(Some(p("")), Some(p("/h"))), p("/h/.kalgo"));
        assert_eq!(datadir_from(None, None), p(".kalgo"));
    }

    #[test]
    fn etherbase_is_an_address_or_an_account_index() {
        let a: Address = "0x00000000000000000000000000000000000000aa"
            .parse()
            .expect("address");
        assert_eq!(
            "0x00000000000000000000000000000000000000aa".parse::<Etherbase>(),
            Ok(Etherbase::Address(a))
        );
        assert_eq!(" 2 ".parse::<Etherbase>(), Ok(Etherbase::Index(2)));
        for bad in [
            "",
            "-1",
            "0x12",
            "first",
            "0xzz00000000000000000000000000000000000000",
        ] {
            assert!(bad.parse::<Etherbase>().is_err(), "{bad:?} was accepted");
        }
        let file = "[miner]\netherbase = \"1\"\n";
        let c = NodeConfig::parse(file).expect("parses");
        assert_eq!(c.miner.etherbase, Some(Etherbase::Index(1)));
        let printed = toml::to_string(&c).expect("prints");
        assert_eq!(NodeConfig::parse(&printed).expect("reparses"), c);
    }

    #[test]
    fn dumped_config_reads_back_identically() {
        let mut c = NodeConfig::default();
        c.apply(&Overrides {
            datadir: Some("/tmp/x".into()),
            mine: true,
            stakeowner: Some(Address::repeat_byte(0xaa)),
            reportequivocation: Some(Address::repeat_byte(0xbb)),
            heartbeat: true,
            listen_addr: Some("127.0.0.1".parse().expect("ip")),
            port: Some(0),
            bootnodes: Some("/ip4/127.0.0.1/tcp/1/p2p/a, /ip4/127.0.0.1/tcp/2/p2p/b".into()),
            maxpeers: Some(3),
            networkid: Some(9),
            ..Overrides::default()
        });
        let text = c.to_toml().expect("toml");
        assert_eq!(NodeConfig::parse(&text), Ok(c.clone()));
        assert_eq!(c.p2p.bootnodes.len(), 2);
        assert!(text.contains("networkid = 9"), "{text}");
    }

    #[test]
    fn flags_override_the_file_and_the_file_overrides_defaults() {
        let mut c = NodeConfig::parse("[p2p]\nport = 1234\nmaxpeers = 7\n").expect("parse");
        assert_eq!((c.p2p.port, c.p2p.maxpeers), (1234, 7));
        assert_eq!(c.p2p.networkid, DEFAULT_NETWORK_ID);
        c.apply(&Overrides {
            port: Some(99),
            ..Overrides::default()
        });
        assert_eq!((c.p2p.port, c.p2p.maxpeers), (99, 7));
    }

    #[test]
    fn unknown_or_malformed_settings_are_errors() {
        assert!(NodeConfig::parse("[p2p]\nprot = 1\n").is_err());
        assert!(NodeConfig::parse("[p2p]\nport = 70000\n").is_err());
        assert!(NodeConfig::parse("[p2p]\nlisten_addr = \"nowhere\"\n").is_err());
        assert!(NodeConfig::parse("[miner]\nstakeowner = \"0x12\"\n").is_err());
    }
}
