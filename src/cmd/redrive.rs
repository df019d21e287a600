//! `webhook-gateway redrive`: republishes what the current definitions route
//! ([`crate::redrive`]) and prints the summary; exit 1 when the run stopped
//! on a failure.

use super::{CmdError, Done, Outcome};
use crate::contract::DataSchemas;
use crate::redrive::{redrive, RedriveArgs};
use crate::settings::{invalid, Config, Env, RunFlags, Settings};

pub fn run(args: RedriveArgs, env: &Env) -> Outcome {
    let flags = RunFlags::providers_file(args.providers_file.clone());
    let config = Config::without_secrets(Settings::read(&flags, env)?, env)?;
    if let Some(p) = &args.provider {
        if !config.published.providers.list.iter().any(|d| d.name == *p) {
            return Err(invalid("--provider", format!("no provider named `{p}`")).into());
        }
    }
    let schemas = DataSchemas::load(&config.published.providers)?;
    let runtime = crate::runtime(config.settings.worker_threads);
    let summary = runtime
        .block_on(redrive(&args, &config, &schemas))
        .map_err(|e| CmdError::Failed(e.to_string()))?;
    if args.json {
        println!("{}", summary.to_json());
    } else {
        print!("{summary}");
    }
    Ok(if summary.failed() {
        Done::Failure
    } else {
        Done::Success
    })
}
