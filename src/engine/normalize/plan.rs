//! A definition compiled for reading requests: every body pointer a slot of
//! one [`Trie`], every header name parsed, the catalogue indexed by event name,
//! each entry with its topic, and the unrouted and dead-letter topics. Built
//! once per provider at start-up, so a request only looks things up.

use std::collections::HashMap;
use std::sync::Arc;

use super::json::Trie;
use crate::definitions::compiled::{Body, Definition};
use crate::definitions::definition::Source;
use crate::engine::route::Topics;

/// Where one value comes from, resolved.
#[derive(Debug)]
pub enum Value {
    Body(usize),
    Header(http::HeaderName),
    Field(String),
    Literal(String),
}

impl Value {
    fn of(trie: &mut Trie, source: &Source) -> Value {
        match source {
            Source::Pointer(p) => Value::Body(trie.add(p)),
            Source::Header(h) => Value::Header(
                http::HeaderName::from_bytes(h.as_str().as_bytes())
                    .expect("checked when the definition was loaded"),
            ),
            Source::Field(f) => Value::Field(f.clone()),
            Source::Value(v) => Value::Literal(v.clone()),
        }
    }
}

#[derive(Debug)]
pub struct Entry {
    pub type_name: Arc<str>,
    /// Where this type's records go.
    pub topic: Arc<str>,
    /// The `dataschema` URI of this type's records, when a schema is known.
    pub dataschema: Option<Arc<str>>,
    pub subject: Value,
    /// Slots whose text must equal these strings.
    pub when: Vec<(usize, String)>,
}

#[derive(Debug)]
pub struct Plan {
    pub name: Arc<str>,
    /// The CloudEvents `source`: `/providers/<name>`.
    pub source: Arc<str>,
    pub trie: Trie,
    pub body: Body,
    pub event_name: Value,
    pub join: Option<Value>,
    pub data: usize,
    pub user: Option<Value>,
    pub time: Option<Value>,
    /// The delivery id, and whether the signature covers it.
    pub id: Option<(Value, bool)>,
    pub unrouted_subject: Vec<Value>,
    pub unknown_type: Arc<str>,
    /// Where events the catalogue does not know go.
    pub unrouted_topic: Arc<str>,
    /// Where bodies that cannot be read as an event go.
    pub deadletter_topic: Arc<str>,
    pub entries: Vec<Entry>,
    by_name: HashMap<String, Vec<usize>>,
}

impl Plan {
    /// `topics` must hold every type of `def` (they are computed from the
    /// same definitions); a type it lacks would land on the unrouted topic.
    pub fn new(def: &Definition, topics: &Topics) -> Plan {
        let mut trie = Trie::default();
        let t = &mut trie;
        let event_name = Value::of(t, &def.event.name);
        let join = def.event.join.as_ref().map(|s| Value::of(t, s));
        let user = def.event.user.as_ref().map(|s| Value::of(t, s));
        let time = def.event.time.as_ref().map(|s| Value::of(t, s));
        let id = def
            .id
            .as_ref()
            .map(|id| (Value::of(t, &id.source), id.signed));
        let unrouted_subject = def
            .unrouted_subject
            .iter()
            .map(|s| Value::of(t, s))
            .collect();
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        let mut entries = Vec::new();
        for (i, e) in def.events.iter().enumerate() {
            by_name.entry(e.name.clone()).or_default().push(i);
            let subject = Value::of(&mut trie, &e.subject);
            let when = e
                .when
                .iter()
                .map(|(p, text)| (trie.add(p), text.clone()))
                .collect();
            entries.push(Entry {
                type_name: e.type_name.as_str().into(),
                topic: topics.of(&e.type_name).clone(),
                dataschema: None,
                subject,
                when,
            });
        }
        // Added last: `data` is usually on the others' path and already has its slot.
        let data = trie.add(&def.event.data);
        Plan {
            name: def.name.as_str().into(),
            source: def.source().into(),
            trie,
            body: def.body,
            event_name,
            join,
            data,
            user,
            time,
            id,
            unrouted_subject,
            unknown_type: def.unknown_type().into(),
            unrouted_topic: topics.unrouted().clone(),
            deadletter_topic: topics.deadletter().clone(),
            entries,
            by_name,
        }
    }

    /// Names each type's `data` schema (the consumer contract's URIs), for
    /// the records' `dataschema` attribute.
    pub fn with_dataschemas(mut self, uri: impl Fn(&str) -> Option<String>) -> Plan {
        for e in &mut self.entries {
            e.dataschema = uri(&e.type_name).map(Arc::from);
        }
        self
    }

    /// Every source the plan reads outside the body: the request headers and
    /// the signature header's fields. What an unrouted or dead-letter record
    /// keeps of its request, so a re-drive can read it again (`replay`).
    pub fn outside_body(&self) -> impl Iterator<Item = &Value> {
        [
            Some(&self.event_name),
            self.join.as_ref(),
            self.user.as_ref(),
        ]
        .into_iter()
        .chain([self.time.as_ref(), self.id.as_ref().map(|(v, _)| v)])
        .flatten()
        .chain(&self.unrouted_subject)
        .chain(self.entries.iter().map(|e| &e.subject))
        .filter(|v| !matches!(v, Value::Body(_)))
    }

    /// The catalogue entries named `event`, in the order written.
    pub fn named(&self, event: &str) -> &[usize] {
        self.by_name.get(event).map_or(&[], Vec::as_slice)
    }
}

#[cfg(test)]
impl Plan {
    /// `def` compiled on its own, its topics under the prefix `wh`.
    pub(crate) fn alone(def: &Definition) -> Plan {
        let topics = Topics::new(std::slice::from_ref(def), "wh", &Default::default());
        Plan::new(def, &topics.expect("valid topics"))
    }
}
