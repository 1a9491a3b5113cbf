//! `kalgo`: the node binary. A thin shell: parses the command line and hands work to
//! the library crates. It holds no protocol logic.

mod devkeys;
mod run;
mod simulate;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "kalgo",
    version,
    about = "kalgo: an Ethereum-compatible chain with Algorand's BA* consensus"
)]
struct Cli {
    /// Data directory.
    #[arg(long, global = true, default_value = ".kaleido")]
    datadir: PathBuf,
    /// Propose and vote (needs --miner.stakeowner).
    #[arg(long)]
    mine: bool,
    /// The miner identity (stake owner address).
    #[arg(long = "miner.stakeowner")]
    stakeowner: Option<alloy_primitives::Address>,
    /// P2P port (gossip not built yet: accepted, unused).
    #[arg(long, default_value_t = 38883)]
    port: u16,
    /// P2P listen address (accepted, unused until gossip lands).
    #[arg(long = "listen-addr", default_value = "0.0.0.0")]
    listen_addr: String,
    /// Comma-separated bootnodes (accepted, unused until gossip lands).
    #[arg(long)]
    bootnodes: Option<String>,
    /// Node key file (accepted, unused until gossip lands).
    #[arg(long)]
    nodekey: Option<PathBuf>,
    /// Disable discovery (accepted).
    #[arg(long)]
    nodiscover: bool,
    /// Maximum peers (accepted).
    #[arg(long, default_value_t = 25)]
    maxpeers: u32,
    /// Log level 0–5 (error … trace); RUST_LOG overrides.
    #[arg(long, default_value_t = 3)]
    verbosity: u8,
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
    /// Run N in-process nodes of the BA* machine over a simulated network (seeded,
    /// deterministic) and report what they committed.
    Simulate(simulate::SimulateArgs),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbosity);
    let Some(command) = cli.command else {
        let opts = run::RunOptions {
            datadir: cli.datadir.clone(),
            mine: cli.mine,
            stakeowner: cli.stakeowner,
        };
        return match run::run(&opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    };
    match command {
        Command::Init { genesis } => match run::init(&cli.datadir, &genesis) {
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
        Command::Statetest { paths, forks } => statetest(&paths, forks),
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
