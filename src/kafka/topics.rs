//! `webhook-gateway topics check|create`: the routed topics of every defined
//! provider as the broker has them. With `acks=all`, "acknowledged" means
//! written to `min.insync.replicas` replicas, so a topic with fewer than 3
//! replicas or `min.insync.replicas` below 2 is flagged: one broker's loss
//! could lose an acknowledged event. The command's shell is
//! `cmd::topics`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;

use crate::settings::Config;

#[derive(Args, Debug)]
pub struct TopicsArgs {
    #[command(subcommand)]
    pub action: TopicsAction,
    /// The providers file, as the gateway's --providers-file [env: GATEWAY_PROVIDERS_FILE]
    #[arg(long, global = true, value_name = "FILE")]
    pub providers_file: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum TopicsAction {
    /// List every routed topic with partitions, replication factor and min.insync.replicas;
    /// exits 1 when one is missing.
    Check,
    /// Create the routed topics that are missing, then check.
    Create {
        /// Partitions for each new topic
        #[arg(long, default_value_t = 6)]
        partitions: i32,
        /// Replication factor for each new topic
        #[arg(long, default_value_t = 3)]
        replication_factor: i32,
    },
}

const TIMEOUT: Duration = Duration::from_secs(15);

/// One routed topic as the broker reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicState {
    pub name: String,
    /// `None` when the topic does not exist.
    pub partitions: Option<usize>,
    pub replication: Option<usize>,
    pub min_insync: Option<u32>,
}

impl TopicState {
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(r) = self.replication.filter(|r| *r < 3) {
            w.push(format!("replication factor {r} < 3"));
        }
        if let Some(m) = self.min_insync.filter(|m| *m < 2) {
            w.push(format!("min.insync.replicas {m} < 2"));
        }
        w
    }
}

/// What a `topics` run could not get from the broker.
#[derive(Debug, thiserror::Error)]
pub enum TopicsError {
    #[error("broker metadata: {0}")]
    Metadata(KafkaError),
    #[error("{0}")]
    Create(KafkaError),
}

/// What `action` asks of the broker: `create` makes the routed topics that
/// are missing (saying which), then both describe every routed topic.
pub async fn apply(
    admin: &AdminClient<DefaultClientContext>,
    config: &Config,
    action: &TopicsAction,
) -> Result<Vec<TopicState>, TopicsError> {
    if let TopicsAction::Create {
        partitions,
        replication_factor,
    } = *action
    {
        let states = describe(admin, config).await?;
        let new: Vec<_> = states
            .iter()
            .filter(|s| s.partitions.is_none())
            .map(|s| {
                NewTopic::new(
                    &s.name,
                    partitions,
                    TopicReplication::Fixed(replication_factor),
                )
            })
            .collect();
        if !new.is_empty() {
            let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
            let results = admin
                .create_topics(&new, &options)
                .await
                .map_err(TopicsError::Create)?;
            for result in results {
                match result {
                    Ok(name) => println!("created {name}"),
                    Err((name, code)) => eprintln!("could not create {name}: {code:?}"),
                }
            }
        }
    }
    describe(admin, config).await
}

/// Metadata for all topics (never naming one: that can auto-create it), then
/// `min.insync.replicas` for the routed topics that exist.
async fn describe(
    admin: &AdminClient<DefaultClientContext>,
    config: &Config,
) -> Result<Vec<TopicState>, TopicsError> {
    let metadata = admin
        .inner()
        .fetch_metadata(None, TIMEOUT)
        .map_err(TopicsError::Metadata)?;
    let mut states: Vec<TopicState> = config
        .published
        .topics
        .all()
        .iter()
        .map(|name| {
            let topic = metadata
                .topics()
                .iter()
                .find(|t| t.name() == &**name && t.error().is_none());
            TopicState {
                name: name.to_string(),
                partitions: topic.map(|t| t.partitions().len()).filter(|p| *p > 0),
                replication: topic
                    .and_then(|t| t.partitions().iter().map(|p| p.replicas().len()).min()),
                min_insync: None,
            }
        })
        .collect();
    let existing: Vec<String> = states
        .iter()
        .filter(|s| s.partitions.is_some())
        .map(|s| s.name.clone())
        .collect();
    let specifiers: Vec<_> = existing
        .iter()
        .map(|n| ResourceSpecifier::Topic(n))
        .collect();
    if !specifiers.is_empty() {
        let options = AdminOptions::new().request_timeout(Some(TIMEOUT));
        // Not every broker answers DescribeConfigs; the column then shows `-`.
        if let Ok(results) = admin.describe_configs(&specifiers, &options).await {
            for (name, result) in existing.iter().zip(results) {
                let value = result
                    .ok()
                    .and_then(|r| r.get("min.insync.replicas").and_then(|e| e.value.clone()))
                    .and_then(|v| v.parse().ok());
                if let Some(state) = states.iter_mut().find(|s| &s.name == name) {
                    state.min_insync = value;
                }
            }
        }
    }
    Ok(states)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_durability_is_flagged() {
        let s = |replication, min_insync| TopicState {
            name: "t".into(),
            partitions: Some(3),
            replication: Some(replication),
            min_insync: Some(min_insync),
        };
        assert!(s(3, 2).warnings().is_empty());
        assert_eq!(s(1, 2).warnings(), ["replication factor 1 < 3"]);
        assert_eq!(s(3, 1).warnings(), ["min.insync.replicas 1 < 2"]);
    }
}
