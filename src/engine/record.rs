//! The Kafka record's header names, spelled here alone: the engine writes
//! them, `replay` and `redrive` read them back, `--dev`'s live view prints
//! them, and the contract describes them, all through these constants.
//!
//! A record is one of four kinds: an event (a routed CloudEvent), an
//! unrouted event (a CloudEvent of type `<provider>.unknown`), a dead letter
//! (the verified body, whole), or a re-driven event (an event `redrive`
//! republished from an unrouted or dead-letter record).

/// One constant per record header name, each saying what it carries and on
/// which record kinds.
pub mod header {
    /// Event, unrouted, re-driven: `application/cloudevents+json; charset=utf-8`
    /// (structured mode); dead letter: the request's content type, when it sent one.
    pub const CONTENT_TYPE: &str = "content-type";
    /// Every kind: the event id (a dead letter's is the one its CloudEvent would have).
    pub const EVENT_ID: &str = "event-id";
    /// Event, unrouted, re-driven: the CloudEvent's `type`.
    pub const EVENT_TYPE: &str = "event-type";
    /// Event, unrouted, re-driven: the CloudEvent's `source`.
    pub const EVENT_SOURCE: &str = "event-source";
    /// Event, unrouted, re-driven: the CloudEvent's `subject`, when it has one.
    pub const EVENT_SUBJECT: &str = "event-subject";
    /// Event, unrouted, re-driven: the request's W3C trace context, when it
    /// carried a valid one. One W3C name for the request header it comes from,
    /// the CloudEvents attribute and this record header.
    pub const TRACEPARENT: &str = "traceparent";
    /// Dead letter, and unrouted with its kept request: the provider that
    /// signed the request.
    pub const PROVIDER: &str = "x-provider";
    /// Dead letter: why the body is not an event, a short code
    /// ([`crate::engine::envelope::DeadLetterReason`]).
    pub const DEADLETTER_REASON: &str = "x-deadletter-reason";
    /// Unrouted, dead letter (a kept request): the receive time, RFC 3339 to
    /// the millisecond (as `receivedat`).
    pub const RECEIVED_AT: &str = "x-received-at";
    /// Unrouted, dead letter (a kept request): a JSON object of the kept
    /// request headers, lower-case name to value.
    pub const REQUEST_HEADERS: &str = "x-request-headers";
    /// Unrouted, dead letter (a kept request): a JSON object of the kept
    /// signature-header fields (`{field: ..}` sources).
    pub const REQUEST_FIELDS: &str = "x-request-fields";
    /// Unrouted (a kept request): the request body, when the event's `data`
    /// is not the body byte for byte.
    pub const REQUEST_BODY: &str = "x-request-body";
    /// Re-driven: `<topic>:<partition>:<offset>` of the record it was
    /// re-driven from.
    pub const REDRIVEN: &str = "x-redriven";
    /// Unrouted and dead letter read from one item of a batch: the item's
    /// index in its request's array (the record's body is the item alone).
    pub const BATCH_INDEX: &str = "x-batch-index";

    /// Every record header name above.
    pub const ALL: [&str; 14] = [
        CONTENT_TYPE,
        EVENT_ID,
        EVENT_TYPE,
        EVENT_SOURCE,
        EVENT_SUBJECT,
        TRACEPARENT,
        PROVIDER,
        DEADLETTER_REASON,
        RECEIVED_AT,
        REQUEST_HEADERS,
        REQUEST_FIELDS,
        REQUEST_BODY,
        REDRIVEN,
        BATCH_INDEX,
    ];
}

#[cfg(test)]
mod tests {
    use super::header;
    use std::path::{Path, PathBuf};

    /// Spelled out again, independently: a changed constant changes what the
    /// gateway publishes, a breaking change for consumers.
    #[test]
    fn the_names_are_the_published_ones() {
        assert_eq!(
            header::ALL,
            [
                "content-type",
                "event-id",
                "event-type",
                "event-source",
                "event-subject",
                "traceparent",
                "x-provider",
                "x-deadletter-reason",
                "x-received-at",
                "x-request-headers",
                "x-request-fields",
                "x-request-body",
                "x-redriven",
                "x-batch-index",
            ]
        );
    }

    /// Every `.rs` file under `dir`.
    fn sources(dir: &Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, files);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }

    /// The quoted names `code` spells.
    fn spelled(code: &str) -> Vec<&'static str> {
        header::ALL
            .into_iter()
            .filter(|name| {
                let quoted = format!("\"{name}\"");
                code.contains(quoted.as_str())
            })
            .collect()
    }

    /// Test code may spell a name: it checks the constant's value.
    fn code_outside_tests(text: &str) -> &str {
        text.split("#[cfg(test)]").next().unwrap()
    }

    #[test]
    fn every_record_header_name_is_spelled_in_this_file_alone() {
        // The search finds the names as this file spells them.
        let here = code_outside_tests(include_str!("record.rs"));
        assert_eq!(spelled(here), header::ALL);

        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        sources(&src, &mut files);
        assert!(files.contains(&src.join("engine/envelope.rs")), "{files:?}");
        let mut found = Vec::new();
        for path in files {
            let name = path.file_name().unwrap().to_str().unwrap();
            let test_file = name == "tests.rs" || name.ends_with("_tests.rs");
            if test_file || path == src.join("engine/record.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for quoted in spelled(code_outside_tests(&text)) {
                let file = path.strip_prefix(&src).unwrap().display();
                found.push(format!("src/{file}: \"{quoted}\""));
            }
        }
        assert!(
            found.is_empty(),
            "spelled outside src/engine/record.rs, use crate::engine::record::header: {found:?}"
        );
    }
}
