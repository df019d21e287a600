//! The run settings' flags. clap parses them as text and nothing else (it
//! never reads the environment); [`super::Settings::read`] reads each as its
//! variable is read, the flag winning. Each flag's name, variable and default
//! come from `settings`; secrets are never flags, which would show in the
//! process list.

use std::path::PathBuf;

use clap::Args;

use super::table::*;
use super::values::SettingArg;

#[derive(Args, Debug, Clone, Default)]
pub struct RunFlags {
    /// Run with an embedded Kafka-protocol broker and demo secrets (needs nothing else installed).
    #[arg(long)]
    pub dev: bool,
    /// Public listener for webhooks
    #[arg(value_name = "ADDR", setting = &GATEWAY_LISTEN_ADDR)]
    pub listen_addr: Option<String>,
    /// Admin listener: /metrics, /healthz, /readyz
    #[arg(value_name = "ADDR", setting = &GATEWAY_ADMIN_ADDR)]
    pub admin_addr: Option<String>,
    /// Largest accepted body in bytes; larger answers 413
    #[arg(value_name = "BYTES", setting = &GATEWAY_MAX_BODY_BYTES)]
    pub max_body_bytes: Option<String>,
    /// Bytes all request bodies not yet verified may hold together; a body that does not fit within about a second answers 503
    #[arg(value_name = "BYTES", setting = &GATEWAY_MAX_BUFFERED_BYTES)]
    pub max_buffered_bytes: Option<String>,
    /// Time to receive a whole body in milliseconds; slower answers 408
    #[arg(value_name = "MS", setting = &GATEWAY_BODY_TIMEOUT_MS)]
    pub body_timeout: Option<String>,
    /// Time to receive a request's headers, and the idle time of a keep-alive connection, in seconds
    #[arg(value_name = "SECS", setting = &GATEWAY_HEADER_TIMEOUT_SECS)]
    pub header_timeout: Option<String>,
    /// How far a signed timestamp may be from now, either way, in seconds
    #[arg(value_name = "SECS", setting = &GATEWAY_REPLAY_TOLERANCE_SECS)]
    pub replay_tolerance: Option<String>,
    /// Time to wait for the broker's ack before answering 503, in milliseconds
    #[arg(value_name = "MS", setting = &GATEWAY_PUBLISH_TIMEOUT_MS)]
    pub publish_timeout: Option<String>,
    /// Requests awaiting publish at once; beyond it answers 503 at once
    #[arg(value_name = "N", setting = &GATEWAY_MAX_INFLIGHT)]
    pub max_inflight: Option<String>,
    /// Open connections on the public port; further connections wait in the accept backlog
    #[arg(value_name = "N", setting = &GATEWAY_MAX_CONNECTIONS)]
    pub max_connections: Option<String>,
    /// Async worker threads (HTTP, verify, publish) [default: one fewer than the CPUs available, at least 1]
    #[arg(value_name = "N", setting = &GATEWAY_WORKER_THREADS)]
    pub worker_threads: Option<String>,
    /// Topic name prefix: topics are <prefix>.<type>
    #[arg(value_name = "PREFIX", setting = &GATEWAY_TOPIC_PREFIX)]
    pub topic_prefix: Option<String>,
    /// Per-type topics, comma-separated TYPE=TOPIC (TYPE: a canonical type, unrouted or deadletter) [default: none]
    #[arg(value_name = "TYPE=TOPIC,...", setting = &GATEWAY_TOPIC_OVERRIDES)]
    pub topic_overrides: Option<String>,
    /// After SIGTERM, keep serving this long (readiness already 503) before closing the listener, in seconds
    #[arg(value_name = "SECS", setting = &GATEWAY_SHUTDOWN_DELAY_SECS)]
    pub shutdown_delay: Option<String>,
    /// From SIGTERM to exit at the latest: drain, flush the producer, in seconds
    #[arg(value_name = "SECS", setting = &GATEWAY_SHUTDOWN_GRACE_SECS)]
    pub shutdown_grace: Option<String>,
    /// How often secret files (*_FILE) are checked for changes, in seconds
    #[arg(value_name = "SECS", setting = &GATEWAY_SECRET_RELOAD_SECS)]
    pub secret_reload: Option<String>,
    /// YAML file of provider definitions, added to the built-in m2m and transfers [default: none]
    #[arg(value_name = "FILE", setting = &GATEWAY_PROVIDERS_FILE)]
    pub providers_file: Option<PathBuf>,
    /// Log format: json or text
    #[arg(value_name = "FORMAT", setting = &LOG_FORMAT)]
    pub log_format: Option<String>,
}

impl RunFlags {
    /// No flag but a subcommand's `--providers-file`: every other setting
    /// comes from the environment.
    pub fn providers_file(file: Option<PathBuf>) -> RunFlags {
        RunFlags {
            providers_file: file,
            ..RunFlags::default()
        }
    }
}
