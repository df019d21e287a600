//! Where records go: the topic of every route (a canonical type, the unrouted
//! and the dead-letter route), computed once from the definitions and the
//! topic settings, and checked once (Kafka's name rule, and no two topics
//! that differ only by `.` against `_`). The request path never computes a
//! topic: a compiled provider ([`crate::engine::provider::Provider`]) carries each
//! catalogue entry's topic, so normalizing a webhook decides its
//! [`Destination`] and topic at once.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use crate::definitions::rules::{check_topic_name, DEADLETTER, UNROUTED};
use crate::definitions::Definition;

/// Which kind of topic a record goes to: the one decision routing makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    /// The topic of the catalogue entry that matched.
    Typed,
    /// A verified event the catalogue does not know.
    Unrouted,
    /// A verified body that cannot be read as an event.
    DeadLetter,
}

/// A topic that cannot be used, and what names it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct TopicError {
    /// The definition (its index in the list) whose catalogue entry names the
    /// topic; `None` for the topic settings (the prefix or an override).
    pub provider: Option<usize>,
    /// Where in that definition (`events[2].topic`), or the route the
    /// settings name (a type, `unrouted`, `deadletter`).
    pub key: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct Topics {
    typed: HashMap<Box<str>, Arc<str>>,
    unrouted: Arc<str>,
    deadletter: Arc<str>,
}

impl Topics {
    /// The topic of every route: the operator's override (`overrides` maps a
    /// type, `unrouted` or `deadletter` to a topic), else the catalogue
    /// entry's own `topic`, else `<prefix>.<route>`.
    pub fn new(
        definitions: &[Definition],
        prefix: &str,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Topics, TopicError> {
        let settings = |key: &str, reason: String| TopicError {
            provider: None,
            key: key.to_owned(),
            reason,
        };
        for key in overrides.keys() {
            let defined = definitions
                .iter()
                .any(|d| d.events.iter().any(|e| e.type_name == *key));
            if key != UNROUTED && key != DEADLETTER && !defined {
                return Err(settings(
                    key,
                    format!(
                        "unknown type `{key}` (expected a defined type, `unrouted` or `deadletter`)"
                    ),
                ));
            }
        }
        let name = |route: &str, own: Option<&str>| -> String {
            match overrides.get(route).map(String::as_str).or(own) {
                Some(topic) => topic.to_owned(),
                None => format!("{prefix}.{route}"),
            }
        };
        let mut names = Names::default();
        let unrouted = names.add(name(UNROUTED, None), |why| settings(UNROUTED, why))?;
        let deadletter = names.add(name(DEADLETTER, None), |why| settings(DEADLETTER, why))?;
        let mut typed = HashMap::new();
        for (i, d) in definitions.iter().enumerate() {
            for (j, e) in d.events.iter().enumerate() {
                let overridden = overrides.contains_key(&e.type_name);
                let topic = names.add(name(&e.type_name, e.topic.as_deref()), |why| {
                    // Named by whoever chose the name: an override, else the
                    // entry (its `topic`, or its type under the prefix).
                    match overridden {
                        true => settings(&e.type_name, why),
                        false => TopicError {
                            provider: Some(i),
                            key: format!("events[{j}].topic"),
                            reason: why,
                        },
                    }
                })?;
                typed.insert(e.type_name.as_str().into(), topic);
            }
        }
        Ok(Topics {
            typed,
            unrouted,
            deadletter,
        })
    }

    /// The topic of a catalogue type; `None` for a type no definition routes.
    pub fn typed(&self, type_name: &str) -> Option<&Arc<str>> {
        self.typed.get(type_name)
    }

    pub fn unrouted(&self) -> &Arc<str> {
        &self.unrouted
    }

    pub fn deadletter(&self) -> &Arc<str> {
        &self.deadletter
    }

    /// The topic of a route by its name: a type, `unrouted` or `deadletter`.
    /// A type no definition routes lands on the unrouted topic, never nowhere.
    pub fn of(&self, route: &str) -> &Arc<str> {
        match route {
            UNROUTED => &self.unrouted,
            DEADLETTER => &self.deadletter,
            ty => self.typed(ty).unwrap_or(&self.unrouted),
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

/// The topics named so far, by their name with `.` folded into `_`: two
/// names that differ only there collide in Kafka (it refuses the second, or
/// warns of colliding metric names), so the second is refused here.
#[derive(Default)]
struct Names {
    folded: HashMap<String, Arc<str>>,
}

impl Names {
    /// `topic`, shared with an earlier route of the same name; `refused`
    /// makes the error naming whoever chose it, from the reason.
    fn add(
        &mut self,
        topic: String,
        refused: impl FnOnce(String) -> TopicError,
    ) -> Result<Arc<str>, TopicError> {
        let folded = topic.replace('.', "_");
        let reason = match (check_topic_name(&topic), self.folded.get(&folded)) {
            (Err(e), _) => e.to_string(),
            (Ok(()), Some(other)) if **other == *topic => return Ok(other.clone()),
            (Ok(()), Some(other)) => {
                format!("topic `{topic}` differs from `{other}` only by `.` against `_`")
            }
            (Ok(()), None) => {
                let topic: Arc<str> = topic.into();
                self.folded.insert(folded, topic.clone());
                return Ok(topic);
            }
        };
        Err(refused(reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::Definitions;

    fn topics(prefix: &str, overrides: &[(&str, &str)]) -> Result<Topics, TopicError> {
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
            &**t.of("m2m.operation.created"),
            "webhooks.m2m.operation.created"
        );
        assert_eq!(&**t.unrouted(), "webhooks.unrouted");
        assert_eq!(&**t.deadletter(), "webhooks.deadletter");
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
        assert_eq!(&**t.of("m2m.operation.cancelled"), "ops");
        assert!(Arc::ptr_eq(
            t.typed("m2m.operation.created").unwrap(),
            t.typed("m2m.operation.cancelled").unwrap()
        ));
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
        assert_eq!(&**t.of("acme.a"), "billing");
        assert_eq!(&**t.of("acme.b"), "b-topic");
        assert_eq!(&**t.of("acme.c"), "wh.acme.c");
        assert_eq!(&**t.of("acme.nope"), "wh.unrouted");
    }

    #[test]
    fn bad_overrides_and_prefixes_are_refused_naming_the_setting() {
        let e = topics("wh", &[("m2m.nope", "x")]).unwrap_err();
        assert_eq!((e.provider, e.key.as_str()), (None, "m2m.nope"));
        assert!(e.reason.contains("m2m.nope"), "{e}");
        let e = topics("bad prefix", &[]).unwrap_err();
        assert_eq!((e.provider, e.key.as_str()), (None, UNROUTED));
        assert_eq!(
            e.reason,
            "`bad prefix.unrouted` is not a valid Kafka topic name"
        );
    }

    #[test]
    fn topics_differing_only_by_dot_and_underscore_are_refused_naming_the_entry() {
        let file = "providers:
  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-sig}
    event: {name: /type, data: /data}
    events:
      - {name: a, type: acme.a, subject: /data/id, topic: billing.x}
      - {name: b, type: acme.b, subject: /data/id, topic: billing_x}
";
        let defs = Definitions::with_file(Some(("test", file))).unwrap();
        let e = Topics::new(&defs.list, "wh", &BTreeMap::new()).unwrap_err();
        let acme = defs.list.iter().position(|d| d.name == "acme");
        assert_eq!((e.provider, e.key.as_str()), (acme, "events[1].topic"));
        assert_eq!(
            e.reason,
            "topic `billing_x` differs from `billing.x` only by `.` against `_`"
        );
    }
}
