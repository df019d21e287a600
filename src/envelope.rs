//! The canonical event: CloudEvents 1.0 in Kafka's structured mode, and the
//! dead-letter record for verified bodies that cannot be read as an event.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use crate::providers::ProviderId;

/// The canonical types the gateway routes by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    M2mLinkCreated,
    M2mLinkOpened,
    M2mUserDataRequest,
    M2mOperationCreated,
    M2mOperationCancelled,
    TransfersPaymentCompleted,
    TransfersPaymentFailed,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::M2mLinkCreated,
        EventType::M2mLinkOpened,
        EventType::M2mUserDataRequest,
        EventType::M2mOperationCreated,
        EventType::M2mOperationCancelled,
        EventType::TransfersPaymentCompleted,
        EventType::TransfersPaymentFailed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::M2mLinkCreated => "m2m.link.created",
            EventType::M2mLinkOpened => "m2m.link.opened",
            EventType::M2mUserDataRequest => "m2m.user.data_request",
            EventType::M2mOperationCreated => "m2m.operation.created",
            EventType::M2mOperationCancelled => "m2m.operation.cancelled",
            EventType::TransfersPaymentCompleted => "transfers.payment.completed",
            EventType::TransfersPaymentFailed => "transfers.payment.failed",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// Deterministic event id: the first 128 bits of SHA-256 over the provider's
/// name and the exact body bytes. A redelivery of the same body has the same id;
/// any other body (or provider) a different one.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EventId([u8; 16]);

impl EventId {
    pub fn derive(provider: ProviderId, body: &[u8]) -> EventId {
        let digest = Sha256::new()
            .chain_update(provider.name().as_bytes())
            .chain_update([0u8])
            .chain_update(body)
            .finalize();
        let mut id = [0u8; 16];
        id.copy_from_slice(&digest[..16]);
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
}

pub const CLOUDEVENTS_CONTENT_TYPE: &str = "application/cloudevents+json; charset=utf-8";

/// A verified, well-formed webhook in canonical form. `data` borrows the
/// request body: it is written to Kafka byte for byte, never re-serialised.
#[derive(Debug)]
pub struct Envelope<'a> {
    pub id: EventId,
    pub provider: ProviderId,
    /// `None` for an event (or status) the gateway does not know: it goes to the
    /// unrouted topic with type `<provider>.unknown`.
    pub event_type: Option<EventType>,
    pub provider_event: String,
    pub subject: Option<String>,
    pub user_id: Option<String>,
    /// RFC 3339.
    pub time: String,
    /// RFC 3339.
    pub received_at: String,
    /// W3C trace context carried from the request (CloudEvents distributed tracing).
    pub traceparent: Option<String>,
    pub data: &'a RawValue,
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
    datacontenttype: &'static str,
    provider: &'static str,
    providerevent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    userid: Option<&'a str>,
    receivedat: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    traceparent: Option<&'a str>,
    data: &'a RawValue,
}

impl Envelope<'_> {
    /// The canonical type name (`m2m.operation.created`, or `m2m.unknown`).
    pub fn type_name(&self) -> Cow<'static, str> {
        match self.event_type {
            Some(t) => Cow::Borrowed(t.as_str()),
            None => Cow::Owned(format!("{}.unknown", self.provider.name())),
        }
    }

    /// The record key: the entity id, so one entity's events stay in order
    /// within a topic; the event id when the body names no entity.
    pub fn key(&self) -> String {
        self.subject.clone().unwrap_or_else(|| self.id.to_hex())
    }

    pub fn to_record(&self, topic: Arc<str>) -> Record {
        let id = self.id.to_hex();
        let ty = self.type_name();
        let source = self.provider.source();
        let event = CloudEvent {
            specversion: "1.0",
            id: &id,
            source,
            ty: &ty,
            subject: self.subject.as_deref(),
            time: &self.time,
            datacontenttype: "application/json",
            provider: self.provider.name(),
            providerevent: &self.provider_event,
            userid: self.user_id.as_deref(),
            receivedat: &self.received_at,
            traceparent: self.traceparent.as_deref(),
            data: self.data,
        };
        let value =
            serde_json::to_vec(&event).expect("serialising strings and a raw value cannot fail");
        let mut headers = vec![
            ("content-type", CLOUDEVENTS_CONTENT_TYPE.as_bytes().to_vec()),
            ("ce_id", id.into_bytes()),
            ("ce_type", ty.as_bytes().to_vec()),
            ("ce_source", source.as_bytes().to_vec()),
        ];
        if let Some(subject) = &self.subject {
            headers.push(("ce_subject", subject.as_bytes().to_vec()));
        }
        if let Some(tp) = &self.traceparent {
            headers.push(("ce_traceparent", tp.as_bytes().to_vec()));
        }
        Record {
            topic,
            key: self.key(),
            value,
            headers,
        }
    }
}

/// A verified body that is not a readable event (not JSON, or without an
/// `event` string and a `data` object). Kept whole on the dead-letter topic.
#[derive(Debug)]
pub struct DeadLetter<'a> {
    pub id: EventId,
    pub provider: ProviderId,
    /// A short code: `not_json`, `not_object`, `missing_event`, `missing_data`, `event_too_long`,
    /// or `internal_error` (a panic after verification; see `ingest`).
    pub reason: &'static str,
    pub content_type: Option<String>,
    pub body: &'a [u8],
}

impl DeadLetter<'_> {
    pub fn to_record(&self, topic: Arc<str>) -> Record {
        let id = self.id.to_hex();
        let mut headers = vec![
            ("ce_id", id.clone().into_bytes()),
            ("x-provider", self.provider.name().as_bytes().to_vec()),
            ("x-deadletter-reason", self.reason.as_bytes().to_vec()),
        ];
        if let Some(ct) = &self.content_type {
            headers.push(("content-type", ct.as_bytes().to_vec()));
        }
        Record {
            topic,
            key: id,
            value: self.body.to_vec(),
            headers,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_id_depends_on_provider_and_every_body_byte() {
        let a = EventId::derive(ProviderId::M2m, b"{}");
        assert_eq!(a, EventId::derive(ProviderId::M2m, b"{}"));
        assert_ne!(a, EventId::derive(ProviderId::Transfers, b"{}"));
        assert_ne!(a, EventId::derive(ProviderId::M2m, b"{ }"));
        assert_eq!(a.to_hex().len(), 32);
    }

    #[test]
    fn type_names_are_the_catalogue() {
        let names: Vec<_> = EventType::ALL.iter().map(|t| t.as_str()).collect();
        assert_eq!(
            names,
            [
                "m2m.link.created",
                "m2m.link.opened",
                "m2m.user.data_request",
                "m2m.operation.created",
                "m2m.operation.cancelled",
                "transfers.payment.completed",
                "transfers.payment.failed"
            ]
        );
        for (i, t) in EventType::ALL.iter().enumerate() {
            assert_eq!(t.index(), i);
        }
    }
}
