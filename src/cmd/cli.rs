//! The command line: the gateway itself (its settings' flags are
//! `config::RunFlags`) or one of its subcommands. clap parses flags and
//! arguments only: every variable is read from the environment map by the
//! command ([`crate::cmd`]), so `--help` never shows a value.

use clap::{Parser, Subcommand};

use crate::settings::RunFlags;

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
    pub run: RunFlags,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sign a webhook body read from stdin: prints the headers to send, or a curl command.
    Sign(crate::sign::SignArgs),
    /// Check or create the routed topics (same KAFKA_* and GATEWAY_TOPIC_* settings as the gateway).
    Topics(crate::kafka::topics::TopicsArgs),
    /// Show the provider definitions (built-in and GATEWAY_PROVIDERS_FILE's) as the gateway reads them.
    Providers(crate::cmd::providers::ProvidersArgs),
    /// Print the consumer contract (AsyncAPI 3.0) of every record this configuration can publish.
    Contract(crate::cmd::contract::ContractArgs),
    /// Republish unrouted or dead-letter records that the current definitions route (same KAFKA_* and GATEWAY_* settings as the gateway).
    Redrive(crate::redrive::RedriveArgs),
}
