//! The console's blocking JSON-RPC client: IPC (`ipc:PATH` or a socket path; one
//! JSON answer per line, notifications skipped), HTTP (`http://host:port/path`,
//! through `ureq`) or WebSocket (`ws://host:port/path`, one connection through
//! `tungstenite`; subscription notifications skipped). Answers are bounded in size.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};

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
        agent: ureq::Agent,
        url: String,
    },
    Ws(Box<WebSocket<TcpStream>>),
}

/// `host[:port]` of the rest of a URL after its scheme.
fn host_of<'a>(endpoint: &str, rest: &'a str) -> Result<&'a str, ClientError> {
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() {
        return Err(ClientError::Endpoint(endpoint.into()));
    }
    Ok(host)
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
            host_of(endpoint, rest)?;
            let agent = ureq::Agent::config_builder()
                .timeout_global(Some(CALL_TIMEOUT))
                .http_status_as_error(false)
                .build()
                .into();
            Transport::Http {
                agent,
                url: endpoint.to_string(),
            }
        } else if let Some(rest) = endpoint.strip_prefix("ws://") {
            let stream = tcp_connect(host_of(endpoint, rest)?)?;
            let config = WebSocketConfig::default()
                .max_message_size(Some(MAX_ANSWER as usize))
                .max_frame_size(Some(MAX_ANSWER as usize));
            let (socket, _) =
                tungstenite::client::client_with_config(endpoint, stream, Some(config)).map_err(
                    |e| ClientError::Io(format!("WebSocket handshake with {endpoint}: {e}")),
                )?;
            Transport::Ws(Box::new(socket))
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
            Transport::Http { agent, url } => http_call(agent, url, &req.to_string())?,
            Transport::Ws(socket) => {
                socket.send(Message::text(req.to_string())).map_err(io)?;
                loop {
                    let text = match socket.read().map_err(io)? {
                        Message::Text(t) => t,
                        Message::Close(_) => {
                            return Err(ClientError::Io(
                                "the node closed the WebSocket connection".into(),
                            ));
                        }
                        // Pings are answered by tungstenite on the next read or write.
                        _ => continue,
                    };
                    let v: Value = serde_json::from_str(text.as_str()).map_err(io)?;
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

fn http_call(agent: &ureq::Agent, url: &str, body: &str) -> Result<Value, ClientError> {
    let mut answer = agent
        .post(url)
        .header("Content-Type", "application/json")
        .send(body)
        .map_err(|e| ClientError::Io(format!("{url}: {e}")))?;
    let status = answer.status();
    let text = answer
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER)
        .read_to_string()
        .map_err(io)?;
    serde_json::from_str(&text)
        .map_err(|_| ClientError::Io(format!("HTTP {status}: {}", text.trim())))
}
