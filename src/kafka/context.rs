//! librdkafka's callbacks for the producer: each delivery report to its
//! request, its statistics into metrics, its logs into tracing, and a nudge to
//! the supervisor on any client error.

use std::sync::Arc;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::producer::{DeliveryResult, ProducerContext};
use rdkafka::statistics::Statistics;
use tokio::sync::{oneshot, Notify};

use crate::metrics::Metrics;

/// librdkafka's callbacks: statistics into metrics, logs into tracing, and a
/// nudge to the supervisor on any client error.
pub struct GatewayContext {
    pub(super) metrics: Arc<Metrics>,
    pub(super) errors: Arc<Notify>,
    /// Which of the publisher's producers this is (0 prompt, 1 batching), so
    /// their statistics add up rather than overwrite each other.
    pub(super) producer: usize,
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
        self.metrics.producer_statistics(
            self.producer,
            stats.msg_cnt as i64,
            stats.msg_size as i64,
            rtt,
        );
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(error = %error, %reason, "kafka client error");
        // A fatal error arrives with its underlying code (an idempotence
        // violation, say), not `_FATAL`: let the supervisor ask the client.
        self.errors.notify_one();
    }
}

impl ProducerContext for GatewayContext {
    /// The request's end of its report channel.
    type DeliveryOpaque = Box<oneshot::Sender<Result<(), KafkaError>>>;

    fn delivery(&self, result: &DeliveryResult<'_>, request: Self::DeliveryOpaque) {
        // A request that gave up (its client went away) has dropped its end.
        let _ = request.send(result.as_ref().map(|_| ()).map_err(|(e, _)| e.clone()));
    }
}
