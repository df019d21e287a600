//! What a publish can end in besides the broker's ack: the error the
//! producer reports, the request answers (503) and the metrics count by its
//! bounded `reason`.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

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
    /// The failures the gateway names itself, whose `reason` series exist from
    /// the first scrape. Other broker error names appear when they happen:
    /// librdkafka has about 200 codes and zeroing them all would be noise.
    pub const OWN: [PublishError; 4] = [
        PublishError::QueueFull,
        PublishError::Timeout,
        PublishError::Fatal,
        PublishError::Closed,
    ];

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

    pub(crate) fn classify(error: &KafkaError) -> PublishError {
        match error.rdkafka_error_code() {
            Some(RDKafkaErrorCode::QueueFull) => PublishError::QueueFull,
            Some(RDKafkaErrorCode::MessageTimedOut) => PublishError::Timeout,
            Some(RDKafkaErrorCode::Fatal) => PublishError::Fatal,
            Some(code) => PublishError::Broker(code),
            None => PublishError::Closed,
        }
    }
}
