//! `webhook-gateway providers show [NAME]`: the effective definitions (presets
//! merged, defaults filled) as YAML, built-ins included. Only the secrets'
//! variable names appear: a definition never holds a secret.

use std::collections::HashMap;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::{Definition, Definitions};

#[derive(Args, Debug)]
pub struct ProvidersArgs {
    #[command(subcommand)]
    pub action: ProvidersAction,
}

#[derive(Subcommand, Debug)]
pub enum ProvidersAction {
    /// Print the effective definitions (presets merged, defaults filled) as YAML
    Show {
        /// Only this provider
        name: Option<String>,
        /// The providers file, as the gateway reads it
        #[arg(
            long,
            env = super::load::PROVIDERS_FILE_VAR,
            hide_env_values = true,
            value_name = "FILE"
        )]
        providers_file: Option<PathBuf>,
    },
}

/// Why `providers show` printed nothing; main exits 64 (the file or the name is wrong).
#[derive(Debug, thiserror::Error)]
pub enum ShowError {
    #[error(transparent)]
    Definition(#[from] super::DefinitionError),
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

pub fn main(args: ProvidersArgs, env: &HashMap<String, String>) -> Result<String, ShowError> {
    let ProvidersAction::Show {
        name,
        providers_file,
    } = args.action;
    let file = super::load::providers_file(providers_file.as_deref(), env);
    let defs = Definitions::load(file.as_deref())?;
    show(&defs, name.as_deref())
}

/// The YAML text for every definition, or for the one named.
pub fn show(defs: &Definitions, name: Option<&str>) -> Result<String, ShowError> {
    let providers: Vec<&Definition> = match name {
        None => defs.list.iter().collect(),
        Some(name) => vec![defs.get(name).ok_or_else(|| ShowError::Unknown {
            name: name.to_owned(),
            known: defs
                .list
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?],
    };
    Ok(format!(
        "{HEADER}{}",
        serde_yaml_ng::to_string(&Shown { providers })?
    ))
}
