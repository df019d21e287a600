//! Each provider's share of the gateway's capacity, so that one sender's storm
//! (a retry wave after an outage, or a flood of bad signatures on its path)
//! cannot starve another sender.
//!
//! The mechanism is a reserve per provider on top of a common pool, for the
//! in-flight cap and for the memory of unverified bodies alike: a request
//! takes from its provider's own reserve first and from the common pool
//! (`GATEWAY_MAX_INFLIGHT`, `GATEWAY_MAX_BUFFERED_BYTES`) beyond it. A
//! provider alone may fill the whole pool, so nothing is held idle for
//! senders that send nothing, and a sender at its normal pace finds its
//! reserve free whatever the others do. The price is a bound that grows
//! with the providers: the pool plus one reserve per enabled provider
//! (docs/operations.md states it). A weighted queue in front of one shared
//! cap would bound memory to the pool alone, but it must hold verified
//! requests waiting for a slot, which is memory of its own and a latency
//! every request pays under load; the reserves cost neither.
//!
//! The CPU spent verifying is not split by provider: the runtime's run queue
//! is first in, first out across connections, so a request waits for at
//! most one turn of each other connection, and with HMAC schemes a refused
//! forgery's turn is a few microseconds (tests/it/fair_share.rs measures a
//! quiet sender's latency beside a bad-signature flood). A gate per
//! provider around the pipeline cannot change that order: the pipeline
//! never yields, so a gate is only ever held by the task running it.
//!
//! A provider's own `limits:` (a rate in records per second, a cap on its
//! requests awaiting acks) are checked here too, per replica.

use std::sync::Mutex;
use std::time::Instant;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::definitions::compiled::Limits;
use crate::http::budget::Reserve;
use crate::http::error::RequestError;

/// One provider's reserve of the in-flight cap: at least 4 requests, a
/// thirty-second of the pool (32 with the default 1 024).
pub fn inflight_reserve(pool: usize) -> usize {
    (pool / 32).max(4)
}

/// One provider's reserve of the unverified-body budget: a thirty-second of
/// the budget (2 MiB with the default 64 MiB), at least two small bodies.
pub fn body_reserve(budget: usize) -> usize {
    (budget / 32).max(2 * crate::http::budget::SMALL_BODY_BYTES)
}

/// What one provider holds of the gateway's capacity.
pub struct Lane {
    /// Its own in-flight slots, taken before the pool's.
    inflight: Semaphore,
    /// Its own bytes for unverified bodies, taken before the budget's.
    pub body: Reserve,
    /// `limits.in_flight`.
    in_flight_limit: Option<Semaphore>,
    /// `limits.rate` and `limits.burst`.
    rate: Option<Mutex<Bucket>>,
}

impl Lane {
    pub fn new(limits: Option<&Limits>, inflight: usize, body: usize) -> Lane {
        Lane {
            inflight: Semaphore::new(inflight),
            body: Reserve::new(body),
            in_flight_limit: limits
                .and_then(|l| l.in_flight)
                .map(|n| Semaphore::new(n as usize)),
            rate: limits.and_then(|l| {
                let rate = l.rate?;
                let burst = l.burst.map_or(rate.ceil().max(1.0), f64::from);
                Some(Mutex::new(Bucket::new(rate, burst)))
            }),
        }
    }

    /// Refuses a request of a provider past its rate before its body is read:
    /// 429 with the seconds until a record's worth of rate is back.
    pub fn check_rate(&self) -> Result<(), RequestError> {
        let Some(bucket) = &self.rate else {
            return Ok(());
        };
        let mut bucket = bucket.lock().unwrap_or_else(|p| p.into_inner());
        match bucket.wait_secs(Instant::now()) {
            None => Ok(()),
            Some(secs) => Err(RequestError::RateLimited(secs)),
        }
    }

    /// Charges a verified request's records to its rate (a batch weighs what
    /// it publishes; a request that publishes nothing still costs one).
    pub fn charge(&self, records: usize) {
        if let Some(bucket) = &self.rate {
            let mut bucket = bucket.lock().unwrap_or_else(|p| p.into_inner());
            bucket.take(Instant::now(), records.max(1) as f64);
        }
    }
}

/// The in-flight cap: the common pool every provider may fill, and the
/// gauge of every request awaiting the broker.
pub struct InFlight {
    pool: Semaphore,
    gauge: prometheus::IntGauge,
}

impl InFlight {
    pub fn new(pool: usize, gauge: prometheus::IntGauge) -> InFlight {
        InFlight {
            pool: Semaphore::new(pool),
            gauge,
        }
    }

    /// A place for one request of `lane`'s provider: its own limit first
    /// (429), then its reserve, then the pool (503 when both are full).
    pub fn take<'a>(&'a self, lane: &'a Lane) -> Result<Slot<'a>, RequestError> {
        let limit = match &lane.in_flight_limit {
            Some(limit) => Some(
                limit
                    .try_acquire()
                    .map_err(|_| RequestError::InFlightLimited)?,
            ),
            None => None,
        };
        let permit = lane
            .inflight
            .try_acquire()
            .or_else(|_| self.pool.try_acquire())
            .map_err(|_| RequestError::Overloaded)?;
        self.gauge.inc();
        Ok(Slot {
            _permits: (permit, limit),
            gauge: &self.gauge,
        })
    }
}

/// A request's place under the in-flight cap. The gauge follows the permits:
/// when hyper drops a request's future (the client went away mid-publish),
/// both are released together instead of the gauge drifting upward.
pub struct Slot<'a> {
    _permits: (SemaphorePermit<'a>, Option<SemaphorePermit<'a>>),
    gauge: &'a prometheus::IntGauge,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// A token bucket in records: `burst` records at once, refilled at `rate`
/// per second. Charged after verification, so it may run into debt (several
/// requests admitted together): the debt delays the next ones, and the
/// average stays at `rate`.
#[derive(Debug)]
struct Bucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: f64) -> Bucket {
        Bucket {
            rate,
            burst,
            tokens: burst,
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.at = now;
    }

    /// `None` when a record may go now, else the whole seconds to wait (at
    /// least 1: `Retry-After` counts in seconds).
    fn wait_secs(&mut self, now: Instant) -> Option<u32> {
        self.refill(now);
        if self.tokens >= 1.0 {
            return None;
        }
        let secs = ((1.0 - self.tokens) / self.rate).ceil();
        Some(secs.clamp(1.0, f64::from(u32::MAX)) as u32)
    }

    fn take(&mut self, now: Instant, records: f64) {
        self.refill(now);
        self.tokens -= records;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn gauge() -> prometheus::IntGauge {
        prometheus::IntGauge::new("g", "g").unwrap()
    }

    #[test]
    fn a_flood_fills_its_reserve_and_the_pool_but_never_the_quiet_reserve() {
        let cap = InFlight::new(4, gauge());
        let (flood, quiet) = (Lane::new(None, 2, 1), Lane::new(None, 2, 1));
        let held: Vec<_> = std::iter::from_fn(|| cap.take(&flood).ok()).collect();
        assert_eq!(held.len(), 6, "its reserve of 2, then the whole pool of 4");
        assert!(matches!(cap.take(&flood), Err(RequestError::Overloaded)));
        let quiet_held = [cap.take(&quiet).unwrap(), cap.take(&quiet).unwrap()];
        assert!(
            cap.take(&quiet).is_err(),
            "past its reserve, the pool is full"
        );
        assert_eq!(cap.gauge.get(), 8);
        drop(held);
        drop(quiet_held);
        assert_eq!(cap.gauge.get(), 0);
    }

    #[test]
    fn a_provider_alone_may_use_the_whole_pool() {
        let cap = InFlight::new(100, gauge());
        let alone = Lane::new(None, 4, 1);
        let _others_idle = Lane::new(None, 4, 1);
        let held: Vec<_> = std::iter::from_fn(|| cap.take(&alone).ok()).collect();
        assert_eq!(held.len(), 104);
    }

    #[test]
    fn its_own_in_flight_limit_is_a_429_before_any_capacity_is_taken() {
        let limits = Limits {
            rate: None,
            burst: None,
            in_flight: Some(1),
        };
        let cap = InFlight::new(10, gauge());
        let lane = Lane::new(Some(&limits), 2, 1);
        let first = cap.take(&lane).unwrap();
        assert!(matches!(
            cap.take(&lane),
            Err(RequestError::InFlightLimited)
        ));
        assert_eq!(cap.gauge.get(), 1);
        drop(first);
        assert!(cap.take(&lane).is_ok());
    }

    #[test]
    fn the_rate_is_in_records_with_a_burst_and_says_when_to_retry() {
        let t0 = Instant::now();
        let mut bucket = Bucket::new(2.0, 4.0);
        bucket.at = t0;
        assert_eq!(bucket.wait_secs(t0), None);
        bucket.take(t0, 4.0);
        assert_eq!(bucket.wait_secs(t0), Some(1), "half a second, said as 1");
        assert_eq!(bucket.wait_secs(t0 + Duration::from_millis(500)), None);
        // A batch of 10 records runs the bucket into debt: 5 s to pay back.
        bucket.take(t0 + Duration::from_millis(500), 10.0);
        assert_eq!(bucket.wait_secs(t0 + Duration::from_millis(500)), Some(5));
        assert_eq!(bucket.wait_secs(t0 + Duration::from_secs(6)), None);
        // Idle time refills up to the burst, never beyond.
        bucket.refill(t0 + Duration::from_secs(600));
        assert_eq!(bucket.tokens, 4.0);
    }
}
