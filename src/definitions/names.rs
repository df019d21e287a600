//! The names a definition chooses: the provider's own, its types, and the
//! variable holding its secret. Each rule's error says what is wrong with the
//! name, never anything a variable holds.

use super::rules::{DEADLETTER, UNROUTED};

/// A provider name that cannot be a path segment, a metrics label and a type prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` does not match [a-z][a-z0-9-]{{0,31}}")]
pub struct ProviderNameError {
    pub name: String,
}

/// `[a-z][a-z0-9-]{0,31}`: it becomes a path segment, a metrics label and a type prefix.
pub fn check_name(name: &str) -> Result<(), ProviderNameError> {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_lowercase());
    let rest_ok = bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !first_ok || !rest_ok || name.len() > 32 {
        return Err(ProviderNameError { name: name.into() });
    }
    Ok(())
}

/// A catalogue entry's `type` that the provider may not publish under.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TypeNameError {
    #[error("`{ty}` does not start with `{provider}.`")]
    WrongPrefix { ty: String, provider: String },
    #[error("`{ty}`: only [a-z0-9._-]")]
    Characters { ty: String },
    #[error("`{ty}` is reserved (events the catalogue does not know)")]
    Reserved { ty: String },
}

pub(super) fn check_type(provider: &str, ty: &str) -> Result<(), TypeNameError> {
    if !ty.starts_with(&format!("{provider}.")) || ty.len() == provider.len() + 1 {
        return Err(TypeNameError::WrongPrefix {
            ty: ty.into(),
            provider: provider.into(),
        });
    }
    if !ty
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    {
        return Err(TypeNameError::Characters { ty: ty.into() });
    }
    if ty == format!("{provider}.unknown") || ty == UNROUTED || ty == DEADLETTER {
        return Err(TypeNameError::Reserved { ty: ty.into() });
    }
    Ok(())
}

/// A `secret.env` that cannot name a provider's secret (the variable's name,
/// never its value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretEnvError {
    #[error("`{env}` is not an environment variable name")]
    NotAName { env: String },
    #[error("`{env}`: GATEWAY_* and KAFKA_* variables are the gateway's own settings")]
    Reserved { env: String },
}

/// The gateway's own and librdkafka's variables are never a provider's secret.
pub(super) fn check_secret_env(env: &str) -> Result<(), SecretEnvError> {
    let shaped = env.bytes().next().is_some_and(|b| !b.is_ascii_digit())
        && env.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !shaped {
        return Err(SecretEnvError::NotAName { env: env.into() });
    }
    if env.starts_with("GATEWAY_") || env.starts_with("KAFKA_") {
        return Err(SecretEnvError::Reserved { env: env.into() });
    }
    Ok(())
}
