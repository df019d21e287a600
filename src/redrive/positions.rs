//! Where a re-drive starts and stops in each partition of its source topic,
//! and how it records progress: offsets committed under its consumer group.
//!
//! A run reads each partition from its start to the end it had when the run
//! began, so records arriving meanwhile wait for the next run. The start is
//! where the group stopped, else the beginning; `--since` (offsets for a
//! time) or `--reset` moves it. Timestamps are checked on every record too,
//! so a broker that answers an offsets-for-time request with the earliest
//! offset still re-drives only the window asked for.

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::definitions::compiled::TimestampFormat;
use crate::engine::verify::parse_timestamp;
use crate::settings::KafkaSettings;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

const TIMEOUT: Duration = Duration::from_secs(15);

/// Why a run could not find, take or record its positions in the source topic.
#[derive(Debug, thiserror::Error)]
pub enum PositionError {
    #[error("broker metadata: {0}")]
    Metadata(KafkaError),
    #[error("topic {topic} does not exist")]
    NoTopic { topic: String },
    #[error("the group's committed offsets: {0}")]
    Committed(KafkaError),
    #[error("offsets for a time: {0}")]
    ForTime(KafkaError),
    #[error("{topic}/{partition} offsets: {error}")]
    Watermarks {
        topic: String,
        partition: i32,
        error: KafkaError,
    },
    /// An offset that a partition list refused.
    #[error("{0}")]
    Offset(KafkaError),
    #[error("reading {topic}: {error}")]
    Assign { topic: String, error: KafkaError },
    #[error("committing the group's offsets: {0}")]
    Commit(KafkaError),
}

/// A `--since`/`--until` that is neither a time nor an age.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The age reaches back before the Unix epoch.
    #[error("an age after 1970")]
    BeforeEpoch,
    #[error("expected RFC 3339 (2026-11-24T10:00:00Z) or an age such as 2h, 30m, 7d")]
    Unrecognised,
}

/// Which records a run takes, by their Kafka timestamp.
#[derive(Debug, Clone, Copy, Default)]
pub struct Window {
    pub since: Option<SystemTime>,
    pub until: Option<SystemTime>,
    pub reset: bool,
}

impl Window {
    /// Whether a record with this timestamp (Unix ms) is in the window; a
    /// record without one is, unless the window is bounded.
    pub fn contains(&self, timestamp_ms: Option<i64>) -> bool {
        let bounded = self.since.is_some() || self.until.is_some();
        let Some(ms) = timestamp_ms else {
            return !bounded;
        };
        self.since.is_none_or(|s| ms >= millis(s)) && self.until.is_none_or(|u| ms <= millis(u))
    }
}

/// One partition's records to read: offsets `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub partition: i32,
    pub start: i64,
    pub end: i64,
}

impl Span {
    pub fn len(&self) -> u64 {
        u64::try_from(self.end - self.start).unwrap_or(0)
    }
}

/// The gateway's connection settings (brokers, security, sockets) for a
/// consumer, without the producer's properties, which a consumer would warn
/// about; reading and committing only what the code commits.
pub fn consumer_config(kafka: &KafkaSettings, group: &str) -> ClientConfig {
    const SHARED: &[&str] = &[
        "bootstrap.servers",
        "client.",
        "security.protocol",
        "sasl.",
        "ssl.",
        "ssl_",
        "enable.ssl.",
        "enable.sasl.",
        "https.",
        "socket.",
        "reconnect.",
        "broker.",
        "api.version.",
        "metadata.",
        "topic.metadata.",
        "connections.max.idle.ms",
        "debug",
        "log_level",
    ];
    let mut config = kafka.client_config_of(|k| SHARED.iter().any(|p| k.starts_with(p)));
    config
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "true")
        .set("auto.offset.reset", "earliest");
    config
}

/// Each partition's span for this run.
pub fn spans(
    consumer: &StreamConsumer,
    topic: &str,
    window: &Window,
) -> Result<Vec<Span>, PositionError> {
    // All topics, never naming one: a metadata request naming it may create it.
    let metadata = consumer
        .fetch_metadata(None, TIMEOUT)
        .map_err(PositionError::Metadata)?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic && t.error().is_none())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .ok_or_else(|| PositionError::NoTopic {
            topic: topic.into(),
        })?;

    let mut spans = Vec::with_capacity(partitions.len());
    let committed = consumer
        .committed_offsets(list(topic, &partitions, Offset::Invalid), TIMEOUT)
        .map_err(PositionError::Committed)?;
    let since = window
        .since
        .map(|t| for_time(consumer, topic, &partitions, t))
        .transpose()?;
    // The first offset after `until`: a record at `until` itself is in.
    let until = window
        .until
        .map(|t| for_time(consumer, topic, &partitions, t + Duration::from_millis(1)))
        .transpose()?;
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(topic, p, TIMEOUT)
            .map_err(|error| PositionError::Watermarks {
                topic: topic.into(),
                partition: p,
                error,
            })?;
        let start = if let Some(since) = &since {
            since.get(&p).copied().unwrap_or(high)
        } else if window.reset {
            low
        } else {
            match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(n)) => n,
                _ => low,
            }
        };
        let end = until
            .as_ref()
            .and_then(|u| u.get(&p).copied())
            .map_or(high, |u| u.min(high));
        spans.push(Span {
            partition: p,
            start: start.clamp(low, high),
            end,
        });
    }
    Ok(spans)
}

/// The first offset at or after `t` in each partition; a partition with none
/// is absent (its end applies).
fn for_time(
    consumer: &StreamConsumer,
    topic: &str,
    partitions: &[i32],
    t: SystemTime,
) -> Result<HashMap<i32, i64>, PositionError> {
    let asked = list(topic, partitions, Offset::Offset(millis(t)));
    let found = consumer
        .offsets_for_times(asked, TIMEOUT)
        .map_err(PositionError::ForTime)?;
    Ok(found
        .elements()
        .iter()
        .filter_map(|e| match e.offset() {
            Offset::Offset(n) => Some((e.partition(), n)),
            _ => None,
        })
        .collect())
}

pub fn assign(consumer: &StreamConsumer, topic: &str, spans: &[Span]) -> Result<(), PositionError> {
    let mut tpl = TopicPartitionList::new();
    for s in spans.iter().filter(|s| s.len() > 0) {
        tpl.add_partition_offset(topic, s.partition, Offset::Offset(s.start))
            .map_err(PositionError::Offset)?;
    }
    consumer
        .assign(&tpl)
        .map_err(|error| PositionError::Assign {
            topic: topic.into(),
            error,
        })
}

/// Commits, for each partition, the offset after the last record done.
pub fn commit(
    consumer: &StreamConsumer,
    topic: &str,
    done: &HashMap<i32, i64>,
) -> Result<(), PositionError> {
    let mut tpl = TopicPartitionList::new();
    for (&p, &next) in done {
        tpl.add_partition_offset(topic, p, Offset::Offset(next))
            .map_err(PositionError::Offset)?;
    }
    consumer
        .commit(&tpl, CommitMode::Sync)
        .map_err(PositionError::Commit)
}

fn list(topic: &str, partitions: &[i32], offset: Offset) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for &p in partitions {
        tpl.add_partition_offset(topic, p, offset)
            .expect("a plain offset");
    }
    tpl
}

fn millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// `--since`/`--until`: RFC 3339, or an age before now such as `90s`, `30m`,
/// `2h` or `7d`.
pub fn parse_time(text: &str) -> Result<SystemTime, TimeError> {
    if let Some(t) = parse_timestamp(TimestampFormat::Rfc3339, text.as_bytes()) {
        return Ok(t);
    }
    let age = [('s', 1), ('m', 60), ('h', 3600), ('d', 86_400)]
        .into_iter()
        .find_map(|(suffix, unit)| {
            let n: u64 = text.strip_suffix(suffix)?.parse().ok()?;
            n.checked_mul(unit)
        });
    match age {
        Some(secs) => SystemTime::now()
            .checked_sub(Duration::from_secs(secs))
            .ok_or(TimeError::BeforeEpoch),
        None => Err(TimeError::Unrecognised),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_consumer_authenticates_as_the_gateway_does() {
        let env = [
            ("KAFKA_BOOTSTRAP_SERVERS", "b:9092"),
            ("KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("KAFKA_SASL_USERNAME", "gw"),
            ("KAFKA_SASL_PASSWORD", "pa55"),
            ("KAFKA_SSL_KEY_PASSWORD", "k3y"),
            ("KAFKA_LINGER_MS", "5"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let (kafka, _) = KafkaSettings::from_env(&env, Duration::from_secs(10)).unwrap();
        let consumer = consumer_config(&kafka, "g");
        // The values themselves, never a placeholder for a secret.
        assert_eq!(consumer.get("sasl.password"), Some("pa55"));
        assert_eq!(consumer.get("ssl.key.password"), Some("k3y"));
        assert_eq!(consumer.get("sasl.username"), Some("gw"));
        assert_eq!(consumer.get("security.protocol"), Some("SASL_SSL"));
        // A producer's own setting is not a consumer's.
        assert_eq!(consumer.get("linger.ms"), None);
    }

    #[test]
    fn times_are_rfc3339_or_an_age() {
        let t = parse_time("2026-11-24T10:00:00.250Z").unwrap();
        assert_eq!(millis(t), 1_795_514_400_250);
        let age = SystemTime::now()
            .duration_since(parse_time("2h").unwrap())
            .unwrap();
        assert!((7199..7260).contains(&age.as_secs()), "{age:?}");
        for bad in [
            "",
            "2",
            "h",
            "2w",
            "-2h",
            "yesterday",
            "2026-11-24",
            "2é",
            "é",
        ] {
            assert_eq!(parse_time(bad), Err(TimeError::Unrecognised), "{bad:?}");
        }
    }

    #[test]
    fn a_window_takes_its_ends_and_nothing_outside() {
        let at = |ms: u64| UNIX_EPOCH + Duration::from_millis(ms);
        let w = Window {
            since: Some(at(1_000)),
            until: Some(at(2_000)),
            reset: false,
        };
        assert!(!w.contains(Some(999)));
        assert!(w.contains(Some(1_000)));
        assert!(w.contains(Some(2_000)));
        assert!(!w.contains(Some(2_001)));
        assert!(!w.contains(None));
        assert!(Window::default().contains(None));
        assert!(Window::default().contains(Some(0)));
    }

    #[test]
    fn a_consumer_gets_the_connection_settings_not_the_producers() {
        let env = [
            ("KAFKA_BOOTSTRAP_SERVERS", "b:9092"),
            ("KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
            ("KAFKA_LINGER_MS", "1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let (kafka, _) = KafkaSettings::from_env(&env, Duration::from_secs(10)).unwrap();
        let config = consumer_config(&kafka, "g");
        assert_eq!(config.get("bootstrap.servers"), Some("b:9092"));
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("group.id"), Some("g"));
        assert_eq!(config.get("enable.auto.commit"), Some("false"));
        for producer_only in ["linger.ms", "acks", "enable.idempotence"] {
            assert_eq!(config.get(producer_only), None, "{producer_only}");
        }
    }
}
