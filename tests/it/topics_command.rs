//! `webhook-gateway topics check|create` against a real broker.

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn topics_check_and_create_against_a_real_broker() {
    let broker = Broker::start();
    let run = |args: &[&str]| {
        std::process::Command::new(binary())
            .args(args)
            .env_clear()
            .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
            .output()
            .unwrap()
    };
    let check = run(&["topics", "check"]);
    let table = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{table}");
    assert_eq!(table.matches("MISSING").count(), 9, "{table}");

    let create = run(&[
        "topics",
        "create",
        "--partitions",
        "3",
        "--replication-factor",
        "1",
    ]);
    let table = String::from_utf8_lossy(&create.stdout);
    assert!(
        create.status.success(),
        "{table}\n{}",
        String::from_utf8_lossy(&create.stderr)
    );

    let check = run(&["topics", "check"]);
    let table = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{table}");
    assert!(!table.contains("MISSING"));
    assert_eq!(
        table.matches("replication factor 1 < 3").count(),
        9,
        "{table}"
    );
    assert!(table.contains("webhooks.m2m.operation.created"));
}

/// `topics` covers every topic of every defined provider, whether or not its
/// secret is set: it reads no secret at all (the topics Job may run without
/// them, and one that would not decode must not fail a topic check). Types,
/// a topic two types share, unrouted and dead letter alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn topics_cover_every_defined_provider_without_reading_secrets() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.yaml");
    std::fs::write(&file, crate::configured::PROVIDERS).unwrap();
    let file = file.to_str().unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        std::process::Command::new(binary())
            .args(args)
            .env_clear()
            .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
            // Not base64, as BASEY_SECRET must be: the gateway would exit 64.
            .env("BASEY_SECRET", "not base64!")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    };
    let mut expected = default_topics();
    expected.extend(
        [
            "shared.orders",
            "webhooks.basey.thing.made",
            "webhooks.fieldy.charge.ok",
            "webhooks.fieldy.charge.failed",
            "webhooks.multi.note.added",
            "webhooks.blobby.file.uploaded",
        ]
        .map(String::from),
    );
    let rows = |table: &str, status: &str| -> Vec<String> {
        table
            .lines()
            .filter(|l| l.contains(status))
            .map(|l| l.split_whitespace().next().unwrap().to_owned())
            .collect()
    };

    let check = run(&["topics", "check", "--providers-file", file], &[]);
    let table = String::from_utf8_lossy(&check.stdout);
    assert_eq!(check.status.code(), Some(1), "{table}{check:?}");
    let mut missing = rows(&table, "MISSING");
    missing.sort();
    expected.sort();
    assert_eq!(missing, expected, "{table}");

    // The variable works as the flag does.
    let create = run(
        &[
            "topics",
            "create",
            "--partitions",
            "3",
            "--replication-factor",
            "1",
        ],
        &[("GATEWAY_PROVIDERS_FILE", file)],
    );
    let table = String::from_utf8_lossy(&create.stdout);
    assert!(create.status.success(), "{table}{create:?}");

    let check = run(&["topics", "check"], &[("GATEWAY_PROVIDERS_FILE", file)]);
    let table = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{table}");
    let mut present = rows(&table, "replication factor 1 < 3");
    present.sort();
    assert_eq!(present, expected, "{table}");
}
