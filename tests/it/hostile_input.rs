//! Whatever a client sends, the gateway answers (or closes) without crashing,
//! stays within its memory, publishes nothing unverified, and never echoes a
//! secret. Everything here goes over real sockets.

use std::collections::HashSet;
use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::faults::{Producers, PANIC_CONTENT_TYPE};
use crate::common::*;
use bytes::Bytes;
use http_body_util::Full;
use rdkafka::message::Message;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes `head`, then streams `body_len` bytes of `b'x'` while reading the
/// response concurrently, as a client that keeps sending would.
async fn send_while_reading(
    addr: std::net::SocketAddr,
    head: String,
    body_len: usize,
    chunked: bool,
) -> String {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        wr.write_all(head.as_bytes()).await?;
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < body_len {
            let n = chunk.len().min(body_len - sent);
            if chunked {
                wr.write_all(format!("{n:x}\r\n").as_bytes()).await?;
                wr.write_all(&chunk[..n]).await?;
                wr.write_all(b"\r\n").await?;
            } else {
                wr.write_all(&chunk[..n]).await?;
            }
            sent += n;
        }
        if chunked {
            wr.write_all(b"0\r\n\r\n").await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let mut response = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), rd.read_to_end(&mut response)).await;
    writer.abort();
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_get_a_413_the_client_receives_and_memory_stays_bounded() {
    let _serial = serial().await;
    let mut env = gateway_env("127.0.0.1:1", &[]);
    env.remove("GATEWAY_LISTEN_ADDR");
    env.remove("GATEWAY_ADMIN_ADDR");
    let gateway = Process::start(&env, Stdio::null());
    gateway.wait_listening().await;
    let five_mib = 5 * 1024 * 1024;
    let baseline = gateway.rss_kib();
    for round in 0..6 {
        let with_length = format!(
            "POST /webhooks/transfers HTTP/1.1\r\nhost: x\r\ncontent-length: {five_mib}\r\n\r\n"
        );
        let response = send_while_reading(gateway.public, with_length, five_mib, false).await;
        assert!(
            response.starts_with("HTTP/1.1 413"),
            "round {round}, Content-Length: {response:?}"
        );
        let chunked =
            "POST /webhooks/transfers HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
                .to_owned();
        let response = send_while_reading(gateway.public, chunked, five_mib, true).await;
        assert!(
            response.starts_with("HTTP/1.1 413"),
            "round {round}, chunked: {response:?}"
        );
        assert!(response.contains("body_too_large"));
    }
    let after = gateway.rss_kib();
    println!("RSS {baseline} KiB before, {after} KiB after 60 MiB of oversized bodies");
    assert!(
        after < baseline + 16 * 1024,
        "memory grew from {baseline} to {after} KiB"
    );
}

#[tokio::test]
async fn malformed_requests_are_answered_not_crashed_on() {
    let gw = Gateway::start(gateway_env(
        "127.0.0.1:1",
        &[("GATEWAY_HEADER_TIMEOUT_SECS", "2")],
    ))
    .await;
    let exchange = |bytes: Vec<u8>| async move {
        let mut s = TcpStream::connect(gw.public).await.unwrap();
        s.write_all(&bytes).await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    };

    // Invalid UTF-8 in a signature header: refused as malformed.
    let mut req = b"POST /webhooks/transfers HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 2\r\nx-transfers-signature: \xff\xfe\xfd\r\n\r\n{}".to_vec();
    let response = exchange(req.clone()).await;
    assert!(
        response.starts_with("HTTP/1.1 401") && response.contains("signature_malformed"),
        "{response}"
    );

    // HTTP/1.0 is answered.
    req = b"POST /webhooks/transfers HTTP/1.0\r\ncontent-length: 2\r\n\r\n{}".to_vec();
    let response = exchange(req).await;
    assert!(
        response.starts_with("HTTP/1.") && response.contains(" 401 "),
        "{response}"
    );

    // Pipelined requests are answered in order.
    let pipelined = b"POST /webhooks/transfers HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}GET /nope HTTP/1.1\r\nhost: x\r\n\r\nPUT /webhooks/m2m HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n".to_vec();
    let response = exchange(pipelined).await;
    let statuses: Vec<&str> = response
        .match_indices("HTTP/1.1 ")
        .map(|(i, _)| &response[i + 9..i + 12])
        .collect();
    assert_eq!(statuses, ["401", "404", "405"], "{response}");

    // Garbage instead of HTTP: answered 400 (by hyper) or closed, never a crash.
    let response =
        exchange(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http\r\n\r\n".to_vec()).await;
    assert!(
        response.is_empty() || response.starts_with("HTTP/1.1 400"),
        "{response}"
    );

    // A header line dripped one byte per second is cut off at the header timeout.
    let started = Instant::now();
    let mut s = TcpStream::connect(gw.public).await.unwrap();
    s.write_all(b"POST /webhooks/transfers HTTP/1.1\r\n")
        .await
        .unwrap();
    let mut closed = false;
    for b in b"x-slow-header: aaaaaaaaaaaaaaaa" {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if s.write_all(&[*b]).await.is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(1), s.read(&mut buf)).await {
            if n == 0 || buf.starts_with(b"HTTP/1.1 408") {
                closed = true;
                break;
            }
        }
    }
    assert!(
        closed,
        "a drip-fed header is not allowed to hold the connection"
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );

    // Still serving.
    assert_eq!(get(gw.admin, "/healthz").await.unwrap().status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn deeply_nested_json_is_published_whole_without_a_stack_overflow() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let gw = Gateway::start_ready(gateway_env(&broker.bootstrap(), &[])).await;
    let depth = 100_000;
    let body = format!(
        r#"{{"event":"Payment.Status","data":{{"deep":{}0{}}}}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let reply = send_signed(gw.public, "transfers", body.as_bytes())
        .await
        .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let records = read_topic(
        &broker.bootstrap(),
        "webhooks.unrouted",
        1,
        Duration::from_secs(20),
    );
    let record = records
        .iter()
        .find(|m| header(m, "event-id").as_deref() == Some(id.as_str()))
        .expect("published");
    let value = String::from_utf8_lossy(record.payload().unwrap());
    assert!(
        value.contains(&body[body.find("{\"deep\"").unwrap()..body.len() - 1]),
        "data byte for byte"
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_flood_beyond_the_cap_does_not_take_the_gateway_down() {
    let _serial = serial().await;
    let mut env = gateway_env(
        "127.0.0.1:1",
        &[
            ("GATEWAY_MAX_CONNECTIONS", "50"),
            ("GATEWAY_HEADER_TIMEOUT_SECS", "2"),
        ],
    );
    env.remove("GATEWAY_LISTEN_ADDR");
    env.remove("GATEWAY_ADMIN_ADDR");
    let gateway = Process::start(&env, Stdio::null());
    gateway.wait_listening().await;
    let baseline = gateway.rss_kib();
    let mut flood = Vec::new();
    for _ in 0..400 {
        if let Ok(s) = TcpStream::connect(gateway.public).await {
            flood.push(s);
        }
    }
    // Idle connections are closed at the header timeout, freeing slots; a real
    // client waiting in the backlog is then served.
    let started = Instant::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(15),
        request(
            gateway.public,
            "POST",
            "/webhooks/transfers",
            &[],
            b"{}".to_vec(),
        ),
    )
    .await
    .expect("served while flooded")
    .expect("answered");
    assert_eq!(reply.status, 401);
    println!(
        "served after {:?} behind a flood of {} connections",
        started.elapsed(),
        flood.len()
    );
    assert_eq!(get(gateway.admin, "/healthz").await.unwrap().status, 200);
    assert!(gateway.rss_kib() < baseline + 16 * 1024);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn ten_thousand_forgeries_are_refused_while_valid_traffic_flows() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let gw = Gateway::start_ready(gateway_env(
        &broker.bootstrap(),
        &[("GATEWAY_MAX_INFLIGHT", "4")],
    ))
    .await;
    let public = gw.public;

    let attackers: Vec<_> = (0..4)
        .map(|a| {
            tokio::spawn(async move {
                let stream = TcpStream::connect(public).await.unwrap();
                let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await.unwrap();
                tokio::spawn(conn);
                let mut refused = 0;
                for i in 0..2500 {
                    let body = format!(r#"{{"event":"Payment.Status","data":{{"status":"Completed","paymentReference":"forged-{a}-{i}"}}}}"#);
                    let req = http::Request::post("/webhooks/transfers")
                        .header("host", "x")
                        .header("x-transfers-signature", hmac_hex("guessed", &[body.as_bytes()]))
                        .body(Full::new(Bytes::from(body)))
                        .unwrap();
                    let r = sender.send_request(req).await.unwrap();
                    assert_eq!(r.status(), 401);
                    refused += 1;
                }
                refused
            })
        })
        .collect();
    let legit = tokio::spawn(async move {
        let mut ids = Vec::new();
        for i in 0..100 {
            let body = format!(
                r#"{{"event":"Payment.Status","data":{{"status":"Completed","paymentReference":"real-{i}"}}}}"#
            );
            let r = send_signed(public, "transfers", body.as_bytes())
                .await
                .unwrap();
            assert_eq!(
                r.status, 200,
                "valid traffic is never crowded out by forgeries"
            );
            ids.push(r.json()["id"].as_str().unwrap().to_owned());
        }
        ids
    });
    let mut refused = 0;
    for a in attackers {
        refused += a.await.unwrap();
    }
    let ids = legit.await.unwrap();
    assert_eq!(refused, 10_000);
    let records = read_topic(
        &broker.bootstrap(),
        "webhooks.transfers.payment.completed",
        101,
        Duration::from_secs(5),
    );
    let keys: HashSet<String> = records
        .iter()
        .map(|m| String::from_utf8_lossy(m.key().unwrap()).into_owned())
        .collect();
    assert_eq!(
        records.len(),
        ids.len(),
        "only the valid requests were published"
    );
    assert!(
        keys.iter().all(|k| k.starts_with("real-")),
        "no forged record"
    );
    assert_eq!(
        gw.metric(r#"webhook_requests_total{outcome="unauthorized",provider="transfers"}"#)
            .await,
        10_000.0
    );
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_captured_m2m_request_replayed_after_the_window_is_refused() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let gw = Gateway::start_ready(gateway_env(
        &broker.bootstrap(),
        &[("GATEWAY_REPLAY_TOLERANCE_SECS", "2")],
    ))
    .await;
    let body = br#"{"event":"operation.created","data":{"operationId":"op-replay"}}"#.to_vec();
    let captured = m2m_headers(&body);
    let first = request(gw.public, "POST", "/webhooks/m2m", &captured, body.clone())
        .await
        .unwrap();
    assert_eq!(first.status, 200);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let replay = request(gw.public, "POST", "/webhooks/m2m", &captured, body)
        .await
        .unwrap();
    assert_eq!(replay.status, 401);
    assert_eq!(replay.json()["error"], "timestamp_outside_window");
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn secrets_and_account_data_never_leave_in_logs_metrics_bodies_or_help() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let dir = tempfile::tempdir().unwrap();
    let sasl = dir.path().join("sasl");
    std::fs::write(&sasl, "sasl-password-never-shown\n").unwrap();
    let mut env = gateway_env(
        &broker.bootstrap(),
        &[("LOG_FORMAT", "json"), ("RUST_LOG", "trace")],
    );
    env.remove("GATEWAY_LISTEN_ADDR");
    env.remove("GATEWAY_ADMIN_ADDR");
    env.insert("KAFKA_SASL_USERNAME".into(), "gw".into());
    env.insert(
        "KAFKA_SASL_PASSWORD_FILE".into(),
        sasl.to_str().unwrap().into(),
    );
    let mut gateway = Process::start(&env, Stdio::piped());
    let stderr = gateway.child.stderr.take().unwrap();
    let logs = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = std::io::BufReader::new(stderr).read_to_string(&mut text);
        text
    });
    gateway.wait_ready().await;

    let pii = ["Ottoline Vandermeer-Quist", "4455667788", "8877665544"];
    let body = format!(
        r#"{{"event":"Payment.Status","data":{{"status":"Completed","userId":"u","paymentReference":"pay-pii","amount":1.00,"senderAccountName":"{}","sourceAccountNumber":"{}","destinationAccountNumber":"{}"}}}}"#,
        pii[0], pii[1], pii[2]
    );
    let mut answers = String::new();
    let good = transfers_headers(body.as_bytes());
    let signature = good[1].1.clone();
    for headers in [
        good.clone(),
        vec![(
            "x-transfers-signature".into(),
            hmac_hex("x", &[body.as_bytes()]),
        )],
        vec![],
    ] {
        let r = request(
            gateway.public,
            "POST",
            "/webhooks/transfers",
            &headers,
            body.clone().into_bytes(),
        )
        .await
        .unwrap();
        answers.push_str(&r.text());
    }
    let stale = (now_secs() - 3600).to_string();
    let m2m_sig = hmac_hex(M2M_SECRET, &[stale.as_bytes(), b".", body.as_bytes()]);
    let stale_headers = vec![
        ("x-m2m-timestamp".to_string(), stale),
        ("x-m2m-signature".to_string(), m2m_sig.clone()),
    ];
    answers.push_str(
        &request(
            gateway.public,
            "POST",
            "/webhooks/m2m",
            &stale_headers,
            body.clone().into_bytes(),
        )
        .await
        .unwrap()
        .text(),
    );
    let metrics = get(gateway.admin, "/metrics").await.unwrap().text();
    signal(gateway.pid(), libc::SIGTERM);
    let _ = gateway.child.wait();
    let logs = logs.join().unwrap();
    let help = std::process::Command::new(binary())
        .arg("--help")
        .envs(&env)
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();

    assert!(
        logs.contains("pay-pii"),
        "the logs are captured (and carry the payment reference)"
    );
    let secrets = [
        M2M_SECRET,
        TRANSFERS_SECRET,
        "sasl-password-never-shown",
        signature.as_str(),
        m2m_sig.as_str(),
    ];
    for (what, text) in [
        ("logs", &logs),
        ("metrics", &metrics),
        ("error bodies", &answers),
        ("--help", &help),
    ] {
        for s in secrets.iter().chain(pii.iter()) {
            assert!(!text.contains(s), "{what} contain {s:?}");
        }
    }
}

/// Raises this process's open-file limit (inherited by the gateway process)
/// so that a thousand connections fit on both sides.
fn raise_open_file_limit(want: u64) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain getrlimit/setrlimit on this process with a valid struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        if limit.rlim_cur < want {
            limit.rlim_cur = want.min(limit.rlim_max);
            assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit), 0);
        }
    }
    assert!(
        limit.rlim_cur >= want,
        "the open-file limit ({}) is below the {want} this test needs",
        limit.rlim_cur
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_thousand_stalled_uploads_stay_within_the_buffer_budget_while_webhooks_flow() {
    let _serial = serial().await;
    raise_open_file_limit(8192);
    let broker = Broker::start();
    broker.create_default_topics();
    const BUDGET: u64 = 32 * 1024 * 1024;
    // What the gateway holds besides buffered bodies with a thousand open
    // connections: hyper's per-connection buffers and tasks, the producer and
    // allocator slack. Measured at about 20 MiB (see RELIABILITY.md).
    const OVERHEAD: u64 = 40 * 1024 * 1024;
    const UPLOADS: usize = 1000;
    let mut env = gateway_env(
        &broker.bootstrap(),
        &[
            ("GATEWAY_MAX_BUFFERED_BYTES", &BUDGET.to_string()),
            ("GATEWAY_BODY_TIMEOUT_MS", "30000"),
        ],
    );
    env.remove("GATEWAY_LISTEN_ADDR");
    env.remove("GATEWAY_ADMIN_ADDR");
    let gateway = Process::start(&env, Stdio::null());
    gateway.wait_ready().await;
    // Warm the request path so the baseline includes the producer's buffers.
    for n in 0..20 {
        let body = transfers_small_body(n);
        assert_eq!(
            send_signed(gateway.public, "transfers", &body)
                .await
                .unwrap()
                .status,
            200
        );
    }
    let baseline = gateway.rss_kib() * 1024;

    // A thousand clients each declare a near-limit body, send most of it and
    // stall; one that is refused (503) or closed comes straight back.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (near_limit, sent) = (250_000usize, 240_000usize);
    let mut clients = Vec::new();
    for _ in 0..UPLOADS {
        let (addr, stop) = (gateway.public, stop.clone());
        clients.push(tokio::spawn(async move {
            let head = format!(
                "POST /webhooks/transfers HTTP/1.1\r\nhost: x\r\ncontent-length: {near_limit}\r\nx-transfers-signature: {}\r\n\r\n",
                "0".repeat(64)
            );
            let mut refused = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(mut stream) = TcpStream::connect(addr).await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let body = vec![b'x'; sent];
                let mut answer = [0u8; 64];
                let upload = async {
                    stream.write_all(head.as_bytes()).await?;
                    stream.write_all(&body).await?;
                    // Stall: wait for an answer that only a refusal brings.
                    stream.read(&mut answer).await
                };
                let outcome = tokio::time::timeout(Duration::from_secs(20), upload).await;
                if let Ok(Ok(n)) = outcome {
                    if answer[..n].starts_with(b"HTTP/1.1 503") {
                        refused += 1;
                    }
                }
            }
            refused
        }));
    }
    tokio::time::sleep(Duration::from_secs(4)).await;

    // Ordinary webhooks are accepted meanwhile.
    for n in 20..40 {
        let body = transfers_small_body(n);
        let reply = tokio::time::timeout(
            Duration::from_secs(5),
            send_signed(gateway.public, "transfers", &body),
        )
        .await
        .expect("a small webhook is answered while uploads stall")
        .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let buffered = gateway_metric(gateway.admin, "webhook_buffered_bytes").await;
    let peak = peak_rss_kib(gateway.child.id()).expect("VmHWM") * 1024;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut refused = 0;
    for c in clients {
        c.abort();
        if let Ok(n) = c.await {
            refused += n;
        }
    }
    println!(
        "{UPLOADS} stalled uploads: RSS {} MiB before, peak {} MiB; {} MiB buffered at once (budget {} MiB); {refused} refusals seen",
        baseline >> 20,
        peak >> 20,
        (buffered as u64) >> 20,
        BUDGET >> 20
    );
    assert!(buffered > 0.0 && buffered as u64 <= BUDGET);
    assert!(
        peak <= baseline + BUDGET + OVERHEAD,
        "peak RSS {peak} exceeds {baseline} + budget {BUDGET} + overhead {OVERHEAD}"
    );
}

fn transfers_small_body(n: usize) -> Vec<u8> {
    format!(
        r#"{{"event":"Payment.Status","data":{{"status":"Completed","paymentReference":"budget-{n}","note":"{}"}}}}"#,
        "n".repeat(2048)
    )
    .into_bytes()
}

async fn gateway_metric(admin: std::net::SocketAddr, series: &str) -> f64 {
    metric_value(&get(admin, "/metrics").await.unwrap().text(), series)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_continue_with_an_oversized_length_is_refused_before_any_upload() {
    let gateway = Gateway::start(gateway_env("127.0.0.1:1", &[])).await;
    let mut stream = TcpStream::connect(gateway.public).await.unwrap();
    stream
        .write_all(
            b"POST /webhooks/transfers HTTP/1.1\r\nhost: x\r\ncontent-length: 10485760\r\nexpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let mut answer = vec![0u8; 512];
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut answer))
        .await
        .expect("answered at once, without waiting for a body")
        .unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    assert!(text.starts_with("HTTP/1.1 413"), "{text:?}");
    assert!(!text.contains("100 Continue"), "{text:?}");

    // Within the limit, the client is invited to send as usual.
    let mut stream = TcpStream::connect(gateway.public).await.unwrap();
    stream
        .write_all(
            b"POST /webhooks/transfers HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\nexpect: 100-continue\r\n\r\n",
        )
        .await
        .unwrap();
    let n = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 100 Continue"));
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_port_caps_connections_and_limits_request_heads_like_the_public_one() {
    let _serial = serial().await;
    let gateway = Gateway::start(gateway_env("127.0.0.1:1", &[])).await;
    let admin = gateway.admin;
    for (what, head) in [
        (
            "a 20 KiB header",
            format!(
                "GET /healthz HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
                "b".repeat(20 * 1024)
            ),
        ),
        (
            "101 headers",
            format!(
                "GET /healthz HTTP/1.1\r\nhost: x\r\n{}\r\n",
                (0..101)
                    .map(|i| format!("x-h{i}: v\r\n"))
                    .collect::<String>()
            ),
        ),
    ] {
        let response = raw_exchange(admin, head.as_bytes()).await;
        assert!(response.starts_with("HTTP/1.1 431"), "{what}: {response:?}");
    }

    // 64 idle connections fill the cap: a probe waits in the backlog...
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(TcpStream::connect(admin).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = tokio::spawn(async move { get(admin, "/healthz").await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!waiting.is_finished(), "a 65th connection was served");
    // ...and is served as soon as one of them leaves.
    idle.pop();
    let reply = tokio::time::timeout(Duration::from_secs(5), waiting)
        .await
        .expect("served once a slot is free")
        .unwrap()
        .unwrap();
    assert_eq!(reply.status, 200);
    drop(idle);
    gateway.stop().await;
}

async fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    raw_exchange_within(addr, bytes, Duration::from_secs(5)).await
}

/// Sends `bytes` and reads the answer until the server closes or `wait` passes.
async fn raw_exchange_within(addr: std::net::SocketAddr, bytes: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut response = Vec::new();
    let _ = tokio::time::timeout(wait, stream.read_to_end(&mut response)).await;
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_created_at_beyond_the_date_range_is_published_with_the_receive_time() {
    let broker = Broker::start();
    broker.create_default_topics();
    let gateway = Gateway::start_ready(gateway_env(&broker.bootstrap(), &[])).await;
    let mut ids = Vec::new();
    // A microsecond epoch (read as milliseconds: the year 55 000), and a
    // well-formed RFC 3339 time that is the year 10 000 in UTC.
    for (n, created_at) in ["1763892000000000", r#""9999-12-31T23:59:59-23:59""#]
        .into_iter()
        .enumerate()
    {
        let body = format!(
            r#"{{"event":"link.opened","data":{{"linkId":"far-{n}","createdAt":{created_at}}}}}"#
        );
        let reply = send_signed(gateway.public, "m2m", body.as_bytes())
            .await
            .expect("answered, not a closed connection");
        assert_eq!(reply.status, 200, "{created_at}: {}", reply.text());
        ids.push(reply.json()["id"].as_str().unwrap().to_owned());
    }
    let records = read_topic(
        &broker.bootstrap(),
        "webhooks.m2m.link.opened",
        ids.len(),
        Duration::from_secs(20),
    );
    assert_eq!(records.len(), ids.len());
    for record in &records {
        let event = value_json(record);
        assert_eq!(event["time"], event["receivedat"], "{event}");
    }
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_panic_after_verification_dead_letters_the_body_and_the_gateway_keeps_serving() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    // Publishing a record keyed `panic-…` panics (a bug past verification);
    // its rescue onto the dead-letter topic does not.
    let producers = Producers::poisoned("panic-");
    let gateway = Gateway::start_ready_with(
        gateway_env(
            &broker.bootstrap(),
            &[("GATEWAY_PUBLISH_TIMEOUT_MS", "1500")],
        ),
        producers.inputs(),
    )
    .await;
    let panic_type = PANIC_CONTENT_TYPE;
    let poisoned = |n: usize| {
        format!(
            r#"{{"event":"Payment.Status","data":{{"status":"Completed","paymentReference":"panic-{n}"}}}}"#
        )
    };
    // Correctly signed; its key (the payment reference) makes publishing its
    // event panic. Its content type is one the dead letter must keep.
    let send_poisoned = |body: String| async move {
        let mut headers = transfers_headers(body.as_bytes());
        headers.retain(|(name, _)| name != "content-type");
        headers.push(("content-type".into(), panic_type.into()));
        request(
            gateway.public,
            "POST",
            "/webhooks/transfers",
            &headers,
            body.into_bytes(),
        )
        .await
    };
    let body = poisoned(1);
    let reply = send_poisoned(body.clone())
        .await
        .expect("answered, not a closed connection");
    assert_eq!(reply.status, 200, "{}", reply.text());
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let dead = read_topic(
        &broker.bootstrap(),
        "webhooks.deadletter",
        1,
        Duration::from_secs(20),
    );
    let record = dead
        .iter()
        .find(|m| header(m, "event-id").as_deref() == Some(id.as_str()))
        .expect("kept on the dead-letter topic");
    assert_eq!(record.payload(), Some(body.as_bytes()));
    assert_eq!(
        header(record, "x-deadletter-reason").as_deref(),
        Some("internal_error")
    );
    assert_eq!(header(record, "x-provider").as_deref(), Some("transfers"));
    assert_eq!(header(record, "content-type").as_deref(), Some(panic_type));

    // The process keeps serving, and counts what happened.
    let ok = transfers_small_body(1);
    assert_eq!(
        send_signed(gateway.public, "transfers", &ok)
            .await
            .unwrap()
            .status,
        200
    );
    let internal = r#"webhook_internal_errors_total{provider="transfers"}"#;
    assert_eq!(gateway.metric(internal).await, 1.0);

    // When the dead-letter publish fails too, the answer is a 500 (and the
    // provider retries).
    broker.freeze();
    let reply = send_poisoned(poisoned(2)).await.expect("answered");
    broker.thaw();
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["error"], "internal_error");
    assert_eq!(gateway.metric(internal).await, 2.0);
    assert_eq!(
        gateway
            .metric(r#"webhook_requests_total{outcome="internal_error",provider="transfers"}"#)
            .await,
        1.0
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_sent_in_one_byte_chunks_cost_their_size_not_a_handle_per_chunk() {
    let _serial = serial().await;
    let mut env = gateway_env("127.0.0.1:1", &[("GATEWAY_BODY_TIMEOUT_MS", "60000")]);
    env.remove("GATEWAY_LISTEN_ADDR");
    env.remove("GATEWAY_ADMIN_ADDR");
    let gateway = Process::start(&env, Stdio::null());
    gateway.wait_listening().await;
    let baseline = gateway.rss_kib();
    // Twenty bodies of 100 000 one-byte chunks each (600 KB on the wire), all
    // at once: each frame hyper yields is a handle into its read buffers, so
    // keeping one per chunk until the body ends would cost many times the body.
    const UPLOADS: usize = 20;
    const CHUNKS: usize = 100_000;
    let mut uploads = Vec::new();
    for _ in 0..UPLOADS {
        let addr = gateway.public;
        uploads.push(tokio::spawn(async move {
            let head = format!(
                "POST /webhooks/transfers HTTP/1.1\r\nhost: x\r\nconnection: close\r\ntransfer-encoding: chunked\r\nx-transfers-signature: {}\r\n\r\n",
                "0".repeat(64)
            );
            let mut request = head.into_bytes();
            request.extend_from_slice(&b"1\r\nx\r\n".repeat(CHUNKS));
            request.extend_from_slice(b"0\r\n\r\n");
            // The kernel takes the whole request at once; the gateway then
            // parses all twenty bodies side by side, which an unoptimised
            // build on one async worker takes several seconds over (about 8 s
            // here, 4 s on two). The answer closes the connection.
            raw_exchange_within(addr, &request, Duration::from_secs(40)).await
        }));
    }
    let started = std::time::Instant::now();
    for upload in uploads {
        let answer = tokio::time::timeout(Duration::from_secs(60), upload)
            .await
            .expect("every body is read to its end")
            .unwrap();
        // Read whole, then refused by verification: the body was buffered.
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer:?}");
    }
    let peak = peak_rss_kib(gateway.child.id()).expect("VmHWM");
    println!(
        "{UPLOADS} bodies of {CHUNKS} one-byte chunks: RSS {baseline} KiB before, peak {peak} KiB, answered within {:?}",
        started.elapsed()
    );
    // About 2.5 MiB of bodies; a handle per chunk would be about 80 MiB.
    assert!(
        peak < baseline + 24 * 1024,
        "peak RSS {peak} KiB from {baseline} KiB"
    );
}
