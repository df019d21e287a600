//! `contract --check OLD`: what changed between an earlier document and this
//! one, and which changes break a consumer written against the earlier one,
//! or one replaying the records it wrote: a channel or type removed, a type
//! moved to another topic, a field removed or no longer always present, a
//! field newly required (records already on the topic lack it), a field's
//! JSON type changed, the key chosen differently, the content type changed.
//! Additions are compatible.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    pub breaking: bool,
    pub what: String,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.breaking {
            "breaking"
        } else {
            "compatible"
        };
        write!(f, "{kind}: {}", self.what)
    }
}

/// A document that `contract --check` cannot compare: not AsyncAPI 3.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("not an AsyncAPI 3 document (asyncapi: {asyncapi:?})")]
pub struct NotAsyncApi3 {
    /// The document's `asyncapi` member, when it has one.
    pub asyncapi: Option<Value>,
}

/// The changes from `old` to `new`, breaking ones first. Errors when `old` is
/// not an AsyncAPI 3 document.
pub fn compare(old: &Value, new: &Value) -> Result<Vec<Change>, NotAsyncApi3> {
    let old = View::of(old)?;
    let new = View::of(new)?;
    let mut changes = Vec::new();
    let mut say = |breaking: bool, what: String| changes.push(Change { breaking, what });

    for topic in old.channels.difference(&new.channels) {
        say(true, format!("channel `{topic}` removed"));
    }
    for topic in new.channels.difference(&old.channels) {
        say(false, format!("channel `{topic}` added"));
    }
    for (id, before) in &old.messages {
        let Some(after) = new.messages.get(id) else {
            say(true, format!("`{id}` removed"));
            continue;
        };
        for topic in before.topics.difference(&after.topics) {
            say(
                true,
                format!(
                    "`{id}` no longer on topic `{topic}` (now on {})",
                    list(&after.topics)
                ),
            );
        }
        for topic in after.topics.difference(&before.topics) {
            say(false, format!("`{id}` also on topic `{topic}`"));
        }
        if before.content_type != after.content_type {
            say(
                true,
                format!(
                    "`{id}`: content type {} is now {}",
                    show(&before.content_type),
                    show(&after.content_type)
                ),
            );
        }
        if before.key != after.key {
            say(
                true,
                format!(
                    "`{id}`: the key changed from {} to {}",
                    before.key, after.key
                ),
            );
        }
        for (path, was) in &before.fields {
            match after.fields.get(path) {
                None => say(true, format!("`{id}`: field `{path}` removed")),
                Some(now) => {
                    if was.always && !now.always {
                        say(
                            true,
                            format!("`{id}`: field `{path}` no longer always present"),
                        );
                    }
                    if was.types != now.types {
                        say(
                            true,
                            format!(
                                "`{id}`: field `{path}` was {}, now {}",
                                types(&was.types),
                                types(&now.types)
                            ),
                        );
                    }
                }
            }
        }
        for (path, now) in &after.fields {
            let was = before.fields.get(path);
            if now.always && !was.is_some_and(|w| w.always) {
                say(true, format!("`{id}`: field `{path}` newly required"));
            } else if was.is_none() {
                say(false, format!("`{id}`: field `{path}` added"));
            }
        }
    }
    for id in new.messages.keys() {
        if !old.messages.contains_key(id) {
            say(false, format!("`{id}` added"));
        }
    }
    changes.sort_by_key(|c| std::cmp::Reverse(c.breaking));
    Ok(changes)
}

fn list(items: &BTreeSet<String>) -> String {
    if items.is_empty() {
        return "no topic".into();
    }
    items
        .iter()
        .map(|t| format!("`{t}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn show(v: &Option<String>) -> String {
    v.as_deref()
        .map_or_else(|| "(none)".to_owned(), |s| format!("`{s}`"))
}

fn types(t: &BTreeSet<String>) -> String {
    if t.is_empty() {
        "of any type".into()
    } else {
        t.iter().cloned().collect::<Vec<_>>().join(" or ")
    }
}

/// What a document promises, in the terms the comparison needs.
struct View {
    channels: BTreeSet<String>,
    messages: BTreeMap<String, MessageView>,
}

struct MessageView {
    topics: BTreeSet<String>,
    content_type: Option<String>,
    /// The key rule (`x-key`), else the key's schema.
    key: Value,
    /// `value.<path>` and `headers.<name>`.
    fields: BTreeMap<String, Field>,
}

#[derive(Debug, PartialEq)]
struct Field {
    /// Present in every record (required, and so is everything above it).
    always: bool,
    /// JSON types allowed; empty: any.
    types: BTreeSet<String>,
}

impl View {
    fn of(doc: &Value) -> Result<View, NotAsyncApi3> {
        let version = doc.get("asyncapi").and_then(Value::as_str).unwrap_or("");
        if !version.starts_with("3.") {
            return Err(NotAsyncApi3 {
                asyncapi: doc.get("asyncapi").cloned(),
            });
        }
        let mut channels = BTreeSet::new();
        let mut messages: BTreeMap<String, MessageView> = BTreeMap::new();
        let empty = serde_json::Map::new();
        let all = doc
            .get("channels")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (name, channel) in all {
            let channel = resolve(doc, channel);
            let topic = channel
                .pointer("/bindings/kafka/topic")
                .or_else(|| channel.get("address"))
                .and_then(Value::as_str)
                .unwrap_or(name)
                .to_owned();
            channels.insert(topic.clone());
            let on_channel = channel
                .get("messages")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            for (key, message) in on_channel {
                let message = resolve(doc, message);
                let id = message
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or(key)
                    .to_owned();
                if let Some(seen) = messages.get_mut(&id) {
                    seen.topics.insert(topic.clone());
                    continue;
                }
                let mut fields = BTreeMap::new();
                if let Some(payload) = message.get("payload") {
                    flatten(doc, payload, 0).emit("value", true, &mut fields);
                }
                if let Some(headers) = message.get("headers") {
                    flatten(doc, headers, 0).emit("headers", true, &mut fields);
                }
                fields.remove("value");
                fields.remove("headers");
                let key = message
                    .get("x-key")
                    .or_else(|| message.pointer("/bindings/kafka/key"))
                    .cloned()
                    .unwrap_or(Value::Null);
                messages.insert(
                    id,
                    MessageView {
                        topics: BTreeSet::from([topic.clone()]),
                        content_type: message
                            .get("contentType")
                            .or_else(|| doc.get("defaultContentType"))
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        key,
                        fields,
                    },
                );
            }
        }
        Ok(View { channels, messages })
    }
}

/// Follows a local `$ref` (`#/...`); anything else is taken as it is.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    let mut value = value;
    for _ in 0..16 {
        match value
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|pointer| doc.pointer(pointer))
        {
            Some(target) => value = target,
            None => break,
        }
    }
    value
}

/// A schema's object structure with `allOf`, `oneOf` and `anyOf` folded in.
#[derive(Default)]
struct Flat {
    types: BTreeSet<String>,
    properties: BTreeMap<String, (Flat, bool)>,
}

impl Flat {
    fn emit(self, path: &str, always: bool, out: &mut BTreeMap<String, Field>) {
        out.insert(
            path.to_owned(),
            Field {
                always,
                types: self.types,
            },
        );
        for (name, (child, required)) in self.properties {
            child.emit(&format!("{path}.{name}"), always && required, out);
        }
    }

    /// Both hold (`allOf`): a property required by either is required.
    fn and(&mut self, other: Flat) {
        self.types = match (self.types.is_empty(), other.types.is_empty()) {
            (true, _) => other.types,
            (false, true) => std::mem::take(&mut self.types),
            (false, false) => self.types.intersection(&other.types).cloned().collect(),
        };
        for (name, (child, required)) in other.properties {
            match self.properties.get_mut(&name) {
                Some((mine, mine_required)) => {
                    mine.and(child);
                    *mine_required |= required;
                }
                None => {
                    self.properties.insert(name, (child, required));
                }
            }
        }
    }
}

fn flatten(doc: &Value, schema: &Value, depth: usize) -> Flat {
    let schema = resolve(doc, schema);
    let mut flat = Flat::default();
    if depth > 32 {
        return flat;
    }
    match schema.get("type") {
        Some(Value::String(t)) => {
            flat.types.insert(t.clone());
        }
        Some(Value::Array(ts)) => flat
            .types
            .extend(ts.iter().filter_map(Value::as_str).map(str::to_owned)),
        _ => {}
    }
    let values: Vec<&Value> = match (schema.get("const"), schema.get("enum")) {
        (Some(c), _) => vec![c],
        (None, Some(Value::Array(e))) => e.iter().collect(),
        _ => Vec::new(),
    };
    if flat.types.is_empty() && !values.is_empty() {
        flat.types = values.iter().map(|v| json_type(v).to_owned()).collect();
    }
    let required: BTreeSet<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if let Some(Value::Object(properties)) = schema.get("properties") {
        for (name, sub) in properties {
            let child = flatten(doc, sub, depth + 1);
            flat.properties
                .insert(name.clone(), (child, required.contains(name.as_str())));
        }
    }
    for name in &required {
        flat.properties
            .entry((*name).to_owned())
            .or_insert_with(|| (Flat::default(), true))
            .1 = true;
    }
    if let Some(Value::Array(all)) = schema.get("allOf") {
        for branch in all {
            let branch = flatten(doc, branch, depth + 1);
            flat.and(branch);
        }
    }
    for keyword in ["oneOf", "anyOf"] {
        if let Some(Value::Array(branches)) = schema.get(keyword) {
            let branches: Vec<Flat> = branches
                .iter()
                .map(|b| flatten(doc, b, depth + 1))
                .collect();
            // A property required by every branch is required; one that only
            // some branches name is present in some records.
            let mut either = Flat::default();
            for branch in &branches {
                for name in branch.properties.keys() {
                    let everywhere = branches.iter().all(|b| {
                        b.properties
                            .get(name)
                            .is_some_and(|(_, required)| *required)
                    });
                    either
                        .properties
                        .entry(name.clone())
                        .or_insert_with(|| (Flat::default(), everywhere));
                }
            }
            flat.and(either);
        }
    }
    flat
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn builtins() -> Value {
        crate::contract::tests::document_for(&[])
    }

    fn breaking(old: &Value, new: &Value) -> Vec<String> {
        compare(old, new)
            .unwrap()
            .into_iter()
            .filter(|c| c.breaking)
            .map(|c| c.what)
            .collect()
    }

    fn edit(doc: &Value, f: impl FnOnce(&mut Value)) -> Value {
        let mut doc = doc.clone();
        f(&mut doc);
        doc
    }

    #[test]
    fn the_same_document_has_no_changes() {
        let doc = builtins();
        assert_eq!(compare(&doc, &doc).unwrap(), []);
    }

    #[test]
    fn a_removed_channel_and_type_break_consumers() {
        let old = builtins();
        let new = edit(&old, |d| {
            d["channels"]
                .as_object_mut()
                .unwrap()
                .remove("webhooks.m2m.link.opened");
        });
        assert_eq!(
            breaking(&old, &new),
            [
                "channel `webhooks.m2m.link.opened` removed",
                "`m2m.link.opened` removed"
            ]
        );
        // The other way round, both are additions.
        assert_eq!(breaking(&new, &old), Vec::<String>::new());
        assert_eq!(compare(&new, &old).unwrap().len(), 2);
    }

    #[test]
    fn a_type_moved_to_another_topic_breaks_consumers() {
        let old = builtins();
        let new = crate::contract::tests::document_for(&[(
            "GATEWAY_TOPIC_OVERRIDES",
            "m2m.operation.cancelled=webhooks.m2m.operation.created",
        )]);
        let found = breaking(&old, &new);
        assert!(
            found.contains(&"channel `webhooks.m2m.operation.cancelled` removed".to_owned()),
            "{found:?}"
        );
        assert!(
            found.contains(&"`m2m.operation.cancelled` no longer on topic `webhooks.m2m.operation.cancelled` (now on `webhooks.m2m.operation.created`)".to_owned()),
            "{found:?}"
        );
    }

    #[test]
    fn a_removed_field_breaks_consumers_and_an_added_one_does_not() {
        let old = builtins();
        let new = edit(&old, |d| {
            d["components"]["schemas"]["transfers.payment.completed"]["properties"]["data"]
                ["allOf"][0]["properties"]
                .as_object_mut()
                .unwrap()
                .remove("amount");
        });
        assert_eq!(
            breaking(&old, &new),
            ["`transfers.payment.completed`: field `value.data.amount` removed"]
        );
        let changes = compare(&new, &old).unwrap();
        assert_eq!(
            changes,
            [Change {
                breaking: false,
                what: "`transfers.payment.completed`: field `value.data.amount` added".into()
            }]
        );
    }

    #[test]
    fn a_newly_required_field_breaks_consumers_of_older_records() {
        let old = builtins();
        let new = edit(&old, |d| {
            d["components"]["schemas"]["m2m.link.opened"]["required"]
                .as_array_mut()
                .unwrap()
                .push(json!("subject"));
        });
        assert_eq!(
            breaking(&old, &new),
            ["`m2m.link.opened`: field `value.subject` newly required"]
        );
        // And the reverse takes away a field consumers could rely on.
        assert_eq!(
            breaking(&new, &old),
            ["`m2m.link.opened`: field `value.subject` no longer always present"]
        );
        // A header counts as a field too.
        let new = edit(&old, |d| {
            d["components"]["messages"]["m2m.link.opened"]["headers"]["allOf"][1]["required"] =
                json!(["event-subject"]);
        });
        assert_eq!(
            breaking(&old, &new),
            ["`m2m.link.opened`: field `headers.event-subject` newly required"]
        );
    }

    #[test]
    fn a_field_required_inside_an_optional_object_is_not_always_present() {
        let old = builtins();
        let new = edit(&old, |d| {
            d["components"]["schemas"]["m2m.operation.created"]["properties"]["data"]
                ["properties"]["amount"]["required"] = json!(["send"]);
        });
        assert_eq!(breaking(&old, &new), Vec::<String>::new());
    }

    #[test]
    fn a_changed_field_type_breaks_consumers() {
        let old = builtins();
        let new = edit(&old, |d| {
            d["components"]["schemas"]["m2m.operation.created"]["properties"]["data"]
                ["properties"]["amount"]["properties"]["fee"]["type"] = json!("string");
        });
        assert_eq!(
            breaking(&old, &new),
            ["`m2m.operation.created`: field `value.data.amount.fee` was number, now string"]
        );
    }

    #[test]
    fn a_changed_key_breaks_consumers() {
        let old = builtins();
        let new = edit(&old, |d| {
            d["components"]["messages"]["m2m.link.created"]["x-key"]["sources"] =
                json!(["/data/referenceId"]);
        });
        assert_eq!(
            breaking(&old, &new),
            [
                r#"`m2m.link.created`: the key changed from {"otherwise":"id","sources":["/data/linkId"]} to {"otherwise":"id","sources":["/data/referenceId"]}"#
            ]
        );
    }

    #[test]
    fn a_changed_content_type_breaks_consumers() {
        let old = builtins();
        let new = edit(&old, |d| {
            d["components"]["messages"]["m2m.link.created"]["contentType"] =
                json!("application/json");
        });
        assert_eq!(
            breaking(&old, &new),
            ["`m2m.link.created`: content type `application/cloudevents+json` is now `application/json`"]
        );
    }

    #[test]
    fn only_asyncapi_3_documents_are_compared() {
        let doc = builtins();
        assert_eq!(
            compare(&json!({"openapi": "3.1.0"}), &doc)
                .unwrap_err()
                .to_string(),
            "not an AsyncAPI 3 document (asyncapi: None)"
        );
        assert_eq!(
            compare(&json!({"asyncapi": "2.6.0"}), &doc).unwrap_err(),
            NotAsyncApi3 {
                asyncapi: Some(json!("2.6.0"))
            }
        );
    }
}
