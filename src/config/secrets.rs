//! Provider secrets: loaded once from `<VAR>` (a comma-separated list) or
//! `<VAR>_FILE` (one per line), fingerprinted so the reload watcher can tell a
//! rotated file; no message ever echoes a secret.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{invalid, ConfigError, Env};
use crate::providers::Definition;
use crate::verify::KeyRing;

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

/// A provider's secrets from `<VAR>` (comma-separated) or `<VAR>_FILE` (one per
/// line), `<VAR>` being its `secret.env`. Neither set: the provider is disabled.
/// Error messages never echo a secret.
pub(super) fn load_secrets(
    env: &Env,
    def: &Definition,
) -> Result<Option<ProviderSecrets>, ConfigError> {
    let var = def.secret.env.as_str();
    let file_var = format!("{var}_FILE");
    match (env.get(var), env.get(&file_var)) {
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(invalid(
            var,
            format!("set either {var} or {file_var}, not both"),
        )),
        (Some(list), None) => {
            let secrets = split_secrets(list, ',').map_err(|e| invalid(var, e))?;
            Ok(Some(ProviderSecrets {
                source: SecretSource::Env(var.to_owned()),
                keys: key_ring(def, &secrets).map_err(|e| invalid(var, e))?,
            }))
        }
        (None, Some(path)) => {
            let path = PathBuf::from(path);
            let (secrets, loaded) = read_secret_file(&path).map_err(|e| invalid(&file_var, e))?;
            Ok(Some(ProviderSecrets {
                source: SecretSource::File(path, loaded),
                keys: key_ring(def, &secrets).map_err(|e| invalid(&file_var, e))?,
            }))
        }
    }
}

/// The keys of a provider's secrets, decoded as its definition says.
pub fn key_ring(def: &Definition, secrets: &[String]) -> Result<KeyRing, String> {
    KeyRing::new(def.signature.algorithm, def.secret.encoding, secrets)
}

/// A secret file's secrets and the fingerprint of the very bytes they came
/// from (one read, so the two always agree).
pub fn read_secret_file(path: &Path) -> Result<(Vec<String>, Fingerprint), String> {
    let bytes = std::fs::read(path).map_err(|e| secret_file_error(path, e.kind()))?;
    Ok((parse_secret_file(path, &bytes)?, Fingerprint::of(&bytes)))
}

/// One secret per line; trailing newlines are trimmed, an empty line is an error.
pub fn parse_secret_file(path: &Path, bytes: &[u8]) -> Result<Vec<String>, String> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| secret_file_error(path, std::io::ErrorKind::InvalidData))?;
    split_secrets(text.trim_end_matches(['\n', '\r']), '\n')
}

/// Why a secret file cannot be read: its path and the kind of error, never content.
pub fn secret_file_error(path: &Path, kind: std::io::ErrorKind) -> String {
    format!("cannot read `{}`: {kind}", path.display())
}

/// A list of secrets; an empty list or element is an error (never echoing a secret).
pub(crate) fn split_secrets(text: &str, separator: char) -> Result<Vec<String>, String> {
    if text.trim().is_empty() {
        return Err("is empty".into());
    }
    let secrets: Vec<String> = text.split(separator).map(|s| s.trim().to_owned()).collect();
    if secrets.iter().any(String::is_empty) {
        return Err("contains an empty secret".into());
    }
    Ok(secrets)
}
