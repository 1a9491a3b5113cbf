//! The console's blocking JSON-RPC client: IPC (`ipc:PATH` or a socket path; one
//! JSON answer per line, notifications skipped), HTTP (`http://host:port/path`,
//! one request per connection) or WebSocket (`ws://host:port/path`, one
//! connection; subscription notifications skipped). Answers are bounded in size.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::console::ws::WsConn;

/// Largest answer read (matches the server's response limit).
const MAX_ANSWER: u64 = 64 * 1024 * 1024;
/// How long one call may take (`admin.sleepBlocks` polls, so calls are short).
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint string.
    #[error(
        "unsupported endpoint {0:?}: use ipc:PATH, a socket path, http://host:port or ws://host:port"
    )]
    Endpoint(String),
    /// Connection or transfer.
    #[error("{0}")]
    Io(String),
    /// The server answered with a JSON-RPC error.
    #[error("{message}")]
    Rpc {
        /// Code.
        code: i64,
        /// Message.
        message: String,
    },
}

fn io(e: impl std::fmt::Display) -> ClientError {
    ClientError::Io(e.to_string())
}

enum Transport {
    Ipc {
        writer: UnixStream,
        reader: BufReader<UnixStream>,
    },
    Http {
        host: String,
        path: String,
    },
    Ws(WsConn),
}

/// `host[:port]` and `/path` of the rest of a URL after its scheme.
fn host_path(endpoint: &str, rest: &str) -> Result<(String, String), ClientError> {
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host.is_empty() {
        return Err(ClientError::Endpoint(endpoint.into()));
    }
    Ok((host.to_string(), path.to_string()))
}

fn tcp_connect(host: &str) -> Result<TcpStream, ClientError> {
    let addr = host
        .to_socket_addrs()
        .map_err(|e| ClientError::Io(format!("{host}: {e}")))?
        .next()
        .ok_or_else(|| ClientError::Io(format!("{host}: no address")))?;
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|e| ClientError::Io(format!("{host}: {e}")))?;
    s.set_read_timeout(Some(CALL_TIMEOUT)).map_err(io)?;
    Ok(s)
}

/// A connection to a node.
pub struct Client {
    transport: Transport,
    next_id: u64,
}

impl Client {
    /// Connects to `endpoint`.
    pub fn connect(endpoint: &str) -> Result<Self, ClientError> {
        let transport = if let Some(rest) = endpoint.strip_prefix("http://") {
            let (host, path) = host_path(endpoint, rest)?;
            Transport::Http { host, path }
        } else if let Some(rest) = endpoint.strip_prefix("ws://") {
            let (host, path) = host_path(endpoint, rest)?;
            let stream = tcp_connect(&host)?;
            Transport::Ws(WsConn::handshake(stream, &host, &path, MAX_ANSWER).map_err(io)?)
        } else if endpoint.contains("://") {
            return Err(ClientError::Endpoint(endpoint.into()));
        } else {
            let path = PathBuf::from(endpoint.strip_prefix("ipc:").unwrap_or(endpoint));
            let s = UnixStream::connect(&path)
                .map_err(|e| ClientError::Io(format!("{}: {e}", path.display())))?;
            s.set_read_timeout(Some(CALL_TIMEOUT)).map_err(io)?;
            Transport::Ipc {
                writer: s.try_clone().map_err(io)?,
                reader: BufReader::new(s),
            }
        };
        let mut c = Self {
            transport,
            next_id: 0,
        };
        // Fail early on an unreachable HTTP endpoint.
        if matches!(c.transport, Transport::Http { .. }) {
            c.call("web3_clientVersion", &json!([]))?;
        }
        Ok(c)
    }

    /// Calls `method` with `params` (a JSON array); the `result`.
    pub fn call(&mut self, method: &str, params: &Value) -> Result<Value, ClientError> {
        self.next_id += 1;
        let id = self.next_id;
        let req = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let answer = match &mut self.transport {
            Transport::Ipc { writer, reader } => {
                writer.write_all(req.to_string().as_bytes()).map_err(io)?;
                loop {
                    let mut line = String::new();
                    let n = reader
                        .by_ref()
                        .take(MAX_ANSWER)
                        .read_line(&mut line)
                        .map_err(io)?;
                    if n == 0 {
                        return Err(ClientError::Io("the node closed the connection".into()));
                    }
                    let v: Value = serde_json::from_str(&line).map_err(io)?;
                    if v.get("id") == Some(&json!(id)) {
                        break v;
                    }
                }
            }
            Transport::Http { host, path } => http_call(host, path, &req.to_string())?,
            Transport::Ws(conn) => {
                conn.send_text(&req.to_string()).map_err(io)?;
                loop {
                    let v: Value =
                        serde_json::from_str(&conn.recv_text().map_err(io)?).map_err(io)?;
                    if v.get("id") == Some(&json!(id)) {
                        break v;
                    }
                }
            }
        };
        if let Some(e) = answer.get("error") {
            return Err(ClientError::Rpc {
                code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("error")
                    .to_string(),
            });
        }
        Ok(answer.get("result").cloned().unwrap_or(Value::Null))
    }
}

fn http_call(host: &str, path: &str, body: &str) -> Result<Value, ClientError> {
    let mut s = tcp_connect(host)?;
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).map_err(io)?;
    s.write_all(body.as_bytes()).map_err(io)?;
    let mut raw = Vec::new();
    s.take(MAX_ANSWER).read_to_end(&mut raw).map_err(io)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, rest) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| ClientError::Io("malformed HTTP answer".into()))?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    serde_json::from_str(&body)
        .map_err(|_| ClientError::Io(format!("HTTP {status}: {}", body.trim())))
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
