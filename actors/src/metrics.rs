//! Operational counters and gauges shared by the actors (one [`Metrics`] behind
//! an `Arc`): plain atomics, written where the event happens and read by the
//! node's `/metrics` endpoint, which renders them in the Prometheus text format.
//! Nothing here decides anything; a reader sees each value as last stored.

use std::sync::atomic::{AtomicU64, Ordering};

/// The node's metrics. Counters only grow; gauges hold the last value stored.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Gauge: the height being agreed on.
    pub height: AtomicU64,
    /// Gauge: the consensus round at that height.
    pub round: AtomicU64,
    /// Gauge: the consensus step (1 proposal, 2 soft, 3 cert, ≥ 4 next).
    pub step: AtomicU64,
    /// Gauge: the committed head's number.
    pub head: AtomicU64,
    /// Counter: blocks committed (by consensus or sync).
    pub blocks_committed: AtomicU64,
    /// Counter: consensus step timers fired.
    pub timeouts: AtomicU64,
    /// Counter: consensus messages received from the network.
    pub votes_received: AtomicU64,
    /// Counter: received consensus messages accepted (authenticated and used).
    pub votes_verified: AtomicU64,
    /// Counter: received consensus messages dropped (ignored or rejected).
    pub votes_dropped: AtomicU64,
    /// Gauge: connected peers.
    pub peers: AtomicU64,
    /// Gauge: transactions in the pool (pending and queued).
    pub pool_size: AtomicU64,
    /// Gauge: microseconds the last block build or validation (execution) took.
    pub block_exec_us: AtomicU64,
    /// Gauge: microseconds the last block commit (store write) took.
    pub block_commit_us: AtomicU64,
    /// Counter: equivocations seen (a voter's second, different vote for one
    /// height, round and step: `Output::Evidence`).
    pub equivocations: AtomicU64,
}

/// How a metric is exposed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Goes up and down.
    Gauge,
    /// Only goes up.
    Counter,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

impl Metrics {
    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// Stores a gauge.
    pub fn set(gauge: &AtomicU64, v: u64) {
        gauge.store(v, Ordering::Relaxed);
    }

    /// Every metric: name (with the `kalgo_` prefix), kind, help text and value.
    pub fn samples(&self) -> Vec<(&'static str, Kind, &'static str, u64)> {
        use Kind::{Counter, Gauge};
        let v = |a: &AtomicU64| a.load(Ordering::Relaxed);
        vec![
            (
                "kalgo_consensus_height",
                Gauge,
                "Height being agreed on.",
                v(&self.height),
            ),
            (
                "kalgo_consensus_round",
                Gauge,
                "Consensus round at the current height.",
                v(&self.round),
            ),
            (
                "kalgo_consensus_step",
                Gauge,
                "Consensus step (1 proposal, 2 soft, 3 cert, >=4 next).",
                v(&self.step),
            ),
            (
                "kalgo_chain_head",
                Gauge,
                "Number of the committed head block.",
                v(&self.head),
            ),
            (
                "kalgo_blocks_committed_total",
                Counter,
                "Blocks committed by consensus or sync.",
                v(&self.blocks_committed),
            ),
            (
                "kalgo_consensus_timeouts_total",
                Counter,
                "Consensus step timers fired.",
                v(&self.timeouts),
            ),
            (
                "kalgo_votes_received_total",
                Counter,
                "Consensus messages received from peers.",
                v(&self.votes_received),
            ),
            (
                "kalgo_votes_verified_total",
                Counter,
                "Received consensus messages accepted.",
                v(&self.votes_verified),
            ),
            (
                "kalgo_votes_dropped_total",
                Counter,
                "Received consensus messages ignored or rejected.",
                v(&self.votes_dropped),
            ),
            ("kalgo_p2p_peers", Gauge, "Connected peers.", v(&self.peers)),
            (
                "kalgo_txpool_size",
                Gauge,
                "Transactions in the pool.",
                v(&self.pool_size),
            ),
            (
                "kalgo_block_execution_seconds",
                Gauge,
                "Duration of the last block build or validation.",
                v(&self.block_exec_us),
            ),
            (
                "kalgo_block_commit_seconds",
                Gauge,
                "Duration of the last block commit.",
                v(&self.block_commit_us),
            ),
            (
                "kalgo_equivocations_total",
                Counter,
                "Equivocations seen: a voter's second, different vote for one height, round and step.",
                v(&self.equivocations),
            ),
        ]
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric; the
    /// `_seconds` gauges, kept in microseconds, are printed in seconds.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, kind, help, value) in self.samples() {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {}\n",
                kind.name()
            ));
            if name.ends_with("_seconds") {
                out.push_str(&format!(
                    "{name} {}.{:06}\n",
                    value / 1_000_000,
                    value % 1_000_000
                ));
            } else {
                out.push_str(&format!("{name} {value}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_metric_with_type_and_value() {
        let m = Metrics::default();
        Metrics::set(&m.height, 7);
        Metrics::add(&m.blocks_committed, 3);
        Metrics::set(&m.block_exec_us, 1_234_567);
        let text = m.render();
        assert!(text.contains("# TYPE kalgo_consensus_height gauge\nkalgo_consensus_height 7\n"));
        assert!(text.contains(
            "# TYPE kalgo_blocks_committed_total counter\nkalgo_blocks_committed_total 3\n"
        ));
        assert!(text.contains("kalgo_block_execution_seconds 1.234567\n"));
        assert_eq!(text.matches("# TYPE ").count(), m.samples().len());
    }
}
