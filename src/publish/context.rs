//! librdkafka's callbacks for the producer: its statistics into metrics, its
//! logs into tracing, and a nudge to the supervisor on any client error.

use std::sync::Arc;

use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use tokio::sync::Notify;

use crate::metrics::Metrics;

/// librdkafka's callbacks: statistics into metrics, logs into tracing, and a
/// nudge to the supervisor on any client error.
pub struct GatewayContext {
    pub(super) metrics: Arc<Metrics>,
    pub(super) errors: Arc<Notify>,
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
