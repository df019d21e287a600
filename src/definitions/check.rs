//! Start-up checks: one raw provider into its compiled [`Definition`] (defaults
//! filled, each rule of the format checked), then the rules that span providers.
//! Every refusal names the key, so the operator's one line points at the fix.

use std::fmt;

use super::compiled::*;
use super::definition::{Part, Pointer, RawProvider, Source};
use super::rules::{check_topic_name, MAX_EVENT_NAME_LEN, MAX_REPLAY_TOLERANCE_SECS};
use super::scheme::{scheme, Scheme};
use super::{handshake, serving};

pub use super::across::check_across;
use super::names::check_type;
pub use super::names::{check_name, ProviderNameError, SecretEnvError, TypeNameError};

/// One broken rule: the key path within the provider, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub key: String,
    pub reason: String,
}

/// `reason` is a rule's own error (`PointerError`, `TopicNameError`, ...) or a
/// text: either way the operator reads its message.
pub(super) fn problem(key: impl Into<String>, reason: impl fmt::Display) -> Problem {
    Problem {
        key: key.into(),
        reason: reason.to_string(),
    }
}

pub(super) fn required<T>(value: Option<T>, key: &str) -> Result<T, Problem> {
    value.ok_or_else(|| problem(key, "required"))
}

pub(super) fn choice<T: Copy>(
    value: Option<&str>,
    key: &str,
    default: T,
    options: &[(&str, T)],
) -> Result<T, Problem> {
    let Some(value) = value else {
        return Ok(default);
    };
    options
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<_> = options.iter().map(|(n, _)| *n).collect();
            problem(key, format!("`{value}` is not one of {}", names.join(", ")))
        })
}

/// A raw provider (presets already merged) into its checked, compiled form.
pub fn compile(raw: RawProvider) -> Result<Definition, Problem> {
    let name = required(raw.name, "name")?;
    check_name(&name).map_err(|r| problem("name", r))?;

    let Scheme {
        secret,
        key,
        signature,
    } = scheme(raw.secret, raw.key, raw.signature)?;
    let has_fields = signature.fields.is_some();
    let field_ok = |source: &Source, key: &str| -> Result<(), Problem> {
        match source {
            Source::Field(_) if !has_fields => {
                Err(problem(key, "a {field: ..} source needs signature.fields"))
            }
            // A literal names the events of a sender that does not (Dropbox);
            // as anything else it would give every event the same value.
            Source::Value(_) if key != "event.name" => Err(problem(
                key,
                "a {value: ..} literal is allowed in event.name only",
            )),
            _ => Ok(()),
        }
    };

    let timestamp = match raw.timestamp {
        None if signature.signed.uses(&Part::Timestamp) => {
            return Err(problem(
                "timestamp",
                "required: signature.signed uses {timestamp}",
            ))
        }
        None => None,
        Some(t) => {
            let source = required(t.source, "timestamp.source")?;
            field_ok(&source, "timestamp.source")?;
            let in_body = !source.is_outside_body();
            // A timestamp in the body is read once the MAC over the body has
            // matched (Linear's webhookTimestamp): signed with the body, and
            // trusted only then. One the template signs comes from outside.
            if in_body && signature.signed.uses(&Part::Timestamp) {
                return Err(problem(
                    "timestamp.source",
                    "signature.signed uses {timestamp}: a header or a field, since the body is not trusted when the signed bytes are built",
                ));
            }
            if in_body && signature.algorithm == Algorithm::Token {
                return Err(problem(
                    "timestamp.source",
                    "a token does not cover the body, so a timestamp in it would prove nothing",
                ));
            }
            if !in_body && !signature.signed.uses(&Part::Timestamp) {
                return Err(problem(
                    "timestamp",
                    "signature.signed does not use {timestamp}, so the timestamp would prove nothing",
                ));
            }
            if let Some(secs) = t.tolerance_secs {
                if !(1..=MAX_REPLAY_TOLERANCE_SECS).contains(&secs) {
                    return Err(problem(
                        "timestamp.tolerance_secs",
                        format!("expected 1 to {MAX_REPLAY_TOLERANCE_SECS}, got {secs}"),
                    ));
                }
            }
            Some(Timestamp {
                source,
                format: choice(
                    t.format.as_deref(),
                    "timestamp.format",
                    TimestampFormat::Auto,
                    &[
                        ("auto", TimestampFormat::Auto),
                        ("unix", TimestampFormat::Unix),
                        ("unix_ms", TimestampFormat::UnixMs),
                        ("rfc3339", TimestampFormat::Rfc3339),
                    ],
                )?,
                tolerance_secs: t.tolerance_secs,
            })
        }
    };

    let id = match raw.id {
        None if signature.signed.uses(&Part::Id) => {
            return Err(problem("id", "required: signature.signed uses {id}"))
        }
        None => None,
        Some(id) => {
            let source = required(id.source, "id.source")?;
            field_ok(&source, "id.source")?;
            let in_template = signature.signed.uses(&Part::Id);
            if in_template && !source.is_outside_body() {
                return Err(problem(
                    "id.source",
                    "signature.signed uses {id}: a header or a field, since the body is not trusted yet",
                ));
            }
            // A body pointer is covered by the MAC over the body; a token
            // covers nothing, so its sender's ids only refine the body's.
            let covered = signature.algorithm != Algorithm::Token;
            let signed = covered && (in_template || !source.is_outside_body());
            Some(Id { source, signed })
        }
    };

    let body = choice(
        raw.body.as_deref(),
        "body",
        Body::Json,
        &[
            ("json", Body::Json),
            ("any", Body::Any),
            ("form", Body::Form),
        ],
    )?;

    let ev = required(raw.event, "event")?;
    let event = Event {
        name: required(ev.name, "event.name")?,
        join: ev.join,
        data: match required(ev.data, "event.data")? {
            Source::Pointer(p) => p,
            _ => {
                return Err(problem(
                    "event.data",
                    "a JSON pointer (\"\" for the whole body)",
                ))
            }
        },
        user: ev.user,
        time: ev.time,
    };
    for (key, source) in [
        ("event.name", Some(&event.name)),
        ("event.join", event.join.as_ref()),
        ("event.user", event.user.as_ref()),
        ("event.time", event.time.as_ref()),
    ] {
        if let Some(source) = source {
            field_ok(source, key)?;
        }
    }
    let unrouted_subject = raw.unrouted_subject.unwrap_or_default();
    for (i, s) in unrouted_subject.iter().enumerate() {
        field_ok(s, &format!("unrouted_subject[{i}]"))?;
    }

    if let (Some(sample), Body::Json) = (&raw.sample, body) {
        if serde_json::from_str::<serde_json::Value>(sample).is_err() {
            return Err(problem("sample", "not JSON (the provider has body: json)"));
        }
    }

    let mut events = Vec::new();
    for (i, e) in raw.events.unwrap_or_default().into_iter().enumerate() {
        let key = |k: &str| format!("events[{i}].{k}");
        let event_name = required(e.name, &key("name"))?;
        if event_name.is_empty() || event_name.len() > MAX_EVENT_NAME_LEN {
            return Err(problem(
                key("name"),
                format!("1 to {MAX_EVENT_NAME_LEN} bytes"),
            ));
        }
        let mut when = Vec::new();
        for (pointer, value) in e.when.unwrap_or_default() {
            let p = Pointer::parse(&pointer).map_err(|r| problem(key("when"), r))?;
            let serde_yaml_ng::Value::String(text) = value else {
                return Err(problem(
                    format!("{}.{pointer}", key("when")),
                    "not a string (quote it: the value's text is compared)",
                ));
            };
            when.push((p, text));
        }
        let type_name = required(e.type_name, &key("type"))?;
        check_type(&name, &type_name).map_err(|r| problem(key("type"), r))?;
        let subject = required(e.subject, &key("subject"))?;
        field_ok(&subject, &key("subject"))?;
        if let Some(topic) = &e.topic {
            check_topic_name(topic).map_err(|r| problem(key("topic"), r))?;
        }
        let entry = Entry {
            name: event_name,
            when,
            type_name,
            subject,
            topic: e.topic,
            schema: e.schema,
        };
        if let Some(j) = events.iter().position(|o| may_both_match(o, &entry)) {
            return Err(problem(
                key("when"),
                format!("events[{j}] can match the same event (same name, and no `when` pointer on which they differ)"),
            ));
        }
        if let Some(j) = events
            .iter()
            .position(|o: &Entry| o.type_name == entry.type_name)
        {
            return Err(problem(
                key("type"),
                format!("also the type of events[{j}]"),
            ));
        }
        events.push(entry);
    }

    let accepted = raw.accepted.map(serving::accepted).transpose()?;
    let limits = raw.limits.map(serving::limits).transpose()?;
    let timeout_ms = raw.timeout_ms.map(serving::timeout_ms).transpose()?;
    if body != Body::Form && signature.signed.uses(&Part::FormSorted) {
        return Err(problem(
            "signature.signed",
            "{form_sorted} needs body: form",
        ));
    }
    let batch = match raw.batch {
        None => None,
        Some(_) if id.is_some() => {
            return Err(problem(
                "id",
                "not with batch: batch.id names each item's delivery id",
            ))
        }
        Some(_) if body != Body::Json => return Err(problem("batch", "needs body: json")),
        Some(b) => Some(Batch {
            items: required(b.items, "batch.items")?,
            id: b.id.map(|i| i.into_vec()).unwrap_or_default(),
            // A token covers no body: its sender's item ids only refine the items'.
            signed: signature.algorithm != Algorithm::Token,
        }),
    };
    let form = match (raw.form, body) {
        (None, _) => None,
        (Some(_), Body::Json | Body::Any) => return Err(problem("form", "needs body: form")),
        (Some(f), Body::Form) => {
            if f.json.as_deref() == Some("") {
                return Err(problem("form.json", "a field name is not empty"));
            }
            Some(Form { json: f.json })
        }
    };
    let url = match (raw.url, signature.signed.uses(&Part::Url)) {
        (None, true) => return Err(problem("url", "required: signature.signed uses {url}")),
        (Some(_), false) => {
            return Err(problem(
                "url",
                "signature.signed does not use {url}, so it would prove nothing",
            ))
        }
        (Some(url), true) => Some(signed_url(url)?),
        (None, false) => None,
    };
    let retries = match raw.retries.as_deref() {
        None => None,
        given => Some(choice(
            given,
            "retries",
            Retries::Persistent,
            &[
                ("none", Retries::None),
                ("few", Retries::Few),
                ("persistent", Retries::Persistent),
            ],
        )?),
    };

    let handshake::Compiled {
        handshakes,
        handshake_secret,
    } = handshake::compile(
        raw.handshakes,
        raw.handshake_secret,
        handshake::Around {
            algorithm: signature.algorithm,
            secret_env: &secret.env,
            body,
            event: &event,
            events: &events,
        },
    )?;

    Ok(Definition {
        name,
        preset: raw.preset,
        key,
        secret,
        signature,
        timestamp,
        id,
        body,
        event,
        unrouted_subject,
        sample: raw.sample,
        events,
        accepted,
        limits,
        timeout_ms,
        retries,
        url,
        form,
        batch,
        handshake_secret,
        handshakes,
    })
}

/// The URL a sender signs, as `url:` gives it: absolute, and without the
/// query and fragment, since `{url}` appends the request's own query string.
fn signed_url(url: String) -> Result<String, Problem> {
    let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
    if !scheme_ok || url.contains(char::is_whitespace) {
        return Err(problem("url", "an absolute http:// or https:// URL"));
    }
    if url.contains(['?', '#']) {
        return Err(problem(
            "url",
            "no query or fragment: {url} appends the request's own query string",
        ));
    }
    Ok(url)
}

/// Two entries are disjoint only when some pointer of both requires different values.
fn may_both_match(a: &Entry, b: &Entry) -> bool {
    a.name == b.name
        && !a
            .when
            .iter()
            .any(|(p, v)| b.when.iter().any(|(q, w)| p == q && v != w))
}
