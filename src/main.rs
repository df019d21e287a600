//! The binary: parses the command line, hands the command the environment as
//! a map, and turns how it ended into the exit status, here and nowhere else.

use std::process::ExitCode;

use clap::Parser;

use webhook_gateway::cmd::cli::Cli;
use webhook_gateway::cmd::{self, CmdError, Done};
use webhook_gateway::settings::Env;
use webhook_gateway::EX_USAGE;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // --help and --version are not errors.
            return if e.use_stderr() {
                ExitCode::from(EX_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    // A variable whose name or value is not UTF-8 is left out: no setting reads it.
    let env: Env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let name = cmd::name(&cli);
    match cmd::run(cli, &env) {
        Ok(Done::Success) => ExitCode::SUCCESS,
        Ok(Done::Failure) => ExitCode::FAILURE,
        Err(e) => {
            // One line: `webhook-gateway[ <command>]: [configuration error: ]...`
            eprintln!("{name}: {e}");
            ExitCode::from(match e {
                CmdError::Config(_) | CmdError::Usage(_) => EX_USAGE,
                CmdError::Failed(_) => 1,
            })
        }
    }
}
