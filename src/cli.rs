//! The command line: the gateway itself (its settings are `config::RunArgs`) or
//! one of its subcommands, each of whose arguments live beside the command.

use std::ffi::OsString;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::RunArgs;

#[derive(Parser, Debug)]
#[command(
    name = "webhook-gateway",
    version,
    about = "Verifies signed provider webhooks and publishes them to Kafka as CloudEvents; answers 2xx only after the broker's ack.",
    after_help = "Secrets are read from the environment only: M2M_WEBHOOK_SECRET, TRANSFERS_SIGNATURE_TOKEN (comma-separated lists) or their *_FILE variants. Any librdkafka property can be set as KAFKA_<PROPERTY> (e.g. KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL) or KAFKA_<PROPERTY>_FILE.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sign a webhook body read from stdin: prints the headers to send, or a curl command.
    Sign(crate::sign::SignArgs),
    /// Check or create the routed topics (same KAFKA_* and GATEWAY_TOPIC_* settings as the gateway).
    Topics(crate::topics::TopicsArgs),
    /// Show the provider definitions (built-in and GATEWAY_PROVIDERS_FILE's) as the gateway reads them.
    Providers(crate::providers::show::ProvidersArgs),
    /// Print the consumer contract (AsyncAPI 3.0) of every record this configuration can publish.
    Contract(crate::contract::ContractArgs),
    /// Republish unrouted or dead-letter records that the current definitions route (same KAFKA_* and GATEWAY_* settings as the gateway).
    Redrive(crate::redrive::RedriveArgs),
}

impl Cli {
    /// The process's command line and environment. A subcommand reads none of
    /// the run settings, so their variables are read (and a bad one refused)
    /// only when the gateway itself runs.
    pub fn from_process() -> Result<Cli, clap::Error> {
        let argv: Vec<OsString> = std::env::args_os().collect();
        let without_run_variables = Cli::command().mut_args(|a| a.env(None::<&str>));
        if let Ok(matches) = without_run_variables.try_get_matches_from(&argv) {
            if matches.subcommand().is_some() {
                return Cli::from_arg_matches(&matches);
            }
        }
        // The gateway, or a command line clap refuses: its help and errors as
        // clap gives them, variables included.
        Cli::try_parse_from(argv)
    }
}
