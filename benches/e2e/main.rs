//! End-to-end load bench: the gateway against its physical limits, measured
//! side by side in one run against one tansu broker (memory storage).
//!
//! ```text
//! cargo bench --bench e2e                          full run (about 5 minutes)
//! cargo bench --bench e2e -- --secs 10             longer phases
//! cargo bench --bench e2e -- --sweep-only --variants 'default;KAFKA_LINGER_MS=0'
//!                                                  gateway settings side by side
//! KAFKA_BATCH_NUM_MESSAGES=100 cargo bench --bench e2e   other settings, for the gateway
//! cargo bench --bench e2e -- --sweep-only --perf 64   perf profile of the gateway's wrk run at C = 64
//! cargo bench --bench e2e -- --storm-only --variants 'default;bin=/tmp/old'
//!                                                  the storm alone, per variant
//! cargo bench --bench e2e -- --catalogue-only --variants 'bin=/tmp/old;default'
//!                                                  memory per routed type (1 to 9 000), per variant
//! cargo bench --bench e2e -- --sweep-only --variants 'default;pinned'
//!                                                  `pinned`: the gateway alone on core 0, the broker
//!                                                  and the driver on core 1 (CPU per webhook only)
//! cargo test --bench e2e                           smoke mode: seconds, CI
//! ```
//!
//! The sweep, at each concurrency C (default 1, 8, 64, 256; closed loop: C
//! clients each awaiting their answer):
//! - limit A: the best direct producer the broker allows at C. rdkafka through
//!   the gateway's own `Publisher` (idempotent, acks=all, each delivery
//!   awaited, the same canonical records), once per `linger.ms` in
//!   `--limit-lingers` (0, 0.1, 0.5, 1), whatever the gateway's settings; the
//!   best wins. Its CPU per message is the driver's (this process) CPU.
//! - limit B: a bare hyper server answering 200, driven like the gateway: the
//!   HTTP part's ceiling (the gateway's latency is at least A's plus B's);
//! - the gateway (one run per `--variants` entry, `;`-separated lists of
//!   `VAR=v,...` on top of the environment, `KAFKA_*` settings or `RUST_LOG`;
//!   `default` is the shipped settings; `bin=<path>` runs another build), three loads: a pool of 4096 distinct
//!   webhooks signed before the clock starts (distinct ids, as real traffic),
//!   one webhook repeated, and wrk posting one pre-signed webhook. Each row has the
//!   gateway's CPU per accepted webhook (/proc/<pid>/stat) and the driver's
//!   own CPU in cores, so a driver-bound row shows itself, and the
//!   gateway's profile from the kernel's accounting: context switches and
//!   run-queue wait per webhook, CPU by kind of thread (limit A's rows the
//!   same for the producer).
//! - idle: the gateway's CPU with no traffic.
//!
//! Then, for the first variant at `--concurrency` (default 64), unless
//! `--sweep-only`: the rejected path (bad signatures, 401), fixed rates at 50 %
//! of limit A's maximum and of the gateway's (latency from the intended send
//! time: no coordinated omission), and overload at twice the gateway's C = 256
//! rate from 2048 clients (RSS flat, 503s). Every phase also reports the
//! broker's CPU: tansu shares the two cores.
//!
//! Last, for every variant with `--storm-only`, else the first: the storm
//! (`storm`): Transfers floods from 2 048 clients (valid, then forged)
//! while M2M posts one webhook at a time; every M2M webhook should be 200.
//!
//! After the gateway's variants, the peer (`peer`): the Node handler
//! (Express and kafkajs, `node/`), driven by the same wrk at each C.
//!
//! `--catalogue-only` (`catalogue`): the gateway's memory once started, for
//! 1 to 9 000 routed types (`--catalogue-types`), per variant, with no broker
//! and then ready with every topic; the smoke run measures two small sizes.

mod catalogue;
mod drive;
mod peer;
mod profile;
mod requests;
mod storm;
mod wrk;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use webhook_gateway::kafka::Publisher;
use webhook_gateway::metrics::Metrics;
use webhook_gateway::settings::KafkaSettings;

/// The tests' tansu launcher, free port, RSS and CPU readers, one copy for both.
#[path = "../../tests/it/common/processes.rs"]
#[allow(dead_code)] // the tests use the rest (sqlite storage, faults)
mod processes;

use drive::{connect, drive_http, drive_producer, observed, Outcome, Pace};
use processes::{cpu_time, free_port, Broker};
use requests::{records, transfers, Kind, Pool, Signed, SECRET, TOPICS};

struct Args {
    concurrencies: Vec<usize>,
    concurrency: usize,
    secs: f64,
    overload_secs: f64,
    idle_secs: f64,
    limit_lingers: Vec<String>,
    variants: Vec<String>,
    pool: u64,
    sweep_only: bool,
    storm_only: bool,
    storm_secs: f64,
    catalogue_only: bool,
    /// Routed types per catalogue measurement.
    catalogue_types: Vec<usize>,
    /// The concurrency whose wrk run is profiled with perf, if any.
    perf: Option<usize>,
    smoke: bool,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().collect();
    let raw = |flag: &str| {
        argv.iter()
            .position(|a| a == flag)
            .and_then(|i| argv.get(i + 1))
            .cloned()
    };
    fn parsed<T: std::str::FromStr>(v: Option<String>, flag: &str) -> Option<T> {
        v.map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{flag}: cannot read `{v}`"))
        })
    }
    let list = |flag: &str| raw(flag).map(|v| v.split(',').map(str::to_owned).collect::<Vec<_>>());
    // `cargo bench` passes --bench; `cargo test --benches` does not: smoke mode.
    let smoke = argv.iter().any(|a| a == "--smoke") || !argv.iter().any(|a| a == "--bench");
    let concurrencies = list("--concurrencies")
        .map(|l| {
            l.iter()
                .map(|c| parsed(Some(c.clone()), "--concurrencies").unwrap())
                .collect()
        })
        .unwrap_or(if smoke {
            vec![1, 8]
        } else {
            vec![1, 8, 64, 256]
        });
    Args {
        concurrencies,
        concurrency: parsed(raw("--concurrency"), "--concurrency").unwrap_or(if smoke {
            8
        } else {
            64
        }),
        secs: parsed(raw("--secs"), "--secs").unwrap_or(if smoke { 0.25 } else { 5.0 }),
        overload_secs: parsed(raw("--overload-secs"), "--overload-secs").unwrap_or(if smoke {
            0.5
        } else {
            60.0
        }),
        idle_secs: parsed(raw("--idle-secs"), "--idle-secs").unwrap_or(if smoke {
            0.5
        } else {
            10.0
        }),
        // Smoke mode runs every code path once, not every value.
        limit_lingers: list("--limit-lingers").unwrap_or_else(|| {
            let all: &[&str] = if smoke {
                &["0", "0.5"]
            } else {
                &["0", "0.1", "0.5", "1"]
            };
            all.iter().map(|l| l.to_string()).collect()
        }),
        variants: raw("--variants").map_or_else(
            || vec!["default".into()],
            |v| v.split(';').map(str::to_owned).collect(),
        ),
        pool: parsed(raw("--pool"), "--pool").unwrap_or(4096),
        sweep_only: argv.iter().any(|a| a == "--sweep-only"),
        storm_only: argv.iter().any(|a| a == "--storm-only"),
        storm_secs: parsed(raw("--storm-secs"), "--storm-secs").unwrap_or(if smoke {
            0.5
        } else {
            10.0
        }),
        catalogue_only: argv.iter().any(|a| a == "--catalogue-only"),
        catalogue_types: list("--catalogue-types")
            .map(|l| {
                l.iter()
                    .map(|c| parsed(Some(c.clone()), "--catalogue-types").unwrap())
                    .collect()
            })
            .unwrap_or(if smoke {
                vec![1, 60]
            } else {
                vec![1, 100, 1000, 3000, 9000]
            }),
        perf: parsed(raw("--perf"), "--perf"),
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

/// The `KAFKA_*` settings under test: the gateway's defaults, changed by the
/// environment (`KAFKA_BATCH_NUM_MESSAGES=100 cargo bench ...`).
fn tuning() -> Vec<(String, String)> {
    std::env::vars()
        .filter(|(k, _)| k.starts_with("KAFKA_") && k != "KAFKA_BOOTSTRAP_SERVERS")
        .collect()
}

/// A direct producer: the gateway's defaults but `linger.ms`, warmed up
/// (metadata, producer id) before anything is measured.
async fn direct(
    bootstrap: &str,
    linger: &str,
    records: &[webhook_gateway::engine::envelope::Record],
) -> Arc<Publisher> {
    let env = [
        ("KAFKA_BOOTSTRAP_SERVERS".to_string(), bootstrap.to_string()),
        ("KAFKA_LINGER_MS".to_string(), linger.to_string()),
    ]
    .into_iter()
    .collect();
    let (settings, _) = KafkaSettings::from_env(&env, Duration::from_secs(10)).unwrap();
    let publisher =
        Publisher::new(&settings, Duration::from_secs(10), Arc::new(Metrics::new())).unwrap();
    for r in records.iter().take(100) {
        publisher
            .publish(r)
            .await
            .expect("the broker accepts the warm-up records");
    }
    publisher
}

/// The release gateway as a subprocess with the bench's providers, logging
/// as shipped (info, one line per webhook, to a discarded stderr), so its CPU
/// includes the per-request log line.
async fn start_gateway(bootstrap: &str, variant: &Setting) -> (Killed, SocketAddr) {
    let public = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let admin = SocketAddr::from(([127, 0, 0, 1], free_port()));
    // `taskset` execs the gateway: the child's pid is the gateway's.
    let mut command = match variant.pinned {
        true => {
            let mut taskset = Command::new("taskset");
            taskset.args(["-c", "0"]).arg(&variant.bin);
            taskset
        }
        false => Command::new(&variant.bin),
    };
    let gateway = Killed(
        command
            .envs(variant.env.iter().cloned())
            .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
            .env("M2M_WEBHOOK_SECRET", SECRET)
            .env("TRANSFERS_SIGNATURE_TOKEN", SECRET)
            .env("GATEWAY_LISTEN_ADDR", public.to_string())
            .env("GATEWAY_ADMIN_ADDR", admin.to_string())
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the gateway"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while connect(admin).await.is_none() {
        assert!(Instant::now() < deadline, "gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (gateway, public)
}

/// How one `--variants` entry runs the gateway: which binary, which environment.
struct Setting {
    bin: std::path::PathBuf,
    env: Vec<(String, String)>,
    /// `pinned`: the gateway on core 0, the broker and the driver (wrk
    /// included) on core 1, so its CPU per webhook is its own on a core it
    /// does not share. Its driver shares a core with the broker and may bound
    /// the throughput: read only CPU per webhook from it.
    pinned: bool,
}

/// A `--variants` entry: `default`, or `VAR=v,...` replacing those variables
/// of the environment's settings, where `bin=<path>` runs another build of the
/// gateway (an A/B of two commits against the same limits, in one run).
fn variant_setting(tuning: &[(String, String)], variant: &str) -> Setting {
    let mut setting = Setting {
        bin: env!("CARGO_BIN_EXE_webhook-gateway").into(),
        env: tuning.to_vec(),
        pinned: false,
    };
    if variant == "default" {
        return setting;
    }
    for pair in variant.split(',') {
        if pair == "pinned" {
            setting.pinned = true;
            continue;
        }
        let (k, v) = pair
            .split_once('=')
            .unwrap_or_else(|| panic!("--variants: `{pair}` is not VAR=value"));
        if k == "bin" {
            setting.bin = v.into();
            continue;
        }
        setting.env.retain(|(e, _)| e != k);
        setting.env.push((k.to_owned(), v.to_owned()));
    }
    setting
}

/// One line of a sweep table, from the driver or from wrk.
struct Row {
    load: String,
    c: usize,
    rate: f64,
    p50: f64,
    p99: f64,
    gateway_us: Option<f64>,
    /// The gateway's context switches and run-queue wait (µs) per webhook.
    gateway_sched: Option<(f64, f64)>,
    /// The gateway's CPU µs per webhook by kind of thread, busiest first.
    gateway_threads: Vec<(String, f64)>,
    driver_cores: f64,
    broker_cores: Option<f64>,
    rss_mib: Option<f64>,
    answers: String,
}

impl Row {
    fn of(load: &str, c: usize, o: &Outcome) -> Row {
        Row {
            load: load.into(),
            c,
            rate: o.ok_rate(200),
            p50: o.ms(0.5),
            p99: o.ms(0.99),
            gateway_us: o.gateway_us_per(200),
            gateway_sched: o.gateway_sched_per(200),
            gateway_threads: o.used.gateway_threads_per(o.count(200)),
            driver_cores: o.driver_load(),
            broker_cores: o.used.broker_load(o.elapsed),
            rss_mib: o.peak_rss_kib.map(|k| k as f64 / 1024.0),
            answers: answers(o),
        }
    }
    fn of_wrk(c: usize, w: &wrk::WrkRun) -> Row {
        Row {
            load: "wrk, one body".into(),
            c,
            rate: w.ok_rate(),
            p50: w.p50_ms,
            p99: w.p99_ms,
            gateway_us: w.used.gateway_us_per(w.ok()),
            gateway_sched: w.used.gateway_sched_per(w.ok()),
            gateway_threads: w.used.gateway_threads_per(w.ok()),
            driver_cores: w.driver_cpu.as_secs_f64() / w.elapsed.as_secs_f64(),
            broker_cores: w.used.broker_load(w.elapsed),
            rss_mib: None,
            answers: format!(
                "{} ok, {} non-2xx, {} socket errors",
                w.ok(),
                w.non_2xx,
                w.socket_errors
            ),
        }
    }
}

fn answers(o: &Outcome) -> String {
    let mut s = format!("{:?}", o.statuses);
    if o.errors > 0 {
        let _ = write!(s, " + {} errors", o.errors);
    }
    s
}

/// Limit A at one concurrency: every linger's run, and the best.
struct LimitA {
    runs: Vec<(String, Outcome)>,
}

impl LimitA {
    fn best(&self) -> (&str, &Outcome) {
        let (l, o) = self
            .runs
            .iter()
            .max_by(|a, b| a.1.ok_rate(200).total_cmp(&b.1.ok_rate(200)))
            .expect("at least one linger");
        (l, o)
    }
}

/// One gateway variant's sweep.
struct Variant {
    name: String,
    idle_cpu_share: f64,
    rows: Vec<Row>,
    /// The Node handler (`peer`), not a gateway: no idle phase.
    peer: bool,
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
    if args.catalogue_only {
        catalogue_table(&args);
        return;
    }
    let secs = Duration::from_secs_f64(args.secs);
    let broker = start_tansu();
    drive::BROKER_PID.set(broker.pid() as u32).unwrap();
    let bootstrap = broker.bootstrap();
    let tuning = tuning();
    if args.storm_only {
        let mut table = String::from(storm::HEADER);
        for name in &args.variants {
            let (gateway, storms) = storm_of(&args, &bootstrap, &tuning, name).await;
            table += &storm::report(name, &storms);
            drop(gateway);
        }
        println!("\n## The storm\n\n{table}");
        return;
    }
    let records = Arc::new(records(4096));
    let wrk_dir = tempfile::tempdir().unwrap();
    let wrk_script = wrk::script(
        wrk_dir.path(),
        &Signed::new(
            Kind::Accepted,
            "transfers",
            transfers(0, &"x".repeat(760)).1,
        ),
    );

    // Limit A: each linger in turn, one producer at a time.
    let mut limit_a: BTreeMap<usize, LimitA> = BTreeMap::new();
    for linger in &args.limit_lingers {
        let publisher = direct(&bootstrap, linger, &records).await;
        for &c in &args.concurrencies {
            eprintln!("limit A: direct producer, linger.ms {linger}, C={c}");
            let o = observed(
                None,
                drive_producer(publisher.clone(), records.clone(), c, Pace::Closed, secs),
            )
            .await;
            limit_a
                .entry(c)
                .or_insert(LimitA { runs: vec![] })
                .runs
                .push((linger.clone(), o));
        }
    }

    // Limit B: the HTTP part alone, driven like the gateway.
    let bare = drive::bare_server();
    let mut limit_b = BTreeMap::new();
    for &c in &args.concurrencies {
        eprintln!("limit B: bare HTTP, C={c}");
        let pool = Arc::new(Pool::new(Kind::Accepted, args.pool));
        limit_b.insert(
            c,
            observed(None, drive_http(bare, pool, c, Pace::Closed, secs)).await,
        );
    }

    let mut variants = Vec::new();
    let mut legacy = None;
    let mut storm_table = None;
    for (i, name) in args.variants.iter().enumerate() {
        // A pinned variant leaves core 0 to the gateway; the others share both.
        let cores = match variant_setting(&tuning, name).pinned {
            true => "1",
            false => "0-1",
        };
        pin(broker.pid() as u32, cores);
        pin(std::process::id(), cores);
        let (gateway, public) = warm_gateway(&bootstrap, &tuning, name).await;
        let pid = gateway.0.id();
        eprintln!("gateway {name}: idle for {} s", args.idle_secs);
        let before = cpu_time(pid).expect("the gateway runs");
        tokio::time::sleep(Duration::from_secs_f64(args.idle_secs)).await;
        let idle = cpu_time(pid)
            .expect("the gateway runs")
            .saturating_sub(before);
        let mut rows = Vec::new();
        for &c in &args.concurrencies {
            for (load, distinct) in [
                (format!("pool of {}", args.pool), args.pool),
                ("one body repeated".to_string(), 1),
            ] {
                eprintln!("gateway {name}: {load}, C={c}");
                let pool = Arc::new(Pool::new(Kind::Accepted, distinct));
                let o = observed(Some(pid), drive_http(public, pool, c, Pace::Closed, secs)).await;
                rows.push(Row::of(&load, c, &o));
            }
            eprintln!("gateway {name}: wrk, C={c}");
            let script = wrk_script.clone();
            let label = format!("{}-c{c}", name.replace([';', ',', '='], "_"));
            // Sampling within the wrk run (at least 1 s), from its start.
            let recording = (args.perf == Some(c))
                .then(|| profile::start(pid, &label, args.secs.ceil().max(1.0) - 0.2));
            let w =
                tokio::task::spawn_blocking(move || wrk::run(public, &script, c, args.secs, pid))
                    .await
                    .unwrap();
            if let Some(r) = recording {
                r.report(&format!("gateway {name}, wrk at C = {c}"));
            }
            rows.push(Row::of_wrk(c, &w));
        }
        if i == 0 && !args.sweep_only {
            let gateway_max = rows
                .iter()
                .find(|r| r.c == args.concurrency && r.load.starts_with("pool"))
                .map_or(1.0, |r| r.rate);
            legacy = Some(
                legacy_phases(
                    &args,
                    &bootstrap,
                    &records,
                    &limit_a,
                    gateway_max,
                    public,
                    pid,
                )
                .await,
            );
        }
        variants.push(Variant {
            name: name.clone(),
            idle_cpu_share: idle.as_secs_f64() / args.idle_secs,
            rows,
            peer: false,
        });
        drop(gateway);
        if i == 0 && !args.sweep_only {
            let (gateway, storms) = storm_of(&args, &bootstrap, &tuning, name).await;
            drop(gateway);
            storm_table = Some(format!("{}{}", storm::HEADER, storm::report(name, &storms)));
            for s in &storms {
                assert!(
                    s.quiet.count(200) > 0,
                    "the storm's quiet sender got no 200"
                );
            }
        }
    }

    pin(broker.pid() as u32, "0-1");
    pin(std::process::id(), "0-1");

    // The peer, driven like the gateway's wrk rows.
    let (node, node_addr) = peer::start(&bootstrap).await;
    let pid = node.0.id();
    // Warmed like the gateway (its JIT, kafkajs's metadata) before anything counts.
    let script = wrk_script.clone();
    tokio::task::spawn_blocking(move || wrk::run(node_addr, &script, 8, 1.0, pid))
        .await
        .unwrap();
    let mut rows = Vec::new();
    for &c in &args.concurrencies {
        eprintln!("node handler: wrk, C={c}");
        let script = wrk_script.clone();
        let w =
            tokio::task::spawn_blocking(move || wrk::run(node_addr, &script, c, args.secs, pid))
                .await
                .unwrap();
        let mut row = Row::of_wrk(c, &w);
        row.rss_mib = processes::rss_kib(pid).map(|kib| kib as f64 / 1024.0);
        rows.push(row);
    }
    drop(node);
    variants.push(Variant {
        name: "Node handler (Express + kafkajs)".into(),
        idle_cpu_share: 0.0,
        rows,
        peer: true,
    });

    report(
        &args,
        &tuning,
        &limit_a,
        &limit_b,
        &variants,
        legacy.as_ref(),
    );
    if let Some(table) = storm_table {
        println!("\n## The storm\n\n{table}");
    }
    // CI's smoke run measures two small catalogues, so the mode cannot rot.
    if args.smoke {
        catalogue_table(&args);
    }
    for v in &variants {
        for r in &v.rows {
            // The bench must not rot: every load is accepted.
            assert!(
                r.rate > 0.0,
                "{} at C={}: nothing accepted ({})",
                r.load,
                r.c,
                r.answers
            );
        }
    }
    if let Some(l) = &legacy {
        assert_eq!(
            l.rejected.statuses.keys().copied().collect::<Vec<_>>(),
            [401],
            "rejected path answers only 401"
        );
    }
}

/// A gateway of variant `name`, started and warmed up: its connections,
/// producer id and topic metadata in place before anything is measured.
async fn warm_gateway(
    bootstrap: &str,
    tuning: &[(String, String)],
    name: &str,
) -> (Killed, SocketAddr) {
    let setting = variant_setting(tuning, name);
    let (gateway, public) = start_gateway(bootstrap, &setting).await;
    drive_http(
        public,
        Arc::new(Pool::new(Kind::Accepted, 256)),
        8,
        Pace::Closed,
        Duration::from_secs(1),
    )
    .await;
    (gateway, public)
}

/// Every thread of `pid` on `cores` (taskset's list: "1", "0-1").
fn pin(pid: u32, cores: &str) {
    let status = Command::new("taskset")
        .args(["-a", "-cp", cores, &pid.to_string()])
        .stdout(Stdio::null())
        .status()
        .expect("taskset (util-linux)");
    assert!(status.success(), "taskset -a -cp {cores} {pid}");
}

/// Memory per routed type, each variant at each size (`catalogue`).
fn catalogue_table(args: &Args) {
    let tuning = tuning();
    let variants: Vec<(String, Setting)> = args
        .variants
        .iter()
        .map(|name| (name.clone(), variant_setting(&tuning, name)))
        .collect();
    let rows = catalogue::run(&args.catalogue_types, &variants);
    // The bench must not rot: every gateway started and was measured.
    assert!(rows.iter().all(|r| r.alone.0 > 0 && r.with_broker.0 > 0));
    println!(
        "\n## Memory per routed type\n\n{}{}",
        catalogue::HEADER,
        catalogue::report(&rows)
    );
}

/// A fresh gateway of variant `name` (its in-flight cap empty, its metrics
/// at zero) through the storm.
async fn storm_of(
    args: &Args,
    bootstrap: &str,
    tuning: &[(String, String)],
    name: &str,
) -> (Killed, Vec<storm::Storm>) {
    let (gateway, public) = warm_gateway(bootstrap, tuning, name).await;
    let pid = gateway.0.id();
    let workers = if args.smoke { 64 } else { 2048 };
    let storms = storm::run(
        public,
        pid,
        workers,
        Duration::from_secs_f64(args.storm_secs),
    )
    .await;
    (gateway, storms)
}

/// The phases of the earlier targets, at `--concurrency`.
struct Legacy {
    c: usize,
    rejected: Outcome,
    fixed_linger: String,
    /// Per rate: what it is half of, the rate, limit A and the gateway at it.
    fixed: Vec<(&'static str, f64, Outcome, Outcome)>,
    overload_rate: f64,
    overload: Outcome,
}

async fn legacy_phases(
    args: &Args,
    bootstrap: &str,
    records: &Arc<Vec<webhook_gateway::engine::envelope::Record>>,
    limit_a: &BTreeMap<usize, LimitA>,
    gateway_max: f64,
    public: SocketAddr,
    pid: u32,
) -> Legacy {
    let (c, secs) = (args.concurrency, Duration::from_secs_f64(args.secs));
    let pool = || Arc::new(Pool::new(Kind::Accepted, args.pool));
    eprintln!("gateway, rejected path, C={c}");
    let rejected = observed(
        Some(pid),
        drive_http(
            public,
            Arc::new(Pool::new(Kind::Rejected, args.pool)),
            c,
            Pace::Closed,
            secs,
        ),
    )
    .await;

    // Half of limit A's best at C, with its best linger.
    let (fixed_linger, best) = match limit_a.get(&c) {
        Some(a) => (a.best().0.to_owned(), a.best().1.ok_rate(200)),
        None => panic!("--concurrency {c} must be one of --concurrencies"),
    };
    // Half of limit A's maximum (the earlier target's rate), and half of the
    // gateway's own (its latency below saturation, with limit A at the same rate).
    let publisher = direct(bootstrap, &fixed_linger, records).await;
    let mut fixed = Vec::new();
    for (of, max) in [("limit A's", best), ("the gateway's", gateway_max)] {
        let rate = (max * 0.5).max(1.0);
        let pace = || Pace::Fixed {
            start: Instant::now(),
            rate,
            workers: c,
        };
        eprintln!("fixed rate {rate:.0}/s: limit A (linger.ms {fixed_linger}), then the gateway");
        let a = observed(
            None,
            drive_producer(publisher.clone(), records.clone(), c, pace(), secs),
        )
        .await;
        let gw = observed(Some(pid), drive_http(public, pool(), c, pace(), secs)).await;
        fixed.push((of, rate, a, gw));
    }

    // Twice the best closed-loop rate, with more clients than the in-flight
    // cap (1024), so the cap must answer 503 at once.
    let wide = observed(
        Some(pid),
        drive_http(public, pool(), 256, Pace::Closed, secs),
    )
    .await;
    let overload_rate = (wide.ok_rate(200) * 2.0).max(1.0);
    eprintln!(
        "overload: {overload_rate:.0}/s for {} s",
        args.overload_secs
    );
    let workers = if args.smoke { 64 } else { 2048 };
    let overload = observed(
        Some(pid),
        drive_http(
            public,
            pool(),
            workers,
            Pace::Fixed {
                start: Instant::now(),
                rate: overload_rate,
                workers,
            },
            Duration::from_secs_f64(args.overload_secs),
        ),
    )
    .await;
    Legacy {
        c,
        rejected,
        fixed_linger,
        fixed,
        overload_rate,
        overload,
    }
}

fn cores(c: Option<f64>) -> String {
    c.map_or("-".into(), |c| format!("{c:.2}"))
}

/// Context switches and run-queue wait per event: two table cells.
fn sched(per: Option<(f64, f64)>) -> String {
    per.map_or("- | -".into(), |(switches, wait)| {
        format!("{switches:.2} | {wait:.1}")
    })
}

/// CPU per event by kind of thread, those above 0.5 µs, busiest first.
fn by_thread(kinds: &[(String, f64)]) -> String {
    let shown: Vec<String> = kinds
        .iter()
        .filter(|(_, us)| *us >= 0.5)
        .map(|(kind, us)| format!("{kind} {us:.1}"))
        .collect();
    if shown.is_empty() {
        "-".into()
    } else {
        shown.join(", ")
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn report(
    args: &Args,
    tuning: &[(String, String)],
    limit_a: &BTreeMap<usize, LimitA>,
    limit_b: &BTreeMap<usize, Outcome>,
    variants: &[Variant],
    legacy: Option<&Legacy>,
) {
    println!();
    println!(
        "{} s per phase{}",
        args.secs,
        if args.smoke {
            " (smoke mode: figures are not meaningful)"
        } else {
            ""
        }
    );
    if !tuning.is_empty() {
        println!("gateway settings from the environment: {tuning:?}");
    }
    println!();
    println!("Limit A: direct producer (rdkafka, idempotent, acks=all, each delivery awaited); * = best at C");
    println!();
    println!(
        "| C | linger.ms | ok/s | p50 ms | p99 ms | producer CPU µs/msg | producer switches/msg | producer run-queue wait µs/msg | producer CPU µs/msg by thread | broker CPU, cores |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for (c, a) in limit_a {
        let best = a.best().0;
        for (linger, o) in &a.runs {
            println!(
                "| {c} | {linger}{} | {:.0} | {:.2} | {:.2} | {:.1} | {} | {} | {} |",
                if linger == best { " *" } else { "" },
                o.ok_rate(200),
                o.ms(0.5),
                o.ms(0.99),
                o.driver_us_per(200),
                sched(o.driver_sched_per(200)),
                by_thread(
                    &o.driver_sched
                        .as_ref()
                        .map_or(vec![], |s| s.cpu_per(o.count(200)))
                ),
                cores(o.used.broker_load(o.elapsed))
            );
        }
    }
    println!();
    println!("Limit B: bare HTTP (a hyper server in the driver's process answering 200; the driver's CPU includes it)");
    println!();
    println!("| C | ok/s | p50 ms | p99 ms | driver + server CPU, cores |");
    println!("| --- | --- | --- | --- | --- |");
    for (c, o) in limit_b {
        println!(
            "| {c} | {:.0} | {:.2} | {:.2} | {:.2} |",
            o.ok_rate(200),
            o.ms(0.5),
            o.ms(0.99),
            o.driver_load()
        );
    }
    for v in variants {
        println!();
        match v.peer {
            true => println!(
                "The peer, {}: the same wrk runs (its \"gateway\" columns are the Node process)",
                v.name
            ),
            false => println!(
                "Gateway, {}: idle CPU {:.2} % of one core over {} s",
                v.name,
                v.idle_cpu_share * 100.0,
                args.idle_secs
            ),
        }
        println!();
        println!("| C | load | ok/s | x limit A | p50 ms | p99 ms | p99 - A's p99 | gateway CPU µs/webhook | gateway switches/webhook | gateway run-queue wait µs/webhook | gateway CPU µs/webhook by thread | driver CPU, cores | broker CPU, cores | peak RSS | answers |");
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        for r in &v.rows {
            let a = limit_a[&r.c].best().1;
            println!(
                "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:+.2} ms | {} | {} | {} | {:.2} | {} | {} | {} |",
                r.c,
                r.load,
                r.rate,
                r.rate / a.ok_rate(200).max(1e-9),
                r.p50,
                r.p99,
                r.p99 - a.ms(0.99),
                r.gateway_us.map_or("-".into(), |u| format!("{u:.1}")),
                sched(r.gateway_sched),
                by_thread(&r.gateway_threads),
                r.driver_cores,
                cores(r.broker_cores),
                r.rss_mib.map_or("-".into(), |m| format!("{m:.1} MiB")),
                r.answers
            );
        }
    }
    if let Some(v) = variants.first() {
        println!();
        println!(
            "| target (gateway: {}, pool of distinct webhooks) | measured | |",
            v.name
        );
        println!("| --- | --- | --- |");
        let pool_row = |c: usize| {
            v.rows
                .iter()
                .find(|r| r.c == c && r.load.starts_with("pool"))
        };
        for (c, bound) in [(1, 0.9), (8, 0.9), (64, 0.8)] {
            if let Some(r) = pool_row(c) {
                let a = limit_a[&c].best().1;
                let ratio = r.rate / a.ok_rate(200).max(1e-9);
                let gap = r.p99 - a.ms(0.99);
                println!(
                    "| C = {c}: >= {bound} x limit A | {ratio:.2} x | {} |",
                    verdict(ratio >= bound)
                );
                println!(
                    "| C = {c}: p99 <= limit A's p99 + 1 ms | {gap:+.2} ms | {} |",
                    verdict(gap <= 1.0)
                );
            }
        }
        for c in [64, 256] {
            if let Some(us) = pool_row(c).and_then(|r| r.gateway_us) {
                println!(
                    "| C = {c}: CPU <= 15 µs per webhook | {us:.1} µs | {} |",
                    verdict(us <= 15.0)
                );
            }
        }
        println!(
            "| idle CPU < 1 % of one core | {:.2} % | {} |",
            v.idle_cpu_share * 100.0,
            verdict(v.idle_cpu_share < 0.01)
        );
        if let Some(w) = pool_row(256).and_then(|r| r.rss_mib) {
            println!(
                "| peak RSS at C = 256 <= 64 MiB | {w:.1} MiB | {} |",
                verdict(w <= 64.0)
            );
        }
    }
    if let Some(l) = legacy {
        let c = l.c;
        println!();
        // The serving process: the gateway, or the driver for the limits
        // (limit A's producer and limit B's server run in it).
        println!(
            "| phase (C = {c}) | ok/s | p50 ms | p99 ms | p99.9 ms | serving process: CPU µs/answer | switches/answer | run-queue wait µs/answer | gateway peak RSS | answers |"
        );
        println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        let limit_b = &limit_b[&c];
        let row = |name: &str, o: &Outcome, status: u16| {
            let (cpu, sched_per) = match o.gateway_us_per(status) {
                Some(us) => (us, o.gateway_sched_per(status)),
                None => (o.driver_us_per(status), o.driver_sched_per(status)),
            };
            println!(
                "| {name} | {:.0} | {:.2} | {:.2} | {:.2} | {cpu:.1} | {} | {} | {} |",
                o.ok_rate(status),
                o.ms(0.5),
                o.ms(0.99),
                o.ms(0.999),
                sched(sched_per),
                o.peak_rss_kib
                    .map_or("-".into(), |r| format!("{:.1} MiB", r as f64 / 1024.0)),
                answers(o)
            )
        };
        row("limit B: bare HTTP (in the driver's process)", limit_b, 200);
        row("gateway, rejected (401 counted)", &l.rejected, 401);
        for (of, rate, a, gw) in &l.fixed {
            row(
                &format!(
                    "limit A (linger.ms {}) at {rate:.0}/s (half {of} maximum)",
                    l.fixed_linger
                ),
                a,
                200,
            );
            row(
                &format!("gateway at {rate:.0}/s (half {of} maximum)"),
                gw,
                200,
            );
        }
        row(
            &format!("overload at {:.0}/s (2x C = 256)", l.overload_rate),
            &l.overload,
            200,
        );
        println!();
        let rejected_ratio = l.rejected.ok_rate(401) / limit_b.ok_rate(200).max(1e-9);
        let (early, late) = l.overload.rss_halves_kib.unwrap_or((0, 0));
        let (early, late) = (early as f64 / 1024.0, late as f64 / 1024.0);
        println!("| target | measured | |");
        println!("| --- | --- | --- |");
        println!(
            "| rejected throughput >= 0.6 x limit B | {rejected_ratio:.2} x | {} |",
            verdict(rejected_ratio >= 0.6)
        );
        for (of, rate, a, gw) in &l.fixed {
            let gap = gw.ms(0.99) - a.ms(0.99);
            println!(
                "| p99 at {rate:.0}/s (half {of} maximum) <= limit A's p99 + 2 ms | {gap:+.2} ms | {} |",
                verdict(gap <= 2.0)
            );
        }
        println!(
            "| RSS flat during overload (peak of first half, second half) | {early:.1} MiB, {late:.1} MiB | {} |",
            verdict(late <= early * 1.1 + 1.0)
        );
        println!(
            "| overload answers | {} x 200, {} x 503 (503 service time p50 {:.2} ms, p99 {:.2} ms) | |",
            l.overload.count(200),
            l.overload.count(503),
            l.overload.ms_503(0.5),
            l.overload.ms_503(0.99)
        );
    }
}
