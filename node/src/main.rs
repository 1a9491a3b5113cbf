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
}

fn main() {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => println!("kalgo {}", env!("CARGO_PKG_VERSION")),
    }
}
