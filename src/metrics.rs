//! The gateway's metrics, on a registry of its own (with the process collector),
//! exposed as Prometheus text on the admin port. Label values are bounded sets,
//! never ids.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// `outcome` label of `webhook_requests_total`: what happened to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Unrouted,
    Deadlettered,
    Unauthorized,
    TooLarge,
    NotFound,
    MethodNotAllowed,
    Timeout,
    Overloaded,
    Unavailable,
    /// Malformed framing (a broken chunked body): the client gets a 400.
    BadRequest,
    /// Something after verification failed and the dead-letter rescue too: a 500.
    InternalError,
}

impl Outcome {
    /// Every outcome, for initialising the series at zero.
    pub const ALL: [Outcome; 12] = [
        Outcome::Accepted,
        Outcome::Unrouted,
        Outcome::Deadlettered,
        Outcome::Unauthorized,
        Outcome::TooLarge,
        Outcome::NotFound,
        Outcome::MethodNotAllowed,
        Outcome::Timeout,
        Outcome::Overloaded,
        Outcome::Unavailable,
        Outcome::BadRequest,
        Outcome::InternalError,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Unrouted => "unrouted",
            Outcome::Deadlettered => "deadlettered",
            Outcome::Unauthorized => "unauthorized",
            Outcome::TooLarge => "too_large",
            Outcome::NotFound => "not_found",
            Outcome::MethodNotAllowed => "method_not_allowed",
            Outcome::Timeout => "timeout",
            Outcome::Overloaded => "overloaded",
            Outcome::Unavailable => "unavailable",
            Outcome::BadRequest => "bad_request",
            Outcome::InternalError => "internal_error",
        }
    }
}

pub struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub request_duration: HistogramVec,
    pub signature_failures: IntCounterVec,
    pub events_published: IntCounterVec,
    pub publish_duration: HistogramVec,
    pub publish_errors: IntCounterVec,
    pub producer_replacements: IntCounter,
    pub inflight: IntGauge,
    pub buffered_bytes: IntGauge,
    pub internal_errors: IntCounterVec,
    pub topic_available: IntGaugeVec,
    pub producer_queue_messages: IntGauge,
    pub producer_queue_bytes: IntGauge,
    pub broker_rtt: prometheus::GaugeVec,
}

/// The `reason` values of `webhook_signature_failures_total` (`VerifyError::reason`).
pub const SIGNATURE_FAILURE_REASONS: [&str; 4] =
    ["missing", "malformed", "mismatch", "stale_timestamp"];

/// The `reason` values of `kafka_publish_errors_total` the gateway names itself
/// (`PublishError::reason`). Other broker error names appear when they happen:
/// librdkafka has about 200 codes and zeroing them all would be noise.
pub const PUBLISH_ERROR_REASONS: [&str; 4] = ["queue_full", "timeout", "fatal", "closed"];

/// 0.5 ms to 15 s: a loopback ack is about a millisecond, a timed-out publish 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
];

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("unique metric");
            c
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
                labels,
            )
            .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("unique metric");
            h
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("unique metric");
            g
        };

        let requests = counter(
            "webhook_requests_total",
            "Webhook requests by provider and outcome.",
            &["provider", "outcome"],
        );
        let request_duration = histogram(
            "webhook_request_duration_seconds",
            "Time from request head to response, by provider and outcome.",
            &["provider", "outcome"],
        );
        let signature_failures = counter(
            "webhook_signature_failures_total",
            "Requests refused by signature verification, by reason.",
            &["provider", "reason"],
        );
        let events_published = counter(
            "webhook_events_published_total",
            "Records acknowledged by the broker, by provider, canonical type and topic.",
            &["provider", "type", "topic"],
        );
        let publish_duration = histogram(
            "kafka_publish_duration_seconds",
            "Time from enqueueing a record to its delivery report.",
            &["topic"],
        );
        let publish_errors = counter(
            "kafka_publish_errors_total",
            "Records the broker did not acknowledge, by reason.",
            &["reason"],
        );
        let producer_replacements = IntCounter::new(
            "kafka_producer_replacements_total",
            "Producers replaced after a fatal error.",
        )
        .expect("valid metric");
        registry
            .register(Box::new(producer_replacements.clone()))
            .expect("unique metric");
        let inflight = gauge(
            "webhook_inflight_requests",
            "Requests awaiting a broker acknowledgement.",
        );
        let buffered_bytes = gauge(
            "webhook_buffered_bytes",
            "Bytes reserved by request bodies not yet verified (bounded by GATEWAY_MAX_BUFFERED_BYTES).",
        );
        let internal_errors = counter(
            "webhook_internal_errors_total",
            "Verified webhooks that hit an internal error (a panic) after verification; each is dead-lettered with reason internal_error.",
            &["provider"],
        );
        let topic_available = IntGaugeVec::new(
            Opts::new(
                "kafka_topic_available",
                "1 when the routed topic existed at the last metadata refresh, else 0.",
            ),
            &["topic"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(topic_available.clone()))
            .expect("unique metric");
        let producer_queue_messages = gauge(
            "kafka_producer_queue_messages",
            "Messages in the producer's local queue (librdkafka statistics).",
        );
        let producer_queue_bytes = gauge(
            "kafka_producer_queue_bytes",
            "Bytes in the producer's local queue (librdkafka statistics).",
        );
        let broker_rtt = prometheus::GaugeVec::new(
            Opts::new(
                "kafka_broker_rtt_seconds",
                "Average broker round-trip time (librdkafka statistics).",
            ),
            &["broker"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(broker_rtt.clone()))
            .expect("unique metric");

        let build_info = IntGaugeVec::new(
            Opts::new(
                "webhook_gateway_build_info",
                "Always 1; the version is a label.",
            ),
            &["version"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registry
            .register(Box::new(build_info))
            .expect("unique metric");
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("unique metric");

        Metrics {
            registry,
            requests,
            request_duration,
            signature_failures,
            events_published,
            publish_duration,
            publish_errors,
            producer_replacements,
            inflight,
            buffered_bytes,
            internal_errors,
            topic_available,
            producer_queue_messages,
            producer_queue_bytes,
            broker_rtt,
        }
    }

    /// Creates the bounded outcome and reason series at zero, so that `rate()`
    /// and the alerts see a series from the first scrape instead of only after
    /// the first error (a counter born at 1 loses that first increase). Per
    /// enabled provider; never per type or topic, whose series would multiply
    /// with the catalogue. Histograms stay lazy: their panels sum over outcomes.
    pub fn initialise<'a>(&self, providers: impl IntoIterator<Item = &'a str>) {
        for provider in providers {
            for outcome in Outcome::ALL {
                // An enabled provider's path never answers "not found".
                if outcome != Outcome::NotFound {
                    self.requests
                        .with_label_values(&[provider, outcome.as_str()]);
                }
            }
            for reason in SIGNATURE_FAILURE_REASONS {
                self.signature_failures
                    .with_label_values(&[provider, reason]);
            }
            self.internal_errors.with_label_values(&[provider]);
        }
        self.requests
            .with_label_values(&["unknown", Outcome::NotFound.as_str()]);
        for reason in PUBLISH_ERROR_REASONS {
            self.publish_errors.with_label_values(&[reason]);
        }
    }

    /// One request finished: counter and histogram together.
    pub fn observe_request(&self, provider: &str, outcome: Outcome, seconds: f64) {
        self.requests
            .with_label_values(&[provider, outcome.as_str()])
            .inc();
        self.request_duration
            .with_label_values(&[provider, outcome.as_str()])
            .observe(seconds);
    }

    pub fn publish_histogram(&self, topic: &str) -> Histogram {
        self.publish_duration.with_label_values(&[topic])
    }

    pub fn encode(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into memory cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::publish::PublishError;
    use crate::verify::VerifyError;

    #[test]
    fn the_zeroed_reasons_are_the_ones_the_code_emits() {
        let verify = [
            VerifyError::Missing,
            VerifyError::Malformed,
            VerifyError::Mismatch,
            VerifyError::StaleTimestamp,
        ];
        assert_eq!(verify.map(VerifyError::reason), SIGNATURE_FAILURE_REASONS);
        let publish = [
            PublishError::QueueFull,
            PublishError::Timeout,
            PublishError::Fatal,
            PublishError::Closed,
        ];
        assert_eq!(publish.map(|e| e.reason()), PUBLISH_ERROR_REASONS);
    }

    #[test]
    fn initialise_exports_every_bounded_series_at_zero_and_nothing_per_topic() {
        let metrics = Metrics::new();
        metrics.initialise(["m2m"]);
        let text = metrics.encode();
        for outcome in Outcome::ALL {
            let line = format!(
                r#"webhook_requests_total{{outcome="{}",provider="m2m"}} 0"#,
                outcome.as_str()
            );
            assert_eq!(text.contains(&line), outcome != Outcome::NotFound, "{line}");
        }
        assert!(
            text.contains(r#"webhook_requests_total{outcome="not_found",provider="unknown"} 0"#)
        );
        assert!(text.contains(
            r#"webhook_signature_failures_total{provider="m2m",reason="stale_timestamp"} 0"#
        ));
        assert!(text.contains(r#"kafka_publish_errors_total{reason="queue_full"} 0"#));
        assert!(text.contains(r#"webhook_internal_errors_total{provider="m2m"} 0"#));
        assert!(!text.contains("transfers"), "only enabled providers");
        assert!(!text.contains("webhook_events_published_total{"));
    }
}
