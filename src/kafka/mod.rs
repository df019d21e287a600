//! The Kafka producer: send a record, await the broker's acknowledgement,
//! classify failures, and replace the producer when it can no longer deliver
//! (a librdkafka fatal error, or a broker that rejects its idempotence state),
//! so the process never lives on with a dead producer.
//!
//! - `producer`: the librdkafka client, its delivery reports served on the runtime
//! - `context`: librdkafka's callbacks (reports, statistics, logs, errors)
//! - `lanes`: which producer a record enters (a prompt one, or a batching one
//!   for a busy key) and when, so that a key's records stay in order
//! - `replace`: building new producers when the current ones cannot deliver
//!
//! Every producer, the first and each replacement, comes from a
//! [`ProducerFactory`] handed in ([`Librdkafka`] unless the caller says
//! otherwise): tests hand in their own to slow or break a build, or to keep a
//! handle on each producer built.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rdkafka::client::Client;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use tokio::sync::Notify;

mod context;
pub mod error;
mod lanes;
mod producer;
mod replace;
pub mod topics;

pub use context::GatewayContext;
pub use producer::{Delivery, Kafka};

use self::lanes::{Batching, Build, Entry, Lanes, Owned, Producers};
use crate::engine::envelope::Record;
use crate::metrics::Metrics;
use crate::settings::KafkaSettings;
pub use error::PublishError;

/// What the publisher needs of a producer. [`Kafka`] is the one the gateway
/// runs; a test's may wrap it.
pub trait Producer: Send + Sync {
    /// Queues one record; its report arrives on the returned channel.
    fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: OwnedHeaders,
        timestamp_ms: Option<i64>,
    ) -> Result<Delivery, KafkaError>;

    /// The librdkafka client: its fatal error, the cluster's metadata.
    fn client(&self) -> &Client<GatewayContext>;

    /// Waits until every queued record is delivered or `timeout` passes (blocking).
    fn flush(&self, timeout: Duration) -> KafkaResult<()>;
}

/// Builds the publisher's producers: the first, and each replacement (on a
/// blocking thread, where a panic or a slow build stays off the requests).
pub trait ProducerFactory: Send + Sync {
    /// A producer with `config`'s properties, its callbacks going to `context`.
    fn build(
        &self,
        config: &ClientConfig,
        context: GatewayContext,
    ) -> KafkaResult<Arc<dyn Producer>>;
}

/// The gateway's factory: a [`Kafka`] producer on the current tokio runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct Librdkafka;

impl ProducerFactory for Librdkafka {
    fn build(
        &self,
        config: &ClientConfig,
        context: GatewayContext,
    ) -> KafkaResult<Arc<dyn Producer>> {
        let producer: Arc<dyn Producer> = Arc::new(Kafka::new(config, context)?);
        Ok(producer)
    }
}

pub struct Publisher {
    /// The producers in use (prompt, and batching once a key is busy) and
    /// every key's turn between them: see `lanes`.
    lanes: Arc<Lanes>,
    /// A generation a request found broken (an idempotence error), for the
    /// supervisor: librdkafka does not report those as fatal.
    broken: Mutex<Option<(u64, RDKafkaErrorCode)>>,
    config: ClientConfig,
    /// The batching producer's properties: `config` with a linger of 1 ms,
    /// when the configured linger is shorter. `None`: one producer.
    batching: Option<ClientConfig>,
    /// Builds every producer, the first and each replacement.
    producers: Arc<dyn ProducerFactory>,
    timeout: Duration,
    metrics: Arc<Metrics>,
    /// Signalled by the client context on every client error.
    errors: Arc<Notify>,
    /// Permanent errors already logged, per topic: a misconfiguration would
    /// otherwise write one error line per request.
    logged_permanent: Mutex<HashSet<(String, i32)>>,
}

/// How long after the publish timeout a record's report is still awaited
/// before its key stops waiting for it: librdkafka reports a queued record
/// by its message timeout (the publish timeout) and one in flight by its
/// request's socket timeout (`socket.timeout.ms`, 60 s by default).
const REPORT_GRACE: Duration = Duration::from_secs(60);

/// Every lock here guards data a panic cannot leave half-written (a swapped
/// pair, a set insert), so a poisoned lock is still good: take it rather than
/// turn one panic into a panic per request.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The producer's idempotence state is broken (its id or epoch is no longer
/// accepted): librdkafka keeps failing every record without declaring a fatal
/// error, as tansu's answer to an epoch bump after timeouts shows. A new
/// producer (a new producer id) is the cure.
fn breaks_producer(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::ProducerFenced
            | RDKafkaErrorCode::InvalidProducerEpoch
            | RDKafkaErrorCode::UnknownProducerId
            | RDKafkaErrorCode::OutOfOrderSequenceNumber
            | RDKafkaErrorCode::InvalidProducerIdMapping
    )
}

/// Errors no retry can fix: the record or the gateway's rights must change.
fn is_permanent(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::MessageBatchTooLarge
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::InvalidRecord
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::ClusterAuthorizationFailed
            | RDKafkaErrorCode::TransactionalIdAuthorizationFailed
            | RDKafkaErrorCode::InvalidTopic
    )
}

impl Publisher {
    /// A publisher on librdkafka producers ([`Librdkafka`]).
    pub fn new(
        kafka: &KafkaSettings,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Publisher>, KafkaError> {
        Publisher::with_producers(kafka, timeout, metrics, Arc::new(Librdkafka))
    }

    /// A publisher whose producers, the first and each replacement, come from `producers`.
    pub fn with_producers(
        kafka: &KafkaSettings,
        timeout: Duration,
        metrics: Arc<Metrics>,
        producers: Arc<dyn ProducerFactory>,
    ) -> Result<Arc<Publisher>, KafkaError> {
        let mut config = kafka.client_config();
        if kafka.get("statistics.interval.ms").is_none() {
            config.set("statistics.interval.ms", "5000");
        }
        let errors = Arc::new(Notify::new());
        let batching = batching_config(kafka, &config);
        let built = build_generation(&producers, &config, batching.as_ref(), &metrics, &errors, 0)?;
        Ok(Arc::new(Publisher {
            lanes: Lanes::new(built, timeout + REPORT_GRACE),
            broken: Mutex::new(None),
            config,
            batching,
            producers,
            timeout,
            metrics,
            errors,
            logged_permanent: Mutex::new(HashSet::new()),
        }))
    }

    fn producers(&self) -> Producers {
        self.lanes.current()
    }

    /// Sends one record and waits for the broker's acknowledgement (acks=all),
    /// at most the publish timeout. Only `Ok` may be answered with a 2xx.
    pub async fn publish(&self, record: &Record) -> Result<(), PublishError> {
        let started = Instant::now();
        let result = self.deliver(record).await;
        match &result {
            Ok(()) => self
                .metrics
                .publish_latency(&record.topic, started.elapsed().as_secs_f64()),
            Err(error) => self.metrics.publish_error(&error.reason()),
        }
        result
    }

    async fn deliver(&self, record: &Record) -> Result<(), PublishError> {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let key = self.lanes.key(&record.topic, record.key.as_bytes());
        let owned = || Owned {
            topic: record.topic.clone(),
            key: record.key.clone(),
            payload: record.value.clone(),
            headers: headers_of(record),
            timestamp_ms: record.timestamp_ms,
        };
        let sent = match self.lanes.enter(key, owned) {
            // The ticket holds the producer only for the send: a replaced
            // producer is dropped where the replacement chooses (off the async
            // workers), not by a request awaiting its report.
            Entry::Go(ticket) => ticket.send(
                &record.topic,
                record.key.as_bytes(),
                &record.value,
                headers_of(record),
                record.timestamp_ms,
            ),
            Entry::Wait(waiting) => match waiting.turn(deadline).await {
                Some(sent) => sent,
                None => return Err(PublishError::Timeout),
            },
        };
        let pending = match sent {
            Ok(pending) => pending,
            Err((generation, error)) => return Err(self.failed(generation, &record.topic, &error)),
        };
        let generation = pending.generation;
        match tokio::time::timeout_at(deadline, pending).await {
            Err(_) => Err(PublishError::Timeout),
            Ok(Err(_closed)) => Err(PublishError::Closed),
            Ok(Ok(Err(error))) => Err(self.failed(generation, &record.topic, &error)),
            Ok(Ok(Ok(()))) => Ok(()),
        }
    }

    fn failed(&self, generation: u64, topic: &str, error: &KafkaError) -> PublishError {
        let classified = PublishError::classify(error);
        match classified {
            PublishError::Broker(code) if is_permanent(code) => {
                let first = lock(&self.logged_permanent).insert((topic.to_owned(), code as i32));
                if first {
                    tracing::error!(topic, reason = %classified.reason(), "publish failed permanently: fix the topic, its ACLs or the size limits (logged once per topic)");
                }
            }
            PublishError::QueueFull => {}
            _ => tracing::warn!(topic, reason = %classified.reason(), "publish failed"),
        }
        // The supervisor replaces a dead or broken producer; a request only
        // tells it, and answers 503 without waiting for the new one.
        match classified {
            PublishError::Broker(code) if breaks_producer(code) => {
                *lock(&self.broken) = Some((generation, code));
                self.errors.notify_one();
            }
            PublishError::Fatal => self.errors.notify_one(),
            _ => {}
        }
        classified
    }

    /// Names of the topics that exist, from one metadata request for all topics
    /// (a request naming a topic may auto-create it).
    pub async fn existing_topics(&self, timeout: Duration) -> Result<BTreeSet<String>, KafkaError> {
        let producer = self.producers().prompt;
        tokio::task::spawn_blocking(move || {
            let metadata = producer.client().fetch_metadata(None, timeout)?;
            Ok(metadata
                .topics()
                .iter()
                .filter(|t| t.error().is_none() && !t.partitions().is_empty())
                .map(|t| t.name().to_owned())
                .collect())
        })
        .await
        .unwrap_or_else(blocking_ended)
    }

    /// Waits until every queued record is delivered or `timeout` passes.
    pub async fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let producers = self.producers();
        tokio::task::spawn_blocking(move || {
            let started = Instant::now();
            for producer in producers.all() {
                producer.flush(timeout.saturating_sub(started.elapsed()))?;
            }
            Ok(())
        })
        .await
        .unwrap_or_else(blocking_ended)
    }
}

/// A blocking librdkafka call that did not return: the runtime shutting
/// down before it ran (a test's runtime dropping a gateway mid-shutdown) is
/// a cancelled call; a panic in it is re-raised where it is awaited.
fn blocking_ended<T>(error: tokio::task::JoinError) -> Result<T, KafkaError> {
    match error.try_into_panic() {
        Ok(panic) => std::panic::resume_unwind(panic),
        Err(_cancelled) => Err(KafkaError::Canceled),
    }
}

/// The callbacks of a producer built for this publisher; `producer`: its
/// lane (0 prompt, 1 batching).
fn callbacks(metrics: &Arc<Metrics>, errors: &Arc<Notify>, producer: usize) -> GatewayContext {
    GatewayContext {
        metrics: metrics.clone(),
        errors: errors.clone(),
        producer,
    }
}

/// A record's headers as librdkafka takes them.
fn headers_of(record: &Record) -> OwnedHeaders {
    let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
    for (key, value) in &record.headers {
        headers = headers.insert(Header {
            key,
            value: Some(value),
        });
    }
    headers
}

/// The batching producer's properties (`lanes`): the configured ones with a
/// linger of 1 ms, librdkafka's shortest real wait (it sleeps in whole
/// milliseconds, so a fractional linger acts as 1 ms anyway). `None` when
/// the configured linger is already that long: one producer serves.
fn batching_config(kafka: &KafkaSettings, config: &ClientConfig) -> Option<ClientConfig> {
    let linger: f64 = kafka.get("linger.ms")?.trim().parse().ok()?;
    (linger < 1.0).then(|| {
        let mut batching = config.clone();
        batching.set("linger.ms", "1");
        batching
    })
}

/// One generation's producers: the prompt one, built by `factory` now, and
/// the batching one's recipe (`lanes::Batching`) when `batching` is given.
fn build_generation(
    factory: &Arc<dyn ProducerFactory>,
    config: &ClientConfig,
    batching: Option<&ClientConfig>,
    metrics: &Arc<Metrics>,
    errors: &Arc<Notify>,
    generation: u64,
) -> KafkaResult<Producers> {
    let prompt = factory.build(config, callbacks(metrics, errors, 0))?;
    let batching = batching.map(|config| {
        let (factory, config) = (factory.clone(), config.clone());
        let (metrics, errors) = (metrics.clone(), errors.clone());
        let signal = errors.clone();
        let build: Build =
            Arc::new(move || factory.build(&config, callbacks(&metrics, &errors, 1)));
        Batching::new(build, signal)
    });
    Ok(Producers {
        generation,
        prompt,
        batching,
    })
}
