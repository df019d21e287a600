//! `webhook-gateway providers show [NAME]`: the effective definitions (presets
//! merged, defaults filled) as YAML, built-ins included. Only the secrets'
//! variable names appear: a definition never holds a secret. The command's
//! shell is `cmd::providers`.

use serde::Serialize;

use super::{Definition, Definitions};

/// Why `providers show` printed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ShowError {
    #[error("no provider `{name}` (defined: {known})")]
    Unknown { name: String, known: String },
    #[error("cannot print the definitions: {0}")]
    Yaml(#[from] serde_yaml_ng::Error),
}

#[derive(Serialize)]
struct Shown<'a> {
    providers: Vec<&'a Definition>,
}

const HEADER: &str = "# Effective provider definitions: presets merged, defaults filled.\n\
# No timestamp.tolerance_secs: GATEWAY_REPLAY_TOLERANCE_SECS applies.\n";

/// The YAML text for every definition, or for the one named.
pub fn show(defs: &Definitions, name: Option<&str>) -> Result<String, ShowError> {
    let providers: Vec<&Definition> = match name {
        None => defs.list.iter().collect(),
        Some(name) => vec![defs.get(name).ok_or_else(|| ShowError::Unknown {
            name: name.to_owned(),
            known: defs.names().collect::<Vec<_>>().join(", "),
        })?],
    };
    let notes: String = providers
        .iter()
        .flat_map(|d| d.notes())
        .map(|n| format!("# {n}\n"))
        .collect();
    Ok(format!(
        "{HEADER}{notes}{}",
        serde_yaml_ng::to_string(&Shown { providers })?
    ))
}
