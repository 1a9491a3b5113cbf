//! Black box, longer (`--ignored`): sixteen real validators on 127.0.0.1 (2λ =
//! 1000 ms), in each committee mode, commit 100 heights with the same hash on
//! every node. Each run prints, per node, CPU seconds and TCP bytes (sent and
//! received, on its open connections, from `ss`) per height.
//!
//! `cargo build -p node && cargo test -p tests --test scale -- --ignored --nocapture --test-threads=1`

use std::time::{Duration, Instant};

use tests::cluster::{Network, Node, assert_same_chain, free_port};

const VALIDATORS: u32 = 16;
const HEIGHTS: u64 = 100;
const TWO_LAMBDA_MS: u64 = 1000;

/// CPU seconds (user + system) the process has used, from `/proc/<pid>/stat`.
fn cpu_secs(node: &Node) -> f64 {
    let pid = node.pid().expect("running");
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15: 11 and 12 after the state field.
    (ticks(11) + ticks(12)) / 100.0
}

/// TCP bytes (sent, received) on every open connection of each pid, from `ss`.
fn tcp_bytes(pids: &[u32]) -> Vec<(u64, u64)> {
    let mut out = vec![(0, 0); pids.len()];
    let Ok(o) = std::process::Command::new("ss").args(["-tinpH"]).output() else {
        return out;
    };
    let text = String::from_utf8_lossy(&o.stdout);
    let mut owner: Option<usize> = None;
    for line in text.lines() {
        if line.contains("users:(") {
            owner = pids
                .iter()
                .position(|p| line.contains(&format!("pid={p},")));
            continue;
        }
        let Some(i) = owner.take() else { continue };
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        out[i].0 += field("bytes_sent:");
        out[i].1 += field("bytes_received:");
    }
    out
}

fn sixteen_validators_commit_one_chain(committee: &str) {
    let net = Network::with_committee(VALIDATORS, TWO_LAMBDA_MS, committee);
    let mut first = net.start_validator(0, free_port(), &[]);
    let boot = first.listen_addr(Duration::from_secs(60));
    let mut nodes = vec![first];
    for i in 1..VALIDATORS as usize {
        nodes.push(net.start_validator(i, free_port(), std::slice::from_ref(&boot)));
    }
    let start_height = 5;
    for n in nodes.iter_mut() {
        n.wait_height(start_height, Duration::from_secs(300));
    }
    let pids: Vec<u32> = nodes.iter().filter_map(Node::pid).collect();
    let cpu0: Vec<f64> = nodes.iter().map(cpu_secs).collect();
    let net0 = tcp_bytes(&pids);
    let h0 = nodes[0].height();
    let t = Instant::now();
    let goal = h0 + HEIGHTS;
    for n in nodes.iter_mut() {
        n.wait_height(goal, Duration::from_secs(HEIGHTS * 10));
    }
    let secs = t.elapsed().as_secs_f64();
    let span = (nodes.iter().map(Node::height).min().unwrap_or(goal) - h0) as f64;
    let cpu: Vec<f64> = nodes
        .iter()
        .zip(&cpu0)
        .map(|(n, c)| (cpu_secs(n) - c) / span)
        .collect();
    let bytes: Vec<(f64, f64)> = tcp_bytes(&pids)
        .iter()
        .zip(&net0)
        .map(|(a, b)| {
            (
                a.0.saturating_sub(b.0) as f64 / span,
                a.1.saturating_sub(b.1) as f64 / span,
            )
        })
        .collect();
    let compared = assert_same_chain(&nodes.iter().collect::<Vec<_>>());
    assert!(
        compared as u64 >= goal,
        "only {compared} heights compared across the {VALIDATORS} nodes"
    );
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    let sent: Vec<f64> = bytes.iter().map(|b| b.0).collect();
    let recv: Vec<f64> = bytes.iter().map(|b| b.1).collect();
    eprintln!(
        "{committee}: {VALIDATORS} validators committed heights {h0}..{goal} in {secs:.1} s ({:.2} s/height); per node per height: CPU {:.3} s mean, {:.3} s max; TCP sent {:.1} KiB mean, {:.1} KiB max; received {:.1} KiB mean, {:.1} KiB max",
        secs / HEIGHTS as f64,
        mean(&cpu),
        max(&cpu),
        mean(&sent) / 1024.0,
        max(&sent) / 1024.0,
        mean(&recv) / 1024.0,
        max(&recv) / 1024.0,
    );
}

#[test]
#[ignore = "sixteen validators for 100 heights: minutes"]
fn sixteen_validators_fixed_committee() {
    sixteen_validators_commit_one_chain("fixed");
}

#[test]
#[ignore = "sixteen validators for 100 heights: minutes"]
fn sixteen_validators_sortition() {
    sixteen_validators_commit_one_chain("sortition");
}
