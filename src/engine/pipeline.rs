//! One request's meaning, without IO: a provider, the request's headers and
//! body, and the clock in; the records to publish and the answer to give once
//! every one is acknowledged out (or the refusal).
//! verify -> normalize (which decides the route) -> record -> what an
//! unrouted or dead-letter record keeps for a re-drive. The gateway's ingest
//! is the IO shell around it (body, budget, in-flight cap, publish, answer);
//! the re-drive, the benches and the fuzz targets call it too, so what they
//! measure or replay is what the gateway does.
//!
//! Nothing verified is dropped, not even to a bug: a panic past verification
//! is caught here and the body kept whole on the dead-letter topic
//! ([`rescue`]) instead of failing a request its provider would redeliver
//! (and fail) forever.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderMap;

use crate::definitions::compiled::Body;
use crate::definitions::handshake::Handshake;
use crate::definitions::rules::DEADLETTER;
use crate::definitions::Accepted;
use crate::engine::envelope::{DeadLetter, DeadLetterReason, EventId, Record};
use crate::engine::normalize::{normalize, Normalized, RequestMeta};
use crate::engine::provider::Provider;
use crate::engine::record::header::BATCH_INDEX;
use crate::engine::replay;
use crate::engine::route::Destination;
use crate::engine::verify::{verify, KeyRing, Line, Verified, VerifyError};
use crate::engine::{batch, form, handshake};

/// The request as the pipeline reads it besides its body.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// Its method and query, which a signature may cover.
    pub line: Line<'a>,
    pub headers: &'a HeaderMap,
    pub meta: &'a RequestMeta,
    pub received_at: SystemTime,
}

/// The settings the pipeline reads.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The replay window of a definition that does not set its own.
    pub replay_tolerance: Duration,
    /// The largest record the configuration promises the broker takes
    /// (the settings' `Config::max_record_bytes`): the room an unrouted or
    /// dead-letter record has for what it keeps for a re-drive.
    pub max_record_bytes: usize,
}

/// One record to publish, and the facts the request reports of it (its
/// answer, log line and metrics), so nothing downstream reads the webhook again.
#[derive(Debug)]
pub struct Routed {
    pub record: Record,
    pub destination: Destination,
    pub id: EventId,
    /// The canonical type, `<provider>.unknown`, or `deadletter`.
    pub type_name: Arc<str>,
    /// The entity the event is about, when known.
    pub subject: Option<String>,
}

/// What a request is answered once every one of its records is acknowledged
/// (never before: the answer is chosen here, given by the IO shell after the
/// acks). A request may make no record (an empty batch) and still be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply<'p> {
    /// 200 with `{"id": ...}` for one record, `{"ids": [...]}` otherwise.
    Ids,
    /// The sender's own acknowledgement, its definition's `accepted:`.
    Fixed(&'p Accepted),
}

impl<'p> Reply<'p> {
    pub fn of(provider: &'p Provider) -> Reply<'p> {
        match &provider.definition.accepted {
            Some(accepted) => Reply::Fixed(accepted),
            None => Reply::Ids,
        }
    }
}

/// What a verified request became: its records, answered with `reply` only
/// once every one is acknowledged, and the verified body, should publishing
/// them fail in a way that needs a [`rescue`].
#[derive(Debug)]
pub struct Processed<'p, B> {
    pub records: Vec<Routed>,
    pub reply: Reply<'p>,
    /// A panic after verification was caught: `records` is the rescue.
    pub rescued: bool,
    pub verified: Verified<B>,
}

/// The whole pipeline for one request: verified with the provider's keys in
/// force, then [`records`] (or, should that panic, [`rescue`]). Only a
/// failed verification is refused; every verified body becomes records.
pub fn process<'p, B: AsRef<[u8]>>(
    provider: &'p Provider,
    body: B,
    request: Request<'_>,
    limits: Limits,
) -> Result<Processed<'p, B>, VerifyError> {
    let keys = provider.keys();
    // A provider without keys verifies nothing (only a re-drive has one).
    let keys = keys.as_deref().ok_or(VerifyError::Missing)?;
    let verified = verified(provider, keys, body, request, limits)?;
    let caught = std::panic::catch_unwind(AssertUnwindSafe(|| {
        records(provider, &verified, request, Some(limits.max_record_bytes))
    }));
    let (records, rescued) = match caught {
        Ok(records) => (records, false),
        Err(_panic) => (
            vec![rescue(
                provider,
                &verified,
                request,
                limits.max_record_bytes,
            )],
            true,
        ),
    };
    Ok(Processed {
        records,
        reply: Reply::of(provider),
        rescued,
        verified,
    })
}

/// `body` verified as the provider's definition says, with `keys`.
fn verified<B: AsRef<[u8]>>(
    provider: &Provider,
    keys: &KeyRing,
    body: B,
    request: Request<'_>,
    limits: Limits,
) -> Result<Verified<B>, VerifyError> {
    verify(
        &provider.definition,
        keys,
        request.line,
        request.headers,
        body,
        request.received_at,
        limits.replay_tolerance,
    )
}

/// A request that was one of its provider's handshakes: which, and its
/// reply or why it is refused.
#[derive(Debug)]
pub struct Handshaken<'p> {
    pub handshake: &'p Handshake,
    pub answer: Result<handshake::Answer<'p>, handshake::Refusal>,
}

/// The handshake this request is, if any, and its reply or refusal
/// (`engine::handshake`): verified first where the handshake says so,
/// answered without the broker, never made a record. `None`: not a
/// handshake, an event for [`process`].
pub fn handshake<'p>(
    provider: &'p Provider,
    body: &[u8],
    request: Request<'_>,
    limits: Limits,
) -> Option<Handshaken<'p>> {
    let asked = handshake::Asked {
        method: request.line.method,
        query: request.line.query,
        headers: request.headers,
        body,
    };
    let matched = handshake::matching(&provider.definition, asked)?;
    let answer = || {
        // One read of the keys: the secret that verified is the one the reply uses.
        let keys = provider.keys();
        let keys = keys.as_deref().ok_or(VerifyError::Missing)?;
        let key = match matched.handshake.verified {
            true => verified(provider, keys, body, request, limits)?.key(),
            false => 0,
        };
        handshake::answer(&matched, keys, key)
    };
    Some(Handshaken {
        answer: answer(),
        handshake: matched.handshake,
    })
}

/// A verified body's records: normalized (which decides the route), and
/// for an unrouted or dead-letter record, what it keeps of its request for
/// a re-drive within `room` bytes. `None`: nothing is kept (a re-drive, which
/// publishes routed records only). A form body is read as the JSON object
/// of its fields; one that is no form dead-letters whole (`not_form`).
pub fn records<B: AsRef<[u8]>>(
    provider: &Provider,
    verified: &Verified<B>,
    request: Request<'_>,
    room: Option<usize>,
) -> Vec<Routed> {
    if provider.definition.body != Body::Form {
        return records_read_as(provider, verified, verified, request, room);
    }
    let json_field = provider
        .definition
        .form
        .as_ref()
        .and_then(|f| f.json.as_deref());
    match form::fields(verified.get().as_ref()).and_then(|f| form::to_json(&f, json_field)) {
        Ok(json) => records_read_as(provider, &verified.read_as(json), verified, request, room),
        Err(form::NotForm) => vec![kept_dead_letter(
            provider,
            verified,
            request,
            room,
            DeadLetterReason::NotForm,
        )],
    }
}

/// [`records`] of a request read as `read` (the raw body, or a form's
/// fields as JSON), whose raw body `raw` is what a dead letter and a
/// re-drive's copy keep. A batch is one record per item, in order.
fn records_read_as<R: AsRef<[u8]>, B: AsRef<[u8]>>(
    provider: &Provider,
    read: &Verified<R>,
    raw: &Verified<B>,
    request: Request<'_>,
    room: Option<usize>,
) -> Vec<Routed> {
    let Some(batch) = &provider.definition.batch else {
        return vec![one_record(provider, read, raw, request, room, None)];
    };
    match batch::items(read.get().as_ref(), &batch.items) {
        Ok(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let item_read = read.read_as(item.get().as_bytes());
                let delivery = batch::item_id(item, &batch.id);
                let item = Some(Item { index, delivery });
                one_record(provider, &item_read, &item_read, request, room, item)
            })
            .collect(),
        Err(reason) => vec![kept_dead_letter(provider, raw, request, room, reason)],
    }
}

/// One item of a batch: where it was, and its delivery id from `batch.id`.
struct Item {
    index: usize,
    delivery: Option<String>,
}

/// The record of one event (a request's, or a batch item's).
fn one_record<R: AsRef<[u8]>, B: AsRef<[u8]>>(
    provider: &Provider,
    read: &Verified<R>,
    raw: &Verified<B>,
    request: Request<'_>,
    room: Option<usize>,
    item: Option<Item>,
) -> Routed {
    let plan = &provider.plan;
    let mut normalized = normalize(
        plan,
        read,
        request.headers,
        request.meta,
        request.received_at,
    );
    match &mut normalized {
        Normalized::DeadLetter(dead) => dead.body = raw.get().as_ref(),
        // An item's delivery id decides its event id as a request's does:
        // alone when the signature covers it, so a redelivery keeps every id.
        Normalized::Event(event) => {
            if let (Some(delivery), Some(batch)) = (
                item.as_ref().and_then(|i| i.delivery.as_deref()),
                &provider.definition.batch,
            ) {
                event.id =
                    EventId::of_delivery(&plan.name, delivery, batch.signed, read.get().as_ref());
                event.delivery_id = Some(delivery.to_owned());
            }
        }
    }
    let destination = normalized.destination();
    let mut record = normalized.record();
    if destination != Destination::Typed {
        if let Some(item) = &item {
            record
                .headers
                .push((BATCH_INDEX, item.index.to_string().into_bytes()));
        }
        if let Some(room) = room {
            let data = replay::unrouted_data(&normalized);
            let kept = kept(&record, data, provider, raw, request, room);
            record.headers.extend(kept);
        }
    }
    let (type_name, subject) = match &normalized {
        Normalized::Event(e) => (e.type_name.clone(), e.subject.clone()),
        Normalized::DeadLetter(_) => (DEADLETTER.into(), None),
    };
    Routed {
        record,
        destination,
        id: normalized.id(),
        type_name,
        subject,
    }
}

/// One item of a batch read back from its unrouted or dead-letter record
/// (`index` its place in the request): what a re-drive republishes.
pub fn item<B: AsRef<[u8]>>(
    provider: &Provider,
    verified: &Verified<B>,
    request: Request<'_>,
    index: usize,
) -> Routed {
    let delivery = match &provider.definition.batch {
        Some(batch) => {
            serde_json::from_slice::<&serde_json::value::RawValue>(verified.get().as_ref())
                .ok()
                .and_then(|raw| batch::item_id(raw, &batch.id))
        }
        None => None,
    };
    let item = Some(Item { index, delivery });
    one_record(provider, verified, verified, request, None, item)
}

/// The body whole on the dead-letter topic with `reason`, and what it keeps
/// for a re-drive within `room` bytes.
fn kept_dead_letter<B: AsRef<[u8]>>(
    provider: &Provider,
    verified: &Verified<B>,
    request: Request<'_>,
    room: Option<usize>,
    reason: DeadLetterReason,
) -> Routed {
    let mut routed = dead_letter(provider, verified, request, reason);
    if let Some(room) = room {
        let kept = kept(&routed.record, None, provider, verified, request, room);
        routed.record.headers.extend(kept);
    }
    routed
}

/// What an unrouted or dead-letter `record` keeps of its request for a
/// re-drive, within `room` bytes (`replay`'s rule); `data`, an unrouted
/// event's `data`.
fn kept<B: AsRef<[u8]>>(
    record: &Record,
    data: Option<&[u8]>,
    provider: &Provider,
    verified: &Verified<B>,
    request: Request<'_>,
    room: usize,
) -> Vec<(&'static str, Vec<u8>)> {
    replay::kept(
        record,
        data,
        &provider.plan,
        request.headers,
        verified,
        request.received_at,
        room,
    )
}

/// The body whole on the dead-letter topic with `reason`, built from the raw
/// bytes alone, nothing kept for a re-drive yet.
fn dead_letter<B: AsRef<[u8]>>(
    provider: &Provider,
    verified: &Verified<B>,
    request: Request<'_>,
    reason: DeadLetterReason,
) -> Routed {
    let id = EventId::derive(provider.name(), verified.get().as_ref());
    let record = DeadLetter {
        topic: provider.plan.deadletter_topic.clone(),
        id,
        provider: provider.name(),
        reason,
        content_type: request.meta.content_type.clone(),
        body: verified.get().as_ref(),
    }
    .to_record();
    Routed {
        record,
        destination: Destination::DeadLetter,
        id,
        type_name: DEADLETTER.into(),
        subject: None,
    }
}

/// The body whole on the dead-letter topic with reason `internal_error`,
/// built from the raw bytes alone (none of normalize's or routing's code,
/// which may be what panicked). What it keeps for a re-drive is computed
/// under its own guard: a panic there costs only the copy, never the record.
pub fn rescue<B: AsRef<[u8]>>(
    provider: &Provider,
    verified: &Verified<B>,
    request: Request<'_>,
    room: usize,
) -> Routed {
    let mut routed = dead_letter(provider, verified, request, DeadLetterReason::InternalError);
    let kept = std::panic::catch_unwind(AssertUnwindSafe(|| {
        kept(&routed.record, None, provider, verified, request, room)
    }));
    routed.record.headers.extend(kept.unwrap_or_default());
    routed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::DataSchemas;
    use crate::definitions::Definitions;
    use crate::engine::record::header;
    use crate::engine::route::Topics;
    use crate::settings::key_ring;
    use crate::sign::{signature_headers, Parts};

    const SECRET: &str = "pipeline-test-secret";
    const BODY: &[u8] =
        br#"{"event":"Payment.Status","data":{"status":"Completed","paymentReference":"p-1"}}"#;

    /// The built-in `name` compiled as the gateway compiles it, its key in force.
    fn provider(name: &str) -> Provider {
        let defs = Definitions::builtin();
        let topics = Topics::new(&defs.list, "webhooks", &Default::default()).unwrap();
        let schemas = DataSchemas::load(&defs).unwrap();
        let def = defs.get(name).unwrap().clone();
        let keys = key_ring(&def, &[SECRET.to_owned()]).unwrap();
        Provider::new(def, &topics, schemas.uris(), Some(keys))
    }

    /// `body` through the whole pipeline, signed as its sender would.
    fn process_signed<'p>(provider: &'p Provider, body: &[u8]) -> Processed<'p, Vec<u8>> {
        let mut headers = HeaderMap::new();
        let signed = signature_headers(&provider.definition, SECRET, body, &Parts::default());
        for (name, value) in signed.unwrap() {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        let meta = RequestMeta {
            content_type: Some("application/json".into()),
            traceparent: None,
        };
        let request = Request {
            line: Line::POST,
            headers: &headers,
            meta: &meta,
            received_at: SystemTime::now(),
        };
        let limits = Limits {
            replay_tolerance: Duration::from_secs(300),
            max_record_bytes: 1 << 20,
        };
        process(provider, body.to_vec(), request, limits).expect("verified")
    }

    fn header_value<'a>(routed: &'a Routed, name: &str) -> Option<&'a [u8]> {
        let headers = &routed.record.headers;
        headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    }

    #[test]
    fn a_well_formed_event_is_not_rescued() {
        let transfers = provider("transfers");
        let processed = process_signed(&transfers, BODY);
        assert!(!processed.rescued);
        assert_eq!(processed.reply, Reply::Ids, "no `accepted:`: the ids");
        assert_eq!(processed.records.len(), 1);
        assert_eq!(processed.records[0].destination, Destination::Typed);
    }

    /// A panic in normalize (a bug, which no input can trigger: normalize
    /// is total) is caught: the body is kept whole on the dead-letter topic,
    /// reason `internal_error`, built without normalize's code.
    #[test]
    fn a_panic_after_verification_is_rescued_onto_the_dead_letter_topic() {
        let mut provider = provider("transfers");
        // A plan whose name index points past its catalogue: reading a known
        // event indexes out of bounds, inside normalize.
        provider.plan.entries.clear();
        let processed = process_signed(&provider, BODY);
        assert!(processed.rescued);
        assert_eq!(processed.records.len(), 1);
        let rescued = &processed.records[0];
        assert_eq!(rescued.destination, Destination::DeadLetter);
        assert_eq!(&*rescued.type_name, DEADLETTER);
        assert_eq!(&*rescued.record.topic, "webhooks.deadletter");
        assert_eq!(rescued.record.value, BODY);
        assert_eq!(
            rescued.id.to_hex(),
            EventId::derive("transfers", BODY).to_hex()
        );
        assert_eq!(
            header_value(rescued, header::DEADLETTER_REASON),
            Some(&b"internal_error"[..])
        );
        assert_eq!(
            header_value(rescued, header::CONTENT_TYPE),
            Some(&b"application/json"[..])
        );
        assert_eq!(processed.verified.get().as_slice(), BODY);
    }
}
