//! One webhook request's IO: read the body (bounded) -> the pipeline (verify,
//! normalize, record; `engine::pipeline`) -> publish and await every ack ->
//! respond. 2xx only after the broker's ack.
//!
//! - `body`: reading the body within its size, time and memory budget

mod body;

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::FutureExt;
use http::{Method, Request};
use hyper::body::Body;

use crate::engine::handshake;
use crate::engine::normalize::RequestMeta;
use crate::engine::pipeline::{self, Limits, Reply, Routed};
use crate::engine::provider::Provider;
use crate::engine::route::Destination;
use crate::engine::trace::TraceParent;
use crate::engine::verify::Line;
use crate::http::budget::BodyBudget;
use crate::http::error::RequestError;
use crate::http::respond;
use crate::http::share::{self, InFlight, Lane};
use crate::kafka::{PublishError, Publisher};
use crate::metrics::{HandshakeOutcome, Metrics, Outcome};
use crate::settings::Config;

/// What the gateway reads as now: `SystemTime::now`, but for a test that
/// receives at a fixed time (a published test vector's, a re-drive's).
pub type Clock = fn() -> SystemTime;

pub struct Ingest {
    providers: Vec<Served>,
    publisher: Arc<Publisher>,
    metrics: Arc<Metrics>,
    /// The common pool of the in-flight cap, beyond each provider's reserve.
    inflight: InFlight,
    /// Memory for bodies not yet verified (verified ones count against `inflight`).
    budget: BodyBudget,
    max_body_bytes: usize,
    body_timeout: Duration,
    limits: Limits,
    /// A webhook's receive time.
    clock: Clock,
}

/// An enabled provider and its share of the capacity.
struct Served {
    provider: Arc<Provider>,
    lane: Lane,
    /// It declares a GET handshake: the only GET the public port answers.
    get: bool,
    /// It declares a POST handshake: its rate is checked once the request
    /// has shown it is no handshake (handshakes are never limited).
    post: bool,
}

/// What a request came to: records acknowledged, or one of its provider's
/// handshakes, answered or refused.
enum Done<'p> {
    Published(Accepted<'p>),
    Handshake {
        name: &'p str,
        outcome: HandshakeOutcome,
        answer: Result<respond::Answer, RequestError>,
    },
}

/// What an accepted request produced, for the response and the log line:
/// every record's id, and the first record's facts (none for a request that
/// made no record).
struct Accepted<'p> {
    ids: Vec<String>,
    reply: Reply<'p>,
    outcome: Outcome,
    event_type: Option<Arc<str>>,
    entity: Option<String>,
}

impl Ingest {
    /// Serves `providers`, compiled from `config` ([`Provider::enabled`]),
    /// each webhook received at `clock`'s time.
    pub fn new(
        config: &Config,
        providers: Vec<Arc<Provider>>,
        publisher: Arc<Publisher>,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Ingest {
        let settings = &config.settings;
        let providers = providers
            .into_iter()
            .map(|provider| Served {
                get: handshake::declares(&provider.definition, Method::GET),
                post: handshake::declares(&provider.definition, Method::POST),
                lane: Lane::new(
                    provider.definition.limits.as_ref(),
                    share::inflight_reserve(settings.max_inflight),
                    share::body_reserve(settings.max_buffered_bytes),
                ),
                provider,
            })
            .collect();
        Ingest {
            providers,
            publisher,
            metrics: metrics.clone(),
            inflight: InFlight::new(settings.max_inflight, metrics.inflight().clone()),
            budget: BodyBudget::new(
                config.settings.max_buffered_bytes,
                config.settings.max_body_bytes,
                metrics.buffered_bytes(),
            ),
            max_body_bytes: config.settings.max_body_bytes,
            body_timeout: config.settings.body_timeout,
            limits: Limits {
                replay_tolerance: config.settings.replay_tolerance,
                max_record_bytes: config.max_record_bytes,
            },
            clock,
        }
    }

    /// The enabled provider called `name`: what `/webhooks/<name>` serves.
    fn enabled(&self, name: &str) -> Option<&Served> {
        self.providers.iter().find(|s| s.provider.name() == name)
    }

    /// The enabled providers' names, built-ins first, each with its
    /// handshakes' names.
    pub fn names(&self) -> impl Iterator<Item = (&str, Vec<&str>)> {
        self.providers.iter().map(|s| {
            let handshakes = s.provider.definition.handshakes.iter();
            (
                s.provider.name(),
                handshakes.map(|h| h.name.as_str()).collect(),
            )
        })
    }

    pub async fn handle<B>(&self, request: Request<B>) -> respond::Answer
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let provider = request
            .uri()
            .path()
            .strip_prefix("/webhooks/")
            .and_then(|name| self.enabled(name));
        // A label from the definitions only: nothing else from the request.
        let label = provider.map_or("unknown", |s| s.provider.name());
        let traceparent = TraceParent::from_headers(request.headers());
        let trace_id = traceparent.as_ref().map(TraceParent::trace_id);

        let result = match provider {
            None => Err(RequestError::NotFound),
            Some(served) if request.method() == Method::POST => {
                self.accept(served, request, traceparent.clone()).await
            }
            Some(served) if served.get && request.method() == Method::GET => {
                self.accept(served, request, traceparent.clone()).await
            }
            Some(served) => Err(RequestError::MethodNotAllowed(match served.get {
                true => "GET, POST",
                false => "POST",
            })),
        };

        let elapsed = started.elapsed();
        let (response, outcome) = match result {
            Ok(Done::Handshake {
                name,
                outcome: handshake,
                answer,
            }) => {
                let (response, outcome, reason) = match answer {
                    Ok(response) => (response, Outcome::Handshake, None),
                    Err(error) => {
                        self.count_refusal(label, &error);
                        (
                            respond::refused(&error),
                            error.outcome(),
                            Some(error.code()),
                        )
                    }
                };
                tracing::info!(
                    provider = label,
                    handshake = name,
                    outcome = handshake.as_str(),
                    status = response.status().as_u16(),
                    reason,
                    duration_ms = elapsed.as_secs_f64() * 1000.0,
                    trace_id,
                    "handshake"
                );
                (response, outcome)
            }
            Ok(Done::Published(accepted)) => {
                let response = respond::acknowledged(accepted.reply, &accepted.ids);
                tracing::info!(
                    provider = label,
                    r#type = accepted.event_type.as_deref(),
                    event_id = accepted.ids.first().map(String::as_str),
                    records = accepted.ids.len(),
                    entity = accepted.entity.as_deref(),
                    outcome = accepted.outcome.as_str(),
                    status = response.status().as_u16(),
                    duration_ms = elapsed.as_secs_f64() * 1000.0,
                    trace_id,
                    "webhook"
                );
                (response, accepted.outcome)
            }
            Err(error) => {
                self.count_refusal(label, &error);
                tracing::info!(
                    provider = label,
                    outcome = error.outcome().as_str(),
                    status = error.status().as_u16(),
                    reason = error.code(),
                    duration_ms = elapsed.as_secs_f64() * 1000.0,
                    trace_id,
                    "webhook refused"
                );
                (respond::refused(&error), error.outcome())
            }
        };
        self.metrics.request(label, outcome, elapsed.as_secs_f64());
        response
    }

    async fn accept<'p, B>(
        &self,
        served: &'p Served,
        request: Request<B>,
        traceparent: Option<TraceParent>,
    ) -> Result<Done<'p>, RequestError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (provider, lane) = (&*served.provider, &served.lane);
        // A GET is a handshake or nothing: never limited, and its body (a
        // GET has none) is never read or bought from the budget.
        let is_get = request.method() == Method::GET;
        // Past its own rate, a provider is refused before its body is read,
        // unless the body may show a handshake, which is never limited.
        let limited = match is_get {
            true => None,
            false => lane.check_rate().err(),
        };
        let limited = match (limited, served.post) {
            (Some(limited), false) => return Err(limited),
            (limited, _) => limited,
        };
        let (parts, body) = request.into_parts();
        let (body, reservation) = match is_get {
            true => (Bytes::new(), None),
            false => {
                let (body, reservation) = self.read_body(body, &parts.headers, &lane.body).await?;
                (body, Some(reservation))
            }
        };

        let received_at = (self.clock)();
        let meta = RequestMeta::of(&parts.headers, traceparent);
        let request = pipeline::Request {
            line: Line {
                method: parts.method.as_str(),
                query: parts.uri.query(),
            },
            headers: &parts.headers,
            meta: &meta,
            received_at,
        };
        if let Some(handshaken) = pipeline::handshake(provider, &body, request, self.limits) {
            return Ok(self.handshake(provider, handshaken));
        }
        if is_get {
            return Err(RequestError::NotAHandshake);
        }
        if let Some(limited) = limited {
            return Err(limited);
        }
        let processed = pipeline::process(provider, body, request, self.limits)?;
        // Verified bodies leave the buffer budget for the in-flight cap.
        drop(reservation);
        lane.charge(processed.records.len());
        let (records, reply, rescued, verified) = (
            processed.records,
            processed.reply,
            processed.rescued,
            processed.verified,
        );
        if rescued {
            self.internal_error(provider, &records);
        }

        // Only requests that will wait for the broker count against the cap, so
        // a flood of bad signatures never crowds out valid traffic.
        let slot = self.inflight.take(lane)?;
        // A panic while publishing (a bug in the publisher's glue) keeps the
        // body on the dead-letter topic too, as one in the pipeline would.
        let published = AssertUnwindSafe(self.publish(provider, records, reply))
            .catch_unwind()
            .await;
        let result = match published {
            // A rescue that cannot be kept is the gateway's failure, not the broker's.
            Ok(Err(_)) if rescued => Err(RequestError::Internal),
            Ok(result) => result,
            Err(_panic) => {
                let room = self.limits.max_record_bytes;
                let rescue = pipeline::rescue(provider, &verified, request, room);
                self.internal_error(provider, std::slice::from_ref(&rescue));
                match AssertUnwindSafe(self.publish(provider, vec![rescue], reply))
                    .catch_unwind()
                    .await
                {
                    Ok(Ok(accepted)) => Ok(accepted),
                    Ok(Err(_)) | Err(_) => Err(RequestError::Internal),
                }
            }
        };
        drop(slot);
        result.map(Done::Published)
    }

    /// A refusal's own counter, beside the request's: a failed signature by
    /// its reason, a want of capacity by its code.
    fn count_refusal(&self, provider: &str, error: &RequestError) {
        match error {
            RequestError::Unauthorized(reason) => self.metrics.signature_failure(provider, *reason),
            e if e.is_capacity() => self.metrics.refused(provider, e.code()),
            _ => {}
        }
    }

    /// A handshake's reply or refusal, counted by its name (`handle` logs it).
    fn handshake<'p>(&self, provider: &Provider, handshaken: pipeline::Handshaken<'p>) -> Done<'p> {
        let (outcome, answer) = match handshaken.answer {
            Ok(reply) => (HandshakeOutcome::Answered, Ok(respond::handshake(reply))),
            Err(handshake::Refusal::Unauthorized(reason)) => (
                HandshakeOutcome::Unauthorized,
                Err(RequestError::Unauthorized(reason)),
            ),
            Err(handshake::Refusal::Value) => {
                (HandshakeOutcome::Refused, Err(RequestError::HandshakeValue))
            }
        };
        let name = handshaken.handshake.name.as_str();
        self.metrics.handshake(provider.name(), name, outcome);
        Done::Handshake {
            name,
            outcome,
            answer,
        }
    }

    fn internal_error(&self, provider: &Provider, rescue: &[Routed]) {
        self.metrics.internal_error(provider.name());
        for r in rescue {
            tracing::error!(
                provider = provider.name(),
                event_id = %r.id,
                "internal error after verification; keeping the webhook on the dead-letter topic"
            );
        }
    }

    /// Every record to its broker ack, in order; the request's facts from
    /// the first. Any failure fails the request: its retry republishes all.
    async fn publish<'p>(
        &self,
        provider: &Provider,
        records: Vec<Routed>,
        reply: Reply<'p>,
    ) -> Result<Accepted<'p>, RequestError> {
        let every_ack = async {
            for routed in &records {
                self.publisher.publish(&routed.record).await?;
                self.metrics
                    .published(provider.name(), &routed.type_name, &routed.record.topic);
            }
            Ok::<(), PublishError>(())
        };
        // A sender that gives up after 3 s (`timeout_ms:`) must have its
        // answer, a 503 included, before it stops listening: a 2xx it never
        // reads is a delivery it counts as failed.
        match provider.definition.timeout_ms {
            None => every_ack.await?,
            Some(ms) => match tokio::time::timeout(Duration::from_millis(ms), every_ack).await {
                Ok(acked) => acked?,
                Err(_) => {
                    self.metrics.publish_error(&PublishError::Timeout.reason());
                    return Err(PublishError::Timeout.into());
                }
            },
        }
        let ids = records.iter().map(|r| r.id.to_hex()).collect();
        let (outcome, event_type, entity) = match records.into_iter().next() {
            None => (Outcome::Accepted, None, None),
            Some(first) => (
                match first.destination {
                    Destination::Typed => Outcome::Accepted,
                    Destination::Unrouted => Outcome::Unrouted,
                    Destination::DeadLetter => Outcome::Deadlettered,
                },
                Some(first.type_name),
                first.subject,
            ),
        };
        Ok(Accepted {
            ids,
            reply,
            outcome,
            event_type,
            entity,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::DataSchemas;
    use crate::engine::envelope::EventId;
    use crate::sign::{signature_headers, Parts};
    use http_body_util::{BodyExt, Full};
    use rdkafka::mocking::MockCluster;

    const SECRET: &str = "ingest-test-secret";
    const BODY: &[u8] =
        br#"{"event":"Payment.Status","data":{"status":"Completed","paymentReference":"p-1"}}"#;

    /// A panic inside normalize (a bug no input can trigger, normalize being
    /// total: a plan at odds with its own name index stands in for one) is
    /// answered 200 once the body is acknowledged on the dead-letter topic,
    /// and counted. A panic while publishing is tests/it/hostile_input.rs's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panic_in_the_pipeline_is_answered_after_the_dead_letter_ack() {
        let cluster = MockCluster::new(1).expect("mock cluster");
        cluster
            .create_topic("webhooks.deadletter", 1, 1)
            .expect("mock topic");
        let env: crate::settings::Env = [
            ("KAFKA_BOOTSTRAP_SERVERS", cluster.bootstrap_servers()),
            ("TRANSFERS_SIGNATURE_TOKEN", SECRET.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let config = Config::from_env(&env).expect("valid settings");
        let schemas =
            DataSchemas::load(&config.published.providers).expect("the built-ins' schemas");
        let def = config
            .published
            .providers
            .get("transfers")
            .expect("built in")
            .clone();
        let keys = config.secrets["transfers"].keys.clone();
        let mut provider = Provider::new(def, &config.published.topics, schemas.uris(), Some(keys));
        provider.plan.entries.clear();
        let signed = signature_headers(&provider.definition, SECRET, BODY, &Parts::default());
        let metrics = Arc::new(Metrics::new());
        let publisher = Publisher::new(
            &config.kafka,
            config.settings.publish_timeout,
            metrics.clone(),
        );
        let ingest = Ingest::new(
            &config,
            vec![Arc::new(provider)],
            publisher.expect("producer"),
            metrics.clone(),
            SystemTime::now,
        );

        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/webhooks/transfers")
            .header(http::header::CONTENT_TYPE, "application/json");
        for (name, value) in signed.unwrap() {
            request = request.header(name, value);
        }
        let request = request.body(Full::new(Bytes::from_static(BODY))).unwrap();
        let answer = ingest.handle(request).await;

        assert_eq!(answer.status(), http::StatusCode::OK);
        let body = answer.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["id"], EventId::derive("transfers", BODY).to_hex());
        let text = metrics.encode();
        assert!(
            text.contains(r#"webhook_internal_errors_total{provider="transfers"} 1"#),
            "{text}"
        );
    }
}
