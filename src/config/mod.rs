//! Settings resolved from flags and the environment into one [`Config`]: each
//! value parsed and bounded, the providers' definitions and secrets loaded,
//! the producer's properties checked. Parsing takes the environment as a map,
//! so tests hand one in.
//!
//! - [`cli`]: the run settings as clap sees them
//! - [`secrets`]: provider secrets from variables and files
//! - [`kafka`]: the librdkafka passthrough
//! - `values`: one setting's text from its flag or variable, parsed and bounded

mod cli;
mod kafka;
mod secrets;
mod values;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub use cli::RunArgs;
pub use kafka::{is_service_link, KafkaSettings};
use secrets::load_secrets;
pub(crate) use secrets::split_secrets;
pub use secrets::{
    key_ring, parse_secret_file, read_secret_file, secret_file_error, Fingerprint, ProviderSecrets,
    SecretSource,
};
use values::{bounded, in_range, parse, parse_overrides, setting};

use crate::providers::check::check_topics;
pub use crate::providers::rules::MAX_REPLAY_TOLERANCE_SECS;
use crate::providers::{DefinitionError, Definitions};
use crate::routing::Topics;

pub type Env = HashMap<String, String>;

/// Room for the envelope around `data` in the largest record: attributes, ids
/// (bounded by `normalize::MAX_ID_LEN`), headers and Kafka framing.
pub const ENVELOPE_OVERHEAD_BYTES: usize = 8 * 1024;

// Upper bounds. Past them a value is a typo or a unit mistake, and some would
// fail far from here: tokio's Semaphore panics above `MAX_PERMITS`,
// `Instant + Duration` panics on overflow, librdkafka's `message.timeout.ms` is
// a C int of milliseconds. Each is far above any sane setting.

/// Every in-flight request may hold a whole body; webhooks are KiBs.
pub const MAX_BODY_BYTES: u64 = 64 * 1024 * 1024;
/// Bodies not yet verified, all together: 64 GiB is more than any one pod has.
pub const MAX_BUFFERED_BYTES: u64 = 64 * 1024 * 1024 * 1024;
/// One request's body: an hour is already a stalled client.
pub const MAX_BODY_TIMEOUT_MS: u64 = 60 * 60 * 1000;
/// A request's headers, and a kept-alive connection's idle time: an hour.
pub const MAX_HEADER_TIMEOUT_SECS: u64 = 60 * 60;
/// librdkafka's own default delivery timeout (5 minutes); no provider holds a
/// request open that long, and it stays well inside the C int of `message.timeout.ms`.
pub const MAX_PUBLISH_TIMEOUT_MS: u64 = 5 * 60 * 1000;
/// A million: beyond one process's file descriptors (Linux's `nr_open` default
/// is 1048576) and far below tokio's `Semaphore::MAX_PERMITS`.
pub const MAX_INFLIGHT: u64 = 1_000_000;
pub const MAX_CONNECTIONS: u64 = 1_000_000;
/// Serving on after SIGTERM while load balancers notice: ten minutes at most.
pub const MAX_SHUTDOWN_DELAY_SECS: u64 = 10 * 60;
/// From SIGTERM to exit: an hour at most (and more than the delay).
pub const MAX_SHUTDOWN_GRACE_SECS: u64 = 60 * 60;
/// A rotated secret takes effect within this: an hour at most.
pub const MAX_SECRET_RELOAD_SECS: u64 = 60 * 60;

// The bounds stay clear of the limits they guard (checked when compiling).
const _: () = {
    assert!(MAX_INFLIGHT as usize <= tokio::sync::Semaphore::MAX_PERMITS);
    assert!(MAX_CONNECTIONS as usize <= tokio::sync::Semaphore::MAX_PERMITS);
    assert!(MAX_BUFFERED_BYTES as usize <= tokio::sync::Semaphore::MAX_PERMITS);
    // One body's reservation is a u32 of permits.
    assert!(MAX_BODY_BYTES <= u32::MAX as u64);
    // message.timeout.ms is a C int of milliseconds.
    assert!(MAX_PUBLISH_TIMEOUT_MS <= i32::MAX as u64);
    assert!(MAX_SHUTDOWN_DELAY_SECS < MAX_SHUTDOWN_GRACE_SECS);
    // The largest body fits the largest message.max.bytes librdkafka accepts.
    assert!(MAX_BODY_BYTES as usize + ENVELOPE_OVERHEAD_BYTES <= 1_000_000_000);
};

#[derive(Debug, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    pub setting: String,
    pub reason: String,
}

pub(crate) fn invalid(setting: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        setting: setting.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen_addr: SocketAddr,
    pub admin_addr: SocketAddr,
    pub max_body_bytes: usize,
    pub max_buffered_bytes: usize,
    pub body_timeout: Duration,
    pub header_timeout: Duration,
    pub replay_tolerance: Duration,
    pub publish_timeout: Duration,
    pub max_inflight: usize,
    pub max_connections: usize,
    pub topic_prefix: String,
    pub topics: Topics,
    pub shutdown_delay: Duration,
    pub shutdown_grace: Duration,
    pub log_format: LogFormat,
    pub secret_reload: Duration,
    /// Every definition: the built-ins, then GATEWAY_PROVIDERS_FILE's.
    pub providers: Definitions,
    /// The secrets of every provider whose secret is set, by name: the
    /// enabled providers. The others are disabled (404).
    pub secrets: BTreeMap<String, ProviderSecrets>,
    pub kafka: KafkaSettings,
    /// Things worth a warning at start-up (ignored variables).
    pub warnings: Vec<String>,
    /// What the gateway reads as now (test builds only): a published test
    /// vector's years-old timestamp is checked at its own time, through HTTP.
    #[cfg(feature = "test-hooks")]
    pub clock: fn() -> std::time::SystemTime,
}

impl Config {
    /// Resolves every setting: flag, else environment, else default.
    pub fn from_sources(args: &RunArgs, env: &Env) -> Result<Config, ConfigError> {
        let listen_addr = parse(
            &args.listen_addr,
            env,
            "GATEWAY_LISTEN_ADDR",
            "0.0.0.0:8080",
            "a socket address such as 0.0.0.0:8080 or [::]:8080",
        )?;
        let admin_addr = parse(
            &args.admin_addr,
            env,
            "GATEWAY_ADMIN_ADDR",
            "0.0.0.0:9090",
            "a socket address such as 0.0.0.0:9090",
        )?;
        let max_body_bytes = bounded(
            &args.max_body_bytes,
            env,
            "GATEWAY_MAX_BODY_BYTES",
            262_144,
            MAX_BODY_BYTES,
            "bytes",
        )? as usize;
        let max_buffered_bytes = bounded(
            &args.max_buffered_bytes,
            env,
            "GATEWAY_MAX_BUFFERED_BYTES",
            64 * 1024 * 1024,
            MAX_BUFFERED_BYTES,
            "bytes",
        )? as usize;
        if max_buffered_bytes < max_body_bytes {
            return Err(invalid(
                "GATEWAY_MAX_BUFFERED_BYTES",
                format!("must hold at least one body of GATEWAY_MAX_BODY_BYTES ({max_body_bytes})"),
            ));
        }
        let body_timeout = Duration::from_millis(bounded(
            &args.body_timeout_ms,
            env,
            "GATEWAY_BODY_TIMEOUT_MS",
            10_000,
            MAX_BODY_TIMEOUT_MS,
            "ms",
        )?);
        let header_timeout = Duration::from_secs(bounded(
            &args.header_timeout_secs,
            env,
            "GATEWAY_HEADER_TIMEOUT_SECS",
            75,
            MAX_HEADER_TIMEOUT_SECS,
            "s",
        )?);
        let replay_tolerance = Duration::from_secs(bounded(
            &args.replay_tolerance_secs,
            env,
            "GATEWAY_REPLAY_TOLERANCE_SECS",
            300,
            MAX_REPLAY_TOLERANCE_SECS,
            "s",
        )?);
        let publish_timeout = Duration::from_millis(bounded(
            &args.publish_timeout_ms,
            env,
            "GATEWAY_PUBLISH_TIMEOUT_MS",
            10_000,
            MAX_PUBLISH_TIMEOUT_MS,
            "ms",
        )?);
        let max_inflight = bounded(
            &args.max_inflight,
            env,
            "GATEWAY_MAX_INFLIGHT",
            1024,
            MAX_INFLIGHT,
            "requests",
        )? as usize;
        let max_connections = bounded(
            &args.max_connections,
            env,
            "GATEWAY_MAX_CONNECTIONS",
            4096,
            MAX_CONNECTIONS,
            "connections",
        )? as usize;
        let shutdown_delay = Duration::from_secs(in_range(
            &args.shutdown_delay_secs,
            env,
            "GATEWAY_SHUTDOWN_DELAY_SECS",
            5,
            0..=MAX_SHUTDOWN_DELAY_SECS,
            "s",
        )?);
        let shutdown_grace = Duration::from_secs(bounded(
            &args.shutdown_grace_secs,
            env,
            "GATEWAY_SHUTDOWN_GRACE_SECS",
            30,
            MAX_SHUTDOWN_GRACE_SECS,
            "s",
        )?);
        if shutdown_grace <= shutdown_delay {
            return Err(invalid(
                "GATEWAY_SHUTDOWN_GRACE_SECS",
                "must be larger than GATEWAY_SHUTDOWN_DELAY_SECS",
            ));
        }
        let secret_reload = Duration::from_secs(bounded(
            &args.secret_reload_secs,
            env,
            "GATEWAY_SECRET_RELOAD_SECS",
            10,
            MAX_SECRET_RELOAD_SECS,
            "s",
        )?);
        let log_format = match setting(&args.log_format, env, "LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "LOG_FORMAT",
                    format!("expected `json` or `text`, got `{other}`"),
                ))
            }
        };

        let providers_file = setting(&args.providers_file, env, "GATEWAY_PROVIDERS_FILE");
        let providers = Definitions::load(providers_file.as_deref().map(Path::new))
            .map_err(definition_error)?;

        let topic_prefix = setting(&args.topic_prefix, env, "GATEWAY_TOPIC_PREFIX")
            .unwrap_or_else(|| "webhooks".into());
        let overrides = parse_overrides(
            setting(&args.topic_overrides, env, "GATEWAY_TOPIC_OVERRIDES").as_deref(),
        )?;
        check_topics(&providers.list, &topic_prefix, &overrides).map_err(|(who, p)| {
            match who.filter(|i| *i >= providers.builtins) {
                Some(i) => definition_error(DefinitionError {
                    origin: providers.origin.clone().unwrap_or_default(),
                    provider: Some(providers.list[i].name.clone()),
                    key: p.key,
                    reason: p.reason,
                }),
                None => invalid("GATEWAY_TOPIC_PREFIX / GATEWAY_TOPIC_OVERRIDES", p.reason),
            }
        })?;
        let topics = Topics::new(&providers.list, &topic_prefix, &overrides).map_err(|e| {
            let setting = if overrides.is_empty() {
                "GATEWAY_TOPIC_PREFIX"
            } else {
                "GATEWAY_TOPIC_PREFIX / GATEWAY_TOPIC_OVERRIDES"
            };
            invalid(setting, e)
        })?;

        let mut secrets = BTreeMap::new();
        let mut warnings = Vec::new();
        for d in &providers.list {
            match load_secrets(env, d)? {
                Some(s) => {
                    secrets.insert(d.name.clone(), s);
                }
                None => warnings.push(format!(
                    "provider \"{}\" is disabled: {} is not set, /webhooks/{} answers 404",
                    d.name, d.secret.env, d.name
                )),
            }
        }

        let (kafka, kafka_warnings) = KafkaSettings::from_env(env, publish_timeout)?;
        warnings.extend(kafka_warnings);
        if !kafka.has_bootstrap() {
            return Err(invalid(
                "KAFKA_BOOTSTRAP_SERVERS",
                "required: the Kafka brokers to publish to (or run with --dev)",
            ));
        }
        let message_max = kafka.message_max_bytes()?;
        if max_body_bytes.saturating_add(ENVELOPE_OVERHEAD_BYTES) > message_max {
            return Err(invalid(
                "GATEWAY_MAX_BODY_BYTES",
                format!(
                    "{max_body_bytes} bytes plus the {ENVELOPE_OVERHEAD_BYTES}-byte envelope exceed the producer's message.max.bytes ({message_max}); lower the limit or raise KAFKA_MESSAGE_MAX_BYTES (and the broker's)"
                ),
            ));
        }

        Ok(Config {
            listen_addr,
            admin_addr,
            max_body_bytes,
            max_buffered_bytes,
            body_timeout,
            header_timeout,
            replay_tolerance,
            publish_timeout,
            max_inflight,
            max_connections,
            topic_prefix,
            topics,
            shutdown_delay,
            shutdown_grace,
            log_format,
            secret_reload,
            providers,
            secrets,
            kafka,
            warnings,
            #[cfg(feature = "test-hooks")]
            clock: std::time::SystemTime::now,
        })
    }
}

/// A definition's error as the one start-up line: the file is the setting.
fn definition_error(e: DefinitionError) -> ConfigError {
    let full = e.to_string();
    let reason = full
        .strip_prefix(&format!("{}: ", e.origin))
        .unwrap_or(&full)
        .to_owned();
    ConfigError {
        setting: e.origin,
        reason,
    }
}

#[cfg(test)]
mod tests;
