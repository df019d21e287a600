//! `--dev`: the whole product on one machine with nothing installed. An
//! embedded Kafka-protocol broker (librdkafka's mock cluster, on a real
//! loopback port), demo secrets, ready-to-paste signed requests, and a live
//! line for every record that lands.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use rdkafka::client::ClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{Headers, Message};
use rdkafka::mocking::MockCluster;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::definitions::compiled::SecretEncoding;
use crate::definitions::sample::{self, SampleError};
use crate::definitions::{Definition, Definitions};
use crate::engine::record::header::{DEADLETTER_REASON, EVENT_ID, EVENT_TYPE};
use crate::http::server::StartError;
use crate::settings::{is_service_link, Config, Env};
use crate::sign::shell_quote;

/// Partitions of each topic on the embedded broker.
pub const PARTITIONS: i32 = 3;

/// A provider's demo secret as its variable holds it: `dev-<name>-secret`,
/// encoded as the definition's `secret.encoding` reads it; for a public-key
/// scheme, the public half of its demo key pair ([`demo_key_pair`]).
pub fn demo_secret(def: &Definition) -> String {
    if def.signature.algorithm.is_public_key() {
        return demo_key_pair(def).public;
    }
    let text = format!("dev-{}-secret", def.name);
    let base64 = || base64::engine::general_purpose::STANDARD.encode(&text);
    match def.secret.encoding {
        SecretEncoding::Text | SecretEncoding::Hex | SecretEncoding::Pem => text.clone(),
        SecretEncoding::Base64 | SecretEncoding::Whpk => base64(),
        SecretEncoding::Whsec => format!("whsec_{}", base64()),
    }
}

/// A public-key provider's demo key pair, derived from its name (the same on
/// every run, so printed commands keep working): the private key as PKCS#8
/// PEM (what `sign --key-file` reads) and the public key as the definition's
/// `key.encoding` reads it. Demo only: anyone can derive it.
pub struct DemoKeyPair {
    pub private_pem: String,
    pub public: String,
}

pub fn demo_key_pair(def: &Definition) -> DemoKeyPair {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
    use sha2::Digest;
    let seed: [u8; 32] = sha2::Sha256::digest(format!("dev-{}-key", def.name)).into();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let pem_line = ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF;
    match def.signature.algorithm {
        crate::definitions::compiled::Algorithm::EcdsaP256 => {
            let key = p256::ecdsa::SigningKey::from_slice(&seed).expect("a demo scalar in range");
            let public = p256::PublicKey::from(key.verifying_key());
            DemoKeyPair {
                private_pem: p256::SecretKey::from(&key)
                    .to_pkcs8_pem(pem_line)
                    .expect("encodes")
                    .to_string(),
                public: match def.secret.encoding {
                    SecretEncoding::Pem => public.to_public_key_pem(pem_line).expect("encodes"),
                    SecretEncoding::Hex => hex::encode(public.to_sec1_bytes()),
                    _ => b64(public.to_public_key_der().expect("encodes").as_bytes()),
                },
            }
        }
        _ => {
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            let public = key.verifying_key();
            DemoKeyPair {
                private_pem: key.to_pkcs8_pem(pem_line).expect("encodes").to_string(),
                public: match def.secret.encoding {
                    SecretEncoding::Pem => public.to_public_key_pem(pem_line).expect("encodes"),
                    SecretEncoding::Base64 => b64(public.as_bytes()),
                    SecretEncoding::Whpk => format!("whpk_{}", b64(public.as_bytes())),
                    _ => hex::encode(public.as_bytes()),
                },
            }
        }
    }
}

/// Settings `--dev` would silently ignore: refuse them instead, so nobody
/// believes they are talking to their real Kafka with their real secrets.
/// Every defined provider's secret variables count, configured ones included.
pub fn ignored_settings(env: &Env, defs: &Definitions) -> Vec<String> {
    let mut found: Vec<String> = env
        .keys()
        .filter(|k| (k.starts_with("KAFKA_") && !is_service_link(k)) || defs.is_secret_variable(k))
        .cloned()
        .collect();
    found.sort();
    found
}

/// The environment the gateway runs with in dev mode: every defined provider
/// enabled with its demo secret.
pub fn dev_env(env: &Env, bootstrap: &str, defs: &Definitions) -> Env {
    let mut env = env.clone();
    env.insert("KAFKA_BOOTSTRAP_SERVERS".into(), bootstrap.into());
    for def in &defs.list {
        env.insert(def.secret.env.clone(), demo_secret(def));
        if let Some(token) = &def.handshake_secret {
            env.insert(token.env.clone(), demo_handshake_secret(def));
        }
    }
    env
}

/// A provider's demo `handshake_secret`: what its handshakes' token must be.
pub fn demo_handshake_secret(def: &Definition) -> String {
    format!("dev-{}-handshake", def.name)
}

/// A topic the embedded broker would not create.
#[derive(Debug, thiserror::Error)]
#[error("cannot create topic {topic}: {error}")]
pub struct CreateTopicError {
    pub topic: Arc<str>,
    pub error: KafkaError,
}

/// Creates each of `topics` on the embedded broker, [`PARTITIONS`] each.
pub fn create_topics<C: ClientContext>(
    cluster: &MockCluster<'_, C>,
    topics: &BTreeSet<Arc<str>>,
) -> Result<(), CreateTopicError> {
    for topic in topics {
        cluster
            .create_topic(topic, PARTITIONS, 1)
            .map_err(|error| CreateTopicError {
                topic: topic.clone(),
                error,
            })?;
    }
    Ok(())
}

/// Serves `config`, whose broker is the embedded one at `bootstrap` with
/// every topic created, until Ctrl-C: the banner first, then a line for each
/// record as it lands. `providers_file` as the printed commands name it.
pub async fn serve(
    config: Config,
    bootstrap: &str,
    defs: &Definitions,
    providers_file: Option<&Path>,
) -> Result<(), StartError> {
    let topics = config.published.topics.all();
    // Where the first printed command's record lands.
    let kcat_topic = defs.list.iter().find_map(|d| {
        let entry = sample::entry_reached(d, &sample::of(d).ok()?)?;
        Some(config.published.topics.of(&entry.type_name).clone())
    });
    let keys = DemoKeys::write(defs)
        .inspect_err(|e| {
            eprintln!("no demo key files ({e}): public-key senders' commands will need --key-file")
        })
        .ok();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = crate::start(config, async move {
        let _ = stop_rx.await;
    })
    .await?;
    print_banner(&Banner {
        public: running.public_addr,
        admin: running.admin_addr,
        bootstrap,
        topics: &topics,
        defs,
        providers_file,
        keys: keys.as_ref(),
        kcat_topic: kcat_topic.as_deref(),
    });
    let viewer = tokio::spawn(print_records(bootstrap.to_owned(), topics.clone()));
    let _ = tokio::signal::ctrl_c().await;
    println!("stopping…");
    let _ = stop_tx.send(());
    viewer.abort();
    running.wait().await;
    Ok(())
}

/// A command that signs `def`'s sample with its demo secret at the moment it
/// runs (so a signed timestamp is fresh whenever it is pasted) and posts it
/// with curl; `providers_file` for a configured provider, which `sign` must
/// read too. An error says why no sample can be built.
pub fn sample_command(
    exe: &str,
    def: &Definition,
    files: Files<'_>,
    url: &str,
) -> Result<String, SampleError> {
    let sample = sample::of(def)?;
    let mut command = format!(
        "printf '%s' {} | {}",
        shell_quote(&sample.body),
        sign_command(exe, def, files)
    );
    for (name, value) in &sample.headers {
        command.push_str(&format!(
            " --header {}",
            shell_quote(&format!("{name}: {value}"))
        ));
    }
    command.push_str(&format!(" --curl {} | sh", shell_word(url)));
    Ok(command)
}

/// A command that performs `def`'s handshake `name` against `url` as its
/// sender would (`sign --handshake`), with the demo secrets.
pub fn handshake_command(
    exe: &str,
    def: &Definition,
    name: &str,
    files: Files<'_>,
    url: &str,
) -> String {
    format!(
        "{} --handshake {} --curl {} | sh",
        sign_command(exe, def, files),
        shell_word(name),
        shell_word(url)
    )
}

/// The files a printed command names: the providers file (for a
/// configured provider, which `sign` must read too) and the directory of
/// the demo private keys (`DemoKeys`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Files<'a> {
    pub providers: Option<&'a Path>,
    pub keys: Option<&'a DemoKeys>,
}

/// The demo private keys of the public-key providers, each in a file `sign
/// --key-file` reads: written once at start, in a directory of the
/// gateway's own (mode 0700, created new, never followed through a link),
/// removed when `--dev` stops.
#[derive(Debug)]
pub struct DemoKeys {
    dir: std::path::PathBuf,
}

impl DemoKeys {
    pub fn write(defs: &Definitions) -> std::io::Result<DemoKeys> {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "webhook-gateway-dev-{}-{nanos}",
            std::process::id()
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let keys = DemoKeys { dir };
        for def in defs
            .list
            .iter()
            .filter(|d| d.signature.algorithm.is_public_key())
        {
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(keys.of(def))?
                .write_all(demo_key_pair(def).private_pem.as_bytes())?;
        }
        Ok(keys)
    }

    fn of(&self, def: &Definition) -> std::path::PathBuf {
        self.dir.join(format!("{}.pem", def.name))
    }
}

impl Drop for DemoKeys {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `exe sign <provider>` with the provider's demo secrets set as its
/// variables (and its demo private key's file for a public-key scheme).
fn sign_command(exe: &str, def: &Definition, files: Files<'_>) -> String {
    let mut command = format!("{}={} ", def.secret.env, shell_word(&demo_secret(def)));
    if let Some(token) = &def.handshake_secret {
        command.push_str(&format!(
            "{}={} ",
            token.env,
            shell_word(&demo_handshake_secret(def))
        ));
    }
    command.push_str(&format!("{} sign {}", shell_quote(exe), def.name));
    if let Some(file) = files.providers {
        command.push_str(&format!(
            " --providers-file {}",
            shell_word(&file.display().to_string())
        ));
    }
    // A public-key sender signs with a private key the gateway never holds:
    // the demo one, in a file `sign --key-file` reads.
    if let Some(keys) = files
        .keys
        .filter(|_| def.signature.algorithm.is_public_key())
    {
        command.push_str(&format!(
            " --key-file {}",
            shell_word(&keys.of(def).display().to_string())
        ));
    }
    command
}

/// `s` as one shell word: bare when nothing in it is special to the shell.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=+,@%".contains(&b));
    if plain {
        s.to_owned()
    } else {
        shell_quote(s)
    }
}

struct Banner<'a> {
    public: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    bootstrap: &'a str,
    topics: &'a BTreeSet<Arc<str>>,
    defs: &'a Definitions,
    providers_file: Option<&'a Path>,
    keys: Option<&'a DemoKeys>,
    /// Where the first provider's sample lands, for the kcat example.
    kcat_topic: Option<&'a str>,
}

fn print_banner(b: &Banner<'_>) {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "webhook-gateway".into());
    let public = b.public;
    let url = |provider: &str| format!("http://{public}/webhooks/{provider}");
    let column = |label: &str, items: Vec<String>| {
        for (i, item) in items.iter().enumerate() {
            let label = if i == 0 { label } else { "" };
            println!("  {label:<10} {item}");
        }
    };
    println!();
    println!("webhook-gateway --dev is running (Ctrl-C to stop)");
    println!();
    column(
        "webhooks",
        b.defs.list.iter().map(|d| url(&d.name)).collect(),
    );
    println!(
        "  admin      http://{}/metrics   /healthz   /readyz",
        b.admin
    );
    println!(
        "  kafka      {}   (embedded broker; {} topics, {PARTITIONS} partitions each)",
        b.bootstrap,
        b.topics.len()
    );
    column(
        "secrets",
        b.defs
            .list
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let note = if i == 0 { "   (demo only)" } else { "" };
                format!("{}={}{note}", d.secret.env, demo_secret(d))
            })
            .collect(),
    );
    for (i, def) in b.defs.list.iter().enumerate() {
        // The built-ins need no file: naming it would only lengthen their line.
        let file = b.providers_file.filter(|_| i >= b.defs.builtins);
        println!();
        println!("Send a signed {} webhook:", def.name);
        let files = Files {
            providers: file,
            keys: b.keys,
        };
        match sample_command(&exe, def, files, &url(&def.name)) {
            Ok(command) => println!("  {command}"),
            Err(why) => println!(
                "  (no sample: {why}; sign a body of your own with `{} sign {}`)",
                shell_quote(&exe),
                def.name
            ),
        }
        for h in &def.handshakes {
            println!("Perform its {} handshake:", h.name);
            let command = handshake_command(&exe, def, &h.name, files, &url(&def.name));
            println!("  {command}");
        }
    }
    if let Some(topic) = b.kcat_topic {
        println!();
        println!("Read a topic with kcat, if you have it:");
        println!(
            "  kcat -b {} -C -o beginning -t {topic} -f 'key=%k headers=%h\\n%s\\n'",
            b.bootstrap
        );
    }
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
                let ty = match header(EVENT_TYPE).as_str() {
                    "-" => format!("deadletter:{}", header(DEADLETTER_REASON)),
                    t => t.to_owned(),
                };
                println!(
                    "record  topic={} partition={} offset={} key={} type={} id={}",
                    m.topic(),
                    m.partition(),
                    m.offset(),
                    m.key().map(String::from_utf8_lossy).unwrap_or_default(),
                    ty,
                    header(EVENT_ID)
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
            ignored_settings(&env, &Definitions::builtin()),
            ["KAFKA_BOOTSTRAP_SERVERS", "M2M_WEBHOOK_SECRET_FILE"]
        );
    }
}
