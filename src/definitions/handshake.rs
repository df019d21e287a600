//! Handshakes (`handshakes:`, `handshake_secret:`): requests that are not
//! events, a sender's challenge before and between deliveries, answered
//! without the broker and never published. Here: their checked form and the
//! start-up rules; answering one is `engine::handshake`'s.
//!
//! The rules keep a handshake from becoming a reflection point or a signing
//! oracle: every value a reply inserts fits a declared charset and length,
//! is escaped for the reply's content type, and an unverified handshake may
//! compute an HMAC only over values that cannot form an event body.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Serialize, Serializer};

use super::check::{choice, problem, required, Problem};
use super::compiled::{Accepted, Algorithm, Body, Entry, Event, Secret, SecretEncoding};
use super::definition::{HeaderName, Pointer, RawHandshake, RawSecret, Source};
use super::names::check_secret_env;
use super::serving;

/// One declared handshake, checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Handshake {
    /// Its label in metrics and logs.
    pub name: String,
    pub method: Method,
    /// Body pointers whose value's text must equal these strings.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "pairs")]
    pub when: Vec<(Pointer, String)>,
    /// Query parameters, decoded: present ("") or equal to the string.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "pairs")]
    pub query: Vec<(String, String)>,
    /// Headers: present ("") or equal to the string.
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "pairs")]
    pub header: Vec<(HeaderName, String)>,
    /// The provider's signature is checked first.
    pub verified: bool,
    /// A value that must equal one of the provider's `handshake_secret`s.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<Input>,
    pub values: Values,
    pub reply: Reply,
}

impl Handshake {
    /// Whether it computes an HMAC over values nobody has proven: a
    /// signing oracle for whatever those values can spell, so verification
    /// refuses signed bytes it could have produced.
    pub fn signs_unverified(&self) -> bool {
        !self.verified && self.reply.body.uses_hmac()
    }
}

/// A request that performs a handshake, as `sign --handshake` and `--dev`
/// print it: every condition met, every value the reply reads set to a
/// sample that fits its `values`, the token set to `token`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub method: Method,
    /// Encoded, without its `?`; empty for none.
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Handshake {
    pub fn example(&self, token: &str) -> Example {
        let sample = self.values.sample();
        let value = |want: &str| match want {
            "" => sample.clone(),
            given => given.to_owned(),
        };
        let mut query: Vec<(String, String)> = self
            .query
            .iter()
            .map(|(n, v)| (n.clone(), value(v)))
            .collect();
        let mut headers: Vec<(String, String)> = self
            .header
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), value(v)))
            .collect();
        match &self.token {
            Some(Input::Query(name)) => query.push((name.clone(), token.to_owned())),
            Some(Input::Header(name)) => headers.push((name.as_str().to_owned(), token.to_owned())),
            Some(Input::Body(_)) | None => {}
        }
        let mut body = serde_json::Value::Null;
        for (pointer, want) in &self.when {
            // A number's text is matched as the number a sender sends.
            let v = match want.parse::<i64>() {
                Ok(n) if n.to_string() == *want => serde_json::Value::from(n),
                _ => serde_json::Value::from(want.as_str()),
            };
            set(&mut body, pointer, v);
        }
        for input in self.reply.body.inputs() {
            if let Input::Body(pointer) = input {
                set(&mut body, pointer, serde_json::Value::from(sample.as_str()));
            }
        }
        let encode = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        Example {
            method: self.method,
            query: query
                .iter()
                .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
                .collect::<Vec<_>>()
                .join("&"),
            headers,
            body: match body {
                serde_json::Value::Null => Vec::new(),
                body => serde_json::to_vec(&body).expect("a JSON value serializes"),
            },
        }
    }
}

/// `value` at `pointer` in `doc`, making the objects on the way.
fn set(doc: &mut serde_json::Value, pointer: &Pointer, value: serde_json::Value) {
    let mut at = doc;
    for token in pointer.tokens() {
        if !at.is_object() {
            *at = serde_json::Value::Object(Default::default());
        }
        at = at
            .as_object_mut()
            .expect("made an object")
            .entry(token)
            .or_insert(serde_json::Value::Null);
    }
    *at = value;
}

fn pairs<S: Serializer, K: AsRef<str>>(pairs: &[(K, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (k.as_ref(), v)))
}

impl AsRef<str> for Pointer {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for HeaderName {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Post,
    Get,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Get => "GET",
        }
    }
}

/// Where a value of the request is read: a query parameter (decoded), a
/// header, or a pointer into the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Query(String),
    Header(HeaderName),
    Body(Pointer),
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Query(name) => write!(f, "query:{name}"),
            Input::Header(name) => write!(f, "header:{}", name.as_str()),
            Input::Body(pointer) => write!(f, "body:{}", pointer.as_str()),
        }
    }
}

impl Serialize for Input {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        match self {
            Input::Query(name) => m.serialize_entry("query", name)?,
            Input::Header(name) => m.serialize_entry("header", name.as_str())?,
            Input::Body(pointer) => m.serialize_entry("body", pointer.as_str())?,
        }
        m.end()
    }
}

/// What an inserted value (or one an HMAC is computed over) may hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Values {
    pub charset: Charset,
    pub max_len: usize,
}

impl Values {
    /// Whether `value` is one this handshake takes: not empty, within
    /// `max_len`, every byte in the charset.
    pub fn allow(&self, value: &[u8]) -> bool {
        !value.is_empty() && value.len() <= self.max_len && self.charset.contains_all(value)
    }

    /// A value these allow, for an example request: a word of their
    /// charset (`devChallenge123` where it allows letters and digits).
    pub fn sample(&self) -> String {
        let word: String = "devChallenge123"
            .bytes()
            .filter(|&b| self.charset.contains(b))
            .map(char::from)
            .collect();
        let word = match word.is_empty() {
            false => word,
            true => {
                let first = (0x21..0x7f)
                    .find(|&b| self.charset.contains(b))
                    .unwrap_or(b' ');
                char::from(first).to_string().repeat(8)
            }
        };
        word.chars().take(self.max_len).collect()
    }

    /// [`Values::allow`] for a value in pieces (the bytes a signature covers).
    pub fn allow_all<'a>(&self, pieces: impl Iterator<Item = &'a [u8]> + Clone) -> bool {
        let len: usize = pieces.clone().map(<[u8]>::len).sum();
        len > 0 && len <= self.max_len && pieces.into_iter().all(|p| self.charset.contains_all(p))
    }
}

/// A set of printable ASCII characters, written as characters and ranges
/// (`A-Za-z0-9_-`; a `-` first or last is itself).
#[derive(Clone, PartialEq, Eq)]
pub struct Charset {
    text: String,
    allowed: [bool; 128],
}

impl fmt::Debug for Charset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Charset({:?})", self.text)
    }
}

impl Serialize for Charset {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl Charset {
    pub fn parse(text: &str) -> Result<Charset, String> {
        let bytes = text.as_bytes();
        if bytes.is_empty() {
            return Err("an empty charset allows nothing".into());
        }
        if let Some(c) = bytes.iter().find(|b| !(0x20..=0x7e).contains(*b)) {
            return Err(format!(
                "printable ASCII only (found byte {c:#04x}): a control character or a non-ASCII byte is never a safe challenge"
            ));
        }
        let mut allowed = [false; 128];
        let mut i = 0;
        while i < bytes.len() {
            // `a-z` is a range; a `-` with nothing on one side is itself.
            let (from, to, width) = match bytes.get(i + 1..i + 3) {
                Some([b'-', to]) => (bytes[i], *to, 3),
                _ => (bytes[i], bytes[i], 1),
            };
            if from > to {
                return Err(format!(
                    "`{}-{}` is a range backwards",
                    from as char, to as char
                ));
            }
            for b in from..=to {
                allowed[b as usize] = true;
            }
            i += width;
        }
        Ok(Charset {
            text: text.to_owned(),
            allowed,
        })
    }

    pub fn contains(&self, byte: u8) -> bool {
        self.allowed.get(byte as usize).copied().unwrap_or(false)
    }

    pub fn contains_all(&self, bytes: &[u8]) -> bool {
        bytes.iter().all(|&b| self.contains(b))
    }
}

/// The answer to a handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub status: u16,
    /// `None` only with an empty body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    pub body: Template,
    /// How inserted values are escaped: decided by the content type.
    #[serde(skip)]
    pub escape: Escape,
}

/// How a value is escaped for the reply's content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// `text/plain`: nothing to escape; the reply carries `nosniff`, so no
    /// browser reads it as anything else.
    None,
    /// JSON: inside a string, with `<`, `>` and `&` escaped too.
    Json,
    /// HTML and XML: the five entities.
    Markup,
}

/// A reply body: literal text and the values of the request it inserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    /// The value, escaped for the content type.
    Value(Input),
    /// HMAC-SHA256 of the value under the provider's secret.
    Hmac(MacEncoding, Input),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacEncoding {
    Hex,
    Base64,
}

impl Template {
    /// A `{` starts a placeholder only when `query:`, `header:`, `body:`,
    /// `hmac_hex ` or `hmac_base64 ` follows it: a JSON reply's own braces
    /// are literal.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let placeholder = ["query:", "header:", "body:", "hmac_hex ", "hmac_base64 "]
                .iter()
                .any(|p| after.starts_with(p));
            if !placeholder {
                literal.push_str(&rest[..=open]);
                rest = after;
                continue;
            }
            literal.push_str(&rest[..open]);
            let close = after
                .find('}')
                .ok_or_else(|| format!("`{{{after}`: a placeholder without its `}}`"))?;
            let inner = &after[..close];
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(if let Some(source) = inner.strip_prefix("hmac_hex ") {
                Part::Hmac(MacEncoding::Hex, input(source)?)
            } else if let Some(source) = inner.strip_prefix("hmac_base64 ") {
                Part::Hmac(MacEncoding::Base64, input(source)?)
            } else {
                Part::Value(input(inner)?)
            });
            rest = &after[close + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template { parts })
    }

    /// Every value the template reads, plain or through an HMAC.
    pub fn inputs(&self) -> impl Iterator<Item = &Input> {
        self.parts.iter().filter_map(|p| match p {
            Part::Value(input) | Part::Hmac(_, input) => Some(input),
            Part::Literal(_) => None,
        })
    }

    pub fn uses_hmac(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::Hmac(..)))
    }
}

/// `query:NAME`, `header:NAME` or `body:/pointer`.
fn input(text: &str) -> Result<Input, String> {
    if let Some(name) = text.strip_prefix("query:") {
        if name.is_empty() {
            return Err("`{query:}` names no parameter".into());
        }
        return Ok(Input::Query(name.to_owned()));
    }
    if let Some(name) = text.strip_prefix("header:") {
        return HeaderName::parse(name)
            .map(Input::Header)
            .map_err(|e| e.to_string());
    }
    if let Some(pointer) = text.strip_prefix("body:") {
        return Pointer::parse(pointer)
            .map(Input::Body)
            .map_err(|e| e.to_string());
    }
    Err(format!(
        "`{text}`: expected query:NAME, header:NAME or body:/pointer"
    ))
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Literal(text) => f.write_str(text)?,
                Part::Value(input) => write!(f, "{{{input}}}")?,
                Part::Hmac(MacEncoding::Hex, input) => write!(f, "{{hmac_hex {input}}}")?,
                Part::Hmac(MacEncoding::Base64, input) => write!(f, "{{hmac_base64 {input}}}")?,
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

/// The values a handshake inserts unless it says otherwise: what every
/// preset's sender sends as a challenge but Microsoft Graph.
const DEFAULT_CHARSET: &str = "A-Za-z0-9_-";
const DEFAULT_MAX_LEN: usize = 128;
/// The longest value any handshake may take: a challenge, not a document.
const MAX_VALUE_LEN: usize = 1024;
/// Characters that build an event body (a JSON object, array or string, a
/// form's `=` and `&`, XML's `<`): an unverified handshake computing an HMAC
/// over a value holding one could sign a forged event.
const BODY_FORMING: &[u8] = b"{[\"<=&";

/// What a definition's handshake keys compile to.
pub(super) struct Compiled {
    pub handshakes: Vec<Handshake>,
    pub handshake_secret: Option<Secret>,
}

/// The parts of the definition the handshakes are checked against.
pub(super) struct Around<'a> {
    pub algorithm: Algorithm,
    pub secret_env: &'a str,
    pub body: Body,
    pub event: &'a Event,
    pub events: &'a [Entry],
}

pub(super) fn compile(
    raw: Option<Vec<RawHandshake>>,
    raw_secret: Option<RawSecret>,
    around: Around<'_>,
) -> Result<Compiled, Problem> {
    let mut handshakes: Vec<Handshake> = Vec::new();
    for (i, raw) in raw.unwrap_or_default().into_iter().enumerate() {
        let handshake = one(i, raw, &around)?;
        let key = |k: &str| format!("handshakes[{i}].{k}");
        if let Some(j) = handshakes.iter().position(|o| o.name == handshake.name) {
            return Err(problem(
                key("name"),
                format!("also the name of handshakes[{j}]"),
            ));
        }
        if let Some(j) = handshakes
            .iter()
            .position(|o| may_both_match(o, &handshake))
        {
            return Err(problem(
                format!("handshakes[{i}]"),
                format!("handshakes[{j}] can match the same request (same method, and no condition on which they differ)"),
            ));
        }
        if let Some(j) = around
            .events
            .iter()
            .position(|e| may_match_event(&handshake, around.event, e))
        {
            return Err(problem(
                format!("handshakes[{i}]"),
                format!("can match events[{j}] (no condition of both on which they differ): that event would be answered as a handshake and never published"),
            ));
        }
        handshakes.push(handshake);
    }
    let wants_token = handshakes.iter().position(|h| h.token.is_some());
    let handshake_secret = match (raw_secret, wants_token) {
        (None, Some(i)) => {
            return Err(problem(
                format!("handshakes[{i}].token"),
                "needs handshake_secret (what the token must equal)",
            ))
        }
        (Some(_), None) => {
            return Err(problem(
                "handshake_secret",
                "no handshake has a token to check against it",
            ))
        }
        (None, None) => None,
        (Some(raw), Some(_)) => {
            let env = required(raw.env, "handshake_secret.env")?;
            check_secret_env(&env).map_err(|r| problem("handshake_secret.env", r))?;
            if env == around.secret_env {
                return Err(problem(
                    "handshake_secret.env",
                    "is the provider's secret variable: a token sent in a URL must not be the key that signs",
                ));
            }
            if raw.encoding.is_some_and(|e| e != "text") {
                return Err(problem(
                    "handshake_secret.encoding",
                    "text only: the token is compared as the sender sends it",
                ));
            }
            Some(Secret {
                env,
                encoding: SecretEncoding::Text,
                public: false,
            })
        }
    };
    Ok(Compiled {
        handshakes,
        handshake_secret,
    })
}

fn one(i: usize, raw: RawHandshake, around: &Around<'_>) -> Result<Handshake, Problem> {
    let key = |k: &str| format!("handshakes[{i}].{k}");
    let name = required(raw.name, &key("name"))?;
    let label_ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !label_ok {
        return Err(problem(
            key("name"),
            "1 to 64 letters, digits, `_`, `.` or `-` (a metrics label)",
        ));
    }
    let method = choice(
        raw.method.as_deref(),
        &key("method"),
        Method::Post,
        &[("POST", Method::Post), ("GET", Method::Get)],
    )?;
    let when = strings(raw.when, &key("when"))?
        .into_iter()
        .map(|(p, v)| {
            Pointer::parse(&p)
                .map(|p| (p, v))
                .map_err(|r| problem(key("when"), r))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if method == Method::Get && !when.is_empty() {
        return Err(problem(key("when"), "a GET has no body to match"));
    }
    let query = strings(raw.query, &key("query"))?;
    if query.iter().any(|(n, _)| n.is_empty()) {
        return Err(problem(key("query"), "a parameter name is not empty"));
    }
    let header = strings(raw.header, &key("header"))?
        .into_iter()
        .map(|(n, v)| {
            HeaderName::parse(&n)
                .map(|n| (n, v))
                .map_err(|r| problem(key("header"), r))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if when.is_empty() && query.is_empty() && header.is_empty() {
        return Err(problem(
            format!("handshakes[{i}]"),
            "needs a condition (when, query or header): without one it would answer every request",
        ));
    }
    let verified = raw.verified.unwrap_or(method == Method::Post);
    let token = match raw.token {
        None => None,
        Some(map) => {
            let mut entries = map.into_iter();
            let (kind, name) = match (entries.next(), entries.next()) {
                (Some(one), None) => one,
                _ => {
                    return Err(problem(
                        key("token"),
                        "exactly one of {query: NAME} or {header: NAME}",
                    ))
                }
            };
            Some(match kind.as_str() {
                "query" if !name.is_empty() => Input::Query(name),
                "header" => {
                    Input::Header(HeaderName::parse(&name).map_err(|r| problem(key("token"), r))?)
                }
                _ => {
                    return Err(problem(
                        key("token"),
                        "exactly one of {query: NAME} or {header: NAME}",
                    ))
                }
            })
        }
    };
    let values = match raw.values {
        None => Values {
            charset: Charset::parse(DEFAULT_CHARSET).expect("the default parses"),
            max_len: DEFAULT_MAX_LEN,
        },
        Some(v) => {
            let charset = Charset::parse(v.charset.as_deref().unwrap_or(DEFAULT_CHARSET))
                .map_err(|r| problem(key("values.charset"), r))?;
            let max_len = v.max_len.unwrap_or(DEFAULT_MAX_LEN);
            if !(1..=MAX_VALUE_LEN).contains(&max_len) {
                return Err(problem(
                    key("values.max_len"),
                    format!("expected 1 to {MAX_VALUE_LEN}, got {max_len}"),
                ));
            }
            Values { charset, max_len }
        }
    };
    let reply = reply(i, raw.reply.unwrap_or_default())?;
    for input in reply.body.inputs() {
        let provided = match input {
            Input::Query(n) => query.iter().any(|(q, _)| q == n),
            Input::Header(h) => header.iter().any(|(k, _)| k == h),
            Input::Body(_) => method == Method::Post,
        };
        if !provided {
            return Err(problem(
                key("reply.body"),
                format!("`{{{input}}}` is not a source the match provides: name it in this handshake's {} (\"\" for present)", match input {
                    Input::Query(_) => "query",
                    Input::Header(_) => "header",
                    Input::Body(_) => "method: a GET has no body",
                }),
            ));
        }
    }
    let reads_body = !when.is_empty() || reply.body.inputs().any(|i| matches!(i, Input::Body(_)));
    if reads_body && method == Method::Post && !verified {
        return Err(problem(
            format!("handshakes[{i}]"),
            "an unverified POST handshake carries no body (Graph's validation): one with a body is an event, verified as any; drop its `when` and `{body:..}`, or verify it",
        ));
    }
    if reads_body && around.body != Body::Json {
        return Err(problem(
            format!("handshakes[{i}]"),
            "`when` and `{body:..}` read a JSON body: the provider has another `body:`",
        ));
    }
    if reply.body.uses_hmac() {
        if around.algorithm != Algorithm::Sha256 {
            return Err(problem(
                key("reply.body"),
                "hmac_hex and hmac_base64 need the provider's HMAC-SHA256 secret (signature.algorithm: sha256)",
            ));
        }
        if !verified {
            if let Some(&c) = BODY_FORMING.iter().find(|&&c| values.charset.contains(c)) {
                return Err(problem(
                    key("values.charset"),
                    format!(
                        "allows `{}`: an unverified handshake that computes an HMAC must not sign a value that can form an event body (none of {})",
                        c as char,
                        String::from_utf8_lossy(BODY_FORMING)
                    ),
                ));
            }
            if around.body == Body::Any {
                return Err(problem(
                    key("verified"),
                    "an unverified handshake cannot compute an HMAC for a provider with body: any (every value is an event body)",
                ));
            }
        }
    }
    Ok(Handshake {
        name,
        method,
        when,
        query,
        header,
        verified,
        token,
        values,
        reply,
    })
}

fn reply(i: usize, raw: super::definition::RawAccepted) -> Result<Reply, Problem> {
    let at = format!("handshakes[{i}].reply");
    let key = |k: &str| format!("{at}.{k}");
    let Accepted {
        status,
        content_type,
        body: text,
    } = serving::answer(raw, &at)?;
    let body = Template::parse(&text).map_err(|r| problem(key("body"), r))?;
    let escape = match &content_type {
        None => Escape::None,
        Some(t) => escape_for(t).ok_or_else(|| {
            problem(
                key("content_type"),
                "text/plain, application/json (or +json), text/html, or XML: the types whose values the gateway knows how to escape",
            )
        })?,
    };
    if escape == Escape::Json {
        // Every placeholder sits inside a JSON string: with each replaced by
        // a plain word the reply must be a JSON document.
        let sample: String = body
            .parts
            .iter()
            .map(|p| match p {
                Part::Literal(text) => text.as_str(),
                _ => "x",
            })
            .collect();
        if serde_json::from_str::<serde_json::Value>(&sample).is_err() {
            return Err(problem(
                key("body"),
                "not a JSON document with every placeholder inside a string",
            ));
        }
    }
    Ok(Reply {
        status,
        content_type,
        body,
        escape,
    })
}

fn escape_for(content_type: &str) -> Option<Escape> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "text/plain" => Some(Escape::None),
        "application/json" => Some(Escape::Json),
        t if t.ends_with("+json") => Some(Escape::Json),
        "text/html" | "text/xml" | "application/xml" => Some(Escape::Markup),
        t if t.ends_with("+xml") => Some(Escape::Markup),
        _ => None,
    }
}

/// A map of names to strings, refusing any other YAML value with a clearer
/// message than serde's (an unquoted `0` or `true` is not a string).
fn strings(
    map: Option<BTreeMap<String, serde_yaml_ng::Value>>,
    key: &str,
) -> Result<Vec<(String, String)>, Problem> {
    let mut out = Vec::new();
    for (name, value) in map.unwrap_or_default() {
        let serde_yaml_ng::Value::String(text) = value else {
            return Err(problem(
                format!("{key}.{name}"),
                "not a string (quote it: the value's text is compared)",
            ));
        };
        out.push((name, text));
    }
    Ok(out)
}

/// One condition of a match: where it reads, and the text it wants ("" for
/// a query parameter or header: present).
#[derive(PartialEq, Eq)]
enum Slot<'a> {
    Body(&'a str),
    Query(&'a str),
    Header(&'a str),
}

fn conditions(h: &Handshake) -> Vec<(Slot<'_>, &str)> {
    let body = h
        .when
        .iter()
        .map(|(p, v)| (Slot::Body(p.as_str()), v.as_str()));
    let query = h.query.iter().map(|(n, v)| (Slot::Query(n), v.as_str()));
    let header = h
        .header
        .iter()
        .map(|(n, v)| (Slot::Header(n.as_str()), v.as_str()));
    body.chain(query).chain(header).collect()
}

/// Whether two sets of conditions contradict each other on a slot both read;
/// also how many slots they share.
fn contradict(a: &[(Slot<'_>, &str)], b: &[(Slot<'_>, &str)]) -> (bool, usize) {
    let mut shared = 0;
    for (slot, want) in a {
        for (other, theirs) in b {
            if slot != other {
                continue;
            }
            shared += 1;
            let presence = !matches!(slot, Slot::Body(_)) && (want.is_empty() || theirs.is_empty());
            if !presence && want != theirs {
                return (true, shared);
            }
        }
    }
    (false, shared)
}

/// Two handshakes of one method are apart only where a condition of both
/// wants different values.
fn may_both_match(a: &Handshake, b: &Handshake) -> bool {
    a.method == b.method && !contradict(&conditions(a), &conditions(b)).0
}

/// A POST handshake and a catalogue event can be the same request when they
/// read a field in common (the event's name or a `when` pointer) and no
/// field they both read tells them apart. Handshakes are matched first, so
/// such an event would be answered and never published.
fn may_match_event(h: &Handshake, event: &Event, entry: &Entry) -> bool {
    if h.method != Method::Post {
        return false;
    }
    let mut theirs: Vec<(Slot<'_>, &str)> = entry
        .when
        .iter()
        .map(|(p, v)| (Slot::Body(p.as_str()), v.as_str()))
        .collect();
    if event.join.is_none() {
        match &event.name {
            Source::Pointer(p) => theirs.push((Slot::Body(p.as_str()), &entry.name)),
            Source::Header(n) => theirs.push((Slot::Header(n.as_str()), &entry.name)),
            Source::Field(_) | Source::Value(_) => {}
        }
    }
    let (contradicted, shared) = contradict(&conditions(h), &theirs);
    shared > 0 && !contradicted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_charset_is_characters_and_ranges() {
        let c = Charset::parse("A-Za-z0-9_=-").unwrap();
        for b in b"AZaz09_=-" {
            assert!(c.contains(*b), "{}", *b as char);
        }
        for b in b"{}<>\"' :/+" {
            assert!(!c.contains(*b), "{}", *b as char);
        }
        let c = Charset::parse("-a").unwrap();
        assert!(c.contains(b'-') && c.contains(b'a') && !c.contains(b'b'));
        let c = Charset::parse("A-Za-z0-9 :.-").unwrap();
        assert!(c.contains(b' ') && c.contains(b':') && c.contains(b'-'));
        assert!(Charset::parse("z-a").is_err());
        assert!(Charset::parse("").is_err());
        assert!(Charset::parse("a\tb").is_err());
        assert!(Charset::parse("é").is_err());
    }

    #[test]
    fn a_reply_template_keeps_a_json_replys_own_braces() {
        let t = Template::parse(
            r#"{"plainToken":"{body:/payload/plainToken}","encryptedToken":"{hmac_hex body:/payload/plainToken}"}"#,
        )
        .unwrap();
        let pointer = Pointer::parse("/payload/plainToken").unwrap();
        assert_eq!(
            t.parts,
            [
                Part::Literal(r#"{"plainToken":""#.into()),
                Part::Value(Input::Body(pointer.clone())),
                Part::Literal(r#"","encryptedToken":""#.into()),
                Part::Hmac(MacEncoding::Hex, Input::Body(pointer)),
                Part::Literal(r#""}"#.into()),
            ]
        );
        assert_eq!(
            t.to_string(),
            r#"{"plainToken":"{body:/payload/plainToken}","encryptedToken":"{hmac_hex body:/payload/plainToken}"}"#
        );
        let t = Template::parse("{query:hub.challenge}").unwrap();
        assert_eq!(t.parts, [Part::Value(Input::Query("hub.challenge".into()))]);
        assert!(Template::parse("{query:a").is_err());
        assert!(Template::parse("{hmac_hex cookie:a}").is_err());
        assert!(Template::parse("{body:nopointer}").is_err());
    }
}
