//! The event catalogue of docs/consuming.md, generated from the built-in definitions: a
//! table of every route, and one example Kafka record per route made by the
//! gateway's own code (sign, verify, normalize, route, envelope). A provider's
//! `sample:` is the example of the route it reaches; every other route shows
//! the smallest body that reaches it (`webhook_gateway::definitions::sample`).
//!
//! cargo run --example catalogue              # prints the generated part of docs/consuming.md
//! cargo run --example catalogue -- --write   # replaces it there
//!
//! tests/it/readme.rs fails when docs/consuming.md and this generator disagree.

use std::path::Path;
use std::time::{Duration, UNIX_EPOCH};

use webhook_gateway::contract::DataSchemas;
use webhook_gateway::definitions::compiled::TimestampFormat;
use webhook_gateway::definitions::definition::Source;
use webhook_gateway::definitions::sample;
use webhook_gateway::definitions::{Definition, Definitions};
use webhook_gateway::dev::demo_secret;
use webhook_gateway::engine::envelope::Record;
use webhook_gateway::engine::normalize::RequestMeta;
use webhook_gateway::engine::pipeline;
use webhook_gateway::engine::provider::Provider;
use webhook_gateway::engine::route::Topics;
use webhook_gateway::settings::key_ring;
use webhook_gateway::sign::{signature_headers, Parts};

pub const BEGIN: &str =
    "<!-- catalogue: generated from the built-in definitions by `cargo run --example catalogue -- --write` -->";
pub const END: &str = "<!-- end of the generated catalogue -->";

/// The document that holds the catalogue, relative to the repository root.
pub const DOC: &str = "docs/consuming.md";

/// Every example is received at 2026-11-23T10:00:02.512Z and signed a moment before.
const RECEIVED_MS: u64 = 1_795_428_002_512;

/// What a non-JSON body looks like on the dead-letter topic.
const NOT_JSON: (&str, &str) = (
    "amount=100.23&status=Completed",
    "application/x-www-form-urlencoded",
);

fn main() {
    let text = render();
    if std::env::args().any(|a| a == "--write") {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC);
        let doc = std::fs::read_to_string(&path).expect(DOC);
        let (start, end) =
            region(&doc).unwrap_or_else(|| panic!("{DOC} lacks the catalogue's markers"));
        let updated = format!("{}{text}{}", &doc[..start], &doc[end..]);
        std::fs::write(&path, updated).unwrap_or_else(|e| panic!("write {DOC}: {e}"));
    } else {
        print!("{text}");
    }
}

/// Where the generated part is in `doc`: from the start of `BEGIN` to the
/// end of `END`.
pub fn region(doc: &str) -> Option<(usize, usize)> {
    let start = doc.find(BEGIN)?;
    let end = start + doc[start..].find(END)? + END.len();
    Some((start, end))
}

/// The generated part of `DOC`, markers included.
pub fn render() -> String {
    let defs = Definitions::builtin();
    let gateway = Gateway {
        topics: Topics::new(&defs.list, "webhooks", &Default::default()).expect("default topics"),
        schemas: DataSchemas::load(&defs).expect("the built-ins' schemas"),
    };
    let mut out = format!("{BEGIN}\n\n");
    out.push_str(&table(&defs, &gateway.topics));
    for def in &defs.list {
        let sampled = def
            .sample
            .as_ref()
            .map(|body| gateway.record(def, body.as_bytes(), &[], "application/json"));
        for entry in &def.events {
            let routed = |r: &Record| header(r, "event-type").as_deref() == Some(&entry.type_name);
            let (record, note) = match &sampled {
                Some(r) if routed(r) => (r.clone(), " (the definition's `sample:`)"),
                _ => {
                    let s = sample::for_entry(def, entry).expect("a body reaches every entry");
                    let r = gateway.record(def, s.body.as_bytes(), &s.headers, "application/json");
                    assert!(
                        routed(&r),
                        "{}: the built body reaches its entry",
                        entry.type_name
                    );
                    (r, "")
                }
            };
            out.push_str(&format!(
                "\n`{}`, key `{}`{note}:\n",
                entry.type_name, record.key
            ));
            out.push_str(&example(&record));
        }
    }
    let first = &defs.list[0];
    let s = sample::unrouted(first).expect("an unrouted body");
    let r = gateway.record(first, s.body.as_bytes(), &s.headers, "application/json");
    out.push_str(&format!(
        "\n**Unrouted** (`{}`): an event the catalogue does not know, type `{}`, key `{}`:\n",
        r.topic,
        first.unknown_type(),
        r.key
    ));
    out.push_str(&example(&r));
    let last = defs.list.last().expect("built-ins");
    let r = gateway.record(last, NOT_JSON.0.as_bytes(), &[], NOT_JSON.1);
    out.push_str(&format!(
        "\n**Dead letter** (`{}`): a body that is not JSON, key `{}` (the event id):\n",
        r.topic, r.key
    ));
    out.push_str(&example(&r));
    out.push_str(&format!("\n{END}"));
    out
}

/// One row per catalogue entry, then each provider's unrouted row and the dead letter's.
fn table(defs: &Definitions, topics: &Topics) -> String {
    let mut out = String::from(
        "| provider | provider event | type | topic (default) | key and `subject` |\n\
         | --- | --- | --- | --- | --- |\n",
    );
    for def in &defs.list {
        for e in &def.events {
            let when: String = e
                .when
                .iter()
                .map(|(p, v)| format!(", `{}` is `{v}`", p.as_str()))
                .collect();
            out.push_str(&format!(
                "| `{}` | `{}`{when} | `{}` | `{}` | {} |\n",
                def.name,
                e.name,
                e.type_name,
                topics.of(&e.type_name),
                source(&e.subject)
            ));
        }
    }
    for def in &defs.list {
        let key = match def.unrouted_subject.as_slice() {
            [] => "the event id".to_owned(),
            subjects => format!(
                "the first present of {}, else the event id",
                subjects.iter().map(source).collect::<Vec<_>>().join(", ")
            ),
        };
        out.push_str(&format!(
            "| `{}` | any other event (or `when` value) | `{}` | `{}` | {key} |\n",
            def.name,
            def.unknown_type(),
            topics.unrouted(),
        ));
    }
    out.push_str(&format!(
        "| any | not readable as an event: not JSON, no event name, no `data` object | (the raw body) | `{}` | the event id |\n",
        topics.deadletter()
    ));
    out
}

fn source(s: &Source) -> String {
    match s {
        Source::Pointer(p) if p.as_str().is_empty() => "the whole body".into(),
        Source::Pointer(p) => format!("`{}`", p.as_str()),
        Source::Header(h) => format!("header `{}`", h.as_str()),
        Source::Field(f) => format!("field `{f}` of the signature header"),
        Source::Value(v) => format!("always `{v}`"),
    }
}

/// What the gateway routes by with the default settings.
struct Gateway {
    topics: Topics,
    /// Records carry their type's `dataschema`, the consumer contract's URI.
    schemas: DataSchemas,
}

impl Gateway {
    /// The record the gateway publishes for `body`, signed as `def` says.
    fn record(
        &self,
        def: &Definition,
        body: &[u8],
        extra: &[(String, String)],
        content_type: &str,
    ) -> Record {
        let received = UNIX_EPOCH + Duration::from_millis(RECEIVED_MS);
        let secret = demo_secret(def);
        let keys = key_ring(def, std::slice::from_ref(&secret)).expect("a demo secret");
        let provider = Provider::new(def.clone(), &self.topics, self.schemas.uris(), Some(keys));
        let parts = Parts {
            headers: Vec::new(),
            timestamp: def.timestamp.as_ref().map(|t| signed_at(t.format)),
            id: None,
        };
        let mut headers = http::HeaderMap::new();
        let signed = signature_headers(def, &secret, body, &parts).expect("signs");
        for (k, v) in signed.iter().chain(extra) {
            headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("a header name"),
                v.parse().expect("a header value"),
            );
        }
        let meta = RequestMeta {
            content_type: Some(content_type.into()),
            traceparent: None,
        };
        let request = pipeline::Request {
            line: webhook_gateway::engine::verify::Line::POST,
            headers: &headers,
            meta: &meta,
            received_at: received,
        };
        let limits = pipeline::Limits {
            replay_tolerance: Duration::from_secs(300),
            max_record_bytes: usize::MAX,
        };
        let mut processed = pipeline::process(&provider, body, request, limits)
            .expect("signed as the definition says");
        processed.records.remove(0).record
    }
}

/// Two seconds before the examples are received, as a sender of `format` writes it.
fn signed_at(format: TimestampFormat) -> String {
    let ms = RECEIVED_MS - 2_512;
    match format {
        TimestampFormat::Auto | TimestampFormat::Unix => (ms / 1000).to_string(),
        TimestampFormat::UnixMs => ms.to_string(),
        TimestampFormat::Rfc3339 => {
            webhook_gateway::engine::normalize::rfc3339(UNIX_EPOCH + Duration::from_millis(ms))
                .expect("a representable time")
        }
    }
}

fn header(r: &Record, name: &str) -> Option<String> {
    r.headers
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
}

/// Headers on one line (all but the CloudEvents content type, the same on
/// every event), then the value, in a code block.
fn example(r: &Record) -> String {
    let headers: Vec<String> = r
        .headers
        .iter()
        .map(|(k, v)| (*k, String::from_utf8_lossy(v)))
        .filter(|(k, v)| !(*k == "content-type" && v.starts_with("application/cloudevents+json")))
        .map(|(k, v)| format!("{k}: {v}"))
        .collect();
    format!(
        "```\n{}\n{}\n```\n",
        headers.join("  "),
        String::from_utf8_lossy(&r.value)
    )
}
