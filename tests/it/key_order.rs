//! One key's records land in the order their requests were sent, whichever
//! producer carried them. The gateway moves a busy key from its prompt
//! producer to its batching one and back, and to a replacement's, only when
//! none of the key's records is unresolved where it was: a record answered
//! 503 at the publish timeout may still land, and must land before what its
//! sender sent next.
//!
//! Checked through tansu, by position: senders post webhooks of one key one
//! after another, each retrying a 503 with the same body as a provider
//! would, while the load rises and falls (moving the key between producers)
//! and the broker freezes for longer than the publish timeout, or the
//! producers are replaced. Then every copy in the topic, those of requests
//! answered 503 included, must follow its sender's order.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::Message;

use crate::common::faults::{read_all, Producers, HUNG};
use crate::common::*;

const TOPIC: &str = "webhooks.transfers.payment.completed";
/// The record key: every webhook here names this payment.
const KEY: &str = "order-under-test";
/// More than the unresolved records at which a key moves to the batching
/// producer (24).
const SENDERS: usize = 40;
const PUBLISH_TIMEOUT_MS: u64 = 1500;
/// Longer than the publish timeout: the requests in flight get 503 while
/// their records stay unresolved in the producer.
const FREEZE: Duration = Duration::from_millis(2500);
/// The build numbers of the first pair: its prompt and batching producers.
const PROMPT: usize = 0;
const BATCHING: usize = 1;

fn body(sender: usize, seq: usize) -> Vec<u8> {
    format!(
        r#"{{"event":"Payment.Status","data":{{"status":"Completed","userId":"u","paymentReference":"{KEY}","sender":{sender},"seq":{seq},"amount":1.00}}}}"#
    )
    .into_bytes()
}

/// Senders of one key's webhooks, each sending its next only once the last
/// got a 2xx (a 503 is retried with the same body). `active` of them send;
/// the others wait, so the test can make the key busy or quiet.
struct Senders {
    active: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<Vec<(usize, u16)>>>,
}

impl Senders {
    fn start(gateway: std::net::SocketAddr) -> Senders {
        let active = Arc::new(AtomicUsize::new(SENDERS));
        let stop = Arc::new(AtomicBool::new(false));
        let tasks = (0..SENDERS)
            .map(|sender| {
                let (active, stop) = (active.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut answers = Vec::new();
                    let mut seq = 0;
                    while !stop.load(Ordering::Relaxed) {
                        if sender >= active.load(Ordering::Relaxed) {
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            continue;
                        }
                        let body = body(sender, seq);
                        let sent = send_signed(gateway, "transfers", &body);
                        let status = match tokio::time::timeout(HUNG, sent).await {
                            Ok(Ok(reply)) => reply.status,
                            Ok(Err(_)) => 0,
                            Err(_) => panic!("a request hung for {HUNG:?}"),
                        };
                        answers.push((seq, status));
                        if status == 200 {
                            seq += 1;
                        } else {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                    answers
                })
            })
            .collect();
        Senders {
            active,
            stop,
            tasks,
        }
    }

    /// Busy (every sender) and quiet (one) in turn, `rounds` times.
    async fn rise_and_fall(&self, rounds: usize) {
        for _ in 0..rounds {
            self.active.store(SENDERS, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(600)).await;
            self.active.store(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        self.active.store(SENDERS, Ordering::Relaxed);
    }

    /// Each sender's answers, in the order it got them: (seq, status).
    async fn finish(self) -> Vec<Vec<(usize, u16)>> {
        self.stop.store(true, Ordering::Relaxed);
        let mut all = Vec::new();
        for task in self.tasks {
            all.push(task.await.expect("sender"));
        }
        all
    }
}

/// What the topic holds of the key: each copy's (sender, seq), by offset.
fn copies(bootstrap: &str) -> Vec<(usize, usize)> {
    let mut records: Vec<_> = read_all(bootstrap, TOPIC, Duration::from_secs(3))
        .into_iter()
        .filter(|m| m.key() == Some(KEY.as_bytes()))
        .collect();
    let partitions: BTreeSet<i32> = records.iter().map(|m| m.partition()).collect();
    assert_eq!(
        partitions.len(),
        1,
        "one key, one partition: {partitions:?}"
    );
    records.sort_by_key(|m| m.offset());
    records
        .iter()
        .map(|m| {
            let event: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            let data = &event["data"];
            (
                data["sender"].as_u64().unwrap() as usize,
                data["seq"].as_u64().unwrap() as usize,
            )
        })
        .collect()
}

/// The judgement: every copy of a sender's webhook lies before every copy
/// of the one it sent next, and every webhook answered 2xx is there.
/// Returns how many copies of requests answered 503 landed.
fn assert_in_order(answers: &[Vec<(usize, u16)>], copies: &[(usize, usize)]) -> usize {
    let mut last: BTreeMap<usize, usize> = BTreeMap::new();
    for (position, &(sender, seq)) in copies.iter().enumerate() {
        if let Some(&before) = last.get(&sender) {
            assert!(
                seq >= before,
                "sender {sender}'s webhook {seq} at position {position} follows its webhook {before}"
            );
        }
        last.insert(sender, seq);
    }
    let landed: BTreeSet<(usize, usize)> = copies.iter().copied().collect();
    let mut extra = copies.len();
    for (sender, answers) in answers.iter().enumerate() {
        for &(seq, status) in answers {
            assert!(
                status == 200 || status == 503,
                "sender {sender}'s webhook {seq}: {status}"
            );
            if status == 200 {
                assert!(
                    landed.contains(&(sender, seq)),
                    "sender {sender}'s webhook {seq} was acknowledged but is not in the topic"
                );
                extra -= 1;
            }
        }
    }
    extra
}

/// How often consecutive sends went to different producers.
fn moves(sends: &[usize]) -> usize {
    sends.windows(2).filter(|w| w[0] != w[1]).count()
}

async fn gateway_on(broker: &Broker, producers: &Arc<Producers>) -> Gateway {
    let timeout = PUBLISH_TIMEOUT_MS.to_string();
    let env = gateway_env(
        &broker.bootstrap(),
        &[("GATEWAY_PUBLISH_TIMEOUT_MS", &timeout)],
    );
    Gateway::start_ready_with(env, producers.inputs()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_busy_key_keeps_its_order_across_both_producers_and_a_frozen_broker() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let producers = Producers::new();
    let gateway = gateway_on(&broker, &producers).await;
    assert_eq!(
        producers.lingers(),
        ["0", "1"],
        "a prompt and a batching producer"
    );

    let senders = Senders::start(gateway.public);
    senders.rise_and_fall(3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    broker.freeze();
    tokio::time::sleep(FREEZE).await;
    broker.thaw();
    senders.rise_and_fall(3).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = senders.finish().await;

    let copies = copies(&broker.bootstrap());
    let unanswered = assert_in_order(&answers, &copies);
    let answered_503 = answers.iter().flatten().filter(|a| a.1 == 503).count();
    let sends = producers.sends();
    println!(
        "{} copies in order; {answered_503} answers 503, {unanswered} copies of them landed; \
         {} sends, {} moves between producers",
        copies.len(),
        sends.len(),
        moves(&sends)
    );
    assert!(answered_503 > 0, "the freeze outlasted the publish timeout");
    assert!(
        sends.contains(&PROMPT) && sends.contains(&BATCHING),
        "both producers carried the key"
    );
    assert!(
        moves(&sends) >= 4,
        "the key moved between producers as load rose and fell"
    );
    gateway.stop().await;
}

/// The prompt producer's records stall (held back, unresolved, as in a stuck
/// connection) while the key gets busy: its next records must wait for
/// them rather than overtake them through the batching producer, and every
/// stalled record, answered 503 long before, lands before what its sender
/// sent next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_key_moves_to_the_batching_producer_only_after_its_stalled_records_land() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let producers = Producers::new();
    let gateway = gateway_on(&broker, &producers).await;

    let senders = Senders::start(gateway.public);
    senders.active.store(1, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    producers.hold(PROMPT);
    senders.active.store(SENDERS, Ordering::Relaxed);
    tokio::time::sleep(FREEZE).await;
    let stalled = producers.release(PROMPT);
    senders.rise_and_fall(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = senders.finish().await;

    let copies = copies(&broker.bootstrap());
    let unanswered = assert_in_order(&answers, &copies);
    let sends = producers.sends();
    println!(
        "{} copies in order; {stalled} records stalled, {unanswered} copies of requests \
         answered 503 landed; {} sends, {} moves between producers",
        copies.len(),
        sends.len(),
        moves(&sends)
    );
    assert!(
        stalled > 0 && unanswered >= stalled,
        "every stalled record landed, after its request was answered 503"
    );
    assert!(
        sends.contains(&BATCHING),
        "the key moved to the batching producer"
    );
    gateway.stop().await;
}

/// The same across a producer replacement: the old prompt producer's records
/// stall, the pair is replaced (a fatal error on the batching one), and the
/// key's records must wait for the stalled ones before entering the new pair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_key_keeps_its_order_across_a_producer_replacement() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let producers = Producers::new();
    let gateway = gateway_on(&broker, &producers).await;

    // Fewer senders than move a key: it stays on the prompt producer.
    let senders = Senders::start(gateway.public);
    senders.active.store(8, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(300)).await;
    producers.hold(PROMPT);
    tokio::time::sleep(Duration::from_millis(200)).await;
    producers.raise_fatal_error();
    gateway.wait_for_replacement(Duration::from_secs(5)).await;
    tokio::time::sleep(FREEZE).await;
    let stalled = producers.release(PROMPT);
    senders.rise_and_fall(2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let answers = senders.finish().await;

    let copies = copies(&broker.bootstrap());
    let unanswered = assert_in_order(&answers, &copies);
    let sends = producers.sends();
    println!(
        "{} copies in order; {stalled} records stalled, {unanswered} copies of requests \
         answered 503 landed; producers built: {:?}; {} sends",
        copies.len(),
        producers.lingers(),
        sends.len()
    );
    assert_eq!(
        producers.lingers(),
        ["0", "1", "0", "1"],
        "the pair was replaced"
    );
    assert!(
        stalled > 0 && unanswered >= stalled,
        "every stalled record landed, after its request was answered 503"
    );
    assert!(
        sends.iter().any(|&p| p >= 2),
        "the key was carried by the new pair"
    );
    gateway.stop().await;
}
