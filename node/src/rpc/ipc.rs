//! JSON-RPC over a Unix socket (`D/kalgo.ipc`, as Kaleido, and `D/geth.ipc`, the
//! name Kaleido users attach to; `--ipcpath` sets one path instead,
//! `--ipcdisable`), with every namespace and subscriptions, like geth's IPC.
//!
//! The stream carries JSON values back to back; each answer is written as one line
//! (`\n`-terminated), which is what ethers' `IpcSocketProvider` and web3.py's
//! `IPCProvider` read. A batch (array) is answered with an array. A request that is
//! not JSON is answered with a parse error and the connection is closed (the stream
//! cannot be resynchronised); a value that is not a request gets -32600. A pending
//! request may not exceed [`crate::rpc::MAX_REQUEST_BYTES`].

use std::path::{Path, PathBuf};

use jsonrpsee::Methods;
use serde_json::value::RawValue;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use crate::rpc::MAX_REQUEST_BYTES;

/// Buffered subscription notifications per connection.
const NOTIFICATION_BUFFER: usize = 1024;

fn error_line(id: &str, code: i32, message: &str) -> String {
    format!(r#"{{"jsonrpc":"2.0","id":{id},"error":{{"code":{code},"message":"{message}"}}}}"#)
}

/// Answers one request object, forwarding its subscription notifications (if it
/// opened one) to `notify`.
async fn answer_one(methods: &Methods, raw: &RawValue, notify: &mpsc::Sender<String>) -> String {
    match methods
        .raw_json_request(raw.get(), NOTIFICATION_BUFFER)
        .await
    {
        Ok((response, mut rx)) => {
            let notify = notify.clone();
            tokio::spawn(async move {
                while let Some(n) = rx.recv().await {
                    if notify.send(n.get().to_string()).await.is_err() {
                        break;
                    }
                }
            });
            response.get().to_string()
        }
        Err(_) => error_line("null", -32600, "Invalid request"),
    }
}

async fn answer(methods: &Methods, raw: &RawValue, notify: &mpsc::Sender<String>) -> String {
    let text = raw.get().trim_start();
    if text.starts_with('[') {
        let Ok(items) = serde_json::from_str::<Vec<&RawValue>>(text) else {
            return error_line("null", -32600, "Invalid request");
        };
        if items.is_empty() {
            return error_line("null", -32600, "Invalid request");
        }
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(answer_one(methods, item, notify).await);
        }
        format!("[{}]", out.join(","))
    } else {
        answer_one(methods, raw, notify).await
    }
}

async fn serve(stream: UnixStream, methods: Methods) {
    let (mut reader, mut writer) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<String>(NOTIFICATION_BUFFER);
    let writer_task = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if writer.write_all(line.as_bytes()).await.is_err()
                || writer.write_all(b"\n").await.is_err()
            {
                break;
            }
        }
    });
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    'conn: loop {
        // Answer every complete value in the buffer.
        loop {
            let start = buf.iter().position(|b| !b.is_ascii_whitespace());
            let Some(start) = start else {
                buf.clear();
                break;
            };
            let mut values =
                serde_json::Deserializer::from_slice(&buf[start..]).into_iter::<&RawValue>();
            match values.next() {
                Some(Ok(raw)) => {
                    let used = start + values.byte_offset();
                    let answer = answer(&methods, raw, &tx).await;
                    buf.drain(..used);
                    if tx.send(answer).await.is_err() {
                        break 'conn;
                    }
                }
                Some(Err(e)) if e.is_eof() => break,
                _ => {
                    let _ = tx.send(error_line("null", -32700, "Parse error")).await;
                    break 'conn;
                }
            }
        }
        if buf.len() > MAX_REQUEST_BYTES as usize {
            let _ = tx
                .send(error_line("null", -32007, "Request is too big"))
                .await;
            break;
        }
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    drop(tx);
    let _ = writer_task.await;
}

/// The IPC socket's name in the data directory unless `--ipcpath` says otherwise.
pub const DEFAULT_NAME: &str = "kalgo.ipc";

/// The name Kaleido users attach to (`kalgo attach ipc:D/geth.ipc`): the default
/// socket answers there too.
pub const KALEIDO_NAME: &str = "geth.ipc";

/// A running IPC endpoint; removes its socket file when stopped.
pub struct IpcServer {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl IpcServer {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Stops accepting and removes the socket file.
    pub fn stop(self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Listens on `path` (a stale socket file from a crashed node is replaced).
pub fn start(path: &Path, methods: Methods) -> std::io::Result<IpcServer> {
    if path.exists() {
        std::fs::remove_file(path)?;
    }
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let listener = UnixListener::bind(path)?;
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, methods.clone()));
        }
    });
    Ok(IpcServer {
        path: path.to_path_buf(),
        task,
    })
}
