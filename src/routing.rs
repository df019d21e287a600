//! Canonical type -> Kafka topic. Topic = `<prefix>.<type>` unless overridden per
//! type, so that several types can share one topic when a consumer needs one
//! entity's events in order across types.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::envelope::{EventType, Record};
use crate::normalize::Normalized;

pub const UNROUTED: &str = "unrouted";
pub const DEADLETTER: &str = "deadletter";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Typed(EventType),
    Unrouted,
    DeadLetter,
}

impl Route {
    pub fn of(normalized: &Normalized<'_>) -> Route {
        match normalized {
            Normalized::Event(e) => e.event_type.map_or(Route::Unrouted, Route::Typed),
            Normalized::DeadLetter(_) => Route::DeadLetter,
        }
    }

    /// The name used in overrides and in the default topic name.
    pub fn name(self) -> &'static str {
        match self {
            Route::Typed(t) => t.as_str(),
            Route::Unrouted => UNROUTED,
            Route::DeadLetter => DEADLETTER,
        }
    }

    pub fn all() -> impl Iterator<Item = Route> {
        EventType::ALL
            .into_iter()
            .map(Route::Typed)
            .chain([Route::Unrouted, Route::DeadLetter])
    }
}

#[derive(Debug, Clone)]
pub struct Topics {
    typed: [Arc<str>; 7],
    unrouted: Arc<str>,
    deadletter: Arc<str>,
}

impl Topics {
    /// `overrides` maps a route name (a canonical type, `unrouted` or `deadletter`)
    /// to a topic. Errors name the offending entry.
    pub fn new(prefix: &str, overrides: &BTreeMap<String, String>) -> Result<Topics, String> {
        for key in overrides.keys() {
            if !Route::all().any(|r| r.name() == key) {
                return Err(format!("unknown type `{key}` (expected one of the canonical types, `unrouted` or `deadletter`)"));
            }
        }
        let topic = |route: Route| -> Result<Arc<str>, String> {
            let name = match overrides.get(route.name()) {
                Some(t) => t.clone(),
                None => format!("{prefix}.{}", route.name()),
            };
            check_topic_name(&name)?;
            Ok(name.into())
        };
        let mut typed = Vec::with_capacity(7);
        for t in EventType::ALL {
            typed.push(topic(Route::Typed(t))?);
        }
        Ok(Topics {
            typed: typed.try_into().expect("seven types"),
            unrouted: topic(Route::Unrouted)?,
            deadletter: topic(Route::DeadLetter)?,
        })
    }

    pub fn topic(&self, route: Route) -> &Arc<str> {
        match route {
            Route::Typed(t) => &self.typed[t.index()],
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

    /// Every distinct topic the gateway may write to.
    pub fn all(&self) -> BTreeSet<Arc<str>> {
        Route::all().map(|r| self.topic(r).clone()).collect()
    }
}

/// Kafka's rule: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub(crate) fn check_topic_name(name: &str) -> Result<(), String> {
    let legal = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if name.is_empty() || name.len() > 249 || !legal || name == "." || name == ".." {
        return Err(format!("`{name}` is not a valid Kafka topic name"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_topics_are_prefix_dot_type() {
        let t = Topics::new("webhooks", &BTreeMap::new()).unwrap();
        assert_eq!(
            &**t.topic(Route::Typed(EventType::M2mOperationCreated)),
            "webhooks.m2m.operation.created"
        );
        assert_eq!(&**t.topic(Route::Unrouted), "webhooks.unrouted");
        assert_eq!(&**t.topic(Route::DeadLetter), "webhooks.deadletter");
        assert_eq!(t.all().len(), 9);
    }

    #[test]
    fn overrides_let_types_share_a_topic() {
        let overrides = BTreeMap::from([
            ("m2m.operation.created".to_string(), "ops".to_string()),
            ("m2m.operation.cancelled".to_string(), "ops".to_string()),
        ]);
        let t = Topics::new("wh", &overrides).unwrap();
        assert_eq!(
            &**t.topic(Route::Typed(EventType::M2mOperationCancelled)),
            "ops"
        );
        assert_eq!(t.all().len(), 8);
    }

    #[test]
    fn bad_overrides_and_prefixes_are_refused() {
        let unknown = BTreeMap::from([("m2m.nope".to_string(), "x".to_string())]);
        assert!(Topics::new("wh", &unknown)
            .unwrap_err()
            .contains("m2m.nope"));
        assert!(Topics::new("bad prefix", &BTreeMap::new()).is_err());
    }
}
