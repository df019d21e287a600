//! Every run setting written once: its variable, default, bounds and reader.
//! `RunArgs`' clap attributes and the resolver's messages both read these, so
//! `--help`, the README's table (held by a test) and the resolver agree.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::values::{overrides, socket_addr, whole, Setting};
use super::{LogFormat, ENVELOPE_OVERHEAD_BYTES};
pub use crate::providers::load::PROVIDERS_FILE_VAR;
pub use crate::providers::rules::MAX_REPLAY_TOLERANCE_SECS;

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

pub const GATEWAY_LISTEN_ADDR: Setting<SocketAddr> =
    Setting::new("GATEWAY_LISTEN_ADDR", Some("0.0.0.0:8080"), |t| {
        socket_addr(t, "0.0.0.0:8080 or [::]:8080")
    });
pub const GATEWAY_ADMIN_ADDR: Setting<SocketAddr> =
    Setting::new("GATEWAY_ADMIN_ADDR", Some("0.0.0.0:9090"), |t| {
        socket_addr(t, "0.0.0.0:9090")
    });
pub const GATEWAY_MAX_BODY_BYTES: Setting<usize> = Setting::new(
    "GATEWAY_MAX_BODY_BYTES",
    Some("262144"),
    bytes::<MAX_BODY_BYTES>,
);
pub const GATEWAY_MAX_BUFFERED_BYTES: Setting<usize> = Setting::new(
    "GATEWAY_MAX_BUFFERED_BYTES",
    Some("67108864"),
    bytes::<MAX_BUFFERED_BYTES>,
);
pub const GATEWAY_BODY_TIMEOUT_MS: Setting<Duration> = Setting::new(
    "GATEWAY_BODY_TIMEOUT_MS",
    Some("10000"),
    ms::<MAX_BODY_TIMEOUT_MS>,
);
pub const GATEWAY_HEADER_TIMEOUT_SECS: Setting<Duration> = Setting::new(
    "GATEWAY_HEADER_TIMEOUT_SECS",
    Some("75"),
    secs::<1, MAX_HEADER_TIMEOUT_SECS>,
);
pub const GATEWAY_REPLAY_TOLERANCE_SECS: Setting<Duration> = Setting::new(
    "GATEWAY_REPLAY_TOLERANCE_SECS",
    Some("300"),
    secs::<1, MAX_REPLAY_TOLERANCE_SECS>,
);
pub const GATEWAY_PUBLISH_TIMEOUT_MS: Setting<Duration> = Setting::new(
    "GATEWAY_PUBLISH_TIMEOUT_MS",
    Some("10000"),
    ms::<MAX_PUBLISH_TIMEOUT_MS>,
);
pub const GATEWAY_MAX_INFLIGHT: Setting<usize> =
    Setting::new("GATEWAY_MAX_INFLIGHT", Some("1024"), |t| {
        whole(t, 1..=MAX_INFLIGHT, "requests").map(|n| n as usize)
    });
pub const GATEWAY_MAX_CONNECTIONS: Setting<usize> =
    Setting::new("GATEWAY_MAX_CONNECTIONS", Some("4096"), |t| {
        whole(t, 1..=MAX_CONNECTIONS, "connections").map(|n| n as usize)
    });
/// Unset: one fewer than the CPUs available, at least one
/// ([`super::default_worker_threads`]).
pub const GATEWAY_WORKER_THREADS: Setting<usize> =
    Setting::new("GATEWAY_WORKER_THREADS", None, |t| {
        whole(t, 1..=MAX_WORKER_THREADS, "threads").map(|n| n as usize)
    });
pub const GATEWAY_TOPIC_PREFIX: Setting<String> =
    Setting::new("GATEWAY_TOPIC_PREFIX", Some("webhooks"), |t| {
        Ok(t.to_owned())
    });
pub const GATEWAY_TOPIC_OVERRIDES: Setting<BTreeMap<String, String>> =
    Setting::new("GATEWAY_TOPIC_OVERRIDES", None, overrides);
/// Zero is allowed: no delay (`--dev`'s Ctrl-C).
pub const GATEWAY_SHUTDOWN_DELAY_SECS: Setting<Duration> = Setting::new(
    "GATEWAY_SHUTDOWN_DELAY_SECS",
    Some("5"),
    secs::<0, MAX_SHUTDOWN_DELAY_SECS>,
);
pub const GATEWAY_SHUTDOWN_GRACE_SECS: Setting<Duration> = Setting::new(
    "GATEWAY_SHUTDOWN_GRACE_SECS",
    Some("30"),
    secs::<1, MAX_SHUTDOWN_GRACE_SECS>,
);
pub const GATEWAY_SECRET_RELOAD_SECS: Setting<Duration> = Setting::new(
    "GATEWAY_SECRET_RELOAD_SECS",
    Some("10"),
    secs::<1, MAX_SECRET_RELOAD_SECS>,
);
/// The variable is the providers module's: `sign`, `topics` and `providers
/// show` read the same one.
pub const GATEWAY_PROVIDERS_FILE: Setting<PathBuf> =
    Setting::new(PROVIDERS_FILE_VAR, None, |t| Ok(PathBuf::from(t)));
pub const LOG_FORMAT: Setting<LogFormat> = Setting::new("LOG_FORMAT", Some("text"), |t| match t {
    "text" => Ok(LogFormat::Text),
    "json" => Ok(LogFormat::Json),
    other => Err(format!("expected `json` or `text`, got `{other}`")),
});

/// Bytes from 1 to `MAX`.
fn bytes<const MAX: u64>(text: &str) -> Result<usize, String> {
    whole(text, 1..=MAX, "bytes").map(|n| n as usize)
}

/// Milliseconds from 1 to `MAX`.
fn ms<const MAX: u64>(text: &str) -> Result<Duration, String> {
    whole(text, 1..=MAX, "ms").map(Duration::from_millis)
}

/// Seconds from `MIN` to `MAX`.
fn secs<const MIN: u64, const MAX: u64>(text: &str) -> Result<Duration, String> {
    whole(text, MIN..=MAX, "s").map(Duration::from_secs)
}
