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
    /// The Prometheus text exposition, with the peer count refreshed first.
    pub fn render(&self) -> String {
        Metrics::set(&self.metrics.peers, self.peers.load(Ordering::Relaxed));
        self.metrics.render()
    }
}

/// Binds `addr` and serves until the runtime stops; returns the bound address.
pub async fn start(addr: SocketAddr, source: Source) -> std::io::Result<SocketAddr> {
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
    use super::request_line;

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
