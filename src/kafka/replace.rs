//! Replacing a producer that can no longer deliver: only the supervisor builds
//! one, on a blocking thread, swapping it in under the lock for the swap
//! alone, and retrying with backoff when the build fails or panics. Requests
//! never wait for it: they answer 503 from the dead producer meanwhile.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::error::KafkaError;

use super::{build_generation, lock, Producers, Publisher};

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

/// How long past the publish timeout a replaced producer is flushed.
const FLUSH_MARGIN: Duration = Duration::from_secs(1);

impl Publisher {
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
            let producers = self.producers();
            let seen = producers.generation;
            let Some(reason) = self.why_broken(&producers) else {
                return;
            };
            drop(producers);
            match self.build_replacement(seen).await {
                Ok(fresh) => return self.swap(seen, fresh, &reason),
                Err(error) => {
                    tracing::error!(%error, %reason, retry_in_ms = backoff.as_millis() as u64, "could not create a replacement kafka producer; requests get 503 meanwhile");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// Why these producers must be replaced: librdkafka's fatal error in
    /// either, or an idempotence error a request reported against their
    /// generation. `None` while they can still deliver. Both are replaced
    /// together: a generation is one pair.
    fn why_broken(&self, producers: &Producers) -> Option<String> {
        for producer in producers.all() {
            if let Some((code, reason)) = producer.client().fatal_error() {
                return Some(format!("fatal error {code:?}: {reason}"));
            }
        }
        match *lock(&self.broken) {
            Some((generation, code)) if generation == producers.generation => {
                Some(format!("idempotent producer state rejected: {code:?}"))
            }
            _ => None,
        }
    }

    /// Builds the next generation's producers on a blocking thread: librdkafka's
    /// construction spawns threads and may take a while, and a panic there
    /// must stay in that thread.
    async fn build_replacement(&self, seen: u64) -> Result<Producers, ReplaceError> {
        let (config, batching) = (self.config.clone(), self.batching.clone());
        let (factory, metrics, errors) = (
            self.producers.clone(),
            self.metrics.clone(),
            self.errors.clone(),
        );
        let build = move || {
            build_generation(
                &factory,
                &config,
                batching.as_ref(),
                &metrics,
                &errors,
                seen + 1,
            )
        };
        let built = tokio::task::spawn_blocking(build).await?;
        Ok(built?)
    }

    /// Swaps `fresh` in if generation `seen` is still current (each key
    /// moves to it as its records on the old one resolve: see `lanes`).
    /// Whichever producers are left over are flushed, then dropped, off the
    /// async workers: dropping purges, and a purged record's report comes at
    /// once while its request, already sent, may still be written, so its
    /// key would move on too early. The flush waits for the real reports,
    /// up to the publish timeout (librdkafka's message timeout) and a margin.
    fn swap(&self, seen: u64, fresh: Producers, reason: &str) {
        let (replaced, leftover) = self.lanes.replace(seen, fresh);
        if replaced {
            self.metrics.producer_replaced();
            tracing::error!(%reason, generation = seen + 1, "kafka producer replaced");
        }
        let wait = self.timeout + FLUSH_MARGIN;
        drop(tokio::task::spawn_blocking(move || {
            for producer in leftover.all() {
                let _ = producer.flush(wait);
            }
            drop(leftover)
        }));
    }
}
