//! Every outcome a webhook can have is counted exactly once, under its
//! provider and reason, from the first scrape.

use std::time::{Duration, Instant};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
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

    // A stalled broker: Transfers' reserve (4, the least a provider has)
    // and the pool of 2 fill with six requests; the seventh is refused at once.
    broker.freeze();
    let stuck: Vec<_> = (10..16)
        .map(|n| {
            tokio::spawn(async move { send_signed(public, "transfers", &transfers_body(n)).await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(3);
    while gw.metric("webhook_inflight_requests").await < 6.0 {
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
        6.0
    );
    assert_eq!(
        m(r#"webhook_capacity_refusals_total{provider="transfers",reason="overloaded"}"#).await,
        1.0
    );
    assert_eq!(
        m(r#"webhook_capacity_refusals_total{provider="m2m",reason="overloaded"}"#).await,
        0.0
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
        6.0
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
