//! Provider secrets: loaded once from `<VAR>` (a comma-separated list) or
//! `<VAR>_FILE` (one per line), fingerprinted so the reload watcher can tell a
//! rotated file; no message ever echoes a secret.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{invalid, ConfigError, Env};
use crate::definitions::Definition;
use crate::engine::verify::{KeyRing, KeyRingError};

/// Where a provider's secrets came from: kept so a file can be reloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    Env(String),
    /// The file, and the fingerprint of the bytes the secrets were read from:
    /// the reload watcher compares against it, so a rotation that lands
    /// between start-up's read and the watcher's first look is still applied.
    File(PathBuf, Fingerprint),
}

/// A SHA-256 digest of a secret file's content, to tell a changed file from an
/// unchanged one. Its Debug shows no digest: a hash of a short secret can be
/// brute-forced, and `SecretSource` is in the start-up log.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    pub fn of(bytes: &[u8]) -> Fingerprint {
        Fingerprint(Sha256::digest(bytes).into())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fingerprint(..)")
    }
}

#[derive(Debug, Clone)]
pub struct ProviderSecrets {
    pub source: SecretSource,
    pub keys: KeyRing,
}

/// Why a provider's secrets cannot be read or used: never their content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("cannot read `{}`: {kind}", path.display())]
    Unreadable {
        path: PathBuf,
        kind: std::io::ErrorKind,
    },
    #[error("is empty")]
    Empty,
    #[error("contains an empty secret")]
    EmptySecret,
    #[error(transparent)]
    Key(#[from] KeyRingError),
}

/// A provider's secrets as `<var>` (a comma-separated list) or `<var>_FILE`
/// (a file, one per line) holds them, and where they came from; `None` when
/// neither is set. Both set is refused: nobody can tell which one applies.
/// The gateway and `sign` both read secrets here. Errors name the variable,
/// never a secret.
pub fn read_secrets(
    env: &Env,
    var: &str,
) -> Result<Option<(Vec<String>, SecretSource)>, ConfigError> {
    let file_var = format!("{var}_FILE");
    match (env.get(var), env.get(&file_var)) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(invalid(
            var,
            format!("set either {var} or {file_var}, not both"),
        )),
        (Some(list), None) => {
            let secrets = split_secrets(list, ',').map_err(|e| invalid(var, e.to_string()))?;
            Ok(Some((secrets, SecretSource::Env(var.to_owned()))))
        }
        (None, Some(path)) => {
            let path = PathBuf::from(path);
            let (secrets, loaded) =
                read_secret_file(&path).map_err(|e| invalid(&file_var, e.to_string()))?;
            Ok(Some((secrets, SecretSource::File(path, loaded))))
        }
    }
}

/// A provider's secrets (see [`read_secrets`]), decoded as its definition
/// says. Neither variable set: the provider is disabled.
pub(super) fn load_secrets(
    env: &Env,
    def: &Definition,
) -> Result<Option<ProviderSecrets>, ConfigError> {
    let var = def.secret.env.as_str();
    let Some((secrets, source)) = read_secrets(env, var)? else {
        return Ok(None);
    };
    let setting = match &source {
        SecretSource::Env(_) => var.to_owned(),
        SecretSource::File(..) => format!("{var}_FILE"),
    };
    let mut keys = key_ring(def, &secrets)
        .map_err(|e| invalid(setting, format!("provider \"{}\": {e}", def.name)))?;
    // Ed25519 keys beside the secrets (Standard Webhooks `v1a,`): another
    // variable, read by the same rule; unset, only the secrets verify.
    if let Some(key) = def
        .key
        .as_ref()
        .filter(|_| !def.signature.algorithm.is_public_key())
    {
        if let Some((list, source)) = read_secrets(env, &key.env)? {
            let setting = match source {
                SecretSource::Env(_) => key.env.clone(),
                SecretSource::File(..) => format!("{}_FILE", key.env),
            };
            keys = keys
                .with_keys_beside(key.encoding, &list)
                .map_err(|e| invalid(setting, format!("provider \"{}\": {e}", def.name)))?;
        }
    }
    // What a handshake's token must equal: required once the provider is
    // enabled, or its sender's verification would fail with no hint why.
    if let Some(secret) = &def.handshake_secret {
        let Some((tokens, _)) = read_secrets(env, &secret.env)? else {
            return Err(invalid(
                &secret.env,
                format!(
                    "provider \"{}\": required by its handshakes' token (handshake_secret); set it or {}_FILE",
                    def.name, secret.env
                ),
            ));
        };
        keys = keys.with_handshake_tokens(&tokens);
    }
    Ok(Some(ProviderSecrets { source, keys }))
}

/// The keys of a provider's secrets, decoded as its definition says.
pub fn key_ring(def: &Definition, secrets: &[String]) -> Result<KeyRing, SecretError> {
    Ok(KeyRing::new(
        def.signature.algorithm,
        def.secret.encoding,
        secrets,
    )?)
}

/// A secret file's secrets and the fingerprint of the very bytes they came
/// from (one read, so the two always agree).
pub fn read_secret_file(path: &Path) -> Result<(Vec<String>, Fingerprint), SecretError> {
    let bytes = std::fs::read(path).map_err(|e| secret_file_error(path, e.kind()))?;
    Ok((parse_secret_file(path, &bytes)?, Fingerprint::of(&bytes)))
}

/// One secret per line; trailing newlines are trimmed, an empty line is an error.
pub fn parse_secret_file(path: &Path, bytes: &[u8]) -> Result<Vec<String>, SecretError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| secret_file_error(path, std::io::ErrorKind::InvalidData))?;
    split_secrets(text.trim_end_matches(['\n', '\r']), '\n')
}

/// Why a secret file cannot be read: its path and the kind of error, never content.
pub fn secret_file_error(path: &Path, kind: std::io::ErrorKind) -> SecretError {
    SecretError::Unreadable {
        path: path.to_owned(),
        kind,
    }
}

/// A list of secrets; an empty list or element is an error (never echoing a secret).
fn split_secrets(text: &str, separator: char) -> Result<Vec<String>, SecretError> {
    if text.trim().is_empty() {
        return Err(SecretError::Empty);
    }
    let secrets: Vec<String> = text.split(separator).map(|s| s.trim().to_owned()).collect();
    if secrets.iter().any(String::is_empty) {
        return Err(SecretError::EmptySecret);
    }
    Ok(secrets)
}
