//! `webhook-gateway topics check|create`: the routed topics as the broker has
//! them ([`crate::kafka::topics`]), as a table; exit 1 when one is missing.

use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use super::{CmdError, Done, Outcome};
use crate::kafka::topics::{apply, TopicState, TopicsArgs};
use crate::settings::{Config, Env, RunFlags, Settings};

pub fn run(args: TopicsArgs, env: &Env) -> Outcome {
    let settings = Settings::read(&RunFlags::providers_file(args.providers_file), env)?;
    let config = Config::without_secrets(settings, env)?;
    let admin: AdminClient<DefaultClientContext> = config
        .kafka
        .client_config()
        .create()
        .map_err(|e| CmdError::Failed(format!("cannot create the Kafka admin client: {e}")))?;
    let runtime = crate::runtime(config.settings.worker_threads);
    let states = runtime
        .block_on(apply(&admin, &config, &args.action))
        .map_err(|e| CmdError::Failed(e.to_string()))?;
    Ok(report(&states))
}

/// Prints the table; a failure when a routed topic is missing.
fn report(states: &[TopicState]) -> Done {
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    println!(
        "{:<44} {:>10} {:>11} {:>10}  status",
        "topic", "partitions", "replication", "min.insync"
    );
    for s in states {
        let status = match s.partitions {
            None => "MISSING".to_owned(),
            Some(_) if s.warnings().is_empty() => "ok".to_owned(),
            Some(_) => format!("warning: {}", s.warnings().join(", ")),
        };
        println!(
            "{:<44} {:>10} {:>11} {:>10}  {status}",
            s.name,
            dash(s.partitions.map(|p| p.to_string())),
            dash(s.replication.map(|r| r.to_string())),
            dash(s.min_insync.map(|m| m.to_string())),
        );
    }
    if states.iter().any(|s| s.partitions.is_none()) {
        Done::Failure
    } else {
        Done::Success
    }
}
