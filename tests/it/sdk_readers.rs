//! The CloudEvents SDKs read the records as the gateway means them. Each SDK's
//! automatic Kafka reader, given records read back from a real broker, returns
//! the event's id, type, source, subject and `data` (the provider's object,
//! not the whole envelope; bytes for `data_base64`): for routed records of
//! both built-in providers, an unrouted one and a `body: any` one. A dead
//! letter is no CloudEvent to either.
//!
//! The readers are `scripts/contract/read-with-sdk.mjs` (npm `cloudevents`,
//! `Kafka.toEvent`) and `scripts/contract/read_with_sdk.py` (PyPI
//! `cloudevents`, `from_kafka_event`), both pinned and installed by the test
//! command. The Python one picks binary mode on any `ce_` header: the control
//! at the end shows that a record with contract 1.x's `ce_` headers fails this
//! check, which is why the filter headers left that prefix (contract 2.0.0).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::common::records;
use crate::common::*;
use crate::configured::{self, BLOBBY};
use crate::contract::{contract_python, repo};

/// A record read back, and the event the gateway means it to carry, as the
/// readers print what a consumer gets (`null`: the SDK must refuse it).
struct Case {
    what: &'static str,
    record: Value,
    meant: Value,
}

fn event(id: &str, ty: &str, provider: &str, subject: &str, data: Value) -> Value {
    json!({
        "id": id,
        "type": ty,
        "source": format!("/providers/{provider}"),
        "subject": subject,
        "data": data,
    })
}

/// The data a body sent: what `data` must be, parsed from the request, never
/// from the record.
fn data_of(body: &[u8]) -> Value {
    serde_json::from_slice::<Value>(body).unwrap()["data"].clone()
}

/// The only record on `topic` (the broker is this test's own), as the
/// checks outside Rust read it. Found without a header: the headers' names
/// are what this test judges.
fn only(s: &configured::Setup, topic: &str) -> Value {
    let records = read_topic(&s.broker.bootstrap(), topic, 1, Duration::from_secs(20));
    assert_eq!(records.len(), 1, "{topic}");
    records::to_json(&records[0])
}

/// Writes `records` one per line (the format both readers take).
fn write(dir: &Path, name: &str, records: &[&Value]) -> PathBuf {
    let path = dir.join(name);
    let lines: String = records.iter().map(|r| format!("{r}\n")).collect();
    std::fs::write(&path, lines).unwrap();
    path
}

/// What a reader made of each record: one JSON line per record, in order.
fn read_with(sdk: &str, mut command: Command, file: &Path, count: usize) -> Vec<Value> {
    let out = command
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("{sdk}: cannot run the reader ({e})"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{sdk}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(read.len(), count, "{sdk}: one line per record\n{stdout}");
    read
}

fn javascript_sdk(file: &Path, count: usize) -> Vec<Value> {
    let installed = repo().join("scripts/contract/node_modules/cloudevents");
    assert!(
        installed.is_dir(),
        "the npm cloudevents SDK is not installed in scripts/contract: run `bash scripts/test.sh`, which installs it"
    );
    let mut node = Command::new("node");
    node.arg(repo().join("scripts/contract/read-with-sdk.mjs"));
    read_with("npm cloudevents", node, file, count)
}

fn python_sdk(file: &Path, count: usize) -> Vec<Value> {
    let mut python = Command::new(contract_python());
    python.arg(repo().join("scripts/contract/read_with_sdk.py"));
    read_with("PyPI cloudevents", python, file, count)
}

/// Contract 1.x's names of the filter headers.
fn with_ce_headers(record: &Value) -> Value {
    let mut old = record.clone();
    for header in old["headers"].as_array_mut().unwrap() {
        let name = header[0].as_str().unwrap();
        let renamed = match name {
            "event-id" => "ce_id",
            "event-type" => "ce_type",
            "event-source" => "ce_source",
            "event-subject" => "ce_subject",
            "traceparent" => "ce_traceparent",
            other => other,
        };
        header[0] = renamed.into();
    }
    old
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu, npm and the Python tools (scripts/contract): run by scripts/test.sh"]
async fn both_sdks_automatic_readers_return_the_event_the_gateway_means() {
    // The built-ins and configured providers, `blobby` among them (`body: any`).
    let s = configured::setup().await;
    let public = s.gateway.public;
    let send = move |provider: &'static str, headers: Vec<(String, String)>, body: &[u8]| {
        let body = body.to_vec();
        async move {
            let reply = request(
                public,
                "POST",
                &format!("/webhooks/{provider}"),
                &headers,
                body,
            )
            .await
            .unwrap();
            assert_eq!(reply.status, 200, "{provider}: {}", reply.text());
            reply.json()["id"].as_str().unwrap().to_owned()
        }
    };

    let operation = br#"{"event":"operation.created","data":{"operationId":"op-7","referenceId":"user-7","amount":{"send":100.25,"receive":98.5,"fee":1.75},"status":"completed"}}"#;
    let operation_id = send("m2m", m2m_headers(operation), operation).await;

    // Traced: the record carries a `traceparent` header too, which must not
    // turn either reader to binary mode.
    let payment = br#"{"event":"Payment.Status","data":{"status":"Completed","userId":"user-7","paymentReference":"pay-7","amount":100.23}}"#;
    let mut traced = transfers_headers(payment);
    traced.push((
        "traceparent".into(),
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into(),
    ));
    let payment_id = send("transfers", traced, payment).await;

    let unknown = br#"{"event":"operation.archived","data":{"operationId":"op-8","note":"x"}}"#;
    let unknown_id = send("m2m", m2m_headers(unknown), unknown).await;

    let blob = b"\x89PNG\r\n\x1a\n not json at all";
    let blob_headers = vec![
        ("x-blobby-signature".to_string(), hmac_hex(BLOBBY, &[blob])),
        ("x-blobby-event".to_string(), "file.uploaded".to_string()),
        ("x-blobby-file".to_string(), "f-7".to_string()),
        ("content-type".to_string(), "image/png".to_string()),
    ];
    let blob_id = send("blobby", blob_headers, blob).await;

    let form = b"amount=100.23&status=Completed";
    let form_headers = vec![
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        (
            "x-transfers-signature".to_string(),
            hmac_hex(TRANSFERS_SECRET, &[form]),
        ),
    ];
    send("transfers", form_headers, form).await;

    let cases = [
        Case {
            what: "a routed M2M record",
            record: only(&s, "webhooks.m2m.operation.created"),
            meant: event(
                &operation_id,
                "m2m.operation.created",
                "m2m",
                "op-7",
                data_of(operation),
            ),
        },
        Case {
            what: "a routed Transfers record, traced",
            record: only(&s, "webhooks.transfers.payment.completed"),
            meant: event(
                &payment_id,
                "transfers.payment.completed",
                "transfers",
                "pay-7",
                data_of(payment),
            ),
        },
        Case {
            what: "an unrouted record",
            record: only(&s, "webhooks.unrouted"),
            meant: event(&unknown_id, "m2m.unknown", "m2m", "op-8", data_of(unknown)),
        },
        Case {
            what: "a data_base64 record (body: any)",
            record: only(&s, "webhooks.blobby.file.uploaded"),
            meant: json!({
                "id": blob_id,
                "type": "blobby.file.uploaded",
                "source": "/providers/blobby",
                "subject": "f-7",
                "data_bytes": b64(blob),
            }),
        },
        Case {
            what: "a dead letter",
            record: only(&s, "webhooks.deadletter"),
            meant: Value::Null,
        },
    ];
    s.gateway.stop().await;

    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "records.jsonl",
        &cases.iter().map(|c| &c.record).collect::<Vec<_>>(),
    );
    for (sdk, read) in [
        ("npm cloudevents", javascript_sdk(&file, cases.len())),
        ("PyPI cloudevents", python_sdk(&file, cases.len())),
    ] {
        for (case, read) in cases.iter().zip(&read) {
            if case.meant.is_null() {
                assert!(
                    read.get("error").is_some(),
                    "{sdk}, {}: not a CloudEvent, yet read as {read}",
                    case.what
                );
            } else {
                assert_eq!(read, &case.meant, "{sdk}, {}", case.what);
            }
        }
    }

    // The control: the routed records again, with contract 1.x's `ce_`
    // headers. The JavaScript SDK still goes by the content type; the Python
    // SDK takes them for binary mode and hands over the whole envelope as
    // `data`, so the check above would fail on them.
    let routed = &cases[..2];
    let old: Vec<Value> = routed.iter().map(|c| with_ce_headers(&c.record)).collect();
    let file = write(
        dir.path(),
        "contract-1.jsonl",
        &old.iter().collect::<Vec<_>>(),
    );
    let javascript = javascript_sdk(&file, routed.len());
    let python = python_sdk(&file, routed.len());
    for (i, case) in routed.iter().enumerate() {
        assert_eq!(javascript[i], case.meant, "npm cloudevents, {}", case.what);
        let envelope: Value =
            serde_json::from_slice(&hex::decode(case.record["value"].as_str().unwrap()).unwrap())
                .unwrap();
        assert_eq!(
            python[i]["data"], envelope,
            "PyPI cloudevents, {}: with ce_ headers, data is the whole envelope",
            case.what
        );
        assert_ne!(python[i], case.meant, "PyPI cloudevents, {}", case.what);
    }
}
