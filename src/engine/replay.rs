//! What an unrouted or dead-letter record keeps of its request, so that a
//! re-drive can read the webhook again under a later definition: written by
//! `ingest`, read by `redrive`, one rule for both.
//!
//! Kept, as record headers ([`crate::engine::record::header`]): the provider, the
//! receive time, the request headers the definition reads (and
//! `content-type`, `traceparent`), the signature header's fields it reads (a
//! timestamp, say; never the signature, which [`Verified`] does not hold, nor
//! the header itself), and for an unrouted event the whole body when its
//! `data` is not the body byte for byte. Nothing else: no credential, no
//! client address. A routed record keeps nothing of this: it costs only the
//! requests that need it.

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64::Engine;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::definitions::compiled::TimestampFormat;
use crate::engine::envelope::{Data, Record};
use crate::engine::normalize::{rfc3339, Normalized, Plan, Value};
use crate::engine::record::header::{
    BATCH_INDEX, PROVIDER, RECEIVED_AT, REQUEST_BODY, REQUEST_FIELDS, REQUEST_HEADERS, TRACEPARENT,
};
use crate::engine::verify::{parse_timestamp, Verified};

/// Headers a re-drive reads besides the definition's sources: the content
/// type becomes `datacontenttype` of a `body: any` event, and the trace
/// context its `traceparent`.
static ALWAYS_KEPT: [HeaderName; 2] = [
    http::header::CONTENT_TYPE,
    HeaderName::from_static(TRACEPARENT),
];

/// What an unrouted or dead-letter `record` keeps for a re-drive: headers to
/// add to it. `room` is the largest record the configuration promises the
/// broker takes (the settings' `Config::max_record_bytes`); when the
/// record with them would not fit, none are kept (the record is not
/// replayable, which a re-drive counts), so the event itself is never refused
/// for its copy. Nothing here touches the record, so a caller may compute
/// this where a failure must cost only the copy.
///
/// `event_data` is the unrouted event's `data` ([`unrouted_data`]); `None`
/// for a dead letter, whose value is the body.
pub fn kept<B: AsRef<[u8]>>(
    record: &Record,
    event_data: Option<&[u8]>,
    plan: &Plan,
    request: &HeaderMap,
    verified: &Verified<B>,
    received_at: SystemTime,
    room: usize,
) -> Vec<(&'static str, Vec<u8>)> {
    let body = verified.get().as_ref();
    let mut headers: BTreeMap<&str, &str> = BTreeMap::new();
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    for value in plan.outside_body() {
        match value {
            Value::Header(name) => keep_header(&mut headers, request, name),
            Value::Field(name) => {
                if let Some((k, v)) = verified.fields().iter().find(|(k, _)| **k == **name) {
                    fields.insert(&**k, &**v);
                }
            }
            // A literal is in the definition, which the re-drive reads too.
            Value::Body(_) | Value::Literal(_) => {}
        }
    }
    for name in &ALWAYS_KEPT {
        keep_header(&mut headers, request, name);
    }

    let mut added = Vec::new();
    if !record.headers.iter().any(|(k, _)| *k == PROVIDER) {
        added.push((PROVIDER, plan.name.as_bytes().to_vec()));
    }
    if let Some(at) = rfc3339(received_at) {
        added.push((RECEIVED_AT, at.into_bytes()));
    }
    if !headers.is_empty() {
        added.push((REQUEST_HEADERS, json_object(&headers)));
    }
    if !fields.is_empty() {
        added.push((REQUEST_FIELDS, json_object(&fields)));
    }
    if event_data.is_some_and(|data| data != body) {
        added.push((REQUEST_BODY, body.to_vec()));
    }
    if size(&record.headers) + record.key.len() + record.value.len() + size(&added) > room {
        return Vec::new();
    }
    added
}

/// Bytes of headers, names and values.
fn size(headers: &[(&str, Vec<u8>)]) -> usize {
    headers.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// The first value, as the definition's sources read it: a value that is
/// not visible ASCII is one no source could read, so it is not kept.
fn keep_header<'r>(
    kept: &mut BTreeMap<&'r str, &'r str>,
    request: &'r HeaderMap,
    name: &'r HeaderName,
) {
    if let Some(v) = request.get(name).and_then(|v| v.to_str().ok()) {
        kept.insert(name.as_str(), v);
    }
}

fn json_object(map: &BTreeMap<&str, &str>) -> Vec<u8> {
    serde_json::to_vec(map).expect("strings serialise")
}

/// An event's `data` bytes as the body held them; `None` for a dead letter.
pub fn unrouted_data<'a>(normalized: &Normalized<'a>) -> Option<&'a [u8]> {
    match normalized {
        Normalized::Event(e) => Some(match e.data {
            Data::Json(text) => text.as_bytes(),
            Data::Binary(bytes) => bytes,
        }),
        Normalized::DeadLetter(_) => None,
    }
}

/// A request read back from an unrouted or dead-letter record.
#[derive(Debug)]
pub struct Kept {
    pub provider: String,
    pub received_at: SystemTime,
    pub headers: HeaderMap,
    pub fields: Vec<(Box<str>, Box<str>)>,
    pub body: Vec<u8>,
    /// The record was read from one item of a batch: `body` is that item.
    pub batch_index: Option<usize>,
}

/// Why a record cannot be replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NotKept {
    /// Written before records kept their request, or with a body too large to keep.
    #[error("the record keeps no request")]
    NoRequest,
    #[error("the record's `{0}` is malformed")]
    Malformed(&'static str),
}

impl NotKept {
    /// The summary's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            NotKept::NoRequest => "not_replayable",
            NotKept::Malformed(_) => "malformed",
        }
    }
}

/// The event fields an unrouted record's value gives back when its `data`
/// is the body.
#[derive(Deserialize)]
struct EventData<'a> {
    #[serde(borrow)]
    data: Option<&'a RawValue>,
    data_base64: Option<String>,
}

impl Kept {
    /// Reads a record of the unrouted (`unrouted: true`) or dead-letter topic:
    /// `header` looks up one of its headers, `value` is its value.
    pub fn read<'h>(
        header: impl Fn(&str) -> Option<&'h [u8]>,
        value: &[u8],
        unrouted: bool,
    ) -> Result<Kept, NotKept> {
        let text = |name: &'static str| -> Result<Option<&'h str>, NotKept> {
            header(name)
                .map(|v| std::str::from_utf8(v).map_err(|_| NotKept::Malformed(name)))
                .transpose()
        };
        let received_at = text(RECEIVED_AT)?.ok_or(NotKept::NoRequest)?;
        let received_at = parse_timestamp(TimestampFormat::Rfc3339, received_at.as_bytes())
            .ok_or(NotKept::Malformed(RECEIVED_AT))?;
        let provider = text(PROVIDER)?.ok_or(NotKept::Malformed(PROVIDER))?;

        let mut headers = HeaderMap::new();
        if let Some(json) = text(REQUEST_HEADERS)? {
            let map: BTreeMap<String, String> =
                serde_json::from_str(json).map_err(|_| NotKept::Malformed(REQUEST_HEADERS))?;
            for (k, v) in map {
                let name = HeaderName::from_bytes(k.as_bytes());
                let value = HeaderValue::from_str(&v);
                match (name, value) {
                    (Ok(name), Ok(value)) => headers.insert(name, value),
                    _ => return Err(NotKept::Malformed(REQUEST_HEADERS)),
                };
            }
        }
        let fields = match text(REQUEST_FIELDS)? {
            None => Vec::new(),
            Some(json) => serde_json::from_str::<BTreeMap<String, String>>(json)
                .map_err(|_| NotKept::Malformed(REQUEST_FIELDS))?
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        };
        let body = match header(REQUEST_BODY) {
            Some(body) => body.to_vec(),
            None if unrouted => event_data(value)?,
            None => value.to_vec(),
        };
        let batch_index = text(BATCH_INDEX)?
            .map(|i| i.parse().map_err(|_| NotKept::Malformed(BATCH_INDEX)))
            .transpose()?;
        Ok(Kept {
            provider: provider.to_owned(),
            received_at,
            headers,
            fields,
            body,
            batch_index,
        })
    }

    /// The request as `normalize` reads it.
    pub fn verified(&self) -> Verified<&[u8]> {
        Verified::kept(self.body.as_slice(), self.fields.clone())
    }
}

/// An unrouted event's `data`, byte for byte as written: the body itself.
fn event_data(value: &[u8]) -> Result<Vec<u8>, NotKept> {
    let malformed = NotKept::Malformed("data");
    let event: EventData<'_> = serde_json::from_slice(value).map_err(|_| malformed)?;
    match (event.data, event.data_base64) {
        (Some(raw), None) => Ok(raw.get().as_bytes().to_vec()),
        (None, Some(b64)) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| malformed),
        _ => Err(malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::Definitions;
    use crate::engine::normalize::{normalize, RequestMeta};

    use crate::engine::trace::TraceParent;
    use std::time::{Duration, UNIX_EPOCH};

    /// A fields-header scheme whose definition reads a header, a field and
    /// body pointers outside `data`.
    const ACME: &str = "providers:
  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-acme-signature, fields: {separator: ',', signature: v1}, signed: '{timestamp}.{body}'}
    timestamp: {source: {field: t}, format: unix}
    id: {source: {header: x-acme-delivery}}
    event: {name: /type, data: /data, user: {field: u}}
    unrouted_subject: [/meta/account]
    events:
      - {name: paid, type: acme.paid, subject: /data/id}
";

    fn plan() -> Plan {
        let defs = Definitions::with_file(Some(("test", ACME))).unwrap();
        Plan::alone(&defs.configured()[0])
    }

    fn request() -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in [
            (
                "x-acme-signature",
                "t=1795500000,u=user-7,v1=abcdef,v0=012345",
            ),
            ("x-acme-delivery", "d-1"),
            ("authorization", "Bearer secret-token"),
            ("cookie", "session=secret"),
            ("x-forwarded-for", "203.0.113.9"),
            ("content-type", "application/json"),
            (
                "traceparent",
                "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            ),
        ] {
            h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        h
    }

    /// Fields as `verify` leaves them: the signature's own entry gone.
    fn verified(body: &[u8]) -> Verified<&[u8]> {
        let fields = [("t", "1795500000"), ("u", "user-7"), ("v0", "012345")];
        Verified::kept(body, fields.map(|(k, v)| (k.into(), v.into())).to_vec())
    }

    fn received() -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(1_795_500_000_123)
    }

    /// The unrouted record the gateway writes for `body`, with its request kept.
    fn unrouted(body: &[u8], room: usize) -> Record {
        let (plan, request, verified) = (plan(), request(), verified(body));
        let meta = RequestMeta::of(&request, TraceParent::from_headers(&request));
        let normalized = normalize(&plan, &verified, &request, &meta, received());
        let Normalized::Event(e) = &normalized else {
            panic!("an event")
        };
        assert!(!e.routed);
        let mut record = e.to_record();
        let data = unrouted_data(&normalized);
        let added = kept(&record, data, &plan, &request, &verified, received(), room);
        record.headers.extend(added);
        record
    }

    fn lookup<'r>(record: &'r Record) -> impl Fn(&str) -> Option<&'r [u8]> {
        |name| {
            record
                .headers
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_slice())
        }
    }

    const BODY: &[u8] = br#"{"type":"refunded","meta":{"account":"acct-1"},"data":{"id":"r-1"}}"#;

    #[test]
    fn an_unrouted_record_keeps_what_the_definition_reads_and_reads_back_the_same_request() {
        let record = unrouted(BODY, 1 << 20);
        let kept = Kept::read(lookup(&record), &record.value, true).unwrap();
        assert_eq!(kept.provider, "acme");
        assert_eq!(kept.received_at, received());
        assert_eq!(kept.body, BODY, "data is not the body: the body is kept");
        let names: Vec<&str> = kept.headers.keys().map(HeaderName::as_str).collect();
        assert_eq!(names.len(), 3, "{names:?}");
        for name in ["x-acme-delivery", "content-type", "traceparent"] {
            assert!(names.contains(&name), "{name} in {names:?}");
        }
        assert_eq!(kept.fields, vec![("u".into(), "user-7".into())]);
    }

    #[test]
    fn never_a_signature_a_credential_or_what_the_definition_does_not_read() {
        let record = unrouted(BODY, 1 << 20);
        let everything: Vec<u8> = record
            .headers
            .iter()
            .flat_map(|(k, v)| [k.as_bytes(), v.as_slice()].concat())
            .collect();
        let text = String::from_utf8_lossy(&everything);
        for secret in [
            "abcdef",
            "012345",
            "x-acme-signature",
            "Bearer",
            "session=",
            "203.0.113.9",
            "1795500000,",
        ] {
            assert!(!text.contains(secret), "{secret} kept: {text}");
        }
    }

    #[test]
    fn the_body_is_not_copied_when_data_is_the_body() {
        let whole = "providers:
  - name: hub
    secret: {env: HUB_SECRET}
    signature: {header: x-hub-signature}
    event: {name: {header: x-hub-event}, data: ''}
";
        let defs = Definitions::with_file(Some(("test", whole))).unwrap();
        let plan = Plan::alone(&defs.configured()[0]);
        let mut request = HeaderMap::new();
        request.insert("x-hub-event", HeaderValue::from_static("push"));
        let body = br#"{"ref":"main"}"#;
        let verified = Verified::kept(&body[..], Vec::new());
        let normalized = normalize(
            &plan,
            &verified,
            &request,
            &RequestMeta::default(),
            received(),
        );
        let Normalized::Event(e) = &normalized else {
            panic!("an event")
        };
        let mut record = e.to_record();
        let data = unrouted_data(&normalized);
        let added = kept(
            &record,
            data,
            &plan,
            &request,
            &verified,
            received(),
            1 << 20,
        );
        record.headers.extend(added);
        assert!(lookup(&record)(REQUEST_BODY).is_none());
        let kept = Kept::read(lookup(&record), &record.value, true).unwrap();
        assert_eq!(kept.body, body, "read back from `data`");
        assert_eq!(kept.headers["x-hub-event"], "push");
    }

    #[test]
    fn a_body_too_large_to_keep_leaves_the_record_unreplayable_not_refused() {
        let record = unrouted(BODY, 100);
        assert!(record.headers.iter().all(|(k, _)| !k.starts_with("x-re")));
        assert_eq!(
            Kept::read(lookup(&record), &record.value, true).unwrap_err(),
            NotKept::NoRequest
        );
    }

    /// A dead letter as `ingest` writes it, before it keeps anything.
    fn dead_letter() -> Record {
        Record {
            topic: "wh.deadletter".into(),
            key: "k".into(),
            value: b"not json".to_vec(),
            headers: vec![(PROVIDER, b"acme".to_vec())],
            timestamp_ms: None,
        }
    }

    /// What `record`, a dead letter of its own value, keeps within `room`.
    fn kept_by_dead_letter(record: &Record, room: usize) -> Vec<(&'static str, Vec<u8>)> {
        let verified = verified(&record.value);
        kept(
            record,
            None,
            &plan(),
            &request(),
            &verified,
            received(),
            room,
        )
    }

    #[test]
    fn the_kept_headers_count_against_the_room_too() {
        // A dead letter (no body copy) whose kept headers alone would not fit
        // beside it: the record keeps nothing rather than outgrow the room.
        let record = dead_letter();
        let all = kept_by_dead_letter(&record, 1 << 20);
        let needed = size(&record.headers) + record.key.len() + record.value.len() + size(&all);
        assert_eq!(
            kept_by_dead_letter(&record, needed),
            all,
            "exactly enough room"
        );
        assert!(
            kept_by_dead_letter(&record, needed - 1).is_empty(),
            "one byte short: nothing kept"
        );
    }

    #[test]
    fn a_dead_letter_is_its_body() {
        let mut record = dead_letter();
        let added = kept_by_dead_letter(&record, 1 << 20);
        record.headers.extend(added);
        let providers = record
            .headers
            .iter()
            .filter(|(k, _)| *k == PROVIDER)
            .count();
        assert_eq!(providers, 1, "x-provider once");
        let kept = Kept::read(lookup(&record), &record.value, false).unwrap();
        assert_eq!(kept.body, b"not json");
        assert_eq!(kept.received_at, received());
    }

    #[test]
    fn malformed_kept_headers_are_named() {
        let mut record = unrouted(BODY, 1 << 20);
        for (k, v) in &mut record.headers {
            if *k == REQUEST_HEADERS {
                *v = b"{not json".to_vec();
            }
        }
        assert_eq!(
            Kept::read(lookup(&record), &record.value, true).unwrap_err(),
            NotKept::Malformed(REQUEST_HEADERS)
        );
    }
}
