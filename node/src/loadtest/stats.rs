//! Latency percentiles and the run report of the load generator.

use std::time::Duration;

/// The `p`-th percentile (0–100, nearest rank) of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Transactions signed.
    pub signed: u64,
    /// Accepted by the endpoint (`eth_sendRawTransaction` returned a hash).
    pub submitted: u64,
    /// Refused by the endpoint.
    pub refused: u64,
    /// Seen in a block.
    pub confirmed: u64,
    /// Time from the first submission to the end of submitting.
    pub submit_window: Duration,
    /// Time from the first submission to the last confirmation.
    pub confirm_window: Duration,
    /// Submission → seen in a block, sorted.
    pub latencies: Vec<Duration>,
    /// The first few refusal messages, with counts.
    pub refusals: Vec<(String, u64)>,
    /// CPU the watched node processes used from the start of submitting to the
    /// end of the run (`--node-pid`).
    pub node_cpu: Option<NodeCpu>,
    /// CPU seconds this load generator used over the same span.
    pub own_cpu: Option<f64>,
}

/// CPU time of the node processes a run watched.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NodeCpu {
    /// How many processes were watched.
    pub processes: usize,
    /// Their CPU seconds (user + system), summed.
    pub seconds: f64,
}

fn per_sec(n: u64, d: Duration) -> f64 {
    if d.is_zero() {
        0.0
    } else {
        n as f64 / d.as_secs_f64()
    }
}

fn ms(d: Option<Duration>) -> String {
    d.map_or_else(
        || "-".into(),
        |d| format!("{:.0} ms", d.as_secs_f64() * 1e3),
    )
}

impl Report {
    /// The human-readable summary.
    pub fn render(&self) -> String {
        let mut s = format!(
            "submitted {} ({:.0}/s), refused {}, confirmed {} ({:.0}/s), latency p50 {} p90 {} p99 {}",
            self.submitted,
            per_sec(self.submitted, self.submit_window),
            self.refused,
            self.confirmed,
            per_sec(self.confirmed, self.confirm_window),
            ms(percentile(&self.latencies, 50.0)),
            ms(percentile(&self.latencies, 90.0)),
            ms(percentile(&self.latencies, 99.0)),
        );
        if let Some(cpu) = self.node_cpu {
            let per_tx = if self.confirmed == 0 {
                "-".to_string()
            } else {
                format!("{:.0} µs", cpu.seconds * 1e6 / self.confirmed as f64)
            };
            s.push_str(&format!(
                "\nnode CPU {:.1} s over {} process(es): {per_tx} per confirmed transfer",
                cpu.seconds, cpu.processes
            ));
        }
        if let Some(own) = self.own_cpu {
            s.push_str(&format!("\nload generator CPU {own:.1} s"));
        }
        for (msg, n) in &self.refusals {
            s.push_str(&format!("\n  refused {n}×: {msg}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&v, 90.0), Some(Duration::from_millis(90)));
        assert_eq!(percentile(&v, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&v, 0.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&[], 50.0), None);
        let one = [Duration::from_millis(7)];
        assert_eq!(percentile(&one, 99.0), Some(Duration::from_millis(7)));
    }

    #[test]
    fn report_renders_rates() {
        let r = Report {
            submitted: 1000,
            confirmed: 500,
            submit_window: Duration::from_secs(2),
            confirm_window: Duration::from_secs(1),
            latencies: vec![Duration::from_millis(300)],
            ..Report::default()
        };
        let s = r.render();
        assert!(s.contains("submitted 1000 (500/s)"), "{s}");
        assert!(s.contains("confirmed 500 (500/s)"), "{s}");
        assert!(s.contains("p50 300 ms"), "{s}");
        assert!(!s.contains("node CPU"), "{s}");
    }

    #[test]
    fn report_divides_node_cpu_by_confirmed_transfers() {
        let mut r = Report {
            confirmed: 4000,
            node_cpu: Some(NodeCpu {
                processes: 2,
                seconds: 3.0,
            }),
            own_cpu: Some(1.5),
            ..Report::default()
        };
        let s = r.render();
        assert!(
            s.contains("node CPU 3.0 s over 2 process(es): 750 µs per confirmed transfer"),
            "{s}"
        );
        assert!(s.contains("load generator CPU 1.5 s"), "{s}");
        r.confirmed = 0;
        assert!(
            r.render().contains(": - per confirmed transfer"),
            "{}",
            r.render()
        );
    }
}
