//! Signature verification: the only way to obtain a [`Verified`] body.
//!
//! A definition's `signature` says which header carries the MAC (one, several
//! behind a separator, or `t=..,v1=..` fields), how it is encoded and which
//! bytes it covers; its `timestamp` bounds replays. Verification reads headers
//! and raw bytes only: nothing in the body is trusted until the MAC matches.
//!
//! - `keys`: a provider's secrets as keyed MAC states ([`KeyRing`])
//! - `timestamp`: signed timestamps in a definition's formats

mod keys;
mod timestamp;

use std::time::{Duration, SystemTime};

use base64::Engine;
use http::HeaderMap;

use crate::definitions::compiled::{Algorithm, Definition, SignatureEncoding, Timestamp};
use crate::definitions::definition::{Part, Signed, Source};
use crate::engine::form;

pub use keys::{KeyRing, KeyRingError};
pub use timestamp::parse_timestamp;

/// A value that has passed signature verification. Only [`verify`] builds one,
/// so code that takes a `Verified<_>` cannot be handed unauthenticated bytes.
#[derive(Debug)]
pub struct Verified<T> {
    body: T,
    /// The signature header's other fields (`t=..`), never the signature
    /// itself: `{field: ..}` sources read them. Empty unless `signature.fields`.
    fields: Vec<(Box<str>, Box<str>)>,
    /// Which of the provider's secrets verified it (0 when a public key or
    /// a token did): a handshake's HMAC is computed with the same one, so
    /// a rotation cannot break its reply.
    key: usize,
}

impl<T> Verified<T> {
    /// A body verified when it was received, read back from the gateway's own
    /// unrouted or dead-letter topic for a re-drive. Its signature has expired
    /// and is not kept; the trust is the topic's (only the gateway may write
    /// to it), so nothing else may call this.
    pub(crate) fn kept(body: T, fields: Vec<(Box<str>, Box<str>)>) -> Verified<T> {
        Verified {
            body,
            fields,
            key: 0,
        }
    }

    /// The same verified request read another way: a form body's fields as
    /// JSON (`engine::form`), derived from the verified bytes alone.
    pub(crate) fn read_as<U>(&self, body: U) -> Verified<U> {
        Verified {
            body,
            fields: self.fields.clone(),
            key: self.key,
        }
    }

    /// Which of the provider's secrets verified the request.
    pub fn key(&self) -> usize {
        self.key
    }

    /// The signature header's other fields, as `{field: ..}` sources read them.
    pub fn fields(&self) -> &[(Box<str>, Box<str>)] {
        &self.fields
    }

    pub fn get(&self) -> &T {
        &self.body
    }

    /// The signature header's field `name`, when the scheme has fields.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| &**k == name)
            .map(|(_, v)| &**v)
    }
}

/// Why a request was refused. Each answers 401 with its code, which is also
/// its `reason` label of `webhook_signature_failures_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("signature or timestamp header missing")]
    Missing,
    #[error("signature or timestamp header malformed")]
    Malformed,
    #[error("signature does not match")]
    Mismatch,
    #[error("timestamp outside the replay window")]
    StaleTimestamp,
}

impl VerifyError {
    pub const ALL: [VerifyError; 4] = [
        VerifyError::Missing,
        VerifyError::Malformed,
        VerifyError::Mismatch,
        VerifyError::StaleTimestamp,
    ];

    /// The response code, and the `reason` label of
    /// `webhook_signature_failures_total`: one name for one failure.
    pub fn code(self) -> &'static str {
        match self {
            VerifyError::Missing => "signature_missing",
            VerifyError::Malformed => "signature_malformed",
            VerifyError::Mismatch => "signature_mismatch",
            VerifyError::StaleTimestamp => "timestamp_outside_window",
        }
    }
}

/// One decoded signature (up to an ECDSA P-256 DER signature's 72 bytes).
pub(super) struct Tag {
    bytes: [u8; 72],
    len: usize,
}

/// Public-key signatures a header may carry: each costs tens of microseconds
/// to check, so a header with more is refused before any is (no sender
/// sends more than a rotation's two).
const MAX_PUBLIC_KEY_SIGNATURES: usize = 4;

impl Tag {
    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The request line's parts a template may sign.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    pub method: &'a str,
    /// The raw query string, without its `?`.
    pub query: Option<&'a str>,
}

impl Line<'_> {
    /// A `POST` without a query: what every sender sends unless its URL has one.
    pub const POST: Line<'static> = Line {
        method: "POST",
        query: None,
    };
}

/// Verifies `body` against the definition with `keys`. `now` bounds a signed
/// timestamp within the definition's tolerance, else `default_tolerance`.
pub fn verify<B: AsRef<[u8]>>(
    def: &Definition,
    keys: &KeyRing,
    line: Line<'_>,
    headers: &HeaderMap,
    body: B,
    now: SystemTime,
    default_tolerance: Duration,
) -> Result<Verified<B>, VerifyError> {
    let sig = &def.signature;
    let Some(header) = &sig.header else {
        // The checks allow no header only for a token in the body.
        return in_body_tokens(def, keys, body.as_ref()).map(|()| Verified {
            body,
            fields: Vec::new(),
            key: 0,
        });
    };
    let value = headers.get(header.as_str()).ok_or(VerifyError::Missing)?;
    let value = value.to_str().map_err(|_| VerifyError::Malformed)?;
    if sig.algorithm == Algorithm::Token {
        return token(def, keys, value).map(|()| Verified {
            body,
            fields: Vec::new(),
            key: 0,
        });
    }
    let Split {
        tags,
        beside,
        fields,
    } = split_header(def, value);

    // The parts the template signs besides the body, as the sender sent them.
    // A timestamp in the body is not among them: it is read once the body is.
    let timestamp = match &def.timestamp {
        Some(t) if t.source.is_outside_body() => Some(outside_body(&t.source, headers, &fields)?),
        _ => None,
    };
    let id = match &def.id {
        Some(id) if sig.signed.uses(&Part::Id) => outside_body(&id.source, headers, &fields)?,
        _ => "",
    };
    let signed_at = match (&def.timestamp, timestamp) {
        (Some(t), Some(text)) => {
            Some(parse_timestamp(t.format, text.as_bytes()).ok_or(VerifyError::Malformed)?)
        }
        _ => None,
    };

    if (tags.is_empty() && beside.is_empty())
        || (sig.algorithm.is_public_key() && tags.len() > MAX_PUBLIC_KEY_SIGNATURES)
        || beside.len() > MAX_PUBLIC_KEY_SIGNATURES
    {
        return Err(VerifyError::Malformed);
    }
    let mut signed_headers = Vec::new();
    for name in sig.signed.header_names() {
        let value = headers.get(name.as_str()).ok_or(VerifyError::Missing)?;
        signed_headers.push((name.as_str(), value.as_bytes()));
    }
    // Twilio signs the form's fields, not its bytes: a body that is no form
    // cannot be checked, so it is refused like a malformed signature.
    let form_sorted = match sig.signed.uses(&Part::FormSorted) {
        true => form::sorted(&form::fields(body.as_ref()).map_err(|_| VerifyError::Malformed)?),
        false => Vec::new(),
    };
    let url: std::borrow::Cow<'_, str> = match (&def.url, line.query) {
        (Some(url), Some(query)) => format!("{url}?{query}").into(),
        (Some(url), None) => url.as_str().into(),
        (None, _) => "".into(),
    };
    let matched = {
        let pieces = sig.signed.pieces(Signed {
            body: body.as_ref(),
            timestamp: timestamp.unwrap_or("").as_bytes(),
            id: id.as_bytes(),
            method: line.method.as_bytes(),
            url: url.as_bytes(),
            headers: &signed_headers,
            form_sorted: &form_sorted,
        });
        // Bytes an unverified handshake would have signed on request prove
        // nothing: X's CRC reply is the very HMAC its events carry.
        if def
            .handshakes
            .iter()
            .any(|h| h.signs_unverified() && h.values.allow_all(pieces.clone()))
        {
            return Err(VerifyError::Mismatch);
        }
        // Both kinds of entry are checked: whether the secrets' matched is not
        // given away by stopping early.
        let by_secret = keys.matching(pieces.clone(), &tags);
        let by_key = !beside.is_empty() && keys.matches_beside(pieces, &beside);
        match (by_secret, by_key) {
            (Some(key), _) => key,
            (None, true) => 0,
            (None, false) => return Err(VerifyError::Mismatch),
        }
    };
    let signed_at = match &def.timestamp {
        Some(t) if !t.source.is_outside_body() => Some(in_body(t, body.as_ref())?),
        _ => signed_at,
    };
    // Checked after the MAC so that `timestamp_outside_window` counts authentic requests
    // only (replays and clock skew), not forgeries.
    if let Some(signed_at) = signed_at {
        let tolerance = def
            .timestamp
            .as_ref()
            .and_then(|t| t.tolerance_secs)
            .map_or(default_tolerance, Duration::from_secs);
        let skew = match now.duration_since(signed_at) {
            Ok(age) => age,
            Err(ahead) => ahead.duration(),
        };
        if skew > tolerance {
            return Err(VerifyError::StaleTimestamp);
        }
    }
    let fields = fields
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
    Ok(Verified {
        body,
        fields,
        key: matched,
    })
}

/// A timestamp the body carries, read once the MAC over the body matched. A
/// body without a readable one is malformed, as a missing header would be:
/// its age cannot be bounded.
fn in_body(t: &Timestamp, body: &[u8]) -> Result<SystemTime, VerifyError> {
    let Source::Pointer(pointer) = &t.source else {
        return Err(VerifyError::Malformed);
    };
    let body: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| VerifyError::Malformed)?;
    let text = match body.pointer(pointer.as_str()) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(n @ serde_json::Value::Number(_)) => n.to_string(),
        _ => return Err(VerifyError::Malformed),
    };
    parse_timestamp(t.format, text.as_bytes()).ok_or(VerifyError::Malformed)
}

/// A token in the body (`signature.source`), in every item of a batch
/// (Microsoft Graph's `clientState`): each must be one of the provider's
/// secrets, compared as digests. A body with no item carries no proof.
fn in_body_tokens(def: &Definition, keys: &KeyRing, body: &[u8]) -> Result<(), VerifyError> {
    let Some(source) = &def.signature.source else {
        return Err(VerifyError::Missing);
    };
    let items: Vec<&serde_json::value::RawValue> = match &def.batch {
        Some(batch) => {
            crate::engine::batch::items(body, &batch.items).map_err(|_| VerifyError::Malformed)?
        }
        None => vec![serde_json::from_slice(body).map_err(|_| VerifyError::Malformed)?],
    };
    if items.is_empty() {
        return Err(VerifyError::Missing);
    }
    let mut all = true;
    for item in items {
        let value: serde_json::Value =
            serde_json::from_str(item.get()).map_err(|_| VerifyError::Malformed)?;
        let token = match value.pointer(source.as_str()) {
            Some(serde_json::Value::String(token)) if !token.is_empty() => token.clone(),
            _ => return Err(VerifyError::Missing),
        };
        // Every item is compared, so timing does not say which one failed.
        all &= keys.token_matches(token.as_bytes());
    }
    match all {
        true => Ok(()),
        false => Err(VerifyError::Mismatch),
    }
}

/// A token scheme: the header's value, behind its optional prefix, is one of
/// the provider's secrets. Nothing else is signed (the checks refuse a
/// timestamp or template), so nothing else is checked.
fn token(def: &Definition, keys: &KeyRing, value: &str) -> Result<(), VerifyError> {
    let sig = &def.signature;
    let value = value.trim();
    let token = match &sig.prefix {
        Some(p) if starts_with_ignore_case(value, p) => &value[p.len()..],
        Some(_) if sig.prefix_required => return Err(VerifyError::Malformed),
        _ => value,
    };
    if token.is_empty() {
        return Err(VerifyError::Malformed);
    }
    if keys.token_matches(token.as_bytes()) {
        Ok(())
    } else {
        Err(VerifyError::Mismatch)
    }
}

/// A signature header, taken apart.
struct Split<'h> {
    /// The scheme's own signatures.
    tags: Vec<Tag>,
    /// Ed25519 signatures behind `signature.key_prefix`, for the keys.
    beside: Vec<Tag>,
    /// The header's other fields (fields schemes only).
    fields: Vec<(&'h str, &'h str)>,
}

/// The header's decoded signatures, and its other fields (fields schemes
/// only). Entries behind another prefix (`v1a,` where `v1,` is ours) are
/// skipped, and so are entries that do not decode: any one may match.
fn split_header<'h>(def: &Definition, value: &'h str) -> Split<'h> {
    let sig = &def.signature;
    let len = sig.algorithm.output_len();
    // A DER signature's length varies; every other is exactly `len`.
    let exact = sig.algorithm != Algorithm::EcdsaP256;
    let mut tags = Vec::new();
    let mut beside = Vec::new();
    let mut fields = Vec::new();
    if let Some(f) = &sig.fields {
        for entry in value.split(f.separator.as_str()) {
            let Some((key, v)) = entry.split_once('=') else {
                continue;
            };
            let (key, v) = (key.trim(), v.trim());
            if key == f.signature {
                tags.extend(decode(v, sig.encoding, len, exact));
            } else {
                fields.push((key, v));
            }
        }
        return Split {
            tags,
            beside,
            fields,
        };
    }
    let mut entry = |entry: &str| {
        let entry = entry.trim();
        if let Some(kp) = &sig.key_prefix {
            if starts_with_ignore_case(entry, kp) {
                beside.extend(decode(&entry[kp.len()..], sig.encoding, 64, true));
                return;
            }
        }
        let encoded = match &sig.prefix {
            Some(p) if starts_with_ignore_case(entry, p) => &entry[p.len()..],
            Some(_) if sig.prefix_required => return,
            _ => entry,
        };
        tags.extend(decode(encoded, sig.encoding, len, exact));
    };
    match &sig.separator {
        Some(separator) => value.split(separator.as_str()).for_each(entry),
        None => entry(value),
    }
    Split {
        tags,
        beside,
        fields,
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len()
        && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// A timestamp or id the signature covers: from a header, or a field of the
/// signature header. A missing header is `Missing`; a present signature
/// header without the field is `Malformed`.
fn outside_body<'h>(
    source: &Source,
    headers: &'h HeaderMap,
    fields: &[(&'h str, &'h str)],
) -> Result<&'h str, VerifyError> {
    match source {
        Source::Header(name) => headers
            .get(name.as_str())
            .ok_or(VerifyError::Missing)?
            .to_str()
            .map_err(|_| VerifyError::Malformed),
        Source::Field(name) => fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| *v)
            .ok_or(VerifyError::Malformed),
        // The checks refuse a body pointer and a literal here: the body is
        // not trusted yet, and a literal proves nothing.
        Source::Pointer(_) | Source::Value(_) => Err(VerifyError::Malformed),
    }
}

/// Standard base64; senders differ on padding, which proves nothing either way.
const BASE64: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// Hex (either case) or base64 (padding optional): exactly `len` bytes once
/// decoded, or with `exact` false at most `len` (a DER signature).
fn decode(text: &str, encoding: SignatureEncoding, len: usize, exact: bool) -> Option<Tag> {
    // Decoding into a buffer with room to spare tells a short tag from a long one.
    let mut buf = [0u8; 96];
    let n = match encoding {
        SignatureEncoding::Hex => {
            let n = text.len() / 2;
            if n > buf.len() {
                return None;
            }
            hex::decode_to_slice(text, &mut buf[..n]).ok()?;
            n
        }
        SignatureEncoding::Base64 => BASE64.decode_slice(text, &mut buf).ok()?,
    };
    if n > len || (exact && n != len) || n == 0 {
        return None;
    }
    let mut tag = Tag {
        bytes: [0u8; 72],
        len: n,
    };
    tag.bytes[..n].copy_from_slice(&buf[..n]);
    Some(tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definitions::compiled::{Algorithm, SecretEncoding, TimestampFormat};
    use crate::definitions::Definitions;
    use hmac::{Hmac, Mac};
    use http::HeaderValue;
    use sha1::Sha1;
    use sha2::{Sha256, Sha512};
    use std::time::UNIX_EPOCH;

    fn builtin(name: &str) -> Definition {
        Definitions::builtin().get(name).unwrap().clone()
    }

    /// Keys from text secrets, as the built-ins take them.
    fn ring(secrets: &[&str]) -> KeyRing {
        KeyRing::new(Algorithm::Sha256, SecretEncoding::Text, secrets).unwrap()
    }
    const TOLERANCE: Duration = Duration::from_secs(300);
    const NOW_SECS: u64 = 1_790_000_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW_SECS)
    }

    /// The reference computation, written independently of `KeyRing`.
    fn hmac_hex(secret: &str, parts: &[&[u8]]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        for p in parts {
            mac.update(p);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    fn m2m_headers(ts: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-m2m-timestamp", HeaderValue::from_str(ts).unwrap());
        h.insert("x-m2m-signature", HeaderValue::from_str(sig).unwrap());
        h
    }

    fn transfers_headers(sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-transfers-signature", HeaderValue::from_str(sig).unwrap());
        h
    }

    fn m2m(keys: &KeyRing, ts: &str, sig: &str, body: &[u8]) -> Result<(), VerifyError> {
        verify(
            &builtin("m2m"),
            keys,
            Line::POST,
            &m2m_headers(ts, sig),
            body,
            now(),
            TOLERANCE,
        )
        .map(|_| ())
    }

    fn transfers(keys: &KeyRing, sig: &str, body: &[u8]) -> Result<(), VerifyError> {
        verify(
            &builtin("transfers"),
            keys,
            Line::POST,
            &transfers_headers(sig),
            body,
            now(),
            TOLERANCE,
        )
        .map(|_| ())
    }

    const BODY: &[u8] = br#"{"event":"operation.created","data":{"operationId":"op-1"}}"#;

    fn m2m_sig(secret: &str, ts: &str, body: &[u8]) -> String {
        hmac_hex(secret, &[ts.as_bytes(), b".", body])
    }

    #[test]
    fn m2m_valid_signature_verifies_with_and_without_prefix_in_either_case() {
        let keys = ring(&["s3cret"]);
        let ts = NOW_SECS.to_string();
        let sig = m2m_sig("s3cret", &ts, BODY);
        assert_eq!(m2m(&keys, &ts, &sig, BODY), Ok(()));
        assert_eq!(m2m(&keys, &ts, &format!("sha256={sig}"), BODY), Ok(()));
        assert_eq!(m2m(&keys, &ts, &sig.to_uppercase(), BODY), Ok(()));
        assert_eq!(
            m2m(&keys, &ts, &format!("sha256={}", sig.to_uppercase()), BODY),
            Ok(())
        );
    }

    #[test]
    fn m2m_every_changed_byte_of_body_or_signature_fails() {
        let keys = ring(&["s3cret"]);
        let ts = NOW_SECS.to_string();
        let sig = m2m_sig("s3cret", &ts, BODY);
        for i in 0..BODY.len() {
            let mut body = BODY.to_vec();
            body[i] ^= 0x01;
            assert_eq!(
                m2m(&keys, &ts, &sig, &body),
                Err(VerifyError::Mismatch),
                "body byte {i}"
            );
        }
        let raw = hex::decode(&sig).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x80;
            assert_eq!(
                m2m(&keys, &ts, &hex::encode(&bad), BODY),
                Err(VerifyError::Mismatch),
                "sig byte {i}"
            );
        }
    }

    #[test]
    fn m2m_signed_timestamp_cannot_be_swapped() {
        let keys = ring(&["s3cret"]);
        let ts = NOW_SECS.to_string();
        let sig = m2m_sig("s3cret", &ts, BODY);
        let other = (NOW_SECS + 1).to_string();
        assert_eq!(m2m(&keys, &other, &sig, BODY), Err(VerifyError::Mismatch));
    }

    #[test]
    fn wrong_secret_fails_and_any_secret_of_a_rotation_list_verifies() {
        let ts = NOW_SECS.to_string();
        let sig = m2m_sig("new-secret", &ts, BODY);
        assert_eq!(
            m2m(&ring(&["old-secret"]), &ts, &sig, BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            m2m(&ring(&["old-secret", "new-secret"]), &ts, &sig, BODY),
            Ok(())
        );
        let tsig = hmac_hex("new-secret", &[BODY]);
        assert_eq!(
            transfers(&ring(&["old-secret"]), &tsig, BODY),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            transfers(&ring(&["old-secret", "new-secret"]), &tsig, BODY),
            Ok(())
        );
    }

    #[test]
    fn m2m_missing_headers_are_refused_as_missing() {
        let keys = ring(&["s3cret"]);
        let ts = NOW_SECS.to_string();
        let sig = m2m_sig("s3cret", &ts, BODY);
        let mut only_sig = HeaderMap::new();
        only_sig.insert("x-m2m-signature", HeaderValue::from_str(&sig).unwrap());
        let mut only_ts = HeaderMap::new();
        only_ts.insert("x-m2m-timestamp", HeaderValue::from_str(&ts).unwrap());
        for headers in [HeaderMap::new(), only_sig, only_ts] {
            let got = verify(
                &builtin("m2m"),
                &keys,
                Line::POST,
                &headers,
                BODY,
                now(),
                TOLERANCE,
            )
            .map(|_| ());
            assert_eq!(got, Err(VerifyError::Missing));
        }
    }

    #[test]
    fn m2m_timestamps_in_seconds_milliseconds_and_rfc3339_verify() {
        let keys = ring(&["k"]);
        for ts in [
            NOW_SECS.to_string(),
            (NOW_SECS * 1000 + 250).to_string(),
            "2026-09-21T14:13:20Z".to_string(), // NOW_SECS in RFC 3339
            "2026-09-21T16:13:20+02:00".to_string(),
        ] {
            let sig = m2m_sig("k", &ts, BODY);
            assert_eq!(m2m(&keys, &ts, &sig, BODY), Ok(()), "timestamp {ts}");
        }
    }

    #[test]
    fn m2m_stale_and_future_timestamps_are_refused() {
        let keys = ring(&["k"]);
        for ts in [
            (NOW_SECS - 301).to_string(),
            (NOW_SECS + 301).to_string(),
            ((NOW_SECS - 301) * 1000).to_string(),
            "2026-09-21T14:07:00Z".to_string(),
        ] {
            let sig = m2m_sig("k", &ts, BODY);
            assert_eq!(
                m2m(&keys, &ts, &sig, BODY),
                Err(VerifyError::StaleTimestamp),
                "timestamp {ts}"
            );
        }
        // Just inside the window on both sides.
        for ts in [(NOW_SECS - 300).to_string(), (NOW_SECS + 300).to_string()] {
            let sig = m2m_sig("k", &ts, BODY);
            assert_eq!(m2m(&keys, &ts, &sig, BODY), Ok(()), "timestamp {ts}");
        }
    }

    #[test]
    fn m2m_malformed_timestamps_are_refused() {
        let keys = ring(&["k"]);
        for ts in [
            "",
            "yesterday",
            "12.5",
            "-1700000000",
            "2026-09-21",
            "99999999999999999999999",
        ] {
            let sig = m2m_sig("k", ts, BODY);
            assert_eq!(
                m2m(&keys, ts, &sig, BODY),
                Err(VerifyError::Malformed),
                "timestamp {ts:?}"
            );
        }
    }

    #[test]
    fn malformed_signatures_are_refused() {
        let keys = ring(&["k"]);
        let ts = NOW_SECS.to_string();
        let sig = m2m_sig("k", &ts, BODY);
        for bad in [
            "",
            "sha256=",
            "zz",
            &sig[..62],
            &format!("{sig}00"),
            "md5=abcd",
        ] {
            assert_eq!(
                m2m(&keys, &ts, bad, BODY),
                Err(VerifyError::Malformed),
                "signature {bad:?}"
            );
            assert_eq!(
                transfers(&keys, bad, BODY),
                Err(VerifyError::Malformed),
                "signature {bad:?}"
            );
        }
    }

    #[test]
    fn transfers_valid_signature_verifies_in_either_hex_case() {
        let keys = ring(&["token"]);
        let sig = hmac_hex("token", &[BODY]);
        assert_eq!(transfers(&keys, &sig, BODY), Ok(()));
        assert_eq!(transfers(&keys, &sig.to_uppercase(), BODY), Ok(()));
    }

    #[test]
    fn transfers_every_changed_byte_of_body_or_signature_fails() {
        let keys = ring(&["token"]);
        let sig = hmac_hex("token", &[BODY]);
        for i in 0..BODY.len() {
            let mut body = BODY.to_vec();
            body[i] ^= 0x20;
            assert_eq!(
                transfers(&keys, &sig, &body),
                Err(VerifyError::Mismatch),
                "body byte {i}"
            );
        }
        let raw = hex::decode(&sig).unwrap();
        for i in 0..raw.len() {
            let mut bad = raw.clone();
            bad[i] ^= 0x01;
            assert_eq!(
                transfers(&keys, &hex::encode(&bad), BODY),
                Err(VerifyError::Mismatch),
                "sig byte {i}"
            );
        }
    }

    #[test]
    fn transfers_missing_signature_is_refused() {
        let keys = ring(&["token"]);
        let got = verify(
            &builtin("transfers"),
            &keys,
            Line::POST,
            &HeaderMap::new(),
            BODY,
            now(),
            TOLERANCE,
        )
        .map(|_| ());
        assert_eq!(got, Err(VerifyError::Missing));
    }

    #[test]
    fn empty_body_verifies_when_signed_and_fails_when_not() {
        let keys = ring(&["token"]);
        assert_eq!(transfers(&keys, &hmac_hex("token", &[b""]), b""), Ok(()));
        assert_eq!(
            transfers(&keys, &hmac_hex("token", &[b"x"]), b""),
            Err(VerifyError::Mismatch)
        );
        let ts = NOW_SECS.to_string();
        assert_eq!(m2m(&keys, &ts, &m2m_sig("token", &ts, b""), b""), Ok(()));
    }

    #[test]
    fn key_ring_debug_shows_no_secret() {
        let shown = format!("{:?}", ring(&["hunter2-secret"]));
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    // ---- Schemes the built-ins do not use, from definitions as users write them.

    fn defined(provider: &str) -> Definition {
        let file = format!("providers:\n{provider}");
        let defs = Definitions::with_file(Some(("test", &file))).unwrap();
        defs.configured()[0].clone()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }

    fn mac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().to_vec()
    }

    const SVIX_LIKE: &str = "
  - name: acme
    secret: {env: ACME_SECRET, encoding: whsec}
    signature:
      header: webhook-signature
      encoding: base64
      prefix: 'v1,'
      prefix_required: true
      separator: ' '
      signed: '{id}.{timestamp}.{body}'
    timestamp: {source: {header: webhook-timestamp}, format: unix}
    id: {source: {header: webhook-id}}
    event: {name: /type, data: /data}
";

    #[test]
    fn several_signatures_any_may_match_and_foreign_ones_are_skipped() {
        let def = defined(SVIX_LIKE);
        let key = b"0123456789abcdef";
        let keys = KeyRing::new(
            Algorithm::Sha256,
            SecretEncoding::Whsec,
            &[format!("whsec_{}", b64(key))],
        )
        .unwrap();
        let ts = NOW_SECS.to_string();
        let good = b64(&mac_sha256(key, &[b"msg_1.", ts.as_bytes(), b".", BODY]));
        let wrong = b64(&mac_sha256(
            b"other",
            &[b"msg_1.", ts.as_bytes(), b".", BODY],
        ));
        let check = |sig: &str, id: &str| {
            let h = headers(&[
                ("webhook-signature", sig),
                ("webhook-timestamp", &ts),
                ("webhook-id", id),
            ]);
            verify(&def, &keys, Line::POST, &h, BODY, now(), TOLERANCE).map(|_| ())
        };
        assert_eq!(check(&format!("v1,{good}"), "msg_1"), Ok(()));
        assert_eq!(
            check(&format!("v1a,AAAA v1,{wrong} v1,{good}"), "msg_1"),
            Ok(())
        );
        // Padding is optional.
        assert_eq!(
            check(&format!("v1,{}", good.trim_end_matches('=')), "msg_1"),
            Ok(())
        );
        assert_eq!(
            check(&format!("v1,{wrong}"), "msg_1"),
            Err(VerifyError::Mismatch)
        );
        // The id is signed: another id under the same signature fails.
        assert_eq!(
            check(&format!("v1,{good}"), "msg_2"),
            Err(VerifyError::Mismatch)
        );
        // Only foreign or undecodable entries: nothing to compare.
        assert_eq!(
            check(&format!("v1a,{good}"), "msg_1"),
            Err(VerifyError::Malformed)
        );
        assert_eq!(check(&good, "msg_1"), Err(VerifyError::Malformed));
        assert_eq!(check("v1,!!!", "msg_1"), Err(VerifyError::Malformed));
        // A signed id's header is required like the timestamp's.
        let h = headers(&[
            ("webhook-signature", &format!("v1,{good}")),
            ("webhook-timestamp", &ts),
        ]);
        assert_eq!(
            verify(&def, &keys, Line::POST, &h, BODY, now(), TOLERANCE).map(|_| ()),
            Err(VerifyError::Missing)
        );
    }

    const STRIPE_LIKE: &str = "
  - name: acme
    secret: {env: ACME_SECRET}
    signature:
      header: acme-signature
      fields: {separator: ',', signature: v1}
      signed: '{timestamp}.{body}'
    timestamp: {source: {field: t}, format: unix, tolerance_secs: 600}
    event: {name: /type, data: /data}
";

    #[test]
    fn a_fields_header_carries_the_timestamp_and_several_signatures() {
        let def = defined(STRIPE_LIKE);
        let keys = ring(&["whsec_text_secret"]);
        let ts = NOW_SECS.to_string();
        let good = hex::encode(mac_sha256(
            b"whsec_text_secret",
            &[ts.as_bytes(), b".", BODY],
        ));
        let check = |value: &str| {
            let h = headers(&[("acme-signature", value)]);
            verify(&def, &keys, Line::POST, &h, BODY, now(), TOLERANCE)
                .map(|v| v.field("t").map(str::to_owned))
        };
        assert_eq!(check(&format!("t={ts},v1={good}")), Ok(Some(ts.clone())));
        assert_eq!(
            check(&format!("t={ts},v1={},v0=zz,v1={good}", "0".repeat(64))),
            Ok(Some(ts.clone()))
        );
        assert_eq!(check(&format!("v1={good}")), Err(VerifyError::Malformed));
        assert_eq!(
            check(&format!("t={ts},v0={good}")),
            Err(VerifyError::Malformed)
        );
        assert_eq!(
            check(&format!("t={},v1={good}", NOW_SECS + 1)),
            Err(VerifyError::Mismatch)
        );
        // The definition's own tolerance (600 s) replaces the default (300 s).
        for (age, want) in [(550, Ok(())), (650, Err(VerifyError::StaleTimestamp))] {
            let ts = (NOW_SECS - age).to_string();
            let sig = hex::encode(mac_sha256(
                b"whsec_text_secret",
                &[ts.as_bytes(), b".", BODY],
            ));
            let h = headers(&[("acme-signature", &format!("t={ts},v1={sig}"))]);
            assert_eq!(
                verify(&def, &keys, Line::POST, &h, BODY, now(), TOLERANCE).map(|_| ()),
                want,
                "{age}"
            );
        }
    }

    #[test]
    fn sha512_and_sha1_signatures_have_their_own_lengths() {
        for (algorithm, len) in [("sha512", 64), ("sha1", 20)] {
            let def = defined(&format!(
                "
  - name: acme
    secret: {{env: ACME_SECRET}}
    signature: {{header: x-sig, algorithm: {algorithm}, encoding: base64}}
    event: {{name: /type, data: /data}}
"
            ));
            let keys = KeyRing::new(def.signature.algorithm, SecretEncoding::Text, &["k"]).unwrap();
            let tag = match algorithm {
                "sha512" => {
                    let mut m = Hmac::<Sha512>::new_from_slice(b"k").unwrap();
                    m.update(BODY);
                    m.finalize().into_bytes().to_vec()
                }
                _ => {
                    let mut m = Hmac::<Sha1>::new_from_slice(b"k").unwrap();
                    m.update(BODY);
                    m.finalize().into_bytes().to_vec()
                }
            };
            assert_eq!(tag.len(), len);
            let check = |sig: &str| {
                verify(
                    &def,
                    &keys,
                    Line::POST,
                    &headers(&[("x-sig", sig)]),
                    BODY,
                    now(),
                    TOLERANCE,
                )
                .map(|_| ())
            };
            assert_eq!(check(&b64(&tag)), Ok(()), "{algorithm}");
            let mut flipped = tag.clone();
            flipped[0] ^= 1;
            assert_eq!(
                check(&b64(&flipped)),
                Err(VerifyError::Mismatch),
                "{algorithm}"
            );
            assert_eq!(
                check(&b64(&tag[1..])),
                Err(VerifyError::Malformed),
                "{algorithm}"
            );
            assert_eq!(
                check(&b64(&[tag.clone(), vec![0]].concat())),
                Err(VerifyError::Malformed)
            );
        }
    }

    #[test]
    fn each_timestamp_format_reads_only_its_own_shape() {
        use TimestampFormat::*;
        let secs = NOW_SECS.to_string();
        let millis = (NOW_SECS * 1000).to_string();
        let rfc = "2026-09-21T14:13:20Z";
        let at = Some(now());
        assert_eq!(parse_timestamp(Unix, secs.as_bytes()), at);
        assert_eq!(parse_timestamp(Unix, rfc.as_bytes()), None);
        assert_eq!(parse_timestamp(UnixMs, millis.as_bytes()), at);
        assert_eq!(parse_timestamp(UnixMs, rfc.as_bytes()), None);
        assert_eq!(parse_timestamp(Rfc3339, rfc.as_bytes()), at);
        assert_eq!(parse_timestamp(Rfc3339, secs.as_bytes()), None);
        for auto in [&secs, &millis, &rfc.to_owned()] {
            assert_eq!(parse_timestamp(Auto, auto.as_bytes()), at, "{auto}");
        }
    }

    #[test]
    fn secrets_decode_as_their_encoding_says_and_errors_never_show_them() {
        let whsec = |s: &str| KeyRing::new(Algorithm::Sha256, SecretEncoding::Whsec, &[s]);
        assert!(whsec("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        assert!(whsec("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").is_ok());
        let err = whsec("whsec_not*base64").unwrap_err();
        assert_eq!(err.to_string(), "the secret is not valid base64");
        let err = KeyRing::new(
            Algorithm::Sha256,
            SecretEncoding::Base64,
            &["AAAA", "sec!ret"],
        )
        .unwrap_err();
        assert_eq!(
            err,
            KeyRingError::OneOf {
                number: 2,
                count: 2,
                why: "is not valid base64"
            }
        );
        assert_eq!(err.to_string(), "secret 2 of 2 is not valid base64");
    }
}
