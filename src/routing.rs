//! Canonical type -> Kafka topic: the operator's override, else the catalogue
//! entry's `topic`, else `<prefix>.<type>` (the rule in `providers::rules`).
//! Several types may share a topic when a consumer needs one entity's events
//! in order across types.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::envelope::{EventId, Record};
use crate::normalize::Normalized;
use crate::providers::rules::{check_topic_name, topic_name, DEADLETTER, UNROUTED};
use crate::providers::Definition;

/// Where a normalized webhook goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'a> {
    Typed(&'a str),
    Unrouted,
    DeadLetter,
}

impl<'a> Route<'a> {
    pub fn of(normalized: &'a Normalized<'_>) -> Route<'a> {
        match normalized {
            Normalized::Event(e) if e.routed => Route::Typed(&e.type_name),
            Normalized::Event(_) => Route::Unrouted,
            Normalized::DeadLetter(_) => Route::DeadLetter,
        }
    }
}

/// What routing made of a normalized webhook: the record to produce, and the
/// facts the request reports (its answer, log line and metrics), so that
/// nothing downstream reads them from the webhook again.
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

/// Which kind of topic a webhook went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Typed,
    Unrouted,
    DeadLetter,
}

#[derive(Debug, Clone)]
pub struct Topics {
    typed: HashMap<Box<str>, Arc<str>>,
    unrouted: Arc<str>,
    deadletter: Arc<str>,
}

impl Topics {
    /// The topics of every type the definitions route. `overrides` maps a type,
    /// `unrouted` or `deadletter` to a topic. Errors name the offending entry.
    pub fn new(
        definitions: &[Definition],
        prefix: &str,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Topics, String> {
        let types: Vec<_> = definitions.iter().flat_map(|d| &d.events).collect();
        for key in overrides.keys() {
            if key != UNROUTED && key != DEADLETTER && !types.iter().any(|e| e.type_name == *key) {
                return Err(format!(
                    "unknown type `{key}` (expected a defined type, `unrouted` or `deadletter`)"
                ));
            }
        }
        let topic = |route: &str, own: Option<&str>| -> Result<Arc<str>, String> {
            let name = topic_name(prefix, overrides, route, own);
            check_topic_name(&name)?;
            Ok(name.into())
        };
        let mut typed = HashMap::new();
        for e in types {
            typed.insert(
                e.type_name.as_str().into(),
                topic(&e.type_name, e.topic.as_deref())?,
            );
        }
        Ok(Topics {
            typed,
            unrouted: topic(UNROUTED, None)?,
            deadletter: topic(DEADLETTER, None)?,
        })
    }

    /// The topic of a route. A type the definitions do not route (which
    /// normalize never produces) lands on the unrouted topic, never nowhere.
    pub fn topic(&self, route: Route<'_>) -> &Arc<str> {
        match route {
            Route::Typed(t) => self.typed.get(t).unwrap_or(&self.unrouted),
            Route::Unrouted => &self.unrouted,
            Route::DeadLetter => &self.deadletter,
        }
    }

    /// The Kafka record for a normalized webhook, on its route's topic.
    pub fn record(&self, normalized: &Normalized<'_>) -> Record {
        let topic = self.topic(Route::of(normalized)).clone();
        match normalized {
            Normalized::Event(e) => e.to_record(topic),
            Normalized::DeadLetter(d) => d.to_record(topic),
        }
    }

    /// The record and the facts of a normalized webhook.
    pub fn route(&self, normalized: &Normalized<'_>) -> Routed {
        let destination = match Route::of(normalized) {
            Route::Typed(_) => Destination::Typed,
            Route::Unrouted => Destination::Unrouted,
            Route::DeadLetter => Destination::DeadLetter,
        };
        let (type_name, subject) = match normalized {
            Normalized::Event(e) => (e.type_name.clone(), e.subject.clone()),
            Normalized::DeadLetter(_) => (DEADLETTER.into(), None),
        };
        Routed {
            record: self.record(normalized),
            destination,
            id: normalized.id(),
            type_name,
            subject,
        }
    }

    /// Every distinct topic the gateway may write to.
    pub fn all(&self) -> BTreeSet<Arc<str>> {
        self.typed
            .values()
            .chain([&self.unrouted, &self.deadletter])
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Definitions;

    fn topics(prefix: &str, overrides: &[(&str, &str)]) -> Result<Topics, String> {
        let overrides = overrides
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Topics::new(&Definitions::builtin().list, prefix, &overrides)
    }

    #[test]
    fn default_topics_are_prefix_dot_type() {
        let t = topics("webhooks", &[]).unwrap();
        assert_eq!(
            &**t.topic(Route::Typed("m2m.operation.created")),
            "webhooks.m2m.operation.created"
        );
        assert_eq!(&**t.topic(Route::Unrouted), "webhooks.unrouted");
        assert_eq!(&**t.topic(Route::DeadLetter), "webhooks.deadletter");
        assert_eq!(t.all().len(), 9);
    }

    #[test]
    fn overrides_let_types_share_a_topic() {
        let t = topics(
            "wh",
            &[
                ("m2m.operation.created", "ops"),
                ("m2m.operation.cancelled", "ops"),
            ],
        )
        .unwrap();
        assert_eq!(&**t.topic(Route::Typed("m2m.operation.cancelled")), "ops");
        assert_eq!(t.all().len(), 8);
    }

    #[test]
    fn a_catalogue_entry_may_name_its_own_topic_and_an_override_still_wins() {
        let file = "providers:
  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-sig}
    event: {name: /type, data: /data}
    events:
      - {name: a, type: acme.a, subject: /data/id, topic: billing}
      - {name: b, type: acme.b, subject: /data/id, topic: billing}
      - {name: c, type: acme.c, subject: /data/id}
";
        let defs = Definitions::with_file(Some(("test", file))).unwrap();
        let overrides = BTreeMap::from([("acme.b".to_string(), "b-topic".to_string())]);
        let t = Topics::new(&defs.list, "wh", &overrides).unwrap();
        assert_eq!(&**t.topic(Route::Typed("acme.a")), "billing");
        assert_eq!(&**t.topic(Route::Typed("acme.b")), "b-topic");
        assert_eq!(&**t.topic(Route::Typed("acme.c")), "wh.acme.c");
    }

    #[test]
    fn bad_overrides_and_prefixes_are_refused() {
        assert!(topics("wh", &[("m2m.nope", "x")])
            .unwrap_err()
            .contains("m2m.nope"));
        assert!(topics("bad prefix", &[]).is_err());
    }
}
