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
    Unknown(&'a Definition),
    DeadLetter,
}

/// The topic a type's records land on: `GATEWAY_TOPIC_OVERRIDES`, else the
/// catalogue entry's `topic:`, else `<prefix>.<type>`; `unrouted` and
/// `deadletter` name those two topics.
fn topic_of(published: &Published, type_name: &str) -> String {
    published.topics.of(type_name).to_string()
}

/// What the document is made of, as names only: each message's id and what
/// it describes, each topic's messages, and the one schema per provider of
/// what its types' headers share. Every other schema and message object is
/// built from it when it is written, one at a time, so a catalogue of
/// thousands of types is never held as one tree of JSON values (9 000 types
/// once held 760 MiB that way; BENCHMARKS.md).
pub struct Document<'a> {
    published: &'a Published,
    schemas: &'a DataSchemas,
    /// By id, in the document's (sorted) order.
    messages: BTreeMap<String, Spec<'a>>,
    /// Each topic's message ids, in the order the definitions give them.
    topics: BTreeMap<String, Vec<String>>,
    /// `components.schemas["Headers.<provider>"]`, for each provider with a
    /// catalogue: what its types' headers share.
    shared_headers: BTreeMap<String, Value>,
    unrouted: String,
    deadletter: String,
}

/// The id of what the headers of a provider's catalogue types share:
/// upper-case, so no type or provider name (lower-case only) can be one,
/// and every one sorts before every message's.
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
        specs.push((def.unknown_type(), Spec::Unknown(def)));
    }
    specs.push((DEADLETTER.to_owned(), Spec::DeadLetter));
    let mut messages = BTreeMap::new();
    let mut topics: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (id, spec) in specs {
        let routed_as = match &spec {
            Spec::Typed { entry, .. } => &entry.type_name,
            Spec::Unknown(_) => UNROUTED,
            Spec::DeadLetter => DEADLETTER,
        };
        let topic = topic_of(published, routed_as);
        topics.entry(topic).or_default().push(id.clone());
        messages.insert(id, spec);
    }
    let shared_headers = published
        .providers
        .list
        .iter()
        .filter(|def| !def.events.is_empty())
        .map(|def| (headers_id(def), schema::shared_headers(def)))
        .collect();
    Document {
        published,
        schemas,
        messages,
        topics,
        shared_headers,
        unrouted: topic_of(published, UNROUTED),
        deadletter: topic_of(published, DEADLETTER),
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
    /// The record message `id` describes, unless a dead letter.
    fn event<'s>(&'s self, id: &'s str, spec: &'s Spec<'s>) -> Option<Event<'s>> {
        let open = || DataSchema {
            schema: open_object(),
            uri: None,
        };
        match spec {
            Spec::Typed { def, entry } => Some(Event {
                def,
                type_name: id,
                provider_event: Some(&entry.name),
                subject_sources: vec![source_json(&entry.subject)],
                data: self.schemas.get(id).cloned().unwrap_or_else(open),
            }),
            Spec::Unknown(def) => Some(Event {
                def,
                type_name: id,
                provider_event: None,
                subject_sources: def.unrouted_subject.iter().map(source_json).collect(),
                data: open(),
            }),
            Spec::DeadLetter => None,
        }
    }

    /// `components.schemas[id]`: the record's value. It stands alone (no
    /// `$ref`): consumers validate a record with its type's schema alone.
    pub fn payload(&self, id: &str) -> Option<Value> {
        let spec = self.messages.get(id)?;
        Some(match self.event(id, spec) {
            Some(event) => schema::envelope(&event),
            None => schema::deadletter_payload(),
        })
    }

    /// The message ids, in order: every type, unknown type and the dead letter.
    pub fn message_ids(&self) -> impl Iterator<Item = &str> {
        self.messages.keys().map(String::as_str)
    }

    /// `components.messages[id]`.
    fn message(&self, id: &str, spec: &Spec<'_>) -> Value {
        let with = |title: &str, summary: String, content_type: &str, headers, key, key_rule| {
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
        };
        let cloudevent = "application/cloudevents+json";
        match (spec, self.event(id, spec)) {
            (Spec::Typed { def, entry }, Some(event)) => {
                let own = schema::own_part(
                    &schema::event_headers(&event),
                    &self.shared_headers[&headers_id(def)],
                );
                let shared = format!("#/components/schemas/{}", headers_id(def));
                with(
                    id,
                    entry_summary(def, entry),
                    cloudevent,
                    json!({ "allOf": [{ "$ref": shared }, own] }),
                    schema::event_key(&event),
                    schema::event_key_rule(&event),
                )
            }
            (_, Some(event)) => with(
                id,
                format!(
                    "A verified, readable event of provider `{}` that the catalogue does not route.",
                    event.def.name
                ),
                cloudevent,
                schema::event_headers(&event),
                schema::event_key(&event),
                schema::event_key_rule(&event),
            ),
            (_, None) => {
                let names: Vec<&str> = self.published.providers.names().collect();
                with(
                    "Dead letter",
                    "A verified body that cannot be read as an event, kept whole.".to_owned(),
                    "application/octet-stream",
                    schema::deadletter_headers(&names),
                    schema::deadletter_key(),
                    schema::deadletter_key_rule(),
                )
            }
        }
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
        json!({
            "address": topic,
            "title": topic,
            "description": channel_description(topic, ids, &self.unrouted, &self.deadletter),
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
                    .map(|(id, spec)| (id.clone(), d.message(id, spec)))
            }),
        )?;
        // The shared headers' upper-case ids sort before every message's.
        components.serialize_entry(
            "schemas",
            &Entries(|| {
                let shared = d
                    .shared_headers
                    .iter()
                    .map(|(id, s)| (id.clone(), s.clone()));
                let payloads = d.messages.keys().map(|id| {
                    let payload = d.payload(id).expect("a message's own id");
                    (id.clone(), payload)
                });
                shared.chain(payloads)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::{Env, Settings};

    /// The headers a provider's types share and a type's own part, read
    /// together, are exactly the type's headers schema: nothing loosened.
    #[test]
    fn a_types_headers_are_its_own_schema_split_in_two() {
        let settings = Settings::from_env(&Env::new()).unwrap();
        let published = Published::read(&settings).unwrap();
        let schemas = DataSchemas::load(&published.providers).unwrap();
        let doc = document(&published, &schemas);
        let mut typed = 0;
        for (id, spec) in &doc.messages {
            let Spec::Typed { def, .. } = spec else {
                continue;
            };
            let full = schema::event_headers(&doc.event(id, spec).unwrap());
            let shared = &doc.shared_headers[&headers_id(def)];
            let own = schema::own_part(&full, shared);
            // Each property: the shared keywords, then the type's own over them.
            let mut merged = shared.clone();
            for (name, mine) in own["properties"].as_object().unwrap() {
                let property = &mut merged["properties"][name];
                if let Value::Object(mine) = mine {
                    for (k, v) in mine {
                        property[k] = v.clone();
                    }
                }
            }
            merged["additionalProperties"] = own["additionalProperties"].clone();
            if let Some(required) = own.get("required") {
                merged["required"] = required.clone();
            }
            assert_eq!(merged, full, "{id}");
            assert_eq!(
                own["properties"].as_object().unwrap().len(),
                full["properties"].as_object().unwrap().len(),
                "{id}: every header it allows is named, closed"
            );
            typed += 1;
        }
        assert_eq!(typed, 7, "the built-ins' types");
    }
}
