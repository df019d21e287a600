//! Fault-injection tools: a steady load of unique signed webhooks that records
//! every answer, a TCP proxy the test can cut, the gateway's producers with
//! the faults a test injects (through the producer factory the gateway takes),
//! and the arithmetic that turns a run into a reliability report row.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rdkafka::client::Client;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{OwnedHeaders, OwnedMessage};
use tokio::net::{TcpSocket, TcpStream};
use tokio::task::JoinHandle;
use webhook_gateway::kafka::{Delivery, GatewayContext, Kafka, Producer, ProducerFactory};
use webhook_gateway::Inputs;

use super::{header, send_signed};

/// One answered (or failed) request.
#[derive(Debug, Clone)]
pub struct Sample {
    /// 0 for a connection error (refused or reset before an answer).
    pub status: u16,
    pub id: Option<String>,
    pub started: Instant,
    pub latency: Duration,
}

impl Sample {
    pub fn finished(&self) -> Instant {
        self.started + self.latency
    }
}

/// Clients that each send unique Transfers webhooks back to back (with a
/// short pause), each awaited, until stopped.
pub struct Load {
    stop: Arc<AtomicBool>,
    target: Arc<Mutex<SocketAddr>>,
    tasks: Vec<JoinHandle<Vec<Sample>>>,
    pub started: Instant,
}

/// A request still unanswered after this is a hung request: the test fails.
pub const HUNG: Duration = Duration::from_secs(30);

impl Load {
    pub fn start(target: SocketAddr, clients: usize, pause: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let target = Arc::new(Mutex::new(target));
        let tasks = (0..clients)
            .map(|c| {
                let (stop, target) = (stop.clone(), target.clone());
                tokio::spawn(async move {
                    let mut samples = Vec::new();
                    let mut i = 0usize;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        let n = c * 10_000_000 + i;
                        let body = format!(
                            r#"{{"event":"Payment.Status","data":{{"status":"Completed","userId":"u-{c}","paymentReference":"load-{n}","amount":{n}.00}}}}"#
                        );
                        let addr = *target.lock().unwrap();
                        let started = Instant::now();
                        let reply = tokio::time::timeout(HUNG, send_signed(addr, "transfers", body.as_bytes()))
                            .await
                            .unwrap_or_else(|_| panic!("request hung for {HUNG:?}"));
                        let latency = started.elapsed();
                        let (status, id) = match reply {
                            Ok(r) => {
                                let id = (r.status == 200).then(|| r.json()["id"].as_str().unwrap().to_owned());
                                (r.status, id)
                            }
                            Err(_) => (0, None),
                        };
                        samples.push(Sample { status, id, started, latency });
                        tokio::time::sleep(pause).await;
                    }
                    samples
                })
            })
            .collect();
        Load {
            stop,
            target,
            tasks,
            started: Instant::now(),
        }
    }

    /// Sends further requests to `addr` (a Service moving to a new endpoint).
    pub fn retarget(&self, addr: SocketAddr) {
        *self.target.lock().unwrap() = addr;
    }

    pub async fn finish(self) -> (Vec<Sample>, Duration) {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples = Vec::new();
        for task in self.tasks {
            samples.extend(task.await.expect("load client"));
        }
        (samples, self.started.elapsed())
    }
}

/// A TCP proxy between the gateway and the broker. `cut` closes every
/// connection and refuses new ones; `restore` listens again on the same port.
pub struct Proxy {
    pub port: u16,
    target: u16,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    pub fn start(port: u16, target: u16) -> Proxy {
        let proxy = Proxy {
            port,
            target,
            tasks: Arc::new(Mutex::new(Vec::new())),
        };
        proxy.restore();
        proxy
    }

    pub fn restore(&self) {
        let socket = TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket
            .bind(format!("127.0.0.1:{}", self.port).parse().unwrap())
            .expect("proxy port");
        let listener = socket.listen(128).unwrap();
        let (target, tasks) = (self.target, self.tasks.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                let pipe = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(("127.0.0.1", target)).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(pipe);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Drops the listener (new connections are refused) and every open connection.
    pub fn cut(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// A fault in building a producer, for every build until cleared.
#[derive(Debug, Clone, Copy)]
pub enum BuildFault {
    /// Building the producer panics (a thread that cannot be spawned, say).
    Panic,
    /// Building the producer takes this long (librdkafka spawning its threads).
    Slow(Duration),
}

/// The content type a poisoned webhook is sent with: the dead letter it is
/// rescued as keeps the request's content type.
pub const PANIC_CONTENT_TYPE: &str = "application/x-webhook-gateway-test-panic";

/// Where the gateway's rescue of a panicking publish goes (default settings).
const DEADLETTER_TOPIC: &str = "webhooks.deadletter";

/// The gateway's producers, built as in production (librdkafka), with the
/// faults a test injects: builds that panic or crawl ([`BuildFault`]), a
/// poisoned record whose send panics, librdkafka's fatal error raised on the
/// gateway's producers, and a producer's records held back. Handed to the
/// gateway by [`Producers::inputs`].
#[derive(Default)]
pub struct Producers {
    /// A send of a record whose key starts with this panics ([`Producers::poisoned`]).
    poison: Option<&'static str>,
    fault: Mutex<Option<BuildFault>>,
    /// Every producer built, in build order, not kept alive: the gateway
    /// decides their lifetimes.
    built: Mutex<Vec<Weak<dyn Producer>>>,
    /// Each producer built, in build order: its `linger.ms`.
    lingers: Mutex<Vec<String>>,
    /// Every record sent, in send order: the build number of its producer.
    sends: Arc<Mutex<Vec<usize>>>,
    /// Each producer's hold, in build order (kept: a held record outlives
    /// its producer's handle).
    holds: Mutex<Vec<Arc<Hold>>>,
}

/// A producer's records held back from librdkafka: sent while holding, each
/// waits here (unresolved, as a record in a stuck connection) until released,
/// and then lands, even if the gateway has dropped the producer meanwhile.
#[derive(Default)]
struct Hold {
    /// `Some` while holding: the records and their report channels, in order.
    held: Mutex<Option<Vec<HeldRecord>>>,
    /// The producer, kept alive while it holds records.
    keep: Mutex<Option<Kafka>>,
}

struct HeldRecord {
    topic: String,
    key: Vec<u8>,
    payload: Vec<u8>,
    headers: OwnedHeaders,
    timestamp_ms: Option<i64>,
    report: tokio::sync::oneshot::Sender<Result<(), KafkaError>>,
}

impl Producers {
    pub fn new() -> Arc<Producers> {
        Arc::new(Producers::default())
    }

    /// Producers that panic when asked to send a record whose key starts
    /// with `key_prefix`, to any topic but the dead-letter one: a bug past
    /// verification, hit while publishing a verified webhook.
    pub fn poisoned(key_prefix: &'static str) -> Arc<Producers> {
        Arc::new(Producers {
            poison: Some(key_prefix),
            ..Producers::default()
        })
    }

    /// The gateway's inputs with these producers (and the machine's clock).
    pub fn inputs(self: &Arc<Self>) -> Inputs {
        let producers: Arc<dyn ProducerFactory> = self.clone();
        Inputs {
            producers,
            ..Inputs::default()
        }
    }

    /// Every producer built from now on (the replacements: the first is
    /// built at start) panics or takes a while, until called with `None`.
    pub fn set_build_fault(&self, fault: Option<BuildFault>) {
        *self.fault.lock().unwrap() = fault;
    }

    /// Each producer built so far, in build order: its `linger.ms`.
    pub fn lingers(&self) -> Vec<String> {
        self.lingers.lock().unwrap().clone()
    }

    /// Every record sent so far, in send order: the build number of the
    /// producer it went to (an index into [`Producers::lingers`]).
    pub fn sends(&self) -> Vec<usize> {
        self.sends.lock().unwrap().clone()
    }

    /// Holds back every record sent from now on to the producer built
    /// `built`th (see [`Producers::lingers`]), until [`Producers::release`].
    pub fn hold(&self, built: usize) {
        let hold = self.holds.lock().unwrap()[built].clone();
        *hold.held.lock().unwrap() = Some(Vec::new());
    }

    /// Sends the records held by the `built`th producer, in order; each
    /// report reaches its original sender. Returns how many there were.
    pub fn release(&self, built: usize) -> usize {
        let hold = self.holds.lock().unwrap()[built].clone();
        let held = hold.held.lock().unwrap().take().unwrap_or_default();
        let kafka = hold.keep.lock().unwrap().take();
        let count = held.len();
        for record in held {
            let kafka = kafka
                .as_ref()
                .expect("a producer kept with its held records");
            let delivery = kafka.send(
                &record.topic,
                &record.key,
                &record.payload,
                record.headers,
                record.timestamp_ms,
            );
            let report = record.report;
            match delivery {
                Ok(delivery) => {
                    // The producer lives until the report comes: the gateway
                    // may have dropped its own handle, and the last one's drop
                    // purges what is still queued.
                    let kafka = kafka.clone();
                    tokio::spawn(async move {
                        let result = delivery.await.unwrap_or(Err(KafkaError::Canceled));
                        let _ = report.send(result);
                        tokio::task::spawn_blocking(move || drop(kafka));
                    });
                }
                Err(error) => {
                    let _ = report.send(Err(error));
                }
            }
        }
        count
    }

    /// Makes librdkafka raise a fatal error on every producer the gateway
    /// still has (its current pair), as an idempotence violation would.
    pub fn raise_fatal_error(&self) {
        let built = self.built.lock().unwrap().len();
        let raised = (0..built)
            .filter(|&built| self.raise_fatal_error_on(built))
            .count();
        assert!(raised > 0, "the gateway's producers are alive");
    }

    /// [`Producers::raise_fatal_error`] on the `built`th producer alone, if
    /// it is still alive (true then).
    pub fn raise_fatal_error_on(&self, built: usize) -> bool {
        let producer = self.built.lock().unwrap()[built].upgrade();
        let Some(producer) = producer else {
            return false;
        };
        let reason = c"injected by a test";
        // SAFETY: the handle is alive (we hold a reference) and the reason is a valid C string.
        unsafe {
            rdkafka::bindings::rd_kafka_test_fatal_error(
                producer.client().native_ptr(),
                rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                reason.as_ptr(),
            );
        }
        true
    }
}

impl ProducerFactory for Producers {
    fn build(
        &self,
        config: &ClientConfig,
        context: GatewayContext,
    ) -> KafkaResult<Arc<dyn Producer>> {
        // Copied out: a panic must not poison the lock the test clears it with.
        let fault = *self.fault.lock().unwrap();
        match fault {
            Some(BuildFault::Panic) => panic!("injected fault: building the producer panics"),
            Some(BuildFault::Slow(by)) => std::thread::sleep(by),
            None => {}
        }
        let built = {
            let mut lingers = self.lingers.lock().unwrap();
            lingers.push(config.get("linger.ms").unwrap_or_default().to_owned());
            lingers.len() - 1
        };
        let hold = Arc::new(Hold::default());
        self.holds.lock().unwrap().push(hold.clone());
        let producer: Arc<dyn Producer> = Arc::new(Faulty {
            inner: Kafka::new(config, context)?,
            poison: self.poison,
            built,
            sends: self.sends.clone(),
            hold,
        });
        self.built.lock().unwrap().push(Arc::downgrade(&producer));
        Ok(producer)
    }
}

/// The gateway's own producer, but for a poisoned record's send; it notes
/// each send under its build number.
struct Faulty {
    inner: Kafka,
    poison: Option<&'static str>,
    built: usize,
    sends: Arc<Mutex<Vec<usize>>>,
    hold: Arc<Hold>,
}

impl Producer for Faulty {
    fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: OwnedHeaders,
        timestamp_ms: Option<i64>,
    ) -> Result<Delivery, KafkaError> {
        let poisoned = self
            .poison
            .is_some_and(|prefix| key.starts_with(prefix.as_bytes()));
        if poisoned && topic != DEADLETTER_TOPIC {
            panic!("injected fault: publishing a poisoned record panics");
        }
        // Noted under the lock with the send itself: the order noted is the
        // order librdkafka received them in.
        let mut sends = self.sends.lock().unwrap();
        sends.push(self.built);
        if let Some(held) = self.hold.held.lock().unwrap().as_mut() {
            self.hold
                .keep
                .lock()
                .unwrap()
                .get_or_insert_with(|| self.inner.clone());
            let (report, delivery) = tokio::sync::oneshot::channel();
            held.push(HeldRecord {
                topic: topic.to_owned(),
                key: key.to_vec(),
                payload: payload.to_vec(),
                headers,
                timestamp_ms,
                report,
            });
            return Ok(delivery);
        }
        self.inner.send(topic, key, payload, headers, timestamp_ms)
    }

    fn client(&self) -> &Client<GatewayContext> {
        self.inner.client()
    }

    fn flush(&self, timeout: Duration) -> KafkaResult<()> {
        self.inner.flush(timeout)
    }
}

/// Every record of `topic`, read until nothing new arrives for `idle`; each is
/// kept for the contract check (`records`).
pub fn read_all(bootstrap: &str, topic: &str, idle: Duration) -> Vec<OwnedMessage> {
    read_all_of(bootstrap, &[topic], idle)
}

/// [`read_all`] of every one of `topics` at once.
pub fn read_all_of(bootstrap: &str, topics: &[&str], idle: Duration) -> Vec<OwnedMessage> {
    let consumer = super::assigned_to(super::reader_config(bootstrap), topics);
    let mut out = Vec::new();
    let mut last = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(60);
    while last.elapsed() < idle && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            out.push(m.detach());
            last = Instant::now();
        }
    }
    super::records::keep(bootstrap, &out);
    out
}

/// One row of RELIABILITY.md.
#[derive(Debug)]
pub struct Report {
    pub scenario: &'static str,
    pub rate: f64,
    pub outage: Duration,
    pub ok: usize,
    pub unavailable: usize,
    pub errors: usize,
    pub records: usize,
    pub lost: usize,
    /// Records that landed although their request was answered 503 (the
    /// provider's retry will land them again, with the same id).
    pub landed_after_503: usize,
    /// Extra copies of an id in Kafka.
    pub repeated: usize,
    pub recovery: Option<Duration>,
    pub slowest_answer: Duration,
}

impl Report {
    pub fn new(
        scenario: &'static str,
        samples: &[Sample],
        ran: Duration,
        outage: (Instant, Instant),
        records: &[OwnedMessage],
    ) -> Report {
        let mut copies: HashMap<String, usize> = HashMap::new();
        for r in records {
            if let Some(id) = header(r, "event-id") {
                *copies.entry(id).or_default() += 1;
            }
        }
        let acked: HashSet<&String> = samples.iter().filter_map(|s| s.id.as_ref()).collect();
        let lost = acked.iter().filter(|id| !copies.contains_key(**id)).count();
        let landed_after_503 = copies.keys().filter(|id| !acked.contains(id)).count();
        let repeated = copies.values().map(|c| c - 1).sum();
        let recovery = samples
            .iter()
            .filter(|s| s.status == 200 && s.started >= outage.1)
            .map(|s| s.finished() - outage.1)
            .min();
        Report {
            scenario,
            rate: samples.len() as f64 / ran.as_secs_f64(),
            outage: outage.1 - outage.0,
            ok: samples.iter().filter(|s| s.status == 200).count(),
            unavailable: samples.iter().filter(|s| s.status == 503).count(),
            errors: samples.iter().filter(|s| s.status == 0).count(),
            records: records.len(),
            lost,
            landed_after_503,
            repeated,
            recovery,
            slowest_answer: samples.iter().map(|s| s.latency).max().unwrap_or_default(),
        }
    }

    /// The row as printed for RELIABILITY.md.
    pub fn print(&self) {
        let recovery = self
            .recovery
            .map_or("n/a".to_owned(), |r| format!("{:.2} s", r.as_secs_f64()));
        println!(
            "| {} | {:.0}/s | {:.1} s | {} | {} | {} | {} | {} | {} + {} | {} | {:.2} s |",
            self.scenario,
            self.rate,
            self.outage.as_secs_f64(),
            self.ok,
            self.unavailable,
            self.errors,
            self.records,
            self.lost,
            self.landed_after_503,
            self.repeated,
            recovery,
            self.slowest_answer.as_secs_f64()
        );
    }
}

/// No request that finished inside the outage (after a grace for acks already
/// on the wire when it began) was a 2xx.
pub fn assert_no_2xx_during(samples: &[Sample], outage: (Instant, Instant)) {
    let from = outage.0 + Duration::from_millis(250);
    let bad: Vec<_> = samples
        .iter()
        .filter(|s| {
            s.status == 200
                && s.finished() > from
                && s.finished() < outage.1
                && s.started > outage.0
        })
        .collect();
    assert!(
        bad.is_empty(),
        "2xx answered while the broker was unreachable: {bad:?}"
    );
}
