//! A real `kalgo --dev` process for black-box tests, and a minimal HTTP/1.1
//! JSON-RPC client over `std::net` (no client library: the tests see exactly the
//! bytes the server sends).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::cluster::{free_port, kalgo_bin};

/// The cargo target directory of the running test (`<target>`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(Path::parent)
        .and_then(Path::parent)
        .map(Path::to_path_buf)
        .expect("target dir")
}

/// A running `kalgo --dev`; killed and its data directory removed on drop.
pub struct DevNode {
    child: Child,
    /// The HTTP JSON-RPC address.
    pub http: SocketAddr,
    /// The WebSocket address, if enabled.
    pub ws: Option<SocketAddr>,
    _dir: tempfile::TempDir,
}

impl DevNode {
    /// Starts `kalgo --dev --dev.period <period_ms> --dev.fork <fork>` plus
    /// `extra` flags, on free ports, and waits until its HTTP server is up.
    pub fn start(fork: &str, period_ms: u64, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut child = Command::new(kalgo_bin())
            .arg("--datadir")
            .arg(dir.path())
            .args(["--dev", "--dev.fork", fork])
            .args(["--dev.period", &period_ms.to_string()])
            .args(["--http.port", "0", "--ws.port", "0"])
            .args(["--nodiscover", "--port", &free_port().to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kalgo");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel::<(bool, SocketAddr)>();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if std::env::var_os("KALGO_TEST_LOG").is_some() {
                    eprintln!("[kalgo] {line}");
                }
                let http = line.contains("HTTP JSON-RPC server started");
                let ws = line.contains("WebSocket JSON-RPC server started");
                if !(http || ws) {
                    continue;
                }
                let addr = line
                    .split_whitespace()
                    .find_map(|w| {
                        w.strip_prefix("url=http://")
                            .or(w.strip_prefix("url=ws://"))
                    })
                    .and_then(|a| a.parse().ok());
                if let Some(a) = addr {
                    let _ = tx.send((http, a));
                }
            }
        });
        let want_ws = extra.contains(&"--ws");
        let mut http = None;
        let mut ws = None;
        while http.is_none() || (want_ws && ws.is_none()) {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok((true, a)) => http = Some(a),
                Ok((false, a)) => ws = Some(a),
                Err(_) => {
                    let _ = child.kill();
                    panic!("kalgo --dev did not start its RPC servers within 60 s");
                }
            }
        }
        let node = Self {
            child,
            http: http.expect("http"),
            ws,
            _dir: dir,
        };
        // Wait for the first block so every test starts on a moving chain.
        for _ in 0..600 {
            if let Ok(v) = node.call("eth_blockNumber", "[]")
                && v.get("result").and_then(|r| r.as_str()) != Some("0x0")
            {
                return node;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("kalgo --dev made no block within 60 s");
    }

    /// The node's data directory.
    pub fn datadir(&self) -> &Path {
        self._dir.path()
    }

    /// `http://addr`.
    pub fn url(&self) -> String {
        format!("http://{}", self.http)
    }

    /// One JSON-RPC call over HTTP; the parsed response body.
    pub fn call(&self, method: &str, params: &str) -> std::io::Result<serde_json::Value> {
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{params}}}"#);
        let (status, text) = http_post(self.http, body.as_bytes())?;
        serde_json::from_str(&text)
            .map_err(|e| std::io::Error::other(format!("HTTP {status}, body {text:?}: {e}")))
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for DevNode {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs `body` to `addr` as `application/json`; returns the status code and body.
pub fn http_post(addr: SocketAddr, body: &[u8]) -> std::io::Result<(u16, String)> {
    let (status, _, body) = http_request(addr, "POST", &["Content-Type: application/json"], body)?;
    Ok((status, body))
}

/// One HTTP/1.1 request; returns the status code, the response head (lower-case)
/// and the body.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    headers: &[&str],
    body: &[u8],
) -> std::io::Result<(u16, String, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    s.set_write_timeout(Some(Duration::from_secs(60)))?;
    let mut head = format!("{method} / HTTP/1.1\r\nHost: {addr}\r\n");
    for h in headers {
        head += h;
        head += "\r\n";
    }
    head += &format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    // The server may answer (413) and close before reading a large body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| std::io::Error::other(format!("no HTTP response: {text:?}")))?;
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head:?}")))?;
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    Ok((status, head, body))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// One JSON-RPC call over the Unix socket at `socket`, waiting up to 60 s for
/// the socket to accept; the parsed response.
pub fn ipc_call(socket: &Path, method: &str, params: serde_json::Value) -> serde_json::Value {
    let start = Instant::now();
    let stream = loop {
        match UnixStream::connect(socket) {
            Ok(s) => break s,
            Err(_) if start.elapsed() < Duration::from_secs(60) => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("connect {}: {e}", socket.display()),
        }
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut w = stream.try_clone().expect("clone");
    let req = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    w.write_all(format!("{req}\n").as_bytes()).expect("write");
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).expect("read");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

/// `GET /metrics` from a `--metrics` endpoint: the response head and body.
pub fn scrape(addr: SocketAddr) -> (String, String) {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(s, "GET /metrics HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("write");
    let mut text = String::new();
    s.read_to_string(&mut text).expect("read");
    let (head, body) = text.split_once("\r\n\r\n").expect("head/body");
    (head.to_string(), body.to_string())
}

/// The value of the unlabelled sample `name` in a Prometheus text body.
pub fn sample(body: &str, name: &str) -> f64 {
    body.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{body}"))
}
