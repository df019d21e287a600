//! # webhook-gateway
//!
//! Receives provider webhooks, proves them authentic, turns each into one
//! canonical CloudEvent, publishes it to Kafka and answers 2xx only after the
//! broker has acknowledged the write.
//!
//! # Layout
//!
//! The request path, in the order a webhook takes it:
//!
//! - [`server`]: start-up, the public listener (connection and size limits, timeouts), graceful shutdown
//! - [`ingest`]: one request: read body -> verify -> normalize -> route -> publish -> respond
//! - [`budget`]: the memory budget for bodies not yet verified
//! - [`verify`]: HMAC signature schemes; [`verify::Verified`] is built only there
//! - [`providers`]: M2M and Transfers (served from code for now), and the provider definition
//!   format: its types, presets, start-up checks, the built-ins' definition files, `providers show`
//! - [`normalize`]: verified body -> canonical envelope, or a dead letter
//! - [`envelope`]: the canonical event (CloudEvents 1.0) and its Kafka record form
//! - [`routing`]: canonical type -> topic
//! - [`publish`]: the Kafka producer: send, await ack, classify errors, replace when fatal, flush
//! - [`error`]: the request error enum, mapped to status codes in one place
//! - [`respond`]: every HTTP answer, built in one place
//! - [`trace`]: the W3C `traceparent` carried from request to record
//!
//! Around it:
//!
//! - [`cli`]: the command line: the gateway or one of its subcommands
//! - [`config`]: settings from flags and environment, secrets loaded once
//! - [`metrics`]: Prometheus metrics on the gateway's own registry
//! - [`admin`]: the admin port: metrics, probes and the contract, a plain request-to-answer function
//! - [`contract`]: the consumer contract: an AsyncAPI 3.0 document of every record, `contract --check`
//! - [`health`]: liveness and readiness, and the topic watcher that drives readiness
//! - [`reload`]: re-reads secret files when they change (rotation without restart)
//! - [`sign`]: the `sign` subcommand (sign a body as a provider would)
//! - [`topics`]: the `topics check|create` subcommand
//! - [`dev`]: `--dev`: an embedded broker, demo secrets, a live view of the topics

pub mod admin;
pub mod budget;
pub mod cli;
pub mod config;
pub mod contract;
pub mod dev;
pub mod envelope;
pub mod error;
pub mod health;
pub mod ingest;
pub mod metrics;
pub mod normalize;
pub mod providers;
pub mod publish;
pub mod reload;
pub mod respond;
pub mod routing;
pub mod server;
pub mod sign;
pub mod topics;
pub mod trace;
pub mod verify;

#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub mod test_hooks;

pub use server::{run, start, Running};

/// The exit status for a wrong invocation: a bad flag, setting or definitions
/// file. `EX_USAGE` in sysexits.h: retrying the same command won't help.
pub const EX_USAGE: u8 = 64;

/// Logs to stderr: level from `RUST_LOG` (default `info`), format from `LOG_FORMAT`.
pub fn init_logging(format: config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    let _ = match format {
        config::LogFormat::Json => builder.json().flatten_event(true).try_init(),
        config::LogFormat::Text => builder.try_init(),
    };
}
