//! The run settings as clap sees them. Each is a flag and an environment
//! variable (the flag wins); secrets are never flags, which would show in the
//! process list.

use clap::Args;

#[derive(Args, Debug, Default, Clone)]
pub struct RunArgs {
    /// Run with an embedded Kafka-protocol broker and demo secrets (needs nothing else installed).
    #[arg(long)]
    pub dev: bool,
    /// Public listener for webhooks [default: 0.0.0.0:8080]
    #[arg(
        long,
        env = "GATEWAY_LISTEN_ADDR",
        hide_env_values = true,
        value_name = "ADDR"
    )]
    pub listen_addr: Option<String>,
    /// Admin listener: /metrics, /healthz, /readyz [default: 0.0.0.0:9090]
    #[arg(
        long,
        env = "GATEWAY_ADMIN_ADDR",
        hide_env_values = true,
        value_name = "ADDR"
    )]
    pub admin_addr: Option<String>,
    /// Largest accepted body in bytes; larger answers 413 [default: 262144]
    #[arg(
        long,
        env = "GATEWAY_MAX_BODY_BYTES",
        hide_env_values = true,
        value_name = "BYTES"
    )]
    pub max_body_bytes: Option<String>,
    /// Bytes all request bodies not yet verified may hold together; a body that does not fit within about a second answers 503 [default: 67108864]
    #[arg(
        long,
        env = "GATEWAY_MAX_BUFFERED_BYTES",
        hide_env_values = true,
        value_name = "BYTES"
    )]
    pub max_buffered_bytes: Option<String>,
    /// Time to receive a whole body; slower answers 408 [default: 10000]
    #[arg(
        long,
        env = "GATEWAY_BODY_TIMEOUT_MS",
        hide_env_values = true,
        value_name = "MS"
    )]
    pub body_timeout_ms: Option<String>,
    /// Time to receive a request's headers, and the idle time of a keep-alive connection [default: 75]
    #[arg(
        long,
        env = "GATEWAY_HEADER_TIMEOUT_SECS",
        hide_env_values = true,
        value_name = "SECS"
    )]
    pub header_timeout_secs: Option<String>,
    /// How far a signed timestamp may be from now, either way [default: 300]
    #[arg(
        long,
        env = "GATEWAY_REPLAY_TOLERANCE_SECS",
        hide_env_values = true,
        value_name = "SECS"
    )]
    pub replay_tolerance_secs: Option<String>,
    /// Time to wait for the broker's ack before answering 503 [default: 10000]
    #[arg(
        long,
        env = "GATEWAY_PUBLISH_TIMEOUT_MS",
        hide_env_values = true,
        value_name = "MS"
    )]
    pub publish_timeout_ms: Option<String>,
    /// Requests awaiting publish at once; beyond it answers 503 at once [default: 1024]
    #[arg(
        long,
        env = "GATEWAY_MAX_INFLIGHT",
        hide_env_values = true,
        value_name = "N"
    )]
    pub max_inflight: Option<String>,
    /// Open connections on the public port; further connections wait in the accept backlog [default: 4096]
    #[arg(
        long,
        env = "GATEWAY_MAX_CONNECTIONS",
        hide_env_values = true,
        value_name = "N"
    )]
    pub max_connections: Option<String>,
    /// Topic name prefix: topics are <prefix>.<type> [default: webhooks]
    #[arg(
        long,
        env = "GATEWAY_TOPIC_PREFIX",
        hide_env_values = true,
        value_name = "PREFIX"
    )]
    pub topic_prefix: Option<String>,
    /// Per-type topics, comma-separated TYPE=TOPIC (TYPE: a canonical type, unrouted or deadletter) [default: none]
    #[arg(
        long,
        env = "GATEWAY_TOPIC_OVERRIDES",
        hide_env_values = true,
        value_name = "TYPE=TOPIC,..."
    )]
    pub topic_overrides: Option<String>,
    /// After SIGTERM, keep serving this long (readiness already 503) before closing the listener [default: 5]
    #[arg(
        long,
        env = "GATEWAY_SHUTDOWN_DELAY_SECS",
        hide_env_values = true,
        value_name = "SECS"
    )]
    pub shutdown_delay_secs: Option<String>,
    /// From SIGTERM to exit at the latest: drain, flush the producer [default: 30]
    #[arg(
        long,
        env = "GATEWAY_SHUTDOWN_GRACE_SECS",
        hide_env_values = true,
        value_name = "SECS"
    )]
    pub shutdown_grace_secs: Option<String>,
    /// How often secret files (*_FILE) are checked for changes [default: 10]
    #[arg(
        long,
        env = "GATEWAY_SECRET_RELOAD_SECS",
        hide_env_values = true,
        value_name = "SECS"
    )]
    pub secret_reload_secs: Option<String>,
    /// YAML file of provider definitions, added to the built-in m2m and transfers [default: none]
    #[arg(
        long,
        env = "GATEWAY_PROVIDERS_FILE",
        hide_env_values = true,
        value_name = "FILE"
    )]
    pub providers_file: Option<String>,
    /// Log format: json or text [default: text]
    #[arg(
        long,
        env = "LOG_FORMAT",
        hide_env_values = true,
        value_name = "FORMAT"
    )]
    pub log_format: Option<String>,
}
