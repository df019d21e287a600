//! The AsyncAPI 3.0 document: the gateway as an application that sends to one
//! channel per topic it writes (every routed topic, the unrouted and the
//! dead-letter topic), each with the messages that can land there.

use std::collections::BTreeMap;

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
pub const CONTRACT_VERSION: &str = "2.0.0";

/// Kafka bindings version of every binding object.
const KAFKA_BINDINGS: &str = "0.5.0";

/// One message: a type's records, or the dead letters.
struct Message {
    id: String,
    topic: String,
    title: String,
    summary: String,
    content_type: &'static str,
    payload: Value,
    headers: Value,
    key: Value,
    key_rule: Value,
}

/// The topic a type's records land on: `GATEWAY_TOPIC_OVERRIDES`, else the
/// catalogue entry's `topic:`, else `<prefix>.<type>`; `unrouted` and
/// `deadletter` name those two topics.
fn topic_of(published: &Published, type_name: &str) -> String {
    published.topics.of(type_name).to_string()
}

/// The document for what a configuration publishes: every definition
/// (enabled or not: the contract is what the configuration can publish), its
/// topics and schemas.
pub fn document(published: &Published, schemas: &DataSchemas) -> Value {
    let mut messages = Vec::new();
    for def in &published.providers.list {
        for entry in &def.events {
            let data = schemas
                .get(&entry.type_name)
                .cloned()
                .unwrap_or(DataSchema {
                    schema: open_object(),
                    uri: None,
                });
            let event = Event {
                def,
                type_name: &entry.type_name,
                provider_event: Some(&entry.name),
                subject_sources: vec![source_json(&entry.subject)],
                data,
            };
            messages.push(event_message(
                &event,
                topic_of(published, &entry.type_name),
                entry_summary(def, entry),
            ));
        }
    }
    for def in &published.providers.list {
        let type_name = def.unknown_type();
        let event = Event {
            def,
            type_name: &type_name,
            provider_event: None,
            subject_sources: def.unrouted_subject.iter().map(source_json).collect(),
            data: DataSchema {
                schema: open_object(),
                uri: None,
            },
        };
        let summary = format!(
            "A verified, readable event of provider `{}` that the catalogue does not route.",
            def.name
        );
        messages.push(event_message(
            &event,
            topic_of(published, UNROUTED),
            summary,
        ));
    }
    let names: Vec<&str> = published
        .providers
        .list
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    messages.push(Message {
        id: DEADLETTER.into(),
        topic: topic_of(published, DEADLETTER),
        title: "Dead letter".into(),
        summary: "A verified body that cannot be read as an event, kept whole.".into(),
        content_type: "application/octet-stream",
        payload: schema::deadletter_payload(),
        headers: schema::deadletter_headers(&names),
        key: schema::deadletter_key(),
        key_rule: schema::deadletter_key_rule(),
    });
    assemble(published, messages)
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

fn event_message(event: &Event, topic: String, summary: String) -> Message {
    Message {
        id: event.type_name.to_owned(),
        topic,
        title: event.type_name.to_owned(),
        summary,
        content_type: "application/cloudevents+json",
        payload: schema::envelope(event),
        headers: schema::event_headers(event),
        key: schema::event_key(event),
        key_rule: schema::event_key_rule(event),
    }
}

fn assemble(published: &Published, messages: Vec<Message>) -> Value {
    let mut by_topic: BTreeMap<&str, Vec<&Message>> = BTreeMap::new();
    for m in &messages {
        by_topic.entry(&m.topic).or_default().push(m);
    }
    let unrouted = topic_of(published, UNROUTED);
    let deadletter = topic_of(published, DEADLETTER);

    let mut channels = Map::new();
    let mut operations = Map::new();
    for (topic, on_topic) in &by_topic {
        let refs: Map<String, Value> = on_topic
            .iter()
            .map(|m| {
                (
                    m.id.clone(),
                    json!({ "$ref": format!("#/components/messages/{}", m.id) }),
                )
            })
            .collect();
        let description = channel_description(topic, on_topic, &unrouted, &deadletter);
        channels.insert(
            (*topic).to_owned(),
            json!({
                "address": topic,
                "title": topic,
                "description": description,
                "messages": refs,
                "bindings": { "kafka": { "topic": topic, "bindingVersion": KAFKA_BINDINGS } },
            }),
        );
        let sent: Vec<Value> = on_topic
            .iter()
            .map(|m| json!({ "$ref": format!("#/channels/{topic}/messages/{}", m.id) }))
            .collect();
        operations.insert(
            format!("send.{topic}"),
            json!({
                "action": "send",
                "title": format!("Publish to {topic}"),
                "summary": "The gateway writes each record once the request is verified, and answers the provider 2xx only after the broker's ack (acks=all, idempotent producer). Delivery is at least once: deduplicate on `id`.",
                "channel": { "$ref": format!("#/channels/{topic}") },
                "messages": sent,
                "bindings": { "kafka": { "bindingVersion": KAFKA_BINDINGS } },
            }),
        );
    }

    let mut components_messages = Map::new();
    let mut components_schemas = Map::new();
    for m in &messages {
        components_schemas.insert(m.id.clone(), m.payload.clone());
        components_messages.insert(
            m.id.clone(),
            json!({
                "name": m.id,
                "title": m.title,
                "summary": m.summary,
                "contentType": m.content_type,
                "headers": m.headers,
                "payload": { "$ref": format!("#/components/schemas/{}", m.id) },
                "bindings": { "kafka": { "key": m.key, "bindingVersion": KAFKA_BINDINGS } },
                "x-key": m.key_rule,
            }),
        );
    }

    json!({
        "asyncapi": "3.0.0",
        "info": {
            "title": "webhook-gateway",
            "version": CONTRACT_VERSION,
            "description": format!(
                "The Kafka records webhook-gateway publishes: every verified webhook becomes one record. \
                 A readable event is a CloudEvent 1.0 in structured mode ({CLOUDEVENTS_CONTENT_TYPE}); \
                 a body that is not one is kept whole on the dead-letter topic. \
                 Topics: `{}.<type>` unless overridden. Records keep one entity's events in order within a topic (the key); \
                 delivery is at least once, a redelivery has the same `id`.",
                published.topic_prefix
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": components_messages,
            "schemas": components_schemas,
        },
    })
}

fn channel_description(
    topic: &str,
    on_topic: &[&Message],
    unrouted: &str,
    deadletter: &str,
) -> String {
    let mut parts = Vec::new();
    let types: Vec<&str> = on_topic
        .iter()
        .filter(|m| m.id != DEADLETTER && !m.id.ends_with(".unknown"))
        .map(|m| m.id.as_str())
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
