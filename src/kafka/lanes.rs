//! Which producer a record enters, and when: a key's records stay in order
//! while the key moves between a prompt producer and a batching one.
//!
//! Why two. librdkafka's idempotent producer keeps at most five records in
//! flight per partition. With `linger.ms` 0 the records queued behind those
//! five are due at once, and its broker thread polls its socket without
//! sleeping until an ack comes: one busy key cost twice the CPU per webhook
//! (BENCHMARKS.md, "The one-key spin"). A linger ends the spin, since the
//! queue then waits for its linger instead of being due, but costs every lone
//! webhook that much. So the publisher keeps two producers: the *prompt* one,
//! with the configured linger (0 by default), and a *batching* one, with a
//! linger of 1 ms (librdkafka's smallest real wait), built the first time a
//! key is busy ([`Batching`]). A key uses the prompt one
//! until [`BATCH_FROM`] of its records are unresolved there; its next records
//! then go to the batching one. It stays there while it stays busy (a record
//! enters with [`BUSY_FROM`] of its records unresolved), and for [`HOLD`]
//! after; then it moves back, by the same rule as any move. A lone webhook is
//! therefore sent at once, and a busy key's records queue behind one produce
//! request, not behind a spinning thread. With a configured linger of 1 ms or
//! more there is one producer and no moving.
//!
//! Why the order holds. One producer keeps a partition's records in the
//! order they were sent, and idempotence keeps its retries from duplicating
//! or reordering them. Two producers would not: a record still unresolved on
//! one (even one whose request was answered 503 at the publish timeout,
//! since librdkafka may still deliver it) could land after a later record
//! sent through the other. So a key moves (to the other lane, or to a
//! replacement producer's) only when none of its records is unresolved where
//! it is: until then its new records wait here, and when the last report
//! comes they enter the new producer together, in the order they came, sent
//! by the task that received the report. (A record arriving while they are
//! being sent may enter beside them: requests that are all unanswered have no
//! order between them.) A record whose request gives up while waiting (its
//! timeout, a closed connection) is withdrawn, never sent. A report is
//! awaited even after its request gave up: the key's turn passes with the
//! report, not with the request. Replaced producers are flushed before they
//! are dropped (`replace`), since dropping purges: a purged record's report
//! comes at once, but a purged request already sent may still be written.
//! Should a report never come (librdkafka reports every record, so only a
//! bug would do it), the key moves on after [`Lanes`]' `give_up`, with a
//! warning, rather than refuse its records for ever.
//!
//! A key here is its topic and Kafka key, hashed: the order promised is per
//! key within a topic. Two keys whose hashes collide share one turn, which
//! only makes them wait for each other.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::OwnedHeaders;
use tokio::sync::oneshot;

use super::{lock, Delivery, Producer};

/// Unresolved records of one key on the prompt producer from which its next
/// records go to the batching one. librdkafka's spin starts at six (a
/// partition's sixth record in flight is held back), but the batching
/// producer answers a batch no sooner than its linger: measured with one key
/// (BENCHMARKS.md), it overtakes the spinning prompt producer only from
/// about this many concurrent requests, and halves it at eight.
pub(super) const BATCH_FROM: u32 = 24;

/// A key on the batching producer stays busy while its records enter with
/// this many of its records unresolved there.
pub(super) const BUSY_FROM: u32 = BATCH_FROM / 2;

/// How long a key that was busy keeps using the batching producer after its
/// last busy moment: a burst's gaps do not move it back and forth.
pub(super) const HOLD: Duration = Duration::from_millis(100);

/// The publisher's producers: generation `generation`'s prompt one, and its
/// batching one when the configured linger is below a millisecond.
#[derive(Clone)]
pub(super) struct Producers {
    pub generation: u64,
    pub prompt: Arc<dyn Producer>,
    pub batching: Option<Arc<Batching>>,
}

/// Builds a batching producer.
pub(super) type Build = Arc<dyn Fn() -> KafkaResult<Arc<dyn Producer>> + Send + Sync>;

/// A generation's batching producer, built the first time one of its keys
/// is busy: a second librdkafka client costs its threads and its metadata
/// (BENCHMARKS.md, "Memory per routed type"), which a gateway whose keys are
/// never busy need not pay. Until it is built, busy keys stay on the prompt
/// producer.
pub(super) struct Batching {
    built: OnceLock<Arc<dyn Producer>>,
    building: AtomicBool,
    /// After a failed build: not before then again.
    retry_at: Mutex<Option<Instant>>,
    build: Build,
    /// Told once it is built, so the supervisor watches it for fatal errors
    /// from then on (one raised during its build would otherwise go unseen).
    built_signal: Arc<tokio::sync::Notify>,
}

/// How long after a failed build of a batching producer the next is tried.
const BUILD_RETRY: Duration = Duration::from_secs(5);

impl Batching {
    pub fn new(build: Build, built_signal: Arc<tokio::sync::Notify>) -> Arc<Batching> {
        Arc::new(Batching {
            built: OnceLock::new(),
            building: AtomicBool::new(false),
            retry_at: Mutex::new(None),
            build,
            built_signal,
        })
    }

    /// Starts building it off the async workers, unless it is built or
    /// being built. A failed build (an error, a panic) is logged and tried
    /// again the next time a key is busy, [`BUILD_RETRY`] on.
    fn want(self: &Arc<Self>) {
        if self.built.get().is_some() || self.building.swap(true, Ordering::AcqRel) {
            return;
        }
        // Built (or failed) between the first check and winning the flag.
        let waiting = lock(&self.retry_at).is_some_and(|at| Instant::now() < at);
        if self.built.get().is_some() || waiting {
            self.building.store(false, Ordering::Release);
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.building.store(false, Ordering::Release);
            return;
        };
        /// Lets the next busy key try again however the build ends.
        struct Done(Arc<Batching>);
        impl Drop for Done {
            fn drop(&mut self) {
                self.0.building.store(false, Ordering::Release);
            }
        }
        let done = Done(self.clone());
        drop(runtime.spawn_blocking(move || {
            let batching = &done.0;
            // Counted as failed unless it gets through (a panic included).
            *lock(&batching.retry_at) = Some(Instant::now() + BUILD_RETRY);
            match (batching.build)() {
                Ok(producer) => {
                    let _ = batching.built.set(producer);
                    *lock(&batching.retry_at) = None;
                    batching.built_signal.notify_one();
                }
                Err(error) => {
                    tracing::warn!(%error, retry_in_secs = BUILD_RETRY.as_secs(), "could not create the batching kafka producer; busy keys stay on the prompt one");
                }
            }
        }));
    }
}

impl Producers {
    /// The batching producer, once built.
    fn batching(&self) -> Option<&Arc<dyn Producer>> {
        self.batching.as_ref()?.built.get()
    }

    fn of(&self, lane: Lane) -> &Arc<dyn Producer> {
        match (lane, self.batching()) {
            (Lane::Batching, Some(batching)) => batching,
            _ => &self.prompt,
        }
    }

    /// Every producer of this generation built so far.
    pub fn all(&self) -> impl Iterator<Item = &Arc<dyn Producer>> {
        std::iter::once(&self.prompt).chain(self.batching())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lane {
    Prompt,
    Batching,
}

/// A record to send later: what a waiting request leaves here.
pub(super) struct Owned {
    pub topic: Arc<str>,
    pub key: String,
    pub payload: Vec<u8>,
    pub headers: OwnedHeaders,
    pub timestamp_ms: Option<i64>,
}

/// What a waiting record gets when its turn comes: its report to await, or
/// the producer's refusal (with the generation that refused it).
pub(super) type Sent = Result<Pending, (u64, KafkaError)>;

/// One key's records in the gateway's hands.
struct Turn {
    /// The generation and lane its unresolved records went to.
    holder: (u64, Lane),
    /// Its records sent and not yet reported on.
    unresolved: u32,
    /// Its records waiting to enter `holder`'s successor, oldest first.
    waiting: VecDeque<Waiter>,
    next_waiter: u64,
    /// Until when a key with nothing unresolved still takes the batching lane.
    busy_until: Option<Instant>,
}

struct Waiter {
    id: u64,
    record: Owned,
    reply: oneshot::Sender<Sent>,
}

impl Turn {
    fn new(generation: u64) -> Turn {
        Turn {
            holder: (generation, Lane::Prompt),
            unresolved: 0,
            waiting: VecDeque::new(),
            next_waiter: 0,
            busy_until: None,
        }
    }

    fn busy(&self, now: Instant) -> bool {
        self.busy_until.is_some_and(|until| now < until)
    }

    /// Busy where it is on the prompt lane: its next record would move.
    fn crowded_on_prompt(&self) -> bool {
        self.holder.1 == Lane::Prompt && self.unresolved >= BATCH_FROM
    }

    /// The lane a record of this key enters now (counting it unresolved
    /// there), or `None`: it waits. `batching`: whether there is a batching
    /// producer.
    fn enter(&mut self, generation: u64, batching: bool, now: Instant) -> Option<Lane> {
        let lane = if self.unresolved == 0 {
            // Nothing of the key anywhere: it may go to either lane.
            if batching && self.busy(now) {
                Lane::Batching
            } else {
                Lane::Prompt
            }
        } else if !self.waiting.is_empty() || self.holder.0 != generation {
            return None;
        } else {
            match self.holder.1 {
                Lane::Prompt if !batching || !self.crowded_on_prompt() => Lane::Prompt,
                // Busy on the prompt lane: wait to move to the batching one.
                Lane::Prompt => {
                    self.busy_until = Some(now + HOLD);
                    return None;
                }
                Lane::Batching if self.unresolved >= BUSY_FROM => {
                    self.busy_until = Some(now + HOLD);
                    Lane::Batching
                }
                Lane::Batching if self.busy(now) => Lane::Batching,
                // Quiet for a while with records still on the batching lane:
                // wait to move back to the prompt one.
                Lane::Batching => return None,
            }
        };
        self.holder = (generation, lane);
        self.unresolved += 1;
        Some(lane)
    }

    /// The lane the waiting records enter once nothing is unresolved.
    fn release(&self, batching: bool, now: Instant) -> Lane {
        if batching && (self.busy(now) || self.waiting.len() >= BATCH_FROM as usize) {
            Lane::Batching
        } else {
            Lane::Prompt
        }
    }
}

struct Keys {
    turns: HashMap<u64, Turn>,
    /// The number of turns at which idle ones are next swept out.
    sweep_at: usize,
}

/// The producers in use and every key's turn.
pub(super) struct Lanes {
    current: RwLock<Producers>,
    keys: Mutex<Keys>,
    hasher: RandomState,
    /// How long a report is awaited after its request gave up.
    give_up: Duration,
}

/// Where a record goes now.
pub(super) enum Entry {
    /// Send it now, with this ticket.
    Go(Ticket),
    /// It waits for the key's turn: the record was left here.
    Wait(Waiting),
}

/// A record's place among its key's unresolved records, and the producer
/// it goes to. Dropped unsent (a refused send, a panic), it gives the place
/// back; sent, its [`Pending`] gives it back with the report.
pub(super) struct Ticket {
    lanes: Arc<Lanes>,
    key: u64,
    generation: u64,
    producer: Arc<dyn Producer>,
    placed: bool,
}

/// A record left to wait for its key's turn. Dropped before its turn came
/// (its request timed out or went away), it withdraws the record.
pub(super) struct Waiting {
    lanes: Arc<Lanes>,
    key: u64,
    id: u64,
    reply: oneshot::Receiver<Sent>,
    answered: bool,
}

const SWEEP_FLOOR: usize = 64;

impl Lanes {
    /// `give_up`: how long a report is awaited after its request gave up.
    pub fn new(producers: Producers, give_up: Duration) -> Arc<Lanes> {
        Arc::new(Lanes {
            current: RwLock::new(producers),
            keys: Mutex::new(Keys {
                turns: HashMap::new(),
                sweep_at: SWEEP_FLOOR,
            }),
            hasher: RandomState::new(),
            give_up,
        })
    }

    pub fn current(&self) -> Producers {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts `fresh` in place of generation `seen`, if that is still the
    /// current one; returns the producers no longer in use (to drop off the
    /// async workers). Keys move to `fresh` as their old records resolve.
    pub fn replace(&self, seen: u64, fresh: Producers) -> (bool, Producers) {
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        if current.generation == seen {
            (true, std::mem::replace(&mut *current, fresh))
        } else {
            (false, fresh)
        }
    }

    pub fn key(&self, topic: &str, key: &[u8]) -> u64 {
        self.hasher.hash_one((topic, key))
    }

    /// Takes a turn for a record of `key`: go now, or wait (leaving the
    /// record `owned` makes).
    pub fn enter(self: &Arc<Self>, key: u64, owned: impl FnOnce() -> Owned) -> Entry {
        let now = Instant::now();
        let mut keys = lock(&self.keys);
        // Read under the keys' lock, so that the generations records read
        // never go backwards in the order they take their turns: a turn's
        // holder never returns to a replaced generation.
        let producers = self.current();
        keys.sweep(now);
        let turn = keys
            .turns
            .entry(key)
            .or_insert_with(|| Turn::new(producers.generation));
        let batching = producers.batching().is_some();
        if !batching && turn.crowded_on_prompt() {
            if let Some(slot) = &producers.batching {
                slot.want();
            }
        }
        if let Some(lane) = turn.enter(producers.generation, batching, now) {
            return Entry::Go(self.ticket(key, &producers, lane));
        }
        let (reply, receiver) = oneshot::channel();
        let id = turn.next_waiter;
        turn.next_waiter += 1;
        turn.waiting.push_back(Waiter {
            id,
            record: owned(),
            reply,
        });
        Entry::Wait(Waiting {
            lanes: self.clone(),
            key,
            id,
            reply: receiver,
            answered: false,
        })
    }

    fn ticket(self: &Arc<Self>, key: u64, producers: &Producers, lane: Lane) -> Ticket {
        Ticket {
            lanes: self.clone(),
            key,
            generation: producers.generation,
            producer: producers.of(lane).clone(),
            placed: true,
        }
    }

    /// `resolved` of a key's records have their reports (or were never
    /// sent): when none is left, its waiting records enter the producer its
    /// turn now leads to, in order, sent from here.
    pub fn settle(self: &Arc<Self>, key: u64, resolved: u32) {
        let mut resolved = resolved;
        while resolved > 0 {
            let Some(released) = self.release(key, resolved) else {
                return;
            };
            resolved = 0;
            for (ticket, Waiter { record, reply, .. }) in released {
                let sent = ticket.send_owned(record);
                if sent.is_err() {
                    resolved += 1;
                }
                // A request gone meanwhile drops its Pending: the report is
                // then awaited in the background.
                let _ = reply.send(sent);
            }
        }
    }

    /// Counts `resolved` of a key's records resolved; when none is left and
    /// records wait, hands them out with their tickets, in order.
    fn release(self: &Arc<Self>, key: u64, resolved: u32) -> Option<Vec<(Ticket, Waiter)>> {
        let now = Instant::now();
        let mut keys = lock(&self.keys);
        let producers = self.current();
        let Some(turn) = keys.turns.get_mut(&key) else {
            debug_assert!(false, "a key settled with no turn");
            return None;
        };
        debug_assert!(turn.unresolved >= resolved, "a key settled twice");
        turn.unresolved = turn.unresolved.saturating_sub(resolved);
        if turn.unresolved > 0 {
            return None;
        }
        if turn.waiting.is_empty() {
            if !turn.busy(now) {
                keys.turns.remove(&key);
            }
            return None;
        }
        let lane = turn.release(producers.batching().is_some(), now);
        let waiters = std::mem::take(&mut turn.waiting);
        turn.holder = (producers.generation, lane);
        turn.unresolved = waiters.len() as u32;
        drop(keys);
        Some(
            waiters
                .into_iter()
                .map(|waiter| (self.ticket(key, &producers, lane), waiter))
                .collect(),
        )
    }
}

impl Ticket {
    /// Sends the record; a refusal gives the ticket's place back.
    pub fn send(
        mut self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: OwnedHeaders,
        timestamp_ms: Option<i64>,
    ) -> Sent {
        let sent = self.transmit(topic, key, payload, headers, timestamp_ms);
        self.placed = sent.is_err();
        sent
    }

    /// [`Ticket::send`] for a released record, whose refusal the releasing
    /// loop counts itself (rather than settling from within it).
    fn send_owned(mut self, record: Owned) -> Sent {
        self.placed = false;
        let key = record.key.as_bytes();
        self.transmit(
            &record.topic,
            key,
            &record.payload,
            record.headers,
            record.timestamp_ms,
        )
    }

    fn transmit(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: OwnedHeaders,
        timestamp_ms: Option<i64>,
    ) -> Sent {
        let generation = self.generation;
        match self
            .producer
            .send(topic, key, payload, headers, timestamp_ms)
        {
            Ok(delivery) => Ok(Pending::new(&self.lanes, self.key, generation, delivery)),
            Err(error) => Err((generation, error)),
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.placed {
            self.lanes.settle(self.key, 1);
        }
    }
}

impl Waiting {
    /// Waits for the record's turn until `deadline`; `None` when the
    /// deadline came first (the record is then withdrawn, or, if its turn
    /// came at that moment, its report is awaited in the background).
    pub async fn turn(mut self, deadline: tokio::time::Instant) -> Option<Sent> {
        match tokio::time::timeout_at(deadline, &mut self.reply).await {
            Ok(Ok(sent)) => {
                self.answered = true;
                Some(sent)
            }
            // Err(_): the lanes were dropped with the publisher.
            Ok(Err(_)) | Err(_) => None,
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.answered {
            return;
        }
        if let Some(turn) = lock(&self.lanes.keys).turns.get_mut(&self.key) {
            turn.waiting.retain(|waiter| waiter.id != self.id);
        }
    }
}

impl Keys {
    /// Drops the turns of keys with nothing in the gateway's hands, once
    /// their number has doubled since the last sweep: a key that was busy
    /// once is not kept for ever.
    fn sweep(&mut self, now: Instant) {
        if self.turns.len() < self.sweep_at {
            return;
        }
        self.turns
            .retain(|_, turn| turn.unresolved > 0 || turn.busy(now));
        self.sweep_at = (self.turns.len() * 2).max(SWEEP_FLOOR);
    }
}

/// A sent record's report, which settles its key's turn when it comes, even
/// if the request stops waiting for it.
pub(super) struct Pending {
    lanes: Arc<Lanes>,
    key: u64,
    pub generation: u64,
    delivery: Option<Delivery>,
}

impl Pending {
    pub fn new(lanes: &Arc<Lanes>, key: u64, generation: u64, delivery: Delivery) -> Pending {
        Pending {
            lanes: lanes.clone(),
            key,
            generation,
            delivery: Some(delivery),
        }
    }
}

/// The report: the broker's answer, or `Err` when the producer went away
/// without one.
pub(super) type Report = Result<Result<(), KafkaError>, oneshot::error::RecvError>;

impl Future for Pending {
    type Output = Report;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Report> {
        let Some(delivery) = self.delivery.as_mut() else {
            panic!("a report is awaited once");
        };
        let report = std::task::ready!(Pin::new(delivery).poll(cx));
        self.delivery = None;
        self.lanes.settle(self.key, 1);
        Poll::Ready(report)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let Some(mut delivery) = self.delivery.take() else {
            return;
        };
        let (lanes, key) = (self.lanes.clone(), self.key);
        if !matches!(
            delivery.try_recv(),
            Err(oneshot::error::TryRecvError::Empty)
        ) {
            return lanes.settle(key, 1);
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if tokio::time::timeout(lanes.give_up, delivery).await.is_err() {
                        tracing::warn!(
                            waited_secs = lanes.give_up.as_secs(),
                            "a record's delivery report never came; its key's next records no longer wait for it"
                        );
                    }
                    lanes.settle(key, 1);
                });
            }
            // No runtime left to wait on (the process is ending): nothing
            // will be sent after this anyway.
            Err(_) => lanes.settle(key, 1),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(turn: &mut Turn) {
        let (reply, _) = oneshot::channel();
        turn.waiting.push_back(Waiter {
            id: 0,
            record: Owned {
                topic: "t".into(),
                key: "k".into(),
                payload: Vec::new(),
                headers: OwnedHeaders::new(),
                timestamp_ms: None,
            },
            reply,
        });
    }

    #[test]
    fn a_lone_record_goes_to_the_prompt_producer() {
        let (mut turn, now) = (Turn::new(0), Instant::now());
        assert_eq!(turn.enter(0, true, now), Some(Lane::Prompt));
        turn.unresolved = 0;
        assert_eq!(turn.enter(0, true, now), Some(Lane::Prompt));
    }

    #[test]
    fn a_busy_key_waits_for_its_prompt_records_then_moves_to_the_batching_producer() {
        let (mut turn, now) = (Turn::new(0), Instant::now());
        for _ in 0..BATCH_FROM {
            assert_eq!(turn.enter(0, true, now), Some(Lane::Prompt));
        }
        assert_eq!(turn.enter(0, true, now), None, "the next waits");
        waiter(&mut turn);
        assert_eq!(
            turn.enter(0, true, now),
            None,
            "and so does every later one"
        );
        assert_eq!(turn.release(true, now), Lane::Batching);
    }

    #[test]
    fn with_one_producer_nothing_waits_for_a_lane() {
        let (mut turn, now) = (Turn::new(0), Instant::now());
        for _ in 0..BATCH_FROM * 4 {
            assert_eq!(turn.enter(0, false, now), Some(Lane::Prompt));
        }
        assert_eq!(turn.release(false, now), Lane::Prompt);
    }

    #[test]
    fn a_key_stays_on_the_batching_producer_while_busy_and_returns_after_the_hold() {
        let (mut turn, now) = (Turn::new(0), Instant::now());
        turn.holder = (0, Lane::Batching);
        turn.unresolved = BUSY_FROM;
        assert_eq!(turn.enter(0, true, now), Some(Lane::Batching));
        turn.unresolved = 0;
        assert_eq!(turn.enter(0, true, now + HOLD / 2), Some(Lane::Batching));
        turn.unresolved = 0;
        // Lone records do not keep it busy.
        assert_eq!(turn.enter(0, true, now + HOLD), Some(Lane::Prompt));
    }

    #[test]
    fn a_quiet_key_with_records_on_the_batching_producer_waits_to_move_back() {
        let (mut turn, now) = (Turn::new(0), Instant::now());
        turn.holder = (0, Lane::Batching);
        turn.unresolved = 1;
        turn.busy_until = Some(now + HOLD);
        assert_eq!(turn.enter(0, true, now), Some(Lane::Batching));
        assert_eq!(turn.enter(0, true, now + HOLD), None);
        waiter(&mut turn);
        assert_eq!(turn.release(true, now + HOLD), Lane::Prompt);
    }

    #[test]
    fn a_key_moves_to_a_new_generation_only_with_nothing_unresolved_on_the_old() {
        let (mut turn, now) = (Turn::new(0), Instant::now());
        assert_eq!(turn.enter(0, true, now), Some(Lane::Prompt));
        assert_eq!(turn.enter(1, true, now), None);
        turn.unresolved = 0;
        assert_eq!(turn.enter(1, true, now), Some(Lane::Prompt));
        assert_eq!(turn.holder, (1, Lane::Prompt));
    }

    #[test]
    fn a_few_waiting_records_of_a_quiet_key_return_to_the_prompt_producer() {
        let (mut turn, now) = (Turn::new(0), Instant::now());
        waiter(&mut turn);
        assert_eq!(turn.release(true, now), Lane::Prompt);
        for _ in 1..BATCH_FROM {
            waiter(&mut turn);
        }
        assert_eq!(turn.release(true, now), Lane::Batching);
    }
}
