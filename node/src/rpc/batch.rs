//! JSON-RPC batches whose transaction submissions run together.
//!
//! jsonrpsee answers the calls of a batch one after another, each awaited before
//! the next starts. For `eth_sendRawTransaction` that means one round trip to the
//! execution actor per transaction, so a batch of 200 submissions costs 200
//! cross-thread hand-offs and is never more than one transaction deep at the
//! pool. [`ConcurrentSubmissions`] runs each unbroken run of
//! `eth_sendRawTransaction` calls of a batch concurrently, [`IN_FLIGHT`] at a
//! time (their pool verdicts arrive together through
//! [`actors::runtime::intake`]), and every other call exactly as before, one at
//! a time and in order. Answers keep the batch's order and the response size
//! limit.
//!
//! A run is bounded by the batch size limit (`--rpc.batch-request-limit`), and a
//! submission holds only its decoded transaction, so running a run at once uses no
//! more memory than the request already did.

use std::future::Future;

use futures_util::StreamExt;

use jsonrpsee::MethodResponse;
use jsonrpsee::core::middleware::{Batch, BatchEntry, Notification, RpcServiceT};
use jsonrpsee::core::server::BatchResponseBuilder;
use jsonrpsee::types::Request;

/// The one method whose calls in a batch may run together: it is cheap apart
/// from its sender recovery and changes nothing another call of the batch reads
/// except the pool, which answers each submission in arrival order anyway.
const CONCURRENT_METHOD: &str = "eth_sendRawTransaction";

/// Submissions of one batch in flight at once. A submission recovers its sender
/// (tens of µs) when first polled, so this bounds how long one poll of a batch
/// holds a runtime thread that the rest of the node shares (about 1 ms).
const IN_FLIGHT: usize = 32;

/// The middleware (see the module documentation).
#[derive(Clone)]
pub struct ConcurrentSubmissions<S> {
    service: S,
    max_response_bytes: usize,
}

impl<S> ConcurrentSubmissions<S> {
    /// Wraps `service`; a batch answer is limited to `max_response_bytes`.
    pub fn new(service: S, max_response_bytes: usize) -> Self {
        Self {
            service,
            max_response_bytes,
        }
    }
}

/// Puts [`ConcurrentSubmissions`] around a server's RPC service.
#[derive(Clone, Copy, Debug)]
pub struct ConcurrentSubmissionsLayer {
    max_response_bytes: usize,
}

impl ConcurrentSubmissionsLayer {
    /// A batch answer is limited to `max_response_bytes`.
    pub fn new(max_response_bytes: usize) -> Self {
        Self { max_response_bytes }
    }
}

impl<S> tower::Layer<S> for ConcurrentSubmissionsLayer {
    type Service = ConcurrentSubmissions<S>;
    fn layer(&self, service: S) -> Self::Service {
        ConcurrentSubmissions::new(service, self.max_response_bytes)
    }
}

impl<S> RpcServiceT for ConcurrentSubmissions<S>
where
    S: RpcServiceT<
            MethodResponse = MethodResponse,
            BatchResponse = MethodResponse,
            NotificationResponse = MethodResponse,
        > + Send
        + Sync
        + Clone
        + 'static,
{
    type MethodResponse = MethodResponse;
    type NotificationResponse = MethodResponse;
    type BatchResponse = MethodResponse;

    fn call<'a>(&self, request: Request<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.service.call(request)
    }

    fn notification<'a>(
        &self,
        n: Notification<'a>,
    ) -> impl Future<Output = MethodResponse> + Send + 'a {
        self.service.notification(n)
    }

    fn batch<'a>(&self, batch: Batch<'a>) -> impl Future<Output = MethodResponse> + Send + 'a {
        let service = self.service.clone();
        let limit = self.max_response_bytes;
        async move {
            let mut answers = BatchResponseBuilder::new_with_limit(limit);
            let mut got_notification = false;
            let mut run: Vec<Request<'a>> = Vec::new();
            for entry in batch {
                let entry = match entry {
                    Ok(BatchEntry::Call(req)) if req.method_name() == CONCURRENT_METHOD => {
                        run.push(req);
                        continue;
                    }
                    other => other,
                };
                // Anything else ends the run: answer the run first, in order.
                if let Err(too_big) = answer_run(&service, &mut run, &mut answers).await {
                    return too_big;
                }
                let answer = match entry {
                    Ok(BatchEntry::Call(req)) => service.call(req).await,
                    Ok(BatchEntry::Notification(n)) => {
                        got_notification = true;
                        service.notification(n).await;
                        continue;
                    }
                    Err(err) => {
                        let (err, id) = err.into_parts();
                        MethodResponse::error(id, err)
                    }
                };
                if let Err(too_big) = answers.append(answer) {
                    return too_big;
                }
            }
            if let Err(too_big) = answer_run(&service, &mut run, &mut answers).await {
                return too_big;
            }
            // As jsonrpsee: a batch of notifications only gets an empty answer; an
            // empty batch is an invalid request.
            if answers.is_empty() && got_notification {
                MethodResponse::notification()
            } else {
                MethodResponse::from_batch(answers.finish())
            }
        }
    }
}

/// Runs the submissions in `run` together and appends their answers in order;
/// the error is the answer to send instead when the batch outgrew the size limit.
async fn answer_run<S>(
    service: &S,
    run: &mut Vec<Request<'_>>,
    answers: &mut BatchResponseBuilder,
) -> Result<(), MethodResponse>
where
    S: RpcServiceT<MethodResponse = MethodResponse>,
{
    if run.is_empty() {
        return Ok(());
    }
    // Made here, run below: a call's future does nothing until polled.
    let calls: Vec<_> = run.drain(..).map(|req| service.call(req)).collect();
    let mut answers_in_order = futures_util::stream::iter(calls).buffered(IN_FLIGHT);
    while let Some(answer) = answers_in_order.next().await {
        answers.append(answer)?;
    }
    Ok(())
}
