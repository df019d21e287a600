//! The librdkafka producer, its delivery reports served on the async runtime.
//!
//! rdkafka's `FutureProducer` serves delivery reports on a polling thread of
//! its own, which then wakes the request's task on an async worker: every
//! webhook paid one more thread hand-off, most of the cost at low concurrency
//! (BENCHMARKS.md, "Where the CPU goes"). Here librdkafka calls back when its
//! report queue gets an event; the callback only wakes a task on the runtime,
//! which polls the queue and completes each request's channel there.

use std::ffi::c_void;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::client::Client;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::util::Timeout;
use tokio::sync::{oneshot, Notify};

use super::context::GatewayContext;

/// A record's delivery report: the broker's ack, or why there is none.
pub type Delivery = oneshot::Receiver<Result<(), KafkaError>>;

/// Events served per wake-up before yielding to the requests' tasks.
const EVENTS_PER_TURN: usize = 1024;

/// A producer handle; clones share one librdkafka client.
#[derive(Clone)]
pub struct Kafka(Arc<Shared>);

struct Shared {
    /// librdkafka's report queue (the main queue), our own reference to it.
    queue: *mut rdsys::rd_kafka_queue_t,
    producer: BaseProducer<GatewayContext>,
    /// What librdkafka's callback wakes: alive as long as the callback is set.
    wake: Arc<Notify>,
}

// SAFETY: librdkafka's queue handles may be used from any thread; the
// pointer is only polled for its length and released once, in `drop`.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// Called by librdkafka (on its own threads) for each event on the report
/// queue. It may not call librdkafka, only wake the serving task.
unsafe extern "C" fn on_event(_rk: *mut rdsys::rd_kafka_t, opaque: *mut c_void) {
    // SAFETY: `opaque` is the `Notify` that `Shared` keeps alive until this
    // callback is removed.
    unsafe { (*(opaque as *const Notify)).notify_one() };
}

impl Kafka {
    /// Creates the producer and the task that serves its reports, on the
    /// current tokio runtime.
    pub fn new(config: &ClientConfig, context: GatewayContext) -> KafkaResult<Kafka> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| KafkaError::ClientCreation("the producer needs a tokio runtime".into()))?;
        let producer = BaseProducer::from_config_and_context(config, context)?;
        let wake = Arc::new(Notify::new());
        // SAFETY: the client is alive; the callback's opaque outlives its use
        // (see `Drop`).
        let queue = unsafe {
            let queue = rdsys::rd_kafka_queue_get_main(producer.client().native_ptr());
            rdsys::rd_kafka_queue_cb_event_enable(
                queue,
                Some(on_event),
                Arc::as_ptr(&wake) as *mut c_void,
            );
            queue
        };
        let shared = Arc::new(Shared {
            queue,
            producer,
            wake: wake.clone(),
        });
        let weak = Arc::downgrade(&shared);
        runtime.spawn(async move {
            loop {
                let Some(shared) = weak.upgrade() else { return };
                shared.serve();
                if Arc::strong_count(&shared) == 1 {
                    // The last handle: dropping it flushes (up to 500 ms), which
                    // must not happen on an async worker.
                    tokio::task::spawn_blocking(move || drop(shared));
                    return;
                }
                drop(shared);
                wake.notified().await;
            }
        });
        Ok(Kafka(shared))
    }

    /// Queues one record; its report arrives on the returned channel.
    pub fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: OwnedHeaders,
        timestamp_ms: Option<i64>,
    ) -> Result<Delivery, KafkaError> {
        let (tx, rx) = oneshot::channel();
        let record = BaseRecord::with_opaque_to(topic, Box::new(tx))
            .key(key)
            .payload(payload)
            .headers(headers);
        let record = match timestamp_ms {
            Some(ms) => record.timestamp(ms),
            None => record,
        };
        match self.0.producer.send(record) {
            Ok(()) => Ok(rx),
            Err((error, _record)) => Err(error),
        }
    }

    pub fn client(&self) -> &Client<GatewayContext> {
        self.0.producer.client()
    }

    /// Waits until every queued record is delivered or `timeout` passes (blocking).
    pub fn flush(&self, timeout: Duration) -> KafkaResult<()> {
        self.0.producer.flush(Timeout::After(timeout))
    }
}

impl Shared {
    /// Serves the report queue's events: delivery reports complete their
    /// requests' channels, logs and statistics reach the context.
    fn serve(&self) {
        for _ in 0..EVENTS_PER_TURN {
            // SAFETY: the queue reference is alive until `drop`.
            if unsafe { rdsys::rd_kafka_queue_length(self.queue) } == 0 {
                return;
            }
            // One event per call, without waiting.
            self.producer.poll(Duration::ZERO);
        }
        // More left: come back after the requests' tasks have run.
        self.wake.notify_one();
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: removing the callback takes the queue's lock, so none runs
        // after this returns and the `Notify` may go; then our reference to the
        // queue is released. The producer (dropped next) purges and flushes,
        // polling the queue itself.
        unsafe {
            rdsys::rd_kafka_queue_cb_event_enable(self.queue, None, std::ptr::null_mut());
            rdsys::rd_kafka_queue_destroy(self.queue);
        }
        // The serving task may be waiting: let it see the producer gone.
        self.wake.notify_one();
    }
}
