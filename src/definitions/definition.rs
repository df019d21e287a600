//! The providers file as users write it: serde types that mirror the YAML keys
//! exactly (unknown keys are refused), and the source grammar shared by every key
//! that names where a value comes from. Defaults and rules live in `check`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// The whole file: `providers: [...]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    #[serde(default)]
    pub providers: Vec<RawProvider>,
}

// Every key is optional here, even required ones: a preset may supply it, and a
// missing key is reported by `check` with the provider's name and the key path.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    pub name: Option<String>,
    pub preset: Option<String>,
    pub secret: Option<RawSecret>,
    /// Public keys, for `ed25519` and `ecdsa-p256` (same shape as `secret`).
    pub key: Option<RawSecret>,
    pub signature: Option<RawSignature>,
    pub timestamp: Option<RawTimestamp>,
    pub id: Option<RawId>,
    pub body: Option<String>,
    pub event: Option<RawEvent>,
    pub unrouted_subject: Option<Vec<Source>>,
    pub sample: Option<String>,
    pub events: Option<Vec<RawEntry>>,
    pub accepted: Option<RawAccepted>,
    pub limits: Option<RawLimits>,
    pub timeout_ms: Option<u64>,
    pub retries: Option<String>,
    pub url: Option<String>,
    pub form: Option<RawForm>,
    pub batch: Option<RawBatch>,
    /// What a handshake's `token` must equal (same shape as `secret`).
    pub handshake_secret: Option<RawSecret>,
    pub handshakes: Option<Vec<RawHandshake>>,
}

/// One of `handshakes:`: a request that is not an event, answered and never
/// published. Conditions map names to strings (checked by `handshake`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHandshake {
    pub name: Option<String>,
    pub method: Option<String>,
    pub when: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    pub query: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    pub header: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    pub verified: Option<bool>,
    /// `{query: NAME}` or `{header: NAME}`.
    pub token: Option<BTreeMap<String, String>>,
    pub values: Option<RawValues>,
    pub reply: Option<RawAccepted>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawValues {
    pub charset: Option<String>,
    pub max_len: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBatch {
    pub items: Option<Pointer>,
    pub id: Option<OneOrMore<Pointer>>,
}

/// A key that takes one value or a list of them.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum OneOrMore<T> {
    One(T),
    More(Vec<T>),
}

impl<T> OneOrMore<T> {
    pub fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMore::One(one) => vec![one],
            OneOrMore::More(more) => more,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawForm {
    pub json: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub rate: Option<f64>,
    pub burst: Option<u32>,
    pub in_flight: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccepted {
    pub status: Option<u16>,
    pub content_type: Option<String>,
    pub body: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    pub env: Option<String>,
    pub encoding: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSignature {
    pub header: Option<String>,
    pub algorithm: Option<String>,
    pub encoding: Option<String>,
    pub prefix: Option<String>,
    pub prefix_required: Option<bool>,
    pub separator: Option<String>,
    pub fields: Option<RawFields>,
    pub signed: Option<String>,
    /// `algorithm: token` only: the token is in the body (in every item of a batch).
    pub source: Option<Pointer>,
    /// Entries behind this prefix are Ed25519 signatures checked with `key`
    /// (Standard Webhooks' `v1a,` beside its `v1,`).
    pub key_prefix: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawFields {
    pub separator: String,
    pub signature: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimestamp {
    pub source: Option<Source>,
    pub format: Option<String>,
    pub tolerance_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawId {
    pub source: Option<Source>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEvent {
    pub name: Option<Source>,
    pub join: Option<Source>,
    pub data: Option<Source>,
    pub user: Option<Source>,
    pub time: Option<Source>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEntry {
    pub name: Option<String>,
    /// Values are checked to be strings by `check`, with a clearer message than
    /// serde's (an unquoted `true` or `200` in YAML is not a string).
    pub when: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    pub subject: Option<Source>,
    pub topic: Option<String>,
    pub schema: Option<String>,
}

/// Where a value comes from: a JSON pointer into the body, a request header, or
/// a field of a `fields`-style signature header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Pointer(Pointer),
    Header(HeaderName),
    Field(String),
    /// A literal, for senders that do not name their events (Dropbox):
    /// `{value: notification}`. Allowed as `event.name` only (checked).
    Value(String),
}

impl Source {
    /// Whether the value is known before the body is trusted (it may be signed).
    pub fn is_outside_body(&self) -> bool {
        !matches!(self, Source::Pointer(_))
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Pointer(p) => write!(f, "{:?}", p.as_str()),
            Source::Header(h) => write!(f, "{{header: {}}}", h.as_str()),
            Source::Field(n) => write!(f, "{{field: {n}}}"),
            Source::Value(v) => write!(f, "{{value: {v:?}}}"),
        }
    }
}

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Source, D::Error> {
        struct SourceVisitor;
        impl<'de> Visitor<'de> for SourceVisitor {
            type Value = Source;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON pointer (\"/a/b\", or \"\" for the whole body), {header: Name}, {field: name} or {value: text}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Source, E> {
                Pointer::parse(v).map(Source::Pointer).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Source, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(
                        "expected {header: Name} or {field: name}",
                    ));
                };
                let value: String = map.next_value()?;
                let source = match key.as_str() {
                    "header" => {
                        Source::Header(HeaderName::parse(&value).map_err(de::Error::custom)?)
                    }
                    "field" if !value.is_empty() => Source::Field(value),
                    "field" => return Err(de::Error::custom("a field name is not empty")),
                    "value" if !value.is_empty() => Source::Value(value),
                    "value" => return Err(de::Error::custom("a literal value is not empty")),
                    other => {
                        return Err(de::Error::unknown_field(
                            other,
                            &["header", "field", "value"],
                        ))
                    }
                };
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(
                        "a source has exactly one key: header, field or value",
                    ));
                }
                Ok(source)
            }
        }
        d.deserialize_any(SourceVisitor)
    }
}

/// Printed back in the grammar it was written in (for `providers show`).
impl Serialize for Source {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Source::Pointer(p) => s.serialize_str(p.as_str()),
            Source::Header(h) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("header", h.as_str())?;
                m.end()
            }
            Source::Field(n) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("field", n)?;
                m.end()
            }
            Source::Value(v) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("value", v)?;
                m.end()
            }
        }
    }
}

/// An RFC 6901 JSON pointer, validated: empty (the whole document) or `/`-led
/// reference tokens in which `~` is only ever `~0` or `~1`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Pointer(String);

impl<'de> Deserialize<'de> for Pointer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Pointer, D::Error> {
        let text = String::deserialize(d)?;
        Pointer::parse(&text).map_err(de::Error::custom)
    }
}

/// Why a text is not a [`Pointer`]; the text is kept for the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    #[error("`{text}` is not a JSON pointer (it starts with `/`; \"\" is the whole body)")]
    NoLeadingSlash { text: String },
    #[error("`{text}`: `~` in a JSON pointer is `~0` (for ~) or `~1` (for /)")]
    BadEscape { text: String },
}

impl Pointer {
    pub fn parse(text: &str) -> Result<Pointer, PointerError> {
        if !text.is_empty() && !text.starts_with('/') {
            return Err(PointerError::NoLeadingSlash { text: text.into() });
        }
        for token in text.split('/').skip(1) {
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                    return Err(PointerError::BadEscape { text: text.into() });
                }
            }
        }
        Ok(Pointer(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The unescaped reference tokens, for walking a document.
    pub fn tokens(&self) -> impl Iterator<Item = String> + '_ {
        self.0
            .split('/')
            .skip(1)
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
    }
}

/// A request header name, lower-cased (headers match case-insensitively).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct HeaderName(String);

/// A text that is not a [`HeaderName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a valid HTTP header name")]
pub struct HeaderNameError {
    pub text: String,
}

impl HeaderName {
    pub fn parse(text: &str) -> Result<HeaderName, HeaderNameError> {
        http::HeaderName::from_bytes(text.as_bytes())
            .map(|h| HeaderName(h.as_str().to_owned()))
            .map_err(|_| HeaderNameError { text: text.into() })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A piece of the exact bytes a signature covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(Vec<u8>),
    Body,
    Timestamp,
    Id,
    /// The request's method, as sent (`POST`).
    Method,
    /// The definition's `url:` and the request's raw query string, byte for byte.
    Url,
    /// A request header's value, as sent.
    Header(HeaderName),
    /// A form body's fields, sorted (`engine::form::sorted`, Twilio's rule).
    FormSorted,
}

/// What a template's placeholders stand for in one request.
#[derive(Debug, Clone, Copy)]
pub struct Signed<'a> {
    pub body: &'a [u8],
    /// The exact bytes the sender put in its header or field.
    pub timestamp: &'a [u8],
    pub id: &'a [u8],
    pub method: &'a [u8],
    /// `url:` plus `?` and the raw query, when the request has one.
    pub url: &'a [u8],
    /// The values of the template's `{header:NAME}`s, by name.
    pub headers: &'a [(&'a str, &'a [u8])],
    /// A form body's fields as `{form_sorted}` signs them.
    pub form_sorted: &'a [u8],
}

/// The `signed` template: literal bytes and `{body}`, `{timestamp}`, `{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
}

/// Why a `signed` text is not a [`Template`]; the whole text is kept for the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("`{text}`: unbalanced `{{` or `}}`")]
    Unbalanced { text: String },
    #[error("`{text}`: unknown placeholder `{{{placeholder}}}` (expected {{body}}, {{timestamp}}, {{id}}, {{method}}, {{url}}, {{header:NAME}} or {{form_sorted}})")]
    UnknownPlaceholder { text: String, placeholder: String },
    #[error("`{text}`: {error}")]
    Header {
        text: String,
        error: HeaderNameError,
    },
    #[error("`{text}`: {{body}} (or {{form_sorted}}) must appear exactly once")]
    BodyNotOnce { text: String },
}

impl Template {
    /// `{` and `}` are only ever placeholders: a literal brace is refused rather
    /// than guessed at, and `{body}` must appear exactly once.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let Some(open) = rest.find(['{', '}']) else {
                parts.push(Part::Literal(rest.as_bytes().to_vec()));
                break;
            };
            if open > 0 {
                parts.push(Part::Literal(rest.as_bytes()[..open].to_vec()));
            }
            let after = &rest[open..];
            let close = after
                .find('}')
                .filter(|_| after.starts_with('{'))
                .ok_or_else(|| TemplateError::Unbalanced { text: text.into() })?;
            parts.push(match &after[1..close] {
                "body" => Part::Body,
                "timestamp" => Part::Timestamp,
                "id" => Part::Id,
                "method" => Part::Method,
                "form_sorted" => Part::FormSorted,
                "url" => Part::Url,
                other if other.starts_with("header:") => Part::Header(
                    HeaderName::parse(&other["header:".len()..]).map_err(|error| {
                        TemplateError::Header {
                            text: text.into(),
                            error,
                        }
                    })?,
                ),
                other => {
                    return Err(TemplateError::UnknownPlaceholder {
                        text: text.into(),
                        placeholder: other.into(),
                    })
                }
            });
            rest = &after[close + 1..];
        }
        let bodies = parts
            .iter()
            .filter(|p| matches!(p, Part::Body | Part::FormSorted))
            .count();
        if bodies != 1 {
            return Err(TemplateError::BodyNotOnce { text: text.into() });
        }
        Ok(Template { parts })
    }

    pub fn uses(&self, part: &Part) -> bool {
        self.parts.contains(part)
    }

    /// The headers the template signs, in order.
    pub fn header_names(&self) -> impl Iterator<Item = &HeaderName> {
        self.parts.iter().filter_map(|p| match p {
            Part::Header(name) => Some(name),
            _ => None,
        })
    }

    /// The signed bytes, piece by piece: the one rule that both verifying and
    /// `sign` follow (unused placeholders are never asked for).
    pub fn pieces<'a>(&'a self, signed: Signed<'a>) -> impl Iterator<Item = &'a [u8]> + Clone + 'a {
        self.parts.iter().map(move |part| match part {
            Part::Literal(bytes) => bytes.as_slice(),
            Part::Body => signed.body,
            Part::Timestamp => signed.timestamp,
            Part::Id => signed.id,
            Part::Method => signed.method,
            Part::Url => signed.url,
            Part::FormSorted => signed.form_sorted,
            Part::Header(name) => signed
                .headers
                .iter()
                .find(|(n, _)| *n == name.as_str())
                .map_or(&[][..], |(_, v)| *v),
        })
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Literal(b) => f.write_str(&String::from_utf8_lossy(b))?,
                Part::Body => f.write_str("{body}")?,
                Part::Timestamp => f.write_str("{timestamp}")?,
                Part::Id => f.write_str("{id}")?,
                Part::Method => f.write_str("{method}")?,
                Part::Url => f.write_str("{url}")?,
                Part::FormSorted => f.write_str("{form_sorted}")?,
                Part::Header(name) => write!(f, "{{header:{}}}", name.as_str())?,
            }
        }
        Ok(())
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_follow_rfc_6901() {
        assert!(Pointer::parse("").is_ok());
        assert!(Pointer::parse("/data/a~1b~0c").is_ok());
        let p = Pointer::parse("/a~1b/c~0d").unwrap();
        assert_eq!(p.tokens().collect::<Vec<_>>(), ["a/b", "c~d"]);
        assert!(Pointer::parse("data").is_err());
        assert!(Pointer::parse("/a~2").is_err());
        assert!(Pointer::parse("/a~").is_err());
        assert_eq!(
            Pointer::parse("data").unwrap_err().to_string(),
            "`data` is not a JSON pointer (it starts with `/`; \"\" is the whole body)"
        );
        assert_eq!(
            Pointer::parse("/a~2").unwrap_err(),
            PointerError::BadEscape {
                text: "/a~2".into()
            }
        );
        assert_eq!(
            PointerError::BadEscape {
                text: "/a~2".into()
            }
            .to_string(),
            "`/a~2`: `~` in a JSON pointer is `~0` (for ~) or `~1` (for /)"
        );
    }

    #[test]
    fn sources_are_a_pointer_a_header_or_a_field() {
        let parse = |y: &str| serde_yaml_ng::from_str::<Source>(y);
        assert_eq!(
            parse("/type").unwrap(),
            Source::Pointer(Pointer("/type".into()))
        );
        assert_eq!(parse("\"\"").unwrap(), Source::Pointer(Pointer("".into())));
        assert_eq!(
            parse("{header: X-GitHub-Event}").unwrap(),
            Source::Header(HeaderName("x-github-event".into()))
        );
        assert_eq!(parse("{field: t}").unwrap(), Source::Field("t".into()));
        assert!(parse("{query: t}").is_err());
        assert!(parse("{header: a, field: t}").is_err());
        assert!(parse("type").is_err());
    }

    #[test]
    fn templates_have_one_body_and_known_placeholders() {
        let t = Template::parse("{id}.{timestamp}.{body}").unwrap();
        assert_eq!(
            t.parts,
            [
                Part::Id,
                Part::Literal(b".".to_vec()),
                Part::Timestamp,
                Part::Literal(b".".to_vec()),
                Part::Body
            ]
        );
        assert_eq!(t.to_string(), "{id}.{timestamp}.{body}");
        assert!(Template::parse("{timestamp}").is_err());
        assert!(Template::parse("{body}{body}").is_err());
        assert!(Template::parse("{nonce}.{body}").is_err());
        assert!(Template::parse("{body").is_err());
        assert!(Template::parse("}{body}").is_err());
        let message = |text: &str| Template::parse(text).unwrap_err().to_string();
        assert_eq!(message("}{body}"), "`}{body}`: unbalanced `{` or `}`");
        assert_eq!(
            message("{nonce}.{body}"),
            "`{nonce}.{body}`: unknown placeholder `{nonce}` (expected {body}, {timestamp}, {id}, {method}, {url}, {header:NAME} or {form_sorted})"
        );
        // The request line and headers a sender may sign (HubSpot, Square).
        let t = Template::parse("{method}{url}{header:X-Date}\n{body}").unwrap();
        assert_eq!(
            t.parts,
            [
                Part::Method,
                Part::Url,
                Part::Header(HeaderName::parse("x-date").unwrap()),
                Part::Literal(b"\n".to_vec()),
                Part::Body
            ]
        );
        assert_eq!(t.to_string(), "{method}{url}{header:x-date}\n{body}");
        assert!(message("{header:a b}{body}").contains("not a valid HTTP header name"));
        assert_eq!(
            message("{body}{body}"),
            "`{body}{body}`: {body} (or {form_sorted}) must appear exactly once"
        );
        assert_eq!(
            HeaderName::parse("a b").unwrap_err().to_string(),
            "`a b` is not a valid HTTP header name"
        );
    }
}
