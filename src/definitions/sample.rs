//! A webhook that a definition routes: its own `sample:` body, or the smallest
//! body (and request headers) that reaches a catalogue entry, built from the
//! definition's sources. `--dev` prints a signed command for each provider from
//! it, and docs/consuming.md's event catalogue shows one record per route.
//!
//! The built body holds only what routing reads: the event name (split across
//! `event.join` when there is one), the entry's `when` values, an object at
//! `event.data`, the subject, the user and a body delivery id. Each made-up
//! value is the last segment of its source plus `-1` (`/data/linkId` gets
//! `linkId-1`), so a reader sees where it came from, and two sources naming the
//! same place agree.

use crate::definitions::compiled::{Definition, Entry};
use crate::definitions::definition::{Pointer, Source};

/// Why no body reaches an entry. `key` is the definition's key whose source
/// cannot be filled (`event.name`, `subject`, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SampleError {
    #[error("{key} comes from the signature header's field `{field}`, which no sample can set")]
    FromField { key: &'static str, field: String },
    #[error("{key} is the whole body, which is an object")]
    WholeBody { key: &'static str },
    /// Two sources need different values at `at` (a pointer or a header).
    #[error("{key} needs {at}, where the sample already holds another value")]
    Conflict { key: &'static str, at: String },
}

/// A body, and the headers besides the signature's that the definition reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    pub body: String,
    pub headers: Vec<(String, String)>,
}

/// What `--dev` sends as `def`: its `sample:` when it has one, else the
/// smallest body that reaches its first catalogue entry (or, with no catalogue,
/// an unrouted event). Header sources are filled from that first entry either
/// way: a `sample:` is a body only.
pub fn of(def: &Definition) -> Result<Sample, SampleError> {
    let mut sample = match def.events.first() {
        Some(entry) => for_entry(def, entry)?,
        None => unrouted(def)?,
    };
    if let Some(body) = &def.sample {
        sample.body = body.clone();
    }
    Ok(sample)
}

/// The smallest webhook that reaches `entry`.
pub fn for_entry(def: &Definition, entry: &Entry) -> Result<Sample, SampleError> {
    let mut b = Builder::default();
    // name + "." + join is the entry's name, when the definition joins one.
    match (&def.event.join, entry.name.rsplit_once('.')) {
        (Some(join), Some((name, joined))) => {
            b.set(&def.event.name, name, "event.name")?;
            b.object(&def.event.data)?;
            b.set(join, joined, "event.join")?;
        }
        _ => {
            b.set(&def.event.name, &entry.name, "event.name")?;
            b.object(&def.event.data)?;
        }
    }
    for (pointer, value) in &entry.when {
        b.set(&Source::Pointer(pointer.clone()), value, "when")?;
    }
    b.made_up(&entry.subject, "subject")?;
    b.common(def)?;
    Ok(b.finish())
}

/// The smallest webhook whose event the catalogue does not know: it goes to
/// the unrouted topic, keyed by the first `unrouted_subject`.
pub fn unrouted(def: &Definition) -> Result<Sample, SampleError> {
    let mut name = "not.in.catalogue".to_owned();
    while def.events.iter().any(|e| e.name == name) {
        name.push_str("-1");
    }
    let mut b = Builder::default();
    b.set(&def.event.name, &name, "event.name")?;
    b.object(&def.event.data)?;
    if let Some(subject) = def.unrouted_subject.first() {
        b.made_up(subject, "unrouted_subject")?;
    }
    b.common(def)?;
    Ok(b.finish())
}

/// The catalogue entry `sample` reaches, read as the engine reads a webhook
/// (for `--dev`'s hint of where to look), or `None`: unrouted, or not JSON.
pub fn entry_reached<'a>(def: &'a Definition, sample: &Sample) -> Option<&'a Entry> {
    let body: serde_json::Value = serde_json::from_str(&sample.body).ok()?;
    let read = |source: &Source, name_only: bool| -> Option<String> {
        match source {
            Source::Header(h) => sample
                .headers
                .iter()
                .find(|(n, _)| n == h.as_str())
                .map(|(_, v)| v.clone()),
            Source::Pointer(p) => match body.pointer(p.as_str())? {
                serde_json::Value::String(s) => Some(s.clone()),
                v @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_)) if !name_only => {
                    Some(v.to_string())
                }
                _ => None,
            },
            Source::Field(_) => None,
            Source::Value(v) => Some(v.clone()),
        }
    };
    let mut name = read(&def.event.name, true)?;
    if let Some(join) = def.event.join.as_ref().and_then(|j| read(j, false)) {
        name = format!("{name}.{join}");
    }
    def.events.iter().find(|e| {
        e.name == name
            && e.when.iter().all(|(p, want)| {
                read(&Source::Pointer(p.clone()), false).as_deref() == Some(want.as_str())
            })
    })
}

/// A JSON object whose keys keep the order they were added in (the event name
/// first, as providers write it), whatever serde_json's map features are.
#[derive(Debug, Default)]
struct Object(Vec<(String, Node)>);

#[derive(Debug)]
enum Node {
    Text(String),
    Object(Object),
}

impl Object {
    fn write(&self, out: &mut String) {
        out.push('{');
        for (i, (key, node)) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&serde_json::Value::from(key.as_str()).to_string());
            out.push(':');
            match node {
                Node::Text(t) => out.push_str(&serde_json::Value::from(t.as_str()).to_string()),
                Node::Object(o) => o.write(out),
            }
        }
        out.push('}');
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.0.iter_mut().find(|(k, _)| k == key).map(|(_, n)| n)
    }
}

#[derive(Debug, Default)]
struct Builder {
    body: Object,
    headers: Vec<(String, String)>,
}

impl Builder {
    /// `value` at `source`: a header, or a string in the body. A place that
    /// already holds something else is a conflict: the body would not reach
    /// the entry.
    fn set(&mut self, source: &Source, value: &str, key: &'static str) -> Result<(), SampleError> {
        match source {
            Source::Header(h) => {
                match self.headers.iter().find(|(n, _)| n == h.as_str()) {
                    Some((_, v)) if v != value => {
                        return Err(conflict(key, source.to_string()));
                    }
                    Some(_) => {}
                    None => self.headers.push((h.as_str().to_owned(), value.to_owned())),
                }
                Ok(())
            }
            Source::Field(f) => Err(SampleError::FromField {
                key,
                field: f.clone(),
            }),
            // A literal needs nothing in the request; any other value cannot come from it.
            Source::Value(v) if v == value => Ok(()),
            Source::Value(v) => Err(conflict(key, format!("{{value: {v}}}"))),
            Source::Pointer(p) => {
                let (parent, last) = self.parent(p, key)?;
                match parent.get_mut(&last) {
                    Some(Node::Text(t)) if t == value => Ok(()),
                    Some(_) => Err(conflict(key, p.as_str())),
                    None => {
                        parent.0.push((last, Node::Text(value.to_owned())));
                        Ok(())
                    }
                }
            }
        }
    }

    /// An object at `pointer` (`event.data`): the whole body, or a member.
    fn object(&mut self, pointer: &Pointer) -> Result<(), SampleError> {
        if pointer.as_str().is_empty() {
            return Ok(());
        }
        let (parent, last) = self.parent(pointer, "event.data")?;
        match parent.get_mut(&last) {
            Some(Node::Object(_)) => Ok(()),
            Some(Node::Text(_)) => Err(conflict("event.data", pointer.as_str())),
            None => {
                parent.0.push((last, Node::Object(Object::default())));
                Ok(())
            }
        }
    }

    /// A made-up value at `source` (see the module's note).
    fn made_up(&mut self, source: &Source, key: &'static str) -> Result<(), SampleError> {
        let base = match source {
            Source::Pointer(p) => p.tokens().last().unwrap_or_default(),
            Source::Header(h) => h.as_str().to_owned(),
            Source::Field(f) => f.clone(),
            Source::Value(_) => return Ok(()),
        };
        self.set(source, &format!("{base}-1"), key)
    }

    /// What every event of the definition carries: its user, and a delivery id
    /// in the body (a header id is `sign`'s to set).
    fn common(&mut self, def: &Definition) -> Result<(), SampleError> {
        if let Some(user) = &def.event.user {
            self.made_up(user, "event.user")?;
        }
        if let Some(id) = def.id.as_ref().filter(|i| !i.source.is_outside_body()) {
            self.made_up(&id.source, "id.source")?;
        }
        Ok(())
    }

    /// The object holding `pointer`'s last token, made on the way; and that token.
    fn parent(
        &mut self,
        pointer: &Pointer,
        key: &'static str,
    ) -> Result<(&mut Object, String), SampleError> {
        let mut tokens: Vec<String> = pointer.tokens().collect();
        let Some(last) = tokens.pop() else {
            return Err(SampleError::WholeBody { key });
        };
        let mut at = &mut self.body;
        for token in tokens {
            if at.get_mut(&token).is_none() {
                at.0.push((token.clone(), Node::Object(Object::default())));
            }
            at = match at.get_mut(&token) {
                Some(Node::Object(o)) => o,
                _ => return Err(conflict(key, pointer.as_str())),
            };
        }
        Ok((at, last))
    }

    fn finish(self) -> Sample {
        let mut body = String::new();
        self.body.write(&mut body);
        Sample {
            body,
            headers: self.headers,
        }
    }
}

fn conflict(key: &'static str, at: impl Into<String>) -> SampleError {
    SampleError::Conflict { key, at: at.into() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::Definitions;

    fn defs(file: &str) -> Definitions {
        Definitions::with_file(Some(("test", file))).unwrap()
    }

    #[test]
    fn a_built_body_reaches_its_entry_with_the_name_first() {
        let defs = Definitions::builtin();
        let transfers = defs.get("transfers").unwrap();
        let failed = &transfers.events[1];
        assert_eq!(
            for_entry(transfers, failed).unwrap(),
            Sample {
                body: r#"{"event":"Payment.Status","data":{"status":"Failed","paymentReference":"paymentReference-1","userId":"userId-1"}}"#.into(),
                headers: vec![],
            }
        );
        assert_eq!(
            entry_reached(transfers, &of(transfers).unwrap()),
            Some(&transfers.events[0]),
            "its sample: a completed payment"
        );
        let m2m = defs.get("m2m").unwrap();
        assert_eq!(entry_reached(m2m, &unrouted(m2m).unwrap()), None);
        assert_eq!(
            unrouted(m2m).unwrap().body,
            r#"{"event":"not.in.catalogue","data":{"operationId":"operationId-1","referenceId":"referenceId-1"}}"#
        );
    }

    #[test]
    fn header_sources_become_headers_and_a_joined_name_is_split() {
        let defs = defs(
            "providers:
  - name: hub
    secret: {env: HUB_SECRET}
    signature: {header: x-hub-signature}
    id: {source: {header: x-hub-delivery}}
    event: {name: {header: x-hub-event}, join: /action, data: \"\"}
    events:
      - {name: issues.opened, type: hub.issue.opened, subject: /issue/id}
      - {name: ping, type: hub.ping, subject: {header: x-hub-hook}}
",
        );
        let hub = defs.get("hub").unwrap();
        let opened = of(hub).unwrap();
        assert_eq!(opened.body, r#"{"action":"opened","issue":{"id":"id-1"}}"#);
        assert_eq!(opened.headers, [("x-hub-event".into(), "issues".into())]);
        assert_eq!(entry_reached(hub, &opened), Some(&hub.events[0]));
        let ping = for_entry(hub, &hub.events[1]).unwrap();
        assert_eq!(ping.body, "{}");
        assert_eq!(
            ping.headers,
            [
                ("x-hub-event".to_owned(), "ping".to_owned()),
                ("x-hub-hook".to_owned(), "x-hub-hook-1".to_owned())
            ]
        );
    }

    #[test]
    fn a_definitions_sample_is_its_body_and_conflicts_are_refused() {
        let defs = defs(
            r#"providers:
  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-acme-signature}
    id: {source: /id}
    event: {name: /type, data: /data}
    sample: '{"type":"paid","id":"evt_9","data":{"invoice":"inv-9"}}'
    events:
      - {name: paid, type: acme.paid, subject: /data/invoice}
      - {name: odd, type: acme.odd, subject: /type/x}
"#,
        );
        let acme = defs.get("acme").unwrap();
        assert_eq!(
            of(acme).unwrap().body,
            r#"{"type":"paid","id":"evt_9","data":{"invoice":"inv-9"}}"#
        );
        assert_eq!(
            for_entry(acme, &acme.events[0]).unwrap().body,
            r#"{"type":"paid","data":{"invoice":"invoice-1"},"id":"id-1"}"#
        );
        let sample = of(acme).unwrap();
        assert_eq!(entry_reached(acme, &sample), Some(&acme.events[0]));
        let odd = for_entry(acme, &acme.events[1]).unwrap_err();
        assert_eq!(
            odd,
            SampleError::Conflict {
                key: "subject",
                at: "/type/x".into()
            }
        );
        assert_eq!(
            odd.to_string(),
            "subject needs /type/x, where the sample already holds another value"
        );
    }
}
