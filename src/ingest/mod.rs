//! One webhook request: read the body (bounded) -> verify -> normalize -> route
//! -> publish and await the ack -> respond. 2xx only after the broker's ack.
//!
//! - `body`: reading the body within its size, time and memory budget

mod body;

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use futures_util::FutureExt;
use http::{HeaderMap, Method, Request};
use hyper::body::Body;
use tokio::sync::Semaphore;

use crate::budget::BodyBudget;
use crate::config::Config;
use crate::contract::DataSchemas;
use crate::envelope::{DeadLetter, DeadLetterReason, EventId};
use crate::error::RequestError;
use crate::metrics::{Metrics, Outcome};
use crate::normalize::{normalize, Plan, RequestMeta};
use crate::providers::rules::DEADLETTER;
use crate::providers::Definition;
use crate::publish::Publisher;
use crate::replay;
use crate::respond;
use crate::routing::{Destination, Route, Topics};
use crate::trace::TraceParent;
use crate::verify::{verify, KeyRing, Verified};

/// An enabled provider: its definition, compiled for reading, and its
/// current secrets (swappable for a reload).
pub struct EnabledProvider {
    pub definition: Definition,
    pub plan: Plan,
    pub keys: RwLock<Arc<KeyRing>>,
}

pub struct Ingest {
    providers: Vec<EnabledProvider>,
    topics: Topics,
    publisher: Arc<Publisher>,
    metrics: Arc<Metrics>,
    inflight: Semaphore,
    /// Memory for bodies not yet verified (verified ones count against `inflight`).
    budget: BodyBudget,
    max_body_bytes: usize,
    /// The largest record the configuration promises the broker takes.
    max_record_bytes: usize,
    body_timeout: Duration,
    replay_tolerance: Duration,
    #[cfg(feature = "test-hooks")]
    clock: fn() -> SystemTime,
}

/// A request's place under the in-flight cap. The gauge follows the permit:
/// when hyper drops a request's future (the client went away mid-publish),
/// both are released together instead of the gauge drifting upward.
struct InflightSlot<'a> {
    _permit: tokio::sync::SemaphorePermit<'a>,
    gauge: &'a prometheus::IntGauge,
}

impl<'a> InflightSlot<'a> {
    fn take(cap: &'a Semaphore, gauge: &'a prometheus::IntGauge) -> Result<Self, RequestError> {
        let permit = cap.try_acquire().map_err(|_| RequestError::Overloaded)?;
        gauge.inc();
        Ok(InflightSlot {
            _permit: permit,
            gauge,
        })
    }
}

impl Drop for InflightSlot<'_> {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// What an accepted request produced, for the response and the log line.
struct Accepted {
    id: String,
    outcome: Outcome,
    event_type: Arc<str>,
    entity: Option<String>,
}

impl Ingest {
    /// `schemas` name each type's `data` schema: the records' `dataschema`.
    pub fn new(
        config: &Config,
        schemas: &DataSchemas,
        publisher: Arc<Publisher>,
        metrics: Arc<Metrics>,
    ) -> Ingest {
        let providers = config
            .providers
            .list
            .iter()
            .filter_map(|def| {
                config.secrets.get(&def.name).map(|s| EnabledProvider {
                    definition: def.clone(),
                    plan: schemas.plan(def),
                    keys: RwLock::new(Arc::new(s.keys.clone())),
                })
            })
            .collect();
        Ingest {
            providers,
            topics: config.topics.clone(),
            publisher,
            metrics: metrics.clone(),
            inflight: Semaphore::new(config.max_inflight),
            budget: BodyBudget::new(
                config.max_buffered_bytes,
                config.max_body_bytes,
                metrics.buffered_bytes(),
            ),
            max_body_bytes: config.max_body_bytes,
            max_record_bytes: config.max_record_bytes,
            body_timeout: config.body_timeout,
            replay_tolerance: config.replay_tolerance,
            #[cfg(feature = "test-hooks")]
            clock: config.clock,
        }
    }

    /// The enabled provider called `name`: what `/webhooks/<name>` serves.
    pub fn enabled(&self, name: &str) -> Option<&EnabledProvider> {
        self.providers.iter().find(|p| p.definition.name == name)
    }

    /// The enabled providers' names, built-ins first.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.providers.iter().map(|p| p.definition.name.as_str())
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
        let label = provider.map_or("unknown", |p| p.definition.name.as_str());
        let traceparent = TraceParent::from_headers(request.headers());
        let trace_id = traceparent.as_ref().map(TraceParent::trace_id);

        let result = match provider {
            None => Err(RequestError::NotFound),
            Some(_) if request.method() != Method::POST => Err(RequestError::MethodNotAllowed),
            Some(p) => self.accept(p, request, traceparent.clone()).await,
        };

        let elapsed = started.elapsed();
        let (response, outcome) = match result {
            Ok(accepted) => {
                tracing::info!(
                    provider = label,
                    r#type = %accepted.event_type,
                    event_id = %accepted.id,
                    entity = accepted.entity.as_deref(),
                    outcome = accepted.outcome.as_str(),
                    status = 200,
                    duration_ms = elapsed.as_secs_f64() * 1000.0,
                    trace_id,
                    "webhook"
                );
                (respond::accepted(&accepted.id), accepted.outcome)
            }
            Err(error) => {
                if let RequestError::Unauthorized(reason) = &error {
                    self.metrics.signature_failure(label, *reason);
                }
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

    async fn accept<B>(
        &self,
        enabled: &EnabledProvider,
        request: Request<B>,
        traceparent: Option<TraceParent>,
    ) -> Result<Accepted, RequestError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let (body, reservation) = self.read_body(body, &parts.headers).await?;

        let keys = enabled.keys.read().expect("keys lock").clone();
        #[cfg(not(feature = "test-hooks"))]
        let received_at = SystemTime::now();
        #[cfg(feature = "test-hooks")]
        let received_at = (self.clock)();
        let verified = verify(
            &enabled.definition,
            &keys,
            &parts.headers,
            body,
            received_at,
            self.replay_tolerance,
        )?;
        // Verified bodies leave the buffer budget for the in-flight cap.
        drop(reservation);

        // Only requests that will wait for the broker count against the cap, so
        // a flood of bad signatures never crowds out valid traffic.
        let slot = InflightSlot::take(&self.inflight, self.metrics.inflight())?;
        let meta = RequestMeta::of(&parts.headers, traceparent);
        // Nothing verified is dropped, not even to a bug: a panic past this
        // point keeps the body on the dead-letter topic instead of closing the
        // connection on a provider that would redeliver it (and fail) forever.
        let routed =
            AssertUnwindSafe(self.publish(enabled, &verified, &parts.headers, &meta, received_at))
                .catch_unwind()
                .await;
        let result = match routed {
            Ok(result) => result,
            Err(_panic) => {
                self.rescue(enabled, &verified, &parts.headers, &meta, received_at)
                    .await
            }
        };
        drop(slot);
        result
    }

    /// Verified body -> normalized event or dead letter -> record -> broker ack.
    async fn publish(
        &self,
        enabled: &EnabledProvider,
        verified: &Verified<Bytes>,
        headers: &HeaderMap,
        meta: &RequestMeta,
        received_at: SystemTime,
    ) -> Result<Accepted, RequestError> {
        #[cfg(feature = "test-hooks")]
        crate::test_hooks::panic_on_request(meta.content_type.as_deref());
        let normalized = normalize(&enabled.plan, verified, headers, meta, received_at);
        let mut routed = self.topics.route(&normalized);
        if routed.destination != Destination::Typed {
            let kept = replay::kept(
                &routed.record,
                replay::unrouted_data(&normalized),
                &enabled.plan,
                headers,
                verified,
                received_at,
                self.max_record_bytes,
            );
            routed.record.headers.extend(kept);
        }
        self.publisher.publish(&routed.record).await?;
        self.metrics
            .published(&enabled.plan.name, &routed.type_name, &routed.record.topic);
        Ok(Accepted {
            id: routed.id.to_hex(),
            outcome: match routed.destination {
                Destination::Typed => Outcome::Accepted,
                Destination::Unrouted => Outcome::Unrouted,
                Destination::DeadLetter => Outcome::Deadlettered,
            },
            event_type: routed.type_name,
            entity: routed.subject,
        })
    }

    /// After a panic past verification: the body goes whole to the dead-letter
    /// topic with reason `internal_error`, built here from the raw bytes alone
    /// (none of normalize's or routing's code, which may be what panicked). A
    /// 2xx follows its ack; a 500 only when this publish fails (or panics) too.
    async fn rescue(
        &self,
        enabled: &EnabledProvider,
        verified: &Verified<Bytes>,
        headers: &HeaderMap,
        meta: &RequestMeta,
        received_at: SystemTime,
    ) -> Result<Accepted, RequestError> {
        let provider = enabled.definition.name.as_str();
        let id = EventId::derive(provider, verified.get());
        self.metrics.internal_error(provider);
        tracing::error!(
            provider,
            event_id = %id,
            "internal error after verification; keeping the webhook on the dead-letter topic"
        );
        let mut record = DeadLetter {
            id,
            provider,
            reason: DeadLetterReason::InternalError,
            content_type: meta.content_type.clone(),
            body: verified.get(),
        }
        .to_record(self.topics.topic(Route::DeadLetter).clone());
        // Kept for a re-drive once the bug is fixed; a panic in keeping it
        // costs only the copy, never the dead letter.
        let kept = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let (plan, room) = (&enabled.plan, self.max_record_bytes);
            replay::kept(&record, None, plan, headers, verified, received_at, room)
        }));
        record.headers.extend(kept.unwrap_or_default());
        match AssertUnwindSafe(self.publisher.publish(&record))
            .catch_unwind()
            .await
        {
            Ok(Ok(())) => {
                self.metrics.published(provider, DEADLETTER, &record.topic);
                Ok(Accepted {
                    id: id.to_hex(),
                    outcome: Outcome::Deadlettered,
                    event_type: DEADLETTER.into(),
                    entity: None,
                })
            }
            Ok(Err(_)) | Err(_) => Err(RequestError::Internal),
        }
    }
}
