//! # webhook-gateway
//!
//! Receives provider webhooks, proves them authentic, turns each into one
//! canonical CloudEvent, publishes it to Kafka and answers 2xx only after the
//! broker has acknowledged the write.
//!
//! # Layout
//!
//! The folders follow a webhook: HTTP in, the engine (verify, normalize,
//! route, record), Kafka out.
//!
//! - [`http`]: the public listener and one webhook's IO (body, budget, in-flight cap, publish
//!   and await every ack, respond), the admin port, health; start-up and graceful shutdown
//!   ([`http::server`], with the [`Inputs`] a test may replace: the clock and what builds
//!   Kafka producers)
//! - [`engine`]: a request's meaning without IO, naming no provider: the pipeline, the
//!   compiled provider, verify, normalize, the envelope and every record header, the topic
//!   of every route, what a record keeps for a re-drive, the trace context
//! - [`kafka`]: the producer (send, await the ack, classify errors, replace when fatal,
//!   flush), its errors, the `topics` admin
//! - [`definitions`]: the provider definition format, its start-up checks, the built-ins and
//!   presets (`src/definitions/{builtin,presets}`, compiled in), the operator's
//!   `GATEWAY_PROVIDERS_FILE`, `providers show`, and samples of what a definition routes
//! - [`settings`]: settings from flags and an environment map, and what is built from them
//!   (definitions and topics, secrets loaded once and reloaded, the producer's properties)
//! - [`contract`]: the consumer contract: an AsyncAPI 3.0 document of every record, `contract --check`
//! - [`metrics`]: Prometheus metrics on the gateway's own registry
//!
//! The commands:
//!
//! - [`cmd`]: the command line ([`cmd::cli`], clap, flags only), and one module per command (the gateway, `--dev`, sign, topics, redrive, contract,
//!   providers): its shell, which returns one [`cmd::Outcome`] that main maps to the exit status
//! - [`sign`]: sign a body as a provider would
//! - [`redrive`]: unrouted and dead-letter records the current definitions route,
//!   republished as at receive time
//! - [`dev`]: `--dev`: an embedded broker, demo secrets, a live view of the topics

pub mod cmd;
pub mod contract;
pub mod definitions;
pub mod dev;
pub mod engine;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod redrive;
pub mod settings;
pub mod sign;

pub use http::server::{run, start, start_with, Inputs, Running};

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
pub fn init_logging(format: settings::LogFormat) {
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
        settings::LogFormat::Json => builder.json().flatten_event(true).try_init(),
        settings::LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod engine_names_no_provider {
    use crate::definitions::definition::Source;
    use crate::definitions::Definitions;

    /// The request path's code, tests excluded: adding a provider is adding a
    /// definition, so no provider's name, header, event or field appears here.
    const ENGINE: [(&str, &str); 12] = [
        ("engine/pipeline.rs", include_str!("engine/pipeline.rs")),
        ("engine/provider.rs", include_str!("engine/provider.rs")),
        ("engine/verify/mod.rs", include_str!("engine/verify/mod.rs")),
        (
            "engine/verify/keys.rs",
            include_str!("engine/verify/keys.rs"),
        ),
        (
            "engine/verify/timestamp.rs",
            include_str!("engine/verify/timestamp.rs"),
        ),
        (
            "engine/normalize/mod.rs",
            include_str!("engine/normalize/mod.rs"),
        ),
        (
            "engine/normalize/plan.rs",
            include_str!("engine/normalize/plan.rs"),
        ),
        (
            "engine/normalize/json.rs",
            include_str!("engine/normalize/json.rs"),
        ),
        ("engine/route.rs", include_str!("engine/route.rs")),
        ("engine/envelope.rs", include_str!("engine/envelope.rs")),
        ("kafka/mod.rs", include_str!("kafka/mod.rs")),
        ("kafka/producer.rs", include_str!("kafka/producer.rs")),
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
            if let Some(header) = &d.signature.header {
                any_case.push(header.as_str().to_owned());
            }
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
                    Source::Value(_) => {}
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
