//! Operational counters and gauges shared by the actors (one [`Metrics`] behind
//! an `Arc`): plain atomics, written where the event happens and read by the
//! node's `/metrics` endpoint, which renders them in the Prometheus text format.
//! Nothing here decides anything; a reader sees each value as last stored.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use spec::codec::WireMessage;
use spec::driver::wire::Topic;
use spec::types::{Step, StepKind};

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
    /// Counter: gossip messages dropped unread because their sender went past
    /// its rate on the topic (`gossip::rate::GossipRates`).
    pub gossip_rate_limited: AtomicU64,
    /// Gauge: transactions in the pool (pending and queued).
    pub pool_size: AtomicU64,
    /// Counter: copies of the pool's content made (`txpool_content` and
    /// `txpool_inspect` share one per pool change).
    pub pool_copies: AtomicU64,
    /// Counter: senders recovered for transactions from the network (the
    /// costly step of admitting one: known transactions skip it).
    pub txs_recovered: AtomicU64,
    /// Gauge: microseconds the last block build or validation (execution) took.
    pub block_exec_us: AtomicU64,
    /// Gauge: microseconds the last block commit (store write) took.
    pub block_commit_us: AtomicU64,
    /// Counter: equivocations seen (a voter's second, different vote for one
    /// height, round and step: `Output::Evidence`).
    pub equivocations: AtomicU64,
    /// Counter by step: proposals and votes received from the network.
    pub votes_received_by_step: ByStep,
    /// Counter by step: proposals and votes this node signed and published.
    pub votes_sent_by_step: ByStep,
    /// Histogram: seconds from the start of a height at this node (the previous
    /// commit, or the consensus start) to its certified block's commit.
    pub finality: Histogram,
    /// Gauge: microseconds the last height took to finality (see `finality`).
    pub finality_last_us: AtomicU64,
    /// Gauge: microseconds round 1's proposal step waits (the filter timer):
    /// 2λ, or the dynamic filter timeout's estimate.
    pub filter_timeout_us: AtomicU64,
    /// Gauge: registered miners suspended for equivocation at the height in
    /// progress.
    pub suspended_miners: AtomicU64,
    /// Gauge: registered miners marked absent (`spec::absence`) and out of
    /// the committee of the height in progress.
    pub absent_miners: AtomicU64,
    /// Counter: heartbeats this node sent for its miner (`--miner.heartbeat`).
    pub heartbeats: AtomicU64,
    /// Counter: equivocation proofs this node handed to its reporter
    /// (`--miner.reportequivocation`).
    pub equivocation_proofs: AtomicU64,
    /// Counter: `reportEquivocation` transactions this node submitted.
    pub equivocation_reports: AtomicU64,
}

/// A counter per consensus step kind, exposed with a `step` label
/// (`proposal`, `soft`, `cert`, `next`).
#[derive(Debug, Default)]
pub struct ByStep([AtomicU64; 4]);

impl ByStep {
    /// The `step` label values, in the order of [`Self::values`].
    pub const LABELS: [&'static str; 4] = ["proposal", "soft", "cert", "next"];

    /// Counts one message of `step`.
    pub fn add(&self, step: Step) {
        let i = match step.kind() {
            StepKind::Proposal => 0,
            StepKind::Soft => 1,
            StepKind::Cert => 2,
            StepKind::Next => 3,
        };
        self.0[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a consensus message by its step when it is a proposal or a vote;
    /// blocks, certificates, status messages and bytes that do not decode are
    /// not counted.
    pub fn add_wire(&self, topic: Topic, bytes: &[u8]) {
        if topic == Topic::Blocks {
            return;
        }
        match WireMessage::decode(bytes) {
            Ok(WireMessage::Vote(v)) => self.add(v.step),
            Ok(WireMessage::Proposal(_)) => self.add(Step::PROPOSAL),
            _ => {}
        }
    }

    /// The counts, in the order of [`Self::LABELS`].
    pub fn values(&self) -> [u64; 4] {
        std::array::from_fn(|i| self.0[i].load(Ordering::Relaxed))
    }
}

/// Upper bounds (microseconds) of [`Histogram`]'s buckets: 50 ms to 2 min, for
/// durations of a height.
pub const LATENCY_BUCKETS_US: [u64; 15] = [
    50_000,
    100_000,
    250_000,
    500_000,
    750_000,
    1_000_000,
    1_500_000,
    2_000_000,
    3_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    30_000_000,
    60_000_000,
    120_000_000,
];

/// A Prometheus histogram of durations over [`LATENCY_BUCKETS_US`] (and `+Inf`).
#[derive(Debug, Default)]
pub struct Histogram {
    /// Observations per bucket (not cumulative); the last is `+Inf` only.
    counts: [AtomicU64; LATENCY_BUCKETS_US.len() + 1],
    /// Sum of the observations in microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    /// Records one duration.
    pub fn observe(&self, d: Duration) {
        let us = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let i = LATENCY_BUCKETS_US.partition_point(|&le| le < us);
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us.fetch_add(us, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// `_bucket` (cumulative, with `le`), `_sum` and `_count` lines of `name`.
    fn render(&self, name: &str, out: &mut String) {
        let mut total = 0;
        for (i, c) in self.counts.iter().enumerate() {
            total += c.load(Ordering::Relaxed);
            let le = LATENCY_BUCKETS_US
                .get(i)
                .map_or_else(|| "+Inf".to_string(), |&us| (us as f64 / 1e6).to_string());
            let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {total}");
        }
        let _ = writeln!(
            out,
            "{name}_sum {}\n{name}_count {total}",
            seconds(self.sum_us.load(Ordering::Relaxed))
        );
    }
}

/// Microseconds as seconds with six decimals.
fn seconds(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
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
        // Every `_seconds` gauge is kept in microseconds.
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
                "kalgo_p2p_gossip_rate_limited_total",
                Counter,
                "Gossip messages dropped unread: their sender went past its rate on the topic.",
                v(&self.gossip_rate_limited),
            ),
            (
                "kalgo_txpool_size",
                Gauge,
                "Transactions in the pool.",
                v(&self.pool_size),
            ),
            (
                "kalgo_txs_recovered_total",
                Counter,
                "Senders recovered for transactions from the network.",
                v(&self.txs_recovered),
            ),
            (
                "kalgo_txpool_copies_total",
                Counter,
                "Copies of the pool's content made for RPC readers.",
                v(&self.pool_copies),
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
            (
                "kalgo_finality_last_seconds",
                Gauge,
                "Time the last height took from its start at this node to the commit of its certified block.",
                v(&self.finality_last_us),
            ),
            (
                "kalgo_consensus_filter_timeout_seconds",
                Gauge,
                "How long round 1's proposal step waits for proposals (2λ, or the dynamic filter timeout).",
                v(&self.filter_timeout_us),
            ),
            (
                "kalgo_consensus_suspended_miners",
                Gauge,
                "Registered miners suspended for equivocation at the height in progress.",
                v(&self.suspended_miners),
            ),
            (
                "kalgo_consensus_absent_miners",
                Gauge,
                "Registered miners marked absent and out of the committee of the height in progress.",
                v(&self.absent_miners),
            ),
            (
                "kalgo_heartbeats_total",
                Counter,
                "Heartbeat transactions this node sent for its miner (--miner.heartbeat).",
                v(&self.heartbeats),
            ),
            (
                "kalgo_equivocation_proofs_total",
                Counter,
                "Equivocation proofs (two conflicting signed votes) handed to this node's reporter.",
                v(&self.equivocation_proofs),
            ),
            (
                "kalgo_equivocation_reports_total",
                Counter,
                "reportEquivocation transactions this node submitted.",
                v(&self.equivocation_reports),
            ),
        ]
    }

    /// Records a height's finality: seconds from its start at this node to the
    /// commit of its certified block.
    pub fn observe_finality(&self, d: Duration) {
        self.finality.observe(d);
        Self::set(
            &self.finality_last_us,
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
        );
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric; the
    /// `_seconds` values, kept in microseconds, are printed in seconds.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let head = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        };
        for (name, kind, help, value) in self.samples() {
            head(&mut out, name, kind.name(), help);
            if name.ends_with("_seconds") {
                let _ = writeln!(out, "{name} {}", seconds(value));
            } else {
                let _ = writeln!(out, "{name} {value}");
            }
        }
        for (name, help, by_step) in [
            (
                "kalgo_votes_received_by_step_total",
                "Proposals and votes received from peers, by step (proposal, soft, cert, next).",
                &self.votes_received_by_step,
            ),
            (
                "kalgo_votes_sent_total",
                "Proposals and votes this node signed and published, by step (proposal, soft, cert, next).",
                &self.votes_sent_by_step,
            ),
        ] {
            head(&mut out, name, "counter", help);
            for (step, n) in ByStep::LABELS.iter().zip(by_step.values()) {
                let _ = writeln!(out, "{name}{{step=\"{step}\"}} {n}");
            }
        }
        let name = "kalgo_finality_seconds";
        head(
            &mut out,
            name,
            "histogram",
            "Time from a height's start at this node (previous commit or consensus start) to the commit of its certified block.",
        );
        self.finality.render(name, &mut out);
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
        Metrics::set(&m.filter_timeout_us, 180_000);
        let text = m.render();
        assert!(text.contains(
            "# TYPE kalgo_consensus_filter_timeout_seconds gauge\nkalgo_consensus_filter_timeout_seconds 0.180000\n"
        ));
        assert!(text.contains("# TYPE kalgo_consensus_height gauge\nkalgo_consensus_height 7\n"));
        assert!(text.contains(
            "# TYPE kalgo_blocks_committed_total counter\nkalgo_blocks_committed_total 3\n"
        ));
        assert!(text.contains("kalgo_block_execution_seconds 1.234567\n"));
        assert_eq!(text.matches("# TYPE ").count(), m.samples().len() + 3);
    }

    #[test]
    fn counts_votes_by_step_and_renders_the_label() {
        let m = Metrics::default();
        for s in [1, 2, 2, 3, 4, 5] {
            m.votes_sent_by_step.add(Step(s));
        }
        assert_eq!(m.votes_sent_by_step.values(), [1, 2, 1, 2]);
        // Blocks and bytes that are no message are not counted.
        m.votes_received_by_step.add_wire(Topic::Blocks, &[1, 2, 3]);
        m.votes_received_by_step.add_wire(Topic::Votes, &[0xff]);
        assert_eq!(m.votes_received_by_step.values(), [0; 4]);
        let text = m.render();
        assert!(text.contains("# TYPE kalgo_votes_sent_total counter\n"));
        assert!(text.contains("kalgo_votes_sent_total{step=\"soft\"} 2\n"));
        assert!(text.contains("kalgo_votes_received_by_step_total{step=\"next\"} 0\n"));
    }

    #[test]
    fn finality_histogram_is_cumulative_with_sum_count_and_last() {
        let m = Metrics::default();
        m.observe_finality(Duration::from_millis(50));
        m.observe_finality(Duration::from_millis(700));
        m.observe_finality(Duration::from_secs(500));
        assert_eq!(m.finality.count(), 3);
        let text = m.render();
        assert!(text.contains("# TYPE kalgo_finality_seconds histogram\n"));
        // `le` is inclusive: 50 ms falls in the 0.05 bucket.
        assert!(text.contains("kalgo_finality_seconds_bucket{le=\"0.05\"} 1\n"));
        assert!(text.contains("kalgo_finality_seconds_bucket{le=\"0.5\"} 1\n"));
        assert!(text.contains("kalgo_finality_seconds_bucket{le=\"0.75\"} 2\n"));
        assert!(text.contains("kalgo_finality_seconds_bucket{le=\"1.5\"} 2\n"));
        assert!(text.contains("kalgo_finality_seconds_bucket{le=\"120\"} 2\n"));
        assert!(text.contains("kalgo_finality_seconds_bucket{le=\"+Inf\"} 3\n"));
        assert!(
            text.contains(
                "kalgo_finality_seconds_sum 500.750000\nkalgo_finality_seconds_count 3\n"
            )
        );
        assert!(text.contains("kalgo_finality_last_seconds 500.000000\n"));
    }
}
