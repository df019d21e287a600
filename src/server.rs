//! Listeners, connection limits, timeouts and graceful shutdown. Each webhook
//! is handed to [`Ingest`]; the admin port serves metrics and probes only.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Method, Request, StatusCode};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::health::Health;
use crate::ingest::Ingest;
use crate::metrics::Metrics;
use crate::providers::ProviderId;
use crate::publish::Publisher;
use crate::respond::{self, Answer};

/// Largest request head (request line and headers); beyond it hyper answers 431.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most header fields in one request; beyond it hyper answers 431.
const MAX_HEADERS: usize = 100;
/// Open connections on the admin port: probes and scrapers need a handful, and
/// further connections wait in the accept backlog instead of costing memory.
const ADMIN_MAX_CONNECTIONS: usize = 64;
/// Time to receive a request head on the admin port, and its idle timeout.
const ADMIN_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// How often topic availability is refreshed after start-up.
const METADATA_REFRESH: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create the Kafka producer: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
}

/// A started gateway: its bound addresses (port 0 in tests) and its publisher
/// (for the fatal-error test hook).
pub struct Running {
    pub public_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub publisher: Arc<Publisher>,
    done: JoinHandle<()>,
}

impl Running {
    /// Resolves once shutdown has drained connections and flushed the producer.
    pub async fn wait(self) {
        let _ = self.done.await;
    }
}

/// Starts the gateway and returns once both listeners are bound; readiness
/// follows when the broker has answered a metadata request. `shutdown`
/// resolving starts the drain.
pub async fn start<F>(config: Config, shutdown: F) -> Result<Running, StartError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let publisher = Publisher::new(&config.kafka, config.publish_timeout, metrics.clone())?;
    let supervisor = publisher.spawn_supervisor();

    let public = bind(config.listen_addr).await?;
    let admin = bind(config.admin_addr).await?;
    let public_addr = public.local_addr().map_err(|source| StartError::Bind {
        addr: config.listen_addr,
        source,
    })?;
    let admin_addr = admin.local_addr().map_err(|source| StartError::Bind {
        addr: config.admin_addr,
        source,
    })?;

    log_startup(&config, public_addr, admin_addr);
    let ingest = Arc::new(Ingest::new(&config, publisher.clone(), metrics.clone()));
    metrics.initialise(
        ProviderId::ALL
            .into_iter()
            .filter(|id| ingest.enabled(*id).is_some())
            .map(ProviderId::name),
    );

    let reloaders = crate::reload::spawn_all(&ingest, &config);
    let admin_task = tokio::spawn(serve_admin(admin, metrics.clone(), health.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let public_task = tokio::spawn(serve_public(
        public,
        ingest.clone(),
        config.clone(),
        stop_rx,
    ));
    let topics_task = tokio::spawn(watch_topics(
        config.clone(),
        publisher.clone(),
        metrics.clone(),
        health.clone(),
    ));

    let done = {
        let (health, publisher) = (health.clone(), publisher.clone());
        let (delay, grace) = (config.shutdown_delay, config.shutdown_grace);
        tokio::spawn(async move {
            shutdown.await;
            let signalled = Instant::now();
            health.mark_shutting_down();
            tracing::info!(
                delay_secs = delay.as_secs(),
                grace_secs = grace.as_secs(),
                "shutdown: readiness off, still serving"
            );
            tokio::time::sleep(delay).await;
            let _ = stop_tx.send(true);
            // The accept loop drains connections within the grace period and returns.
            let _ = public_task.await;
            let left = grace
                .saturating_sub(signalled.elapsed())
                .max(Duration::from_millis(100));
            match publisher.flush(left).await {
                Ok(()) => tracing::info!("shutdown: producer flushed"),
                Err(error) => tracing::error!(%error, "shutdown: producer flush incomplete"),
            }
            topics_task.abort();
            reloaders.iter().for_each(|r| r.abort());
            supervisor.abort();
            admin_task.abort();
            tracing::info!(
                elapsed_ms = signalled.elapsed().as_millis() as u64,
                "shutdown complete"
            );
        })
    };

    Ok(Running {
        public_addr,
        admin_addr,
        publisher,
        done,
    })
}

/// Runs the gateway until `shutdown` resolves and the drain completes.
pub async fn run<F>(config: Config, shutdown: F) -> Result<(), StartError>
where
    F: Future<Output = ()> + Send + 'static,
{
    start(config, shutdown).await?.wait().await;
    Ok(())
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

fn log_startup(config: &Config, public: SocketAddr, admin: SocketAddr) {
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    for id in ProviderId::ALL {
        match config.secrets(id) {
            Some(s) => {
                tracing::info!(provider = id.name(), secrets = s.keys.len(), source = ?s.source, "provider enabled")
            }
            None => tracing::warn!(
                provider = id.name(),
                "provider disabled: {} not set, /webhooks/{} answers 404",
                id.provider().secret_env,
                id.name()
            ),
        }
    }
    tracing::info!(
        %public,
        %admin,
        max_body_bytes = config.max_body_bytes,
        max_buffered_bytes = config.max_buffered_bytes,
        body_timeout_ms = config.body_timeout.as_millis() as u64,
        header_timeout_secs = config.header_timeout.as_secs(),
        replay_tolerance_secs = config.replay_tolerance.as_secs(),
        publish_timeout_ms = config.publish_timeout.as_millis() as u64,
        max_inflight = config.max_inflight,
        max_connections = config.max_connections,
        topic_prefix = %config.topic_prefix,
        shutdown_delay_secs = config.shutdown_delay.as_secs(),
        shutdown_grace_secs = config.shutdown_grace.as_secs(),
        kafka = ?config.kafka,
        "webhook-gateway listening"
    );
}

/// Fetches metadata until the broker answers once, logs which routed topics are
/// missing, marks the gateway ready, then keeps `kafka_topic_available` fresh.
async fn watch_topics(
    config: Config,
    publisher: Arc<Publisher>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) {
    let routed = config.topics.all();
    let mut first = true;
    loop {
        match publisher.existing_topics(Duration::from_secs(5)).await {
            Ok(existing) => {
                let mut missing = Vec::new();
                for topic in &routed {
                    let present = existing.contains(&**topic);
                    metrics
                        .topic_available
                        .with_label_values(&[topic])
                        .set(present as i64);
                    if !present {
                        missing.push(topic.to_string());
                    }
                }
                if first {
                    if missing.is_empty() {
                        tracing::info!(
                            topics = routed.len(),
                            "topic check: every routed topic exists"
                        );
                    } else {
                        tracing::error!(missing = ?missing, "topic check: routed topics missing; their webhooks will answer 503 until they exist");
                    }
                    health.mark_started();
                    tracing::info!("ready");
                    first = false;
                }
                tokio::time::sleep(METADATA_REFRESH).await;
            }
            Err(error) => {
                tracing::warn!(%error, "broker metadata request failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

async fn serve_public(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    config: Config,
    mut stop: watch::Receiver<bool>,
) {
    let connections = Arc::new(Semaphore::new(config.max_connections));
    let graceful = GracefulShutdown::new();
    // hyper applies the header timeout to idle keep-alive connections too, so it
    // doubles as the idle timeout: longer than the 60 s idle pools of ingress proxies.
    let builder = Arc::new(http1_builder(config.header_timeout));

    loop {
        // Wait for a free slot before accepting: excess connections queue in
        // the kernel's backlog instead of consuming memory here.
        let permit = tokio::select! {
            _ = stop.changed() => break,
            permit = connections.clone().acquire_owned() => permit.expect("semaphore never closed"),
        };
        let (stream, _) = tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let ingest = ingest.clone();
        let service = service_fn(move |request: Request<Incoming>| {
            let ingest = ingest.clone();
            async move { Ok::<_, Infallible>(ingest.handle(request).await) }
        });
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    tracing::info!("shutdown: listener closed, draining connections");
    let drain = config.shutdown_grace.saturating_sub(config.shutdown_delay);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: grace period over with connections still open");
    }
}

/// The HTTP/1 settings both listeners share: head size and count limits (431
/// beyond them) and the time to receive a head.
fn http1_builder(header_timeout: Duration) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    builder
}

async fn serve_admin(listener: TcpListener, metrics: Arc<Metrics>, health: Arc<Health>) {
    let connections = Arc::new(Semaphore::new(ADMIN_MAX_CONNECTIONS));
    let builder = Arc::new(http1_builder(ADMIN_HEADER_TIMEOUT));
    loop {
        let permit = connections
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore never closed");
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (metrics, health) = (metrics.clone(), health.clone());
        let service = service_fn(move |request: Request<Incoming>| {
            let response =
                admin_response(request.method(), request.uri().path(), &metrics, &health);
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

/// The admin port's answers: a plain function of the request's method and path
/// and the gateway's state, so it is tested without sockets.
fn admin_response(method: &Method, path: &str, metrics: &Metrics, health: &Health) -> Answer {
    if method != Method::GET && method != Method::HEAD {
        return respond::admin_method_not_allowed();
    }
    match path {
        "/metrics" => respond::metrics(metrics.encode()),
        "/healthz" => respond::text(StatusCode::OK, "ok\n"),
        "/readyz" if health.is_ready() => respond::text(StatusCode::OK, "ready\n"),
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
        let answer = |method: Method, path: &str| admin_response(&method, path, &metrics, &health);
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
        assert_eq!(answer(Method::GET, "/webhooks/m2m").status(), 404);
        let post = answer(Method::POST, "/metrics");
        assert_eq!(post.status(), 405);
        assert_eq!(post.headers()[http::header::ALLOW], "GET, HEAD");
    }
}
