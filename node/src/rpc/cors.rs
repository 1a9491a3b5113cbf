//! CORS for the HTTP endpoint (`--http.corsdomain`): browsers may call the node
//! from the listed origins (`*` = any). A preflight (`OPTIONS` with an `Origin`)
//! is answered here; other responses get `Access-Control-Allow-Origin` when the
//! request's origin is allowed. Without the flag no CORS header is sent, so
//! browsers refuse cross-origin calls (geth's default).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderValue, Method, StatusCode, header};
use jsonrpsee::core::BoxError;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse};
use tower::{Layer, Service};

/// Answers CORS preflights and tags responses for the origins of `--http.corsdomain`.
#[derive(Clone, Debug, Default)]
pub struct CorsLayer {
    origins: Arc<Vec<String>>,
}

impl CorsLayer {
    /// From `--http.corsdomain` (comma-separated; `*` allows any origin).
    pub fn new(origins: &[String]) -> Self {
        Self {
            origins: Arc::new(origins.iter().map(|o| o.trim().to_string()).collect()),
        }
    }

    fn allow(&self, origin: &str) -> Option<HeaderValue> {
        if self.origins.iter().any(|o| o == "*") {
            return Some(HeaderValue::from_static("*"));
        }
        self.origins
            .iter()
            .any(|o| o.eq_ignore_ascii_case(origin))
            .then(|| HeaderValue::from_str(origin).ok())
            .flatten()
    }
}

impl<S> Layer<S> for CorsLayer {
    type Service = Cors<S>;
    fn layer(&self, inner: S) -> Cors<S> {
        Cors {
            inner,
            layer: self.clone(),
        }
    }
}

/// The CORS service around the JSON-RPC service.
#[derive(Clone, Debug)]
pub struct Cors<S> {
    inner: S,
    layer: CorsLayer,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, BoxError>> + Send + 'static>>;

impl<S, B> Service<HttpRequest<B>> for Cors<S>
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
        let origin = request
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let allowed = origin.as_deref().and_then(|o| self.layer.allow(o));
        if request.method() == Method::OPTIONS && origin.is_some() {
            let mut response = HttpResponse::new(HttpBody::empty());
            match allowed {
                Some(value) => {
                    let h = response.headers_mut();
                    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
                    h.insert(
                        header::ACCESS_CONTROL_ALLOW_METHODS,
                        HeaderValue::from_static("POST, GET, OPTIONS"),
                    );
                    h.insert(
                        header::ACCESS_CONTROL_ALLOW_HEADERS,
                        HeaderValue::from_static("content-type"),
                    );
                    h.insert(
                        header::ACCESS_CONTROL_MAX_AGE,
                        HeaderValue::from_static("600"),
                    );
                    *response.status_mut() = StatusCode::NO_CONTENT;
                }
                None => *response.status_mut() = StatusCode::FORBIDDEN,
            }
            return Box::pin(async move { Ok(response) });
        }
        let fut = self.inner.call(request);
        Box::pin(async move {
            let mut response = fut.await.map_err(Into::into)?;
            if let Some(value) = allowed {
                response
                    .headers_mut()
                    .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
            }
            Ok(response)
        })
    }
}
