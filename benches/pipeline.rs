//! Micro benchmarks of the per-request CPU work: verification (HMAC over the
//! raw body) and normalization into the canonical record (parse, id,
//! envelope, headers), for 1 KiB and 16 KiB bodies, for the built-ins and a
//! configured provider defined by hand (`support::CONFIGURED`), in one run so
//! that their ratio is measured on the same machine at the same moment.
//!
//! cargo bench --bench pipeline

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http::HeaderMap;
use webhook_gateway::engine::normalize::RequestMeta;
use webhook_gateway::engine::pipeline;
use webhook_gateway::engine::verify::{verify, Line};

#[path = "support/mod.rs"]
mod support;
use support::body;

const TOLERANCE: Duration = Duration::from_secs(300);
const PROVIDERS: [&str; 6] = ["m2m", "transfers", "acme", "edkey", "eckey", "tokeny"];

fn signed(def: &webhook_gateway::definitions::Definition, body: &[u8]) -> HeaderMap {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    support::signed(def, body, now)
}

/// One verification as the gateway runs it, at the present time.
fn verifies(
    def: &webhook_gateway::definitions::Definition,
    keys: &webhook_gateway::engine::verify::KeyRing,
    headers: &HeaderMap,
    body: &[u8],
) -> bool {
    verify(
        def,
        keys,
        Line::POST,
        headers,
        body,
        SystemTime::now(),
        TOLERANCE,
    )
    .is_ok()
}

fn verification(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    for provider in PROVIDERS {
        let def = support::definition(provider);
        let keys = support::keys(&def);
        for size in [1024, 16 * 1024] {
            let body = body(provider, size);
            let headers = signed(&def, &body);
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::new(provider, size), &body, |b, body| {
                b.iter(|| black_box(verifies(&def, &keys, &headers, body)))
            });
        }
    }
    group.finish();
}

/// The whole CPU path of one accepted request after the body is read: the
/// gateway's pipeline (verify -> normalize -> record).
/// What a flood of forgeries costs: a signature of the right shape that no
/// key made (for ECDSA a well-formed DER from another key, so the curve's
/// work is done, the worst case), refused with 401. 1 / time is how many
/// bad signatures one core refuses per second (BENCHMARKS.md).
fn refusal(c: &mut Criterion) {
    let mut group = c.benchmark_group("refuse");
    for provider in ["acme", "edkey", "eckey"] {
        let def = support::definition(provider);
        let keys = support::keys(&def);
        let body = body(provider, 1024);
        let mut headers = signed(&def, &body);
        // Signed over other bytes: the same shape, no match.
        let other = signed(&def, b"another body");
        let name = def.signature.header.as_ref().unwrap().as_str();
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            other[name].clone(),
        );
        group.bench_function(BenchmarkId::new(provider, 1024), |b| {
            b.iter(|| {
                let refused = !verifies(&def, &keys, &headers, &body);
                assert!(refused);
                black_box(refused)
            })
        });
    }
    group.finish();
}

fn verify_and_normalize(c: &mut Criterion) {
    let meta = RequestMeta {
        content_type: Some("application/json".into()),
        traceparent: None,
    };
    let mut group = c.benchmark_group("verify+normalize");
    for name in PROVIDERS {
        let provider = support::provider(name);
        for size in [1024, 16 * 1024] {
            let body = body(name, size);
            let headers = signed(&provider.definition, &body);
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::new(name, size), &body, |b, body| {
                b.iter(|| {
                    let request = pipeline::Request {
                        line: webhook_gateway::engine::verify::Line::POST,
                        headers: &headers,
                        meta: &meta,
                        received_at: SystemTime::now(),
                    };
                    let processed =
                        pipeline::process(&provider, &body[..], request, support::LIMITS);
                    black_box(processed.unwrap().records)
                })
            });
        }
    }
    group.finish();
}

/// The body reader: the one-pass pointer trie normalize compiles from a
/// definition, against the kept crate's way of reading the same values while
/// keeping each one's text byte for byte: serde_json into objects of
/// `&RawValue` (borrowed, never re-serialised), the root parsed once and each
/// deeper level parsed on the way down.
fn reader(c: &mut Criterion) {
    let mut group = c.benchmark_group("reader");
    for name in PROVIDERS {
        let provider = support::provider(name);
        let pointers = pointers(&provider.definition);
        let body = body(name, 1024);
        let text = std::str::from_utf8(&body).expect("UTF-8");
        let trie = &provider.plan.trie;
        assert_eq!(
            trie.read(text).expect("JSON").iter().flatten().count(),
            serde_read(text, &pointers).iter().flatten().count(),
            "both find the same values"
        );
        group.bench_function(BenchmarkId::new("trie", name), |b| {
            b.iter(|| black_box(trie.read(black_box(text)).map(|found| found.len())))
        });
        group.bench_function(BenchmarkId::new("serde_json", name), |b| {
            b.iter(|| black_box(serde_read(black_box(text), &pointers).len()))
        });
    }
    group.finish();
}

/// Every body pointer `def` reads, as tokens, without repeats.
fn pointers(def: &webhook_gateway::definitions::Definition) -> Vec<Vec<String>> {
    use webhook_gateway::definitions::definition::Source;
    let event = &def.event;
    let mut sources: Vec<&Source> = vec![&event.name];
    sources.extend(
        [&event.join, &event.user, &event.time]
            .into_iter()
            .flatten(),
    );
    sources.extend(def.id.iter().map(|id| &id.source));
    sources.extend(&def.unrouted_subject);
    sources.extend(def.events.iter().map(|e| &e.subject));
    let mut all: Vec<Vec<String>> = sources
        .into_iter()
        .filter_map(|s| match s {
            Source::Pointer(p) => Some(p.tokens().collect()),
            _ => None,
        })
        .collect();
    all.push(event.data.tokens().collect());
    all.extend(
        def.events
            .iter()
            .flat_map(|e| &e.when)
            .map(|(p, _)| p.tokens().collect()),
    );
    all.sort();
    all.dedup();
    all
}

/// Each pointer's value text, as the trie finds them, with serde_json. Each
/// object on the way is parsed once: the pointers are sorted, so those that
/// share a parent follow each other and reuse it.
fn serde_read<'a>(text: &'a str, pointers: &[Vec<String>]) -> Vec<Option<&'a str>> {
    use serde_json::value::RawValue;
    use std::collections::HashMap;
    type Object<'a> = HashMap<&'a str, &'a RawValue>;
    let Ok(root) = serde_json::from_str::<Object<'a>>(text) else {
        return vec![None; pointers.len()];
    };
    // The objects below the root on the last pointer's path, by token.
    let mut path: Vec<(&str, Object<'a>)> = Vec::new();
    pointers
        .iter()
        .map(|tokens| {
            let (last, parents) = tokens.split_last()?;
            let kept = path
                .iter()
                .zip(parents)
                .take_while(|((t, _), p)| *t == p.as_str())
                .count();
            path.truncate(kept);
            for token in &parents[kept..] {
                let parent = path.last().map_or(&root, |(_, o)| o);
                let object: Object<'a> =
                    serde_json::from_str(parent.get(token.as_str())?.get()).ok()?;
                path.push((token.as_str(), object));
            }
            let parent = path.last().map_or(&root, |(_, o)| o);
            parent.get(last.as_str()).map(|raw| raw.get())
        })
        .collect()
}

/// The read of a provider's keys on every request: `arc-swap`'s guard (what
/// [`webhook_gateway::engine::provider::Provider`] holds) against the `RwLock<Arc<_>>`
/// read and clone it replaced, uncontended and with a reader on the other core.
fn keys(c: &mut Criterion) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, RwLock};

    let provider = Arc::new(support::provider("transfers"));
    let lock = Arc::new(RwLock::new(Arc::new(support::keys(&provider.definition))));
    let mut group = c.benchmark_group("keys");
    for contended in [false, true] {
        let stop = Arc::new(AtomicBool::new(false));
        let other = contended.then(|| {
            let (provider, lock, stop) = (provider.clone(), lock.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    black_box(provider.keys().is_some());
                    black_box(lock.read().unwrap().clone());
                }
            })
        });
        let label = if contended { "contended" } else { "alone" };
        group.bench_function(BenchmarkId::new("arc-swap", label), |b| {
            b.iter(|| black_box(provider.keys().as_deref().map(|k| k.len())))
        });
        group.bench_function(BenchmarkId::new("rwlock", label), |b| {
            b.iter(|| black_box(lock.read().unwrap().clone().len()))
        });
        stop.store(true, Ordering::Relaxed);
        if let Some(other) = other {
            other.join().unwrap();
        }
    }
    group.finish();
}

criterion_group!(
    benches,
    verification,
    refusal,
    verify_and_normalize,
    reader,
    keys
);
criterion_main!(benches);
