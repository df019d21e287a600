//! Bounded resources: the in-flight cap and flat memory with a stalled
//! broker, a client that leaves mid-publish frees its slot, and slow or
//! oversized requests get their documented answers.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
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
#[ignore = "needs tansu: run by scripts/test.sh"]
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
