//! `kalgo`: the node binary. A thin shell: parses the command line and hands work to
//! the library crates. It holds no protocol logic.

use clap::{Parser, Subcommand};

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
    /// Run Ethereum GeneralStateTests JSON files (like `revme statetest`).
    Statetest {
        /// Files or folders of GeneralStateTests JSON.
        #[arg(required = true)]
        paths: Vec<std::path::PathBuf>,
        /// Only run these forks (fixture names, e.g. `Byzantium`, `Cancun`); repeatable.
        #[arg(long = "fork")]
        forks: Vec<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => println!("kalgo {}", env!("CARGO_PKG_VERSION")),
        Command::Statetest { paths, forks } => return statetest(&paths, forks),
    }
    std::process::ExitCode::SUCCESS
}

/// `kalgo statetest`: runs the fixtures, prints failures and per-fork summary lines.
fn statetest(paths: &[std::path::PathBuf], forks: Vec<String>) -> std::process::ExitCode {
    use actors::execution::statetest;
    let files = match statetest::collect_json_files(paths) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let report = statetest::run_files(&files, &statetest::StateTestOptions { forks });
    print!("{}", report.summary());
    if report.is_success() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    }
}
