//! `webhook-gateway contract`: the consumer contract of this configuration
//! ([`crate::contract`]), one type's schema, or what changed since an earlier
//! document. It reads the definitions and the topic settings only: no broker,
//! no secret.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;

use super::{CmdError, Done, Outcome};
use crate::contract::{check, document, message_schema, render, write_pretty, DataSchemas};
use crate::settings::{Env, Published, Settings};

#[derive(Args, Debug)]
pub struct ContractArgs {
    /// Print only this type's record schema (JSON Schema draft-07): a canonical type,
    /// <provider>.unknown or deadletter
    #[arg(long = "type", value_name = "TYPE", conflicts_with = "check")]
    pub type_name: Option<String>,
    /// Compare with an earlier document: list the changes, exit 1 when one breaks consumers
    #[arg(long, value_name = "OLD")]
    pub check: Option<PathBuf>,
}

pub fn run(args: ContractArgs, env: &Env) -> Outcome {
    let settings = Settings::from_env(env)?;
    let published = Published::read(&settings)?;
    match (args.type_name, args.check) {
        (Some(type_name), _) => one_type(&published, &type_name),
        (None, Some(old)) => check_against(&published, &old),
        (None, None) => {
            // Written as it is made: thousands of types are never held.
            let schemas = DataSchemas::load(&published.providers)?;
            let out = std::io::BufWriter::new(std::io::stdout().lock());
            write_pretty(&published, &schemas, out)
                .map_err(|e| CmdError::Usage(format!("cannot write the document: {e}")))?;
            Ok(Done::Success)
        }
    }
}

/// `--type`: one type's record schema.
fn one_type(published: &Published, type_name: &str) -> Outcome {
    let schemas = DataSchemas::load(&published.providers)?;
    let schema = message_schema(published, &schemas, type_name).map_err(|known| {
        CmdError::Usage(format!(
            "no type `{type_name}` (known: {})",
            known.join(", ")
        ))
    })?;
    print!("{}", render(&schema));
    Ok(Done::Success)
}

/// `--check OLD`: the changes since an earlier document.
fn check_against(published: &Published, old_path: &Path) -> Outcome {
    let doc = document(published)?;
    let unusable = |e: String| CmdError::Usage(format!("{}: {e}", old_path.display()));
    let old = std::fs::read_to_string(old_path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
        .map_err(unusable)?;
    let changes = check::compare(&old, &doc).map_err(|e| unusable(e.to_string()))?;
    for change in &changes {
        println!("{change}");
    }
    let breaking = changes.iter().filter(|c| c.breaking).count();
    if breaking > 0 {
        println!(
            "{breaking} change(s) break consumers of {}",
            old_path.display()
        );
        Ok(Done::Failure)
    } else {
        println!("no change breaks consumers of {}", old_path.display());
        Ok(Done::Success)
    }
}
