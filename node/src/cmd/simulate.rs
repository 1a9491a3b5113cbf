//! `kalgo simulate`: the consensus driver of `spec`, run by N in-process nodes over
//! a simulated network with random delays, duplicates and losses (`spec::sim`).

use clap::{Args, ValueEnum};
use spec::sim::{Behaviour, SimConfig, run as run_sim};
use std::process::ExitCode;
use std::time::Instant;

/// Options of `kalgo simulate`.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Number of nodes (fixed committee, weight 1 each).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(1..=64))]
    nodes: u8,
    /// Heights every honest node must commit.
    #[arg(long, default_value_t = 20)]
    heights: u64,
    /// RNG seed: the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Percent of messages lost.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=90))]
    drop: u64,
    /// Percent of messages delivered twice.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(0..=100))]
    duplicate: u64,
    /// Behaviour of the last `--faulty` nodes.
    #[arg(long, value_enum, default_value_t = Fault::Silent)]
    fault: Fault,
    /// How many nodes (the last ones) misbehave.
    #[arg(long, default_value_t = 0)]
    faulty: u8,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum Fault {
    /// Offline: sends nothing.
    Silent,
    /// Byzantine: shows different values to different nodes.
    Equivocator,
}

/// Runs the simulation and prints a report; exit status 1 on a safety violation or
/// when the honest nodes did not reach the requested height.
pub fn run(args: &SimulateArgs) -> ExitCode {
    let n = usize::from(args.nodes);
    let faulty = usize::from(args.faulty).min(n);
    let mut cfg = SimConfig::honest(n, args.heights, args.seed);
    cfg.drop_pct = args.drop;
    cfg.duplicate_pct = args.duplicate;
    for b in &mut cfg.behaviours[n - faulty..] {
        *b = match args.fault {
            Fault::Silent => Behaviour::Silent,
            Fault::Equivocator => Behaviour::Equivocator,
        };
    }
    let honest: Vec<usize> = (0..n - faulty).collect();
    let started = Instant::now();
    let report = run_sim(cfg);
    let wall = started.elapsed();
    let committed = report.min_committed(honest.iter().copied());
    println!(
        "simulated {n} nodes ({faulty} {:?}), seed {}: {committed} heights committed by every honest node in {:.1} s of simulated time ({} events, {:.0} ms wall)",
        args.fault,
        args.seed,
        report.sim_ms as f64 / 1000.0,
        report.events,
        wall.as_secs_f64() * 1000.0
    );
    if let Some(first) = honest.first() {
        for (h, v) in report.committed[*first]
            .iter()
            .enumerate()
            .take(committed)
            .rev()
            .take(3)
            .rev()
        {
            println!("  height {:>4}: {}", h + 1, hex(&v.0));
        }
    }
    match report.violation {
        Some(v) => {
            println!("SAFETY VIOLATION: {v}");
            ExitCode::from(1)
        }
        None if (committed as u64) < args.heights => {
            println!(
                "no violation, but the honest nodes stalled before height {}",
                args.heights
            );
            ExitCode::from(1)
        }
        None => {
            println!("all invariants held after every event");
            ExitCode::SUCCESS
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
