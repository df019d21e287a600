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

use base64::Engine;
use http::HeaderMap;

use crate::definitions::definition::Pointer;
use crate::definitions::handshake::{Escape, Handshake, Input, MacEncoding, Part};
use crate::definitions::Definition;
use crate::engine::form;
use crate::engine::normalize::text_of;
use crate::engine::verify::{KeyRing, VerifyError};

/// A request as a handshake reads it: its line, headers and raw body.
#[derive(Debug, Clone, Copy)]
pub struct Asked<'a> {
    pub method: &'a str,
    /// The raw query string, without its `?`.
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// The request's parts read once: its decoded query and its body as JSON
/// (`None` when it is not).
struct Read<'a> {
    asked: Asked<'a>,
    query: Vec<(String, String)>,
    body: Option<serde_json::Value>,
}

impl<'a> Read<'a> {
    fn of(asked: Asked<'a>, wants_body: bool) -> Read<'a> {
        let query = asked
            .query
            .and_then(|q| form::fields(q.as_bytes()).ok())
            .unwrap_or_default();
        let body = wants_body
            .then(|| serde_json::from_slice(asked.body).ok())
            .flatten();
        Read { asked, query, body }
    }

    /// The one value at `input`; `None` when absent or given more than once
    /// (a second value is never silently preferred to the first).
    fn value(&self, input: &Input) -> Option<Cow<'_, str>> {
        match input {
            Input::Query(name) => {
                let mut found = self.query.iter().filter(|(n, _)| n == name);
                match (found.next(), found.next()) {
                    (Some((_, v)), None) => Some(Cow::Borrowed(v.as_str())),
                    _ => None,
                }
            }
            Input::Header(name) => {
                let mut found = self.asked.headers.get_all(name.as_str()).iter();
                match (found.next(), found.next()) {
                    (Some(v), None) => v.to_str().ok().map(Cow::Borrowed),
                    _ => None,
                }
            }
            Input::Body(pointer) => self.body_text(pointer).map(Cow::Owned),
        }
    }

    /// The text a catalogue `when` compares: a string's content, a number's
    /// or boolean's JSON text.
    fn body_text(&self, pointer: &Pointer) -> Option<String> {
        let value = self.body.as_ref()?.pointer(pointer.as_str())?;
        let json = serde_json::to_string(value).ok()?;
        text_of(&json).map(Cow::into_owned)
    }

    fn matches(&self, h: &Handshake) -> bool {
        let present_or = |found: Option<Cow<'_, str>>, want: &str| {
            found.is_some_and(|v| want.is_empty() || v == want)
        };
        h.method.as_str() == self.asked.method
            && h.query.iter().all(|(name, want)| {
                let found = self.query.iter().find(|(n, _)| n == name);
                found.is_some_and(|(_, v)| want.is_empty() || v == want)
            })
            && h.header.iter().all(|(name, want)| {
                let found = self.asked.headers.get(name.as_str());
                present_or(found.and_then(|v| v.to_str().ok()).map(Cow::Borrowed), want)
            })
            && h.when
                .iter()
                .all(|(pointer, want)| self.body_text(pointer).is_some_and(|v| v == *want))
    }
}

/// Whether `def` declares a handshake answered to `method` (a GET is served
/// only where one is).
pub fn declares(def: &Definition, method: http::Method) -> bool {
    def.handshakes
        .iter()
        .any(|h| h.method.as_str() == method.as_str())
}

/// The handshake `asked` is, if any: matched on the raw request, before
/// anything is trusted (the match chooses what to check, never the answer).
pub fn matching<'d>(def: &'d Definition, asked: Asked<'_>) -> Option<&'d Handshake> {
    if def.handshakes.is_empty() {
        return None;
    }
    // Most requests to a provider with a handshake told by its body are
    // events: the body is parsed only when every value a `when` wants occurs
    // in it (a sender writes its challenge's name unescaped).
    let wants_body = def.handshakes.iter().any(|h| {
        !h.when.is_empty()
            && h.when
                .iter()
                .all(|(_, want)| memchr::memmem::find(asked.body, want.as_bytes()).is_some())
    });
    let read = Read::of(asked, wants_body);
    def.handshakes.iter().find(|h| read.matches(h))
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

/// The reply to `h` for `asked` (already verified when `h` says so, with
/// secret `key`): its token checked against the `handshake_secret`s, every
/// value checked, escaped and inserted.
pub fn answer<'h>(
    h: &'h Handshake,
    keys: &KeyRing,
    key: usize,
    asked: Asked<'_>,
) -> Result<Answer<'h>, Refusal> {
    let wants_body = h.reply.body.inputs().any(|i| matches!(i, Input::Body(_)));
    let read = Read::of(asked, wants_body);
    if let Some(token) = &h.token {
        let token = read.value(token).ok_or(VerifyError::Missing)?;
        if !keys.handshake_token_matches(token.as_bytes()) {
            return Err(VerifyError::Mismatch.into());
        }
    }
    let mut body = String::new();
    for part in &h.reply.body.parts {
        match part {
            Part::Literal(text) => body.push_str(text),
            Part::Value(input) => {
                let value = read.value(input).ok_or(Refusal::Value)?;
                if !h.values.allow(value.as_bytes()) {
                    return Err(Refusal::Value);
                }
                escape(h.reply.escape, &value, &mut body);
            }
            Part::Hmac(encoding, input) => {
                let value = read.value(input).ok_or(Refusal::Value)?;
                if !h.values.allow(value.as_bytes()) {
                    return Err(Refusal::Value);
                }
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
