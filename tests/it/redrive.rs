//! `webhook-gateway redrive`: events the catalogue did not know, or bodies a
//! definition could not read, are brought to their routed topics once the
//! definition is fixed, exactly as the gateway would have published them at
//! receive time. Real gateway, real `redrive` binary, real tansu (its sqlite
//! storage: tansu 0.6.0's memory storage answers offsets-for-time requests
//! with the earliest offset and cannot fetch from inside a batch).

use std::collections::{BTreeMap, HashMap};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::message::{Headers, Message, OwnedMessage};

use crate::common::*;
use webhook_gateway::Inputs;

/// The definitions before the fix (the catalogue knows `invoice.paid` only;
/// `blob` reads JSON only) and after it (`invoice.voided` added, its subject
/// and `when` outside `data`; `blob` takes any body).
fn definitions(fixed: bool) -> String {
    let (voided, any_body, items) = match fixed {
        false => ("", "", "/events"),
        true => (
            "\n      - {name: invoice.voided, when: {/meta/live: \"true\"}, type: acme.invoice.voided, subject: /meta/account}",
            "\n    body: any",
            "/entries",
        ),
    };
    format!(
        r#"providers:
  - name: acme
    secret: {{env: ACME_SECRET}}
    signature: {{header: x-acme-signature}}
    id: {{source: {{header: x-acme-delivery}}}}
    event: {{name: /type, data: /data, user: {{header: x-acme-user}}}}
    unrouted_subject: [/data/ref]
    events:
      - {{name: invoice.paid, type: acme.invoice.paid, subject: /data/invoice}}{voided}
  - name: blob
    secret: {{env: BLOB_SECRET}}
    signature: {{header: x-blob-signature}}{any_body}
    event: {{name: {{header: x-blob-event}}, data: ""}}
    events:
      - {{name: report.ready, type: blob.report.ready, subject: {{header: x-blob-report}}}}
  - name: ledger
    secret: {{env: LEDGER_SECRET}}
    signature: {{header: x-ledger-signature}}
    batch: {{items: {items}}}
    event: {{name: /kind, data: ""}}
    events:
      - {{name: entry.posted, type: ledger.entry.posted, subject: /entry}}
"#
    )
}

const ACME: &str = "acme-secret";
const BLOB: &str = "blob-secret";
const LEDGER: &str = "ledger-secret";
const VOIDED: &str = "webhooks.acme.invoice.voided";
const REPORTS: &str = "webhooks.blob.report.ready";

/// Both gateways receive at this instant, so the reference records are what
/// the first gateway would have published, had it known the definition.
fn received() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_795_500_000_123)
}

struct World {
    broker: Broker,
    dir: tempfile::TempDir,
}

impl World {
    fn new(extra_topics: &[&str]) -> World {
        let dir = tempfile::tempdir().unwrap();
        let broker = Broker::start_sqlite(dir.path().to_owned(), free_port());
        for topic in [
            "webhooks.unrouted",
            "webhooks.deadletter",
            "webhooks.acme.invoice.paid",
            VOIDED,
            REPORTS,
            "webhooks.ledger.entry.posted",
        ]
        .iter()
        .chain(extra_topics)
        {
            broker.create_topic(topic);
        }
        for (name, fixed) in [("before.yaml", false), ("after.yaml", true)] {
            std::fs::write(dir.path().join(name), definitions(fixed)).unwrap();
        }
        World { broker, dir }
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    /// A gateway serving `file`'s definitions, its clock at [`received`].
    async fn gateway(&self, file: &str, extra: &[(&str, &str)]) -> Gateway {
        let file = self.file(file);
        let mut vars = vec![
            ("ACME_SECRET", ACME),
            ("BLOB_SECRET", BLOB),
            ("LEDGER_SECRET", LEDGER),
            ("GATEWAY_PROVIDERS_FILE", file.as_str()),
        ];
        vars.extend_from_slice(extra);
        let env = gateway_env(&self.broker.bootstrap(), &vars);
        let config = webhook_gateway::settings::Config::from_env(&env).expect("valid settings");
        let at_received = Inputs {
            clock: received,
            ..Inputs::default()
        };
        let gateway = Gateway::start_with(config, at_received).await;
        gateway.wait_ready().await;
        gateway
    }

    /// `webhook-gateway redrive ARGS` with the fixed definitions.
    fn redrive(&self, args: &[&str]) -> Command {
        // The records it publishes are checked against this configuration's contract.
        let file = self.file("after.yaml");
        let vars = [
            ("ACME_SECRET", ACME),
            ("BLOB_SECRET", BLOB),
            ("LEDGER_SECRET", LEDGER),
            ("GATEWAY_PROVIDERS_FILE", file.as_str()),
        ];
        records::register_env(&gateway_env(&self.broker.bootstrap(), &vars));
        let mut cmd = Command::new(binary());
        cmd.env_clear()
            .env("KAFKA_BOOTSTRAP_SERVERS", self.broker.bootstrap())
            .env("GATEWAY_PROVIDERS_FILE", self.file("after.yaml"))
            .arg("redrive")
            .args(args);
        cmd
    }

    /// Runs a re-drive to its end; its JSON summary.
    fn redrive_json(&self, args: &[&str]) -> serde_json::Value {
        let out = self
            .redrive(args)
            .arg("--json")
            .stderr(Stdio::inherit())
            .output()
            .expect("run redrive");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "redrive {args:?}: {stdout}");
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
    }

    /// Everything on `topic`: waits for `at_least` records, then a moment
    /// longer for any extra one.
    fn records(&self, topic: &str, at_least: usize) -> Vec<OwnedMessage> {
        let bootstrap = self.broker.bootstrap();
        let consumer = reader(&bootstrap, topic);
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut quiet_until = None;
        loop {
            if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
                got.push(m.detach());
            }
            let now = Instant::now();
            if got.len() >= at_least && quiet_until.is_none() {
                quiet_until = Some(now + Duration::from_millis(1500));
            }
            if quiet_until.is_some_and(|q| now >= q) || now >= deadline {
                break;
            }
        }
        records::keep(&bootstrap, &got);
        got
    }
}

/// The voided invoice `n`: its subject and `when` value are outside `data`.
fn voided(n: usize) -> (Vec<(String, String)>, Vec<u8>) {
    let body = format!(
        r#"{{"type":"invoice.voided","meta":{{"account":"acct-{n}","live":"true"}},"data":{{"invoice":"inv-{n}","ref":"r-{n}"}}}}"#
    )
    .into_bytes();
    let headers = json_headers(&[
        ("x-acme-signature", hmac_hex(ACME, &[&body])),
        ("x-acme-delivery", format!("d-{n}")),
        ("x-acme-user", format!("user-{n}")),
        (
            "traceparent",
            format!("00-{:032x}-00f067aa0ba902b7-01", n + 1),
        ),
    ]);
    (headers, body)
}

fn header_map(m: &OwnedMessage) -> BTreeMap<String, Vec<u8>> {
    m.headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec()))
                .collect()
        })
        .unwrap_or_default()
}

fn id_of(m: &OwnedMessage) -> String {
    value_json(m)["id"].as_str().unwrap().to_owned()
}

/// Each re-driven record is its reference byte for byte (key, value and
/// headers) but for the marker, which names where it came from.
fn assert_exact(redriven: &[OwnedMessage], reference: &[OwnedMessage], source: &str) {
    let by_id: HashMap<String, &OwnedMessage> = reference.iter().map(|m| (id_of(m), m)).collect();
    for m in redriven {
        let want = by_id[&id_of(m)];
        assert_eq!(m.key(), want.key(), "key");
        assert_eq!(
            std::str::from_utf8(m.payload().unwrap()).unwrap(),
            std::str::from_utf8(want.payload().unwrap()).unwrap(),
            "value"
        );
        let mut headers = header_map(m);
        let marker = headers.remove("x-redriven").expect("the marker");
        assert!(
            String::from_utf8(marker)
                .unwrap()
                .starts_with(&format!("{source}:")),
            "the marker names the source topic"
        );
        assert_eq!(headers, header_map(want), "headers");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn unrouted_events_go_to_their_new_topic_once_exactly_as_if_known_at_receive_time() {
    let w = World::new(&["reference.voided"]);
    let before = w.gateway("before.yaml", &[]).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        let (headers, body) = voided(n);
        ids.push(before.accepted("acme", &headers, &body).await);
    }
    // Not live: the new entry's `when` does not match it either.
    let test_mode =
        br#"{"type":"invoice.voided","meta":{"live":"false"},"data":{"invoice":"inv-t"}}"#;
    let headers = json_headers(&[("x-acme-signature", hmac_hex(ACME, &[test_mode]))]);
    before.accepted("acme", &headers, test_mode).await;
    before.stop().await;
    let unrouted = w.records("webhooks.unrouted", 6);
    assert_eq!(unrouted.len(), 6);
    for m in &unrouted {
        let headers = header_map(m);
        assert!(
            !headers.contains_key("x-acme-signature"),
            "never a signature"
        );
        assert!(
            !String::from_utf8_lossy(&headers["x-request-headers"]).contains("x-acme-signature"),
            "never a signature"
        );
    }

    // What the gateway would have published at receive time, had it known:
    // the same requests to a gateway with the new catalogue and the same clock.
    let after = w
        .gateway(
            "after.yaml",
            &[(
                "GATEWAY_TOPIC_OVERRIDES",
                "acme.invoice.voided=reference.voided",
            )],
        )
        .await;
    for (n, id) in ids.iter().enumerate() {
        let (headers, body) = voided(n);
        assert_eq!(
            &after.accepted("acme", &headers, &body).await,
            id,
            "the same id"
        );
    }
    after.stop().await;
    let reference = w.records("reference.voided", 5);

    let dry = w.redrive_json(&["--from", "unrouted", "--dry-run"]);
    assert_eq!(dry["read"], 6);
    assert_eq!(dry["republished"]["acme.invoice.voided"], 5);
    assert_eq!(dry["still_unrouted"], 1);
    assert_eq!(w.records(VOIDED, 0).len(), 0, "a dry run publishes nothing");

    let first = w.redrive_json(&["--from", "unrouted"]);
    assert_eq!(first["read"], 6, "the dry run committed nothing: {first}");
    assert_eq!(first["republished"]["acme.invoice.voided"], 5);
    assert_eq!(first["still_unrouted"], 1, "counted, and left where it is");
    let redriven = w.records(VOIDED, 5);
    assert_eq!(redriven.len(), 5, "each once");
    assert_exact(&redriven, &reference, "webhooks.unrouted");
    assert_eq!(
        w.records("webhooks.unrouted", 6).len(),
        6,
        "nothing written back"
    );

    let second = w.redrive_json(&["--from", "unrouted"]);
    assert_eq!(
        second["read"], 0,
        "resumes where the first stopped: {second}"
    );
    assert_eq!(w.records(VOIDED, 5).len(), 5, "and republishes nothing");

    // --since repositions: the same events again, with the same ids.
    let again = w.redrive_json(&["--from", "unrouted", "--since", "1h"]);
    assert_eq!(again["republished"]["acme.invoice.voided"], 5, "{again}");
    let twice = w.records(VOIDED, 10);
    assert_eq!(twice.len(), 10);
    let mut seen: Vec<String> = twice.iter().map(id_of).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "duplicates carry the same id");
    let future = w.redrive_json(&["--from", "unrouted", "--since", "2999-01-01T00:00:00Z"]);
    // tansu answers a time after every record with an offset before them;
    // the records' own timestamps keep the window.
    assert_eq!(
        future["republished"],
        serde_json::json!({}),
        "nothing received since then: {future}"
    );
    assert_eq!(
        future["read"],
        future["skipped"]["outside_window"].as_u64().unwrap_or(0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_dead_letter_is_routed_under_a_corrected_definition_and_other_providers_are_skipped() {
    let w = World::new(&["reference.reports"]);
    let csv = b"name,size\nq3.csv,1204\n";
    let headers = json_headers(&[
        ("x-blob-signature", hmac_hex(BLOB, &[csv])),
        ("x-blob-event", "report.ready".to_owned()),
        ("x-blob-report", "q3".to_owned()),
        ("content-type", "text/csv".to_owned()),
    ]);
    let before = w.gateway("before.yaml", &[]).await;
    let id = before.accepted("blob", &headers, csv).await;
    let not_json = b"not json";
    let acme = json_headers(&[("x-acme-signature", hmac_hex(ACME, &[not_json]))]);
    before.accepted("acme", &acme, not_json).await;
    before.stop().await;
    let dead = w.records("webhooks.deadletter", 2);
    assert!(dead
        .iter()
        .all(|m| header(m, "x-deadletter-reason").as_deref() == Some("not_json")));

    let after = w
        .gateway(
            "after.yaml",
            &[(
                "GATEWAY_TOPIC_OVERRIDES",
                "blob.report.ready=reference.reports",
            )],
        )
        .await;
    assert_eq!(after.accepted("blob", &headers, csv).await, id);
    after.stop().await;
    let reference = w.records("reference.reports", 1);
    assert_eq!(value_json(&reference[0])["datacontenttype"], "text/csv");

    let run = w.redrive_json(&["--from", "deadletter", "--provider", "blob"]);
    assert_eq!(run["group"], "webhooks.deadletter.redrive.blob");
    assert_eq!(run["read"], 2);
    assert_eq!(run["republished"]["blob.report.ready"], 1, "{run}");
    assert_eq!(run["skipped"]["other_provider"], 1);
    let redriven = w.records(REPORTS, 1);
    assert_eq!(redriven.len(), 1);
    assert_exact(&redriven, &reference, "webhooks.deadletter");

    // acme's own group has not seen it: its dead letter still does not read.
    let acme_run = w.redrive_json(&["--from", "deadletter", "--provider", "acme"]);
    assert_eq!(acme_run["still_deadletter"], 1, "{acme_run}");
    assert_eq!(acme_run["skipped"]["other_provider"], 1);
    assert_eq!(
        w.records("webhooks.deadletter", 2).len(),
        2,
        "nothing written back"
    );
}

/// A batch body kept whole (its items not where the definition looked) is
/// re-driven as its items once the definition is fixed, every one of them;
/// one with an item the catalogue still does not route stays whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_whole_batch_body_is_redriven_only_when_every_item_reads() {
    let w = World::new(&[]);
    let whole: &[u8] = br#"{"entries":[{"kind":"entry.posted","entry":"e-1"},{"kind":"entry.posted","entry":"e-2"}]}"#;
    let partly: &[u8] = br#"{"entries":[{"kind":"entry.posted","entry":"e-3"},{"kind":"entry.reversed","entry":"e-4"}]}"#;
    let before = w.gateway("before.yaml", &[]).await;
    for body in [whole, partly] {
        let headers = json_headers(&[("x-ledger-signature", hmac_hex(LEDGER, &[body]))]);
        before.accepted("ledger", &headers, body).await;
    }
    before.stop().await;
    let dead = w.records("webhooks.deadletter", 2);
    assert!(dead
        .iter()
        .all(|m| header(m, "x-deadletter-reason").as_deref() == Some("not_batch")));

    let run = w.redrive_json(&["--from", "deadletter", "--provider", "ledger"]);
    assert_eq!(run["read"], 2, "{run}");
    assert_eq!(run["republished"]["ledger.entry.posted"], 1, "{run}");
    assert_eq!(run["still_unrouted"], 1, "{run}");
    let posted = w.records("webhooks.ledger.entry.posted", 2);
    // Two keys, so two partitions: no order between them to assert.
    let mut subjects: Vec<String> = posted.iter().map(record_key).collect();
    subjects.sort();
    assert_eq!(
        subjects,
        ["e-1", "e-2"],
        "both items, none of the other body"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_redrive_killed_midway_and_started_again_loses_nothing() {
    let w = World::new(&[]);
    let before = w.gateway("before.yaml", &[]).await;
    const N: usize = 40;
    let mut ids = Vec::new();
    for n in 0..N {
        let (headers, body) = voided(n);
        ids.push(before.accepted("acme", &headers, &body).await);
    }
    before.stop().await;
    assert_eq!(w.records("webhooks.unrouted", N).len(), N);

    // Ten a second, committing every second: killed after twenty, about two
    // seconds in, so after its first commit and before its end.
    let mut slow = w
        .redrive(&["--from", "unrouted", "--rate", "10"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let watch = reader(&w.broker.bootstrap(), VOIDED);
    let (started, mut seen) = (Instant::now(), 0);
    while seen < 20 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the slow run republishes"
        );
        if let Some(Ok(_)) = watch.poll(Duration::from_millis(100)) {
            seen += 1;
        }
    }
    slow.kill().unwrap();
    slow.wait().unwrap();
    let partial = w.records(VOIDED, 20).len();
    assert!(partial < N, "killed mid-way ({partial} of {N})");

    let resumed = w.redrive_json(&["--from", "unrouted"]);
    let republished = resumed["republished"]["acme.invoice.voided"]
        .as_u64()
        .unwrap_or(0) as usize;
    assert!(
        republished < N,
        "resumed where the group stopped: {resumed}"
    );
    let all = w.records(VOIDED, N);
    let mut seen: Vec<String> = all.iter().map(id_of).collect();
    seen.sort();
    seen.dedup();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(seen, want, "every event, each duplicate under its own id");
}

#[test]
fn bad_arguments_exit_64_with_one_line() {
    let out = Command::new(binary())
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        .args(["redrive", "--from", "unrouted", "--provider", "nobody"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--provider"), "{stderr}");
    let out = Command::new(binary())
        .args(["redrive", "--from", "unrouted", "--since", "yesterday"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
}
