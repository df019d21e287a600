//! The canonical event: CloudEvents 1.0 in Kafka's structured mode, and the
//! dead-letter record for verified bodies that cannot be read as an event.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use sha2::{Digest, Sha256};

use base64::Engine;

use crate::engine::record::header;

/// Deterministic event id: the first 128 bits of SHA-256 over the provider's
/// name and what identifies the delivery. A redelivery has the same id; any
/// other body (or provider) a different one. Provider names hold no NUL, so
/// the NUL after the name keeps the inputs of different providers apart.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId([u8; 16]);

impl EventId {
    /// From the exact body bytes: the built-ins' id, and any provider's
    /// without a delivery id.
    pub fn derive(provider: &str, body: &[u8]) -> EventId {
        EventId::of(&[provider.as_bytes(), &[0], body])
    }

    /// From a delivery id the signature covers: the sender's promise of
    /// identity, so a retry re-signed with a new timestamp keeps its id.
    pub fn of_signed_delivery(provider: &str, delivery: &str) -> EventId {
        EventId::of(&[provider.as_bytes(), b"\0id\0", delivery.as_bytes()])
    }

    /// From a delivery id, signed or not (see the two below): the one rule
    /// for a request's delivery id and a batch item's.
    pub fn of_delivery(provider: &str, delivery: &str, signed: bool, body: &[u8]) -> EventId {
        match signed {
            true => EventId::of_signed_delivery(provider, delivery),
            false => EventId::of_unsigned_delivery(provider, delivery, body),
        }
    }

    /// From an unsigned delivery id and the body: anyone can change the
    /// header, so it only refines the body's id (a retry keeps it; the same
    /// body under another delivery id gets another), and can never give a
    /// body another event's id. The id's length keeps id and body apart.
    pub fn of_unsigned_delivery(provider: &str, delivery: &str, body: &[u8]) -> EventId {
        let len = (delivery.len() as u64).to_be_bytes();
        EventId::of(&[
            provider.as_bytes(),
            b"\0delivery\0",
            &len,
            delivery.as_bytes(),
            body,
        ])
    }

    fn of(parts: &[&[u8]]) -> EventId {
        let mut hash = Sha256::new();
        for part in parts {
            hash.update(part);
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&hash.finalize()[..16]);
        EventId(id)
    }

    pub fn to_hex(self) -> String {
        hex::encode(self.0)
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EventId({self})")
    }
}

/// One Kafka record, ready to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub topic: Arc<str>,
    pub key: String,
    pub value: Vec<u8>,
    pub headers: Vec<(&'static str, Vec<u8>)>,
    /// The record's timestamp in Unix milliseconds; `None`: the producer's
    /// clock. A re-drive keeps the original record's.
    pub timestamp_ms: Option<i64>,
}

pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

/// A verified, well-formed webhook in canonical form. `data` borrows the
/// request body: it is written to Kafka byte for byte, never re-serialised.
#[derive(Debug)]
pub struct Envelope<'a> {
    pub id: EventId,
    pub provider: &'a str,
    /// `/providers/<name>`.
    pub source: &'a str,
    /// The catalogue's type, or `<provider>.unknown` for an event (or a `when`
    /// value) the catalogue does not know: it goes to the unrouted topic.
    pub type_name: Arc<str>,
    /// Whether the catalogue knows the event.
    pub routed: bool,
    /// Where it goes: its type's topic, or the unrouted topic.
    pub topic: Arc<str>,
    pub provider_event: String,
    pub subject: Option<String>,
    pub user_id: Option<String>,
    /// The provider's own delivery id, when its definition names one.
    pub delivery_id: Option<String>,
    /// RFC 3339.
    pub time: String,
    /// RFC 3339.
    pub received_at: String,
    /// W3C trace context carried from the request (CloudEvents distributed tracing).
    pub traceparent: Option<String>,
    /// `None`: `application/json`; else the request's content type (`data_base64`).
    pub datacontenttype: Option<String>,
    /// The URI of the type's `data` schema in the consumer contract, when known.
    pub dataschema: Option<Arc<str>>,
    pub data: Data<'a>,
}

/// The event's payload, as the body carried it.
#[derive(Debug, Clone, Copy)]
pub enum Data<'a> {
    /// A JSON object's exact text: written as `data`.
    Json(&'a str),
    /// Any bytes (`body: any`): written as `data_base64`.
    Binary(&'a [u8]),
}

#[derive(Serialize)]
struct CloudEvent<'a> {
    specversion: &'static str,
    id: &'a str,
    source: &'a str,
    #[serde(rename = "type")]
    ty: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject: Option<&'a str>,
    time: &'a str,
    datacontenttype: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dataschema: Option<&'a str>,
    provider: &'a str,
    providerevent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    deliveryid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    userid: Option<&'a str>,
    receivedat: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<&'a str>,
    // `data` or `data_base64` follows, written by `to_record`.
}

impl Envelope<'_> {
    /// The record key: the entity id, so one entity's events stay in order
    /// within a topic; the event id when the body names no entity.
    pub fn key(&self) -> String {
        self.subject.clone().unwrap_or_else(|| self.id.to_hex())
    }

    pub fn to_record(&self) -> Record {
        let id = self.id.to_hex();
        let event = CloudEvent {
            specversion: "1.0",
            id: &id,
            source: self.source,
            ty: &self.type_name,
            subject: self.subject.as_deref(),
            time: &self.time,
            datacontenttype: self
                .datacontenttype
                .as_deref()
                .unwrap_or("application/json"),
            dataschema: self.dataschema.as_deref(),
            provider: self.provider,
            providerevent: &self.provider_event,
            deliveryid: self.delivery_id.as_deref(),
            userid: self.user_id.as_deref(),
            receivedat: &self.received_at,
            traceparent: self.traceparent.as_deref(),
        };
        let data_len = match self.data {
            Data::Json(text) => text.len(),
            Data::Binary(bytes) => bytes.len() * 4 / 3 + 4,
        };
        let mut value = Vec::with_capacity(data_len + 512);
        serde_json::to_writer(&mut value, &event)
            .expect("serialising strings into a Vec cannot fail");
        // The attributes' closing brace gives way to the payload: its text is
        // JSON already (validated when read), so it is written as it came.
        value.pop();
        match self.data {
            Data::Json(text) => {
                value.extend_from_slice(b",\"data\":");
                value.extend_from_slice(text.as_bytes());
            }
            Data::Binary(bytes) => {
                value.extend_from_slice(b",\"data_base64\":\"");
                let start = value.len();
                value.resize(
                    start + base64::encoded_len(bytes.len(), true).unwrap_or(0),
                    0,
                );
                let written = base64::engine::general_purpose::STANDARD
                    .encode_slice(bytes, &mut value[start..])
                    .expect("sized by encoded_len");
                value.truncate(start + written);
                value.push(b'"');
            }
        }
        value.push(b'}');
        // Filter headers copy attributes of the value, never under the `ce_`
        // prefix: the Kafka binding reserves it for binary mode, and an SDK
        // that sees one (Python's `from_kafka`) reads the record as binary,
        // the whole envelope as `data`. `traceparent` is the W3C name that
        // OpenTelemetry's Kafka instrumentation reads.
        let mut headers = vec![
            (
                header::CONTENT_TYPE,
                CLOUDEVENTS_CONTENT_TYPE.as_bytes().to_vec(),
            ),
            (header::EVENT_ID, id.into_bytes()),
            (header::EVENT_TYPE, self.type_name.as_bytes().to_vec()),
            (header::EVENT_SOURCE, self.source.as_bytes().to_vec()),
        ];
        if let Some(subject) = &self.subject {
            headers.push((header::EVENT_SUBJECT, subject.as_bytes().to_vec()));
        }
        if let Some(tp) = &self.traceparent {
            headers.push((header::TRACEPARENT, tp.as_bytes().to_vec()));
        }
        Record {
            topic: self.topic.clone(),
            key: self.key(),
            value,
            headers,
            timestamp_ms: None,
        }
    }
}

/// A verified body that is not a readable event (not JSON, or without an
/// `event` string and a `data` object). Kept whole on the dead-letter topic.
#[derive(Debug)]
pub struct DeadLetter<'a> {
    /// The dead-letter topic.
    pub topic: Arc<str>,
    pub id: EventId,
    pub provider: &'a str,
    pub reason: DeadLetterReason,
    pub content_type: Option<String>,
    pub body: &'a [u8],
}

/// Why a verified body went to the dead-letter topic: its
/// [`header::DEADLETTER_REASON`] header, one list for the engine and the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadLetterReason {
    /// Not UTF-8 JSON (for a `body: json` provider).
    NotJson,
    /// JSON, but not an object.
    NotObject,
    /// No event name at `event.name`.
    MissingEvent,
    /// No object at `event.data`.
    MissingData,
    /// An event name longer than the bound.
    EventTooLong,
    /// A panic after verification (see `pipeline`).
    InternalError,
    /// Not a form of UTF-8 fields (for a `body: form` provider), or its
    /// `form.json` field is not a JSON object.
    NotForm,
    /// No array at the definition's `batch.items`.
    NotBatch,
    /// More items than `engine::batch::MAX_ITEMS`.
    TooManyItems,
}

impl DeadLetterReason {
    pub const ALL: [DeadLetterReason; 9] = [
        DeadLetterReason::NotJson,
        DeadLetterReason::NotObject,
        DeadLetterReason::MissingEvent,
        DeadLetterReason::MissingData,
        DeadLetterReason::EventTooLong,
        DeadLetterReason::InternalError,
        DeadLetterReason::NotForm,
        DeadLetterReason::NotBatch,
        DeadLetterReason::TooManyItems,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeadLetterReason::NotJson => "not_json",
            DeadLetterReason::NotObject => "not_object",
            DeadLetterReason::MissingEvent => "missing_event",
            DeadLetterReason::MissingData => "missing_data",
            DeadLetterReason::EventTooLong => "event_too_long",
            DeadLetterReason::InternalError => "internal_error",
            DeadLetterReason::NotForm => "not_form",
            DeadLetterReason::NotBatch => "not_batch",
            DeadLetterReason::TooManyItems => "too_many_items",
        }
    }
}

impl DeadLetter<'_> {
    pub fn to_record(&self) -> Record {
        let id = self.id.to_hex();
        let mut headers = vec![
            (header::EVENT_ID, id.clone().into_bytes()),
            (header::PROVIDER, self.provider.as_bytes().to_vec()),
            (
                header::DEADLETTER_REASON,
                self.reason.as_str().as_bytes().to_vec(),
            ),
        ];
        if let Some(ct) = &self.content_type {
            headers.push((header::CONTENT_TYPE, ct.as_bytes().to_vec()));
        }
        Record {
            topic: self.topic.clone(),
            key: id,
            value: self.body.to_vec(),
            headers,
            timestamp_ms: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_depends_on_provider_and_every_body_byte() {
        let a = EventId::derive("m2m", b"{}");
        assert_eq!(a, EventId::derive("m2m", b"{}"));
        assert_ne!(a, EventId::derive("transfers", b"{}"));
        assert_ne!(a, EventId::derive("m2m", b"{ }"));
        assert_eq!(a.to_hex().len(), 32);
    }

    #[test]
    fn delivery_ids_decide_alone_when_signed_and_only_refine_the_body_when_not() {
        let signed = EventId::of_signed_delivery("acme", "msg_1");
        assert_eq!(signed, EventId::of_signed_delivery("acme", "msg_1"));
        assert_ne!(signed, EventId::of_signed_delivery("acme", "msg_2"));
        assert_ne!(signed, EventId::of_signed_delivery("beta", "msg_1"));

        let unsigned = EventId::of_unsigned_delivery("acme", "d-1", b"{}");
        assert_eq!(
            unsigned,
            EventId::of_unsigned_delivery("acme", "d-1", b"{}")
        );
        assert_ne!(
            unsigned,
            EventId::of_unsigned_delivery("acme", "d-2", b"{}")
        );
        assert_ne!(
            unsigned,
            EventId::of_unsigned_delivery("acme", "d-1", b"{ }")
        );
        // Where the id ends and the body begins is not up to the sender.
        assert_ne!(
            EventId::of_unsigned_delivery("acme", "d-1x", b"{}"),
            EventId::of_unsigned_delivery("acme", "d-1", b"x{}")
        );
        assert_ne!(unsigned, EventId::derive("acme", b"{}"));
    }
}
