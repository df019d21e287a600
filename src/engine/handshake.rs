//! Answering a handshake (`definitions::handshake`), without IO: which
//! declared handshake a request is, and its reply. The pipeline verifies a
//! handshake that says so before asking for the reply; nothing here reaches
//! Kafka.
//!
//! A reply is built only from values that fit the handshake's `values`
//! (refused whole otherwise, never truncated), each escaped for the reply's
//! content type; an HMAC is computed with the secret that verified the
//! request, or the first for an unverified handshake.

use std::borrow::Cow;
use std::cell::OnceCell;

use base64::Engine;
use http::HeaderMap;
use serde_json::value::RawValue;

use crate::definitions::definition::Pointer;
use crate::definitions::handshake::{Escape, Handshake, Input, MacEncoding, Method, Part};
use crate::definitions::Definition;
use crate::engine::normalize::text_of;
use crate::engine::verify::{KeyRing, VerifyError};
use crate::engine::{batch, form};

/// A request as a handshake reads it: its line, headers and raw body.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub method: &'a str,
    /// The raw query string, without its `?`.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The request's parts, each read at most once and only when a handshake
/// asks: its decoded query, and its body as JSON (`None` when it is not).
struct Read<'a> {
    asked: Asked<'a>,
    query: OnceCell<Vec<(String, String)>>,
    body: OnceCell<Option<&'a RawValue>>,
}

impl<'a> Read<'a> {
    fn of(asked: Asked<'a>) -> Read<'a> {
        Read {
            asked,
            query: OnceCell::new(),
            body: OnceCell::new(),
        }
    }

    /// The one value at `input`; `None` when absent or given more than once
    /// (a second value is never silently preferred to the first).
    fn value(&self, input: &Input) -> Option<Cow<'_, str>> {
        match input {
            Input::Query(name) => self.query(name).map(Cow::Borrowed),
            Input::Header(name) => self.header(name.as_str()).map(Cow::Borrowed),
            Input::Body(pointer) => self.body(pointer),
        }
    }

    fn query(&self, name: &str) -> Option<&str> {
        let query = self.query.get_or_init(|| {
            let query = self.asked.query.unwrap_or("");
            form::fields(query.as_bytes()).unwrap_or_default()
        });
        one(query.iter().filter(|(n, _)| n == name)).map(|(_, v)| v.as_str())
    }

    fn header(&self, name: &str) -> Option<&str> {
        one(self.asked.headers.get_all(name).iter())?.to_str().ok()
    }

    /// The text a catalogue `when` compares, by the same rule.
    fn body(&self, pointer: &Pointer) -> Option<Cow<'_, str>> {
        let body = self
            .body
            .get_or_init(|| serde_json::from_slice(self.asked.body).ok());
        text_of(batch::value_at((*body)?, pointer)?.get())
    }

    /// Every condition of `h` holds: "" wants a query parameter or header
    /// present (once), any other text that value; a `when`, that text at
    /// its pointer.
    fn matches(&self, h: &Handshake) -> bool {
        let holds =
            |found: Option<&str>, want: &str| found.is_some_and(|v| want.is_empty() || v == want);
        h.query.iter().all(|(n, want)| holds(self.query(n), want))
            && h.header
                .iter()
                .all(|(n, want)| holds(self.header(n.as_str()), want))
            && h.when
                .iter()
                .all(|(p, want)| self.body(p).is_some_and(|v| v == *want))
    }
}

/// The one item `found` yields; `None` for none or several.
fn one<T>(mut found: impl Iterator<Item = T>) -> Option<T> {
    match (found.next(), found.next()) {
        (Some(value), None) => Some(value),
        _ => None,
    }
}

/// Whether `def` declares a handshake answered to `method` (a GET is served
/// only where one is).
pub fn declares(def: &Definition, method: http::Method) -> bool {
    def.handshakes
        .iter()
        .any(|h| h.method.as_str() == method.as_str())
}

/// A request that is one of its provider's handshakes, with what was read
/// of it to tell so (the reply reads the same, once).
pub struct Matched<'d, 'a> {
    pub handshake: &'d Handshake,
    read: Read<'a>,
}

/// The handshake `asked` is, if any: matched on the raw request, before
/// anything is trusted (the match chooses what to check, never the answer).
/// An unverified POST handshake carries no body (Graph's validation): one
/// with a body is an event to verify, never swallowed as a handshake. A
/// `when` is looked for only in a body holding every value it wants, so an
/// event is rarely parsed here (a sender writes its challenge's name unescaped).
pub fn matching<'d, 'a>(def: &'d Definition, asked: Asked<'a>) -> Option<Matched<'d, 'a>> {
    let read = Read::of(asked);
    let handshake = def.handshakes.iter().find(|h| {
        h.method.as_str() == asked.method
            && (h.verified || h.method == Method::Get || asked.body.is_empty())
            && h.when
                .iter()
                .all(|(_, want)| memchr::memmem::find(asked.body, want.as_bytes()).is_some())
            && read.matches(h)
    })?;
    Some(Matched { handshake, read })
}

/// Why a matched handshake is not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// Its signature, or its token, does not hold: 401 like any request.
    #[error(transparent)]
    Unauthorized(#[from] VerifyError),
    /// A value the reply needs is absent, repeated, or outside the
    /// handshake's `values`: 400, never a truncated or raw reflection.
    #[error("a handshake value is missing or outside what the handshake allows")]
    Value,
}

/// The reply to a handshake.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer<'h> {
    pub status: u16,
    pub content_type: Option<&'h str>,
    pub body: Vec<u8>,
}

/// The reply to `matched` (already verified when it says so, with secret
/// `key`): its token checked against the `handshake_secret`s, every value
/// checked, escaped and inserted.
pub fn answer<'h>(
    matched: &Matched<'h, '_>,
    keys: &KeyRing,
    key: usize,
) -> Result<Answer<'h>, Refusal> {
    let (h, read) = (matched.handshake, &matched.read);
    if let Some(token) = &h.token {
        let token = read.value(token).ok_or(VerifyError::Missing)?;
        if !keys.handshake_token_matches(token.as_bytes()) {
            return Err(VerifyError::Mismatch.into());
        }
    }
    // A value the reply inserts or signs: present once, within `values`.
    let allowed = |input: &Input| {
        read.value(input)
            .filter(|v| h.values.allow(v.as_bytes()))
            .ok_or(Refusal::Value)
    };
    let mut body = String::new();
    for part in &h.reply.body.parts {
        match part {
            Part::Literal(text) => body.push_str(text),
            Part::Value(input) => escape(h.reply.escape, &allowed(input)?, &mut body),
            Part::Hmac(encoding, input) => {
                let value = allowed(input)?;
                // The start-up checks allow an HMAC only with HMAC-SHA256 keys.
                let mac = keys
                    .hmac_sha256(key, value.as_bytes())
                    .ok_or(Refusal::Value)?;
                match encoding {
                    MacEncoding::Hex => body.push_str(&hex::encode(mac)),
                    MacEncoding::Base64 => {
                        body.push_str(&base64::engine::general_purpose::STANDARD.encode(mac))
                    }
                }
            }
        }
    }
    Ok(Answer {
        status: h.reply.status,
        content_type: h.reply.content_type.as_deref(),
        body: body.into_bytes(),
    })
}

/// `value` written into `out` so the content type reads it as text only.
fn escape(how: Escape, value: &str, out: &mut String) {
    for c in value.chars() {
        match (how, c) {
            (Escape::Json, '"') => out.push_str("\\\""),
            (Escape::Json, '\\') => out.push_str("\\\\"),
            (Escape::Json, c) if c < ' ' || matches!(c, '<' | '>' | '&' | '\'') => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            (Escape::Markup, '&') => out.push_str("&amp;"),
            (Escape::Markup, '<') => out.push_str("&lt;"),
            (Escape::Markup, '>') => out.push_str("&gt;"),
            (Escape::Markup, '"') => out.push_str("&quot;"),
            (Escape::Markup, '\'') => out.push_str("&#39;"),
            (_, c) => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_for_the_replys_content_type() {
        let hostile = r#"<script>"a"&'b'\</script>"#;
        let mut json = String::new();
        escape(Escape::Json, hostile, &mut json);
        assert_eq!(
            json,
            r#"\u003cscript\u003e\"a\"\u0026\u0027b\u0027\\\u003c/script\u003e"#
        );
        let parsed: String = serde_json::from_str(&format!("\"{json}\"")).unwrap();
        assert_eq!(parsed, hostile);
        let mut markup = String::new();
        escape(Escape::Markup, hostile, &mut markup);
        assert_eq!(
            markup,
            "&lt;script&gt;&quot;a&quot;&amp;&#39;b&#39;\\&lt;/script&gt;"
        );
    }
}
