//! `webhook-gateway providers show [NAME]`: the effective definitions as
//! YAML ([`crate::definitions::show`]).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{CmdError, Done, Outcome};
use crate::definitions::load::providers_file;
use crate::definitions::show::{show, ShowError};
use crate::definitions::Definitions;
use crate::settings::Env;

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
        /// The providers file, as the gateway reads it [env: GATEWAY_PROVIDERS_FILE]
        #[arg(long, value_name = "FILE")]
        providers_file: Option<PathBuf>,
    },
}

pub fn run(args: ProvidersArgs, env: &Env) -> Outcome {
    let ProvidersAction::Show {
        name,
        providers_file: flag,
    } = args.action;
    let defs = Definitions::load(providers_file(flag.as_deref(), env).as_deref())?;
    let yaml = show(&defs, name.as_deref()).map_err(|e| match e {
        ShowError::Unknown { .. } => CmdError::Usage(e.to_string()),
        ShowError::Yaml(_) => CmdError::Failed(e.to_string()),
    })?;
    print!("{yaml}");
    Ok(Done::Success)
}
