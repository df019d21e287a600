//! `--dev`: the whole product on one machine with nothing installed. An
//! embedded Kafka-protocol broker (librdkafka's mock cluster, on a real
//! loopback port), demo secrets, ready-to-paste signed requests, and a live
//! line for every record that lands.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::config::{is_service_link, Config, Env, LogFormat, RunArgs};
use crate::providers::Definitions;
use crate::sign::shell_quote;

pub const DEMO_M2M_SECRET: &str = "dev-m2m-secret";
pub const DEMO_TRANSFERS_TOKEN: &str = "dev-transfers-token";
const PARTITIONS: i32 = 3;

const SAMPLE_M2M: &str = r#"{"event":"operation.created","data":{"operationId":"op-1001","referenceId":"user-42","amount":{"send":100.00,"receive":98.50,"fee":1.50},"status":"completed","createdAt":"2026-11-23T10:00:00Z"}}"#;
const SAMPLE_TRANSFERS: &str = r#"{"event":"Payment.Status","data":{"status":"Completed","userId":"user-42","paymentReference":"pay-2001","amount":100.23,"description":"Transaction Successful","senderAccountName":"Demo Sender","sourceAccountNumber":"0000000000","sourceBankCode":"000","destinationAccountNumber":"1111111111","destinationBankCode":"111"}}"#;

/// Settings `--dev` would silently ignore: refuse them instead, so nobody
/// believes they are talking to their real Kafka with their real secrets.
pub fn ignored_settings(env: &Env) -> Vec<String> {
    let secret = |var: &str| {
        Definitions::builtin().list.iter().any(|d| {
            let name = d.secret.env.as_str();
            var == name || var.strip_prefix(name) == Some("_FILE")
        })
    };
    let mut found: Vec<String> = env
        .keys()
        .filter(|k| (k.starts_with("KAFKA_") && !is_service_link(k)) || secret(k))
        .cloned()
        .collect();
    found.sort();
    found
}

/// The environment the gateway runs with in dev mode.
pub fn dev_env(env: &Env, bootstrap: &str) -> Env {
    let mut env = env.clone();
    env.insert("KAFKA_BOOTSTRAP_SERVERS".into(), bootstrap.into());
    env.insert("M2M_WEBHOOK_SECRET".into(), DEMO_M2M_SECRET.into());
    env.insert(
        "TRANSFERS_SIGNATURE_TOKEN".into(),
        DEMO_TRANSFERS_TOKEN.into(),
    );
    // Loopback only, and Ctrl-C stops at once: this is a laptop, not a pod.
    env.entry("GATEWAY_LISTEN_ADDR".into())
        .or_insert_with(|| "127.0.0.1:8080".into());
    env.entry("GATEWAY_ADMIN_ADDR".into())
        .or_insert_with(|| "127.0.0.1:9090".into());
    env.entry("GATEWAY_SHUTDOWN_DELAY_SECS".into())
        .or_insert_with(|| "0".into());
    env
}

pub fn main(args: RunArgs, env: Env) -> ExitCode {
    let ignored = ignored_settings(&env);
    if !ignored.is_empty() {
        eprintln!(
            "webhook-gateway --dev: refusing to start: {} would be ignored (--dev uses an embedded broker and demo secrets); unset them, or run without --dev",
            ignored.join(", ")
        );
        return ExitCode::from(crate::EX_USAGE);
    }
    let cluster = match MockCluster::new(1) {
        Ok(cluster) => cluster,
        Err(e) => {
            eprintln!("webhook-gateway --dev: cannot start the embedded broker: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bootstrap = cluster.bootstrap_servers();
    let config = match Config::from_sources(&args, &dev_env(&env, &bootstrap)) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("webhook-gateway --dev: configuration error: {e}");
            return ExitCode::from(crate::EX_USAGE);
        }
    };
    let topics = config.topics.all();
    for topic in &topics {
        if let Err(e) = cluster.create_topic(topic, PARTITIONS, 1) {
            eprintln!("webhook-gateway --dev: cannot create topic {topic}: {e}");
            return ExitCode::FAILURE;
        }
    }
    crate::init_logging(LogFormat::Text);

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    // The mock cluster lives on this thread's stack until the gateway has stopped.
    let result = runtime.block_on(async {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let running = crate::start(config, async move {
            let _ = stop_rx.await;
        })
        .await?;
        print_banner(running.public_addr, running.admin_addr, &bootstrap, &topics);
        let viewer = tokio::spawn(print_records(bootstrap.clone(), topics.clone()));
        let _ = tokio::signal::ctrl_c().await;
        println!("stopping…");
        let _ = stop_tx.send(());
        viewer.abort();
        running.wait().await;
        Ok::<(), crate::server::StartError>(())
    });
    drop(cluster);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("webhook-gateway --dev: {e}");
            ExitCode::FAILURE
        }
    }
}

/// A command that signs `body` with the demo secret at the moment it runs (so
/// M2M's timestamp is fresh whenever it is pasted) and posts it with curl.
pub fn sample_command(exe: &str, provider: &str, url: &str, body: &str) -> String {
    let (var, secret) = match provider {
        "m2m" => ("M2M_WEBHOOK_SECRET", DEMO_M2M_SECRET),
        _ => ("TRANSFERS_SIGNATURE_TOKEN", DEMO_TRANSFERS_TOKEN),
    };
    format!(
        "printf '%s' {} | {var}={secret} {} sign {provider} --curl {url} | sh",
        shell_quote(body),
        shell_quote(exe)
    )
}

fn print_banner(
    public: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    bootstrap: &str,
    topics: &BTreeSet<Arc<str>>,
) {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "webhook-gateway".into());
    let url = |provider: &str| format!("http://{public}/webhooks/{provider}");
    println!();
    println!("webhook-gateway --dev is running (Ctrl-C to stop)");
    println!();
    println!("  webhooks   http://{public}/webhooks/m2m   http://{public}/webhooks/transfers");
    println!("  admin      http://{admin}/metrics   /healthz   /readyz");
    println!(
        "  kafka      {bootstrap}   (embedded broker; {} topics, {PARTITIONS} partitions each)",
        topics.len()
    );
    println!("  secrets    M2M_WEBHOOK_SECRET={DEMO_M2M_SECRET}   TRANSFERS_SIGNATURE_TOKEN={DEMO_TRANSFERS_TOKEN}   (demo only)");
    println!();
    println!("Send a signed M2M webhook:");
    println!("  {}", sample_command(&exe, "m2m", &url("m2m"), SAMPLE_M2M));
    println!();
    println!("Send a signed Transfers webhook:");
    println!(
        "  {}",
        sample_command(&exe, "transfers", &url("transfers"), SAMPLE_TRANSFERS)
    );
    println!();
    println!("Read a topic with kcat, if you have it:");
    println!("  kcat -b {bootstrap} -C -o beginning -t webhooks.m2m.operation.created -f 'key=%k headers=%h\\n%s\\n'");
    println!();
    println!("Records appear below as they land:");
}

/// Consumes every routed topic from the start and prints one line per record.
async fn print_records(bootstrap: String, topics: BTreeSet<Arc<str>>) {
    let consumer: StreamConsumer = match ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .set("group.id", "webhook-gateway-dev-viewer")
        .set("enable.auto.commit", "false")
        .create()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("record viewer unavailable: {e}");
            return;
        }
    };
    let mut assignment = TopicPartitionList::new();
    for topic in &topics {
        for partition in 0..PARTITIONS {
            let _ = assignment.add_partition_offset(topic, partition, Offset::Beginning);
        }
    }
    if let Err(e) = consumer.assign(&assignment) {
        eprintln!("record viewer unavailable: {e}");
        return;
    }
    loop {
        match consumer.recv().await {
            Ok(m) => {
                let header = |name: &str| {
                    m.headers()
                        .and_then(|h| h.iter().find(|h| h.key == name).and_then(|h| h.value))
                        .map(|v| String::from_utf8_lossy(v).into_owned())
                        .unwrap_or_else(|| "-".into())
                };
                let ty = match header("ce_type").as_str() {
                    "-" => format!("deadletter:{}", header("x-deadletter-reason")),
                    t => t.to_owned(),
                };
                println!(
                    "record  topic={} partition={} offset={} key={} type={} id={}",
                    m.topic(),
                    m.partition(),
                    m.offset(),
                    m.key().map(String::from_utf8_lossy).unwrap_or_default(),
                    ty,
                    header("ce_id")
                );
            }
            Err(e) => {
                tracing::debug!(error = %e, "record viewer");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_settings_that_dev_would_ignore_are_listed() {
        let env: Env = [
            ("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092"),
            ("KAFKA_PORT", "tcp://10.0.0.1:9092"),
            ("M2M_WEBHOOK_SECRET_FILE", "/secrets/m2m"),
            ("GATEWAY_LISTEN_ADDR", "127.0.0.1:0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(
            ignored_settings(&env),
            ["KAFKA_BOOTSTRAP_SERVERS", "M2M_WEBHOOK_SECRET_FILE"]
        );
    }
}
