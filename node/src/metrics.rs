//! `--metrics`: the actors' [`Metrics`] in the Prometheus text format at
//! `GET /metrics` (default `http://127.0.0.1:6060/metrics`).
//!
//! A minimal HTTP/1.1 server on a tokio listener: it reads one request head
//! (at most [`MAX_HEAD`] bytes, [`READ_TIMEOUT`]), answers `GET /metrics` (or
//! `HEAD`) with `200` and the text, anything else with `404`/`405`, and closes
//! the connection. No keep-alive, no body is read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use actors::metrics::Metrics;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Largest request head read.
pub const MAX_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Prometheus' text exposition content type.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What the endpoint renders: the actors' metrics and the peer count the
/// network keeps.
#[derive(Clone)]
pub struct Source {
    /// Shared with the actors.
    pub metrics: Arc<Metrics>,
    /// Connected peers (the network's counter).
    pub peers: Arc<AtomicU64>,
}

impl Source {
    /// The Prometheus text exposition, with the peer count refreshed first: the
    /// actors' metrics, then the process's own.
    pub fn render(&self) -> String {
        Metrics::set(&self.metrics.peers, self.peers.load(Ordering::Relaxed));
        let mut text = self.metrics.render();
        text.push_str(&process::render());
        text
    }
}

/// The standard `process_*` metrics of Prometheus' client libraries that a
/// dashboard needs: resident memory (Linux only: read from `/proc/self/status`,
/// absent elsewhere) and the start time (Linux: from `/proc`; elsewhere the
/// time this module was first used, at the metrics server's start).
pub mod process {
    use std::sync::LazyLock;
    use std::time::{SystemTime, UNIX_EPOCH};

    /// Unix seconds when first asked ([`start`] asks at once).
    static FIRST_SEEN: LazyLock<f64> = LazyLock::new(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    });

    /// Resident set size in bytes: `VmRSS` of `/proc/self/status`.
    pub fn resident_memory_bytes() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        vm_rss_bytes(&status)
    }

    /// `VmRSS:   1234 kB` as bytes.
    pub fn vm_rss_bytes(status: &str) -> Option<u64> {
        let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
        let mut parts = line.split_whitespace();
        let kb: u64 = parts.next()?.parse().ok()?;
        (parts.next()? == "kB").then_some(kb * 1024)
    }

    /// The process start in Unix seconds: the boot time (`btime` of
    /// `/proc/stat`) plus the start in clock ticks since boot (field 22 of
    /// `/proc/self/stat`) at Linux's fixed 100 ticks (`USER_HZ`) a second.
    pub fn start_time_seconds() -> f64 {
        let from_proc = || {
            let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
            let boot = std::fs::read_to_string("/proc/stat").ok()?;
            start_from_proc(&stat, &boot)
        };
        from_proc().unwrap_or(*FIRST_SEEN)
    }

    /// See [`start_time_seconds`]; the command name in parentheses may hold spaces.
    pub fn start_from_proc(stat: &str, boot: &str) -> Option<f64> {
        const USER_HZ: f64 = 100.0;
        // Fields after the `(comm)` one start at field 3 (state).
        let ticks: u64 = stat
            .rsplit_once(')')?
            .1
            .split_whitespace()
            .nth(22 - 3)?
            .parse()
            .ok()?;
        let btime: u64 = boot
            .lines()
            .find_map(|l| l.strip_prefix("btime "))?
            .trim()
            .parse()
            .ok()?;
        Some(btime as f64 + ticks as f64 / USER_HZ)
    }

    /// CPU seconds (user + system) process `pid` has used, from
    /// `/proc/<pid>/stat` (Linux only; `None` elsewhere or if there is no such
    /// process).
    pub fn cpu_seconds_of(pid: u32) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        cpu_seconds_from_stat(&stat)
    }

    /// `utime + stime` (fields 14 and 15 of a `/proc/<pid>/stat` line) in
    /// seconds at Linux's fixed 100 ticks (`USER_HZ`) a second.
    pub fn cpu_seconds_from_stat(stat: &str) -> Option<f64> {
        const USER_HZ: f64 = 100.0;
        let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
        // Fields after the `(comm)` one start at field 3 (state): 14 is the 12th.
        let utime: u64 = fields.nth(14 - 3)?.parse().ok()?;
        let stime: u64 = fields.next()?.parse().ok()?;
        Some((utime + stime) as f64 / USER_HZ)
    }

    /// Marks the start for systems without `/proc`.
    pub fn mark_start() {
        LazyLock::force(&FIRST_SEEN);
    }

    /// The exposition text of the process metrics.
    pub fn render() -> String {
        let mut out = String::new();
        if let Some(rss) = resident_memory_bytes() {
            out.push_str(&format!(
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
                 # TYPE process_resident_memory_bytes gauge\n\
                 process_resident_memory_bytes {rss}\n"
            ));
        }
        if let Some(cpu) = cpu_seconds_of(std::process::id()) {
            out.push_str(&format!(
                "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n\
                 # TYPE process_cpu_seconds_total counter\n\
                 process_cpu_seconds_total {cpu:.2}\n"
            ));
        }
        out.push_str(&format!(
            "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n\
             # TYPE process_start_time_seconds gauge\n\
             process_start_time_seconds {:.2}\n",
            start_time_seconds()
        ));
        out
    }
}

/// Binds `addr` and serves until the runtime stops; returns the bound address.
pub async fn start(addr: SocketAddr, source: Source) -> std::io::Result<SocketAddr> {
    process::mark_start();
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => {
                    let source = source.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve(stream, &source).await {
                            tracing::debug!(error = %e, "metrics connection");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    });
    Ok(bound)
}

/// The request line's method and path, once the head is complete; `None` while
/// incomplete.
fn request_line(head: &[u8]) -> Option<(&str, &str)> {
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let text = std::str::from_utf8(&head[..end]).ok()?;
    let mut parts = text.lines().next()?.split(' ');
    Some((parts.next()?, parts.next()?))
}

async fn serve(mut stream: TcpStream, source: &Source) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    let read = async {
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok::<bool, std::io::Error>(false);
            }
            head.extend_from_slice(&buf[..n]);
            if head.windows(4).any(|w| w == b"\r\n\r\n") {
                return Ok(true);
            }
            if head.len() > MAX_HEAD {
                return Ok(false);
            }
        }
    };
    let complete = tokio::time::timeout(READ_TIMEOUT, read)
        .await
        .unwrap_or(Ok(false))?;
    let (status, body, head_only) = match complete.then(|| request_line(&head)).flatten() {
        None => ("400 Bad Request", String::from("bad request\n"), false),
        Some((method, path)) => {
            let path = path.split('?').next().unwrap_or(path);
            match (method, path) {
                ("GET", "/metrics") => ("200 OK", source.render(), false),
                ("HEAD", "/metrics") => ("200 OK", source.render(), true),
                (_, "/metrics") => ("405 Method Not Allowed", "GET only\n".into(), false),
                _ => ("404 Not Found", "see /metrics\n".into(), false),
            }
        }
    };
    let mut response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if !head_only {
        response.push_str(&body);
    }
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::process::{cpu_seconds_from_stat, start_from_proc, vm_rss_bytes};
    use super::request_line;

    #[test]
    fn process_metrics_parse_proc_files() {
        let status = "Name:\tkalgo\nVmPeak:\t  9000 kB\nVmRSS:\t  1234 kB\nThreads:\t8\n";
        assert_eq!(vm_rss_bytes(status), Some(1234 * 1024));
        assert_eq!(vm_rss_bytes("Name:\tkalgo\n"), None);
        // A command name with a space and a parenthesis; starttime (field 22) = 4250.
        let stat = "42 (kal go)) S 1 42 42 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 8 0 4250 1000 200";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 9\n";
        assert_eq!(start_from_proc(stat, boot), Some(1_700_000_042.5));
        assert_eq!(start_from_proc(stat, "cpu 1\n"), None);
        // utime (field 14) = 5 ticks, stime (field 15) = 3 ticks.
        assert_eq!(cpu_seconds_from_stat(stat), Some(0.08));
        assert_eq!(cpu_seconds_from_stat("42 (kalgo) S 1 42"), None);
    }

    #[test]
    fn request_line_needs_a_complete_head() {
        assert_eq!(
            request_line(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(("GET", "/metrics"))
        );
        assert_eq!(request_line(b"GET /metrics HTTP/1.1\r\nHost: x\r\n"), None);
        assert_eq!(request_line(b"\xff\xfe\r\n\r\n"), None);
    }
}
