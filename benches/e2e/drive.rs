//! The load driver: C workers, closed loop or on a fixed schedule, against an
//! HTTP server or straight against a producer; what each phase measured.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use webhook_gateway::engine::envelope::Record;
use webhook_gateway::kafka::Publisher;

use crate::processes::{cpu_time, rss_kib, Scheduling};
use crate::requests::Pool;

#[derive(Default)]
pub struct Outcome {
    hist: Option<Histogram<u64>>,
    /// Service time (actual send to answer) of the 503s alone: under overload they
    /// must be fast, whatever backlog the driver itself has built up.
    hist_503: Option<Histogram<u64>>,
    pub statuses: BTreeMap<u16, u64>,
    pub errors: u64,
    pub elapsed: Duration,
    pub peak_rss_kib: Option<u64>,
    /// Peak RSS in the first and the second half of the phase: flat when equal.
    pub rss_halves_kib: Option<(u64, u64)>,
    /// What the gateway and the broker used during the phase.
    pub used: Usage,
    /// How the driver's (this process's) threads were scheduled: limit A's
    /// producer is the driver.
    pub driver_sched: Option<Scheduling>,
    /// CPU time the driver (this process, or wrk) used during the phase: when
    /// it nears a core, the driver and not the server sets the pace.
    pub driver_cpu: Duration,
}

/// Microseconds since `t`, at least 1 (a histogram's smallest value).
fn micros_since(t: Instant) -> u64 {
    (t.elapsed().as_micros() as u64).max(1)
}

impl Outcome {
    /// One answer: its status, and its latency from the intended send time.
    fn answered(&mut self, status: u16, intended: Instant) {
        *self.statuses.entry(status).or_default() += 1;
        let hist = self.hist.as_mut().expect("a phase's histogram");
        hist.saturating_record(micros_since(intended));
    }
}

impl Outcome {
    pub fn ok_rate(&self, status: u16) -> f64 {
        self.count(status) as f64 / self.elapsed.as_secs_f64()
    }
    pub fn count(&self, status: u16) -> u64 {
        self.statuses.get(&status).copied().unwrap_or(0)
    }
    pub fn ms(&self, q: f64) -> f64 {
        self.hist
            .as_ref()
            .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
    }
    pub fn ms_503(&self, q: f64) -> f64 {
        self.hist_503
            .as_ref()
            .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
    }
    /// The gateway's CPU per answer with `status`, in µs.
    pub fn gateway_us_per(&self, status: u16) -> Option<f64> {
        self.used.gateway_us_per(self.count(status))
    }
    /// The driver's CPU per answer with `status`, in µs.
    pub fn driver_us_per(&self, status: u16) -> f64 {
        self.driver_cpu.as_secs_f64() * 1e6 / self.count(status).max(1) as f64
    }
    /// The driver's CPU as a share of one core.
    pub fn driver_load(&self) -> f64 {
        self.driver_cpu.as_secs_f64() / self.elapsed.as_secs_f64()
    }
    /// The gateway's context switches and run-queue wait (µs) per answer
    /// with `status`.
    pub fn gateway_sched_per(&self, status: u16) -> Option<(f64, f64)> {
        self.used.gateway_sched_per(self.count(status))
    }
    /// The same for the driver (limit A's producer).
    pub fn driver_sched_per(&self, status: u16) -> Option<(f64, f64)> {
        self.driver_sched
            .as_ref()
            .map(|s| s.per(self.count(status)))
    }
    fn merge(&mut self, other: Outcome) {
        for (mine, theirs) in [
            (&mut self.hist, other.hist),
            (&mut self.hist_503, other.hist_503),
        ] {
            match (mine, theirs) {
                (Some(h), Some(o)) => h.add(o).unwrap(),
                (h @ None, o) => *h = o,
                _ => {}
            }
        }
        for (k, v) in other.statuses {
            *self.statuses.entry(k).or_default() += v;
        }
        self.errors += other.errors;
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 120_000_000, 3).unwrap()
}

/// What the processes beside the driver used: the gateway's CPU and how its
/// threads were scheduled, and the broker's CPU. A snapshot, or (`since`)
/// the difference of two: one way to measure a phase, for the project's
/// driver and for wrk alike.
#[derive(Default)]
pub struct Usage {
    pub gateway_cpu: Option<Duration>,
    pub gateway_sched: Option<Scheduling>,
    /// The broker (tansu): the third process on the two cores.
    pub broker_cpu: Option<Duration>,
}

impl Usage {
    /// What the gateway (`pid`, if any) and the broker have used so far.
    pub fn now(gateway: Option<u32>) -> Usage {
        Usage {
            gateway_cpu: gateway.and_then(cpu_time),
            gateway_sched: gateway.and_then(Scheduling::of),
            broker_cpu: BROKER_PID.get().copied().and_then(cpu_time),
        }
    }

    /// What they used from `before` until now.
    pub fn since(before: &Usage, gateway: Option<u32>) -> Usage {
        let now = Usage::now(gateway);
        let cpu = |n: Option<Duration>, b: Option<Duration>| Some(n?.saturating_sub(b?));
        Usage {
            gateway_cpu: cpu(now.gateway_cpu, before.gateway_cpu),
            gateway_sched: now
                .gateway_sched
                .zip(before.gateway_sched.as_ref())
                .map(|(n, b)| n.since(b)),
            broker_cpu: cpu(now.broker_cpu, before.broker_cpu),
        }
    }

    /// The gateway's CPU per one of `n` answers, in µs.
    pub fn gateway_us_per(&self, n: u64) -> Option<f64> {
        self.gateway_cpu
            .map(|c| c.as_secs_f64() * 1e6 / n.max(1) as f64)
    }

    /// The gateway's context switches and run-queue wait (µs) per answer.
    pub fn gateway_sched_per(&self, n: u64) -> Option<(f64, f64)> {
        self.gateway_sched.as_ref().map(|s| s.per(n))
    }

    /// The gateway's CPU µs per answer by kind of thread, busiest first.
    pub fn gateway_threads_per(&self, n: u64) -> Vec<(String, f64)> {
        self.gateway_sched.as_ref().map_or(vec![], |s| s.cpu_per(n))
    }

    /// The broker's CPU as a share of one core over `elapsed`.
    pub fn broker_load(&self, elapsed: Duration) -> Option<f64> {
        self.broker_cpu
            .map(|c| c.as_secs_f64() / elapsed.as_secs_f64())
    }
}

/// The broker's process, whose CPU every phase reports: set once at start.
pub static BROKER_PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();

/// This process's CPU time (every thread): the driver's own cost.
pub fn own_cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, &mut usage), 0);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// When a worker sends: as fast as answers come back, or on a fixed schedule.
#[derive(Clone, Copy)]
pub enum Pace {
    Closed,
    /// Worker `j` of `w` sends its k-th request at `start + (k*w + j) / rate`.
    Fixed {
        start: Instant,
        rate: f64,
        workers: usize,
    },
}

impl Pace {
    async fn next(&self, worker: usize, k: u64) -> Instant {
        match *self {
            Pace::Closed => Instant::now(),
            Pace::Fixed {
                start,
                rate,
                workers,
            } => {
                let at = start
                    + Duration::from_secs_f64((k as f64 * workers as f64 + worker as f64) / rate);
                tokio::time::sleep_until(at.into()).await;
                at
            }
        }
    }
}

pub async fn connect(
    addr: SocketAddr,
) -> Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

/// One worker's way of sending the phase's `n`-th request and recording its
/// answer: what differs between the HTTP and the producer drivers.
trait Client: Send + 'static {
    fn send(
        &mut self,
        n: u64,
        intended: Instant,
        out: &mut Outcome,
    ) -> impl std::future::Future<Output = ()> + Send;
}

/// A keep-alive HTTP client; it reconnects after an error.
struct HttpClient {
    addr: SocketAddr,
    pool: Arc<Pool>,
    sender: Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>>,
}

impl Client for HttpClient {
    async fn send(&mut self, n: u64, intended: Instant, out: &mut Outcome) {
        if self.sender.is_none() {
            self.sender = connect(self.addr).await;
        }
        let Some(s) = self.sender.as_mut() else {
            out.errors += 1;
            return;
        };
        let sent = Instant::now();
        match s.send_request(self.pool.request(n)).await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let _ = resp.into_body().collect().await;
                out.answered(status, intended);
                if status == 503 {
                    let hist = out.hist_503.as_mut().expect("a 503 histogram");
                    hist.saturating_record(micros_since(sent));
                }
            }
            Err(_) => {
                out.errors += 1;
                self.sender = None;
                let hist = out.hist.as_mut().expect("a phase's histogram");
                hist.saturating_record(micros_since(intended));
            }
        }
    }
}

/// A task publishing records straight to the producer, awaiting each delivery.
struct ProducerClient {
    publisher: Arc<Publisher>,
    records: Arc<Vec<Record>>,
}

impl Client for ProducerClient {
    async fn send(&mut self, n: u64, intended: Instant, out: &mut Outcome) {
        let record = &self.records[n as usize % self.records.len()];
        let status = match self.publisher.publish(record).await {
            Ok(_) => 200,
            Err(_) => 503,
        };
        out.answered(status, intended);
    }
}

/// `workers` keep-alive clients sending the pool's requests in turn.
pub async fn drive_http(
    addr: SocketAddr,
    pool: Arc<Pool>,
    workers: usize,
    pace: Pace,
    run_for: Duration,
) -> Outcome {
    let clients = (0..workers).map(|_| HttpClient {
        addr,
        pool: pool.clone(),
        sender: None,
    });
    drive(clients.collect(), pace, run_for).await
}

/// `workers` tasks publishing records straight to the producer, each awaiting
/// its delivery: limit A.
pub async fn drive_producer(
    publisher: Arc<Publisher>,
    records: Arc<Vec<Record>>,
    workers: usize,
    pace: Pace,
    run_for: Duration,
) -> Outcome {
    let clients = (0..workers).map(|_| ProducerClient {
        publisher: publisher.clone(),
        records: records.clone(),
    });
    drive(clients.collect(), pace, run_for).await
}

/// One task per client, each sending at `pace` until `run_for` has passed;
/// the requests are numbered across them, so a pool is used in turn.
async fn drive<C: Client>(clients: Vec<C>, pace: Pace, run_for: Duration) -> Outcome {
    let started = Instant::now();
    let deadline = started + run_for;
    let counter = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(w, mut client)| {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut out = Outcome {
                    hist: Some(histogram()),
                    hist_503: Some(histogram()),
                    ..Default::default()
                };
                for k in 0.. {
                    let intended = pace.next(w, k).await;
                    if intended >= deadline {
                        break;
                    }
                    let n = counter.fetch_add(1, Ordering::Relaxed);
                    client.send(n, intended, &mut out).await;
                }
                out
            })
        })
        .collect();
    collect(tasks, started).await
}

/// Merges the workers' outcomes into the phase's.
async fn collect(tasks: Vec<tokio::task::JoinHandle<Outcome>>, started: Instant) -> Outcome {
    let mut total = Outcome::default();
    for t in tasks {
        total.merge(t.await.unwrap());
    }
    total.elapsed = started.elapsed();
    total
}

/// Runs a phase and adds what it cost: the driver's CPU and, with the
/// gateway's `pid`, the gateway's CPU and its RSS sampled every 100 ms (the
/// peak, and the peaks of the first and second halves: flat memory when the
/// second is no higher).
pub async fn observed<F: std::future::Future<Output = Outcome>>(pid: Option<u32>, f: F) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while let Some(pid) = pid.filter(|_| !stop.load(Ordering::Relaxed)) {
                if let Some(r) = rss_kib(pid) {
                    samples.push(r);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            samples
        })
    };
    let before = (Usage::now(pid), own_cpu());
    let driver_before = Scheduling::of(std::process::id());
    let mut out = f.await;
    out.driver_cpu = own_cpu().saturating_sub(before.1);
    out.used = Usage::since(&before.0, pid);
    out.driver_sched = Scheduling::of(std::process::id())
        .zip(driver_before)
        .map(|(n, b)| n.since(&b));
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.await.unwrap();
    if !samples.is_empty() {
        out.peak_rss_kib = samples.iter().max().copied();
        let (early, late) = samples.split_at(samples.len() / 2);
        out.rss_halves_kib = Some((
            early.iter().max().copied().unwrap_or(0),
            late.iter().max().copied().unwrap_or(0),
        ));
    }
    out
}

/// A bare hyper server answering 200 to every request, on its own 2-thread
/// runtime (as many threads as the gateway gets): limit B.
pub fn bare_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        |req: http::Request<hyper::body::Incoming>| async move {
                            let _ = req.into_body().collect().await;
                            Ok::<_, std::convert::Infallible>(http::Response::new(Full::new(
                                Bytes::from_static(b"{\"id\":\"bare\"}"),
                            )))
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    addr
}
