//! `kalgo`: the node binary. A thin shell: parses the command line and hands work to
//! the library crates. It holds no protocol logic.

use clap::{Parser, Subcommand};
use node::cmd::{account, dev, dumpvote, fuzzpeer, genesis, makeminerkey, simulate};
use node::keys::keyfile;
use node::{config, console, loadtest, rpc, run};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kalgo",
    version,
    about = "kalgo: an Ethereum-compatible chain with Algorand's BA* consensus"
)]
struct Cli {
    /// Data directory (Kaleido puts it before the subcommand; accepted after it too)
    /// [default: $KALGO_HOME, else ~/.kalgo; `--dev`: a temporary directory].
    #[arg(long, global = true, value_name = "D")]
    datadir: Option<PathBuf>,
    /// Configuration file (TOML, as printed by `dumpconfig`); flags override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Propose and vote (needs --miner.stakeowner).
    #[arg(long)]
    mine: bool,
    /// The miner identity (stake owner address); its key files in
    /// D/kalgo/minerkeys (from `makeminerkey`) are used.
    #[arg(long = "miner.stakeowner")]
    stakeowner: Option<alloy_primitives::Address>,
    /// File whose first line is the password of encrypted miner key files.
    #[arg(long, value_name = "FILE")]
    password: Option<PathBuf>,
    /// What `eth_coinbase` names when this node's miner is not registered: an
    /// address or the index of a node-held account (geth's --etherbase). A
    /// registered miner's rewards go to its registered coinbase.
    #[arg(long, value_name = "ADDR|INDEX")]
    etherbase: Option<config::Etherbase>,
    /// Submit every equivocation this node observes to the miner contract
    /// (`reportEquivocation`), signed and paid by this node-held account,
    /// which must be unlocked with --unlock.
    #[arg(long = "miner.reportequivocation", value_name = "ADDR")]
    reportequivocation: Option<alloy_primitives::Address>,
    /// Send the miner contract a heartbeat() for this node's miner before the
    /// chain's absentee rule marks it absent, and after it did; signed and
    /// paid by the stake owner (--miner.stakeowner), which must be unlocked.
    #[arg(long = "miner.heartbeat")]
    heartbeat: bool,
    /// P2P TCP port [default: 38883; 0 picks a free port].
    #[arg(long)]
    port: Option<u16>,
    /// P2P listen IP address [default: 0.0.0.0].
    #[arg(long = "listen-addr", value_name = "IP")]
    listen_addr: Option<std::net::IpAddr>,
    /// Comma-separated bootnode multiaddrs, each ending in /p2p/<peer id>
    /// (a node logs its own as "listening address=…").
    #[arg(long)]
    bootnodes: Option<String>,
    /// Network identity key file [default: <datadir>/kalgo/nodekey, made on first start].
    #[arg(long, value_name = "FILE")]
    nodekey: Option<PathBuf>,
    /// Dial only the bootnodes (do not redial peers learned from others).
    #[arg(long)]
    nodiscover: bool,
    /// Maximum connected peers [default: 25].
    #[arg(long)]
    maxpeers: Option<u32>,
    /// Votes a second one peer may send this node; proposals and blocks get a
    /// quarter, transaction batches a thirty-second. Past it messages are
    /// dropped; a peer far past it is disconnected [default: 8192].
    #[arg(long = "p2p.gossiprate", value_name = "VOTES", value_parser = clap::value_parser!(u32).range(32..))]
    gossiprate: Option<u32>,
    /// Network id; peers on another network are refused [default: 888].
    #[arg(long)]
    networkid: Option<u64>,
    /// Keystore accounts to unlock at start (comma-separated; passwords from
    /// --password, one per line, or a prompt).
    #[arg(long, value_name = "ADDR[,ADDR]", value_delimiter = ',')]
    unlock: Vec<alloy_primitives::Address>,
    /// New key files use light scrypt parameters (N=2^12, p=6; geth's --lightkdf).
    #[arg(long, global = true)]
    lightkdf: bool,
    /// Log level 0–5 (error … trace) [default: 3]; RUST_LOG overrides.
    #[arg(long)]
    verbosity: Option<u8>,
    /// TEST ONLY, hidden: this validator signs two different values in every
    /// step it votes in (equivocation), for the fault tests (`tests/tests/faults.rs`).
    #[arg(long = "test.equivocate", hide = true)]
    test_equivocate: bool,
    /// TEST ONLY, hidden: this validator sends a cert vote for the empty value
    /// before each of its cert votes, for the attack tests (`tests/tests/attacks.rs`).
    #[arg(long = "test.cert-empty-first", hide = true)]
    test_cert_empty_first: bool,
    /// TEST ONLY, hidden: at every new height this node publishes blocks that no
    /// proposal names, for the attack tests (`tests/tests/attacks.rs`).
    #[arg(long = "test.junk-blocks", hide = true)]
    test_junk_blocks: bool,
    /// TEST ONLY, hidden: with each of its votes this validator also signs and
    /// sends a burst of votes for far rounds, far steps and far steps of past
    /// rounds, for the attack tests (`tests/tests/attacks.rs`).
    #[arg(long = "test.far-votes", hide = true)]
    test_far_votes: bool,
    #[command(flatten)]
    rpc: rpc::cli::RpcArgs,
    #[command(flatten)]
    geth: node::geth_flags::GethFlags,
    #[command(flatten)]
    dev: dev::DevArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Write the genesis block of a genesis.json into the data directory.
    Init {
        /// The genesis file.
        genesis: PathBuf,
    },
    /// Print version information.
    Version,
    /// Manage keystore accounts in D/keystore (Web3 Secret Storage v3, geth's format).
    #[command(subcommand)]
    Account(account::AccountCommand),
    /// Open a JavaScript console on a running node: `ipc:PATH` or a socket path
    /// (default D/kalgo.ipc), `http://host:port` or `ws://host:port`.
    Attach {
        /// Endpoint.
        endpoint: Option<String>,
        /// Evaluate this JavaScript, print the result and exit.
        #[arg(long, value_name = "EXPR")]
        exec: Option<String>,
    },
    /// Run the node (same flags as without a command) and open a JavaScript
    /// console on its IPC endpoint; the node stops when the console exits.
    Console {
        /// Evaluate this JavaScript, print the result and exit.
        #[arg(long, value_name = "EXPR")]
        exec: Option<String>,
    },
    /// Run N in-process nodes of the BA* machine over a simulated network (seeded,
    /// deterministic) and report what they committed.
    Simulate(simulate::SimulateArgs),
    /// Drive a JSON-RPC endpoint with signed transfers from many senders and report
    /// submitted/s, confirmed/s and confirmation latency (p50/p90/p99).
    #[command(name = "loadtest")]
    LoadTest(loadtest::LoadTestArgs),
    /// Generate a miner key: VRF and forward-secure vote keys, the key file, and the
    /// `MinerKey` calldata for the miner contract (Kaleido's `makeminerkey`).
    #[command(name = "makeminerkey")]
    MakeMinerKey(makeminerkey::MakeMinerKeyArgs),
    /// Write a genesis.json with a miner already registered (Kaleido's `cmd/genesis`),
    /// or a whole local network with `--validators N --out DIR`.
    Genesis(genesis::GenesisArgs),
    /// Erase, from every key file in D/kalgo/minerkeys, the vote sub-keys for heights
    /// below `--height` (forward security; the running node does this on each head).
    #[command(name = "minerkeyupdate")]
    MinerKeyUpdate {
        /// Current chain height.
        #[arg(long)]
        height: u64,
        /// Password file of encrypted key files.
        #[arg(long, value_name = "FILE")]
        password: Option<PathBuf>,
    },
    /// A hostile peer for tests: joins through --bootnodes and publishes
    /// far-future, forged and random messages (the datadir must hold the genesis).
    #[command(name = "fuzzpeer", hide = true)]
    FuzzPeer(fuzzpeer::FuzzPeerArgs),
    /// Print the effective configuration (defaults, `--config` file, flags) as TOML.
    #[command(name = "dumpconfig")]
    DumpConfig {
        /// In geth 1.8's layout (`[Eth]`, `[Node]`, `[Node.P2P]`), for Kaleido tools.
        #[arg(long)]
        geth: bool,
    },
    /// Print the votes and proposals this node signed at a height (its own-vote
    /// log in consensus.redb, last 20,000 heights; stop the node first).
    #[command(name = "dumpvote")]
    DumpVote {
        /// The height.
        #[arg(long)]
        height: u64,
    },
    /// Run Ethereum GeneralStateTests JSON files (like `revme statetest`).
    Statetest {
        /// Files or folders of GeneralStateTests JSON.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Only run these forks (fixture names, e.g. `Byzantium`, `Cancun`); repeatable.
        #[arg(long = "fork")]
        forks: Vec<String>,
    },
}

/// The effective configuration: defaults, then the `--config` file, then flags.
fn node_config(cli: &Cli) -> Result<(config::NodeConfig, Vec<String>), config::ConfigError> {
    let (mut cfg, warnings) = match &cli.config {
        Some(path) => config::NodeConfig::load(path)?,
        None => (config::NodeConfig::default(), Vec::new()),
    };
    cfg.apply(&config::Overrides {
        datadir: cli.datadir.clone(),
        verbosity: cli.verbosity,
        mine: cli.mine,
        stakeowner: cli.stakeowner,
        password: cli.password.clone(),
        etherbase: cli.etherbase,
        reportequivocation: cli.reportequivocation,
        heartbeat: cli.heartbeat,
        listen_addr: cli.listen_addr,
        port: cli.port,
        bootnodes: cli.bootnodes.clone(),
        nodekey: cli.nodekey.clone(),
        nodiscover: cli.nodiscover,
        maxpeers: cli.maxpeers,
        gossiprate: cli.gossiprate,
        networkid: cli.networkid,
    });
    cli.rpc.apply(&mut cfg.rpc, &mut cfg.metrics);
    cfg.miner.test_equivocate = cli.test_equivocate;
    cfg.miner.test_cert_empty_first = cli.test_cert_empty_first;
    cfg.miner.test_junk_blocks = cli.test_junk_blocks;
    cfg.miner.test_far_votes = cli.test_far_votes;
    Ok((cfg, warnings))
}

fn main() -> ExitCode {
    node::malloc::tune();
    let mut cli = Cli::parse();
    let (cfg, config_warnings) = match node_config(&cli) {
        Ok(v) => v,
        Err(e) => return fail(&e),
    };
    init_tracing(cfg.node.verbosity);
    for w in config_warnings {
        tracing::warn!("--config: {w}");
    }
    match cli.geth.check() {
        Ok(warnings) => {
            for w in warnings {
                tracing::warn!("{w}");
            }
        }
        Err(e) => return fail(&e),
    }
    let command = match cli.command.take() {
        None => None,
        Some(Command::Console { exec }) => {
            return console_with_node(&cli, cfg, exec.as_deref());
        }
        Some(c) => Some(c),
    };
    let Some(command) = command else {
        let (cfg, rpc, dev_chain) = match node_setup(&cli, cfg, true) {
            Ok(v) => v,
            Err(code) => return code,
        };
        return match run::run(&cfg, rpc, dev_chain.is_none()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    };
    match command {
        Command::Console { .. } => ExitCode::FAILURE,
        Command::Account(cmd) => match account::run(&cfg.node.datadir, cli.lightkdf, &cmd) {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Attach { endpoint, exec } => {
            let endpoint = endpoint.unwrap_or_else(|| {
                cfg.node
                    .datadir
                    .join(rpc::ipc::DEFAULT_NAME)
                    .display()
                    .to_string()
            });
            let history = console::history_path(cli.datadir.as_deref(), &endpoint);
            match console::run(&endpoint, exec.as_deref(), history.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(&e),
            }
        }
        Command::FuzzPeer(args) => match fuzzpeer::run(&cfg, &args) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::DumpConfig { geth: false } => match cfg.to_toml() {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::DumpConfig { geth: true } => match node::geth_config::to_geth(&cfg) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::DumpVote { height } => match dumpvote::dumpvote(&cfg.node.datadir, height) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
        Command::Init { genesis } => match run::init(&cfg.node.datadir, &genesis) {
            Ok(msg) => {
                println!("{msg}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Version => {
            println!("kalgo {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Simulate(args) => simulate::run(&args),
        Command::LoadTest(args) => match loadtest::run(&args) {
            Ok(report) => {
                println!("{report}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Statetest { paths, forks } => statetest(&paths, forks),
        Command::MinerKeyUpdate { height, password } => {
            miner_key_update(&cfg.node.datadir, height, password.as_deref())
        }
        Command::MakeMinerKey(args) => make_miner_key(&cfg.node.datadir, &args),
        Command::Genesis(args) => match genesis::run(&cfg.node.datadir, &args) {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        },
    }
}

/// `kalgo minerkeyupdate`: applies `keyfile::update_key_file` to every key file.
fn miner_key_update(
    datadir: &std::path::Path,
    height: u64,
    password: Option<&std::path::Path>,
) -> ExitCode {
    let password = match password.map(makeminerkey::read_password).transpose() {
        Ok(p) => p,
        Err(e) => return fail(&e),
    };
    let dir = keyfile::key_dir(datadir);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) => return fail(&format!("{}: {e}", dir.display())),
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|x| x == "bin") {
            match keyfile::update_key_file(&path, height, password.as_ref().map(|p| p.as_slice())) {
                Ok(changed) => println!(
                    "{}: {}",
                    path.display(),
                    if changed { "updated" } else { "unchanged" }
                ),
                Err(e) => return fail(&e),
            }
        }
    }
    ExitCode::SUCCESS
}

/// The configuration, RPC settings and (for `--dev`) the prepared dev chain of a
/// node run from the command line; the [`dev::DevChain`] keeps a temporary data
/// directory alive.
fn node_setup(
    cli: &Cli,
    mut cfg: config::NodeConfig,
    banner: bool,
) -> Result<(config::NodeConfig, rpc::RpcConfig, Option<dev::DevChain>), ExitCode> {
    let mut rpc =
        rpc::cli::rpc_config(&cfg.rpc, &cfg.metrics, cli.dev.dev).map_err(|e| fail(&e))?;
    rpc.unlock = cli.unlock.clone();
    rpc.light_kdf = cli.lightkdf;
    // `--dev`: prepare (or reopen) the dev chain; keep a temporary datadir alive.
    // A dev chain is a single node: no network (as geth's `--dev`).
    let dev_chain = match cli.dev.dev {
        true => Some(dev::prepare(cli.datadir.as_deref(), &cli.dev).map_err(|e| fail(&e))?),
        false => None,
    };
    if let Some(c) = &dev_chain {
        if banner {
            print!("{}", dev::banner(c, rpc.http.as_ref().map(|e| e.addr)));
        }
        cfg.node.datadir = c.datadir.clone();
        cfg.miner.mine = true;
        cfg.miner.stakeowner = Some(c.miner);
    }
    Ok((cfg, rpc, dev_chain))
}

/// `kalgo console`: the node in a background thread, the console on its IPC
/// socket; exiting the console stops the node.
fn console_with_node(cli: &Cli, cfg: config::NodeConfig, exec: Option<&str>) -> ExitCode {
    let (cfg, rpc, dev_chain) = match node_setup(cli, cfg, false) {
        Ok(v) => v,
        Err(code) => return code,
    };
    let Some(ipc) = rpc.ipc.clone().map(|p| {
        if p.is_relative() {
            cfg.node.datadir.join(p)
        } else {
            p
        }
    }) else {
        return fail(&"kalgo console needs the IPC endpoint (drop --ipcdisable)");
    };
    let history = cfg.node.datadir.join("kalgo").join("console_history");
    let network = dev_chain.is_none();
    let node = std::thread::spawn(move || run::run(&cfg, rpc, network));
    // Wait until the socket answers (a crashed node may have left a stale file).
    let mut ready = false;
    for _ in 0..600 {
        if node.is_finished() {
            break;
        }
        if std::os::unix::net::UnixStream::connect(&ipc).is_ok() {
            ready = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let result = if ready {
        console::run(&ipc.display().to_string(), exec, Some(&history)).map_err(|e| e.to_string())
    } else {
        Err("the node did not open its IPC endpoint".to_string())
    };
    run::request_shutdown();
    let node_result = node.join();
    drop(dev_chain);
    match (result, node_result) {
        (_, Ok(Err(e))) => fail(&e),
        (Err(e), _) => fail(&e),
        (Ok(()), Err(_)) => fail(&"the node thread panicked"),
        (Ok(()), Ok(Ok(()))) => ExitCode::SUCCESS,
    }
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

/// `kalgo makeminerkey`: prints the key (or the existing one) and exits non-zero on error.
fn make_miner_key(datadir: &std::path::Path, args: &makeminerkey::MakeMinerKeyArgs) -> ExitCode {
    match makeminerkey::run(datadir, args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err((shown, e)) => {
            print!("{shown}");
            fail(&e)
        }
    }
}

fn init_tracing(verbosity: u8) {
    let level = match verbosity {
        0 => "error",
        1 => "warn",
        2 | 3 => "info",
        4 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

/// `kalgo statetest`: runs the fixtures, prints failures and per-fork summary lines.
fn statetest(paths: &[PathBuf], forks: Vec<String>) -> ExitCode {
    use actors::execution::statetest;
    let files = match statetest::collect_json_files(paths) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let report = statetest::run_files(&files, &statetest::StateTestOptions { forks });
    print!("{}", report.summary());
    if report.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
