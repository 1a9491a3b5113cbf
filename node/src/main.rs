//! `kalgo`: the node binary. A thin shell: parses the command line and hands work to
//! the library crates. It holds no protocol logic.

mod genesis_cmd;
mod keyfile;
mod makeminerkey;
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
    /// Data directory (Kaleido puts it before the subcommand; accepted after it too).
    #[arg(long, global = true, value_name = "D")]
    datadir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print version information.
    Version,
    /// Run N in-process nodes of the BA* machine over a simulated network (seeded,
    /// deterministic) and report what they committed.
    Simulate(simulate::SimulateArgs),
    /// Generate a miner key: VRF and forward-secure vote keys, the key file, and the
    /// `MinerKey` calldata for the miner contract (Kaleido's `makeminerkey`).
    #[command(name = "makeminerkey")]
    MakeMinerKey(makeminerkey::MakeMinerKeyArgs),
    /// Write a genesis.json with a miner already registered (Kaleido's `cmd/genesis`),
    /// or a whole local network with `--validators N --out DIR`.
    Genesis(genesis_cmd::GenesisArgs),
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
    match cli.command {
        Command::Version => {
            println!("kalgo {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Simulate(args) => simulate::run(&args),
        Command::Statetest { paths, forks } => statetest(&paths, forks),
        Command::MinerKeyUpdate { height, password } => {
            miner_key_update(cli.datadir.as_deref(), height, password.as_deref())
        }
        Command::MakeMinerKey(args) => make_miner_key(cli.datadir.as_deref(), &args),
        Command::Genesis(args) => match genesis_cmd::run(cli.datadir.as_deref(), &args) {
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
    datadir: Option<&std::path::Path>,
    height: u64,
    password: Option<&std::path::Path>,
) -> ExitCode {
    let Some(datadir) = datadir else {
        return fail(&"--datadir D is required");
    };
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

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

/// `kalgo makeminerkey`: prints the key (or the existing one) and exits non-zero on error.
fn make_miner_key(
    datadir: Option<&std::path::Path>,
    args: &makeminerkey::MakeMinerKeyArgs,
) -> ExitCode {
    let Some(datadir) = datadir else {
        return fail(&"--datadir D is required (the key file goes to D/kalgo/minerkeys)");
    };
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
