//! The run settings as clap sees them, typed. Each is a flag and an
//! environment variable (the flag wins), its variable, default and reader
//! taken from `settings`; secrets are never flags, which would show in the
//! process list.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, FromArgMatches};

use super::settings::*;
use super::values::{refused_setting, SettingArg};
use super::{invalid, ConfigError, Env, LogFormat};

/// `--dev` listens on loopback only and stops at once on Ctrl-C: a laptop, not a pod.
const DEV_LISTEN_ADDR: &str = "127.0.0.1:8080";
const DEV_ADMIN_ADDR: &str = "127.0.0.1:9090";
const DEV_SHUTDOWN_DELAY_SECS: &str = "0";

#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Run with an embedded Kafka-protocol broker and demo secrets (needs nothing else installed).
    #[arg(long)]
    pub dev: bool,
    /// Public listener for webhooks
    #[arg(
        long,
        value_name = "ADDR",
        default_value_if("dev", "true", DEV_LISTEN_ADDR)
    )]
    #[arg(setting = &GATEWAY_LISTEN_ADDR, value_parser = GATEWAY_LISTEN_ADDR.parser())]
    pub listen_addr: SocketAddr,
    /// Admin listener: /metrics, /healthz, /readyz
    #[arg(
        long,
        value_name = "ADDR",
        default_value_if("dev", "true", DEV_ADMIN_ADDR)
    )]
    #[arg(setting = &GATEWAY_ADMIN_ADDR, value_parser = GATEWAY_ADMIN_ADDR.parser())]
    pub admin_addr: SocketAddr,
    /// Largest accepted body in bytes; larger answers 413
    #[arg(long, value_name = "BYTES")]
    #[arg(setting = &GATEWAY_MAX_BODY_BYTES, value_parser = GATEWAY_MAX_BODY_BYTES.parser())]
    pub max_body_bytes: usize,
    /// Bytes all request bodies not yet verified may hold together; a body that does not fit within about a second answers 503
    #[arg(long, value_name = "BYTES")]
    #[arg(setting = &GATEWAY_MAX_BUFFERED_BYTES, value_parser = GATEWAY_MAX_BUFFERED_BYTES.parser())]
    pub max_buffered_bytes: usize,
    /// Time to receive a whole body in milliseconds; slower answers 408
    #[arg(long = "body-timeout-ms", value_name = "MS")]
    #[arg(setting = &GATEWAY_BODY_TIMEOUT_MS, value_parser = GATEWAY_BODY_TIMEOUT_MS.parser())]
    pub body_timeout: Duration,
    /// Time to receive a request's headers, and the idle time of a keep-alive connection, in seconds
    #[arg(long = "header-timeout-secs", value_name = "SECS")]
    #[arg(setting = &GATEWAY_HEADER_TIMEOUT_SECS, value_parser = GATEWAY_HEADER_TIMEOUT_SECS.parser())]
    pub header_timeout: Duration,
    /// How far a signed timestamp may be from now, either way, in seconds
    #[arg(long = "replay-tolerance-secs", value_name = "SECS")]
    #[arg(setting = &GATEWAY_REPLAY_TOLERANCE_SECS, value_parser = GATEWAY_REPLAY_TOLERANCE_SECS.parser())]
    pub replay_tolerance: Duration,
    /// Time to wait for the broker's ack before answering 503, in milliseconds
    #[arg(long = "publish-timeout-ms", value_name = "MS")]
    #[arg(setting = &GATEWAY_PUBLISH_TIMEOUT_MS, value_parser = GATEWAY_PUBLISH_TIMEOUT_MS.parser())]
    pub publish_timeout: Duration,
    /// Requests awaiting publish at once; beyond it answers 503 at once
    #[arg(long, value_name = "N")]
    #[arg(setting = &GATEWAY_MAX_INFLIGHT, value_parser = GATEWAY_MAX_INFLIGHT.parser())]
    pub max_inflight: usize,
    /// Open connections on the public port; further connections wait in the accept backlog
    #[arg(long, value_name = "N")]
    #[arg(setting = &GATEWAY_MAX_CONNECTIONS, value_parser = GATEWAY_MAX_CONNECTIONS.parser())]
    pub max_connections: usize,
    /// Async worker threads (HTTP, verify, publish) [default: one fewer than the CPUs available, at least 1]
    #[arg(long, value_name = "N")]
    #[arg(setting = &GATEWAY_WORKER_THREADS, value_parser = GATEWAY_WORKER_THREADS.parser())]
    pub worker_threads: Option<usize>,
    /// Topic name prefix: topics are <prefix>.<type>
    #[arg(long, value_name = "PREFIX")]
    #[arg(setting = &GATEWAY_TOPIC_PREFIX, value_parser = GATEWAY_TOPIC_PREFIX.parser())]
    pub topic_prefix: String,
    /// Per-type topics, comma-separated TYPE=TOPIC (TYPE: a canonical type, unrouted or deadletter) [default: none]
    #[arg(long, value_name = "TYPE=TOPIC,...")]
    #[arg(setting = &GATEWAY_TOPIC_OVERRIDES, value_parser = GATEWAY_TOPIC_OVERRIDES.parser())]
    pub topic_overrides: Option<BTreeMap<String, String>>,
    /// After SIGTERM, keep serving this long (readiness already 503) before closing the listener, in seconds
    #[arg(
        long = "shutdown-delay-secs",
        value_name = "SECS",
        default_value_if("dev", "true", DEV_SHUTDOWN_DELAY_SECS)
    )]
    #[arg(setting = &GATEWAY_SHUTDOWN_DELAY_SECS, value_parser = GATEWAY_SHUTDOWN_DELAY_SECS.parser())]
    pub shutdown_delay: Duration,
    /// From SIGTERM to exit at the latest: drain, flush the producer, in seconds
    #[arg(long = "shutdown-grace-secs", value_name = "SECS")]
    #[arg(setting = &GATEWAY_SHUTDOWN_GRACE_SECS, value_parser = GATEWAY_SHUTDOWN_GRACE_SECS.parser())]
    pub shutdown_grace: Duration,
    /// How often secret files (*_FILE) are checked for changes, in seconds
    #[arg(long = "secret-reload-secs", value_name = "SECS")]
    #[arg(setting = &GATEWAY_SECRET_RELOAD_SECS, value_parser = GATEWAY_SECRET_RELOAD_SECS.parser())]
    pub secret_reload: Duration,
    /// YAML file of provider definitions, added to the built-in m2m and transfers [default: none]
    #[arg(long, value_name = "FILE")]
    #[arg(setting = &GATEWAY_PROVIDERS_FILE, value_parser = GATEWAY_PROVIDERS_FILE.parser())]
    pub providers_file: Option<PathBuf>,
    /// Log format: json or text
    #[arg(long, value_name = "FORMAT")]
    #[arg(setting = &LOG_FORMAT, value_parser = LOG_FORMAT.parser())]
    pub log_format: LogFormat,
}

impl RunArgs {
    /// The settings from `flags`, else `env`, else their defaults: what clap
    /// makes of a command line and the process's environment, made of a map
    /// handed in instead (subcommands that take no run flags, and tests).
    pub fn from_flags_and_env(flags: &[&str], env: &Env) -> Result<RunArgs, ConfigError> {
        let command = RunArgs::augment_args(clap::Command::new("webhook-gateway"));
        // Each variable set in `env` becomes its flag, before the real flags:
        // a later occurrence overrides an earlier one.
        let mut argv = vec!["webhook-gateway".to_owned()];
        for arg in command.get_arguments() {
            let var = arg.get_env().and_then(|v| v.to_str());
            if let (Some(value), Some(long)) = (var.and_then(|v| env.get(v)), arg.get_long()) {
                argv.push(format!("--{long}={value}"));
            }
        }
        argv.extend(flags.iter().map(|f| f.to_string()));
        // The map is the environment: the process's own is never read here.
        let command = command
            .args_override_self(true)
            .mut_args(|a| a.env(None::<&str>));
        let refused = |e: clap::Error| match refused_setting(&e) {
            Some(e) => e.clone(),
            None => invalid("flags", e.to_string().lines().next().unwrap_or_default()),
        };
        let matches = command.try_get_matches_from(argv).map_err(refused)?;
        RunArgs::from_arg_matches(&matches).map_err(refused)
    }
}
