//! A small JSON-RPC 2.0 client over HTTP/1.1 keep-alive connections (hyper), with
//! batches — what the load generator needs to drive any Ethereum endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};

/// Largest response body read (a block with thousands of transactions fits).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint is a URL, but not an `http://` one with a host.
    #[error("bad endpoint {0:?}: expected http://HOST:PORT")]
    Url(String),
    /// The endpoint is not a URL at all.
    #[error("bad endpoint {url:?}: expected http://HOST:PORT")]
    UrlSyntax {
        /// The endpoint as given.
        url: String,
        /// Why it does not parse.
        source: hyper::http::uri::InvalidUri,
    },
    /// The request could not be built (a bug: the URI and header are checked).
    #[error("http: {0}")]
    Request(#[from] hyper::http::Error),
    /// Connecting or sending failed: the endpoint is down, refuses connections
    /// or closed the connection.
    #[error("http: {0}")]
    Http(#[from] hyper_util::client::legacy::Error),
    /// Reading the answer failed: the connection broke, or the body is over
    /// the 64 MiB read limit.
    #[error("http: {0}")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The server answered with a non-200 status.
    #[error("http status {0}")]
    Status(u16),
    /// The body is not the JSON-RPC answer expected.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// A JSON-RPC error object.
    #[error("rpc error {code}: {message}")]
    Rpc {
        /// Error code.
        code: i64,
        /// Message.
        message: String,
    },
}

/// A JSON-RPC endpoint.
pub struct RpcClient {
    http: Client<HttpConnector, Full<Bytes>>,
    uri: hyper::Uri,
    next_id: AtomicU64,
}

impl RpcClient {
    /// A client for `url` (`http://host:port[/path]`).
    pub fn new(url: &str) -> Result<Self, ClientError> {
        let uri: hyper::Uri = url.parse().map_err(|source| ClientError::UrlSyntax {
            url: url.into(),
            source,
        })?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(ClientError::Url(url.into()));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let http = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(64)
            .build(connector);
        Ok(Self {
            http,
            uri,
            next_id: AtomicU64::new(1),
        })
    }

    async fn post(&self, body: Vec<u8>) -> Result<Value, ClientError> {
        let req = hyper::Request::post(self.uri.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))?;
        let resp = self.http.request(req).await?;
        if resp.status() != hyper::StatusCode::OK {
            return Err(ClientError::Status(resp.status().as_u16()));
        }
        let bytes = Limited::new(resp.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
            .map_err(ClientError::Body)?
            .to_bytes();
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Malformed(e.to_string()))
    }

    /// One call; its `result`, or its error.
    pub async fn call(&self, method: &str, params: Value) -> Result<Value, ClientError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let answer = self.post(body.to_string().into_bytes()).await?;
        result_of(&answer)
    }

    /// A batch of calls; one result per call, in call order.
    pub async fn batch(
        &self,
        calls: &[(&str, Value)],
    ) -> Result<Vec<Result<Value, ClientError>>, ClientError> {
        if calls.is_empty() {
            return Ok(Vec::new());
        }
        let first = self
            .next_id
            .fetch_add(calls.len() as u64, Ordering::Relaxed);
        let body: Vec<Value> = calls
            .iter()
            .enumerate()
            .map(|(i, (m, p))| {
                json!({"jsonrpc": "2.0", "id": first + i as u64, "method": m, "params": p})
            })
            .collect();
        let answer = self
            .post(Value::Array(body).to_string().into_bytes())
            .await?;
        let Value::Array(items) = answer else {
            // A whole-batch error (for example a batch over the server's limit).
            return Err(result_of(&answer).err().unwrap_or_else(|| {
                ClientError::Malformed("batch answered with a single result".into())
            }));
        };
        let mut out: Vec<Option<Result<Value, ClientError>>> =
            (0..calls.len()).map(|_| None).collect();
        for item in &items {
            let slot = item
                .get("id")
                .and_then(Value::as_u64)
                .and_then(|id| id.checked_sub(first))
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| out.get_mut(i));
            if let Some(slot) = slot {
                *slot = Some(result_of(item));
            }
        }
        Ok(out
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(ClientError::Malformed("missing answer".into()))))
            .collect())
    }
}

/// The `result` of one JSON-RPC answer object, or its error.
fn result_of(answer: &Value) -> Result<Value, ClientError> {
    if let Some(err) = answer.get("error") {
        return Err(ClientError::Rpc {
            code: err.get("code").and_then(Value::as_i64).unwrap_or(0),
            message: err
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
        });
    }
    answer
        .get("result")
        .cloned()
        .ok_or_else(|| ClientError::Malformed("neither result nor error".into()))
}

/// Parses a `0x` hex quantity.
pub fn quantity(v: &Value) -> Result<u128, ClientError> {
    let s = v
        .as_str()
        .ok_or_else(|| ClientError::Malformed(format!("expected a hex quantity, got {v}")))?;
    let digits = s
        .strip_prefix("0x")
        .ok_or_else(|| ClientError::Malformed(format!("expected 0x…, got {s}")))?;
    u128::from_str_radix(digits, 16)
        .map_err(|_| ClientError::Malformed(format!("bad quantity {s}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_quantities() {
        assert_eq!(
            result_of(&json!({"jsonrpc":"2.0","id":1,"result":"0x10"})).ok(),
            Some(json!("0x10"))
        );
        assert!(matches!(
            result_of(
                &json!({"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"nonce too low"}})
            ),
            Err(ClientError::Rpc { code: -32000, .. })
        ));
        assert!(matches!(
            result_of(&json!({"id":1})),
            Err(ClientError::Malformed(_))
        ));
        assert_eq!(quantity(&json!("0x1f")).ok(), Some(31));
        assert!(quantity(&json!("1f")).is_err());
        assert!(quantity(&json!(31)).is_err());
        assert!(RpcClient::new("ws://x").is_err());
        assert!(RpcClient::new("not a url").is_err());
        assert!(matches!(
            RpcClient::new("ws://x"),
            Err(ClientError::Url(u)) if u == "ws://x"
        ));
        assert!(matches!(
            RpcClient::new("not a url"),
            Err(ClientError::UrlSyntax { .. })
        ));
    }
}
