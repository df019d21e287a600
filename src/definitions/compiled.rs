//! The checked form of a definition, with every default filled in: what the
//! engine reads, and what `providers show` prints back (same keys as the file).

use serde::Serialize;

use super::definition::{HeaderName, Pointer, RawFields, Source, Template};
pub use super::handshake::Handshake;

/// One provider, valid on its own and against all the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Definition {
    pub name: String,
    /// The preset it was merged over, for the reader of `providers show`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// The variable holding what verifies its requests: secrets, or for a
    /// public-key scheme its public keys (then shown as `key`).
    #[serde(skip_serializing_if = "Definition::public")]
    pub secret: Secret,
    /// `secret` again for a public-key scheme, so that `providers show`
    /// prints the key the file gave (`key:`); beside a secret, the Ed25519
    /// keys of `signature.key_prefix` entries; `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Secret>,
    pub signature: Signature,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<Id>,
    pub body: Body,
    pub event: Event,
    pub unrouted_subject: Vec<Source>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sample: Option<String>,
    pub events: Vec<Entry>,
    /// `None`: 200 with `{"id": ...}` (`{"ids": [...]}` for several records).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<Accepted>,
    /// `None`: no limit of its own, only its fair share of the gateway's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// Its own publish deadline for a whole request, in milliseconds:
    /// senders that give up after 3 s need the answer (a 503 included)
    /// before that. `None`: GATEWAY_PUBLISH_TIMEOUT_MS per record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// What its sender does after a failed delivery, as its preset states.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<Retries>,
    /// The URL the sender signs (`{url}`): behind an ingress the request
    /// line is not what the sender saw. No query or fragment (checked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub form: Option<Form>,
    /// Several events in one request, one record each.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch: Option<Batch>,
    /// The variable holding what a handshake's `token` must equal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handshake_secret: Option<Secret>,
    /// Requests that are not events: answered without the broker, never published.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub handshakes: Vec<Handshake>,
}

/// Where a request's items are, and what identifies each (`batch:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Batch {
    /// The array of items; `event` and `events` pointers address one item.
    pub items: Pointer,
    /// Each item's delivery id, its pointers' values joined; empty: the
    /// provider and the item's own bytes decide its id.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub id: Vec<Pointer>,
    /// Covered by the signature (every scheme but a token): then an item's
    /// delivery id alone decides its event id. Derived, as `Id::signed` is.
    #[serde(skip)]
    pub signed: bool,
}

impl Definition {
    /// Whether its scheme verifies with public keys (`key:`) rather than secrets.
    fn public(secret: &Secret) -> bool {
        secret.public
    }

    /// What an operator must know of this provider beyond its keys: what its
    /// verification proves, and whether its sender gives up on a refusal.
    /// Printed by `providers show` and logged at start-up.
    pub fn notes(&self) -> Vec<String> {
        let name = &self.name;
        let mut notes = Vec::new();
        if self.signature.algorithm == Algorithm::Token {
            notes.push(format!(
                "provider \"{name}\": its token proves who sent a request, not what the body says (whoever holds the token can send any body)"
            ));
        }
        match self.retries {
            Some(Retries::None) => notes.push(format!(
                "provider \"{name}\": its sender does not retry: a 503 or 429 loses the event at the sender"
            )),
            Some(Retries::Few) => notes.push(format!(
                "provider \"{name}\": its sender stops after a few tries: a 503 or 429 for longer than its retries loses the event at the sender"
            )),
            Some(Retries::Persistent) | None => {}
        }
        notes
    }

    /// The CloudEvents `source` attribute.
    pub fn source(&self) -> String {
        format!("/providers/{}", self.name)
    }

    /// The type of this provider's events that the catalogue does not know.
    pub fn unknown_type(&self) -> String {
        format!("{}.unknown", self.name)
    }
}

/// A sender's behaviour after a delivery that got no 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Retries {
    /// Never again (GitLab): a refusal loses the event there.
    None,
    /// A few times within minutes (Slack, Zoom, X, Dropbox).
    Few,
    /// For hours or days (Stripe, Paddle, Calendly).
    Persistent,
}

/// Only the variable's name: a definition never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Secret {
    pub env: String,
    pub encoding: SecretEncoding,
    /// It holds public keys (a public-key scheme's, or those beside a
    /// secret): shown as `key`. Derived from the scheme, never written.
    #[serde(skip)]
    pub public: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretEncoding {
    /// The secret's UTF-8 bytes.
    Text,
    Base64,
    /// An optional `whsec_` prefix, then base64 (Standard Webhooks).
    Whsec,
    /// A public key in hex (Discord's 32-byte Ed25519 key).
    Hex,
    /// A public key in PEM (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo).
    Pem,
    /// An optional `whpk_` prefix, then base64 (Standard Webhooks' Ed25519 key).
    Whpk,
}

impl SecretEncoding {
    /// The key bytes a secret stands for (a PEM key's text). The error names
    /// the problem, never the secret.
    pub fn decode(self, secret: &str) -> Result<Vec<u8>, &'static str> {
        use base64::Engine;
        let text = match self {
            SecretEncoding::Text | SecretEncoding::Pem => return Ok(secret.as_bytes().to_vec()),
            SecretEncoding::Hex => return hex::decode(secret).map_err(|_| "is not valid hex"),
            SecretEncoding::Base64 => secret,
            SecretEncoding::Whsec => secret.strip_prefix("whsec_").unwrap_or(secret),
            SecretEncoding::Whpk => secret.strip_prefix("whpk_").unwrap_or(secret),
        };
        let key = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| "is not valid base64")?;
        if key.is_empty() {
            return Err("decodes to an empty key");
        }
        Ok(key)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// `None` only for a token in the body (`source`).
    pub header: Option<HeaderName>,
    pub algorithm: Algorithm,
    pub encoding: SignatureEncoding,
    /// Stripped case-insensitively before decoding.
    pub prefix: Option<String>,
    pub prefix_required: bool,
    /// Several signatures in the header; any one may match.
    pub separator: Option<String>,
    /// A `t=..,v1=..` header; exclusive with `prefix` and `separator` (checked).
    pub fields: Option<RawFields>,
    pub signed: Template,
    /// A token carried in the body, in every item of a batch (Microsoft
    /// Graph's `clientState`); `algorithm: token` only.
    pub source: Option<Pointer>,
    /// Entries behind this prefix are Ed25519 signatures, checked with the
    /// definition's `key` beside the secrets' (Standard Webhooks `v1a,`).
    pub key_prefix: Option<String>,
}

/// The keys as the file takes them back: a token has no encoding and no
/// signed bytes (the check refuses both), so neither is printed for one.
impl Serialize for Signature {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        fn field<S: SerializeStruct, T: Serialize>(
            out: &mut S,
            key: &'static str,
            value: Option<&T>,
        ) -> Result<(), S::Error> {
            match value {
                Some(value) => out.serialize_field(key, value),
                None => out.skip_field(key),
            }
        }
        let signs = self.algorithm != Algorithm::Token;
        let mut out = s.serialize_struct("Signature", 10)?;
        field(&mut out, "header", self.header.as_ref())?;
        field(&mut out, "algorithm", Some(&self.algorithm))?;
        field(&mut out, "encoding", signs.then_some(&self.encoding))?;
        field(&mut out, "prefix", self.prefix.as_ref())?;
        field(&mut out, "prefix_required", Some(&self.prefix_required))?;
        field(&mut out, "separator", self.separator.as_ref())?;
        field(&mut out, "fields", self.fields.as_ref())?;
        field(&mut out, "signed", signs.then_some(&self.signed))?;
        field(&mut out, "source", self.source.as_ref())?;
        field(&mut out, "key_prefix", self.key_prefix.as_ref())?;
        out.end()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    Sha256,
    Sha512,
    Sha1,
    /// The header carries the secret itself (GitLab, Okta): it proves who
    /// sent the request, never what the body says.
    Token,
    /// An Ed25519 signature, verified with the provider's public keys.
    Ed25519,
    /// An ECDSA P-256 signature over SHA-256, DER-encoded (SendGrid).
    #[serde(rename = "ecdsa-p256")]
    EcdsaP256,
}

impl Algorithm {
    /// The length of its MAC in bytes: a signature of another length is
    /// malformed. A token is compared as its SHA-256 digest.
    pub fn output_len(self) -> usize {
        match self {
            Algorithm::Sha256 | Algorithm::Token => 32,
            Algorithm::Sha512 | Algorithm::Ed25519 => 64,
            Algorithm::Sha1 => 20,
            // DER: at most 72 bytes; the length is checked when decoding.
            Algorithm::EcdsaP256 => 72,
        }
    }

    /// Whether it verifies with public keys (`key:`) rather than secrets.
    pub fn is_public_key(self) -> bool {
        matches!(self, Algorithm::Ed25519 | Algorithm::EcdsaP256)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureEncoding {
    /// Either case.
    Hex,
    Base64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timestamp {
    /// A header or a field: checked before the body is trusted.
    pub source: Source,
    pub format: TimestampFormat,
    /// `None`: GATEWAY_REPLAY_TOLERANCE_SECS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tolerance_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TimestampFormat {
    /// Seconds, milliseconds or RFC 3339, as M2M sends.
    Auto,
    Unix,
    UnixMs,
    Rfc3339,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Id {
    pub source: Source,
    /// Covered by the signature (a body pointer, or `{id}` in `signed`): then
    /// the delivery id alone decides the event id. Derived, not written by users.
    #[serde(skip)]
    pub signed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Body {
    Json,
    Any,
    /// `application/x-www-form-urlencoded`: read as a JSON object of its
    /// fields (`engine::form`).
    Form,
}

/// How a form body carries its event (`form:`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Form {
    /// The field holding the event as JSON (Slack's interactivity `payload`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub json: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    pub name: Source,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join: Option<Source>,
    pub data: Pointer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Source>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<Source>,
}

/// The answer a sender wants once every record of its request is
/// acknowledged, instead of the event ids (Discord: 204; Twilio: an empty
/// TwiML document). Always a 2xx: anything else would ask for a redelivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Accepted {
    pub status: u16,
    /// `None` only with an empty body.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    pub body: String,
}

/// A provider's own limits, per replica (the chart scales replicas out).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    /// Records per second, sustained: past it (and its burst), 429.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Records at once above the rate; `rate` rounded up unless set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// Its requests awaiting acks at once: past it, 429.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_flight: Option<u32>,
}

// `rate` is finite (checked), so equality is an equivalence.
impl Eq for Limits {}

/// One routed event of the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub name: String,
    /// Pointers whose value's text must equal these strings (sorted by pointer).
    #[serde(skip_serializing_if = "Vec::is_empty", serialize_with = "when_map")]
    pub when: Vec<(Pointer, String)>,
    #[serde(rename = "type")]
    pub type_name: String,
    pub subject: Source,
    /// `None`: `<prefix>.<type>`, or GATEWAY_TOPIC_OVERRIDES.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
}

fn when_map<S: serde::Serializer>(when: &[(Pointer, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(when.iter().map(|(p, v)| (p.as_str(), v)))
}
