//! The JSON Schemas of one record: the CloudEvent (structured mode) of a
//! type, or the dead letter, with their Kafka headers and key. Each is
//! self-contained (no `$ref`), so `contract --type` can print it alone and a
//! consumer can validate with it alone. Only the headers, which every type of
//! a provider shares but for `event-type`, are stated once
//! ([`shared_headers`]) and each type's by what it adds ([`own_part`]).
//!
//! The envelope is closed (`additionalProperties: false`): a record with an
//! attribute the contract does not name fails the suite's validation, so the
//! contract cannot fall behind the records. `data` stays open where the
//! provider may add fields.

use serde_json::{json, Map, Value};

use super::data::DataSchema;
use crate::definitions::compiled::Body;
use crate::definitions::rules::{MAX_EVENT_NAME_LEN, MAX_ID_LEN};
use crate::definitions::Definition;
use crate::engine::envelope::{DeadLetterReason, CLOUDEVENTS_CONTENT_TYPE};
use crate::engine::record::header;

/// 32 lower-case hex digits: 128 bits of SHA-256.
pub const EVENT_ID_PATTERN: &str = "^[0-9a-f]{32}$";
/// W3C trace context level 1, as `trace::TraceParent` accepts it.
const TRACEPARENT_PATTERN: &str = "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$";

/// What a type's records carry, as far as the definition decides it.
pub struct Event<'a> {
    pub def: &'a Definition,
    pub type_name: &'a str,
    /// The catalogue entry's event name; `None` for `<provider>.unknown`.
    pub provider_event: Option<&'a str>,
    /// Where the key and `subject` come from (the entry's `subject`, or the
    /// definition's `unrouted_subject`); none means the event id is the key.
    pub subject_sources: Vec<Value>,
    pub data: DataSchema,
}

fn text(description: &str) -> Value {
    json!({ "type": "string", "minLength": 1, "description": description })
}

fn bounded(description: &str, max: usize) -> Value {
    json!({ "type": "string", "minLength": 1, "maxLength": max, "description": description })
}

fn constant(value: &str, description: &str) -> Value {
    json!({ "type": "string", "const": value, "description": description })
}

fn event_id(description: &str) -> Value {
    json!({ "type": "string", "pattern": EVENT_ID_PATTERN, "description": description })
}

fn time(description: &str) -> Value {
    json!({ "type": "string", "format": "date-time", "description": description })
}

/// The sources of the key, in the words of the key's description.
fn sources_text(sources: &[Value]) -> String {
    let names: Vec<String> = sources.iter().map(|s| s.to_string()).collect();
    match names.as_slice() {
        [] => String::new(),
        [one] => format!("the entity id at {one}"),
        many => format!("the first entity id present of {}", many.join(", ")),
    }
}

/// The CloudEvent in the record's value.
pub fn envelope(e: &Event) -> Value {
    let def = e.def;
    let mut properties = Map::new();
    let mut required = vec![
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "datacontenttype",
        "provider",
        "providerevent",
        "receivedat",
    ];
    properties.insert("specversion".into(), constant("1.0", "CloudEvents 1.0."));
    properties.insert(
        "id".into(),
        event_id(
            "The event id: the same webhook delivered again has the same id, any other a different one. Deduplicate on it.",
        ),
    );
    properties.insert(
        "source".into(),
        constant(&def.source(), "The provider, as a URI reference."),
    );
    properties.insert("type".into(), constant(e.type_name, "The canonical type."));
    if !e.subject_sources.is_empty() {
        properties.insert(
            "subject".into(),
            bounded(
                &format!(
                    "{}: the record key. Absent when the body names none (a JSON string or number of at most {MAX_ID_LEN} bytes); the key is then the event id.",
                    capitalised(&sources_text(&e.subject_sources))
                ),
                MAX_ID_LEN,
            ),
        );
    }
    properties.insert(
        "time".into(),
        time(match &def.event.time {
            Some(_) => "When the event happened: the provider's time when present and readable, else the receive time. UTC.",
            None => "When the gateway received the event (the provider sends no time). UTC.",
        }),
    );
    properties.insert(
        "receivedat".into(),
        time("When the gateway received the request. UTC, milliseconds."),
    );
    properties.insert(
        "provider".into(),
        constant(&def.name, "The provider's name (extension)."),
    );
    properties.insert(
        "providerevent".into(),
        match e.provider_event {
            Some(name) => constant(name, "The provider's own event name (extension)."),
            None => bounded(
                "The provider's own event name, one the catalogue does not route (extension).",
                MAX_EVENT_NAME_LEN,
            ),
        },
    );
    if def.event.user.is_some() {
        properties.insert(
            "userid".into(),
            bounded(
                "The integrator's own user id, when the body names one (extension).",
                MAX_ID_LEN,
            ),
        );
    }
    // The attribute has W3C's name, as the header has.
    properties.insert(
        header::TRACEPARENT.into(),
        json!({
            "type": "string",
            "pattern": TRACEPARENT_PATTERN,
            "description": "The W3C trace context of the request, when it carried a valid one (CloudEvents distributed tracing extension).",
        }),
    );
    // A batch item's delivery id is its `batch.id` values, joined by `:`.
    let batch_ids = def.batch.as_ref().is_some_and(|b| !b.id.is_empty());
    if def.id.is_some() || batch_ids {
        properties.insert(
            "deliveryid".into(),
            text("The provider's delivery id, the same on every retry, when the request carried one (for a batch item, its `batch.id` values joined by `:`) (extension)."),
        );
    }
    if let Some(uri) = &e.data.uri {
        properties.insert(
            "dataschema".into(),
            json!({
                "type": "string",
                "format": "uri",
                "const": uri,
                "description": "Names the schema of `data`, the one in this contract.",
            }),
        );
    }
    properties.insert("data".into(), e.data.schema.clone());

    let json_data = constant(
        "application/json",
        "`data` is the provider's JSON object, byte for byte.",
    );
    let mut schema = json!({
        "type": "object",
        "title": e.type_name,
        "additionalProperties": false,
    });
    match def.body {
        // A form's fields are published as a JSON object.
        Body::Json | Body::Form => {
            properties.insert("datacontenttype".into(), json_data);
            required.push("data");
        }
        Body::Any => {
            properties.insert(
                "datacontenttype".into(),
                text("`application/json` with `data`; for a body that is not JSON, the request's content type (`application/octet-stream` when it sent none) with `data_base64`."),
            );
            properties.insert(
                "data_base64".into(),
                json!({
                    "type": "string",
                    "contentEncoding": "base64",
                    "description": "A body that is not JSON, byte for byte, in base64.",
                }),
            );
            schema["oneOf"] = json!([
                {"required": ["data"], "properties": {"datacontenttype": {"const": "application/json"}}},
                {"required": ["data_base64"]},
            ]);
        }
    }
    schema["description"] = json!(format!(
        "Records of type `{}`: a CloudEvent in structured mode, the record's value as UTF-8 JSON.",
        e.type_name
    ));
    schema["required"] = json!(required);
    schema["properties"] = Value::Object(properties);
    schema
}

/// What the headers of every catalogue type of `def` share
/// (`Headers.<provider>`), `event-type` named by each type's [`own_part`].
pub fn shared_headers(def: &Definition) -> Value {
    let any = Event {
        def,
        type_name: "",
        provider_event: Some(""),
        subject_sources: vec![Value::Null],
        data: super::data::DataSchema {
            schema: super::data::open_object(),
            uri: None,
        },
    };
    let mut schema = event_headers(&any);
    let object = schema.as_object_mut().expect("headers are an object");
    object.remove("additionalProperties");
    // Only the `const` a type adds is missing: with it, exactly the type's.
    object["properties"][header::EVENT_TYPE] =
        json!({ "type": "string", "description": "The event's `type`, for filtering." });
    schema
}

/// A type's self-contained schema `full` as what it adds to the `shared`
/// one it is read with (`allOf`): every property it allows, `true` where
/// the shared schema already says all of it, the keywords that say more
/// where it does (the shared one is as loose as every type of the provider,
/// so its own keywords hold for `full` too); closed (`additionalProperties:
/// false`), so together they accept exactly what `full` accepts.
/// `required` is repeated only where it differs.
pub fn own_part(full: &Value, shared: &Value) -> Value {
    let theirs = &shared["properties"];
    let properties: Map<String, Value> = full["properties"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, own)| {
            let said = match (theirs.get(name), own) {
                (Some(shared), own) if shared == own => Value::Bool(true),
                // Only the keywords that say more (a `const`, a description).
                (Some(Value::Object(shared)), Value::Object(own)) => Value::Object(
                    own.iter()
                        .filter(|(k, v)| shared.get(*k) != Some(v))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                (_, own) => own.clone(),
            };
            (name.clone(), said)
        })
        .collect();
    let mut part = json!({ "additionalProperties": false, "properties": properties });
    if full.get("required") != shared.get("required") {
        part["required"] = full["required"].clone();
    }
    part
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The CloudEvent's Kafka headers (each one string): copies of attributes
/// for filtering without parsing the value, named outside the `ce_` prefix
/// that the Kafka binding keeps for binary mode (see `envelope`).
pub fn event_headers(e: &Event) -> Value {
    let mut properties = Map::new();
    properties.insert(
        header::CONTENT_TYPE.into(),
        constant(
            CLOUDEVENTS_CONTENT_TYPE,
            "Structured mode: the whole event is the value.",
        ),
    );
    properties.insert(
        header::EVENT_ID.into(),
        event_id("The event's `id`, for filtering."),
    );
    properties.insert(
        header::EVENT_TYPE.into(),
        constant(e.type_name, "The event's `type`, for filtering."),
    );
    properties.insert(
        header::EVENT_SOURCE.into(),
        constant(&e.def.source(), "The event's `source`, for filtering."),
    );
    if !e.subject_sources.is_empty() {
        properties.insert(
            header::EVENT_SUBJECT.into(),
            bounded("The event's `subject`, when it has one.", MAX_ID_LEN),
        );
    }
    properties.insert(
        header::TRACEPARENT.into(),
        json!({
            "type": "string",
            "pattern": TRACEPARENT_PATTERN,
            "description": "The event's `traceparent`, when it has one (the W3C Trace Context header, as OpenTelemetry's Kafka instrumentation reads it).",
        }),
    );
    match e.provider_event {
        Some(_) => {
            properties.insert(
                header::REDRIVEN.into(),
                json!({
                    "type": "string",
                    "pattern": "^.+:[0-9]+:[0-9]+$",
                    "description": "Only on a record `webhook-gateway redrive` republished: `<topic>:<partition>:<offset>` of the unrouted or dead-letter record it came from. Everything else is what the gateway published, or would have, at receive time: same id, so a consumer that deduplicates by id sees it once.",
                }),
            );
        }
        None => {
            properties.insert(
                header::PROVIDER.into(),
                constant(&e.def.name, "The provider that signed the request."),
            );
            kept_request(&mut properties);
            properties.insert(
                header::REQUEST_BODY.into(),
                text("The request body, JSON text, when `data` is not the whole body: a re-drive reads a later definition's pointers in it. Absent when `data` is the body, byte for byte."),
            );
        }
    }
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": [
            header::CONTENT_TYPE,
            header::EVENT_ID,
            header::EVENT_TYPE,
            header::EVENT_SOURCE,
        ],
        "properties": properties,
    })
}

/// What unrouted and dead-letter records keep of their request for
/// `webhook-gateway redrive` (see `replay`).
fn kept_request(properties: &mut Map<String, Value>) {
    properties.insert(
        header::BATCH_INDEX.into(),
        json!({
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "Only on a record read from one item of a batch (a definition's `batch:`): the item's index in its request's array. The record's body is that item alone.",
        }),
    );
    properties.insert(
        header::RECEIVED_AT.into(),
        time("When the gateway received the request (`receivedat`); absent on records written before contract 2.0.0, which a re-drive skips."),
    );
    properties.insert(
        header::REQUEST_HEADERS.into(),
        json!({
            "type": "string",
            "contentMediaType": "application/json",
            "description": "A JSON object of the request headers the provider's definition reads, with content-type and traceparent: lower-case name to value. Never a signature header.",
        }),
    );
    properties.insert(
        header::REQUEST_FIELDS.into(),
        json!({
            "type": "string",
            "contentMediaType": "application/json",
            "description": "A JSON object of the signature header's fields the definition reads (such as a timestamp `t`). Never a signature.",
        }),
    );
}

/// The record key of a CloudEvent.
pub fn event_key(e: &Event) -> Value {
    let description = if e.subject_sources.is_empty() {
        "The event id (32 hex digits): the body names no entity for this type.".to_owned()
    } else {
        format!(
            "{} (also `subject`), else the event id: keeps one entity's records in order within the topic.",
            capitalised(&sources_text(&e.subject_sources))
        )
    };
    json!({ "type": "string", "minLength": 1, "maxLength": MAX_ID_LEN, "description": description })
}

/// How the key is chosen, for `contract --check` to compare (`x-key`).
pub fn event_key_rule(e: &Event) -> Value {
    json!({ "sources": e.subject_sources, "otherwise": "id" })
}

/// The dead letter's value: the request body, which may be anything.
pub fn deadletter_payload() -> Value {
    json!({
        "title": "deadletter",
        "description": "The verified request body, byte for byte: not necessarily JSON, nor UTF-8. The headers say why it is here.",
    })
}

pub fn deadletter_headers(providers: &[&str]) -> Value {
    let mut properties = Map::new();
    properties.insert(
        header::EVENT_ID.into(),
        event_id("The event id, as a CloudEvent of this body would have it."),
    );
    properties.insert(
        header::PROVIDER.into(),
        json!({
            "type": "string",
            "enum": providers,
            "description": "The provider that signed the body.",
        }),
    );
    properties.insert(
        header::DEADLETTER_REASON.into(),
        json!({
            "type": "string",
            "enum": DeadLetterReason::ALL.map(DeadLetterReason::as_str),
            "description": "Why the body is not an event: not_json, not_object (JSON but not an object), missing_event (no event name), missing_data (no data object), event_too_long (the event name is too long), internal_error (a bug in the gateway after verification), not_form (a form body whose fields are not UTF-8, or whose JSON field is not an object), not_batch (no array where the definition's batch.items points), too_many_items (a batch past the gateway's item bound).",
        }),
    );
    properties.insert(
        header::CONTENT_TYPE.into(),
        text("The request's content type, when it sent one."),
    );
    kept_request(&mut properties);
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": [header::EVENT_ID, header::PROVIDER, header::DEADLETTER_REASON],
        "properties": properties,
    })
}

pub fn deadletter_key() -> Value {
    event_id("The event id.")
}

pub fn deadletter_key_rule() -> Value {
    json!({ "sources": [], "otherwise": "id" })
}
