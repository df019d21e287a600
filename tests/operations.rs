//! What SREs rely on: exact metrics, readiness that follows start-up and
//! shutdown (not broker blips), a drain that answers everyone, bounded
//! memory, slow-client defences, PII-free logs, secret reload, topic checks.

mod common;

use std::collections::HashSet;
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use webhook_gateway::config::{Config, RunArgs};

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
        m(r#"webhook_signature_failures_total{provider="transfers",reason="missing"}"#).await,
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
    let found: HashSet<_> = records.iter().filter_map(|m| header(m, "ce_id")).collect();
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
    let config = Config::from_sources(&RunArgs::default(), &env).unwrap();
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
