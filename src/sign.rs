//! `webhook-gateway sign`: signs a body the way a provider's definition says,
//! for trying the gateway by hand and for the commands `--dev` prints.

use std::io::Read;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use clap::Args;
use sha2::{Digest, Sha256};

use crate::definitions::compiled::{Algorithm, Definition, SignatureEncoding, TimestampFormat};
use crate::definitions::definition::{Part, Signed, Source};
use crate::definitions::load::providers_file;
use crate::definitions::{DefinitionError, Definitions};
use crate::engine::form;
use crate::engine::normalize::rfc3339;
use crate::engine::verify::{KeyRing, KeyRingError};
use crate::settings::{read_secret_file, read_secrets, ConfigError, Env, SecretError};

#[derive(Args, Debug)]
pub struct SignArgs {
    /// The provider whose scheme to use: a built-in (m2m, transfers) or one of GATEWAY_PROVIDERS_FILE's
    pub provider: String,
    /// The providers file, as the gateway's --providers-file [env: GATEWAY_PROVIDERS_FILE]
    #[arg(long, value_name = "PATH")]
    pub providers_file: Option<PathBuf>,
    /// File holding the secret (first line is used); default: the provider's own
    /// secret variable (its `secret.env`, or that variable's _FILE variant)
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
    /// File holding the private key (PKCS#8 PEM), for a provider that signs with a
    /// public-key scheme (ed25519, ecdsa-p256): the gateway holds only the public key
    #[arg(long, value_name = "PATH")]
    pub key_file: Option<PathBuf>,
    /// Timestamp to sign, for schemes with one [default: now, in the definition's format]
    #[arg(long)]
    pub timestamp: Option<String>,
    /// Delivery id to send, for definitions that take it from a header or field
    /// [default: derived from the body and timestamp]
    #[arg(long)]
    pub id: Option<String>,
    /// Print a complete curl command that posts the body to URL
    #[arg(long, value_name = "URL")]
    pub curl: Option<String>,
    /// Another request header, `NAME: VALUE` (repeatable): what the definition reads
    /// besides the signature, such as an event name from a header. A content-type
    /// replaces the curl command's application/json
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Perform the provider's handshake NAME instead of signing a body from stdin:
    /// the request its sender sends (signed where the handshake is verified, its
    /// token from the provider's handshake_secret variable)
    #[arg(long, value_name = "NAME")]
    pub handshake: Option<String>,
}

/// Why `sign` signed nothing: one line, naming a variable or a file but never
/// a secret.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The providers file.
    #[error(transparent)]
    Definitions(#[from] DefinitionError),
    #[error("no provider `{name}` (defined: {defined})")]
    NoProvider { name: String, defined: String },
    #[error("--timestamp: provider `{provider}` signs no timestamp")]
    NoTimestamp { provider: String },
    #[error("--id: provider `{provider}` has no delivery id")]
    NoId { provider: String },
    /// `at`: where in the body the definition reads the id.
    #[error(
        "--id: provider `{provider}` reads its delivery id from the body ({at}): set it there"
    )]
    IdInBody { provider: String, at: String },
    /// Each of the three: the `--header` as given.
    #[error("--header `{0}`: expected NAME: VALUE")]
    HeaderForm(String),
    #[error("--header `{0}`: not a valid header name")]
    HeaderName(String),
    #[error("--header `{0}`: not a valid header value")]
    HeaderValue(String),
    /// A header of the signature's own (its value, timestamp or id).
    #[error("--header: sign writes {header} itself (set its parts with --timestamp and --id)")]
    OwnHeader { header: String },
    #[error("--secret-file: {0}")]
    SecretFile(SecretError),
    /// A public-key scheme signs with a private key, which no variable holds.
    #[error("provider `{provider}` signs with a private key: pass --key-file (PKCS#8 PEM)")]
    NoPrivateKey { provider: String },
    #[error("--key-file {path}: cannot read it ({kind})")]
    KeyFile {
        path: PathBuf,
        kind: std::io::ErrorKind,
    },
    /// Neither the provider's secret variable nor its `_FILE` is set.
    #[error("no secret: set {var} or {var}_FILE, or pass --secret-file")]
    NoSecret { var: String },
    /// A handshake's token, whose `handshake_secret` variable is unset.
    #[error("no handshake token: set {var} or {var}_FILE (the provider's handshake_secret)")]
    NoHandshakeToken { var: String },
    /// The provider's secret variables, refused as the gateway refuses them.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The secret does not decode as the definition's `secret.encoding` says.
    #[error(transparent)]
    Key(#[from] KeyRingError),
    #[error("cannot read the body from stdin: {0}")]
    Stdin(std::io::Error),
    #[error("--curl needs a UTF-8 body")]
    CurlNotUtf8,
    #[error("--handshake: provider `{provider}` has no handshake `{name}` (declared: {declared})")]
    NoHandshake {
        provider: String,
        name: String,
        declared: String,
    },
}

/// The parts a sender chooses besides the body.
#[derive(Debug, Clone, Default)]
pub struct Parts {
    /// Default: now, in the definition's format.
    pub timestamp: Option<String>,
    /// Default: derived from the body and the timestamp.
    pub id: Option<String>,
    /// Other headers the request carries (`--header`), which a template's
    /// `{header:NAME}` may sign.
    pub headers: Vec<(String, String)>,
}

/// The headers a provider would send with `body`, signed with `secret` (as
/// the secret variable holds it: decoded by the definition's `secret.encoding`).
/// An error: the secret does not decode so, which it names without its content.
pub fn signature_headers(
    def: &Definition,
    secret: &str,
    body: &[u8],
    parts: &Parts,
) -> Result<Vec<(String, String)>, KeyRingError> {
    let timestamp = match (&def.timestamp, &parts.timestamp) {
        (_, Some(given)) => given.clone(),
        (Some(t), None) => now_as(t.format),
        (None, None) => String::new(),
    };
    let id = parts.id.clone().unwrap_or_else(|| {
        let digest = Sha256::new()
            .chain_update(body)
            .chain_update(timestamp.as_bytes())
            .finalize();
        format!("msg_{}", hex::encode(&digest[..12]))
    });
    let sig = &def.signature;
    let given: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_bytes()))
        .collect();
    // A body that is no form signs as having no fields: the gateway refuses it.
    let form_sorted = match sig.signed.uses(&Part::FormSorted) {
        true => form::sorted(&form::fields(body).unwrap_or_default()),
        false => Vec::new(),
    };
    // The sender posts to the URL it was given, without a query of its own.
    let pieces = sig.signed.pieces(Signed {
        body,
        timestamp: timestamp.as_bytes(),
        id: id.as_bytes(),
        method: b"POST",
        url: def.url.as_deref().unwrap_or("").as_bytes(),
        headers: &given,
        form_sorted: &form_sorted,
    });
    let signature = match sig.algorithm {
        // A token's sender sends the secret itself.
        Algorithm::Token => None,
        // `secret` is the private key, which no key ring holds.
        a if a.is_public_key() => Some(sign_with_private_key(a, secret, pieces)?),
        a => KeyRing::new(a, def.secret.encoding, &[secret])?.sign(pieces),
    };
    let encoded = match (signature, sig.encoding) {
        (None, _) => secret.to_owned(),
        (Some(mac), SignatureEncoding::Hex) => hex::encode(mac),
        (Some(mac), SignatureEncoding::Base64) => {
            base64::engine::general_purpose::STANDARD.encode(mac)
        }
    };

    let mut headers = Vec::new();
    let mut fields = Vec::new();
    let mut place = |source: &Source, value: &str| match source {
        Source::Header(h) => headers.push((h.as_str().to_owned(), value.to_owned())),
        Source::Field(f) => fields.push(format!("{f}={value}")),
        Source::Pointer(_) | Source::Value(_) => {} // in the body already, or nowhere
    };
    if let Some(t) = &def.timestamp {
        place(&t.source, &timestamp);
    }
    if let Some(i) = &def.id {
        place(&i.source, &id);
    }
    let value = match &sig.fields {
        Some(f) => {
            fields.push(format!("{}={encoded}", f.signature));
            fields.join(&f.separator)
        }
        None => format!("{}{encoded}", sig.prefix.as_deref().unwrap_or("")),
    };
    // A token in the body is the body's to carry: `sign` adds no header.
    if let Some(header) = &sig.header {
        headers.push((header.as_str().to_owned(), value));
    }
    Ok(headers)
}

/// A public-key scheme's signature over the signed bytes, with the private
/// key in `pem` (PKCS#8): Ed25519's 64 bytes, or ECDSA P-256's DER.
fn sign_with_private_key<'a>(
    algorithm: Algorithm,
    pem: &str,
    pieces: impl Iterator<Item = &'a [u8]>,
) -> Result<Vec<u8>, KeyRingError> {
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    use p256::ecdsa::signature::Signer;
    let message: Vec<u8> = pieces.flatten().copied().collect();
    let not_key = |why| KeyRingError::PrivateKey { why };
    match algorithm {
        Algorithm::Ed25519 => {
            let key = ed25519_dalek::SigningKey::from_pkcs8_pem(pem)
                .map_err(|_| not_key("is not an Ed25519 private key (PKCS#8 PEM)"))?;
            Ok(key.sign(&message).to_bytes().to_vec())
        }
        _ => {
            let key = p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
                .map_err(|_| not_key("is not a P-256 private key (PKCS#8 PEM)"))?;
            let signature: p256::ecdsa::Signature = key.sign(&message);
            Ok(signature.to_der().as_bytes().to_vec())
        }
    }
}

/// The current time as a sender of `format` writes it.
fn now_as(format: TimestampFormat) -> String {
    let now = SystemTime::now();
    let since = now.duration_since(UNIX_EPOCH).expect("clock after 1970");
    match format {
        TimestampFormat::Auto | TimestampFormat::Unix => since.as_secs().to_string(),
        TimestampFormat::UnixMs => since.as_millis().to_string(),
        TimestampFormat::Rfc3339 => rfc3339(now).expect("the clock reads a representable time"),
    }
}

/// The first secret configured for the provider (the one a rotation adds
/// first): `--secret-file`'s, else read by the gateway's own rule
/// ([`read_secrets`]: its variable or that variable's `_FILE`, not both).
fn secret(args: &SignArgs, def: &Definition, env: &Env) -> Result<String, SignError> {
    if def.signature.algorithm.is_public_key() {
        let path = args
            .key_file
            .as_ref()
            .ok_or_else(|| SignError::NoPrivateKey {
                provider: def.name.clone(),
            })?;
        return std::fs::read_to_string(path).map_err(|e| SignError::KeyFile {
            path: path.clone(),
            kind: e.kind(),
        });
    }
    if let Some(path) = &args.secret_file {
        return read_secret_file(path)
            .map(|(s, _)| s[0].clone())
            .map_err(SignError::SecretFile);
    }
    match read_secrets(env, &def.secret.env)? {
        Some((secrets, _)) => Ok(secrets[0].clone()),
        None => Err(SignError::NoSecret {
            var: def.secret.env.clone(),
        }),
    }
}

/// Quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub fn main(args: SignArgs, env: &Env) -> Result<String, SignError> {
    let file = providers_file(args.providers_file.as_deref(), env);
    let defs = Definitions::load(file.as_deref())?;
    let def = defs.get(&args.provider).ok_or_else(|| {
        let names: Vec<_> = defs.names().collect();
        SignError::NoProvider {
            name: args.provider.clone(),
            defined: names.join(", "),
        }
    })?;
    check_parts(def, &args)?;
    let extra = args
        .headers
        .iter()
        .map(|h| extra_header(def, h))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(name) = &args.handshake {
        return handshake(&args, def, name, extra, env);
    }
    let secret = secret(&args, def, env)?;
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .map_err(SignError::Stdin)?;
    let parts = Parts {
        timestamp: args.timestamp.clone(),
        id: args.id.clone(),
        headers: extra.clone(),
    };
    for (key, header) in routing_headers(def) {
        if !extra.iter().any(|(name, _)| *name == header) {
            eprintln!(
                "note: provider `{}` reads {key} from the header {header}; add --header '{header}: ...'",
                def.name
            );
        }
    }
    let typed = extra
        .iter()
        .any(|(name, _)| name == http::header::CONTENT_TYPE.as_str());
    let mut headers = signature_headers(def, &secret, &body, &parts)?;
    headers.extend(extra);
    Ok(match &args.curl {
        None => headers.iter().map(|(k, v)| format!("{k}: {v}\n")).collect(),
        Some(url) => curl("POST", url, !typed, &headers, &body)?,
    })
}

/// A curl command that sends `body` (none when empty) with `headers` to
/// `url`, typed as JSON when `json` and the body is not empty.
fn curl(
    method: &str,
    url: &str,
    json: bool,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<String, SignError> {
    let body = std::str::from_utf8(body).map_err(|_| SignError::CurlNotUtf8)?;
    let mut cmd = format!("curl -sS -i -X {method} {}", shell_quote(url));
    if json && !body.is_empty() {
        cmd.push_str(" -H 'content-type: application/json'");
    }
    for (k, v) in headers {
        cmd.push_str(&format!(" -H {}", shell_quote(&format!("{k}: {v}"))));
    }
    if !body.is_empty() {
        cmd.push_str(&format!(" --data-binary {}", shell_quote(body)));
    }
    cmd.push('\n');
    Ok(cmd)
}

/// The request that performs handshake `name` of `def`: its example
/// (`Handshake::example`), signed where the handshake is verified, its
/// token the first of the provider's `handshake_secret` variable.
fn handshake(
    args: &SignArgs,
    def: &Definition,
    name: &str,
    extra: Vec<(String, String)>,
    env: &Env,
) -> Result<String, SignError> {
    let h = def
        .handshakes
        .iter()
        .find(|h| h.name == name)
        .ok_or_else(|| SignError::NoHandshake {
            provider: def.name.clone(),
            name: name.to_owned(),
            declared: def
                .handshakes
                .iter()
                .map(|h| h.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let token = match (&h.token, &def.handshake_secret) {
        (Some(_), Some(var)) => match read_secrets(env, &var.env)? {
            Some((tokens, _)) => tokens[0].clone(),
            None => {
                return Err(SignError::NoHandshakeToken {
                    var: var.env.clone(),
                })
            }
        },
        _ => String::new(),
    };
    let example = h.example(&token);
    let mut headers = example.headers;
    if h.verified {
        let parts = Parts {
            timestamp: args.timestamp.clone(),
            id: args.id.clone(),
            headers: extra.clone(),
        };
        let secret = secret(args, def, env)?;
        headers.extend(signature_headers(def, &secret, &example.body, &parts)?);
    }
    headers.extend(extra);
    let method = example.method.as_str();
    let query = match example.query.is_empty() {
        true => String::new(),
        false => format!("?{}", example.query),
    };
    Ok(match &args.curl {
        Some(url) => curl(
            method,
            &format!("{url}{query}"),
            true,
            &headers,
            &example.body,
        )?,
        None => {
            let mut out = format!("{method} /webhooks/{}{query}\n", def.name);
            for (k, v) in &headers {
                out.push_str(&format!("{k}: {v}\n"));
            }
            out.push('\n');
            out.push_str(&String::from_utf8_lossy(&example.body));
            out.push('\n');
            out
        }
    })
}

/// `--timestamp` and `--id` only for a definition that sends them in a header
/// or field: anything else would be silently ignored.
fn check_parts(def: &Definition, args: &SignArgs) -> Result<(), SignError> {
    let provider = def.name.clone();
    if args.timestamp.is_some() && def.timestamp.is_none() {
        return Err(SignError::NoTimestamp { provider });
    }
    if args.id.is_some() {
        match &def.id {
            None => return Err(SignError::NoId { provider }),
            Some(id) if !id.source.is_outside_body() => {
                return Err(SignError::IdInBody {
                    provider,
                    at: id.source.to_string(),
                })
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// One `--header NAME: VALUE`, checked as HTTP allows; the signature's own
/// headers are `sign`'s to write.
fn extra_header(def: &Definition, text: &str) -> Result<(String, String), SignError> {
    let (name, value) = text
        .split_once(':')
        .ok_or_else(|| SignError::HeaderForm(text.to_owned()))?;
    let name = http::HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| SignError::HeaderName(text.to_owned()))?;
    let value = value.trim();
    http::HeaderValue::from_str(value).map_err(|_| SignError::HeaderValue(text.to_owned()))?;
    let mut own = def
        .signature
        .header
        .iter()
        .chain(def.timestamp.iter().filter_map(|t| header_of(&t.source)))
        .chain(def.id.iter().filter_map(|i| header_of(&i.source)));
    if let Some(own) = own.find(|h| h.as_str() == name.as_str()) {
        return Err(SignError::OwnHeader {
            header: own.as_str().to_owned(),
        });
    }
    Ok((name.as_str().to_owned(), value.to_owned()))
}

fn header_of(source: &Source) -> Option<&crate::definitions::definition::HeaderName> {
    match source {
        Source::Header(h) => Some(h),
        _ => None,
    }
}

/// The headers a definition routes by (its event name and `join`): without
/// them the webhook dead-letters or lands unrouted.
fn routing_headers(def: &Definition) -> Vec<(&'static str, String)> {
    [
        ("event.name", Some(&def.event.name)),
        ("event.join", def.event.join.as_ref()),
    ]
    .into_iter()
    .filter_map(|(key, source)| Some((key, header_of(source?)?.as_str().to_owned())))
    .collect()
}
