//! The AsyncAPI 3.0 document: the gateway as an application that sends to one
//! channel per topic it writes (every routed topic, the unrouted and the
//! dead-letter topic), each with the messages that can land there.

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use serde_json::{json, Map, Value};

use super::data::{open_object, DataSchema, DataSchemas};
use super::schema::{self, Event};
use crate::definitions::compiled::Entry;
use crate::definitions::definition::Source;
use crate::definitions::rules::{DEADLETTER, UNROUTED};
use crate::definitions::Definition;
use crate::engine::envelope::CLOUDEVENTS_CONTENT_TYPE;
use crate::engine::record::header::DEADLETTER_REASON;
use crate::settings::Published;

/// The contract's own version (`info.version`): major on a change that
/// breaks consumers (`contract --check`), minor on an addition. Its history
/// is `contract/CHANGELOG.md`.
pub const CONTRACT_VERSION: &str = "2.0.1";

/// Kafka bindings version of every binding object.
const KAFKA_BINDINGS: &str = "0.5.0";

/// What one message describes: a catalogue entry's type, a provider's
/// unknown type, or the dead letters.
enum Spec<'a> {
    Typed {
        def: &'a Definition,
        entry: &'a Entry,
    },
    Unknown {
        def: &'a Definition,
        type_name: String,
    },
    DeadLetter,
}

/// The topic a type's records land on: `GATEWAY_TOPIC_OVERRIDES`, else the
/// catalogue entry's `topic:`, else `<prefix>.<type>`; `unrouted` and
/// `deadletter` name those two topics.
fn topic_of(published: &Published, type_name: &str) -> String {
    published.topics.of(type_name).to_string()
}

/// What the document is made of, as names only: each message's id, what it
/// describes and its topic, and each topic's messages. Every schema and
/// message object is built from it when it is written, one at a time, so a
/// catalogue of thousands of types is never held as one tree of JSON values
/// (9 000 types once held 760 MiB that way; BENCHMARKS.md).
pub struct Document<'a> {
    published: &'a Published,
    schemas: &'a DataSchemas,
    /// By id, in the document's (sorted) order: what it describes, its topic.
    messages: BTreeMap<String, (Spec<'a>, String)>,
    /// Each topic's message ids, in the order the definitions give them.
    topics: BTreeMap<String, Vec<String>>,
    /// `components.schemas`, by id: each message's payload, and what the
    /// headers of a provider's catalogue types share, stated once.
    schema_ids: BTreeMap<String, SchemaOf<'a>>,
}

/// What one schema of `components.schemas` is.
enum SchemaOf<'a> {
    /// A message's payload, by the message's id.
    Payload,
    /// What the headers of a provider's catalogue types share.
    Headers(&'a Definition),
}

/// The id of what the headers of a provider's catalogue types share:
/// upper-case, so no type or provider name (lower-case only) can be one.
fn headers_id(def: &Definition) -> String {
    format!("Headers.{}", def.name)
}

/// The document for what a configuration publishes: every definition
/// (enabled or not: the contract is what the configuration can publish), its
/// topics and schemas. Serialized, it writes the AsyncAPI document.
pub fn document<'a>(published: &'a Published, schemas: &'a DataSchemas) -> Document<'a> {
    let mut specs = Vec::new();
    for def in &published.providers.list {
        for entry in &def.events {
            specs.push((entry.type_name.clone(), Spec::Typed { def, entry }));
        }
    }
    for def in &published.providers.list {
        let type_name = def.unknown_type();
        specs.push((type_name.clone(), Spec::Unknown { def, type_name }));
    }
    specs.push((DEADLETTER.to_owned(), Spec::DeadLetter));
    let mut messages = BTreeMap::new();
    let mut topics: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut schema_ids = BTreeMap::new();
    for def in &published.providers.list {
        if !def.events.is_empty() {
            schema_ids.insert(headers_id(def), SchemaOf::Headers(def));
        }
    }
    for (id, spec) in specs {
        schema_ids.insert(id.clone(), SchemaOf::Payload);
        let topic = topic_of(
            published,
            match &spec {
                Spec::Typed { entry, .. } => &entry.type_name,
                Spec::Unknown { .. } => UNROUTED,
                Spec::DeadLetter => DEADLETTER,
            },
        );
        topics.entry(topic.clone()).or_default().push(id.clone());
        messages.insert(id, (spec, topic));
    }
    Document {
        published,
        schemas,
        messages,
        topics,
        schema_ids,
    }
}

fn source_json(source: &Source) -> Value {
    serde_json::to_value(source).expect("a source serializes")
}

fn entry_summary(def: &Definition, entry: &Entry) -> String {
    let mut summary = format!("Provider `{}` event `{}`", def.name, entry.name);
    for (i, (pointer, value)) in entry.when.iter().enumerate() {
        let joint = if i == 0 { " with" } else { " and" };
        summary.push_str(&format!("{joint} `{}` = \"{value}\"", pointer.as_str()));
    }
    summary.push('.');
    summary
}

impl Document<'_> {
    /// The record a message describes, for a type's message.
    fn event<'s>(&'s self, spec: &'s Spec<'s>) -> Option<Event<'s>> {
        let open = || DataSchema {
            schema: open_object(),
            uri: None,
        };
        match spec {
            Spec::Typed { def, entry } => Some(Event {
                def,
                type_name: &entry.type_name,
                provider_event: Some(&entry.name),
                subject_sources: vec![source_json(&entry.subject)],
                data: self
                    .schemas
                    .get(&entry.type_name)
                    .cloned()
                    .unwrap_or_else(open),
            }),
            Spec::Unknown { def, type_name } => Some(Event {
                def,
                type_name,
                provider_event: None,
                subject_sources: def.unrouted_subject.iter().map(source_json).collect(),
                data: open(),
            }),
            Spec::DeadLetter => None,
        }
    }

    /// `components.schemas[id]`: the record's value. It stands alone (no
    /// `$ref`): consumers validate a record with its type's schema alone.
    fn payload(&self, spec: &Spec<'_>) -> Value {
        match self.event(spec) {
            Some(event) => schema::envelope(&event),
            None => schema::deadletter_payload(),
        }
    }

    /// `components.schemas[id]`.
    fn schema(&self, id: &str, of: &SchemaOf<'_>) -> Value {
        match of {
            SchemaOf::Payload => self.payload(&self.messages[id].0),
            SchemaOf::Headers(def) => schema::shared_headers(def),
        }
    }

    /// `components.messages[id]`.
    fn message(&self, id: &str, spec: &Spec<'_>) -> Value {
        let (title, summary, content_type, headers, key, key_rule) = match (self.event(spec), spec)
        {
            (Some(event), _) => (
                event.type_name.to_owned(),
                match spec {
                    Spec::Typed { def, entry } => entry_summary(def, entry),
                    _ => format!(
                        "A verified, readable event of provider `{}` that the catalogue does not route.",
                        event.def.name
                    ),
                },
                "application/cloudevents+json",
                match spec {
                    Spec::Typed { def, .. } => {
                        let own = schema::own_part(
                            &schema::event_headers(&event),
                            &schema::shared_headers(def),
                        );
                        let shared = format!("#/components/schemas/{}", headers_id(def));
                        json!({ "allOf": [{ "$ref": shared }, own] })
                    }
                    _ => schema::event_headers(&event),
                },
                schema::event_key(&event),
                schema::event_key_rule(&event),
            ),
            (None, _) => {
                let names: Vec<&str> = self
                    .published
                    .providers
                    .list
                    .iter()
                    .map(|d| d.name.as_str())
                    .collect();
                (
                    "Dead letter".to_owned(),
                    "A verified body that cannot be read as an event, kept whole.".to_owned(),
                    "application/octet-stream",
                    schema::deadletter_headers(&names),
                    schema::deadletter_key(),
                    schema::deadletter_key_rule(),
                )
            }
        };
        json!({
            "name": id,
            "title": title,
            "summary": summary,
            "contentType": content_type,
            "headers": headers,
            "payload": { "$ref": format!("#/components/schemas/{id}") },
            "bindings": { "kafka": { "key": key, "bindingVersion": KAFKA_BINDINGS } },
            "x-key": key_rule,
        })
    }

    /// `channels[topic]`.
    fn channel(&self, topic: &str, ids: &[String]) -> Value {
        let refs: Map<String, Value> = ids
            .iter()
            .map(|id| {
                (
                    id.clone(),
                    json!({ "$ref": format!("#/components/messages/{id}") }),
                )
            })
            .collect();
        let unrouted = topic_of(self.published, UNROUTED);
        let deadletter = topic_of(self.published, DEADLETTER);
        json!({
            "address": topic,
            "title": topic,
            "description": channel_description(topic, ids, &unrouted, &deadletter),
            "messages": refs,
            "bindings": { "kafka": { "topic": topic, "bindingVersion": KAFKA_BINDINGS } },
        })
    }

    /// `operations["send.<topic>"]`.
    fn operation(topic: &str, ids: &[String]) -> Value {
        let sent: Vec<Value> = ids
            .iter()
            .map(|id| json!({ "$ref": format!("#/channels/{topic}/messages/{id}") }))
            .collect();
        json!({
            "action": "send",
            "title": format!("Publish to {topic}"),
            "summary": "The gateway writes each record once the request is verified, and answers the provider 2xx only after the broker's ack (acks=all, idempotent producer). Delivery is at least once: deduplicate on `id`.",
            "channel": { "$ref": format!("#/channels/{topic}") },
            "messages": sent,
            "bindings": { "kafka": { "bindingVersion": KAFKA_BINDINGS } },
        })
    }

    fn info(&self) -> Value {
        json!({
            "title": "webhook-gateway",
            "version": CONTRACT_VERSION,
            "description": format!(
                "The Kafka records webhook-gateway publishes: every verified webhook becomes one record. \
                 A readable event is a CloudEvent 1.0 in structured mode ({CLOUDEVENTS_CONTENT_TYPE}); \
                 a body that is not one is kept whole on the dead-letter topic. \
                 Topics: `{}.<type>` unless overridden. Records keep one entity's events in order within a topic (the key); \
                 delivery is at least once, a redelivery has the same `id`.",
                self.published.topic_prefix
            ),
        })
    }
}

/// The document's members in its (sorted) key order; the maps of channels,
/// operations, messages and schemas are written entry by entry.
impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut doc = s.serialize_map(Some(6))?;
        doc.serialize_entry("asyncapi", "3.0.0")?;
        doc.serialize_entry(
            "channels",
            &Entries(|| {
                self.topics
                    .iter()
                    .map(|(topic, ids)| (topic.clone(), self.channel(topic, ids)))
            }),
        )?;
        doc.serialize_entry("components", &Components(self))?;
        doc.serialize_entry("defaultContentType", "application/cloudevents+json")?;
        doc.serialize_entry("info", &self.info())?;
        doc.serialize_entry(
            "operations",
            &Entries(|| {
                self.topics.iter().map(|(topic, ids)| {
                    let name = format!("send.{topic}");
                    (name, Document::operation(topic, ids))
                })
            }),
        )?;
        doc.end()
    }
}

struct Components<'d, 'a>(&'d Document<'a>);

impl Serialize for Components<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let d = self.0;
        let mut components = s.serialize_map(Some(2))?;
        components.serialize_entry(
            "messages",
            &Entries(|| {
                d.messages
                    .iter()
                    .map(|(id, (spec, _))| (id.clone(), d.message(id, spec)))
            }),
        )?;
        components.serialize_entry(
            "schemas",
            &Entries(|| {
                d.schema_ids
                    .iter()
                    .map(|(id, of)| (id.clone(), d.schema(id, of)))
            }),
        )?;
        components.end()
    }
}

/// A map whose entries are made as they are written.
struct Entries<F>(F);

impl<F, I> Serialize for Entries<F>
where
    F: Fn() -> I,
    I: Iterator<Item = (String, Value)>,
{
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map((self.0)())
    }
}

fn channel_description(topic: &str, ids: &[String], unrouted: &str, deadletter: &str) -> String {
    let mut parts = Vec::new();
    let types: Vec<&str> = ids
        .iter()
        .filter(|id| *id != DEADLETTER && !id.ends_with(".unknown"))
        .map(String::as_str)
        .collect();
    if !types.is_empty() {
        parts.push(format!("Events of type {}.", quoted(&types)));
    }
    if topic == unrouted {
        parts.push("The unrouted topic: verified, readable events the catalogue does not route, with type `<provider>.unknown`.".to_owned());
    }
    if topic == deadletter {
        parts.push(format!(
            "The dead-letter topic: verified bodies that are not readable events, kept whole; \
             `{DEADLETTER_REASON}` says why."
        ));
    }
    if types.len() > 1 {
        parts.push("Several types share this topic: the key keeps one entity's events in order across them.".to_owned());
    }
    parts.join(" ")
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
