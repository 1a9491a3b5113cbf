//! `kalgo`: the node binary. A thin shell: parses the command line and hands work to
//! the library crates. It holds no protocol logic.

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
