//! `webhook-gateway redrive`: reads the unrouted or dead-letter topic and
//! republishes each record that the current definitions now route, exactly
//! as the gateway would have published it when it was received.
//!
//! - [`positions`]: where each partition starts and stops, and committing
//! - [`summary`]: what a run did, as text or JSON
//!
//! Records on these topics were verified when received; their signatures
//! have expired and are not checked again (the topics' ACLs are the trust).
//! At least once: a source offset is committed only after the broker has
//! acknowledged every republished record before it. Records that still do not
//! route stay where they are and are counted, never written anywhere.

mod positions;
mod summary;

use std::collections::HashMap;
use std::future::{ready, Future};
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use clap::{Args, ValueEnum};
use futures_util::stream::{FuturesOrdered, StreamExt};
use indicatif::{ProgressBar, ProgressStyle};
use rdkafka::consumer::StreamConsumer;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Headers, Message};

use crate::contract::DataSchemas;
use crate::engine::normalize::RequestMeta;
use crate::engine::pipeline;
use crate::engine::provider::Provider;
use crate::engine::record::header::REDRIVEN;
use crate::engine::replay::Kept;
use crate::engine::route::Destination;
use crate::engine::trace::TraceParent;
use crate::kafka::{PublishError, Publisher};
use crate::metrics::Metrics;
use crate::settings::Config;
use positions::{PositionError, Span, Window};
use summary::{Outcome, Summary};

#[derive(Args, Debug)]
pub struct RedriveArgs {
    /// The topic to read: the unrouted or the dead-letter topic
    #[arg(long, value_enum)]
    pub from: Source,
    /// Start at the first record received at or after TIME (RFC 3339, or an age such as 2h, 30m, 7d), instead of where the group stopped
    #[arg(long, value_name = "TIME", value_parser = positions::parse_time)]
    pub since: Option<SystemTime>,
    /// Stop after the records received up to TIME (RFC 3339, or an age such as 1h)
    #[arg(long, value_name = "TIME", value_parser = positions::parse_time)]
    pub until: Option<SystemTime>,
    /// Only this provider's records (the others are skipped)
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// Start at the topic's beginning instead of where the group stopped
    #[arg(long, conflicts_with = "since")]
    pub reset: bool,
    /// Read and report what would be republished; publish and commit nothing
    #[arg(long)]
    pub dry_run: bool,
    /// Republish at most N records per second
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: Option<u32>,
    /// Consumer group that remembers where re-drives stopped [default: <topic>.redrive, or <topic>.redrive.<provider> with --provider]
    #[arg(long, value_name = "GROUP")]
    pub group: Option<String>,
    /// Print the summary as one JSON object
    #[arg(long)]
    pub json: bool,
    /// The providers file, as the gateway's --providers-file [env: GATEWAY_PROVIDERS_FILE]
    #[arg(long, value_name = "FILE")]
    pub providers_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Source {
    Unrouted,
    Deadletter,
}

/// Republished records awaiting their ack at once: enough to keep the
/// broker busy, few enough that a stop re-sends little.
const WINDOW: usize = 64;
/// How often progress is committed while running (and always at the end).
const COMMIT_EVERY: Duration = Duration::from_secs(1);

/// Reads source records as the gateway reads requests: each provider
/// compiled as the gateway compiles it (its topics and `dataschema`s).
struct Reader {
    providers: HashMap<String, Provider>,
}

/// What one source record became.
struct Step {
    partition: i32,
    offset: i64,
    outcome: Result<Outcome, PublishError>,
}

/// Why a re-drive stopped before its summary (a failure to republish ends
/// the run with a summary instead, which says so).
#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("cannot create the Kafka consumer: {0}")]
    Consumer(KafkaError),
    #[error("cannot create the Kafka producer: {0}")]
    Producer(KafkaError),
    /// Finding, taking or recording the positions in the source topic.
    #[error(transparent)]
    Positions(#[from] PositionError),
    #[error("reading {topic}: {error}")]
    Read { topic: String, error: KafkaError },
}

/// The re-drive `args` ask for (the command's shell is `cmd::redrive`).
pub(crate) async fn redrive(
    args: &RedriveArgs,
    config: &Config,
    schemas: &DataSchemas,
) -> Result<Summary, RedriveError> {
    let topic = match args.from {
        Source::Unrouted => config.published.topics.unrouted(),
        Source::Deadletter => config.published.topics.deadletter(),
    }
    .to_string();
    let group = args.group.clone().unwrap_or_else(|| match &args.provider {
        Some(p) => format!("{topic}.redrive.{p}"),
        None => format!("{topic}.redrive"),
    });
    let consumer: StreamConsumer = positions::consumer_config(&config.kafka, &group)
        .create()
        .map_err(RedriveError::Consumer)?;
    let window = Window {
        since: args.since,
        until: args.until,
        reset: args.reset,
    };
    let spans = positions::spans(&consumer, &topic, &window)?;
    let mut summary = Summary::new(&topic, &group, args.from, args.dry_run);
    let total: u64 = spans.iter().map(Span::len).sum();
    let progress = progress_bar(total);
    let publisher = if args.dry_run {
        None
    } else {
        Some(
            Publisher::new(
                &config.kafka,
                config.settings.publish_timeout,
                Arc::new(Metrics::new()),
            )
            .map_err(RedriveError::Producer)?,
        )
    };
    let reader = Reader {
        // Every defined provider, enabled or not, without keys: a re-drive never verifies.
        providers: config
            .published
            .providers
            .list
            .iter()
            .map(|def| {
                let provider =
                    Provider::new(def.clone(), &config.published.topics, schemas.uris(), None);
                (def.name.clone(), provider)
            })
            .collect(),
    };

    let mut done: HashMap<i32, i64> = HashMap::new();
    let mut open: HashMap<i32, i64> = spans
        .iter()
        .filter(|s| s.len() > 0)
        .map(|s| (s.partition, s.end))
        .collect();
    if !open.is_empty() {
        positions::assign(&consumer, &topic, &spans)?;
    }
    let mut pending: FuturesOrdered<Job> = FuturesOrdered::new();
    let mut pace = args.rate.map(|n| {
        let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(n)));
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    let mut last_commit = Instant::now();
    let mut failure = None;

    while failure.is_none() && (!open.is_empty() || !pending.is_empty()) {
        // Finished steps first, in reading order: `done` only ever moves past
        // records whose republished copy the broker has acknowledged.
        let next = tokio::select! {
            biased;
            Some(step) = pending.next(), if !pending.is_empty() => Next::Finished(step),
            read = consumer.recv(), if !open.is_empty() && pending.len() < WINDOW => Next::Read(read),
        };
        let step = match next {
            Next::Finished(step) => step,
            // Past the last record: a partition whose end offset is not a
            // record's (a transaction marker) closes here.
            Next::Read(Err(KafkaError::PartitionEOF(p))) => {
                open.remove(&p);
                continue;
            }
            Next::Read(Err(error)) => return Err(RedriveError::Read { topic, error }),
            Next::Read(Ok(message)) => {
                let (partition, offset) = (message.partition(), message.offset());
                let Some(&end) = open.get(&partition) else {
                    continue;
                };
                if offset + 1 >= end {
                    open.remove(&partition);
                }
                if offset >= end {
                    continue;
                }
                let planned = reader.plan(&message, args, &window);
                if let (Planned::Publish(..), Some(pace)) = (&planned, pace.as_mut()) {
                    pace.tick().await;
                }
                pending.push_back(job(planned, publisher.clone(), partition, offset));
                continue;
            }
        };
        progress.inc(1);
        match step.outcome {
            Ok(outcome) => {
                summary.count(&outcome);
                done.insert(step.partition, step.offset + 1);
            }
            Err(e) => failure = Some(format!("republishing: {}", e.reason())),
        }
        if !args.dry_run && last_commit.elapsed() >= COMMIT_EVERY {
            positions::commit(&consumer, &topic, &done)?;
            last_commit = Instant::now();
        }
    }
    // Steps before a failure are acknowledged; what follows it is not.
    progress.finish_and_clear();
    if !args.dry_run && !done.is_empty() {
        positions::commit(&consumer, &topic, &done)?;
    }
    if let Some(publisher) = &publisher {
        let _ = publisher.flush(Duration::from_secs(10)).await;
    }
    summary.failure = failure;
    Ok(summary)
}

/// One source record's step: its republication awaiting the broker's ack,
/// or an outcome known at once.
type Job = Pin<Box<dyn Future<Output = Step> + Send>>;

fn job(planned: Planned, publisher: Option<Arc<Publisher>>, partition: i32, offset: i64) -> Job {
    let step = move |outcome| Step {
        partition,
        offset,
        outcome,
    };
    match (planned, publisher) {
        (Planned::Publish(records, type_name), Some(publisher)) => Box::pin(async move {
            // In order, each after the last's ack: a failure leaves the source
            // unacknowledged, and the next run republishes all (same ids).
            let mut acked = Ok(());
            for record in &records {
                acked = publisher.publish(record).await;
                if acked.is_err() {
                    break;
                }
            }
            step(acked.map(|()| Outcome::Republished(type_name)))
        }),
        // A dry run: what would be republished.
        (Planned::Publish(_, type_name), None) => {
            Box::pin(ready(step(Ok(Outcome::Republished(type_name)))))
        }
        (Planned::Stay(outcome), _) => Box::pin(ready(step(Ok(outcome)))),
    }
}

/// What the loop waits for next.
enum Next<'c> {
    Finished(Step),
    Read(KafkaResult<BorrowedMessage<'c>>),
}

/// What to do with one source record.
enum Planned {
    /// Its records, in order, and the first one's type (what it counts under).
    Publish(Vec<crate::engine::envelope::Record>, String),
    Stay(Outcome),
}

impl Reader {
    fn plan(&self, message: &BorrowedMessage<'_>, args: &RedriveArgs, window: &Window) -> Planned {
        let timestamp = message.timestamp().to_millis();
        if !window.contains(timestamp) {
            return Planned::Stay(Outcome::Skipped("outside_window"));
        }
        let headers = message.headers();
        let header = |name: &str| -> Option<&[u8]> {
            headers?
                .iter()
                .find(|h| h.key == name)
                .and_then(|h| h.value)
        };
        let value = message.payload().unwrap_or_default();
        let kept = match Kept::read(header, value, args.from == Source::Unrouted) {
            Ok(kept) => kept,
            Err(e) => return Planned::Stay(Outcome::Skipped(e.as_str())),
        };
        if args.provider.as_ref().is_some_and(|p| *p != kept.provider) {
            return Planned::Stay(Outcome::Skipped("other_provider"));
        }
        let Some(provider) = self.providers.get(&kept.provider) else {
            return Planned::Stay(Outcome::Skipped("provider_not_defined"));
        };
        let verified = kept.verified();
        let meta = RequestMeta::of(&kept.headers, TraceParent::from_headers(&kept.headers));
        let request = pipeline::Request {
            // Never verified again (its signature has expired): the line is unread.
            line: crate::engine::verify::Line::POST,
            headers: &kept.headers,
            meta: &meta,
            received_at: kept.received_at,
        };
        // Only routed records are published: nothing is kept for another
        // re-drive. A batch item is read again as the item it was, not as a
        // batch; a whole batch body (kept whole: not_batch, too_many_items, a
        // rescue) is published only when every one of its items is now routed,
        // and stays whole otherwise, so no item is left behind.
        let routed = match kept.batch_index {
            Some(index) => vec![pipeline::item(provider, &verified, request, index)],
            None => pipeline::records(provider, &verified, request, None),
        };
        if let Some(unread) = routed.iter().find(|r| r.destination != Destination::Typed) {
            return Planned::Stay(match unread.destination {
                Destination::DeadLetter => Outcome::StillDeadLetter,
                _ => Outcome::StillUnrouted,
            });
        }
        let Some(type_name) = routed.first().map(|r| r.type_name.to_string()) else {
            return Planned::Stay(Outcome::StillUnrouted);
        };
        let from = format!(
            "{}:{}:{}",
            message.topic(),
            message.partition(),
            message.offset()
        );
        let records = routed
            .into_iter()
            .map(|routed| {
                let mut record = routed.record;
                record.headers.push((REDRIVEN, from.clone().into_bytes()));
                record.timestamp_ms = timestamp;
                record
            })
            .collect();
        Planned::Publish(records, type_name)
    }
}

fn progress_bar(total: u64) -> ProgressBar {
    // Drawn on stderr only when it is a terminal: indicatif hides it otherwise.
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} records, {per_sec}, eta {eta}")
            .expect("a valid template"),
    );
    bar
}
