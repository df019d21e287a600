//! What verifies a provider's requests, checked: the variable that holds its
//! secrets (or, for a public-key scheme, its public keys), the Ed25519 keys
//! beside a secret (`signature.key_prefix`), and the signature itself.

use super::check::{choice, problem, required, Problem};
use super::compiled::*;
use super::definition::{RawSecret, RawSignature, Template};
use super::names::check_secret_env;

/// How an Ed25519 public key may be written, as a public-key scheme's `key`
/// or beside a secret.
const ED25519_KEYS: [(&str, SecretEncoding); 4] = [
    ("hex", SecretEncoding::Hex),
    ("base64", SecretEncoding::Base64),
    ("pem", SecretEncoding::Pem),
    ("whpk", SecretEncoding::Whpk),
];

/// A provider's verification, compiled.
pub(super) struct Scheme {
    /// The credential variable: secrets, or a public-key scheme's keys.
    pub secret: Secret,
    /// `secret` again for a public-key scheme; beside a secret, its keys.
    pub key: Option<Secret>,
    pub signature: Signature,
}

pub(super) fn scheme(
    secret: Option<RawSecret>,
    key: Option<RawSecret>,
    signature: Option<RawSignature>,
) -> Result<Scheme, Problem> {
    // The algorithm decides everything below: parsed once, first.
    let algorithm = choice(
        signature.as_ref().and_then(|s| s.algorithm.as_deref()),
        "signature.algorithm",
        Algorithm::Sha256,
        &[
            ("sha256", Algorithm::Sha256),
            ("sha512", Algorithm::Sha512),
            ("sha1", Algorithm::Sha1),
            ("token", Algorithm::Token),
            ("ed25519", Algorithm::Ed25519),
            ("ecdsa-p256", Algorithm::EcdsaP256),
        ],
    )?;
    // A public-key scheme verifies with `key`, every other with `secret`:
    // one variable either way, read, rotated and reloaded the same.
    let public = algorithm.is_public_key();
    let key_prefix = signature.as_ref().and_then(|s| s.key_prefix.clone());
    let (given, other, field) = match public {
        true => (key, secret, "key"),
        false => (secret, key, "secret"),
    };
    // Beside a secret, a key checks the entries behind `signature.key_prefix`.
    let (other, beside) = match (public, &key_prefix) {
        (false, Some(_)) => (None, other),
        _ => (other, None),
    };
    if other.is_some() {
        return Err(problem(
            if public { "secret" } else { "key" },
            if public {
                "not with a public-key signature.algorithm: its public keys go in `key`"
            } else {
                "needs signature.algorithm ed25519 or ecdsa-p256 (a secret goes in `secret`)"
            },
        ));
    }
    let secret = required(given, field)?;
    let env = required(secret.env, &format!("{field}.env"))?;
    check_secret_env(&env).map_err(|r| problem(format!("{field}.env"), r))?;
    let encoding = secret.encoding.as_deref();
    let encoding_key = format!("{field}.encoding");
    let secret = Secret {
        env,
        public,
        encoding: match algorithm {
            _ if !public => choice(
                encoding,
                &encoding_key,
                SecretEncoding::Text,
                &[
                    ("text", SecretEncoding::Text),
                    ("base64", SecretEncoding::Base64),
                    ("whsec", SecretEncoding::Whsec),
                ],
            )?,
            // Discord gives its Ed25519 key in hex, SendGrid its P-256 key
            // in base64 (DER).
            Algorithm::Ed25519 => {
                choice(encoding, &encoding_key, SecretEncoding::Hex, &ED25519_KEYS)?
            }
            _ => choice(
                encoding,
                &encoding_key,
                SecretEncoding::Base64,
                &[
                    ("base64", SecretEncoding::Base64),
                    ("pem", SecretEncoding::Pem),
                    ("hex", SecretEncoding::Hex),
                ],
            )?,
        },
    };

    // A token is compared as its sender sends it: the variable's text.
    if algorithm == Algorithm::Token && secret.encoding != SecretEncoding::Text {
        return Err(problem(
            "secret.encoding",
            "a token is compared as sent: text only",
        ));
    }
    let beside = match beside {
        None => None,
        Some(key) => {
            let env = required(key.env, "key.env")?;
            check_secret_env(&env).map_err(|r| problem("key.env", r))?;
            if env == secret.env {
                return Err(problem("key.env", "is the provider's secret variable"));
            }
            // Standard Webhooks publishes its key as `whpk_<base64>`.
            let encoding = choice(
                key.encoding.as_deref(),
                "key.encoding",
                SecretEncoding::Whpk,
                &ED25519_KEYS,
            )?;
            Some(Secret {
                env,
                encoding,
                public: true,
            })
        }
    };
    let sig = required(signature, "signature")?;
    if let Some(kp) = &sig.key_prefix {
        if kp.is_empty() || sig.separator.is_none() || sig.prefix.is_none() || public {
            return Err(problem(
                "signature.key_prefix",
                "needs an HMAC scheme with signature.prefix and signature.separator (its entries sit beside the secret's)",
            ));
        }
    }
    let is_token = algorithm == Algorithm::Token;
    if sig.source.is_some() && !is_token {
        return Err(problem("signature.source", "needs algorithm: token"));
    }
    let header = match (sig.header, &sig.source) {
        // A token in the body needs no header; one in a header, its name.
        (None, Some(_)) => None,
        (Some(_), Some(_)) => {
            return Err(problem(
                "signature.header",
                "not with signature.source: the token is in the body",
            ))
        }
        (header, None) => Some(
            super::definition::HeaderName::parse(&required(header, "signature.header")?)
                .map_err(|r| problem("signature.header", r))?,
        ),
    };
    if sig.fields.is_some() && (sig.prefix.is_some() || sig.separator.is_some()) {
        return Err(problem(
            "signature.fields",
            "exclusive with signature.prefix and signature.separator",
        ));
    }
    if let Some(fields) = &sig.fields {
        if fields.separator.is_empty() || fields.signature.is_empty() {
            return Err(problem(
                "signature.fields",
                "separator and signature are not empty",
            ));
        }
    }
    let prefix_required = sig.prefix_required.unwrap_or(false);
    if prefix_required && sig.prefix.is_none() {
        return Err(problem(
            "signature.prefix_required",
            "needs signature.prefix",
        ));
    }
    if sig.prefix.as_deref() == Some("") || sig.separator.as_deref() == Some("") {
        return Err(problem("signature", "prefix and separator are not empty"));
    }
    if is_token {
        // The header holds the secret itself: there are no signed bytes to
        // describe, and one token per header.
        for (key, given) in [
            ("signature.signed", sig.signed.is_some()),
            ("signature.separator", sig.separator.is_some()),
            ("signature.fields", sig.fields.is_some()),
            ("signature.encoding", sig.encoding.is_some()),
        ] {
            if given {
                return Err(problem(
                    key,
                    "not with algorithm: token (the header carries the secret itself)",
                ));
            }
        }
    }
    let signed = Template::parse(sig.signed.as_deref().unwrap_or("{body}"))
        .map_err(|r| problem("signature.signed", r))?;
    let signature = Signature {
        header,
        algorithm,
        // Hex is what M2M, Transfers, GitHub and Stripe send.
        encoding: choice(
            sig.encoding.as_deref(),
            "signature.encoding",
            SignatureEncoding::Hex,
            &[
                ("hex", SignatureEncoding::Hex),
                ("base64", SignatureEncoding::Base64),
            ],
        )?,
        prefix: sig.prefix,
        prefix_required,
        separator: sig.separator,
        fields: sig.fields,
        signed,
        source: sig.source,
        key_prefix: sig.key_prefix,
    };
    Ok(Scheme {
        key: match public {
            true => Some(secret.clone()),
            false => beside,
        },
        secret,
        signature,
    })
}
