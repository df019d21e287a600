//! A provider's secrets as keyed MAC states: built once at start-up (and on a
//! reload), read by every request.

use std::fmt;

use hmac::{Hmac, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256, Sha512};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq, CtOption};

use super::Tag;
use crate::definitions::compiled::{Algorithm, SecretEncoding};

/// One provider's secrets, kept as keyed HMAC states (keying once at start-up
/// instead of per request). Any one of them verifies a request.
#[derive(Clone)]
pub struct KeyRing {
    keys: Keys,
    /// Ed25519 keys for the entries behind `signature.key_prefix`, beside
    /// the secrets (Standard Webhooks `v1a,`).
    /// Empty without such keys.
    beside: Vec<ed25519_dalek::VerifyingKey>,
    /// The SHA-256 digests of the `handshake_secret` tokens (Meta's verify
    /// token), compared as a token scheme's are. Empty without one.
    handshake: Vec<[u8; 32]>,
}

#[derive(Clone)]
enum Keys {
    Sha256(Vec<Hmac<Sha256>>),
    Sha512(Vec<Hmac<Sha512>>),
    Sha1(Vec<Hmac<Sha1>>),
    /// Each token's SHA-256 digest. A request's token is compared digest to
    /// digest: every comparison is of 32 bytes, so timing reveals neither
    /// the token's bytes nor its length.
    Token(Vec<[u8; 32]>),
    /// Public keys: nothing secret, so comparisons need not be constant time.
    Ed25519(Vec<ed25519_dalek::VerifyingKey>),
    P256(Vec<p256::ecdsa::VerifyingKey>),
}

impl fmt::Debug for KeyRing {
    // Never print key material: only how many secrets there are.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyRing({} secrets, redacted)", self.len())
    }
}

/// A secret that does not decode as its definition's `secret.encoding` says:
/// its position and why, never its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyRingError {
    /// The provider has this one secret.
    #[error("the secret {why}")]
    Single { why: &'static str },
    /// Secret `number` (from 1) of the `count` being rotated.
    #[error("secret {number} of {count} {why}")]
    OneOf {
        number: usize,
        count: usize,
        why: &'static str,
    },
    /// The provider has this one public key.
    #[error("the public key {why}")]
    Key { why: &'static str },
    /// The private key a sender signs with (`sign --key-file`).
    #[error("the private key {why}")]
    PrivateKey { why: &'static str },
    /// Public key `number` (from 1) of the `count` configured.
    #[error("public key {number} of {count} {why}")]
    OneKeyOf {
        number: usize,
        count: usize,
        why: &'static str,
    },
}

impl KeyRing {
    /// Keys for `algorithm` from secrets as the definition encodes them.
    /// Callers guarantee `secrets` is non-empty with no empty element
    /// (configuration refuses both); the error names the secret's position,
    /// never its content.
    pub fn new<S: AsRef<str>>(
        algorithm: Algorithm,
        encoding: SecretEncoding,
        secrets: &[S],
    ) -> Result<KeyRing, KeyRingError> {
        if algorithm.is_public_key() {
            return public_keys(algorithm, encoding, secrets).map(|keys| KeyRing {
                keys,
                beside: Vec::new(),
                handshake: Vec::new(),
            });
        }
        let mut raw = Vec::with_capacity(secrets.len());
        for (i, s) in secrets.iter().enumerate() {
            let key = encoding.decode(s.as_ref()).map_err(|why| {
                if secrets.len() == 1 {
                    KeyRingError::Single { why }
                } else {
                    KeyRingError::OneOf {
                        number: i + 1,
                        count: secrets.len(),
                        why,
                    }
                }
            })?;
            raw.push(key);
        }
        fn keyed<M: Mac + hmac::digest::KeyInit>(raw: &[Vec<u8>]) -> Vec<M> {
            raw.iter()
                .map(|k| <M as Mac>::new_from_slice(k).expect("HMAC takes any key length"))
                .collect()
        }
        let keys = match algorithm {
            Algorithm::Sha256 => Keys::Sha256(keyed(&raw)),
            Algorithm::Sha512 => Keys::Sha512(keyed(&raw)),
            Algorithm::Sha1 => Keys::Sha1(keyed(&raw)),
            Algorithm::Token => Keys::Token(raw.iter().map(|k| Sha256::digest(k).into()).collect()),
            Algorithm::Ed25519 | Algorithm::EcdsaP256 => unreachable!("returned above"),
        };
        Ok(KeyRing {
            keys,
            beside: Vec::new(),
            handshake: Vec::new(),
        })
    }

    /// These secrets with Ed25519 public `keys` beside them, for the entries
    /// behind `signature.key_prefix`.
    pub fn with_keys_beside<S: AsRef<str>>(
        mut self,
        encoding: SecretEncoding,
        keys: &[S],
    ) -> Result<KeyRing, KeyRingError> {
        let Keys::Ed25519(keys) = public_keys(Algorithm::Ed25519, encoding, keys)? else {
            unreachable!("Ed25519 keys were asked for");
        };
        self.beside = keys;
        Ok(self)
    }

    /// These keys with the `handshake_secret` tokens a handshake's `token`
    /// must equal (Meta's verify token).
    pub fn with_handshake_tokens<S: AsRef<str>>(mut self, tokens: &[S]) -> KeyRing {
        self.handshake = tokens
            .iter()
            .map(|t| Sha256::digest(t.as_ref().as_bytes()).into())
            .collect();
        self
    }

    /// These secrets with `other`'s keys beside them and its handshake
    /// tokens (a reload of the secrets keeps both: other variables hold them).
    pub fn keeping_keys_of(mut self, other: &KeyRing) -> KeyRing {
        self.beside = other.beside.clone();
        self.handshake = other.handshake.clone();
        self
    }

    /// True when `token` is one of the `handshake_secret` tokens, compared
    /// as digests like a token scheme's.
    pub fn handshake_token_matches(&self, token: &[u8]) -> bool {
        digest_among(&self.handshake, token)
    }

    /// HMAC-SHA256 of `value` under secret `index` (the one that verified the
    /// request; the first when none did): a handshake's `hmac_hex` and
    /// `hmac_base64`. `None` for a ring of other keys (refused at start-up).
    pub fn hmac_sha256(&self, index: usize, value: &[u8]) -> Option<[u8; 32]> {
        let Keys::Sha256(keys) = &self.keys else {
            return None;
        };
        let mut mac = keys.get(index).or(keys.first())?.clone();
        mac.update(value);
        Some(mac.finalize().into_bytes().into())
    }

    /// Whether any of the entries behind `signature.key_prefix` matches.
    pub(super) fn matches_beside<'a>(
        &self,
        signed: impl Iterator<Item = &'a [u8]> + Clone,
        tags: &[Tag],
    ) -> bool {
        !self.beside.is_empty() && ed25519_matches(&self.beside, signed, tags)
    }

    pub fn len(&self) -> usize {
        match &self.keys {
            Keys::Sha256(k) => k.len(),
            Keys::Sha512(k) => k.len(),
            Keys::Sha1(k) => k.len(),
            Keys::Token(k) => k.len(),
            Keys::Ed25519(k) => k.len(),
            Keys::P256(k) => k.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The MAC of the signed pieces under the first key: what a sender puts
    /// in its header (`sign`), from the same keyed states that verify. `None`
    /// for a ring that cannot sign: a token's (its sender sends the secret
    /// itself) and public keys' (the sender signs with the private key).
    pub fn sign<'a>(&self, signed: impl Iterator<Item = &'a [u8]>) -> Option<Vec<u8>> {
        fn first<'a, M: Mac + Clone>(
            keys: &[M],
            signed: impl Iterator<Item = &'a [u8]>,
        ) -> Vec<u8> {
            let mut mac = keys.first().expect("a key ring is never empty").clone();
            for piece in signed {
                mac.update(piece);
            }
            mac.finalize().into_bytes().to_vec()
        }
        match &self.keys {
            Keys::Sha256(k) => Some(first(k, signed)),
            Keys::Sha512(k) => Some(first(k, signed)),
            Keys::Sha1(k) => Some(first(k, signed)),
            Keys::Token(_) | Keys::Ed25519(_) | Keys::P256(_) => None,
        }
    }

    /// True when `token` is one of the ring's tokens, compared as digests:
    /// every token is tried, so timing reveals neither which matched nor
    /// how long any of them is.
    pub(super) fn token_matches(&self, token: &[u8]) -> bool {
        let Keys::Token(digests) = &self.keys else {
            return false;
        };
        digest_among(digests, token)
    }

    /// Which key a signature matches under (the first such), if any. Every
    /// key and every signature is tried, each comparison is constant time
    /// and the index is selected without a branch, so timing reveals
    /// neither a signature nor which key matched. A public key's match is
    /// reported as key 0: nothing is derived from public keys.
    pub(super) fn matching<'a>(
        &self,
        signed: impl Iterator<Item = &'a [u8]> + Clone,
        tags: &[Tag],
    ) -> Option<usize> {
        fn first<'a, M: Mac + Clone>(
            keys: &[M],
            signed: impl Iterator<Item = &'a [u8]> + Clone,
            tags: &[Tag],
        ) -> Option<usize> {
            let (mut found, mut index) = (Choice::from(0), 0u32);
            for (i, key) in keys.iter().enumerate() {
                let mut mac = key.clone();
                for piece in signed.clone() {
                    mac.update(piece);
                }
                let mac = mac.finalize().into_bytes();
                let mut this = Choice::from(0);
                for tag in tags {
                    this |= mac.as_slice().ct_eq(tag.as_slice());
                }
                index.conditional_assign(&(i as u32), this & !found);
                found |= this;
            }
            Option::<u32>::from(CtOption::new(index, found)).map(|i| i as usize)
        }
        // Nothing is derived from public keys: a match is reported as key 0.
        let public = |matched: bool| matched.then_some(0);
        match &self.keys {
            Keys::Sha256(k) => first(k, signed, tags),
            Keys::Sha512(k) => first(k, signed, tags),
            Keys::Sha1(k) => first(k, signed, tags),
            // A token ring has no MAC: `token_matches` compares tokens.
            Keys::Token(_) => None,
            Keys::Ed25519(keys) => public(ed25519_matches(keys, signed, tags)),
            Keys::P256(keys) => {
                use p256::ecdsa::signature::Verifier;
                let message: Vec<u8> = signed.flatten().copied().collect();
                let any = tags.iter().any(|tag| {
                    // Parsing the DER is the cheap check before the curve's work.
                    let Ok(signature) = p256::ecdsa::Signature::from_der(tag.as_slice()) else {
                        return false;
                    };
                    keys.iter()
                        .any(|key| key.verify(&message, &signature).is_ok())
                });
                public(any)
            }
        }
    }
}

/// Whether any Ed25519 signature among `tags` verifies the signed bytes
/// under any of `keys`. Only 64-byte tags are tried.
fn ed25519_matches<'a>(
    keys: &[ed25519_dalek::VerifyingKey],
    signed: impl Iterator<Item = &'a [u8]>,
    tags: &[Tag],
) -> bool {
    let message: Vec<u8> = signed.flatten().copied().collect();
    tags.iter().any(|tag| {
        let Ok(bytes) = <[u8; 64]>::try_from(tag.as_slice()) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
        keys.iter()
            .any(|key| key.verify_strict(&message, &signature).is_ok())
    })
}

/// A provider's public keys, as its `key.encoding` gives them: one per
/// element of the list, or, in PEM, one per `BEGIN`/`END` block (a file's
/// lines are joined back first, since PEM spans lines).
fn public_keys<S: AsRef<str>>(
    algorithm: Algorithm,
    encoding: SecretEncoding,
    keys: &[S],
) -> Result<Keys, KeyRingError> {
    let texts: Vec<String> = match encoding {
        SecretEncoding::Pem => {
            let joined = keys
                .iter()
                .map(|k| k.as_ref())
                .collect::<Vec<_>>()
                .join("\n");
            let blocks: Vec<String> = joined
                .split_inclusive("-----END PUBLIC KEY-----")
                .map(|b| b.trim().to_owned())
                .filter(|b| !b.is_empty())
                .collect();
            if blocks.is_empty() {
                vec![joined]
            } else {
                blocks
            }
        }
        _ => keys.iter().map(|k| k.as_ref().to_owned()).collect(),
    };
    let count = texts.len();
    let error = |i: usize, why: &'static str| match count {
        1 => KeyRingError::Key { why },
        _ => KeyRingError::OneKeyOf {
            number: i + 1,
            count,
            why,
        },
    };
    let mut ed = Vec::new();
    let mut p = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        match (algorithm, encoding) {
            (Algorithm::Ed25519, SecretEncoding::Pem) => {
                use ed25519_dalek::pkcs8::DecodePublicKey;
                ed.push(
                    ed25519_dalek::VerifyingKey::from_public_key_pem(text)
                        .map_err(|_| error(i, "is not an Ed25519 public key in PEM"))?,
                );
            }
            (Algorithm::Ed25519, _) => {
                use ed25519_dalek::pkcs8::DecodePublicKey;
                let bytes = encoding.decode(text).map_err(|why| error(i, why))?;
                let key = match <[u8; 32]>::try_from(bytes.as_slice()) {
                    Ok(raw) => ed25519_dalek::VerifyingKey::from_bytes(&raw).ok(),
                    Err(_) => ed25519_dalek::VerifyingKey::from_public_key_der(&bytes).ok(),
                };
                ed.push(key.ok_or_else(|| error(i, "is not an Ed25519 public key"))?);
            }
            (_, SecretEncoding::Pem) => {
                use p256::pkcs8::DecodePublicKey;
                p.push(
                    p256::ecdsa::VerifyingKey::from_public_key_pem(text)
                        .map_err(|_| error(i, "is not a P-256 public key in PEM"))?,
                );
            }
            (_, _) => {
                use p256::pkcs8::DecodePublicKey;
                let bytes = encoding.decode(text).map_err(|why| error(i, why))?;
                let key = p256::ecdsa::VerifyingKey::from_public_key_der(&bytes)
                    .or_else(|_| p256::ecdsa::VerifyingKey::from_sec1_bytes(&bytes));
                p.push(key.map_err(|_| error(i, "is not a P-256 public key"))?);
            }
        }
    }
    Ok(match algorithm {
        Algorithm::Ed25519 => Keys::Ed25519(ed),
        _ => Keys::P256(p),
    })
}

/// Whether `token`'s SHA-256 digest is among `digests`: every one is
/// compared, so timing reveals neither which matched nor any length.
fn digest_among(digests: &[[u8; 32]], token: &[u8]) -> bool {
    let given: [u8; 32] = Sha256::digest(token).into();
    let mut any = Choice::from(0);
    for digest in digests {
        any |= given.ct_eq(digest);
    }
    any.into()
}
