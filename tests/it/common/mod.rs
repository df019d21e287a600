//! Shared test harness: a real tansu broker process, the gateway started
//! in-process on port 0, a plain HTTP/1.1 client over real sockets, a Kafka
//! reader, and signing written independently of the gateway's own code.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message, OwnedMessage};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use sha2::Sha256;
use tokio::sync::oneshot;
use webhook_gateway::settings::Config;
use webhook_gateway::Inputs;

pub mod faults;
pub mod processes;
pub mod records;
pub mod signers;

pub use processes::*;

pub const M2M_SECRET: &str = "m2m-test-secret";
pub const TRANSFERS_SECRET: &str = "transfers-test-token";

impl Broker {
    pub fn create_default_topics(&self) {
        for t in default_topics() {
            self.create_topic(&t);
        }
    }
}

/// The topics a gateway with default settings routes to (tests assert the
/// names themselves; this only creates them).
pub fn default_topics() -> Vec<String> {
    let defs = webhook_gateway::definitions::Definitions::builtin();
    webhook_gateway::engine::route::Topics::new(&defs.list, "webhooks", &Default::default())
        .unwrap()
        .all()
        .iter()
        .map(|t| t.to_string())
        .collect()
}

/// Gateway settings for tests: loopback on port 0, both providers enabled.
pub fn gateway_env(bootstrap: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = [
        ("KAFKA_BOOTSTRAP_SERVERS", bootstrap),
        ("GATEWAY_LISTEN_ADDR", "127.0.0.1:0"),
        ("GATEWAY_ADMIN_ADDR", "127.0.0.1:0"),
        ("GATEWAY_SHUTDOWN_DELAY_SECS", "0"),
        ("GATEWAY_SHUTDOWN_GRACE_SECS", "15"),
        ("M2M_WEBHOOK_SECRET", M2M_SECRET),
        ("TRANSFERS_SIGNATURE_TOKEN", TRANSFERS_SECRET),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

/// A gateway serving the built-ins and the providers file `providers`, its
/// topics created on `broker`, ready; `extra` are more settings (secrets).
/// The directory holds the file (`providers.yaml`) for as long as it lives.
pub async fn gateway_with_providers(
    broker: &Broker,
    providers: &str,
    extra: &[(&str, &str)],
) -> (Gateway, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.yaml");
    std::fs::write(&file, providers).unwrap();
    let mut env = extra.to_vec();
    env.push(("GATEWAY_PROVIDERS_FILE", file.to_str().unwrap()));
    let config = Config::from_env(&gateway_env(&broker.bootstrap(), &env))
        .expect("the providers file is valid");
    for topic in config.published.topics.all() {
        broker.create_topic(&topic);
    }
    let gateway = Gateway::start_config(config).await;
    gateway.wait_ready().await;
    (gateway, dir)
}

/// Waits until `/readyz` on `admin` answers 200 (the broker answered metadata).
pub async fn wait_ready(admin: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = get(admin, "/readyz").await {
            if r.status == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "gateway not ready within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// librdkafka's in-process mock cluster (one broker) with every default topic.
pub fn mock_cluster(
) -> rdkafka::mocking::MockCluster<'static, rdkafka::producer::DefaultProducerContext> {
    let cluster = rdkafka::mocking::MockCluster::new(1).expect("mock cluster");
    for topic in default_topics() {
        cluster
            .create_topic(&topic, PARTITIONS, 1)
            .expect("mock topic");
    }
    cluster
}

/// A gateway running in this process; shut down (and drained) when dropped or by `stop`.
pub struct Gateway {
    pub running: Option<webhook_gateway::Running>,
    pub public: SocketAddr,
    pub admin: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Gateway {
    pub async fn start(env: HashMap<String, String>) -> Gateway {
        let config = Config::from_env(&env).expect("test config");
        Gateway::start_config(config).await
    }

    /// Starts from a configuration already loaded (to change things between
    /// loading and starting).
    pub async fn start_config(config: Config) -> Gateway {
        Gateway::start_with(config, Inputs::default()).await
    }

    /// Starts from a configuration already loaded, reading the time and
    /// building producers with `inputs` (a fixed clock, injected faults).
    pub async fn start_with(config: Config, inputs: Inputs) -> Gateway {
        if std::env::var_os("TEST_LOG").is_some() {
            webhook_gateway::init_logging(webhook_gateway::settings::LogFormat::Text);
        }
        records::register(&config);
        let (tx, rx) = oneshot::channel::<()>();
        let running = webhook_gateway::start_with(config, inputs, async move {
            let _ = rx.await;
        })
        .await
        .expect("gateway starts");
        Gateway {
            public: running.public_addr,
            admin: running.admin_addr,
            running: Some(running),
            shutdown: Some(tx),
        }
    }

    /// Starts and waits until `/readyz` answers 200 (the broker answered metadata).
    pub async fn start_ready(env: HashMap<String, String>) -> Gateway {
        let gateway = Gateway::start(env).await;
        gateway.wait_ready().await;
        gateway
    }

    /// [`Gateway::start_ready`], reading the time and building producers
    /// with `inputs` (a fixed clock, injected faults).
    pub async fn start_ready_with(env: HashMap<String, String>, inputs: Inputs) -> Gateway {
        let config = Config::from_env(&env).expect("test config");
        let gateway = Gateway::start_with(config, inputs).await;
        gateway.wait_ready().await;
        gateway
    }

    pub async fn wait_ready(&self) {
        wait_ready(self.admin).await;
    }

    /// Starts the shutdown (as SIGTERM would) without waiting for it.
    pub fn signal_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// POSTs a webhook to `/webhooks/{provider}` over a real socket.
    pub async fn post(
        &self,
        provider: &str,
        headers: impl AsRef<[(String, String)]>,
        body: &[u8],
    ) -> Reply {
        let path = format!("/webhooks/{provider}");
        request(self.public, "POST", &path, headers.as_ref(), body.to_vec())
            .await
            .unwrap()
    }

    /// Posts, expects a 200, and returns the event id it answered with.
    pub async fn accepted(
        &self,
        provider: &str,
        headers: impl AsRef<[(String, String)]>,
        body: &[u8],
    ) -> String {
        self.answered(provider, headers, body, 200, "id").await
    }

    /// Posts, expects a 401, and returns its reason code.
    pub async fn refused(
        &self,
        provider: &str,
        headers: impl AsRef<[(String, String)]>,
        body: &[u8],
    ) -> String {
        self.answered(provider, headers, body, 401, "error").await
    }

    /// Posts, expects `status`, and returns the answer's JSON `field`.
    async fn answered(
        &self,
        provider: &str,
        headers: impl AsRef<[(String, String)]>,
        body: &[u8],
        status: u16,
        field: &str,
    ) -> String {
        let reply = self.post(provider, headers, body).await;
        assert_eq!(reply.status, status, "{provider}: {}", reply.text());
        reply.json()[field].as_str().unwrap().to_owned()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(running) = self.running.take() {
            running.wait().await;
        }
    }

    /// Waits until the producer has been replaced once (after an injected fatal error).
    pub async fn wait_for_replacement(&self, within: Duration) {
        let deadline = Instant::now() + within;
        while self.metric("kafka_producer_replacements_total").await < 1.0 {
            assert!(
                Instant::now() < deadline,
                "the dead producer was not replaced within {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// One sample's value from `/metrics`, matched by name and exact label set text.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = get(self.admin, "/metrics").await.expect("scrape").text();
        metric_value(&text, series)
    }
}

/// The value of one series, matched by name and exact label text. A series
/// that is not there is a failure, not a zero: a renamed metric or a wrong
/// label order must not pass an assertion of 0.
pub fn metric_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| {
            l.strip_prefix(series)
                .and_then(|rest| rest.strip_prefix(' '))
        })
        .map(|v| v.trim().parse().expect("a number"))
        .unwrap_or_else(|| panic!("no series {series} in the scrape"))
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("JSON body, got {:?}", self.text()))
    }
}

/// One request on a fresh connection.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<Reply, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let mut builder = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    for (k, v) in headers {
        builder = builder.header(k, v);
    }
    let request = builder.body(Full::new(Bytes::from(body))).unwrap();
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok(Reply {
        status,
        headers,
        body,
    })
}

pub async fn get(addr: SocketAddr, path: &str) -> Result<Reply, String> {
    request(addr, "GET", path, &[], Vec::new()).await
}

pub fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), parts))
}

/// The tests' own HMACs, computed from the schemes' description and never
/// with the gateway's signer.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    hmac_of::<Hmac<Sha256>>(key, parts)
}

pub fn hmac_sha512(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    hmac_of::<Hmac<sha2::Sha512>>(key, parts)
}

fn hmac_of<M: Mac + hmac::digest::KeyInit>(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <M as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Standard base64, as the schemes that use it write signatures and secrets.
pub fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Request headers from `pairs`, with a JSON content type.
pub fn json_headers(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .chain([("content-type".to_string(), "application/json".to_string())])
        .collect()
}

/// A record's key as text.
pub fn record_key(m: &OwnedMessage) -> String {
    String::from_utf8(m.key().unwrap().to_vec()).unwrap()
}

/// A record's `data` exactly as written (not re-serialised).
pub fn data_text(m: &OwnedMessage) -> String {
    #[derive(serde::Deserialize)]
    struct Data<'a> {
        #[serde(borrow)]
        data: &'a serde_json::value::RawValue,
    }
    let d: Data = serde_json::from_slice(m.payload().unwrap()).unwrap();
    d.data.get().to_owned()
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn m2m_headers(body: &[u8]) -> Vec<(String, String)> {
    let ts = now_secs().to_string();
    let sig = hmac_hex(M2M_SECRET, &[ts.as_bytes(), b".", body]);
    vec![
        ("content-type".into(), "application/json".into()),
        ("x-m2m-timestamp".into(), ts),
        ("x-m2m-signature".into(), sig),
    ]
}

pub fn transfers_headers(body: &[u8]) -> Vec<(String, String)> {
    vec![
        ("content-type".into(), "application/json".into()),
        (
            "x-transfers-signature".into(),
            hmac_hex(TRANSFERS_SECRET, &[body]),
        ),
    ]
}

/// POSTs a correctly signed webhook for `provider`.
pub async fn send_signed(addr: SocketAddr, provider: &str, body: &[u8]) -> Result<Reply, String> {
    let headers = match provider {
        "m2m" => m2m_headers(body),
        "transfers" => transfers_headers(body),
        other => panic!("unknown provider {other}"),
    };
    request(
        addr,
        "POST",
        &format!("/webhooks/{provider}"),
        &headers,
        body.to_vec(),
    )
    .await
}

/// Reads `topic` from the beginning until `expected` records arrived or
/// `within` passed, and returns them (fewer on time-out: callers assert).
/// Each is kept for the contract check (`records`).
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    within: Duration,
) -> Vec<OwnedMessage> {
    read_topic_with(reader_config(bootstrap), topic, expected, within)
}

/// As [`read_topic`], as a client with these settings (an authenticated one).
pub fn read_topic_with(
    config: ClientConfig,
    topic: &str,
    expected: usize,
    within: Duration,
) -> Vec<OwnedMessage> {
    let bootstrap = config
        .get("bootstrap.servers")
        .expect("bootstrap.servers")
        .to_owned();
    let consumer = assigned(config, topic);
    let deadline = Instant::now() + within;
    let mut out = Vec::new();
    while out.len() < expected && Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(100)) {
            out.push(message.detach());
        }
    }
    records::keep(&bootstrap, &out);
    out
}

/// A consumer assigned to every partition of `topic`, from the beginning
/// (no consumer group coordination: tests read, they never commit).
pub fn reader(bootstrap: &str, topic: &str) -> BaseConsumer {
    assigned(reader_config(bootstrap), topic)
}

/// A reader's settings: `bootstrap`, no commits, no end-of-partition events.
pub fn reader_config(bootstrap: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "webhook-gateway-tests")
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false");
    config
}

/// A consumer with `config` assigned to every partition of `topic`, from the beginning.
pub fn assigned(config: ClientConfig, topic: &str) -> BaseConsumer {
    assigned_to(config, &[topic])
}

/// A consumer with `config` assigned to every partition of each of `topics`,
/// from the beginning.
pub fn assigned_to(config: ClientConfig, topics: &[&str]) -> BaseConsumer {
    let consumer: BaseConsumer = config.create().expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for topic in topics {
        for p in 0..PARTITIONS {
            assignment
                .add_partition_offset(topic, p, Offset::Beginning)
                .unwrap();
        }
    }
    consumer.assign(&assignment).expect("assign");
    consumer
}

/// Exactly `expected` records read from `topic` (within 20 s), by event id.
pub fn records_by_id(
    bootstrap: &str,
    topic: &str,
    expected: usize,
) -> HashMap<String, OwnedMessage> {
    let got = read_topic(bootstrap, topic, expected, Duration::from_secs(20));
    assert_eq!(got.len(), expected, "{topic}");
    got.into_iter()
        .map(|m| (header(&m, "event-id").expect("event-id"), m))
        .collect()
}

pub fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

pub fn value_json(message: &OwnedMessage) -> serde_json::Value {
    serde_json::from_slice(message.payload().expect("a value")).expect("JSON value")
}

/// Serialises timing-sensitive tests within one test binary (they share CPU
/// and their bounds assume no neighbour is hammering the machine).
pub async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    static LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    LOCK.lock().await
}

/// The gateway binary built for this test run.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_webhook-gateway")
}

/// A gateway binary run as a subprocess (for signals, exit codes, logs and RSS).
pub struct Process {
    pub child: std::process::Child,
    pub public: SocketAddr,
    pub admin: SocketAddr,
}

impl Process {
    pub fn start(env: &HashMap<String, String>, stderr: Stdio) -> Process {
        records::register_env(env);
        let public: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let admin: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = Command::new(binary())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env)
            .env("GATEWAY_LISTEN_ADDR", public.to_string())
            .env("GATEWAY_ADMIN_ADDR", admin.to_string())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start the gateway binary");
        Process {
            child,
            public,
            admin,
        }
    }

    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = get(self.admin, "/readyz").await {
                if r.status == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "gateway process not ready within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the process answers on its admin port (alive, maybe not ready).
    pub async fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while get(self.admin, "/healthz").await.is_err() {
            assert!(
                Instant::now() < deadline,
                "gateway process not listening within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Everything the process wrote to its piped stderr, once it has exited
    /// (or been signalled to).
    pub fn stderr_to_end(&mut self) -> String {
        use std::io::Read;
        let mut logs = String::new();
        self.child
            .stderr
            .take()
            .expect("started with Stdio::piped()")
            .read_to_string(&mut logs)
            .expect("UTF-8 logs");
        logs
    }

    /// Everything the process writes to its piped stderr, read as it comes
    /// (a chatty process must never block on a full pipe), once it has exited.
    pub fn stderr_in_background(&mut self) -> std::thread::JoinHandle<String> {
        use std::io::Read;
        let mut stderr = self
            .child
            .stderr
            .take()
            .expect("started with Stdio::piped()");
        std::thread::spawn(move || {
            let mut logs = String::new();
            stderr.read_to_string(&mut logs).expect("UTF-8 logs");
            logs
        })
    }

    /// Resident set size in KiB, from /proc.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.child.id()).expect("VmRSS")
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Transfers `Payment.Status` body, distinct for each `n`.
pub fn transfers_body(n: usize) -> Vec<u8> {
    format!(r#"{{"event":"Payment.Status","data":{{"status":"Completed","userId":"u","paymentReference":"p-{n}","amount":{n}.00}}}}"#)
        .into_bytes()
}
