//! What SREs rely on: exact metrics, readiness that follows start-up and
//! shutdown (not broker blips), a drain that answers everyone, bounded
//! memory, slow-client defences, PII-free logs, secret reload, topic checks, and
//! every dashboard panel through a real Prometheus scraping the gateway.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use webhook_gateway::config::Config;

fn transfers_body(n: usize) -> Vec<u8> {
    format!(r#"{{"event":"Payment.Status","data":{{"status":"Completed","userId":"u","paymentReference":"p-{n}","amount":{n}.00}}}}"#)
        .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_each_outcome_exactly() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let env = gateway_env(
        &broker.bootstrap(),
        &[
            ("GATEWAY_MAX_INFLIGHT", "2"),
            ("GATEWAY_PUBLISH_TIMEOUT_MS", "2000"),
            ("GATEWAY_MAX_BODY_BYTES", "1024"),
        ],
    );
    let gw = Gateway::start_ready(env).await;
    let public = gw.public;

    assert_eq!(
        send_signed(public, "transfers", &transfers_body(1))
            .await
            .unwrap()
            .status,
        200
    );
    for _ in 0..2 {
        let r = request(
            public,
            "POST",
            "/webhooks/transfers",
            &[],
            transfers_body(2),
        )
        .await
        .unwrap();
        assert_eq!(r.status, 401);
    }
    assert_eq!(
        send_signed(public, "transfers", &vec![b' '; 2048])
            .await
            .unwrap()
            .status,
        413
    );

    // A stalled broker: two requests fill the cap, the third is refused at once.
    broker.freeze();
    let stuck: Vec<_> = (10..12)
        .map(|n| {
            tokio::spawn(async move { send_signed(public, "transfers", &transfers_body(n)).await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(3);
    while gw.metric("webhook_inflight_requests").await < 2.0 {
        assert!(
            Instant::now() < deadline,
            "requests never reached the broker"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    let refused = send_signed(public, "transfers", &transfers_body(13))
        .await
        .unwrap();
    assert_eq!(refused.status, 503);
    assert_eq!(refused.json()["error"], "overloaded");
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "overload is answered at once"
    );
    for s in stuck {
        assert_eq!(s.await.unwrap().unwrap().status, 503);
    }
    broker.thaw();

    let m = |s: &'static str| {
        let gw = &gw;
        async move { gw.metric(s).await }
    };
    assert_eq!(
        m(r#"webhook_requests_total{outcome="accepted",provider="transfers"}"#).await,
        1.0
    );
    assert_eq!(
        m(r#"webhook_requests_total{outcome="unauthorized",provider="transfers"}"#).await,
        2.0
    );
    assert_eq!(
        m(r#"webhook_requests_total{outcome="too_large",provider="transfers"}"#).await,
        1.0
    );
    assert_eq!(
        m(r#"webhook_requests_total{outcome="overloaded",provider="transfers"}"#).await,
        1.0
    );
    assert_eq!(
        m(r#"webhook_requests_total{outcome="unavailable",provider="transfers"}"#).await,
        2.0
    );
    assert_eq!(
        m(r#"webhook_signature_failures_total{provider="transfers",reason="signature_missing"}"#)
            .await,
        2.0
    );
    assert_eq!(
        m(r#"webhook_request_duration_seconds_count{outcome="accepted",provider="transfers"}"#)
            .await,
        1.0
    );
    assert_eq!(
        m(r#"kafka_publish_duration_seconds_count{topic="webhooks.transfers.payment.completed"}"#)
            .await,
        1.0
    );
    assert_eq!(
        m(r#"webhook_events_published_total{provider="transfers",topic="webhooks.transfers.payment.completed",type="transfers.payment.completed"}"#).await,
        1.0
    );
    assert_eq!(
        m(r#"kafka_publish_errors_total{reason="timeout"}"#).await,
        2.0
    );
    assert_eq!(m("webhook_inflight_requests").await, 0.0);
    assert_eq!(
        m(r#"kafka_topic_available{topic="webhooks.unrouted"}"#).await,
        1.0
    );
    let text = get(gw.admin, "/metrics").await.unwrap().text();
    assert!(
        text.contains("process_resident_memory_bytes"),
        "process metrics registered"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_startup_and_shutdown_but_not_broker_outages() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    broker.freeze();
    let env = gateway_env(
        &broker.bootstrap(),
        &[
            ("GATEWAY_SHUTDOWN_DELAY_SECS", "2"),
            ("GATEWAY_PUBLISH_TIMEOUT_MS", "2000"),
        ],
    );
    let mut gw = Gateway::start(env).await;
    for _ in 0..10 {
        assert_eq!(
            get(gw.admin, "/readyz").await.unwrap().status,
            503,
            "not ready before the broker answers"
        );
        assert_eq!(get(gw.admin, "/healthz").await.unwrap().status, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    broker.thaw();
    gw.wait_ready().await;

    broker.freeze();
    for _ in 0..10 {
        assert_eq!(
            get(gw.admin, "/readyz").await.unwrap().status,
            200,
            "a broker outage does not flip readiness"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    broker.thaw();

    gw.signal_shutdown();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        get(gw.admin, "/readyz").await.unwrap().status,
        503,
        "readiness off at once"
    );
    assert_eq!(
        get(gw.admin, "/healthz").await.unwrap().status,
        200,
        "alive during the drain"
    );
    let during = send_signed(gw.public, "transfers", &transfers_body(1))
        .await
        .unwrap();
    assert_eq!(
        during.status, 200,
        "the public port still serves during the shutdown delay"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_answers_every_client_and_loses_nothing() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let mut env = gateway_env(
        &broker.bootstrap(),
        &[
            ("GATEWAY_SHUTDOWN_DELAY_SECS", "1"),
            ("GATEWAY_SHUTDOWN_GRACE_SECS", "10"),
        ],
    );
    env.remove("GATEWAY_LISTEN_ADDR");
    env.remove("GATEWAY_ADMIN_ADDR");
    let mut gateway = Process::start(&env, Stdio::null());
    gateway.wait_ready().await;
    let public = gateway.public;

    let clients: Vec<_> = (0..16)
        .map(|c| {
            tokio::spawn(async move {
                let mut results = Vec::new();
                for i in 0.. {
                    let body = transfers_body(c * 100_000 + i);
                    let started = Instant::now();
                    let reply = tokio::time::timeout(
                        Duration::from_secs(15),
                        send_signed(public, "transfers", &body),
                    )
                    .await;
                    match reply {
                        Err(_) => panic!("a request was left without a response"),
                        Ok(Ok(r)) => results.push((
                            r.status,
                            r.json()["id"].as_str().map(str::to_owned),
                            started.elapsed(),
                        )),
                        Ok(Err(_)) => break, // the listener has closed
                    }
                }
                results
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    signal(gateway.pid(), libc::SIGTERM);
    let signalled = Instant::now();

    let mut acked = Vec::new();
    let mut total = 0;
    for client in clients {
        for (status, id, _) in client.await.unwrap() {
            total += 1;
            assert!(status == 200 || status == 503, "status {status}");
            if let Some(id) = id {
                acked.push(id);
            }
        }
    }
    let status = loop {
        if let Some(status) = gateway.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(12),
            "no exit within the grace period"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(0));
    println!(
        "{total} answered, {} acknowledged, exit after {:?}",
        acked.len(),
        signalled.elapsed()
    );

    let records = read_topic(
        &broker.bootstrap(),
        "webhooks.transfers.payment.completed",
        acked.len(),
        Duration::from_secs(20),
    );
    let found: HashSet<_> = records
        .iter()
        .filter_map(|m| header(m, "event-id"))
        .collect();
    assert!(
        acked.iter().all(|id| found.contains(id)),
        "every 200 is in Kafka"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_stalled_broker_the_inflight_cap_holds_and_memory_stays_flat() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let mut env = gateway_env(
        &broker.bootstrap(),
        &[
            ("GATEWAY_MAX_INFLIGHT", "16"),
            ("GATEWAY_PUBLISH_TIMEOUT_MS", "4000"),
        ],
    );
    env.remove("GATEWAY_LISTEN_ADDR");
    env.remove("GATEWAY_ADMIN_ADDR");
    let gateway = Process::start(&env, Stdio::null());
    gateway.wait_ready().await;
    let public = gateway.public;
    for n in 0..50 {
        send_signed(public, "transfers", &transfers_body(n))
            .await
            .unwrap();
    }
    broker.freeze();
    // Each phase: 32 clients sending for 3 s; those stuck at the cap wait out
    // the publish timeout, the rest must be refused at once.
    let load = |offset: usize| async move {
        let until = Instant::now() + Duration::from_secs(3);
        let tasks: Vec<_> = (0..32)
            .map(|c| {
                tokio::spawn(async move {
                    let mut fast_overloads = 0;
                    let mut i = 0;
                    while Instant::now() < until {
                        i += 1;
                        let started = Instant::now();
                        let r = send_signed(
                            public,
                            "transfers",
                            &transfers_body(offset + c * 100_000 + i),
                        )
                        .await
                        .unwrap();
                        assert_eq!(r.status, 503, "no ack, no 2xx");
                        if r.json()["error"] == "overloaded"
                            && started.elapsed() < Duration::from_millis(250)
                        {
                            fast_overloads += 1;
                        }
                    }
                    fast_overloads
                })
            })
            .collect();
        let mut fast = 0;
        for t in tasks {
            fast += t.await.unwrap();
        }
        fast
    };
    let fast_first = load(1_000_000).await;
    let rss_after_first = gateway.rss_kib();
    let fast_second = load(2_000_000).await;
    let rss_after_second = gateway.rss_kib();
    broker.thaw();
    println!("overloads answered fast: {fast_first} then {fast_second}; RSS {rss_after_first} KiB then {rss_after_second} KiB");
    assert!(
        fast_first > 200 && fast_second > 200,
        "beyond the cap, 503 comes at once"
    );
    assert!(
        rss_after_second < rss_after_first + 8 * 1024,
        "RSS grew from {rss_after_first} to {rss_after_second} KiB"
    );
}

async fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8], wait: Duration) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn slow_or_oversized_requests_get_the_documented_answers() {
    let env = gateway_env(
        "127.0.0.1:1",
        &[
            ("GATEWAY_BODY_TIMEOUT_MS", "500"),
            ("GATEWAY_HEADER_TIMEOUT_SECS", "2"),
        ],
    );
    let gw = Gateway::start(env).await;

    // A body slower than the body timeout: 408.
    let started = Instant::now();
    let head =
        b"POST /webhooks/transfers HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n0123456789";
    let response = raw_exchange(gw.public, head, Duration::from_secs(5)).await;
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // A gigantic header, and too many headers: 431.
    let big = format!(
        "POST /webhooks/transfers HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    assert!(
        raw_exchange(gw.public, big.as_bytes(), Duration::from_secs(5))
            .await
            .starts_with("HTTP/1.1 431")
    );
    let many: String = (0..2000).map(|i| format!("x-h{i}: v\r\n")).collect();
    let many = format!("POST /webhooks/transfers HTTP/1.1\r\nhost: x\r\n{many}\r\n");
    assert!(
        raw_exchange(gw.public, many.as_bytes(), Duration::from_secs(5))
            .await
            .starts_with("HTTP/1.1 431")
    );

    // Headers that never finish: the connection is closed at the header timeout.
    let started = Instant::now();
    let mut stream = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    stream
        .write_all(b"POST /webhooks/transfers HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(6), stream.read(&mut buf))
        .await
        .expect("closed, not hung");
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "not before the timeout"
    );
    let _ = n;

    // An idle keep-alive connection is reused within the idle time.
    let stream = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    for _ in 0..2 {
        let req = http::Request::post("/webhooks/transfers")
            .header("host", "x")
            .body(http_body_util::Full::new(bytes::Bytes::from_static(b"{}")))
            .unwrap();
        let r = sender
            .send_request(req)
            .await
            .expect("the kept-alive connection is still open");
        assert_eq!(r.status(), 401);
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_carry_ids_but_never_account_data_secrets_or_signatures() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let mut env = gateway_env(
        &broker.bootstrap(),
        &[("LOG_FORMAT", "json"), ("RUST_LOG", "debug")],
    );
    env.remove("GATEWAY_LISTEN_ADDR");
    env.remove("GATEWAY_ADMIN_ADDR");
    let mut gateway = Process::start(&env, Stdio::piped());
    gateway.wait_ready().await;

    let name = "Zebulon Quixote-Farnsworth";
    let (source, destination) = ("9988776655", "1122334455");
    let body = format!(
        r#"{{"event":"Payment.Status","data":{{"status":"Completed","userId":"u-77","paymentReference":"pay-log-1","amount":10.00,"senderAccountName":"{name}","sourceAccountNumber":"{source}","sourceBankCode":"058","destinationAccountNumber":"{destination}","destinationBankCode":"044"}}}}"#
    );
    let signature = hmac_hex(TRANSFERS_SECRET, &[body.as_bytes()]);
    let ok = send_signed(gateway.public, "transfers", body.as_bytes())
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    let id = ok.json()["id"].as_str().unwrap().to_owned();
    let forged = vec![(
        "x-transfers-signature".to_string(),
        hmac_hex("guess", &[body.as_bytes()]),
    )];
    request(
        gateway.public,
        "POST",
        "/webhooks/transfers",
        &forged,
        body.clone().into_bytes(),
    )
    .await
    .unwrap();
    let m2m = br#"{"event":"link.opened","data":{"linkId":"lnk-log"}}"#;
    let m2m_headers = m2m_headers(m2m);
    request(
        gateway.public,
        "POST",
        "/webhooks/m2m",
        &m2m_headers,
        m2m.to_vec(),
    )
    .await
    .unwrap();

    signal(gateway.pid(), libc::SIGTERM);
    let logs = gateway.stderr_to_end();
    assert!(
        logs.contains(&id) && logs.contains("pay-log-1"),
        "the request line names the event and payment reference"
    );
    for forbidden in [
        name,
        source,
        destination,
        TRANSFERS_SECRET,
        M2M_SECRET,
        &signature,
        &m2m_headers[2].1,
        &forged[0].1,
    ] {
        assert!(!logs.contains(forbidden), "logs contain {forbidden:?}");
    }
}

/// Gateway settings with the Transfers token read from `file`, checked every second.
fn token_file_env(
    broker: &Broker,
    file: &std::path::Path,
) -> std::collections::HashMap<String, String> {
    let mut env = gateway_env(&broker.bootstrap(), &[("GATEWAY_SECRET_RELOAD_SECS", "1")]);
    env.remove("TRANSFERS_SIGNATURE_TOKEN");
    env.insert(
        "TRANSFERS_SIGNATURE_TOKEN_FILE".into(),
        file.to_str().unwrap().into(),
    );
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_secret_file_takes_effect_without_restart() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "old-token\n").unwrap();
    let env = token_file_env(&broker, &file);
    let gw = Gateway::start_ready(env).await;

    let send_with = |secret: &'static str, n: usize| {
        let public = gw.public;
        async move {
            let body = transfers_body(n);
            let headers = vec![(
                "x-transfers-signature".to_string(),
                hmac_hex(secret, &[&body]),
            )];
            request(public, "POST", "/webhooks/transfers", &headers, body)
                .await
                .unwrap()
                .status
        }
    };
    assert_eq!(send_with("old-token", 1).await, 200);
    // Replace the file the way Kubernetes does: write aside, then rename over.
    let staged = dir.path().join("token.new");
    std::fs::write(&staged, "new-token\n").unwrap();
    std::fs::rename(&staged, &file).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while send_with("new-token", 2).await != 200 {
        assert!(
            Instant::now() < deadline,
            "the new secret never took effect"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        send_with("old-token", 3).await,
        401,
        "the old secret stops verifying"
    );

    // A broken file keeps the secrets in force.
    std::fs::write(&file, "\n").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(send_with("new-token", 4).await, 200);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_file_rotated_between_loading_and_watching_takes_effect() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "old-token\n").unwrap();
    let env = token_file_env(&broker, &file);
    let config = Config::from_env(&env).unwrap();
    // The rotation lands after start-up read the file, before its watcher first looks.
    std::fs::write(&file, "new-token\n").unwrap();
    let gw = Gateway::start_config(config).await;
    gw.wait_ready().await;

    let body = transfers_body(1);
    let headers = vec![(
        "x-transfers-signature".to_string(),
        hmac_hex("new-token", &[&body]),
    )];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = request(
            gw.public,
            "POST",
            "/webhooks/transfers",
            &headers,
            body.clone(),
        )
        .await
        .unwrap();
        if reply.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the secret rotated before the watcher started never took effect"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_check_and_create_against_a_real_broker() {
    let broker = Broker::start();
    let run = |args: &[&str]| {
        std::process::Command::new(binary())
            .args(args)
            .env_clear()
            .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
            .output()
            .unwrap()
    };
    let check = run(&["topics", "check"]);
    let table = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{table}");
    assert_eq!(table.matches("MISSING").count(), 9, "{table}");

    let create = run(&[
        "topics",
        "create",
        "--partitions",
        "3",
        "--replication-factor",
        "1",
    ]);
    let table = String::from_utf8_lossy(&create.stdout);
    assert!(
        create.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&create.stderr)
    );

    let check = run(&["topics", "check"]);
    let table = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{table}");
    assert!(!table.contains("MISSING"));
    assert_eq!(
        table.matches("replication factor 1 < 3").count(),
        9,
        "{table}"
    );
    assert!(table.contains("webhooks.m2m.operation.created"));
}

/// `topics` covers every topic of every defined provider, whether or not its
/// secret is set: it reads no secret at all (the topics Job may run without
/// them, and one that would not decode must not fail a topic check). Types,
/// a topic two types share, unrouted and dead letter alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_cover_every_defined_provider_without_reading_secrets() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.yaml");
    std::fs::write(&file, crate::configured::PROVIDERS).unwrap();
    let file = file.to_str().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        std::process::Command::new(binary())
            .args(args)
            .env_clear()
            .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
            // Not base64, as BASEY_SECRET must be: the gateway would exit 64.
            .env("BASEY_SECRET", "not base64!")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let mut expected = default_topics();
    expected.extend(
        [
            "shared.orders",
            "webhooks.basey.thing.made",
            "webhooks.fieldy.charge.ok",
            "webhooks.fieldy.charge.failed",
            "webhooks.multi.note.added",
            "webhooks.blobby.file.uploaded",
        ]
        .map(String::from),
    );
    let rows = |table: &str, status: &str| -> Vec<String> {
        table
            .lines()
            .filter(|l| l.contains(status))
            .map(|l| l.split_whitespace().next().unwrap().to_owned())
            .collect()
    };

    let check = run(&["topics", "check", "--providers-file", file], &[]);
    let table = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{table}{check:?}");
    let mut missing = rows(&table, "MISSING");
    missing.sort();
    expected.sort();
    assert_eq!(missing, expected, "{table}");

    // The variable works as the flag does.
    let create = run(
        &[
            "topics",
            "create",
            "--partitions",
            "3",
            "--replication-factor",
            "1",
        ],
        &[("GATEWAY_PROVIDERS_FILE", file)],
    );
    let table = String::from_utf8_lossy(&create.stdout);
    assert!(create.status.success(), "{table}{create:?}");

    let check = run(&["topics", "check"], &[("GATEWAY_PROVIDERS_FILE", file)]);
    let table = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{table}");
    let mut present = rows(&table, "replication factor 1 < 3");
    present.sort();
    assert_eq!(present, expected, "{table}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_mid_publish_frees_its_inflight_slot() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let env = gateway_env(
        &broker.bootstrap(),
        &[("GATEWAY_PUBLISH_TIMEOUT_MS", "30000")],
    );
    let gw = Gateway::start_ready(env).await;
    broker.freeze();

    let body = transfers_body(1);
    let mut head = format!(
        "POST /webhooks/transfers HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in transfers_headers(&body) {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let mut stream = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(b"\r\n").await.unwrap();
    stream.write_all(&body).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while gw.metric("webhook_inflight_requests").await < 1.0 {
        assert!(
            Instant::now() < deadline,
            "the request never reached the broker"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    drop(stream);
    // Long before the 30 s publish timeout could release it.
    let deadline = Instant::now() + Duration::from_secs(5);
    while gw.metric("webhook_inflight_requests").await > 0.0 {
        assert!(
            Instant::now() < deadline,
            "the slot of a request whose client left is never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    broker.thaw();
    gw.stop().await;
}

// ------------------------------------------------------------------ Prometheus

/// How often the test's Prometheus scrapes the gateway.
const SCRAPE_INTERVAL_SECS: u64 = 1;
/// What Grafana substitutes for `$__rate_interval` at a short time range: four
/// scrape intervals (its floor), since `$__interval` is below one here.
const RATE_INTERVAL: &str = "4s";
/// The labels the ServiceMonitor's scrape gives each series in Kubernetes
/// (`job` is the admin Service's name), so the dashboard's matchers select
/// exactly as they would there.
const NAMESPACE: &str = "payments";
const JOB: &str = "wg-webhook-gateway-admin";
const POD: &str = "wg-webhook-gateway-7d9f-abcde";

/// A real Prometheus server (Debian's `prometheus`) scraping the gateway's
/// admin port; killed when dropped. Fails loudly when missing.
struct Prometheus {
    child: std::process::Child,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

impl Prometheus {
    async fn scraping(target: std::net::SocketAddr) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: {SCRAPE_INTERVAL_SECS}s\n  scrape_timeout: {SCRAPE_INTERVAL_SECS}s\n\
                 scrape_configs:\n  - job_name: {JOB}\n    static_configs:\n      - targets: ['{target}']\n        \
                 labels: {{namespace: {NAMESPACE}, pod: {POD}, service: {JOB}}}\n"
            ),
        )
        .unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = std::process::Command::new(
            std::env::var("PROMETHEUS").unwrap_or_else(|_| "prometheus".into()),
        )
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address={addr}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start prometheus ({e}): run the README's test command, which installs it"
            )
        });
        let prometheus = Prometheus {
            child,
            addr,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !matches!(get(addr, "/-/ready").await, Ok(r) if r.status == 200) {
            assert!(
                Instant::now() < deadline,
                "prometheus not ready within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        prometheus
    }

    /// One `/api/v1/...` call; panics unless Prometheus answers success.
    async fn api(&self, path: &str, params: &[(&str, &str)]) -> serde_json::Value {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", url_encode(k), url_encode(v)))
            .collect();
        let reply = get(self.addr, &format!("/api/v1/{path}?{}", query.join("&")))
            .await
            .expect("prometheus answers");
        let json = reply.json();
        assert_eq!(json["status"], "success", "{path} {params:?}: {json}");
        json["data"].clone()
    }

    /// An instant query's samples: labels and value.
    async fn instant(&self, query: &str) -> Vec<(serde_json::Value, f64)> {
        let data = self.api("query", &[("query", query)]).await;
        data["result"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| (s["metric"].clone(), parse_sample(&s["value"][1])))
            .collect()
    }

    /// Polls an instant query until `done` holds for its samples.
    async fn wait_for(
        &self,
        query: &str,
        what: &str,
        done: impl Fn(&[(serde_json::Value, f64)]) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let samples = self.instant(query).await;
            if done(&samples) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: `{query}` gave {samples:?} after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Prometheus sends sample values as strings ("NaN" and "+Inf" included).
fn parse_sample(v: &serde_json::Value) -> f64 {
    v.as_str()
        .expect("a sample string")
        .parse()
        .expect("a number")
}

/// One series of a panel query over the test's time range.
#[derive(Debug)]
struct Series {
    labels: serde_json::Value,
    /// The finite values (histogram_quantile gives NaN where nothing happened).
    values: Vec<f64>,
}

impl Series {
    fn label(&self, name: &str) -> &str {
        self.labels[name].as_str().unwrap_or("")
    }
    fn max(&self) -> f64 {
        self.values.iter().copied().fold(f64::NAN, f64::max)
    }
    fn min(&self) -> f64 {
        self.values.iter().copied().fold(f64::NAN, f64::min)
    }
}

/// The panel's expression with the dashboard's variables replaced as Grafana
/// replaces them: single-valued `$namespace`/`$job` by the value the variable's
/// own query chose, `$__rate_interval` by four scrape intervals.
fn substitute(expr: &str, vars: &[(&str, &str)]) -> String {
    let mut out = expr.to_string();
    for (name, value) in vars {
        out = out
            .replace(&format!("${{{name}}}"), value)
            .replace(&format!("${name}"), value);
    }
    assert!(
        !out.contains('$'),
        "a variable the test does not know: {out}"
    );
    out
}

fn by<'a>(series: &'a [Series], label: &str, value: &str) -> &'a Series {
    series
        .iter()
        .find(|s| s.label(label) == value)
        .unwrap_or_else(|| panic!("no series with {label}={value:?} in {series:?}"))
}

/// What each panel must show after the test's traffic. A panel without an
/// entry here fails the test: every panel is checked.
fn check_panel(panel: &str, legend: &str, series: &[Series], publish_timeout_secs: f64) {
    let ctx = format!("panel {panel:?}, legend {legend:?}: {series:?}");
    assert!(!series.is_empty(), "no series: {ctx}");
    match (panel, legend) {
        ("Request rate by outcome", _) => {
            for outcome in [
                "accepted",
                "unauthorized",
                "unrouted",
                "deadlettered",
                "unavailable",
                "not_found",
                "method_not_allowed",
            ] {
                assert!(
                    by(series, "outcome", outcome).max() > 0.0,
                    "{outcome}: {ctx}"
                );
            }
            // Never sent, yet there at zero: the series exist before the first one.
            for outcome in [
                "too_large",
                "body_timeout",
                "overloaded",
                "bad_request",
                "internal_error",
            ] {
                assert_eq!(
                    by(series, "outcome", outcome).max(),
                    0.0,
                    "{outcome}: {ctx}"
                );
            }
        }
        ("Request latency p50 / p99", "p50") => {
            assert!(series[0].min() < 0.5, "fast answers: {ctx}");
        }
        ("Request latency p50 / p99", "p99") => {
            // The 503s waited for the publish timeout.
            assert!(series[0].max() >= publish_timeout_secs / 2.0, "{ctx}");
            assert!(series[0].max() <= 15.0, "{ctx}");
        }
        ("Publish latency p50 / p99", "p50" | "p99") => {
            assert!(series[0].min() > 0.0 && series[0].min() < 1.0, "{ctx}");
        }
        ("Publish latency p50 / p99", "p99 {{topic}}") => {
            for topic in [
                "webhooks.m2m.link.opened",
                "webhooks.transfers.payment.completed",
                "webhooks.unrouted",
                "webhooks.deadletter",
            ] {
                assert!(by(series, "topic", topic).max() > 0.0, "{topic}: {ctx}");
            }
        }
        ("Publish errors by reason", "{{reason}}") => {
            assert!(by(series, "reason", "timeout").max() > 0.0, "{ctx}");
            for reason in ["queue_full", "fatal", "closed"] {
                assert_eq!(by(series, "reason", reason).max(), 0.0, "{reason}: {ctx}");
            }
        }
        ("Publish errors by reason", "producer replacements") => {
            assert_eq!(series[0].max(), 0.0, "{ctx}");
        }
        ("In-flight requests", _) => {
            let pod = by(series, "pod", POD);
            assert!(pod.max() >= 1.0, "the frozen broker's requests: {ctx}");
            assert_eq!(pod.values.last(), Some(&0.0), "all answered: {ctx}");
        }
        ("Producer queue depth", _) => {
            assert!(by(series, "pod", POD).min() >= 0.0, "{ctx}");
        }
        ("Topic availability", _) => {
            let topics: HashSet<&str> = series.iter().map(|s| s.label("topic")).collect();
            for topic in default_topics() {
                assert!(topics.contains(topic.as_str()), "{topic}: {ctx}");
            }
            for s in series {
                assert_eq!(s.values.last(), Some(&1.0), "{ctx}");
            }
        }
        ("Signature failures by reason", _) => {
            let got = |provider: &str, reason: &str| {
                series
                    .iter()
                    .find(|s| s.label("provider") == provider && s.label("reason") == reason)
                    .unwrap_or_else(|| panic!("no {provider} {reason}: {ctx}"))
                    .max()
            };
            for (provider, reason) in [
                ("transfers", "signature_missing"),
                ("transfers", "signature_malformed"),
                ("transfers", "signature_mismatch"),
                ("m2m", "timestamp_outside_window"),
            ] {
                assert!(got(provider, reason) > 0.0, "{provider} {reason}: {ctx}");
            }
            for (provider, reason) in [
                ("m2m", "signature_missing"),
                ("m2m", "signature_malformed"),
                ("m2m", "signature_mismatch"),
                ("transfers", "timestamp_outside_window"),
            ] {
                assert_eq!(got(provider, reason), 0.0, "{provider} {reason}: {ctx}");
            }
        }
        ("Events published by topic", _) => {
            for topic in [
                "webhooks.m2m.link.opened",
                "webhooks.transfers.payment.completed",
                "webhooks.unrouted",
                "webhooks.deadletter",
            ] {
                assert!(by(series, "topic", topic).max() > 0.0, "{topic}: {ctx}");
            }
        }
        ("Broker round trip", _) => {
            for s in series {
                assert!(!s.label("broker").is_empty(), "{ctx}");
                // Seconds, not librdkafka's microseconds.
                assert!(s.min() >= 0.0 && s.max() < 30.0, "{ctx}");
            }
        }
        _ => panic!("no expectation for this panel: add one to check_panel ({ctx})"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dashboard_panel_shows_the_traffic_sent_through_a_real_prometheus() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let publish_timeout_ms = 2500;
    let env = gateway_env(
        &broker.bootstrap(),
        &[(
            "GATEWAY_PUBLISH_TIMEOUT_MS",
            publish_timeout_ms.to_string().as_str(),
        )],
    );
    let gw = Gateway::start_ready(env).await;
    let public = gw.public;
    let prometheus = Prometheus::scraping(gw.admin).await;
    let up = format!(r#"up{{namespace="{NAMESPACE}", job="{JOB}"}}"#);
    prometheus
        .wait_for(&up, "first scrape", |s| s.len() == 1 && s[0].1 == 1.0)
        .await;
    let started = crate::common::now_secs() - 1;

    // From the first scrape, before any error: the bounded series exist at zero.
    for series in [
        r#"webhook_requests_total{provider="m2m", outcome="unavailable"}"#,
        r#"webhook_requests_total{provider="transfers", outcome="overloaded"}"#,
        r#"webhook_signature_failures_total{provider="m2m", reason="signature_mismatch"}"#,
        r#"kafka_publish_errors_total{reason="timeout"}"#,
        r#"kafka_producer_replacements_total"#,
    ] {
        let samples = prometheus.instant(series).await;
        assert_eq!(
            samples.len(),
            1,
            "{series} at the first scrape: {samples:?}"
        );
        assert_eq!(samples[0].1, 0.0, "{series}");
    }

    // Known traffic: accepted, unrouted and dead-lettered in rounds a scrape
    // apart, as steady traffic is (a histogram series is born at its first
    // observation, and rate() sees only the increases after it), then refused
    // for each signature reason, not found, wrong method.
    let m2m_opened = br#"{"event":"link.opened","data":{"linkId":"lnk-1","referenceId":"user-7"}}"#;
    let m2m_unknown =
        br#"{"event":"link.expired","data":{"linkId":"lnk-9","referenceId":"user-7"}}"#;
    for _ in 0..3 {
        for (provider, body) in [
            ("m2m", &m2m_opened[..]),
            ("transfers", &transfers_body(1)[..]),
            ("m2m", &m2m_unknown[..]),
            ("transfers", b"amount=100&status=ok"),
        ] {
            let reply = send_signed(public, provider, body).await.unwrap();
            assert_eq!(reply.status, 200, "{}", reply.text());
        }
        tokio::time::sleep(Duration::from_millis(1200 * SCRAPE_INTERVAL_SECS)).await;
    }
    for (signature, why) in [
        (None, "missing"),
        (Some("zz".to_string()), "malformed"),
        (Some("ab".repeat(32)), "mismatch"),
    ] {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        headers.extend(signature.map(|sig| ("x-transfers-signature".to_string(), sig)));
        let reply = request(
            public,
            "POST",
            "/webhooks/transfers",
            &headers,
            transfers_body(2),
        );
        assert_eq!(reply.await.unwrap().status, 401, "{why}");
    }
    let stale = (crate::common::now_secs() - 3600).to_string();
    let stale_headers = vec![
        ("content-type".to_string(), "application/json".to_string()),
        ("x-m2m-timestamp".to_string(), stale.clone()),
        (
            "x-m2m-signature".to_string(),
            hmac_hex(M2M_SECRET, &[stale.as_bytes(), b".", m2m_opened]),
        ),
    ];
    let reply = request(
        public,
        "POST",
        "/webhooks/m2m",
        &stale_headers,
        m2m_opened.to_vec(),
    );
    assert_eq!(reply.await.unwrap().status, 401, "stale");
    assert_eq!(get(public, "/webhooks/nope").await.unwrap().status, 404);
    assert_eq!(get(public, "/webhooks/m2m").await.unwrap().status, 405);

    // A frozen broker: two requests, a scrape apart, wait for the publish
    // timeout and get 503; scrapes see them in flight meanwhile.
    broker.freeze();
    let mut stuck = Vec::new();
    for n in 20..22 {
        stuck.push(tokio::spawn(async move {
            send_signed(public, "transfers", &transfers_body(n)).await
        }));
        tokio::time::sleep(Duration::from_millis(1500 * SCRAPE_INTERVAL_SECS)).await;
    }
    for s in stuck {
        assert_eq!(s.await.unwrap().unwrap().status, 503);
    }
    broker.thaw();

    // Wait until Prometheus has scraped the final counts and a statistics round.
    let total = format!(r#"sum(webhook_requests_total{{namespace="{NAMESPACE}", job="{JOB}"}})"#);
    prometheus
        .wait_for(&total, "all requests scraped", |s| {
            s.len() == 1 && s[0].1 == 20.0
        })
        .await;
    prometheus
        .wait_for("kafka_broker_rtt_seconds", "broker statistics", |s| {
            !s.is_empty()
        })
        .await;
    tokio::time::sleep(Duration::from_secs(2 * SCRAPE_INTERVAL_SECS)).await;
    let end = crate::common::now_secs() + 1;

    // The variables' own queries choose the values Grafana would.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/deploy/helm/webhook-gateway/dashboards/webhook-gateway.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let mut vars: Vec<(&str, String)> = vec![("__rate_interval", RATE_INTERVAL.into())];
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if var["type"] != "query" {
            continue;
        }
        let name = var["name"].as_str().unwrap();
        let definition = var["definition"].as_str().unwrap();
        let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let definition = substitute(definition, &pairs);
        let (selector, label) = definition
            .strip_prefix("label_values(")
            .and_then(|d| d.strip_suffix(')'))
            .and_then(|d| d.rsplit_once(", "))
            .unwrap_or_else(|| panic!("variable {name}: not label_values(selector, label)"));
        let values = prometheus
            .api(&format!("label/{label}/values"), &[("match[]", selector)])
            .await;
        let first = values[0]
            .as_str()
            .unwrap_or_else(|| panic!("variable {name}: no values"));
        vars.push((name, first.to_string()));
    }
    let pairs: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert!(
        pairs.contains(&("namespace", NAMESPACE)) && pairs.contains(&("job", JOB)),
        "{pairs:?}"
    );

    // Every panel's every query, over the test's time range, as Grafana runs them.
    let mut checked = 0;
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = substitute(target["expr"].as_str().unwrap(), &pairs);
            let legend = target["legendFormat"].as_str().unwrap_or("");
            let data = prometheus
                .api(
                    "query_range",
                    &[
                        ("query", &expr),
                        ("start", &started.to_string()),
                        ("end", &end.to_string()),
                        ("step", &SCRAPE_INTERVAL_SECS.to_string()),
                    ],
                )
                .await;
            let series: Vec<Series> = data["result"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| Series {
                    labels: s["metric"].clone(),
                    values: s["values"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| parse_sample(&v[1]))
                        .filter(|v| v.is_finite())
                        .collect(),
                })
                .filter(|s| !s.values.is_empty())
                .collect();
            check_panel(title, legend, &series, publish_timeout_ms as f64 / 1000.0);
            checked += 1;
        }
    }
    assert!(checked >= 15, "only {checked} panel queries");

    // The exposition passes Prometheus's own linter.
    let text = get(gw.admin, "/metrics").await.unwrap().text();
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (installed with prometheus by the README's test command)");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    gw.stop().await;
}
