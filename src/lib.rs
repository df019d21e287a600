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
//! - [`server`]: start-up (the settings, and the [`Inputs`] a test may replace: the clock and
//!   what builds Kafka producers), the public listener (connection and size limits, timeouts),
//!   graceful shutdown
//! - [`listener`]: what the public and admin listeners share: the connection cap, HTTP/1's head limits
//! - [`ingest`]: one request's IO: read the body (bounded), run the pipeline, publish and
//!   await every ack, respond
//! - [`budget`]: the memory budget for bodies not yet verified
//! - [`pipeline`]: one request's meaning without IO: verify -> normalize -> record, the
//!   records to publish; called by ingest, the re-drive, the benches and the fuzz targets
//! - [`provider`]: a provider compiled for the request path: definition, reading plan
//!   (topics and `dataschema`s resolved), keys swapped by a reload
//! - [`verify`]: HMAC signature schemes as a definition states them; [`verify::Verified`] is built only there
//! - [`normalize`]: verified body -> canonical envelope, or a dead letter, as the definition
//!   says (a definition compiled once into a [`normalize::Plan`]: one pass over the body),
//!   deciding its route once
//! - [`envelope`]: the canonical event (CloudEvents 1.0) and its Kafka record form
//! - [`record`]: every Kafka record header name, and which record kinds carry it
//! - [`routing`]: the topic of every route, computed and checked once
//! - [`publish`]: the Kafka producer: send, await ack, classify errors, replace when fatal, flush
//! - [`publish_error`]: what a publish can end in besides the ack, and its metric reason
//! - [`error`]: the request error enum, mapped to status codes in one place
//! - [`respond`]: every HTTP answer, built in one place
//! - [`trace`]: the W3C `traceparent` carried from request to record
//!
//! The engine above names no provider: every provider, the built-ins included,
//! is data.
//!
//! - [`providers`]: the provider definition format (its types, the start-up
//!   checks, presets, `providers show`), and where definitions come from: the
//!   built-ins' and presets' YAML files in `src/providers/{builtin,presets}`,
//!   compiled in, and the operator's `GATEWAY_PROVIDERS_FILE`
//!
//! Around it:
//!
//! - [`cli`]: the command line (clap, flags only): the gateway or one of its subcommands
//! - [`cmd`]: one module per command (the gateway, `--dev`, sign, topics, redrive, contract,
//!   providers): its shell, which returns one [`cmd::Outcome`] that main maps to the exit status
//! - [`config`]: settings from flags and an environment map, and what is built from them
//!   (definitions and topics, secrets loaded once, the producer's properties)
//! - [`metrics`]: Prometheus metrics on the gateway's own registry
//! - [`admin`]: the admin port: metrics, probes and the contract, a plain request-to-answer function
//! - [`contract`]: the consumer contract: an AsyncAPI 3.0 document of every record, `contract --check`
//! - [`health`]: liveness and readiness, and the topic watcher that drives readiness
//! - [`reload`]: re-reads secret files when they change (rotation without restart)
//! - [`sign`]: the `sign` subcommand (sign a body as a provider would)
//! - [`sample`]: a webhook a definition routes (its `sample:`, or one built from its
//!   catalogue), for `--dev`'s commands and docs/consuming.md's event catalogue
//! - [`topics`]: the `topics check|create` subcommand
//! - [`replay`]: what unrouted and dead-letter records keep of their request, written by
//!   [`ingest`] and read back by [`redrive`]
//! - [`redrive`]: the `redrive` subcommand: unrouted and dead-letter records the current
//!   definitions route, republished as at receive time
//! - [`dev`]: `--dev`: an embedded broker, demo secrets, a live view of the topics

pub mod admin;
pub mod budget;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod contract;
pub mod dev;
pub mod envelope;
pub mod error;
pub mod health;
pub mod ingest;
pub mod listener;
pub mod metrics;
pub mod normalize;
pub mod pipeline;
pub mod provider;
pub mod providers;
pub mod publish;
pub mod publish_error;
pub mod record;
pub mod redrive;
pub mod reload;
pub mod replay;
pub mod respond;
pub mod routing;
pub mod sample;
pub mod server;
pub mod sign;
pub mod topics;
pub mod trace;
pub mod verify;

pub use server::{run, start, start_with, Inputs, Running};

/// The exit status for a wrong invocation: a bad flag, setting or definitions
/// file. `EX_USAGE` in sysexits.h: retrying the same command won't help.
pub const EX_USAGE: u8 = 64;

/// The async runtime every command runs on, `worker_threads` wide. Sized
/// explicitly: tokio's own default reads `TOKIO_WORKER_THREADS` and panics on
/// a bad value, where a bad setting must exit 64.
pub fn runtime(worker_threads: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(worker_threads)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Logs to stderr: level from `RUST_LOG` (default `info`), format from `LOG_FORMAT`.
pub fn init_logging(format: config::LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colour codes only for a person at a terminal: in a log pipeline they are
    // noise, and writing them is part of every webhook's log line.
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    let _ = match format {
        config::LogFormat::Json => builder.json().flatten_event(true).try_init(),
        config::LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod engine_names_no_provider {
    use crate::providers::definition::Source;
    use crate::providers::Definitions;

    /// The request path's code, tests excluded: adding a provider is adding a
    /// definition, so no provider's name, header, event or field appears here.
    const ENGINE: [(&str, &str); 10] = [
        ("verify/mod.rs", include_str!("verify/mod.rs")),
        ("verify/keys.rs", include_str!("verify/keys.rs")),
        ("verify/timestamp.rs", include_str!("verify/timestamp.rs")),
        ("normalize/mod.rs", include_str!("normalize/mod.rs")),
        ("normalize/plan.rs", include_str!("normalize/plan.rs")),
        ("normalize/json.rs", include_str!("normalize/json.rs")),
        ("routing.rs", include_str!("routing.rs")),
        ("envelope.rs", include_str!("envelope.rs")),
        ("publish/mod.rs", include_str!("publish/mod.rs")),
        ("publish/producer.rs", include_str!("publish/producer.rs")),
    ];

    /// Words of the format itself (`/event`, `/data`) and of CloudEvents are not a provider's.
    const GENERIC: [&str; 2] = ["event", "data"];

    /// Names and headers (matched in any case), and the events and JSON
    /// fields (case-sensitive, as JSON is: `userId` is a field, `userid` the
    /// CloudEvents extension every provider fills).
    fn provider_words() -> Vec<(String, bool)> {
        let defs = Definitions::builtin();
        let mut any_case = Vec::new();
        let mut words = Vec::new();
        for d in &defs.list {
            any_case.push(d.name.clone());
            any_case.push(d.signature.header.as_str().to_owned());
            let mut sources: Vec<&Source> = vec![&d.event.name];
            sources.extend(d.event.user.iter().chain(&d.event.time));
            sources.extend(&d.unrouted_subject);
            for e in &d.events {
                words.push(e.name.clone());
                sources.push(&e.subject);
                words.extend(e.when.iter().flat_map(|(p, _)| p.tokens()));
            }
            for s in sources {
                match s {
                    Source::Pointer(p) => words.extend(p.tokens()),
                    Source::Header(h) => any_case.push(h.as_str().to_owned()),
                    Source::Field(f) => words.push(f.clone()),
                }
            }
        }
        words.retain(|w| !GENERIC.contains(&w.as_str()));
        let mut all: Vec<_> = words.into_iter().map(|w| (w, false)).collect();
        all.extend(any_case.into_iter().map(|w| (w.to_lowercase(), true)));
        all.sort();
        all.dedup();
        all
    }

    #[test]
    fn the_engine_holds_no_provider_name_header_event_or_field() {
        let words = provider_words();
        assert!(
            words.iter().any(|(w, _)| w == "paymentReference"),
            "{words:?}"
        );
        for (file, text) in ENGINE {
            let code = text.split("#[cfg(test)]").next().unwrap();
            let lower = code.to_lowercase();
            for (word, any_case) in &words {
                let code = if *any_case { &lower } else { code };
                // As a whole word: `userid` (a CloudEvents extension) is not `userId`'s `id`.
                let named = code.match_indices(word.as_str()).any(|(at, _)| {
                    let before = code[..at].chars().next_back();
                    let after = code[at + word.len()..].chars().next();
                    let part = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
                    !part(before) && !part(after)
                });
                assert!(
                    !named,
                    "{file} names `{word}`: read it from a definition instead"
                );
            }
        }
    }
}
