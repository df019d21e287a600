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

/// One test's parts: tansu, a gateway on it with the test producers (a
/// publish timeout of [`PUBLISH_TIMEOUT_MS`]), and the senders, `active` of
/// them sending from the start.
struct Scene {
    broker: Broker,
    producers: Arc<Producers>,
    gateway: Gateway,
    senders: Senders,
}

/// What a scene ended with, its order checked.
struct Ended {
    answers: Vec<Vec<(usize, u16)>>,
    copies: usize,
    /// Copies of requests answered 503 that landed.
    unanswered: usize,
    /// Each send's producer, in order.
    sends: Vec<usize>,
}

impl Scene {
    async fn start(active: usize) -> Scene {
        let broker = Broker::start();
        broker.create_default_topics();
        let producers = Producers::new();
        let timeout = PUBLISH_TIMEOUT_MS.to_string();
        let env = gateway_env(
            &broker.bootstrap(),
            &[("GATEWAY_PUBLISH_TIMEOUT_MS", &timeout)],
        );
        let gateway = Gateway::start_ready_with(env, producers.inputs()).await;
        let senders = Senders::start(gateway.public);
        senders.active.store(active, Ordering::Relaxed);
        Scene {
            broker,
            producers,
            gateway,
            senders,
        }
    }

    /// Lets the load rise and fall twice more, stops it, and holds every copy
    /// in the topic to its sender's order.
    async fn end(self) -> Ended {
        self.senders.rise_and_fall(2).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let answers = self.senders.finish().await;
        let copies = copies(&self.broker.bootstrap());
        let unanswered = assert_in_order(&answers, &copies);
        let sends = self.producers.sends();
        println!(
            "{} copies in order, {unanswered} of them of requests answered 503; \
             producers built: {:?}; {} sends, {} moves between producers",
            copies.len(),
            self.producers.lingers(),
            sends.len(),
            moves(&sends)
        );
        self.gateway.stop().await;
        Ended {
            answers,
            copies: copies.len(),
            unanswered,
            sends,
        }
    }
}

fn assert_every_stalled_record_landed(stalled: usize, ended: &Ended) {
    assert!(
        stalled > 0 && ended.unanswered >= stalled,
        "{stalled} records stalled, {} copies of requests answered 503 landed: \
         every stalled record lands, after its request was answered 503",
        ended.unanswered
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_busy_key_keeps_its_order_across_both_producers_and_a_frozen_broker() {
    let _serial = serial().await;
    let scene = Scene::start(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        scene.producers.lingers(),
        ["0"],
        "the batching producer is built only once a key is busy"
    );
    scene.senders.rise_and_fall(3).await;
    assert_eq!(
        scene.producers.lingers(),
        ["0", "1"],
        "a prompt and a batching producer"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    scene.broker.freeze();
    tokio::time::sleep(FREEZE).await;
    scene.broker.thaw();
    let ended = scene.end().await;

    let answered_503 = ended
        .answers
        .iter()
        .flatten()
        .filter(|a| a.1 == 503)
        .count();
    assert!(answered_503 > 0, "the freeze outlasted the publish timeout");
    assert!(ended.copies > 0);
    assert!(
        ended.sends.contains(&PROMPT) && ended.sends.contains(&BATCHING),
        "both producers carried the key"
    );
    assert!(
        moves(&ended.sends) >= 4,
        "the key moved between producers as load rose and fell"
    );
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
    let scene = Scene::start(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    scene.producers.hold(PROMPT);
    scene.senders.active.store(SENDERS, Ordering::Relaxed);
    tokio::time::sleep(FREEZE).await;
    let stalled = scene.producers.release(PROMPT);
    let ended = scene.end().await;

    assert_every_stalled_record_landed(stalled, &ended);
    assert!(
        ended.sends.contains(&BATCHING),
        "the key moved to the batching producer"
    );
}

/// The same across a producer replacement: the old prompt producer's records
/// stall, the pair is replaced (a fatal error on the batching one, so the
/// prompt one can still deliver them), and the
/// key's records must wait for the stalled ones before entering the new pair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_key_keeps_its_order_across_a_producer_replacement() {
    let _serial = serial().await;
    // Busy first, so that the pair has its batching producer; then fewer
    // senders than move a key, so that it returns to the prompt one.
    let scene = Scene::start(SENDERS).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    scene.senders.active.store(8, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(500)).await;
    scene.producers.hold(PROMPT);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(scene.producers.raise_fatal_error_on(BATCHING));
    scene
        .gateway
        .wait_for_replacement(Duration::from_secs(5))
        .await;
    tokio::time::sleep(FREEZE).await;
    let stalled = scene.producers.release(PROMPT);
    let producers = scene.producers.clone();
    let ended = scene.end().await;

    assert_eq!(
        producers.lingers(),
        ["0", "1", "0", "1"],
        "the pair was replaced"
    );
    assert_every_stalled_record_landed(stalled, &ended);
    assert!(
        ended.sends.iter().any(|&p| p >= 2),
        "the key was carried by the new pair"
    );
}
