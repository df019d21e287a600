//! One webhook request: read the body (bounded) -> verify -> normalize -> route
//! -> publish and await the ack -> respond. 2xx only after the broker's ack.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{header, HeaderMap, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Body;
use tokio::sync::Semaphore;

use crate::config::Config;
use crate::error::RequestError;
use crate::metrics::{Metrics, Outcome};
use crate::normalize::{normalize, Normalized, RequestMeta};
use crate::providers::{Provider, ProviderId};
use crate::publish::Publisher;
use crate::routing::{Route, Topics};
use crate::verify::{verify, KeyRing};

/// After a body proves too large, read at most this much more (within
/// [`DRAIN_TIME`]) so that a client still sending sees the 413 instead of a reset.
const DRAIN_BYTES: usize = 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(2);

/// An enabled provider and its current secrets (swappable for a reload).
pub struct EnabledProvider {
    pub provider: &'static Provider,
    pub keys: RwLock<Arc<KeyRing>>,
}

pub struct Ingest {
    providers: Vec<EnabledProvider>,
    topics: Topics,
    publisher: Arc<Publisher>,
    metrics: Arc<Metrics>,
    inflight: Semaphore,
    max_body_bytes: usize,
    body_timeout: Duration,
    replay_tolerance: Duration,
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
    event_type: std::borrow::Cow<'static, str>,
    entity: Option<String>,
}

impl Ingest {
    pub fn new(config: &Config, publisher: Arc<Publisher>, metrics: Arc<Metrics>) -> Ingest {
        let providers = ProviderId::ALL
            .into_iter()
            .filter_map(|id| {
                config.secrets(id).map(|s| EnabledProvider {
                    provider: id.provider(),
                    keys: RwLock::new(Arc::new(s.keys.clone())),
                })
            })
            .collect();
        Ingest {
            providers,
            topics: config.topics.clone(),
            publisher,
            metrics,
            inflight: Semaphore::new(config.max_inflight),
            max_body_bytes: config.max_body_bytes,
            body_timeout: config.body_timeout,
            replay_tolerance: config.replay_tolerance,
        }
    }

    pub fn enabled(&self, id: ProviderId) -> Option<&EnabledProvider> {
        self.providers.iter().find(|p| p.provider.id == id)
    }

    pub async fn handle<B>(&self, request: Request<B>) -> Response<Full<Bytes>>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = Instant::now();
        let provider = request
            .uri()
            .path()
            .strip_prefix("/webhooks/")
            .and_then(ProviderId::from_name)
            .and_then(|id| self.enabled(id));
        let label = provider.map_or("unknown", |p| p.provider.id.name());
        let traceparent = traceparent(request.headers()).map(str::to_owned);
        let trace_id = traceparent.as_deref().map(|tp| &tp[3..35]);

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
                let body = format!(r#"{{"id":"{}"}}"#, accepted.id);
                (json(StatusCode::OK, body), accepted.outcome)
            }
            Err(error) => {
                if let RequestError::Unauthorized(reason) = &error {
                    self.metrics
                        .signature_failures
                        .with_label_values(&[label, reason.reason()])
                        .inc();
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
                (error_response(&error), error.outcome())
            }
        };
        self.metrics
            .observe_request(label, outcome, elapsed.as_secs_f64());
        response
    }

    async fn accept<B>(
        &self,
        enabled: &EnabledProvider,
        request: Request<B>,
        traceparent: Option<String>,
    ) -> Result<Accepted, RequestError>
    where
        B: Body<Data = Bytes>,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (parts, body) = request.into_parts();
        let body = read_body(body, &parts.headers, self.max_body_bytes, self.body_timeout).await?;

        let keys = enabled.keys.read().expect("keys lock").clone();
        let received_at = SystemTime::now();
        let verified = verify(
            &enabled.provider.scheme,
            &keys,
            &parts.headers,
            body,
            received_at,
            self.replay_tolerance,
        )?;

        // Only requests that will wait for the broker count against the cap, so
        // a flood of bad signatures never crowds out valid traffic.
        let slot = InflightSlot::take(&self.inflight, &self.metrics.inflight)?;
        let meta = RequestMeta {
            content_type: parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= 256)
                .map(str::to_owned),
            traceparent,
        };
        let normalized = normalize(enabled.provider, &verified, &meta, received_at);
        let record = self.topics.record(&normalized);
        let outcome = match Route::of(&normalized) {
            Route::Typed(_) => Outcome::Accepted,
            Route::Unrouted => Outcome::Unrouted,
            Route::DeadLetter => Outcome::Deadlettered,
        };

        let published = self.publisher.publish(&record).await;
        drop(slot);
        published?;
        let event_type = normalized.type_name();
        self.metrics
            .events_published
            .with_label_values(&[enabled.provider.id.name(), &event_type, &record.topic])
            .inc();
        Ok(Accepted {
            id: normalized.id().to_hex(),
            outcome,
            event_type,
            entity: match &normalized {
                Normalized::Event(e) => e.subject.clone(),
                Normalized::DeadLetter(_) => None,
            },
        })
    }
}

/// A W3C `traceparent` of the only defined version, else nothing (never copied unchecked).
fn traceparent(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("traceparent")?.to_str().ok()?;
    let b = value.as_bytes();
    let hex = |r: std::ops::Range<usize>| {
        b[r].iter()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    };
    let ok = b.len() == 55
        && b[2] == b'-'
        && b[35] == b'-'
        && b[52] == b'-'
        && hex(0..2)
        && hex(3..35)
        && hex(36..52)
        && hex(53..55);
    ok.then_some(value)
}

/// Reads the whole body, refusing it as soon as it exceeds `limit`: from
/// `Content-Length` before reading anything, or while streaming (`Limited`).
async fn read_body<B>(
    body: B,
    headers: &HeaderMap,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, RequestError>
where
    B: Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut body = std::pin::pin!(body);
    if declared.is_some_and(|len| len > limit as u64) {
        drain(body.as_mut()).await;
        return Err(RequestError::TooLarge);
    }
    // `collect` keeps a single-frame body (the common case) without copying.
    let read = Limited::new(body.as_mut(), limit).collect();
    let result = match tokio::time::timeout(timeout, read).await {
        Err(_) => Err(RequestError::BodyTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<LengthLimitError>() => Err(RequestError::TooLarge),
        Ok(Err(_)) => Err(RequestError::BadBody),
    };
    if matches!(result, Err(RequestError::TooLarge)) {
        drain(body.as_mut()).await;
    }
    result
}

/// Reads and discards up to [`DRAIN_BYTES`] within [`DRAIN_TIME`].
async fn drain<B: Body<Data = Bytes>>(mut body: std::pin::Pin<&mut B>) {
    let discard = async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                seen += data.len();
                if seen > DRAIN_BYTES {
                    return;
                }
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub fn error_response(error: &RequestError) -> Response<Full<Bytes>> {
    let mut response = json(error.status(), format!(r#"{{"error":"{}"}}"#, error.code()));
    let headers = response.headers_mut();
    if let RequestError::MethodNotAllowed = error {
        headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    if let Some(secs) = error.retry_after() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    // The rest of an oversized, slow or broken body may still be on the wire.
    if matches!(
        error,
        RequestError::TooLarge | RequestError::BodyTimeout | RequestError::BadBody
    ) {
        headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
