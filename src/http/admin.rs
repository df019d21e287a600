//! The admin port: `/metrics`, `/healthz`, `/readyz` and `/contract` (the
//! consumer contract of this deployment), within a connection cap and the
//! public port's head limits. Never exposed through the webhook ingress.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::http::health::Health;
use crate::http::listener::{accept_within, http1_builder};
use crate::http::respond::{self, Answer};
use crate::metrics::Metrics;

/// Open connections on the admin port: probes and scrapers need a handful, and
/// further connections wait in the accept backlog instead of costing memory.
const MAX_CONNECTIONS: usize = 64;
/// Time to receive a request head on the admin port, and its idle timeout.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves the admin port until the task is cancelled.
pub async fn serve(
    listener: TcpListener,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    contract: Bytes,
) {
    let connections = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let builder = Arc::new(http1_builder(HEADER_TIMEOUT));
    loop {
        let (stream, permit) = accept_within(&listener, &connections).await;
        let (metrics, health, contract) = (metrics.clone(), health.clone(), contract.clone());
        let service = service_fn(move |request: Request<Incoming>| {
            let state = State {
                metrics: &metrics,
                health: &health,
                contract: &contract,
            };
            let response = answer(request.method(), request.uri().path(), &state);
            async move { Ok::<_, Infallible>(response) }
        });
        let builder = builder.clone();
        tokio::spawn(async move {
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
            drop(permit);
        });
    }
}

/// What the admin port answers from.
struct State<'a> {
    metrics: &'a Metrics,
    health: &'a Health,
    /// The rendered contract document (cheap to clone: shared bytes).
    contract: &'a Bytes,
}

/// The admin port's answers: a plain function of the request's method and path
/// and the gateway's state, so it is tested without sockets.
fn answer(method: &Method, path: &str, state: &State) -> Answer {
    if method != Method::GET && method != Method::HEAD {
        return respond::admin_method_not_allowed();
    }
    match path {
        "/metrics" => respond::metrics(state.metrics.encode()),
        "/healthz" => respond::text(StatusCode::OK, "ok\n"),
        "/contract" => respond::contract(state.contract.clone()),
        "/readyz" if state.health.is_ready() => respond::text(StatusCode::OK, "ready\n"),
        "/readyz" => respond::text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        _ => respond::text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_port_answers_probes_metrics_and_nothing_else() {
        let (metrics, health) = (Metrics::new(), Health::default());
        let contract = Bytes::from_static(b"{\"asyncapi\":\"3.0.0\"}\n");
        let state = State {
            metrics: &metrics,
            health: &health,
            contract: &contract,
        };
        let answer = |method: Method, path: &str| answer(&method, path, &state);
        assert_eq!(answer(Method::GET, "/healthz").status(), 200);
        assert_eq!(
            answer(Method::GET, "/readyz").status(),
            503,
            "not ready before start-up"
        );
        health.mark_started();
        assert_eq!(answer(Method::HEAD, "/readyz").status(), 200);
        health.mark_shutting_down();
        assert_eq!(
            answer(Method::GET, "/readyz").status(),
            503,
            "not ready once shutting down"
        );
        let scrape = answer(Method::GET, "/metrics");
        assert_eq!(
            scrape.headers()[http::header::CONTENT_TYPE],
            "text/plain; version=0.0.4"
        );
        let document = answer(Method::GET, "/contract");
        assert_eq!(document.status(), 200);
        assert_eq!(
            document.headers()[http::header::CONTENT_TYPE],
            "application/json"
        );
        assert_eq!(answer(Method::HEAD, "/contract").status(), 200);
        assert_eq!(answer(Method::GET, "/webhooks/m2m").status(), 404);
        let post = answer(Method::POST, "/metrics");
        assert_eq!(post.status(), 405);
        assert_eq!(post.headers()[http::header::ALLOW], "GET, HEAD");
    }
}
