//! `kalgo simulate`: the consensus driver of `spec`, run by N in-process nodes over
//! a simulated network with random delays, duplicates and losses (`spec::sim`).

use clap::{Args, ValueEnum};
use spec::cluster::Checking;
use spec::driver::{MockSuite, RealSuite};
use spec::params::Params;
use spec::sim::{Behaviour, Crypto, Gossip, Sim, SimConfig, SimReport, quantile};
use std::process::ExitCode;
use std::time::Instant;

/// Options of `kalgo simulate`.
#[derive(Args, Debug)]
pub struct SimulateArgs {
    /// Number of nodes (validators).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    nodes: u16,
    /// Committee mode: every validator votes with its stake (fixed), or
    /// stake-weighted VRF sortition (Algorand's committees).
    #[arg(long, value_enum, default_value_t = CommitteeArg::Fixed)]
    committee: CommitteeArg,
    /// Stake distribution: equal, or Zipf (validator i holds 1/(i+1) of the largest).
    #[arg(long, value_enum, default_value_t = StakeArg::Equal)]
    stake: StakeArg,
    /// One-way delay of every link in ms; each message adds a uniform jitter
    /// of 0..=`--jitter` ms. Without it, delays are uniform in 5..=200 ms.
    #[arg(long)]
    latency: Option<u64>,
    /// Jitter added to `--latency`, ms.
    #[arg(long, default_value_t = 0)]
    jitter: u64,
    /// How messages spread: to every node (flood), or to `--degree` random
    /// peers per send, each node forwarding what it first accepts (mesh).
    #[arg(long, value_enum, default_value_t = GossipArg::Flood)]
    gossip: GossipArg,
    /// Peers per send with `--gossip mesh` (gossipsub's D).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    degree: u64,
    /// How the safety invariants are checked after every event: the
    /// incremental monitor, the full recount, or both (they must agree).
    #[arg(long, value_enum, default_value_t = InvariantsArg::Incremental)]
    invariants: InvariantsArg,
    /// Cryptography of every node: deterministic mock signatures and VRF
    /// (cheap), or the production suite (schnorrkel VRF, forward-secure
    /// ed25519), whose verification rate the report then gives.
    #[arg(long, value_enum, default_value_t = CryptoArg::Mock)]
    crypto: CryptoArg,
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
    faulty: u16,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum CommitteeArg {
    Fixed,
    Sortition,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum StakeArg {
    Equal,
    Zipf,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum GossipArg {
    Flood,
    Mesh,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum CryptoArg {
    Mock,
    Real,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum InvariantsArg {
    Incremental,
    Recount,
    Both,
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
    // Flooding costs about 4·n³ deliveries per height: the event budget grows
    // with it, so only a stalled run hits it.
    let cube = (n as u64).saturating_pow(3);
    cfg.max_events = cfg
        .max_events
        .max(cfg.heights.saturating_mul(cube).saturating_mul(8));
    if let CommitteeArg::Sortition = args.committee {
        cfg.params = Params::new_chain(cfg.params.chain_id);
    }
    if let StakeArg::Zipf = args.stake {
        // Validator i holds 1/(i+1) of the largest stake.
        const TOP: u64 = 1_000_000;
        cfg.weights = (0..n as u64).map(|i| TOP.div_ceil(i + 1)).collect();
    }
    if let Some(latency) = args.latency {
        cfg.delay_ms = (latency, latency.saturating_add(args.jitter));
    }
    cfg.gossip = match args.gossip {
        GossipArg::Flood => Gossip::Flood,
        GossipArg::Mesh => Gossip::Mesh {
            degree: usize::try_from(args.degree).unwrap_or(usize::MAX),
        },
    };
    cfg.checking = match args.invariants {
        InvariantsArg::Incremental => Checking::Incremental,
        InvariantsArg::Recount => Checking::Recount,
        InvariantsArg::Both => Checking::Both,
    };
    cfg.crypto = match args.crypto {
        CryptoArg::Mock => Crypto::Mock,
        CryptoArg::Real => Crypto::Real,
    };
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
    let (report, cpu) = run_timed(cfg);
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
    print_figures(&report, n, committed);
    print_verification(&report, args.crypto, cpu);
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

/// Finality, traffic per height per node, certificate size, and the process's
/// peak resident memory.
fn print_figures(report: &SimReport, n: usize, committed: usize) {
    let s = &report.stats;
    let ms = |q: f64| {
        s.finality_quantile(q)
            .map_or_else(|| "-".to_string(), |v| format!("{v} ms"))
    };
    println!("  finality: p50 {}, p99 {}", ms(0.5), ms(0.99));
    let per = (committed.max(1) * n.max(1)) as f64;
    println!(
        "  traffic: {:.1} messages and {:.1} KiB sent per height per node",
        s.messages as f64 / per,
        s.bytes as f64 / per / 1024.0
    );
    let mean = if s.certificate_bytes.is_empty() {
        0.0
    } else {
        s.certificate_bytes.iter().sum::<usize>() as f64 / s.certificate_bytes.len() as f64
    };
    let sizes: Vec<u64> = s.certificate_bytes.iter().map(|&b| b as u64).collect();
    println!(
        "  certificate: mean {mean:.0} bytes, max {} bytes",
        quantile(&sizes, 1.0).unwrap_or(0)
    );
    if let Some(kib) = peak_rss_kib() {
        println!(
            "  memory: peak RSS {:.1} MiB for the process, {:.2} MiB per node",
            kib as f64 / 1024.0,
            kib as f64 / 1024.0 / n.max(1) as f64
        );
    }
}

/// Runs the simulation with the cryptography `cfg.crypto` names; also returns
/// the CPU seconds of the run itself, after the nodes' keys were made (real
/// forward-secure keys take a while to generate and are not part of the
/// verification rate).
fn run_timed(cfg: SimConfig) -> (SimReport, Option<f64>) {
    fn timed<C: spec::cluster::ClusterSuite>(sim: Sim<C>) -> (SimReport, Option<f64>) {
        let before = cpu_seconds();
        let report = sim.run();
        let cpu = cpu_seconds()
            .zip(before)
            .map(|(after, before)| after - before);
        (report, cpu)
    }
    match cfg.crypto {
        Crypto::Mock => timed(Sim::<MockSuite>::with_suite(cfg)),
        Crypto::Real => timed(Sim::<RealSuite>::with_suite(cfg)),
    }
}

/// Votes verified, and with real cryptography the rate per CPU second: the
/// simulator runs on one thread, so it is the rate of one core (key
/// generation is left out, but signing, the state machines, the network and
/// the invariant checks share that CPU time, so the rate is a lower bound on
/// verification alone).
fn print_verification(report: &SimReport, crypto: CryptoArg, cpu: Option<f64>) {
    let verified = report.stats.votes_verified;
    match (crypto, cpu) {
        (CryptoArg::Real, Some(secs)) if secs > 0.0 => println!(
            "  verification: {verified} votes verified in {secs:.2} CPU s: {:.0} votes per second per core",
            verified as f64 / secs
        ),
        (CryptoArg::Real, _) => {
            println!("  verification: {verified} votes verified (CPU time unavailable)");
        }
        (CryptoArg::Mock, _) => {
            println!("  verification: {verified} votes verified (mock cryptography)");
        }
    }
}

/// The process's CPU time (user + system) in seconds, from /proc/self/stat
/// ([`cpu_ticks`]), in clock ticks of 1/100 s (`USER_HZ`, 100 on every Linux
/// architecture's user ABI). Linux only.
fn cpu_seconds() -> Option<f64> {
    const USER_HZ: f64 = 100.0;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let ticks = cpu_ticks(&stat)?;
    Some(ticks as f64 / USER_HZ)
}

/// `utime` + `stime` (fields 14 and 15 of proc(5)'s `/proc/[pid]/stat`), in
/// clock ticks. The command name (field 2) is parenthesised and may contain
/// spaces and parentheses: fields are counted after its last `)`, from field 3.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

/// The process's peak resident set (`VmHWM` of /proc/self/status), Linux only.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_reads_utime_and_stime_after_the_command_name() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt
        // majflt cmajflt utime stime ...
        let stat = "4242 (a b) c)) R 1 4242 4242 0 -1 4194304 100 0 0 0 250 17 0 0 20 0 1";
        assert_eq!(cpu_ticks(stat), Some(267));
        assert_eq!(cpu_ticks("4242 (kalgo) R 1 2"), None);
        assert_eq!(cpu_ticks("no parenthesis"), None);
    }

    #[test]
    fn cpu_seconds_grow_with_work() {
        let Some(before) = cpu_seconds() else {
            return; // not Linux: nothing to read
        };
        // Busy until a clock tick of CPU time is charged (10 s of wall time
        // at most, however loaded the machine).
        let mut x = 0u64;
        let mut after = before;
        let started = Instant::now();
        while after <= before && started.elapsed().as_secs() < 10 {
            for _ in 0..100_000 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
            after = cpu_seconds().unwrap_or(before);
        }
        assert!(after > before, "10 s of busy work took no CPU time");
    }
}
