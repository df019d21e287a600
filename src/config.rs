//! Settings from CLI flags and the environment. Every non-secret setting is a
//! flag and an environment variable (the flag wins); secrets come only from the
//! environment or files, never flags, which would show in the process list.
//! Parsing takes the environment as a map, so tests hand one in.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rdkafka::config::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaConfRes;
use sha2::{Digest, Sha256};

use crate::providers::check::check_topics;
use crate::providers::{DefinitionError, Definitions, ProviderId};
use crate::routing::Topics;
use crate::verify::KeyRing;

pub type Env = HashMap<String, String>;

/// Room for the envelope around `data` in the largest record: attributes, ids
/// (bounded by `normalize::MAX_ID_LEN`), headers and Kafka framing.
pub const ENVELOPE_OVERHEAD_BYTES: usize = 8 * 1024;
/// librdkafka's own default for `message.max.bytes`.
const LIBRDKAFKA_MESSAGE_MAX_BYTES: usize = 1_000_000;

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
/// A day: a wider replay window no longer protects against replays.
pub const MAX_REPLAY_TOLERANCE_SECS: u64 = 24 * 60 * 60;
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

#[derive(Parser, Debug)]
#[command(
    name = "webhook-gateway",
    version,
    about = "Verifies signed provider webhooks and publishes them to Kafka as CloudEvents; answers 2xx only after the broker's ack.",
    after_help = "Secrets are read from the environment only: M2M_WEBHOOK_SECRET, TRANSFERS_SIGNATURE_TOKEN (comma-separated lists) or their *_FILE variants. Any librdkafka property can be set as KAFKA_<PROPERTY> (e.g. KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL) or KAFKA_<PROPERTY>_FILE.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sign a webhook body read from stdin: prints the headers to send, or a curl command.
    Sign(crate::sign::SignArgs),
    /// Check or create the routed topics (same KAFKA_* and GATEWAY_TOPIC_* settings as the gateway).
    Topics(crate::topics::TopicsArgs),
    /// Show the provider definitions (built-in and GATEWAY_PROVIDERS_FILE's) as the gateway reads them.
    Providers(crate::providers::show::ProvidersArgs),
}

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

#[derive(Debug, thiserror::Error)]
#[error("{setting}: {reason}")]
pub struct ConfigError {
    pub setting: String,
    pub reason: String,
}

fn invalid(setting: impl Into<String>, reason: impl Into<String>) -> ConfigError {
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

/// Where a provider's secrets came from: kept so a file can be reloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    /// The file, and the fingerprint of the bytes the secrets were read from:
    /// the reload watcher compares against it, so a rotation that lands
    /// between start-up's read and the watcher's first look is still applied.
    File(PathBuf, Fingerprint),
}

/// A SHA-256 digest of a secret file's content, to tell a changed file from an
/// unchanged one. Its Debug shows no digest: a hash of a short secret can be
/// brute-forced, and `SecretSource` is in the start-up log.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of(bytes: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(bytes).into())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(..)")
    }
}

#[derive(Debug, Clone)]
pub struct ProviderSecrets {
    pub source: SecretSource,
    pub keys: KeyRing,
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
    pub m2m: Option<ProviderSecrets>,
    pub transfers: Option<ProviderSecrets>,
    /// Every definition: the built-ins, then GATEWAY_PROVIDERS_FILE's.
    pub providers: Definitions,
    /// The secrets of the file's providers whose secret is set, by name; the
    /// others are disabled.
    pub configured_secrets: BTreeMap<String, ProviderSecrets>,
    pub kafka: KafkaSettings,
    /// Things worth a warning at start-up (ignored variables).
    pub warnings: Vec<String>,
}

impl Config {
    pub fn secrets(&self, provider: ProviderId) -> Option<&ProviderSecrets> {
        match provider {
            ProviderId::M2m => self.m2m.as_ref(),
            ProviderId::Transfers => self.transfers.as_ref(),
        }
    }

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
        let mut overrides = parse_overrides(
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
        // FIXME(stage 2): routing knows only the built-in types; overrides of the
        // file's types are checked above and dropped until the engine routes them.
        overrides.retain(|ty, _| !providers.configured().iter().any(|d| d.has_type(ty)));
        let topics = Topics::new(&topic_prefix, &overrides).map_err(|e| {
            let setting = if overrides.is_empty() {
                "GATEWAY_TOPIC_PREFIX"
            } else {
                "GATEWAY_TOPIC_PREFIX / GATEWAY_TOPIC_OVERRIDES"
            };
            invalid(setting, e)
        })?;

        let m2m = load_secrets(env, ProviderId::M2m.provider().secret_env)?;
        let transfers = load_secrets(env, ProviderId::Transfers.provider().secret_env)?;
        // FIXME(stage 2): the request path serves the built-ins from their code
        // (`ProviderId`, `self.m2m`/`self.transfers`) and ignores the file's
        // providers; their secrets are loaded and checked now so a bad one fails
        // at start-up already. Stage 2 serves them from `configured_secrets` and
        // has reload.rs watch their `_FILE`s as it watches the built-ins'.
        let mut configured_secrets = BTreeMap::new();
        let mut warnings = Vec::new();
        for d in providers.configured() {
            match load_secrets(env, &d.secret.env)? {
                Some(secrets) => {
                    configured_secrets.insert(d.name.clone(), secrets);
                    warnings.push(format!(
                        "provider \"{}\" is defined but not served yet: this build serves only m2m and transfers",
                        d.name
                    ));
                }
                None => warnings.push(format!(
                    "provider \"{}\" is disabled: {} is not set",
                    d.name, d.secret.env
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
            m2m,
            transfers,
            providers,
            configured_secrets,
            kafka,
            warnings,
        })
    }
}

/// The setting `var`: its flag's value (clap also fills it from the process
/// environment), else the environment handed in.
fn setting(flag: &Option<String>, env: &Env, var: &str) -> Option<String> {
    flag.clone().or_else(|| env.get(var).cloned())
}

/// The setting `var` parsed, `default` when unset.
fn parse<T: FromStr>(
    flag: &Option<String>,
    env: &Env,
    var: &str,
    default: &str,
    expected: &str,
) -> Result<T, ConfigError> {
    let text = setting(flag, env, var).unwrap_or_else(|| default.to_owned());
    text.trim()
        .parse()
        .map_err(|_| invalid(var, format!("expected {expected}, got `{text}`")))
}

/// The setting `var`, a whole number from 1 to `max` (`unit` for messages).
fn bounded(
    flag: &Option<String>,
    env: &Env,
    var: &str,
    default: u64,
    max: u64,
    unit: &str,
) -> Result<u64, ConfigError> {
    in_range(flag, env, var, default, 1..=max, unit)
}

/// The setting `var`, a whole number within `range`. A number too large even
/// to parse gets the same answer as one past the bound.
fn in_range(
    flag: &Option<String>,
    env: &Env,
    var: &str,
    default: u64,
    range: RangeInclusive<u64>,
    unit: &str,
) -> Result<u64, ConfigError> {
    let (min, max) = (range.start(), range.end());
    let expected = format!("a whole number from {min} to {max} ({unit})");
    let v: u64 = parse(flag, env, var, &default.to_string(), &expected)?;
    if !range.contains(&v) {
        return Err(invalid(var, format!("expected {expected}, got `{v}`")));
    }
    Ok(v)
}

fn parse_overrides(text: Option<&str>) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut map = BTreeMap::new();
    for entry in text
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let Some((ty, topic)) = entry.split_once('=') else {
            return Err(invalid(
                "GATEWAY_TOPIC_OVERRIDES",
                format!("expected TYPE=TOPIC, got `{entry}`"),
            ));
        };
        if map
            .insert(ty.trim().to_owned(), topic.trim().to_owned())
            .is_some()
        {
            return Err(invalid(
                "GATEWAY_TOPIC_OVERRIDES",
                format!("`{}` is given twice", ty.trim()),
            ));
        }
    }
    Ok(map)
}

/// A provider's secrets from `<VAR>` (comma-separated) or `<VAR>_FILE` (one per
/// line). Neither set: the provider is disabled. Error messages never echo a secret.
fn load_secrets(env: &Env, var: &str) -> Result<Option<ProviderSecrets>, ConfigError> {
    let file_var = format!("{var}_FILE");
    match (env.get(var), env.get(&file_var)) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(invalid(
            var,
            format!("set either {var} or {file_var}, not both"),
        )),
        (Some(list), None) => {
            let secrets = split_secrets(list, ',').map_err(|e| invalid(var, e))?;
            Ok(Some(ProviderSecrets {
                source: SecretSource::Env(var.to_owned()),
                keys: KeyRing::new(&secrets),
            }))
        }
        (None, Some(path)) => {
            let path = PathBuf::from(path);
            let (secrets, loaded) = read_secret_file(&path).map_err(|e| invalid(file_var, e))?;
            Ok(Some(ProviderSecrets {
                source: SecretSource::File(path, loaded),
                keys: KeyRing::new(&secrets),
            }))
        }
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

/// A secret file's secrets and the fingerprint of the very bytes they came
/// from (one read, so the two always agree).
pub fn read_secret_file(path: &Path) -> Result<(Vec<String>, Fingerprint), String> {
    let bytes = std::fs::read(path).map_err(|e| secret_file_error(path, e.kind()))?;
    Ok((parse_secret_file(path, &bytes)?, Fingerprint::of(&bytes)))
}

/// One secret per line; trailing newlines are trimmed, an empty line is an error.
pub fn parse_secret_file(path: &Path, bytes: &[u8]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| secret_file_error(path, std::io::ErrorKind::InvalidData))?;
    split_secrets(text.trim_end_matches(['\n', '\r']), '\n')
}

/// Why a secret file cannot be read: its path and the kind of error, never content.
pub fn secret_file_error(path: &Path, kind: std::io::ErrorKind) -> String {
    format!("cannot read `{}`: {kind}", path.display())
}

/// A list of secrets; an empty list or element is an error (never echoing a secret).
pub(crate) fn split_secrets(text: &str, separator: char) -> Result<Vec<String>, String> {
    if text.trim().is_empty() {
        return Err("is empty".into());
    }
    let secrets: Vec<String> = text.split(separator).map(|s| s.trim().to_owned()).collect();
    if secrets.iter().any(String::is_empty) {
        return Err("contains an empty secret".into());
    }
    Ok(secrets)
}

/// A variable Kubernetes injects for a Service named `kafka` (`KAFKA_PORT`,
/// `KAFKA_PORT_*`, `KAFKA_SERVICE_*`): not a librdkafka property.
pub fn is_service_link(var: &str) -> bool {
    var == "KAFKA_PORT" || var.starts_with("KAFKA_PORT_") || var.starts_with("KAFKA_SERVICE_")
}

/// librdkafka properties: the gateway's defaults, overridden by `KAFKA_*`
/// variables, with the delivery guarantees enforced on top.
#[derive(Clone)]
pub struct KafkaSettings {
    properties: BTreeMap<String, KafkaValue>,
}

#[derive(Clone)]
struct KafkaValue {
    value: String,
    /// The variable it came from, for error messages; empty for the gateway's own.
    origin: String,
    /// Whether the value may be printed: see [`may_show`].
    shown: bool,
}

impl KafkaValue {
    fn new(property: &str, value: String, origin: String, from_file: bool) -> KafkaValue {
        KafkaValue {
            shown: may_show(property, from_file),
            value,
            origin,
        }
    }

    /// One of the gateway's own values.
    fn gateway(property: &str, value: &str) -> KafkaValue {
        KafkaValue::new(property, value.to_owned(), String::new(), false)
    }
}

/// One `KAFKA_*` variable: the property it sets (by its first name in
/// [`KAFKA_ALIASES`]) and its value, or the file holding it.
struct KafkaVariable {
    var: String,
    property: String,
    from_file: bool,
    value: String,
}

/// The `KAFKA_*` variables in name order, and warnings for those ignored.
/// Refuses two variables that set one property (`X` and `X_FILE`, or a
/// property and its alias) before any value is looked at.
fn kafka_variables(env: &Env) -> Result<(Vec<KafkaVariable>, Vec<String>), ConfigError> {
    let mut vars: Vec<(&String, &String)> = env
        .iter()
        .filter(|(k, _)| k.starts_with("KAFKA_"))
        .collect();
    vars.sort();
    let mut variables = Vec::new();
    let mut warnings = Vec::new();
    let mut seen = BTreeMap::new();
    for (var, value) in vars {
        if is_service_link(var) {
            warnings.push(format!("ignoring {var}: a Kubernetes service-link variable, not a librdkafka property (set enableServiceLinks: false)"));
            continue;
        }
        let rest = &var["KAFKA_".len()..];
        let (name, from_file) = match rest.strip_suffix("_FILE") {
            Some(name) => (name, true),
            None => (rest, false),
        };
        let spelled = name.to_ascii_lowercase().replace('_', ".");
        if spelled.is_empty() {
            return Err(invalid(var.as_str(), "names no property"));
        }
        let property = canonical(&spelled).to_owned();
        if let Some(other) = seen.insert(property.clone(), var.clone()) {
            let alias = if spelled == property {
                String::new()
            } else {
                format!(" (as its alias `{spelled}`)")
            };
            return Err(invalid(
                var.as_str(),
                format!("sets `{property}`{alias} like {other}; set only one"),
            ));
        }
        variables.push(KafkaVariable {
            var: var.clone(),
            property,
            from_file,
            value: value.clone(),
        });
    }
    Ok((variables, warnings))
}

/// The gateway's choices, any of which a `KAFKA_*` variable may change.
const KAFKA_DEFAULTS: &[(&str, &str)] = &[
    ("client.id", "webhook-gateway"),
    // Small: each request waits for its batch, so linger is pure latency.
    ("linger.ms", "5"),
    // librdkafka's 10 s default maximum would delay recovery after a broker blip.
    ("reconnect.backoff.ms", "100"),
    ("reconnect.backoff.max.ms", "1000"),
    // Bounded local queue: memory stays flat, a full queue answers 503.
    ("queue.buffering.max.kbytes", "16384"),
    ("queue.buffering.max.messages", "100000"),
    ("socket.keepalive.enable", "true"),
];

/// librdkafka properties with two names (`_RK_C_ALIAS` in librdkafka 2.12's
/// rdkafka_conf.c; CONFIGURATION.md's "Alias for" entries): setting both leaves
/// which one applies to the order they are set in. Each `KAFKA_*` variable is
/// read as the first name, so the gateway's defaults and enforced values apply
/// to either spelling and setting both is refused. The first name is the one
/// the gateway uses, else the Java client's, which operators know.
const KAFKA_ALIASES: &[(&str, &str)] = &[
    ("bootstrap.servers", "metadata.broker.list"),
    ("max.in.flight.requests.per.connection", "max.in.flight"),
    ("sasl.mechanism", "sasl.mechanisms"),
    (
        "sasl.oauthbearer.client.id",
        "sasl.oauthbearer.client.credentials.client.id",
    ),
    (
        "sasl.oauthbearer.client.secret",
        "sasl.oauthbearer.client.credentials.client.secret",
    ),
    ("max.partition.fetch.bytes", "fetch.message.max.bytes"),
    ("linger.ms", "queue.buffering.max.ms"),
    ("retries", "message.send.max.retries"),
    ("compression.type", "compression.codec"),
    ("acks", "request.required.acks"),
    ("message.timeout.ms", "delivery.timeout.ms"),
    ("enable.auto.commit", "auto.commit.enable"),
];

/// The name the gateway keys `property` by: its first name in [`KAFKA_ALIASES`].
fn canonical(property: &str) -> &str {
    KAFKA_ALIASES
        .iter()
        .find(|(_, alias)| *alias == property)
        .map_or(property, |(name, _)| name)
}

/// Not overridable: they are what "acknowledged" means.
const KAFKA_ENFORCED: &[(&str, &str)] = &[("acks", "all"), ("enable.idempotence", "true")];

impl fmt::Debug for KafkaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.redacted()).finish()
    }
}

/// Whether a property's value may appear in the start-up log or an error
/// message: only when it is on [`KAFKA_SHOWN`] and was not read from a file
/// (putting a value in a file is how an operator marks it secret). Every other
/// value is redacted, so a property the gateway has never heard of, or one a
/// later librdkafka adds, is hidden until someone has judged it safe.
fn may_show(property: &str, from_file: bool) -> bool {
    !from_file && KAFKA_SHOWN.contains(&property)
}

/// librdkafka properties whose values carry no credential: names, numbers,
/// booleans, enums, and paths to public certificates. What an operator needs
/// to read from the start-up line to debug connectivity and delivery.
///
/// Deliberately absent, so redacted:
/// - everything librdkafka itself marks sensitive (`_RK_SENSITIVE`), which
///   includes `sasl.username` and `ssl.key.location`. The username is half of
///   a credential pair and with some managed Kafka services it is an issued
///   API key; the broker logs the principal of a failed login anyway.
/// - free text that may embed a credential: `sasl.oauthbearer.config` and the
///   other `sasl.oauthbearer.*` settings (extensions, endpoint URLs, assertion
///   keys and passphrases), `sasl.kerberos.kinit.cmd`, `sasl.kerberos.principal`
///   and `.keytab`, every `ssl.*.pem`, `ssl.key.*`, `ssl.keystore.*`, `ssl.engine.*`.
/// - anything not listed, such as `plugin.library.paths` or `transactional.id`:
///   unknown is treated as secret.
///
/// Names are the first names of [`KAFKA_ALIASES`]: variables are keyed by them.
const KAFKA_SHOWN: &[&str] = &[
    // Brokers and identity.
    "bootstrap.servers",
    "client.id",
    "client.rack",
    "client.dns.lookup",
    "broker.address.family",
    "broker.address.ttl",
    "broker.version.fallback",
    "api.version.request",
    "api.version.request.timeout.ms",
    "api.version.fallback.ms",
    "allow.auto.create.topics",
    // Security: which mechanisms, never their credentials.
    "security.protocol",
    "sasl.mechanism",
    "sasl.kerberos.service.name",
    "sasl.kerberos.min.time.before.relogin",
    "sasl.oauthbearer.method",
    "enable.sasl.oauthbearer.unsecure.jwt",
    "enable.ssl.certificate.verification",
    "ssl.endpoint.identification.algorithm",
    "ssl.ca.location",
    "ssl.ca.certificate.stores",
    "ssl.certificate.location",
    "ssl.crl.location",
    "https.ca.location",
    "ssl.cipher.suites",
    "ssl.curves.list",
    "ssl.sigalgs.list",
    // Delivery.
    "acks",
    "enable.idempotence",
    "enable.gapless.guarantee",
    "message.timeout.ms",
    "request.timeout.ms",
    "retries",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "max.in.flight.requests.per.connection",
    "partitioner",
    "queuing.strategy",
    "delivery.report.only.error",
    // Batching, compression and the local queue.
    "linger.ms",
    "sticky.partitioning.linger.ms",
    "batch.num.messages",
    "batch.size",
    "compression.type",
    "compression.level",
    "message.max.bytes",
    "message.copy.max.bytes",
    "receive.message.max.bytes",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "queue.buffering.backpressure.threshold",
    // Sockets, reconnection and metadata.
    "socket.timeout.ms",
    "socket.connection.setup.timeout.ms",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "socket.keepalive.enable",
    "socket.nagle.disable",
    "socket.max.fails",
    "connections.max.idle.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "reconnect.backoff.jitter.ms",
    "metadata.max.age.ms",
    "metadata.recovery.strategy",
    "metadata.recovery.rebootstrap.trigger.ms",
    "topic.metadata.refresh.interval.ms",
    "topic.metadata.refresh.fast.interval.ms",
    "topic.metadata.refresh.sparse",
    "topic.metadata.propagation.max.ms",
    // Observability.
    "statistics.interval.ms",
    "enable.metrics.push",
    "debug",
    "log_level",
    "log.connection.close",
    "log.queue",
    "log.thread.name",
];

impl KafkaSettings {
    pub fn from_env(
        env: &Env,
        publish_timeout: Duration,
    ) -> Result<(KafkaSettings, Vec<String>), ConfigError> {
        let mut properties: BTreeMap<String, KafkaValue> = KAFKA_DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), KafkaValue::gateway(k, v)))
            .collect();
        let (variables, warnings) = kafka_variables(env)?;
        for KafkaVariable {
            var,
            property,
            from_file,
            value,
        } in variables
        {
            let value = if from_file {
                let text = std::fs::read_to_string(&value).map_err(|e| {
                    invalid(var.as_str(), format!("cannot read `{value}`: {}", e.kind()))
                })?;
                text.trim_end_matches(['\n', '\r']).to_owned()
            } else {
                value
            };
            if let Some((_, required)) = KAFKA_ENFORCED.iter().find(|(k, _)| *k == property) {
                let same = value == *required || (property == "acks" && value == "-1");
                if !same {
                    return Err(invalid(var.as_str(), format!("`{property}` is always `{required}`: it is what an acknowledged webhook means")));
                }
            }
            if property == "message.timeout.ms" {
                return Err(invalid(
                    var.as_str(),
                    "set GATEWAY_PUBLISH_TIMEOUT_MS instead: the producer's timeout follows it",
                ));
            }
            let entry = KafkaValue::new(&property, value, var, from_file);
            properties.insert(property, entry);
        }
        for (k, v) in KAFKA_ENFORCED {
            properties.insert(k.to_string(), KafkaValue::gateway(k, v));
        }
        properties.insert(
            "message.timeout.ms".into(),
            KafkaValue {
                origin: "GATEWAY_PUBLISH_TIMEOUT_MS".into(),
                ..KafkaValue::gateway(
                    "message.timeout.ms",
                    &publish_timeout.as_millis().to_string(),
                )
            },
        );
        let settings = KafkaSettings { properties };
        settings.validate()?;
        Ok((settings, warnings))
    }

    /// librdkafka checks every name and value without creating a client.
    fn validate(&self) -> Result<(), ConfigError> {
        match self.client_config().create_native_config() {
            Ok(_) => Ok(()),
            Err(KafkaError::ClientConfig(result, description, key, _)) => {
                let entry = self.properties.get(&key);
                let setting = entry
                    .map(|e| e.origin.clone())
                    .filter(|o| !o.is_empty())
                    .unwrap_or_else(|| key.clone());
                // An unknown name is reported by name alone; any other reason
                // may quote the value, so it is shown only when the value may be.
                let reason = if result == RDKafkaConfRes::RD_KAFKA_CONF_UNKNOWN
                    || entry.is_some_and(|e| e.shown)
                {
                    description
                } else {
                    format!("librdkafka refused the value of `{key}` (its reason is withheld: it may quote the value, which is not known to be free of secrets)")
                };
                Err(invalid(setting, reason))
            }
            Err(other) => Err(invalid("KAFKA_*", other.to_string())),
        }
    }

    /// The value of `property`, under either of its names.
    pub fn get(&self, property: &str) -> Option<&str> {
        self.properties
            .get(canonical(property))
            .map(|v| v.value.as_str())
    }

    pub fn set(&mut self, property: &str, value: &str) {
        let property = canonical(property);
        self.properties
            .insert(property.to_owned(), KafkaValue::gateway(property, value));
    }

    pub fn has_bootstrap(&self) -> bool {
        self.get("bootstrap.servers").is_some()
    }

    fn message_max_bytes(&self) -> Result<usize, ConfigError> {
        match self.properties.get("message.max.bytes") {
            None => Ok(LIBRDKAFKA_MESSAGE_MAX_BYTES),
            Some(v) => v
                .value
                .parse()
                .map_err(|_| invalid(v.origin.as_str(), "expected a whole number of bytes")),
        }
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        for (k, v) in &self.properties {
            config.set(k, &v.value);
        }
        config
    }

    /// Every property, each value not known to be safe replaced, for the start-up log.
    pub fn redacted(&self) -> Vec<(String, String)> {
        self.properties
            .iter()
            .map(|(k, v)| {
                let value = if v.shown { &v.value } else { "<redacted>" };
                (k.clone(), value.to_owned())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_sources(&RunArgs::default(), &env(pairs))
    }

    const BROKER: (&str, &str) = ("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092");

    #[test]
    fn defaults_apply_when_nothing_is_set() {
        let c = config(&[BROKER]).unwrap();
        assert_eq!(c.listen_addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(c.admin_addr, "0.0.0.0:9090".parse().unwrap());
        assert_eq!(c.max_body_bytes, 262_144);
        assert_eq!(c.max_buffered_bytes, 64 * 1024 * 1024);
        assert_eq!(c.replay_tolerance, Duration::from_secs(300));
        assert_eq!(c.publish_timeout, Duration::from_secs(10));
        assert!(c.m2m.is_none() && c.transfers.is_none());
        assert_eq!(c.kafka.get("acks"), Some("all"));
        assert_eq!(c.kafka.get("enable.idempotence"), Some("true"));
        assert_eq!(c.kafka.get("message.timeout.ms"), Some("10000"));
        assert_eq!(c.kafka.get("reconnect.backoff.max.ms"), Some("1000"));
    }

    #[test]
    fn a_broker_is_required() {
        assert_eq!(config(&[]).unwrap_err().setting, "KAFKA_BOOTSTRAP_SERVERS");
    }

    #[test]
    fn flags_win_over_environment_and_ipv6_listens() {
        let args = RunArgs {
            listen_addr: Some("[::]:8081".into()),
            ..Default::default()
        };
        let c = Config::from_sources(
            &args,
            &env(&[BROKER, ("GATEWAY_LISTEN_ADDR", "127.0.0.1:1")]),
        )
        .unwrap();
        assert_eq!(c.listen_addr, "[::]:8081".parse().unwrap());
    }

    #[test]
    fn bad_values_name_the_setting() {
        for (var, value) in [
            ("GATEWAY_LISTEN_ADDR", "nowhere"),
            ("GATEWAY_MAX_BODY_BYTES", "-3"),
            ("GATEWAY_PUBLISH_TIMEOUT_MS", "0"),
            ("GATEWAY_TOPIC_OVERRIDES", "m2m.nope=x"),
            ("LOG_FORMAT", "xml"),
        ] {
            let err = config(&[BROKER, (var, value)]).unwrap_err();
            assert!(err.setting.contains(var), "{var}: {err}");
        }
    }

    #[test]
    fn secrets_are_comma_separated_lists_and_empty_elements_are_refused() {
        let c = config(&[BROKER, ("M2M_WEBHOOK_SECRET", "old,new")]).unwrap();
        assert_eq!(c.m2m.unwrap().keys.len(), 2);
        for bad in ["", "a,,b", "a,", " "] {
            let err = config(&[BROKER, ("TRANSFERS_SIGNATURE_TOKEN", bad)]).unwrap_err();
            assert_eq!(err.setting, "TRANSFERS_SIGNATURE_TOKEN");
        }
    }

    #[test]
    fn secrets_from_files_one_per_line_with_trailing_newlines_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good");
        std::fs::write(&good, "first\nsecond\n\n").unwrap();
        let path = good.to_str().unwrap();
        let c = config(&[BROKER, ("M2M_WEBHOOK_SECRET_FILE", path)]).unwrap();
        let m2m = c.m2m.unwrap();
        assert_eq!(m2m.keys.len(), 2);
        assert_eq!(
            m2m.source,
            SecretSource::File(good.clone(), Fingerprint::of(b"first\nsecond\n\n"))
        );

        let holey = dir.path().join("holey");
        std::fs::write(&holey, "first\n\nsecond\n").unwrap();
        let err =
            config(&[BROKER, ("M2M_WEBHOOK_SECRET_FILE", holey.to_str().unwrap())]).unwrap_err();
        assert_eq!(err.setting, "M2M_WEBHOOK_SECRET_FILE");
        let missing = config(&[BROKER, ("M2M_WEBHOOK_SECRET_FILE", "/nonexistent/x")]).unwrap_err();
        assert_eq!(missing.setting, "M2M_WEBHOOK_SECRET_FILE");
        let both = config(&[
            BROKER,
            ("M2M_WEBHOOK_SECRET_FILE", path),
            ("M2M_WEBHOOK_SECRET", "x"),
        ])
        .unwrap_err();
        assert_eq!(both.setting, "M2M_WEBHOOK_SECRET");
    }

    #[test]
    fn secret_values_never_appear_in_errors_or_debug() {
        let c = config(&[
            BROKER,
            ("M2M_WEBHOOK_SECRET", "hunter2-m2m"),
            ("KAFKA_SASL_PASSWORD", "hunter2-sasl"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        let err = config(&[BROKER, ("TRANSFERS_SIGNATURE_TOKEN", "hunter2,,x")]).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn kafka_variables_pass_through_and_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let pw = dir.path().join("pw");
        std::fs::write(&pw, "s3cret\n").unwrap();
        let c = config(&[
            BROKER,
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"),
            ("KAFKA_SASL_USERNAME", "gw"),
            ("KAFKA_SASL_PASSWORD_FILE", pw.to_str().unwrap()),
            ("KAFKA_LINGER_MS", "1"),
        ])
        .unwrap();
        assert_eq!(c.kafka.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.kafka.get("sasl.password"), Some("s3cret"));
        assert_eq!(c.kafka.get("linger.ms"), Some("1"));
        assert!(c
            .kafka
            .redacted()
            .contains(&("sasl.password".into(), "<redacted>".into())));
    }

    #[test]
    fn only_properties_known_to_hold_no_secret_are_shown() {
        let dir = tempfile::tempdir().unwrap();
        let id = dir.path().join("client-id");
        std::fs::write(&id, "hunter2-from-a-file\n").unwrap();
        let c = config(&[
            BROKER,
            ("KAFKA_SASL_MECHANISM", "OAUTHBEARER"),
            (
                "KAFKA_SASL_OAUTHBEARER_CONFIG",
                "principal=svc extension_apikey=hunter2-oauth",
            ),
            // Valid, and no keyword of a deny-list would catch it.
            (
                "KAFKA_SASL_KERBEROS_KINIT_CMD",
                "kinit -k -t /k hunter2-kinit",
            ),
            ("KAFKA_SASL_USERNAME", "hunter2-user"),
            ("KAFKA_CLIENT_ID_FILE", id.to_str().unwrap()),
            ("KAFKA_LINGER_MS", "7"),
        ])
        .unwrap();
        let shown = format!("{:?} {:?}", c, c.kafka.redacted());
        assert!(!shown.contains("hunter2"), "{shown}");
        let redacted = c.kafka.redacted();
        for (property, value) in [
            ("sasl.oauthbearer.config", "<redacted>"),
            ("sasl.kerberos.kinit.cmd", "<redacted>"),
            ("sasl.username", "<redacted>"),
            ("client.id", "<redacted>"),
            ("linger.ms", "7"),
            ("sasl.mechanism", "OAUTHBEARER"),
        ] {
            assert!(
                redacted.contains(&(property.into(), value.into())),
                "{property}: {redacted:?}"
            );
        }
    }

    #[test]
    fn the_gateways_own_properties_are_all_shown() {
        let c = config(&[BROKER]).unwrap();
        for (property, value) in c.kafka.redacted() {
            assert_ne!(value, "<redacted>", "{property}");
        }
    }

    #[test]
    fn librdkafkas_refusal_never_quotes_a_value_not_known_to_be_safe() {
        // librdkafka's reason quotes the value: "dlopen() failed: hunter2-plugin.so ...".
        let err = config(&[BROKER, ("KAFKA_PLUGIN_LIBRARY_PATHS", "hunter2-plugin")]).unwrap_err();
        assert_eq!(err.setting, "KAFKA_PLUGIN_LIBRARY_PATHS");
        assert!(!err.to_string().contains("hunter2"), "{err}");
        // A known-safe property keeps librdkafka's reason, and a misspelt name says so.
        let err = config(&[BROKER, ("KAFKA_LINGER_MS", "soon")]).unwrap_err();
        assert_eq!(err.setting, "KAFKA_LINGER_MS");
        assert!(err.reason.contains("Invalid value"), "{err}");
        let err = config(&[BROKER, ("KAFKA_LINGERR_MS", "5")]).unwrap_err();
        assert!(
            err.reason.contains("No such configuration property"),
            "{err}"
        );
    }

    #[test]
    fn service_link_variables_are_ignored_with_a_warning() {
        let c = config(&[
            BROKER,
            ("KAFKA_PORT", "tcp://10.0.0.1:9092"),
            ("KAFKA_SERVICE_HOST", "10.0.0.1"),
            ("KAFKA_PORT_9092_TCP", "x"),
        ])
        .unwrap();
        assert_eq!(c.warnings.len(), 3);
    }

    #[test]
    fn unknown_or_invalid_kafka_properties_are_errors() {
        let err = config(&[BROKER, ("KAFKA_NO_SUCH_THING", "1")]).unwrap_err();
        assert_eq!(err.setting, "KAFKA_NO_SUCH_THING");
        let err = config(&[BROKER, ("KAFKA_LINGER_MS", "soon")]).unwrap_err();
        assert_eq!(err.setting, "KAFKA_LINGER_MS");
    }

    #[test]
    fn delivery_guarantees_cannot_be_weakened() {
        for (var, value) in [
            ("KAFKA_ACKS", "1"),
            ("KAFKA_ENABLE_IDEMPOTENCE", "false"),
            ("KAFKA_MESSAGE_TIMEOUT_MS", "5"),
        ] {
            let err = config(&[BROKER, (var, value)]).unwrap_err();
            assert_eq!(err.setting, var);
        }
        assert!(config(&[BROKER, ("KAFKA_ACKS", "-1")]).is_ok());
    }

    fn kafka_var(property: &str) -> String {
        format!("KAFKA_{}", property.to_ascii_uppercase().replace('.', "_"))
    }

    #[test]
    fn an_alias_is_its_property_under_another_name() {
        // It overrides the gateway's default as the usual name would...
        let c = config(&[BROKER, ("KAFKA_QUEUE_BUFFERING_MAX_MS", "2")]).unwrap();
        assert_eq!(c.kafka.get("linger.ms"), Some("2"));
        assert_eq!(c.kafka.get("queue.buffering.max.ms"), Some("2"));
        // ...is held to the enforced values...
        let err = config(&[BROKER, ("KAFKA_REQUEST_REQUIRED_ACKS", "1")]).unwrap_err();
        assert_eq!(err.setting, "KAFKA_REQUEST_REQUIRED_ACKS");
        assert!(config(&[BROKER, ("KAFKA_REQUEST_REQUIRED_ACKS", "all")]).is_ok());
        // ...and names the brokers as well as bootstrap.servers does.
        let c = config(&[("KAFKA_METADATA_BROKER_LIST", "127.0.0.1:9092")]).unwrap();
        assert_eq!(c.kafka.get("bootstrap.servers"), Some("127.0.0.1:9092"));
    }

    #[test]
    fn a_property_set_under_both_its_names_is_refused() {
        for (name, alias) in KAFKA_ALIASES {
            let (a, b) = (kafka_var(name), kafka_var(alias));
            let err = config(&[BROKER, (&a, "1"), (&b, "1")]).unwrap_err();
            assert!(err.setting == a || err.setting == b, "{name}: {err}");
            assert!(err.reason.contains(name), "{name}: {err}");
        }
    }

    /// Each bounded setting with its largest accepted value, and what else it needs to pass.
    type Bounded = (&'static str, u64, &'static [(&'static str, &'static str)]);
    const BOUNDED: &[Bounded] = &[
        (
            "GATEWAY_MAX_BODY_BYTES",
            MAX_BODY_BYTES,
            &[("KAFKA_MESSAGE_MAX_BYTES", "1000000000")],
        ),
        ("GATEWAY_MAX_BUFFERED_BYTES", MAX_BUFFERED_BYTES, &[]),
        ("GATEWAY_BODY_TIMEOUT_MS", MAX_BODY_TIMEOUT_MS, &[]),
        ("GATEWAY_HEADER_TIMEOUT_SECS", MAX_HEADER_TIMEOUT_SECS, &[]),
        (
            "GATEWAY_REPLAY_TOLERANCE_SECS",
            MAX_REPLAY_TOLERANCE_SECS,
            &[],
        ),
        ("GATEWAY_PUBLISH_TIMEOUT_MS", MAX_PUBLISH_TIMEOUT_MS, &[]),
        ("GATEWAY_MAX_INFLIGHT", MAX_INFLIGHT, &[]),
        ("GATEWAY_MAX_CONNECTIONS", MAX_CONNECTIONS, &[]),
        (
            "GATEWAY_SHUTDOWN_DELAY_SECS",
            MAX_SHUTDOWN_DELAY_SECS,
            &[("GATEWAY_SHUTDOWN_GRACE_SECS", "3600")],
        ),
        ("GATEWAY_SHUTDOWN_GRACE_SECS", MAX_SHUTDOWN_GRACE_SECS, &[]),
        ("GATEWAY_SECRET_RELOAD_SECS", MAX_SECRET_RELOAD_SECS, &[]),
    ];

    #[test]
    fn values_past_a_settings_bound_are_refused_naming_it() {
        for (var, max, needs) in BOUNDED {
            let with = |value: &str| {
                let mut pairs = vec![BROKER, (*var, value)];
                pairs.extend_from_slice(needs);
                config(&pairs)
            };
            assert!(with(&max.to_string()).is_ok(), "{var}={max} is accepted");
            for value in [
                (max + 1).to_string(),
                u64::MAX.to_string(),
                format!("{}0", u64::MAX),
            ] {
                let err = with(&value).unwrap_err();
                assert_eq!(err.setting, *var, "{var}={value}: {err}");
                assert!(err.reason.contains(&max.to_string()), "{err}");
            }
        }
    }

    #[test]
    fn a_body_limit_too_large_for_the_producer_is_refused() {
        let err = config(&[BROKER, ("GATEWAY_MAX_BODY_BYTES", "1000000")]).unwrap_err();
        assert_eq!(err.setting, "GATEWAY_MAX_BODY_BYTES");
        assert!(config(&[
            BROKER,
            ("GATEWAY_MAX_BODY_BYTES", "1000000"),
            ("KAFKA_MESSAGE_MAX_BYTES", "2000000")
        ])
        .is_ok());
    }

    const ACME: &str = "providers:
  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-acme-signature}
    event: {name: /type, data: /data}
    events:
      - {name: invoice.paid, type: acme.invoice.paid, subject: /data/id}
  - name: beta
    secret: {env: BETA_SECRET}
    signature: {header: x-beta-signature}
    event: {name: /type, data: /data}
";

    #[test]
    fn the_providers_file_adds_definitions_whose_secrets_load_like_the_built_ins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("providers.yaml");
        std::fs::write(&file, ACME).unwrap();
        let secret = dir.path().join("acme");
        std::fs::write(&secret, "s1\ns2\n").unwrap();
        let c = config(&[
            BROKER,
            ("GATEWAY_PROVIDERS_FILE", file.to_str().unwrap()),
            ("ACME_SECRET_FILE", secret.to_str().unwrap()),
            // A defined type may be overridden like a built-in one.
            ("GATEWAY_TOPIC_OVERRIDES", "acme.invoice.paid=billing"),
        ])
        .unwrap();
        let names: Vec<_> = c.providers.list.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names, ["m2m", "transfers", "acme", "beta"]);
        let acme = &c.configured_secrets["acme"];
        assert!(matches!(&acme.source, SecretSource::File(p, _) if *p == secret));
        // beta's secret is unset: disabled, and said so at start-up.
        assert!(!c.configured_secrets.contains_key("beta"));
        assert!(c
            .warnings
            .iter()
            .any(|w| w.contains("\"beta\" is disabled: BETA_SECRET")));

        // Its secret variable follows the built-ins' rules.
        let err = config(&[
            BROKER,
            ("GATEWAY_PROVIDERS_FILE", file.to_str().unwrap()),
            ("ACME_SECRET", "a,,b"),
        ])
        .unwrap_err();
        assert_eq!(err.setting, "ACME_SECRET");
    }

    #[test]
    fn a_bad_providers_file_names_itself_the_provider_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("providers.yaml");
        std::fs::write(
            &file,
            ACME.replace("acme.invoice.paid", "acme.invoice_paid"),
        )
        .unwrap();
        let path = file.to_str().unwrap();
        // The type's topic differs from the override's only by `_` against `.`.
        let err = config(&[
            BROKER,
            ("GATEWAY_PROVIDERS_FILE", path),
            (
                "GATEWAY_TOPIC_OVERRIDES",
                "unrouted=webhooks.acme.invoice.paid",
            ),
        ])
        .unwrap_err();
        assert_eq!(err.setting, format!("GATEWAY_PROVIDERS_FILE={path}"));
        assert!(
            err.reason
                .starts_with("provider \"acme\": events[0].topic: "),
            "{err}"
        );
        let missing = config(&[BROKER, ("GATEWAY_PROVIDERS_FILE", "/nonexistent.yaml")]);
        assert!(missing
            .unwrap_err()
            .to_string()
            .contains("/nonexistent.yaml"));
    }
}
