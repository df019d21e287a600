//! The gateway's metrics, on a registry of its own (with the process collector),
//! exposed as Prometheus text on the admin port. Label values are bounded sets,
//! never ids.

use crate::engine::verify::VerifyError;

use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
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
    /// The body did not arrive within `GATEWAY_BODY_TIMEOUT_MS` (408); a
    /// publish timeout is `unavailable`.
    BodyTimeout,
    Overloaded,
    /// Past the provider's own `limits:` (429).
    Limited,
    Unavailable,
    /// Malformed framing (a broken chunked body): the client gets a 400.
    BadRequest,
    /// Something after verification failed and the dead-letter rescue too: a 500.
    InternalError,
    /// A declared handshake, answered without the broker.
    Handshake,
}

impl Outcome {
    /// Every outcome, for initialising the series at zero.
    pub const ALL: [Outcome; 14] = [
        Outcome::Accepted,
        Outcome::Unrouted,
        Outcome::Deadlettered,
        Outcome::Unauthorized,
        Outcome::TooLarge,
        Outcome::NotFound,
        Outcome::MethodNotAllowed,
        Outcome::BodyTimeout,
        Outcome::Overloaded,
        Outcome::Limited,
        Outcome::Unavailable,
        Outcome::BadRequest,
        Outcome::InternalError,
        Outcome::Handshake,
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
            Outcome::BodyTimeout => "body_timeout",
            Outcome::Overloaded => "overloaded",
            Outcome::Limited => "limited",
            Outcome::Unavailable => "unavailable",
            Outcome::BadRequest => "bad_request",
            Outcome::InternalError => "internal_error",
            Outcome::Handshake => "handshake",
        }
    }
}

/// What became of a request that was one of its provider's handshakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeOutcome {
    Answered,
    /// Its signature or token did not hold (401).
    Unauthorized,
    /// A value its reply needs was missing or outside its `values` (400).
    Refused,
}

impl HandshakeOutcome {
    pub const ALL: [HandshakeOutcome; 3] = [
        HandshakeOutcome::Answered,
        HandshakeOutcome::Unauthorized,
        HandshakeOutcome::Refused,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HandshakeOutcome::Answered => "answered",
            HandshakeOutcome::Unauthorized => "unauthorized",
            HandshakeOutcome::Refused => "refused",
        }
    }
}

/// The metrics, behind one method per event: names and label orders live only
/// in this file.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    request_duration: HistogramVec,
    signature_failures: IntCounterVec,
    events_published: IntCounterVec,
    publish_duration: HistogramVec,
    publish_errors: IntCounterVec,
    producer_replacements: IntCounter,
    inflight: IntGauge,
    buffered_bytes: IntGauge,
    internal_errors: IntCounterVec,
    refusals: IntCounterVec,
    handshakes: IntCounterVec,
    topic_available: IntGaugeVec,
    producer_queue_messages: IntGauge,
    producer_queue_bytes: IntGauge,
    /// Each producer's last queue statistics (messages, bytes): the gauges
    /// are their sums. Index: `kafka::lanes`' prompt (0) and batching (1).
    producer_queues: std::sync::Mutex<[(i64, i64); 2]>,
    broker_rtt: prometheus::GaugeVec,
}

/// 0.5 ms to 15 s: a loopback ack is about a millisecond, a timed-out publish 10 s.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0,
];

/// A metric registered on `registry`: the names are fixed in this file, so
/// an invalid or duplicate one is a bug caught by the first test run.
fn registered<C: Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<C>,
) -> C {
    let metric = metric.expect("valid metric");
    registry
        .register(Box::new(metric.clone()))
        .expect("unique metric");
    metric
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            registered(&registry, IntCounterVec::new(Opts::new(name, help), labels))
        };
        let histogram = |name: &str, help: &str, labels: &[&str]| {
            let opts = HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
            registered(&registry, HistogramVec::new(opts, labels))
        };
        let gauge = |name: &str, help: &str| registered(&registry, IntGauge::new(name, help));

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
        let producer_replacements = registered(
            &registry,
            IntCounter::new(
                "kafka_producer_replacements_total",
                "Producers replaced after a fatal error.",
            ),
        );
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
        let refusals = counter(
            "webhook_capacity_refusals_total",
            "Requests refused for want of capacity (429 past the provider's own limits, 503 past its share of the gateway's), by provider and reason.",
            &["provider", "reason"],
        );
        let handshakes = counter(
            "webhook_handshakes_total",
            "Requests that were one of a provider's declared handshakes (answered without the broker, never published), by provider, handshake and outcome.",
            &["provider", "handshake", "outcome"],
        );
        let topic_available = registered(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "kafka_topic_available",
                    "1 when the routed topic existed at the last metadata refresh, else 0.",
                ),
                &["topic"],
            ),
        );
        let producer_queue_messages = gauge(
            "kafka_producer_queue_messages",
            "Messages in the producer's local queue (librdkafka statistics).",
        );
        let producer_queue_bytes = gauge(
            "kafka_producer_queue_bytes",
            "Bytes in the producer's local queue (librdkafka statistics).",
        );
        let broker_rtt = registered(
            &registry,
            prometheus::GaugeVec::new(
                Opts::new(
                    "kafka_broker_rtt_seconds",
                    "Average broker round-trip time (librdkafka statistics).",
                ),
                &["broker"],
            ),
        );

        registered(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "webhook_gateway_build_info",
                    "Always 1; the version is a label.",
                ),
                &["version"],
            ),
        )
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
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
            refusals,
            handshakes,
            topic_available,
            producer_queue_messages,
            producer_queue_bytes,
            producer_queues: std::sync::Mutex::new([(0, 0); 2]),
            broker_rtt,
        }
    }

    /// Creates the bounded outcome and reason series at zero, so that `rate()`
    /// and the alerts see a series from the first scrape instead of only after
    /// the first error (a counter born at 1 loses that first increase). Per
    /// enabled provider; never per type or topic, whose series would multiply
    /// with the catalogue. Histograms stay lazy: their panels sum over outcomes.
    /// `publish_errors`: the `reason`s of `kafka_publish_errors_total` the
    /// gateway names itself (the publisher's, `kafka::PublishError::OWN`);
    /// `refusals`: those of `webhook_capacity_refusals_total`
    /// (`http::error::RequestError::capacity_codes`).
    /// `handshakes`: each enabled provider's declared handshakes' names.
    pub fn initialise<'a>(
        &self,
        providers: impl IntoIterator<Item = (&'a str, Vec<&'a str>)>,
        publish_errors: impl IntoIterator<Item = String>,
        refusals: &[&str],
    ) {
        for (provider, handshakes) in providers {
            for handshake in handshakes {
                for outcome in HandshakeOutcome::ALL {
                    self.handshakes
                        .with_label_values(&[provider, handshake, outcome.as_str()]);
                }
            }
            for outcome in Outcome::ALL {
                // An enabled provider's path never answers "not found".
                if outcome != Outcome::NotFound {
                    self.requests
                        .with_label_values(&[provider, outcome.as_str()]);
                }
            }
            for reason in VerifyError::ALL {
                self.signature_failures
                    .with_label_values(&[provider, reason.code()]);
            }
            self.internal_errors.with_label_values(&[provider]);
            for reason in refusals {
                self.refusals.with_label_values(&[provider, reason]);
            }
        }
        self.requests
            .with_label_values(&["unknown", Outcome::NotFound.as_str()]);
        for reason in publish_errors {
            self.publish_errors.with_label_values(&[&reason]);
        }
    }

    /// One request finished: counter and histogram together.
    pub fn request(&self, provider: &str, outcome: Outcome, seconds: f64) {
        self.requests
            .with_label_values(&[provider, outcome.as_str()])
            .inc();
        self.request_duration
            .with_label_values(&[provider, outcome.as_str()])
            .observe(seconds);
    }

    /// A request refused by verification, counted under its response code.
    pub fn signature_failure(&self, provider: &str, reason: VerifyError) {
        self.signature_failures
            .with_label_values(&[provider, reason.code()])
            .inc();
    }

    /// The broker acknowledged a record of `event_type` on `topic`.
    pub fn published(&self, provider: &str, event_type: &str, topic: &str) {
        self.events_published
            .with_label_values(&[provider, event_type, topic])
            .inc();
    }

    /// Time from enqueueing a record on `topic` to its delivery report.
    pub fn publish_latency(&self, topic: &str, seconds: f64) {
        self.publish_duration
            .with_label_values(&[topic])
            .observe(seconds);
    }

    /// A record the broker did not acknowledge.
    /// A publish failed, by its `reason` (`kafka::PublishError::reason`).
    pub fn publish_error(&self, reason: &str) {
        self.publish_errors.with_label_values(&[reason]).inc();
    }

    pub fn producer_replaced(&self) {
        self.producer_replacements.inc();
    }

    /// A verified webhook hit a bug after verification.
    /// A request of `provider` refused for want of capacity, `reason` its code.
    pub fn refused(&self, provider: &str, reason: &str) {
        self.refusals.with_label_values(&[provider, reason]).inc();
    }

    /// A request was handshake `handshake` of `provider`.
    pub fn handshake(&self, provider: &str, handshake: &str, outcome: HandshakeOutcome) {
        self.handshakes
            .with_label_values(&[provider, handshake, outcome.as_str()])
            .inc();
    }

    pub fn internal_error(&self, provider: &str) {
        self.internal_errors.with_label_values(&[provider]).inc();
    }

    /// The in-flight gauge, for the guard that holds a request's slot.
    pub fn inflight(&self) -> &IntGauge {
        &self.inflight
    }

    /// The buffered-bytes gauge, for the body budget's reservations.
    pub fn buffered_bytes(&self) -> IntGauge {
        self.buffered_bytes.clone()
    }

    pub fn topic_available(&self, topic: &str, available: bool) {
        self.topic_available
            .with_label_values(&[topic])
            .set(available as i64);
    }

    /// librdkafka's statistics: the local queue and each broker's round trip.
    /// One producer's statistics: `producer` is its lane (0 prompt, 1 batching).
    pub fn producer_statistics<'a>(
        &self,
        producer: usize,
        queue_messages: i64,
        queue_bytes: i64,
        rtt_seconds: impl IntoIterator<Item = (&'a str, f64)>,
    ) {
        let (messages, bytes) = {
            let mut queues = self
                .producer_queues
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            queues[producer.min(1)] = (queue_messages, queue_bytes);
            queues
                .iter()
                .fold((0, 0), |(m, b), (qm, qb)| (m + qm, b + qb))
        };
        self.producer_queue_messages.set(messages);
        self.producer_queue_bytes.set(bytes);
        for (broker, seconds) in rtt_seconds {
            self.broker_rtt.with_label_values(&[broker]).set(seconds);
        }
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
    #[test]
    fn initialise_exports_every_bounded_series_at_zero_and_nothing_per_topic() {
        let metrics = Metrics::new();
        let own = crate::kafka::PublishError::OWN.iter().map(|e| e.reason());
        metrics.initialise([("m2m", vec!["ping"])], own, &["overloaded"]);
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
        assert!(text
            .contains(r#"webhook_capacity_refusals_total{provider="m2m",reason="overloaded"} 0"#));
        assert!(text.contains(
            r#"webhook_signature_failures_total{provider="m2m",reason="timestamp_outside_window"} 0"#
        ));
        assert!(text.contains(r#"kafka_publish_errors_total{reason="queue_full"} 0"#));
        assert!(text.contains(r#"kafka_publish_errors_total{reason="timeout"} 0"#));
        assert!(text.contains(r#"webhook_internal_errors_total{provider="m2m"} 0"#));
        for outcome in HandshakeOutcome::ALL {
            let line = format!(
                r#"webhook_handshakes_total{{handshake="ping",outcome="{}",provider="m2m"}} 0"#,
                outcome.as_str()
            );
            assert!(text.contains(&line), "{line}");
        }
        assert!(!text.contains("transfers"), "only enabled providers");
        assert!(!text.contains("webhook_events_published_total{"));
    }
}
