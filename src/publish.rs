//! The Kafka producer: send a record, await the broker's acknowledgement,
//! classify failures, and replace the producer when it can no longer deliver
//! (a librdkafka fatal error, or a broker that rejects its idempotence state),
//! so the process never lives on with a dead producer.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::statistics::Statistics;
use tokio::sync::Notify;

use crate::config::KafkaSettings;
use crate::envelope::Record;
use crate::metrics::Metrics;

type Kafka = FutureProducer<GatewayContext>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    #[error("the producer's local queue is full")]
    QueueFull,
    #[error("no delivery report within the publish timeout")]
    Timeout,
    #[error("the producer hit a fatal error and is being replaced")]
    Fatal,
    #[error("delivery failed: {0:?}")]
    Broker(RDKafkaErrorCode),
    #[error("the producer was closed")]
    Closed,
}

impl PublishError {
    /// `reason` label of `kafka_publish_errors_total`: a bounded set.
    pub fn reason(&self) -> String {
        match self {
            PublishError::QueueFull => "queue_full".into(),
            PublishError::Timeout => "timeout".into(),
            PublishError::Fatal => "fatal".into(),
            PublishError::Broker(code) => format!("{code:?}"),
            PublishError::Closed => "closed".into(),
        }
    }

    fn classify(error: &KafkaError) -> PublishError {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::QueueFull) => PublishError::QueueFull,
            Some(RDKafkaErrorCode::MessageTimedOut) => PublishError::Timeout,
            Some(RDKafkaErrorCode::Fatal) => PublishError::Fatal,
            Some(code) => PublishError::Broker(code),
            None => PublishError::Closed,
        }
    }
}

/// librdkafka's callbacks: statistics into metrics, logs into tracing, and a
/// nudge to the supervisor on any client error.
pub struct GatewayContext {
    metrics: Arc<Metrics>,
    errors: Arc<Notify>,
}

impl ClientContext for GatewayContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => {
                tracing::error!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility, "{message}"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility, "{message}")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
        }
    }

    fn stats(&self, stats: Statistics) {
        // librdkafka reports round trips in microseconds.
        let rtt = stats.brokers.iter().filter_map(|(name, broker)| {
            let rtt = broker.rtt.as_ref()?;
            Some((name.as_str(), rtt.avg as f64 / 1_000_000.0))
        });
        self.metrics
            .producer_statistics(stats.msg_cnt as i64, stats.msg_size as i64, rtt);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(error = %error, %reason, "kafka client error");
        // A fatal error arrives with its underlying code (an idempotence
        // violation, say), not `_FATAL`: let the supervisor ask the client.
        self.errors.notify_one();
    }
}

pub struct Publisher {
    /// The producer and its generation: a failure reported against an older
    /// generation never replaces a newer producer. Held only to clone or swap
    /// the pair, never across a producer's construction or drop.
    current: RwLock<(u64, Kafka)>,
    /// A generation a request found broken (an idempotence error), for the
    /// supervisor: librdkafka does not report those as fatal.
    broken: Mutex<Option<(u64, RDKafkaErrorCode)>>,
    config: ClientConfig,
    timeout: Duration,
    metrics: Arc<Metrics>,
    /// Signalled by the client context on every client error.
    errors: Arc<Notify>,
    /// Permanent errors already logged, per topic: a misconfiguration would
    /// otherwise write one error line per request.
    logged_permanent: Mutex<HashSet<(String, i32)>>,
    /// Test hook: a fault for every replacement's construction until cleared.
    #[cfg(feature = "test-hooks")]
    fault: Mutex<Option<ReplacementFault>>,
}

/// A fault a test injects into producer replacements.
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum ReplacementFault {
    /// Building the producer panics (a thread that cannot be spawned, say).
    Panic,
    /// Building the producer takes this long (librdkafka spawning its threads).
    Slow(Duration),
}

/// Why no replacement producer could be built; the supervisor retries.
#[derive(Debug, thiserror::Error)]
enum ReplaceError {
    #[error(transparent)]
    Kafka(#[from] KafkaError),
    #[error("building the producer did not finish: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Backoff between attempts to build a replacement producer.
const RETRY_FIRST: Duration = Duration::from_millis(100);
const RETRY_MAX: Duration = Duration::from_secs(5);

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
    pub fn new(
        kafka: &KafkaSettings,
        timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Publisher>, KafkaError> {
        let mut config = kafka.client_config();
        if kafka.get("statistics.interval.ms").is_none() {
            config.set("statistics.interval.ms", "5000");
        }
        let errors = Arc::new(Notify::new());
        let producer = create(&config, &metrics, &errors)?;
        Ok(Arc::new(Publisher {
            current: RwLock::new((0, producer)),
            broken: Mutex::new(None),
            config,
            timeout,
            metrics,
            errors,
            logged_permanent: Mutex::new(HashSet::new()),
            #[cfg(feature = "test-hooks")]
            fault: Mutex::new(None),
        }))
    }

    fn producer(&self) -> (u64, Kafka) {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the producer when it is dead or broken, even when no request is
    /// there to notice: after each client error (and each broken-state report
    /// from a request), asks the client whether it is dead, and retries a
    /// failed replacement with backoff until one succeeds. The only place a
    /// producer is built after startup, so requests never wait for one: they
    /// answer 503 from the dead producer meanwhile.
    pub fn supervisor(self: &Arc<Self>) -> impl std::future::Future<Output = ()> + Send + 'static {
        let publisher = Arc::downgrade(self);
        let errors = self.errors.clone();
        async move {
            loop {
                errors.notified().await;
                let Some(publisher) = publisher.upgrade() else {
                    return;
                };
                publisher.repair().await;
            }
        }
    }

    /// Until the current producer is healthy: build a replacement off the async
    /// workers, swap it in, and on failure (an error or a panic) wait and retry.
    async fn repair(&self) {
        let mut backoff = RETRY_FIRST;
        loop {
            let (seen, producer) = self.producer();
            let Some(reason) = self.why_broken(seen, &producer) else {
                return;
            };
            drop(producer);
            match self.build_replacement().await {
                Ok(fresh) => return self.swap(seen, fresh, &reason),
                Err(error) => {
                    tracing::error!(%error, %reason, retry_in_ms = backoff.as_millis() as u64, "could not create a replacement kafka producer; requests get 503 meanwhile");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// Why generation `seen` must be replaced: librdkafka's fatal error, or an
    /// idempotence error a request reported. `None` while it can still deliver.
    fn why_broken(&self, seen: u64, producer: &Kafka) -> Option<String> {
        if let Some((code, reason)) = producer.client().fatal_error() {
            return Some(format!("fatal error {code:?}: {reason}"));
        }
        match *lock(&self.broken) {
            Some((generation, code)) if generation == seen => {
                Some(format!("idempotent producer state rejected: {code:?}"))
            }
            _ => None,
        }
    }

    /// Builds a producer on a blocking thread: librdkafka's construction spawns
    /// threads and may take a while, and a panic there must stay in that thread.
    async fn build_replacement(&self) -> Result<Kafka, ReplaceError> {
        #[cfg(feature = "test-hooks")]
        let fault = *lock(&self.fault);
        let (config, metrics, errors) = (
            self.config.clone(),
            self.metrics.clone(),
            self.errors.clone(),
        );
        let built = tokio::task::spawn_blocking(move || {
            #[cfg(feature = "test-hooks")]
            match fault {
                Some(ReplacementFault::Panic) => panic!("injected replacement fault"),
                Some(ReplacementFault::Slow(by)) => std::thread::sleep(by),
                None => {}
            }
            create(&config, &metrics, &errors)
        })
        .await?;
        Ok(built?)
    }

    /// Swaps `fresh` in if generation `seen` is still current: the lock is held
    /// for the swap alone. Whichever producer is left over is dropped off the
    /// async workers (dropping purges, flushes and joins a thread).
    fn swap(&self, seen: u64, fresh: Kafka, reason: &str) {
        let (replaced, leftover) = {
            let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
            if current.0 == seen {
                (true, std::mem::replace(&mut *current, (seen + 1, fresh)).1)
            } else {
                (false, fresh)
            }
        };
        if replaced {
            self.metrics.producer_replaced();
            tracing::error!(%reason, generation = seen + 1, "kafka producer replaced");
        }
        drop(tokio::task::spawn_blocking(move || drop(leftover)));
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
            Err(error) => self.metrics.publish_error(error),
        }
        result
    }

    async fn deliver(&self, record: &Record) -> Result<(), PublishError> {
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (key, value) in &record.headers {
            headers = headers.insert(Header {
                key,
                value: Some(value),
            });
        }
        let kafka_record = FutureRecord::to(&record.topic)
            .key(record.key.as_bytes())
            .payload(&record.value)
            .headers(headers);

        // The delivery future is a plain channel: the producer handle is released
        // before awaiting, so a replaced producer is dropped where the
        // replacement chooses (off the async workers), not by a request.
        let (generation, producer) = self.producer();
        let delivery = producer.send_result(kafka_record);
        drop(producer);
        let delivery = match delivery {
            Ok(delivery) => delivery,
            Err((error, _)) => return Err(self.failed(generation, &record.topic, &error)),
        };
        match tokio::time::timeout(self.timeout, delivery).await {
            Err(_) => Err(PublishError::Timeout),
            Ok(Err(_canceled)) => Err(PublishError::Closed),
            Ok(Ok(Err((error, _)))) => Err(self.failed(generation, &record.topic, &error)),
            Ok(Ok(Ok(_))) => Ok(()),
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
        let (_, producer) = self.producer();
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
        .expect("metadata task does not panic")
    }

    /// Waits until every queued record is delivered or `timeout` passes.
    pub async fn flush(&self, timeout: Duration) -> Result<(), KafkaError> {
        let (_, producer) = self.producer();
        tokio::task::spawn_blocking(move || producer.flush(timeout))
            .await
            .expect("flush task does not panic")
    }

    /// Test hook: makes every replacement producer's construction panic or
    /// take a while, until called with `None`.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn set_replacement_fault(&self, fault: Option<ReplacementFault>) {
        *lock(&self.fault) = fault;
    }

    /// Test hook: makes librdkafka raise a fatal error on the current producer,
    /// as an idempotence violation would (unsafe FFI: test builds only).
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn inject_fatal_error(&self) {
        let (_, producer) = self.producer();
        let reason = c"injected by a test";
        // SAFETY: the handle is alive (we hold a clone) and the reason is a valid C string.
        unsafe {
            rdkafka::bindings::rd_kafka_test_fatal_error(
                producer.client().native_ptr(),
                rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                reason.as_ptr(),
            );
        }
    }
}

fn create(
    config: &ClientConfig,
    metrics: &Arc<Metrics>,
    errors: &Arc<Notify>,
) -> Result<Kafka, KafkaError> {
    let context = GatewayContext {
        metrics: metrics.clone(),
        errors: errors.clone(),
    };
    FutureProducer::from_config_and_context(config, context)
}
