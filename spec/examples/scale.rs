//! The scale runs of `docs/benchmarks.md` without the node binary:
//! `cargo run --release -p spec --example scale -- NODES HEIGHTS fixed|sortition
//! equal|zipf LATENCY_MS JITTER_MS flood|mesh incremental|recount|both [SEED]
//! [mock|real]`.
//! It runs the same `spec::sim` configuration `kalgo simulate` builds from its
//! options and prints one line of figures.

use spec::cluster::Checking;
use spec::params::Params;
use spec::sim::{Crypto, Gossip, SimConfig, run};
use std::process::ExitCode;
use std::time::Instant;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() -> ExitCode {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| a.get(i).cloned().unwrap_or_else(|| d.to_string());
    let (Ok(n), Ok(heights), Ok(latency), Ok(jitter), Ok(seed)) = (
        arg(0, "4").parse::<usize>(),
        arg(1, "20").parse::<u64>(),
        arg(4, "50").parse::<u64>(),
        arg(5, "0").parse::<u64>(),
        arg(8, "1").parse::<u64>(),
    ) else {
        eprintln!(
            "usage: NODES HEIGHTS fixed|sortition equal|zipf LATENCY JITTER flood|mesh incremental|recount|both [SEED] [mock|real]"
        );
        return ExitCode::from(2);
    };
    let mut cfg = SimConfig::honest(n, heights, seed);
    // Flooding costs about 4·n³ deliveries per height: the event budget grows
    // with it, so only a stalled run hits it.
    let cube = (n as u64).saturating_pow(3);
    cfg.max_events = cfg
        .max_events
        .max(cfg.heights.saturating_mul(cube).saturating_mul(8));
    if arg(2, "fixed") == "sortition" {
        cfg.params = Params::new_chain(cfg.params.chain_id);
    }
    if arg(3, "equal") == "zipf" {
        cfg.weights = (0..n as u64)
            .map(|i| 1_000_000u64.div_ceil(i + 1))
            .collect();
    }
    cfg.delay_ms = (latency, latency + jitter);
    if arg(6, "mesh") == "mesh" {
        cfg.gossip = Gossip::Mesh { degree: 8 };
    }
    cfg.checking = match arg(7, "incremental").as_str() {
        "recount" => Checking::Recount,
        "both" => Checking::Both,
        _ => Checking::Incremental,
    };
    if arg(9, "mock") == "real" {
        cfg.crypto = Crypto::Real;
    }
    let t = Instant::now();
    let r = run(cfg);
    let wall = t.elapsed().as_secs_f64();
    let committed = r.min_committed(0..n);
    let s = &r.stats;
    let per = (committed.max(1) * n) as f64;
    let cert =
        s.certificate_bytes.iter().sum::<usize>() as f64 / s.certificate_bytes.len().max(1) as f64;
    println!(
        "nodes {n} heights {committed}/{heights} {} {}: wall {wall:.2} s, events {}, finality p50 {:?} p99 {:?} ms, {:.1} msgs {:.1} KiB per height per node, cert {cert:.0} B, {} votes verified, peak RSS {:.1} MiB ({:.3} MiB/node), violation {:?}",
        arg(2, "fixed"),
        arg(3, "equal"),
        r.events,
        s.finality_quantile(0.5),
        s.finality_quantile(0.99),
        s.messages as f64 / per,
        s.bytes as f64 / per / 1024.0,
        s.votes_verified,
        peak_rss_kib().unwrap_or(0) as f64 / 1024.0,
        peak_rss_kib().unwrap_or(0) as f64 / 1024.0 / n as f64,
        r.violation,
    );
    if r.violation.is_some() || (committed as u64) < heights {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
