//! The memory budget for request bodies not yet verified: across every
//! connection, bodies being read or awaiting verification hold at most
//! `GATEWAY_MAX_BUFFERED_BYTES`. Without it the bound was connections × body
//! limit (about 1 GiB with the defaults), which a stalled-upload flood fills.
//!
//! Admission rule (SECURITY.md states it for operators):
//! - A body reserves its declared `Content-Length` before a byte of it is read
//!   (so `Expect: 100-continue` clients upload only once admitted); a body of
//!   unknown length reserves as it arrives, doubling, up to the body limit.
//! - One eighth of the budget is kept for small bodies (at most
//!   [`SMALL_BODY_BYTES`]): stalled large uploads can fill the rest, never that
//!   share, so ordinary webhooks (a few KiB) keep flowing.
//! - Each provider has a reserve of its own, taken first (`http::share`): a
//!   flood on one provider's path fills its reserve and the budget, never
//!   another provider's reserve.
//! - A body that does not fit waits at most [`ADMISSION_WAIT`], then is answered
//!   503 with `Retry-After`. A reservation lasts until the body is verified (or
//!   refused), and reading a body may take at most `GATEWAY_BODY_TIMEOUT_MS`:
//!   that is the minimum upload rate (256 KiB in 10 s with the defaults).

use std::sync::Arc;
use std::time::Duration;

use prometheus::IntGauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Bodies up to this size may use the share kept for small bodies.
pub const SMALL_BODY_BYTES: usize = 64 * 1024;
/// How long a body that does not fit waits for room before a 503.
pub const ADMISSION_WAIT: Duration = Duration::from_secs(1);

/// One provider's reserve of body bytes, taken before the budget's.
#[derive(Clone)]
pub struct Reserve {
    pool: Arc<Semaphore>,
    bytes: usize,
}

impl Reserve {
    pub fn new(bytes: usize) -> Reserve {
        Reserve {
            pool: Arc::new(Semaphore::new(bytes)),
            bytes,
        }
    }
}

/// No room for the body within [`ADMISSION_WAIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the buffer budget for unverified bodies is full")]
pub struct BudgetFull;

pub struct BodyBudget {
    /// Any body may reserve here.
    shared: Arc<Semaphore>,
    /// Only small bodies reserve here, once `shared` has no room.
    small: Arc<Semaphore>,
    buffered: IntGauge,
}

impl BodyBudget {
    /// A budget of `bytes` for bodies of at most `largest` bytes. An eighth (at
    /// least two small bodies' worth) is kept small, but never so much that the
    /// shared part could not hold the largest body: a share carved out of a
    /// budget barely above the body limit would make a legal body unadmittable.
    pub fn new(bytes: usize, largest: usize, buffered: IntGauge) -> BodyBudget {
        let small = (bytes / 8)
            .max(2 * SMALL_BODY_BYTES)
            .min(bytes.saturating_sub(largest));
        BodyBudget {
            shared: Arc::new(Semaphore::new(bytes - small)),
            small: Arc::new(Semaphore::new(small)),
            buffered,
        }
    }

    /// Room for `bytes` of body, from `own` (the provider's reserve) first,
    /// waiting at most [`ADMISSION_WAIT`].
    pub async fn reserve(&self, own: &Reserve, bytes: usize) -> Result<Reservation, BudgetFull> {
        let mut reservation = Reservation {
            permits: Vec::new(),
            bytes: 0,
            own: own.clone(),
            gauge: self.buffered.clone(),
        };
        reservation.add(self, bytes).await?;
        Ok(reservation)
    }

    async fn take(&self, own: &Reserve, bytes: usize) -> Result<OwnedSemaphorePermit, BudgetFull> {
        let n = u32::try_from(bytes).map_err(|_| BudgetFull)?;
        let small = bytes <= SMALL_BODY_BYTES;
        for pool in [
            Some(&own.pool),
            Some(&self.shared),
            small.then_some(&self.small),
        ]
        .into_iter()
        .flatten()
        {
            if let Ok(permit) = pool.clone().try_acquire_many_owned(n) {
                return Ok(permit);
            }
        }
        // Semaphores are fair: a body waits where only bodies like it queue,
        // its provider's own reserve when it fits there (behind no other
        // provider's), else small bodies on their share, never behind a large one.
        let pool = if bytes <= own.bytes {
            &own.pool
        } else if small {
            &self.small
        } else {
            &self.shared
        };
        match tokio::time::timeout(ADMISSION_WAIT, pool.clone().acquire_many_owned(n)).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(BudgetFull),
        }
    }
}

/// Bytes a body may buffer; released when dropped.
pub struct Reservation {
    permits: Vec<OwnedSemaphorePermit>,
    bytes: usize,
    /// The provider's reserve, for the body's later growth.
    own: Reserve,
    gauge: IntGauge,
}

impl Reservation {
    async fn add(&mut self, budget: &BodyBudget, bytes: usize) -> Result<(), BudgetFull> {
        if bytes == 0 {
            return Ok(());
        }
        self.permits.push(budget.take(&self.own, bytes).await?);
        self.bytes += bytes;
        self.gauge.add(bytes as i64);
        Ok(())
    }

    /// Makes room for `total` bytes, up to `limit`: doubles what is reserved,
    /// so a body of unknown length reserves a few times, not once a frame.
    pub async fn cover(
        &mut self,
        budget: &BodyBudget,
        total: usize,
        limit: usize,
    ) -> Result<(), BudgetFull> {
        if total <= self.bytes {
            return Ok(());
        }
        let target = total
            .max(self.bytes.saturating_mul(2))
            .min(limit.max(total));
        self.add(budget, target - self.bytes).await
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.gauge.sub(self.bytes as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(bytes: usize) -> BodyBudget {
        BodyBudget::new(bytes, 256 * 1024, IntGauge::new("g", "g").unwrap())
    }

    impl BodyBudget {
        /// For a provider without a reserve: the budget's own rules alone.
        async fn reserve_shared(&self, bytes: usize) -> Result<Reservation, BudgetFull> {
            self.reserve(&Reserve::new(0), bytes).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_flood_on_one_provider_leaves_the_others_reserve_whole() {
        let b = budget(1024 * 1024);
        let (flood, quiet) = (Reserve::new(128 * 1024), Reserve::new(128 * 1024));
        let mut held = Vec::new();
        while let Ok(r) = b.reserve(&flood, 16 * 1024).await {
            held.push(r);
        }
        // Its reserve, the shared part, and the small share: 8 + 56 + 8.
        assert_eq!(held.len(), 72);
        let quiet_body = b.reserve(&quiet, 16 * 1024).await;
        assert_eq!(quiet_body.map(|r| r.bytes()), Ok(16 * 1024));
    }

    #[tokio::test(start_paused = true)]
    async fn large_bodies_cannot_take_the_small_share() {
        let b = budget(8 * 1024 * 1024);
        let large = 256 * 1024;
        let mut held = Vec::new();
        while let Ok(r) = b.reserve_shared(large).await {
            held.push(r);
        }
        // 7 MiB shared, 1 MiB kept small: 28 large bodies, then a 503.
        assert_eq!(held.len(), 28);
        let smalls: Vec<_> =
            futures_util::future::join_all((0..16).map(|_| b.reserve_shared(64 * 1024)))
                .await
                .into_iter()
                .collect::<Result<_, _>>()
                .expect("the small share admits 16 small bodies");
        assert!(
            b.reserve_shared(64 * 1024).await.is_err(),
            "the small share is full"
        );
        assert_eq!(b.buffered.get() as usize, 28 * large + 16 * 64 * 1024);
        drop(smalls);
        drop(held);
        assert_eq!(b.buffered.get(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_budget_barely_above_the_body_limit_still_admits_the_largest_body() {
        let b = BodyBudget::new(256 * 1024, 256 * 1024, IntGauge::new("g", "g").unwrap());
        assert_eq!(
            b.reserve_shared(256 * 1024).await.map(|r| r.bytes()),
            Ok(256 * 1024)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_does_not_fit_waits_about_a_second_then_fails() {
        let b = budget(1024 * 1024);
        let all = b.reserve_shared(1024 * 1024 - 128 * 1024).await.unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(b.reserve_shared(200 * 1024).await.err(), Some(BudgetFull));
        assert_eq!(started.elapsed(), ADMISSION_WAIT);
        // Room freed while waiting admits the waiter.
        let waiter = tokio::spawn(async move {
            let r = b.reserve_shared(200 * 1024).await.map(|r| r.bytes());
            (r, b)
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(all);
        let (got, _) = waiter.await.unwrap();
        assert_eq!(got, Ok(200 * 1024));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_of_unknown_length_reserves_by_doubling_up_to_the_limit() {
        let b = budget(4 * 1024 * 1024);
        let mut r = b.reserve_shared(SMALL_BODY_BYTES).await.unwrap();
        r.cover(&b, 1000, 256 * 1024).await.unwrap();
        assert_eq!(r.bytes(), SMALL_BODY_BYTES);
        r.cover(&b, SMALL_BODY_BYTES + 1, 256 * 1024).await.unwrap();
        assert_eq!(r.bytes(), 2 * SMALL_BODY_BYTES);
        r.cover(&b, 200 * 1024, 256 * 1024).await.unwrap();
        assert_eq!(r.bytes(), 256 * 1024);
        assert_eq!(r.permits.len(), 3);
    }
}
