//! The consumer contract as a consumer meets it: the committed document is
//! the generated one, the official AsyncAPI parser accepts every document the
//! gateway generates, the admin port serves the deployment's document, a bad
//! `schema:` file stops start-up, `--check` flags breaking changes, and the
//! consumer example of docs/consuming.md reads, checks and uses records from a
//! real broker.
//! (That every record the suite reads validates against its contract is
//! checked by the test command: `common::records`.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::*;

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(binary())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run the gateway binary")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("UTF-8")
}

/// A providers file using what the built-ins do not: a `schema:` file, a
/// `body: any` provider with a delivery id, a shared `topic:`, a header-named event.
fn rich_providers(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir.join("schemas")).unwrap();
    std::fs::write(
        dir.join("schemas/invoice.json"),
        r#"{"$schema": "http://json-schema.org/draft-07/schema#", "$id": "https://acme.example/invoice.json",
            "title": "Invoice", "type": "object", "required": ["invoiceId"],
            "properties": {"invoiceId": {"type": "string"}, "total": {"type": "number"},
                           "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}}}}"#,
    )
    .unwrap();
    let path = dir.join("providers.yaml");
    std::fs::write(
        &path,
        r#"
providers:
  - name: acme
    preset: standard-webhooks
    secret: {env: ACME_WEBHOOK_SECRET, encoding: whsec}
    body: any
    events:
      - name: invoice.paid
        when: {/data/status: "paid"}
        type: acme.invoice.paid
        subject: /data/invoiceId
        topic: billing.invoices
        schema: schemas/invoice.json
      - {name: invoice.sent, type: acme.invoice.sent, subject: /data/invoiceId, topic: billing.invoices}
  - name: hub
    preset: github
    secret: {env: HUB_SECRET}
    events:
      - {name: push, type: hub.push, subject: /after}
"#,
    )
    .unwrap();
    path
}

#[test]
fn the_committed_document_is_the_one_the_built_ins_generate() {
    let out = run(&["contract"], &[]);
    assert!(out.status.success(), "{out:?}");
    let committed_path = repo().join("contract/asyncapi.json");
    let committed = std::fs::read_to_string(&committed_path).expect("contract/asyncapi.json");
    if stdout(&out) != committed {
        let check = run(
            &["contract", "--check", committed_path.to_str().unwrap()],
            &[],
        );
        panic!(
            "contract/asyncapi.json differs from what the gateway generates. Review the changes below \
             (a breaking one needs a major version in contract/CHANGELOG.md), then run\n  \
             cargo run -q -- contract > contract/asyncapi.json\n{}",
            stdout(&check)
        );
    }
}

/// The official parser (`scripts/contract/parse-asyncapi.mjs`, installed by
/// the test command) fails on any diagnostic of error severity.
fn asyncapi_parser(files: &[&Path]) -> Output {
    let script = repo().join("scripts/contract/parse-asyncapi.mjs");
    let installed = repo().join("scripts/contract/node_modules/@asyncapi/parser");
    assert!(
        installed.is_dir(),
        "@asyncapi/parser is not installed in scripts/contract: run `bash scripts/test.sh`, which installs it"
    );
    Command::new("node")
        .arg(&script)
        .args(files)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run node ({e}): run `bash scripts/test.sh`, which installs it")
        })
}

#[test]
#[ignore = "needs node and the npm AsyncAPI parser (scripts/contract): run by scripts/test.sh"]
fn the_official_asyncapi_parser_accepts_every_generated_document() {
    let dir = tempfile::tempdir().unwrap();
    let providers = rich_providers(dir.path());
    let out = run(
        &["contract"],
        &[
            ("GATEWAY_PROVIDERS_FILE", providers.to_str().unwrap()),
            ("GATEWAY_TOPIC_PREFIX", "wh"),
            (
                "GATEWAY_TOPIC_OVERRIDES",
                "m2m.operation.created=wh.ops,m2m.operation.cancelled=wh.ops,unrouted=wh.other",
            ),
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let rich = dir.path().join("rich.json");
    std::fs::write(&rich, &out.stdout).unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let shared: Vec<&String> = doc["channels"]["billing.invoices"]["messages"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(shared, ["acme.invoice.paid", "acme.invoice.sent"]);

    let committed = repo().join("contract/asyncapi.json");
    let parsed = asyncapi_parser(&[&committed, &rich]);
    let report = String::from_utf8_lossy(&parsed.stdout);
    assert!(
        parsed.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&parsed.stderr)
    );
    assert_eq!(
        report.matches(": ok, AsyncAPI 3.0.0").count(),
        2,
        "{report}"
    );

    // And the parser does fail: an operation naming a message its channel lacks.
    let mut broken = doc.clone();
    broken["channels"]["billing.invoices"]["messages"]
        .as_object_mut()
        .unwrap()
        .remove("acme.invoice.sent");
    let broken_path = dir.path().join("broken.json");
    std::fs::write(&broken_path, broken.to_string()).unwrap();
    let parsed = asyncapi_parser(&[&broken_path]);
    assert!(!parsed.status.success(), "{parsed:?}");
}

#[test]
fn a_schema_file_that_cannot_be_used_stops_start_up_naming_file_provider_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let providers = rich_providers(dir.path());
    std::fs::write(
        dir.path().join("schemas/invoice.json"),
        r#"{"type": "array"}"#,
    )
    .unwrap();
    let providers = providers.to_str().unwrap();
    let nowhere = format!("127.0.0.1:{}", free_port());
    for args in [&[][..], &["contract"][..]] {
        let out = run(
            args,
            &[
                ("GATEWAY_PROVIDERS_FILE", providers),
                ("KAFKA_BOOTSTRAP_SERVERS", &nowhere),
                ("GATEWAY_LISTEN_ADDR", "127.0.0.1:0"),
                ("GATEWAY_ADMIN_ADDR", "127.0.0.1:0"),
            ],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{args:?}: {stderr}");
        let line = stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{line}");
        for part in [
            &format!("GATEWAY_PROVIDERS_FILE={providers}"),
            "provider \"acme\"",
            "events[0].schema",
            "schemas/invoice.json",
            "always a JSON object",
        ] {
            assert!(
                line.contains(part),
                "{args:?}: `{part}` missing from {line}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_port_serves_the_deployments_contract() {
    let cluster = mock_cluster();
    let env = gateway_env(
        &cluster.bootstrap_servers(),
        &[
            ("GATEWAY_TOPIC_PREFIX", "deploy"),
            ("GATEWAY_TOPIC_OVERRIDES", "deadletter=deploy.dlq"),
        ],
    );
    let expected = {
        let config = webhook_gateway::settings::Config::from_env(&env).unwrap();
        webhook_gateway::contract::document(&config.published).unwrap()
    };
    let gateway = Gateway::start(env).await;
    let reply = get(gateway.admin, "/contract").await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["content-type"], "application/json");
    // Served compact: the same document as `contract` prints, without its indentation.
    assert_eq!(reply.json(), expected);
    assert!(!reply.text().contains('\n'), "compact JSON");
    let doc = reply.json();
    assert!(doc["channels"]["deploy.dlq"].is_object());
    assert!(doc["channels"]["deploy.m2m.link.created"].is_object());
    // Never on the public port.
    let public = get(gateway.public, "/contract").await.unwrap();
    assert_eq!(public.status, 404);
    gateway.stop().await;
}

#[test]
fn check_exits_1_on_a_change_that_breaks_consumers_and_0_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let committed = repo().join("contract/asyncapi.json");
    let out = run(&["contract", "--check", committed.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");

    // An old document with a type this configuration no longer publishes.
    let mut old: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&committed).unwrap()).unwrap();
    old["channels"]["webhooks.m2m.link.expired"] = serde_json::json!({
        "address": "webhooks.m2m.link.expired",
        "messages": {"m2m.link.expired": {"name": "m2m.link.expired", "payload": {"type": "object"}}}
    });
    let old_path = dir.path().join("old.json");
    std::fs::write(&old_path, old.to_string()).unwrap();
    let out = run(&["contract", "--check", old_path.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let report = stdout(&out);
    assert!(
        report.contains("breaking: channel `webhooks.m2m.link.expired` removed"),
        "{report}"
    );
    assert!(
        report.contains("breaking: `m2m.link.expired` removed"),
        "{report}"
    );

    // Adding a type is compatible.
    let out = run(
        &["contract", "--check", old_path.to_str().unwrap()],
        &[(
            "GATEWAY_PROVIDERS_FILE",
            rich_providers(dir.path()).to_str().unwrap(),
        )],
    );
    assert!(
        stdout(&out).contains("compatible: `hub.push` added"),
        "{out:?}"
    );

    let out = run(&["contract", "--check", "/nonexistent.json"], &[]);
    assert_eq!(out.status.code(), Some(64), "{out:?}");
}

#[test]
fn type_prints_one_records_schema_alone() {
    let out = run(&["contract", "--type", "transfers.payment.completed"], &[]);
    assert!(out.status.success(), "{out:?}");
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(schema["$schema"], "http://json-schema.org/draft-07/schema#");
    assert_eq!(
        schema["properties"]["type"]["const"],
        "transfers.payment.completed"
    );
    let out = run(&["contract", "--type", "transfers.payment.refunded"], &[]);
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("transfers.payment.failed"));
}

/// The Python of the test command's virtual environment (jsonschema,
/// confluent-kafka), or `CONTRACT_PYTHON`.
pub fn contract_python() -> PathBuf {
    let python = std::env::var_os("CONTRACT_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv-contract/bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/test.sh`, which creates it",
        python.display()
    );
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu and the Python tools (.venv-contract): run by scripts/test.sh"]
async fn the_documented_consumer_reads_checks_and_uses_records_from_the_broker() {
    let broker = Broker::start();
    broker.create_default_topics();
    let gateway = Gateway::start_ready(gateway_env(&broker.bootstrap(), &[])).await;
    let completed = br#"{"event":"Payment.Status","data":{"status":"Completed","userId":"u-7","paymentReference":"p-c1","amount":12345678901234567890.10}}"#;
    let failed = br#"{"event":"Payment.Status","data":{"status":"Failed","userId":"u-7","paymentReference":"p-f1","amount":5.00}}"#;
    let mut ids = Vec::new();
    for body in [&completed[..], &completed[..], &failed[..]] {
        let reply = send_signed(gateway.public, "transfers", body)
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
        ids.push(reply.json()["id"].as_str().unwrap().to_owned());
    }
    let contract = format!("http://{}/contract", gateway.admin);
    let bootstrap = broker.bootstrap();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(contract_python())
            .arg(repo().join("examples/consumer.py"))
            .args(["--bootstrap", &bootstrap, "--contract", &contract])
            .args(["--topic", "webhooks.transfers.payment.completed"])
            .args(["--topic", "webhooks.transfers.payment.failed"])
            .args([
                "--group",
                "readme-example",
                "--max-records",
                "3",
                "--timeout",
                "60",
            ])
            .output()
            .expect("run examples/consumer.py")
    })
    .await
    .unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stdout:\n{out}\nstderr:\n{err}");
    assert!(!err.contains("rejected"), "{err}");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            format!("duplicate {} skipped", ids[0]).as_str(),
            "payment p-c1 completed: 12345678901234567890.10 for user u-7",
            "payment p-f1 failed: 5.00 for user u-7",
        ],
        "the amount keeps every digit; the redelivery is recognised by its id"
    );
    // The records it read are the suite's too.
    let _ = read_topic(
        &broker.bootstrap(),
        "webhooks.transfers.payment.completed",
        2,
        Duration::from_secs(10),
    );
    gateway.stop().await;
}
