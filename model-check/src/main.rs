//! `model-check`: the command-line front end. See `--help`.

use clap::Parser;
use model_check::config::{Config, Mutation, NAMES};
use model_check::run::{RunOptions, peak_rss, run};
use std::io::Write as _;
use std::process::ExitCode;

fn configs_help() -> String {
    let mut s = String::from("Configurations:\n");
    for (name, about) in NAMES {
        s.push_str(&format!("  {name:<22} {about}\n"));
    }
    s.push_str(
        "\nWithout CONFIG, runs the default suite: every configuration, plus\n\
         mc7-mutation-scope with --mutate cert-threshold=half, mc8-cert-votes with\n\
         --mutate cert-votes-by-voter and mc10-suspended with --mutate\n\
         suspended-in-roster (each must report a violation).\n\
         Exits 0 only if every expected verdict holds.",
    );
    s
}

/// Exhaustive model checking of kalgo's BA* machine (crate `spec`) with stateright.
#[derive(Parser, Debug)]
#[command(name = "model-check", after_help = configs_help())]
struct Cli {
    /// Configurations to run (default: the whole suite).
    configs: Vec<String>,
    /// Breadth-first search (shortest counterexamples); depth-first by default.
    #[arg(long)]
    bfs: bool,
    /// Serve the stateright Explorer for the (single) configuration on ADDR,
    /// e.g. localhost:3000.
    #[arg(long, value_name = "ADDR")]
    explorer: Option<String>,
    /// Mutate the protocol; the run must then report a safety violation.
    /// Supported: cert-threshold=half, cert-votes-by-voter, suspended-in-roster.
    #[arg(long, value_name = "MUTATION")]
    mutate: Option<String>,
    /// Checker threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Stop each run after SECS seconds (the run is then not exhaustive, and a
    /// configuration expected to be safe fails).
    #[arg(long, value_name = "SECS")]
    timeout: Option<u64>,
    /// Reduced scopes (the sizes pinned by the tests).
    #[arg(long)]
    ci: bool,
    /// Turn off symmetry reduction over interchangeable nodes (on by default;
    /// depth-first search only).
    #[arg(long)]
    no_symmetry: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("model-check: error: {e}");
            ExitCode::from(2)
        }
    }
}

fn real_main(cli: Cli) -> Result<bool, String> {
    let mutation = cli
        .mutate
        .as_deref()
        .map(str::parse::<Mutation>)
        .transpose()?;
    let mut jobs: Vec<Config> = Vec::new();
    if cli.configs.is_empty() {
        // mc7 is the mutation's scope: the suite runs it mutated only.
        for (name, _) in NAMES.iter().filter(|(n, _)| *n != "mc7-mutation-scope") {
            jobs.push(Config::named(name, cli.ci)?);
        }
        jobs.push(Config::named("mc7-mutation-scope", cli.ci)?.mutate(Mutation::CertThresholdHalf));
        jobs.push(Config::named("mc8-cert-votes", cli.ci)?.mutate(Mutation::CertVotesByVoter));
        jobs.push(Config::named("mc10-suspended", cli.ci)?.mutate(Mutation::SuspendedInRoster));
    } else {
        for name in &cli.configs {
            let cfg = Config::named(name, cli.ci)?;
            jobs.push(match mutation {
                Some(m) => cfg.mutate(m),
                None => cfg,
            });
        }
    }
    if cli.threads == 0 {
        return Err("--threads must be at least 1".into());
    }
    if let Some(addr) = cli.explorer {
        let [cfg] = jobs.as_slice() else {
            return Err("--explorer needs exactly one configuration".into());
        };
        return model_check::explorer::serve(cfg.clone(), &addr).map(|()| true);
    }
    let opts = RunOptions {
        bfs: cli.bfs,
        threads: cli.threads,
        symmetry: !cli.no_symmetry,
        timeout: cli.timeout.map(std::time::Duration::from_secs),
    };
    // A closed stdout (e.g. `| head`) is not an error of the checking: write
    // errors are ignored rather than panicking in `print!`.
    let mut out = std::io::stdout().lock();
    let mut all_ok = true;
    for cfg in jobs {
        let summary = run(cfg, &opts);
        let _ = write!(out, "{}", summary.render(peak_rss()));
        let _ = out.flush();
        all_ok &= summary.ok;
    }
    let _ = writeln!(
        out,
        "model-check: {}",
        if all_ok {
            "all expected verdicts hold"
        } else {
            "SOME EXPECTED VERDICTS DO NOT HOLD"
        }
    );
    Ok(all_ok)
}
