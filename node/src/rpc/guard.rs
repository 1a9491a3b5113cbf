//! Who may talk to the HTTP and WebSocket endpoints, as geth decides it:
//!
//! - `--http.vhosts` (geth 1.8: `--rpcvhosts`): the `Host` header of an HTTP
//!   request must name a listed host (`*` = any; default `localhost`). A host
//!   given as an IP address always passes: the check stops DNS-rebinding pages
//!   that reach the node through a name the attacker controls.
//! - `--ws.origins` (geth 1.8: `--wsorigins`): a WebSocket request that carries
//!   an `Origin` header (a browser page) must come from a listed origin (`*` =
//!   any; default `http://localhost` and `http://<this host's name>`). A rule
//!   matches on the parts it gives (scheme, host, port), so `http://localhost`
//!   allows a page at `http://localhost:3000`. Requests without `Origin`
//!   (programs, not pages) pass.
//!
//! A refused request gets `403 Forbidden` with a one-line reason and never
//! reaches the JSON-RPC service.

use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{StatusCode, header};
use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use tower::{Layer, Service};

/// geth's default `--http.vhosts`.
pub const DEFAULT_VHOSTS: &str = "localhost";

/// What one endpoint checks.
#[derive(Clone, Debug)]
enum Rule {
    /// The `Host` header's name against these (lower case; `*` = any).
    VirtualHosts(Arc<Vec<String>>),
    /// A present `Origin` header against these (lower case; `*` = any).
    Origins(Arc<Vec<String>>),
}

/// The layer in front of one endpoint.
#[derive(Clone, Debug)]
pub struct GuardLayer {
    rule: Rule,
}

fn lower(list: &[String]) -> Arc<Vec<String>> {
    Arc::new(
        list.iter()
            .map(|s| s.trim().to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

impl GuardLayer {
    /// The HTTP endpoint's `Host` check (`--http.vhosts`).
    pub fn virtual_hosts(vhosts: &[String]) -> Self {
        Self {
            rule: Rule::VirtualHosts(lower(vhosts)),
        }
    }

    /// The WebSocket endpoint's `Origin` check (`--ws.origins`); an empty list
    /// means geth's default: `http://localhost` and `http://<hostname>`.
    pub fn origins(origins: &[String]) -> Self {
        let mut list = origins.to_vec();
        if list.iter().all(|o| o.trim().is_empty()) {
            list = vec!["http://localhost".to_string()];
            if let Some(name) = hostname() {
                list.push(format!("http://{name}"));
            }
        }
        Self {
            rule: Rule::Origins(lower(&list)),
        }
    }

    /// `Err(reason)` when the request must be refused.
    fn check(&self, host: Option<&str>, origin: Option<&str>) -> Result<(), &'static str> {
        match &self.rule {
            Rule::VirtualHosts(list) => {
                let Some(host) = host else {
                    return Err("invalid host specified");
                };
                let name = host_name(host);
                if name.parse::<IpAddr>().is_ok()
                    || list
                        .iter()
                        .any(|h| h == "*" || h.eq_ignore_ascii_case(name))
                {
                    Ok(())
                } else {
                    Err("invalid host specified")
                }
            }
            Rule::Origins(list) => match origin {
                None => Ok(()),
                Some(o) if list.iter().any(|a| a == "*" || origin_allowed(a, o)) => Ok(()),
                Some(_) => Err("origin not allowed"),
            },
        }
    }
}

/// Scheme, host and port of an origin or of an allowed-origin rule
/// (`http://localhost:3000`, `localhost`, `https://app.example`); absent parts
/// are empty.
fn origin_parts(text: &str) -> (&str, &str, &str) {
    let (scheme, rest) = match text.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("", text),
    };
    let rest = rest.split('/').next().unwrap_or(rest);
    if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']').unwrap_or((v6, ""));
        return (scheme, host, after.strip_prefix(':').unwrap_or(""));
    }
    match rest.rsplit_once(':') {
        Some((host, port)) => (scheme, host, port),
        None => (scheme, rest, ""),
    }
}

/// Whether `rule` allows the browser origin `origin`, as geth decides: each part
/// the rule gives (scheme, host, port) must match; a part it leaves out matches
/// any (`http://localhost` allows `http://localhost:3000`).
fn origin_allowed(rule: &str, origin: &str) -> bool {
    let (rs, rh, rp) = origin_parts(rule);
    let (os, oh, op) = origin_parts(origin);
    let part = |r: &str, o: &str| r.is_empty() || r.eq_ignore_ascii_case(o);
    !rh.is_empty() && rh.eq_ignore_ascii_case(oh) && part(rs, os) && part(rp, op)
}

/// The name part of a `Host` header: without the port, without IPv6 brackets.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
        _ => host,
    }
}

/// This machine's host name, lower case (`/proc/sys/kernel/hostname`, else
/// `$HOSTNAME`).
fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            layer: self.clone(),
        }
    }
}

/// The checking service around the JSON-RPC service.
#[derive(Clone, Debug)]
pub struct Guard<S> {
    inner: S,
    layer: GuardLayer,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send + 'static>>;

impl<S, B> Service<HttpRequest<B>> for Guard<S>
where
    S: Service<HttpRequest<B>, Response = HttpResponse>,
    S::Error: Into<BoxError> + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = BoxFuture;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        let text = |name| {
            request
                .headers()
                .get(name)
                .and_then(|v: &http::HeaderValue| v.to_str().ok())
        };
        // HTTP/1.1 puts the host in `Host`; HTTP/2 in the URI's authority.
        let host = text(header::HOST).or_else(|| request.uri().authority().map(|a| a.as_str()));
        if let Err(reason) = self.layer.check(host, text(header::ORIGIN)) {
            let mut response = HttpResponse::new(HttpBody::from(format!("{reason}\n")));
            *response.status_mut() = StatusCode::FORBIDDEN;
            return Box::pin(async move { Ok(response) });
        }
        let fut = self.inner.call(request);
        Box::pin(async move { fut.await.map_err(Into::into) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn virtual_hosts_as_geth() {
        let g = GuardLayer::virtual_hosts(&list(&[DEFAULT_VHOSTS]));
        for ok in [
            "localhost",
            "localhost:8545",
            "LOCALHOST:1",
            "127.0.0.1:8545",
            "10.1.2.3",
            "[::1]:8545",
        ] {
            assert_eq!(g.check(Some(ok), None), Ok(()), "{ok}");
        }
        for bad in ["evil.example", "evil.example:8545", "localhost.evil:80"] {
            assert!(g.check(Some(bad), None).is_err(), "{bad}");
        }
        assert!(g.check(None, None).is_err(), "no Host header");
        let any = GuardLayer::virtual_hosts(&list(&["*"]));
        assert_eq!(any.check(Some("evil.example"), None), Ok(()));
        let named = GuardLayer::virtual_hosts(&list(&["node.internal", "rpc.example"]));
        assert_eq!(named.check(Some("RPC.example:80"), None), Ok(()));
        assert!(named.check(Some("localhost"), None).is_err());
    }

    #[test]
    fn websocket_origins_as_geth() {
        let g = GuardLayer::origins(&[]);
        assert_eq!(g.check(None, None), Ok(()), "programs send no Origin");
        assert_eq!(g.check(None, Some("http://localhost")), Ok(()));
        assert!(g.check(None, Some("https://evil.example")).is_err());
        // A rule's missing parts match any: a local page on any port passes.
        assert_eq!(g.check(None, Some("http://localhost:3000")), Ok(()));
        assert!(g.check(None, Some("https://localhost:3000")).is_err());
        assert!(
            g.check(None, Some("http://localhost.evil.example"))
                .is_err()
        );
        let listed = GuardLayer::origins(&list(&["https://app.example"]));
        assert_eq!(listed.check(None, Some("https://APP.example")), Ok(()));
        assert_eq!(listed.check(None, Some("https://app.example:8443")), Ok(()));
        assert!(listed.check(None, Some("http://app.example")).is_err());
        assert!(listed.check(None, Some("http://localhost")).is_err());
        let bare = GuardLayer::origins(&list(&["app.example:8443"]));
        assert_eq!(bare.check(None, Some("https://app.example:8443")), Ok(()));
        assert!(bare.check(None, Some("https://app.example:9000")).is_err());
        assert!(bare.check(None, Some("null")).is_err());
        let any = GuardLayer::origins(&list(&["*"]));
        assert_eq!(any.check(None, Some("https://evil.example")), Ok(()));
    }
}
