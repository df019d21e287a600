//! Settings and what is built from them, assembled into one [`Config`]. The
//! environment is a map handed in (main builds it once, tests hand in their
//! own); flags come from clap, which never reads the environment.
//!
//! - `settings`: every setting's variable, flag, default, bounds and reader,
//!   written once, and [`Settings`], the plain values read from them
//! - `values`: the setting type and the readers settings share
//! - `flags`: the run settings' flags, as text for [`Settings::read`]
//! - [`secrets`]: provider secrets from variables and files
//! - [`kafka`]: the librdkafka passthrough
//! - `shown`: which librdkafka values may be shown, all others redacted
//!
//! Built from the settings: [`Published`] (the definitions and their topics),
//! the providers' key rings and the producer's properties, which [`Config`]
//! holds together.

mod flags;
mod kafka;
pub mod reload;
mod secrets;
mod shown;
mod table;
mod values;

use std::collections::{BTreeMap, HashMap};

pub use flags::RunFlags;
pub use kafka::{is_service_link, KafkaSettings};
use secrets::load_secrets;
pub use secrets::{
    key_ring, parse_secret_file, read_secret_file, read_secrets, secret_file_error, Fingerprint,
    ProviderSecrets, SecretError, SecretSource,
};
pub use table::*;
pub use values::{Documented, Setting, ValueError};

use crate::definitions::compiled::Body;
use crate::definitions::{DefinitionError, Definitions};
use crate::engine::route::Topics;

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
    /// The plain settings, as read from flags and the environment.
    pub settings: Settings,
    /// The largest record a webhook can become ([`max_record_bytes`]): what
    /// the producer must take, and the room a record's re-drive copy has.
    pub max_record_bytes: usize,
    /// The definitions and the topics their types land on.
    pub published: Published,
    /// The secrets of every provider whose secret is set, by name: the
    /// enabled providers. The others are disabled (404).
    pub secrets: BTreeMap<String, ProviderSecrets>,
    pub kafka: KafkaSettings,
    /// Things worth a warning at start-up (ignored variables).
    pub warnings: Vec<String>,
}

/// What the settings publish: every definition (the built-ins, then
/// `GATEWAY_PROVIDERS_FILE`'s) and the topics their types land on, checked
/// against each other. All `contract` needs; no broker, no secret.
#[derive(Debug, Clone)]
pub struct Published {
    pub providers: Definitions,
    pub topics: Topics,
    /// The prefix of every topic no entry or override names (the contract says it).
    pub topic_prefix: String,
}

impl Published {
    pub fn read(settings: &Settings) -> Result<Published, ConfigError> {
        let providers = Definitions::load(settings.providers_file.as_deref())?;
        let (topic_prefix, overrides) = (&settings.topic_prefix, &settings.topic_overrides);
        let both = || {
            format!(
                "{} / {}",
                GATEWAY_TOPIC_PREFIX.var, GATEWAY_TOPIC_OVERRIDES.var
            )
        };
        let topics = Topics::new(&providers.list, topic_prefix, overrides).map_err(|e| {
            let configured = e.provider.filter(|i| *i >= providers.builtins);
            match configured {
                Some(i) => ConfigError::from(DefinitionError {
                    origin: providers.origin.clone().unwrap_or_default(),
                    provider: Some(providers.list[i].name.clone()),
                    key: e.key,
                    reason: e.reason,
                }),
                None => invalid(both(), e.reason),
            }
        })?;
        Ok(Published {
            providers,
            topics,
            topic_prefix: topic_prefix.clone(),
        })
    }
}

impl Config {
    /// Every setting from `env` alone, secrets loaded.
    pub fn from_env(env: &Env) -> Result<Config, ConfigError> {
        Config::new(Settings::from_env(env)?, env)
    }

    /// The gateway's configuration: `settings`, what they publish, every
    /// provider's secrets and the producer's properties from `env`.
    pub fn new(settings: Settings, env: &Env) -> Result<Config, ConfigError> {
        let published = Published::read(&settings)?;
        let mut secrets = BTreeMap::new();
        let mut warnings = Vec::new();
        for d in &published.providers.list {
            match load_secrets(env, d)? {
                Some(s) => {
                    secrets.insert(d.name.clone(), s);
                    warnings.extend(d.notes());
                }
                None => warnings.push(format!(
                    "provider \"{}\" is disabled: {} is not set, /webhooks/{} answers 404",
                    d.name, d.secret.env, d.name
                )),
            }
        }
        let (kafka, kafka_warnings) = producer(&settings, env)?;
        warnings.extend(kafka_warnings);
        Config::assemble(settings, published, secrets, kafka, warnings)
    }

    /// The configuration of a command that reads no provider secret
    /// (`topics`, `redrive`): every defined provider counts, enabled or not.
    /// Such a command may run without the secrets (or before they exist), and
    /// a secret that would not load cannot fail it.
    pub fn without_secrets(settings: Settings, env: &Env) -> Result<Config, ConfigError> {
        let published = Published::read(&settings)?;
        let (kafka, warnings) = producer(&settings, env)?;
        Config::assemble(settings, published, BTreeMap::new(), kafka, warnings)
    }

    /// The parts, the largest record checked against what the producer takes.
    fn assemble(
        settings: Settings,
        published: Published,
        secrets: BTreeMap<String, ProviderSecrets>,
        kafka: KafkaSettings,
        warnings: Vec<String>,
    ) -> Result<Config, ConfigError> {
        let max_body_bytes = settings.max_body_bytes;
        let message_max = kafka.message_max_bytes()?;
        let any_body = takes_any(&published);
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
            settings,
            max_record_bytes,
            published,
            secrets,
            kafka,
            warnings,
        })
    }
}

/// Whether a definition takes any body, which is published as base64.
fn takes_any(published: &Published) -> bool {
    published.providers.list.iter().any(|d| d.body == Body::Any)
}

/// The producer's properties from `env`, with a broker to publish to.
fn producer(settings: &Settings, env: &Env) -> Result<(KafkaSettings, Vec<String>), ConfigError> {
    let (kafka, warnings) = KafkaSettings::from_env(env, settings.publish_timeout)?;
    if !kafka.has_bootstrap() {
        return Err(invalid(
            "KAFKA_BOOTSTRAP_SERVERS",
            "required: the Kafka brokers to publish to (or run with --dev)",
        ));
    }
    Ok((kafka, warnings))
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
impl From<DefinitionError> for ConfigError {
    fn from(e: DefinitionError) -> ConfigError {
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
}

#[cfg(test)]
mod tests;
