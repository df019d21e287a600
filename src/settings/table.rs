//! Every run setting written once: its variable, flag, default, bounds and
//! reader; and [`Settings`], the plain values read from them. `RunFlags`' help,
//! [`Settings::read`] and docs/configuration.md's table (held by a test) all
//! take them from here, so they agree.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::values::{overrides, socket_addr, whole, Documented, Setting, ValueError};
use super::ENVELOPE_OVERHEAD_BYTES;
use super::{default_worker_threads, invalid, ConfigError, Env, LogFormat, RunFlags};
pub use crate::definitions::load::PROVIDERS_FILE_VAR;
pub use crate::definitions::rules::MAX_REPLAY_TOLERANCE_SECS;

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
/// Async worker threads: more than any one machine's cores.
pub const MAX_WORKER_THREADS: u64 = 1024;
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
    // The largest body fits the largest message.max.bytes librdkafka accepts,
    // even as base64 (`body: any`).
    assert!((MAX_BODY_BYTES as usize).div_ceil(3) * 4 + ENVELOPE_OVERHEAD_BYTES <= 1_000_000_000);
};

pub const GATEWAY_LISTEN_ADDR: Setting<SocketAddr> = Setting::new(
    "GATEWAY_LISTEN_ADDR",
    "listen-addr",
    Some("0.0.0.0:8080"),
    |t| socket_addr(t, "0.0.0.0:8080 or [::]:8080"),
);
pub const GATEWAY_ADMIN_ADDR: Setting<SocketAddr> = Setting::new(
    "GATEWAY_ADMIN_ADDR",
    "admin-addr",
    Some("0.0.0.0:9090"),
    |t| socket_addr(t, "0.0.0.0:9090"),
);
pub const GATEWAY_MAX_BODY_BYTES: Setting<usize> = Setting::new(
    "GATEWAY_MAX_BODY_BYTES",
    "max-body-bytes",
    Some("262144"),
    bytes::<MAX_BODY_BYTES>,
);
pub const GATEWAY_MAX_BUFFERED_BYTES: Setting<usize> = Setting::new(
    "GATEWAY_MAX_BUFFERED_BYTES",
    "max-buffered-bytes",
    Some("67108864"),
    bytes::<MAX_BUFFERED_BYTES>,
);
pub const GATEWAY_BODY_TIMEOUT_MS: Setting<Duration> = Setting::new(
    "GATEWAY_BODY_TIMEOUT_MS",
    "body-timeout-ms",
    Some("10000"),
    ms::<MAX_BODY_TIMEOUT_MS>,
);
pub const GATEWAY_HEADER_TIMEOUT_SECS: Setting<Duration> = Setting::new(
    "GATEWAY_HEADER_TIMEOUT_SECS",
    "header-timeout-secs",
    Some("75"),
    secs::<1, MAX_HEADER_TIMEOUT_SECS>,
);
pub const GATEWAY_REPLAY_TOLERANCE_SECS: Setting<Duration> = Setting::new(
    "GATEWAY_REPLAY_TOLERANCE_SECS",
    "replay-tolerance-secs",
    Some("300"),
    secs::<1, MAX_REPLAY_TOLERANCE_SECS>,
);
pub const GATEWAY_PUBLISH_TIMEOUT_MS: Setting<Duration> = Setting::new(
    "GATEWAY_PUBLISH_TIMEOUT_MS",
    "publish-timeout-ms",
    Some("10000"),
    ms::<MAX_PUBLISH_TIMEOUT_MS>,
);
pub const GATEWAY_MAX_INFLIGHT: Setting<usize> =
    Setting::new("GATEWAY_MAX_INFLIGHT", "max-inflight", Some("1024"), |t| {
        whole(t, 1..=MAX_INFLIGHT, "requests").map(|n| n as usize)
    });
pub const GATEWAY_MAX_CONNECTIONS: Setting<usize> = Setting::new(
    "GATEWAY_MAX_CONNECTIONS",
    "max-connections",
    Some("4096"),
    |t| whole(t, 1..=MAX_CONNECTIONS, "connections").map(|n| n as usize),
);
/// Unset: one fewer than the CPUs available, at least one
/// ([`super::default_worker_threads`]).
pub const GATEWAY_WORKER_THREADS: Setting<usize> =
    Setting::new("GATEWAY_WORKER_THREADS", "worker-threads", None, |t| {
        whole(t, 1..=MAX_WORKER_THREADS, "threads").map(|n| n as usize)
    });
pub const GATEWAY_TOPIC_PREFIX: Setting<String> = Setting::new(
    "GATEWAY_TOPIC_PREFIX",
    "topic-prefix",
    Some("webhooks"),
    |t| Ok(t.to_owned()),
);
pub const GATEWAY_TOPIC_OVERRIDES: Setting<BTreeMap<String, String>> = Setting::new(
    "GATEWAY_TOPIC_OVERRIDES",
    "topic-overrides",
    None,
    overrides,
);
/// Zero is allowed: no delay (`--dev`'s Ctrl-C).
pub const GATEWAY_SHUTDOWN_DELAY_SECS: Setting<Duration> = Setting::new(
    "GATEWAY_SHUTDOWN_DELAY_SECS",
    "shutdown-delay-secs",
    Some("5"),
    secs::<0, MAX_SHUTDOWN_DELAY_SECS>,
);
pub const GATEWAY_SHUTDOWN_GRACE_SECS: Setting<Duration> = Setting::new(
    "GATEWAY_SHUTDOWN_GRACE_SECS",
    "shutdown-grace-secs",
    Some("30"),
    secs::<1, MAX_SHUTDOWN_GRACE_SECS>,
);
pub const GATEWAY_SECRET_RELOAD_SECS: Setting<Duration> = Setting::new(
    "GATEWAY_SECRET_RELOAD_SECS",
    "secret-reload-secs",
    Some("10"),
    secs::<1, MAX_SECRET_RELOAD_SECS>,
);
/// The variable is the providers module's: `sign`, `topics` and `providers
/// show` read the same one.
pub const GATEWAY_PROVIDERS_FILE: Setting<PathBuf> =
    Setting::new(PROVIDERS_FILE_VAR, "providers-file", None, |t| {
        Ok(PathBuf::from(t))
    });
pub const LOG_FORMAT: Setting<LogFormat> =
    Setting::new("LOG_FORMAT", "log-format", Some("text"), |t| match t {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        other => Err(ValueError::Choice {
            words: "`json` or `text`",
            got: other.to_owned(),
        }),
    });

/// Every run setting, in `--help`'s order: what docs/configuration.md's table lists.
pub const DOCUMENTED: [Documented; 18] = [
    GATEWAY_LISTEN_ADDR.documented(),
    GATEWAY_ADMIN_ADDR.documented(),
    GATEWAY_MAX_BODY_BYTES.documented(),
    GATEWAY_MAX_BUFFERED_BYTES.documented(),
    GATEWAY_BODY_TIMEOUT_MS.documented(),
    GATEWAY_HEADER_TIMEOUT_SECS.documented(),
    GATEWAY_REPLAY_TOLERANCE_SECS.documented(),
    GATEWAY_PUBLISH_TIMEOUT_MS.documented(),
    GATEWAY_MAX_INFLIGHT.documented(),
    GATEWAY_MAX_CONNECTIONS.documented(),
    GATEWAY_WORKER_THREADS.documented(),
    GATEWAY_TOPIC_PREFIX.documented(),
    GATEWAY_TOPIC_OVERRIDES.documented(),
    GATEWAY_SHUTDOWN_DELAY_SECS.documented(),
    GATEWAY_SHUTDOWN_GRACE_SECS.documented(),
    GATEWAY_SECRET_RELOAD_SECS.documented(),
    GATEWAY_PROVIDERS_FILE.documented(),
    LOG_FORMAT.documented(),
];

/// `--dev` listens on loopback only and stops at once on Ctrl-C: a laptop, not
/// a pod. Its defaults; a flag or a variable still wins.
const DEV_LISTEN_ADDR: &str = "127.0.0.1:8080";
const DEV_ADMIN_ADDR: &str = "127.0.0.1:9090";
const DEV_SHUTDOWN_DELAY_SECS: &str = "0";

/// The plain settings: each from its flag, else its variable, else its
/// default, checked against each other. What is built from them (the
/// definitions, the topics, the secrets' key rings, the producer's
/// properties) is [`super::Config`]'s.
#[derive(Debug, Clone)]
pub struct Settings {
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
    /// Unset: [`default_worker_threads`].
    pub worker_threads: usize,
    pub topic_prefix: String,
    /// Unset: none.
    pub topic_overrides: BTreeMap<String, String>,
    pub shutdown_delay: Duration,
    pub shutdown_grace: Duration,
    pub secret_reload: Duration,
    pub providers_file: Option<PathBuf>,
    pub log_format: LogFormat,
}

impl Settings {
    /// Every setting from `env` alone, as a subcommand reads them.
    pub fn from_env(env: &Env) -> Result<Settings, ConfigError> {
        Settings::read(&RunFlags::default(), env)
    }

    /// Each setting from its flag in `flags`, else its variable in `env`,
    /// else its default (`--dev`'s where it has its own); a value that does
    /// not read is refused naming the variable.
    pub fn read(flags: &RunFlags, env: &Env) -> Result<Settings, ConfigError> {
        let dev = |default| flags.dev.then_some(default);
        let settings = Settings {
            listen_addr: GATEWAY_LISTEN_ADDR.value_or(
                flags.listen_addr.as_deref(),
                env,
                dev(DEV_LISTEN_ADDR),
            )?,
            admin_addr: GATEWAY_ADMIN_ADDR.value_or(
                flags.admin_addr.as_deref(),
                env,
                dev(DEV_ADMIN_ADDR),
            )?,
            max_body_bytes: GATEWAY_MAX_BODY_BYTES.value(flags.max_body_bytes.as_deref(), env)?,
            max_buffered_bytes: GATEWAY_MAX_BUFFERED_BYTES
                .value(flags.max_buffered_bytes.as_deref(), env)?,
            body_timeout: GATEWAY_BODY_TIMEOUT_MS.value(flags.body_timeout.as_deref(), env)?,
            header_timeout: GATEWAY_HEADER_TIMEOUT_SECS
                .value(flags.header_timeout.as_deref(), env)?,
            replay_tolerance: GATEWAY_REPLAY_TOLERANCE_SECS
                .value(flags.replay_tolerance.as_deref(), env)?,
            publish_timeout: GATEWAY_PUBLISH_TIMEOUT_MS
                .value(flags.publish_timeout.as_deref(), env)?,
            max_inflight: GATEWAY_MAX_INFLIGHT.value(flags.max_inflight.as_deref(), env)?,
            max_connections: GATEWAY_MAX_CONNECTIONS
                .value(flags.max_connections.as_deref(), env)?,
            worker_threads: GATEWAY_WORKER_THREADS
                .optional(flags.worker_threads.as_deref(), env)?
                .unwrap_or_else(default_worker_threads),
            topic_prefix: GATEWAY_TOPIC_PREFIX.value(flags.topic_prefix.as_deref(), env)?,
            topic_overrides: GATEWAY_TOPIC_OVERRIDES
                .optional(flags.topic_overrides.as_deref(), env)?
                .unwrap_or_default(),
            shutdown_delay: GATEWAY_SHUTDOWN_DELAY_SECS.value_or(
                flags.shutdown_delay.as_deref(),
                env,
                dev(DEV_SHUTDOWN_DELAY_SECS),
            )?,
            shutdown_grace: GATEWAY_SHUTDOWN_GRACE_SECS
                .value(flags.shutdown_grace.as_deref(), env)?,
            secret_reload: GATEWAY_SECRET_RELOAD_SECS.value(flags.secret_reload.as_deref(), env)?,
            // A path as the command line gives it, which may not be UTF-8.
            providers_file: match &flags.providers_file {
                Some(file) => Some(file.clone()),
                None => GATEWAY_PROVIDERS_FILE.optional(None, env)?,
            },
            log_format: LOG_FORMAT.value(flags.log_format.as_deref(), env)?,
        };
        settings.check()?;
        Ok(settings)
    }

    /// The rules between settings.
    fn check(&self) -> Result<(), ConfigError> {
        if self.max_buffered_bytes < self.max_body_bytes {
            return Err(invalid(
                GATEWAY_MAX_BUFFERED_BYTES.var,
                format!(
                    "must hold at least one body of {} ({})",
                    GATEWAY_MAX_BODY_BYTES.var, self.max_body_bytes
                ),
            ));
        }
        if self.shutdown_grace <= self.shutdown_delay {
            return Err(invalid(
                GATEWAY_SHUTDOWN_GRACE_SECS.var,
                format!("must be larger than {}", GATEWAY_SHUTDOWN_DELAY_SECS.var),
            ));
        }
        Ok(())
    }
}

/// Bytes from 1 to `MAX`.
fn bytes<const MAX: u64>(text: &str) -> Result<usize, ValueError> {
    whole(text, 1..=MAX, "bytes").map(|n| n as usize)
}

/// Milliseconds from 1 to `MAX`.
fn ms<const MAX: u64>(text: &str) -> Result<Duration, ValueError> {
    whole(text, 1..=MAX, "ms").map(Duration::from_millis)
}

/// Seconds from `MIN` to `MAX`.
fn secs<const MIN: u64, const MAX: u64>(text: &str) -> Result<Duration, ValueError> {
    whole(text, MIN..=MAX, "s").map(Duration::from_secs)
}
