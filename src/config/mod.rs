//! Settings resolved into one [`Config`]: the typed flags and variables
//! checked against each other, the providers' definitions and secrets loaded,
//! the producer's properties checked. The environment is a map handed in, so
//! tests hand one in.
//!
//! - `settings`: every setting's variable, default, bounds and reader, written once
//! - `values`: the setting type and the readers settings share
//! - `cli`: the run settings as clap sees them, typed
//! - [`secrets`]: provider secrets from variables and files
//! - [`kafka`]: the librdkafka passthrough
//! - `shown`: which librdkafka values may be shown, all others redacted

mod cli;
mod kafka;
mod secrets;
mod settings;
mod shown;
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
pub use settings::*;
pub use values::{refused_setting, Setting};

use crate::providers::check::check_topics;
use crate::providers::compiled::Body;
use crate::providers::load::providers_file;
use crate::providers::{DefinitionError, Definitions};
use crate::routing::Topics;

pub type Env = HashMap<String, String>;

/// Room for the envelope around `data` in the largest record: attributes, ids
/// (bounded by `normalize::MAX_ID_LEN`), headers and Kafka framing.
pub const ENVELOPE_OVERHEAD_BYTES: usize = 8 * 1024;

#[derive(Debug, Clone, thiserror::Error)]
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
    /// The largest record a webhook can become ([`max_record_bytes`]): what
    /// the producer must take, and the room a record's re-drive copy has.
    pub max_record_bytes: usize,
    pub max_buffered_bytes: usize,
    pub body_timeout: Duration,
    pub header_timeout: Duration,
    pub replay_tolerance: Duration,
    pub publish_timeout: Duration,
    pub max_inflight: usize,
    pub max_connections: usize,
    /// The async runtime's worker threads (`GATEWAY_WORKER_THREADS`).
    pub worker_threads: usize,
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
    /// Every setting from `env` alone: see [`RunArgs::from_flags_and_env`].
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Config::from_sources(&RunArgs::from_flags_and_env(&[], env)?, env)
    }

    /// The settings of a command that reads no provider secret (`topics`,
    /// `redrive`): every defined provider counts, enabled or not. Such a
    /// command may run without the secrets (or before they exist), and a
    /// secret that would not load cannot fail it. `file_flag` is its
    /// `--providers-file`, else `GATEWAY_PROVIDERS_FILE`.
    pub fn without_secrets(file_flag: Option<&Path>, env: &Env) -> Result<Config, String> {
        let file = providers_file(file_flag, env);
        let defs = Definitions::load(file.as_deref()).map_err(|e| e.to_string())?;
        let env: Env = env
            .iter()
            .filter(|(k, _)| !defs.is_secret_variable(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut run = RunArgs::from_flags_and_env(&[], &env).map_err(|e| e.to_string())?;
        run.providers_file = file;
        Config::from_sources(&run, &env).map_err(|e| e.to_string())
    }

    /// The settings as read (flag, else variable, else default), checked
    /// against each other and the definitions; secrets and the producer's
    /// properties from `env`.
    pub fn from_sources(args: &RunArgs, env: &Env) -> Result<Config, ConfigError> {
        let (max_body_bytes, max_buffered_bytes) = (args.max_body_bytes, args.max_buffered_bytes);
        if max_buffered_bytes < max_body_bytes {
            return Err(invalid(
                GATEWAY_MAX_BUFFERED_BYTES.var,
                format!(
                    "must hold at least one body of {} ({max_body_bytes})",
                    GATEWAY_MAX_BODY_BYTES.var
                ),
            ));
        }
        if args.shutdown_grace <= args.shutdown_delay {
            return Err(invalid(
                GATEWAY_SHUTDOWN_GRACE_SECS.var,
                format!("must be larger than {}", GATEWAY_SHUTDOWN_DELAY_SECS.var),
            ));
        }

        let providers =
            Definitions::load(args.providers_file.as_deref()).map_err(definition_error)?;

        let topic_prefix = args.topic_prefix.clone();
        let overrides = args.topic_overrides.clone().unwrap_or_default();
        let both = || {
            format!(
                "{} / {}",
                GATEWAY_TOPIC_PREFIX.var, GATEWAY_TOPIC_OVERRIDES.var
            )
        };
        check_topics(&providers.list, &topic_prefix, &overrides).map_err(|(who, p)| {
            match who.filter(|i| *i >= providers.builtins) {
                Some(i) => definition_error(DefinitionError {
                    origin: providers.origin.clone().unwrap_or_default(),
                    provider: Some(providers.list[i].name.clone()),
                    key: p.key,
                    reason: p.reason,
                }),
                None => invalid(both(), p.reason),
            }
        })?;
        let topics = Topics::new(&providers.list, &topic_prefix, &overrides).map_err(|e| {
            let setting = if overrides.is_empty() {
                GATEWAY_TOPIC_PREFIX.var.to_owned()
            } else {
                both()
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

        let (kafka, kafka_warnings) = KafkaSettings::from_env(env, args.publish_timeout)?;
        warnings.extend(kafka_warnings);
        if !kafka.has_bootstrap() {
            return Err(invalid(
                "KAFKA_BOOTSTRAP_SERVERS",
                "required: the Kafka brokers to publish to (or run with --dev)",
            ));
        }
        let message_max = kafka.message_max_bytes()?;
        let any_body = providers.list.iter().any(|d| d.body == Body::Any);
        let max_record_bytes = max_record_bytes(max_body_bytes, any_body);
        if max_record_bytes > message_max {
            let data = if any_body {
                " as base64 (a provider takes any body)"
            } else {
                ""
            };
            return Err(invalid(
                GATEWAY_MAX_BODY_BYTES.var,
                format!(
                    "{max_body_bytes} bytes{data} plus the {ENVELOPE_OVERHEAD_BYTES}-byte envelope exceed the producer's message.max.bytes ({message_max}); lower the limit or raise KAFKA_MESSAGE_MAX_BYTES (and the broker's)"
                ),
            ));
        }

        Ok(Config {
            listen_addr: args.listen_addr,
            admin_addr: args.admin_addr,
            max_body_bytes,
            max_record_bytes,
            max_buffered_bytes,
            body_timeout: args.body_timeout,
            header_timeout: args.header_timeout,
            replay_tolerance: args.replay_tolerance,
            publish_timeout: args.publish_timeout,
            max_inflight: args.max_inflight,
            max_connections: args.max_connections,
            worker_threads: args.worker_threads.unwrap_or_else(default_worker_threads),
            topic_prefix,
            topics,
            shutdown_delay: args.shutdown_delay,
            shutdown_grace: args.shutdown_grace,
            log_format: args.log_format,
            secret_reload: args.secret_reload,
            providers,
            secrets,
            kafka,
            warnings,
            #[cfg(feature = "test-hooks")]
            clock: std::time::SystemTime::now,
        })
    }
}

/// The largest record a body of at most `max_body` bytes can become: its
/// `data`, which is base64 (4/3 of the body) when a definition takes any
/// body, and the envelope around it.
pub fn max_record_bytes(max_body: usize, any_body: bool) -> usize {
    let data = if any_body {
        max_body.div_ceil(3).saturating_mul(4)
    } else {
        max_body
    };
    data.saturating_add(ENVELOPE_OVERHEAD_BYTES)
}

/// One async worker fewer than the CPUs available (cgroup quotas count), at
/// least one: librdkafka's broker thread, which every record passes through,
/// gets a core of its own. On two cores that is one worker, which used less
/// CPU per webhook at concurrency 1 than two in every paired run (2 to 24 %),
/// and lost about a tenth of the throughput at 256 (BENCHMARKS.md, "What each
/// change bought").
pub fn default_worker_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1)
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
