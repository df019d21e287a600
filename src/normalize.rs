//! Verified body -> canonical [`Envelope`], or a [`DeadLetter`] when the body
//! cannot be read as `{"event": "<name>", "data": {...}}`. Every verified body
//! yields exactly one of the two: nothing verified is dropped.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::envelope::{DeadLetter, Envelope, EventId};
use crate::providers::Provider;
use crate::verify::{parse_timestamp, Verified};

/// Ids longer than this are not copied into the key, `subject` or `userid`
/// (they stay in `data`): it bounds the record at body size plus a fixed
/// envelope, which start-up checks against the producer's `message.max.bytes`.
pub const MAX_ID_LEN: usize = 512;
/// Same bound for the provider's event name, which is copied into `providerevent`.
pub const MAX_EVENT_NAME_LEN: usize = 256;

pub enum Normalized<'a> {
    Event(Envelope<'a>),
    DeadLetter(DeadLetter<'a>),
}

impl Normalized<'_> {
    /// The canonical type, or `deadletter`: the `type` label of published events.
    pub fn type_name(&self) -> std::borrow::Cow<'static, str> {
        match self {
            Normalized::Event(e) => e.type_name(),
            Normalized::DeadLetter(_) => std::borrow::Cow::Borrowed("deadletter"),
        }
    }

    pub fn id(&self) -> EventId {
        match self {
            Normalized::Event(e) => e.id,
            Normalized::DeadLetter(d) => d.id,
        }
    }
}

/// What the request adds besides its body.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub content_type: Option<String>,
    pub traceparent: Option<String>,
}

/// The `data` fields that any provider's extractor reads. Ids may arrive as
/// JSON strings or numbers; other types, and fields that fail to parse, are absent.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DataFields {
    pub link_id: Option<String>,
    pub data_request_id: Option<String>,
    pub operation_id: Option<String>,
    pub payment_reference: Option<String>,
    pub reference_id: Option<String>,
    pub user_id: Option<String>,
    pub status: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Deserialize)]
struct RawFields<'a> {
    #[serde(rename = "linkId", borrow, default)]
    link_id: Option<&'a RawValue>,
    #[serde(rename = "dataRequestId", borrow, default)]
    data_request_id: Option<&'a RawValue>,
    #[serde(rename = "operationId", borrow, default)]
    operation_id: Option<&'a RawValue>,
    #[serde(rename = "paymentReference", borrow, default)]
    payment_reference: Option<&'a RawValue>,
    #[serde(rename = "referenceId", borrow, default)]
    reference_id: Option<&'a RawValue>,
    #[serde(rename = "userId", borrow, default)]
    user_id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    status: Option<&'a RawValue>,
    #[serde(rename = "createdAt", borrow, default)]
    created_at: Option<&'a RawValue>,
}

impl DataFields {
    /// Reads the known fields of a `data` object. Liberal: anything unreadable is absent.
    pub fn parse(data: &str) -> DataFields {
        let Ok(raw) = serde_json::from_str::<RawFields>(data) else {
            return DataFields::default();
        };
        DataFields {
            link_id: id_text(raw.link_id),
            data_request_id: id_text(raw.data_request_id),
            operation_id: id_text(raw.operation_id),
            payment_reference: id_text(raw.payment_reference),
            reference_id: id_text(raw.reference_id),
            user_id: id_text(raw.user_id),
            status: id_text(raw.status),
            created_at: id_text(raw.created_at),
        }
    }

    /// The entity of an event the gateway does not know, in the documented order.
    fn any_entity(&self) -> Option<String> {
        [
            &self.operation_id,
            &self.link_id,
            &self.data_request_id,
            &self.payment_reference,
        ]
        .into_iter()
        .find_map(|f| f.clone())
    }
}

/// A JSON string's text or a number's digits, non-empty and at most [`MAX_ID_LEN`].
fn id_text(raw: Option<&RawValue>) -> Option<String> {
    let text = raw?.get();
    let value = if text.starts_with('"') {
        serde_json::from_str::<String>(text).ok()?
    } else if text.starts_with(|c: char| c == '-' || c.is_ascii_digit()) {
        text.to_owned()
    } else {
        return None;
    };
    (!value.is_empty() && value.len() <= MAX_ID_LEN).then_some(value)
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// RFC 3339 in UTC, to the millisecond, or `None` for an instant the format
/// cannot hold (outside years 0 to 9999). Total on purpose: a signed body may
/// carry any timestamp (a microsecond epoch read as milliseconds lands in the
/// year 55 000), and a verified webhook must never be lost to a panic here.
pub fn rfc3339(t: SystemTime) -> Option<String> {
    let nanos = match t.duration_since(UNIX_EPOCH) {
        Ok(after) => i128::try_from(after.as_nanos()).ok()?,
        Err(before) => -i128::try_from(before.duration().as_nanos()).ok()?,
    };
    // Milliseconds are enough for a receive time and keep the attribute short.
    let millis = nanos.div_euclid(1_000_000) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(millis)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

/// The receive time as RFC 3339. The clock reads a time the format holds on
/// any machine that runs the gateway; the epoch stands in for one that does not.
fn received_rfc3339(t: SystemTime) -> String {
    rfc3339(t).unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

pub fn normalize<'a, B: AsRef<[u8]>>(
    provider: &Provider,
    body: &'a Verified<B>,
    meta: &RequestMeta,
    received_at: SystemTime,
) -> Normalized<'a> {
    let bytes = body.get().as_ref();
    let id = EventId::derive(provider.id, bytes);
    let dead = |reason: &'static str| {
        Normalized::DeadLetter(DeadLetter {
            id,
            provider: provider.id,
            reason,
            content_type: meta.content_type.clone(),
            body: bytes,
        })
    };

    let Ok(text) = std::str::from_utf8(bytes) else {
        return dead("not_json");
    };
    // serde would also read a JSON array into a struct, positionally.
    if !text.trim_start().starts_with('{') {
        return match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => dead("not_object"),
            Err(_) => dead("not_json"),
        };
    }
    let Ok(wire) = serde_json::from_str::<Wire>(text) else {
        return dead("not_json");
    };
    let Some(event) = wire
        .event
        .and_then(|e| serde_json::from_str::<String>(e.get()).ok())
    else {
        return dead("missing_event");
    };
    if event.len() > MAX_EVENT_NAME_LEN {
        return dead("event_too_long");
    }
    let Some(data) = wire.data.filter(|d| d.get().starts_with('{')) else {
        return dead("missing_data");
    };

    let fields = DataFields::parse(data.get());
    let extracted = (provider.extract)(&event, &fields);
    let subject = match extracted.event_type {
        Some(_) => extracted.subject,
        None => fields.any_entity(),
    };
    let received_at = received_rfc3339(received_at);
    // A time the format cannot hold falls back to the receive time.
    let time = fields
        .created_at
        .as_deref()
        .and_then(|t| parse_timestamp(t.as_bytes()))
        .and_then(rfc3339)
        .unwrap_or_else(|| received_at.clone());
    Normalized::Event(Envelope {
        id,
        provider: provider.id,
        event_type: extracted.event_type,
        provider_event: event,
        subject,
        user_id: extracted.user_id,
        time,
        received_at,
        traceparent: meta.traceparent.clone(),
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::EventType;
    use crate::providers::ProviderId;
    use crate::verify::{verify, KeyRing};
    use std::time::{Duration, UNIX_EPOCH};

    /// Test-only: sign and verify, the one way to get a `Verified` outside `verify`.
    fn verified(body: &[u8]) -> Verified<Vec<u8>> {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"k").unwrap();
        mac.update(body);
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-transfers-signature",
            hex::encode(mac.finalize().into_bytes()).parse().unwrap(),
        );
        let scheme = &ProviderId::Transfers.provider().scheme;
        verify(
            scheme,
            &KeyRing::new(&["k"]),
            &headers,
            body.to_vec(),
            SystemTime::now(),
            Duration::ZERO,
        )
        .unwrap()
    }

    fn run(
        provider: ProviderId,
        body: &[u8],
    ) -> (Option<EventType>, Option<String>, String, String) {
        let v = verified(body);
        let at = UNIX_EPOCH + Duration::from_millis(1_790_000_000_123);
        match normalize(provider.provider(), &v, &RequestMeta::default(), at) {
            Normalized::Event(e) => (e.event_type, e.subject, e.time, e.data.get().to_owned()),
            Normalized::DeadLetter(d) => panic!("dead-lettered: {}", d.reason),
        }
    }

    fn dead_reason(body: &[u8]) -> &'static str {
        let v = verified(body);
        match normalize(
            ProviderId::M2m.provider(),
            &v,
            &RequestMeta::default(),
            SystemTime::now(),
        ) {
            Normalized::DeadLetter(d) => {
                assert_eq!(d.body, body);
                d.reason
            }
            Normalized::Event(_) => panic!("routed: {}", String::from_utf8_lossy(body)),
        }
    }

    #[test]
    fn data_is_kept_byte_for_byte_including_number_digits() {
        let data = r#"{"status":"Completed", "amount": 12345678901234567890.10,"paymentReference":"p-1","x":1e400}"#;
        let body = format!(r#"{{"event":"Payment.Status","data":{data}}}"#);
        let (ty, subject, _, got) = run(ProviderId::Transfers, body.as_bytes());
        assert_eq!(ty, Some(EventType::TransfersPaymentCompleted));
        assert_eq!(subject.as_deref(), Some("p-1"));
        assert_eq!(got, data);
    }

    #[test]
    fn time_is_created_at_when_parseable_else_receive_time() {
        let (_, _, time, _) = run(
            ProviderId::M2m,
            br#"{"event":"link.opened","data":{"linkId":"l","createdAt":"2026-01-02T03:04:05+01:00"}}"#,
        );
        assert_eq!(time, "2026-01-02T02:04:05Z");
        let (_, _, time, _) = run(
            ProviderId::M2m,
            br#"{"event":"link.opened","data":{"createdAt":"soon"}}"#,
        );
        assert_eq!(time, "2026-09-21T14:13:20.123Z");
    }

    #[test]
    fn a_created_at_the_format_cannot_hold_falls_back_to_the_receive_time() {
        let receive = "2026-09-21T14:13:20.123Z";
        for created_at in [
            // A microsecond epoch, read as milliseconds: the year 55 000.
            "1763892000000000",
            "18446744073709551615",
            "99999999999999999999999",
            "\"9999-12-31T23:59:59-23:59\"",
            "\"0000-01-01T00:00:00+23:59\"",
            "-1",
            "1e400",
        ] {
            let body = format!(
                r#"{{"event":"link.opened","data":{{"linkId":"l","createdAt":{created_at}}}}}"#
            );
            let (_, _, time, _) = run(ProviderId::M2m, body.as_bytes());
            assert_eq!(time, receive, "createdAt {created_at}");
        }
        // Extremes the format does hold are kept, leap second included.
        for (created_at, want) in [
            ("\"9999-12-31T23:59:59.999Z\"", "9999-12-31T23:59:59.999Z"),
            ("\"0000-01-01T00:00:00Z\"", "0000-01-01T00:00:00Z"),
            ("0", "1970-01-01T00:00:00Z"),
        ] {
            let body = format!(
                r#"{{"event":"link.opened","data":{{"linkId":"l","createdAt":{created_at}}}}}"#
            );
            let (_, _, time, _) = run(ProviderId::M2m, body.as_bytes());
            assert_eq!(time, want, "createdAt {created_at}");
        }
        let leap = br#"{"event":"link.opened","data":{"createdAt":"2016-12-31T23:59:60Z"}}"#;
        let (_, _, time, _) = run(ProviderId::M2m, leap);
        assert!(
            time.starts_with("2016-12-31T23:59:59") || time == receive,
            "{time}"
        );
    }

    #[test]
    fn unknown_events_take_the_first_present_entity_as_subject() {
        let (ty, subject, _, _) = run(
            ProviderId::M2m,
            br#"{"event":"link.deleted","data":{"paymentReference":"p","linkId":"l"}}"#,
        );
        assert_eq!((ty, subject.as_deref()), (None, Some("l")));
        let (_, subject, _, _) = run(ProviderId::M2m, br#"{"event":"x","data":{}}"#);
        assert_eq!(subject, None);
    }

    #[test]
    fn numeric_ids_are_read_as_their_digits_and_other_types_ignored() {
        let f = DataFields::parse(
            r#"{"operationId":42,"linkId":{"a":1},"userId":null,"status":"Failed"}"#,
        );
        assert_eq!(f.operation_id.as_deref(), Some("42"));
        assert_eq!(f.link_id, None);
        assert_eq!(f.user_id, None);
        assert_eq!(f.status.as_deref(), Some("Failed"));
    }

    #[test]
    fn unreadable_bodies_are_dead_lettered_with_a_reason() {
        assert_eq!(dead_reason(b"\xff\xfe"), "not_json");
        assert_eq!(dead_reason(b"{\"event\":"), "not_json");
        assert_eq!(dead_reason(b""), "not_json");
        assert_eq!(dead_reason(b"[\"link.created\",{}]"), "not_object");
        assert_eq!(dead_reason(b"{\"data\":{}}"), "missing_event");
        assert_eq!(dead_reason(b"{\"event\":7,\"data\":{}}"), "missing_event");
        assert_eq!(dead_reason(b"{\"event\":\"link.created\"}"), "missing_data");
        assert_eq!(
            dead_reason(b"{\"event\":\"link.created\",\"data\":[1]}"),
            "missing_data"
        );
        let long = format!(
            r#"{{"event":"{}","data":{{}}}}"#,
            "e".repeat(MAX_EVENT_NAME_LEN + 1)
        );
        assert_eq!(dead_reason(long.as_bytes()), "event_too_long");
    }

    #[test]
    fn deeply_nested_json_never_overflows_the_stack() {
        // Nested in `data`: routed with `data` intact (its fields read as absent).
        let data = format!(r#"{{"a":{}1{}}}"#, "[".repeat(100_000), "]".repeat(100_000));
        let body = format!(r#"{{"event":"x","data":{data}}}"#);
        let (ty, _, _, got) = run(ProviderId::M2m, body.as_bytes());
        assert_eq!((ty, got.len()), (None, data.len()));
        // Nested as the event name: not a string, dead-lettered whole.
        let top = format!(
            "{{\"event\":{}1{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(dead_reason(top.as_bytes()), "missing_event");
    }
}
