//! The gateway's lifecycle: start every part, serve the public listener
//! (connection cap, head limits, timeouts; each webhook handed to [`Ingest`]),
//! and shut down in order: readiness off, drain, flush, stop the rest.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::Request;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::contract::DataSchemas;
use crate::engine::provider::Provider;
use crate::http::admin;
use crate::http::error::RequestError;
use crate::http::health::{self, Health};
use crate::http::ingest::{Clock, Ingest};
use crate::http::listener::{accept_within, http1_builder};
use crate::kafka::{Librdkafka, ProducerFactory, PublishError, Publisher};
use crate::metrics::Metrics;
use crate::settings::Config;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot create the Kafka producer: {0}")]
    Producer(#[from] rdkafka::error::KafkaError),
    /// A definition's `schema:` file cannot be used: a configuration error.
    #[error(transparent)]
    Contract(#[from] crate::definitions::DefinitionError),
}

/// What the gateway takes from its surroundings besides its settings: the
/// time it reads and what builds its Kafka producers. The default is the
/// machine's clock and librdkafka; a test hands in its own to receive at a
/// fixed time or to break a producer.
#[derive(Clone)]
pub struct Inputs {
    /// A webhook's receive time: its replay window, `receivedat`, what a
    /// re-drive keeps. Read once per request.
    pub clock: Clock,
    /// Every producer: the first, and each replacement of a dead one.
    pub producers: Arc<dyn ProducerFactory>,
}

impl Default for Inputs {
    fn default() -> Inputs {
        Inputs {
            clock: SystemTime::now,
            producers: Arc::new(Librdkafka),
        }
    }
}

/// A started gateway: its bound addresses (port 0 in tests).
pub struct Running {
    pub public_addr: SocketAddr,
    pub admin_addr: SocketAddr,
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
    start_with(config, Inputs::default(), shutdown).await
}

/// [`start`], reading the time and building producers with `inputs`.
pub async fn start_with<F>(
    config: Config,
    inputs: Inputs,
    shutdown: F,
) -> Result<Running, StartError>
where
    F: Future<Output = ()> + Send + 'static,
{
    // First: a bad `schema:` file is a configuration error, before any connection.
    let schemas = DataSchemas::load(&config.published.providers)?;
    let contract = Bytes::from(crate::contract::compact_with(&config.published, &schemas));
    // The contract's schemas name each type's `dataschema`, resolved here once.
    let providers = enabled(&config, &schemas);
    drop(schemas);
    let metrics = Arc::new(Metrics::new());
    let health = Arc::new(Health::default());
    let publisher = Publisher::with_producers(
        &config.kafka,
        config.settings.publish_timeout,
        metrics.clone(),
        inputs.producers,
    )?;

    let public = bind(config.settings.listen_addr).await?;
    let admin = bind(config.settings.admin_addr).await?;
    let public_addr = public.local_addr().map_err(|source| StartError::Bind {
        addr: config.settings.listen_addr,
        source,
    })?;
    let admin_addr = admin.local_addr().map_err(|source| StartError::Bind {
        addr: config.settings.admin_addr,
        source,
    })?;

    log_startup(&config, public_addr, admin_addr);
    let watchers = crate::settings::reload::watchers(&providers, &config);
    let ingest = Arc::new(Ingest::new(
        &config,
        providers,
        publisher.clone(),
        metrics.clone(),
        inputs.clock,
    ));
    let own = PublishError::OWN.iter().map(PublishError::reason);
    metrics.initialise(ingest.names(), own, &RequestError::capacity_codes());

    // Everything but the public listener runs until shutdown cancels it.
    let background = CancellationToken::new();
    let tasks = TaskTracker::new();
    spawn_until(&tasks, &background, publisher.supervisor());
    for watcher in watchers {
        spawn_until(&tasks, &background, watcher);
    }
    spawn_until(
        &tasks,
        &background,
        admin::serve(admin, metrics.clone(), health.clone(), contract),
    );
    spawn_until(
        &tasks,
        &background,
        health::watch_topics(
            config.published.topics.all(),
            publisher.clone(),
            metrics.clone(),
            health.clone(),
        ),
    );
    let stop_accepting = CancellationToken::new();
    let public_task = tokio::spawn(serve_public(
        public,
        ingest.clone(),
        config.clone(),
        stop_accepting.clone(),
    ));

    let done = {
        let (health, publisher) = (health.clone(), publisher.clone());
        let (delay, grace) = (
            config.settings.shutdown_delay,
            config.settings.shutdown_grace,
        );
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
            stop_accepting.cancel();
            // The accept loop drains connections within the grace period and returns.
            let _ = public_task.await;
            let left = grace
                .saturating_sub(signalled.elapsed())
                .max(Duration::from_millis(100));
            match publisher.flush(left).await {
                Ok(()) => tracing::info!("shutdown: producer flushed"),
                Err(error) => tracing::error!(%error, "shutdown: producer flush incomplete"),
            }
            background.cancel();
            tasks.close();
            tasks.wait().await;
            tracing::info!(
                elapsed_ms = signalled.elapsed().as_millis() as u64,
                "shutdown complete"
            );
        })
    };

    Ok(Running {
        public_addr,
        admin_addr,
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

/// Runs `work` on `tasks` until it ends or `cancel` is cancelled.
fn spawn_until<W>(tasks: &TaskTracker, cancel: &CancellationToken, work: W)
where
    W: Future<Output = ()> + Send + 'static,
{
    let cancel = cancel.clone();
    tasks.spawn(async move {
        cancel.run_until_cancelled(work).await;
    });
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
    // The disabled ones are among the warnings above.
    for (name, s) in &config.secrets {
        tracing::info!(provider = %name, secrets = s.keys.len(), source = ?s.source, "provider enabled");
    }
    tracing::info!(
        %public,
        %admin,
        max_body_bytes = config.settings.max_body_bytes,
        max_buffered_bytes = config.settings.max_buffered_bytes,
        body_timeout_ms = config.settings.body_timeout.as_millis() as u64,
        header_timeout_secs = config.settings.header_timeout.as_secs(),
        replay_tolerance_secs = config.settings.replay_tolerance.as_secs(),
        publish_timeout_ms = config.settings.publish_timeout.as_millis() as u64,
        max_inflight = config.settings.max_inflight,
        max_connections = config.settings.max_connections,
        worker_threads = config.settings.worker_threads,
        topic_prefix = %config.settings.topic_prefix,
        shutdown_delay_secs = config.settings.shutdown_delay.as_secs(),
        shutdown_grace_secs = config.settings.shutdown_grace.as_secs(),
        kafka = ?config.kafka,
        "webhook-gateway listening"
    );
}

async fn serve_public(
    listener: TcpListener,
    ingest: Arc<Ingest>,
    config: Config,
    stop: CancellationToken,
) {
    let connections = Arc::new(Semaphore::new(config.settings.max_connections));
    let graceful = GracefulShutdown::new();
    // hyper applies the header timeout to idle keep-alive connections too, so it
    // doubles as the idle timeout: longer than the 60 s idle pools of ingress proxies.
    let builder = Arc::new(http1_builder(config.settings.header_timeout));

    loop {
        let (stream, permit) = tokio::select! {
            _ = stop.cancelled() => break,
            accepted = accept_within(&listener, &connections) => accepted,
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
    let drain = config
        .settings
        .shutdown_grace
        .saturating_sub(config.settings.shutdown_delay);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown: grace period over with connections still open");
    }
}

/// The enabled providers of `config` (those whose secret is set) compiled for
/// the request path, with their keys: what `/webhooks/<name>` serves, built-ins first.
fn enabled(config: &Config, schemas: &DataSchemas) -> Vec<Arc<Provider>> {
    config
        .published
        .providers
        .list
        .iter()
        .filter_map(|def| {
            let keys = config.secrets.get(&def.name)?.keys.clone();
            let provider = Provider::new(
                def.clone(),
                &config.published.topics,
                schemas.uris(),
                Some(keys),
            );
            Some(Arc::new(provider))
        })
        .collect()
}
