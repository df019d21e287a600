//! The librdkafka producer, its delivery reports served on the async runtime.
//!
//! rdkafka's `FutureProducer` serves delivery reports on a polling thread of
//! its own, which then wakes the request's task on an async worker: every
//! webhook paid one more thread hand-off, most of the cost at low concurrency
//! (BENCHMARKS.md, "Where the CPU goes"). Here librdkafka writes a byte to a
//! socket when its report queue gets an event, and a task on the runtime
//! waits for that socket like any other: it polls the queue and completes
//! each request's channel there.
//!
//! A socket rather than a callback that wakes the task: a wake from a thread
//! outside the runtime unparks one async worker, which then unparks another
//! to look for more work (tokio's spinning worker), two thread wake-ups per
//! report; the socket's readiness reaches the worker already waiting in the
//! runtime's poll, which alone is woken (BENCHMARKS.md, "Where each
//! webhook's time goes").

use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::client::Client;
use rdkafka::config::{ClientConfig, FromClientConfigAndContext};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
use rdkafka::util::Timeout;
use tokio::sync::oneshot;

use super::context::GatewayContext;
use super::Producer;

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
    /// The end librdkafka writes its wake-up byte to: open as long as
    /// librdkafka may write to it (see `Drop`). Its closing tells the serving
    /// task the producer is gone.
    _wake_writer: UnixStream,
}

// SAFETY: librdkafka's queue handles may be used from any thread; the
// pointer is only polled for its length and released once, in `drop`.
unsafe impl Send for Shared {}
unsafe impl Sync for Shared {}

/// What librdkafka writes when the report queue gets an event after being
/// served (once per served period, however many events follow).
const WAKE_BYTE: [u8; 1] = [1];

impl Kafka {
    /// Creates the producer and the task that serves its reports, on the
    /// current tokio runtime.
    pub fn new(config: &ClientConfig, context: GatewayContext) -> KafkaResult<Kafka> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| KafkaError::ClientCreation("the producer needs a tokio runtime".into()))?;
        let wake_error = |e: std::io::Error| {
            KafkaError::ClientCreation(format!(
                "cannot create the report queue's wake-up socket: {e}"
            ))
        };
        let (writer, reader) = UnixStream::pair().map_err(wake_error)?;
        // librdkafka's broker thread must never block on a write.
        writer.set_nonblocking(true).map_err(wake_error)?;
        reader.set_nonblocking(true).map_err(wake_error)?;
        let reader = {
            let _entered = runtime.enter();
            tokio::net::UnixStream::from_std(reader).map_err(wake_error)?
        };
        let producer = BaseProducer::from_config_and_context(config, context)?;
        // SAFETY: the client is alive; librdkafka copies the payload, and the
        // socket stays open until the wake-up is disabled (see `Drop`).
        let queue = unsafe {
            let queue = rdsys::rd_kafka_queue_get_main(producer.client().native_ptr());
            rdsys::rd_kafka_queue_io_event_enable(
                queue,
                writer.as_raw_fd(),
                WAKE_BYTE.as_ptr().cast(),
                WAKE_BYTE.len(),
            );
            queue
        };
        let shared = Arc::new(Shared {
            queue,
            producer,
            _wake_writer: writer,
        });
        let weak = Arc::downgrade(&shared);
        runtime.spawn(async move {
            let mut bytes = [0u8; 64];
            loop {
                let Some(shared) = weak.upgrade() else { return };
                let more = shared.serve();
                if Arc::strong_count(&shared) == 1 {
                    // The last handle: dropping it flushes (up to 500 ms), which
                    // must not happen on an async worker.
                    tokio::task::spawn_blocking(move || drop(shared));
                    return;
                }
                drop(shared);
                if more {
                    // Let the requests' tasks run, then serve the rest.
                    tokio::task::yield_now().await;
                    continue;
                }
                // Wait for librdkafka's next byte, then take every byte
                // written: one serve answers them all.
                if reader.readable().await.is_err() {
                    return;
                }
                loop {
                    match reader.try_read(&mut bytes) {
                        Ok(0) => return, // the producer is gone
                        Ok(_) => continue,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => return,
                    }
                }
            }
        });
        Ok(Kafka(shared))
    }
}

impl Producer for Kafka {
    fn send(
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

    fn client(&self) -> &Client<GatewayContext> {
        self.0.producer.client()
    }

    fn flush(&self, timeout: Duration) -> KafkaResult<()> {
        self.0.producer.flush(Timeout::After(timeout))
    }
}

impl Shared {
    /// Serves the report queue's events: delivery reports complete their
    /// requests' channels, logs and statistics reach the context. True when
    /// events are left after a turn's worth.
    fn serve(&self) -> bool {
        for _ in 0..EVENTS_PER_TURN {
            // SAFETY: the queue reference is alive until `drop`.
            if unsafe { rdsys::rd_kafka_queue_length(self.queue) } == 0 {
                return false;
            }
            // One event per call, without waiting. Polling also re-arms
            // librdkafka's wake-up byte for the next event.
            self.producer.poll(Duration::ZERO);
        }
        true
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // SAFETY: disabling the wake-up takes the queue's lock, so librdkafka
        // writes no byte after this returns and the socket may close; then
        // our reference to the queue is released. The producer (dropped next)
        // purges and flushes, polling the queue itself. The socket closes
        // last, which ends the serving task if it still waits.
        unsafe {
            rdsys::rd_kafka_queue_io_event_enable(self.queue, -1, std::ptr::null(), 0);
            rdsys::rd_kafka_queue_destroy(self.queue);
        }
    }
}
