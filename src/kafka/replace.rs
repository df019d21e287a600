//! Replacing a producer that can no longer deliver: only the supervisor builds
//! one, on a blocking thread, swapping it in under the lock for the swap
//! alone, and retrying with backoff when the build fails or panics. Requests
//! never wait for it: they answer 503 from the dead producer meanwhile.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use rdkafka::error::KafkaError;

use super::{callbacks, lock, Producer, Publisher};

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
            let (seen, producer) = self.producer();
            let Some(reason) = self.why_broken(seen, &producer) else {
                return;
            };
            drop(producer);
            match self.build_replacement().await {
                Ok(fresh) => return self.swap(seen, fresh, &reason),
                Err(error) => {
                    tracing::error!(%error, %reason, retry_in_ms = backoff.as_millis() as u64, "could not create a replacement kafka producer; requests get 503 meanwhile");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(RETRY_MAX);
                }
            }
        }
    }

    /// Why generation `seen` must be replaced: librdkafka's fatal error, or an
    /// idempotence error a request reported. `None` while it can still deliver.
    fn why_broken(&self, seen: u64, producer: &Arc<dyn Producer>) -> Option<String> {
        if let Some((code, reason)) = producer.client().fatal_error() {
            return Some(format!("fatal error {code:?}: {reason}"));
        }
        match *lock(&self.broken) {
            Some((generation, code)) if generation == seen => {
                Some(format!("idempotent producer state rejected: {code:?}"))
            }
            _ => None,
        }
    }

    /// Builds a producer on a blocking thread: librdkafka's construction spawns
    /// threads and may take a while, and a panic there must stay in that thread.
    async fn build_replacement(&self) -> Result<Arc<dyn Producer>, ReplaceError> {
        let (config, producers) = (self.config.clone(), self.producers.clone());
        let context = callbacks(&self.metrics, &self.errors);
        let build = move || producers.build(&config, context);
        let built = tokio::task::spawn_blocking(build).await?;
        Ok(built?)
    }

    /// Swaps `fresh` in if generation `seen` is still current: the lock is held
    /// for the swap alone. Whichever producer is left over is dropped off the
    /// async workers (dropping purges, flushes and joins a thread).
    fn swap(&self, seen: u64, fresh: Arc<dyn Producer>, reason: &str) {
        let (replaced, leftover) = {
            let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
            if current.0 == seen {
                (true, std::mem::replace(&mut *current, (seen + 1, fresh)).1)
            } else {
                (false, fresh)
            }
        };
        if replaced {
            self.metrics.producer_replaced();
            tracing::error!(%reason, generation = seen + 1, "kafka producer replaced");
        }
        drop(tokio::task::spawn_blocking(move || drop(leftover)));
    }
}
