//! Never a 2xx without the broker's acknowledgement: with the broker frozen,
//! failing or down, requests answer 503 within the publish timeout plus 2 s;
//! once it is back, 200 again; a fatal producer error is recovered from
//! without a restart, and replacing the producer (slow, or panicking) never
//! stalls or crashes a request.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::common::faults::{BuildFault, Producers};
use crate::common::*;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use webhook_gateway::Inputs;

const PUBLISH_TIMEOUT_MS: u64 = 2000;

/// The promise: every answer within the publish timeout plus 2 s.
const ANSWER_BOUND: Duration = Duration::from_millis(PUBLISH_TIMEOUT_MS + 2000);

/// A gateway on `bootstrap` with the short publish timeout these tests bound answers by.
async fn gateway_on(bootstrap: &str) -> Gateway {
    let timeout = PUBLISH_TIMEOUT_MS.to_string();
    Gateway::start_ready(gateway_env(
        bootstrap,
        &[("GATEWAY_PUBLISH_TIMEOUT_MS", &timeout)],
    ))
    .await
}

/// [`gateway_on`], reading the time and building producers with `inputs`
/// (the faults a test injects, [`Producers::inputs`]).
async fn gateway_with(bootstrap: &str, inputs: Inputs) -> Gateway {
    let timeout = PUBLISH_TIMEOUT_MS.to_string();
    let env = gateway_env(bootstrap, &[("GATEWAY_PUBLISH_TIMEOUT_MS", &timeout)]);
    Gateway::start_ready_with(env, inputs).await
}

fn body(n: usize) -> Vec<u8> {
    format!(r#"{{"event":"Payment.Status","data":{{"status":"Completed","userId":"u","paymentReference":"p-{n}","amount":{n}.00}}}}"#)
        .into_bytes()
}

/// Sends one unique webhook; returns the status (0 for a connection error),
/// the id when 200, and how long the answer took.
async fn send(public: std::net::SocketAddr, n: usize) -> (u16, Option<String>, Duration) {
    let started = Instant::now();
    let reply = send_signed(public, "transfers", &body(n)).await;
    let elapsed = started.elapsed();
    match reply {
        Ok(r) if r.status == 200 => (
            200,
            Some(r.json()["id"].as_str().unwrap().to_owned()),
            elapsed,
        ),
        Ok(r) => {
            if r.status == 503 {
                assert!(
                    r.headers.contains_key("retry-after"),
                    "503 carries Retry-After"
                );
            }
            (r.status, None, elapsed)
        }
        Err(_) => (0, None, elapsed),
    }
}

/// Sends until a 200 arrives or `within` passes; every answer must be 200 or 503, in time.
async fn until_accepted(
    gateway: &Gateway,
    next: &mut usize,
    within: Duration,
    acked: &mut Vec<String>,
) -> Duration {
    let started = Instant::now();
    loop {
        *next += 1;
        let (status, id, took) = send(gateway.public, *next).await;
        assert!(took <= ANSWER_BOUND, "answer took {took:?}");
        assert!(status == 200 || status == 503, "status {status}");
        if let Some(id) = id {
            acked.push(id);
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "no 200 within {within:?} of the broker's return"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn assert_all_in_kafka(bootstrap: &str, acked: &[String]) {
    let records = read_topic(
        bootstrap,
        "webhooks.transfers.payment.completed",
        usize::MAX,
        Duration::from_secs(8),
    );
    let found: HashSet<String> = records
        .iter()
        .filter_map(|m| header(m, "event-id"))
        .collect();
    let lost: Vec<_> = acked.iter().filter(|id| !found.contains(*id)).collect();
    assert!(lost.is_empty(), "acknowledged but not in Kafka: {lost:?}");
    println!(
        "{} acknowledged, {} records read, 0 lost",
        acked.len(),
        records.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_frozen_broker_gets_503_in_time_and_200_again_once_it_returns() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let gateway = gateway_on(&broker.bootstrap()).await;
    let mut acked = Vec::new();
    let mut n = 0;
    until_accepted(&gateway, &mut n, Duration::from_secs(10), &mut acked).await;

    broker.freeze();
    let during: Vec<_> = (0..4).map(|i| send(gateway.public, 1000 + i)).collect();
    for (status, _, took) in futures_join(during).await {
        assert_eq!(
            status, 503,
            "the broker is frozen: no acknowledgement, no 2xx"
        );
        assert!(took <= ANSWER_BOUND, "503 took {took:?}");
    }
    broker.thaw();
    let recovery = until_accepted(&gateway, &mut n, Duration::from_secs(15), &mut acked).await;
    println!("recovered {recovery:?} after the broker's return");
    assert_eq!(
        gateway
            .metric(r#"kafka_publish_errors_total{reason="timeout"}"#)
            .await,
        4.0
    );

    assert_all_in_kafka(&broker.bootstrap(), &acked);
    gateway.stop().await;
}

async fn futures_join<F>(futures: Vec<F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_errors_never_become_a_2xx_and_are_counted() {
    let _serial = serial().await;
    let cluster = mock_cluster();
    let gateway = gateway_on(&cluster.bootstrap_servers()).await;
    let mut n = 0;
    let mut acked = Vec::new();
    until_accepted(&gateway, &mut n, Duration::from_secs(10), &mut acked).await;

    // A permanent error: answered 5xx at once, counted by the broker's error name.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED; 50],
    );
    let (status, _, took) = send(gateway.public, 500).await;
    assert_eq!(status, 503);
    assert!(took <= ANSWER_BOUND, "{took:?}");
    assert!(
        gateway
            .metric(r#"kafka_publish_errors_total{reason="TopicAuthorizationFailed"}"#)
            .await
            >= 1.0
    );
    cluster.clear_request_errors(RDKafkaApiKey::Produce);
    until_accepted(&gateway, &mut n, Duration::from_secs(15), &mut acked).await;

    // A retriable error that does not go away: librdkafka retries until the publish timeout.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS; 1000],
    );
    let (status, _, took) = send(gateway.public, 600).await;
    assert_eq!(status, 503);
    assert!(took <= ANSWER_BOUND, "{took:?}");
    cluster.clear_request_errors(RDKafkaApiKey::Produce);
    until_accepted(&gateway, &mut n, Duration::from_secs(15), &mut acked).await;

    // The broker down, then up.
    cluster.broker_down(1).unwrap();
    let (status, _, took) = send(gateway.public, 700).await;
    assert!(status == 503 || status == 0, "status {status}");
    assert!(took <= ANSWER_BOUND, "{took:?}");
    cluster.broker_up(1).unwrap();
    until_accepted(&gateway, &mut n, Duration::from_secs(15), &mut acked).await;
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_fatal_producer_error_is_followed_by_a_new_producer_without_restart() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let producers = Producers::new();
    let gateway = gateway_with(&broker.bootstrap(), producers.inputs()).await;
    let mut n = 0;
    let mut acked = Vec::new();
    until_accepted(&gateway, &mut n, Duration::from_secs(10), &mut acked).await;

    producers.raise_fatal_error();
    gateway.wait_for_replacement(Duration::from_secs(5)).await;
    until_accepted(&gateway, &mut n, Duration::from_secs(15), &mut acked).await;
    for _ in 0..5 {
        until_accepted(&gateway, &mut n, Duration::from_secs(5), &mut acked).await;
    }
    assert_eq!(
        gateway.metric("kafka_producer_replacements_total").await,
        1.0
    );
    assert_all_in_kafka(&broker.bootstrap(), &acked);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_replacement_producer_that_panics_means_503s_then_200_never_a_dropped_connection() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let producers = Producers::new();
    let gateway = gateway_with(&broker.bootstrap(), producers.inputs()).await;
    let mut n = 0;
    let mut acked = Vec::new();
    until_accepted(&gateway, &mut n, Duration::from_secs(10), &mut acked).await;

    // Every attempt to build a new producer panics (a thread that cannot be
    // spawned, say) while the old one is dead.
    producers.set_build_fault(Some(BuildFault::Panic));
    producers.raise_fatal_error();
    let failing = Instant::now();
    while failing.elapsed() < Duration::from_secs(2) {
        n += 1;
        let (status, _, took) = send(gateway.public, n).await;
        assert_eq!(
            status, 503,
            "no producer can deliver: a 503 with Retry-After, not a crash"
        );
        assert!(took <= Duration::from_secs(1), "503 took {took:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        gateway.metric("kafka_producer_replacements_total").await,
        0.0
    );
    assert_eq!(get(gateway.admin, "/readyz").await.unwrap().status, 200);

    // The supervisor keeps retrying: once a replacement can be built, 200 again.
    producers.set_build_fault(None);
    until_accepted(&gateway, &mut n, Duration::from_secs(15), &mut acked).await;
    assert_eq!(
        gateway.metric("kafka_producer_replacements_total").await,
        1.0
    );
    assert_all_in_kafka(&broker.bootstrap(), &acked);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_slow_replacement_producer_stalls_no_request() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let producers = Producers::new();
    let gateway = gateway_with(&broker.bootstrap(), producers.inputs()).await;
    let mut n = 0;
    let mut acked = Vec::new();
    until_accepted(&gateway, &mut n, Duration::from_secs(10), &mut acked).await;

    // Building the new producer takes 4 s (librdkafka spawning threads on a
    // starved machine): the two async workers must keep answering meanwhile.
    const BUILD: Duration = Duration::from_secs(4);
    const PROMPT: Duration = Duration::from_secs(1);
    producers.set_build_fault(Some(BuildFault::Slow(BUILD)));
    producers.raise_fatal_error();
    let building = Instant::now();
    let mut publishes = 0;
    while building.elapsed() < BUILD - PROMPT {
        let started = Instant::now();
        let health = get(gateway.admin, "/healthz").await.unwrap();
        assert_eq!(health.status, 200);
        assert!(
            started.elapsed() <= PROMPT,
            "/healthz took {:?}",
            started.elapsed()
        );

        let started = Instant::now();
        let forged = request(
            gateway.public,
            "POST",
            "/webhooks/transfers",
            &[("x-transfers-signature".into(), "00".repeat(32))],
            body(0),
        )
        .await
        .unwrap();
        assert_eq!(forged.status, 401);
        assert!(
            started.elapsed() <= PROMPT,
            "401 took {:?}",
            started.elapsed()
        );

        n += 1;
        let (status, _, took) = send(gateway.public, n).await;
        assert!(status == 503 || status == 200, "status {status}");
        assert!(
            took <= PROMPT,
            "a publish waited {took:?} for the replacement"
        );
        publishes += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        publishes >= 3,
        "only {publishes} publishes during the build"
    );
    assert_eq!(
        gateway.metric("kafka_producer_replacements_total").await,
        0.0,
        "still building: the requests above ran during the construction"
    );

    gateway.wait_for_replacement(BUILD * 2).await;
    until_accepted(&gateway, &mut n, Duration::from_secs(15), &mut acked).await;
    assert_all_in_kafka(&broker.bootstrap(), &acked);
    gateway.stop().await;
}
