//! The managed-Kafka path: production brokers (MSK, Confluent Cloud, Aiven,
//! Strimzi) authenticate and encrypt. Through the documented `KAFKA_*`
//! settings only, the password from `KAFKA_SASL_PASSWORD_FILE` as the chart
//! mounts it, against a real authenticating broker (tansu with
//! SASL/SCRAM-SHA-512) and a real TLS terminator (stunnel) in front of it:
//! webhooks acknowledged and read back by an authenticated client, `topics`
//! and `redrive` on the same broker, and the refusals (a wrong password, an
//! untrusted certificate) never ready, never a 2xx, named in the log. The
//! password appears in no log line, `--help` or error.

use std::collections::HashMap;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use rdkafka::message::Message;
use rdkafka::ClientConfig;

use crate::common::*;

const USER: &str = "webhook-gateway";
/// Distinctive, so that a log line holding it cannot be missed.
const PASSWORD: &str = "scram-canary-7c1e93d2";
const ACME: &str = "acme-managed-secret";
const PAID: &str = "webhooks.acme.invoice.paid";
const VOIDED: &str = "webhooks.acme.invoice.voided";

/// `acme` before its catalogue knew `invoice.voided`, and after.
fn definitions(fixed: bool) -> String {
    let voided = if fixed {
        "\n      - {name: invoice.voided, type: acme.invoice.voided, subject: /data/invoice}"
    } else {
        ""
    };
    format!(
        "providers:
  - name: acme
    secret: {{env: ACME_SECRET}}
    signature: {{header: x-acme-signature}}
    event: {{name: /type, data: /data}}
    events:
      - {{name: invoice.paid, type: acme.invoice.paid, subject: /data/invoice}}{voided}
"
    )
}

/// An authenticating broker, behind TLS or not, and the files a deployment
/// mounts: the password, the CA bundle, the definitions.
struct Managed {
    broker: Broker,
    tls: Option<TlsProxy>,
    dir: tempfile::TempDir,
}

impl Managed {
    fn start(tls: bool) -> Managed {
        let dir = tempfile::tempdir().unwrap();
        let proxy_port = tls.then(free_port);
        let broker = Broker::start_scram(dir.path().to_owned(), proxy_port, USER, PASSWORD);
        let tls = proxy_port.map(|port| TlsProxy::start(dir.path(), port, broker.port));
        let managed = Managed { broker, tls, dir };
        managed.write("password", PASSWORD);
        managed.write("before.yaml", &definitions(false));
        managed.write("after.yaml", &definitions(true));
        managed
    }

    fn write(&self, name: &str, content: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn file(&self, name: &str) -> String {
        self.dir.path().join(name).to_str().unwrap().to_owned()
    }

    /// The settings a deployment sets to reach this broker, the password
    /// read from `password_file`.
    fn settings(&self, password_file: &str) -> Vec<(String, String)> {
        let mut vars = vec![
            ("KAFKA_BOOTSTRAP_SERVERS", self.broker.bootstrap()),
            ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512".into()),
            ("KAFKA_SASL_USERNAME", USER.into()),
            ("KAFKA_SASL_PASSWORD_FILE", password_file.into()),
        ];
        match &self.tls {
            Some(proxy) => {
                vars.push(("KAFKA_SECURITY_PROTOCOL", "SASL_SSL".into()));
                vars.push(("KAFKA_SSL_CA_LOCATION", proxy.ca.display().to_string()));
            }
            None => vars.push(("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT".into())),
        }
        vars.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
    }

    /// A command of the binary with the deployment's settings and nothing else.
    fn command(&self, args: &[&str], definitions: &str) -> Command {
        let mut cmd = Command::new(binary());
        cmd.env_clear()
            .envs(self.settings(&self.file("password")))
            .env("GATEWAY_PROVIDERS_FILE", self.file(definitions))
            .env("RUST_LOG", "debug")
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// The gateway process, its logs piped for reading.
    fn gateway(&self, password_file: &str, extra: &[(&str, &str)]) -> Process {
        let mut env: HashMap<String, String> = self.settings(password_file).into_iter().collect();
        env.insert("GATEWAY_PROVIDERS_FILE".into(), self.file("before.yaml"));
        env.insert("ACME_SECRET".into(), ACME.into());
        env.insert("RUST_LOG".into(), "debug".into());
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        Process::start(&env, Stdio::piped())
    }

    /// A client that authenticates as the gateway does.
    fn client(&self) -> ClientConfig {
        let mut config = reader_config(&self.broker.bootstrap());
        for (k, v) in self.settings(&self.file("password")) {
            match k.as_str() {
                "KAFKA_SASL_PASSWORD_FILE" => config.set("sasl.password", PASSWORD),
                _ => config.set(k["KAFKA_".len()..].to_lowercase().replace('_', "."), v),
            };
        }
        config
    }

    fn read(&self, topic: &str, expected: usize) -> Vec<rdkafka::message::OwnedMessage> {
        let got = read_topic_with(self.client(), topic, expected, Duration::from_secs(20));
        assert_eq!(got.len(), expected, "{topic}");
        got
    }
}

fn signed(event: &str, invoice: &str) -> (Vec<(String, String)>, Vec<u8>) {
    let body = format!(r#"{{"type":"{event}","data":{{"invoice":"{invoice}"}}}}"#).into_bytes();
    let headers = json_headers(&[("x-acme-signature", hmac_hex(ACME, &[&body]))]);
    (headers, body)
}

async fn post(gateway: &Process, event: &str, invoice: &str) -> Reply {
    let (headers, body) = signed(event, invoice);
    request(gateway.public, "POST", "/webhooks/acme", &headers, body)
        .await
        .expect("an answer")
}

/// Runs a command to its end; fails the test, with its output, unless it succeeded.
fn succeeds(mut cmd: Command, what: &str) -> Output {
    let out = cmd.output().expect(what);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{what}: {stdout}\n{stderr}");
    assert!(
        !stdout.contains(PASSWORD) && !stderr.contains(PASSWORD),
        "{what} printed the password"
    );
    out
}

fn assert_no_password(logs: &str) {
    assert!(!logs.is_empty(), "no logs read");
    if let Some(line) = logs.lines().find(|l| l.contains(PASSWORD)) {
        panic!("a log line holds the password: {line}");
    }
}

/// The whole path a deployment takes: topics created and checked, webhooks
/// acknowledged, read back, an unrouted one re-driven, all authenticated.
async fn the_managed_path(tls: bool) {
    let world = Managed::start(tls);

    succeeds(
        world.command(
            &[
                "topics",
                "create",
                "--partitions",
                "3",
                "--replication-factor",
                "1",
            ],
            "after.yaml",
        ),
        "topics create",
    );
    let check = succeeds(
        world.command(&["topics", "check"], "after.yaml"),
        "topics check",
    );
    let table = String::from_utf8_lossy(&check.stdout);
    assert!(table.contains(PAID) && table.contains(VOIDED), "{table}");
    assert!(!table.contains("MISSING"), "{table}");

    let mut gateway = world.gateway(&world.file("password"), &[]);
    let logs = gateway.stderr_in_background();
    gateway.wait_ready().await;
    let paid = post(&gateway, "invoice.paid", "inv-1").await;
    assert_eq!(paid.status, 200, "{}", paid.text());
    let voided = post(&gateway, "invoice.voided", "inv-2").await;
    assert_eq!(voided.status, 200, "{}", voided.text());
    signal(gateway.pid(), libc::SIGTERM);
    let _ = gateway.child.wait();
    assert_no_password(&logs.join().unwrap());

    let read = world.read(PAID, 1);
    assert_eq!(
        header(&read[0], "event-id"),
        paid.json()["id"].as_str().map(str::to_owned)
    );
    assert_eq!(value_json(&read[0])["data"]["invoice"], "inv-1");
    let unrouted = world.read("webhooks.unrouted", 1);
    assert_eq!(
        header(&unrouted[0], "event-id"),
        voided.json()["id"].as_str().map(str::to_owned)
    );

    // The re-driven record is checked against the contract of the definitions that route it.
    let mut after: HashMap<String, String> = world
        .settings(&world.file("password"))
        .into_iter()
        .collect();
    after.insert("GATEWAY_PROVIDERS_FILE".into(), world.file("after.yaml"));
    after.insert("ACME_SECRET".into(), ACME.into());
    records::register_env(&after);
    let redrive = succeeds(
        world.command(&["redrive", "--from", "unrouted", "--json"], "after.yaml"),
        "redrive",
    );
    let summary: serde_json::Value = serde_json::from_slice(&redrive.stdout).unwrap();
    assert_eq!(
        summary["republished"]["acme.invoice.voided"], 1,
        "{summary}"
    );
    let redriven = world.read(VOIDED, 1);
    assert_eq!(value_json(&redriven[0])["id"], voided.json()["id"]);
    assert!(redriven[0].payload().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn scram_sha_512_carries_webhooks_topics_and_redrive() {
    the_managed_path(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu, stunnel4 and openssl: run by scripts/test.sh"]
async fn sasl_ssl_through_a_tls_terminator_carries_the_same() {
    the_managed_path(true).await;
}

/// A gateway that cannot get through: it never becomes ready, a webhook is
/// never acknowledged, and the log says why without the password.
async fn refused(world: &Managed, password_file: &str, cause: &str) {
    let quick = [
        ("GATEWAY_PUBLISH_TIMEOUT_MS", "2000"),
        ("GATEWAY_SHUTDOWN_DELAY_SECS", "0"),
        ("GATEWAY_SHUTDOWN_GRACE_SECS", "5"),
    ];
    let mut gateway = world.gateway(password_file, &quick);
    let logs = gateway.stderr_in_background();
    gateway.wait_listening().await;
    let answer = post(&gateway, "invoice.paid", "inv-1").await;
    assert_eq!(answer.status, 503, "{}", answer.text());
    let deadline = Instant::now() + Duration::from_secs(8);
    while Instant::now() < deadline {
        let ready = get(gateway.admin, "/readyz").await.expect("admin answers");
        assert_eq!(ready.status, 503, "ready without getting through");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    signal(gateway.pid(), libc::SIGTERM);
    let _ = gateway.child.wait();
    let logs = logs.join().unwrap();
    assert_no_password(&logs);
    let wrong = std::fs::read_to_string(password_file).unwrap();
    assert!(
        !logs.contains(wrong.trim()),
        "a log line holds the password tried"
    );
    assert!(
        logs.to_lowercase().contains(cause),
        "no log line names the cause ({cause}):\n{logs}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_wrong_password_is_never_ready_and_says_authentication() {
    let world = Managed::start(false);
    let wrong = world.write("wrong-password", "not-the-canary-41f0\n");
    refused(&world, &wrong, "authentication").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu, stunnel4 and openssl: run by scripts/test.sh"]
async fn an_untrusted_certificate_is_never_ready_and_says_certificate() {
    let mut world = Managed::start(true);
    // The proxy's certificate, but clients trust another one.
    let (other, _) = self_signed(world.dir.path(), "other");
    world.tls.as_mut().unwrap().ca = other;
    refused(&world, &world.file("password"), "certificate").await;
}

/// The binary run with `args`, the setting `name` holding the password: its
/// status and everything it printed, which never holds the password.
fn printed_with(name: &str, args: &[&str], extra: &[(&str, &str)]) -> (Option<i32>, String) {
    let out = Command::new(binary())
        .env_clear()
        .env(name, PASSWORD)
        .env("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
        .env("M2M_WEBHOOK_SECRET", M2M_SECRET)
        .envs(extra.iter().copied())
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!text.contains(PASSWORD), "{name}, {args:?}: {text}");
    (out.status.code(), text)
}

/// Whatever the setting's name (the SASL password, a key's or a keystore's
/// password, an OAuth client secret, a misspelt property), its value is in
/// no `--help`, no configuration error and no start-up log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_setting_is_never_printed() {
    const NAMES: [&str; 6] = [
        "KAFKA_SASL_PASSWORD",
        "KAFKA_SSL_KEY_PASSWORD",
        "KAFKA_SSL_KEYSTORE_PASSWORD",
        "KAFKA_SASL_OAUTHBEARER_CLIENT_SECRET",
        "KAFKA_SSL_KEY_PEM",
        "KAFKA_SASL_PASSWROD",
    ];
    for name in NAMES {
        let (status, help) = printed_with(name, &["--help"], &[]);
        assert_eq!(status, Some(0), "{help}");
        // Set twice, by value and by file: the error names both variables, never the value.
        let twin = format!("{name}_FILE");
        for args in [
            &[][..],
            &["topics", "check"],
            &["redrive", "--from", "unrouted"],
        ] {
            let (status, error) = printed_with(name, args, &[(&twin, "/nonexistent")]);
            assert_eq!(status, Some(64), "{name}, {args:?}: {error}");
            assert!(error.contains(&twin), "{name}, {args:?}: {error}");
        }
    }
    // A property librdkafka does not know is refused by name alone.
    let (status, error) = printed_with("KAFKA_SASL_PASSWROD", &["topics", "check"], &[]);
    assert_eq!(status, Some(64), "{error}");
    assert!(error.contains("KAFKA_SASL_PASSWROD"), "{error}");

    // Accepted and started: the start-up log shows the settings, not the value.
    let broker_port = free_port();
    let env: HashMap<String, String> = [
        (
            "KAFKA_BOOTSTRAP_SERVERS",
            format!("127.0.0.1:{broker_port}"),
        ),
        ("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT".into()),
        ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512".into()),
        ("KAFKA_SASL_USERNAME", USER.into()),
        ("KAFKA_SASL_PASSWORD", PASSWORD.into()),
        ("M2M_WEBHOOK_SECRET", M2M_SECRET.into()),
        ("RUST_LOG", "debug".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let mut gateway = Process::start(&env, Stdio::piped());
    let logs = gateway.stderr_in_background();
    gateway.wait_listening().await;
    signal(gateway.pid(), libc::SIGTERM);
    let _ = gateway.child.wait();
    let logs = logs.join().unwrap();
    assert!(
        logs.contains("sasl.username"),
        "the start-up log shows the Kafka settings:\n{logs}"
    );
    assert_no_password(&logs);
}
