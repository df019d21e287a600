//! Liveness and readiness, and the topic watcher that drives readiness. Ready
//! means start-up finished (producer created, broker metadata fetched once)
//! and no shutdown has begun. A later broker
//! outage does not flip it: that would take every replica out of the Service at
//! once and turn a Kafka blip into an outage of the ingress; 503 answers and
//! metrics show it instead.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::kafka::Publisher;
use crate::metrics::Metrics;

/// How often topic availability is refreshed after start-up.
const METADATA_REFRESH: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct Health {
    started: AtomicBool,
    shutting_down: AtomicBool,
}

impl Health {
    pub fn mark_started(&self) {
        self.started.store(true, Ordering::SeqCst);
    }

    pub fn mark_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.started.load(Ordering::SeqCst) && !self.shutting_down.load(Ordering::SeqCst)
    }
}

/// Fetches metadata until the broker answers once, logs which routed topics are
/// missing, marks the gateway ready, then keeps `kafka_topic_available` fresh.
pub async fn watch_topics(
    routed: BTreeSet<Arc<str>>,
    publisher: Arc<Publisher>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
) {
    let mut first = true;
    loop {
        match publisher.existing_topics(Duration::from_secs(5)).await {
            Ok(existing) => {
                let mut missing = Vec::new();
                for topic in &routed {
                    let present = existing.contains(&**topic);
                    metrics.topic_available(topic, present);
                    if !present {
                        missing.push(topic.to_string());
                    }
                }
                if first {
                    if missing.is_empty() {
                        tracing::info!(
                            topics = routed.len(),
                            "topic check: every routed topic exists"
                        );
                    } else {
                        tracing::error!(missing = ?missing, "topic check: routed topics missing; their webhooks will answer 503 until they exist");
                    }
                    health.mark_started();
                    tracing::info!("ready");
                    first = false;
                }
                tokio::time::sleep(METADATA_REFRESH).await;
            }
            Err(error) => {
                tracing::warn!(%error, "broker metadata request failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}
