//! Readiness follows start-up and shutdown, never a broker blip; SIGTERM
//! drains: every client answered, every 200 in Kafka.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
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
#[ignore = "needs tansu: run by scripts/test.sh"]
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
