//! End-to-end load bench: the gateway against its physical limits, measured
//! side by side in one run against one tansu broker (memory storage).
//!
//! cargo bench --bench e2e                       full run (about 3 minutes)
//! cargo bench --bench e2e -- --concurrency 128  another C (default 64)
//! cargo bench --bench e2e -- --secs 5 --overload-secs 20
//! cargo test --bench e2e                        smoke mode: seconds, CI
//! KAFKA_LINGER_MS=1 cargo bench --bench e2e     producer settings for limit A and the gateway alike
//!
//! Phases (closed loop: C clients each awaiting their answer; fixed rate:
//! latency measured from the intended send time, which corrects for
//! coordinated omission):
//! - limit A: the gateway's own producer (same settings, same records),
//!   awaiting each delivery: no gateway can beat it on this broker;
//! - limit B: a bare hyper server answering 200, driven by the same driver;
//! - gateway, accepted: freshly signed ~1 KiB M2M operation.created (every
//!   fourth a Transfers payment), each awaited until 200;
//! - gateway, rejected: the same with bad signatures (401, nothing published);
//! - fixed rate: limit A and the gateway at 50 % of limit A's maximum;
//! - C = 256 for the gateway's peak RSS; overload at twice its maximum.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use webhook_gateway::config::key_ring;
use webhook_gateway::config::KafkaSettings;
use webhook_gateway::envelope::Record;
use webhook_gateway::metrics::Metrics;
use webhook_gateway::normalize::{normalize, Plan, RequestMeta};
use webhook_gateway::providers::{Definition, Definitions};
use webhook_gateway::publish::Publisher;
use webhook_gateway::routing::Topics;
use webhook_gateway::sign::{signature_headers, Parts};
use webhook_gateway::verify::verify;

/// The tests' tansu launcher, free port and RSS reader, one copy for both.
#[path = "../tests/it/common/processes.rs"]
#[allow(dead_code)] // the tests use the rest (sqlite storage, faults)
mod processes;
use processes::{free_port, rss_kib, Broker};

const SECRET: &str = "bench-secret";
const TOPICS: [&str; 3] = [
    "webhooks.m2m.operation.created",
    "webhooks.transfers.payment.completed",
    "webhooks.unrouted",
];

struct Args {
    concurrency: usize,
    secs: u64,
    overload_secs: u64,
    smoke: bool,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    fn value<T: std::str::FromStr>(argv: &[String], flag: &str) -> Option<T> {
        argv.iter()
            .position(|a| a == flag)
            .and_then(|i| argv.get(i + 1))
            .and_then(|v| v.parse().ok())
    }
    // `cargo bench` passes --bench; `cargo test --benches` does not: smoke mode.
    let smoke = argv.iter().any(|a| a == "--smoke") || !argv.iter().any(|a| a == "--bench");
    Args {
        concurrency: value(&argv, "--concurrency").unwrap_or(if smoke { 8 } else { 64 }),
        secs: value(&argv, "--secs").unwrap_or(if smoke { 1 } else { 10 }),
        overload_secs: value(&argv, "--overload-secs").unwrap_or(if smoke { 1 } else { 60 }),
        smoke,
    }
}

struct Killed(Child);
impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A tansu broker in memory with the bench's topics.
fn start_tansu() -> Broker {
    let broker = Broker::start();
    for topic in TOPICS {
        broker.create_topic(topic);
    }
    broker
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Accepted,
    Rejected,
}

/// Request `n`: a ~1 KiB M2M operation.created, every fourth a Transfers payment.
fn webhook(kind: Kind, n: u64) -> (&'static str, Vec<u8>) {
    let pad = "x".repeat(760);
    if n % 4 == 3 {
        let body = format!(
            r#"{{"event":"Payment.Status","data":{{"status":"Completed","userId":"user-{n}","paymentReference":"pay-{n}","amount":100.23,"description":"Transaction Successful","senderAccountName":"A Sender","sourceAccountNumber":"0123456789","sourceBankCode":"058","destinationAccountNumber":"9876543210","destinationBankCode":"044","note":"{pad}"}}}}"#
        );
        ("transfers", body.into_bytes())
    } else {
        let _ = kind;
        let body = format!(
            r#"{{"event":"operation.created","data":{{"operationId":"op-{n}","referenceId":"user-{n}","amount":{{"send":"100.00","receive":"98.50","fee":"1.50"}},"status":"completed","createdAt":"2026-11-23T10:00:00Z","note":"{pad}"}}}}"#
        );
        ("m2m", body.into_bytes())
    }
}

fn request(kind: Kind, n: u64) -> http::Request<Full<Bytes>> {
    let (provider, body) = webhook(kind, n);
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let secret = if kind == Kind::Accepted {
        SECRET
    } else {
        "wrong-secret"
    };
    let mut builder = http::Request::post(format!("/webhooks/{provider}"))
        .header("host", "gateway")
        .header("content-type", "application/json");
    for (k, v) in signed(&builtin(provider), secret, &body, ts) {
        builder = builder.header(k, v);
    }
    builder.body(Full::new(Bytes::from(body))).unwrap()
}

fn builtin(name: &str) -> Definition {
    Definitions::builtin()
        .get(name)
        .expect("a built-in")
        .clone()
}

fn signed(def: &Definition, secret: &str, body: &[u8], timestamp: String) -> Vec<(String, String)> {
    let parts = Parts {
        timestamp: Some(timestamp),
        id: None,
    };
    signature_headers(def, secret, body, &parts).expect("signs")
}

/// The canonical records the gateway would publish for the same webhooks.
fn records(count: u64) -> Vec<Record> {
    let defs = Definitions::builtin();
    let topics = Topics::new(&defs.list, "webhooks", &Default::default()).unwrap();
    (0..count)
        .map(|n| {
            let (provider, body) = webhook(Kind::Accepted, n);
            let def = defs.get(provider).expect("a built-in");
            let keys = key_ring(def, &[SECRET.to_owned()]).unwrap();
            let mut headers = http::HeaderMap::new();
            let ts = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
                .to_string();
            for (k, v) in signed(def, SECRET, &body, ts) {
                headers.insert(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            let v = verify(
                def,
                &keys,
                &headers,
                &body[..],
                SystemTime::now(),
                Duration::from_secs(300),
            )
            .unwrap();
            let plan = Plan::new(def);
            let normalized = normalize(
                &plan,
                &v,
                &headers,
                &RequestMeta::default(),
                SystemTime::now(),
            );
            topics.record(&normalized)
        })
        .collect()
}

#[derive(Default)]
struct Outcome {
    hist: Option<Histogram<u64>>,
    /// Service time (actual send to answer) of the 503s alone: under overload they
    /// must be fast, whatever backlog the driver itself has built up.
    hist_503: Option<Histogram<u64>>,
    statuses: BTreeMap<u16, u64>,
    errors: u64,
    elapsed: Duration,
    peak_rss_kib: Option<u64>,
    /// Peak RSS in the first and the second half of the phase: flat when equal.
    rss_halves_kib: Option<(u64, u64)>,
}

impl Outcome {
    fn ok_rate(&self, status: u16) -> f64 {
        *self.statuses.get(&status).unwrap_or(&0) as f64 / self.elapsed.as_secs_f64()
    }
    fn ms(&self, q: f64) -> f64 {
        self.hist
            .as_ref()
            .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
    }
    fn ms_503(&self, q: f64) -> f64 {
        self.hist_503
            .as_ref()
            .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
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

/// When a worker sends: as fast as answers come back, or on a fixed schedule.
#[derive(Clone, Copy)]
enum Pace {
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

async fn connect(addr: SocketAddr) -> Option<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

async fn drive_http(
    addr: SocketAddr,
    kind: Kind,
    workers: usize,
    pace: Pace,
    run_for: Duration,
    counter: Arc<AtomicU64>,
) -> Outcome {
    let started = Instant::now();
    let deadline = started + run_for;
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut out = Outcome {
                    hist: Some(histogram()),
                    hist_503: Some(histogram()),
                    ..Default::default()
                };
                let mut sender = None;
                for k in 0.. {
                    let intended = pace.next(w, k).await;
                    if intended >= deadline {
                        break;
                    }
                    if sender.is_none() {
                        sender = connect(addr).await;
                    }
                    let Some(s) = sender.as_mut() else {
                        out.errors += 1;
                        continue;
                    };
                    let req = request(kind, counter.fetch_add(1, Ordering::Relaxed));
                    let mut status = 0;
                    let sent = Instant::now();
                    match s.send_request(req).await {
                        Ok(resp) => {
                            status = resp.status().as_u16();
                            let _ = resp.into_body().collect().await;
                            *out.statuses.entry(status).or_default() += 1;
                        }
                        Err(_) => {
                            out.errors += 1;
                            sender = None;
                        }
                    }
                    let latency = (intended.elapsed().as_micros() as u64).max(1);
                    out.hist.as_mut().unwrap().saturating_record(latency);
                    if status == 503 {
                        out.hist_503
                            .as_mut()
                            .unwrap()
                            .saturating_record((sent.elapsed().as_micros() as u64).max(1));
                    }
                }
                out
            })
        })
        .collect();
    collect(tasks, started).await
}

async fn drive_producer(
    publisher: Arc<Publisher>,
    records: Arc<Vec<Record>>,
    workers: usize,
    pace: Pace,
    run_for: Duration,
) -> Outcome {
    let started = Instant::now();
    let deadline = started + run_for;
    let counter = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let (publisher, records, counter) =
                (publisher.clone(), records.clone(), counter.clone());
            tokio::spawn(async move {
                let mut out = Outcome {
                    hist: Some(histogram()),
                    ..Default::default()
                };
                for k in 0.. {
                    let intended = pace.next(w, k).await;
                    if intended >= deadline {
                        break;
                    }
                    let n = counter.fetch_add(1, Ordering::Relaxed) as usize;
                    let status = match publisher.publish(&records[n % records.len()]).await {
                        Ok(_) => 200,
                        Err(_) => 503,
                    };
                    *out.statuses.entry(status).or_default() += 1;
                    out.hist
                        .as_mut()
                        .unwrap()
                        .saturating_record((intended.elapsed().as_micros() as u64).max(1));
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

/// Samples the gateway's RSS every 100 ms while `f` runs: the peak, and the
/// peaks of the first and second halves (flat memory: the second is no higher).
async fn with_rss<F: std::future::Future<Output = Outcome>>(pid: u32, f: F) -> Outcome {
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                if let Some(r) = rss_kib(pid) {
                    samples.push(r);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            samples
        })
    };
    let mut out = f.await;
    stop.store(true, Ordering::Relaxed);
    let samples = sampler.await.unwrap();
    out.peak_rss_kib = samples.iter().max().copied();
    let (early, late) = samples.split_at(samples.len() / 2);
    out.rss_halves_kib = Some((
        early.iter().max().copied().unwrap_or(0),
        late.iter().max().copied().unwrap_or(0),
    ));
    out
}

/// A bare hyper server answering 200 to every request, on its own 2-thread
/// runtime (as many threads as the gateway gets).
fn bare_server() -> SocketAddr {
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

fn row(name: &str, o: &Outcome, status: u16) {
    let rss = o
        .peak_rss_kib
        .map_or("-".into(), |r| format!("{:.1} MiB", r as f64 / 1024.0));
    println!(
        "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {rss} | {:?}{} |",
        o.ok_rate(status),
        o.ms(0.5),
        o.ms(0.99),
        o.ms(0.999),
        o.statuses,
        if o.errors > 0 {
            format!(" + {} errors", o.errors)
        } else {
            String::new()
        }
    );
}

fn main() {
    let args = args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(args));
}

async fn run(args: Args) {
    let (c, secs) = (args.concurrency, Duration::from_secs(args.secs));
    let broker = start_tansu();
    let bootstrap = broker.bootstrap();
    // Producer settings under test (KAFKA_LINGER_MS=1, say) apply to limit A
    // and the gateway alike.
    let tuning: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("KAFKA_") && k != "KAFKA_BOOTSTRAP_SERVERS")
        .collect();
    let env = tuning
        .iter()
        .cloned()
        .chain([("KAFKA_BOOTSTRAP_SERVERS".to_string(), bootstrap.clone())])
        .collect();
    let (settings, _) = KafkaSettings::from_env(&env, Duration::from_secs(10)).unwrap();
    let publisher =
        Publisher::new(&settings, Duration::from_secs(10), Arc::new(Metrics::new())).unwrap();
    let records = Arc::new(records(4096));
    // Warm the producer (metadata, producer id) before measuring.
    for r in records.iter().take(100) {
        publisher
            .publish(r)
            .await
            .expect("the broker accepts the warm-up records");
    }

    let public = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let gateway = Killed(
        Command::new(env!("CARGO_BIN_EXE_webhook-gateway"))
            .envs(tuning.iter().cloned())
            .env("KAFKA_BOOTSTRAP_SERVERS", &bootstrap)
            .env("M2M_WEBHOOK_SECRET", SECRET)
            .env("TRANSFERS_SIGNATURE_TOKEN", SECRET)
            .env("GATEWAY_LISTEN_ADDR", public.to_string())
            .env("GATEWAY_ADMIN_ADDR", admin.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the gateway"),
    );
    let pid = gateway.0.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    while connect(admin).await.is_none() {
        assert!(Instant::now() < deadline, "gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let counter = Arc::new(AtomicU64::new(1_000_000));
    // Warm-up: connections, producer id, topic metadata.
    drive_http(
        public,
        Kind::Accepted,
        c,
        Pace::Closed,
        Duration::from_secs(1),
        counter.clone(),
    )
    .await;

    eprintln!("limit A: direct producer, C={c}");
    let limit_a = drive_producer(publisher.clone(), records.clone(), c, Pace::Closed, secs).await;
    eprintln!("limit B: bare HTTP, C={c}");
    let limit_b = drive_http(
        bare_server(),
        Kind::Accepted,
        c,
        Pace::Closed,
        secs,
        counter.clone(),
    )
    .await;
    eprintln!("gateway, accepted path, C={c}");
    let accepted = with_rss(
        pid,
        drive_http(
            public,
            Kind::Accepted,
            c,
            Pace::Closed,
            secs,
            counter.clone(),
        ),
    )
    .await;
    eprintln!("gateway, rejected path, C={c}");
    let rejected = with_rss(
        pid,
        drive_http(
            public,
            Kind::Rejected,
            c,
            Pace::Closed,
            secs,
            counter.clone(),
        ),
    )
    .await;

    let rate = (limit_a.ok_rate(200) * 0.5).max(1.0);
    let fixed = |workers| Pace::Fixed {
        start: Instant::now(),
        rate,
        workers,
    };
    eprintln!("fixed rate {rate:.0}/s: limit A, then the gateway");
    let fixed_a = drive_producer(publisher.clone(), records.clone(), c, fixed(c), secs).await;
    let fixed_gw = with_rss(
        pid,
        drive_http(public, Kind::Accepted, c, fixed(c), secs, counter.clone()),
    )
    .await;

    eprintln!("gateway, accepted path, C=256");
    let wide = with_rss(
        pid,
        drive_http(
            public,
            Kind::Accepted,
            256,
            Pace::Closed,
            secs,
            counter.clone(),
        ),
    )
    .await;
    // Twice the best rate measured, with more clients than the in-flight cap
    // (1024), so the cap must answer 503 at once.
    let overload_rate = (accepted.ok_rate(200).max(wide.ok_rate(200)) * 2.0).max(1.0);
    eprintln!(
        "overload: {overload_rate:.0}/s for {} s",
        args.overload_secs
    );
    let over_workers = if args.smoke { 64 } else { 2048 };
    let overload = with_rss(
        pid,
        drive_http(
            public,
            Kind::Accepted,
            over_workers,
            Pace::Fixed {
                start: Instant::now(),
                rate: overload_rate,
                workers: over_workers,
            },
            Duration::from_secs(args.overload_secs),
            counter.clone(),
        ),
    )
    .await;

    println!();
    println!(
        "C = {c}, {} s per phase, overload {} s{}",
        args.secs,
        args.overload_secs,
        if args.smoke {
            " (smoke mode: figures are not meaningful)"
        } else {
            ""
        }
    );
    if !tuning.is_empty() {
        println!("producer settings changed for limit A and the gateway alike: {tuning:?}");
    }
    println!();
    println!("| phase | ok/s | p50 ms | p99 ms | p99.9 ms | gateway peak RSS | answers |");
    println!("| --- | --- | --- | --- | --- | --- | --- |");
    row("limit A: direct producer", &limit_a, 200);
    row("limit B: bare HTTP", &limit_b, 200);
    row("gateway, accepted", &accepted, 200);
    row("gateway, rejected (401 counted)", &rejected, 401);
    row(&format!("limit A at {rate:.0}/s"), &fixed_a, 200);
    row(&format!("gateway at {rate:.0}/s"), &fixed_gw, 200);
    row("gateway, accepted, C = 256", &wide, 200);
    row(
        &format!("overload at {overload_rate:.0}/s (2x)"),
        &overload,
        200,
    );
    println!();
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    let accepted_ratio = ratio(accepted.ok_rate(200), limit_a.ok_rate(200));
    let rejected_ratio = ratio(rejected.ok_rate(401), limit_b.ok_rate(200));
    let p99_gap = fixed_gw.ms(0.99) - fixed_a.ms(0.99);
    let wide_rss = wide.peak_rss_kib.unwrap_or(0) as f64 / 1024.0;
    let (over_early, over_late) = overload.rss_halves_kib.unwrap_or((0, 0));
    let (over_early, over_late) = (over_early as f64 / 1024.0, over_late as f64 / 1024.0);
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    println!("| target | measured | |");
    println!("| --- | --- | --- |");
    println!(
        "| accepted throughput >= 0.8 x limit A | {accepted_ratio:.2} x | {} |",
        verdict(accepted_ratio >= 0.8)
    );
    println!(
        "| rejected throughput >= 0.6 x limit B | {rejected_ratio:.2} x | {} |",
        verdict(rejected_ratio >= 0.6)
    );
    println!(
        "| p99 at fixed rate <= limit A's p99 + 2 ms | {p99_gap:+.2} ms | {} |",
        verdict(p99_gap <= 2.0)
    );
    println!(
        "| peak RSS at C = 256 <= 64 MiB | {wide_rss:.1} MiB | {} |",
        verdict(wide_rss <= 64.0)
    );
    println!(
        "| RSS flat during overload (peak of first half, second half) | {over_early:.1} MiB, {over_late:.1} MiB | {} |",
        verdict(over_late <= over_early * 1.1 + 1.0)
    );
    let over_503 = overload.statuses.get(&503).copied().unwrap_or(0);
    println!(
        "| overload answers | {} x 200, {over_503} x 503 (503 service time p50 {:.2} ms, p99 {:.2} ms) | |",
        overload.statuses.get(&200).copied().unwrap_or(0),
        overload.ms_503(0.5),
        overload.ms_503(0.99)
    );

    // The bench must not rot: the accepted path accepts, the rejected path rejects.
    assert!(
        accepted.statuses.get(&200).copied().unwrap_or(0) > 0,
        "accepted path: {:?}",
        accepted.statuses
    );
    assert_eq!(
        rejected.statuses.keys().copied().collect::<Vec<_>>(),
        [401],
        "rejected path answers only 401"
    );
    drop(gateway);
}
