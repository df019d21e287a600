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
use webhook_gateway::normalize::{normalize, Plan, RequestMeta};
use webhook_gateway::routing::Topics;
use webhook_gateway::verify::verify;

#[path = "support/mod.rs"]
mod support;
use support::body;

const TOLERANCE: Duration = Duration::from_secs(300);
const PROVIDERS: [&str; 3] = ["m2m", "transfers", "acme"];

fn signed(def: &webhook_gateway::providers::Definition, body: &[u8]) -> HeaderMap {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    support::signed(def, body, now)
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
                b.iter(|| {
                    let v = verify(
                        &def,
                        &keys,
                        &headers,
                        &body[..],
                        SystemTime::now(),
                        TOLERANCE,
                    );
                    black_box(v.is_ok())
                })
            });
        }
    }
    group.finish();
}

/// The whole CPU path of one accepted request after the body is read.
fn verify_and_normalize(c: &mut Criterion) {
    let topics = Topics::new(
        &support::definitions().list,
        "webhooks",
        &Default::default(),
    )
    .unwrap();
    let meta = RequestMeta {
        content_type: Some("application/json".into()),
        traceparent: None,
    };
    let mut group = c.benchmark_group("verify+normalize");
    for provider in PROVIDERS {
        let def = support::definition(provider);
        let keys = support::keys(&def);
        let plan = Plan::new(&def);
        for size in [1024, 16 * 1024] {
            let body = body(provider, size);
            let headers = signed(&def, &body);
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::new(provider, size), &body, |b, body| {
                b.iter(|| {
                    let now = SystemTime::now();
                    let verified =
                        verify(&def, &keys, &headers, &body[..], now, TOLERANCE).unwrap();
                    let normalized = normalize(&plan, &verified, &headers, &meta, now);
                    black_box(topics.record(&normalized))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, verification, verify_and_normalize);
criterion_main!(benches);
