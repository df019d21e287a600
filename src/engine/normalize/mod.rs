//! Verified body -> canonical [`Envelope`], or a [`DeadLetter`] when the body
//! cannot be read as the definition says. Every verified body yields exactly
//! one of the two: nothing verified is dropped.
//!
//! - [`plan`]: a definition compiled for reading (slots, headers, catalogue index)
//! - [`json`]: the one-pass reader of the body's pointed-at values

mod json;
mod plan;

/// A JSON value's text as a `when` compares it; handshakes match by the same rule.
pub(crate) use json::text_of;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

pub use plan::{Plan, Value};

use crate::definitions::compiled::{Body, TimestampFormat};
use crate::definitions::rules::{MAX_EVENT_NAME_LEN, MAX_ID_LEN};
use crate::engine::envelope::{Data, DeadLetter, DeadLetterReason, Envelope, EventId, Record};
use crate::engine::route::Destination;
use crate::engine::trace::TraceParent;
use crate::engine::verify::{parse_timestamp, Verified};
use json::Found;

// One per request, on the stack for a moment: boxing the event would cost an
// allocation on every request to save bytes on the rarer dead letter.
#[allow(clippy::large_enum_variant)]
pub enum Normalized<'a> {
    Event(Envelope<'a>),
    DeadLetter(DeadLetter<'a>),
}

impl Normalized<'_> {
    pub fn id(&self) -> EventId {
        match self {
            Normalized::Event(e) => e.id,
            Normalized::DeadLetter(d) => d.id,
        }
    }

    /// Where it goes, as normalizing decided (the catalogue entry it matched, if any).
    pub fn destination(&self) -> Destination {
        match self {
            Normalized::Event(e) if e.routed => Destination::Typed,
            Normalized::Event(_) => Destination::Unrouted,
            Normalized::DeadLetter(_) => Destination::DeadLetter,
        }
    }

    /// The Kafka record, on its destination's topic.
    pub fn record(&self) -> Record {
        match self {
            Normalized::Event(e) => e.to_record(),
            Normalized::DeadLetter(d) => d.to_record(),
        }
    }
}

/// What the request adds besides its body.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    pub content_type: Option<String>,
    pub traceparent: Option<String>,
}

impl RequestMeta {
    /// From the request's headers: a content type of at most 256 bytes (it
    /// becomes `datacontenttype`), and the already validated `traceparent`.
    pub fn of(headers: &HeaderMap, traceparent: Option<TraceParent>) -> RequestMeta {
        RequestMeta {
            content_type: headers
                .get(http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .filter(|v| v.len() <= 256)
                .map(str::to_owned),
            traceparent: traceparent.map(TraceParent::into_string),
        }
    }
}

/// Everything a source can read: the verified body's slots, the request's
/// headers, and the signature header's other fields.
struct Inputs<'a, 'r, B> {
    found: Option<&'r Found<'a>>,
    headers: &'r HeaderMap,
    verified: &'a Verified<B>,
}

impl<'a, B> Inputs<'a, '_, B> {
    /// The value's text (unbounded); `None` when absent.
    fn raw(&self, value: &Value) -> Option<Cow<'a, str>> {
        match value {
            Value::Body(slot) => text_of(self.found?[*slot]?),
            Value::Header(name) => self
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| Cow::Owned(v.to_owned())),
            Value::Field(name) => self.verified.field(name).map(Cow::Borrowed),
            Value::Literal(text) => Some(Cow::Owned(text.clone())),
        }
    }

    /// An id, subject or user: non-empty and at most [`MAX_ID_LEN`] bytes, or absent.
    fn id(&self, value: &Value) -> Option<String> {
        bounded(self.raw(value)?)
    }
}

fn bounded(text: Cow<'_, str>) -> Option<String> {
    (!text.is_empty() && text.len() <= MAX_ID_LEN).then(|| text.into_owned())
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

/// The event id, from the delivery id when the definition has one (see
/// [`EventId`]): a signed one decides alone, an unsigned one only refines the
/// body's id; without one, the provider and the body bytes decide.
fn event_id(plan: &Plan, delivery: Option<&str>, bytes: &[u8]) -> EventId {
    match (delivery, &plan.id) {
        (Some(id), Some((_, signed))) => EventId::of_delivery(&plan.name, id, *signed, bytes),
        _ => EventId::derive(&plan.name, bytes),
    }
}

pub fn normalize<'a, B: AsRef<[u8]>>(
    plan: &'a Plan,
    body: &'a Verified<B>,
    headers: &HeaderMap,
    meta: &RequestMeta,
    received_at: SystemTime,
) -> Normalized<'a> {
    let bytes = body.get().as_ref();
    let mut inputs = Inputs {
        found: None,
        headers,
        verified: body,
    };
    // Known before the body is read: a dead letter keeps a retry's id too.
    let outside = plan.id.as_ref().and_then(|(v, _)| match v {
        Value::Body(_) => None,
        v => inputs.raw(v),
    });
    let dead = |reason: DeadLetterReason| {
        Normalized::DeadLetter(DeadLetter {
            topic: plan.deadletter_topic.clone(),
            id: event_id(plan, outside.as_deref(), bytes),
            provider: &plan.name,
            reason,
            content_type: meta.content_type.clone(),
            body: bytes,
        })
    };

    let read = read_json(plan, bytes);
    let found = match (read, plan.body) {
        (Ok(found), _) => Some(found),
        (Err(reason), Body::Json | Body::Form) => return dead(reason),
        (Err(_), Body::Any) => None,
    };
    inputs.found = found.as_ref();
    let data = match found.as_ref().and_then(|f| f[plan.data]) {
        Some(raw) if raw.starts_with('{') => Data::Json(raw),
        _ if plan.body == Body::Any => Data::Binary(bytes),
        _ => {
            // Checked in the order the built-ins always did: a missing name first.
            return match event_name(plan, &inputs) {
                Err(reason) => dead(reason),
                Ok(_) => dead(DeadLetterReason::MissingData),
            };
        }
    };
    let provider_event = match event_name(plan, &inputs) {
        Ok(name) => name,
        Err(reason) => return dead(reason),
    };

    let delivery = match (&outside, &plan.id) {
        (Some(id), _) => Some(id.clone()),
        (None, Some((v, _))) => inputs.raw(v),
        _ => None,
    };
    let id = event_id(plan, delivery.as_deref(), bytes);
    let entry = plan
        .named(&provider_event)
        .iter()
        .map(|&i| &plan.entries[i])
        .find(|e| {
            e.when.iter().all(|(slot, want)| {
                inputs
                    .raw(&Value::Body(*slot))
                    .and_then(bounded)
                    .is_some_and(|text| text == *want)
            })
        });
    // The one routing decision: the entry that matched, else unrouted.
    let (type_name, topic, subject, dataschema): (Arc<str>, Arc<str>, _, _) = match entry {
        Some(e) => (
            e.type_name.clone(),
            e.topic.clone(),
            inputs.id(&e.subject),
            e.dataschema.clone(),
        ),
        None => (
            plan.unknown_type.clone(),
            plan.unrouted_topic.clone(),
            plan.unrouted_subject.iter().find_map(|v| inputs.id(v)),
            None,
        ),
    };
    let received_at = received_rfc3339(received_at);
    // A time the format cannot hold falls back to the receive time.
    let time = plan
        .time
        .as_ref()
        .and_then(|v| inputs.id(v))
        .and_then(|t| parse_timestamp(TimestampFormat::Auto, t.as_bytes()))
        .and_then(rfc3339)
        .unwrap_or_else(|| received_at.clone());
    let datacontenttype = match data {
        Data::Json(_) => None,
        Data::Binary(_) => Some(
            meta.content_type
                .clone()
                .unwrap_or_else(|| "application/octet-stream".to_owned()),
        ),
    };
    Normalized::Event(Envelope {
        id,
        provider: &plan.name,
        source: &plan.source,
        type_name,
        routed: entry.is_some(),
        topic,
        provider_event,
        subject,
        user_id: plan.user.as_ref().and_then(|v| inputs.id(v)),
        delivery_id: delivery.and_then(bounded),
        time,
        received_at,
        traceparent: meta.traceparent.clone(),
        datacontenttype,
        dataschema,
        data,
    })
}

/// The body's pointed-at values, or why the body is not a JSON object.
fn read_json<'a>(plan: &Plan, bytes: &'a [u8]) -> Result<Found<'a>, DeadLetterReason> {
    let text = std::str::from_utf8(bytes).map_err(|_| DeadLetterReason::NotJson)?;
    // An array would be walked positionally; the format's bodies are objects.
    if !text.trim_start().starts_with('{') {
        return match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Err(DeadLetterReason::NotObject),
            Err(_) => Err(DeadLetterReason::NotJson),
        };
    }
    plan.trie.read(text).map_err(|_| DeadLetterReason::NotJson)
}

/// The provider's event name (with `join` appended when present), or the
/// dead-letter reason. A name in the body must be a JSON string; a number
/// there is no name, as the built-ins have always read it.
fn event_name<B>(plan: &Plan, inputs: &Inputs<'_, '_, B>) -> Result<String, DeadLetterReason> {
    let name = match &plan.event_name {
        Value::Body(slot) => inputs
            .found
            .and_then(|f| f[*slot])
            .filter(|raw| raw.starts_with('"'))
            .and_then(text_of),
        other => inputs.raw(other),
    };
    let mut name = name.ok_or(DeadLetterReason::MissingEvent)?.into_owned();
    if let Some(join) = plan.join.as_ref().and_then(|v| inputs.raw(v)) {
        name.push('.');
        name.push_str(&join);
    }
    if name.len() > MAX_EVENT_NAME_LEN {
        return Err(DeadLetterReason::EventTooLong);
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::compiled::{Algorithm, SecretEncoding};
    use crate::definitions::{Definition, Definitions};

    use crate::engine::verify::{verify, KeyRing};
    use std::time::{Duration, UNIX_EPOCH};

    fn builtin(name: &str) -> Definition {
        Definitions::builtin().get(name).unwrap().clone()
    }

    /// Test-only: sign and verify, the one way to get a `Verified` outside
    /// `verify`. Transfers signs the raw body alone: any body will do.
    fn verified(body: &[u8]) -> Verified<Vec<u8>> {
        use hmac::{Hmac, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(b"k").unwrap();
        mac.update(body);
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "x-transfers-signature",
            hex::encode(mac.finalize().into_bytes()).parse().unwrap(),
        );
        verify(
            &builtin("transfers"),
            &KeyRing::new(Algorithm::Sha256, SecretEncoding::Text, &["k"]).unwrap(),
            crate::engine::verify::Line::POST,
            &headers,
            body.to_vec(),
            SystemTime::now(),
            Duration::ZERO,
        )
        .unwrap()
    }

    const AT_MS: u64 = 1_790_000_000_123;

    fn normalized<'a>(
        plan: &'a Plan,
        v: &'a Verified<Vec<u8>>,
        headers: &[(&str, &str)],
        content_type: Option<&str>,
    ) -> Normalized<'a> {
        let mut h = HeaderMap::new();
        for (k, val) in headers {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                val.parse().unwrap(),
            );
        }
        let meta = RequestMeta {
            content_type: content_type.map(str::to_owned),
            traceparent: None,
        };
        normalize(
            plan,
            v,
            &h,
            &meta,
            UNIX_EPOCH + Duration::from_millis(AT_MS),
        )
    }

    /// (routed type, subject, time, data) of a built-in's event.
    fn run(provider: &str, body: &[u8]) -> (Option<String>, Option<String>, String, String) {
        let plan = Plan::alone(&builtin(provider));
        let v = verified(body);
        match normalized(&plan, &v, &[], None) {
            Normalized::Event(e) => {
                let Data::Json(data) = e.data else {
                    panic!("binary data")
                };
                (
                    e.routed.then(|| e.type_name.to_string()),
                    e.subject,
                    e.time,
                    data.to_owned(),
                )
            }
            Normalized::DeadLetter(d) => panic!("dead-lettered: {:?}", d.reason),
        }
    }

    fn dead_reason(body: &[u8]) -> &'static str {
        let plan = Plan::alone(&builtin("m2m"));
        let v = verified(body);
        match normalized(&plan, &v, &[], None) {
            Normalized::DeadLetter(d) => {
                assert_eq!(d.body, body);
                d.reason.as_str()
            }
            Normalized::Event(_) => panic!("routed: {}", String::from_utf8_lossy(body)),
        }
    }

    #[test]
    fn data_is_kept_byte_for_byte_including_number_digits() {
        let data = r#"{"status":"Completed", "amount": 12345678901234567890.10,"paymentReference":"p-1","x":1e400}"#;
        let body = format!(r#"{{"event":"Payment.Status","data":{data}}}"#);
        let (ty, subject, _, got) = run("transfers", body.as_bytes());
        assert_eq!(ty, Some("transfers.payment.completed".to_owned()));
        assert_eq!(subject.as_deref(), Some("p-1"));
        assert_eq!(got, data);
    }

    #[test]
    fn time_is_created_at_when_parseable_else_receive_time() {
        let (_, _, time, _) = run(
            "m2m",
            br#"{"event":"link.opened","data":{"linkId":"l","createdAt":"2026-01-02T03:04:05+01:00"}}"#,
        );
        assert_eq!(time, "2026-01-02T02:04:05Z");
        let (_, _, time, _) = run(
            "m2m",
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
            let (_, _, time, _) = run("m2m", body.as_bytes());
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
            let (_, _, time, _) = run("m2m", body.as_bytes());
            assert_eq!(time, want, "createdAt {created_at}");
        }
        let leap = br#"{"event":"link.opened","data":{"createdAt":"2016-12-31T23:59:60Z"}}"#;
        let (_, _, time, _) = run("m2m", leap);
        assert!(
            time.starts_with("2016-12-31T23:59:59") || time == receive,
            "{time}"
        );
    }

    #[test]
    fn unknown_events_take_the_first_present_entity_as_subject() {
        let (ty, subject, _, _) = run(
            "m2m",
            br#"{"event":"link.deleted","data":{"paymentReference":"p","linkId":"l"}}"#,
        );
        assert_eq!((ty, subject.as_deref()), (None, Some("l")));
        let (_, subject, _, _) = run("m2m", br#"{"event":"x","data":{}}"#);
        assert_eq!(subject, None);
    }

    #[test]
    fn numeric_ids_are_read_as_their_digits_and_other_types_ignored() {
        let (ty, subject, _, _) = run(
            "m2m",
            br#"{"event":"operation.created","data":{"operationId":42}}"#,
        );
        assert_eq!(ty.as_deref(), Some("m2m.operation.created"));
        assert_eq!(subject.as_deref(), Some("42"));
        for id in ["{\"a\":1}", "null", "[1]", "\"\""] {
            let body = format!(r#"{{"event":"link.created","data":{{"linkId":{id}}}}}"#);
            let (_, subject, _, _) = run("m2m", body.as_bytes());
            assert_eq!(subject, None, "linkId {id}");
        }
        let (ty, _, _, _) = run(
            "transfers",
            br#"{"event":"Payment.Status","data":{"status":"Failed"}}"#,
        );
        assert_eq!(ty.as_deref(), Some("transfers.payment.failed"));
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
        let (ty, _, _, got) = run("m2m", body.as_bytes());
        assert_eq!((ty, got.len()), (None, data.len()));
        // Nested as the event name: not a string, dead-lettered whole.
        let top = format!(
            "{{\"event\":{}1{}}}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert_eq!(dead_reason(top.as_bytes()), "missing_event");
    }

    // ---- What only configured definitions use.

    fn defined(provider: &str) -> Definition {
        let file = format!("providers:\n{provider}");
        Definitions::with_file(Some(("test", &file)))
            .unwrap()
            .configured()[0]
            .clone()
    }

    const HUB: &str = "
  - name: hub
    secret: {env: HUB_SECRET}
    signature: {header: x-hub-signature-256, prefix: sha256=, prefix_required: true}
    id: {source: {header: x-hub-delivery}}
    event: {name: {header: x-hub-event}, join: /action, data: \"\", user: /sender/login}
    unrouted_subject: [/repository/full_name]
    events:
      - {name: issues.opened, type: hub.issue.opened, subject: /issue/id}
      - {name: ping, type: hub.ping, subject: /hook_id, topic: hub-misc}
";

    #[test]
    fn a_header_event_name_joined_with_a_body_value_and_the_whole_body_as_data() {
        let plan = Plan::alone(&defined(HUB));
        let body = br#"{"action":"opened","issue":{"id":7},"sender":{"login":"octo"}}"#;
        let v = verified(body);
        let Normalized::Event(e) = normalized(&plan, &v, &[("x-hub-event", "issues")], None) else {
            panic!("dead-lettered")
        };
        assert_eq!((&*e.type_name, e.routed), ("hub.issue.opened", true));
        assert_eq!(e.provider_event, "issues.opened");
        assert_eq!(e.subject.as_deref(), Some("7"));
        assert_eq!(e.user_id.as_deref(), Some("octo"));
        assert!(matches!(e.data, Data::Json(d) if d.as_bytes() == body));
        // No `action`: the header's name alone.
        let v = verified(br#"{"hook_id":3}"#);
        let Normalized::Event(e) = normalized(&plan, &v, &[("x-hub-event", "ping")], None) else {
            panic!("dead-lettered")
        };
        assert_eq!(
            (&*e.type_name, e.subject.as_deref()),
            ("hub.ping", Some("3"))
        );
        // Without the header there is no name.
        let Normalized::DeadLetter(d) = normalized(&plan, &v, &[], None) else {
            panic!("routed")
        };
        assert_eq!(d.reason, DeadLetterReason::MissingEvent);
    }

    #[test]
    fn unknown_events_are_keyed_by_the_unrouted_subject() {
        let plan = Plan::alone(&defined(HUB));
        let v = verified(br#"{"action":"edited","repository":{"full_name":"o/r"}}"#);
        let Normalized::Event(e) = normalized(&plan, &v, &[("x-hub-event", "issues")], None) else {
            panic!("dead-lettered")
        };
        assert_eq!((&*e.type_name, e.routed), ("hub.unknown", false));
        assert_eq!(e.subject.as_deref(), Some("o/r"));
    }

    #[test]
    fn an_unsigned_delivery_id_refines_the_body_id_and_travels_as_deliveryid() {
        let plan = Plan::alone(&defined(HUB));
        let body = br#"{"hook_id":3}"#;
        let v = verified(body);
        let id = |delivery: Option<&str>| {
            let mut h = vec![("x-hub-event", "ping")];
            h.extend(delivery.map(|d| ("x-hub-delivery", d)));
            match normalized(&plan, &v, &h, None) {
                Normalized::Event(e) => (e.id, e.delivery_id),
                Normalized::DeadLetter(_) => panic!("dead-lettered"),
            }
        };
        let (first, delivery) = id(Some("d-1"));
        assert_eq!(delivery.as_deref(), Some("d-1"));
        assert_eq!(id(Some("d-1")).0, first, "a retry keeps its id");
        assert_ne!(
            id(Some("d-2")).0,
            first,
            "another delivery id, another event id"
        );
        assert_eq!(
            id(None).0,
            EventId::derive("hub", body),
            "no delivery id: the body's id"
        );
        assert_eq!(first, EventId::of_unsigned_delivery("hub", "d-1", body));
    }

    #[test]
    fn a_signed_delivery_id_in_the_body_decides_the_id_alone() {
        let plan = Plan::alone(&defined(
            "
  - name: pay
    secret: {env: PAY_SECRET}
    signature: {header: x-sig}
    id: {source: /id}
    event: {name: /type, data: /data, time: /created}
    events:
      - {name: charge.paid, when: {/data/status: paid}, type: pay.charge.paid, subject: /data/charge}
      - {name: charge.paid, when: {/data/status: partial}, type: pay.charge.partial, subject: /data/charge}
",
        ));
        let body = br#"{"id":"evt_1","type":"charge.paid","created":1790000000,"data":{"status":"partial","charge":"ch_1"}}"#;
        let v = verified(body);
        let Normalized::Event(e) = normalized(&plan, &v, &[], None) else {
            panic!("dead-lettered")
        };
        assert_eq!(e.id, EventId::of_signed_delivery("pay", "evt_1"));
        assert_eq!(e.delivery_id.as_deref(), Some("evt_1"));
        assert_eq!(&*e.type_name, "pay.charge.partial");
        assert_eq!(
            e.time, "2026-09-21T14:13:20Z",
            "a JSON number of Unix seconds"
        );
    }

    const RAW: &str = "
  - name: raw
    secret: {env: RAW_SECRET}
    signature: {header: x-sig}
    body: any
    event: {name: {header: x-topic}, data: /payload}
    events:
      - {name: blob, type: raw.blob, subject: {header: x-blob-id}}
";

    #[test]
    fn body_any_routes_a_non_json_body_as_data_base64_with_its_content_type() {
        let plan = Plan::alone(&defined(RAW));
        let body = b"\x00\xffnot json";
        let v = verified(body);
        let n = normalized(
            &plan,
            &v,
            &[("x-topic", "blob"), ("x-blob-id", "b-1")],
            Some("application/octet-stream"),
        );
        let Normalized::Event(e) = n else {
            panic!("dead-lettered")
        };
        assert!(matches!(e.data, Data::Binary(b) if b == body));
        assert_eq!(
            e.datacontenttype.as_deref(),
            Some("application/octet-stream")
        );
        assert_eq!(
            (&*e.type_name, e.subject.as_deref()),
            ("raw.blob", Some("b-1"))
        );
        let record = e.to_record();
        let value: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        assert_eq!(value["data_base64"], "AP9ub3QganNvbg==");
        assert!(value.get("data").is_none());

        // A JSON body whose `data` pointer finds an object is still JSON.
        let v = verified(br#"{"payload":{"a":1}}"#);
        let Normalized::Event(e) =
            normalized(&plan, &v, &[("x-topic", "blob")], Some("text/plain"))
        else {
            panic!("dead-lettered")
        };
        assert!(matches!(e.data, Data::Json(r#"{"a":1}"#)));
        assert_eq!(e.datacontenttype, None);
    }

    #[test]
    fn the_record_is_the_attributes_then_the_data_text_as_it_came() {
        let plan = Plan::alone(&builtin("m2m"));
        let v = verified(br#"{"event":"link.opened","data":{"linkId":"l", "n": 1.50}}"#);
        let Normalized::Event(e) = normalized(&plan, &v, &[], None) else {
            panic!("dead-lettered")
        };
        let value = String::from_utf8(e.to_record().value).unwrap();
        assert!(
            value.ends_with(r#","data":{"linkId":"l", "n": 1.50}}"#),
            "{value}"
        );
        let parsed: serde_json::Value = serde_json::from_str(&value).unwrap();
        assert_eq!(parsed["type"], "m2m.link.opened");
        assert_eq!(parsed["datacontenttype"], "application/json");
        assert!(parsed.get("deliveryid").is_none());
    }
}
